"""The normalized model: ``Run`` and the values it holds (frozen, slotted attrs classes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeAlias

import attrs

from runnorm._model.construction import slot_init
from runnorm._model.status import TERMINAL_STATUSES, RunStatus

__all__ = ["JSON", "Artifact", "ArtifactKind", "Attempt", "Run", "RunError", "Timing", "dedupe_key"]

JSON: TypeAlias = Any
"""A JSON value as decoded: dict, list, str, int, float, bool or None."""

_EMPTY: Mapping[str, Any] = {}


class ArtifactKind(str, Enum):
    """What an artifact is. Values are the lowercase words."""

    RECORDING = "recording"
    SCREENSHOT = "screenshot"
    DOWNLOAD = "download"
    LOG = "log"
    STDOUT = "stdout"
    STDERR = "stderr"
    OUTPUT = "output"
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


@slot_init
@attrs.frozen(slots=True)
class Artifact:
    """A file or link a run produced. ``content`` holds what arrived inline (stdout, outputs).

    ``checksum`` is the provider's (SHA-256, hex, where the provider says); ``size`` is in
    bytes. ``id`` is whatever renewing the artifact's link needs (Skyvern's ``a_...``
    artifact id; see :func:`runnorm.artifacts`), ``expires_at`` when its link stops working
    (None when unknown); :func:`runnorm.artifacts` fills both where the provider says.
    """

    kind: ArtifactKind
    url: str | None = None
    name: str | None = None
    checksum: str | None = None
    size: int | None = None
    media_type: str | None = None
    created_at: datetime | None = None
    content: JSON = None
    id: str | None = None
    expires_at: datetime | None = None


@slot_init
@attrs.frozen(slots=True)
class RunError:
    """Why a run failed: a short ``code``, a human ``message`` and the provider's ``details``."""

    code: str | None = None
    message: str | None = None
    details: tuple[Mapping[str, JSON], ...] = ()


def _span(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None:
        return None
    return end - start


@slot_init
@attrs.frozen(slots=True)
class Timing:
    """When a run was created, queued, started, finished and last updated (aware UTC), and
    when its next attempt is due (``next_attempt_at``, while a retry is pending)."""

    created_at: datetime | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    next_attempt_at: datetime | None = None

    @property
    def queue_time(self) -> timedelta | None:
        """``started_at`` minus ``queued_at`` (else ``created_at``); None when a term is missing."""
        return _span(self.queued_at or self.created_at, self.started_at)

    @property
    def run_time(self) -> timedelta | None:
        """``finished_at`` minus ``started_at``; None when a term is missing."""
        return _span(self.started_at, self.finished_at)

    @property
    def total_time(self) -> timedelta | None:
        """``finished_at`` minus ``created_at``; None when a term is missing."""
        return _span(self.created_at, self.finished_at)


_NO_TIMING = Timing()


@slot_init
@attrs.frozen(slots=True)
class Attempt:
    """One attempt of a run the provider retries under the same id (Skyvern ``attempts[]``).

    ``number`` is 1-based; ``status`` and ``native_status`` are the attempt's own; ``error``
    says why it failed; ``extra`` holds the rest as sent (Skyvern: ``retry_decision``,
    ``decision_reason``, ``next_attempt_at``, ``webhook_sent_at``).
    """

    number: int
    status: RunStatus
    native_status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: RunError | None = None
    extra: Mapping[str, JSON] = _EMPTY


@slot_init
@attrs.frozen(slots=True, hash=False)
class Run:
    """One run of any provider, normalized.

    ``raw`` is the native payload exactly as received; ``extra`` holds the provider-specific
    fields that have no named field here, with snake_case keys. Equal runs hash alike
    (the hash covers ``provider``, ``id`` and ``native_status``).

    A provider that retries a run under the same id reports ``attempt`` (1-based, else None),
    ``retry_pending`` (another attempt is scheduled: the run is not over, even when its
    status is ``failed``), ``timing.next_attempt_at`` and its history in ``attempts``.
    """

    provider: str
    id: str
    status: RunStatus
    native_status: str
    kind: str | None = None
    result: JSON = None
    error: RunError | None = None
    timing: Timing = _NO_TIMING
    artifacts: tuple[Artifact, ...] = ()
    web_url: str | None = None
    session_id: str | None = None
    step_count: int | None = None
    task: str | None = None
    extra: Mapping[str, JSON] = _EMPTY
    raw: Mapping[str, JSON] = attrs.field(default=_EMPTY, repr=False)
    # Runs over time (keyword-only, so that positional construction stays as it was).
    attempt: int | None = attrs.field(default=None, kw_only=True)
    retry_pending: bool = attrs.field(default=False, kw_only=True)
    attempts: tuple[Attempt, ...] = attrs.field(default=(), kw_only=True)

    def __hash__(self) -> int:
        return hash((self.provider, self.id, self.native_status))

    @property
    def is_terminal(self) -> bool:
        """True once the run cannot change status again: a terminal status and no retry
        pending (``RunStatus.is_terminal`` looks at the status word alone)."""
        return self.status in TERMINAL_STATUSES and not self.retry_pending

    @property
    def ok(self) -> bool:
        """True when the run succeeded."""
        return self.status is RunStatus.SUCCEEDED

    def to_dict(self) -> dict[str, JSON]:
        """JSON-ready data (timestamps as ISO 8601 with offset) with a ``schema_version`` key."""
        from runnorm._model.serialization import run_to_dict

        return run_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Run:
        """Rebuild a ``Run`` from :meth:`to_dict` output (or its JSON round trip)."""
        from runnorm._model.serialization import run_from_dict

        return run_from_dict(data)


def dedupe_key(run: Run) -> str:
    """``"provider:id:attempt:native_status"`` when the run has an ``attempt``, else
    ``"provider:id:native_status"`` (``runnorm.webhooks.dedupe_key``; ``watch`` drops the
    webhook deliveries it has seen by this key)."""
    if run.attempt is not None:
        return f"{run.provider}:{run.id}:{run.attempt}:{run.native_status}"
    return f"{run.provider}:{run.id}:{run.native_status}"

"""``Provider``: what a plugin declares about one provider, as data where it can.

A provider module reads like a table: a :class:`~runnorm._plugins.fields.Fields` reader bound
to the provider's name, its :class:`~runnorm._model.status.StatusMap`, a mapping function from
payload to ``Run``, and the ``Provider`` declaration tying them together with auth, transport,
detection facts and the field notes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from runnorm._model.run import Run
from runnorm._model.status import StatusMap
from runnorm._plugins.capabilities import (
    IMPLEMENTED,
    Artifacts,
    McpControl,
    McpList,
    RestControl,
    RestList,
)
from runnorm._plugins.fetching import McpFetch, RestFetch, fetch_options
from runnorm._plugins.notes import FieldNote

__all__ = ["Auth", "Detector", "Mapper", "Provider"]

Mapper = Callable[[Mapping[str, Any]], Run]
Detector = Callable[[Mapping[str, Any]], bool]


@attrs.frozen
class Auth:
    """How a provider takes its API key.

    ``header`` is the header name, ``scheme`` an optional prefix (``"Bearer"``), ``env_var``
    the environment variable the key is read from when no argument gives it.
    """

    header: str
    env_var: str
    scheme: str | None = None


@attrs.frozen
class Provider:
    """The declaration a plugin passes to ``register(...)``.

    Required: ``name``, ``statuses`` (a ``StatusMap``), ``to_run`` (payload -> ``Run``) and
    ``detect`` (payload -> bool, by id shape and key sets, never by status words).
    Everything else is optional and switches capabilities on: ``fetch`` with ``auth`` and
    ``base_url`` for live fetching, ``verify_webhook`` for webhook signatures, ``list`` (with
    ``fetch``) for ``list_runs``. ``cancel``, ``resume`` and ``artifacts`` declare what else
    the provider offers beyond one run (:mod:`runnorm._plugins.capabilities`), used by
    ``runnorm.cancel``, ``runnorm.resume``, ``runnorm.artifacts`` and ``runnorm.download``. All
    are checked at registration, and named in ``capabilities`` once this runnorm can use them.
    ``sensitive_keys`` are key names (``fnmatch`` patterns, matched with their case) whose
    values in payloads are secrets: CLI output redacts them. ``samples`` is a directory of sample
    payloads (one JSON object per file) used by the conformance suite and the docs.
    ``field_notes`` say where each native field lands, once, as data.
    """

    name: str
    statuses: StatusMap
    to_run: Mapper
    detect: Detector
    title: str | None = None
    aliases: tuple[str, ...] = ()
    auth: Auth | None = None
    base_url: str | None = None
    base_url_env: str | None = None
    fetch: RestFetch | McpFetch | None = None
    verify_webhook: Callable[..., None] | None = None
    sensitive_keys: tuple[str, ...] = ()
    samples: Path | None = None
    docs_url: str | None = None
    field_notes: tuple[FieldNote, ...] = ()
    """Where each native field lands (:class:`FieldNote`): the docs' mapping table, and the
    fields dropped on purpose that the conformance suite's "nothing lost" test accepts."""
    detect_keys: frozenset[str] = frozenset()
    """Optional: keys of which a payload must have at least one for ``detect`` to accept it.
    Lets detection skip this provider's detector cheaply on other providers' payloads."""
    list: RestList | McpList | None = None
    """How runs are listed (``RestList`` or ``McpList``): what ``list_runs`` pages through."""
    cancel: RestControl | McpControl | None = None
    """How a run is cancelled (``runnorm.cancel``)."""
    resume: RestControl | McpControl | None = None
    """How a paused run is resumed (``runnorm.resume``)."""
    artifacts: Artifacts | None = None
    """Where a run's artifacts are listed and downloaded (``runnorm.artifacts``,
    ``runnorm.download``)."""

    @property
    def options(self) -> frozenset[str]:
        """Provider-specific call options: the related fetches' (``include_session`` for
        Browserbase) and the fetch's ``kind_option``."""
        return frozenset(fetch_options(self.fetch))

    @property
    def list_options(self) -> frozenset[str]:
        """The listing's own call options (``ListParam.option``: ``project`` for Bridge
        Town), which ``list_runs`` takes besides :attr:`options` and ``get`` refuses."""
        return frozenset(param.option for param in self.list.params) if self.list else frozenset()

    @property
    def declared_capabilities(self) -> frozenset[str]:
        """Everything the declaration declares: ``normalize``, and ``fetch`` (with ``watch``,
        which polls through it), ``webhooks``, ``list``, ``cancel``, ``resume``, ``artifacts``
        where declared, whether or not this runnorm can use them yet."""
        declared = {
            "fetch": self.fetch,
            "watch": self.fetch,
            "webhooks": self.verify_webhook,
            "list": self.list,
            "cancel": self.cancel,
            "resume": self.resume,
            "artifacts": self.artifacts,
        }
        return frozenset({"normalize"}) | {
            name for name, value in declared.items() if value is not None
        }

    @property
    def capabilities(self) -> frozenset[str]:
        """What this provider supports in this runnorm: the declared capabilities it can
        use (``normalize``, ``fetch``, ``watch``, ``webhooks``, ``list``, ``cancel``,
        ``resume``, ``artifacts``)."""
        return self.declared_capabilities & IMPLEMENTED

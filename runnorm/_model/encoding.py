"""``Run`` to documents and JSON bytes: the one writer of ``to_dict`` and every output format.

Kept apart from :mod:`runnorm._model.serialization` (cattrs, for ``from_dict``), which a
batch never needs. Documents are built inline; orjson writes timestamps in C, and a
payload's own JSON text can be embedded as ``raw`` instead of encoding the payload again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from runnorm._json import Embedded, dumps
from runnorm._model.run import Artifact, Attempt, Run, RunError, Timing

__all__ = [
    "READABLE_VERSIONS",
    "SCHEMA_VERSION",
    "artifact_document",
    "attempt_document",
    "encode_document",
    "encode_run",
    "run_document",
    "timing_document",
]

SCHEMA_VERSION = 2
"""Bumped when a field of ``to_dict`` output changes meaning, goes away or is added (2:
``attempt``, ``retry_pending``, ``attempts`` and ``timing.next_attempt_at``; ``is_terminal``
honours ``retry_pending``; ``Artifact.id`` and ``Artifact.expires_at``)."""
READABLE_VERSIONS = (1, 2)
"""What ``from_dict`` reads: a version 1 document is a version 2 one without the fields of
runs over time and the artifacts' ``id`` and ``expires_at`` (they take their defaults)."""


def timing_document(timing: Timing, stamp: Any = None) -> dict[str, Any]:
    """The ``timing`` object of a document; *stamp* renders each timestamp (None: the
    datetimes themselves, for orjson, which writes them as ``isoformat()`` does)."""
    created, queued, started, finished, updated, following = (
        timing.created_at,
        timing.queued_at,
        timing.started_at,
        timing.finished_at,
        timing.updated_at,
        timing.next_attempt_at,
    )
    begin = queued or created
    if stamp is not None:
        created_text, queued_text, started_text, finished_text, updated_text, next_text = [
            None if value is None else stamp(value)
            for value in (created, queued, started, finished, updated, following)
        ]
    else:
        created_text, queued_text, started_text, finished_text, updated_text, next_text = (
            created,
            queued,
            started,
            finished,
            updated,
            following,
        )
    return {
        "created_at": created_text,
        "queued_at": queued_text,
        "started_at": started_text,
        "finished_at": finished_text,
        "updated_at": updated_text,
        "next_attempt_at": next_text,
        "queue_time": None
        if begin is None or started is None
        else (started - begin).total_seconds(),
        "run_time": None
        if started is None or finished is None
        else (finished - started).total_seconds(),
        "total_time": None
        if created is None or finished is None
        else (finished - created).total_seconds(),
    }


Stamp = Callable[[datetime], str]


def _error_document(error: RunError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"code": error.code, "message": error.message, "details": list(error.details)}


def attempt_document(attempt: Attempt, stamp: Stamp | None = None) -> dict[str, Any]:
    """One ``Attempt`` of ``run.attempts`` as a document (timestamps as for the timing)."""
    started, finished = attempt.started_at, attempt.finished_at
    return {
        "number": attempt.number,
        "status": attempt.status._value_,
        "native_status": attempt.native_status,
        "started_at": started if stamp is None or started is None else stamp(started),
        "finished_at": finished if stamp is None or finished is None else stamp(finished),
        "error": _error_document(attempt.error),
        "extra": attempt.extra,
    }


def run_document(run: Run, stamp: Stamp | None = None, raw: Any = None) -> dict[str, Any]:
    """The one ``Run`` -> document function: ``to_dict`` (``stamp=datetime.isoformat``) and
    every output format (timestamps left as datetimes, which orjson writes in C as
    ``isoformat`` does) build their documents here. *raw*, when given, stands for
    ``run.raw`` (an :class:`runnorm._json.Embedded`: the payload's own JSON text)."""
    error = run.error
    return {
        "schema_version": SCHEMA_VERSION,
        "provider": run.provider,
        "id": run.id,
        "status": run.status._value_,  # the plain str; .value is a Python-level property
        "native_status": run.native_status,
        "kind": run.kind,
        "result": run.result,
        "error": None
        if error is None
        else {"code": error.code, "message": error.message, "details": list(error.details)},
        "timing": timing_document(run.timing, stamp),
        "artifacts": [artifact_document(a, stamp) for a in run.artifacts],
        "web_url": run.web_url,
        "session_id": run.session_id,
        "step_count": run.step_count,
        "task": run.task,
        "attempt": run.attempt,
        "retry_pending": run.retry_pending,
        "attempts": [attempt_document(a, stamp) for a in run.attempts] if run.attempts else [],
        "extra": run.extra,
        "raw": run.raw if raw is None else raw,
    }


def artifact_document(artifact: Artifact, stamp: Stamp | None = None) -> dict[str, Any]:
    """One artifact as :func:`run_document` writes it in ``artifacts``: what ``runnorm
    artifacts`` prints."""
    a = artifact
    return {
        "kind": a.kind._value_,
        "url": a.url,
        "name": a.name,
        "checksum": a.checksum,
        "size": a.size,
        "media_type": a.media_type,
        "created_at": a.created_at
        if stamp is None or a.created_at is None
        else stamp(a.created_at),
        "content": a.content,
        "id": a.id,
        "expires_at": a.expires_at
        if stamp is None or a.expires_at is None
        else stamp(a.expires_at),
    }


def encode_document(document: dict[str, Any], *, newline: bool = False) -> bytes:
    """A document as compact JSON bytes (:func:`runnorm._json.dumps`)."""
    return dumps(document, newline=newline)


def encode_run(run: Run, raw_json: bytes | None = None, *, newline: bool = False) -> bytes:
    """``Run.to_dict()`` encoded as compact JSON bytes; given *raw_json* (the payload's own
    JSON text), it is embedded as ``raw`` instead of encoding the payload again."""
    raw = None if raw_json is None else Embedded(raw_json)
    return dumps(run_document(run, raw=raw), newline=newline)

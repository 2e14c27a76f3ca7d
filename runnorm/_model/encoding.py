"""The batch encoder: ``Run`` straight to JSON bytes, as ``Run.to_dict()`` would give them.

Kept apart from :mod:`runnorm._model.serialization` (cattrs), which a batch never needs: the
encoder builds the document inline, lets orjson write enums and timestamps in C, and embeds
a payload's own JSON text as ``raw`` instead of encoding the payload again.
"""

from __future__ import annotations

from typing import Any

import orjson

from runnorm._json import dumps
from runnorm._model.run import Run, Timing

__all__ = ["SCHEMA_VERSION", "encode_run", "timing_document"]

SCHEMA_VERSION = 1
"""Bumped when a field of ``to_dict`` output changes meaning or goes away."""


def timing_document(timing: Timing, stamp: Any = None) -> dict[str, Any]:
    """The ``timing`` object of a document; *stamp* renders each timestamp (None: the
    datetimes themselves, for orjson, which writes them as ``isoformat()`` does)."""
    created, queued, started, finished, updated = (
        timing.created_at,
        timing.queued_at,
        timing.started_at,
        timing.finished_at,
        timing.updated_at,
    )
    begin = queued or created
    if stamp is not None:
        created_text, queued_text, started_text, finished_text, updated_text = [
            None if value is None else stamp(value)
            for value in (created, queued, started, finished, updated)
        ]
    else:
        created_text, queued_text, started_text, finished_text, updated_text = (
            created,
            queued,
            started,
            finished,
            updated,
        )
    return {
        "created_at": created_text,
        "queued_at": queued_text,
        "started_at": started_text,
        "finished_at": finished_text,
        "updated_at": updated_text,
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


_NEWLINE = orjson.OPT_APPEND_NEWLINE


def encode_run(run: Run, raw_json: bytes | None = None, *, newline: bool = False) -> bytes:
    """``Run.to_dict()`` encoded as compact JSON bytes, built for batch speed.

    Produces the same JSON as ``orjson.dumps(run.to_dict())`` (a test holds it to that), but
    builds the document inline, lets orjson write enums and timestamps in C and, given
    *raw_json* (the payload's own JSON text), embeds it as ``raw`` instead of encoding the
    payload again.
    """
    error = run.error
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "provider": run.provider,
        "id": run.id,
        "status": run.status,  # orjson writes an enum as its value
        "native_status": run.native_status,
        "kind": run.kind,
        "result": run.result,
        "error": None
        if error is None
        else {"code": error.code, "message": error.message, "details": list(error.details)},
        "timing": timing_document(run.timing),
        "artifacts": [
            {
                "kind": a.kind,
                "url": a.url,
                "name": a.name,
                "checksum": a.checksum,
                "size": a.size,
                "media_type": a.media_type,
                "created_at": a.created_at,
                "content": a.content,
            }
            for a in run.artifacts
        ],
        "web_url": run.web_url,
        "session_id": run.session_id,
        "step_count": run.step_count,
        "task": run.task,
        "extra": run.extra,
        "raw": run.raw if raw_json is None else orjson.Fragment(raw_json),
    }
    try:
        return orjson.dumps(document, option=_NEWLINE if newline else 0)
    except TypeError:  # what orjson refuses (non-string keys, integers past 64 bits, ...)
        document["raw"] = run.raw
        return dumps(document, newline=newline)

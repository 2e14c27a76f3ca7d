"""Acme Runs (made up): ``GET /v2/runs/{run_id}`` with an ``X-Acme-Token`` header.

A run looks like ``{"acmeRunId": "acme_run_01J...", "status": "DONE", "goal": ...,
"output": ..., "failure": {"code", "message", "details"}, "createdMs": 1768909949276, ...}``:
camelCase keys, ULID ids with an ``acme_run_`` prefix and epoch-millisecond timestamps.

Field mapping: ``acmeRunId`` -> ``id``; ``status`` -> ``status`` / ``native_status``;
``goal`` -> ``task``; ``output`` -> ``result``; ``failure`` -> ``error``; ``createdMs``,
``queuedMs``, ``startedMs``, ``finishedMs``, ``updatedMs`` -> ``timing``; ``logUrl`` -> a
``log`` artifact; each ``screenshots`` item -> a ``screenshot`` artifact; ``appUrl`` ->
``web_url``; ``browserSessionId`` -> ``session_id``; ``stepCount`` -> ``step_count``.
Everything else (``projectId``, ``workerRegion``, ``inputRequest``, fields Acme adds later)
-> ``extra`` with snake_case keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runnorm import (
    Artifact,
    ArtifactKind,
    Auth,
    Fields,
    Provider,
    RestFetch,
    Run,
    RunError,
    RunStatus,
    StatusMap,
    Timing,
)

NAME = "acme"
fields = Fields(NAME)

# Acme's own words, exactly as the API spells them (nothing is matched case-insensitively).
STATUSES = StatusMap(
    NAME,
    {
        "WAITING": RunStatus.QUEUED,
        "WORKING": RunStatus.RUNNING,
        "NEEDS_INPUT": RunStatus.PAUSED,
        "DONE": RunStatus.SUCCEEDED,
        "BROKEN": RunStatus.FAILED,
        "ABORTED": RunStatus.CANCELED,
        "EXPIRED": RunStatus.TIMED_OUT,
    },
)

ID_KEY = "acmeRunId"
# "acme_run_" and a ULID (26 characters of Crockford base32: no I, L, O or U).
ID_SHAPE = re.compile(r"acme_run_[0-9A-HJKMNP-TV-Z]{26}")

CONSUMED = frozenset(
    {
        "acmeRunId",
        "status",
        "goal",
        "output",
        "failure",
        "createdMs",
        "queuedMs",
        "startedMs",
        "finishedMs",
        "updatedMs",
        "logUrl",
        "screenshots",
        "appUrl",
        "browserSessionId",
        "stepCount",
    }
)


def detect(payload: Mapping[str, Any]) -> bool:
    """An Acme run has an ``acmeRunId`` shaped ``acme_run_<ULID>`` (never by status words)."""
    value = payload.get(ID_KEY)
    return type(value) is str and ID_SHAPE.fullmatch(value) is not None


def _error(p: Mapping[str, Any]) -> RunError | None:
    failure = fields.mapping(p, "failure")
    if failure is None:
        return None
    return RunError(
        code=fields.text(failure, "code", "failure.code"),
        message=fields.text(failure, "message", "failure.message"),
        details=tuple(fields.objects(failure, "details", "failure.details")),
    )


def _artifacts(p: Mapping[str, Any]) -> tuple[Artifact, ...]:
    artifacts: list[Artifact] = []
    log_url = fields.text(p, "logUrl")
    if log_url:
        artifacts.append(
            Artifact(kind=ArtifactKind.LOG, url=log_url, name="run.log", media_type="text/plain")
        )
    for index, shot in enumerate(fields.objects(p, "screenshots")):
        path = f"screenshots[{index}]"
        url = fields.text(shot, "url", f"{path}.url")
        if not url:
            continue
        artifacts.append(
            Artifact(
                kind=ArtifactKind.SCREENSHOT,
                url=url,
                name=fields.text(shot, "label", f"{path}.label") or f"screenshot-{index + 1}.png",
                media_type="image/png",
                created_at=fields.time(shot, "takenMs", f"{path}.takenMs"),
            )
        )
    return tuple(artifacts)


def to_run(p: Mapping[str, Any]) -> Run:
    """Map an Acme run payload to a ``Run``."""
    p = fields.require_mapping(p)
    native = fields.status_word(p)
    return Run(
        provider=NAME,
        id=fields.id(p, ID_KEY),
        status=STATUSES.lookup(native),
        native_status=native,
        kind="acme_run",
        result=p.get("output"),
        error=_error(p),
        timing=Timing(
            created_at=fields.time(p, "createdMs"),
            queued_at=fields.time(p, "queuedMs"),
            started_at=fields.time(p, "startedMs"),
            finished_at=fields.time(p, "finishedMs"),
            updated_at=fields.time(p, "updatedMs"),
        ),
        artifacts=_artifacts(p),
        web_url=fields.text(p, "appUrl"),
        session_id=fields.text(p, "browserSessionId"),
        step_count=fields.integer(p, "stepCount"),
        task=fields.text(p, "goal"),
        extra=fields.rest(p, CONSUMED, snake=True),
        raw=p,
    )


PROVIDER = Provider(
    name=NAME,
    title="Acme Runs",
    statuses=STATUSES,
    to_run=to_run,
    detect=detect,
    auth=Auth(header="X-Acme-Token", env_var="ACME_API_KEY"),
    base_url="https://api.acme-runs.example",
    base_url_env="ACME_BASE_URL",
    fetch=RestFetch(path="/v2/runs/{run_id}"),
    sensitive_keys=("callbackSecret",),
    samples=Path(__file__).parent / "samples",
    field_notes={
        "acmeRunId": "id",
        "status": "status (mapped), native_status (as sent)",
        "goal": "task",
        "output": "result",
        "failure.code, failure.message, failure.details": "error.code, .message, .details",
        "createdMs, queuedMs, startedMs, finishedMs, updatedMs": "timing (epoch milliseconds)",
        "logUrl": "a `log` artifact",
        "screenshots[].url, .label, .takenMs": "`screenshot` artifacts",
        "appUrl": "web_url",
        "browserSessionId": "session_id",
        "stepCount": "step_count",
        "projectId, workerRegion, inputRequest, ...": "extra (snake_case keys)",
    },
)

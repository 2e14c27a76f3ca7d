"""Acme Runs (made up): ``GET /v2/runs/{run_id}`` with an ``X-Acme-Token`` header, and
``GET /v2/runs`` to list them (``{"runs": [...], "nextPageToken": ...}``, newest first).

Cancelled with ``POST /v2/runs/{run_id}/abort``: 202 with the run, 409 when it has finished
already, 404 when there is no such run.

A run looks like ``{"acmeRunId": "acme_run_01J...", "status": "DONE", "goal": ...,
"output": ..., "failure": {"code", "message", "details"}, "createdMs": 1768909949276, ...}``:
camelCase keys, ULID ids with an ``acme_run_`` prefix and epoch-millisecond timestamps.
Where each field lands is declared once, in ``FIELD_NOTES``.
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
    CursorPages,
    FieldNote,
    FieldReader,
    Fields,
    Provider,
    RestControl,
    RestFetch,
    RestList,
    Run,
    RunError,
    RunStatus,
    StatusFilter,
    StatusMap,
    TimeFilter,
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

FIELD_NOTES = (
    FieldNote("acmeRunId", "id"),
    FieldNote("status", ("status", "native_status")),
    FieldNote("goal", "task"),
    FieldNote("output", "result"),
    FieldNote(("failure.code", "failure.message", "failure.details"), "error"),
    FieldNote("createdMs", "timing.created_at", note="epoch milliseconds, like every *Ms key"),
    FieldNote("queuedMs", "timing.queued_at"),
    FieldNote("startedMs", "timing.started_at"),
    FieldNote("finishedMs", "timing.finished_at"),
    FieldNote("updatedMs", "timing.updated_at"),
    FieldNote("logUrl", "artifacts", note="a `log` artifact named run.log"),
    FieldNote(("screenshots[].url", "screenshots[].label"), "artifacts", note="`screenshot`s"),
    FieldNote("appUrl", "web_url"),
    FieldNote("browserSessionId", "session_id"),
    FieldNote("stepCount", "step_count"),
    FieldNote("projectId", "extra", note="snake_case keys, like every key not listed here"),
)


def detect(payload: Mapping[str, Any]) -> bool:
    """An Acme run has an ``acmeRunId`` shaped ``acme_run_<ULID>`` (never by status words)."""
    value = payload.get(ID_KEY)
    return type(value) is str and ID_SHAPE.fullmatch(value) is not None


def _error(r: FieldReader) -> RunError | None:
    failure = r.child("failure")
    if failure is None:
        return None
    return RunError(
        code=failure.text("code"),
        message=failure.text("message"),
        details=tuple(failure.objects("details")),
    )


def _artifacts(r: FieldReader) -> tuple[Artifact, ...]:
    artifacts: list[Artifact] = []
    log_url = r.text("logUrl")
    if log_url:
        artifacts.append(
            Artifact(kind=ArtifactKind.LOG, url=log_url, name="run.log", media_type="text/plain")
        )
    for index, shot in enumerate(r.objects("screenshots")):
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
    r = fields.read(p)
    native = r.status()
    return Run(
        provider=NAME,
        id=r.id(ID_KEY),
        status=STATUSES.lookup(native),
        native_status=native,
        kind="acme_run",
        result=r.value("output"),
        error=_error(r),
        timing=r.timing(
            created="createdMs",
            queued="queuedMs",
            started="startedMs",
            finished="finishedMs",
            updated="updatedMs",
        ),
        artifacts=_artifacts(r),
        web_url=r.text("appUrl"),
        session_id=r.text("browserSessionId"),
        step_count=r.integer("stepCount"),
        task=r.text("goal"),
        extra=r.rest(snake=True),
        raw=r.payload,
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
    # GET /v2/runs?pageSize=100&status=DONE&createdAfterMs=...&pageToken=...: newest first,
    # items are whole runs (so nothing is missing from a listed Run).
    list=RestList(
        path="/v2/runs",
        paging=CursorPages(
            next_field="nextPageToken", cursor_param="pageToken", size_param="pageSize", size=100
        ),
        items="runs",
        order="newest_first",
        created_key="createdMs",
        status=StatusFilter(param="status"),
        time=TimeFilter(since_param="createdAfterMs", format="epoch_millis"),
    ),
    cancel=RestControl(
        path="/v2/runs/{run_id}/abort",
        outcomes={202: "accepted", 404: "not_found", 409: "already_terminal"},
        returns_run=True,
    ),
    sensitive_keys=("callbackSecret",),
    samples=Path(__file__).parent / "samples",
    field_notes=FIELD_NOTES,
)

"""Browserbase agent runs (``GET /v1/agents/runs/{runId}`` and the list's ``data`` items).

Field mapping: ``runId`` -> ``id``; ``task`` -> ``task``; ``result`` -> ``result``; ``cause``
(``{code, message}``) -> ``error``; ``createdAt``, ``startedAt``, ``endedAt``, ``updatedAt``
-> ``timing`` (no queued timestamp exists); ``sessionId`` -> ``session_id``, and the session's
dashboard page -> ``web_url`` and an ``other`` artifact named ``session``. ``agentId``,
``sandboxId``, ``resultSchema`` and any field Browserbase adds later -> ``extra`` in
snake_case (``agent_id``, ``sandbox_id``, ``result_schema``).

With ``include_session=True`` (a live-fetch option) the run's session is fetched too
(``GET /v1/sessions/{id}``, ``/recording/downloads``, ``/logs``; read-only, never the POST
that asks Browserbase to build recordings): the session document goes to
``extra["session"]``, each finished recording to a ``recording`` artifact (the pending ones
to ``extra["recordings"]``), the logs to a ``log`` artifact with inline content, and the
session's ``startedAt`` / ``endedAt`` fill the run's timing where it has none.

Dropped on purpose: nothing. The status arrives uppercase; one schema description says
lowercase, so both spellings are declared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from runnorm import (
    Artifact,
    ArtifactKind,
    Auth,
    Fields,
    Provider,
    RelatedFetch,
    RestFetch,
    Run,
    RunError,
    RunStatus,
    StatusMap,
)

NAME = "browserbase"
SESSION_PAGE_ROOT = "https://browserbase.com/sessions/"
fields = Fields(NAME)

_WORDS = {
    "PENDING": RunStatus.QUEUED,
    "RUNNING": RunStatus.RUNNING,
    "PAUSED": RunStatus.PAUSED,
    "COMPLETED": RunStatus.SUCCEEDED,
    "FAILED": RunStatus.FAILED,
    "STOPPED": RunStatus.CANCELED,
    "TIMED_OUT": RunStatus.TIMED_OUT,
}
STATUSES = StatusMap(NAME, {**_WORDS, **{word.lower(): status for word, status in _WORDS.items()}})

_CONSUMED = frozenset(
    {
        "runId",
        "status",
        "task",
        "result",
        "cause",
        "sessionId",
        "createdAt",
        "startedAt",
        "endedAt",
        "updatedAt",
    }
)
_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def detect(payload: Mapping[str, Any]) -> bool:
    """A Browserbase agent run is keyed in camelCase: a ``runId`` string and no ``run_id``."""
    run_id = payload.get("runId")
    return (
        type(run_id) is str and _ID_SHAPE.fullmatch(run_id) is not None and "run_id" not in payload
    )


def fold_session(run: Run, documents: Mapping[str, Any]) -> Run:
    """Fold the session, its recording downloads and its logs into *run*."""
    session = fields.mapping(documents, "session", "session")
    recordings = fields.mapping(documents, "recordings", "recordings")
    logs = documents.get("logs")
    artifacts = list(run.artifacts)
    extra = dict(run.extra)
    timing = run.timing
    if session is not None:
        extra["session"] = session
        timing = attrs.evolve(
            timing,
            started_at=timing.started_at or fields.time(session, "startedAt", "session.startedAt"),
            finished_at=timing.finished_at or fields.time(session, "endedAt", "session.endedAt"),
        )
    if recordings is not None:
        states = []
        for index, item in enumerate(fields.objects(recordings, "downloads", "recordings")):
            path = f"recordings.downloads[{index}]"
            page = item.get("pageId")
            states.append({"page_id": page, "status": item.get("status")})
            url = fields.text(item, "downloadUrl", f"{path}.downloadUrl")
            if url:
                artifacts.append(
                    Artifact(
                        kind=ArtifactKind.RECORDING,
                        url=url,
                        name=f"page-{page}.mp4",
                        media_type="video/mp4",
                        created_at=fields.time(item, "completedAt", f"{path}.completedAt"),
                    )
                )
        extra["recordings"] = states
    if isinstance(logs, list):
        artifacts.append(
            Artifact(
                kind=ArtifactKind.LOG,
                name="session_logs",
                media_type="application/json",
                content=logs,
            )
        )
    return attrs.evolve(run, artifacts=tuple(artifacts), extra=extra, timing=timing)


def to_run(p: Mapping[str, Any]) -> Run:
    """Map an ``AgentRun`` payload to a ``Run``."""
    p = fields.require_mapping(p)
    native = fields.status_word(p)
    session_id = fields.text(p, "sessionId")
    cause = fields.mapping(p, "cause")
    error = None
    if cause is not None:
        error = RunError(
            code=fields.text(cause, "code", "cause.code"),
            message=fields.text(cause, "message", "cause.message"),
        )
    web_url = artifacts = None
    if session_id:
        web_url = f"{SESSION_PAGE_ROOT}{session_id}"
        artifacts = (
            Artifact(kind=ArtifactKind.OTHER, url=web_url, name="session", media_type="text/html"),
        )
    return Run(
        provider=NAME,
        id=fields.id(p, "runId"),
        status=STATUSES.lookup(native),
        native_status=native,
        kind="agent_run",
        result=p.get("result"),
        error=error,
        timing=fields.timing(
            p, created="createdAt", started="startedAt", finished="endedAt", updated="updatedAt"
        ),
        artifacts=artifacts or (),
        web_url=web_url,
        session_id=session_id,
        task=fields.text(p, "task"),
        extra=fields.rest(p, _CONSUMED, snake=True),
        raw=p,
    )


PROVIDER = Provider(
    name=NAME,
    title="Browserbase",
    statuses=STATUSES,
    to_run=to_run,
    detect=detect,
    detect_keys=frozenset({"runId"}),
    aliases=("bb",),
    auth=Auth(header="X-BB-API-Key", env_var="BROWSERBASE_API_KEY"),
    base_url="https://api.browserbase.com",
    base_url_env="BROWSERBASE_BASE_URL",
    fetch=RestFetch(
        path="/v1/agents/runs/{run_id}",
        related=(
            RelatedFetch(
                option="include_session",
                key="sessionId",
                paths={
                    "session": "/v1/sessions/{id}",
                    "recordings": "/v1/sessions/{id}/recording/downloads",
                    "logs": "/v1/sessions/{id}/logs",
                },
                fold=fold_session,
            ),
        ),
    ),
    # Both spellings: payloads send camelCase, extra holds the snake_case copies.
    sensitive_keys=("signingKey", "connectUrl", "signing_key", "connect_url"),
    docs_url="https://docs.browserbase.com",
    samples=Path(__file__).parent / "samples",
    field_notes={
        "runId": "id",
        "status": "status (mapped; upper- and lowercase), native_status (as sent)",
        "task": "task",
        "result": "result",
        "cause.code, cause.message": "error.code, error.message",
        "createdAt, startedAt, endedAt, updatedAt": "timing (endedAt -> finished_at)",
        "sessionId": "session_id; the session page -> web_url and an `other` artifact",
        "agentId, sandboxId, resultSchema, ...": "extra (snake_case keys)",
    },
)

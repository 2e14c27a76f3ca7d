"""Browserbase agent runs (``GET /v1/agents/runs/{runId}`` and the list's ``data`` items).

The status arrives uppercase; one schema description says lowercase, so both spellings are
declared. With ``include_session=True`` (a live-fetch option) the run's session is fetched
too, read-only (never the POST that asks Browserbase to build recordings), and folded in by
``fold_session``. Where each field lands is declared once, in ``FIELD_NOTES``: the
provider page's mapping table is rendered from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from runnorm import (
    Artifact,
    ArtifactFields,
    ArtifactKind,
    ArtifactListing,
    Artifacts,
    Auth,
    CursorPages,
    FieldNote,
    Fields,
    OffsetPages,
    Provider,
    RelatedFetch,
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

FIELD_NOTES = (
    FieldNote("runId", "id"),
    FieldNote("status", ("status", "native_status"), note="mapped, upper- and lowercase"),
    FieldNote("task", "task"),
    FieldNote("result", "result"),
    FieldNote(("cause.code", "cause.message"), ("error.code", "error.message")),
    FieldNote("cause.*", "error.details", note="any other key, snake_case, in one object"),
    FieldNote("createdAt", "timing.created_at"),
    FieldNote("startedAt", "timing.started_at"),
    FieldNote("endedAt", "timing.finished_at"),
    FieldNote("updatedAt", "timing.updated_at"),
    FieldNote(
        "sessionId",
        ("session_id", "web_url", "artifacts"),
        note="the session's dashboard page is web_url and an `other` artifact named session",
    ),
    FieldNote(
        ("agentId", "sandboxId", "resultSchema"),
        "extra",
        note="snake_case keys (agent_id, ...), like every key not listed here",
    ),
    FieldNote(
        "session (GET /v1/sessions/{id})",
        ("extra", "timing.started_at", "timing.finished_at"),
        when="include_session=True",
        note="the document in extra.session; its startedAt fills a missing start, its endedAt "
        "a terminal run's missing end",
    ),
    FieldNote(
        "recording downloads[]",
        ("artifacts", "extra"),
        when="include_session=True",
        note="each finished one a `recording` artifact; every page's state in extra.recordings",
    ),
    FieldNote(
        "session logs",
        "artifacts",
        when="include_session=True",
        note="a `log` artifact with the entries inline",
    ),
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
        ended = fields.time(session, "endedAt", "session.endedAt")
        timing = attrs.evolve(
            timing,
            started_at=timing.started_at or fields.time(session, "startedAt", "session.startedAt"),
            # a session can end under a live run (a paused one awaiting input): not its end
            finished_at=timing.finished_at or (ended if run.status.is_terminal else None),
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
    r = fields.read(p)
    native = r.status()
    session_id = r.text("sessionId")
    cause = r.child("cause")
    error = None
    if cause is not None:
        code, message = cause.text("code"), cause.text("message")
        more = cause.rest(snake=True)  # keys the spec does not list yet
        error = RunError(code=code, message=message, details=(more,) if more else ())
    web_url = artifacts = None
    if session_id:
        web_url = f"{SESSION_PAGE_ROOT}{session_id}"
        artifacts = (
            Artifact(kind=ArtifactKind.OTHER, url=web_url, name="session", media_type="text/html"),
        )
    return Run(
        provider=NAME,
        id=r.id("runId"),
        status=STATUSES.lookup(native),
        native_status=native,
        kind="agent_run",
        result=r.value("result"),
        error=error,
        timing=r.timing(
            created="createdAt", started="startedAt", finished="endedAt", updated="updatedAt"
        ),
        artifacts=artifacts or (),
        web_url=web_url,
        session_id=session_id,
        task=r.text("task"),
        extra=r.rest(snake=True),
        raw=r.payload,
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
    # GET /v1/agents/runs: cursors, inclusive startAt/endAt on createdAt, no promised order
    # (so no early stop: the server's time bounds do that work); one status word, uppercase.
    list=RestList(
        path="/v1/agents/runs",
        paging=CursorPages(
            next_field="nextCursor", cursor_param="cursor", size_param="limit", size=1000
        ),
        items="data",
        order="unordered",  # the docs promise none
        created_key="createdAt",
        status=StatusFilter(param="status", words=tuple(_WORDS)),
        time=TimeFilter(since_param="startAt", until_param="endAt", until_inclusive=True),
    ),
    cancel=RestControl(
        path="/v1/agents/runs/{run_id}/stop",
        outcomes={202: "accepted", 404: "not_found", 409: "already_terminal"},
        returns_run=True,
    ),
    resume=RestControl(
        path="/v1/agents/runs/{run_id}/resume",
        body={"task": "{message}"},
        message="required",
        outcomes={202: "accepted", 404: "not_found", 409: "conflict"},
    ),
    artifacts=Artifacts(
        listings=(
            ArtifactListing(  # short-lived CDN links, minted afresh by each GET of the list
                path="/v1/sessions/{id}/recording/downloads",
                key="sessionId",
                items="downloads",
                kind=ArtifactKind.RECORDING,
                fields=ArtifactFields(
                    id="pageId",
                    url="downloadUrl",
                    name_template="page-{pageId}.mp4",
                    created_at="completedAt",
                ),
                media_type="video/mp4",
                relists=True,
                missing_ok=frozenset({404}),  # a session without a recording
            ),
            ArtifactListing(  # not on every plan
                path="/v1/downloads",
                query={"sessionId": "{id}"},
                key="sessionId",
                items="downloads",
                paging=OffsetPages(size=100, total_field="total"),
                kind=ArtifactKind.DOWNLOAD,
                fields=ArtifactFields(
                    id="id",
                    name="filename",
                    media_type="mimeType",
                    size="size",
                    checksum="checksum",
                    created_at="createdAt",
                ),
                download="/v1/downloads/{artifact_id}",
                accept="application/octet-stream",
                missing_ok=frozenset({403, 404}),
            ),
        ),
    ),
    # Both spellings: payloads send camelCase, extra holds the snake_case copies.
    sensitive_keys=("signingKey", "connectUrl", "signing_key", "connect_url"),
    docs_url="https://docs.browserbase.com",
    samples=Path(__file__).parent / "samples",
    field_notes=FIELD_NOTES,
)

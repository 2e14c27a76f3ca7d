"""Bridge Town (bridgetown.builders): sandboxed Python model runs, reachable only over MCP.

Shapes mapped: the ``get_run`` tool result, ``list_runs`` items (no ``project_name`` of their
own: a dump reader copies the wrapper's), and the ``run`` tool's async and sync results. Where
each field lands is declared once, in ``FIELD_NOTES``: the
provider page's mapping table is rendered from it.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runnorm import (
    Artifact,
    ArtifactKind,
    Artifacts,
    Auth,
    FieldNote,
    FieldReader,
    Fields,
    ListParam,
    McpControl,
    McpFetch,
    McpList,
    Provider,
    Run,
    RunError,
    RunStatus,
    StatusFilter,
    StatusMap,
    ToolContent,
)

NAME = "bridgetown"
fields = Fields(NAME)

STATUSES = StatusMap(
    NAME,
    {
        "pending": RunStatus.QUEUED,
        "running": RunStatus.RUNNING,
        "success": RunStatus.SUCCEEDED,
        "failed": RunStatus.FAILED,
        "cancelled": RunStatus.CANCELED,
        "timed_out": RunStatus.TIMED_OUT,
    },
)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
FIELD_NOTES = (
    FieldNote("run_id", "id"),
    FieldNote("status", ("status", "native_status"), note="mapped; native_status as sent"),
    FieldNote(
        "output.outputs",
        ("result", "artifacts"),
        note="one `output` artifact per file, content inline",
    ),
    FieldNote("outputs", ("result", "artifacts"), when="sync run results"),
    FieldNote(("output.stdout", "output.stderr"), "artifacts", note="`stdout` / `stderr`, inline"),
    FieldNote(("stdout", "stderr"), "artifacts", when="sync run results"),
    FieldNote("output.exit_code", ("extra", "error"), note="extra.exit_code; non-zero sets error"),
    FieldNote("exit_code", ("extra", "error"), when="sync run results"),
    FieldNote("output.status", "extra", note="as extra.output_status"),
    FieldNote("output.*", "extra", note="any other key as extra.output_<key>"),
    FieldNote("error_message", "error.message"),
    FieldNote("error", ("error.message", "error.details"), when="sync run results"),
    FieldNote("created_at", "timing.created_at"),
    FieldNote("started_at", "timing.started_at"),
    FieldNote("finished_at", "timing.finished_at"),
    FieldNote(
        ("project_name", "commit_sha", "run_number", "truncated", "model_name"),
        "extra",
        note="as sent, like every key not listed here",
    ),
)
_STREAMS = ((ArtifactKind.STDOUT, "stdout"), (ArtifactKind.STDERR, "stderr"))
_MEDIA_TYPES = {".json": "application/json", ".csv": "text/csv", ".txt": "text/plain"}


def detect(payload: Mapping[str, Any]) -> bool:
    """A Bridge Town run has a UUID ``run_id`` (Skyvern's are ``tsk_``/``wr_``)."""
    run_id = payload.get("run_id")
    return type(run_id) is str and len(run_id) == 36 and _UUID.fullmatch(run_id) is not None


def _media_type(name: str) -> str | None:
    dot = name.rfind(".")
    suffix = name[dot:].lower() if dot >= 0 else ""
    return _MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name, strict=False)[0]


def _artifacts(source: FieldReader, outputs: Mapping[str, Any] | None) -> tuple[Artifact, ...]:
    artifacts: list[Artifact] = []
    for kind, key in _STREAMS:
        text = source.text(key)
        if text is not None:
            artifacts.append(Artifact(kind=kind, name=key, media_type="text/plain", content=text))
    for name, content in (outputs or {}).items():
        artifacts.append(
            Artifact(
                kind=ArtifactKind.OUTPUT, name=name, media_type=_media_type(name), content=content
            )
        )
    return tuple(artifacts)


def _error(r: FieldReader, exit_code: int | None) -> RunError | None:
    error_message = r.text("error_message")
    sync_error = r.text("error")
    message = error_message or sync_error
    if message is None and (exit_code is None or exit_code == 0):
        return None
    details: list[dict[str, Any]] = []
    if exit_code is not None:
        details.append({"exit_code": exit_code})
    if error_message and sync_error and sync_error != error_message:
        details.append({"error": sync_error})  # both sent: keep the second one too
    return RunError(
        code=f"exit_code_{exit_code}" if exit_code else None,
        message=message or f"the model exited with code {exit_code}",
        details=tuple(details),
    )


def to_run(p: Mapping[str, Any]) -> Run:
    """Map a ``get_run`` / ``list_runs`` item / ``run`` result to a ``Run``."""
    r = fields.read(p)
    native = r.status()
    output = r.child("output")
    source = output or r  # a sync run result carries the output fields at the top
    exit_code = source.integer("exit_code") if output or "exit_code" in p else None
    outputs = source.mapping("outputs")
    artifacts = _artifacts(source, outputs)
    error = _error(r, exit_code)
    timing = r.timing(created="created_at", started="started_at", finished="finished_at")
    run_id = r.id("run_id")
    extra = r.rest(keep=("exit_code",))
    if output is not None:
        extra["output_status"] = output.text("status")
        extra["exit_code"] = exit_code
        extra.update(output.rest(prefix="output_"))
    elif "exit_code" in p:
        extra["exit_code"] = exit_code
    return Run(
        provider=NAME,
        id=run_id,
        status=STATUSES.lookup(native),
        native_status=native,
        kind="model_run",
        result=outputs,
        error=error,
        timing=timing,
        artifacts=artifacts,
        extra=extra,
        raw=r.payload,
    )


PROVIDER = Provider(
    name=NAME,
    title="Bridge Town",
    statuses=STATUSES,
    to_run=to_run,
    detect=detect,
    detect_keys=frozenset({"run_id"}),
    aliases=("bridge-town",),
    auth=Auth(header="Authorization", scheme="Bearer", env_var="BRIDGETOWN_API_KEY"),
    base_url="https://api.bridgetown.builders/mcp",
    base_url_env="BRIDGETOWN_MCP_URL",
    fetch=McpFetch(tool="get_run", argument="run_id", not_found=frozenset({"not_found"})),
    # list_runs: at most 50 runs newest first, no cursor and no time range (since= proves a
    # span complete when an older run is among the 50).
    list=McpList(
        tool="list_runs",
        max_items=50,
        items="runs",
        limit_argument="limit",
        order="newest_first",
        created_key="created_at",
        status=StatusFilter(param="status"),
        params=(ListParam(option="project", param="project_name", required=True),),
        shared=("project_name",),
        lacks=("result", "error", "artifacts"),
    ),
    cancel=McpControl(tool="cancel_run", outcomes={"not_found": "not_found"}),
    # stdout, stderr and outputs arrive in the run itself; an output's exact bytes (the
    # inline value may be cut at 1 MiB) come from get_run_output.
    artifacts=Artifacts(inline=True, content=ToolContent(tool="get_run_output")),
    docs_url="https://bridgetown.builders",
    field_notes=FIELD_NOTES,
    samples=Path(__file__).parent / "samples",
)

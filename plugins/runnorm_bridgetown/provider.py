"""Bridge Town (bridgetown.builders): sandboxed Python model runs, reachable only over MCP.

Shapes mapped: the ``get_run`` tool result, ``list_runs`` items (no ``project_name`` of their
own: a dump reader copies the wrapper's), and the ``run`` tool's async and sync results.

Field mapping: ``run_id`` -> ``id``; ``output.outputs`` (or a sync run's ``outputs``) ->
``result`` and one ``output`` artifact per file with inline content; ``output.stdout`` /
``stderr`` -> ``stdout`` / ``stderr`` artifacts with inline content; ``error_message`` (or a
sync run's ``error``) and a non-zero ``exit_code`` -> ``error``; ``created_at``,
``started_at``, ``finished_at`` -> ``timing``. ``project_name``, ``commit_sha``,
``run_number``, ``truncated``, ``exit_code`` and every other field -> ``extra``.

Dropped on purpose: nothing. ``output.status`` repeats the run's status and is kept in
``extra`` as ``output_status``.
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
    Auth,
    Fields,
    McpFetch,
    Provider,
    Run,
    RunError,
    RunStatus,
    StatusMap,
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
_CONSUMED = frozenset(
    {
        "run_id",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "error_message",
        "output",
        "outputs",
        "stdout",
        "stderr",
        "error",
    }
)
_OUTPUT_CONSUMED = frozenset({"status", "exit_code", "stdout", "stderr", "outputs"})
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


def to_run(p: Mapping[str, Any]) -> Run:
    """Map a ``get_run`` / ``list_runs`` item / ``run`` result to a ``Run``."""
    p = fields.require_mapping(p)
    native = fields.status_word(p)
    extra = fields.rest(p, _CONSUMED)
    output = fields.mapping(p, "output")
    source: Mapping[str, Any] = p
    prefix = ""
    if output is not None:
        source, prefix = output, "output."
        extra["output_status"] = fields.text(output, "status", "output.status")
        extra["exit_code"] = fields.integer(output, "exit_code", "output.exit_code")
        for key, value in output.items():
            if key not in _OUTPUT_CONSUMED:
                extra[f"output_{key}"] = value
    elif "exit_code" in p:
        extra["exit_code"] = fields.integer(p, "exit_code")
    outputs = fields.mapping(source, "outputs", prefix + "outputs")

    artifacts: list[Artifact] = []
    for kind, key in _STREAMS:
        text = fields.text(source, key, prefix + key)
        if text is not None:
            artifacts.append(Artifact(kind=kind, name=key, media_type="text/plain", content=text))
    for name, content in (outputs or {}).items():
        artifacts.append(
            Artifact(
                kind=ArtifactKind.OUTPUT, name=name, media_type=_media_type(name), content=content
            )
        )

    error_message = fields.text(p, "error_message")
    sync_error = fields.text(p, "error")
    message = error_message or sync_error
    exit_code = extra.get("exit_code")
    error = None
    if message is not None or (exit_code is not None and exit_code != 0):
        details: list[dict[str, Any]] = []
        if exit_code is not None:
            details.append({"exit_code": exit_code})
        if error_message and sync_error and sync_error != error_message:
            details.append({"error": sync_error})  # both sent: keep the second one too
        error = RunError(
            code=f"exit_code_{exit_code}" if exit_code else None,
            message=message or f"the model exited with code {exit_code}",
            details=tuple(details),
        )
    return Run(
        provider=NAME,
        id=fields.id(p, "run_id"),
        status=STATUSES.lookup(native),
        native_status=native,
        kind="model_run",
        result=outputs,
        error=error,
        timing=fields.timing(p, created="created_at", started="started_at", finished="finished_at"),
        artifacts=tuple(artifacts),
        extra=extra,
        raw=p,
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
    docs_url="https://bridgetown.builders",
    field_notes={
        "run_id": "id",
        "status": "status (mapped), native_status (as sent)",
        "output.outputs / outputs": "result; one `output` artifact per file, inline content",
        "output.stdout / stdout": "`stdout` artifact, inline content",
        "output.stderr / stderr": "`stderr` artifact, inline content",
        "output.exit_code / exit_code": "extra.exit_code; non-zero also sets error",
        "output.status": "extra.output_status",
        "error_message / error": "error.message",
        "created_at, started_at, finished_at": "timing",
        "project_name, commit_sha, run_number, truncated, model_name, ...": "extra",
    },
    samples=Path(__file__).parent / "samples",
)

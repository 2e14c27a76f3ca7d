"""Skyvern runs: ``GET /v1/runs/{run_id}``, ``GET /v1/runs`` list items, and webhook bodies.

Field mapping: ``run_id`` (webhooks: also ``task_id`` / ``workflow_run_id``) -> ``id``;
``run_type`` (list items: ``task_run_type``) -> ``kind`` as sent; ``output`` (task webhooks:
``extracted_information``; workflow webhooks: ``outputs``) -> ``result``; ``failure_reason``,
``errors[]`` and ``failure_category[]`` -> ``error`` (code from the first ``error_code``, else
the first category; message from ``failure_reason``, else the first error's ``reasoning``;
details = the ``errors`` entries, then the ``failure_category`` entries, as sent);
``created_at``, ``queued_at``, ``started_at``, ``finished_at``, ``modified_at`` -> ``timing``
(naive timestamps are UTC); ``recording_url`` / ``recording_urls`` -> ``recording``
artifacts; ``screenshot_urls`` (in Skyvern's order, latest first), then ``screenshot_url``
and ``action_screenshot_urls`` (webhooks) -> ``screenshot`` artifacts, each URL once;
``downloaded_files`` (url, filename, checksum, file_size, modified_at) and webhook
``downloaded_file_urls`` -> ``download`` artifacts; ``browser_console_log_url`` -> a ``log``
artifact; ``app_url`` -> ``web_url``; ``browser_session_id`` -> ``session_id``;
``step_count`` (workflow webhooks send it null: then ``total_steps``) -> ``step_count``;
``run_request.prompt`` (webhooks: ``prompt``) -> ``task``.
Every other field (``run_request``, ``browser_profile_id``, ``script_run``, ``run_with``,
``recording_archived``, ``title``, ``trigger_type``, webhook extras such as ``summary``,
``total_steps``, ``webhook_failure_reason``, ...) -> ``extra`` as sent.

Webhooks: ``verify_webhook`` checks ``x-skyvern-signature`` (HMAC-SHA256 of the raw body,
keyed with the API key) and the ``x-skyvern-timestamp`` window; both webhook shapes (task
and workflow) map like get-run responses.

Dropped on purpose: ``downloaded_files[].artifact_id`` (an artifact has no id field; it stays
in ``raw``). Secrets in ``run_request`` (``extra_http_headers``, ``cdp_connect_headers``,
``totp_*``) stay in ``raw`` and ``extra`` in memory and are redacted in CLI output.
"""

from __future__ import annotations

import hmac
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
    SignatureError,
    StatusMap,
)
from runnorm.webhooks import check_timestamp, hmac_sha256_hex, require_header

NAME = "skyvern"
fields = Fields(NAME)

STATUSES = StatusMap(
    NAME,
    {
        "created": RunStatus.QUEUED,
        "queued": RunStatus.QUEUED,
        "running": RunStatus.RUNNING,
        "paused": RunStatus.PAUSED,
        "completed": RunStatus.SUCCEEDED,
        "failed": RunStatus.FAILED,
        "canceled": RunStatus.CANCELED,
        "terminated": RunStatus.CANCELED,
        "timed_out": RunStatus.TIMED_OUT,
    },
)

ID_KEYS = ("run_id", "task_id", "workflow_run_id", "task_run_id")
ID_PREFIXES = ("tsk_", "wr_")
RESULT_KEYS = ("output", "extracted_information", "outputs")
_ERROR_KEYS = frozenset({"failure_reason", "errors", "failure_category"})
_ARTIFACT_KEYS = frozenset(
    {
        "recording_url",
        "recording_urls",
        "screenshot_urls",
        "screenshot_url",
        "action_screenshot_urls",
        "downloaded_files",
        "downloaded_file_urls",
        "browser_console_log_url",
    }
)
_CONSUMED = (
    _ERROR_KEYS
    | _ARTIFACT_KEYS
    | {
        "run_id",
        "status",
        "run_type",
        "task_run_type",
        "output",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
        "modified_at",
        "app_url",
        "browser_session_id",
        "step_count",
    }
)


def detect(payload: Mapping[str, Any]) -> bool:
    """A Skyvern run has a ``tsk_`` or ``wr_`` id under ``run_id`` (or a webhook's id keys)."""
    for key in ID_KEYS:
        value = payload.get(key)
        if value is not None:
            return type(value) is str and value.startswith(ID_PREFIXES)
    return False


def _error(p: Mapping[str, Any]) -> RunError | None:
    if p.keys().isdisjoint(_ERROR_KEYS):  # list items: nothing to look at
        return None
    reason = fields.text(p, "failure_reason")
    errors = fields.objects(p, "errors")
    categories = fields.objects(p, "failure_category")
    if reason is None and not errors and not categories:
        return None
    code = None
    for entry, key in [(e, "error_code") for e in errors] + [(c, "category") for c in categories]:
        value = entry.get(key)
        if isinstance(value, str):
            code = value
            break
    if reason is None and errors:
        first = errors[0].get("reasoning")
        reason = first if isinstance(first, str) else None
    return RunError(code=code, message=reason, details=(*errors, *categories))


def _artifacts(p: Mapping[str, Any]) -> tuple[Artifact, ...]:
    if p.keys().isdisjoint(_ARTIFACT_KEYS):  # list items carry no artifacts
        return ()
    out: list[Artifact] = []
    recording = fields.text(p, "recording_url")
    recordings = [recording] if recording else []
    recordings += [u for u in fields.strings(p, "recording_urls") if u not in recordings]
    out += [Artifact(kind=ArtifactKind.RECORDING, url=url) for url in recordings]

    seen: set[str] = set()
    shots: list[tuple[str, str | None]] = [
        (url, None) for url in fields.strings(p, "screenshot_urls")
    ]
    final = fields.text(p, "screenshot_url")
    if final:
        shots.append((final, "screenshot_final"))
    shots += [(url, "screenshot_action") for url in fields.strings(p, "action_screenshot_urls")]
    for url, name in shots:
        if url not in seen:
            seen.add(url)
            out.append(Artifact(kind=ArtifactKind.SCREENSHOT, url=url, name=name))

    files = fields.objects(p, "downloaded_files")
    for index, item in enumerate(files):
        path = f"downloaded_files[{index}]"
        out.append(
            Artifact(
                kind=ArtifactKind.DOWNLOAD,
                url=fields.text(item, "url", f"{path}.url"),
                name=fields.text(item, "filename", f"{path}.filename"),
                checksum=fields.text(item, "checksum", f"{path}.checksum"),
                size=fields.integer(item, "file_size", f"{path}.file_size"),
                created_at=fields.time(item, "modified_at", f"{path}.modified_at"),
            )
        )
    known = {artifact.url for artifact in out}
    out += [
        Artifact(kind=ArtifactKind.DOWNLOAD, url=url)
        for url in fields.strings(p, "downloaded_file_urls")
        if url not in known
    ]
    console = fields.text(p, "browser_console_log_url")
    if console:
        out.append(Artifact(kind=ArtifactKind.LOG, url=console, name="browser_console_log"))
    return tuple(out)


def verify_webhook(
    body: bytes, headers: Mapping[str, str], secret: str | bytes, *, tolerance: float, now: float
) -> None:
    """Skyvern signs the raw body: ``x-skyvern-signature`` is the lowercase hex HMAC-SHA256
    keyed with the API key. ``x-skyvern-timestamp`` (Unix seconds) is not signed, so the
    tolerance window (plus de-duplication by run and status) is the replay defence."""
    signature = require_header(headers, "x-skyvern-signature")
    stamp = require_header(headers, "x-skyvern-timestamp")
    check_timestamp(stamp, tolerance=tolerance, now=now, name="x-skyvern-timestamp")
    expected = hmac_sha256_hex(secret, body).encode()
    # Compare bytes: a header value is attacker-controlled and may not be ASCII.
    if not hmac.compare_digest(expected, signature.lower().encode("utf-8", "replace")):
        raise SignatureError("x-skyvern-signature does not match the body")


def to_run(p: Mapping[str, Any]) -> Run:
    """Map a get-run response, a list item or a webhook body to a ``Run``."""
    p = fields.require_mapping(p)
    native = fields.status_word(p)
    extra = fields.rest(p, _CONSUMED)
    result = None
    for key in RESULT_KEYS:
        if p.get(key) is not None:
            result = p[key]
            extra.pop(key, None)
            break
    request = fields.mapping(p, "run_request")
    task = fields.text(request, "prompt", "run_request.prompt") if request else None
    if task is None:
        task = fields.text(p, "prompt")
    return Run(
        provider=NAME,
        id=fields.id(p, *ID_KEYS),
        status=STATUSES.lookup(native),
        native_status=native,
        kind=fields.text(p, "run_type") or fields.text(p, "task_run_type"),
        result=result,
        error=_error(p),
        timing=fields.timing(
            p,
            created="created_at",
            queued="queued_at",
            started="started_at",
            finished="finished_at",
            updated="modified_at",
        ),
        artifacts=_artifacts(p),
        web_url=fields.text(p, "app_url"),
        session_id=fields.text(p, "browser_session_id"),
        step_count=fields.integer(p, "step_count")
        if p.get("step_count") is not None
        else fields.integer(p, "total_steps"),
        task=task,
        extra=extra,
        raw=p,
    )


PROVIDER = Provider(
    name=NAME,
    title="Skyvern",
    statuses=STATUSES,
    to_run=to_run,
    detect=detect,
    detect_keys=frozenset(ID_KEYS),
    auth=Auth(header="x-api-key", env_var="SKYVERN_API_KEY"),
    base_url="https://api.skyvern.com",
    base_url_env="SKYVERN_BASE_URL",
    fetch=RestFetch(path="/v1/runs/{run_id}"),
    verify_webhook=verify_webhook,
    sensitive_keys=("extra_http_headers", "cdp_connect_headers", "totp_*"),
    samples=Path(__file__).parent / "samples",
    docs_url="https://docs.skyvern.com",
    field_notes={
        "run_id (webhooks: task_id, workflow_run_id)": "id",
        "status": "status (mapped), native_status (as sent)",
        "run_type / task_run_type": "kind, as sent",
        "output (webhooks: extracted_information, outputs)": "result",
        "failure_reason, errors[], failure_category[]": "error (code, message, details)",
        "created_at, queued_at, started_at, finished_at": "timing (naive means UTC)",
        "modified_at": "timing.updated_at",
        "recording_url, recording_urls": "`recording` artifacts",
        "screenshot_urls, screenshot_url, action_screenshot_urls": "`screenshot` artifacts",
        "downloaded_files[], downloaded_file_urls": "`download` artifacts",
        "browser_console_log_url": "`log` artifact",
        "app_url": "web_url",
        "browser_session_id": "session_id",
        "step_count (workflow webhooks: total_steps)": "step_count",
        "run_request.prompt (webhooks: prompt)": "task",
        "run_request, browser_profile_id, script_run, summary, ...": "extra, as sent",
        "downloaded_files[].artifact_id": "dropped (raw only)",
    },
)

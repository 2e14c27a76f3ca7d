"""Skyvern runs: ``GET /v1/runs/{run_id}``, ``GET /v1/runs`` list items, and webhook bodies.

Both webhook shapes (task and workflow) map like get-run responses; ``verify_webhook`` checks
the signature. A workflow run with a retry policy runs again under the same ``wr_`` id:
``attempt``, ``retry_pending``, ``next_attempt_at`` and ``attempts[]`` (skyvern 1.0.56) map
to the run's attempt fields, and a ``failed`` run with ``retry_pending`` is not over. Where
each field lands is declared once, in ``FIELD_NOTES``: the provider page's mapping table is
rendered from it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runnorm import (
    Artifact,
    ArtifactFields,
    ArtifactKind,
    ArtifactListing,
    Artifacts,
    Attempt,
    Auth,
    FieldNote,
    FieldReader,
    Fields,
    PageNumbers,
    PayloadError,
    Provider,
    RestControl,
    RestFetch,
    RestList,
    Run,
    RunError,
    RunStatus,
    SignatureError,
    StatusFilter,
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
_ERROR_KEYS = ("failure_reason", "errors", "failure_category")
_ARTIFACT_KEYS = (
    "recording_url",
    "recording_urls",
    "screenshot_urls",
    "screenshot_url",
    "action_screenshot_urls",
    "downloaded_files",
    "downloaded_file_urls",
    "browser_console_log_url",
)
# Read for a named field and copied to extra as well (webhooks send no run_request: there the
# prompt is top-level; total_steps only stands in for a null step_count). run_request itself
# is read through ``fields``, which records nothing: it stays in extra where it was.
KEEP = ("prompt", "total_steps")

FIELD_NOTES = (
    FieldNote("run_id", "id"),
    FieldNote(("task_id", "workflow_run_id"), "id", when="webhooks without run_id"),
    FieldNote("task_run_id", "id", when="list items without run_id"),
    FieldNote("status", ("status", "native_status"), note="mapped; native_status as sent"),
    FieldNote("run_type", "kind", note="as sent"),
    FieldNote("task_run_type", "kind", when="list items", note="as sent"),
    FieldNote("output", "result"),
    FieldNote(("extracted_information", "outputs"), "result", when="webhooks, output null"),
    FieldNote("failure_reason", "error.message", note="an empty one counts as null"),
    FieldNote(
        "errors[]",
        ("error.code", "error.message", "error.details"),
        note="code from the first error_code; message from the first reasoning when "
        "failure_reason is null or empty; the entries as sent in details",
    ),
    FieldNote(
        "failure_category[]",
        ("error.code", "error.details"),
        when="webhooks",
        note="code from the first category when no error has a code; entries after errors",
    ),
    FieldNote("created_at", "timing.created_at", note="naive timestamps are UTC"),
    FieldNote("queued_at", "timing.queued_at"),
    FieldNote("started_at", "timing.started_at"),
    FieldNote("finished_at", "timing.finished_at"),
    FieldNote("modified_at", "timing.updated_at"),
    FieldNote(("recording_url", "recording_urls"), "artifacts", note="`recording`, each once"),
    FieldNote(
        ("screenshot_urls", "screenshot_url", "action_screenshot_urls"),
        "artifacts",
        note="`screenshot`, Skyvern's order (latest first), each URL once; the webhook's "
        "final and action shots named screenshot_final / screenshot_action, also when "
        "screenshot_urls lists them too",
    ),
    FieldNote(
        "downloaded_files[]",
        "artifacts",
        note="`download`: url, filename -> name, checksum, file_size -> size, "
        "modified_at -> created_at, artifact_id -> id",
    ),
    FieldNote("downloaded_file_urls", "artifacts", when="webhooks", note="`download`, once"),
    FieldNote("browser_console_log_url", "artifacts", note="`log` named browser_console_log"),
    FieldNote("app_url", "web_url"),
    FieldNote("browser_session_id", "session_id"),
    FieldNote("step_count", "step_count"),
    FieldNote(
        "total_steps", ("step_count", "extra"), when="webhooks", note="when step_count is null"
    ),
    FieldNote("run_request.prompt", "task"),
    FieldNote("attempt", "attempt", note="1-based: workflow runs and list items"),
    FieldNote(
        "retry_pending",
        "retry_pending",
        note="another attempt is scheduled: a failed run with it set is not terminal",
    ),
    FieldNote("next_attempt_at", "timing.next_attempt_at"),
    FieldNote(
        "attempts[]",
        "attempts",
        note="attempt_number -> number; status; started_at, finished_at; failure_reason -> "
        "error.message, error_codes -> error.code (the first) and error.details "
        "(`{error_code}` each); retry_decision, decision_reason, next_attempt_at, "
        "webhook_sent_at in the attempt's extra, as sent",
    ),
    FieldNote("prompt", ("task", "extra"), when="webhooks (no run_request)"),
    FieldNote("run_request", "extra", note="as sent; its secrets redacted in output"),
    FieldNote(
        ("browser_profile_id", "script_run", "recording_archived", "title", "trigger_type"),
        "extra",
        note="as sent, like every key not listed here (webhooks: summary, organization_id, "
        "webhook_failure_reason, ...)",
    ),
)


def detect(payload: Mapping[str, Any]) -> bool:
    """A Skyvern run has a ``tsk_`` or ``wr_`` id under ``run_id`` (or a webhook's id keys)."""
    for key in ID_KEYS:
        value = payload.get(key)
        if value is not None:
            return type(value) is str and value.startswith(ID_PREFIXES)
    return False


def _error(r: FieldReader) -> RunError | None:
    if not r.present(_ERROR_KEYS):  # list items, runs that did not fail: all absent or null
        return None
    reason = r.text("failure_reason") or None  # task_v1_service sends "" for "no reason"
    errors = r.objects("errors")
    categories = r.objects("failure_category")
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


def _artifacts(r: FieldReader) -> tuple[Artifact, ...]:
    if not r.present(_ARTIFACT_KEYS):  # list items, runs that made none: all absent or null
        return ()
    out: list[Artifact] = []
    recording = r.text("recording_url")
    recordings = dict.fromkeys([recording] if recording else [])  # each URL once, in order
    recordings.update(dict.fromkeys(r.strings("recording_urls")))
    for url in recordings:  # loops, not comprehensions: a frame less each (Python 3.11)
        out.append(Artifact(ArtifactKind.RECORDING, url))

    named = dict.fromkeys(r.strings("screenshot_urls"))  # each URL once, Skyvern's order
    final = r.text("screenshot_url")
    if final:
        named[final] = named.get(final) or "screenshot_final"
    for url in r.strings("action_screenshot_urls"):
        named[url] = named.get(url) or "screenshot_action"
    for url, name in named.items():
        out.append(Artifact(ArtifactKind.SCREENSHOT, url, name))

    for index, item in enumerate(r.objects("downloaded_files")):
        d = fields.read(item, f"downloaded_files[{index}].")
        out.append(
            Artifact(
                ArtifactKind.DOWNLOAD,
                url=d.text("url"),
                name=d.text("filename"),
                checksum=d.text("checksum"),
                size=d.integer("file_size"),
                created_at=d.time("modified_at"),
                id=d.text("artifact_id"),
            )
        )
    more = r.strings("downloaded_file_urls")
    if more:
        known = {artifact.url for artifact in out}
        out += [
            Artifact(ArtifactKind.DOWNLOAD, url) for url in dict.fromkeys(more) if url not in known
        ]
    console = r.text("browser_console_log_url")
    if console:
        out.append(Artifact(ArtifactKind.LOG, console, name="browser_console_log"))
    return tuple(out)


def _attempts(r: FieldReader) -> tuple[Attempt, ...]:
    out = []
    for index, item in enumerate(r.objects("attempts")):
        a = fields.read(item, f"attempts[{index}].")
        native = a.status()
        number = a.integer("attempt_number")
        if number is None:
            raise PayloadError(
                "missing attempt_number", provider=NAME, path=f"attempts[{index}].attempt_number"
            )
        reason = a.text("failure_reason")
        codes = a.strings("error_codes")
        error = None
        if reason is not None or codes:
            details = tuple({"error_code": code} for code in codes)
            error = RunError(code=codes[0] if codes else None, message=reason, details=details)
        out.append(
            Attempt(
                number=number,
                status=STATUSES.lookup(native),
                native_status=native,
                started_at=a.time("started_at"),
                finished_at=a.time("finished_at"),
                error=error,
                extra=a.rest(),
            )
        )
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
    r = fields.read(p)
    native = r.status()
    request = fields.mapping(p, "run_request")
    task = fields.text(request, "prompt", "run_request.prompt") if request else None
    step_count = r.integer("step_count")
    run_type, list_type = r.text("run_type"), r.text("task_run_type")
    return Run(
        provider=NAME,
        id=r.id(*ID_KEYS),
        status=STATUSES.lookup(native),
        native_status=native,
        kind=run_type or list_type,
        result=r.first(*RESULT_KEYS),
        error=_error(r),
        timing=r.timing(
            created="created_at",
            queued="queued_at",
            started="started_at",
            finished="finished_at",
            updated="modified_at",
            next_attempt="next_attempt_at",
        ),
        artifacts=_artifacts(r),
        web_url=r.text("app_url"),
        session_id=r.text("browser_session_id"),
        step_count=r.integer("total_steps") if step_count is None else step_count,
        task=r.text("prompt") if task is None else task,
        attempt=r.integer("attempt"),
        retry_pending=r.boolean("retry_pending") or False,
        attempts=_attempts(r),
        extra=r.rest(keep=KEEP),
        raw=r.payload,
    )


ARTIFACT_KINDS = {
    "recording": ArtifactKind.RECORDING,
    "screenshot": ArtifactKind.SCREENSHOT,
    "screenshot_final": ArtifactKind.SCREENSHOT,
    "screenshot_action": ArtifactKind.SCREENSHOT,
    "screenshot_llm": ArtifactKind.SCREENSHOT,
    "screenshot_proxy": ArtifactKind.SCREENSHOT,
    "download": ArtifactKind.DOWNLOAD,
    "skyvern_log": ArtifactKind.LOG,
    "skyvern_log_raw": ArtifactKind.LOG,
    "browser_console_log": ArtifactKind.LOG,
    "browser_session_action_log": ArtifactKind.LOG,
    "har": ArtifactKind.LOG,
    "trace": ArtifactKind.LOG,
}
"""Skyvern's ``artifact_type`` words (the spec's ``ArtifactType`` enum); any other (``html``,
``pdf``, ``llm_prompt``, ``session_replay``, ...) is ``other``."""

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
    # GET /v1/runs: no time filter, pages 1 to 100 of at most 100 items, newest first (so
    # since= stops early; the 10,000 most recent runs are all it reaches).
    list=RestList(
        path="/v1/runs",
        paging=PageNumbers(size=100, page_param="page", size_param="page_size", max_page=100),
        order="newest_first",
        created_key="created_at",
        status=StatusFilter(param="status", repeatable=True),
        lacks=(
            "result",
            "error",
            "artifacts",
            "web_url",
            "session_id",
            "step_count",
            "task",
            "timing.queued_at",
            "timing.updated_at",
        ),
    ),
    cancel=RestControl(path="/v1/runs/{run_id}/cancel", outcomes={404: "not_found"}),
    # Hidden from the spec, served (skyvern/forge/sdk/routes/agent_protocol.py): it answers
    # 404 for a run that is missing *or* not paused, so a 404 is settled by fetching the run.
    resume=RestControl(
        path="/v1/workflows/runs/{run_id}/continue", prefixes=("wr_",), ambiguous=(404,)
    ),
    artifacts=Artifacts(
        listings=(
            ArtifactListing(
                path="/v1/runs/{run_id}/artifacts",
                fields=ArtifactFields(
                    id="artifact_id",
                    url="signed_url",
                    name_path="uri",
                    type_key="artifact_type",
                    kinds=ARTIFACT_KINDS,
                    size="file_size",
                    checksum="checksum",
                    created_at="created_at",
                ),
                download="/v1/artifacts/{artifact_id}/content",
                ranges=True,
            ),
        ),
    ),
    verify_webhook=verify_webhook,
    sensitive_keys=("extra_http_headers", "cdp_connect_headers", "totp_*"),
    samples=Path(__file__).parent / "samples",
    docs_url="https://docs.skyvern.com",
    field_notes=FIELD_NOTES,
)

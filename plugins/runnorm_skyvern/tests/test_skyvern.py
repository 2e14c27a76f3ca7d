"""Skyvern mapping: get-run responses of every run type, list items and both webhook shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import runnorm
from runnorm import ArtifactKind, PayloadError, RunStatus
from runnorm.testing import ProviderConformance
from runnorm.webhooks import hmac_sha256_hex

SAMPLES = Path(__file__).parent.parent / "samples"


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


class TestSkyvernConformance(ProviderConformance):
    provider = "skyvern"

    def sign_webhook(self, body: bytes, secret: str, timestamp: int) -> dict[str, str]:
        # Skyvern signs the raw body only (HMAC-SHA256, lowercase hex, keyed with the API
        # key); the timestamp travels beside it, unsigned.
        return {
            "x-skyvern-signature": hmac_sha256_hex(secret, body),
            "x-skyvern-timestamp": str(timestamp),
        }


def test_full_get_run_maps_every_field() -> None:
    p = sample("get-run-task-v2-completed-full")
    run = runnorm.normalize(p)
    assert (run.provider, run.id, run.kind) == ("skyvern", p["run_id"], "task_v2")
    assert run.status is RunStatus.SUCCEEDED and run.native_status == "completed"
    assert run.result == p["output"]
    assert run.error is None
    assert run.web_url == p["app_url"]
    assert run.session_id == p["browser_session_id"]
    assert run.step_count == p["step_count"]
    assert run.task == p["run_request"]["prompt"]
    t = run.timing
    assert t.created_at is not None and t.created_at.tzinfo is UTC
    assert t.updated_at is not None and t.queued_at is not None
    assert t.queue_time is not None and t.run_time is not None and t.total_time is not None

    recordings = [a for a in run.artifacts if a.kind is ArtifactKind.RECORDING]
    assert [a.url for a in recordings] == [p["recording_url"]]
    shots = [a.url for a in run.artifacts if a.kind is ArtifactKind.SCREENSHOT]
    assert shots == p["screenshot_urls"]  # Skyvern's order, latest first
    downloads = [a for a in run.artifacts if a.kind is ArtifactKind.DOWNLOAD]
    assert len(downloads) == len(p["downloaded_files"])
    for artifact, native in zip(downloads, p["downloaded_files"], strict=True):
        assert artifact.url == native["url"]
        assert artifact.name == native["filename"]
        assert artifact.checksum == native["checksum"]
        assert artifact.size == native["file_size"]
        assert artifact.created_at == datetime.fromisoformat(native["modified_at"])

    for key in (
        "browser_profile_id",
        "script_run",
        "recording_archived",
        "run_request",
        "max_screenshot_scrolls",
    ):
        assert run.extra[key] == p[key]
    assert run.raw is p


def test_naive_timestamps_are_utc() -> None:
    run = runnorm.normalize(sample("get-run-task-v2-completed-naive-timestamps"))
    created = run.timing.created_at
    assert created is not None and created.utcoffset() is not None
    assert created.isoformat() == run.raw["created_at"] + "+00:00"


def test_failed_run_error_from_failure_reason_and_errors() -> None:
    p = sample("get-run-task-v2-failed-error-code-mapping")
    run = runnorm.normalize(p)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.message == p["failure_reason"]
    assert run.error.code == p["errors"][0]["error_code"]
    assert run.error.details == tuple(p["errors"])
    assert run.result == {"error": "login_failed"}  # error_code_mapping output stays the result


def test_webhook_task_v1_failed_maps_categories_screenshots_and_links() -> None:
    p = sample("webhook-task-v1-failed")
    run = runnorm.normalize(p)
    assert run.id == p["task_id"] == p["run_id"]
    assert run.error is not None
    assert run.error.details == (*p["errors"], *p["failure_category"])
    shots = [a for a in run.artifacts if a.kind is ArtifactKind.SCREENSHOT]
    urls = [a.url for a in shots]
    assert len(urls) == len(set(urls))  # each URL once
    assert urls[: len(p["screenshot_urls"])] == p["screenshot_urls"]
    expected = list(
        dict.fromkeys([*p["screenshot_urls"], p["screenshot_url"], *p["action_screenshot_urls"]])
    )
    assert urls == expected
    assert run.extra["max_steps_per_run"] == p["max_steps_per_run"]


def test_webhook_task_v1_completed_uses_extracted_information_and_console_log() -> None:
    p = sample("webhook-task-v1-completed")
    run = runnorm.normalize(p)
    expected = p["output"] if p.get("output") is not None else p["extracted_information"]
    assert run.result == expected
    logs = [a for a in run.artifacts if a.kind is ArtifactKind.LOG]
    if p.get("browser_console_log_url"):
        assert [a.url for a in logs] == [p["browser_console_log_url"]]
    downloads = {a.url for a in run.artifacts if a.kind is ArtifactKind.DOWNLOAD}
    assert set(p.get("downloaded_file_urls") or []) <= downloads


def test_webhook_task_v2_maps_prompt_and_summary() -> None:
    p = sample("webhook-task-v2-completed")
    run = runnorm.normalize(p)
    assert run.task == p["prompt"]
    assert run.result == p["output"]
    assert run.extra["summary"] == p["summary"]
    assert run.extra["workflow_run_id"] == p["workflow_run_id"]


def test_webhook_workflow_run_maps_outputs_recordings_and_costs() -> None:
    p = sample("webhook-workflow-run-completed")
    run = runnorm.normalize(p)
    assert run.id == p["workflow_run_id"]
    assert run.kind == "workflow_run"
    recordings = [a.url for a in run.artifacts if a.kind is ArtifactKind.RECORDING]
    assert recordings == list(dict.fromkeys([p["recording_url"], *p["recording_urls"]]))
    downloads = [a for a in run.artifacts if a.kind is ArtifactKind.DOWNLOAD]
    assert [a.url for a in downloads[: len(p["downloaded_files"])]] == [
        f["url"] for f in p["downloaded_files"]
    ]
    for key in (
        "total_steps",
        "total_cost",
        "credits_used",
        "workflow_title",
        "parameters",
        "webhook_failure_reason",
        "outputs",
    ):
        assert run.extra[key] == p[key]


def test_webhook_without_run_id_falls_back_to_task_or_workflow_run_id() -> None:
    p = sample("webhook-workflow-run-canceled")
    p.pop("run_id", None)
    run = runnorm.normalize(p)
    assert run.id == p["workflow_run_id"]
    assert run.status is RunStatus.CANCELED


def test_list_item_uses_task_run_type() -> None:
    p = sample("list-item-task-v1-completed")
    run = runnorm.normalize(p)
    assert run.kind == "task_v1" and run.id == p["run_id"]
    assert run.timing.updated_at is None
    assert run.extra["task_run_id"] == p["task_run_id"]
    assert run.extra["title"] == p["title"]
    assert run.extra["script_run"] is False


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("get-run-task-v1-created", "task_v1"),
        ("get-run-task-v2-queued", "task_v2"),
        ("get-run-task-v3-terminated", "task_v3"),
        ("get-run-workflow-run-running", "workflow_run"),
        ("get-run-openai-cua-running", "openai_cua"),
        ("get-run-anthropic-cua-timed-out", "anthropic_cua"),
        ("get-run-ui-tars-canceled", "ui_tars"),
        ("get-run-yutori-navigator-completed-offset-timestamps", "yutori_navigator"),
        ("unseen-run-type-task-v4", "task_v4"),
    ],
)
def test_every_run_type_is_kept_as_sent(name: str, kind: str) -> None:
    assert runnorm.normalize(sample(name)).kind == kind


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("get-run-task-v1-created", RunStatus.QUEUED),
        ("get-run-task-v2-queued", RunStatus.QUEUED),
        ("get-run-openai-cua-running", RunStatus.RUNNING),
        ("get-run-workflow-run-paused", RunStatus.PAUSED),
        ("get-run-anthropic-cua-timed-out", RunStatus.TIMED_OUT),
        ("get-run-task-v3-terminated", RunStatus.CANCELED),
        ("get-run-ui-tars-canceled", RunStatus.CANCELED),
        ("get-run-workflow-run-failed", RunStatus.FAILED),
    ],
)
def test_status_words(name: str, status: RunStatus) -> None:
    assert runnorm.normalize(sample(name)).status is status


def test_workflow_fields_land_in_extra() -> None:
    p = sample("get-run-workflow-run-completed-code")
    run = runnorm.normalize(p)
    for key in ("run_with", "ai_fallback", "script_id", "browser_seed_source"):
        assert run.extra[key] == p[key]


def test_minimal_and_null_heavy() -> None:
    minimal = runnorm.normalize(sample("get-run-minimal"))
    assert minimal.artifacts == () and minimal.error is None and minimal.result is None
    nulls = runnorm.normalize(sample("get-run-null-heavy"))
    assert nulls.artifacts == () and nulls.error is None and nulls.task is None


def test_unseen_status_is_unknown() -> None:
    with pytest.warns(runnorm.UnknownStatusWarning, match="awaiting_approval"):
        run = runnorm.normalize(sample("unseen-status-awaiting-approval"))
    assert run.status is RunStatus.UNKNOWN and run.native_status == "awaiting_approval"


def test_mistyped_nested_field_names_its_path() -> None:
    p = sample("get-run-task-v2-completed-full")
    p["downloaded_files"][1]["modified_at"] = "last tuesday"
    with pytest.raises(PayloadError) as info:
        runnorm.normalize(p)
    assert info.value.path == "downloaded_files[1].modified_at"
    assert info.value.value == "last tuesday"


def test_workflow_webhook_step_count_falls_back_to_total_steps() -> None:
    p = sample("webhook-workflow-run-completed")
    assert p["step_count"] is None
    assert runnorm.normalize(p).step_count == p["total_steps"]


def test_webhook_screenshots_keep_their_role_when_screenshot_urls_lists_them_too() -> None:
    payload = json.loads((SAMPLES / "webhook-task-v1-completed.json").read_text())
    shots = [a for a in runnorm.normalize(payload).artifacts if a.kind is ArtifactKind.SCREENSHOT]
    urls = [a.url for a in shots]
    assert len(urls) == len(set(urls))  # each URL once
    assert payload["screenshot_url"] in payload["screenshot_urls"]  # the case in question
    names = {a.url: a.name for a in shots}
    assert names[payload["screenshot_url"]] == "screenshot_final"
    for url in payload["action_screenshot_urls"]:
        if url != payload["screenshot_url"]:
            assert names[url] == "screenshot_action"
    assert urls[: len(payload["screenshot_urls"])] == list(
        dict.fromkeys(payload["screenshot_urls"])
    )


# -- retries under the same run id (skyvern 1.0.56: WorkflowRunResponse.attempts) ------------


def test_a_failed_attempt_with_a_retry_pending_is_not_over() -> None:
    p = sample("get-run-workflow-run-failed-retry-pending")
    run = runnorm.normalize(p)
    assert run.status is RunStatus.FAILED and run.native_status == "failed"
    assert run.attempt == 1 and run.retry_pending and not run.is_terminal
    assert run.timing.next_attempt_at == datetime(2026, 9, 21, 8, 5, 41, 731002, tzinfo=UTC)
    (attempt,) = run.attempts
    native = p["attempts"][0]
    assert (attempt.number, attempt.status, attempt.native_status) == (
        1,
        RunStatus.FAILED,
        "failed",
    )
    assert attempt.started_at == run.timing.started_at
    assert attempt.finished_at == run.timing.finished_at
    assert attempt.error == runnorm.RunError(
        code="NAVIGATION_FAILED",
        message=native["failure_reason"],
        details=({"error_code": "NAVIGATION_FAILED"},),
    )
    assert attempt.extra == {
        key: native[key]
        for key in ("retry_decision", "decision_reason", "next_attempt_at", "webhook_sent_at")
    }
    for key in ("attempt", "retry_pending", "next_attempt_at", "attempts"):
        assert key not in run.extra


def test_the_attempts_history_of_a_run_that_succeeded_on_its_second_attempt() -> None:
    run = runnorm.normalize(sample("get-run-workflow-run-completed-second-attempt"))
    assert run.ok and run.is_terminal and run.attempt == 2 and not run.retry_pending
    assert run.timing.next_attempt_at is None
    first, second = run.attempts
    assert (first.number, first.status, second.number, second.status) == (
        1,
        RunStatus.FAILED,
        2,
        RunStatus.SUCCEEDED,
    )
    assert second.error is None and second.extra["decision_reason"] == "no_match"


def test_the_second_attempt_running() -> None:
    run = runnorm.normalize(sample("get-run-workflow-run-running-second-attempt"))
    assert run.status is RunStatus.RUNNING and run.attempt == 2
    assert [a.status for a in run.attempts] == [RunStatus.FAILED, RunStatus.RUNNING]
    assert run.attempts[1].finished_at is None


def test_list_items_carry_attempt_and_retry_pending() -> None:
    run = runnorm.normalize(sample("list-item-workflow-run-failed-retry-pending"))
    assert run.attempt == 1 and run.retry_pending and not run.is_terminal
    assert run.timing.next_attempt_at is not None and run.attempts == ()


def test_an_interim_webhook_parses_to_a_run_that_is_not_over() -> None:
    body = (SAMPLES / "webhook-workflow-run-failed-retry-pending.json").read_bytes()
    headers = {"x-skyvern-signature": hmac_sha256_hex("sk", body), "x-skyvern-timestamp": "100"}
    run = runnorm.webhooks.parse("skyvern", body, headers, secret="sk", now=100)
    assert run.status is RunStatus.FAILED and run.retry_pending and not run.is_terminal
    assert run.attempt == 1 and len(run.attempts) == 1
    final = runnorm.normalize(sample("webhook-workflow-run-failed-final-attempt"))
    assert final.is_terminal and final.attempt == 2 and not final.retry_pending
    assert final.attempts[1].error is not None
    assert final.attempts[1].error.code == "NAVIGATION_FAILED"
    assert [d["error_code"] for d in final.attempts[1].error.details] == [
        "NAVIGATION_FAILED",
        "PROXY_ERROR",
    ]


def test_task_runs_have_no_attempt() -> None:
    run = runnorm.normalize(sample("get-run-task-v2-completed-full"))
    assert (run.attempt, run.retry_pending, run.attempts) == (None, False, ())


def test_an_attempt_without_its_number_names_its_path() -> None:
    p = sample("get-run-workflow-run-completed-second-attempt")
    del p["attempts"][1]["attempt_number"]
    with pytest.raises(PayloadError) as info:
        runnorm.normalize(p)
    assert info.value.path == "attempts[1].attempt_number"
    p = sample("get-run-workflow-run-completed-second-attempt")
    p["attempts"][0]["started_at"] = "yesterday"
    with pytest.raises(PayloadError) as info:
        runnorm.normalize(p)
    assert info.value.path == "attempts[0].started_at"
    p["attempts"] = [{"attempt_number": 1}]
    with pytest.raises(PayloadError, match="status"):
        runnorm.normalize(p)
    p["retry_pending"] = "yes"
    p["attempts"] = []
    with pytest.raises(PayloadError) as info:
        runnorm.normalize(p)
    assert info.value.path == "retry_pending"


def test_every_screenshot_and_log_artifact_type_of_the_spec_has_its_kind() -> None:
    # The spec's ArtifactType enum: plain `screenshot` and `screenshot_proxy` are screenshots,
    # `skyvern_log_raw` and `browser_session_action_log` are logs (were `other`).
    from runnorm_skyvern.provider import ARTIFACT_KINDS

    for word in ("screenshot", "screenshot_llm", "screenshot_action", "screenshot_final"):
        assert ARTIFACT_KINDS[word] is ArtifactKind.SCREENSHOT
    assert ARTIFACT_KINDS["screenshot_proxy"] is ArtifactKind.SCREENSHOT
    for word in ("skyvern_log", "skyvern_log_raw", "browser_console_log"):
        assert ARTIFACT_KINDS[word] is ArtifactKind.LOG
    assert ARTIFACT_KINDS["browser_session_action_log"] is ArtifactKind.LOG


def test_an_empty_failure_reason_is_no_reason() -> None:
    # task_v1_service builds failure_reason = "" for a failed task whose last step's actions
    # all succeeded: the message is the first error's reasoning, not "".
    p = sample("get-run-task-v1-failed-empty-failure-reason")
    run = runnorm.normalize(p)
    assert run.error is not None and run.error.code == "REACH_MAX_STEPS"
    assert run.error.message == p["errors"][0]["reasoning"]
    p["errors"] = []
    assert runnorm.normalize(p).error is None


def test_a_url_sent_twice_is_one_artifact() -> None:
    """Recording and download URLs are each listed once, in Skyvern's order, however many
    times (and under however many keys) the payload repeats them."""
    run = runnorm.normalize(
        {
            "run_id": "tsk_1",
            "status": "completed",
            "recording_url": "r1",
            "recording_urls": ["r2", "r1", "r2", "r3"],
            "downloaded_files": [{"url": "d1"}],
            "downloaded_file_urls": ["d2", "d1", "d2"],
        },
        "skyvern",
    )
    by_kind = [(a.kind.value, a.url) for a in run.artifacts]
    assert by_kind == [
        ("recording", "r1"),
        ("recording", "r2"),
        ("recording", "r3"),
        ("download", "d1"),
        ("download", "d2"),
    ]

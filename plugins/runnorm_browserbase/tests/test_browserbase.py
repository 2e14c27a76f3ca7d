"""Browserbase agent-run mapping: statuses in both cases, cause, session link, extras."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from runnorm_browserbase.provider import fold_session

import runnorm
from runnorm import ArtifactKind, PayloadError, RunStatus
from runnorm.testing import ProviderConformance

SAMPLES = Path(__file__).parent.parent / "samples"


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def sample_session(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / "session" / f"{name}.json").read_text())


class TestBrowserbaseConformance(ProviderConformance):
    provider = "browserbase"


def test_completed_run_maps_every_field() -> None:
    payload = sample("get-run-completed")
    run = runnorm.normalize(payload)
    assert run.provider == "browserbase"
    assert run.id == payload["runId"]
    assert run.status is RunStatus.SUCCEEDED and run.native_status == "COMPLETED"
    assert run.kind == "agent_run"
    assert run.task == payload["task"]
    assert run.result == payload["result"]
    assert run.session_id == payload["sessionId"]
    assert run.web_url == f"https://browserbase.com/sessions/{payload['sessionId']}"
    (link,) = run.artifacts
    assert (link.kind, link.url, link.name) == (ArtifactKind.OTHER, run.web_url, "session")
    assert run.extra == {
        "agent_id": payload["agentId"],
        "sandbox_id": payload["sandboxId"],
        "result_schema": payload["resultSchema"],
    }
    assert run.timing.created_at is not None and run.timing.updated_at is not None
    assert run.timing.finished_at is not None and run.timing.queued_at is None
    assert run.error is None


def test_failed_run_carries_cause() -> None:
    run = runnorm.normalize(sample("get-run-failed-heartbeat-lost"))
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.code == "RUNNER_HEARTBEAT_LOST"
    assert run.error.message


def test_cause_with_code_only() -> None:
    run = runnorm.normalize(sample("get-run-failed-cause-code-only"))
    assert run.error is not None
    assert run.error.code == "AGENT_MAX_STEPS_EXCEEDED" and run.error.message is None


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("get-run-pending", RunStatus.QUEUED),
        ("get-run-running", RunStatus.RUNNING),
        ("get-run-paused", RunStatus.PAUSED),
        ("get-run-stopped-no-result", RunStatus.CANCELED),
        ("get-run-timed-out", RunStatus.TIMED_OUT),
        ("get-run-completed-lowercase-status", RunStatus.SUCCEEDED),
        ("get-run-running-lowercase-status", RunStatus.RUNNING),
    ],
)
def test_status_words_in_both_cases(name: str, status: RunStatus) -> None:
    assert runnorm.normalize(sample(name)).status is status


def test_paused_is_not_terminal() -> None:
    run = runnorm.normalize(sample("get-run-paused"))
    assert not run.is_terminal and not run.ok


def test_non_utc_offset_is_converted_to_utc() -> None:
    run = runnorm.normalize(sample("get-run-completed-offset-plus-02-00"))
    created = run.timing.created_at
    assert created is not None and created.tzinfo is UTC
    raw = datetime.fromisoformat(run.raw["createdAt"])
    assert created == raw and raw.utcoffset() == timedelta(hours=2)


def test_run_without_session_has_no_link() -> None:
    run = runnorm.normalize(sample("get-run-failed-session-create-failed"))
    assert run.session_id is None and run.web_url is None and run.artifacts == ()


def test_null_optionals() -> None:
    run = runnorm.normalize(sample("get-run-pending-null-optionals"))
    assert run.result is None and run.error is None and run.session_id is None


def test_unseen_status_warns_once_and_keeps_word() -> None:
    payload = sample("unseen-status-awaiting-approval")
    with pytest.warns(runnorm.UnknownStatusWarning, match="AWAITING_APPROVAL"):
        run = runnorm.normalize(payload)
    assert run.status is RunStatus.UNKNOWN and run.native_status == "AWAITING_APPROVAL"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runnorm.normalize(payload).status is RunStatus.UNKNOWN  # no second warning


def test_mistyped_cause_names_the_field() -> None:
    payload = sample("get-run-failed-heartbeat-lost")
    payload["cause"] = "boom"
    with pytest.raises(PayloadError) as info:
        runnorm.normalize(payload)
    assert (info.value.provider, info.value.path, info.value.value) == (
        "browserbase",
        "cause",
        "boom",
    )


def test_cause_keys_beyond_code_and_message_are_kept_in_details() -> None:
    # The spec's cause has code and message; keys it grows later must not vanish.
    run = runnorm.normalize(sample("get-run-failed-cause-extra-keys"))
    assert run.error is not None
    assert run.error.code == "SESSION_CREATE_FAILED"
    assert run.error.details == ({"retryable": True, "status_code": 429},)


def test_cause_with_code_and_message_only_has_no_details() -> None:
    run = runnorm.normalize(sample("get-run-failed-heartbeat-lost"))
    assert run.error is not None and run.error.details == ()


@pytest.mark.parametrize("name", ["get-run-paused", "get-run-running"])
def test_an_ended_session_does_not_finish_a_live_run(name: str) -> None:
    # A paused run's session can time out while the agent awaits the caller's input: the
    # session's endedAt is not the run's, and a run that is not terminal has no finished_at.
    run = runnorm.normalize(sample(name))
    session = {**sample_session("session"), "id": run.session_id}
    folded = fold_session(run, {"session": session})
    assert folded.timing.finished_at is None and folded.timing.run_time is None
    assert folded.extra["session"] == session


def test_an_ended_session_fills_a_terminal_run_without_end_time() -> None:
    payload = sample("get-run-stopped-no-result")
    payload.pop("endedAt", None)
    run = runnorm.normalize(payload)
    session = {**sample_session("session"), "endedAt": "2026-03-02T13:47:02.950Z"}
    folded = fold_session(run, {"session": session})
    assert folded.timing.finished_at == datetime(2026, 3, 2, 13, 47, 2, 950000, tzinfo=UTC)

"""Bridge Town mapping: the docs example, outputs as artifacts, errors, list and run shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import runnorm
from runnorm import ArtifactKind, PayloadError, RunStatus
from runnorm.testing import ProviderConformance

SAMPLES = Path(__file__).parent.parent / "samples"


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


class TestBridgeTownConformance(ProviderConformance):
    provider = "bridgetown"


def test_docs_example_maps_every_field() -> None:
    run = runnorm.normalize(sample("get-run-docs-example"))
    assert run.provider == "bridgetown"
    assert run.id == "66666666-6666-6666-6666-666666666666"
    assert run.status is RunStatus.SUCCEEDED and run.ok and run.is_terminal
    assert run.native_status == "success"
    assert run.kind == "model_run"
    assert run.result == {"revenue": [100, 110, 121]}
    assert run.error is None
    assert run.timing.started_at == datetime(2026, 4, 28, 10, 0, tzinfo=UTC)
    assert run.timing.run_time == timedelta(seconds=1.42)
    assert run.timing.total_time is None  # no created_at in get_run
    stdout, stderr, output = run.artifacts
    assert (stdout.kind, stdout.content) == (ArtifactKind.STDOUT, "Run completed in 1.42s\n")
    assert (stderr.kind, stderr.content) == (ArtifactKind.STDERR, "")
    assert (output.kind, output.name, output.content) == (
        ArtifactKind.OUTPUT,
        "revenue",
        [100, 110, 121],
    )
    assert run.extra == {
        "run_number": None,
        "project_name": "forecasts",
        "commit_sha": "abc1234def5678901234567890abcdef12345678",
        "truncated": False,
        "output_status": "success",
        "exit_code": 0,
    }


def test_each_output_file_is_an_artifact_with_media_type() -> None:
    run = runnorm.normalize(sample("get-run-success-multi-output"))
    outputs = [a for a in run.artifacts if a.kind is ArtifactKind.OUTPUT]
    assert [a.name for a in outputs] == list(run.result)
    media = {a.name: a.media_type for a in outputs}
    assert media["forecast.json"] == "application/json"
    assert media["revenue.csv"] == "text/csv"
    assert media["summary.txt"] == "text/plain"
    assert all(a.content == run.result[a.name] for a in outputs)


def test_truncated_flag_survives() -> None:
    run = runnorm.normalize(sample("get-run-success-truncated"))
    assert run.extra["truncated"] is True


def test_failed_run_carries_message_and_exit_code() -> None:
    run = runnorm.normalize(sample("get-run-failed-with-output"))
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.code == "exit_code_1"
    assert run.error.message is not None and "ZeroDivisionError" in run.error.message
    assert run.error.details == ({"exit_code": 1},)
    assert run.extra["exit_code"] == 1
    assert run.extra["commit_sha"] == "3584d467b711de0e2b5cd32d383061cd204e018a"
    assert run.extra["run_number"] == 12


def test_failed_run_without_output_has_message_only() -> None:
    run = runnorm.normalize(sample("get-run-failed-traceback"))
    assert run.error is not None and run.error.code is None
    assert "KeyError" in (run.error.message or "")
    assert run.artifacts == ()


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("get-run-pending", RunStatus.QUEUED),
        ("get-run-running", RunStatus.RUNNING),
        ("get-run-timed-out", RunStatus.TIMED_OUT),
        ("get-run-cancelled", RunStatus.CANCELED),
    ],
)
def test_status_words(name: str, status: RunStatus) -> None:
    assert runnorm.normalize(sample(name)).status is status


def test_list_item_has_created_at_and_no_project() -> None:
    run = runnorm.normalize(sample("list-item-success"))
    assert run.timing.created_at is not None
    assert run.timing.queue_time == run.timing.started_at - run.timing.created_at  # type: ignore[operator]
    assert "project_name" not in run.extra
    assert run.extra["run_number"] == 41


def test_sync_run_result_maps_inline_streams() -> None:
    run = runnorm.normalize(sample("run-sync-failed"))
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.message == "ZeroDivisionError: division by zero"
    assert run.error.code == "exit_code_1"
    kinds = [a.kind for a in run.artifacts]
    assert kinds[:2] == [ArtifactKind.STDOUT, ArtifactKind.STDERR]
    assert run.extra["duration_seconds"] == 1.35
    assert run.extra["stdout_truncated"] is False


def test_async_run_result_keeps_message_and_warning() -> None:
    run = runnorm.normalize(sample("run-async-with-warning"))
    assert run.status is RunStatus.QUEUED
    assert run.extra["warning"].startswith("No model_name given")
    assert "message" in run.extra


def test_naive_and_z_timestamps_are_utc() -> None:
    naive = runnorm.normalize(sample("get-run-success-naive-timestamps"))
    zulu = runnorm.normalize(sample("get-run-success-run-number-null-zulu"))
    for run in (naive, zulu):
        assert run.timing.started_at is not None
        assert run.timing.started_at.utcoffset() == timedelta(0)


def test_null_heavy_output_maps_to_nothing() -> None:
    run = runnorm.normalize(sample("get-run-null-heavy-success"))
    assert run.result is None and run.artifacts == () and run.error is None


def test_minimal_payload() -> None:
    run = runnorm.normalize(sample("get-run-minimal"))
    assert run.timing == runnorm.Timing()
    assert run.extra == {"project_name": run.raw["project_name"]}


def test_mistyped_exit_code_names_the_field() -> None:
    payload = sample("get-run-docs-example")
    payload["output"]["exit_code"] = "zero"
    with pytest.raises(PayloadError) as info:
        runnorm.normalize(payload, "bridgetown")
    assert info.value.path == "output.exit_code"
    assert info.value.value == "zero"
    assert "bridgetown" in str(info.value)


def test_sync_error_is_kept_when_error_message_is_also_sent() -> None:
    payload = {**sample("run-sync-failed"), "error_message": "Model failed"}
    run = runnorm.normalize(payload)
    assert run.error is not None
    assert run.error.message == "Model failed"
    assert {"error": payload["error"]} in run.error.details

"""Tests of the Acme Runs plugin: the runnorm conformance suite, the mapping, a live fetch."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from runnorm_acme import PROVIDER

import runnorm
from runnorm import ArtifactKind, AuthError, PayloadError, RunStatus
from runnorm.testing import FakeProviderServer, ProviderConformance, Reply

SAMPLES = Path(__file__).parent.parent / "runnorm_acme" / "samples"


def sample(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return payload


class TestAcmeConformance(ProviderConformance):
    provider = "acme"


def test_samples_directory_is_the_declared_one() -> None:
    # The installed package ships its samples, and they are the ones these tests read.
    declared = PROVIDER.samples
    assert declared is not None
    assert sorted(p.name for p in declared.glob("*.json")) == sorted(
        p.name for p in SAMPLES.glob("*.json")
    )


def test_done_run_maps_every_field() -> None:
    payload = sample("done")
    run = runnorm.normalize(payload)  # detected: no provider name given
    assert run.provider == "acme"
    assert run.id == payload["acmeRunId"]
    assert (run.status, run.native_status) == (RunStatus.SUCCEEDED, "DONE")
    assert run.kind == "acme_run"
    assert run.task == payload["goal"]
    assert run.result == payload["output"]
    assert run.error is None
    assert run.web_url == payload["appUrl"]
    assert run.session_id == payload["browserSessionId"]
    assert run.step_count == 12
    assert run.timing.created_at == datetime(2026, 1, 20, 11, 52, 29, 276000, tzinfo=UTC)
    assert run.timing.queued_at is not None and run.timing.updated_at is not None
    assert run.timing.run_time == timedelta(milliseconds=95311 - 1870)
    log, *shots = run.artifacts
    assert (log.kind, log.url, log.name) == (ArtifactKind.LOG, payload["logUrl"], "run.log")
    assert [shot.kind for shot in shots] == [ArtifactKind.SCREENSHOT] * 3
    assert [shot.name for shot in shots] == ["home.png", "hours.png", "screenshot-3.png"]
    assert shots[0].created_at is not None and shots[2].created_at is None
    assert run.extra == {
        "project_id": "prj_7f3c21",
        "worker_region": "eu-west-1",
        "cost_cents": 14,
    }
    assert run.raw == payload


def test_broken_run_carries_the_failure() -> None:
    run = runnorm.normalize(sample("broken"))
    assert run.status is RunStatus.FAILED and run.is_terminal and not run.ok
    assert run.error is not None
    assert run.error.code == "PAGE_CRASHED"
    assert run.error.message and "crashed" in run.error.message
    assert run.error.details == (
        {"step": 5, "url": "https://restaurant.example/book", "signal": "SIGSEGV"},
    )


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("waiting", RunStatus.QUEUED),
        ("working", RunStatus.RUNNING),
        ("needs-input", RunStatus.PAUSED),
        ("done", RunStatus.SUCCEEDED),
        ("broken", RunStatus.FAILED),
        ("aborted", RunStatus.CANCELED),
        ("expired", RunStatus.TIMED_OUT),
    ],
)
def test_status_words(name: str, status: RunStatus) -> None:
    assert runnorm.normalize(sample(name), "acme").status is status


def test_needs_input_is_paused_and_keeps_the_request_in_extra() -> None:
    run = runnorm.normalize(sample("needs-input"))
    assert run.status is RunStatus.PAUSED and not run.is_terminal
    assert run.extra["input_request"]["fields"] == ["otp"]


def test_expired_run_is_timed_out_with_partial_output() -> None:
    run = runnorm.normalize(sample("expired"))
    assert run.status is RunStatus.TIMED_OUT
    assert run.error is not None and run.error.code == "TIME_LIMIT" and run.error.details == ()
    assert run.result == {"pagesDone": 412, "partial": True}
    assert run.extra["time_limit_seconds"] == 1800


def test_null_heavy_and_minimal_payloads() -> None:
    run = runnorm.normalize(sample("done-null-heavy"))
    assert run.status is RunStatus.SUCCEEDED
    assert run.artifacts == () and run.error is None and run.task is None
    assert run.timing.created_at is not None and run.timing.finished_at is None
    assert run.extra == {"project_id": None, "worker_region": None, "input_request": None}
    minimal = runnorm.normalize(sample("minimal"))
    assert (minimal.status, minimal.extra, minimal.artifacts) == (RunStatus.QUEUED, {}, ())


@pytest.mark.usefixtures("runnorm_fresh_status_warnings")
def test_unseen_status_warns_once_and_keeps_the_word() -> None:
    payload = sample("unseen-status-archived")
    with pytest.warns(runnorm.UnknownStatusWarning, match="ARCHIVED"):
        run = runnorm.normalize(payload)
    assert run.status is RunStatus.UNKNOWN and run.native_status == "ARCHIVED"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runnorm.normalize(payload).status is RunStatus.UNKNOWN  # no second warning


def test_detector_uses_the_id_shape_not_status_words() -> None:
    detect = PROVIDER.detect
    assert detect({"acmeRunId": "acme_run_01JJ4QF0GH1JK2MN3PQ4RS5TV6"})
    assert not detect({"acmeRunId": "run_01JJ4QF0GH1JK2MN3PQ4RS5TV6", "status": "DONE"})
    assert not detect({"acmeRunId": "acme_run_01jj4qf0gh1jk2mn3pq4rs5tv6"})  # not a ULID
    assert not detect({"runId": "acme_run_01JJ4QF0GH1JK2MN3PQ4RS5TV6", "status": "DONE"})
    assert not detect({"run_id": "tsk_1", "status": "DONE"})


def test_mistyped_field_names_its_path() -> None:
    payload = sample("done")
    payload["screenshots"][1]["takenMs"] = "yesterday"
    with pytest.raises(PayloadError) as info:
        runnorm.normalize(payload)
    assert (info.value.provider, info.value.path) == ("acme", "screenshots[1].takenMs")


def test_live_get_sends_the_acme_token() -> None:
    payload = sample("done")
    run_id = payload["acmeRunId"]
    with FakeProviderServer(auth=("X-Acme-Token", "acme-test-key")) as server:
        server.routes[f"/v2/runs/{run_id}"] = payload
        run = runnorm.get("acme", run_id, base_url=server.url, api_key="acme-test-key")
        with pytest.raises(AuthError):
            runnorm.get("acme", run_id, base_url=server.url, api_key="wrong-key")
    assert run.status is RunStatus.SUCCEEDED and run.raw == payload
    first = server.requests[0]
    assert (first.method, first.path) == ("GET", f"/v2/runs/{run_id}")
    assert first.headers["x-acme-token"] == "acme-test-key"


def test_cancel_posts_abort_and_maps_the_answers() -> None:
    working = sample("working")
    run_id = working["acmeRunId"]
    path = f"/v2/runs/{run_id}/abort"
    options = {"api_key": "acme-test-key", "max_retries": 0}
    with FakeProviderServer(auth=("X-Acme-Token", "acme-test-key")) as server:
        server.script(
            path,
            Reply(202, {**working, "status": "ABORTED"}),
            Reply(409, {"error": "run already finished"}),
            Reply(404, {"error": "no such run"}),
        )
        accepted = runnorm.cancel("acme", run_id, base_url=server.url, **options)
        finished = runnorm.cancel("acme", run_id, base_url=server.url, **options)
        missing = runnorm.cancel("acme", run_id, base_url=server.url, **options)
    assert accepted.outcome == "accepted" and accepted.run is not None
    assert accepted.run.status is RunStatus.CANCELED
    assert (finished.outcome, finished.detail) == ("already_terminal", "run already finished")
    assert missing.outcome == "not_found"
    sent = server.requests_to(path)
    assert [r.method for r in sent] == ["POST"] * 3
    assert all(r.headers["x-acme-token"] == "acme-test-key" for r in sent)


def test_live_list_pages_through_page_tokens_and_filters_on_the_server() -> None:
    newer, older = sample("broken"), sample("done")  # created 5 s apart
    with FakeProviderServer(auth=("X-Acme-Token", "acme-test-key")) as server:
        server.script(
            "/v2/runs",
            Reply(200, {"runs": [newer], "nextPageToken": "t2"}),
            Reply(200, {"runs": [older], "nextPageToken": None}),
        )
        since = datetime(2026, 1, 1, tzinfo=UTC)
        runs = list(
            runnorm.list_runs("acme", since=since, base_url=server.url, api_key="acme-test-key")
        )
    assert [run.id for run in runs] == [newer["acmeRunId"], older["acmeRunId"]]
    first, second = server.requests
    assert "createdAfterMs=1767225600000" in first.query and "pageSize=100" in first.query
    assert "pageToken=t2" in second.query

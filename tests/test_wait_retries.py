"""wait() and runnorm wait through a Skyvern run retried under the same id (attempts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

import runnorm
from runnorm import RunStatus, WaitTimeout
from runnorm._cli import app as cli
from runnorm.testing import FakeProviderServer, Reply

KEY = "sk-test-retries-0123456789"
RUN_ID = "wr_retry"
PATH = f"/v1/runs/{RUN_ID}"


def state(status: str, attempt: int, *, pending: bool = False, due: str | None = None) -> Any:
    return {
        "run_id": RUN_ID,
        "status": status,
        "run_type": "workflow_run",
        "attempt": attempt,
        "retry_pending": pending,
        "next_attempt_at": due,
        "created_at": "2026-09-21T08:00:01.930442",
        "modified_at": "2026-09-21T08:00:01.930442",
    }


def in_a_moment(seconds: float) -> str:
    """A ``next_attempt_at`` as Skyvern sends it: naive UTC."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviderServer]:
    monkeypatch.setenv("SKYVERN_API_KEY", KEY)
    with FakeProviderServer(auth=("x-api-key", KEY)) as fake:
        monkeypatch.setenv("SKYVERN_BASE_URL", fake.url)
        yield fake


def retried(server: FakeProviderServer, final: str, *, due: str | None = None) -> None:
    """Attempt 1 running, failed with a retry pending, attempt 2 running, then *final*."""
    server.script(
        PATH,
        Reply(200, state("running", 1)),
        Reply(200, state("failed", 1, pending=True, due=due)),
        Reply(200, state("running", 2)),
    )
    server.routes[PATH] = state(final, 2)


def changes(seen: list[runnorm.Run]) -> list[tuple[str, int | None, bool]]:
    return [(r.status.value, r.attempt, r.retry_pending) for r in seen]


EXPECTED = [("running", 1, False), ("failed", 1, True), ("running", 2, False)]


def test_wait_polls_through_a_pending_retry_to_the_second_attempt(
    server: FakeProviderServer,
) -> None:
    retried(server, "completed")
    seen: list[runnorm.Run] = []
    run = runnorm.wait("skyvern", RUN_ID, interval=0.01, on_update=seen.append)
    assert run.ok and run.attempt == 2 and run.is_terminal
    assert changes(seen) == [*EXPECTED, ("succeeded", 2, False)]
    assert len(server.requests) == 4


def test_on_update_fires_on_an_attempt_change_alone(server: FakeProviderServer) -> None:
    server.script(PATH, Reply(200, state("running", 1)), Reply(200, state("running", 1)))
    server.script(PATH, Reply(200, state("running", 2)))
    server.routes[PATH] = state("completed", 2)
    seen: list[runnorm.Run] = []
    runnorm.wait("skyvern", RUN_ID, interval=0.01, on_update=seen.append)
    assert changes(seen) == [("running", 1, False), ("running", 2, False), ("succeeded", 2, False)]


def test_await_run_is_the_same_and_a_final_failure_returns(server: FakeProviderServer) -> None:
    retried(server, "failed")
    seen: list[runnorm.Run] = []
    run = asyncio.run(runnorm.await_run("skyvern", RUN_ID, interval=0.01, on_update=seen.append))
    assert run.status is RunStatus.FAILED and run.attempt == 2 and run.is_terminal
    assert changes(seen) == [*EXPECTED, ("failed", 2, False)]


def test_wait_sleeps_until_next_attempt_at(server: FakeProviderServer) -> None:
    scripted = time.monotonic()
    retried(server, "completed", due=in_a_moment(0.4))
    run = runnorm.wait("skyvern", RUN_ID, interval=0.01, timeout=30)
    assert run.ok
    pending, after = server.requests[1:3]
    left = 0.4 - (pending.received_at - scripted)  # until next_attempt_at, when it said so
    assert after.received_at - pending.received_at >= left - 0.05  # not the 0.01 s interval


def test_a_next_attempt_past_the_deadline_times_out_at_once(server: FakeProviderServer) -> None:
    retried(server, "completed", due=in_a_moment(3600))
    with pytest.raises(WaitTimeout) as info:
        runnorm.wait("skyvern", RUN_ID, interval=0.01, timeout=60)
    assert len(server.requests) == 2  # no poll after "retry pending": it could not end in time
    assert "next attempt is due at" in str(info.value) and "retry pending" in str(info.value)
    assert info.value.last_run is not None and info.value.last_run.retry_pending
    assert info.value.last_runs == {RUN_ID: info.value.last_run}


def test_a_next_attempt_in_the_past_is_polled_on_the_usual_schedule(
    server: FakeProviderServer,
) -> None:
    retried(server, "completed", due=in_a_moment(-60))
    assert runnorm.wait("skyvern", RUN_ID, interval=0.01).ok


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("final", "code"), [("completed", 0), ("failed", 1), ("canceled", 3)])
def test_runnorm_wait_exits_by_the_final_attempt(
    server: FakeProviderServer, final: str, code: int
) -> None:
    retried(server, final)
    exit_code, out, _ = invoke("wait", "skyvern", RUN_ID, "--interval", "0.01", "--json")
    assert exit_code == code
    assert '"attempt": 2' in out and '"retry_pending": false' in out


def test_runnorm_get_shows_the_attempt_on_a_terminal(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runnorm._cli import live as cli_live

    monkeypatch.setattr(cli_live, "stdout_is_terminal", lambda: True)
    due = "2026-09-21T08:05:41"
    server.routes[PATH] = state("failed", 1, pending=True, due=due)
    code, out, _ = invoke("get", "skyvern", RUN_ID)
    assert code == 0  # get: any fetched run
    assert "attempt  1, retry pending" in out
    assert "next try  2026-09-21 08:05:41+00:00" in out

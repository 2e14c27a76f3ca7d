"""wait() through status sequences and get_many() over one pooled client, sync and async."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import runnorm
from runnorm import NotFoundError, RateLimitError, RunStatus, WaitTimeout
from runnorm.testing import FakeProviderServer, Reply

KEY = "sk-test-wait-0123456789"
PATH = "/v1/runs/tsk_wait"


def state(status: str, **more: Any) -> dict[str, Any]:
    return {"run_id": "tsk_wait", "status": status, "run_type": "task_v1", **more}


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-api-key", KEY)) as fake:
        yield fake


def sequence(server: FakeProviderServer, *statuses: str) -> None:
    *first, last = statuses
    server.script(PATH, *(Reply(200, state(s)) for s in first))
    server.routes[PATH] = state(last)


def options(server: FakeProviderServer) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": KEY}


def test_wait_polls_queued_running_succeeded(server: FakeProviderServer) -> None:
    sequence(server, "queued", "queued", "running", "completed")
    seen: list[str] = []
    run = runnorm.wait(
        "skyvern",
        "tsk_wait",
        interval=0.01,
        on_update=lambda r: seen.append(r.status.value),
        **options(server),
    )
    assert run.status is RunStatus.SUCCEEDED
    assert seen == ["queued", "running", "succeeded"]  # called on changes only
    assert len(server.requests) == 4


def test_await_run_is_the_async_twin(server: FakeProviderServer) -> None:
    sequence(server, "created", "running", "failed")
    run = asyncio.run(runnorm.await_run("skyvern", "tsk_wait", interval=0.01, **options(server)))
    assert run.status is RunStatus.FAILED and run.is_terminal


def test_wait_times_out_with_the_last_run(server: FakeProviderServer) -> None:
    server.routes[PATH] = state("running")
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        runnorm.wait("skyvern", "tsk_wait", timeout=0.3, interval=0.05, **options(server))
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.5
    assert info.value.last_run is not None
    assert info.value.last_run.status is RunStatus.RUNNING
    assert "still running" in str(info.value)


def test_wait_stops_on_paused_unless_told_otherwise(server: FakeProviderServer) -> None:
    sequence(server, "running", "paused", "running", "completed")
    run = runnorm.wait("skyvern", "tsk_wait", interval=0.01, **options(server))
    assert run.status is RunStatus.PAUSED
    run = runnorm.wait(
        "skyvern", "tsk_wait", interval=0.01, stop_on_paused=False, **options(server)
    )
    assert run.status is RunStatus.SUCCEEDED


def test_wait_keeps_polling_unknown(server: FakeProviderServer) -> None:
    sequence(server, "awaiting_approval", "completed")
    with pytest.warns(runnorm.UnknownStatusWarning):
        run = runnorm.wait("skyvern", "tsk_wait", interval=0.01, **options(server))
    assert run.ok


def test_wait_backs_off_between_polls(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The waits the driver asks for, not the gaps the server sees: a stalled machine
    # stretches a gap, never the schedule.
    asked: list[float] = []
    real_sleep = time.sleep

    def recording_sleep(seconds: float) -> None:
        if threading.current_thread() is threading.main_thread():
            asked.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", recording_sleep)
    sequence(server, "running", "running", "running", "running", "completed")
    runnorm.wait("skyvern", "tsk_wait", interval=0.05, timeout=60, **options(server))
    assert len(server.requests_to(PATH)) == 5
    assert asked == pytest.approx([0.05, 0.075, 0.1125, 0.16875])


def test_wait_propagates_errors_retries_cannot_fix(server: FakeProviderServer) -> None:
    server.script(PATH, Reply(200, state("running")), Reply(404, {"detail": "gone"}))
    with pytest.raises(NotFoundError):
        runnorm.wait("skyvern", "tsk_wait", interval=0.01, **options(server))


def test_wait_request_timeout_is_separate_from_the_deadline(server: FakeProviderServer) -> None:
    server.script(PATH, Reply(200, state("completed"), delay=0.5))
    with pytest.raises(runnorm.TransportError) as info:
        runnorm.wait(
            "skyvern", "tsk_wait", timeout=10, request_timeout=0.1, max_retries=0, **options(server)
        )
    assert info.value.kind == "timeout"


# -- get_many --------------------------------------------------------------------------------


def test_get_many_mixes_found_missing_and_rate_limited(server: FakeProviderServer) -> None:
    ids = [f"tsk_{i}" for i in range(8)]
    for run_id in ids:
        server.routes[f"/v1/runs/{run_id}"] = {"run_id": run_id, "status": "completed"}
    del server.routes["/v1/runs/tsk_3"]
    busy = Reply(429, {"detail": "slow down"}, {"Retry-After": "0.05"})
    server.script("/v1/runs/tsk_5", busy, busy, busy)
    results = runnorm.get_many("skyvern", ids, concurrency=4, max_retries=2, **options(server))
    assert [r.id if isinstance(r, runnorm.Run) else type(r) for r in results] == [
        "tsk_0",
        "tsk_1",
        "tsk_2",
        NotFoundError,
        "tsk_4",
        RateLimitError,
        "tsk_6",
        "tsk_7",
    ]


def test_a_429_holds_back_the_whole_pool(server: FakeProviderServer) -> None:
    ids = [f"tsk_{i}" for i in range(12)]
    for run_id in ids:
        server.routes[f"/v1/runs/{run_id}"] = {"run_id": run_id, "status": "completed"}
    server.script("/v1/runs/tsk_0", Reply(429, headers={"Retry-After": "0.4"}))
    server.delay = 0.02

    async def main() -> list[Any]:
        async with runnorm.AsyncClient("skyvern", **options(server)) as client:
            return await client.get_many(ids, concurrency=3)

    results = asyncio.run(main())
    assert all(isinstance(r, runnorm.Run) for r in results)
    throttled = server.requests_to("/v1/runs/tsk_0")[0].received_at
    during = [r for r in server.requests if throttled + 0.1 < r.received_at < throttled + 0.35]
    assert during == []  # nobody sent anything while the pool was held back
    assert len(server.requests) == 13


def test_client_get_many_works_inside_a_running_loop(server: FakeProviderServer) -> None:
    server.routes["/v1/runs/tsk_1"] = {"run_id": "tsk_1", "status": "running"}

    async def main() -> list[Any]:
        with runnorm.Client("skyvern", **options(server)) as client:
            return client.get_many(["tsk_1", "tsk_1"])

    assert [r.status for r in asyncio.run(main())] == [RunStatus.RUNNING] * 2  # type: ignore[union-attr]


def test_get_many_rejects_bad_options_up_front(server: FakeProviderServer) -> None:
    with pytest.raises(TypeError):
        runnorm.get_many("skyvern", ["tsk_1"], bogus=1, **options(server))
    with pytest.raises(ValueError, match="concurrency"):
        runnorm.get_many("skyvern", ["tsk_1"], concurrency=0, **options(server))
    assert server.requests == []

"""watch / awatch: many runs over REST and MCP, changes once and in order, errors, deadlines."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import mcp_server
import pytest

import runnorm
from runnorm import ConfigError, RunEvent, RunnormError, RunStatus, UnsupportedError, WaitTimeout
from runnorm._live import watching
from runnorm._plugins.host import get_host
from runnorm.testing import FakeProviderServer, Reply

KEY = "sk-test-watch-0123456789"
Step = tuple[str, int | None, bool]  # native status, attempt, retry pending

SEQUENCES: list[list[Step]] = [
    [("queued", None, False), ("running", None, False), ("completed", None, False)],
    [
        ("running", 1, False),
        ("running", 1, False),
        ("failed", 1, True),
        ("running", 2, False),
        ("completed", 2, False),
    ],
    [
        ("created", None, False),
        ("queued", None, False),
        ("running", None, False),
        ("paused", None, False),
        ("running", None, False),
        ("failed", None, False),
    ],
    [("completed", None, False)],
    [("running", None, False), ("running", None, False), ("canceled", None, False)],
    [("failed", 1, True), ("queued", 2, False), ("running", 2, False), ("timed_out", 2, False)],
]


def payload(run_id: str, step: Step) -> dict[str, Any]:
    native, attempt, pending = step
    body: dict[str, Any] = {"run_id": run_id, "status": native, "run_type": "workflow_run"}
    if attempt is not None:
        body.update(attempt=attempt, retry_pending=pending)
    return body


def changes(sequence: Sequence[Step]) -> list[Step]:
    """The steps a watch reports: each change once (repeats collapse)."""
    return [step for step, _ in itertools.groupby(sequence)]


def seen(event: RunEvent) -> Step:
    assert event.run is not None
    return (event.run.native_status, event.run.attempt, event.run.retry_pending)


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-api-key", KEY)) as fake:
        yield fake


def options(server: FakeProviderServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": KEY, **more}


def script_runs(server: FakeProviderServer, count: int, prefix: str = "wr_w") -> dict[str, Any]:
    """*count* runs, each playing one of the sequences (the last step repeats if polled)."""
    plan = {}
    for index in range(count):
        run_id = f"{prefix}{index}"
        sequence = SEQUENCES[index % len(SEQUENCES)]
        server.script(f"/v1/runs/{run_id}", *(Reply(200, payload(run_id, s)) for s in sequence))
        server.routes[f"/v1/runs/{run_id}"] = payload(run_id, sequence[-1])
        plan[run_id] = sequence
    return plan


def check_events(events: list[RunEvent], plan: dict[str, Any]) -> None:
    """Every change exactly once, in order, each event's previous the run before it."""
    assert all(event.error is None for event in events)
    for run_id, sequence in plan.items():
        mine = [event for event in events if event.run_id == run_id]
        assert [seen(event) for event in mine] == changes(sequence), run_id
        assert mine[0].previous is None and mine[0].is_first
        for before, after in itertools.pairwise(mine):
            assert after.previous == before.run
        assert all(event.source == "poll" for event in mine)
        assert all(event.at.tzinfo is UTC for event in mine)
    assert {event.run_id for event in events} == set(plan)


def check_no_poll_after_terminal(server: FakeProviderServer, plan: dict[str, Any]) -> None:
    for run_id, sequence in plan.items():
        assert len(server.requests_to(f"/v1/runs/{run_id}")) == len(sequence), run_id


def test_watch_200_runs_over_rest(server: FakeProviderServer) -> None:
    plan = script_runs(server, 200)
    events = list(runnorm.watch("skyvern", list(plan), interval=0.01, **options(server)))
    check_events(events, plan)
    check_no_poll_after_terminal(server, plan)


def test_awatch_200_runs_over_rest(server: FakeProviderServer) -> None:
    plan = script_runs(server, 200)

    async def main() -> list[RunEvent]:
        watch = runnorm.awatch("skyvern", list(plan), interval=0.01, **options(server))
        return [event async for event in watch]

    events = asyncio.run(main())
    check_events(events, plan)
    check_no_poll_after_terminal(server, plan)


def test_client_watch_and_async_client_watch(server: FakeProviderServer) -> None:
    plan = script_runs(server, 12)
    with runnorm.Client("skyvern", **options(server)) as client:
        events = list(client.watch(list(plan)[:6], interval=0.01, concurrency=2))

    async def main() -> list[RunEvent]:
        async with runnorm.AsyncClient("skyvern", **options(server)) as client:
            return [e async for e in client.watch(list(plan)[6:], interval=0.01, concurrency=3)]

    events += asyncio.run(main())
    check_events(events, plan)


def test_a_429_storm_slows_the_whole_watch_and_loses_nothing(server: FakeProviderServer) -> None:
    plan = script_runs(server, 60)
    busy = Reply(429, {"detail": "slow down"}, {"Retry-After": "0.4"})
    stormed = list(plan)[:12]
    for run_id in stormed:  # two 429s in a row before each of their answers
        queue = server.scripts[f"/v1/runs/{run_id}"]
        queue.appendleft(busy)
        queue.appendleft(busy)
    events = list(runnorm.watch("skyvern", list(plan), interval=0.01, **options(server)))
    check_events(events, plan)
    throttled = min(server.requests_to(f"/v1/runs/{run_id}")[0].received_at for run_id in stormed)
    during = [r for r in server.requests if throttled + 0.1 < r.received_at < throttled + 0.35]
    assert during == []  # one 429 held back every run's polls, not just its own
    for run_id in stormed:
        assert len(server.requests_to(f"/v1/runs/{run_id}")) == len(plan[run_id]) + 2


def test_async_watch_shares_the_gate_too(server: FakeProviderServer) -> None:
    plan = script_runs(server, 24)
    first = next(iter(plan))
    server.scripts[f"/v1/runs/{first}"].appendleft(Reply(429, headers={"Retry-After": "0.4"}))

    async def main() -> list[RunEvent]:
        return [e async for e in runnorm.awatch("skyvern", plan, interval=0.01, **options(server))]

    check_events(asyncio.run(main()), plan)
    throttled = server.requests_to(f"/v1/runs/{first}")[0].received_at
    assert [r for r in server.requests if throttled + 0.1 < r.received_at < throttled + 0.35] == []


def test_the_deadline_holds_and_last_runs_say_where_each_run_was(
    server: FakeProviderServer,
) -> None:
    server.routes["/v1/runs/wr_done"] = payload("wr_done", ("completed", None, False))
    server.routes["/v1/runs/wr_busy"] = payload("wr_busy", ("running", 1, False))
    server.script(
        "/v1/runs/wr_slow", Reply(200, payload("wr_slow", ("running", None, False)), delay=3)
    )
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        for _ in runnorm.watch(
            "skyvern",
            ["wr_done", "wr_busy", "wr_slow"],
            interval=0.05,
            timeout=0.5,
            **options(server),
        ):
            pass
    assert time.monotonic() - started < 2.5  # the slow reply did not hold the watch past it
    last = info.value.last_runs
    assert set(last) == {"wr_busy", "wr_slow"}  # the finished run is not listed
    assert last["wr_busy"] is not None and last["wr_busy"].status is RunStatus.RUNNING
    assert last["wr_slow"] is None  # never fetched
    assert "2 of 3 watched runs unfinished" in str(info.value)
    assert isinstance(info.value, RunnormError) and isinstance(info.value, TimeoutError)


def test_awatch_deadline(server: FakeProviderServer) -> None:
    server.routes["/v1/runs/wr_busy"] = payload("wr_busy", ("queued", None, False))

    async def main() -> None:
        async for _ in runnorm.awatch("skyvern", ["wr_busy"], timeout=0.3, **options(server)):
            pass

    with pytest.raises(WaitTimeout) as info:
        asyncio.run(main())
    assert list(info.value.last_runs) == ["wr_busy"]


def test_a_run_that_404s_is_an_error_event_and_the_others_go_on(
    server: FakeProviderServer,
) -> None:
    plan = script_runs(server, 3)
    events = list(runnorm.watch("skyvern", ["wr_gone", *plan], interval=0.01, **options(server)))
    errors = [event for event in events if event.error is not None]
    assert len(errors) == 1
    (error,) = errors
    assert isinstance(error.error, runnorm.NotFoundError)
    assert (error.run_id, error.run, error.previous, error.source) == (
        "wr_gone",
        None,
        None,
        "poll",
    )
    assert len(server.requests_to("/v1/runs/wr_gone")) == 1  # gone: not polled again
    check_events([event for event in events if event.error is None], plan)


def test_a_transient_failure_is_an_event_and_the_run_is_polled_again(
    server: FakeProviderServer,
) -> None:
    server.script(
        "/v1/runs/wr_flaky",
        Reply(200, payload("wr_flaky", ("running", None, False))),
        Reply(503, {"detail": "busy"}),
    )
    server.routes["/v1/runs/wr_flaky"] = payload("wr_flaky", ("completed", None, False))
    events = list(
        runnorm.watch("skyvern", ["wr_flaky"], interval=0.01, max_retries=0, **options(server))
    )
    assert [type(e.error).__name__ if e.error else seen(e)[0] for e in events] == [
        "running",
        "ServerError",
        "completed",
    ]
    failed = events[1]
    assert failed.run == failed.previous == events[0].run  # the last run seen, unchanged
    assert events[2].previous == events[0].run


def test_a_body_that_is_not_json_is_an_error_event_and_the_run_is_polled_again(
    server: FakeProviderServer,
) -> None:
    # A proxy's HTML page answered with 200: a passing fault, not a run that is gone.
    page = Reply(200, b"<html>502 Bad Gateway</html>", headers={"content-type": "text/html"})
    server.script(
        "/v1/runs/wr_proxy",
        Reply(200, payload("wr_proxy", ("running", None, False))),
        page,
        page,
    )
    server.routes["/v1/runs/wr_proxy"] = payload("wr_proxy", ("completed", None, False))
    events = list(
        runnorm.watch("skyvern", ["wr_proxy"], interval=0.01, max_retries=0, **options(server))
    )
    assert [type(e.error).__name__ if e.error else seen(e)[0] for e in events] == [
        "running",
        "PayloadError",
        "PayloadError",
        "completed",
    ]
    assert events[1].run == events[0].run and events[1].run_id == "wr_proxy"
    assert len(server.requests_to("/v1/runs/wr_proxy")) == 4


def test_a_body_that_is_never_json_holds_the_watch_until_its_deadline(
    server: FakeProviderServer,
) -> None:
    server.handlers["/v1/runs/wr_page"] = lambda _: Reply(200, b"<html>sign in</html>")
    server.handlers["/v1/runs/wr_gone_too"] = lambda _: Reply(404, {"detail": "not found"})
    events: list[RunEvent] = []
    watched = runnorm.watch(
        "skyvern",
        ["wr_page", "wr_gone_too"],
        interval=0.01,
        timeout=0.6,
        max_retries=0,
        **options(server),
    )
    with pytest.raises(WaitTimeout) as info:
        events.extend(watched)  # appended one by one: those before the deadline stay
    assert list(info.value.last_runs) == ["wr_page"]  # the 404 left; the page did not
    assert len(server.requests_to("/v1/runs/wr_gone_too")) == 1
    assert len(server.requests_to("/v1/runs/wr_page")) >= 2
    assert all(isinstance(e.error, runnorm.PayloadError) for e in events if e.run_id == "wr_page")


def test_a_watch_whose_runs_were_dropped_ends_normally(server: FakeProviderServer) -> None:
    server.handlers["/v1/runs/wr_gone"] = lambda _: Reply(404, {"detail": "not found"})
    server.handlers["/v1/runs/wr_locked"] = lambda _: Reply(403, {"detail": "forbidden"})
    server.handlers["/v1/runs/wr_bad"] = lambda _: Reply(422, {"detail": "bad id"})
    events = list(
        runnorm.watch(
            "skyvern",
            ["wr_gone", "wr_locked", "wr_bad"],
            interval=0.01,
            timeout=30,
            max_retries=0,
            **options(server),
        )
    )
    assert sorted((e.run_id, type(e.error).__name__) for e in events) == [
        ("wr_bad", "APIError"),
        ("wr_gone", "NotFoundError"),
        ("wr_locked", "AuthError"),
    ]
    assert len(server.requests) == 3  # each polled once: dropped, not retried


def test_a_terminal_run_is_seen_once_and_never_polled_again(server: FakeProviderServer) -> None:
    server.routes["/v1/runs/tsk_done"] = {"run_id": "tsk_done", "status": "completed"}
    (event,) = runnorm.watch("skyvern", ["tsk_done", "tsk_done"], **options(server))
    assert event.run is not None and event.run.ok and event.is_first
    assert len(server.requests) == 1


def test_stopping_the_iteration_stops_the_polls(server: FakeProviderServer) -> None:
    server.routes["/v1/runs/wr_busy"] = payload("wr_busy", ("running", None, False))
    events = runnorm.watch("skyvern", ["wr_busy"], interval=0.01, **options(server))
    assert next(events).run is not None
    events.close()  # type: ignore[attr-defined]
    count = len(server.requests)
    time.sleep(0.1)
    assert len(server.requests) == count


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({}, "run ids, or since"),
        ({"run_ids": "wr_1"}, "not one string"),
        ({"run_ids": ["wr_1"], "follow": True}, "give since"),
        ({"run_ids": ["wr_1"], "interval": 0}, "interval"),
        ({"run_ids": ["wr_1"], "timeout": -1}, "timeout"),
        ({"run_ids": ["wr_1"], "concurrency": 0}, "concurrency"),
        ({"run_ids": [""]}, "run_id"),
        ({"run_ids": ["wr_1"], "since": "yesterday"}, "since must be an aware datetime"),
        ({"run_ids": ["wr_1"], "since": datetime(2026, 1, 1)}, "since is a naive datetime"),
        ({"run_ids": ["wr_1"], "webhooks": object()}, "awatch"),
        ({"run_ids": ["wr_1"], "bogus": 1}, "unexpected option"),
    ],
)
def test_bad_arguments_fail_at_the_call(
    server: FakeProviderServer, arguments: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        runnorm.watch("skyvern", **arguments, **options(server))  # no iteration: the call raises
    assert server.requests == []


def test_since_needs_a_provider_that_lists_runs(server: FakeProviderServer) -> None:
    # (Discovery itself is tested with the listing engine: tests/test_listing.py.)
    unlisted = attrs.evolve(get_host().get("skyvern"), name="unlisted", list=None)
    with runnorm.Client(unlisted, **options(server)) as client:
        with pytest.raises(UnsupportedError, match="listing"):
            client.watch(since=datetime(2026, 1, 1, tzinfo=UTC))
        with pytest.raises(ConfigError, match="unexpected option"):
            client.watch(["wr_1"], project="forecasts")  # a listing option, and no listing
    assert server.requests == []


def test_a_missing_key_is_an_auth_error_before_any_request(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKYVERN_API_KEY", raising=False)
    with pytest.raises(runnorm.AuthError, match="SKYVERN_API_KEY"):
        runnorm.watch("skyvern", ["wr_1"], base_url=server.url)
    assert server.requests == []


def test_awatch_refuses_webhooks_that_are_not_async_iterable(server: FakeProviderServer) -> None:
    with pytest.raises(ConfigError, match="async iterable"):
        runnorm.awatch("skyvern", ["wr_1"], webhooks=[], **options(server))  # type: ignore[arg-type]


def test_error_events_never_hold_the_key(server: FakeProviderServer) -> None:
    server.routes["/v1/runs/wr_ok"] = payload("wr_ok", ("completed", None, False))
    server.script("/v1/runs/wr_echo", Reply(400, {"detail": f"bad key {KEY}"}))
    events = list(runnorm.watch("skyvern", ["wr_echo", "wr_ok"], interval=0.01, **options(server)))
    (error,) = [event for event in events if event.error is not None]
    assert KEY not in str(error.error) and KEY not in repr(error.error)
    assert KEY not in repr(error.error.body)  # type: ignore[union-attr]


# -- the schedule ------------------------------------------------------------------------------


def run_in(native: str, **more: Any) -> runnorm.Run:
    return runnorm.normalize({"run_id": "wr_s", "status": native, **more}, "skyvern")


def test_the_adaptive_schedule() -> None:
    gap = watching.poll_gap
    assert [gap(run_in("queued"), n, None) for n in range(3)] == [2.0, 3.0, 4.5]
    assert gap(run_in("queued"), 50, None) == 30.0
    assert [gap(run_in("running"), n, None) for n in range(3)] == [1.0, 1.5, 2.25]
    assert gap(run_in("running"), 50, None) == 10.0
    assert gap(run_in("paused"), 0, None) == 5.0 and gap(run_in("paused"), 50, None) == 60.0
    assert gap(run_in("failed", retry_pending=True, attempt=1), 0, None) == 2.0
    soon = datetime.now(UTC).timestamp() + 120
    due = datetime.fromtimestamp(soon, UTC).isoformat()
    pending = run_in("failed", retry_pending=True, attempt=1, next_attempt_at=due)
    assert 118 < gap(pending, 0, None) <= 120  # until the next attempt is due
    assert 118 < gap(pending, 0, 0.5) <= 120  # whatever the interval
    # a fixed interval: the first gap of every status, growing to 30 s
    assert [gap(run_in("queued"), n, 0.5) for n in range(3)] == [0.5, 0.75, 1.125]
    assert gap(run_in("running"), 50, 0.5) == 30.0
    assert gap(run_in("running"), 5, 60.0) == 60.0


def test_which_errors_end_a_run_in_the_watch() -> None:
    assert watching.is_permanent(runnorm.NotFoundError("x"))
    assert watching.is_permanent(runnorm.AuthError("x"))
    assert not watching.is_permanent(runnorm.PayloadError("x"))  # polled again, with backoff
    assert watching.is_permanent(runnorm.APIError("x", status_code=422))
    assert not watching.is_permanent(runnorm.TransportError("x", kind="connect"))
    assert not watching.is_permanent(runnorm.RateLimitError("x", status_code=429))
    assert not watching.is_permanent(runnorm.ServerError("x", status_code=503))
    assert not watching.is_permanent(runnorm.ToolError("x", error="sandbox_unavailable"))
    assert watching.is_permanent(runnorm.ToolNotFoundError("x", error="not_found"))


# -- discovery (the hook issue 15 plugs listing into) --------------------------------------------


def test_discovered_runs_join_the_watch(server: FakeProviderServer) -> None:
    from runnorm._live.api import _client
    from runnorm._live.drivers import drive_watch_sync

    plan = script_runs(server, 3)
    listed = [
        runnorm.normalize(payload(run_id, ("queued", None, False)), "skyvern") for run_id in plan
    ]
    calls: list[datetime] = []

    def discover(options: Any, since: datetime) -> Any:
        calls.append(since)
        return listed
        yield  # a flow (a generator) that sends nothing

    client = _client("skyvern")
    options_ = client._options(options(server))
    since = datetime(2026, 9, 1, tzinfo=UTC)
    flow = watching.watch_flow(
        options_, [], since=since, interval=0.01, discover=discover, concurrency=4
    )
    events = list(drive_watch_sync(flow, client._sender, client._gate, 4))
    assert calls == [since]  # without follow: listed once
    for run_id, sequence in plan.items():
        mine = [e for e in events if e.run_id == run_id]
        assert mine[0].source == "list" and seen(mine[0]) == ("queued", None, False)
        assert all(e.source == "poll" for e in mine[1:])
        assert seen(mine[-1]) == changes(sequence)[-1]

    # follow=True: the watch goes on (listing again every DISCOVERY_GAP) until the deadline,
    # which then ends it normally, though every run it found is over
    calls.clear()
    started = time.monotonic()
    flow = watching.watch_flow(
        options_, [], since=since, follow=True, timeout=0.3, interval=0.01, discover=discover
    )
    events = list(drive_watch_sync(flow, client._sender, client._gate, 4))
    assert time.monotonic() - started >= 0.3 and calls == [since]
    assert {e.run_id for e in events if e.source == "list"} == set(plan)


# -- 50 runs over MCP (an SDK-built Bridge Town server) --------------------------------------------

BT_SEQUENCES = [
    ["pending", "running", "success"],
    ["pending", "pending", "running", "running", "failed"],
    ["running", "cancelled"],
    ["success"],
    ["pending", "running", "timed_out"],
]


def bt_run(run_id: str, status: str, number: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "run_number": number,
        "project_name": "forecasts",
        "status": status,
        "commit_sha": "8495b2a8a3addd4414f5baabf6e8b3badaea153d",
        "started_at": None,
        "finished_at": None,
        "error_message": None,
        "truncated": False,
    }


@pytest.fixture(scope="module")
def bridgetown() -> Iterator[mcp_server.BridgeTownServer]:
    with mcp_server.running_bridgetown_server(runs={}) as running:
        yield running


def plan_mcp(server: mcp_server.BridgeTownServer, count: int) -> dict[str, list[str]]:
    server.reset({})
    plan = {}
    for index in range(count):
        run_id = str(uuid.UUID(int=index + 1))
        sequence = BT_SEQUENCES[index % len(BT_SEQUENCES)]
        server.queue_statuses(run_id, [bt_run(run_id, s, index) for s in sequence])
        plan[run_id] = sequence
    return plan


def check_mcp(server: mcp_server.BridgeTownServer, plan: dict[str, Any], events: Any) -> None:
    for run_id, sequence in plan.items():
        mine = [event.run.native_status for event in events if event.run_id == run_id]
        assert mine == [word for word, _ in itertools.groupby(sequence)], run_id
    calls = [
        request["body"]["params"]["arguments"]["run_id"]
        for request in server.requests
        if request["jsonrpc_method"] == "tools/call"
    ]
    for run_id, sequence in plan.items():
        assert calls.count(run_id) == len(sequence), run_id  # none after terminal
    assert all(event.error is None for event in events)


def test_watch_50_runs_over_mcp(bridgetown: mcp_server.BridgeTownServer) -> None:
    plan = plan_mcp(bridgetown, 50)
    events = list(
        runnorm.watch(
            "bridgetown",
            list(plan),
            interval=0.01,
            base_url=bridgetown.url,
            api_key=bridgetown.token,
        )
    )
    check_mcp(bridgetown, plan, events)


def test_awatch_50_runs_over_mcp(bridgetown: mcp_server.BridgeTownServer) -> None:
    plan = plan_mcp(bridgetown, 50)

    async def main() -> list[RunEvent]:
        watch = runnorm.awatch(
            "bridgetown", plan, interval=0.01, base_url=bridgetown.url, api_key=bridgetown.token
        )
        return [event async for event in watch]

    check_mcp(bridgetown, plan, asyncio.run(main()))


# -- webhooks merged into awatch -------------------------------------------------------------------


def test_webhooks_merge_into_awatch(server: FakeProviderServer) -> None:
    running = payload("wr_a", ("running", 1, False))
    server.routes["/v1/runs/wr_a"] = running
    server.routes["/v1/runs/wr_b"] = payload("wr_b", ("running", 1, False))

    def delivery(run_id: str, step: Step) -> runnorm.Run:
        return runnorm.normalize(payload(run_id, step), "skyvern")

    pushes = [
        delivery("wr_a", ("completed", 1, False)),
        delivery("wr_a", ("completed", 1, False)),  # Skyvern delivered it twice
        delivery("wr_other", ("failed", None, False)),  # not watched: ignored
        delivery("wr_b", ("failed", 1, True)),  # an every_attempt interim delivery
        delivery("wr_b", ("running", 1, False)),  # older than what was delivered: dropped
        delivery("wr_b", ("completed", 2, False)),
    ]

    async def main() -> tuple[list[RunEvent], int]:
        queue: asyncio.Queue[runnorm.Run] = asyncio.Queue()

        async def received() -> AsyncIterator[runnorm.Run]:
            while True:
                yield await queue.get()

        events: list[RunEvent] = []
        polls_when_a_ended = -1
        watch = runnorm.awatch(
            "skyvern", ["wr_a", "wr_b"], interval=0.02, webhooks=received(), **options(server)
        )
        async for event in watch:
            events.append(event)
            if len(events) == 2:  # both first seen by polling: the receiver gets deliveries
                for run in pushes:
                    queue.put_nowait(run)
            if event.run_id == "wr_a" and event.source == "webhook":
                polls_when_a_ended = len(server.requests_to("/v1/runs/wr_a"))
        return events, polls_when_a_ended

    events, polls_when_a_ended = asyncio.run(main())
    steps = [(e.run_id, e.source, seen(e)) for e in events]
    assert sorted(steps[:2]) == [
        ("wr_a", "poll", ("running", 1, False)),
        ("wr_b", "poll", ("running", 1, False)),
    ]
    assert steps[2:] == [
        ("wr_a", "webhook", ("completed", 1, False)),
        ("wr_b", "webhook", ("failed", 1, True)),
        ("wr_b", "webhook", ("completed", 2, False)),
    ]
    assert events[3].previous is not None and events[3].previous.status is RunStatus.RUNNING
    # wr_a was not polled again once its webhook said it was over (one poll may have been
    # on its way already)
    assert len(server.requests_to("/v1/runs/wr_a")) <= polls_when_a_ended + 1


def test_an_exhausted_webhooks_iterable_leaves_the_polling(server: FakeProviderServer) -> None:
    plan = script_runs(server, 4)

    async def nothing() -> AsyncIterator[runnorm.Run]:
        return
        yield

    async def main() -> list[RunEvent]:
        watch = runnorm.awatch(
            "skyvern", plan, interval=0.01, webhooks=nothing(), **options(server)
        )
        return [event async for event in watch]

    check_events(asyncio.run(main()), plan)


def test_a_webhooks_item_that_is_not_a_run_is_a_config_error(server: FakeProviderServer) -> None:
    server.routes["/v1/runs/wr_a"] = payload("wr_a", ("running", None, False))

    async def junk() -> AsyncIterator[Any]:
        yield {"run_id": "wr_a"}

    async def main() -> None:
        async for _ in runnorm.awatch(
            "skyvern", ["wr_a"], interval=0.05, webhooks=junk(), **options(server)
        ):
            pass

    with pytest.raises(ConfigError, match=r"runnorm\.Run"):
        asyncio.run(main())


# -- the docs' Starlette receiver feeding a running awatch -------------------------------------


def test_the_docs_starlette_receiver_feeds_awatch(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib
    import hmac
    import importlib.util
    import json
    import sys

    import httpx
    from support import ROOT

    monkeypatch.setenv("SKYVERN_API_KEY", KEY)
    path = ROOT / "docs" / "examples" / "watch_starlette.py"
    spec = importlib.util.spec_from_file_location("runnorm_docs_watch_starlette", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, example)
    spec.loader.exec_module(example)

    server.routes["/v1/runs/wr_x"] = payload("wr_x", ("running", 1, False))  # polls see no end
    play = [("running", None, False), ("completed", None, False)]
    server.script("/v1/runs/wr_y", Reply(200, payload("wr_y", play[0])))
    server.routes["/v1/runs/wr_y"] = payload("wr_y", play[1])

    def signed(step: Step) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload("wr_x", step), separators=(",", ":")).encode()
        signature = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
        return body, {
            "x-skyvern-signature": signature,
            "x-skyvern-timestamp": str(int(time.time())),
        }

    async def main() -> tuple[dict[str, RunStatus], list[int]]:
        watching_task = asyncio.create_task(
            example.supervise(["wr_x", "wr_y"], interval=0.02, timeout=20, **options(server))
        )
        transport = httpx.ASGITransport(app=example.app)
        codes = []
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            await asyncio.sleep(0.1)  # the watch has polled both runs
            for step in [("failed", 1, True), ("failed", 1, True), ("completed", 2, False)]:
                body, headers = signed(step)
                reply = await client.post("/webhooks/skyvern", content=body, headers=headers)
                codes.append(reply.status_code)
            body, headers = signed(("failed", 2, False))
            forged = await client.post("/webhooks/skyvern", content=body + b" ", headers=headers)
            codes.append(forged.status_code)
        return await watching_task, codes

    outcome, codes = asyncio.run(main())
    assert codes == [200, 200, 200, 401]
    assert outcome == {"wr_x": RunStatus.SUCCEEDED, "wr_y": RunStatus.SUCCEEDED}
    printed = capsys.readouterr().out.splitlines()
    assert "wr_x: attempt 1 failed, retry pending (webhook)" in printed
    assert "wr_x: succeeded (webhook)" in printed
    assert printed.count("wr_x: attempt 1 failed, retry pending (webhook)") == 1  # a repeat


def test_a_watch_that_found_nothing_says_so_and_why(server: FakeProviderServer) -> None:
    server.script("/v1/runs", *[Reply(503, {"detail": "listing down"})] * 100)
    with pytest.raises(WaitTimeout) as info:
        list(runnorm.watch("skyvern", since="1h", timeout=0.5, **options(server, max_retries=0)))
    text = str(info.value)
    assert text.startswith("skyvern: no run to watch was found within 0.5 s")
    assert "the last listing failed" in text and "503" in text and KEY not in text

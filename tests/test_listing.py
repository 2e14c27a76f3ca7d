"""list_runs / alist_runs against loopback list APIs: hundreds of runs per provider.

Skyvern pages bare arrays by number (newest first, no time filter, 100 pages of 100),
Browserbase pages by cursor (no promised order, server-side time bounds and status), Bridge
Town answers one capped tool call (over a server built with the official ``mcp`` SDK). Request
counts prove early stopping; scripted pages play the faults: repeats, endless cursors, order
breaks, failures, pages that are not lists.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import attrs
import pytest
from list_servers import BASE, BrowserbaseApi, SkyvernApi, at, naive
from mcp_server import BridgeTownServer, running_bridgetown_server

import runnorm
from runnorm import (
    AfterPages,
    ConfigError,
    ListLimitError,
    NextUrlPages,
    NotFoundError,
    OffsetPages,
    PayloadError,
    RestList,
    RunnormWarning,
    RunStatus,
    ServerError,
    UnsupportedError,
)
from runnorm._live.drivers import Gate, drive_sync
from runnorm._live.http import SyncSender
from runnorm._live.listing import Discovery, Mark, discover_flow
from runnorm._live.options import resolve_options
from runnorm._live.when import parse_when
from runnorm._plugins.host import get_host
from runnorm.testing import FakeProviderServer, Reply

SKYVERN_KEY = "sk-list-0123456789abcdef"
BROWSERBASE_KEY = "bb_live_list_0123456789"


@pytest.fixture
def skyvern() -> Iterator[SkyvernApi]:
    with FakeProviderServer(auth=("x-api-key", SKYVERN_KEY)) as server:
        yield SkyvernApi(server)


@pytest.fixture
def browserbase() -> Iterator[BrowserbaseApi]:
    with FakeProviderServer(auth=("X-BB-API-Key", BROWSERBASE_KEY)) as server:
        yield BrowserbaseApi(server)


def sky(api: SkyvernApi, **options: Any) -> list[runnorm.Run]:
    return list(
        runnorm.list_runs("skyvern", base_url=api.server.url, api_key=SKYVERN_KEY, **options)
    )


def bb(api: BrowserbaseApi, **options: Any) -> list[runnorm.Run]:
    return list(
        runnorm.list_runs(
            "browserbase", base_url=api.server.url, api_key=BROWSERBASE_KEY, **options
        )
    )


def queries(server: FakeProviderServer, path: str) -> list[dict[str, list[str]]]:
    return [parse_qs(request.query) for request in server.requests_to(path)]


def fill_skyvern(api: SkyvernApi, count: int) -> None:
    """Runs 0..count-1, one a minute; every third is running."""
    for number in range(count):
        api.put(number, number, "running" if number % 3 == 0 else "completed")


# -- Skyvern: numbered pages of bare arrays, newest first -----------------------------------


def test_skyvern_lists_hundreds_of_runs_once_each_newest_first(skyvern: SkyvernApi) -> None:
    fill_skyvern(skyvern, 250)
    runs = sky(skyvern)
    assert [run.id for run in runs] == [item["run_id"] for item in skyvern.newest_first()]
    assert runs == [runnorm.normalize(item, "skyvern") for item in skyvern.newest_first()]
    assert [q["page"] for q in queries(skyvern.server, "/v1/runs")] == [["1"], ["2"], ["3"]]
    assert all(q["page_size"] == ["100"] for q in queries(skyvern.server, "/v1/runs"))
    assert all(r.headers["x-api-key"] == SKYVERN_KEY for r in skyvern.server.requests)
    # A list item lacks what get-run has: the docs list it (RestList.lacks).
    assert runs[0].result is None and runs[0].kind == "task_v2" and runs[0].web_url is None


@pytest.mark.parametrize(("minutes", "requests"), [(200, 1), (120, 2), (49.5, 3)])
def test_skyvern_since_stops_paging_once_the_order_proves_it(
    skyvern: SkyvernApi, minutes: float, requests: int
) -> None:
    fill_skyvern(skyvern, 250)
    since = at(minutes)
    runs = sky(skyvern, since=since)
    assert runs and all(run.timing.created_at >= since for run in runs)
    assert len(runs) == 250 - int(minutes + 0.5)
    # Page 1 holds runs 249..150, page 2 149..50, page 3 49..0: one run older than since
    # ends the listing with its page; Skyvern has no time filter, so nothing else is sent.
    assert len(skyvern.server.requests) == requests
    assert all(set(q) == {"page", "page_size"} for q in queries(skyvern.server, "/v1/runs"))


def test_skyvern_until_is_exclusive_and_status_words_go_to_the_server(
    skyvern: SkyvernApi,
) -> None:
    for number in range(120):
        skyvern.put(number, number, ("canceled", "terminated", "completed")[number % 3])
    runs = sky(skyvern, until=at(60), status=RunStatus.CANCELED)
    assert [q["status"] for q in queries(skyvern.server, "/v1/runs")] == [
        ["canceled", "terminated"]
    ]
    assert {run.native_status for run in runs} == {"canceled", "terminated"}
    assert all(run.timing.created_at < at(60) for run in runs) and len(runs) == 40
    skyvern.server.requests.clear()
    # A native word selects exactly that word, on the server and on the client.
    assert {r.native_status for r in sky(skyvern, status="terminated")} == {"terminated"}
    assert queries(skyvern.server, "/v1/runs")[0]["status"] == ["terminated"]


def test_skyvern_reaches_the_10000_most_recent_runs_then_list_limit_error(
    skyvern: SkyvernApi,
) -> None:
    fill_skyvern(skyvern, 10_050)
    reached: list[runnorm.Run] = []
    with pytest.raises(ListLimitError) as info:
        reached.extend(
            runnorm.list_runs("skyvern", base_url=skyvern.server.url, api_key=SKYVERN_KEY)
        )
    assert len(reached) == len({run.id for run in reached}) == 10_000
    assert len(skyvern.server.requests) == 100
    error = info.value
    assert error.listed == 10_000 and error.provider == "skyvern"
    assert error.complete_after == reached[-1].timing.created_at == at(50)
    assert "at most 100 pages of 100 runs" in str(error)
    # A since that the reachable runs cover proves the listing complete: no error.
    skyvern.server.requests.clear()
    assert len(sky(skyvern, since=at(9000))) == 1050
    assert len(skyvern.server.requests) == 11


def test_limit_ends_the_listing_and_shrinks_pages_the_server_filters_exactly(
    skyvern: SkyvernApi,
) -> None:
    fill_skyvern(skyvern, 250)
    assert [run.id for run in sky(skyvern, limit=5)] == ["tsk_00249", "tsk_00248", "tsk_00247",
                                                         "tsk_00246", "tsk_00245"]  # fmt: skip
    assert queries(skyvern.server, "/v1/runs") == [{"page": ["1"], "page_size": ["5"]}]
    skyvern.server.requests.clear()
    # since is checked on the client: full pages, so a filtered page still fills the limit.
    assert len(sky(skyvern, limit=120, since=at(10))) == 120
    assert [q["page_size"] for q in queries(skyvern.server, "/v1/runs")] == [["100"], ["100"]]
    skyvern.server.requests.clear()
    assert sky(skyvern, limit=0) == [] and skyvern.server.requests == []


def test_a_page_repeating_the_previous_ones_runs_gives_no_run_twice(skyvern: SkyvernApi) -> None:
    fill_skyvern(skyvern, 200)
    items = skyvern.newest_first()
    # Runs created while listing shift the pages: page 2 repeats half of page 1.
    skyvern.server.script(
        "/v1/runs", Reply(200, items[:100]), Reply(200, items[50:150]), Reply(200, items[150:])
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a repeat is not an order break
        runs = sky(skyvern)
    assert [run.id for run in runs] == [item["run_id"] for item in items]


def test_pages_that_keep_repeating_end_in_list_limit_error(skyvern: SkyvernApi) -> None:
    fill_skyvern(skyvern, 100)
    page = skyvern.newest_first()
    skyvern.server.script("/v1/runs", *[Reply(200, page)] * 6)  # a server ignoring ?page=
    reached: list[runnorm.Run] = []
    with pytest.raises(ListLimitError, match="3 pages in a row held only runs already listed"):
        reached.extend(
            runnorm.list_runs("skyvern", base_url=skyvern.server.url, api_key=SKYVERN_KEY)
        )
    assert len(reached) == 100 and len(skyvern.server.requests) == 4


def test_a_run_breaking_the_order_turns_early_stopping_off(skyvern: SkyvernApi) -> None:
    fill_skyvern(skyvern, 300)
    items = skyvern.newest_first()  # runs 299..0, one a minute
    # Run 149, on page 2 among older runs, claims a creation time newer than page 1's end.
    items[150] = dict(items[150], created_at=naive(at(280.5)))
    pages = [items[:100], items[100:200], items[200:], []]
    skyvern.server.script("/v1/runs", *(Reply(200, page) for page in pages))
    since = at(150)  # page 2 holds older runs: in order, page 2 would be the last
    with pytest.warns(RunnormWarning, match="declared newest first, but run 'tsk_00149'"):
        runs = sky(skyvern, since=since)
    assert "tsk_00149" in [run.id for run in runs] and len(runs) == 151
    assert len(skyvern.server.requests) == 4  # paged on to the end


def test_a_failing_page_is_retried_and_runs_already_yielded_stay(skyvern: SkyvernApi) -> None:
    fill_skyvern(skyvern, 250)
    items = skyvern.newest_first()
    skyvern.server.script(
        "/v1/runs",
        Reply(200, items[:100]),
        Reply(503, {"detail": "busy"}, headers={"retry-after": "0"}),
        Reply(200, items[100:200]),
    )
    assert len(sky(skyvern)) == 250  # retried as a GET: nothing lost, nothing twice
    assert len(skyvern.server.requests) == 4
    skyvern.server.script(
        "/v1/runs", Reply(200, items[:100]), *[Reply(500, {"detail": "down"})] * 3
    )
    reached: list[runnorm.Run] = []
    with pytest.raises(ServerError, match="page 2"):
        reached.extend(
            runnorm.list_runs(
                "skyvern", base_url=skyvern.server.url, api_key=SKYVERN_KEY, max_retries=2
            )
        )
    assert [run.id for run in reached] == [item["run_id"] for item in items[:100]]


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        ({"detail": "Not a list"}, "not a JSON array of runs"),
        (["tsk_1", "tsk_2"], "listed 'tsk_1', not a run object"),
        ([{"run_id": "tsk_9"}], "status"),
    ],
)
def test_a_page_that_is_not_a_list_of_runs_is_a_payload_error(
    skyvern: SkyvernApi, page: Any, problem: str
) -> None:
    fill_skyvern(skyvern, 100)
    skyvern.server.script("/v1/runs", Reply(200, skyvern.newest_first()), Reply(200, page))
    reached: list[runnorm.Run] = []
    with pytest.raises(PayloadError, match=problem):
        reached.extend(
            runnorm.list_runs("skyvern", base_url=skyvern.server.url, api_key=SKYVERN_KEY)
        )
    assert len(reached) == 100


def test_errors_of_a_listing_never_hold_the_key(skyvern: SkyvernApi) -> None:
    skyvern.server.script(
        "/v1/runs", Reply(500, {"detail": f"bad key {SKYVERN_KEY} for page"}), Reply(200, "x")
    )
    with pytest.raises(ServerError) as info:
        sky(skyvern, max_retries=0)
    assert SKYVERN_KEY not in str(info.value) and SKYVERN_KEY not in repr(info.value.body)
    with pytest.raises(PayloadError) as bad:
        sky(skyvern, max_retries=0)
    assert SKYVERN_KEY not in str(bad.value)


def test_full_fetches_each_run_as_get_does_in_page_order(skyvern: SkyvernApi) -> None:
    fill_skyvern(skyvern, 250)
    runs = sky(skyvern, full=True, concurrency=8)
    expected = [
        runnorm.normalize(skyvern.server.routes[f"/v1/runs/{item['run_id']}"], "skyvern")
        for item in skyvern.newest_first()
    ]
    assert runs == expected
    assert runs[0].web_url and runs[1].result == {"order": 248}
    assert len(skyvern.server.requests_to("/v1/runs")) == 3
    assert len(skyvern.server.requests) == 3 + 250
    # A run gone between listing and fetching: its error, after the runs before it.
    del skyvern.server.routes["/v1/runs/tsk_00240"]
    reached: list[runnorm.Run] = []
    with pytest.raises(NotFoundError):
        reached.extend(
            runnorm.list_runs(
                "skyvern", base_url=skyvern.server.url, api_key=SKYVERN_KEY, full=True
            )
        )
    assert [run.id for run in reached] == [f"tsk_{n:05d}" for n in range(249, 240, -1)]


@pytest.mark.parametrize("bad_id", ["..", ".", " "])
def test_full_a_listed_id_that_cannot_be_sent_is_a_payload_error_after_the_runs_before_it(
    skyvern: SkyvernApi, bad_id: str
) -> None:
    fill_skyvern(skyvern, 5)
    skyvern.items["tsk_00002"]["run_id"] = bad_id  # the provider lists a run by an odd id
    options = {"base_url": skyvern.server.url, "api_key": SKYVERN_KEY, "full": True}
    reached: list[runnorm.Run] = []
    with pytest.raises(PayloadError, match="cannot be sent") as caught:
        reached.extend(runnorm.list_runs("skyvern", **options))
    assert not isinstance(caught.value, ConfigError)
    assert [run.id for run in reached] == ["tsk_00004", "tsk_00003"]

    async def alisted(seen: list[str]) -> None:
        async for run in runnorm.alist_runs("skyvern", **options):
            seen.append(run.id)

    seen: list[str] = []
    with pytest.raises(PayloadError, match="cannot be sent"):
        asyncio.run(alisted(seen))
    assert seen == ["tsk_00004", "tsk_00003"]
    assert {r.path for r in skyvern.server.requests} == {
        "/v1/runs",
        "/v1/runs/tsk_00004",
        "/v1/runs/tsk_00003",
    }


# -- Browserbase: cursors, no promised order, server-side bounds ----------------------------


def fill_browserbase(api: BrowserbaseApi, count: int) -> None:
    for number in range(count):
        api.put(number, number, ("COMPLETED", "FAILED", "RUNNING")[number % 3])


def test_browserbase_lists_hundreds_of_runs_through_cursors(browserbase: BrowserbaseApi) -> None:
    fill_browserbase(browserbase, 300)
    runs = bb(browserbase)
    assert len(runs) == len({run.id for run in runs}) == 300
    assert {run.id for run in runs} == set(browserbase.runs)
    by_id = {run.id: run for run in runs}
    assert all(by_id[i] == runnorm.normalize(p, "browserbase") for i, p in browserbase.runs.items())
    sent = queries(browserbase.server, "/v1/agents/runs")
    assert [q.get("cursor") for q in sent] == [None, ["c100"], ["c200"]]
    assert all(q["limit"] == ["1000"] for q in sent)


def test_browserbase_bounds_and_status_go_to_the_server_until_stays_exclusive(
    browserbase: BrowserbaseApi,
) -> None:
    fill_browserbase(browserbase, 300)
    runs = bb(browserbase, since=at(30), until=at(240), status="succeeded")
    created = sorted(run.timing.created_at for run in runs)
    assert created[0] == at(30) and created[-1] == at(237)  # 240 is COMPLETED, yet excluded
    assert all(run.native_status == "COMPLETED" for run in runs) and len(runs) == 70
    (sent,) = queries(browserbase.server, "/v1/agents/runs")
    assert sent["status"] == ["COMPLETED"]  # one word, the uppercase spelling
    assert sent["startAt"] == ["2026-03-02T08:30:00Z"]
    assert sent["endAt"] == ["2026-03-02T12:00:00Z"]
    assert sent["limit"] == ["1000"]


def test_browserbase_pages_to_the_end_with_since_as_it_promises_no_order(
    browserbase: BrowserbaseApi,
) -> None:
    fill_browserbase(browserbase, 300)
    browserbase.server.handlers.pop("/v1/agents/runs")  # a server ignoring startAt
    items = list(browserbase.runs.values())
    cursors = ["c1", "c2", None]
    browserbase.server.script(
        "/v1/agents/runs",
        *(
            Reply(200, {"data": items[i * 100 : i * 100 + 100], "nextCursor": cursors[i]})
            for i in range(3)
        ),
    )
    runs = bb(browserbase, since=at(290))
    assert sorted(run.timing.created_at for run in runs) == [at(m) for m in range(290, 300)]
    assert len(browserbase.server.requests) == 3  # no early stop: no order to trust


def test_a_cursor_that_never_ends_stops_at_max_pages(browserbase: BrowserbaseApi) -> None:
    fill_browserbase(browserbase, 50)
    browserbase.server.handlers.pop("/v1/agents/runs")
    runs = list(browserbase.runs.values())
    browserbase.server.script(
        "/v1/agents/runs",
        *(Reply(200, {"data": [runs[n]], "nextCursor": f"next-{n}"}) for n in range(50)),
    )
    reached: list[runnorm.Run] = []
    with pytest.raises(ListLimitError, match="max_pages=20") as info:
        reached.extend(
            runnorm.list_runs(
                "browserbase",
                base_url=browserbase.server.url,
                api_key=BROWSERBASE_KEY,
                max_pages=20,
            )
        )
    assert len(reached) == 20 == info.value.listed and info.value.complete_after is None
    assert len(browserbase.server.requests) == 20


def test_a_cursor_handed_back_twice_ends_in_list_limit_error(browserbase: BrowserbaseApi) -> None:
    fill_browserbase(browserbase, 3)
    browserbase.server.handlers.pop("/v1/agents/runs")
    a, b, c = browserbase.runs.values()
    browserbase.server.script(
        "/v1/agents/runs",
        Reply(200, {"data": [a], "nextCursor": "x"}),
        Reply(200, {"data": [b], "nextCursor": "y"}),
        Reply(200, {"data": [c], "nextCursor": "x"}),
    )
    reached: list[runnorm.Run] = []
    with pytest.raises(ListLimitError, match="a cursor it had sent before"):
        reached.extend(
            runnorm.list_runs(
                "browserbase", base_url=browserbase.server.url, api_key=BROWSERBASE_KEY
            )
        )
    assert len(reached) == 3 and len(browserbase.server.requests) == 3


def test_a_cursor_that_echoes_the_key_never_reaches_a_log_line(
    browserbase: BrowserbaseApi, caplog: pytest.LogCaptureFixture
) -> None:
    fill_browserbase(browserbase, 2)
    browserbase.server.handlers.pop("/v1/agents/runs")
    a, b = browserbase.runs.values()
    browserbase.server.script(
        "/v1/agents/runs",
        Reply(200, {"data": [a], "nextCursor": f"c.{BROWSERBASE_KEY}"}),
        Reply(200, {"data": [b], "nextCursor": None}),
    )
    with caplog.at_level(logging.DEBUG):
        assert len(bb(browserbase)) == 2
    assert "/v1/agents/runs" in caplog.text  # httpx's request lines are there, masked
    assert BROWSERBASE_KEY not in caplog.text


def test_a_cursor_that_is_not_text_ends_the_listing_after_its_page(
    browserbase: BrowserbaseApi,
) -> None:
    fill_browserbase(browserbase, 2)
    browserbase.server.handlers.pop("/v1/agents/runs")
    first, second = browserbase.runs.values()
    browserbase.server.script(
        "/v1/agents/runs", Reply(200, {"data": [first, second], "nextCursor": {"page": 2}})
    )
    reached: list[runnorm.Run] = []
    with pytest.raises(PayloadError, match="not a cursor"):
        reached.extend(
            runnorm.list_runs(
                "browserbase", base_url=browserbase.server.url, api_key=BROWSERBASE_KEY
            )
        )
    assert len(reached) == 2


def test_browserbase_page_without_data_is_a_payload_error(browserbase: BrowserbaseApi) -> None:
    browserbase.server.handlers.pop("/v1/agents/runs")
    browserbase.server.script("/v1/agents/runs", Reply(200, {"items": [], "nextCursor": None}))
    with pytest.raises(PayloadError, match="not an object with a 'data' array of runs"):
        bb(browserbase)


# -- Bridge Town: one capped tool call, over a server built with the mcp SDK ----------------


@pytest.fixture(scope="module")
def bridgetown_server() -> Iterator[BridgeTownServer]:
    with running_bridgetown_server(runs={}, json_response=True) as server:
        yield server


def bridgetown_runs(count: int, project: str = "forecasts") -> dict[str, dict[str, Any]]:
    runs = {}
    for number in range(count):
        run_id = f"{number:08d}-0000-4000-8000-{abs(hash(project)) % 10**12:012d}"
        created = at(number).isoformat()
        runs[run_id] = {
            "run_id": run_id,
            "run_number": number,
            "project_name": project,
            "status": ("success", "failed", "running")[number % 3],
            "commit_sha": f"{number:040x}",
            "created_at": created,
            "started_at": created,
            "finished_at": None,
            "error_message": None,
        }
    return runs


@pytest.fixture
def bridgetown(bridgetown_server: BridgeTownServer) -> BridgeTownServer:
    bridgetown_server.reset({**bridgetown_runs(120), **bridgetown_runs(10, "other")})
    return bridgetown_server


def bt(server: BridgeTownServer, **options: Any) -> list[runnorm.Run]:
    return list(
        runnorm.list_runs(
            "bridgetown", base_url=server.url, api_key=server.token, project="forecasts", **options
        )
    )


def tool_calls(server: BridgeTownServer) -> list[dict[str, Any]]:
    """The tool calls the server answered (a call sent on a session that the server's reset
    ended is answered 404, then sent again on a new one)."""
    return [
        entry["body"]["params"]
        for entry in server.requests
        if entry["jsonrpc_method"] == "tools/call" and entry["status"] == 200
    ]


def test_bridgetown_since_covered_by_the_50_newest_is_complete(
    bridgetown: BridgeTownServer,
) -> None:
    runs = bt(bridgetown, since=at(100))
    assert [run.extra["run_number"] for run in runs] == list(range(119, 99, -1))
    assert all(run.extra["project_name"] == "forecasts" for run in runs)  # shared: copied
    assert tool_calls(bridgetown) == [
        {"name": "list_runs", "arguments": {"project_name": "forecasts", "limit": 50}}
    ]


def test_bridgetown_50_runs_that_do_not_reach_since_end_in_list_limit_error(
    bridgetown: BridgeTownServer,
) -> None:
    reached: list[runnorm.Run] = []
    with pytest.raises(ListLimitError, match="at most 50 runs per call") as info:
        reached.extend(
            runnorm.list_runs(
                "bridgetown",
                base_url=bridgetown.url,
                api_key=bridgetown.token,
                project="forecasts",
                since=at(10),
            )
        )
    assert len(reached) == 50 == info.value.listed
    assert info.value.complete_after == at(70)  # every run after the oldest reached
    with pytest.raises(ListLimitError, match="pass since="):
        bt(bridgetown)  # no since: 50 runs prove nothing


def test_bridgetown_status_is_sent_and_full_fetches_with_get_run(
    bridgetown: BridgeTownServer,
) -> None:
    runs = bt(bridgetown, status=RunStatus.FAILED, since=at(90), full=True)
    assert {run.native_status for run in runs} == {"failed"} and len(runs) == 10
    list_call, *gets = tool_calls(bridgetown)
    assert list_call["arguments"] == {"project_name": "forecasts", "limit": 50, "status": "failed"}
    assert [call["name"] for call in gets] == ["get_run"] * 10
    assert runs[0] == runnorm.normalize(bridgetown.runs[runs[0].id], "bridgetown")


def test_async_listings_match_the_sync_ones(
    skyvern: SkyvernApi, bridgetown: BridgeTownServer
) -> None:
    fill_skyvern(skyvern, 250)

    async def main() -> tuple[list[runnorm.Run], list[runnorm.Run], list[runnorm.Run]]:
        sky_runs = [
            run
            async for run in runnorm.alist_runs(
                "skyvern", base_url=skyvern.server.url, api_key=SKYVERN_KEY, since=at(100)
            )
        ]
        async with runnorm.AsyncClient("bridgetown", base_url=bridgetown.url) as client:
            bt_runs = [
                run
                async for run in client.list_runs(
                    api_key=bridgetown.token, project="forecasts", since=at(100)
                )
            ]
            full = [
                run
                async for run in client.list_runs(
                    api_key=bridgetown.token, project="forecasts", since=at(115), full=True
                )
            ]
        return sky_runs, bt_runs, full

    sky_runs, bt_runs, full = asyncio.run(main())
    assert sky_runs == sky(skyvern, since=at(100))
    assert bt_runs == bt(bridgetown, since=at(100))
    assert [run.id for run in full] == [run.id for run in bt_runs[:5]]
    assert full[0] == runnorm.normalize(bridgetown.runs[full[0].id], "bridgetown")


# -- the other paging styles: absolute next URLs, after ids, offsets ------------------------


def styled(name: str, listing: RestList) -> runnorm.Provider:
    """A provider like Skyvern's but listing *listing* (ids, statuses, created_at)."""
    return attrs.evolve(get_host().get("skyvern"), name=name, list=listing, aliases=())


def test_absolute_next_urls_are_followed_on_the_base_urls_origin_only() -> None:
    provider = styled(
        "replicate-like",
        RestList(path="/v1/predictions", paging=NextUrlPages(next_field="next"), items="results",
                 order="newest_first", created_key="created_at"),
    )  # fmt: skip
    items = [{"run_id": f"tsk_{n}", "status": "completed", "created_at": naive(at(-n))}
             for n in range(6)]  # fmt: skip
    with (
        FakeProviderServer(auth=("x-api-key", SKYVERN_KEY)) as server,
        FakeProviderServer() as elsewhere,
        runnorm.Client(provider, base_url=server.url, api_key=SKYVERN_KEY) as client,
    ):
        server.script(
            "/v1/predictions",
            Reply(200, {"results": items[:2], "next": f"{server.url}/v1/predictions?cursor=p2"}),
            Reply(200, {"results": items[2:4], "next": "/v1/predictions?cursor=p3"}),
            Reply(200, {"results": items[4:], "next": None}),
        )
        assert [run.id for run in client.list_runs()] == [item["run_id"] for item in items]
        assert [r.query for r in server.requests] == ["", "cursor=p2", "cursor=p3"]
        server.script(
            "/v1/predictions",
            Reply(200, {"results": items[:2], "next": f"{elsewhere.url}/v1/predictions?c=2"}),
        )
        reached: list[runnorm.Run] = []
        with pytest.raises(PayloadError, match="not on the origin of"):
            reached.extend(client.list_runs())
        server.script(
            "/v1/predictions",
            Reply(200, {"results": [], "next": f"{server.url}/v1?k={SKYVERN_KEY}"}),
        )
        with pytest.raises(PayloadError, match="holds the API key") as info:
            list(client.list_runs())
    assert len(reached) == 2 and elsewhere.requests == []  # the key never went there
    assert SKYVERN_KEY not in str(info.value)


def test_module_level_list_runs_and_watch_take_a_declaration_of_ones_own() -> None:
    """``runnorm.list_runs`` and ``runnorm.watch`` with a ``Provider`` that is not registered
    list and poll through that declaration (a client of the call's own, closed at the end)."""
    provider = styled(
        "unregistered-like",
        RestList(path="/v1/predictions", paging=NextUrlPages(next_field="next"), items="results",
                 order="newest_first", created_key="created_at"),
    )  # fmt: skip
    items = [{"run_id": f"tsk_{n}", "status": "completed", "created_at": naive(at(-n))}
             for n in range(3)]  # fmt: skip
    with FakeProviderServer(auth=("x-api-key", SKYVERN_KEY)) as server:
        server.script("/v1/predictions", Reply(200, {"results": items, "next": None}))
        settings = {"base_url": server.url, "api_key": SKYVERN_KEY}
        runs = list(runnorm.list_runs(provider, **settings))
        assert [(run.provider, run.id) for run in runs] == [
            ("unregistered-like", item["run_id"]) for item in items
        ]
        server.routes["/v1/runs/tsk_0"] = items[0]
        events = list(runnorm.watch(provider, ["tsk_0"], interval=0.01, timeout=5, **settings))
        assert [(event.run.provider, event.run.status) for event in events if event.run] == [
            ("unregistered-like", runnorm.RunStatus.SUCCEEDED)
        ]


def test_after_ids_and_offsets_page_as_declared() -> None:
    after = styled(
        "openai-like",
        RestList(path="/v1/batches", items="data", order="newest_first", created_key="created_at",
                 paging=AfterPages(item_id="run_id", size=2)),
    )  # fmt: skip
    offsets = styled(
        "offsets-like", RestList(path="/v1/things", items="things", paging=OffsetPages(size=2))
    )
    items = [{"run_id": f"tsk_{n}", "status": "completed", "created_at": naive(at(-n))}
             for n in range(5)]  # fmt: skip
    with FakeProviderServer() as server:
        server.script(
            "/v1/batches",
            Reply(200, {"data": items[:2], "has_more": True}),
            Reply(200, {"data": items[2:4], "has_more": True}),
            Reply(200, {"data": items[4:], "has_more": False}),
        )
        server.script(
            "/v1/things",
            *(Reply(200, {"things": items[n : n + 2], "total": 5}) for n in (0, 2, 4)),
        )
        with runnorm.Client(after, base_url=server.url, api_key="k") as client:
            assert [run.id for run in client.list_runs()] == [i["run_id"] for i in items]
        with runnorm.Client(offsets, base_url=server.url, api_key="k") as client:
            assert [run.id for run in client.list_runs()] == [i["run_id"] for i in items]
    assert [r.query for r in server.requests_to("/v1/batches")] == [
        "limit=2",
        "after=tsk_1&limit=2",
        "after=tsk_3&limit=2",
    ]
    assert [r.query for r in server.requests_to("/v1/things")] == [
        "offset=0&limit=2",
        "offset=2&limit=2",
        "offset=4&limit=2",
    ]


# -- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"since": datetime(2026, 1, 1)}, "naive datetime"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "is before since"),
        ({"since": "last tuesday"}, "span such as '2h'"),
        ({"since": timedelta(days=10**8)}, "out of range"),
        ({"until": "99999999999w"}, "out of range"),
        ({"status": "done"}, "status= must be a RunStatus"),
        ({"limit": -1}, "limit must be a whole number"),
        ({"full": "yes"}, "full must be True or False"),
        ({"max_pages": 0}, "max_pages must be at least 1"),
        ({"concurrency": 0}, "concurrency must be a positive integer"),
        ({"project": "x"}, "unexpected option"),
    ],
)
def test_bad_arguments_fail_at_the_call_before_any_request(
    skyvern: SkyvernApi, options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        runnorm.list_runs("skyvern", base_url=skyvern.server.url, api_key=SKYVERN_KEY, **options)
    with pytest.raises(ConfigError, match=problem):
        runnorm.alist_runs("skyvern", base_url=skyvern.server.url, api_key=SKYVERN_KEY, **options)
    assert skyvern.server.requests == []


def test_a_listing_option_that_cannot_be_sent_is_a_config_error() -> None:
    for project in ("", "\ud800", True, ["a"]):
        with pytest.raises(ConfigError, match="project= must be non-empty text"):
            runnorm.list_runs("bridgetown", project=project, api_key="btk_x")


def test_a_provider_without_a_list_is_unsupported() -> None:
    unlisted = attrs.evolve(get_host().get("skyvern"), name="unlisted", list=None)
    assert "list" not in unlisted.capabilities
    with pytest.raises(UnsupportedError, match="does not support listing runs"):
        runnorm.list_runs(unlisted, base_url="http://127.0.0.1:9", api_key="k")
    with pytest.raises(UnsupportedError):
        runnorm.Client(unlisted, base_url="http://127.0.0.1:9").list_runs()


def test_time_bounds_take_datetimes_spans_and_iso_text() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert parse_when("since", "2h", now=now) == now - timedelta(hours=2)
    assert parse_when("since", "1d12h", now=now) == now - timedelta(hours=36)
    assert parse_when("since", timedelta(minutes=5), now=now) == now - timedelta(minutes=5)
    assert parse_when("since", "2026-03-01", now=now) == datetime(2026, 3, 1, tzinfo=UTC)
    plus_two = datetime.fromisoformat("2026-03-01T10:00:00+02:00")
    assert parse_when("since", plus_two, now=now) == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert parse_when("since", None, now=now) is None


# -- discovery: what watch(..., since=...) builds on ----------------------------------------


def test_discovery_finds_each_new_run_once_across_rounds(skyvern: SkyvernApi) -> None:
    fill_skyvern(skyvern, 150)
    options = resolve_options(
        get_host().get("skyvern"), {"base_url": skyvern.server.url, "api_key": SKYVERN_KEY},
        listing=True,
    )  # fmt: skip
    sender, gate = SyncSender(), Gate()
    try:
        first = drive_sync(discover_flow(options, Mark(at(140))), sender, gate)
        assert [run.id for run in first.runs] == [f"tsk_{n:05d}" for n in range(149, 139, -1)]
        assert first.cut is None and first.mark == Mark(at(149), frozenset({"tsk_00149"}))
        skyvern.put(150, 149)  # created at the very same time as the mark's run
        skyvern.put(151, 151)
        second = drive_sync(discover_flow(options, first.mark), sender, gate)
        assert [run.id for run in second.runs] == ["tsk_00151", "tsk_00150"]
        third = drive_sync(discover_flow(options, second.mark), sender, gate)
        assert third.runs == () and third.mark == second.mark
    finally:
        sender.close()
    assert len(skyvern.server.requests) == 3  # each round: one page, stopped by the order
    assert at(1) > BASE


def test_watch_since_discovers_new_runs_through_the_listing(skyvern: SkyvernApi) -> None:
    fill_skyvern(skyvern, 120)
    for number in range(100, 120):  # the listing says running; polls find them finished
        route = skyvern.server.routes[f"/v1/runs/tsk_{number:05d}"]
        route["status"] = "completed"
    events = list(
        runnorm.watch(
            "skyvern", since=at(100), interval=0.01, base_url=skyvern.server.url,
            api_key=SKYVERN_KEY,
        )
    )  # fmt: skip
    first = {e.run_id: e for e in reversed(events)}
    assert set(first) == {f"tsk_{n:05d}" for n in range(100, 120)}
    assert all(event.source == "list" and event.previous is None for event in first.values())
    final = {e.run_id: e.run.native_status for e in events if e.run is not None}
    assert set(final.values()) == {"completed"}
    # One page listed (it held an older run), then a poll of each run still running.
    assert len(skyvern.server.requests_to("/v1/runs")) == 1


def test_watch_since_over_mcp_takes_the_listing_options_and_reports_a_cut(
    bridgetown: BridgeTownServer,
) -> None:
    for run in bridgetown.runs.values():
        run["status"] = "success"  # listed terminal: no polls needed
    events = list(
        runnorm.watch(
            "bridgetown", since=at(10), base_url=bridgetown.url, api_key=bridgetown.token,
            project="forecasts",
        )
    )  # fmt: skip
    listed = [event for event in events if event.run is not None]
    (cut,) = [event for event in events if event.error is not None]
    assert len(listed) == 50 and all(event.source == "list" for event in listed)
    assert isinstance(cut.error, ListLimitError) and cut.run_id is None and cut.source == "list"
    assert events[-1] is cut  # after the runs it reached
    calls = tool_calls(bridgetown)
    assert [c["name"] for c in calls] == ["list_runs"]
    assert calls[0]["arguments"] == {"project_name": "forecasts", "limit": 50}


def test_watch_discovery_lists_from_where_it_got_to(skyvern: SkyvernApi) -> None:
    fill_skyvern(skyvern, 150)
    listing = resolve_options(
        get_host().get("skyvern"), {"base_url": skyvern.server.url, "api_key": SKYVERN_KEY},
        listing=True,
    )  # fmt: skip
    discover = Discovery(listing)
    sender, gate = SyncSender(), Gate()
    since = at(140)
    try:
        first = drive_sync(discover(listing, since), sender, gate)
        skyvern.put(150, 150)
        second = drive_sync(discover(listing, since), sender, gate)
        third = drive_sync(discover(listing, since), sender, gate)
    finally:
        sender.close()
    assert [run.id for run in first] == [f"tsk_{n:05d}" for n in range(149, 139, -1)]  # type: ignore[union-attr]
    assert [run.id for run in second] == ["tsk_00150"]  # type: ignore[union-attr]
    assert third == []
    with pytest.raises(ConfigError, match="needs project="):
        Discovery(resolve_options(get_host().get("bridgetown"), {"api_key": "k"}, listing=True))

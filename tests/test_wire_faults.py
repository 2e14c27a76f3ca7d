"""Faults on the wire, from real loopback servers that misbehave on purpose.

Dripping headers and bodies, compression bombs, SSE streams left open, MCP sessions dropped
mid-call, server requests that reuse our id, deep JSON, hostile redirects, Retry-After, odd
option values. Every failure must be a ``RunnormError`` and every call must end within its
deadline (plus a generous margin: these tests assert bounds, never speed).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import threading
import time
import tracemalloc
import zlib
from typing import Any

import httpx
import pytest
from hostile_server import (
    Exchange,
    HostileServer,
    bomb,
    drip_forever,
    http_response,
    mcp_handler,
    run_result,
    sse_event,
    sse_head,
    wait_until,
)

import runnorm
from runnorm import (
    APIError,
    ConfigError,
    NotFoundError,
    PayloadError,
    RunnormError,
    ToolError,
    ToolNotFoundError,
    TransportError,
    WaitTimeout,
)
from runnorm._live import drivers
from runnorm._live.drivers import Gate, drive_sync
from runnorm._live.http import MAX_SOCKET_TIMEOUT, SyncSender
from runnorm._live.mcp import McpState, mcp_call_tool
from runnorm._live.options import resolve_options
from runnorm._live.retry import backoff_delay, retry_after
from runnorm._live.sse import SseParser, iter_sse_data
from runnorm._plugins.normalize import resolve_provider

KEY = "sk-wire-faults-0123456789"
BT_KEY = "btk_wire_faults_0123456789"
RUN = {"run_id": "tsk_1", "status": "running"}
BT_ID = "66666666-6666-6666-6666-666666666666"
BT_RUN = {"run_id": BT_ID, "status": "running", "project_name": "forecasts"}
JSON = {"Content-Type": "application/json"}


def sky(server: HostileServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": KEY, "max_retries": 0, **more}


def bt(server: HostileServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url + "/mcp", "api_key": BT_KEY, "max_retries": 0, **more}


def ok_run(exchange: Exchange) -> bool:
    exchange.send(http_response(200, json.dumps(RUN).encode(), JSON))
    return True


def deep(depth: int) -> bytes:
    return b'{"run_id": "tsk_1", "status": "running", "x": ' + b"[" * depth + b"]" * depth + b"}"


class Elapsed:
    def __enter__(self) -> Elapsed:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.monotonic() - self.start


# -- time: dripping servers ---------------------------------------------------------------


def drip_headers(exchange: Exchange) -> None:
    exchange.send(b"HTTP/1.1 200 OK\r\n")
    drip_forever(exchange, iter(lambda: b"X", None), 0.05)


def drip_body(exchange: Exchange) -> None:
    exchange.send(
        http_response(200, headers=JSON, length=False, raw_headers=b"Content-Length: 9999\r\n")
    )
    drip_forever(exchange, iter(lambda: b" ", None), 0.05)


def drip_headers_then_ok(exchange: Exchange) -> bool | None:
    if exchange.index == 0:
        drip_headers(exchange)
        return None
    return ok_run(exchange)


@pytest.mark.parametrize("handler", [drip_headers, drip_body], ids=["headers", "body"])
def test_timeout_bounds_a_dripping_request(handler: Any) -> None:
    with HostileServer(handler) as server, Elapsed() as took, pytest.raises(TransportError) as info:
        runnorm.get("skyvern", "tsk_1", timeout=1, **sky(server))
    assert info.value.kind == "timeout"
    assert took.seconds < 3


@pytest.mark.parametrize("handler", [drip_headers, drip_body], ids=["headers", "body"])
def test_timeout_bounds_a_dripping_request_async(handler: Any) -> None:
    async def main() -> None:
        with pytest.raises(TransportError) as info:
            await runnorm.aget("skyvern", "tsk_1", timeout=1, **sky(server))
        assert info.value.kind == "timeout"

    with HostileServer(handler) as server, Elapsed() as took:
        asyncio.run(main())
    assert took.seconds < 3


def test_dripping_request_with_a_caller_http_client_is_bounded() -> None:
    with HostileServer(drip_headers) as server, httpx.Client() as http, Elapsed() as took:
        client = runnorm.Client("skyvern", timeout=1, http_client=http, **sky(server))
        with pytest.raises(TransportError):
            client.get("tsk_1")
    assert took.seconds < 3


def test_each_retry_gets_a_fresh_deadline() -> None:
    with HostileServer(drip_headers_then_ok) as server:
        run = runnorm.get("skyvern", "tsk_1", timeout=0.5, **sky(server, max_retries=1))
    assert run.id == "tsk_1"
    assert len(server.requests) == 2


def test_wait_timeout_bounds_retries_and_drips() -> None:
    with HostileServer(drip_body) as server, Elapsed() as took, pytest.raises(WaitTimeout):
        runnorm.wait(
            "skyvern",
            "tsk_1",
            timeout=1.5,
            interval=0.05,
            request_timeout=30,
            **sky(server, max_retries=5),
        )
    assert took.seconds < 4


def test_wait_timeout_bounds_retry_after_sleeps() -> None:
    def busy(exchange: Exchange) -> bool:
        exchange.send(http_response(503, b"{}", {**JSON, "Retry-After": "50"}))
        return True

    with HostileServer(busy) as server, Elapsed() as took, pytest.raises(WaitTimeout):
        runnorm.wait("skyvern", "tsk_1", timeout=1, interval=0.05, **sky(server, max_retries=3))
    assert took.seconds < 3


def held_back_once(exchange: Exchange) -> bool:
    """The first request (for ``tsk_slow``) gets a 429 asking for 5 s; every other, a run."""
    if exchange.index == 0:
        exchange.send(http_response(429, b"{}", {**JSON, "Retry-After": "5"}))
        return True
    return ok_run(exchange)


def test_a_429_hold_back_on_the_client_never_outlasts_a_waits_deadline() -> None:
    with HostileServer(held_back_once) as server:
        client = runnorm.Client("skyvern", **sky(server, max_retries=1))
        other = threading.Thread(target=client.get, args=("tsk_slow",))
        other.start()
        assert wait_until(lambda: len(server.requests) == 1)
        time.sleep(0.2)  # the 429 has come back: the client's gate is shut for 5 s
        with Elapsed() as took, pytest.raises(WaitTimeout):
            client.wait("tsk_1", timeout=1, interval=0.05)
        other.join()
        client.close()
    assert took.seconds < 3


def test_a_429_hold_back_never_outlasts_a_waits_deadline_async() -> None:
    async def main() -> float:
        async with runnorm.AsyncClient("skyvern", **sky(server, max_retries=1)) as client:
            other = asyncio.ensure_future(client.get("tsk_slow"))
            while len(server.requests) < 1:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            with Elapsed() as took, pytest.raises(WaitTimeout):
                await client.wait("tsk_1", timeout=1, interval=0.05)
            await other
        return took.seconds

    with HostileServer(held_back_once) as server:
        assert asyncio.run(main()) < 3
        assert len(server.requests) == 2  # the wait sent nothing while held back


# -- Retry-After ---------------------------------------------------------------------------


def test_retry_after_headers() -> None:
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after-ms": "nan", "retry-after": "2"}) == 2.0
    assert retry_after({"retry-after-ms": "-5"}) == 0.0
    assert retry_after({"retry-after": "inf"}) is None
    assert retry_after({}) is None
    assert backoff_delay(0, 5.0) == 5.0
    assert backoff_delay(0, 3600.0) <= 0.5  # more than the cap: the client's own backoff


@pytest.mark.parametrize(
    "headers", [{"retry-after-ms": "100"}, {"Retry-After": "3600"}], ids=["ms", "over-cap"]
)
def test_retry_after_is_honoured_or_replaced_by_backoff(headers: dict[str, str]) -> None:
    def busy_then_ok(exchange: Exchange) -> bool:
        if exchange.index == 0:
            exchange.send(http_response(429, b"{}", {**JSON, **headers}))
            return True
        return ok_run(exchange)

    with HostileServer(busy_then_ok) as server, Elapsed() as took:
        assert runnorm.get("skyvern", "tsk_1", **sky(server, max_retries=1)).id == "tsk_1"
    assert len(server.requests) == 2
    assert took.seconds < 3


# -- memory: compression bombs -------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, gzip", "x-gzip"])
def test_compression_bomb_is_cut_at_the_cap(encoding: str) -> None:
    payload = bomb(encoding)

    def send_bomb(exchange: Exchange) -> bool:
        exchange.send(http_response(200, payload, {**JSON, "Content-Encoding": encoding}))
        return True

    with HostileServer(send_bomb) as server:
        tracemalloc.start()
        try:
            with pytest.raises(TransportError) as info:
                runnorm.get("skyvern", "tsk_1", **sky(server, max_response_bytes=1024 * 1024))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert info.value.kind == "too_large"
    assert peak < 4 * 1024 * 1024  # the cap (1 MiB), a piece per coding, and small change


def test_compression_bomb_async() -> None:
    payload = bomb("gzip, gzip")

    def send_bomb(exchange: Exchange) -> bool:
        exchange.send(http_response(200, payload, {**JSON, "Content-Encoding": "gzip, gzip"}))
        return True

    async def main() -> None:
        with pytest.raises(TransportError) as info:
            await runnorm.aget("skyvern", "tsk_1", **sky(server))
        assert info.value.kind == "too_large"

    with HostileServer(send_bomb) as server:
        asyncio.run(main())


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some send it
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
        ("identity", lambda data: data),
        ("br", lambda data: data),  # not decoded: passed through, like httpx without brotli
    ],
)
def test_encoded_replies_decode(encoding: str, encode: Any) -> None:
    body = encode(json.dumps(RUN).encode())

    def send(exchange: Exchange) -> bool:
        exchange.send(http_response(200, body, {**JSON, "Content-Encoding": encoding}))
        return True

    with HostileServer(send) as server:
        assert runnorm.get("skyvern", "tsk_1", **sky(server)).id == "tsk_1"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, gzip, gzip, gzip, gzip"])
def test_undecodable_body_is_a_transport_error(encoding: str) -> None:
    def send(exchange: Exchange) -> bool:
        exchange.send(http_response(200, b"not compressed", {"Content-Encoding": encoding}))
        return True

    with HostileServer(send) as server, pytest.raises(TransportError) as info:
        runnorm.get("skyvern", "tsk_1", **sky(server))
    assert "decoded" in str(info.value)


# -- deep JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [500, 1000, 10_000])
@pytest.mark.parametrize("status", [200, 404, 500])
def test_deep_json_in_rest_bodies(depth: int, status: int) -> None:
    def send(exchange: Exchange) -> bool:
        exchange.send(http_response(status, deep(depth), JSON))
        return True

    with HostileServer(send) as server:
        try:
            run = runnorm.get("skyvern", "tsk_1", **sky(server))
        except (PayloadError, APIError):
            return
    assert status == 200 and run.id == "tsk_1"  # shallow enough to keep


def test_deep_json_in_get_many_is_one_error_among_the_results() -> None:
    def send(exchange: Exchange) -> bool:
        run_id = exchange.request.line.split()[1].rsplit("/", 1)[1]
        body = deep(10_000) if run_id == "tsk_bad" else json.dumps({**RUN, "run_id": run_id})
        exchange.send(http_response(200, body if isinstance(body, bytes) else body.encode(), JSON))
        return True

    ids = [f"tsk_{n}" for n in range(40)] + ["tsk_bad"] + [f"tsk_x{n}" for n in range(40)]
    with HostileServer(send) as server:
        results = runnorm.get_many("skyvern", ids, concurrency=8, **sky(server))
    assert isinstance(results[40], PayloadError)
    assert all(isinstance(r, runnorm.Run) for i, r in enumerate(results) if i != 40)


# -- hostile redirects and headers ----------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://[::1",
        "http://exa mple.com/",
        "http://999.1.1.1/",
        "//",
        "http://host:99999/",
    ],
)
def test_hostile_redirect_is_a_transport_error(location: str) -> None:
    def redirect(exchange: Exchange) -> bool:
        exchange.send(http_response(302, raw_headers=f"Location: {location}\r\n".encode()))
        return True

    with HostileServer(redirect) as server, pytest.raises(TransportError) as info:
        runnorm.get("skyvern", "tsk_1", **sky(server, max_retries=2))
    assert info.value.kind == "request"  # never retried
    if location == "//":  # the same URL again: a loop, cut after a few hops
        assert len(server.lines()) <= 6
    else:  # never followed
        assert server.lines() == ["GET /v1/runs/tsk_1 HTTP/1.1"]


def test_latin1_location_is_a_transport_error() -> None:
    def redirect(exchange: Exchange) -> bool:
        exchange.send(http_response(302, raw_headers=b"Location: /caf\xe9/\xff\r\n"))
        return True

    with HostileServer(redirect) as server, contextlib.suppress(RunnormError):
        runnorm.get("skyvern", "tsk_1", **sky(server))


# -- bad option values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"timeout": float("inf")},
        {"timeout": float("nan")},
        {"timeout": -1},
        {"timeout": 0},
        {"timeout": "1"},
        {"timeout": True},
        {"max_retries": float("inf")},
        {"max_retries": float("nan")},
        {"max_retries": -1},
        {"max_retries": 2.5},
        {"max_retries": 10**9},
        {"max_retries": "2"},
        {"max_response_bytes": float("inf")},
        {"max_response_bytes": -5},
        {"headers": {"x-bad name": "v"}},
        {"headers": {"x-ok": "caf\xe9"}},
        {"headers": {"x-ok": "a\x00b"}},
        {"headers": {1: "v"}},
        {"base_url": "http://127.0.0.1:1/\ud800"},
    ],
)
def test_bad_option_values_are_config_errors(bad: dict[str, Any]) -> None:
    with HostileServer(ok_run) as server:
        with pytest.raises(ConfigError):
            runnorm.get("skyvern", "tsk_1", **{**sky(server), **bad})
        with pytest.raises(ConfigError):
            runnorm.Client("skyvern", **{**sky(server), **bad})
    assert server.requests == []


class Woken(Exception):
    """Ends a test's wait at its first sleep."""


def test_a_next_attempt_due_in_the_year_9999_is_slept_for_in_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a huge timeout, and a retry due past the longest sleep the platform takes
    due = {"run_id": "wr_1", "status": "failed", "retry_pending": True}
    due["next_attempt_at"] = "9999-01-01T00:00:00Z"
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        raise Woken

    def handler(exchange: Exchange) -> bool:
        exchange.send(http_response(200, json.dumps(due).encode(), JSON))
        return True

    monkeypatch.setattr(drivers.time, "sleep", sleep)
    with HostileServer(handler) as server, pytest.raises(Woken):
        runnorm.wait("skyvern", "wr_1", timeout=1e12, **sky(server))
    assert asked == [MAX_SOCKET_TIMEOUT]


def test_a_watch_collects_with_a_huge_interval() -> None:
    # the watch waits for its spawned polls with the time to its next one as the timeout
    with HostileServer(ok_run) as server, Elapsed() as took:
        watch = runnorm.watch("skyvern", ["tsk_1"], timeout=1e300, interval=1e300, **sky(server))
        event = next(iter(watch))
        watch.close()
    assert event.run is not None and event.run.id == "tsk_1"
    assert took.seconds < 5


@pytest.mark.parametrize(
    "bad",
    [
        {"timeout": float("inf")},
        {"timeout": None},
        {"timeout": float("nan")},
        {"interval": float("inf")},
        {"interval": 0},
        {"interval": "1"},
        {"request_timeout": float("inf")},
    ],
)
def test_bad_wait_values_are_config_errors(bad: dict[str, Any]) -> None:
    with HostileServer(ok_run) as server, pytest.raises(ConfigError):
        runnorm.wait("skyvern", "tsk_1", **{"interval": 0.05, **sky(server), **bad})


@pytest.mark.parametrize("run_id", ["tsk_\ud800", "\udfff", " "])
def test_unencodable_run_ids_are_config_errors(run_id: str) -> None:
    with HostileServer(ok_run) as server:
        with pytest.raises(ConfigError):
            runnorm.get("skyvern", run_id, **sky(server))
        with pytest.raises(ConfigError):
            runnorm.get("bridgetown", run_id, **bt(server))
    assert server.requests == []


# -- MCP: SSE streams, ids, sessions ---------------------------------------------------------


def sse_then_hold(*messages: Any) -> Any:
    def reply(exchange: Exchange, message_id: int) -> None:
        exchange.send(sse_head())
        for message in messages:
            exchange.send(sse_event(message(message_id) if callable(message) else message))
        exchange.hold()

    return reply


def result_for(message_id: int) -> dict[str, Any]:
    return run_result(BT_RUN, message_id)


def test_mcp_reply_on_an_sse_stream_left_open_returns_at_once() -> None:
    handler = mcp_handler(sse_then_hold({"jsonrpc": "2.0", "method": "notice"}, result_for))
    with HostileServer(handler) as server, Elapsed() as took:
        assert runnorm.get("bridgetown", BT_ID, timeout=5, **bt(server)).id == BT_ID
    assert took.seconds < 4


def test_mcp_reply_on_an_sse_stream_left_open_async() -> None:
    async def main() -> None:
        assert (await runnorm.aget("bridgetown", BT_ID, timeout=5, **bt(server))).id == BT_ID

    with HostileServer(mcp_handler(sse_then_hold(result_for))) as server, Elapsed() as took:
        asyncio.run(main())
    assert took.seconds < 4


def test_mcp_sse_stream_that_never_answers_ends_at_the_deadline() -> None:
    handler = mcp_handler(sse_then_hold({"jsonrpc": "2.0", "method": "notice"}))
    with HostileServer(handler) as server, Elapsed() as took, pytest.raises(TransportError) as info:
        runnorm.get("bridgetown", BT_ID, timeout=1, **bt(server))
    assert info.value.kind == "timeout"
    assert took.seconds < 3


def test_server_request_that_reuses_our_id_is_not_our_reply() -> None:
    def ping(message_id: int) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": message_id, "method": "ping"}

    def fake(message_id: int) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": True, "result": {}}  # True == 1, but not our id

    with HostileServer(mcp_handler(sse_then_hold(ping, fake, result_for))) as server:
        assert runnorm.get("bridgetown", BT_ID, **bt(server)).id == BT_ID


def dropped_then(then: Any) -> Any:
    calls = {"n": 0}

    def reply(exchange: Exchange, message_id: int) -> bool | None:
        calls["n"] += 1
        if calls["n"] == 1:
            exchange.send(sse_head() + sse_event({"jsonrpc": "2.0", "method": "notice"}))
            return None  # the stream ends without our response
        return then(exchange, message_id)

    return reply


def json_result(exchange: Exchange, message_id: int) -> bool:
    body = json.dumps(result_for(message_id)).encode()
    exchange.send(http_response(200, body, JSON))
    return True


def initializes(server: HostileServer) -> int:
    return sum(b'"initialize"' in r.body for r in server.requests)


def test_dropped_sse_stream_reinitializes_and_retries_a_read_tool_once() -> None:
    with HostileServer(mcp_handler(dropped_then(json_result))) as server:
        assert runnorm.get("bridgetown", BT_ID, **bt(server)).id == BT_ID
    assert initializes(server) == 2


def test_session_lost_twice_is_a_transport_error_not_not_found() -> None:
    def always_dropped(exchange: Exchange, message_id: int) -> None:
        exchange.send(sse_head())

    with (
        HostileServer(mcp_handler(always_dropped)) as server,
        pytest.raises(TransportError) as info,
    ):
        runnorm.get("bridgetown", BT_ID, **bt(server))
    assert not isinstance(info.value, NotFoundError)
    assert initializes(server) == 2


def test_session_404_twice_is_a_transport_error_not_not_found() -> None:
    def gone(exchange: Exchange, message_id: int) -> bool:
        exchange.send(http_response(404, b'{"error": "session not found"}', JSON))
        return True

    with HostileServer(mcp_handler(gone)) as server, pytest.raises(TransportError) as info:
        runnorm.get("bridgetown", BT_ID, **bt(server))
    assert not isinstance(info.value, NotFoundError)


def test_dropped_stream_never_resends_a_state_changing_tool() -> None:
    with HostileServer(mcp_handler(dropped_then(json_result))) as server:
        options = resolve_options(resolve_provider("bridgetown"), bt(server, max_retries=2))
        sender = SyncSender()
        flow = mcp_call_tool(options, McpState(), "cancel_run", {"run_id": BT_ID})
        with pytest.raises(PayloadError, match="not sent twice"):
            drive_sync(flow, sender, Gate())
        sender.close()
    assert sum(b'"cancel_run"' in r.body for r in server.requests) == 1


def test_read_error_never_resends_a_state_changing_tool() -> None:
    def reset(exchange: Exchange, message_id: int) -> None:
        exchange.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")

    with HostileServer(mcp_handler(reset)) as server:
        options = resolve_options(resolve_provider("bridgetown"), bt(server, max_retries=2))
        sender = SyncSender()
        flow = mcp_call_tool(options, McpState(), "cancel_run", {"run_id": BT_ID})
        with pytest.raises(TransportError):
            drive_sync(flow, sender, Gate())
        sender.close()
    assert sum(b'"cancel_run"' in r.body for r in server.requests) == 1


def test_latin1_session_id_is_a_payload_error() -> None:
    def handle(exchange: Exchange) -> bool:
        body = json.dumps({"jsonrpc": "2.0", "id": exchange.request.json["id"], "result": {}})
        exchange.send(
            http_response(200, body.encode(), JSON, raw_headers=b"Mcp-Session-Id: caf\xe9\r\n")
        )
        return True

    with HostileServer(handle) as server, pytest.raises(PayloadError, match="Mcp-Session-Id"):
        runnorm.get("bridgetown", BT_ID, **bt(server))


@pytest.mark.parametrize("version", ["2025\r\nX: y", "caf\u00e9", 12, ""])
def test_odd_protocol_version_is_a_payload_error(version: Any) -> None:
    def handle(exchange: Exchange) -> bool:
        result = {"protocolVersion": version, "capabilities": {}}
        body = json.dumps({"jsonrpc": "2.0", "id": exchange.request.json["id"], "result": result})
        exchange.send(http_response(200, body.encode(), JSON))
        return True

    with HostileServer(handle) as server, pytest.raises(PayloadError):
        runnorm.get("bridgetown", BT_ID, **bt(server))


@pytest.mark.parametrize("where", ["sse", "text", "json"])
@pytest.mark.parametrize("depth", [1000, 10_000])
def test_deep_json_over_mcp_is_a_payload_error(where: str, depth: int) -> None:
    nested = "[" * depth + "]" * depth

    def reply(exchange: Exchange, message_id: int) -> bool:
        if where == "text":
            text = '{"run_id": "' + BT_ID + '", "status": "running", "x": ' + nested + "}"
            result = {"content": [{"type": "text", "text": text}], "isError": False}
            body = json.dumps({"jsonrpc": "2.0", "id": message_id, "result": result}).encode()
        else:
            body = b'{"jsonrpc": "2.0", "id": %d, "result": %s}' % (message_id, nested.encode())
        if where == "sse":
            exchange.send(sse_head() + b"data: " + body + b"\n\n")
            return False
        exchange.send(http_response(200, body, JSON))
        return True

    with HostileServer(mcp_handler(reply)) as server:
        try:
            run = runnorm.get("bridgetown", BT_ID, **bt(server))
        except PayloadError:
            return
    assert (where, depth) == ("text", 1000) and run.id == BT_ID  # within orjson's limit


def tool_error(error: str, message: str) -> Any:
    def reply(exchange: Exchange, message_id: int) -> bool:
        body = {"error": error, "message": message, "hint": "h"}
        result = {"content": [{"type": "text", "text": json.dumps(body)}], "isError": True}
        data = json.dumps({"jsonrpc": "2.0", "id": message_id, "result": result}).encode()
        exchange.send(http_response(200, data, JSON))
        return True

    return reply


def test_not_found_is_classified_by_the_tool_error_code() -> None:
    with (
        HostileServer(mcp_handler(tool_error("not_found", "gone"))) as server,
        pytest.raises(ToolNotFoundError),
    ):
        runnorm.get("bridgetown", BT_ID, **bt(server))
    with (
        HostileServer(mcp_handler(tool_error("sandbox_unavailable", "run not found"))) as s2,
        pytest.raises(ToolError) as info,
    ):
        runnorm.get("bridgetown", BT_ID, **bt(s2))
    assert not isinstance(info.value, NotFoundError)


# -- the SSE parser -------------------------------------------------------------------------


def test_sse_lines_end_at_cr_lf_and_crlf_only() -> None:
    body = (
        'data: {"a": "x\u2028y\u2029z\x85w\x0cv"}\r\n\r\n'
        "data: cr\r\rdata: lf\n\n: comment\ndata: one\ndata: two\n\ndata: tail"
    ).encode()
    expected = ['{"a": "x\u2028y\u2029z\x85w\x0cv"}', "cr", "lf", "one\ntwo", "tail"]
    assert iter_sse_data(body) == expected
    parser = SseParser()
    events = []
    for index in range(len(body)):  # one byte at a time: CRLF and UTF-8 split across chunks
        events += parser.feed(body[index : index + 1])
    assert events + parser.close() == expected
    assert iter_sse_data(b"\xef\xbb\xbfdata: bom\n\n") == ["bom"]


# -- drip everything, sync and async, timeouts from options ---------------------------------


def test_get_many_with_dripping_server_returns_per_id_errors_in_time() -> None:
    with HostileServer(drip_headers) as server, Elapsed() as took:
        results = runnorm.get_many("skyvern", ["a", "b", "c"], timeout=1, **sky(server))
    assert all(isinstance(r, TransportError) for r in results)
    assert took.seconds < 4


def test_notification_answered_with_an_open_stream_does_not_wait() -> None:
    def handle(exchange: Exchange) -> bool | None:
        message = exchange.request.json
        if "id" not in message:  # notifications/initialized: an SSE stream left open
            exchange.send(sse_head())
            exchange.hold()
            return None
        return mcp_handler(json_result)(exchange)

    with HostileServer(handle) as server, Elapsed() as took:
        assert runnorm.get("bridgetown", BT_ID, timeout=5, **bt(server)).id == BT_ID
    assert took.seconds < 4


def test_sse_events_of_another_type_are_skipped() -> None:
    body = b"event: ping\ndata: ping\n\nevent: message\ndata: one\n\ndata: two\n\n"
    assert iter_sse_data(body) == ["one", "two"]  # an event without a type is a message


def test_mcp_keep_alive_event_before_the_reply_is_not_a_payload_error() -> None:
    def reply(exchange: Exchange, message_id: int) -> None:
        exchange.send(sse_head() + b"event: ping\ndata: keep-alive\n\n: comment\n\n")
        exchange.send(sse_event(result_for(message_id)))
        exchange.hold()

    with HostileServer(mcp_handler(reply)) as server:
        assert runnorm.get("bridgetown", BT_ID, timeout=5, **bt(server)).id == BT_ID


def json_reply(make: Any) -> Any:
    def reply(exchange: Exchange, message_id: int) -> bool:
        exchange.send(http_response(200, json.dumps(make(message_id)).encode(), JSON))
        return True

    return reply


def test_mcp_result_with_a_null_error_is_the_result() -> None:
    def make(message_id: int) -> dict[str, Any]:
        return {**result_for(message_id), "error": None}  # JSON-RPC 1.0 habit

    with HostileServer(mcp_handler(json_reply(make))) as server:
        assert runnorm.get("bridgetown", BT_ID, **bt(server)).id == BT_ID


def test_mcp_jsonrpc_error_with_a_huge_message_is_shortened() -> None:
    def make(message_id: int) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": message_id, "error": {"code": 1, "message": "x" * 10**5}}

    with HostileServer(mcp_handler(json_reply(make))) as server, pytest.raises(APIError) as info:
        runnorm.get("bridgetown", BT_ID, **bt(server))
    assert len(str(info.value)) < 1000
    assert info.value.body["message"] == "x" * 10**5  # the body keeps it whole

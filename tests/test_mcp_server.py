"""The loopback Bridge Town MCP server, checked with the official SDK client and with raw HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import httpx
import httpx2
import mcp_server
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

SAMPLES = mcp_server.load_get_run_samples()
DOCS_EXAMPLE = SAMPLES["66666666-6666-6666-6666-666666666666"]
NULL_HEAVY = SAMPLES["898d6597-3357-40eb-86ec-780945b45fd4"]
PENDING = SAMPLES["f60e529d-aeab-46a8-b7b8-e518837728dd"]
ACCEPT = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def shared_servers() -> Iterator[dict[bool, mcp_server.BridgeTownServer]]:
    with (
        mcp_server.running_bridgetown_server(json_response=False) as sse,
        mcp_server.running_bridgetown_server(json_response=True) as json_mode,
    ):
        yield {False: sse, True: json_mode}


@pytest.fixture(params=[False, True], ids=["sse", "json"])
def server(
    request: pytest.FixtureRequest, shared_servers: dict[bool, mcp_server.BridgeTownServer]
) -> mcp_server.BridgeTownServer:
    """A running server (SSE replies, then JSON replies), fresh samples and no recorded requests."""
    running = shared_servers[request.param]
    running.reset(mcp_server.load_get_run_samples())
    return running


@pytest.fixture
def sse_server(
    shared_servers: dict[bool, mcp_server.BridgeTownServer],
) -> mcp_server.BridgeTownServer:
    running = shared_servers[False]
    running.reset(mcp_server.load_get_run_samples())
    return running


def run_with_client(
    server: mcp_server.BridgeTownServer,
    body: Callable[[Client], Awaitable[Any]],
    *,
    mode: str = "legacy",
) -> Any:
    """Connect the SDK's own client (Streamable HTTP, bearer token) and run ``body`` with it."""

    async def main() -> Any:
        headers = {"Authorization": f"Bearer {server.token}"}
        with anyio.fail_after(10):
            async with (
                httpx2.AsyncClient(headers=headers, timeout=5, verify=False) as http,
                Client(streamable_http_client(server.url, http_client=http), mode=mode) as client,
            ):
                return await body(client)

    return anyio.run(main)


def only_text(result: CallToolResult) -> str:
    assert len(result.content) == 1
    item = result.content[0]
    assert isinstance(item, TextContent)
    return item.text


def rpc(method: str, params: dict[str, Any] | None = None, id_: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if id_ is not None:
        message["id"] = id_
    return message


INITIALIZE = rpc(
    "initialize",
    {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "0"},
    },
)


def reply_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message in a reply, whether it came as JSON or as one SSE ``message`` event."""
    if response.headers["content-type"].startswith("text/event-stream"):
        events = [block for block in response.text.split("\r\n\r\n") if block.strip()]
        assert len(events) == 1, events
        lines = events[0].split("\r\n")
        assert lines[0] == "event: message"
        assert lines[1].startswith("data: ")
        return json.loads(lines[1].removeprefix("data: "))
    return response.json()


def test_sdk_client_get_run_results(server: mcp_server.BridgeTownServer) -> None:
    async def body(client: Client) -> dict[str, CallToolResult]:
        assert client.protocol_version == LATEST_HANDSHAKE_VERSION
        calls = {
            "docs": DOCS_EXAMPLE["run_id"],
            "nulls": NULL_HEAVY["run_id"],
            "text": "text-" + DOCS_EXAMPLE["run_id"],
            "prefix": "f60e529d-aeab",
            "unknown": "00000000-dead-beef-0000-000000000000",
            "boom": "boom",
        }
        return {
            key: await client.call_tool("get_run", {"run_id": rid}) for key, rid in calls.items()
        }

    results = run_with_client(server, body)

    for key, sample in [("docs", DOCS_EXAMPLE), ("nulls", NULL_HEAVY), ("prefix", PENDING)]:
        result = results[key]
        assert result.is_error is False
        assert result.structured_content == sample  # the dict itself, not {"result": ...}
        assert json.loads(only_text(result)) == sample

    assert results["text"].is_error is False
    assert results["text"].structured_content is None
    assert json.loads(only_text(results["text"])) == DOCS_EXAMPLE

    assert results["unknown"].is_error is True
    assert results["unknown"].structured_content is None
    assert json.loads(only_text(results["unknown"])) == {
        "error": "not_found",
        "message": "Run 00000000-dead-beef-0000-000000000000 not found",
        "hint": "Use list_runs to see recent runs.",
    }
    assert results["boom"].is_error is True
    assert json.loads(only_text(results["boom"])) == {
        "error": "sandbox_unavailable",
        "message": "Sandbox pool exhausted",
        "hint": "Retry in a minute.",
    }

    posts = [entry for entry in server.requests if entry["method"] == "POST"]
    assert [entry["jsonrpc_method"] for entry in posts[:2]] == [
        "initialize",
        "notifications/initialized",
    ]
    assert all(entry["headers"]["authorization"] == "Bearer btk_test_token" for entry in posts)
    assert all(entry["path"] == "/mcp" for entry in server.requests)
    session_id = posts[1]["headers"]["mcp-session-id"]
    assert "mcp-session-id" not in posts[0]["headers"]
    calls = [entry for entry in posts if entry["jsonrpc_method"] == "tools/call"]
    assert len(calls) == 6
    assert calls[0]["body"]["params"] == {
        "name": "get_run",
        "arguments": {"run_id": DOCS_EXAMPLE["run_id"]},
    }
    expected_type = "application/json" if server.json_response else "text/event-stream"
    for entry in calls:
        assert entry["headers"]["mcp-session-id"] == session_id
        assert entry["headers"]["mcp-protocol-version"] == LATEST_HANDSHAKE_VERSION
        assert entry["status"] == 200
        assert entry["content_type"].startswith(expected_type)


def test_queued_statuses_and_mutated_runs(server: mcp_server.BridgeTownServer) -> None:
    server.reset({PENDING["run_id"]: dict(PENDING)})
    steps = [{**PENDING, "status": status} for status in ("pending", "running", "success")]
    server.queue_statuses("aaaa-1", steps)

    async def body(client: Client) -> list[Any]:
        seen = []
        for _ in range(4):
            result = await client.call_tool("get_run", {"run_id": "aaaa-1"})
            seen.append(result.structured_content["status"])
        seen.append((await client.call_tool("get_run", {"run_id": "text-aaaa"})).content)
        server.runs[PENDING["run_id"]] = {**PENDING, "status": "cancelled"}
        result = await client.call_tool("get_run", {"run_id": PENDING["run_id"]})
        seen.append(result.structured_content["status"])
        return seen

    seen = run_with_client(server, body)
    assert seen[:4] == ["pending", "running", "success", "success"]
    assert json.loads(seen[4][0].text)["status"] == "success"  # prefix + text-, queue still ends
    assert seen[5] == "cancelled"


def test_auto_mode_client_and_handshake_only_servers() -> None:
    async def body(client: Client) -> tuple[str, Any]:
        result = await client.call_tool("get_run", {"run_id": DOCS_EXAMPLE["run_id"]})
        return client.protocol_version, result.structured_content

    with mcp_server.running_bridgetown_server() as modern:
        version, structured = run_with_client(modern, body, mode="auto")
    # An mcp 2.x server answers the stateless 2026-07-28 envelope: no initialize, no session.
    assert version == "2026-07-28"
    assert structured == DOCS_EXAMPLE
    assert modern.requests[0]["jsonrpc_method"] == "server/discover"
    assert not any("mcp-session-id" in entry["headers"] for entry in modern.requests)

    with mcp_server.running_bridgetown_server(handshake_only=True) as legacy:
        version, structured = run_with_client(legacy, body, mode="auto")
    assert version in HANDSHAKE_PROTOCOL_VERSIONS
    assert structured == DOCS_EXAMPLE
    methods = [(entry["jsonrpc_method"], entry["status"]) for entry in legacy.requests]
    assert methods[:3] == [
        ("server/discover", 400),
        ("initialize", 200),
        ("notifications/initialized", 202),
    ]


def test_raw_http_wire_format(server: mcp_server.BridgeTownServer) -> None:
    with httpx.Client(timeout=5, verify=False) as http:
        headers = {"Authorization": f"Bearer {server.token}", "Accept": ACCEPT}
        init = http.post(server.url, headers=headers, json=INITIALIZE)
        assert init.status_code == 200
        assert reply_of(init)["result"]["protocolVersion"] == "2025-06-18"
        session = {**headers, "Mcp-Session-Id": init.headers["mcp-session-id"]}
        session["MCP-Protocol-Version"] = "2025-06-18"
        note = http.post(
            server.url, headers=session, json=rpc("notifications/initialized", id_=None)
        )
        assert (note.status_code, note.content) == (202, b"")

        call = rpc("tools/call", {"name": "get_run", "arguments": {"run_id": "nope"}}, id_=2)
        reply = http.post(server.url, headers=session, json=call)
        assert reply.status_code == 200
        expected = "application/json" if server.json_response else "text/event-stream"
        assert reply.headers["content-type"].startswith(expected)
        message = reply_of(reply)
        assert message["id"] == 2
        assert message["result"]["isError"] is True
        assert "structuredContent" not in message["result"]
        assert json.loads(message["result"]["content"][0]["text"])["error"] == "not_found"


def test_raw_http_wrong_token_gets_401(sse_server: mcp_server.BridgeTownServer) -> None:
    server = sse_server
    with httpx.Client(timeout=5, verify=False) as http:
        for authorization in [None, "Bearer btk_wrong", f"bearer {server.token}", server.token]:
            headers = {"Accept": ACCEPT}
            if authorization is not None:
                headers["Authorization"] = authorization
            response = http.post(server.url, headers=headers, json=INITIALIZE)
            assert response.status_code == 401
            assert response.json() == {
                "error": "unauthorized",
                "message": "Invalid or missing API token",
            }
        assert [entry["status"] for entry in server.requests] == [401] * 4
        assert server.requests[1]["headers"]["authorization"] == "Bearer btk_wrong"
        assert server.requests[1]["jsonrpc_method"] == "initialize"
        assert server.session_ids == []


def test_raw_http_expired_session_gets_404(sse_server: mcp_server.BridgeTownServer) -> None:
    server = sse_server
    with httpx.Client(timeout=5, verify=False) as http:
        headers = {"Authorization": f"Bearer {server.token}", "Accept": ACCEPT}
        init = http.post(server.url, headers=headers, json=INITIALIZE)
        old = {**headers, "Mcp-Session-Id": init.headers["mcp-session-id"]}
        assert http.post(server.url, headers=old, json=rpc("tools/list")).status_code == 200
        assert server.session_ids == [init.headers["mcp-session-id"]]

        server.expire_sessions()

        assert server.session_ids == []
        gone = http.post(server.url, headers=old, json=rpc("tools/list", id_=3))
        assert gone.status_code == 404
        assert gone.json() == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32600, "message": "Session not found"},
        }
        again = http.post(server.url, headers=headers, json=INITIALIZE)
        assert again.status_code == 200
        assert again.headers["mcp-session-id"] != init.headers["mcp-session-id"]


def test_servers_run_side_by_side_and_stop_cleanly() -> None:
    first = mcp_server.start_bridgetown_server(token="btk_one")
    second = mcp_server.start_bridgetown_server({}, token="btk_two", json_response=True)
    try:
        assert first.url != second.url
        assert first.url.startswith("http://127.0.0.1:")
        assert first.url.endswith("/mcp")
        with httpx.Client(timeout=5, verify=False) as http:
            for server in (first, second):
                headers = {"Authorization": f"Bearer {server.token}", "Accept": ACCEPT}
                assert http.post(server.url, headers=headers, json=INITIALIZE).status_code == 200
    finally:
        first.stop()
        second.stop()
    names = {f"bridgetown-mcp-{httpx.URL(server.url).port}" for server in (first, second)}
    assert not names & {thread.name for thread in threading.enumerate()}
    with pytest.raises(httpx.ConnectError):
        httpx.post(first.url, json=INITIALIZE, timeout=1, verify=False)
    first.stop()  # idempotent

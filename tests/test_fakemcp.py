"""``runnorm.testing.FakeMcpServer`` answers as the official SDK's server does.

Bridge Town through the stand-in and through ``tests/mcp_server.py`` (built with the ``mcp``
SDK) gives the same runs and the same errors; the SDK's own client works against the
stand-in; and the stand-in's HTTP answers follow the Streamable HTTP transport.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_server import BridgeTownServer, load_get_run_samples, running_bridgetown_server

import runnorm
from runnorm import AuthError, RunnormError, ToolError, ToolNotFoundError
from runnorm.testing import FakeMcpServer, Reply, ToolFailure

SAMPLES = load_get_run_samples()
DOCS_ID = "66666666-6666-6666-6666-666666666666"
TOKEN = "btk_test_token"
BEARER = ("Authorization", f"Bearer {TOKEN}")
ACCEPT = "application/json, text/event-stream"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "0"},
    },
}


@pytest.fixture(scope="module", params=["sse", "json"])
def real(request: pytest.FixtureRequest) -> Iterator[BridgeTownServer]:
    """The SDK-built server, replying with SSE streams, then with JSON."""
    with running_bridgetown_server(json_response=request.param == "json") as server:
        yield server


@pytest.fixture(params=["sse", "json"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeMcpServer]:
    """The stand-in holding the same samples, replying with SSE streams, then with JSON."""
    with FakeMcpServer(auth=BEARER, sse=request.param == "sse") as server:
        server.tools["get_run"] = dict(SAMPLES)
        yield server


def outcome(call: Callable[[], runnorm.Run]) -> Any:
    """What a fetch gives: the run, or the error's type, words and message."""
    try:
        return call()
    except RunnormError as exc:
        words = (getattr(exc, "error", None), getattr(exc, "hint", None))
        return type(exc).__name__, words, getattr(exc, "status_code", None), str(exc)


def fetch_all(url: str, token: str) -> list[Any]:
    """Every sample, a missing run, and a wrong token, through one client."""
    with runnorm.Client("bridgetown", base_url=url, api_key=token, max_retries=0) as client:
        found = [outcome(lambda run_id=run_id: client.get(run_id)) for run_id in SAMPLES]
        found.append(outcome(lambda: client.get("00000000-dead-beef-0000-000000000000")))
    found.append(outcome(lambda: runnorm.get("bridgetown", DOCS_ID, base_url=url, api_key="no")))
    return found


def test_runnorm_gets_the_same_runs_and_errors_from_both_servers(
    real: BridgeTownServer, fake: FakeMcpServer
) -> None:
    real.reset(dict(SAMPLES))
    from_real = fetch_all(real.url, real.token)
    from_fake = fetch_all(fake.url, TOKEN)
    assert from_fake == from_real
    assert from_fake[: len(SAMPLES)] == [runnorm.normalize(p) for p in SAMPLES.values()]
    missing, refused = from_fake[-2:]
    assert missing[:2] == ("ToolNotFoundError", ("not_found", "Use list_runs to see recent runs."))
    assert refused[0] == "AuthError" and refused[2] == 401
    # The same conversation: one handshake, then one call per run.
    real_methods = [e["jsonrpc_method"] for e in real.requests if e["method"] == "POST"]
    assert fake.rpc_methods() == real_methods
    assert fake.rpc_methods()[:3] == ["initialize", "notifications/initialized", "tools/call"]


def test_both_servers_end_sessions_alike(real: BridgeTownServer, fake: FakeMcpServer) -> None:
    real.reset(dict(SAMPLES))
    seen = []
    for server_url, expire, methods in (
        (real.url, real.expire_sessions, lambda: [e["jsonrpc_method"] for e in real.requests]),
        (fake.url, fake.expire_sessions, fake.rpc_methods),
    ):
        with runnorm.Client("bridgetown", base_url=server_url, api_key=TOKEN) as client:
            first = client.get(DOCS_ID)
            expire()  # the next call's session id gets a 404: the client starts a new one
            second = client.get(DOCS_ID)
        seen.append((first, second, [m for m in methods() if m is not None]))
    assert seen[0] == seen[1]
    assert seen[1][2].count("initialize") == 2


def run_sdk_client(url: str, body: Callable[[Client], Any], *, mode: str = "legacy") -> Any:
    async def main() -> Any:
        with anyio.fail_after(10):
            async with (
                httpx2.AsyncClient(headers={BEARER[0]: BEARER[1]}, timeout=5) as http,
                Client(streamable_http_client(url, http_client=http), mode=mode) as client,
            ):
                return await body(client)

    return anyio.run(main)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_the_sdk_client_talks_to_the_stand_in(fake: FakeMcpServer, mode: str) -> None:
    fake.tools["boom"] = lambda arguments: ToolFailure("sandbox_unavailable", "Sandbox pool")

    async def body(client: Client) -> Any:
        tools = await client.list_tools()
        found = await client.call_tool("get_run", {"run_id": DOCS_ID})
        missing = await client.call_tool("get_run", {"run_id": "nope"})
        boom = await client.call_tool("boom", {})
        return client.protocol_version, [t.name for t in tools.tools], found, missing, boom

    version, names, found, missing, boom = run_sdk_client(fake.url, body, mode=mode)
    assert version == "2025-11-25"  # the SDK's latest handshake version, which it negotiates
    assert names == ["get_run", "boom"]
    assert found.is_error is False and found.structured_content == SAMPLES[DOCS_ID]
    assert json.loads(found.content[0].text) == SAMPLES[DOCS_ID]
    assert missing.is_error is True
    assert missing.structured_content == {
        "error": "not_found",
        "message": "Run nope not found",
        "hint": "Use list_runs to see recent runs.",
    }
    assert boom.is_error is True and boom.structured_content["error"] == "sandbox_unavailable"
    if mode == "auto":  # the stateless 2026 envelope is refused, as a handshake server does
        assert fake.rpc_methods()[:2] == ["server/discover", "initialize"]
        assert fake.requests[0].headers["mcp-protocol-version"] not in ("2025-11-25", None)


def test_tool_handlers_failures_and_text_only_results() -> None:
    with FakeMcpServer(structured=False) as server:
        server.tools["get_run"] = lambda arguments: SAMPLES[arguments["run_id"]]
        server.tools["broken"] = lambda arguments: 1 / 0
        server.tools["listing"] = lambda arguments: [1, 2]
        with runnorm.Client("bridgetown", base_url=server.url, api_key="any") as client:
            assert client.get(DOCS_ID) == runnorm.normalize(SAMPLES[DOCS_ID])  # text parsed
        assert server.tool_calls("get_run") == [{"run_id": DOCS_ID}]
        with FakeMcpServer() as structured:
            structured.tools["listing"] = server.tools["listing"]
            structured.tools["broken"] = server.tools["broken"]
            with httpx.Client(timeout=5) as http:
                session = handshake(http, structured.url)
                listing = call(http, structured.url, session, "listing", {})
                broken = call(http, structured.url, session, "broken", {})
                unknown = call(http, structured.url, session, "nope", {})
    assert listing["structuredContent"] == {"result": [1, 2]}  # wrapped, as the SDK does
    assert json.loads(listing["content"][0]["text"]) == [1, 2]
    assert broken["isError"] is True and "ZeroDivisionError" in broken["content"][0]["text"]
    assert unknown["isError"] is True and unknown["structuredContent"]["error"] == "unknown_tool"


def handshake(http: httpx.Client, url: str, headers: dict[str, str] | None = None) -> str:
    sent = {"accept": ACCEPT, **(headers or {})}
    reply = http.post(url, json=INITIALIZE, headers=sent)
    assert reply.status_code == 200, reply.text
    session = reply.headers["mcp-session-id"]
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    done = http.post(url, json=note, headers={**sent, "mcp-session-id": session})
    assert (done.status_code, done.content) == (202, b"")
    return session


def call(
    http: httpx.Client, url: str, session: str, tool: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    message = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    reply = http.post(url, json=message, headers={"accept": ACCEPT, "mcp-session-id": session})
    assert reply.status_code == 200 and reply.json()["id"] == 7
    result: dict[str, Any] = reply.json()["result"]
    return result


def test_http_answers_follow_the_transport() -> None:
    with FakeMcpServer(auth=BEARER) as server, httpx.Client(timeout=5) as http:
        url, auth = server.url, {BEARER[0]: BEARER[1]}
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        refused = http.post(url, json=INITIALIZE, headers={"accept": ACCEPT})
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        session = handshake(http, url, auth)
        assert server.sessions == {session: "2025-06-18"}
        ok = {**auth, "accept": ACCEPT, "mcp-session-id": session}
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        assert http.post(url, json=ping, headers=ok).json() == {
            "jsonrpc": "2.0",
            "id": 2,
            "result": {},
        }
        unknown = http.post(url, json={**ping, "method": "resources/list"}, headers=ok)
        assert unknown.json()["error"]["code"] == -32601
        answers = {
            "no session": http.post(url, json=ping, headers={**ok, "mcp-session-id": ""}),
            "old session": http.post(url, json=ping, headers={**ok, "mcp-session-id": "gone"}),
            "bad version": http.post(
                url, json=ping, headers={**ok, "mcp-protocol-version": "2026-07-28"}
            ),
            "json only": http.post(url, json=ping, headers={**ok, "accept": "application/json"}),
            "not json": http.post(url, content=b"{", headers={**ok, "content-type": "text/x"}),
            "junk": http.post(
                url, content=b"{", headers={**ok, "content-type": "application/json"}
            ),
            "batch": http.post(url, json=[ping], headers=ok),
            "stream": http.get(url, headers=ok),
            "elsewhere": http.post(url.removesuffix("/mcp") + "/other", json=ping, headers=ok),
        }
        statuses = {name: reply.status_code for name, reply in answers.items()}
        assert statuses == {
            "no session": 400,
            "old session": 404,
            "bad version": 400,
            "json only": 406,
            "not json": 415,
            "junk": 400,
            "batch": 400,
            "stream": 405,
            "elsewhere": 404,
        }
        assert answers["junk"].json()["error"]["code"] == -32700
        assert http.delete(url, headers=ok).status_code == 200
        assert server.sessions == {}
        assert http.post(url, json=ping, headers=ok).status_code == 404
        new = handshake(http, url, {**auth})
        assert new != session
        server.script(Reply(503, {"detail": "down for a moment"}))
        assert http.post(url, json=ping, headers={**ok, "mcp-session-id": new}).status_code == 503
    assert server.requests[0].headers.get("authorization") is None
    assert server.rpc_methods()[:3] == ["initialize", "initialize", "notifications/initialized"]


def test_sse_replies_are_one_message_event() -> None:
    with FakeMcpServer(sse=True) as server, httpx.Client(timeout=5) as http:
        reply = http.post(server.url, json=INITIALIZE, headers={"accept": ACCEPT})
    assert reply.headers["content-type"] == "text/event-stream"
    event, data, *rest = reply.text.split("\r\n")
    assert event == "event: message" and rest == ["", ""]
    message = json.loads(data.removeprefix("data: "))
    assert message["result"]["protocolVersion"] == "2025-06-18"
    assert message["result"]["capabilities"] == {"tools": {"listChanged": False}}


def test_tool_error_results_map_like_the_sdk_servers() -> None:
    with FakeMcpServer(not_found="no_such_run") as server:
        server.tools["get_run"] = {"boom": ToolFailure("sandbox_unavailable", "Busy", "Retry.")}
        base = {"base_url": server.url, "api_key": "k", "max_retries": 0}
        with pytest.raises(ToolError) as busy:
            runnorm.get("bridgetown", "boom", **base)
        assert not isinstance(busy.value, ToolNotFoundError)
        assert (busy.value.error, busy.value.hint) == ("sandbox_unavailable", "Retry.")
        # Bridge Town declares "not_found" only: another code is a plain ToolError.
        with pytest.raises(ToolError) as other:
            runnorm.get("bridgetown", "missing", **base)
        assert not isinstance(other.value, ToolNotFoundError)
        assert other.value.error == "no_such_run"
    with FakeMcpServer(auth=BEARER) as server, pytest.raises(AuthError):
        runnorm.get("bridgetown", DOCS_ID, base_url=server.url, api_key="wrong", max_retries=0)


def test_the_stand_in_needs_neither_the_sdk_nor_httpx() -> None:
    import subprocess
    import sys

    code = """
import json, sys, urllib.request
sys.modules["mcp"] = sys.modules["httpx"] = sys.modules["pytest"] = None
from runnorm.testing import FakeMcpServer

message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
accept = "application/json, text/event-stream"
with FakeMcpServer() as server:
    request = urllib.request.Request(
        server.url,
        data=json.dumps(message).encode(),
        headers={"content-type": "application/json", "accept": accept},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        session = reply.headers["mcp-session-id"]
        print(json.load(reply)["result"]["protocolVersion"], session in server.sessions)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.split() == ["2025-11-25", "True"], done.stderr

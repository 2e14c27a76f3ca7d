"""Bridge Town over MCP against a server built with the official ``mcp`` SDK, sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from mcp_server import BridgeTownServer, load_get_run_samples, running_bridgetown_server

import runnorm
from runnorm import (
    AuthError,
    NotFoundError,
    RunStatus,
    ToolError,
    ToolNotFoundError,
    WaitTimeout,
)

SAMPLES = load_get_run_samples()
DOCS_ID = "66666666-6666-6666-6666-666666666666"


@pytest.fixture(scope="module", params=["sse", "json"])
def shared_server(request: pytest.FixtureRequest) -> Iterator[BridgeTownServer]:
    with running_bridgetown_server(json_response=request.param == "json") as server:
        yield server


@pytest.fixture
def server(shared_server: BridgeTownServer, monkeypatch: pytest.MonkeyPatch) -> BridgeTownServer:
    shared_server.reset(dict(SAMPLES))
    monkeypatch.delenv("BRIDGETOWN_API_KEY", raising=False)
    monkeypatch.delenv("BRIDGETOWN_MCP_URL", raising=False)
    return shared_server


def options(server: BridgeTownServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": server.token, **more}


def methods(server: BridgeTownServer) -> list[str | None]:
    return [entry["jsonrpc_method"] for entry in server.requests if entry["method"] == "POST"]


def test_get_every_sample_matches_offline_normalization(server: BridgeTownServer) -> None:
    with runnorm.Client("bridgetown", **options(server)) as client:
        for run_id, payload in SAMPLES.items():
            assert client.get(run_id) == runnorm.normalize(payload)
    # One session for the whole client: a single handshake, then tool calls.
    assert methods(server)[:2] == ["initialize", "notifications/initialized"]
    assert methods(server).count("initialize") == 1
    assert methods(server)[2:] == ["tools/call"] * len(SAMPLES)


def test_handshake_headers(server: BridgeTownServer) -> None:
    runnorm.Client("bridgetown", **options(server)).get(DOCS_ID)
    posts = [e for e in server.requests if e["method"] == "POST"]
    assert all(e["headers"]["authorization"] == f"Bearer {server.token}" for e in posts)
    assert "text/event-stream" in posts[0]["headers"]["accept"]
    call = posts[-1]
    assert call["headers"]["mcp-session-id"] == server.session_ids[0]
    assert call["headers"]["mcp-protocol-version"] == "2025-06-18"
    assert call["body"]["params"] == {"name": "get_run", "arguments": {"run_id": DOCS_ID}}


def test_async_get_and_module_level_aget(server: BridgeTownServer) -> None:
    async def main() -> tuple[runnorm.Run, runnorm.Run]:
        async with runnorm.AsyncClient("bridgetown", **options(server)) as client:
            first = await client.get(DOCS_ID)
        second = await runnorm.aget("bridgetown", DOCS_ID, **options(server))
        return first, second

    first, second = asyncio.run(main())
    assert first == second == runnorm.normalize(SAMPLES[DOCS_ID])
    assert first.result == {"revenue": [100, 110, 121]}


def test_text_only_result_is_parsed(server: BridgeTownServer) -> None:
    run = runnorm.get("bridgetown", f"text-{DOCS_ID}", **options(server))
    assert run == runnorm.normalize(SAMPLES[DOCS_ID])


def test_uuid_prefix(server: BridgeTownServer) -> None:
    assert runnorm.get("bridgetown", "66666666-66", **options(server)).id == DOCS_ID


def test_tool_not_found_is_a_not_found_error_with_the_hint(server: BridgeTownServer) -> None:
    with pytest.raises(NotFoundError) as info:
        runnorm.get("bridgetown", "0badc0de", **options(server))
    error = info.value
    assert isinstance(error, ToolNotFoundError) and isinstance(error, ToolError)
    assert error.error == "not_found"
    assert error.hint == "Use list_runs to see recent runs."
    assert "Run 0badc0de not found" in str(error) and "Hint: Use list_runs" in str(error)
    assert error.provider == "bridgetown"


def test_other_tool_errors_are_tool_errors(server: BridgeTownServer) -> None:
    with pytest.raises(ToolError) as info:
        runnorm.get("bridgetown", "boom", **options(server))
    assert not isinstance(info.value, NotFoundError)
    assert (info.value.error, info.value.hint) == ("sandbox_unavailable", "Retry in a minute.")
    assert info.value.body["message"] == "Sandbox pool exhausted"


def test_wrong_token_is_an_auth_error_without_the_token(server: BridgeTownServer) -> None:
    with pytest.raises(AuthError) as info:
        runnorm.get("bridgetown", DOCS_ID, base_url=server.url, api_key="btk_wrong_token_xyz")
    assert info.value.status_code == 401
    assert "Invalid or missing API token" in str(info.value)
    assert "btk_wrong_token_xyz" not in str(info.value)


def test_missing_token_names_the_variable(server: BridgeTownServer) -> None:
    with pytest.raises(AuthError, match="BRIDGETOWN_API_KEY"):
        runnorm.get("bridgetown", DOCS_ID, base_url=server.url)
    assert server.requests == []


def test_environment_gives_endpoint_and_token(
    server: BridgeTownServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGETOWN_API_KEY", server.token)
    monkeypatch.setenv("BRIDGETOWN_MCP_URL", server.url)
    assert runnorm.Client("bridgetown").get(DOCS_ID).ok


def test_expired_session_reinitializes_once(server: BridgeTownServer) -> None:
    with runnorm.Client("bridgetown", **options(server)) as client:
        client.get(DOCS_ID)
        server.expire_sessions()
        assert client.get(DOCS_ID).ok
    statuses = [(e["jsonrpc_method"], e.get("status")) for e in server.requests]
    assert statuses.count(("tools/call", 404)) == 1
    assert methods(server).count("initialize") == 2


def test_wait_through_pending_running_success(server: BridgeTownServer) -> None:
    base = SAMPLES[DOCS_ID]
    server.queue_statuses(
        DOCS_ID,
        [{**base, "status": "pending"}, {**base, "status": "running"}, base],
    )
    seen: list[RunStatus] = []
    run = runnorm.wait(
        "bridgetown",
        DOCS_ID,
        interval=0.01,
        on_update=lambda r: seen.append(r.status),
        **options(server),
    )
    assert run.ok
    assert seen == [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED]


def test_await_run_times_out(server: BridgeTownServer) -> None:
    server.queue_statuses(DOCS_ID, [{**SAMPLES[DOCS_ID], "status": "running"}])
    with pytest.raises(WaitTimeout) as info:
        asyncio.run(
            runnorm.await_run("bridgetown", DOCS_ID, timeout=0.2, interval=0.05, **options(server))
        )
    assert info.value.last_run is not None and info.value.last_run.status is RunStatus.RUNNING


def test_get_many_found_and_missing(server: BridgeTownServer) -> None:
    ids = [*list(SAMPLES)[:4], "0badc0de", DOCS_ID]
    results = runnorm.get_many("bridgetown", ids, concurrency=3, **options(server))
    assert [type(r).__name__ for r in results] == ["Run"] * 4 + ["ToolNotFoundError", "Run"]
    assert results[-1] == runnorm.normalize(SAMPLES[DOCS_ID])

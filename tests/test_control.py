"""cancel and resume: every outcome of the table for each provider, on loopback servers.

Skyvern and Browserbase through ``FakeProviderServer`` (recorded requests), Bridge Town through
the server built with the official ``mcp`` SDK (``cancel_run``'s schema read from its
``tools/list``). The retry rule for requests that change state is counted on the wire: a 500,
a timeout and a 503 without ``Retry-After`` are sent once; 429 and 503 with ``Retry-After`` again;
a connection that never opened again (driven by hand: the flow is sans-IO).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hostile_server import Exchange, HostileServer
from mcp_server import BridgeTownServer, load_get_run_samples, running_bridgetown_server

import runnorm
from runnorm import (
    APIError,
    ConfigError,
    ControlResult,
    RunStatus,
    ServerError,
    TransportError,
    UnsupportedError,
)
from runnorm._live.control import control_flow
from runnorm._live.options import resolve_options
from runnorm._live.wire import Request, Response, Sleep
from runnorm.testing import FakeProviderServer, Reply

SKY_KEY = "sk-control-test-0123456789"
BB_KEY = "bb_control_test_9876543210"
QUICK = {"max_retries": 0, "timeout": 10.0}

WORKFLOW = {
    "run_id": "wr_42",
    "status": "paused",
    "run_type": "workflow_run",
    "created_at": "2026-01-20T11:52:29.276851",
    "modified_at": "2026-01-20T11:54:08.822807",
}
AGENT_RUN = {
    "runId": "run_7",
    "status": "RUNNING",
    "task": "Book a table",
    "sessionId": "sess_7",
    "createdAt": "2026-01-20T11:52:29Z",
    "updatedAt": "2026-01-20T11:53:29Z",
}


@pytest.fixture
def skyvern() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-api-key", SKY_KEY)) as server:
        yield server


@pytest.fixture
def browserbase() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-bb-api-key", BB_KEY)) as server:
        yield server


def sky(server: FakeProviderServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": SKY_KEY, **QUICK, **more}


def bb(server: FakeProviderServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": BB_KEY, **QUICK, **more}


# -- Skyvern --------------------------------------------------------------------------------


def test_skyvern_cancel_2xx_is_accepted_404_not_found(skyvern: FakeProviderServer) -> None:
    skyvern.script("/v1/runs/tsk_1/cancel", Reply(200))  # an empty 200, as Skyvern answers
    accepted = runnorm.cancel("skyvern", "tsk_1", **sky(skyvern))
    assert accepted == ControlResult("skyvern", "tsk_1", "accepted")
    assert accepted.accepted and accepted.run is None
    missing = runnorm.cancel("skyvern", "tsk_2", **sky(skyvern))  # the server's own 404
    assert (missing.outcome, missing.accepted) == ("not_found", False)
    assert missing.detail == "Not found: /v1/runs/tsk_2/cancel"
    sent = skyvern.requests_to("/v1/runs/tsk_1/cancel")
    assert [(r.method, r.headers["x-api-key"], r.body) for r in sent] == [("POST", SKY_KEY, b"")]


def test_skyvern_cancel_other_4xx_raises_its_api_error(skyvern: FakeProviderServer) -> None:
    skyvern.script("/v1/runs/tsk_1/cancel", Reply(400, {"detail": "Invalid run type to cancel"}))
    with pytest.raises(APIError, match="Invalid run type") as info:
        runnorm.cancel("skyvern", "tsk_1", **sky(skyvern))
    assert info.value.status_code == 400
    skyvern.script("/v1/runs/tsk_1/cancel", Reply(403, {"detail": "Invalid credentials"}))
    with pytest.raises(runnorm.AuthError):
        runnorm.cancel("skyvern", "tsk_1", **sky(skyvern))


def test_skyvern_resume_continues_a_paused_workflow_run(skyvern: FakeProviderServer) -> None:
    path = "/v1/workflows/runs/wr_42/continue"
    skyvern.script(path, Reply(200, None))  # FastAPI's answer for a None return: null
    result = runnorm.resume("skyvern", "wr_42", **sky(skyvern))
    assert result == ControlResult("skyvern", "wr_42", "accepted")
    (sent,) = skyvern.requests_to(path)
    assert (sent.method, sent.body, sent.headers["x-api-key"]) == ("POST", b"", SKY_KEY)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(None, "not_found"), ("completed", "already_terminal"), ("running", "conflict")],
)
def test_skyvern_resume_404_is_settled_by_fetching_the_run(
    skyvern: FakeProviderServer, status: str | None, outcome: str
) -> None:
    # Skyvern's continue answers 404 for a run that is missing *or* not paused
    # (agent_protocol.py: get_workflow_run(..., status=paused)); the run itself tells which.
    if status is not None:
        skyvern.routes["/v1/runs/wr_42"] = {**WORKFLOW, "status": status}
    skyvern.script(
        "/v1/workflows/runs/wr_42/continue", Reply(404, {"detail": "Workflow run not found wr_42"})
    )
    result = runnorm.resume("skyvern", "wr_42", **sky(skyvern))
    assert result.outcome == outcome
    assert result.detail == "Workflow run not found wr_42"
    if status is None:
        assert result.run is None
    else:
        assert result.run is not None and result.run.native_status == status
    assert [r.path for r in skyvern.requests] == [
        "/v1/workflows/runs/wr_42/continue",
        "/v1/runs/wr_42",
    ]


def test_skyvern_resume_takes_no_message_and_only_workflow_runs(
    skyvern: FakeProviderServer,
) -> None:
    with pytest.raises(ConfigError, match="resume takes no message"):
        runnorm.resume("skyvern", "wr_42", message="go on", **sky(skyvern))
    with pytest.raises(UnsupportedError, match="'wr_'"):
        runnorm.resume("skyvern", "tsk_v2_1", **sky(skyvern))
    assert skyvern.requests == []


# -- Browserbase ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "outcome"), [(202, "accepted"), (409, "already_terminal"), (404, "not_found")]
)
def test_browserbase_stop_outcomes(
    browserbase: FakeProviderServer, code: int, outcome: str
) -> None:
    path = "/v1/agents/runs/run_7/stop"
    body = (
        {**AGENT_RUN, "status": "STOPPED"}
        if code == 202
        else {"statusCode": code, "message": "Run already finished"}
    )
    browserbase.script(path, Reply(code, body))
    result = runnorm.cancel("browserbase", "run_7", **bb(browserbase))
    assert result.outcome == outcome
    if code == 202:  # the reply is the run
        assert result.run == runnorm.normalize(body)
        assert result.run.status is RunStatus.CANCELED and result.detail is None
    else:
        assert result.run is None and result.detail == "Run already finished"
    (sent,) = browserbase.requests_to(path)
    assert sent.method == "POST" and sent.headers["x-bb-api-key"] == BB_KEY


def test_browserbase_stop_reply_that_is_no_run_still_says_accepted(
    browserbase: FakeProviderServer,
) -> None:
    browserbase.script("/v1/agents/runs/run_7/stop", Reply(202, {"ok": True}))
    result = runnorm.cancel("browserbase", "run_7", **bb(browserbase))
    assert result.outcome == "accepted" and result.run is None
    assert result.detail is not None and "not a run" in result.detail


@pytest.mark.parametrize(
    ("code", "outcome"), [(202, "accepted"), (409, "conflict"), (404, "not_found")]
)
def test_browserbase_resume_sends_the_message_as_task(
    browserbase: FakeProviderServer, code: int, outcome: str
) -> None:
    path = "/v1/agents/runs/run_7/resume"
    browserbase.script(path, Reply(code, {"statusCode": code, "message": "Run is not paused"}))
    result = runnorm.resume("browserbase", "run_7", message="The code is 4711", **bb(browserbase))
    assert result.outcome == outcome
    assert result.run is None  # returns_run=False: the reply's body is undocumented
    (sent,) = browserbase.requests_to(path)
    assert json.loads(sent.body) == {"task": "The code is 4711"}
    assert sent.headers["content-type"] == "application/json"


def test_browserbase_resume_requires_a_message(browserbase: FakeProviderServer) -> None:
    for missing in (None, "", "   "):
        with pytest.raises(ConfigError, match="needs a message"):
            runnorm.resume("browserbase", "run_7", message=missing, **bb(browserbase))
    with pytest.raises(ConfigError, match="message must be a string"):
        runnorm.resume("browserbase", "run_7", message=42, **bb(browserbase))  # type: ignore[arg-type]
    assert browserbase.requests == []


def test_async_twins_and_clients_give_the_same_results(browserbase: FakeProviderServer) -> None:
    path = "/v1/agents/runs/run_7/stop"
    stopped = {**AGENT_RUN, "status": "STOPPED"}

    async def main() -> list[ControlResult]:
        browserbase.script(path, Reply(202, stopped), Reply(409, {"message": "done"}))
        first = await runnorm.acancel("browserbase", "run_7", **bb(browserbase))
        async with runnorm.AsyncClient("browserbase", **bb(browserbase)) as client:
            second = await client.cancel("run_7")
            browserbase.script("/v1/agents/runs/run_7/resume", Reply(202))
            third = await client.resume("run_7", message="yes")
        return [first, second, third]

    first, second, third = asyncio.run(main())
    assert (first.outcome, second.outcome, third.outcome) == (
        "accepted",
        "already_terminal",
        "accepted",
    )
    browserbase.script(path, Reply(202, stopped))
    with runnorm.Client("browserbase", **bb(browserbase)) as client:
        assert client.cancel("run_7") == first


# -- Bridge Town over MCP (the SDK-built server) --------------------------------------------

RUNS = load_get_run_samples()
DOCS_ID = "66666666-6666-6666-6666-666666666666"
RUNNING_ID = next(k for k, v in RUNS.items() if v["status"] == "running")


@pytest.fixture(scope="module")
def shared_bridgetown() -> Iterator[BridgeTownServer]:
    with running_bridgetown_server(json_response=False) as server:
        yield server


@pytest.fixture
def bridgetown(shared_bridgetown: BridgeTownServer) -> BridgeTownServer:
    shared_bridgetown.reset(dict(RUNS))
    return shared_bridgetown


def bt(server: BridgeTownServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": server.token, **QUICK, **more}


def rpc(server: BridgeTownServer) -> list[tuple[str | None, Any]]:
    out = []
    for entry in server.requests:
        body = entry["body"] if isinstance(entry["body"], dict) else {}
        params = body.get("params") or {}
        out.append(
            (entry["jsonrpc_method"], params.get("name") if isinstance(params, dict) else None)
        )
    return [item for item in out if item[0] in ("tools/list", "tools/call")]


def test_bridgetown_cancel_reads_the_tool_from_tools_list(bridgetown: BridgeTownServer) -> None:
    result = runnorm.cancel("bridgetown", RUNNING_ID, **bt(bridgetown))
    assert result.outcome == "accepted"
    assert result.run is not None and result.run.status is RunStatus.CANCELED
    assert rpc(bridgetown) == [("tools/list", None), ("tools/call", "cancel_run")]
    (call,) = [e["body"] for e in bridgetown.requests if e["jsonrpc_method"] == "tools/call"]
    assert call["params"]["arguments"] == {"run_id": RUNNING_ID}


def test_bridgetown_cancel_tool_errors_map_to_outcomes(bridgetown: BridgeTownServer) -> None:
    finished = runnorm.cancel("bridgetown", DOCS_ID, **bt(bridgetown))  # success already
    assert finished.outcome == "conflict" and finished.detail == f"Run {DOCS_ID} is success"
    missing = runnorm.cancel("bridgetown", "00000000-0000-0000-0000-000000000000", **bt(bridgetown))
    assert missing.outcome == "not_found" and missing.run is None


def test_bridgetown_has_no_resume(bridgetown: BridgeTownServer) -> None:
    with pytest.raises(UnsupportedError, match="does not support resume"):
        runnorm.resume("bridgetown", RUNNING_ID, **bt(bridgetown))
    assert bridgetown.requests == []


def test_a_missing_cancel_tool_is_unsupported() -> None:
    from runnorm.testing import FakeMcpServer

    with FakeMcpServer(auth=("Authorization", "Bearer btk_x")) as server:
        server.tools["get_run"] = {}
        with pytest.raises(UnsupportedError, match="lists no 'cancel_run' tool"):
            runnorm.cancel("bridgetown", RUNNING_ID, base_url=server.url, api_key="btk_x")
        assert server.tool_calls() == []


def test_a_tool_requiring_what_runnorm_cannot_fill_is_not_called() -> None:
    from runnorm.testing import FakeMcpServer

    with FakeMcpServer(auth=("Authorization", "Bearer btk_x")) as server:
        server.tools["cancel_run"] = lambda arguments: {"ok": True}
        server.schemas["cancel_run"] = {
            "type": "object",
            "properties": {"run_id": {"type": "string"}, "reason": {"type": "string"}},
            "required": ["run_id", "reason"],
        }
        with pytest.raises(UnsupportedError, match="cannot fill: reason"):
            runnorm.cancel("bridgetown", RUNNING_ID, base_url=server.url, api_key="btk_x")
        assert server.tool_calls() == []
        two = {"a": {"type": "string"}, "b": {"type": "string"}}
        server.schemas["cancel_run"] = {"type": "object", "properties": two, "required": ["a", "b"]}
        with pytest.raises(runnorm.PayloadError, match="cannot tell which argument"):
            runnorm.cancel("bridgetown", RUNNING_ID, base_url=server.url, api_key="btk_x")


@pytest.mark.parametrize("required", [5, True, "run_id", {"run_id": 1}, None])
def test_a_tool_schema_whose_required_is_no_list_is_a_payload_error(required: Any) -> None:
    from runnorm.testing import FakeMcpServer

    with FakeMcpServer(auth=("Authorization", "Bearer btk_x")) as server:
        server.tools["cancel_run"] = lambda arguments: {"ok": True}
        server.schemas["cancel_run"] = {
            "type": "object",
            "properties": {"id": {"type": "string"}},
            "required": required,
        }
        with pytest.raises(runnorm.PayloadError, match="cannot tell which argument"):
            runnorm.cancel("bridgetown", RUNNING_ID, base_url=server.url, api_key="btk_x")
        assert server.tool_calls() == []


# -- requests that change state are not sent twice ------------------------------------------


def test_a_cancel_answered_500_is_sent_once(skyvern: FakeProviderServer) -> None:
    skyvern.script("/v1/runs/tsk_1/cancel", Reply(500, {"detail": "boom"}), Reply(200))
    with pytest.raises(ServerError, match="HTTP 500"):
        runnorm.cancel("skyvern", "tsk_1", **sky(skyvern, max_retries=5))
    assert len(skyvern.requests_to("/v1/runs/tsk_1/cancel")) == 1


@pytest.mark.parametrize(
    ("first", "sent"),
    [
        (Reply(503, {"detail": "busy"}), 1),
        (Reply(502, {"detail": "bad gateway"}), 1),
        (Reply(503, {"detail": "busy"}, headers={"retry-after": "0"}), 2),
        (Reply(429, {"detail": "slow down"}, headers={"retry-after": "0"}), 2),
        (Reply(429, {"detail": "slow down"}), 2),
    ],
)
def test_only_answers_proving_nothing_was_done_are_retried(
    browserbase: FakeProviderServer, first: Reply, sent: int
) -> None:
    path = "/v1/agents/runs/run_7/stop"
    browserbase.script(path, first, Reply(202, {**AGENT_RUN, "status": "STOPPED"}))
    options = bb(browserbase, max_retries=3)
    if sent == 1:
        with pytest.raises(ServerError):
            runnorm.cancel("browserbase", "run_7", **options)
    else:
        assert runnorm.cancel("browserbase", "run_7", **options).outcome == "accepted"
    assert len(browserbase.requests_to(path)) == sent


def test_a_cancel_that_timed_out_is_not_sent_again() -> None:
    def hold(exchange: Exchange) -> None:
        exchange.hold(5)

    with HostileServer(hold) as server:
        with pytest.raises(TransportError) as info:
            runnorm.cancel(
                "skyvern", "tsk_1", base_url=server.url, api_key=SKY_KEY, max_retries=3, timeout=0.3
            )
        assert info.value.kind == "timeout"
        assert server.lines() == ["POST /v1/runs/tsk_1/cancel HTTP/1.1"]


def test_a_connection_that_never_opened_is_retried_sans_io() -> None:
    options = resolve_options(
        runnorm._plugins.host.get_host().get("skyvern"),  # type: ignore[attr-defined]
        {"api_key": SKY_KEY, "base_url": "http://127.0.0.1:9", "max_retries": 2},
    )
    flow = control_flow(options, "cancel", "tsk_1")
    step = next(flow)
    assert isinstance(step, Request) and step.method == "POST"
    step = flow.throw(TransportError("connect error", kind="connect"))
    assert isinstance(step, Sleep)
    step = flow.send(None)
    assert isinstance(step, Request)  # sent again: the first never reached the server
    with pytest.raises(StopIteration) as done:
        flow.send(Response(200, {}, b"", step.url))
    assert done.value.value.outcome == "accepted"
    flow = control_flow(options, "cancel", "tsk_1")
    next(flow)
    with pytest.raises(TransportError):
        flow.throw(TransportError("read error: connection reset", kind="read"))


def test_the_key_echoed_in_a_refusal_is_masked(skyvern: FakeProviderServer) -> None:
    skyvern.script(
        "/v1/workflows/runs/wr_1/continue", Reply(409, {"detail": f"key {SKY_KEY} may not"})
    )
    with pytest.raises(APIError) as info:
        runnorm.resume("skyvern", "wr_1", **sky(skyvern))
    assert SKY_KEY not in str(info.value) and SKY_KEY not in repr(info.value.body)
    browser = FakeProviderServer(auth=("x-bb-api-key", BB_KEY))
    with browser:
        browser.script("/v1/agents/runs/run_7/stop", Reply(409, {"message": f"not with {BB_KEY}"}))
        result = runnorm.cancel("browserbase", "run_7", **bb(browser))
    assert result.detail is not None and BB_KEY not in result.detail and "***" in result.detail


def test_bad_run_ids_and_providers_without_the_verb_fail_before_sending(
    skyvern: FakeProviderServer,
) -> None:
    for bad in ("", "..", "\ud800"):
        with pytest.raises(ConfigError):
            runnorm.cancel("skyvern", bad, **sky(skyvern))
    assert skyvern.requests == []


def test_an_optional_message_left_out_leaves_its_key_out() -> None:
    from runnorm._live.control import _filled

    template = {"task": "{message}", "variables": {"a": 1}, "notes": ["{message}"]}
    assert _filled(template, "hi") == {"task": "hi", "variables": {"a": 1}, "notes": ["hi"]}
    assert _filled(template, None) == {"variables": {"a": 1}, "notes": [None]}

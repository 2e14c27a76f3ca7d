"""Declarations as data: fetch routing, the capability declarations (listing used since
issue 15, cancel, resume and artifacts since issue 16; all checked at registration).

Routing is proven on the wire: test-only providers registered through a ``PluginHost``
(OpenAI-like id prefixes, Hyperbrowser-like kinds chosen with a call option, an MCP provider
routing tools), served by the loopback ``FakeProviderServer`` and an MCP endpoint, sync and
async. The capability declarations are built for the three first-party providers from the
facts in their provider pages, plus an absolute-``next``-URL and an ``after``-cursor listing,
and bad declarations are refused at registration.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from hostile_server import Exchange, HostileServer, http_response, mcp_handler, run_result

import runnorm
from runnorm import (
    AfterPages,
    ArtifactFields,
    ArtifactKind,
    ArtifactListing,
    Artifacts,
    Auth,
    ConfigError,
    CursorPages,
    Fields,
    ListParam,
    McpControl,
    McpFetch,
    McpList,
    NextUrlPages,
    OffsetPages,
    PageNumbers,
    Provider,
    Remint,
    RestControl,
    RestFetch,
    RestList,
    Run,
    RunStatus,
    StatusFilter,
    StatusMap,
    TimeFilter,
    ToolContent,
)
from runnorm._cli import app as cli_app
from runnorm._live.api import close_clients
from runnorm._plugins.host import PluginHost, get_host, reset_host
from runnorm.testing import FakeProviderServer, Reply

KEY = "sk-routing-test-0123456789"
UNUSED = "http://127.0.0.1:9"  # a default base URL; every call passes the server's

# -- test-only providers --------------------------------------------------------------------


def _provider(name: str, **declared: Any) -> Provider:
    fields = Fields(name)
    statuses = StatusMap(
        name,
        {
            "queued": RunStatus.QUEUED,
            "running": RunStatus.RUNNING,
            "completed": RunStatus.SUCCEEDED,
        },
    )

    def to_run(p: Mapping[str, Any]) -> Run:
        native = fields.status_word(p, "status")
        return Run(
            provider=name,
            id=fields.id(p, "id"),
            status=statuses.lookup(native, "status"),
            native_status=native,
            kind=fields.text(p, "object"),
            raw=p,
        )

    def detect(p: Mapping[str, Any]) -> bool:
        return p.get("object") == name

    declared.setdefault("auth", Auth(header="Authorization", scheme="Bearer", env_var="NO_SUCH"))
    return Provider(
        name=name, statuses=statuses, to_run=to_run, detect=detect, base_url=UNUSED, **declared
    )


OPENAI_LIKE = _provider(
    "routed-openai",
    fetch=RestFetch(
        routes={"resp_": "/v1/responses/{run_id}", "batch_": "/v1/batches/{run_id}"},
    ),
)
HYPERBROWSER_KINDS = {
    "browser_use": "/api/task/browser-use/{run_id}",
    "claude_computer_use": "/api/task/claude-computer-use/{run_id}",
    "cua": "/api/task/cua/{run_id}",
    "hyperagent": "/api/task/hyperagent/{run_id}",
}
HYPERBROWSER_LIKE = _provider(
    "routed-hyperbrowser",
    auth=Auth(header="x-api-key", env_var="NO_SUCH"),
    fetch=RestFetch(kinds=HYPERBROWSER_KINDS, kind_option="kind"),
)
MIXED = _provider(
    "routed-mixed",
    fetch=RestFetch(
        path="/v1/runs/{run_id}",
        routes={"job_": "/v1/jobs/{run_id}", "job_batch_": "/v1/jobs/batches/{run_id}"},
        kinds={"archived": "/v1/archive/{run_id}"},
        kind_option="kind",
    ),
)
MCP_ROUTED = _provider(
    "routed-mcp",
    fetch=McpFetch(
        tool="get_run",
        routes={"job-": "get_job"},
        kinds={"sandbox": "get_sandbox_run"},
        kind_option="flavor",
    ),
)
MCP_WITHOUT_DEFAULT = _provider(
    "routed-mcp-kinds",
    fetch=McpFetch(tool=None, kinds={"a": "get_a", "b": "get_b"}, kind_option="flavor"),
)
ROUTED = (OPENAI_LIKE, HYPERBROWSER_LIKE, MIXED, MCP_ROUTED, MCP_WITHOUT_DEFAULT)


def registered(*providers: Provider) -> PluginHost:
    """A host without entry points holding *providers*, registered as a plugin would."""

    class Plugin:
        @runnorm.hookimpl
        def runnorm_register_providers(self, register):  # type: ignore[no-untyped-def]
            for provider in providers:
                register(provider)

    host = PluginHost(entry_points=False)
    host.add_plugin(Plugin(), "declarations-test")
    return host


@pytest.fixture
def routed() -> Iterator[PluginHost]:
    host = registered(*ROUTED)
    assert all(info.ok for info in host.infos()), [info.error for info in host.infos()]
    previous = reset_host(host)
    yield host
    close_clients()
    reset_host(previous)


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("authorization", f"Bearer {KEY}")) as fake:
        yield fake


def doc(run_id: str, obj: str, status: str = "completed") -> dict[str, Any]:
    return {"id": run_id, "object": obj, "status": status}


def opts(server: FakeProviderServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": KEY, "max_retries": 0, **more}


def paths(server: FakeProviderServer) -> list[str]:
    return [request.path for request in server.requests]


# -- routing by id prefix -------------------------------------------------------------------


@pytest.mark.usefixtures("routed")
def test_each_id_prefix_reaches_its_path_sync_and_async(server: FakeProviderServer) -> None:
    server.routes["/v1/responses/resp_1"] = doc("resp_1", "response")
    server.routes["/v1/batches/batch_1"] = doc("batch_1", "batch")
    assert runnorm.get("routed-openai", "resp_1", **opts(server)).kind == "response"
    assert runnorm.get("routed-openai", "batch_1", **opts(server)).kind == "batch"

    async def main() -> list[str | None]:
        first = await runnorm.aget("routed-openai", "batch_1", **opts(server))
        async with runnorm.AsyncClient("routed-openai", **opts(server)) as client:
            second = await client.get("resp_1")
        return [first.kind, second.kind]

    assert asyncio.run(main()) == ["batch", "response"]
    assert paths(server) == [
        "/v1/responses/resp_1",
        "/v1/batches/batch_1",
        "/v1/batches/batch_1",
        "/v1/responses/resp_1",
    ]


@pytest.mark.usefixtures("routed")
def test_get_many_routes_each_id_on_its_own(server: FakeProviderServer) -> None:
    server.routes["/v1/responses/resp_a"] = doc("resp_a", "response")
    server.routes["/v1/batches/batch_b"] = doc("batch_b", "batch")
    results = runnorm.get_many("routed-openai", ["resp_a", "batch_b", "chat_c"], **opts(server))
    assert [r.kind for r in results[:2] if isinstance(r, Run)] == ["response", "batch"]
    error = results[2]
    assert isinstance(error, ConfigError)
    assert "'batch_'" in str(error) and "'resp_'" in str(error)
    assert sorted(paths(server)) == ["/v1/batches/batch_b", "/v1/responses/resp_a"]


@pytest.mark.usefixtures("routed")
def test_an_id_no_prefix_routes_without_a_default_is_a_config_error_before_sending(
    server: FakeProviderServer,
) -> None:
    with pytest.raises(ConfigError, match=r"no endpoint serves run 'chatcmpl_1'.*'resp_'"):
        runnorm.get("routed-openai", "chatcmpl_1", **opts(server))

    async def main() -> None:
        await runnorm.aget("routed-openai", "chatcmpl_1", **opts(server))

    with pytest.raises(ConfigError):
        asyncio.run(main())
    assert server.requests == []


@pytest.mark.usefixtures("routed")
def test_a_routed_path_keeps_the_run_id_one_segment(server: FakeProviderServer) -> None:
    with pytest.raises(runnorm.NotFoundError):
        runnorm.get("routed-openai", "batch_../x?y#z", **opts(server))
    assert paths(server) == ["/v1/batches/batch_..%2Fx%3Fy%23z"]


@pytest.mark.usefixtures("routed")
def test_longest_prefix_wins_and_the_default_serves_the_rest(server: FakeProviderServer) -> None:
    for path, run_id in [
        ("/v1/jobs/batches/job_batch_1", "job_batch_1"),
        ("/v1/jobs/job_1", "job_1"),
        ("/v1/runs/run_1", "run_1"),
    ]:
        server.routes[path] = doc(run_id, "routed-mixed")
        assert runnorm.get("routed-mixed", run_id, **opts(server)).id == run_id
    assert paths(server) == ["/v1/jobs/batches/job_batch_1", "/v1/jobs/job_1", "/v1/runs/run_1"]


@pytest.mark.usefixtures("routed")
def test_a_kind_given_beats_the_prefix(server: FakeProviderServer) -> None:
    server.routes["/v1/archive/job_1"] = doc("job_1", "routed-mixed")
    server.routes["/v1/jobs/job_1"] = doc("job_1", "routed-mixed")
    assert runnorm.get("routed-mixed", "job_1", kind="archived", **opts(server)).id == "job_1"
    assert runnorm.get("routed-mixed", "job_1", kind=None, **opts(server)).id == "job_1"
    assert paths(server) == ["/v1/archive/job_1", "/v1/jobs/job_1"]


# -- routing by kind ------------------------------------------------------------------------


@pytest.fixture
def hyper() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-api-key", KEY)) as fake:
        yield fake


@pytest.mark.usefixtures("routed")
@pytest.mark.parametrize(("kind", "path"), sorted(HYPERBROWSER_KINDS.items()))
def test_each_kind_reaches_its_path_sync_and_async(
    hyper: FakeProviderServer, kind: str, path: str
) -> None:
    task = "5f9d1c8e-0000-4000-8000-000000000001"
    served = path.format(run_id=task)
    hyper.routes[served] = doc(task, kind)
    assert runnorm.get("routed-hyperbrowser", task, kind=kind, **opts(hyper)).kind == kind
    with runnorm.Client("routed-hyperbrowser", **opts(hyper)) as client:
        assert client.get(task, kind=kind).kind == kind

    async def main() -> str | None:
        return (await runnorm.aget("routed-hyperbrowser", task, kind=kind, **opts(hyper))).kind

    assert asyncio.run(main()) == kind
    assert paths(hyper) == [served] * 3


@pytest.mark.usefixtures("routed")
def test_wait_polls_the_kinds_path(hyper: FakeProviderServer) -> None:
    task = "task-1"
    served = f"/api/task/cua/{task}"
    hyper.script(served, Reply(200, doc(task, "cua", "running")))
    hyper.routes[served] = doc(task, "cua")
    run = runnorm.wait(
        "routed-hyperbrowser", task, kind="cua", interval=0.01, timeout=10, **opts(hyper)
    )
    assert run.status is RunStatus.SUCCEEDED
    assert paths(hyper) == [served, served]


@pytest.mark.usefixtures("routed")
@pytest.mark.parametrize("kind", ["browser-use", "BROWSER_USE", 3, ["cua"], ""])
def test_an_unknown_kind_is_a_config_error_naming_the_valid_ones(
    hyper: FakeProviderServer, kind: object
) -> None:
    names = r"'browser_use', 'claude_computer_use', 'cua', 'hyperagent'"
    with pytest.raises(ConfigError, match=rf"kind= must be one of {names}"):
        runnorm.get("routed-hyperbrowser", "task-1", kind=kind, **opts(hyper))
    with pytest.raises(ConfigError, match="kind= must be one of"):
        runnorm.get_many("routed-hyperbrowser", ["task-1"], kind=kind, **opts(hyper))

    async def main() -> None:
        await runnorm.aget("routed-hyperbrowser", "task-1", kind=kind, **opts(hyper))

    with pytest.raises(ConfigError, match="kind= must be one of"):
        asyncio.run(main())
    assert hyper.requests == []


@pytest.mark.usefixtures("routed")
def test_no_kind_and_no_default_is_a_config_error_saying_what_to_pass(
    hyper: FakeProviderServer,
) -> None:
    with pytest.raises(ConfigError, match=r"pass kind= \(one of 'browser_use', "):
        runnorm.get("routed-hyperbrowser", "task-1", **opts(hyper))
    assert hyper.requests == []


@pytest.mark.usefixtures("routed")
def test_the_kind_option_is_a_provider_option() -> None:
    provider = get_host().get("routed-hyperbrowser")
    assert provider.options == {"kind"}
    assert get_host().get("routed-mcp").options == {"flavor"}
    assert get_host().get("routed-openai").options == frozenset()
    with pytest.raises(ConfigError, match=r"unexpected option\(s\).*: knd .*kind"):
        runnorm.get("routed-hyperbrowser", "task-1", knd="cua", api_key=KEY)
    with pytest.raises(ConfigError, match="unexpected option"):
        runnorm.get("routed-openai", "resp_1", kind="cua", api_key=KEY)


@pytest.mark.usefixtures("routed")
def test_the_cli_passes_the_kind_option(hyper: FakeProviderServer) -> None:
    hyper.routes["/api/task/hyperagent/t-9"] = doc("t-9", "hyperagent")
    arguments = ["get", "routed-hyperbrowser", "t-9", "--base-url", hyper.url, "--json"]
    done = CliRunner().invoke(
        cli_app.main, [*arguments, "-O", "kind=hyperagent"], env={"NO_SUCH": KEY}
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["kind"] == "hyperagent"
    no = CliRunner().invoke(cli_app.main, [*arguments, "-O", "kind=nope"], env={"NO_SUCH": KEY})
    assert no.exit_code != 0
    assert "must be one of" in no.stderr
    assert paths(hyper) == ["/api/task/hyperagent/t-9"]


# -- routing over MCP -----------------------------------------------------------------------


def echo_tool(exchange: Exchange, message_id: int) -> bool:
    """A tool result naming the tool that was called and the arguments it got."""
    params = exchange.request.json["params"]
    run = {
        "id": params["arguments"]["run_id"],
        "object": params["name"],
        "status": "completed",
    }
    body = json.dumps(run_result(run, message_id)).encode()
    exchange.send(http_response(200, body, {"Content-Type": "application/json"}))
    return True


@pytest.mark.usefixtures("routed")
def test_mcp_tools_are_routed_by_prefix_and_kind_sync_and_async() -> None:
    with HostileServer(mcp_handler(echo_tool)) as mcp:
        settings = {"base_url": mcp.url + "/mcp", "api_key": KEY, "max_retries": 0}
        assert runnorm.get("routed-mcp", "run-1", **settings).kind == "get_run"
        assert runnorm.get("routed-mcp", "job-1", **settings).kind == "get_job"
        sandbox = runnorm.get("routed-mcp", "job-1", flavor="sandbox", **settings)
        assert sandbox.kind == "get_sandbox_run"

        async def main() -> list[str | None]:
            first = await runnorm.aget("routed-mcp", "job-2", **settings)
            second = await runnorm.aget("routed-mcp-kinds", "x", flavor="b", **settings)
            return [first.kind, second.kind]

        assert asyncio.run(main()) == ["get_job", "get_b"]
        with pytest.raises(ConfigError, match="flavor= must be one of 'a', 'b'"):
            runnorm.get("routed-mcp-kinds", "x", flavor="c", **settings)
        with pytest.raises(ConfigError, match=r"pass flavor= \(one of 'a', 'b'\)"):
            runnorm.get("routed-mcp-kinds", "x", **settings)
        close_clients()
        calls = [json.loads(r.body) for r in mcp.requests if r.body]
        tools = [c["params"]["name"] for c in calls if c.get("method") == "tools/call"]
    assert tools == ["get_run", "get_job", "get_sandbox_run", "get_job", "get_b"]


# -- registration refuses bad fetch declarations --------------------------------------------


def refused(provider: Provider) -> str:
    (info,) = registered(provider).infos()
    assert info.error is not None and not info.ok
    prefix = "runnorm_register_providers failed: TypeError: "
    assert info.error.startswith(prefix), info.error
    return info.error.removeprefix(prefix)


BAD_FETCHES: list[tuple[Any, str]] = [
    (RestFetch(path="v1/runs/{run_id}"), "RestFetch.path must be a path starting with '/'"),
    (RestFetch(path="/v1/runs/{id}"), "may hold only {run_id}, not {id}"),
    (RestFetch(path="/v1/runs"), "must hold {run_id}"),
    (RestFetch(path="/v1/runs/{run_id!r}"), "may hold only {run_id}"),
    (RestFetch(path="/v1/runs/{run_id}?x=1"), "without query"),
    (RestFetch(path="/v1/../{run_id}"), "'.' or '..' segments"),
    (RestFetch(path="/v1/{run_id"), "is not a valid template"),
    (RestFetch(routes={"batch_": "/v1/batches/{batch}"}), "routes['batch_'] may hold only"),
    (RestFetch(routes={"": "/v1/x/{run_id}"}), "a prefix must be a non-empty string"),
    (RestFetch(routes=[("a_", "/a/{run_id}")]), "must be mappings"),  # type: ignore[arg-type]
    (RestFetch(kinds={"a": "/a/{run_id}"}), "kinds and RestFetch.kind_option go together"),
    (RestFetch(path="/r/{run_id}", kind_option="kind"), "go together"),
    (RestFetch(kinds={"a": "/a"}, kind_option="kind"), "kinds['a'] must hold {run_id}"),
    (RestFetch(kinds={"a": "/a/{run_id}"}, kind_option="the kind"), "must be an identifier"),
    (RestFetch(kinds={"a": "/a/{run_id}"}, kind_option="timeout"), "'timeout' is taken"),
    (RestFetch(kinds={"a": "/a/{run_id}"}, kind_option="interval"), "'interval' is taken"),
    (McpFetch(tool=""), "McpFetch.tool must be a tool name"),
    (McpFetch(routes={"j-": 3}), "McpFetch.routes['j-'] must be a tool name"),  # type: ignore[dict-item]
    (McpFetch(argument=""), "McpFetch.argument must be a non-empty string"),
    ("/v1/runs/{run_id}", "must be a runnorm.RestFetch, a runnorm.McpFetch or None"),
]


@pytest.mark.parametrize(("fetch", "problem"), BAD_FETCHES)
def test_bad_fetch_declarations_are_refused_at_registration(fetch: Any, problem: str) -> None:
    error = refused(_provider("bad", fetch=fetch))
    assert error.startswith("Provider.fetch: ")
    assert problem in error


def test_a_fetch_without_any_endpoint_registers_and_says_so_when_called() -> None:
    # Nothing routes and there is no default: legal to declare (a plugin may add routes
    # later), but every call is a ConfigError, before any request.
    provider = _provider("no-endpoint", fetch=RestFetch())
    (info,) = registered(provider).infos()
    assert info.ok
    with (
        runnorm.Client(provider, base_url="http://127.0.0.1:9", api_key=KEY) as client,
        pytest.raises(ConfigError, match="no endpoint serves run 'x': declare a default"),
    ):
        client.get("x")


def test_related_fetch_declarations_are_checked_too() -> None:
    related = runnorm.RelatedFetch(
        option="include_session", key="sessionId", paths={"s": "/s/{run_id}"}, fold=lambda r, d: r
    )
    assert "RelatedFetch.paths['s'] may hold only {id}" in refused(
        _provider("bad", fetch=RestFetch(path="/r/{run_id}", related=(related,)))
    )
    clash = RestFetch(
        path="/r/{run_id}",
        related=(attrs.evolve(related, paths={"s": "/s/{id}"}),),
        kinds={"a": "/a/{run_id}"},
        kind_option="include_session",
    )
    assert "each call option may be declared once" in refused(_provider("bad", fetch=clash))


# -- capability declarations: the three first-party providers' real shapes ------------------

SKYVERN_ARTIFACT_KINDS = {
    "recording": ArtifactKind.RECORDING,
    "screenshot": ArtifactKind.SCREENSHOT,
    "screenshot_final": ArtifactKind.SCREENSHOT,
    "screenshot_action": ArtifactKind.SCREENSHOT,
    "screenshot_llm": ArtifactKind.SCREENSHOT,
    "screenshot_proxy": ArtifactKind.SCREENSHOT,
    "download": ArtifactKind.DOWNLOAD,
    "skyvern_log": ArtifactKind.LOG,
    "skyvern_log_raw": ArtifactKind.LOG,
    "browser_console_log": ArtifactKind.LOG,
    "browser_session_action_log": ArtifactKind.LOG,
    "har": ArtifactKind.LOG,
    "trace": ArtifactKind.LOG,
}

# skyvern.md: GET /v1/runs?page=&page_size= (1..100 each), repeatable status, a bare array of
# list items, newest first, no time filter; cancel 200 empty / 404; workflow runs continue
# (agent_protocol.py: 404 for a run missing or not paused, so 404 is settled by a fetch);
# artifacts listed per run, named by their storage uri, bytes at
# /v1/artifacts/{id}/content with the key (Range: 206).
SKYVERN = {
    "list": RestList(
        path="/v1/runs",
        paging=PageNumbers(size=100, page_param="page", size_param="page_size", max_page=100),
        order="newest_first",
        created_key="created_at",
        status=StatusFilter(param="status", repeatable=True),
        lacks=(
            "result",
            "error",
            "artifacts",
            "web_url",
            "session_id",
            "step_count",
            "task",
            "timing.queued_at",
            "timing.updated_at",
        ),
    ),
    "cancel": RestControl(path="/v1/runs/{run_id}/cancel", outcomes={404: "not_found"}),
    "resume": RestControl(
        path="/v1/workflows/runs/{run_id}/continue", prefixes=("wr_",), ambiguous=(404,)
    ),
    "artifacts": Artifacts(
        listings=(
            ArtifactListing(
                path="/v1/runs/{run_id}/artifacts",
                fields=ArtifactFields(
                    id="artifact_id",
                    url="signed_url",
                    name_path="uri",
                    type_key="artifact_type",
                    kinds=SKYVERN_ARTIFACT_KINDS,
                    size="file_size",
                    checksum="checksum",
                    created_at="created_at",
                ),
                download="/v1/artifacts/{artifact_id}/content",
                ranges=True,
            ),
        ),
    ),
}

# browserbase.md: GET /v1/agents/runs -> {data, limit, nextCursor}, limit up to 1000,
# startAt/endAt inclusive on createdAt, status (one word: the uppercase spelling); stop
# 202/409/404; resume {"task": ...} 202/409/404; recordings (one MP4 per page, links minted
# afresh per GET) and per-file downloads (not on every plan; offset paging, SHA-256, bytes at
# /v1/downloads/{id} with Accept: application/octet-stream).
BROWSERBASE = {
    "list": RestList(
        path="/v1/agents/runs",
        paging=CursorPages(
            next_field="nextCursor", cursor_param="cursor", size_param="limit", size=1000
        ),
        items="data",
        order="unordered",
        created_key="createdAt",
        status=StatusFilter(
            param="status",
            words=("PENDING", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "STOPPED", "TIMED_OUT"),
        ),
        time=TimeFilter(since_param="startAt", until_param="endAt", until_inclusive=True),
    ),
    "cancel": RestControl(
        path="/v1/agents/runs/{run_id}/stop",
        outcomes={202: "accepted", 404: "not_found", 409: "already_terminal"},
        returns_run=True,
    ),
    "resume": RestControl(
        path="/v1/agents/runs/{run_id}/resume",
        body={"task": "{message}"},
        message="required",
        outcomes={202: "accepted", 404: "not_found", 409: "conflict"},
    ),
    "artifacts": Artifacts(
        listings=(
            ArtifactListing(
                path="/v1/sessions/{id}/recording/downloads",
                key="sessionId",
                items="downloads",
                kind=ArtifactKind.RECORDING,
                fields=ArtifactFields(
                    id="pageId",
                    url="downloadUrl",
                    name_template="page-{pageId}.mp4",
                    created_at="completedAt",
                ),
                media_type="video/mp4",
                relists=True,
                missing_ok=frozenset({404}),
            ),
            ArtifactListing(
                path="/v1/downloads",
                query={"sessionId": "{id}"},
                key="sessionId",
                items="downloads",
                paging=OffsetPages(size=100, total_field="total"),
                kind=ArtifactKind.DOWNLOAD,
                fields=ArtifactFields(
                    id="id",
                    name="filename",
                    media_type="mimeType",
                    size="size",
                    checksum="checksum",
                    created_at="createdAt",
                ),
                download="/v1/downloads/{artifact_id}",
                accept="application/octet-stream",
                missing_ok=frozenset({403, 404}),
            ),
        ),
    ),
}

# bridgetown.md: list_runs(project_name, limit 1..50, status) -> {project_name, runs: [...]},
# newest first, no cursor, no time range; cancel_run's schema only from tools/list; outputs
# arrive inline, their exact bytes from get_run_output(run_id, output_name, encoding); no
# resume.
BRIDGETOWN = {
    "list": McpList(
        tool="list_runs",
        max_items=50,
        items="runs",
        limit_argument="limit",
        order="newest_first",
        created_key="created_at",
        status=StatusFilter(param="status"),
        params=(ListParam(option="project", param="project_name", required=True),),
        shared=("project_name",),
        lacks=("result", "error", "artifacts"),
    ),
    "cancel": McpControl(tool="cancel_run", outcomes={"not_found": "not_found"}),
    "resume": None,
    "artifacts": Artifacts(
        inline=True,
        content=ToolContent(
            tool="get_run_output",
            run_argument="run_id",
            name_argument="output_name",
            arguments={"encoding": "base64"},
            content_key="content",
            encoding_key="encoding",
            size_key="size_bytes",
        ),
    ),
}

FIRST_PARTY = {"skyvern": SKYVERN, "browserbase": BROWSERBASE, "bridgetown": BRIDGETOWN}


@pytest.mark.parametrize("name", sorted(FIRST_PARTY))
def test_first_party_declarations_are_the_facts_and_register(name: str) -> None:
    provider = get_host().get(name)
    facts = FIRST_PARTY[name]
    for verb, declared in facts.items():
        assert getattr(provider, verb) == declared, verb
    rebuilt = attrs.evolve(provider, name=f"{name}-again", aliases=(), **facts)
    (info,) = registered(rebuilt).infos()
    assert info.ok, info.error


def test_skyvern_page_cap_bounds_what_a_listing_reaches() -> None:
    paging = SKYVERN["list"].paging  # type: ignore[union-attr]
    assert isinstance(paging, PageNumbers) and paging.max_page is not None
    assert paging.max_page * paging.size == 10_000  # skyvern.md: the 10,000 most recent runs


def test_an_absolute_next_url_listing_fits() -> None:
    # Replicate predictions: {"previous": ..., "next": "https://api.replicate.com/v1/...",
    # "results": [...]}, newest first.
    replicate = RestList(
        path="/v1/predictions",
        paging=NextUrlPages(next_field="next"),
        items="results",
        order="newest_first",
        created_key="created_at",
        lacks=("artifacts",),
    )
    provider = _provider("replicate-like", fetch=RestFetch(path="/v1/predictions/{run_id}"))
    (info,) = registered(attrs.evolve(provider, list=replicate)).infos()
    assert info.ok, info.error
    assert info.capabilities == {"normalize", "fetch", "watch", "list"}


def test_an_after_cursor_listing_and_a_remint_fit() -> None:
    # OpenAI batches: GET /v1/batches?after=<last id>&limit=1..100 ->
    # {"object": "list", "data": [...], "first_id", "last_id", "has_more"}.
    batches = RestList(
        path="/v1/batches",
        paging=AfterPages(after_param="after", item_id="id", more_field="has_more",
                          size_param="limit", size=100),
        items="data",
        order="newest_first",
        created_key="created_at",
    )  # fmt: skip
    # Skyvern's hidden GET /v1/artifacts/{id}/signed-url mints a 5-minute link.
    remint = Remint(path="/v1/artifacts/{artifact_id}/signed-url")
    listing = attrs.evolve(SKYVERN["artifacts"].listings[0], remint=remint)  # type: ignore[union-attr]
    provider = attrs.evolve(
        OPENAI_LIKE,
        name="openai-like",
        list=batches,
        cancel=RestControl(path="/v1/batches/{run_id}/cancel"),
        artifacts=Artifacts(listings=(listing,)),
    )
    (info,) = registered(provider).infos()
    assert info.ok, info.error


def test_capabilities_name_only_what_this_runnorm_can_do() -> None:
    implemented = {
        "normalize", "fetch", "watch", "webhooks", "list", "cancel", "resume", "artifacts"
    }  # fmt: skip
    for info in runnorm.providers():
        provider = info.provider
        assert provider is not None
        assert info.capabilities == provider.capabilities <= implemented
        assert provider.capabilities <= provider.declared_capabilities
    skyvern = get_host().get("skyvern")
    assert skyvern.declared_capabilities == {
        "normalize",
        "fetch",
        "watch",
        "webhooks",
        "list",
        "cancel",
        "resume",
        "artifacts",
    }
    assert get_host().get("bridgetown").declared_capabilities == {
        "normalize",
        "fetch",
        "watch",
        "list",
        "cancel",
        "artifacts",
    }
    assert skyvern.capabilities == skyvern.declared_capabilities
    assert get_host().get("bridgetown").capabilities == {
        "normalize",
        "fetch",
        "watch",
        "list",
        "cancel",
        "artifacts",
    }


def test_a_listing_option_is_an_option_of_list_runs_only() -> None:
    # project= belongs to list_runs; get() still refuses it, and list_runs without it too.
    with pytest.raises(ConfigError, match="unexpected option"):
        runnorm.get("bridgetown", "66666666", project="forecasts", api_key="btk_x")
    bridgetown = get_host().get("bridgetown")
    assert bridgetown.list_options == {"project"} and "project" not in bridgetown.options
    with pytest.raises(ConfigError, match="needs project="):
        runnorm.list_runs("bridgetown", api_key="btk_x")
    with pytest.raises(ConfigError, match="unexpected option"):
        runnorm.list_runs("skyvern", project="forecasts", api_key="sk_x")


def test_docs_fact_rows_show_routes_and_no_verb_left_for_later() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "docs" / "_ext" / "runnorm_tables.py"
    spec = importlib.util.spec_from_file_location("runnorm_tables_for_declarations", path)
    assert spec is not None and spec.loader is not None
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    rows = {row[0]: row[1] for row in tables.fact_rows(OPENAI_LIKE)}
    assert "`GET {base_url}/v1/batches/{run_id}`" in rows["ids starting with `batch_`"]
    assert "`GET {base_url}/v1/responses/{run_id}`" in rows["ids starting with `resp_`"]
    rows = {row[0]: row[1] for row in tables.fact_rows(HYPERBROWSER_LIKE)}
    assert "/api/task/claude-computer-use/{run_id}" in rows["`kind='claude_computer_use'`"]
    skyvern = {row[0]: row[1] for row in tables.fact_rows(get_host().get("skyvern"))}
    assert "declared, not available yet" not in skyvern  # every verb has its engine now
    for verb in ("list", "cancel", "resume", "artifacts"):
        assert f"`{verb}`" in skyvern["capabilities"]


# -- registration refuses bad capability declarations ---------------------------------------

PAGES = PageNumbers(size=100)
BAD_CAPABILITIES: list[tuple[dict[str, Any], str]] = [
    ({"list": "GET /v1/runs"}, "Provider.list: must be a runnorm.RestList"),
    ({"list": RestList(path="/v1/runs/{run_id}", paging=PAGES)}, "RestList.path may hold only"),
    ({"list": RestList(path="/v1/runs", paging="pages")}, "RestList.paging must be one of"),  # type: ignore[arg-type]
    ({"list": RestList(path="/r", paging=PageNumbers(size=0))}, "PageNumbers).size must be"),
    ({"list": RestList(path="/r", paging=PageNumbers(size=10, max_page=0))}, ".max_page must"),
    ({"list": RestList(path="/r", paging=CursorPages(next_field=""))}, ".next_field must"),
    (
        {"list": RestList(path="/r", paging=CursorPages(next_field="n", size=10, size_param=None))},
        "size needs a size_param",
    ),
    (
        {"list": RestList(path="/r", paging=AfterPages(size=0))},
        "AfterPages).size must be a whole number >= 1",
    ),
    ({"list": RestList(path="/r", paging=PAGES, order="newest")}, "order must be one of"),  # type: ignore[arg-type]
    (
        {"list": RestList(path="/r", paging=PAGES, order="newest_first")},
        "created_key is needed",
    ),
    ({"list": RestList(path="/r", paging=PAGES, time=TimeFilter())}, "declares no parameter"),
    (
        {"list": RestList(path="/r", paging=PAGES, time=TimeFilter(since_param="s", format="x"))},  # type: ignore[arg-type]
        "time.format must be one of",
    ),
    ({"list": RestList(path="/r", paging=PAGES, status="status")}, "status must be a StatusF"),  # type: ignore[arg-type]
    ({"list": RestList(path="/r", paging=PAGES, lacks=("outputs",))}, "a Run does not have"),
    (
        {"list": RestList(path="/r", paging=PAGES, params=(ListParam("limit", "limit"),))},
        "'limit' is taken by the calls themselves",
    ),
    (
        {
            "list": RestList(
                path="/r", paging=PAGES, params=(ListParam("p", "a"), ListParam("p", "b"))
            )
        },
        "each option may be declared once",
    ),
    ({"list": McpList(tool="list_runs", max_items=0)}, "McpList.max_items must be"),
    (
        {"list": RestList(path="/r", paging=CursorPages(next_field="next"))},
        "RestList.items is None (the reply is a bare array), which holds no CursorPages.next_field",
    ),
    (
        {
            "list": RestList(
                path="/r", paging=OffsetPages(size=10), items="data", status=StatusFilter(words=())
            )
        },
        "status.words is empty",
    ),
    (
        {"list": RestList(path="/r", paging=PAGES, status=StatusFilter(words=("DONE",)))},
        "status.words are not in Provider.statuses: DONE",
    ),
    (
        {"cancel": RestControl(path="/v1/runs/cancel")},
        "Provider.cancel: RestControl.path must hold",
    ),
    ({"cancel": RestControl(path="/r/{run_id}", method="GET")}, "method must be one of"),  # type: ignore[arg-type]
    ({"cancel": RestControl(path="/r/{run_id}", outcomes={404: "gone"})}, "outcomes[...] must"),  # type: ignore[dict-item]
    ({"cancel": RestControl(path="/r/{run_id}", outcomes={"404": "not_found"})}, "status codes"),  # type: ignore[dict-item]
    (
        {"resume": RestControl(path="/r/{run_id}", message="required", body={"task": "{msg}"})},
        "Provider.resume: RestControl.body must hold '{message}'",
    ),
    (
        {"resume": RestControl(path="/r/{run_id}", body={"task": "{message}"})},
        "exactly when it takes a message",
    ),
    ({"resume": McpControl(tool="resume_run", message="optional")}, "message_argument is needed"),
    ({"cancel": McpControl(tool="cancel_run", other_errors="ok")}, "other_errors must be one of"),  # type: ignore[arg-type]
    ({"cancel": "cancel_run"}, "Provider.cancel must be a runnorm.RestControl"),
    ({"artifacts": Artifacts()}, "declares no source"),
    (
        {"artifacts": Artifacts(listings=(ArtifactListing("/a", ArtifactFields(id="id")),))},
        "path or query must hold {run_id}",
    ),
    (
        {
            "artifacts": Artifacts(
                listings=(ArtifactListing("/s/{run_id}", ArtifactFields(id="i"), key="sid"),)
            )
        },
        "listings[0].path may hold only {id}",
    ),
    (
        {"artifacts": Artifacts(listings=(ArtifactListing("/a/{run_id}", ArtifactFields()),))},
        "needs an id or a url key",
    ),
    (
        {
            "artifacts": Artifacts(
                listings=(
                    ArtifactListing("/a/{run_id}", ArtifactFields(url="u"), download="/d/{id}"),
                )
            )
        },
        "listings[0].download may hold only {artifact_id}",
    ),
    (
        {
            "artifacts": Artifacts(
                listings=(ArtifactListing("/a/{run_id}", ArtifactFields(id="i"), ranges=True),)
            )
        },
        "ranges needs a download path",
    ),
    (
        {
            "artifacts": Artifacts(
                listings=(
                    ArtifactListing(
                        "/a/{run_id}",
                        ArtifactFields(id="i", kinds={"png": ArtifactKind.SCREENSHOT}),
                    ),
                )
            )
        },
        "kinds needs a type_key",
    ),
    (
        {
            "artifacts": Artifacts(
                listings=(
                    ArtifactListing("/a/{run_id}", ArtifactFields(url="u"), remint=Remint("/m")),
                )
            )
        },
        "remint.path must hold {artifact_id}",
    ),
]


BAD_CAPABILITIES += [
    (
        {"resume": RestControl(path="/r/{run_id}", ambiguous=(404,), outcomes={404: "not_found"})},
        "either in RestControl.outcomes or ambiguous",
    ),
    ({"resume": RestControl(path="/r/{run_id}", ambiguous=(4040,))}, "tuple of HTTP status"),
    (
        {
            "artifacts": Artifacts(
                listings=(
                    ArtifactListing(
                        "/a/{run_id}", ArtifactFields(url="u", name_template="../{id}.mp4")
                    ),
                )
            )
        },
        "name_template must be a file name",
    ),
    (
        {
            "artifacts": Artifacts(
                listings=(
                    ArtifactListing(
                        "/a/{run_id}", ArtifactFields(url="u", name_template="{id.__class__}")
                    ),
                )
            )
        },
        "may hold only plain item keys",
    ),
    (
        {
            "artifacts": Artifacts(
                listings=(
                    ArtifactListing("/a/{run_id}", ArtifactFields(url="u"), missing_ok={404}),
                )  # type: ignore[arg-type]
            )
        },
        "missing_ok must be a frozenset of HTTP status codes",
    ),
    (
        {
            "artifacts": Artifacts(
                listings=(ArtifactListing("/a/{run_id}", ArtifactFields(url="u")),),
                content=ToolContent(tool="get_run_output"),
            )
        },
        "content applies to inline artifacts",
    ),
    (
        {"artifacts": Artifacts(inline=True, content=ToolContent(tool="get_run_output"))},
        "it needs an McpFetch",
    ),
    (
        {
            "artifacts": Artifacts(
                inline=True, content=ToolContent(tool="t", run_argument="x", name_argument="x")
            )
        },
        "each argument may be given once",
    ),
]


def test_declarations_that_need_a_fetch_are_refused_without_one() -> None:
    bare = _provider("bare")
    ambiguous = RestControl(path="/r/{run_id}", ambiguous=(404,))
    assert "ambiguous needs Provider.fetch" in refused(attrs.evolve(bare, resume=ambiguous))
    assert "need Provider.fetch" in refused(attrs.evolve(bare, artifacts=Artifacts(inline=True)))


@pytest.mark.parametrize(("declared", "problem"), BAD_CAPABILITIES)
def test_bad_capability_declarations_are_refused_at_registration(
    declared: dict[str, Any], problem: str
) -> None:
    provider = attrs.evolve(_provider("bad", fetch=RestFetch(path="/r/{run_id}")), **declared)
    assert problem in refused(provider)


def test_a_listing_needs_a_fetch_and_options_of_its_own() -> None:
    listing = McpList(tool="list", max_items=5, params=(ListParam("kind", "kind"),))
    kinds = RestFetch(kinds={"a": "/a/{run_id}"}, kind_option="kind")
    assert "option 'kind' is a fetch option too" in refused(
        _provider("clash", fetch=kinds, list=listing)
    )
    assert "Provider.list needs Provider.fetch" in refused(
        _provider("nofetch", fetch=None, list=attrs.evolve(listing, params=()))
    )


def test_a_refused_declaration_leaves_the_other_providers_working() -> None:
    broken = attrs.evolve(OPENAI_LIKE, name="broken", list=RestList(path="x", paging=PAGES))
    host = registered(broken)
    host.add_plugin(registered_plugin(OPENAI_LIKE), "fine")
    infos = {info.name: info for info in host.infos()}
    assert infos["declarations-test"].error is not None
    assert infos["routed-openai"].ok


def registered_plugin(provider: Provider) -> object:
    class Plugin:
        @runnorm.hookimpl
        def runnorm_register_providers(self, register):  # type: ignore[no-untyped-def]
            register(provider)

    return Plugin()


def test_declarations_pickle_and_compare() -> None:
    import pickle

    for name in FIRST_PARTY:
        provider = get_host().get(name)
        restored = pickle.loads(pickle.dumps(provider))
        for verb in ("fetch", "list", "cancel", "resume", "artifacts"):
            assert getattr(restored, verb) == getattr(provider, verb)

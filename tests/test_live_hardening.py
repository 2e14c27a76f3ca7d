"""Live-path edge cases: malformed keys and URLs, echoed secrets, deadlines, sessions, leaks."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from mcp_server import BridgeTownServer, load_get_run_samples, running_bridgetown_server

import runnorm
from runnorm import ConfigError, RunStatus, WaitTimeout
from runnorm._cli import app as cli
from runnorm.testing import FakeProviderServer, Reply

KEY = "sk-hardening-0123456789"
RUN = {"run_id": "tsk_1", "status": "running"}


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-api-key", KEY)) as fake:
        fake.routes["/v1/runs/tsk_1"] = RUN
        yield fake


def options(server: FakeProviderServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url, "api_key": KEY, **more}


def test_key_with_a_trailing_newline_is_stripped(server: FakeProviderServer) -> None:
    assert runnorm.get("skyvern", "tsk_1", base_url=server.url, api_key=KEY + "\n").id == "tsk_1"


@pytest.mark.parametrize("bad", ["sk-with space", "sk-\x00nul", "sk-ünïcode"])
def test_malformed_key_is_a_config_error_that_does_not_echo_it(
    server: FakeProviderServer, bad: str
) -> None:
    with pytest.raises(ConfigError) as info:
        runnorm.get("skyvern", "tsk_1", base_url=server.url, api_key=bad)
    assert bad not in str(info.value) and "API key" in str(info.value)
    assert server.requests == []


def test_malformed_key_from_the_environment(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYVERN_API_KEY", "sk-bad key")
    with pytest.raises(ConfigError, match="SKYVERN_API_KEY") as info:
        runnorm.get("skyvern", "tsk_1", base_url=server.url)
    assert "sk-bad key" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "ftp://example.com",
        "not a url",
        "https://",
        "http://999.1.1.1",  # four numbers that are no IPv4 address
        "http://01.02.03.04",
        "http://[v1.fe]",
        "http://[zz]",
        "http://host:65536",
        "http://host:abc",
        "http://exa mple.com",
        "http://example.com/\x7f",
        "http://ex\tample.com",
    ],
)
def test_bad_base_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="base_url"):
        runnorm.get("skyvern", "tsk_1", base_url=url, api_key=KEY)


@pytest.mark.parametrize(
    "url",
    [
        "http://bücher.de",  # sent in its IDNA form
        "https://example.com/päth",
        "https://example.com/a b",
        "http://[::1]:8080",
        "http://[fe80::1%25eth0]",
        "http://user:pass@host:8080/v1",
        "HTTPS://EXAMPLE.COM",
        "http://1.2.3",  # not four numbers: a name, as httpx reads it
    ],
)
def test_base_urls_httpx_can_send_to_are_accepted(url: str) -> None:
    from runnorm._live.options import valid_http_url

    assert valid_http_url(url)
    httpx.Request("GET", url)  # and httpx builds a request for it


def test_a_url_httpx_cannot_encode_is_a_transport_error_not_a_traceback() -> None:
    # Accepted by the configuration check (a Unicode name), refused by httpx's IDNA rules
    # while building the request: no connection is attempted.
    with pytest.raises(runnorm.TransportError) as info:
        runnorm.get("skyvern", "tsk_1", base_url="http://b_ücher.de", api_key=KEY, max_retries=0)
    assert info.value.kind == "request"
    assert KEY not in str(info.value)


def test_non_ascii_header_is_a_config_error(server: FakeProviderServer) -> None:
    with pytest.raises(ConfigError, match="ASCII"):
        runnorm.get("skyvern", "tsk_1", headers={"X-Note": "café"}, **options(server))


def test_key_echoed_in_a_200_body_never_reaches_the_error(server: FakeProviderServer) -> None:
    server.script("/v1/runs/tsk_1", Reply(200, f"hello {KEY}".encode()))
    with pytest.raises(runnorm.PayloadError) as info:
        runnorm.get("skyvern", "tsk_1", **options(server))
    assert KEY not in str(info.value)
    server.script("/v1/runs/tsk_1", Reply(200, {"run_id": "tsk_1", "status": 3, "echo": KEY}))
    with pytest.raises(runnorm.PayloadError) as info:
        runnorm.get("skyvern", "tsk_1", **options(server))
    assert KEY not in str(info.value) and KEY not in repr(info.value.value)


def test_provider_given_as_a_non_string_is_an_unknown_provider() -> None:
    with pytest.raises(runnorm.UnknownProviderError):
        runnorm.normalize({"run_id": "tsk_1", "status": "completed"}, ["skyvern"])  # type: ignore[arg-type]


# -- wait's deadline bounds everything -----------------------------------------------------------


def test_wait_deadline_cuts_retry_after_waits(server: FakeProviderServer) -> None:
    busy = Reply(429, {"detail": "slow down"}, {"Retry-After": "8"})
    server.script("/v1/runs/tsk_1", Reply(200, RUN), busy, busy, busy)
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        runnorm.wait("skyvern", "tsk_1", timeout=0.5, interval=0.05, **options(server))
    assert time.monotonic() - started < 1.5
    assert info.value.last_run is not None and info.value.last_run.status is RunStatus.RUNNING


def test_wait_deadline_cuts_a_slow_request(server: FakeProviderServer) -> None:
    server.script("/v1/runs/tsk_1", Reply(200, RUN), Reply(200, RUN, delay=3))
    started = time.monotonic()
    with pytest.raises(WaitTimeout):
        runnorm.wait(
            "skyvern", "tsk_1", timeout=0.4, interval=0.05, max_retries=0, **options(server)
        )
    assert time.monotonic() - started < 1.5


def test_a_timeout_reads_the_same_in_sync_and_async(server: FakeProviderServer) -> None:
    server.script("/v1/runs/tsk_1", Reply(200, RUN, delay=2), Reply(200, RUN, delay=2))
    settings = options(server, timeout=0.2, max_retries=0)
    with pytest.raises(runnorm.TransportError) as sync:
        runnorm.get("skyvern", "tsk_1", **settings)
    with pytest.raises(runnorm.TransportError) as asynchronous:
        asyncio.run(runnorm.aget("skyvern", "tsk_1", **settings))
    assert sync.value.kind == asynchronous.value.kind == "timeout"
    assert str(sync.value) == str(asynchronous.value)
    assert str(sync.value).endswith("no complete response within timeout=0.2 s")


# -- get_many -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", None, 7])
def test_get_many_rejects_bad_ids_before_any_request(server: FakeProviderServer, bad: Any) -> None:
    with pytest.raises(ConfigError, match="run_id"):
        runnorm.get_many("skyvern", ["tsk_1", bad], **options(server))
    assert server.requests == []


def test_get_many_uses_the_callers_http_client(server: FakeProviderServer) -> None:
    seen: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda r: seen.append(r.url.path)]})
    with runnorm.Client("skyvern", http_client=http, **options(server)) as client:
        results = client.get_many(["tsk_1", "tsk_1", "tsk_2"], concurrency=2)
    assert [type(r).__name__ for r in results] == ["Run", "Run", "NotFoundError"]
    assert sorted(seen) == ["/v1/runs/tsk_1", "/v1/runs/tsk_1", "/v1/runs/tsk_2"]
    http.close()


def test_async_get_many_leaves_nothing_running_after_a_bug(server: FakeProviderServer) -> None:
    async def main() -> None:
        async with runnorm.AsyncClient("skyvern", **options(server)) as client:
            original = client.get

            async def flaky(run_id: str, **kwargs: Any) -> runnorm.Run:
                if run_id == "tsk_boom":
                    raise RuntimeError("a bug")
                await asyncio.sleep(0.05)
                return await original(run_id, **kwargs)

            client.get = flaky  # type: ignore[method-assign]
            with pytest.raises(ExceptionGroup):
                await client.get_many(["tsk_1", "tsk_boom", "tsk_1"])

    asyncio.run(main())


def eventually(check: Any, seconds: float = 2.0) -> bool:
    """True once *check()* holds (the server ends a session just after answering)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_module_level_async_calls_leave_nothing_open(server: FakeProviderServer) -> None:
    asyncio.run(runnorm.aget("skyvern", "tsk_1", **options(server)))
    before = _open_fds()
    for _ in range(20):
        assert asyncio.run(runnorm.aget("skyvern", "tsk_1", **options(server))).id == "tsk_1"
    assert _open_fds() <= before + 2


# -- MCP sessions ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bridgetown() -> Iterator[BridgeTownServer]:
    with running_bridgetown_server() as mcp:
        yield mcp


def test_concurrent_calls_share_one_handshake_and_close_ends_it(
    bridgetown: BridgeTownServer,
) -> None:
    bridgetown.reset(load_get_run_samples())
    ids = list(load_get_run_samples()) * 5
    with runnorm.Client("bridgetown", base_url=bridgetown.url, api_key=bridgetown.token) as c:
        results = c.get_many(ids, concurrency=8)
    assert all(isinstance(r, runnorm.Run) for r in results)
    methods = [e["jsonrpc_method"] for e in bridgetown.requests if e["method"] == "POST"]
    assert methods.count("initialize") == 1
    assert methods.count("notifications/initialized") == 1
    deletes = [e for e in bridgetown.requests if e["method"] == "DELETE"]
    assert len(deletes) == 1
    assert eventually(lambda: bridgetown.session_ids == [])


def test_sync_client_close_ends_its_session(bridgetown: BridgeTownServer) -> None:
    bridgetown.reset(load_get_run_samples())
    run_id = next(iter(load_get_run_samples()))
    with runnorm.Client("bridgetown", base_url=bridgetown.url, api_key=bridgetown.token) as c:
        c.get(run_id)
        assert len(bridgetown.session_ids) == 1
    assert eventually(lambda: bridgetown.session_ids == [])


# -- the command line's options -------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_cli_numeric_and_text_options(server: FakeProviderServer) -> None:
    with FakeProviderServer(auth=("x-api-key", "1")) as numeric_key:
        numeric_key.routes["/v1/runs/tsk_1"] = RUN
        code, _, err = invoke(
            "get",
            "skyvern",
            "tsk_1",
            "--base-url",
            numeric_key.url,
            "-O",
            "api_key=1",
            "-O",
            "timeout=5",
            "-O",
            "max_retries=0",
        )
    assert code == 0, err


def test_cli_usage_errors_exit_2(server: FakeProviderServer) -> None:
    env = {"SKYVERN_API_KEY": KEY}
    assert invoke("get", "skyvern", "tsk_1", "--base-url", "http://[::1", env=env)[0] == 2
    assert (
        invoke("get", "skyvern", "tsk_1", "-O", "bogus=1", "--base-url", server.url, env=env)[0]
        == 2
    )
    assert invoke("get", "skyvern", "tsk_1", "-O", "timeout=soon", env=env)[0] == 2
    assert invoke("wait", "skyvern", "tsk_1", "--interval", "0", env=env)[0] == 2
    _, _, err = invoke("get", "skyvern", "tsk_1", "--base-url", "http://[::1", env=env)
    assert "Traceback" not in err

"""Live fetching over REST against loopback servers: get, errors, retries, caps, redirects."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import load, sample_files

import runnorm
from runnorm import (
    APIError,
    ArtifactKind,
    AuthError,
    NotFoundError,
    RateLimitError,
    RunStatus,
    ServerError,
    TransportError,
)
from runnorm.testing import FakeProviderServer, Reply

SKYVERN_KEY = "sk-test-skyvern-0123456789"
BB_KEY = "bb_live_test_abcdefghijklmnop"
SKYVERN = {load(p)["run_id"]: load(p) for p in sample_files("skyvern") if "run_id" in load(p)}
BROWSERBASE = {load(p)["runId"]: load(p) for p in sample_files("browserbase")}
BB_SESSION_DIR = Path(__file__).parent.parent / "plugins/runnorm_browserbase/samples/session"
FULL = "tsk_v2_491187523308871744"


@pytest.fixture
def skyvern() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-api-key", SKYVERN_KEY)) as server:
        for run_id, payload in SKYVERN.items():
            server.routes[f"/v1/runs/{run_id}"] = payload
        yield server


@pytest.fixture
def browserbase() -> Iterator[FakeProviderServer]:
    failure = Reply(401, {"statusCode": 401, "error": "Unauthorized", "message": "Invalid key"})
    with FakeProviderServer(auth=("x-bb-api-key", BB_KEY), auth_failure=failure) as server:
        for run_id, payload in BROWSERBASE.items():
            server.routes[f"/v1/agents/runs/{run_id}"] = payload
        yield server


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SKYVERN_API_KEY",
        "BROWSERBASE_API_KEY",
        "BRIDGETOWN_API_KEY",
        "SKYVERN_BASE_URL",
        "BROWSERBASE_BASE_URL",
        "BRIDGETOWN_MCP_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def client(server: FakeProviderServer, **kwargs: Any) -> runnorm.Client:
    return runnorm.Client("skyvern", base_url=server.url, api_key=SKYVERN_KEY, **kwargs)


# -- get -------------------------------------------------------------------------------------


def test_get_returns_the_normalized_run_and_sends_the_key(skyvern: FakeProviderServer) -> None:
    with client(skyvern) as c:
        run = c.get(FULL)
    assert run == runnorm.normalize(SKYVERN[FULL])
    (request,) = skyvern.requests
    assert (request.method, request.path) == ("GET", f"/v1/runs/{FULL}")
    assert request.headers["x-api-key"] == SKYVERN_KEY
    assert request.headers["user-agent"].startswith("runnorm/")


def test_async_get_matches_sync(skyvern: FakeProviderServer) -> None:
    async def main() -> runnorm.Run:
        async with runnorm.AsyncClient("skyvern", base_url=skyvern.url, api_key=SKYVERN_KEY) as c:
            return await c.get(FULL)

    assert asyncio.run(main()) == runnorm.normalize(SKYVERN[FULL])


def test_module_level_get_and_aget_across_event_loops(skyvern: FakeProviderServer) -> None:
    options = {"base_url": skyvern.url, "api_key": SKYVERN_KEY}
    assert runnorm.get("skyvern", FULL, **options).id == FULL
    for _ in range(2):  # a second asyncio.run must not reuse a client bound to a closed loop
        assert asyncio.run(runnorm.aget("skyvern", FULL, **options)).id == FULL


def test_key_and_base_url_from_the_environment(
    skyvern: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYVERN_API_KEY", SKYVERN_KEY)
    monkeypatch.setenv("SKYVERN_BASE_URL", skyvern.url)
    with runnorm.Client("skyvern") as c:
        assert c.get(FULL).ok


def test_missing_key_names_the_variable_before_any_request(skyvern: FakeProviderServer) -> None:
    with pytest.raises(AuthError, match="SKYVERN_API_KEY"):
        runnorm.get("skyvern", FULL, base_url=skyvern.url)
    assert skyvern.requests == []


def test_wrong_key_is_an_auth_error_with_the_body(skyvern: FakeProviderServer) -> None:
    with pytest.raises(AuthError) as info:
        runnorm.get("skyvern", FULL, base_url=skyvern.url, api_key="sk-wrong-key-value")
    error = info.value
    assert (error.status_code, error.provider) == (403, "skyvern")
    assert error.body == {"detail": "Invalid credentials"}
    assert "Invalid credentials" in str(error)
    assert "sk-wrong-key-value" not in str(error)
    assert len(skyvern.requests) == 1  # no retry on 4xx


def test_browserbase_401_is_an_auth_error(browserbase: FakeProviderServer) -> None:
    with pytest.raises(AuthError) as info:
        runnorm.get(
            "browserbase", next(iter(BROWSERBASE)), base_url=browserbase.url, api_key="nope-nope"
        )
    assert info.value.status_code == 401 and "Invalid key" in str(info.value)


def test_not_found(skyvern: FakeProviderServer) -> None:
    skyvern.script("/v1/runs/tsk_missing", Reply(404, {"detail": "Task run not found tsk_missing"}))
    with pytest.raises(NotFoundError, match="Task run not found") as info:
        client(skyvern).get("tsk_missing")
    assert info.value.status_code == 404


def test_other_4xx_is_not_retried(skyvern: FakeProviderServer) -> None:
    skyvern.script(f"/v1/runs/{FULL}", Reply(422, {"detail": [{"msg": "bad id"}]}))
    with pytest.raises(APIError) as info:
        client(skyvern).get(FULL)
    assert type(info.value) is APIError and info.value.status_code == 422
    assert len(skyvern.requests) == 1


def test_429_with_retry_after_is_retried(skyvern: FakeProviderServer) -> None:
    skyvern.script(f"/v1/runs/{FULL}", Reply(429, {"detail": "slow down"}, {"Retry-After": "0.2"}))
    started = time.monotonic()
    assert client(skyvern).get(FULL).ok
    assert time.monotonic() - started >= 0.2
    assert len(skyvern.requests) == 2


def test_429_past_retries_is_a_rate_limit_error(skyvern: FakeProviderServer) -> None:
    busy = Reply(429, {"detail": "slow down"}, {"Retry-After": "0"})
    skyvern.script(f"/v1/runs/{FULL}", busy, busy, busy)
    with pytest.raises(RateLimitError):
        client(skyvern, max_retries=2).get(FULL)
    assert len(skyvern.requests) == 3


def test_5xx_and_408_are_retried_then_server_error(skyvern: FakeProviderServer) -> None:
    skyvern.script(f"/v1/runs/{FULL}", Reply(500, b"oops"), Reply(408), Reply(503))
    with pytest.raises(ServerError) as info:
        client(skyvern, max_retries=2).get(FULL)
    assert info.value.status_code == 503
    skyvern.script(f"/v1/runs/{FULL}", Reply(502))
    assert client(skyvern, max_retries=1).get(FULL).ok


def test_http_date_retry_after_is_honoured(skyvern: FakeProviderServer) -> None:
    from email.utils import formatdate

    skyvern.script(
        f"/v1/runs/{FULL}", Reply(503, headers={"Retry-After": formatdate(time.time() + 2)})
    )
    started = time.monotonic()
    assert client(skyvern).get(FULL).ok
    assert time.monotonic() - started >= 0.9


def test_slow_server_times_out(skyvern: FakeProviderServer) -> None:
    skyvern.script(f"/v1/runs/{FULL}", Reply(200, SKYVERN[FULL], delay=1.0))
    with pytest.raises(TransportError) as info:
        client(skyvern, timeout=0.2, max_retries=0).get(FULL)
    assert info.value.kind == "timeout" and info.value.provider == "skyvern"


def test_connection_refused_is_a_transport_error() -> None:
    with FakeProviderServer() as server:
        url = server.url
    with pytest.raises(TransportError) as info:
        runnorm.get("skyvern", FULL, base_url=url, api_key=SKYVERN_KEY, max_retries=1)
    assert info.value.kind == "connect"


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_response_is_cut_off(skyvern: FakeProviderServer, chunked: bool) -> None:
    huge = b'{"run_id": "tsk_1", "status": "completed", "pad": "' + b"x" * 300_000 + b'"}'
    skyvern.script(f"/v1/runs/{FULL}", Reply(200, huge, chunked=chunked))
    with pytest.raises(TransportError, match="max_response_bytes=100000") as info:
        client(skyvern, max_response_bytes=100_000).get(FULL)
    assert info.value.kind == "too_large"
    assert len(skyvern.requests) == 1  # not retried


def test_response_that_is_not_json_is_a_payload_error(skyvern: FakeProviderServer) -> None:
    skyvern.script(f"/v1/runs/{FULL}", Reply(200, b"<html>hi</html>"))
    with pytest.raises(runnorm.PayloadError, match="not JSON"):
        client(skyvern).get(FULL)
    skyvern.script(f"/v1/runs/{FULL}", Reply(200, [1, 2]))
    with pytest.raises(runnorm.PayloadError, match="not a run object"):
        client(skyvern).get(FULL)


def test_cross_origin_redirect_never_carries_the_key(skyvern: FakeProviderServer) -> None:
    with FakeProviderServer() as elsewhere:
        elsewhere.routes[f"/v1/runs/{FULL}"] = SKYVERN[FULL]
        location = f"{elsewhere.url}/v1/runs/{FULL}"
        skyvern.script(f"/v1/runs/{FULL}", Reply(302, headers={"Location": location}))
        run = client(skyvern, headers={"X-Trace": "t1"}).get(FULL)
        assert run.id == FULL
        (received,) = elsewhere.requests
        assert "x-api-key" not in received.headers
        assert SKYVERN_KEY not in str(received.headers)
        assert received.headers["x-trace"] == "t1"


def test_browserbase_key_is_not_forwarded_either(browserbase: FakeProviderServer) -> None:
    run_id = next(iter(BROWSERBASE))
    with FakeProviderServer() as elsewhere:
        elsewhere.routes[f"/v1/agents/runs/{run_id}"] = BROWSERBASE[run_id]
        browserbase.script(
            f"/v1/agents/runs/{run_id}",
            Reply(307, headers={"Location": f"{elsewhere.url}/v1/agents/runs/{run_id}"}),
        )
        runnorm.get("browserbase", run_id, base_url=browserbase.url, api_key=BB_KEY)
        assert "x-bb-api-key" not in elsewhere.requests[0].headers


def test_same_origin_redirect_keeps_the_key(skyvern: FakeProviderServer) -> None:
    skyvern.script("/v1/runs/tsk_old", Reply(301, headers={"Location": f"/v1/runs/{FULL}"}))
    assert client(skyvern).get("tsk_old").id == FULL
    assert [r.headers.get("x-api-key") for r in skyvern.requests] == [SKYVERN_KEY, SKYVERN_KEY]


def test_key_never_appears_in_reprs_logs_or_errors(
    skyvern: FakeProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    c = client(skyvern)
    assert SKYVERN_KEY not in repr(c)
    c.get(FULL)
    skyvern.script(f"/v1/runs/{FULL}", Reply(500, {"echo": f"key was {SKYVERN_KEY}"}))
    with pytest.raises(ServerError) as info:
        client(skyvern, max_retries=0).get(FULL)
    assert SKYVERN_KEY not in str(info.value) and SKYVERN_KEY not in repr(info.value.body)
    assert any(record.name.startswith(("httpx", "httpcore")) for record in caplog.records)
    assert SKYVERN_KEY not in caplog.text
    from runnorm._live.options import resolve_options

    options = resolve_options(c.provider, {"api_key": SKYVERN_KEY, "base_url": skyvern.url})
    assert SKYVERN_KEY not in repr(options)


def test_user_supplied_httpx_client_is_used_and_left_open(skyvern: FakeProviderServer) -> None:
    seen: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: seen.append(str(request.url))]})
    with runnorm.Client(
        "skyvern", base_url=skyvern.url, api_key=SKYVERN_KEY, http_client=http
    ) as c:
        c.get(FULL)
    assert seen == [f"{skyvern.url}/v1/runs/{FULL}"]
    assert not http.is_closed
    http.close()


def test_unknown_option_is_a_type_error(skyvern: FakeProviderServer) -> None:
    with pytest.raises(TypeError, match="include_session"):
        client(skyvern).get(FULL, include_session=True)  # a Browserbase option
    with pytest.raises(TypeError, match="tiemout"):
        client(skyvern).get(FULL, tiemout=3)


def test_provider_without_fetch_is_unsupported(make_dist: Any) -> None:
    from support import acme_source

    make_dist("runnorm-acme", "runnorm_acme_live", acme_source(), {"acme": "runnorm_acme_live"})
    with pytest.raises(runnorm.UnsupportedError):
        runnorm.get("acme", "acme-1", base_url="http://127.0.0.1:9")


# -- Browserbase session folding ---------------------------------------------------------------


def test_include_session_folds_session_recordings_and_logs(browserbase: FakeProviderServer) -> None:
    run_id = "d21c5a1d-3873-446a-8ac9-032d2092fb9f"
    session_id = BROWSERBASE[run_id]["sessionId"]
    base = f"/v1/sessions/{session_id}"
    browserbase.routes[base] = load(BB_SESSION_DIR / "session.json")
    browserbase.routes[f"{base}/recording/downloads"] = load(
        BB_SESSION_DIR / "recording-downloads.json"
    )
    browserbase.routes[f"{base}/logs"] = load(BB_SESSION_DIR / "logs.json")
    plain = runnorm.get("browserbase", run_id, base_url=browserbase.url, api_key=BB_KEY)
    run = runnorm.get(
        "browserbase", run_id, base_url=browserbase.url, api_key=BB_KEY, include_session=True
    )
    assert len(browserbase.requests) == 5
    assert {r.method for r in browserbase.requests} == {"GET"}  # never the POST
    recordings = [a for a in run.artifacts if a.kind is ArtifactKind.RECORDING]
    assert [a.name for a in recordings] == ["page-0.mp4"]
    assert recordings[0].media_type == "video/mp4" and recordings[0].created_at is not None
    (logs,) = [a for a in run.artifacts if a.kind is ArtifactKind.LOG]
    assert logs.content == load(BB_SESSION_DIR / "logs.json")
    assert run.extra["session"]["region"] == "us-west-2"
    assert run.extra["recordings"] == [
        {"page_id": "0", "status": "COMPLETED"},
        {"page_id": "1", "status": "PENDING"},
    ]
    assert plain.artifacts == run.artifacts[: len(plain.artifacts)]
    assert run.raw == plain.raw


def test_include_session_tolerates_missing_recordings(browserbase: FakeProviderServer) -> None:
    run_id = "d21c5a1d-3873-446a-8ac9-032d2092fb9f"
    session_id = BROWSERBASE[run_id]["sessionId"]
    browserbase.routes[f"/v1/sessions/{session_id}"] = load(BB_SESSION_DIR / "session.json")
    browserbase.routes[f"/v1/sessions/{session_id}/logs"] = []
    run = runnorm.get(
        "browserbase", run_id, base_url=browserbase.url, api_key=BB_KEY, include_session=True
    )
    assert "recordings" not in run.extra
    assert run.status is RunStatus.SUCCEEDED


def test_module_level_sync_calls_use_the_declaration_they_are_given(
    skyvern: FakeProviderServer,
) -> None:
    """A ``Provider`` of the caller's own (not registered, or a copy of a registered one
    with other settings) is used as given by the sync functions, as by the async ones:
    before, the sync ones looked its name up and used the registered declaration (or
    raised ``UnknownProviderError``)."""
    import attrs

    from runnorm._plugins.host import get_host

    registered = get_host().get("skyvern")
    own = attrs.evolve(registered, name="skyvern-own", aliases=(), base_url=skyvern.url)
    copy = attrs.evolve(registered, base_url=skyvern.url)  # the registered name, other settings
    for declared in (own, copy):
        run = runnorm.get(declared, "tsk_v2_491187523308871744", api_key=SKYVERN_KEY)
        assert (run.provider, run.id) == (declared.name, "tsk_v2_491187523308871744")
        [many] = runnorm.get_many(declared, [run.id], api_key=SKYVERN_KEY)
        assert isinstance(many, runnorm.Run) and many.id == run.id
        waited = runnorm.wait(declared, run.id, api_key=SKYVERN_KEY, timeout=5, interval=0.01)
        assert waited.status.is_terminal
        asynced = asyncio.run(runnorm.aget(declared, run.id, api_key=SKYVERN_KEY))
        assert asynced == run
    assert runnorm.get("skyvern", FULL, api_key=SKYVERN_KEY, base_url=skyvern.url).id == FULL

"""Property test: whatever the arguments of the public fetch API, only RunnormErrors escape.

``runnorm.get``, ``aget``, ``wait``, ``get_many``, ``watch``, ``awatch`` and ``Client(...)`` get
arbitrary run ids and
option values (timeouts, retries, caps, headers, keys, base URLs) against loopback servers
only: a stand-in that answers, and a port nothing listens on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import runnorm
from runnorm import RunnormError
from runnorm.testing import FakeProviderServer

KEY = "sk-wire-properties-0123456789"

odd_numbers = st.sampled_from(
    [float("inf"), float("-inf"), float("nan"), -1, -0.0, 0, True, False, 10**30, "1", b"1", [1]]
)


def mostly(valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid, so that most examples reach the wire with one odd value or two."""
    return st.integers(min_value=0, max_value=7).flatmap(lambda n: odd if n == 0 else valid)


timeouts = mostly(
    st.none() | st.floats(min_value=0.2, max_value=1e300) | st.integers(1, 10**12),
    odd_numbers | st.floats(max_value=0.01),
)
retries = mostly(st.sampled_from([0, 1, 1.0]), st.floats() | st.integers() | odd_numbers)
caps = mostly(
    st.integers(min_value=0, max_value=10**7) | st.sampled_from([0, 1, 10.0]),
    st.floats() | st.integers(max_value=-1) | odd_numbers,
)
headers = mostly(
    st.none() | st.sampled_from([{"x-a": "ok"}, {"x-b": 1}, {}]),
    st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=2)
    | st.sampled_from([{1: "a"}, ["x"], "x-a: b", {"x-a": None}, {"x-a": "\ud800"}]),
)
keys = mostly(st.just(KEY), st.none() | st.text(max_size=12) | st.sampled_from([KEY + "\ud800"]))
run_ids = mostly(
    st.sampled_from(["tsk_1", "tsk_done", "tsk_missing"]),
    st.sampled_from([".", "..", "a/b", "%2e", "?x=1", "#f", "\ud800", "", " ", "\x00"])
    | st.text(max_size=20)
    | st.none()
    | st.integers(),
)
places = mostly(
    st.just("server"), st.sampled_from(["server/", "closed", "bad-port", "ftp", "", None, 5])
)
wait_timeouts = mostly(st.floats(min_value=0, max_value=0.2), odd_numbers | st.none())
functions = st.sampled_from(["get", "aget", "wait", "get_many", "watch", "awatch", "client"])


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(auth=("x-api-key", KEY)) as fake:
        fake.routes["/v1/runs/tsk_1"] = {"run_id": "tsk_1", "status": "running"}
        fake.routes["/v1/runs/tsk_done"] = {"run_id": "tsk_done", "status": "completed"}
        yield fake


def call(function: str, run_id: Any, options: dict[str, Any], wait_timeout: Any) -> Any:
    if function == "get":
        return runnorm.get("skyvern", run_id, **options)
    if function == "aget":
        return asyncio.run(runnorm.aget("skyvern", run_id, **options))
    if function == "wait":
        options = dict(options)
        request_timeout = options.pop("timeout")
        return runnorm.wait(
            "skyvern",
            run_id,
            timeout=wait_timeout,
            interval=0.01,
            request_timeout=request_timeout,
            **options,
        )
    if function == "get_many":
        return runnorm.get_many("skyvern", [run_id, "tsk_1"], **options)
    if function in ("watch", "awatch"):
        return watch(function, run_id, options, wait_timeout)
    with runnorm.Client("skyvern", **options) as client:
        return client.get(run_id)


def watch(function: str, run_id: Any, options: dict[str, Any], timeout: Any) -> list[Any]:
    """All the events of a watch of *run_id* and a finished run; a deadline that could not
    end a watch of a run that never finishes (None, or a huge number) is cut to 0.2 s."""
    if timeout is None or (
        isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 1
    ):
        timeout = 0.2
    ids = [run_id, "tsk_done"]
    options = dict(options)
    options["request_timeout"] = options.pop("timeout")
    if function == "watch":
        return list(runnorm.watch("skyvern", ids, interval=0.01, timeout=timeout, **options))

    async def main() -> list[Any]:
        events = runnorm.awatch("skyvern", ids, interval=0.01, timeout=timeout, **options)
        return [event async for event in events]

    return asyncio.run(main())


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    function=functions,
    run_id=run_ids,
    timeout=timeouts,
    max_retries=retries,
    max_response_bytes=caps,
    extra_headers=headers,
    api_key=keys,
    where=places,
    wait_timeout=wait_timeouts,
)
def test_public_fetch_api_raises_only_runnorm_errors(
    server: FakeProviderServer,
    *,
    function: str,
    run_id: Any,
    timeout: Any,
    max_retries: Any,
    max_response_bytes: Any,
    extra_headers: Any,
    api_key: Any,
    where: Any,
    wait_timeout: Any,
) -> None:
    base_url = {
        "server": server.url,
        "server/": server.url + "/",
        "closed": "http://127.0.0.1:9",
        "bad-port": "http://127.0.0.1:99999",
        "ftp": "ftp://127.0.0.1/",
    }.get(where, where)
    options = {
        "base_url": base_url,
        "api_key": api_key,
        "timeout": timeout,
        "max_retries": max_retries,
        "max_response_bytes": max_response_bytes,
        "headers": extra_headers,
    }
    try:
        result = call(function, run_id, options, wait_timeout)
    except RunnormError as exc:
        event(type(exc).__name__)
        return
    event("ok")
    if function == "get_many":
        assert all(isinstance(item, runnorm.Run | RunnormError) for item in result)
    elif function in ("watch", "awatch"):
        assert all(isinstance(item, runnorm.RunEvent) for item in result)
    else:
        assert isinstance(result, runnorm.Run)

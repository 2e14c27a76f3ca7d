"""Odd option values are a ``ConfigError`` before anything is sent: a timeout too large for
a float, ids that are not a list, a flag that is not a bool, a callback that cannot be
called. Nothing listens on the base URL: a value that got through would fail otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import runnorm
from runnorm import ConfigError
from runnorm._live.api import close_clients

OPTIONS = {"api_key": "sk-test-0123456789", "base_url": "http://127.0.0.1:9", "max_retries": 0}
HUGE = 10**400  # an int no float holds


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    yield
    close_clients()


@pytest.mark.parametrize("timeout", [HUGE, -HUGE])
def test_a_timeout_too_large_for_a_float_is_a_config_error(timeout: int) -> None:
    with pytest.raises(ConfigError, match="timeout must be a finite"):
        runnorm.get("skyvern", "tsk_1", **{**OPTIONS, "timeout": timeout})
    with pytest.raises(ConfigError, match="timeout must be a finite"):
        runnorm.wait("skyvern", "tsk_1", timeout=timeout, **OPTIONS)
    with pytest.raises(ConfigError, match="interval must be a finite"):
        runnorm.wait("skyvern", "tsk_1", interval=timeout, **OPTIONS)
    with pytest.raises(ConfigError, match="timeout must be a finite"):
        runnorm.Client("skyvern", timeout=timeout)
    with pytest.raises(ConfigError, match="timeout must be a finite"):
        asyncio.run(runnorm.aget("skyvern", "tsk_1", **{**OPTIONS, "timeout": timeout}))


@pytest.mark.parametrize("ids", ["tsk_1", b"tsk_1", None, 5])
def test_get_many_takes_a_list_of_ids_not_one_string_or_a_scalar(ids: Any) -> None:
    with pytest.raises(ConfigError, match="ids must be a list of run ids"):
        runnorm.get_many("skyvern", ids, **OPTIONS)

    async def many() -> Any:
        async with runnorm.AsyncClient("skyvern", **OPTIONS) as client:
            return await client.get_many(ids)

    with pytest.raises(ConfigError, match="ids must be a list of run ids"):
        asyncio.run(many())


def test_get_many_still_takes_any_iterable_of_ids() -> None:
    results = runnorm.get_many("skyvern", iter(["tsk_1"]), **OPTIONS)
    assert [type(r).__name__ for r in results] == ["TransportError"]


@pytest.mark.parametrize("flag", ["no", None, 0])
def test_stop_on_paused_must_be_a_bool(flag: Any) -> None:
    with pytest.raises(ConfigError, match="stop_on_paused must be True or False"):
        runnorm.wait("skyvern", "tsk_1", stop_on_paused=flag, **OPTIONS)
    with pytest.raises(ConfigError, match="stop_on_paused must be True or False"):
        asyncio.run(runnorm.await_run("skyvern", "tsk_1", stop_on_paused=flag, **OPTIONS))


@pytest.mark.parametrize("callback", [5, "print"])
def test_on_update_must_be_callable(callback: Any) -> None:
    with pytest.raises(ConfigError, match="on_update must be a callable or None"):
        runnorm.wait("skyvern", "tsk_1", on_update=callback, **OPTIONS)

"""The live API's shapes agree: module functions and their async twins, and the clients'
methods, take the same parameters with the same defaults; the clients show no internals."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta
from typing import Any, get_type_hints

import pytest

import runnorm
from runnorm import AsyncClient, Client

TWINS = [
    ("get", "aget"),
    ("wait", "await_run"),
    ("watch", "awatch"),
    ("list_runs", "alist_runs"),
    ("cancel", "acancel"),
    ("resume", "aresume"),
    ("artifacts", "aartifacts"),
    ("download", "adownload"),
]
METHODS = {
    "artifacts",
    "cancel",
    "download",
    "get",
    "get_many",
    "list_runs",
    "resume",
    "wait",
    "watch",
}


def _params(function: Any, *, skip: int = 0) -> list[tuple[str, Any, Any]]:
    parameters = list(inspect.signature(function).parameters.values())[skip:]
    return [(p.name, p.kind, p.default) for p in parameters]


def _annotations(function: Any, *, skip: int = 0) -> dict[str, Any]:
    parameters = list(inspect.signature(function).parameters.values())[skip:]
    return {p.name: p.annotation for p in parameters if p.name != "webhooks"}


@pytest.mark.parametrize(("sync", "async_"), TWINS)
def test_async_twins_take_the_same_parameters(sync: str, async_: str) -> None:
    assert _params(getattr(runnorm, sync)) == _params(getattr(runnorm, async_))
    # ``webhooks`` is an async iterable, for ``awatch`` only
    assert _annotations(getattr(runnorm, sync)) == _annotations(getattr(runnorm, async_))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_client_methods_match_the_module_functions(name: str) -> None:
    expected = _params(getattr(runnorm, name), skip=1)  # the provider
    for client in (Client, AsyncClient):
        assert _params(getattr(client, name), skip=1) == expected, client  # self
        assert _annotations(getattr(client, name), skip=1) == _annotations(
            getattr(runnorm, name), skip=1
        )


def test_clients_show_only_their_public_methods() -> None:
    public = {n for n in dir(Client) if not n.startswith("_")}
    assert public == METHODS | {"close"}
    assert {n for n in dir(AsyncClient) if not n.startswith("_")} == METHODS | {"aclose"}
    assert _params(Client.__init__) == _params(AsyncClient.__init__)


TIME_BOUND = datetime | timedelta | str | None


@pytest.mark.parametrize(
    "function",
    [
        runnorm.list_runs,
        runnorm.alist_runs,
        runnorm.watch,
        runnorm.awatch,
        Client.list_runs,
        AsyncClient.list_runs,
        Client.watch,
        AsyncClient.watch,
    ],
    ids=lambda f: f.__qualname__,
)
def test_time_bounds_are_typed_as_documented(function: Any) -> None:
    # an aware datetime, a timedelta back from now, ISO 8601 text or a span ("2h"): not Any
    hints = get_type_hints(function)
    for name in ("since", "until"):
        if name in inspect.signature(function).parameters:
            assert hints[name] == TIME_BOUND, name


def test_read_dump_with_on_error_raise_is_typed_to_yield_runs_only() -> None:
    # with on_error="raise" no RecordError is ever yielded: a type checker knows it
    from collections.abc import Iterator
    from typing import Literal, get_overloads

    from runnorm import RecordError, Run
    from runnorm._batch import reader

    returns = {
        get_type_hints(o, vars(reader))["on_error"]: get_type_hints(o, vars(reader))["return"]
        for o in get_overloads(reader.read_dump)
    }
    assert returns == {
        Literal["raise"]: Iterator[Run],
        Literal["yield"]: Iterator[Run | RecordError],
        Literal["yield", "raise"]: Iterator[Run | RecordError],
    }

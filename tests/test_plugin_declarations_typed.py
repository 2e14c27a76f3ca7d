"""Declarations a plugin gets wrong are refused at registration, never trusted until a call
trips over them: every field a request, the docs or the CLI read is checked for its type."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import runnorm
from runnorm import Auth, FieldNote, Provider, RestFetch, Run, RunStatus, StatusMap
from runnorm._live.api import close_clients
from runnorm._plugins.host import PluginHost, reset_host

NAME = "typed"
STATUSES = StatusMap(NAME, {"ok": RunStatus.SUCCEEDED})


def to_run(p: Mapping[str, Any]) -> Run:
    return Run(provider=NAME, id="r1", status=RunStatus.SUCCEEDED, native_status="ok", raw=p)


def provider(**declared: Any) -> Provider:
    base: dict[str, Any] = {
        "name": NAME,
        "statuses": STATUSES,
        "to_run": to_run,
        "detect": lambda p: "typed_id" in p,
        "fetch": RestFetch(path="/runs/{run_id}"),
        "base_url": "http://127.0.0.1:9",
    }
    return Provider(**{**base, **declared})


def registered(declared: Provider) -> PluginHost:
    host = PluginHost(entry_points=False)
    host.add_plugin(declared, "typed-plugin")
    return host


@pytest.fixture
def as_global() -> Iterator[None]:
    yield
    close_clients()
    reset_host(None)


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ({"auth": {"header": "X-Key", "env_var": "TYPED_KEY"}}, "Provider.auth must be"),
        ({"auth": Auth(header=5, env_var="TYPED_KEY")}, "Provider.auth.header"),  # type: ignore[arg-type]
        ({"auth": Auth(header="X Key", env_var="TYPED_KEY")}, "Provider.auth.header"),
        ({"auth": Auth(header="X-Key", env_var=None)}, "Provider.auth.env_var"),  # type: ignore[arg-type]
        ({"auth": Auth(header="X-Key", env_var="A=B")}, "Provider.auth.env_var"),
        ({"auth": Auth(header="X-Key", env_var="K", scheme=5)}, "Provider.auth.scheme"),  # type: ignore[arg-type]
        ({"base_url": 5}, "Provider.base_url"),
        ({"base_url_env": 5}, "Provider.base_url_env"),
        ({"base_url_env": "A\x00B"}, "Provider.base_url_env"),
        ({"base_url_env": ""}, "Provider.base_url_env"),
        ({"title": 5}, "Provider.title"),
        ({"docs_url": ["x"]}, "Provider.docs_url"),
        ({"field_notes": "id"}, "Provider.field_notes"),
        ({"field_notes": (1, 2)}, "Provider.field_notes"),
        ({"sensitive_keys": ("\ud800",)}, "Provider.sensitive_keys"),
    ],
)
def test_a_mistyped_declaration_is_refused_naming_the_field(
    declared: dict[str, Any], problem: str, as_global: None
) -> None:
    host = registered(provider(**declared))
    (info,) = host.infos()
    assert not info.ok
    assert info.error is not None
    assert info.error.startswith("runnorm_register_providers failed: TypeError: " + problem)
    reset_host(host)
    with pytest.raises(runnorm.UnknownProviderError):  # refused: never half-usable
        runnorm.get(NAME, "r1", api_key="k-0123456789")


def test_well_typed_declarations_still_register() -> None:
    declared = provider(
        auth=Auth(header="X-Key", env_var="TYPED_KEY", scheme="Bearer"),
        base_url_env="TYPED_BASE_URL",
        title="Typed",
        docs_url="https://typed.example/docs",
        field_notes=(FieldNote("typed_id", "id"),),
        sensitive_keys=("*secret*", "[z-a]"),
    )
    (info,) = registered(declared).infos()
    assert info.ok, info.error


def test_first_party_declarations_pass_the_checks() -> None:
    assert [(i.name, i.error) for i in runnorm.providers() if i.error] == []


@pytest.mark.parametrize(
    "words",
    [
        {"ok": "succeeded"},
        {1: RunStatus.SUCCEEDED},
        {"ok": None},
    ],
)
def test_a_status_map_holds_only_words_and_run_statuses(words: Any) -> None:
    with pytest.raises(TypeError, match="must map to a RunStatus member"):
        StatusMap(NAME, words)


def test_a_status_map_takes_a_mapping() -> None:
    with pytest.raises(TypeError, match="a mapping of words"):
        StatusMap(NAME, 5)  # type: ignore[arg-type]


class Twice:
    """A plugin whose hook registers its declarations twice."""

    def __init__(self, *declared: Provider) -> None:
        self.declared = declared

    @runnorm.hookimpl
    def runnorm_register_providers(self, register: Any) -> None:
        for declared in self.declared:
            register(declared)


def test_one_declaration_registered_twice_by_its_plugin_counts_once() -> None:
    declared = provider()
    host = PluginHost(entry_points=False)
    host.add_plugin(Twice(declared, declared), "twice")
    (info,) = host.infos()
    assert info.ok, info.error
    assert host.get(NAME) is declared


def test_two_declarations_of_one_name_by_one_plugin_say_so() -> None:
    host = PluginHost(entry_points=False)
    host.add_plugin(Twice(provider(), provider(title="Other")), "twice")
    errors = {info.error for info in host.infos()}
    assert errors == {
        "provider name 'typed' is registered several times, with different declarations, "
        "by twice (plugin 'twice')"
    }
    with pytest.raises(runnorm.PluginLoadError, match="registered several times"):
        host.get(NAME)

"""Plugin discovery through real entry points: third-party, broken, clashing, env controls."""

from __future__ import annotations

import pytest
from support import MakeDist, acme_source

import runnorm
from runnorm import PluginLoadError, RunStatus, UnknownProviderError
from runnorm._plugins.host import PluginHost, get_host


def test_first_party_providers_come_from_entry_points() -> None:
    infos = {info.name: info for info in runnorm.providers()}
    for name in ("skyvern", "browserbase", "bridgetown"):
        info = infos[name]
        assert info.error is None, info.error
        assert info.package == "runnorm"
        assert info.version == runnorm.__version__
        assert info.entry_point == f"{name} = runnorm_{name}.provider:PROVIDER"
        assert {"normalize", "fetch"} <= info.capabilities


def test_third_party_plugin_is_found_through_its_entry_point(make_dist: MakeDist) -> None:
    make_dist("runnorm-acme", "runnorm_acme_test", acme_source(), {"acme": "runnorm_acme_test"})
    infos = {info.name: info for info in runnorm.providers()}
    assert infos["acme"].package == "runnorm-acme"
    assert infos["acme"].version == "1.0"
    assert infos["acme"].entry_point == "acme = runnorm_acme_test"
    assert infos["acme"].error is None
    run = runnorm.normalize({"acme_id": "acme-1", "state": "OK", "born": 1700000000000})
    assert (run.provider, run.status) == ("acme", RunStatus.SUCCEEDED)
    assert run.timing.created_at is not None and run.timing.created_at.year == 2023
    assert "skyvern" in infos  # the others still load


def test_plugin_that_fails_to_import_is_reported_and_others_work(make_dist: MakeDist) -> None:
    make_dist(
        "runnorm-broken",
        "runnorm_broken_test",
        "import not_a_module_xyz\n",
        {"broken": "runnorm_broken_test"},
    )
    infos = {info.name: info for info in runnorm.providers()}
    broken = infos["broken"]
    assert broken.package == "runnorm-broken"
    assert broken.error is not None and "not_a_module_xyz" in broken.error
    assert not broken.ok
    assert infos["skyvern"].ok
    with pytest.raises(PluginLoadError, match="not_a_module_xyz"):
        runnorm.normalize({"run_id": "x", "status": "done"}, "broken")
    assert runnorm.normalize({"run_id": "tsk_1", "status": "completed"}).provider == "skyvern"


def test_plugin_whose_hook_raises_is_reported(make_dist: MakeDist) -> None:
    source = (
        "from runnorm import hookimpl\n"
        "@hookimpl\n"
        "def runnorm_register_providers(register):\n"
        "    raise RuntimeError('cannot register today')\n"
    )
    make_dist("runnorm-grumpy", "runnorm_grumpy_test", source, {"grumpy": "runnorm_grumpy_test"})
    infos = {info.name: info for info in runnorm.providers()}
    assert "cannot register today" in (infos["grumpy"].error or "")
    assert infos["bridgetown"].ok


def test_two_plugins_claiming_one_name_are_both_reported(make_dist: MakeDist) -> None:
    make_dist("runnorm-acme-one", "runnorm_acme_one", acme_source(), {"acme1": "runnorm_acme_one"})
    make_dist("runnorm-acme-two", "runnorm_acme_two", acme_source(), {"acme2": "runnorm_acme_two"})
    claims = [info for info in runnorm.providers() if info.name == "acme"]
    assert sorted(info.package or "" for info in claims) == ["runnorm-acme-one", "runnorm-acme-two"]
    for info in claims:
        assert info.error is not None
        assert "runnorm-acme-one" in info.error and "runnorm-acme-two" in info.error
    with pytest.raises(PluginLoadError, match="claimed by several plugins"):
        runnorm.normalize({"acme_id": "acme-1", "state": "OK"}, "acme")
    # Detection does not silently pick one of the two either.
    with pytest.raises(runnorm.DetectionError):
        runnorm.normalize({"acme_id": "acme-1", "state": "OK"})


def test_a_plugin_cannot_take_a_first_party_name(make_dist: MakeDist) -> None:
    make_dist(
        "runnorm-fake-skyvern",
        "runnorm_fake_sky",
        acme_source("skyvern"),
        {"fakesky": "runnorm_fake_sky"},
    )
    with pytest.raises(PluginLoadError, match="runnorm-fake-skyvern"):
        runnorm.normalize({"run_id": "tsk_1", "status": "completed"}, "skyvern")


def test_load_plugins_env_restricts_loading(
    make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dist("runnorm-acme", "runnorm_acme_test", acme_source(), {"acme": "runnorm_acme_test"})
    monkeypatch.setenv("RUNNORM_LOAD_PLUGINS", "acme, bridgetown")
    assert sorted(info.name for info in PluginHost().infos()) == ["acme", "bridgetown"]


def test_disable_plugins_env_blocks_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNORM_DISABLE_PLUGINS", "skyvern")
    host = PluginHost()
    assert "skyvern" not in {info.name for info in host.infos()}
    assert host.pm.is_blocked("skyvern")
    with pytest.raises(UnknownProviderError):
        host.get("skyvern")


def test_unknown_provider_lists_installed_and_suggests() -> None:
    with pytest.raises(UnknownProviderError) as info:
        runnorm.normalize({"run_id": "tsk_1", "status": "completed"}, "skyvren")
    message = str(info.value)
    assert "Did you mean 'skyvern'?" in message
    assert "bridgetown, browserbase, skyvern" in message
    assert info.value.suggestion == "skyvern"
    assert isinstance(info.value, KeyError)


def test_aliases_resolve() -> None:
    assert get_host().get("bb").name == "browserbase"
    assert get_host().get("bridge-town").name == "bridgetown"


def test_alias_clash_is_reported(make_dist: MakeDist) -> None:
    make_dist(
        "runnorm-acme",
        "runnorm_acme_test",
        acme_source(aliases="'bb',"),
        {"acme": "runnorm_acme_test"},
    )
    infos = {info.name: info for info in runnorm.providers()}
    assert "alias 'bb'" in (infos["acme"].error or "")
    with pytest.raises(PluginLoadError):
        get_host().get("bb")


def test_host_without_entry_points_takes_plugins_directly() -> None:
    import runnorm_bridgetown

    host = PluginHost(entry_points=False)
    assert host.infos() == []
    host.add_plugin(runnorm_bridgetown.PROVIDER, "bridgetown")
    assert host.get("bridgetown") is runnorm_bridgetown.PROVIDER


def test_entry_point_may_name_a_provider_object(make_dist: MakeDist) -> None:
    source = acme_source().replace(
        "@hookimpl\ndef runnorm_register_providers(register):\n    register(", "PROVIDER = ("
    )
    assert "PROVIDER = (Provider(" in source
    make_dist("runnorm-acme", "runnorm_acme_obj", source, {"acme": "runnorm_acme_obj:PROVIDER"})
    infos = {info.name: info for info in runnorm.providers()}
    assert infos["acme"].error is None, infos["acme"].error
    assert infos["acme"].entry_point == "acme = runnorm_acme_obj:PROVIDER"
    assert (infos["acme"].package, infos["acme"].version) == ("runnorm-acme", "1.0")
    run = runnorm.normalize({"acme_id": "acme-1", "state": "OK"})
    assert (run.provider, run.status) == ("acme", RunStatus.SUCCEEDED)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("runnorm_nothing_test", "module 'runnorm_nothing_test'"),
        ("runnorm_nothing_test:THING", "dict"),
    ],
)
def test_entry_point_that_registers_nothing_is_reported(
    make_dist: MakeDist, value: str, shown: str
) -> None:
    # A module without the hook (an old plugin layout), or an object that is not a Provider.
    make_dist(
        "runnorm-nothing", "runnorm_nothing_test", "THING = {'name': 'x'}\n", {"nothing": value}
    )
    infos = {info.name: info for info in runnorm.providers()}
    error = infos["nothing"].error or ""
    assert error.startswith(f"registered no provider: {shown} is neither a runnorm.Provider"), error
    assert infos["skyvern"].ok
    with pytest.raises(PluginLoadError, match="registered no provider"):
        runnorm.normalize({"run_id": "x", "status": "done"}, "nothing")


def test_register_rejects_non_provider_values() -> None:
    class Plugin:
        @runnorm.hookimpl
        def runnorm_register_providers(self, register):  # type: ignore[no-untyped-def]
            register("not a provider")

    host = PluginHost(entry_points=False)
    host.add_plugin(Plugin(), "odd")
    (info,) = host.infos()
    assert info.error is not None and "runnorm.Provider" in info.error


def test_hookspecs_are_typed_and_documented() -> None:
    import inspect

    from runnorm import hookspecs

    spec = hookspecs.runnorm_register_providers
    assert inspect.getdoc(spec)
    assert set(inspect.signature(spec).parameters) == {"register"}
    assert "Callable[[Provider], None]" in str(inspect.signature(spec).parameters["register"])


def test_runnorm_register_providers_receives_a_register_callable() -> None:
    seen: list[object] = []

    class Plugin:
        @runnorm.hookimpl
        def runnorm_register_providers(self, register):  # type: ignore[no-untyped-def]
            seen.append(register)
            register(get_host().get("skyvern"))

    host = PluginHost(entry_points=False)
    host.add_plugin(Plugin(), "probe")
    (register,) = seen
    assert callable(register)
    assert [info.name for info in host.infos()] == ["skyvern"]


def test_every_hookspec_has_a_test_of_its_own() -> None:
    import inspect
    from pathlib import Path

    from runnorm import hookspecs

    sources = "\n".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    for name, _ in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("runnorm_"):
            assert f"def test_{name}" in sources, f"hookspec {name} has no test named test_{name}*"


def test_trace_plugins_prints_hook_calls_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUNNORM_TRACE_PLUGINS", "1")
    secret = "sk-live-trace-0123456789"

    class Plugin:
        @runnorm.hookimpl
        def runnorm_register_providers(self, register):  # type: ignore[no-untyped-def]
            register(get_host().get("bridgetown"))
            return {"api_key": secret, "note": f"token is {secret}"}

    host = PluginHost(entry_points=False)
    host.add_plugin(Plugin(), "tracer")
    err = capsys.readouterr().err
    assert "runnorm: hook runnorm_register_providers(register=" in err
    assert "plugins: tracer" in err
    assert "register(Provider(name='bridgetown'" in err
    assert "-> [{'api_key': '[REDACTED]'" in err
    assert secret not in err


def test_conformance_suite_resets_status_warnings_even_with_its_own_setup_method() -> None:
    from runnorm.testing import ProviderConformance

    class WithSetup(ProviderConformance):
        provider = "skyvern"

        def setup_method(self) -> None:
            """A plugin's own set-up does not replace the suite's fixture."""

    marks = [mark for mark in WithSetup.pytestmark if mark.name == "usefixtures"]
    assert ("runnorm_fresh_status_warnings",) in [mark.args for mark in marks]


def test_testing_imports_without_pytest() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pytest'] = None; import runnorm.testing as t; "
        "s = t.FakeProviderServer(); print(s.url.startswith('http://127.0.0.1:')); s.close()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "True", done.stderr


def test_declarations_pickle_and_copy() -> None:
    # Spawned batch workers receive what they need by pickle; slotted classes need nothing
    # special for that.
    import copy
    import pickle

    from runnorm import Fields, RunStatus, StatusMap

    statuses = StatusMap("p", {"done": RunStatus.SUCCEEDED})
    fields = Fields("p")
    for value in (statuses, fields):
        for twin in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):
            assert type(twin) is type(value)
            assert twin.provider == "p"
    assert pickle.loads(pickle.dumps(statuses)) == statuses
    (provider,) = [info.provider for info in runnorm.providers() if info.name == "skyvern"]
    assert provider is not None
    restored = pickle.loads(pickle.dumps(provider))
    assert restored.name == "skyvern" and restored.statuses == provider.statuses
    assert copy.deepcopy(provider).statuses == provider.statuses

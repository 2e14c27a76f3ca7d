"""Hostile plugins, installed as real distributions (a module and a ``.dist-info`` found by
``importlib.metadata``): ``sys.exit()`` at import, in the register hook, in a detector, a
mapping or a webhook verifier; Ctrl-C; wrong declarations; broken metadata; aliases that are
other providers' names; greedy and slow detectors. Each is reported against its plugin and
the others keep working; only ``KeyboardInterrupt`` gets through. The command-line checks run
``python -m runnorm`` in a subprocess with ``PYTHONPATH`` pointing at the installation.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support import MakeDist, load, sample_files

import runnorm
from runnorm import DetectionError, PayloadError, PluginLoadError, RunnormWarning, webhooks
from runnorm._cli import app as cli_app
from runnorm._cli import info as cli_info
from runnorm._plugins.host import PluginHost, get_host, reset_host

SKYVERN = load(sample_files("skyvern")[0])

PLUGIN = """
import os
import sys
import time

from runnorm import Fields, Provider, Run, RunStatus, StatusMap, hookimpl

NAME = "{name}"
{prelude}
fields = Fields(NAME)
STATUSES = StatusMap(NAME, {{"OK": RunStatus.SUCCEEDED}})


def detect(payload):
{detect}


def to_run(p):
{to_run}


def verify(body, headers, secret, *, tolerance, now):
{verify}


@hookimpl
def runnorm_register_providers(register):
{register}
"""

DEFAULTS = {
    "prelude": "",
    "detect": 'return isinstance(payload.get(NAME + "_id"), str)',
    "to_run": (
        'native = fields.status_word(p, "state")\n'
        'return Run(provider=NAME, id=fields.id(p, NAME + "_id"),\n'
        '           status=STATUSES.lookup(native, "state"), native_status=native, raw=p)'
    ),
    "verify": "return None",
    "register": (
        "register(Provider(name=NAME, statuses=STATUSES, to_run=to_run, detect=detect,\n"
        "                  verify_webhook=verify, aliases={aliases}))"
    ),
}


def plugin(name: str, *, aliases: str = "()", **parts: str) -> str:
    """A plugin module for provider *name*, with some of its functions replaced."""
    chosen = {**DEFAULTS, **parts}
    chosen["register"] = chosen["register"].replace("{aliases}", aliases)
    body = {
        key: "\n".join("    " + line for line in value.splitlines())
        for key, value in chosen.items()
        if key != "prelude"
    }
    return PLUGIN.format(name=name, prelude=chosen["prelude"], **body)


def install(make_dist: MakeDist, name: str, **parts: str) -> Path:
    """Install *name* as distribution ``runnorm-NAME`` with entry point ``NAME``."""
    module = f"runnorm_hostile_{name}"
    return make_dist(f"runnorm-{name}", module, plugin(name, **parts), {name: module})


def infos() -> dict[str, runnorm.ProviderInfo]:
    return {info.name: info for info in runnorm.providers()}


def first_party_still_work() -> None:
    listed = infos()
    for name in ("skyvern", "browserbase", "bridgetown"):
        assert listed[name].ok and listed[name].error is None, listed[name]
    assert runnorm.normalize(SKYVERN).provider == "skyvern"


def cli(site: Path, *args: str, env: dict[str, str] | None = None, **kw: Any) -> Any:
    """``python -m runnorm ARGS`` with *site* on ``PYTHONPATH``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNORM_", "PYTEST_"))}
    environ.update(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "runnorm", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kw,
    )


# -- import and registration ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("sys.exit(3)", "SystemExit: 3"),
        ("sys.exit()", "SystemExit"),
        ("raise SystemExit('bye')", "SystemExit: bye"),
        ("raise RuntimeError('nope')", "RuntimeError: nope"),
    ],
)
def test_a_plugin_exiting_at_import_is_reported_and_the_others_work(
    make_dist: MakeDist, code: str, shown: str
) -> None:
    install(make_dist, "quitter", prelude=code)
    info = infos()["quitter"]
    assert (info.package, info.ok) == ("runnorm-quitter", False)
    assert info.error == f"could not import: {shown}"
    first_party_still_work()
    with pytest.raises(PluginLoadError, match=re.escape(shown)):
        runnorm.normalize({"quitter_id": "q", "state": "OK"}, "quitter")


def test_a_plugin_exiting_in_its_register_hook_is_reported(make_dist: MakeDist) -> None:
    register = DEFAULTS["register"] + "\nsys.exit(4)"  # registers, then exits: nothing kept
    install(make_dist, "hookexit", register=register)
    info = infos()["hookexit"]
    assert info.error == "runnorm_register_providers failed: SystemExit: 4"
    assert "hookexit" not in get_host().usable()
    first_party_still_work()


@pytest.mark.parametrize(
    ("register", "problem"),
    [
        ("register(Provider(name=3, statuses=STATUSES, to_run=to_run, detect=detect))", "name"),
        ("register(Provider(name='', statuses=STATUSES, to_run=to_run, detect=detect))", "name"),
        (
            "register(Provider(name=NAME, statuses=STATUSES, to_run=to_run, detect=detect,"
            " aliases='bb'))",
            "aliases",
        ),
        ("register(Provider(name=NAME, statuses={}, to_run=to_run, detect=detect))", "statuses"),
        ("register(Provider(name=NAME, statuses=STATUSES, to_run=to_run, detect=None))", "detect"),
        (
            "register(Provider(name=NAME, statuses=STATUSES, to_run=to_run, detect=detect,"
            " detect_keys={'a': 1}))",
            "detect_keys",
        ),
        (
            "register(Provider(name=NAME, statuses=STATUSES, to_run=to_run, detect=detect,"
            " samples='samples/'))",
            "samples",
        ),
    ],
)
def test_a_declaration_of_the_wrong_types_is_refused_at_register(
    make_dist: MakeDist, register: str, problem: str
) -> None:
    install(make_dist, "odd", register=register)
    info = infos()["odd"]
    assert info.error is not None
    assert info.error.startswith("runnorm_register_providers failed: TypeError: Provider.")
    assert problem in info.error
    first_party_still_work()


def test_malformed_entry_point_metadata_is_reported_and_the_others_load(
    make_dist: MakeDist,
) -> None:
    site = install(make_dist, "garbled")
    # An entry point line without "=": importlib.metadata.entry_points() itself raises.
    (site / "runnorm_garbled-1.0.dist-info" / "entry_points.txt").write_text(
        "[runnorm]\nthis line is no entry point\n"
    )
    install(make_dist, "fine")
    listed = infos()
    assert "malformed entry-point metadata" in (listed["runnorm-garbled"].error or "")
    assert listed["fine"].ok
    first_party_still_work()


# -- detectors ------------------------------------------------------------------------------


def test_a_detector_exiting_abstains_and_is_reported(make_dist: MakeDist) -> None:
    install(make_dist, "detexit", detect="sys.exit(5)")
    with pytest.warns(RunnormWarning, match=r"'detexit' plugin's detector raised SystemExit: 5"):
        assert runnorm.normalize(SKYVERN).provider == "skyvern"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per provider, not per payload
        assert runnorm.normalize(SKYVERN).provider == "skyvern"
        with pytest.raises(DetectionError) as caught:
            runnorm.normalize({"something": "else"})
    assert "'detexit' plugin's detector has raised (SystemExit: 5) and abstained" in str(
        caught.value
    )
    assert get_host().detector_faults()["detexit"] == (3, "SystemExit: 5")
    notes = infos()["detexit"].warnings
    assert any("raised on 3 payload(s) in this process" in note for note in notes), notes
    # The samples check runs every detector over the declared samples: it fails there too.
    assert any("raised on 'skyvern''s declared samples (SystemExit: 5)" in n for n in notes)
    assert infos()["detexit"].ok  # still usable with provider=
    run = runnorm.normalize({"detexit_id": "d1", "state": "OK"}, "detexit")
    assert run.provider == "detexit"


def test_a_detector_whose_answer_cannot_be_read_abstains(make_dist: MakeDist) -> None:
    detect = "class Answer:\n    def __bool__(self):\n        raise SystemExit(9)\nreturn Answer()"
    install(make_dist, "murky", detect=detect)
    with pytest.warns(RunnormWarning, match="SystemExit: 9"):
        assert runnorm.normalize(SKYVERN).provider == "skyvern"


def test_a_greedy_detector_is_flagged_and_ambiguity_names_the_claimants(
    make_dist: MakeDist,
) -> None:
    install(make_dist, "greedy", detect="return True")
    listed = infos()
    notes = listed["greedy"].warnings
    for other in ("skyvern", "browserbase", "bridgetown"):
        assert any("accepts" in n and f"of {other!r}'s declared samples" in n for n in notes)
    for other in ("skyvern", "browserbase", "bridgetown"):  # flagged against greedy only
        assert listed[other].warnings == () and listed[other].ok
    with pytest.raises(DetectionError) as caught:
        runnorm.normalize(SKYVERN)
    assert caught.value.candidates == ("greedy", "skyvern")
    assert "payload matches several providers (greedy, skyvern;" in str(caught.value)
    assert runnorm.normalize(SKYVERN, "skyvern").provider == "skyvern"


def test_first_party_detectors_accept_no_other_providers_samples() -> None:
    assert [(i.name, i.warnings) for i in runnorm.providers() if i.warnings] == []


# -- mappings and webhook verifiers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("to_run", "shown"),
    [
        ("sys.exit(6)", "mapping failed on this payload (SystemExit: 6)"),
        ("raise RecursionError('deep')", "mapping failed on this payload (RecursionError: deep)"),
        ("return dict(p)", "mapping returned dict, not a Run"),
        (
            "import types\nreturn types.SimpleNamespace(provider=NAME, id='m')",
            "mapping returned SimpleNamespace, not a Run",
        ),
        ("return None", "mapping returned NoneType, not a Run"),
    ],
)
def test_a_mapping_that_exits_or_returns_no_run_is_a_payload_error(
    make_dist: MakeDist, to_run: str, shown: str
) -> None:
    install(make_dist, "mapper", to_run=to_run)
    payload = {"mapper_id": "m1", "state": "OK"}
    for call in (
        lambda: runnorm.normalize(payload),
        lambda: runnorm.normalize(payload, "mapper"),
        lambda: webhooks.parse("mapper", json.dumps(payload).encode(), {}),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", webhooks.UnverifiedWebhookWarning)
            with pytest.raises(PayloadError) as caught:
                call()
        assert caught.value.provider == "mapper"
        assert f"the 'mapper' plugin's {shown}" in str(caught.value)
    first_party_still_work()


SECRET = "whsec-hostile-0123456789"


@pytest.mark.parametrize(
    ("verify", "fault"),
    [
        ("sys.exit(7)", "SystemExit"),
        ("raise KeyError(secret)", "KeyError"),
        ("return headers['x-missing']", "KeyError"),
        ("raise ValueError(f'bad {secret!r} {body!r}')", "ValueError"),
    ],
)
def test_a_verifier_fault_rejects_the_delivery_without_showing_the_secret(
    make_dist: MakeDist, verify: str, fault: str
) -> None:
    install(make_dist, "signer", verify=verify)
    body = json.dumps({"signer_id": "s1", "state": "OK"}).encode()
    with pytest.raises(runnorm.SignatureError) as caught:
        webhooks.parse("signer", body, {"x-sig": "00"}, secret=SECRET, now=0)
    message = str(caught.value)
    assert message == (
        f"the 'signer' plugin's webhook verification failed with {fault}; "
        "the delivery is not verified"
    )
    assert type(caught.value.__cause__).__name__ == fault
    assert SECRET[4:12] not in message and SECRET[4:12] not in repr(caught.value)


def test_a_verifier_that_passes_gives_the_run(make_dist: MakeDist) -> None:
    verify = "assert secret == b'k' and now == 12.0 and headers['X-Sig'] == 'v'"
    install(make_dist, "signer", verify=verify)
    body = json.dumps({"signer_id": "s1", "state": "OK"}).encode()
    run = webhooks.parse("signer", body, [(b"x-sig", b"v")], secret=bytearray(b"k"), now=12)
    assert (run.provider, run.id) == ("signer", "s1")


# -- aliases --------------------------------------------------------------------------------


def test_an_alias_that_is_another_providers_name_is_refused_on_its_own_plugin(
    make_dist: MakeDist,
) -> None:
    install(make_dist, "thief", aliases="('skyvern', 'th')")
    listed = infos()
    assert listed["thief"].error == (
        "alias 'skyvern' is the name of another provider and was refused"
    )
    assert get_host().get("skyvern").name == "skyvern"
    assert get_host().get("th").name == "thief"
    first_party_still_work()


def test_two_plugins_aliasing_each_others_names_both_keep_their_names(
    make_dist: MakeDist,
) -> None:
    install(make_dist, "alpha", aliases="('beta',)")
    install(make_dist, "beta", aliases="('alpha', 'alpha')")
    listed = infos()
    for name, alias in (("alpha", "beta"), ("beta", "alpha")):
        assert listed[name].error == (
            f"alias {alias!r} is the name of another provider and was refused"
        )
        assert get_host().get(name).name == name
    first_party_still_work()


def test_an_alias_that_is_a_clashing_name_does_not_resolve(make_dist: MakeDist) -> None:
    make_dist("runnorm-dup-one", "runnorm_dup_one", plugin("dup"), {"dup1": "runnorm_dup_one"})
    make_dist("runnorm-dup-two", "runnorm_dup_two", plugin("dup"), {"dup2": "runnorm_dup_two"})
    install(make_dist, "sneaky", aliases="('dup',)")
    listed = infos()
    assert "is the name of another provider" in (listed["sneaky"].error or "")
    with pytest.raises(PluginLoadError, match="claimed by several plugins"):
        get_host().get("dup")


# -- Ctrl-C ---------------------------------------------------------------------------------


def test_keyboard_interrupt_gets_through_and_a_retry_loads_cleanly(
    make_dist: MakeDist, tmp_path: Path
) -> None:
    marker = tmp_path / "interrupted-once"
    prelude = (
        f"if not os.path.exists({str(marker)!r}):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    raise KeyboardInterrupt"
    )
    install(make_dist, "ctrlc", prelude=prelude)
    install(make_dist, "aaa")  # loaded before the interruption
    with pytest.raises(KeyboardInterrupt):
        runnorm.providers()
    listed = infos()  # the same host starts over: nothing reported as "already taken"
    assert [i.error for i in listed.values() if i.error] == []
    assert listed["aaa"].ok and listed["ctrlc"].ok
    first_party_still_work()


def test_keyboard_interrupt_from_plugin_code_is_never_swallowed(make_dist: MakeDist) -> None:
    install(make_dist, "kidetect", detect="raise KeyboardInterrupt")
    install(make_dist, "kimap", to_run="raise KeyboardInterrupt")
    install(make_dist, "kiverify", verify="raise KeyboardInterrupt")
    with pytest.raises(KeyboardInterrupt):
        runnorm.normalize(SKYVERN)
    with pytest.raises(KeyboardInterrupt):
        runnorm.normalize({"kimap_id": "k", "state": "OK"}, "kimap")
    body = b'{"kiverify_id": "k", "state": "OK"}'
    with pytest.raises(KeyboardInterrupt):
        webhooks.parse("kiverify", body, {}, secret="s", now=0)
    assert get_host().detector_faults() == {}  # an interrupt is no detector fault


# -- trace ----------------------------------------------------------------------------------


def test_trace_prints_load_and_detector_times(
    make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install(make_dist, "slowpoke", prelude="time.sleep(0.2)", detect="time.sleep(0.01)")
    monkeypatch.setenv("RUNNORM_TRACE_PLUGINS", "1")
    host = PluginHost()
    host.detect(SKYVERN)
    host.detect({"slowpoke_id": "s"})
    host.trace_detector_times()
    err = capsys.readouterr().err
    loaded = re.search(
        r"runnorm: plugin slowpoke \(runnorm-slowpoke 1\.0\) loaded in ([\d.]+) s "
        r"\(import ([\d.]+) s, register ([\d.]+) s\)",
        err,
    )
    assert loaded is not None, err
    assert float(loaded[1]) >= float(loaded[2]) >= 0.2
    assert re.search(r"runnorm: plugin skyvern \(runnorm [\d.]+\) loaded in [\d.]+ s", err)
    assert re.search(r"runnorm: plugins loaded in [\d.]+ s", err)
    detector = re.search(r"runnorm: detector slowpoke: 2 call\(s\), ([\d.]+) s in total", err)
    assert detector is not None, err
    assert float(detector[1]) >= 0.02
    assert re.search(r"runnorm: detector skyvern: 1 call\(s\), [\d.]+ s in total", err)


def test_without_trace_detectors_are_called_directly(make_dist: MakeDist) -> None:
    install(make_dist, "plain")
    host = PluginHost()
    assert host.usable()["plain"].detect in [entry[2] for entry in host._detectors]


# -- the command line, in a subprocess ------------------------------------------------------


def test_cli_survives_plugins_that_exit(make_dist: MakeDist, tmp_path: Path) -> None:
    site = install(make_dist, "quitter", prelude="sys.exit(3)")
    install(make_dist, "hookexit", register="sys.exit(4)")
    detect = "if 'detexit_id' in payload:\n    return True\nsys.exit(5)"
    install(make_dist, "detexit", detect=detect)
    install(make_dist, "mapbad", to_run="return dict(p)")
    reset_host()
    listing = cli(site, "providers", "--json")
    assert listing.returncode == 0, listing.stderr
    listed = {entry["name"]: entry for entry in json.loads(listing.stdout)}
    assert listed["quitter"]["error"] == "could not import: SystemExit: 3"
    assert listed["hookexit"]["error"] == "runnorm_register_providers failed: SystemExit: 4"
    assert any("SystemExit: 5" in note for note in listed["detexit"]["warnings"])
    assert listed["skyvern"]["error"] is None and listed["skyvern"]["warnings"] == []

    records = tmp_path / "in.jsonl"
    lines = [SKYVERN, {"mapbad_id": "m1", "state": "OK"}, {"detexit_id": "d1", "state": "OK"}]
    records.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = cli(site, "normalize", str(records))
    assert done.returncode == 1, done.stderr  # some records failed, none killed the command
    assert [json.loads(line)["provider"] for line in done.stdout.splitlines()] == [
        "skyvern",
        "detexit",
    ]
    assert "the 'mapbad' plugin's mapping returned dict, not a Run" in done.stderr
    assert "runnorm: warning: the 'detexit' plugin's detector raised SystemExit: 5" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_reports_a_refused_alias_and_a_greedy_detector(
    make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = install(make_dist, "greedy", detect="return True", aliases="('skyvern',)")
    done = cli(site, "providers", "--json")
    listed = {e["name"]: e for e in json.loads(done.stdout)}
    refused = "alias 'skyvern' is the name of another provider and was refused"
    assert listed["greedy"]["error"] == refused
    assert any("of 'skyvern''s declared samples" in note for note in listed["greedy"]["warnings"])
    assert (listed["skyvern"]["error"], listed["skyvern"]["warnings"]) == (None, [])
    # On a terminal: the table, then the load errors and the warnings, each on its plugin.
    monkeypatch.setattr(cli_info, "stdout_is_terminal", lambda: True)
    table = CliRunner().invoke(cli_app.main, ["providers"]).stdout
    errors, warned = table.split("Load errors:\n")[1].split("Warnings:\n")
    assert errors.strip() == f"greedy (runnorm-greedy, greedy = runnorm_hostile_greedy): {refused}"
    assert all(line.startswith("  greedy (runnorm-greedy): its detector accepts ")
               for line in warned.strip("\n").splitlines())  # fmt: skip


def test_cli_exits_130_when_a_plugin_import_is_interrupted(make_dist: MakeDist) -> None:
    site = install(make_dist, "ctrlc", prelude="raise KeyboardInterrupt")
    done = cli(site, "providers", "--json")
    assert done.returncode == 130
    assert done.stderr.strip() == "runnorm: interrupted"
    assert done.stdout == ""


def test_cli_exits_130_on_sigint_during_a_slow_plugin_import(
    make_dist: MakeDist, tmp_path: Path
) -> None:
    marker = tmp_path / "importing"
    prelude = f"open({str(marker)!r}, 'w').close()\ntime.sleep(30)"
    site = install(make_dist, "sleepy", prelude=prelude)
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps(SKYVERN) + "\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNORM_", "PYTEST_"))}
    environ.update(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "runnorm", "normalize", str(records)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert marker.exists(), process.communicate(timeout=5)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert time.monotonic() - started < 5
    assert process.returncode == 130, err
    assert err.strip() == "runnorm: interrupted"
    assert out == ""


def test_cli_trace_prints_detector_times_at_exit(make_dist: MakeDist, tmp_path: Path) -> None:
    site = install(make_dist, "slowpoke", prelude="time.sleep(0.1)")
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps(SKYVERN) + "\n" + json.dumps(SKYVERN) + "\n")
    done = cli(site, "normalize", str(records), env={"RUNNORM_TRACE_PLUGINS": "1"})
    assert done.returncode == 0, done.stderr
    loaded = re.search(r"runnorm: plugin slowpoke \(\S+ 1\.0\) loaded in ([\d.]+) s", done.stderr)
    assert loaded is not None and float(loaded[1]) >= 0.1, done.stderr
    assert re.search(r"runnorm: detector slowpoke: 2 call\(s\), [\d.]+ s in total", done.stderr)
    assert re.search(r"runnorm: detector skyvern: \d call\(s\), [\d.]+ s in total", done.stderr)

"""Docs that cannot drift: the README's shape and live example, the plugin guide's code."""

from __future__ import annotations

import inspect
import re
import types

from support import ROOT

import runnorm
from runnorm import RunStatus, hookspecs
from runnorm._plugins.host import PluginHost

README = (ROOT / "README.md").read_text()
GUIDE = (ROOT / "docs" / "writing-a-plugin.md").read_text()


def test_readme_opens_with_the_two_commands_and_stays_short() -> None:
    commands = README.split("```sh\n")[1:3]
    assert commands[0].startswith(
        "python3 -m venv .venv && .venv/bin/pip install '.[parquet,dask]'"
    )
    assert "runnorm normalize examples/mixed-runs.jsonl" in commands[0]
    assert "nox --no-error-on-missing-interpreters -s lint types docs tests" in commands[1]
    assert README.index("```sh") < README.index("---")  # before anything else
    assert len(README.splitlines()) <= 180


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "nox --no-error-on-missing-interpreters -s lint types docs tests" in ci


def test_readme_links_point_at_files_that_exist() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_plugin_guide_example_runs_and_passes_its_own_claims() -> None:
    code = re.findall(r"```python\n(.*?)```", GUIDE, flags=re.S)[0]
    module = types.ModuleType("runnorm_acme_guide")
    exec(compile(code, "writing-a-plugin.md", "exec"), module.__dict__)
    host = PluginHost(entry_points=False)
    host.add_plugin(module.PROVIDER, "acme")  # what an entry point naming PROVIDER loads
    provider = host.get("acme")
    run = provider.to_run(
        {"acmeId": "acme_7", "state": "BROKEN", "startedMs": 1768909949276,
         "problem": {"code": "E42", "text": "disk full"}, "region": "eu", "ownerId": "u1",
         "debugDump": "x" * 100}
    )  # fmt: skip
    assert run.status is RunStatus.FAILED
    assert run.error == runnorm.RunError(code="E42", message="disk full")
    assert run.extra == {"region": "eu", "owner_id": "u1"}
    assert run.timing.started_at is not None
    assert provider.detect({"acmeId": "acme_1"}) and not provider.detect({"run_id": "tsk_1"})
    assert provider.capabilities == {"normalize", "fetch", "watch"}


def test_every_hookspec_is_in_the_hook_reference_with_its_signature() -> None:
    reference = GUIDE.split("## Hook reference", 1)[1]
    for name, spec in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("runnorm_"):
            continue
        signature = f"def {name}{inspect.signature(spec)}".replace("'", "")
        assert signature in reference, signature


def test_readme_live_example_is_the_tested_example_file() -> None:
    block = README.split("## Live runs", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    example = (ROOT / "examples" / "live.py").read_text()
    body = example.split("# --- the README's example starts here ---\n", 1)[1]
    body = body.split("    # --- the README's example ends here ---", 1)[0]
    dedented = "\n".join(line.removeprefix("    ") for line in body.splitlines())
    assert block.strip() == dedented.strip()


def test_live_example_runs_against_the_loopback_server() -> None:
    import subprocess
    import sys

    # Run as a new user would, without the test tools installed: pytest is made unimportable.
    blocker = "import runpy, sys; sys.modules['pytest'] = None; runpy.run_path(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-P", "-c", blocker, str(ROOT / "examples" / "live.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in __import__("os").environ.items() if not k.startswith("SKYVERN_")},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "failed Login failed"
    assert lines[1:4] == ["  now queued", "  now running", "  now succeeded"]
    assert lines[4] == "True {'total': 3}"
    assert lines[5:7] == ["succeeded", "failed"]
    assert lines[7].startswith("NotFoundError(")
    watched = [line.rstrip() for line in lines[8:13]]
    assert [line for line in watched if " wr_9 " in line] == [
        "  watch wr_9 running 1",
        "  watch wr_9 failed 1 retry pending",
        "  watch wr_9 running 2",
        "  watch wr_9 succeeded 2",
    ]
    assert [line for line in watched if " tsk_7 " in line] == ["  watch tsk_7 failed None"]
    assert lines[13].startswith("auth: 403") and "wrong-key" not in lines[13]

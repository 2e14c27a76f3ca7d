"""The example third-party plugin (``examples/runnorm-acme``), installed the way a user would.

The example is installed offline into a temporary directory with
``pip install --no-build-isolation --no-deps --no-index --target DIR``; that directory goes
on ``sys.path`` and the plugin host is reset, so the plugin is found through its real
entry-point metadata. When the interpreter cannot build a wheel without build isolation
(no setuptools, or a setuptools older than 70.1 without the ``wheel`` package), the
installation is done by hand from the same ``pyproject.toml`` declarations (the package, its
package data and a ``.dist-info`` with the entry points) and the pip test is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import runnorm
from runnorm import RunStatus
from runnorm._cli import app as cli
from runnorm._plugins.host import get_host, reset_host

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "runnorm-acme"
EXAMPLE_TESTS = EXAMPLE / "tests"
PACKAGE = "runnorm_acme"

# setuptools before pip: looking pip up switches setuptools' distutils shim off.
_CAN_BUILD = (
    "import importlib.util as u, sys\n"
    "ok = u.find_spec('setuptools') and (\n"
    "    u.find_spec('wheel') or u.find_spec('setuptools.command.bdist_wheel'))\n"
    "sys.exit(0 if ok and u.find_spec('pip') else 1)\n"
)


def _pyproject() -> dict[str, Any]:
    with (EXAMPLE / "pyproject.toml").open("rb") as stream:
        return tomllib.load(stream)


def _can_pip_install_without_isolation() -> bool:
    """True when pip, setuptools and a ``bdist_wheel`` command are importable here."""
    probe = subprocess.run([sys.executable, "-c", _CAN_BUILD], capture_output=True, check=False)
    return probe.returncode == 0


def _pip_install(source: Path, target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-build-isolation",
        "--no-deps",
        "--no-index",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--quiet",
        "--target",
        str(target),
        str(source),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"


def _install_by_hand(source: Path, target: Path) -> None:
    """What pip would put in *target*, built from the ``pyproject.toml`` declarations."""
    meta = _pyproject()
    project = meta["project"]
    setuptools_cfg = meta["tool"]["setuptools"]
    package_data: dict[str, list[str]] = setuptools_cfg.get("package-data", {})
    for package in setuptools_cfg["packages"]:
        src = source / package.replace(".", "/")
        dst = target / package.replace(".", "/")
        dst.mkdir(parents=True)
        for module in src.glob("*.py"):
            shutil.copy2(module, dst / module.name)
        for pattern in package_data.get(package, []):
            for data in src.glob(pattern):
                (dst / data.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(data, dst / data.relative_to(src))
    dist = project["name"].replace("-", "_")
    info = target / f"{dist}-{project['version']}.dist-info"
    info.mkdir()
    requires = "".join(f"Requires-Dist: {req}\n" for req in project.get("dependencies", []))
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        f"Name: {project['name']}\n"
        f"Version: {project['version']}\n"
        f"Requires-Python: {project['requires-python']}\n"
        f"{requires}"
    )
    groups = project.get("entry-points", {})
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in eps.items()) + "\n"
            for group, eps in groups.items()
        )
    )
    (info / "top_level.txt").write_text("".join(f"{p}\n" for p in setuptools_cfg["packages"]))
    (info / "INSTALLER").write_text("runnorm-tests\n")


def _forget_modules() -> None:
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def acme_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``(directory the example is installed in, "pip" or "by hand")``, once per module."""
    base = tmp_path_factory.mktemp("acme")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = base / "src"
    shutil.copytree(
        EXAMPLE,
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    site = base / "site"
    site.mkdir()
    if _can_pip_install_without_isolation():
        _pip_install(source, site)
        return site, "pip"
    _install_by_hand(source, site)
    return site, "by hand"


@pytest.fixture
def acme(acme_site: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example plugin installed and on ``sys.path``, with a fresh plugin host."""
    site, _ = acme_site
    reset_host()
    _forget_modules()
    monkeypatch.syspath_prepend(str(site))
    yield site
    _forget_modules()
    reset_host()


def test_pyproject_declares_the_plugin() -> None:
    meta = _pyproject()
    project = meta["project"]
    assert (project["name"], project["version"]) == ("runnorm-acme", "0.1.0")
    assert project["requires-python"] == ">=3.11"
    assert project["dependencies"] == ["runnorm"]
    assert project["entry-points"]["runnorm"] == {"acme": f"{PACKAGE}.provider:PROVIDER"}
    assert meta["build-system"]["build-backend"] == "setuptools.build_meta"
    assert meta["tool"]["setuptools"]["packages"] == [PACKAGE]
    assert "samples/*.json" in meta["tool"]["setuptools"]["package-data"][PACKAGE]


def test_installed_with_pip(acme_site: tuple[Path, str]) -> None:
    site, how = acme_site
    if how != "pip":
        pytest.skip("this interpreter cannot build wheels without isolation (setuptools/wheel)")
    (info,) = site.glob("runnorm_acme-0.1.0.dist-info")
    assert "acme = runnorm_acme.provider:PROVIDER" in (info / "entry_points.txt").read_text()
    assert (site / PACKAGE / "samples" / "done.json").is_file()
    assert not (site / "tests").exists()  # the tests are not part of the distribution


def test_providers_lists_acme(acme: Path) -> None:
    infos = [info for info in runnorm.providers() if info.name == "acme"]
    assert len(infos) == 1, infos
    (info,) = infos
    assert (info.package, info.version) == ("runnorm-acme", "0.1.0")
    assert info.error is None and info.ok
    assert info.entry_point == "acme = runnorm_acme.provider:PROVIDER"
    assert info.capabilities == frozenset({"normalize", "fetch", "watch", "list", "cancel"})
    # It is imported from the installation, not from the source tree.
    assert info.provider is not None and info.provider.samples is not None
    assert info.provider.samples.is_relative_to(acme)
    # The first-party providers are unaffected.
    assert {"skyvern", "browserbase", "bridgetown"} <= {i.name for i in runnorm.providers() if i.ok}


def test_cli_providers_json_shows_acme(acme: Path) -> None:
    result = CliRunner().invoke(cli.main, ["providers", "--json"])
    assert result.exit_code == 0, result.output
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    entry = listed["acme"]
    assert (entry["package"], entry["version"], entry["error"]) == ("runnorm-acme", "0.1.0", None)
    assert entry["entry_point"] == "acme = runnorm_acme.provider:PROVIDER"
    assert entry["capabilities"] == ["cancel", "fetch", "list", "normalize", "watch"]
    assert entry["statuses"]["NEEDS_INPUT"] == "paused"
    assert entry["statuses"]["EXPIRED"] == "timed_out"


def test_normalize_detects_an_acme_sample(acme: Path) -> None:
    payload = json.loads((acme / PACKAGE / "samples" / "done.json").read_text(encoding="utf-8"))
    run = runnorm.normalize(payload)
    assert (run.provider, run.id) == ("acme", payload["acmeRunId"])
    assert (run.status, run.native_status) == (RunStatus.SUCCEEDED, "DONE")
    assert run.to_dict()["provider"] == "acme"
    # Detection stays unambiguous: no first-party detector claims an Acme sample.
    others = [p for name, p in get_host().usable().items() if name != "acme"]
    for sample in sorted((acme / PACKAGE / "samples").glob("*.json")):
        payload = json.loads(sample.read_text(encoding="utf-8"))
        assert [p.name for p in others if p.detect(payload)] == [], sample.name


def test_example_plugin_own_tests_pass(acme: Path, tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RUNNORM_", "ACME_", "PYTEST_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(acme), env.get("PYTHONPATH")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE_TESTS)],
        # Not the example directory: its runnorm_acme/ would shadow the installed copy.
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert " passed" in done.stdout and "failed" not in done.stdout

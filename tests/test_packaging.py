"""The distribution: one pure Python wheel (``py3-none-any``), plugins and samples in it.

The wheel is built here, in-process and offline, with the project's own build backend.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    from hatchling.build import build_wheel

    target = tmp_path_factory.mktemp("wheel")
    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        name = build_wheel(str(target))
    finally:
        os.chdir(previous)
    with zipfile.ZipFile(target / name) as archive:
        yield archive


def test_the_wheel_is_pure_python(wheel: zipfile.ZipFile) -> None:
    assert Path(str(wheel.filename)).name.endswith("-py3-none-any.whl")
    names = wheel.namelist()
    compiled = [n for n in names if n.endswith((".so", ".pyd", ".c", ".h"))]
    assert compiled == []
    (info,) = [n for n in names if n.endswith(".dist-info/WHEEL")]
    tags = wheel.read(info).decode()
    assert "Root-Is-Purelib: true" in tags
    assert "Tag: py3-none-any" in tags


def test_the_wheel_holds_the_package_the_plugins_and_their_samples(
    wheel: zipfile.ZipFile,
) -> None:
    names = set(wheel.namelist())
    assert {"runnorm/__init__.py", "runnorm/py.typed", "runnorm/_cli/app.py"} <= names
    for plugin in ("runnorm_skyvern", "runnorm_browserbase", "runnorm_bridgetown"):
        assert f"{plugin}/provider.py" in names
        samples = [n for n in names if n.startswith(f"{plugin}/samples/")]
        assert samples, plugin
    assert not [n for n in names if "/tests/" in n]
    assert "hatch_build.py" not in names


def test_the_wheel_declares_the_plugins_and_the_command(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "runnorm = runnorm._cli.app:main" in text
    for plugin in ("skyvern", "browserbase", "bridgetown"):
        assert f"{plugin} = runnorm_{plugin}" in text
    assert "runnorm = runnorm.testing" in text


def test_the_project_has_no_build_hook() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "hooks" not in pyproject
    assert not (ROOT / "hatch_build.py").exists()

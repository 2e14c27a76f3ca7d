"""Shared fixtures: fresh warning state, fake plugin distributions on sys.path."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import MakeDist

from runnorm._plugins.host import reset_host


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeDist]:
    """Install a fake distribution (a module plus a ``.dist-info``) on ``sys.path``.

    The distribution is found through real entry-point metadata, exactly as a pip-installed
    plugin would be; the global plugin host is reset so the next lookup rediscovers plugins.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def make(dist: str, module: str, source: str, entry_points: dict[str, str]) -> Path:
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[runnorm]\n{lines}\n")
        modules.append(module)
        reset_host()
        return site

    yield make
    for module in modules:
        sys.modules.pop(module, None)
    reset_host()

"""Helpers shared by the tests: sample payloads, a fake third-party plugin."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runnorm.testing import FakeProviderServer

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS = ("skyvern", "browserbase", "bridgetown")


def sample_files(provider: str | None = None) -> list[Path]:
    names = PROVIDERS if provider is None else (provider,)
    return [
        path
        for name in names
        for path in sorted((ROOT / "plugins" / f"runnorm_{name}" / "samples").glob("*.json"))
    ]


def load(path: Path) -> Any:
    return json.loads(path.read_text())


@contextlib.contextmanager
def skyvern_from_env(monkeypatch: pytest.MonkeyPatch, key: str) -> Iterator[FakeProviderServer]:
    """A fake Skyvern server taking *key*, named by ``SKYVERN_BASE_URL`` and
    ``SKYVERN_API_KEY`` (what the CLI reads)."""
    monkeypatch.setenv("SKYVERN_API_KEY", key)
    with FakeProviderServer(auth=("x-api-key", key)) as fake:
        monkeypatch.setenv("SKYVERN_BASE_URL", fake.url)
        yield fake


def invoke_cli(*args: str) -> tuple[int, str, str]:
    """``runnorm ARGS`` in this process: the exit code, stdout and stderr (an exception other
    than ``SystemExit`` fails the test)."""
    from click.testing import CliRunner  # imported here: most tests never run the CLI

    from runnorm._cli import app as cli

    result = CliRunner().invoke(cli.main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def sample_id(path: Path) -> str:
    return f"{path.parent.parent.name.removeprefix('runnorm_')}/{path.stem}"


MakeDist = Callable[..., Path]

ACME_PLUGIN = """
from runnorm import Fields, Provider, Run, RunStatus, StatusMap, Timing, hookimpl

fields = Fields("{name}")
STATUSES = StatusMap("{name}", {{"OK": RunStatus.SUCCEEDED, "BUSY": RunStatus.RUNNING}})


def detect(payload):
    value = payload.get("acme_id")
    return isinstance(value, str) and value.startswith("acme-")


def to_run(p):
    native = fields.status_word(p, "state")
    return Run(
        provider="{name}",
        id=fields.id(p, "acme_id"),
        status=STATUSES.lookup(native, "state"),
        native_status=native,
        timing=Timing(created_at=fields.time(p, "born")),
        raw=p,
    )


@hookimpl
def runnorm_register_providers(register):
    register(Provider(name="{name}", statuses=STATUSES, to_run=to_run, detect=detect,
                      aliases=({aliases})))
"""


def acme_source(name: str = "acme", aliases: str = "") -> str:
    return ACME_PLUGIN.format(name=name, aliases=aliases)

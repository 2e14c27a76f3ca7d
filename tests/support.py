"""Helpers shared by the tests: sample payloads, a fake third-party plugin."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

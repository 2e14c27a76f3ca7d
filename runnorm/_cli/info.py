"""``runnorm providers``: the installed providers, their statuses, and plugins that failed."""

from __future__ import annotations

from typing import Any

import click

from runnorm._cli.output import emit_json, stdout_is_terminal
from runnorm._plugins.host import ProviderInfo, get_host

__all__ = ["providers_command"]


def _info_document(info: ProviderInfo) -> dict[str, Any]:
    provider = info.provider
    return {
        "name": info.name,
        "package": info.package,
        "version": info.version,
        "entry_point": info.entry_point,
        "aliases": list(info.aliases),
        "capabilities": sorted(info.capabilities),
        "statuses": {k: v.value for k, v in provider.statuses.items()} if provider else {},
        "error": info.error,
        "warnings": list(info.warnings),
    }


@click.command("providers")
@click.option("--json", "as_json", is_flag=True, help="JSON output (the default when piped).")
def providers_command(as_json: bool) -> None:
    """List installed providers, their statuses, plugins that failed to load, and warnings
    (a detector that accepts other providers' samples, or raised)."""
    infos = get_host().infos()
    if as_json or not stdout_is_terminal():
        emit_json([_info_document(info) for info in infos])
        return
    rows = [("NAME", "PACKAGE", "VERSION", "CAPABILITIES", "STATUSES")]
    for info in infos:
        doc = _info_document(info)
        statuses = ", ".join(f"{k}={v}" for k, v in doc["statuses"].items()) or "-"
        rows.append(
            (
                info.name,
                info.package or "-",
                info.version or "-",
                ",".join(doc["capabilities"]) or "-",
                statuses,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[4]
        )
    failed = [info for info in infos if info.error]
    if failed:
        click.echo("")
        click.echo("Load errors:")
        for info in failed:
            where = info.entry_point or info.name
            click.echo(f"  {info.name} ({info.package or '?'}, {where}): {info.error}")
    warned = [info for info in infos if info.warnings]
    if warned:
        click.echo("")
        click.echo("Warnings:")
        for info in warned:
            for warning in info.warnings:
                click.echo(f"  {info.name} ({info.package or '?'}): {warning}")

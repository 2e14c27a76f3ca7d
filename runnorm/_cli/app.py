"""The ``runnorm`` group: global options, warnings on stderr, and commands loaded on use."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import click

from runnorm._cli.output import EXIT_INTERRUPTED, EXIT_TERMINATED, exit_on_sigterm
from runnorm._version import __version__

__all__ = ["COMMANDS", "Terminated", "main"]

COMMANDS = {
    "artifacts": "runnorm._cli.artifacts:artifacts_command",
    "cancel": "runnorm._cli.control:cancel_command",
    "get": "runnorm._cli.live:get_command",
    "list": "runnorm._cli.listing:list_command",
    "normalize": "runnorm._cli.normalize:normalize_command",
    "providers": "runnorm._cli.info:providers_command",
    "resume": "runnorm._cli.control:resume_command",
    "schema": "runnorm._cli.schema:schema_command",
    "wait": "runnorm._cli.live:wait_command",
    "watch": "runnorm._cli.watch:watch_command",
}
"""Each command and where it lives (``module:attribute``), imported when it is used or
listed: a batch never pays for the live-fetching imports (httpx), nor ``providers`` for
cattrs."""


class _Commands(click.Group):
    """A group whose commands are imported by name from :data:`COMMANDS` (click's lazy
    group pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module, _, attribute = where.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; Ctrl-C (``KeyboardInterrupt``, wherever it is raised: a command, a
        plugin's import) ends it with a message and exit code 130, as shells expect. SIGTERM
        ends it the same way with 143, through the normal unwinding (:class:`Terminated`):
        a ``list -o`` file or a download half done is discarded, never left behind."""
        try:
            with exit_on_sigterm(Terminated):
                return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("", err=True)
            click.echo("runnorm: interrupted", err=True)
            raise SystemExit(EXIT_INTERRUPTED) from None
        except Terminated:
            click.echo("", err=True)
            click.echo("runnorm: terminated", err=True)
            raise SystemExit(EXIT_TERMINATED) from None


class Terminated(SystemExit):
    """SIGTERM, raised in the main thread: a ``SystemExit`` with code 143, so that what
    unwinds cleans up as for any exit (a command that reports it itself exits with a plain
    ``SystemExit(143)``, and the group says nothing more)."""


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runnorm", message="%(prog)s %(version)s")
def main() -> None:
    """Normalize runs from Skyvern, Browserbase, Bridge Town and plugin providers."""
    warnings.showwarning = _show_warning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Warnings as one plain line on stderr (no source excerpt)."""
    click.echo(f"runnorm: warning: {message}", err=True)

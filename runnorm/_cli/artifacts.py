"""``runnorm artifacts``: a run's artifacts listed, and downloaded with ``--download DIR``.

A table on a terminal, JSON Lines when piped (or with ``--json``): one artifact a line, with
``path`` (and ``error``) once downloaded. A progress line on stderr while a download runs on
a terminal. Exit 0; 1 when a download failed a check (size, checksum, ``--max-bytes``, its
link); 5 on errors (listing failed, a transfer broke off, a file could not be written).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from runnorm._cli.live import (
    Mask,
    base_url_option,
    extra_option,
    fail_with,
    json_option,
    live_options,
    masking,
)
from runnorm._cli.output import EXIT_ERROR, EXIT_FAILED, NamedPath, stdout_is_terminal
from runnorm._errors import ArtifactError, RunnormError
from runnorm._json import dumps
from runnorm._live.api import artifacts, download
from runnorm._model.encoding import artifact_document
from runnorm._model.run import Artifact, ArtifactKind

__all__ = ["artifacts_command", "stderr_is_terminal"]


def stderr_is_terminal() -> bool:
    """True when stderr is a terminal (a progress line), False otherwise."""
    return sys.stderr.isatty()


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{value} B"  # pragma: no cover - the loop always returns


class _Bar:
    """A one-line progress display on stderr (bytes, percent, rate), at most 5 times a second."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.monotonic()
        self.shown = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.shown < 0.2 and (total is None or done < total):
            return
        self.shown = now
        rate = done / max(now - self.started, 1e-9)
        share = f" {done * 100 // total}%" if total else ""
        of = f" / {_size(total)}" if total else ""
        line = f"\r{self.name}: {_size(done)}{of}{share}  {_size(int(rate))}/s\033[K"
        click.echo(line, err=True, nl=False)

    def finish(self) -> None:
        click.echo("\r\033[K", err=True, nl=False)


def _document(artifact: Artifact, **more: Any) -> dict[str, Any]:
    return {**artifact_document(artifact, lambda stamp: stamp.isoformat()), **more}


def _line(document: dict[str, Any], mask: Mask) -> None:
    text = dumps(mask.value(document), newline=True)
    out = sys.stdout.buffer
    out.write(mask(text.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape"))
    out.flush()


def _table(found: list[Artifact], mask: Mask) -> None:
    rows = [("KIND", "NAME", "SIZE", "EXPIRES", "ID")]
    for a in found:
        expires = a.expires_at.strftime("%Y-%m-%d %H:%M") if a.expires_at else "-"
        where = a.id or ("inline" if a.content is not None else "-")
        rows.append((a.kind.value, a.name or "-", _size(a.size), expires, where))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo(mask.line("  ".join([*cells, row[4]])))


@click.command("artifacts")
@click.argument("provider")
@click.argument("run_id")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice([kind.value for kind in ArtifactKind]),
    help="Only artifacts of this kind (repeatable).",
)
@click.option(
    "--download",
    "directory",
    type=NamedPath(file_okay=False),
    help="Download them into this directory (created if missing).",
)
@click.option("--overwrite", is_flag=True, help="Replace files of the same name.")
@click.option(
    "--max-bytes", type=click.IntRange(min=0), help="Refuse an artifact larger than this."
)
@base_url_option
@json_option
@extra_option
def artifacts_command(
    provider: str,
    run_id: str,
    kinds: tuple[str, ...],
    directory: str | None,
    overwrite: bool,
    max_bytes: int | None,
    base_url: str | None,
    as_json: bool,
    options: tuple[str, ...],
) -> None:
    """List a run's artifacts, or download them with --download DIR.

    Exit 0; 1 when a download failed a check (size, checksum, --max-bytes, its link);
    5 on errors.
    """
    settings = live_options(base_url, options)
    table = not as_json and stdout_is_terminal()
    with masking(provider, settings) as mask:
        try:
            found = artifacts(provider, run_id, **settings)
        except RunnormError as exc:
            fail_with(mask, exc)
        found = [a for a in found if not kinds or a.kind.value in kinds]
        if directory is None:
            if table:
                _table(found, mask)
            else:
                for artifact in found:
                    _line(_document(artifact), mask)
            return
        code = 0
        live = stderr_is_terminal()
        for artifact in found:
            shown = artifact.name or artifact.id or artifact.kind.value
            bar = _Bar(mask.line(shown)) if live else None
            try:
                path = download(
                    provider,
                    artifact,
                    directory,
                    overwrite=overwrite,
                    max_bytes=max_bytes,
                    on_progress=bar,
                    **settings,
                )
            except RunnormError as exc:
                if bar is not None:
                    bar.finish()
                failed_check = isinstance(exc, ArtifactError) and exc.check != "io"
                code = max(code, EXIT_FAILED if failed_check else EXIT_ERROR)
                click.echo(f"runnorm: {mask.line(str(exc))}", err=True)
                if not table:
                    _line(_document(artifact, path=None, error=str(exc)), mask)
                continue
            if bar is not None:
                bar.finish()
            if table:
                click.echo(mask.line(f"{artifact.kind.value:<10}  {shown}  ->  {path}"))
            else:
                _line(_document(artifact, path=str(path), error=None), mask)
    raise SystemExit(code)

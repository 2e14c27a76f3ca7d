"""``runnorm normalize``: dumps in, one output published whole, counts on stderr.

The command checks its arguments, expands its inputs, opens the outputs
(:mod:`runnorm._batch.outfile`), runs an engine (local processes, or Dask) and reports;
the work itself is :mod:`runnorm._batch`'s.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import click

from runnorm._batch.cluster import normalize_on_dask
from runnorm._batch.engine import BatchOptions, BatchStats, default_jobs, run_batch
from runnorm._batch.outfile import Output, open_output, same_target
from runnorm._batch.records import RecordError
from runnorm._batch.sources import expand_paths
from runnorm._batch.writers import FORMATS, format_for, prefer_jemalloc
from runnorm._cli.output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    NamedPath,
    exit_on_sigterm,
    fail,
    terminal_text,
)
from runnorm._errors import DumpError, RunnormError
from runnorm._json import dumps
from runnorm._plugins.normalize import resolve_provider

__all__ = ["normalize_command"]

Report = Callable[[RecordError], None]


class _Progress:
    """A one-line progress display on stderr (records, MB/s, errors), at most 5 times a second."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.shown = 0.0

    def __call__(self, stats: BatchStats) -> None:
        now = time.monotonic()
        if now - self.shown < 0.2:
            return
        self.shown = now
        rate = stats.bytes_read / max(now - self.started, 1e-9) / 1e6
        click.echo(
            f"\r{stats.records:,} records  {rate:.1f} MB/s  {stats.failed:,} failed\033[K",
            err=True,
            nl=False,
        )

    def finish(self) -> None:
        click.echo("\r\033[K", err=True, nl=False)


@click.command("normalize")
@click.argument("paths", nargs=-1, required=True)
@click.option("-p", "--provider", help="Provider of every record (default: detect per record).")
@click.option(
    "-o", "--output", type=NamedPath(dir_okay=False, allow_dash=True), help="Output file."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Output format (default: from the -o suffix, else jsonl).",
)
@click.option(
    "--errors", "errors_path", type=NamedPath(dir_okay=False), help="Failed records, as JSONL."
)
@click.option("--strict", is_flag=True, help="Stop at the first record that fails.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    help="Worker processes, one shard each (default 0: one per CPU for large inputs).",
)
@click.option("--summary", is_flag=True, help="Print counts by provider and status, and run times.")
@click.option("--no-redact", is_flag=True, help="Keep secrets found in payloads in the output.")
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local processes, or a Dask cluster (runnorm[dask]).",
)
@click.option("--scheduler", help="Dask scheduler address (with --engine dask).")
def normalize_command(
    paths: tuple[str, ...],
    provider: str | None,
    output: str | None,
    fmt: str | None,
    errors_path: str | None,
    strict: bool,
    jobs: int,
    summary: bool,
    no_redact: bool,
    engine: str,
    scheduler: str | None,
) -> None:
    """Normalize dumps (JSON Lines, JSON, wrappers, gzip, directories, - for stdin).

    Each failed record is reported with its file and line (on stderr, or as JSONL in
    --errors FILE); a counts line always ends on stderr. Exit code 1 when any record failed.
    """
    fmt = format_for(fmt, output)
    if fmt == "parquet":
        prefer_jemalloc()
    _check_usage(paths, provider, output, fmt, errors_path, engine, scheduler)
    files = _input_files(paths, engine, [p for p in (output, errors_path) if p and p != "-"])
    options = BatchOptions(
        provider=provider, fmt=fmt, redact=not no_redact, strict=strict, summary=summary
    )

    def run(sink: IO[bytes], report: Report, progress: _Progress | None) -> BatchStats:
        if engine == "dask":
            return normalize_on_dask(files, options, sink, report=report, scheduler=scheduler)
        workers = jobs or default_jobs()
        return run_batch(files, options, sink, report=report, jobs=workers, progress=progress)

    stats = _with_outputs(output, errors_path, run=run)
    if stats.summary is not None:
        click.echo(stats.summary.table(), err=True)
    click.echo(
        f"records in: {stats.records}, normalized: {stats.normalized}, failed: {stats.failed}",
        err=True,
    )
    if stats.failed:
        raise SystemExit(EXIT_FAILED)


def _check_usage(
    paths: tuple[str, ...],
    provider: str | None,
    output: str | None,
    fmt: str,
    errors_path: str | None,
    engine: str,
    scheduler: str | None,
) -> None:
    """Usage errors (exit 2) and an unknown provider (exit 5), before anything is opened."""
    if provider is not None:
        try:
            resolve_provider(provider)
        except RunnormError as exc:
            fail(str(exc))
    if scheduler and engine != "dask":
        raise click.UsageError("--scheduler goes with --engine dask")
    if engine == "dask" and "-" in paths:
        raise click.UsageError("the Dask engine reads files and URLs, not stdin")
    if fmt == "parquet" and output in (None, "-"):
        raise click.UsageError("Parquet output needs a file: -o runs.parquet")
    if fmt == "parquet" and str(output).lower().endswith(".gz"):
        raise click.UsageError("Parquet compresses itself: drop the .gz suffix")
    if errors_path and any(same_target(p, errors_path) for p in (*paths, output) if p):
        raise click.UsageError("--errors needs a file of its own, not an input or the output")


def _input_files(paths: tuple[str, ...], engine: str, written: list[str]) -> list[str]:
    """The files to read, in order. Files found in a directory skip this command's own
    outputs; files named explicitly are read, even the output (it is replaced only at the
    end). The Dask engine expands the other paths where it reads them (fsspec URLs, globs)."""
    files: list[str] = []
    try:
        for given in paths:
            if engine == "dask" and not (given != "-" and Path(given).is_dir()):
                files.append(given)
                continue
            found = expand_paths([given])
            if given != "-" and Path(given).is_dir():
                found = [f for f in found if not any(same_target(f, w) for w in written)]
            files += found
    except DumpError as exc:
        fail(str(exc))
    return files


def _open(name: str | None, opened: list[Output]) -> Output:
    try:
        output = open_output(name)
    except OSError as exc:
        for other in opened:
            other.discard()
        fail(f"cannot write {name}: {exc.strerror or exc}")
    opened.append(output)
    return output


def _with_outputs(
    output: str | None,
    errors_path: str | None,
    *,
    run: Callable[[IO[bytes], Report, _Progress | None], BatchStats],
) -> BatchStats:
    """Open the output and the errors file, *run* into them, then publish both if the run
    completed (failed records and ``--strict`` stops included), or discard both if not,
    saying so: a previous output stays as it was."""
    opened: list[Output] = []
    sink = _open(output, opened)
    errors = _open(errors_path, opened) if errors_path else None

    def report(error: RecordError) -> None:
        if errors is not None:
            errors.stream.write(dumps(error.to_dict(), newline=True))
        else:
            click.echo(terminal_text(f"{error.where}: {error.reason}"), err=True)

    progress = _Progress() if sys.stderr.isatty() else None
    try:
        with exit_on_sigterm():
            stats = run(sink.stream, report, progress)
    except BaseException as exc:
        if progress is not None:
            progress.finish()
        _discard(opened, exc)
        raise  # pragma: no cover - _discard exits
    if progress is not None:
        progress.finish()
    for done in opened:
        try:
            done.commit()
        except OSError as exc:
            for other in opened:
                other.discard()
            fail(f"cannot write {done.name}: {exc.strerror or exc}{_left_as_it_was(opened)}")
    return stats


def _left_as_it_was(opened: list[Output]) -> str:
    files = [o.name for o in opened if o.kind == "file"]
    if not files:
        return ""
    return f"; output discarded, {' and '.join(files)} left as before"


def _discard(opened: list[Output], exc: BaseException) -> None:
    """Discard every output of a run that did not complete and exit saying why."""
    for output in opened:
        output.discard()
    kept = _left_as_it_was(opened)
    if isinstance(exc, KeyboardInterrupt):
        fail(f"interrupted{kept}", EXIT_INTERRUPTED)
    if isinstance(exc, SystemExit):
        if exc.code == 128 + signal.SIGTERM:
            fail(f"terminated{kept}", exc.code)
        raise exc  # a usage error or exit already reported
    if isinstance(exc, ImportError):
        fail(f"{exc}{kept}")
    if isinstance(exc, BrokenPipeError):
        # The reader went away (``| head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        fail(f"output closed early; stopped{kept}", EXIT_FAILED)
    if isinstance(exc, RunnormError):
        fail(f"{exc}{kept}")
    if isinstance(exc, OSError):  # a full disk, an unreadable input, an unreachable scheduler
        where = f" {exc.filename}" if exc.filename else ""
        fail(f"{exc.strerror or exc}{where}{kept}")
    if isinstance(exc, TimeoutError):
        fail(f"{type(exc).__name__}: {exc}{kept}")
    raise exc

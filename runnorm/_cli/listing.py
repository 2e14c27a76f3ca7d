"""``runnorm list``: a provider's runs, through the writers of ``normalize``; incremental sync.

The runs come from ``list_runs`` (``Client._list_pairs``: each run as listed beside the one
written, the fetched one with ``--full``). On a terminal without ``-o`` they are a table;
otherwise documents built as ``runnorm normalize`` builds them (``Normalizer.document``:
redaction, then the caller's key masked), framed by the same ``OutputDocument`` and published
whole by the same ``Output``: a listed run and the same payload normalized from a dump give
identical records.

``--checkpoint FILE`` (:mod:`runnorm._cli.checkpoint`) lists from the file's mark, writes the
runs it has not seen, fetches the pending ones again and writes those whose state changed;
the file is replaced only after the output is published, and only when the listing was whole.
Exit codes: 0; 1 when ``ListLimitError`` cut the listing (output published with what was
reached, checkpoint not advanced); 2 usage; 5 errors (a failure part-way leaves an output
file as it was, as every output is published whole or not at all, and the checkpoint too;
on standard output the runs written before it have gone out, and the message says how many).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import click

from runnorm._batch.normalizer import BatchOptions, Normalizer
from runnorm._batch.outfile import Output, open_output, same_target
from runnorm._batch.writers import FORMATS, OutputDocument, Writer, format_for, prefer_jemalloc
from runnorm._cli.checkpoint import Checkpoint, CheckpointError, read_checkpoint, run_state
from runnorm._cli.live import Mask, base_url_option, extra_option, live_options, masking
from runnorm._cli.output import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    NamedPath,
    fail,
    stdout_is_terminal,
)
from runnorm._errors import (
    ConfigError,
    ListLimitError,
    NotFoundError,
    RunnormError,
    UnsupportedError,
)
from runnorm._live.client import Client
from runnorm._live.flows import sendable
from runnorm._live.listing import Mark
from runnorm._live.when import parse_when
from runnorm._model.run import Run
from runnorm._plugins.normalize import resolve_provider
from runnorm._plugins.provider import Provider

__all__ = ["list_command"]


def stderr_is_terminal() -> bool:
    """True when stderr is a terminal (the progress line)."""
    return sys.stderr.isatty()


class _Progress:
    """``N runs`` on stderr, at most 5 times a second (a terminal only)."""

    def __init__(self) -> None:
        self.shown = 0.0

    def __call__(self, written: int) -> None:
        now = time.monotonic()
        if now - self.shown >= 0.2:
            self.shown = now
            runs = "run" if written == 1 else "runs"
            click.echo(f"\r{written:,} {runs} written\033[K", err=True, nl=False)

    def finish(self) -> None:
        click.echo("\r\033[K", err=True, nl=False)


class _Table:
    """Runs as aligned rows on the terminal, the caller's key masked."""

    def __init__(self, mask: Mask) -> None:
        self.mask = mask
        click.echo(f"{'created (UTC)':<19}  {'status':<24}  id  task")

    def write(self, run: Run) -> None:
        created = run.timing.created_at
        when = created.strftime("%Y-%m-%d %H:%M:%S") if created else "-"
        status = f"{run.status.value} ({run.native_status})"
        task = (run.task or "").replace("\n", " ")
        task = task if len(task) <= 60 else task[:57] + "..."
        click.echo(self.mask.line(f"{when:<19}  {status:<24}  {run.id}  {task}".rstrip()))


def _masked(mask: Mask, item: Any) -> Any:
    """An output item (a document, or a CSV/Parquet row whose JSON values are bytes) with the
    caller's key masked wherever a provider's payload echoed it."""
    if not isinstance(item, tuple):
        return mask.value(item)
    return tuple(_masked_cell(mask, value) for value in item)


def _masked_cell(mask: Mask, value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, bytes):  # JSON text: result, extra, raw, error details
        text = value.decode("utf-8", "surrogateescape")
        masked = mask(text)
        return value if masked == text else masked.encode("utf-8", "surrogateescape")
    return value


class _Sink:
    """Where runs go: the table, or what the format's writer takes (``Normalizer.output``:
    documents, or rows for CSV and Parquet) through the batch writers into an output."""

    def __init__(
        self, provider: Provider, mask: Mask, fmt: str, output: Output | None, redact: bool
    ) -> None:
        self.mask, self.output, self.count = mask, output, 0
        self.table = _Table(mask) if output is None else None
        self.normalizer = Normalizer(BatchOptions(provider=provider.name, fmt=fmt, redact=redact))
        self.document: OutputDocument | None = None
        self.writer: Writer | None = None
        if output is not None:
            self.document = OutputDocument(fmt, output.stream)
            self.writer = self.document.writer()

    def write(self, run: Run) -> None:
        if self.writer is not None:
            self.writer.write(_masked(self.mask, self.normalizer.output(run, None)))
        elif self.table is not None:
            self.table.write(run)
        self.count += 1

    def close(self) -> None:
        if self.document is not None:
            self.document.close()


def _settings(provider: Provider, base_url: str | None, options: tuple[str, ...]) -> dict[str, Any]:
    """``-O`` options as ``get`` reads them; the listing's own (``project``) stay text."""
    settings = live_options(base_url, options)
    for item in options:
        name, _, value = item.partition("=")
        if name.strip() in provider.list_options:
            settings[name.strip()] = value
    return settings


def _when(name: str, value: str | None, now: datetime) -> datetime | None:
    try:
        return parse_when(f"--{name}", value, now=now)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{name}") from None


def _checkpoint(
    path: str | None, provider: Provider, until: datetime | None, settings: Mapping[str, Any]
) -> Checkpoint | None:
    """The checkpoint to start from (a fresh one when the file does not exist yet)."""
    if path is None:
        return None
    own = {k: str(v) for k, v in settings.items() if k in provider.list_options}
    fresh = Checkpoint(provider=provider.name, until=until, options=own)
    try:
        found = read_checkpoint(path)
    except CheckpointError as exc:
        fail(str(exc), EXIT_ERROR)
    if found is None:
        return fresh
    if found.selection() != fresh.selection():
        raise click.UsageError(
            f"checkpoint {path} was written for {found.selection()}, not {fresh.selection()}: "
            "use another file for another selection"
        )
    return found


@click.command("list")
@click.argument("provider")
@click.option("--since", metavar="WHEN", help="Created at or after: ISO 8601, or a span (2h, 7d).")
@click.option("--until", metavar="WHEN", help="Created before: ISO 8601, or a span before now.")
@click.option("--status", metavar="S", help="A status (succeeded, ...) or a native word.")
@click.option("--limit", type=click.IntRange(min=0), help="At most N runs.")
@click.option("--full", is_flag=True, help="Fetch each run as get does (concurrently).")
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
    "--checkpoint",
    "checkpoint_path",
    type=NamedPath(dir_okay=False),
    metavar="FILE",
    help="Incremental sync: list what is new since FILE, fetch its unfinished runs again.",
)
@click.option("--no-redact", is_flag=True, help="Keep secrets found in payloads in the output.")
@base_url_option
@extra_option
def list_command(
    provider: str,
    since: str | None,
    until: str | None,
    status: str | None,
    limit: int | None,
    full: bool,
    output: str | None,
    fmt: str | None,
    checkpoint_path: str | None,
    no_redact: bool,
    base_url: str | None,
    options: tuple[str, ...],
) -> None:
    """List a provider's runs: a table on a terminal, JSON Lines when piped or with -o.

    Exit 0; 1 when a provider limit cut the listing short (the output holds what was
    reached, the checkpoint is not advanced); 5 on errors.
    """
    try:
        declared = resolve_provider(provider)
    except RunnormError as exc:
        fail(str(exc))
    if declared.list is None:
        fail(str(UnsupportedError(f"provider {declared.name!r} does not support listing runs")))
    now = datetime.now(UTC)
    lower, upper = _when("since", since, now), _when("until", until, now)
    if checkpoint_path is not None:
        if limit is not None or status is not None:
            raise click.UsageError(
                "--checkpoint syncs every run: --limit and --status would leave runs behind "
                "(filter the output instead)"
            )
        if output and output != "-" and same_target(output, checkpoint_path):
            raise click.UsageError("--checkpoint needs a file of its own, not the output")
    table = output is None and fmt is None and stdout_is_terminal()
    fmt = format_for(fmt, output)
    if fmt == "parquet" and output in (None, "-"):
        raise click.UsageError("Parquet output needs a file: -o runs.parquet")
    if fmt == "parquet":
        prefer_jemalloc()
    settings = _settings(declared, base_url, options)
    checkpoint = _checkpoint(checkpoint_path, declared, upper, settings)
    mark = checkpoint.mark if checkpoint is not None else Mark()
    if mark.at is not None:
        lower = mark.at if lower is None else max(lower, mark.at)
    client = Client(declared)
    try:
        with masking(declared.name, settings) as mask:  # warnings masked too
            _run(
                client,
                declared,
                settings,
                mask,
                query={
                    "since": lower,
                    "until": upper,
                    "status": status,
                    "limit": limit,
                    "full": full,
                },
                checkpoint=checkpoint,
                checkpoint_path=checkpoint_path,
                output=output,
                table=table,
                fmt=fmt,
                redact=not no_redact,
            )
    finally:
        client.close()


def _run(
    client: Client,
    provider: Provider,
    settings: dict[str, Any],
    mask: Mask,
    *,
    query: dict[str, Any],
    checkpoint: Checkpoint | None,
    checkpoint_path: str | None,
    output: str | None,
    table: bool,
    fmt: str,
    redact: bool,
) -> None:
    try:
        pairs = client._list_pairs(**query, **settings)
    except ConfigError as exc:
        raise click.UsageError(mask.line(str(exc))) from None
    except RunnormError as exc:
        fail(mask(str(exc)))
    opened: Output | None = None
    if not table:
        try:
            opened = open_output(output)
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
    sink = _Sink(provider, mask, fmt, opened, redact)
    progress = _Progress() if stderr_is_terminal() and opened is not None else None
    sync = _Sync(checkpoint, client, settings)
    try:
        failure, cut = sync.run(pairs, sink, progress)
        sink.close()
    except BaseException as exc:
        if progress is not None:
            progress.finish()
        if opened is not None:
            opened.discard()
        _interrupted(exc, opened)
        raise
    if progress is not None:
        progress.finish()
    kept = "; checkpoint not advanced" if checkpoint is not None else ""
    if failure is not None:  # published whole or not at all: a file is left as it was
        if opened is not None and opened.kind == "file":
            opened.discard()
            fail(f"{mask(str(failure))}; {opened.name} left as before{kept}")
        _publish(opened, sync, None, mask)
        click.echo(sync.counts(sink.count), err=True)
        fail(f"{mask(str(failure))}; {sink.count} runs were written before it{kept}")
    _publish(opened, sync, checkpoint_path if cut is None else None, mask)
    click.echo(sync.counts(sink.count), err=True)
    if cut is not None:
        fail(f"{mask(str(cut))}; the output holds the {sink.count} runs reached{kept}", EXIT_FAILED)


def _publish(opened: Output | None, sync: _Sync, checkpoint_path: str | None, mask: Mask) -> None:
    """The output first, then (when given: the listing was whole) the checkpoint."""
    if opened is not None:
        try:
            opened.commit()
        except OSError as exc:
            fail(f"cannot write {opened.name}: {exc.strerror or exc}; checkpoint not advanced")
    if checkpoint_path is not None and sync.start is not None:
        try:
            sync.checkpoint().write(checkpoint_path, mask)
        except OSError as exc:
            fail(f"cannot write checkpoint {checkpoint_path}: {exc.strerror or exc}")


def _interrupted(exc: BaseException, opened: Output | None) -> None:
    kept = f"; {opened.name} left as before" if opened is not None and opened.kind == "file" else ""
    if isinstance(exc, KeyboardInterrupt):
        fail(f"interrupted{kept}", EXIT_INTERRUPTED)
    if isinstance(exc, SystemExit) and exc.code == EXIT_TERMINATED:  # SIGTERM
        fail(f"terminated{kept}", EXIT_TERMINATED)
    if isinstance(exc, BrokenPipeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        fail(f"output closed early; stopped{kept}", EXIT_FAILED)
    if isinstance(exc, OSError):
        fail(f"{exc.strerror or exc}{kept}")


class _Sync:
    """One call's runs: the listing, then (with a checkpoint) the pending runs fetched again;
    what is written and what the next checkpoint holds."""

    def __init__(self, checkpoint: Checkpoint | None, client: Client, settings: dict[str, Any]):
        self.start = checkpoint
        self.client, self.settings = client, settings
        self.mark = checkpoint.mark if checkpoint is not None else Mark()
        self.listed: list[Run] = []
        self.written: set[str] = set()
        self.pending: dict[str, dict[str, Any]] = {}
        self.refetched = 0
        self.gone: list[str] = []

    def run(
        self,
        pairs: Iterator[tuple[Run, Run]],
        sink: _Sink,
        progress: _Progress | None,
    ) -> tuple[RunnormError | None, ListLimitError | None]:
        """Write every run; the error that stopped it (None) and the cut (None)."""
        try:
            for listed, run in pairs:
                if not self.mark.admits(listed) or run.id in self.written:
                    continue
                self._write(sink, run)
                self.listed.append(listed)
                if progress is not None:
                    progress(sink.count)
        except ListLimitError as exc:
            return None, exc
        except RunnormError as exc:
            return exc, None
        if self.start is None:
            return None, None
        return self._refetch(sink), None

    def _write(self, sink: _Sink, run: Run) -> None:
        sink.write(run)
        self.written.add(run.id)
        if run.is_terminal or not sendable(run.id):  # an id no GET can carry is never pending
            self.pending.pop(run.id, None)
        else:
            self.pending[run.id] = run_state(run)

    def _refetch(self, sink: _Sink) -> RunnormError | None:
        assert self.start is not None
        before = {
            k: v
            for k, v in self.start.pending.items()
            if k not in self.written and sendable(k)  # a hand-edited file: dropped
        }
        if not before:
            return None
        own = self.client.provider.list_options
        fetch = {k: v for k, v in self.settings.items() if k not in own}
        results = self.client.get_many(list(before), **fetch)
        self.refetched = len(results)
        for (run_id, state), result in zip(before.items(), results, strict=True):
            if isinstance(result, NotFoundError):
                self.gone.append(run_id)
                continue
            if isinstance(result, RunnormError):
                return result
            if run_state(result) != dict(state):
                self._write(sink, result)
            elif not result.is_terminal:
                self.pending[run_id] = dict(state)
        return None

    def checkpoint(self) -> Checkpoint:
        assert self.start is not None
        return Checkpoint(
            provider=self.start.provider,
            until=self.start.until,
            options=self.start.options,
            mark=self.mark.after(self.listed),
            pending=self.pending,
        )

    def counts(self, written: int) -> str:
        text = f"listed: {len(self.listed)}, written: {written}"
        if self.start is not None:
            text += f", fetched again: {self.refetched}"
            if self.gone:
                text += f" ({len(self.gone)} no longer found)"
        return text

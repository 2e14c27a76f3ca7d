"""The ``runnorm`` command line (click).

Exit codes, everywhere: 0 success (``get``: any fetched run; ``wait``: succeeded); 1 the run
failed (or, for ``wait``, stopped paused waiting for input), or some records failed; 2 usage;
3 canceled; 4 timed out (the run, or the wait); 5 error (auth, not found, transport, input
missing).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import signal
import stat
import sys
import time
import warnings
from pathlib import Path
from typing import IO, Any

import click
import orjson

from runnorm import build_kind
from runnorm._version import __version__
from runnorm.batch import (
    WRITE_BUFFER,
    BatchOptions,
    BatchStats,
    default_jobs,
    expand_paths,
    run_batch,
)
from runnorm.dump import RecordError
from runnorm.errors import ConfigError, RunnormError, WaitTimeout
from runnorm.jsonio import dumps
from runnorm.model import Run
from runnorm.normalize import resolve_provider
from runnorm.outputs import FORMATS, format_for
from runnorm.plugins import ProviderInfo, get_host
from runnorm.redaction import Redactor
from runnorm.status import RunStatus

__all__ = ["EXIT_CANCELED", "EXIT_ERROR", "EXIT_FAILED", "EXIT_TIMED_OUT", "EXIT_USAGE", "main"]

_VERSION_MESSAGE = f"%(prog)s %(version)s ({build_kind()})"

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELED = 3
EXIT_TIMED_OUT = 4
EXIT_ERROR = 5

_ORJSON_OPTS = orjson.OPT_NON_STR_KEYS


def _dumps(document: Any, *, indent: bool = False) -> bytes:
    options = _ORJSON_OPTS | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(document, option=options)
    except TypeError:  # integers past 64 bits and other rarities
        import json

        return json.dumps(document, indent=2 if indent else None, default=str).encode()


def _emit_json(document: Any) -> None:
    out = sys.stdout.buffer
    out.write(_dumps(document, indent=True) + b"\n")
    out.flush()


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _fail(message: str, code: int = EXIT_ERROR) -> None:
    click.echo(f"runnorm: {message}", err=True)
    raise SystemExit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runnorm", message=_VERSION_MESSAGE)
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


# -- providers ---------------------------------------------------------------------------------


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
    }


@main.command("providers")
@click.option("--json", "as_json", is_flag=True, help="JSON output (the default when piped).")
def providers_command(as_json: bool) -> None:
    """List installed providers, their statuses, and plugins that failed to load."""
    infos = get_host().infos()
    if as_json or not _stdout_is_terminal():
        _emit_json([_info_document(info) for info in infos])
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


# -- get and wait ------------------------------------------------------------------------------

_WAIT_EXIT = {
    RunStatus.SUCCEEDED: 0,
    RunStatus.FAILED: EXIT_FAILED,
    RunStatus.CANCELED: EXIT_CANCELED,
    RunStatus.TIMED_OUT: EXIT_TIMED_OUT,
}


def _live_options(base_url: str | None, options: tuple[str, ...]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if base_url:
        settings["base_url"] = base_url
    for item in options:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--option takes NAME=VALUE, not {item!r}")
        settings[name.strip()] = _option_value(name.strip(), value)
    return settings


_NUMBER_OPTIONS: dict[str, type] = {"timeout": float, "max_retries": int, "max_response_bytes": int}
_TEXT_OPTIONS = frozenset({"api_key", "base_url"})


def _option_value(name: str, text: str) -> Any:
    """-O values: numbers for the numeric options, text for keys and URLs, else flags."""
    if name in _NUMBER_OPTIONS:
        try:
            return _NUMBER_OPTIONS[name](text)
        except ValueError:
            raise click.UsageError(f"--option {name} takes a number, not {text!r}") from None
    if name in _TEXT_OPTIONS:
        return text
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    return text


def _redacted(run: Run) -> dict[str, Any]:
    declared = get_host().usable().get(run.provider)
    return Redactor(declared.sensitive_keys if declared else ()).redact_document(run.to_dict())


def _show_run(run: Run, as_json: bool) -> None:
    if as_json or not _stdout_is_terminal():
        _emit_json(_redacted(run))
        return
    timing = run.timing
    rows = [
        ("provider", run.provider),
        ("id", run.id),
        ("status", f"{run.status.value} ({run.native_status})"),
        ("kind", run.kind),
        ("task", run.task),
        ("created", timing.created_at),
        ("started", timing.started_at),
        ("finished", timing.finished_at),
        ("run time", timing.run_time),
        (
            "error",
            f"{run.error.code or ''} {run.error.message or ''}".strip() if run.error else None,
        ),
        ("web", run.web_url),
        ("artifacts", len(run.artifacts) or None),
    ]
    for label, value in rows:
        if value is not None and value != "":
            click.echo(f"{label:>10}  {value}")


def _live_error(exc: Exception) -> None:
    _fail(str(exc), EXIT_ERROR)


_base_url_option = click.option(
    "--base-url", help="API root (REST) or MCP endpoint URL; default from the environment."
)
_json_option = click.option("--json", "as_json", is_flag=True, help="JSON output.")
_extra_option = click.option(
    "--option",
    "-O",
    "options",
    multiple=True,
    metavar="NAME=VALUE",
    help="A provider option, e.g. -O include_session=true.",
)


@main.command("get")
@click.argument("provider")
@click.argument("run_id")
@_base_url_option
@_json_option
@_extra_option
def get_command(
    provider: str, run_id: str, base_url: str | None, as_json: bool, options: tuple[str, ...]
) -> None:
    """Fetch one run and print it (exit 0 for any fetched run)."""
    from runnorm.api import get

    settings = _live_options(base_url, options)
    try:
        run = get(provider, run_id, **settings)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except RunnormError as exc:
        _live_error(exc)
        return
    _show_run(run, as_json)


@main.command("wait")
@click.argument("provider")
@click.argument("run_id")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Deadline (s).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="First poll gap (s).",
)
@click.option(
    "--stop-on-paused/--no-stop-on-paused",
    default=True,
    show_default=True,
    help="Return when the run pauses for input.",
)
@_base_url_option
@_json_option
@_extra_option
def wait_command(
    provider: str,
    run_id: str,
    timeout: float,
    interval: float,
    stop_on_paused: bool,
    base_url: str | None,
    as_json: bool,
    options: tuple[str, ...],
) -> None:
    """Poll a run until it finishes; exit 0 succeeded, 1 failed, 3 canceled, 4 timed out."""
    from runnorm.api import wait

    live = sys.stderr.isatty()

    def on_update(run: Run) -> None:
        if live:
            click.echo(f"\r{run.provider} {run.id}: {run.status.value} ({run.native_status})\033[K",
                       err=True, nl=False)  # fmt: skip

    settings = _live_options(base_url, options)
    try:
        run = wait(
            provider,
            run_id,
            timeout=timeout,
            interval=interval,
            stop_on_paused=stop_on_paused,
            on_update=on_update,
            **settings,
        )
    except WaitTimeout as exc:
        if live:
            click.echo("", err=True)
        click.echo(f"runnorm: {exc}", err=True)
        if exc.last_run is not None:
            _show_run(exc.last_run, as_json)
        raise SystemExit(EXIT_TIMED_OUT) from None
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except RunnormError as exc:
        if live:
            click.echo("", err=True)
        _live_error(exc)
        return
    if live:
        click.echo("", err=True)
    _show_run(run, as_json)
    raise SystemExit(_WAIT_EXIT.get(run.status, EXIT_FAILED))


# -- schema ------------------------------------------------------------------------------------


@main.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the normalized output."""
    from runnorm.serialization import json_schema

    _emit_json(json_schema())


# -- normalize ---------------------------------------------------------------------------------


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


@main.command("normalize")
@click.argument("paths", nargs=-1, required=True)
@click.option("-p", "--provider", help="Provider of every record (default: detect per record).")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="Output file."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Output format (default: from the -o suffix, else jsonl).",
)
@click.option(
    "--errors", "errors_path", type=click.Path(dir_okay=False), help="Failed records, as JSONL."
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
    if provider is not None:
        try:
            resolve_provider(provider)
        except RunnormError as exc:
            _fail(str(exc))
    if scheduler and engine != "dask":
        raise click.UsageError("--scheduler goes with --engine dask")
    if engine == "dask" and "-" in paths:
        raise click.UsageError("the Dask engine reads files and URLs, not stdin")
    if fmt == "parquet" and (output in (None, "-")):
        raise click.UsageError("Parquet output needs a file: -o runs.parquet")
    written = [Path(p) for p in (output, errors_path) if p and p != "-"]
    if errors_path and any(_same_file(p, Path(errors_path)) for p in (*paths, output) if p):
        raise click.UsageError("--errors needs a file of its own, not an input or the output")
    try:
        if engine == "dask":
            files = list(paths)  # expanded where they are read: local paths or fsspec URLs
        else:
            # Files found in a directory skip this command's own outputs; files named
            # explicitly are read, even the output (it is replaced only at the end).
            files = []
            for given in paths:
                found = expand_paths([given])
                if given != "-" and Path(given).is_dir():
                    found = [f for f in found if not _is_one_of(f, written)]
                files += found
    except FileNotFoundError as exc:
        _fail(str(exc))
        return
    target = Path(output) if output not in (None, "-") else None
    reuse = target is None or not any(_same_file(f, target) for f in files)
    options = BatchOptions(
        provider=provider, fmt=fmt, redact=not no_redact, strict=strict, summary=summary
    )
    try:
        errors_file = Path(errors_path).open("wb") if errors_path else None  # noqa: SIM115
        sink = _open_output(output, fmt, reuse=reuse)
    except OSError as exc:
        _fail(f"cannot write {exc.filename or ''}: {exc.strerror or exc}")
        return

    def report(error: RecordError) -> None:
        if errors_file is not None:
            errors_file.write(dumps(error.to_dict()) + b"\n")
        else:
            click.echo(f"{error.where}: {error.reason}", err=True)

    progress = _Progress() if sys.stderr.isatty() else None
    completed = False
    previous_handler = signal.getsignal(signal.SIGTERM)
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        signal.signal(signal.SIGTERM, _terminate)
    try:
        if engine == "dask":
            from runnorm.dask import normalize_to_stream

            stats = normalize_to_stream(files, options, sink, report=report, scheduler=scheduler)
        else:
            workers = jobs or default_jobs()
            stats = run_batch(files, options, sink, report=report, jobs=workers, progress=progress)
        completed = True  # failed records and --strict stops included: a finished run
    except ImportError as exc:
        _fail(str(exc))
        return
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        click.echo("runnorm: output closed early; stopped", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except (OSError, TimeoutError) as exc:  # unreadable input, unreachable scheduler, ...
        _fail(f"{type(exc).__name__}: {exc}")
        return
    finally:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous_handler)
        if progress is not None:
            progress.finish()
        if isinstance(sink, _Replacing):
            _finish_output(sink, completed)
        elif output not in (None, "-"):
            sink.close()
        else:
            with contextlib.suppress(BrokenPipeError):
                sink.flush()
                if sink is not sys.stdout.buffer:
                    sink.close()
        if errors_file is not None:
            errors_file.close()
    if stats.summary is not None:
        click.echo(stats.summary.table(), err=True)
    click.echo(
        f"records in: {stats.records}, normalized: {stats.normalized}, failed: {stats.failed}",
        err=True,
    )
    if stats.failed:
        raise SystemExit(EXIT_FAILED)


def _finish_output(sink: _Replacing, completed: bool) -> None:
    """Publish the output of a finished run; delete that of an interrupted one."""
    if not completed:
        sink.abort()
        return
    try:
        sink.commit()
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(sink.partial)
        _fail(f"cannot write {sink.target}: {exc.strerror or exc}; no output written")


def _is_one_of(path: str, written: list[Path]) -> bool:
    """True when *path* is a file this command writes (an output inside an input folder)."""
    if path == "-":
        return False
    for target in written:
        try:
            if target.exists() and os.path.samefile(path, target):
                return True
        except OSError:
            continue
    return False


def _open_output(output: str | None, fmt: str, *, reuse: bool = True) -> IO[bytes]:
    """stdout, a file (see :func:`_open_replacing`), or a gzip file for a ``.gz`` name (not
    for Parquet); buffered in large blocks, as a batch writes many small records."""
    if output in (None, "-"):
        sys.stdout.flush()
        try:
            stdout = open(sys.stdout.fileno(), "wb", buffering=WRITE_BUFFER, closefd=False)  # noqa: SIM115
        except (AttributeError, OSError, ValueError):  # not a real stream (a test runner's)
            return sys.stdout.buffer
        return stdout
    path = Path(str(output))
    if path.suffix.lower() == ".gz":
        if fmt == "parquet":
            raise click.UsageError("Parquet compresses itself: drop the .gz suffix")
        return gzip.open(path, "wb")  # type: ignore[return-value]
    return _open_replacing(path, reuse=reuse)


class _Replacing(io.BufferedWriter):
    """Writes a hidden file beside the output: :meth:`commit` (or ``close``) renames it to
    the output, :meth:`abort` deletes it."""

    def __init__(self, raw: io.FileIO, partial: Path, target: Path) -> None:
        super().__init__(raw, buffer_size=WRITE_BUFFER)
        self.partial, self.target = partial, target

    def commit(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
            os.ftruncate(self.fileno(), self.tell())  # the rest is a previous run's
        finally:
            super().close()
        os.replace(self.partial, self.target)

    def close(self) -> None:  # a writer closing its sink (pyarrow does) completes it
        self.commit()

    def abort(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().close()
        finally:
            with contextlib.suppress(OSError):
                os.unlink(self.partial)


def _open_replacing(path: Path, *, reuse: bool = True) -> IO[bytes]:
    """*path* written as a whole: the records go to a hidden ``.NAME.runnorm-*.partial``
    beside it, renamed to *path* once the run completes and deleted if it does not, so
    *path* never holds a mix of two runs nor an interrupted one.

    A previous output there (a plain file with one link) becomes that hidden file and is
    overwritten in place, then cut to size: rewriting its cached pages costs far less than
    freeing them (``O_TRUNC``) and allocating new ones. Not with ``reuse=False`` (the
    output is also an input), nor for anything else (a symlink, a FIFO, a file with several
    links), which is opened and truncated as usual."""
    partial = path.with_name(f".{path.name}.runnorm-{os.getpid()}-{os.urandom(4).hex()}.partial")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None and (not stat.S_ISREG(info.st_mode) or info.st_nlink != 1):
        return path.open("wb", buffering=WRITE_BUFFER)
    if info is not None and reuse:
        descriptor = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)  # refused as before if so
        try:
            os.rename(path, partial)  # the descriptor follows the file
        except OSError:
            os.ftruncate(descriptor, 0)  # a directory refusing renames: truncate as usual
            return open(descriptor, "wb", buffering=WRITE_BUFFER)
        return _Replacing(io.FileIO(descriptor, "w"), partial, path)
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError:
        return path.open("wb", buffering=WRITE_BUFFER)
    return _Replacing(io.FileIO(descriptor, "w"), partial, path)


def _same_file(a: str, b: Path) -> bool:
    try:
        if a == "-":
            mine, theirs = os.fstat(0), os.stat(b)
            return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so that an interrupted output is deleted, not published


if __name__ == "__main__":  # pragma: no cover
    main()

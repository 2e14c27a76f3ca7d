"""The batch engine behind ``runnorm normalize``: dumps in, one output file, counts out.

One process streams every record through :func:`runnorm.read_dump` into a writer. With
``jobs > 1`` the input is cut into shards (byte ranges of plain JSON Lines files, aligned to
line ends; whole files otherwise), each worker process normalizes its shards and writes the
*serialized* output to a temporary fragment (sending ``Run`` objects back would cost more
than it saves: PERFORMANCE.md), and the parent concatenates the fragments in input order,
renumbering error lines. Records in = normalized + failed, always.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from runnorm.dump import GZIP_MAGIC, READ_BUFFER, RecordError, dump_files, normalize_stream
from runnorm.encoding import encode_run
from runnorm.jsonio import dumps
from runnorm.model import Run
from runnorm.normalize import resolve_provider
from runnorm.outputs import make_writer
from runnorm.plugins import get_host
from runnorm.redaction import Redactor
from runnorm.summary import Summary

__all__ = ["BatchOptions", "BatchStats", "Shard", "default_jobs", "plan_shards", "run_batch"]

SPLIT_MIN_BYTES = 4 * 1024 * 1024
"""Inputs smaller than this run in one process; larger plain JSONL files are split."""
SHARDS_PER_JOB = 16
"""Small shards keep both ends busy: the last one to finish is short."""
WRITE_BUFFER = 1 << 20
"""Output buffer size: records are small and many, and each flush is a system call."""
MAX_DEFAULT_JOBS = 8


def default_jobs() -> int:
    """One worker per CPU this process may use, at most :data:`MAX_DEFAULT_JOBS`."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_DEFAULT_JOBS))


@attrs.frozen
class BatchOptions:
    """What to do with each record."""

    provider: str | None = None
    fmt: str = "jsonl"
    redact: bool = True
    strict: bool = False
    summary: bool = False


@attrs.define
class BatchStats:
    """Counts of one batch (records in = normalized + failed)."""

    records: int = 0
    normalized: int = 0
    failed: int = 0
    bytes_read: int = 0
    summary: Summary | None = None
    stopped: bool = False


@attrs.frozen
class Shard:
    """A unit of work: a whole file, or a line-aligned byte range of a plain JSONL file."""

    path: str
    start: int | None = None
    end: int | None = None


# -- planning -----------------------------------------------------------------------------------


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Files to read, in order: directories expanded (recursive, sorted, dump files only)."""
    out: list[str] = []
    for path in (os.fspath(p) for p in paths):
        if path == "-":
            out.append(path)
            continue
        candidate = Path(path)
        if candidate.is_dir():
            out.extend(str(file) for file in dump_files(candidate))
        elif candidate.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return out


def _is_plain_jsonl(path: str) -> bool:
    with open(path, "rb") as stream:
        head = stream.read(1 << 16)
    if head.startswith(GZIP_MAGIC):
        return False
    stripped = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if stripped.startswith(b"["):
        return False
    first = stripped.split(b"\n", 1)[0].strip()
    return not stripped.startswith(b"{") or first.endswith(b"}")


def plan_shards(files: Iterable[str | os.PathLike[str]], jobs: int) -> list[Shard]:
    """Cut *files* into shards for *jobs* workers, preserving order."""
    shards: list[Shard] = []
    for path in (os.fspath(p) for p in files):
        size = os.path.getsize(path) if path != "-" else 0
        if path == "-" or jobs <= 1 or size < SPLIT_MIN_BYTES or not _is_plain_jsonl(path):
            shards.append(Shard(path))
            continue
        pieces = jobs * SHARDS_PER_JOB
        bounds = [0]
        with open(path, "rb") as stream:
            for k in range(1, pieces):
                stream.seek(max(bounds[-1], size * k // pieces))
                stream.readline()  # move to the start of the next line
                position = stream.tell()
                if bounds[-1] < position < size:
                    bounds.append(position)
        bounds.append(size)
        shards.extend(Shard(path, a, b) for a, b in itertools.pairwise(bounds))
    return shards


class _Range(io.RawIOBase):
    """Bytes ``[start, end)`` of a file."""

    def __init__(self, path: str, start: int, end: int) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._file.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = min(len(view), self._left)
        if size <= 0:
            return 0
        read = self._file.readinto(view[:size])
        self._left -= read
        return read

    def close(self) -> None:
        self._file.close()
        super().close()


# -- the per-shard loop -------------------------------------------------------------------------


class _Normalizer:
    """Turns records into output documents: provider choice, redaction, summary."""

    def __init__(self, options: BatchOptions) -> None:
        self.options = options
        self.host = get_host()
        self.fixed = resolve_provider(options.provider) if options.provider else None
        self.redactors: dict[str, Redactor] = {}

    def redactor(self, provider: str) -> Redactor:
        redactor = self.redactors.get(provider)
        if redactor is None:
            declared = self.host.usable().get(provider)
            redactor = Redactor(declared.sensitive_keys if declared else ())
            self.redactors[provider] = redactor
        return redactor

    def items(
        self, shard: Shard, stream: IO[bytes]
    ) -> Iterator[tuple[Run | RecordError, bytes | None]]:
        name = "<stdin>" if shard.path == "-" else shard.path
        byte_range = shard.start is not None  # a byte range is always JSON Lines
        return normalize_stream(stream, name, self.fixed, self.host, lines=byte_range)


def _open_shard(shard: Shard) -> IO[bytes]:
    if shard.path == "-":
        return sys.stdin.buffer
    if shard.start is None or shard.end is None:
        return open(shard.path, "rb", buffering=READ_BUFFER)
    return io.BufferedReader(_Range(shard.path, shard.start, shard.end), buffer_size=READ_BUFFER)


def _run_shard(
    shard: Shard,
    normalizer: _Normalizer,
    *,
    write: Callable[[dict[str, Any]], None],
    report: Callable[[RecordError], None],
    stats: BatchStats,
    tick: Callable[[IO[bytes]], None] | None = None,
    write_jsonl: Callable[[bytes], object] | None = None,
) -> None:
    """Normalize one shard. With *write_jsonl*, JSON Lines output is written as bytes."""
    options = normalizer.options
    summary = stats.summary
    redact = options.redact

    def handle(item: Run | RecordError, source: bytes | None) -> bool:
        """Count and write one result; False when ``--strict`` must stop here."""
        stats.records += 1
        if type(item) is RecordError:
            stats.failed += 1
            report(item)
            if options.strict:
                stats.stopped = True
                return False
            return True
        run: Run = item  # type: ignore[assignment]
        stats.normalized += 1
        if summary is not None:
            summary.add(run)
        redactor = normalizer.redactor(run.provider) if redact else None
        if write_jsonl is not None:
            if redactor is not None and (
                source is None or redactor.may_hold_secrets(source) or redactor.renamed_secrets(run)
            ):
                write_jsonl(encode_run(redactor.redact_run(run), newline=True))
            else:
                # The payload's own bytes are its JSON: embedded as "raw", not re-encoded.
                raw_json = source.rstrip() if source is not None else None
                write_jsonl(encode_run(run, raw_json, newline=True))
        else:
            document = run.to_dict()
            if redactor is not None:
                document = redactor.redact_document(document)
            write(document)
        return True

    stream = _open_shard(shard)
    try:
        for count, (item, source) in enumerate(normalizer.items(shard, stream), 1):
            if not handle(item, source):
                return
            if tick is not None and not count & 1023:
                tick(stream)
        if tick is not None:
            tick(stream)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


# -- workers ------------------------------------------------------------------------------------


@attrs.frozen
class _ShardResult:
    index: int
    output: str
    errors: str
    stats: BatchStats


def _count_lines(shard: Shard) -> int:
    if shard.start is None or shard.end is None:
        return 0
    with open(shard.path, "rb") as stream:
        stream.seek(shard.start)
        left = shard.end - shard.start
        lines = 0
        while left > 0:
            chunk = stream.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            lines += chunk.count(b"\n")
    return lines


def _worker(args: tuple[int, Shard, BatchOptions, str]) -> _ShardResult:
    index, shard, options, directory = args
    normalizer = _Normalizer(options)
    stats = BatchStats(summary=Summary() if options.summary else None)
    output = os.path.join(directory, f"{index:06d}.out")
    errors = os.path.join(directory, f"{index:06d}.err")
    with open(output, "wb", buffering=WRITE_BUFFER) as out, open(errors, "wb") as err:
        writer = make_writer(options.fmt, out, fragment=True)

        def report(error: RecordError) -> None:
            err.write(dumps(error.to_dict()) + b"\n")

        _run_shard(
            shard,
            normalizer,
            write=writer.write,
            report=report,
            stats=stats,
            write_jsonl=out.write if options.fmt == "jsonl" else None,
        )
        writer.close()
    return _ShardResult(index, output, errors, stats)


def _default_signals() -> None:
    """Workers die on SIGTERM as processes do (the CLI's own handler is for the parent)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    # fork starts workers in milliseconds with the plugins already loaded; the batch parent
    # runs no threads of its own, which is what makes fork safe here.
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


# -- the batch ----------------------------------------------------------------------------------


def run_batch(
    files: Iterable[str | os.PathLike[str]],
    options: BatchOptions,
    output: IO[bytes],
    *,
    report: Callable[[RecordError], None],
    jobs: int = 1,
    progress: Callable[[BatchStats], None] | None = None,
) -> BatchStats:
    """Normalize *files* into *output* (in ``options.fmt``); return the counts."""
    names = [os.fspath(path) for path in files]  # any iterable of paths, read once
    stats = BatchStats(summary=Summary() if options.summary else None)
    if jobs > 1 and "-" not in names and sum(map(os.path.getsize, names)) >= SPLIT_MIN_BYTES:
        shards = plan_shards(names, jobs)
        if len(shards) > 1:
            _run_parallel(
                shards,
                options,
                output=output,
                report=report,
                jobs=jobs,
                stats=stats,
                progress=progress,
            )
            return stats
    normalizer = _Normalizer(options)
    writer = make_writer(options.fmt, output)
    done_bytes = 0

    def tick(stream: IO[bytes]) -> None:
        if progress is None:
            return
        try:
            position = stream.tell()
        except (OSError, ValueError):
            position = 0
        stats.bytes_read = done_bytes + position
        progress(stats)

    try:
        for path in names:
            _run_shard(
                Shard(path),
                normalizer,
                write=writer.write,
                report=report,
                stats=stats,
                tick=tick if progress is not None else None,
                write_jsonl=output.write if options.fmt == "jsonl" else None,
            )
            if path != "-":
                done_bytes += os.path.getsize(path)
            if stats.stopped:
                break
    finally:
        writer.close()
    return stats


def _run_parallel(
    shards: list[Shard],
    options: BatchOptions,
    *,
    output: IO[bytes],
    report: Callable[[RecordError], None],
    jobs: int,
    stats: BatchStats,
    progress: Callable[[BatchStats], None] | None,
) -> None:
    fmt = options.fmt
    counted: dict[str, tuple[int, int]] = {}  # path -> (offset, lines before it)
    with tempfile.TemporaryDirectory(prefix="runnorm-") as directory:
        work = [(i, shard, options, directory) for i, shard in enumerate(shards)]
        parquet = None
        if fmt == "parquet":
            from runnorm.outputs import ParquetWriter

            parquet = ParquetWriter(output)
        elif fmt == "json":
            output.write(b"[")
        elif fmt == "csv":
            make_writer("csv", output).close()  # the header line
        wrote_any = False
        get_host().usable()  # plugins loaded once, here: forked workers inherit them
        pool = _context().Pool(processes=jobs, initializer=_default_signals)
        try:
            for result in pool.imap(_worker, work):
                shard = shards[result.index]
                with open(result.errors, "rb") as errors:
                    for line in errors:
                        data = _loads_error(line)
                        if data.line is not None and shard.start:
                            # Lines before the shard, counted only when an error needs them,
                            # from where the last count stopped: one pass over a file at most.
                            at, lines = counted.get(shard.path, (0, 0))
                            if shard.start < at:  # the same file named again: count anew
                                at, lines = 0, 0
                            if at < shard.start:
                                lines += _count_lines(Shard(shard.path, at, shard.start))
                                at = shard.start
                                counted[shard.path] = (at, lines)
                            data = attrs.evolve(data, line=data.line + lines)
                        report(data)
                if parquet is not None:
                    _append_parquet(parquet, result.output)
                else:
                    if fmt == "json" and wrote_any and os.path.getsize(result.output):
                        output.write(b",")
                    _append_file(output, result.output)
                wrote_any = wrote_any or os.path.getsize(result.output) > 0
                os.unlink(result.output)
                os.unlink(result.errors)
                part = result.stats
                stats.records += part.records
                stats.normalized += part.normalized
                stats.failed += part.failed
                if shard.end is not None:
                    stats.bytes_read += shard.end - (shard.start or 0)
                elif shard.path != "-":
                    stats.bytes_read += os.path.getsize(shard.path)
                if stats.summary is not None and part.summary is not None:
                    stats.summary.merge(part.summary)
                if progress is not None:
                    progress(stats)
                if part.stopped:
                    stats.stopped = True
                    break
        finally:
            pool.terminate()
            pool.join()
            if parquet is not None:
                parquet.close()
            elif fmt == "json":
                output.write(b"\n]\n" if wrote_any else b"]\n")
            output.flush()


def _append_file(output: IO[bytes], path: str) -> None:
    """Append the file at *path* to *output*, in the kernel when both are plain files."""
    with open(path, "rb") as fragment:
        size = os.fstat(fragment.fileno()).st_size
        target = -1
        if isinstance(output, io.BufferedWriter | io.FileIO):  # not gzip: it compresses
            try:
                target = output.fileno()
            except (OSError, io.UnsupportedOperation):
                target = -1
        if target >= 0 and size and hasattr(os, "copy_file_range"):
            output.flush()
            copied = 0
            try:
                while copied < size:
                    done = os.copy_file_range(fragment.fileno(), target, size - copied)
                    if done == 0:
                        break
                    copied += done
            except OSError:
                copied = -1 if copied == 0 else copied
            if copied == size:
                return
            if copied > 0:
                raise OSError(f"partial copy of {path}")  # pragma: no cover - kernel refused
            fragment.seek(0)
        shutil.copyfileobj(fragment, output, 1 << 20)


def _loads_error(line: bytes) -> RecordError:
    from runnorm.jsonio import loads

    data = loads(line)
    return RecordError(**data)


def _append_parquet(writer: Any, path: str) -> None:
    import pyarrow.parquet as pq

    if os.path.getsize(path) == 0:
        return
    source = pq.ParquetFile(path)
    for group in range(source.num_row_groups):
        writer.writer.write_table(source.read_row_group(group))

"""Writers for normalized runs: JSON Lines, JSON, CSV (flattened) and Parquet (typed).

Every writer takes ``Run.to_dict()`` documents (already redacted when the caller wants it).
CSV and Parquet use the same flat columns: dotted names (``timing.started_at``,
``error.code``), artifact counts by kind (``artifacts.screenshot``), and the JSON values
(``result``, ``extra``, ``raw``, ``error.details``) as JSON text. The attempts of a run
retried under one id come last (``attempt``, ``retry_pending``, ``timing.next_attempt_at``,
``attempts``): ``attempts`` is JSON text in CSV and a list of structs in Parquet. JSON and
CSV writers write *fragments* (no brackets, no header); :class:`OutputDocument` frames them,
for one process and for shards concatenated alike.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from runnorm._json import dumps
from runnorm._model.encoding import attempt_document
from runnorm._model.run import ArtifactKind, Attempt, Run

__all__ = [
    "COLUMNS",
    "FORMATS",
    "OutputDocument",
    "ROW_FORMATS",
    "Writer",
    "flat_row",
    "flatten",
    "format_for",
    "make_writer",
    "parquet_schema",
    "prefer_jemalloc",
    "run_row",
    "text_row",
]

FORMATS = ("jsonl", "json", "csv", "parquet")
ROW_FORMATS = frozenset({"csv", "parquet"})
"""The formats whose writers take :func:`run_row` rows rather than documents."""
WRITE_BUFFER = 1 << 20
"""Output buffer size: records are small and many, and each flush is a system call."""
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_TIMESTAMPS = ("created_at", "queued_at", "started_at", "finished_at", "updated_at")
_DURATIONS = ("queue_time", "run_time", "total_time")
_KINDS = tuple(kind.value for kind in ArtifactKind)
COLUMNS: tuple[str, ...] = (
    "provider",
    "id",
    "status",
    "native_status",
    "kind",
    "task",
    "web_url",
    "session_id",
    "step_count",
    "error.code",
    "error.message",
    "error.details",
    *(f"timing.{name}" for name in _TIMESTAMPS),
    *(f"timing.{name}" for name in _DURATIONS),
    *(f"artifacts.{kind}" for kind in _KINDS),
    "result",
    "extra",
    "raw",
    # runs over time (schema_version 2)
    "attempt",
    "retry_pending",
    "timing.next_attempt_at",
    "attempts",
)


def format_for(fmt: str | None, output: str | None) -> str:
    """The output format: ``fmt`` if given, else from the output file's suffix, else JSONL."""
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        return fmt
    if output and output != "-":
        lowered = output.lower().removesuffix(".gz")
        for suffix, name in _SUFFIXES.items():
            if lowered.endswith(suffix):
                return name
    return "jsonl"


_KIND_INDEX = {kind: index for index, kind in enumerate(ArtifactKind)}  # in _KINDS order
_NO_ARTIFACTS = (0,) * len(_KINDS)
_FIRST_STAMP = COLUMNS.index("timing.created_at")
_JSON_COLUMNS = tuple(COLUMNS.index(name) for name in ("error.details", "result", "extra", "raw"))
_NEXT_ATTEMPT = COLUMNS.index("timing.next_attempt_at")
_STAMP_COLUMNS = (*range(_FIRST_STAMP, _FIRST_STAMP + len(_TIMESTAMPS)), _NEXT_ATTEMPT)
_RETRY_PENDING = COLUMNS.index("retry_pending")
_ATTEMPTS = COLUMNS.index("attempts")
_DICTIONARY_COLUMNS = ["provider", "status", "native_status", "kind", "error.code"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def run_row(run: Run, raw_json: bytes | None = None) -> tuple[Any, ...]:
    """*run* as a row of :data:`COLUMNS` values, in order, straight from the ``Run`` (no
    document in between): timestamps as datetimes, durations in seconds, the JSON values as
    JSON bytes, ``attempts`` as the run's tuple of ``Attempt`` (:func:`text_row` writes JSON
    text, Parquet structs); *raw_json*, when given, is the payload's own text (else
    ``run.raw`` is encoded). The one flattening of CSV and Parquet."""
    error, timing, artifacts = run.error, run.timing, run.artifacts
    counts: Any = _NO_ARTIFACTS
    if artifacts:
        counts = [0] * len(_KINDS)
        for artifact in artifacts:
            counts[_KIND_INDEX[artifact.kind]] += 1
    created, queued, started, finished = (
        timing.created_at,
        timing.queued_at,
        timing.started_at,
        timing.finished_at,
    )
    begin = queued or created
    return (
        run.provider,
        run.id,
        run.status._value_,  # the plain str; .value is a Python-level property
        run.native_status,
        run.kind,
        run.task,
        run.web_url,
        run.session_id,
        run.step_count,
        None if error is None else error.code,
        None if error is None else error.message,
        None if error is None else dumps(list(error.details)),
        created,
        queued,
        started,
        finished,
        timing.updated_at,
        # the durations as timing_document computes them, inline: three calls a row less
        None if started is None or begin is None else (started - begin).total_seconds(),
        None if finished is None or started is None else (finished - started).total_seconds(),
        None if finished is None or created is None else (finished - created).total_seconds(),
        *counts,
        None if run.result is None else dumps(run.result),
        dumps(run.extra),
        dumps(run.raw) if raw_json is None else raw_json,
        run.attempt,
        run.retry_pending,
        timing.next_attempt_at,
        run.attempts,
    )


def flat_row(document: Mapping[str, Any]) -> tuple[Any, ...]:
    """A ``to_dict()`` document (the Dask engine's, a test's) as the row of its ``Run``."""
    return run_row(Run.from_dict(document))


def text_row(values: tuple[Any, ...]) -> list[Any]:
    """A :func:`run_row` with text where CSV wants it: timestamps in ISO 8601, JSON as str,
    ``retry_pending`` as ``true`` / ``false``, ``attempts`` as the JSON text of ``to_dict``'s."""
    row = list(values)
    row[_RETRY_PENDING] = "true" if row[_RETRY_PENDING] else "false"
    row[_ATTEMPTS] = dumps([attempt_document(a) for a in row[_ATTEMPTS]]).decode()
    for index in _STAMP_COLUMNS:
        value = row[index]
        if isinstance(value, datetime):
            row[index] = value.isoformat()
    for index in _JSON_COLUMNS:
        value = row[index]
        if value is not None:
            row[index] = value.decode()
    return row


def flatten(document: Mapping[str, Any]) -> dict[str, Any]:
    """One ``to_dict()`` document as a flat row of :data:`COLUMNS`, as CSV writes it."""
    return dict(zip(COLUMNS, text_row(flat_row(document)), strict=True))


class Writer(Protocol):
    """Writes documents to a binary stream; ``close`` finishes the format (not the stream)."""

    @property
    def count(self) -> int:
        """Records written."""

    rows: bool
    """True when :meth:`write` takes :func:`run_row` rows (CSV, Parquet), False when it takes
    documents (JSON Lines, JSON)."""

    def write(self, item: Any) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    """One compact JSON object per line."""

    rows = False

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.count = 0

    def write(self, document: Mapping[str, Any]) -> None:
        self.stream.write(dumps(document, newline=True))
        self.count += 1

    def close(self) -> None:
        self.stream.flush()


class JsonWriter:
    """Elements of a JSON array, one per line, without the brackets (:class:`OutputDocument`
    frames them)."""

    rows = False

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.count = 0

    def write(self, document: Mapping[str, Any]) -> None:
        self.stream.write((b",\n" if self.count else b"\n") + dumps(document))
        self.count += 1

    def close(self) -> None:
        self.stream.flush()


class CsvWriter:
    """Flattened rows with dotted column names, without the header line (:class:`OutputDocument`
    writes it)."""

    rows = True

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
        self.writer = csv.writer(self.text)
        self.count = 0

    def write(self, row: tuple[Any, ...]) -> None:
        self.writer.writerow(text_row(row))
        self.count += 1

    def close(self) -> None:
        self.text.flush()
        self.text.detach()  # leave the binary stream open for the caller


def _require_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Parquet output needs pyarrow: pip install 'runnorm[parquet]'") from exc
    return pyarrow


def _memory_pool(pa: Any) -> Any:
    """jemalloc where pyarrow has it: it hands freed memory back, where the default
    (mimalloc) keeps a batch's worth per size class, about 60 MB more peak RSS here."""
    try:
        return pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):  # built without it
        return pa.default_memory_pool()


def prefer_jemalloc() -> None:
    """For a command that writes Parquet, before pyarrow is imported: make jemalloc Arrow's
    default pool (``ARROW_DEFAULT_MEMORY_POOL``, unless set), for what the Parquet writer
    and the Arrow file reader allocate without asking :func:`_memory_pool`'s pool. Arrow
    reads the variable once, at import, and mimalloc, its default, keeps what they freed:
    about 14 MB more peak RSS in the parent of ``--jobs 2``, 20 MB with one process.
    Linux only, where pyarrow's wheels hold jemalloc (elsewhere Arrow would warn of an
    unsupported backend); the command's workers inherit the variable. Never called by the
    library API: a user's process keeps its own allocator."""
    if sys.platform.startswith("linux") and "pyarrow" not in sys.modules:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")


def parquet_schema() -> Any:
    """The typed Arrow schema of Parquet output (needs ``runnorm[parquet]``)."""
    pa = _require_pyarrow()
    types: dict[str, Any] = {column: pa.string() for column in COLUMNS}
    types["step_count"] = pa.int64()
    for name in _TIMESTAMPS:
        types[f"timing.{name}"] = pa.timestamp("us", tz="UTC")
    for name in _DURATIONS:
        types[f"timing.{name}"] = pa.float64()
    for kind in _KINDS:
        types[f"artifacts.{kind}"] = pa.int32()
    types["attempt"] = pa.int64()
    types["retry_pending"] = pa.bool_()
    types["timing.next_attempt_at"] = pa.timestamp("us", tz="UTC")
    types["attempts"] = pa.list_(_attempt_struct(pa))
    return pa.schema([(column, types[column]) for column in COLUMNS])


def _attempt_struct(pa: Any) -> Any:
    """An attempt in Parquet: its fields, with ``error.details`` and ``extra`` as JSON text."""
    stamp = pa.timestamp("us", tz="UTC")
    error = pa.struct([("code", pa.string()), ("message", pa.string()), ("details", pa.string())])
    return pa.struct(
        [
            ("number", pa.int64()),
            ("status", pa.string()),
            ("native_status", pa.string()),
            ("started_at", stamp),
            ("finished_at", stamp),
            ("error", error),
            ("extra", pa.string()),
        ]
    )


def _attempt_structs(attempts: tuple[Attempt, ...]) -> list[dict[str, Any]]:
    """A run's attempts as :func:`_attempt_struct` values."""
    out = []
    for attempt in attempts:
        error = attempt.error
        out.append(
            {
                "number": attempt.number,
                "status": attempt.status.value,
                "native_status": attempt.native_status,
                "started_at": attempt.started_at,
                "finished_at": attempt.finished_at,
                "error": None
                if error is None
                else {
                    "code": error.code,
                    "message": error.message,
                    "details": dumps(list(error.details)).decode(),
                },
                "extra": dumps(attempt.extra).decode(),
            }
        )
    return out


class _Batches:
    """Flat rows (:func:`run_row`) into Arrow record batches of the Parquet schema, column
    by column, every :attr:`SIZE` rows: compact buffers, no Python objects kept."""

    SIZE = 1_000

    def __init__(self, take: Callable[[Any], None]) -> None:
        self._pa = _require_pyarrow()
        self.pool = _memory_pool(self._pa)
        self.schema = parquet_schema()
        self._types = [field.type for field in self.schema]
        self._since_epoch = self._pa.duration("us")
        self._take = take
        self.pending: list[tuple[Any, ...]] = []
        self._flushed = 0
        self._no_attempts: Any = None

    @property
    def count(self) -> int:
        """Rows written."""
        return self._flushed + len(self.pending)

    def write(self, row: tuple[Any, ...]) -> None:
        pending = self.pending
        pending.append(row)
        if len(pending) >= self.SIZE:
            self.flush()

    def _none(self, rows: int) -> Any:
        """The ``attempts`` column of *rows* runs without attempts (most batches: no
        provider but Skyvern's workflow runs sends them), built once and sliced."""
        if self._no_attempts is None or len(self._no_attempts) < rows:
            offsets = self._pa.array([0] * (max(rows, self.SIZE) + 1), type=self._pa.int32())
            values = self._pa.array([], type=self._types[_ATTEMPTS].value_type)
            self._no_attempts = self._pa.ListArray.from_arrays(offsets, values)
        return self._no_attempts.slice(0, rows)

    def _stamps(self, values: tuple[datetime | None, ...], kind: Any) -> Any:
        """A timestamp column, built from the durations since the epoch: pyarrow converts a
        ``timedelta`` without calling back into Python, where an aware ``datetime`` costs it
        a call of ``utcoffset`` (about 45 ns a value against 210). Values that are not
        aware datetimes (a plugin's own naive ones) are left to pyarrow, as before."""
        pa, pool = self._pa, self.pool
        try:
            since = [None if value is None else value - _EPOCH for value in values]
            return pa.array(since, type=self._since_epoch, memory_pool=pool).view(kind)
        except (TypeError, ValueError):
            return pa.array(values, type=kind, memory_pool=pool)

    def flush(self) -> None:
        if not self.pending:
            return
        pa = self._pa
        columns: list[Any] = list(zip(*self.pending, strict=True))
        attempts = columns[_ATTEMPTS]
        if any(attempts):
            columns[_ATTEMPTS] = [_attempt_structs(a) if a else [] for a in attempts]
        pool, binary = self.pool, pa.binary()
        arrays = [
            # JSON text is orjson's output or a line orjson decoded, so valid UTF-8: built as
            # bytes and viewed as strings, without a second check per value (2.7x cheaper).
            pa.array(c, type=binary, memory_pool=pool).view(t)
            if index in _JSON_COLUMNS
            else self._stamps(c, t)
            if index in _STAMP_COLUMNS
            else pa.array(c, type=t, memory_pool=pool)
            if c is not attempts
            else self._none(len(c))
            for index, (c, t) in enumerate(zip(columns, self._types, strict=True))
        ]
        self._flushed += len(self.pending)
        self.pending = []
        self._take(pa.RecordBatch.from_arrays(arrays, schema=self.schema))


class ParquetWriter:
    """Typed Parquet built column by column (:class:`_Batches`), one row group every
    :attr:`ROW_GROUP` rows, so memory stays flat whatever the input's size. Batches built
    elsewhere (a worker's :class:`ArrowFragmentWriter`) are :meth:`add`-ed as they are."""

    rows = True
    ROW_GROUP = 5_000
    write: Callable[[tuple[Any, ...]], None]
    """Add a :func:`run_row` row: the batches' own ``write``, one call a row."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._batches = _Batches(self.add)
        pa = self._batches._pa
        self._pa = pa
        self.schema = self._batches.schema
        self.writer = pa.parquet.ParquetWriter(
            stream,
            self.schema,
            compression="zstd",
            # Dictionaries pay only for columns of few values; ids and JSON text are unique.
            use_dictionary=_DICTIONARY_COLUMNS,
            memory_pool=self._batches.pool,
        )
        self.group: list[Any] = []
        self._grouped = 0
        self.write = self._batches.write  # one call a row, not two

    @property
    def count(self) -> int:
        """Rows written through :attr:`write`."""
        return self._batches.count

    def add(self, batch: Any) -> None:
        """Add a record batch of the schema; a row group is written each time it holds
        :attr:`ROW_GROUP` rows, cutting *batch* where one ends. Row groups are the same
        whatever batches come in: one process's, or workers' ending where their shards do."""
        while batch.num_rows:
            room = self.ROW_GROUP - self._grouped
            self.group.append(batch.slice(0, room))
            self._grouped += min(room, batch.num_rows)
            batch = batch.slice(room)
            if self._grouped >= self.ROW_GROUP:
                self._write_group()

    def _write_group(self) -> None:
        if self.group:
            table = self._pa.Table.from_batches(self.group, schema=self.schema)
            self.writer.write_table(table, row_group_size=max(self._grouped, 1))
            self.group = []
            self._grouped = 0

    def close(self) -> None:
        self._batches.flush()
        self._write_group()
        self.writer.close()


class ArrowFragmentWriter:
    """A worker's share of a Parquet output: the same record batches, as an Arrow IPC file
    (uncompressed, memory-mapped by the parent), which the parent adds to the one
    :class:`ParquetWriter` as they are, so that rows are encoded to Parquet once, never
    decoded and encoded again."""

    rows = True
    write: Callable[[tuple[Any, ...]], None]
    """Add a :func:`run_row` row: the batches' own ``write``, one call a row."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._batches = _Batches(self._take)
        pa = self._batches._pa
        # Not compressed: LZ4 cost the workers 7% of their time (zstd 14%) and the parent
        # the time to decompress; the file lives on the temporary disk only until the parent
        # has added it, and shards are small (SHARD_MAX_BYTES), so few are there at once.
        # One thread: Arrow's thread pool gives each thread a malloc arena of its own.
        options = pa.ipc.IpcWriteOptions(compression=None, use_threads=False)
        self._ipc = pa.ipc.new_file(stream, self._batches.schema, options=options)
        self.write = self._batches.write  # one call a row, not two

    @property
    def count(self) -> int:
        """Rows written."""
        return self._batches.count

    def _take(self, batch: Any) -> None:
        self._ipc.write_batch(batch)

    def close(self) -> None:
        self._batches.flush()
        self._ipc.close()


def make_writer(fmt: str, stream: IO[bytes], *, fragment: bool = False) -> Writer:
    """A writer of *fmt* on *stream*. JSON and CSV writers write *fragments* (no brackets,
    no header) that an :class:`OutputDocument` frames, so that the outputs of shards can be
    concatenated; a Parquet writer writes a whole file, or with ``fragment=True`` (a
    worker's shard) the Arrow batches the parent's Parquet writer adds."""
    if fmt == "parquet" and fragment:
        return ArrowFragmentWriter(stream)
    if fmt == "jsonl":
        return JsonlWriter(stream)
    if fmt == "json":
        return JsonWriter(stream)
    if fmt == "csv":
        return CsvWriter(stream)
    if fmt == "parquet":
        return ParquetWriter(stream)
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


class OutputDocument:
    """One output in its format, the one place that frames it: JSON brackets and the CSV
    header around what one :meth:`writer` writes (one process) or around fragments
    :meth:`append`-ed in order (shards written by workers)."""

    def __init__(self, fmt: str, output: IO[bytes]) -> None:
        self.fmt, self.output = fmt, output
        self._writers: list[Writer] = []
        self._parquet: ParquetWriter | None = None
        self._appended = False
        if fmt == "json":
            output.write(b"[")
        elif fmt == "csv":
            text = io.TextIOWrapper(output, encoding="utf-8", newline="", write_through=True)
            csv.writer(text).writerow(COLUMNS)
            text.detach()

    def writer(self) -> Writer:
        """A writer of the whole output, in this process."""
        writer = make_writer(self.fmt, self.output)
        self._writers.append(writer)
        return writer

    def append(self, path: str) -> None:
        """Append the fragment a worker wrote to *path* (for Parquet: a whole file)."""
        size = os.path.getsize(path)
        if self.fmt == "parquet":
            if self._parquet is None:
                self._parquet = ParquetWriter(self.output)
            if size:
                _add_batches(self._parquet, path)
            return
        if self.fmt == "json" and self._appended and size:
            self.output.write(b",")
        _append_file(self.output, path)
        self._appended = self._appended or size > 0

    def abandon(self) -> None:
        """Let go of an output whose run failed (its writer may have failed mid-write: a full
        disk): close what can be closed, so that the run's own error is the one raised, not
        a writer's complaint about a file in that state. The output is discarded."""
        with contextlib.suppress(Exception):
            self.close()

    def close(self) -> None:
        """Finish the format (not the stream)."""
        for writer in self._writers:
            writer.close()
        if self._parquet is not None:
            self._parquet.close()
        if self.fmt == "json":
            wrote = self._appended or any(writer.count for writer in self._writers)
            self.output.write(b"\n]\n" if wrote else b"]\n")
        self.output.flush()


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


def _add_batches(writer: ParquetWriter, path: str) -> None:
    """Add the record batches of a worker's Arrow IPC file to *writer*, as they are."""
    pa = writer._pa
    with pa.memory_map(path) as source:
        options = pa.ipc.IpcReadOptions(use_threads=False)
        reader = pa.ipc.open_file(source, options=options, memory_pool=writer._batches.pool)
        for index in range(reader.num_record_batches):
            writer.add(reader.get_batch(index))

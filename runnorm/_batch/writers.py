"""Writers for normalized runs: JSON Lines, JSON, CSV (flattened) and Parquet (typed).

Every writer takes ``Run.to_dict()`` documents (already redacted when the caller wants it).
CSV and Parquet use the same flat columns: dotted names (``timing.started_at``,
``error.code``), artifact counts by kind (``artifacts.screenshot``), and the JSON values
(``result``, ``extra``, ``raw``, ``error.details``) as JSON text. The attempts of a run
retried under one id come last (``attempt``, ``retry_pending``, ``timing.next_attempt_at``,
``attempts``): ``attempts`` is JSON text in CSV and a list of structs in Parquet. JSON and
CSV writers write
*fragments* (no brackets, no header); :class:`OutputDocument` frames them, for one process
and for shards concatenated alike.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Mapping
from datetime import datetime
from typing import IO, Any, Protocol

from runnorm._json import Embedded, dumps
from runnorm._model.run import ArtifactKind

__all__ = [
    "COLUMNS",
    "FORMATS",
    "OutputDocument",
    "Writer",
    "flat_row",
    "flatten",
    "format_for",
    "make_writer",
    "parquet_schema",
    "text_row",
]

FORMATS = ("jsonl", "json", "csv", "parquet")
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


_KIND_INDEX = {kind: index for index, kind in enumerate(_KINDS)}
_NO_ARTIFACTS = (0,) * len(_KINDS)
_FIRST_STAMP = COLUMNS.index("timing.created_at")
_JSON_COLUMNS = tuple(COLUMNS.index(name) for name in ("error.details", "result", "extra", "raw"))
_NEXT_ATTEMPT = COLUMNS.index("timing.next_attempt_at")
_STAMP_COLUMNS = (*range(_FIRST_STAMP, _FIRST_STAMP + len(_TIMESTAMPS)), _NEXT_ATTEMPT)
_RETRY_PENDING = COLUMNS.index("retry_pending")
_ATTEMPTS = COLUMNS.index("attempts")
_DICTIONARY_COLUMNS = ["provider", "status", "native_status", "kind", "error.code"]


def _json_bytes(value: Any) -> bytes | None:
    """*value* as JSON text (UTF-8 bytes): an embedded payload as its own bytes."""
    if value is None:
        return None
    if type(value) is Embedded:
        return value.data
    return dumps(value)


def flat_row(document: Mapping[str, Any]) -> tuple[Any, ...]:
    """One ``to_dict()`` document as a row of :data:`COLUMNS` values, in order: timestamps as
    the document holds them (datetimes, from the batch), the JSON values as JSON bytes,
    ``attempts`` as the document's list (:func:`text_row` writes it as JSON text, Parquet as
    structs). The one flattening of CSV and Parquet."""
    error = document.get("error")
    timing = document.get("timing") or {}
    artifacts = document.get("artifacts")
    counts: Any = _NO_ARTIFACTS
    if artifacts:
        counts = [0] * len(_KINDS)
        for artifact in artifacts:
            index = _KIND_INDEX.get(artifact["kind"])
            if index is not None:
                counts[index] += 1
    get = timing.get
    return (
        document["provider"],
        document["id"],
        document["status"],
        document["native_status"],
        document.get("kind"),
        document.get("task"),
        document.get("web_url"),
        document.get("session_id"),
        document.get("step_count"),
        error.get("code") if error else None,
        error.get("message") if error else None,
        _json_bytes(error.get("details")) if error else None,
        get("created_at"),
        get("queued_at"),
        get("started_at"),
        get("finished_at"),
        get("updated_at"),
        get("queue_time"),
        get("run_time"),
        get("total_time"),
        *counts,
        _json_bytes(document.get("result")),
        _json_bytes(document.get("extra")),
        _json_bytes(document.get("raw")),
        document.get("attempt"),
        document.get("retry_pending", False),
        get("next_attempt_at"),
        document.get("attempts") or [],
    )


def text_row(document: Mapping[str, Any]) -> list[Any]:
    """:func:`flat_row` with text where CSV wants it: timestamps in ISO 8601, JSON as str,
    ``retry_pending`` as ``true`` / ``false``."""
    row = list(flat_row(document))
    row[_RETRY_PENDING] = "true" if row[_RETRY_PENDING] else "false"
    row[_ATTEMPTS] = dumps(row[_ATTEMPTS]).decode()
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
    return dict(zip(COLUMNS, text_row(document), strict=True))


class Writer(Protocol):
    """Writes documents to a binary stream; ``close`` finishes the format (not the stream)."""

    count: int

    def write(self, document: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    """One compact JSON object per line."""

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

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
        self.writer = csv.writer(self.text)
        self.count = 0

    def write(self, document: Mapping[str, Any]) -> None:
        self.writer.writerow(text_row(document))
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
    """An attempt in Parquet: its document, with ``error.details`` and ``extra`` as JSON text."""
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


def _stamp_value(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _attempt_structs(attempts: Any) -> Any:
    """A document's ``attempts`` as :func:`_attempt_struct` values."""
    if not attempts:
        return attempts
    out = []
    for attempt in attempts:
        error = attempt.get("error")
        out.append(
            {
                "number": attempt.get("number"),
                "status": attempt.get("status"),
                "native_status": attempt.get("native_status"),
                "started_at": _stamp_value(attempt.get("started_at")),
                "finished_at": _stamp_value(attempt.get("finished_at")),
                "error": None
                if error is None
                else {
                    "code": error.get("code"),
                    "message": error.get("message"),
                    "details": dumps(error.get("details") or []).decode(),
                },
                "extra": dumps(attempt.get("extra") or {}).decode(),
            }
        )
    return out


class ParquetWriter:
    """Typed Parquet built column by column: rows are flat tuples (:func:`flat_row`), turned
    into Arrow arrays every :attr:`BATCH` rows (compact, no Python objects kept), written as
    one row group every :attr:`ROW_GROUP` rows, so memory stays flat whatever the input's
    size. A shard's Parquet is a complete file: the parent appends its row groups."""

    BATCH = 2_000
    ROW_GROUP = 20_000

    def __init__(self, stream: IO[bytes]) -> None:
        pa = _require_pyarrow()
        self._pa = pa
        self.schema = parquet_schema()
        self._types = [field.type for field in self.schema]
        self.writer = pa.parquet.ParquetWriter(
            stream,
            self.schema,
            compression="zstd",
            # Dictionaries pay only for columns of few values; ids and JSON text are unique.
            use_dictionary=_DICTIONARY_COLUMNS,
        )
        self.rows: list[tuple[Any, ...]] = []
        self.batches: list[Any] = []
        self._batched = 0
        self.count = 0

    def write(self, document: Mapping[str, Any]) -> None:
        self.rows.append(flat_row(document))
        self.count += 1
        if len(self.rows) >= self.BATCH:
            self._batch()

    def _batch(self) -> None:
        if not self.rows:
            return
        pa = self._pa
        arrays = []
        for index, (values, kind) in enumerate(
            zip(zip(*self.rows, strict=True), self._types, strict=True)
        ):
            column = [_attempt_structs(v) for v in values] if index == _ATTEMPTS else values
            try:
                arrays.append(pa.array(column, type=kind))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                if index not in _STAMP_COLUMNS:
                    raise
                # documents from to_dict() hold ISO 8601 text: the rare path
                parse = datetime.fromisoformat
                stamps = [parse(v) if isinstance(v, str) else v for v in column]
                arrays.append(pa.array(stamps, type=kind))
        self.batches.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self._batched += len(self.rows)
        self.rows = []
        if self._batched >= self.ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.batches:
            table = self._pa.Table.from_batches(self.batches, schema=self.schema)
            self.writer.write_table(table, row_group_size=max(self._batched, 1))
            self.batches = []
            self._batched = 0

    def close(self) -> None:
        self._batch()
        self._flush()
        self.writer.close()


def make_writer(fmt: str, stream: IO[bytes]) -> Writer:
    """A writer of *fmt* on *stream*. JSON and CSV writers write *fragments* (no brackets,
    no header) that an :class:`OutputDocument` frames, so that the outputs of shards can be
    concatenated; a Parquet writer writes a whole file."""
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
            _append_parquet(self._parquet, path)
            return
        if self.fmt == "json" and self._appended and size:
            self.output.write(b",")
        _append_file(self.output, path)
        self._appended = self._appended or size > 0

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


def _append_parquet(writer: ParquetWriter, path: str) -> None:
    if os.path.getsize(path) == 0:
        return
    source = _require_pyarrow().parquet.ParquetFile(path)
    for group in range(source.num_row_groups):
        writer.writer.write_table(source.read_row_group(group))

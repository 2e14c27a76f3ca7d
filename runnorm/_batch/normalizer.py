"""One shard, in one process: records to output documents, counted.

:class:`Normalizer` holds what a batch decides once (the provider, the redactors);
:func:`run_shard` streams a shard's records through it into a writer, counting every record
(records in = normalized + failed) and reporting each failure.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

import attrs

from runnorm._batch.reader import normalize_stream
from runnorm._batch.records import RecordError
from runnorm._batch.shards import Shard, open_shard
from runnorm._batch.summary import Summary
from runnorm._batch.writers import ROW_FORMATS, run_row
from runnorm._json import Embedded
from runnorm._model.encoding import run_document
from runnorm._model.redaction import Redactor
from runnorm._model.run import Run
from runnorm._plugins.host import get_host
from runnorm._plugins.normalize import resolve_provider

__all__ = ["BatchOptions", "BatchStats", "Normalizer", "run_shard"]


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


class Normalizer:
    """Turns records into output: provider choice, redaction, encoding."""

    def __init__(self, options: BatchOptions) -> None:
        self.options = options
        self.host = get_host()
        self.fixed = resolve_provider(options.provider) if options.provider else None
        self.output: Callable[[Run, bytes | None], Any] = (
            self.row if options.fmt in ROW_FORMATS else self.document
        )
        """What the format's writer takes: :meth:`row` for CSV and Parquet, else
        :meth:`document`."""
        self._redactors: dict[str, Redactor | None] = {}

    def redactor(self, provider: str) -> Redactor | None:
        """The redactor of *provider*'s sensitive keys (None when not redacting)."""
        if provider not in self._redactors:  # once per provider: asked for every record
            self._redactors[provider] = (
                self.host.redactor(provider) if self.options.redact else None
            )
        return self._redactors[provider]

    def items(
        self, shard: Shard, stream: IO[bytes]
    ) -> Iterator[tuple[Run | RecordError, bytes | None]]:
        """Each record of *shard* as a ``Run`` or ``RecordError``, with its own bytes."""
        name = "<stdin>" if shard.path == "-" else shard.path
        byte_range = shard.start is not None  # a byte range is always JSON Lines
        return normalize_stream(stream, name, self.fixed, self.host, lines=byte_range)

    def _safe(self, run: Run, source: bytes | None) -> tuple[Run, bytes | None]:
        """*run* redacted, and the payload's own bytes when the byte scan proves they hold
        nothing to redact (then they are written as ``raw``, in every format alike)."""
        try:
            redactor = self._redactors[run.provider]  # one call less a record
        except KeyError:
            redactor = self.redactor(run.provider)
        if source is not None and (
            redactor is None
            or not (redactor.may_hold_secrets(source) or redactor.renamed_secrets(run))
        ):
            return run, source.rstrip()
        return (run if redactor is None else redactor.redact_run(run)), None

    def document(self, run: Run, source: bytes | None) -> dict[str, Any]:
        """*run* as an output document (:func:`run_document`), redacted."""
        safe, raw = self._safe(run, source)
        return run_document(safe, raw=None if raw is None else Embedded(raw))

    def row(self, run: Run, source: bytes | None) -> tuple[Any, ...]:
        """*run* as a flat row of CSV and Parquet (:func:`run_row`), redacted."""
        safe, raw = self._safe(run, source)
        return run_row(safe, raw)


def run_shard(
    shard: Shard,
    normalizer: Normalizer,
    *,
    write: Callable[[Any], None],
    report: Callable[[RecordError], None],
    stats: BatchStats,
    tick: Callable[[IO[bytes]], None] | None = None,
    stream: IO[bytes] | None = None,
) -> None:
    """Normalize one shard (read from *stream* when given, else opened here) into *write*,
    counting into *stats*; ``--strict`` stops at the first failure (``stats.stopped``)."""
    strict, summary = normalizer.options.strict, stats.summary
    output = normalizer.output
    source_stream = open_shard(shard) if stream is None else stream
    # Counted in locals (cheaper than attributes, per record) and added to *stats* before
    # each tick and at the end, whatever ends the shard.
    records = normalized = 0

    def counted() -> None:
        nonlocal records, normalized
        stats.records += records
        stats.normalized += normalized
        records = normalized = 0

    try:
        for item, source in normalizer.items(shard, source_stream):
            records += 1
            if type(item) is RecordError:
                stats.failed += 1
                report(item)
                if strict:
                    stats.stopped = True
                    return
            else:
                normalized += 1
                if summary is not None:
                    summary.add(item)  # type: ignore[arg-type]
                write(output(item, source))  # type: ignore[arg-type]
            if tick is not None and not records & 1023:
                counted()
                tick(source_stream)
        if tick is not None:
            counted()
            tick(source_stream)
    finally:
        counted()
        if stream is None and source_stream is not sys.stdin.buffer:
            source_stream.close()

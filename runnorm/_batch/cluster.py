"""``runnorm normalize --engine dask``: the batch on a Dask cluster, written in input order.

The normalization itself is :mod:`runnorm.dask`'s (one partition per file, read where the
work runs); this module counts and reports what comes back, as the local engine does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from runnorm._batch.normalizer import BatchOptions, BatchStats
from runnorm._batch.records import RecordError
from runnorm._batch.summary import Summary
from runnorm._batch.writers import OutputDocument, flat_row
from runnorm._model.run import Run
from runnorm.dask import read_dumps

__all__ = ["normalize_on_dask"]


def _connect(scheduler: str) -> Any:
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError("the Dask engine needs distributed: pip install 'runnorm[dask]'") from exc
    return Client(scheduler)


def normalize_on_dask(
    files: list[str],
    options: BatchOptions,
    output: IO[bytes],
    *,
    report: Callable[[RecordError], None],
    scheduler: str | None = None,
) -> BatchStats:
    """The ``--engine dask`` path of ``runnorm normalize``: results written in input order."""
    if "-" in files:
        raise ValueError("the Dask engine reads files or URLs, not stdin")
    bag = read_dumps(files, options.provider, errors="include", redact=options.redact)
    stats = BatchStats(summary=Summary() if options.summary else None)
    framed = OutputDocument(options.fmt, output)
    writer = framed.writer()
    client = _connect(scheduler) if scheduler else None
    try:
        parts = bag.to_delayed()
        futures = client.compute(parts) if client is not None else None
        for position, part in enumerate(parts):
            documents = futures[position].result() if futures is not None else part.compute()
            for document in documents:
                stats.records += 1
                failure = document.get("record_error")
                if failure is not None:
                    stats.failed += 1
                    report(RecordError(**failure))
                    if options.strict:
                        stats.stopped = True
                        return stats
                    continue
                stats.normalized += 1
                if stats.summary is not None:
                    stats.summary.add(Run.from_dict(document))
                writer.write(flat_row(document) if writer.rows else document)
    finally:
        framed.close()
        if client is not None:
            client.close()
    return stats

"""The batch engine behind ``runnorm normalize``: dumps in, one output stream, counts out.

One process streams every file through :func:`~runnorm._batch.normalizer.run_shard` into a
writer. With ``jobs > 1`` and input of :data:`~runnorm._batch.shards.SPLIT_MIN_BYTES` or
more, the input is cut into shards (:mod:`runnorm._batch.shards`) and normalized on worker
processes (:mod:`runnorm._batch.parallel`). Records in = normalized + failed, always.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import IO

from runnorm._batch.normalizer import BatchOptions, BatchStats, Normalizer, run_shard
from runnorm._batch.parallel import run_parallel
from runnorm._batch.records import RecordError
from runnorm._batch.shards import Shard, parallel_shards
from runnorm._batch.summary import Summary
from runnorm._batch.writers import OutputDocument

__all__ = ["BatchOptions", "BatchStats", "default_jobs", "run_batch"]

MAX_DEFAULT_JOBS = 8


def default_jobs() -> int:
    """One worker per CPU this process may use, at most :data:`MAX_DEFAULT_JOBS`."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_DEFAULT_JOBS))


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
    shards = parallel_shards(names, jobs) if jobs > 1 else None
    if shards is not None:
        run_parallel(
            shards, options, output=output, report=report, jobs=jobs, stats=stats, progress=progress
        )
        return stats
    _run_serial(names, options, output, report=report, stats=stats, progress=progress)
    return stats


def _run_serial(
    names: list[str],
    options: BatchOptions,
    output: IO[bytes],
    *,
    report: Callable[[RecordError], None],
    stats: BatchStats,
    progress: Callable[[BatchStats], None] | None,
) -> None:
    """Every file in this process, one after the other, into one writer."""
    normalizer = Normalizer(options)
    document = OutputDocument(options.fmt, output)
    writer = document.writer()
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
            run_shard(
                Shard(path),
                normalizer,
                write=writer.write,
                report=report,
                stats=stats,
                tick=tick if progress is not None else None,
            )
            if path != "-":
                done_bytes += os.path.getsize(path)
            if stats.stopped:
                break
    except BaseException:
        document.abandon()
        raise
    document.close()

"""Shards over worker processes, their outputs concatenated in input order.

Each worker normalizes one shard and writes the *serialized* output to a temporary fragment
(sending ``Run`` objects back would cost more than it saves: PERFORMANCE.md). The parent
appends the fragments to the output in shard order (in the kernel where it can), reports
each shard's failed records with their lines counted from the start of the file, and adds
up the counts.

The parent waits for each shard in short slices, so that it runs its signal handlers
(SIGTERM, Ctrl-C) at once whichever of its threads the kernel delivered the signal to. A
worker that dies (killed, out of memory) loses its shard: the run stops with
:class:`WorkerDied` rather than wait for a result that will never come. However the run
ends, the workers are ended with it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import IO, Any

import attrs

from runnorm._batch.normalizer import BatchOptions, BatchStats, Normalizer, run_shard
from runnorm._batch.records import RecordError
from runnorm._batch.shards import Shard, count_lines
from runnorm._batch.summary import Summary
from runnorm._batch.writers import WRITE_BUFFER, OutputDocument, make_writer
from runnorm._errors import RunnormError
from runnorm._json import dumps, loads
from runnorm._plugins.host import get_host

__all__ = ["WorkerDied", "run_parallel"]

_POLL = 0.2
"""Seconds the parent waits for a shard at a time before it looks at its signals again."""


class WorkerDied(RunnormError):
    """A worker process ended abruptly (a signal, the out-of-memory killer): its shard is
    lost, so the run cannot complete."""


@attrs.frozen
class _ShardResult:
    index: int
    output: str
    errors: str
    stats: BatchStats


def _worker(args: tuple[int, Shard, BatchOptions, str]) -> _ShardResult:
    index, shard, options, directory = args
    stats = BatchStats(summary=Summary() if options.summary else None)
    output = os.path.join(directory, f"{index:06d}.out")
    errors = os.path.join(directory, f"{index:06d}.err")
    with open(output, "wb", buffering=WRITE_BUFFER) as out, open(errors, "wb") as err:
        writer = make_writer(options.fmt, out, fragment=True)

        def report(error: RecordError) -> None:
            err.write(dumps(error.to_dict()) + b"\n")

        run_shard(
            shard,
            Normalizer(options),
            write=writer.write,
            report=report,
            stats=stats,
        )
        writer.close()
    return _ShardResult(index, output, errors, stats)


def _worker_signals() -> None:
    """Workers die on SIGTERM as processes do (the CLI's own handler is for the parent) and
    leave Ctrl-C, which the terminal sends to every process of the group, to the parent:
    it ends them and says the run was interrupted, without a traceback from each."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    # fork starts workers in milliseconds with the plugins already loaded; the batch parent
    # runs no threads of its own, which is what makes fork safe here.
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class _LineNumbers:
    """Turns a shard's error lines into lines of its file, counting the lines before the
    shard only when an error needs them, from where the last count stopped: one pass over a
    file at most."""

    def __init__(self) -> None:
        self._counted: dict[str, tuple[int, int]] = {}  # path -> (offset, lines before it)

    def of_file(self, shard: Shard, error: RecordError) -> RecordError:
        if error.line is None or not shard.start:
            return error
        at, lines = self._counted.get(shard.path, (0, 0))
        if shard.start < at:  # the same file named again: count anew
            at, lines = 0, 0
        if at < shard.start:
            lines += count_lines(Shard(shard.path, at, shard.start))
            at = shard.start
            self._counted[shard.path] = (at, lines)
        return attrs.evolve(error, line=error.line + lines)


def run_parallel(
    shards: list[Shard],
    options: BatchOptions,
    *,
    output: IO[bytes],
    report: Callable[[RecordError], None],
    jobs: int,
    stats: BatchStats,
    progress: Callable[[BatchStats], None] | None,
) -> None:
    """Normalize *shards* on *jobs* processes into *output*, adding to *stats*."""
    lines = _LineNumbers()
    with tempfile.TemporaryDirectory(prefix="runnorm-") as directory:
        work = [(i, shard, options, directory) for i, shard in enumerate(shards)]
        output_document = OutputDocument(options.fmt, output)
        get_host().usable()  # plugins loaded once, here: forked workers inherit them
        pool = ProcessPoolExecutor(jobs, mp_context=_context(), initializer=_worker_signals)
        try:
            for result in _in_order(pool, work):
                shard = shards[result.index]
                with open(result.errors, "rb") as errors:
                    for line in errors:
                        report(lines.of_file(shard, RecordError(**loads(line))))
                output_document.append(result.output)
                os.unlink(result.output)
                os.unlink(result.errors)
                _add(stats, result.stats, shard)
                if progress is not None:
                    progress(stats)
                if stats.stopped:
                    break
        except BaseException:
            _stop(pool)
            output_document.abandon()
            raise
        _stop(pool)
        output_document.close()


def _in_order(
    pool: ProcessPoolExecutor, work: list[tuple[int, Shard, BatchOptions, str]]
) -> Iterator[_ShardResult]:
    """The shards of *work* submitted to *pool*, their results in input order, each waited
    for in slices of :data:`_POLL` seconds: a signal handler of the parent runs between two
    slices. A worker that died, found while submitting or while waiting, is
    :class:`WorkerDied`."""
    try:
        futures = [pool.submit(_worker, task) for task in work]
        for future in futures:
            while True:
                try:
                    yield future.result(timeout=_POLL)
                    break
                except TimeoutError:
                    continue
    except BrokenProcessPool:
        raise WorkerDied(
            "a worker process died (killed by a signal, or out of memory?); its shard is lost"
        ) from None


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the shards not started and end the workers now, busy or not: a run that
    stopped (``--strict``, an interrupt, an error) does not wait for them."""
    processes = list(pool._processes.values())  # no public handle on them before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()
    pool.shutdown(wait=True)


def _add(stats: BatchStats, part: BatchStats, shard: Shard) -> None:
    """Add one shard's counts (and bytes read, and summary) to the batch's."""
    stats.records += part.records
    stats.normalized += part.normalized
    stats.failed += part.failed
    if shard.end is not None:
        stats.bytes_read += shard.end - (shard.start or 0)
    elif shard.path != "-":
        stats.bytes_read += os.path.getsize(shard.path)
    if stats.summary is not None and part.summary is not None:
        stats.summary.merge(part.summary)
    stats.stopped = stats.stopped or part.stopped

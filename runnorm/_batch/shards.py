"""Cutting a batch's input into shards: whole files, or line-aligned byte ranges of JSON Lines.

Plain JSON Lines files of :data:`SPLIT_MIN_BYTES` or more are cut into ``jobs *``
:data:`SHARDS_PER_JOB` byte ranges, or more when that keeps each under
:data:`SHARD_MAX_BYTES`, each ending at a line end; anything else (gzip, JSON documents,
stdin) is one shard. Order is kept: shard *i* holds records before shard *i + 1*.
"""

from __future__ import annotations

import io
import itertools
import os
import sys
from collections.abc import Iterable
from typing import IO, Any

import attrs

from runnorm._batch.documents import Kind, classify
from runnorm._batch.sources import GZIP_MAGIC, READ_BUFFER

__all__ = [
    "SHARD_MAX_BYTES",
    "SPLIT_MIN_BYTES",
    "Shard",
    "count_lines",
    "open_shard",
    "parallel_shards",
    "plan_shards",
]

SPLIT_MIN_BYTES = 4 * 1024 * 1024
"""Inputs smaller than this run in one process; larger plain JSONL files are split."""
SHARDS_PER_JOB = 16
"""Small shards keep both ends busy: the last one to finish is short."""
SHARD_MAX_BYTES = 4 * 1024 * 1024
"""Shards of a large file stay this small: what the parent holds of a worker's output while
it appends it (a Parquet shard's Arrow file, memory-mapped) does not grow with the input."""


@attrs.frozen
class Shard:
    """A unit of work: a whole file, or a line-aligned byte range of a plain JSONL file."""

    path: str
    start: int | None = None
    end: int | None = None


def _splittable(path: str) -> bool:
    """Plain JSON Lines, by the reader's own classifier (gzip and documents are not)."""
    with open(path, "rb") as stream:
        if stream.read(2) == GZIP_MAGIC:
            return False
        stream.seek(0)
        return classify(stream)[1] is Kind.LINES


def parallel_shards(files: list[str], jobs: int) -> list[Shard] | None:
    """The shards of *files* for *jobs* workers, or None when one process should do it all:
    stdin, less than :data:`SPLIT_MIN_BYTES` in all, or nothing to cut."""
    if "-" in files or sum(map(os.path.getsize, files)) < SPLIT_MIN_BYTES:
        return None
    shards = plan_shards(files, jobs)
    return shards if len(shards) > 1 else None


def plan_shards(files: Iterable[str | os.PathLike[str]], jobs: int) -> list[Shard]:
    """Cut *files* into shards for *jobs* workers, preserving order."""
    shards: list[Shard] = []
    for path in (os.fspath(p) for p in files):
        size = os.path.getsize(path) if path != "-" else 0
        if path == "-" or jobs <= 1 or size < SPLIT_MIN_BYTES or not _splittable(path):
            shards.append(Shard(path))
            continue
        pieces = max(jobs * SHARDS_PER_JOB, -(-size // SHARD_MAX_BYTES))
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


def open_shard(shard: Shard) -> IO[bytes]:
    if shard.path == "-":
        return sys.stdin.buffer
    if shard.start is None or shard.end is None:
        return open(shard.path, "rb", buffering=READ_BUFFER)
    return io.BufferedReader(_Range(shard.path, shard.start, shard.end), buffer_size=READ_BUFFER)


def count_lines(shard: Shard) -> int:
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

"""Where dump bytes come from: paths, directories, open binary files, stdin; gzip unwrapped.

gzip is recognized by its magic bytes, whatever the file's name. A directory yields its dump
files (:data:`DUMP_SUFFIXES`), recursively, sorted, hidden ones skipped.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["DUMP_SUFFIXES", "GZIP_MAGIC", "READ_BUFFER", "dump_files", "open_stream", "sources"]

DUMP_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".gz")
GZIP_MAGIC = b"\x1f\x8b"
READ_BUFFER = 1 << 20
"""Input buffer size: large reads cost fewer system calls than the default 8 KiB."""
_CHUNK = 1 << 20


def dump_files(directory: Path) -> list[Path]:
    """The dump files below *directory*, recursively, sorted by path."""
    found = [
        path
        for path in directory.rglob("*")
        if path.is_file()
        and path.name.lower().endswith(DUMP_SUFFIXES)
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    ]
    return sorted(found)


class _Peekable(io.RawIOBase):
    """A readable that starts with bytes already read from *stream*."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = 0
        if self._head:
            size = min(len(view), len(self._head))
            view[:size] = self._head[:size]
            self._head = self._head[size:]
            if size == len(view):
                return size
        data = self._stream.read(len(view) - size)
        view[size : size + len(data)] = data
        return size + len(data)


def open_stream(stream: IO[bytes]) -> IO[bytes]:
    """*stream*, transparently gunzipped when it starts with the gzip magic bytes."""
    head: Any = stream.read(2)
    if not isinstance(head, bytes):  # a text stream
        raise TypeError("read_dump needs a binary stream (open the file with 'rb')")
    joined: IO[bytes] = io.BufferedReader(_Peekable(head, stream), buffer_size=_CHUNK)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=joined, mode="rb")  # type: ignore[return-value]
    return joined


def sources(source: Any) -> Iterator[tuple[str, Callable[[], IO[bytes]]]]:
    """``(name, opener)`` for each input *source* stands for: ``"-"`` (stdin), an open binary
    file, a directory's dump files, or one path (``FileNotFoundError`` when it is missing)."""
    if source == "-":
        yield "<stdin>", lambda: sys.stdin.buffer
        return
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        yield (str(name) if isinstance(name, str) else "<stream>"), lambda: source
        return
    path = Path(os.fspath(source))
    if path.is_dir():
        for file in dump_files(path):
            yield str(file), lambda file=file: file.open("rb", buffering=READ_BUFFER)  # type: ignore[misc]
        return
    if not path.exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    yield str(path), lambda: path.open("rb", buffering=READ_BUFFER)

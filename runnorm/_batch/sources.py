"""Where dump bytes come from: paths, directories, open binary files, stdin; gzip unwrapped.

gzip is recognized by its magic bytes, whatever the file's name; a gzip stream that is
truncated or corrupt (or has trailing garbage) raises :class:`CorruptSource` where it
breaks, after the bytes before the break. A directory yields its dump files
(:data:`DUMP_SUFFIXES`), recursively, sorted, hidden ones skipped; a path that does not
exist, or a directory without dump files, is a ``DumpError`` that says what was skipped.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from runnorm._errors import DumpError

__all__ = [
    "DUMP_SUFFIXES",
    "GZIP_MAGIC",
    "READ_BUFFER",
    "CorruptSource",
    "check_not_empty",
    "dump_files",
    "expand_paths",
    "open_stream",
    "read_upto",
    "sources",
]

DUMP_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".gz")
GZIP_MAGIC = b"\x1f\x8b"
READ_BUFFER = 1 << 20
"""Input buffer size: large reads cost fewer system calls than the default 8 KiB."""


class CorruptSource(DumpError):
    """A compressed source broke off: truncated, corrupt, or followed by garbage."""


def check_not_empty(path: str) -> None:
    """``DumpError`` for ``""``: ``Path("")`` is ``.``, and an empty argument (an unset shell
    variable) must not read the current directory."""
    if not path:
        raise DumpError("an empty path names no input (write . for the current directory)")


def dump_files(directory: Path) -> list[Path]:
    """The dump files below *directory*, recursively, sorted by path."""
    return _scan(directory)[0]


def _scan(directory: Path) -> tuple[list[Path], int, int]:
    """(dump files, other files skipped, hidden files skipped) below *directory*."""
    found: list[Path] = []
    other = hidden = 0
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        if any(part.startswith(".") for part in path.relative_to(directory).parts):
            hidden += 1
        elif path.name.lower().endswith(DUMP_SUFFIXES):
            found.append(path)
        else:
            other += 1
    return sorted(found), other, hidden


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Files to read, in order: ``"-"`` (stdin) kept, directories expanded (recursive,
    sorted, dump files only). ``DumpError`` for a missing path, an empty one (never the
    current directory in disguise) or a directory without a single dump file (saying what it
    skipped)."""
    out: list[str] = []
    for path in (os.fspath(p) for p in paths):
        check_not_empty(path)
        if path == "-":
            out.append(path)
            continue
        candidate = Path(path)
        if candidate.is_dir():
            files, other, hidden = _scan(candidate)
            if not files:
                raise DumpError(
                    f"no dump files in {path} (looked for {', '.join(DUMP_SUFFIXES[:3])} and "
                    f".gz; skipped {other} other and {hidden} hidden files)"
                )
            out.extend(map(str, files))
        elif candidate.exists():
            out.append(path)
        else:
            raise DumpError(f"no such file or directory: {path}")
    return out


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


class _Gunzipped(io.RawIOBase):
    """The decompressed bytes of a gzip stream; where it breaks, :class:`CorruptSource`.

    Each read decompresses one step (``read1``), so that a read either hands over bytes or
    raises: the bytes decompressed before the break are all delivered first (a read that
    filled the whole buffer would drop those it held when the break came). Once broken, it
    raises the same error at every read."""

    def __init__(self, compressed: IO[bytes]) -> None:
        self._gzip = gzip.GzipFile(fileobj=compressed, mode="rb")
        self._broken: CorruptSource | None = None
        self.delivered = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._broken is not None:
            raise self._broken
        view = memoryview(buffer).cast("B")
        try:
            data = self._gzip.read1(len(view))
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            self._broken = CorruptSource(
                f"compressed data broken off after {self.delivered:,} bytes of decompressed "
                f"data: {exc}"
            )
            raise self._broken from None
        size = len(data)
        view[:size] = data
        self.delivered += size
        return size


def read_upto(stream: IO[bytes], size: int) -> bytes:
    """Up to *size* bytes of a buffered *stream* (fewer only at its end), read one step at a
    time: when a compressed source breaks, the bytes before the break come back first and
    the next read raises :class:`CorruptSource` (``stream.read(size)`` would drop them)."""
    read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
    chunks: list[bytes] = []
    got = 0
    while got < size:
        try:
            chunk = read(size - got)
        except CorruptSource:
            if not chunks:
                raise
            break  # raised again by the next read, after these bytes
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def open_stream(stream: IO[bytes]) -> IO[bytes]:
    """*stream*, transparently gunzipped when it starts with the gzip magic bytes."""
    head: Any = stream.read(2)
    if not isinstance(head, bytes):  # a text stream
        raise DumpError("read_dump needs a binary stream (open the file with 'rb')")
    joined: IO[bytes] = io.BufferedReader(_Peekable(head, stream), buffer_size=READ_BUFFER)
    if head == GZIP_MAGIC:
        return io.BufferedReader(_Gunzipped(joined), buffer_size=READ_BUFFER)
    return joined


def _opener(path: str) -> Callable[[], IO[bytes]]:
    def open_path() -> IO[bytes]:
        try:
            return open(path, "rb", buffering=READ_BUFFER)
        except OSError as exc:
            raise DumpError(f"cannot read {path}: {exc.strerror or exc}") from exc

    return open_path


def sources(source: Any) -> Iterator[tuple[str, Callable[[], IO[bytes]]]]:
    """``(name, opener)`` for each input *source* stands for: ``"-"`` (stdin), an open binary
    file, a directory's dump files, or one path; ``DumpError`` when it is missing."""
    if source == "-":
        yield "<stdin>", lambda: sys.stdin.buffer
        return
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        yield (str(name) if isinstance(name, str) else "<stream>"), lambda: source
        return
    if not isinstance(source, str | os.PathLike):
        raise DumpError(f"read_dump reads a path, '-' or a binary stream, not {source!r:.80}")
    for path in expand_paths([source]):
        yield path, _opener(path)

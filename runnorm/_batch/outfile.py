"""The output file of a batch: published whole when the run completes, never half-written.

:func:`open_output` gives a binary stream for stdout, a gzip file, or a plain file written
through :class:`Replacing`: the records go to a hidden ``.NAME.runnorm-*.partial`` beside
the output, renamed over it once the run completes (:func:`close_output` with
``completed=True``) and deleted if it does not, so the output never holds a mix of two runs
nor an interrupted one.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
import sys
from pathlib import Path
from typing import IO

from runnorm._batch.writers import WRITE_BUFFER

__all__ = ["Replacing", "close_output", "is_one_of", "open_output", "same_file"]


class Replacing(io.BufferedWriter):
    """Writes a hidden file beside the output: :meth:`commit` (or ``close``) renames it to
    the output, :meth:`abort` deletes it."""

    def __init__(self, raw: io.FileIO, partial: Path, target: Path) -> None:
        super().__init__(raw, buffer_size=WRITE_BUFFER)
        self.partial, self.target = partial, target

    def commit(self) -> None:
        """Publish: cut the file to what was written and rename it over the output."""
        if self.closed:
            return
        try:
            self.flush()
            os.ftruncate(self.fileno(), self.tell())  # the rest is a previous run's
        finally:
            super().close()
        os.replace(self.partial, self.target)

    def close(self) -> None:  # a writer closing its sink (pyarrow does) completes it
        self.commit()

    def __del__(self) -> None:  # never published by the garbage collector: only by a commit
        if not self.closed:
            self.abort()

    def abort(self) -> None:
        """Delete what was written. A previous output that was being rewritten in place (see
        :func:`_open_replacing`) is deleted with it."""
        try:
            with contextlib.suppress(OSError):
                super().close()
        finally:
            with contextlib.suppress(OSError):
                os.unlink(self.partial)


def open_output(output: str | None, *, reuse: bool = True) -> IO[bytes]:
    """stdout (``None`` or ``"-"``), a gzip file for a ``.gz`` name, else a file written as a
    whole (:func:`_open_replacing`); buffered in large blocks, as a batch writes many small
    records."""
    if output in (None, "-"):
        sys.stdout.flush()
        try:
            return open(sys.stdout.fileno(), "wb", buffering=WRITE_BUFFER, closefd=False)
        except (AttributeError, OSError, ValueError):  # not a real stream (a test runner's)
            return sys.stdout.buffer
    path = Path(str(output))
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "wb")  # type: ignore[return-value]
    return _open_replacing(path, reuse=reuse)


def close_output(sink: IO[bytes], *, completed: bool) -> None:
    """Finish *sink*: publish a completed run's file, delete an interrupted one's, close
    anything else (quietly, if stdout's reader went away). An ``OSError`` while publishing
    leaves no hidden file behind."""
    if isinstance(sink, Replacing):
        if not completed:
            sink.abort()
            return
        try:
            sink.commit()
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(sink.partial)
            raise
    elif sink is sys.stdout.buffer:
        with contextlib.suppress(BrokenPipeError):
            sink.flush()
    else:
        with contextlib.suppress(BrokenPipeError):
            sink.close()


def _open_replacing(path: Path, *, reuse: bool = True) -> IO[bytes]:
    """*path* written as a whole through :class:`Replacing`.

    A previous output there (a plain file with one link) becomes the hidden file and is
    overwritten in place, then cut to size: rewriting its cached pages costs far less than
    freeing them (``O_TRUNC``) and allocating new ones. Not with ``reuse=False`` (the
    output is also an input), nor for anything else (a symlink, a FIFO, a file with several
    links), which is opened and truncated as usual."""
    partial = path.with_name(f".{path.name}.runnorm-{os.getpid()}-{os.urandom(4).hex()}.partial")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None and (not stat.S_ISREG(info.st_mode) or info.st_nlink != 1):
        return path.open("wb", buffering=WRITE_BUFFER)
    if info is not None and reuse:
        descriptor = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)  # refused as before if so
        try:
            os.rename(path, partial)  # the descriptor follows the file
        except OSError:
            os.ftruncate(descriptor, 0)  # a directory refusing renames: truncate as usual
            return open(descriptor, "wb", buffering=WRITE_BUFFER)
        return Replacing(io.FileIO(descriptor, "w"), partial, path)
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError:
        return path.open("wb", buffering=WRITE_BUFFER)
    return Replacing(io.FileIO(descriptor, "w"), partial, path)


def same_file(a: str, b: Path) -> bool:
    """True when *a* (a path, or ``"-"`` for stdin) is the file *b*."""
    try:
        if a == "-":
            mine, theirs = os.fstat(0), os.stat(b)
            return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def is_one_of(path: str, written: list[Path]) -> bool:
    """True when *path* is a file this command writes (an output inside an input folder)."""
    if path == "-":
        return False
    for target in written:
        try:
            if target.exists() and os.path.samefile(path, target):
                return True
        except OSError:
            continue
    return False

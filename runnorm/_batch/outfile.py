"""The files a batch writes: published whole when the run completes, or not at all.

:func:`open_output` gives an :class:`Output` for stdout, or for a file (``-o``, ``.gz``
included, and ``--errors``). A file is written to a hidden temporary file beside its target
(``.NAME.runnorm-PID-XXXX.partial``, beside the file a symlink points to): :meth:`Output.commit`
flushes it, fsyncs it and renames it over the target (``os.replace``, atomic);
:meth:`Output.discard` deletes only the temporary file. Until the commit, a previous output
stays exactly as it was, and no input is ever opened for writing: an ``-o`` that is an input
(by name, symlink or hard link) is read whole and replaced at the end, its other links
keeping the old content. Targets that cannot be replaced (``/dev/null``, a FIFO) are
written in place. Temporary files left by a killed run are swept when the next run opens
the same target.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import stat
import sys
from pathlib import Path
from typing import IO

from runnorm._batch.writers import WRITE_BUFFER
from runnorm._files import sync_directory

__all__ = ["Output", "open_output", "same_target"]

_PARTIAL = re.compile(r"\.runnorm-(\d+)-[0-9a-f]+\.partial$")


class _Sink(io.BufferedWriter):
    """A buffered file that a writer closing its sink (pyarrow does) only flushes."""

    def close(self) -> None:
        if not self.closed:
            self.flush()

    def finish(self) -> None:
        super().close()


class Output:
    """One output of a run: ``stream`` to write to, then :meth:`commit` or :meth:`discard`.

    *kind* is ``"file"`` (a temporary file renamed over the target), ``"stdout"`` or
    ``"device"`` (written in place)."""

    def __init__(
        self,
        stream: IO[bytes],
        name: str,
        kind: str,
        *,
        sink: _Sink | None = None,
        partial: Path | None = None,
        target: Path | None = None,
    ) -> None:
        self.stream, self.name, self.kind = stream, name, kind
        self._sink, self.partial, self.target = sink, partial, target
        self._settled = False

    def __del__(self) -> None:  # never published by the garbage collector: only by a commit
        if not self._settled:
            self.discard()

    def commit(self) -> None:
        """Publish: finish the gzip stream, flush, fsync, rename over the target. On an
        ``OSError`` nothing is published and the temporary file is gone."""
        self._settled = True
        try:
            if self.kind == "stdout":
                self.stream.flush()
                return
            self.stream.close()  # a gzip stream writes its trailer; a sink only flushes
            if self._sink is not None and self.partial is not None and self.target is not None:
                self._sink.flush()
                os.fsync(self._sink.fileno())
                self._sink.finish()
                os.replace(self.partial, self.target)
                sync_directory(self.target.parent)
        except OSError:
            self.discard()
            raise

    def discard(self) -> bool:
        """Drop what was written; True when a temporary file was deleted."""
        self._settled = True
        if self.kind == "stdout":
            with contextlib.suppress(OSError, ValueError):
                self.stream.flush()
            return False
        for stream in (self.stream, self._sink):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError, EOFError):
                    stream.finish() if isinstance(stream, _Sink) else stream.close()
        if self.partial is None:
            return False
        try:
            os.unlink(self.partial)
        except OSError:
            return False
        return True


def _stdout() -> Output:
    sys.stdout.flush()
    try:
        stream: IO[bytes] = open(  # noqa: SIM115 - flushed by commit; fd 1 stays open
            sys.stdout.fileno(), "wb", buffering=WRITE_BUFFER, closefd=False
        )
    except (AttributeError, OSError, ValueError):  # not a real stream (a test runner's)
        stream = sys.stdout.buffer
    return Output(stream, "stdout", "stdout")


def open_output(name: str | None) -> Output:
    """stdout (``None`` or ``"-"``), else the file *name* written as a whole (gzip for a
    ``.gz`` name); ``OSError`` (a missing directory, no permission) leaves nothing behind."""
    if name in (None, "-"):
        return _stdout()
    path = Path(name)
    target = Path(os.path.realpath(path))
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raw = open(target, "wb", buffering=WRITE_BUFFER)  # noqa: SIM115 - a device or FIFO
        return Output(_maybe_gzip(raw, path), name, "device")
    _sweep(target)
    partial = target.with_name(
        f".{target.name}.runnorm-{os.getpid()}-{os.urandom(4).hex()}.partial"
    )
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    if existing is not None:
        with contextlib.suppress(OSError):
            os.fchmod(descriptor, stat.S_IMODE(existing.st_mode))
    sink = _Sink(io.FileIO(descriptor, "w"), buffer_size=WRITE_BUFFER)
    stream = _maybe_gzip(sink, path)
    return Output(stream, name, "file", sink=sink, partial=partial, target=target)


def _maybe_gzip(stream: IO[bytes], path: Path) -> IO[bytes]:
    if path.suffix.lower() != ".gz":
        return stream
    return gzip.GzipFile(filename="", fileobj=stream, mode="wb", compresslevel=6)  # type: ignore[return-value]


def _sweep(target: Path) -> None:
    """Delete temporary files beside *target* left by runs that no longer exist."""
    prefix = f".{target.name}.runnorm-"
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            if not entry.name.startswith(prefix):
                continue
            found = _PARTIAL.search(entry.name)
            if found is None or _alive(int(found.group(1))):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def same_target(a: str, b: str) -> bool:
    """True when paths *a* and *b* (``"-"``: stdin/stdout) name one file: the same device
    and inode when both exist, else the same resolved path."""
    if "-" in (a, b):
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
    except ValueError:
        return False

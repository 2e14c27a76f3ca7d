"""Local files written safely: clean names, partial files beside their target, publishing.

Shared by the batch outputs (:mod:`runnorm._batch.outfile`) and downloads
(:mod:`runnorm._live.download`):

- :func:`sync_directory`: a rename made durable (the directory's entry fsynced).
- :func:`clean_name`: any text as a file name that cannot leave its directory: no
  separators, no ``.``/``..``, no drive or absolute path, no control characters, no
  characters Windows refuses, no device names, at most :data:`MAX_NAME_BYTES` bytes. Unsafe
  names are cleaned, never refused.
- :class:`PartialFile`: a hidden file beside the target that bytes are appended to (with
  their SHA-256 kept as they come), kept after an interruption so that a later call resumes
  it, and published whole: fsynced, then renamed to the target, or to the first free
  numbered name (``report (1).pdf``) when the target exists and may not be replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import unicodedata
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one download per file is then the caller's
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "MAX_NAME_BYTES",
    "PartialFile",
    "PartialInUse",
    "VALIDATOR_MAX",
    "clean_name",
    "numbered",
    "sync_directory",
]

MAX_NAME_BYTES = 200
"""Longest file name written, in UTF-8 bytes (file systems allow 255; room for a suffix)."""
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
"""Unicode categories a file name never keeps: controls (C1 ones too), format characters
such as the bidi overrides that disguise ``exe.txt``, line and paragraph separators."""
_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
)
_CHUNK = 1024 * 1024
VALIDATOR_MAX = 512
"""The longest server validator (ETag, Last-Modified) a partial file keeps."""


class PartialInUse(OSError):
    """Another process is appending to the same partial file right now."""


def sync_directory(directory: Path) -> None:
    """fsync *directory* so that a rename into it survives a crash (best effort)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _shortened(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix) > 16:
        stem, suffix = name, ""
    else:
        suffix = "." + suffix
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return cut + suffix


def clean_name(name: object, fallback: str = "artifact") -> str:
    """*name* as a file name that stays in its directory (see the module); *fallback* (itself
    cleaned) when nothing usable is left.

    Path parts are joined with ``_`` once the empty, ``.`` and ``..`` parts and drive
    letters are dropped (``../../etc/passwd`` is ``etc_passwd``, ``C:\\x`` is ``x``);
    control and reserved characters become ``_``; leading dots and spaces go (no hidden
    files, no clash with partial files), trailing dots and spaces too.
    """
    text = name if isinstance(name, str) else ""
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    text = unicodedata.normalize("NFC", text)
    parts = [
        part
        for part in re.split(r"[/\\]", text)
        if part.strip() not in ("", ".", "..") and not re.fullmatch(r"[A-Za-z]:", part)
    ]
    text = "_".join(parts)
    text = _UNSAFE.sub("_", text)
    # every other control, format (bidi overrides) and line or paragraph separator too
    text = "".join("_" if unicodedata.category(ch) in _HIDDEN else ch for ch in text)
    text = text.lstrip(". ").rstrip(". ")
    if text.split(".", 1)[0].lower() in _DEVICES:
        text = "_" + text
    text = _shortened(text)
    if not text or set(text) <= {"_"}:
        return fallback if fallback == "artifact" else clean_name(fallback)
    return text


def numbered(name: str, number: int) -> str:
    """``report.pdf`` as ``report (2).pdf`` (*number* 0: the name itself)."""
    if number == 0:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    else:
        suffix = "." + suffix
    return _shortened(f"{stem} ({number}){suffix}") if stem else f"{name} ({number})"


class PartialFile:
    """Bytes appended to ``directory/.runnorm-<key>.partial``, kept between calls.

    *key* names the content (a digest of what identifies the artifact), so that the next
    download of the same bytes into the same directory finds it and resumes. ``size`` is
    how many bytes it holds and ``sha256`` their running digest (the bytes already there
    are read once, on :meth:`open`). An advisory lock (where the system has them) keeps a
    second download of the same bytes into the same directory out (:class:`PartialInUse`).

    ``validator`` is the server's validator of the bytes held (a strong ETag, or a
    Last-Modified date) when it gave one: kept in a small file beside the partial one
    (``<partial>.validator``), so that a later call resumes with ``If-Range`` too.
    """

    def __init__(self, directory: Path, key: str) -> None:
        self.directory = directory
        self.path = directory / f".runnorm-{key}.partial"
        self.validator_path = directory / f".runnorm-{key}.partial.validator"
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.validator: str | None = None
        self._stream: IO[bytes] | None = None

    def remember(self, validator: str | None) -> None:
        """Keep *validator* for the bytes held (None forgets it); best effort: a validator
        that cannot be written only means a later resume sends no ``If-Range``."""
        if validator is not None and validator == self.validator:
            return
        self.validator = validator
        with contextlib.suppress(OSError):
            if validator is None:
                os.unlink(self.validator_path)
                return
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
            with os.fdopen(os.open(self.validator_path, flags, 0o666), "wb") as stream:
                stream.write(validator.encode("ascii"))

    def _read_validator(self) -> str | None:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            with os.fdopen(os.open(self.validator_path, flags), "rb") as stream:
                if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                    return None
                data = stream.read(VALIDATOR_MAX + 1)
        except OSError:
            return None
        text = data.decode("ascii", "replace")
        return text if 0 < len(data) <= VALIDATOR_MAX and text.isprintable() else None

    def open(self, *, resume: bool) -> int:
        """Open for appending; with *resume*, keep (and hash) what is there. The size.

        A symlink or anything but a regular file at the partial file's name is refused
        (``OSError``): the bytes never go anywhere but into a file of their own."""
        self.close()
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        stream = os.fdopen(os.open(self.path, flags, 0o666), "r+b")
        try:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise OSError(f"{self.path} is not a regular file")
            if fcntl is not None:
                try:
                    fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise PartialInUse(
                        f"{self.path} is being written by another download"
                    ) from None
            digest, size = hashlib.sha256(), 0
            if resume:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
            else:
                stream.truncate()
        except BaseException:
            stream.close()
            raise
        self.sha256, self.size = digest, size
        self.validator = self._read_validator() if size else None
        if self.validator is None:
            self.remember(None)
        stream.seek(size)
        self._stream = stream
        return size

    def restart(self) -> None:
        """Drop what was written and start again from the first byte."""
        if self._stream is None:
            self.open(resume=False)
            return
        self._stream.seek(0)
        self._stream.truncate()
        self.sha256, self.size = hashlib.sha256(), 0
        self.remember(None)

    def write(self, data: bytes) -> None:
        """Append *data* (``OSError`` on a full disk)."""
        if self._stream is None:
            self.open(resume=False)
        assert self._stream is not None
        self._stream.write(data)
        self.sha256.update(data)
        self.size += len(data)

    def close(self) -> None:
        """Flush and close the file: it stays where it is, for a resume, unless it is empty
        (nothing to resume: it goes)."""
        if self._stream is not None:
            stream, self._stream = self._stream, None
            with contextlib.suppress(OSError, ValueError):
                stream.close()
            if self.size == 0:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
                self.remember(None)

    def discard(self) -> None:
        """Close and delete the file."""
        self.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self.remember(None)

    def publish(self, name: str, *, overwrite: bool) -> Path:
        """fsync, then rename to ``directory/name``: over an existing file only with
        *overwrite*, else to the first free numbered name. The published path."""
        if self._stream is None:
            self.open(resume=True)
        assert self._stream is not None
        stream, self._stream = self._stream, None
        try:
            stream.flush()
            os.fsync(stream.fileno())
        finally:
            stream.close()
        self.remember(None)
        if overwrite:
            target = self.directory / name
            os.replace(self.path, target)
            sync_directory(self.directory)
            return target
        for number in range(10_000):
            target = self.directory / numbered(name, number)
            try:
                os.link(self.path, target)  # never replaces: fails when the name is taken
            except FileExistsError:
                continue
            except OSError:  # no hard links here (FAT, some network shares)
                if os.path.lexists(target):
                    continue
                os.replace(self.path, target)
                sync_directory(self.directory)
                return target
            os.unlink(self.path)
            sync_directory(self.directory)
            return target
        raise FileExistsError(f"no free name for {name!r} in {self.directory}")

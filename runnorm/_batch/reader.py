"""Reading exported dumps: ``read_dump`` yields a ``Run`` or a ``RecordError`` per record.

Inputs: JSON Lines; a JSON array; list wrappers (``{"data": [...]}``, ``{"runs": [...]}``,
whose other top-level fields, such as Bridge Town's ``project_name``, are copied into each
item that lacks them); a single run object; gzip of any of these (recognized by its magic
bytes, whatever the name); a directory (recursive, sorted, dump files only); an open binary
file; ``"-"`` for stdin. Providers are detected per record unless one is given.

Each record is decoded once, detected once and mapped once; a record that fails becomes a
``RecordError`` built from the exception already caught. What breaks a source (a truncated
gzip, a document that cannot be read on, binary data) is one ``RecordError`` naming the
byte offset, after the records before it; the other sources go on. Where the bytes come
from is :mod:`runnorm._batch.sources`; how they become raw records,
:mod:`runnorm._batch.documents`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, Literal, overload

import orjson

from runnorm._batch.documents import (
    BOM,
    Kind,
    classify,
    document_records,
    records_of_document,
    with_head,
)
from runnorm._batch.records import WITHHELD, Bad, Raw, RecordError, short_text, shown
from runnorm._batch.sources import CorruptSource, open_stream, sources
from runnorm._batch.wrappers import wrapper_items
from runnorm._errors import ConfigError, DumpError, RunnormError, shorten
from runnorm._model.run import Run
from runnorm._plugins.host import PluginHost, get_host
from runnorm._plugins.normalize import apply, detection_error, resolve_provider
from runnorm._plugins.provider import Provider

__all__ = ["Result", "normalize_stream", "read_dump"]

_NON_FINITE = re.compile(rb"[:,\[]\s*-?(?:NaN|Infinity)\b")

Result = tuple[Run | RecordError, bytes | None]


@overload
def read_dump(
    source: str | os.PathLike[str] | IO[bytes],
    provider: str | Provider | None = None,
    *,
    on_error: Literal["raise"],
) -> Iterator[Run]: ...


@overload
def read_dump(
    source: str | os.PathLike[str] | IO[bytes],
    provider: str | Provider | None = None,
    *,
    on_error: Literal["yield"] = "yield",
) -> Iterator[Run | RecordError]: ...


@overload
def read_dump(
    source: str | os.PathLike[str] | IO[bytes],
    provider: str | Provider | None = None,
    *,
    on_error: Literal["yield", "raise"],
) -> Iterator[Run | RecordError]: ...


def read_dump(
    source: str | os.PathLike[str] | IO[bytes],
    provider: str | Provider | None = None,
    *,
    on_error: Literal["yield", "raise"] = "yield",
) -> Iterator[Run | RecordError]:
    """Yield, in input order, a ``Run`` per record that normalizes and a ``RecordError`` per
    record that does not (with ``on_error="raise"``, raise ``DumpError`` carrying
    ``.record`` at the first one instead). Every exception is a ``RunnormError``: a missing
    path or a directory without dump files is a ``DumpError``."""
    if on_error not in ("yield", "raise"):
        raise ConfigError(f"on_error must be 'yield' or 'raise', not {shorten(on_error)}")
    host = get_host()
    fixed = resolve_provider(provider) if provider is not None else None
    for name, opener in sources(source):
        stream = opener()
        try:
            for item, _ in normalize_stream(stream, name, fixed, host):
                if type(item) is RecordError and on_error == "raise":
                    raise DumpError(f"{item.where}: {item.reason}", item)
                yield item
        except OSError as exc:
            raise DumpError(f"cannot read {name}: {exc.strerror or exc}") from exc
        finally:
            if stream is not sys.stdin.buffer and stream is not source:
                stream.close()


def normalize_stream(
    stream: IO[bytes],
    name: str,
    fixed: Provider | None,
    host: PluginHost,
    *,
    lines: bool = False,
) -> Iterator[Result]:
    """Each record of a binary stream as a ``Run`` or ``RecordError``, with its own bytes.

    With ``lines=True`` the stream is a byte range of a plain JSON Lines file; otherwise
    the input is classified first.
    """
    records = _Records(name, fixed, host)
    if lines:
        return records.lines(stream)
    return records.stream(stream)


class _Records:
    """Records of one source to results: decode, detect, map, each once."""

    def __init__(self, name: str, fixed: Provider | None, host: PluginHost) -> None:
        self.name, self.fixed, self.host = name, fixed, host

    def stream(self, raw_stream: IO[bytes]) -> Iterator[Result]:
        """Any input: classified, gunzipped; a broken source ends with one failure."""
        try:
            stream = open_stream(raw_stream)
            head, kind = classify(stream)
            if kind is Kind.LINES:
                yield from self.lines(with_head(head, stream))
            elif kind is Kind.DOCUMENT:
                yield from self.raws(document_records(stream, head))
            else:
                size = len(head) + sum(map(len, iter(lambda: stream.read(1 << 20), b"")))
                reason = f"not a dump: binary data ({size:,} bytes not read)"
                yield self.failure(None, None, None, reason, WITHHELD), None
        except CorruptSource as exc:
            yield self.failure(None, None, None, str(exc), ""), None

    def lines(self, lines: Iterable[bytes]) -> Iterator[Result]:
        """The JSON Lines hot loop: each line decoded, detected and mapped once."""
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        number = 0
        for raw in lines:
            number += 1
            try:
                value = loads(raw)
            except decode_error as exc:
                if not raw.strip():
                    continue
                yield from self._undecodable(raw, number, exc)
                continue
            if type(value) is not dict:
                yield from self.value(value, number, None, raw)
                continue
            mapped = self.map(value, number, None, raw)
            if type(mapped) is tuple:
                yield mapped
            else:
                yield from self._unclaimed(value, mapped, number, None)  # type: ignore[arg-type]

    def raws(self, raws: Iterable[Raw]) -> Iterator[Result]:
        """Raw records (from documents) to results."""
        for value, line, index, source in raws:
            if isinstance(value, Bad):
                text = value.text
                if self.host.redactor(None).may_mention_secrets(text.encode("utf-8", "replace")):
                    text = WITHHELD
                yield self.failure(None, line, index, value.reason, text), None
            else:
                yield from self.value(value, line, index, source)

    def value(
        self, value: Any, line: int | None, index: int | None, source: bytes | None
    ) -> Iterator[Result]:
        """One decoded value: a run object, or a document of them (a list on a line)."""
        if type(value) is dict:
            mapped = self.map(value, line, index, source)
            if type(mapped) is tuple:
                yield mapped
            else:
                yield from self._unclaimed(value, mapped, line, index)  # type: ignore[arg-type]
        elif type(value) is list and index is None:
            yield from self.raws(records_of_document(value, line))
        else:
            reason = (
                f"a run record must be a JSON object, got {type(value).__name__} {shorten(value)}"
            )
            yield self.failure(value, line, index, reason), None

    def map(
        self, value: dict[str, Any], line: int | None, index: int | None, source: bytes | None
    ) -> Result | list[Provider]:
        """One run object detected and mapped, once: its result, or the providers that
        claimed it when that is not exactly one."""
        provider = self.fixed
        if provider is None:
            matches = self.host.detect(value)
            if len(matches) != 1:
                return matches
            provider = matches[0]
        try:
            run = apply(provider, value)
        except RunnormError as exc:
            return self.failure(value, line, index, str(exc), provider=provider.name), None
        return run, (source if source is not None and run.raw is value else None)

    def _unclaimed(
        self, value: dict[str, Any], matches: list[Provider], line: int | None, index: int | None
    ) -> Iterator[Result]:
        """A record no single provider claimed: a list wrapper on a line, or a failure."""
        if index is None and wrapper_items(value) is not None:
            yield from self.raws(records_of_document(value, line))
            return
        reason = str(detection_error(value, matches, self.host))
        yield self.failure(value, line, index, reason), None

    def _undecodable(self, raw: bytes, number: int, exc: ValueError) -> Iterator[Result]:
        """A line that is not JSON. A byte-order mark opening it (a file's, or one of
        several files concatenated) is not data; with bare CRs inside, each CR-separated
        part is read as its own record (same line number, parts indexed)."""
        if raw.startswith(BOM):
            if not raw[3:].strip():  # a blank line (an empty file an editor saved with a BOM)
                return
            try:
                value = orjson.loads(raw[3:])
            except orjson.JSONDecodeError as again:
                exc, raw = again, raw[3:]
            else:
                yield from self.value(value, number, None, raw[3:])
                return
        body = raw.rstrip(b"\r\n")
        if b"\r" in body:
            parts = [part for part in body.split(b"\r") if part.strip()]
            yield from self.raws(_parts(parts, number))
            return
        text = short_text(raw)
        if self.host.redactor(None).may_mention_secrets(raw):
            text = WITHHELD
        hint = "; NaN and Infinity are not JSON" if _NON_FINITE.search(raw) else ""
        yield self.failure(None, number, None, f"invalid JSON: {exc}{hint}", text), None

    def failure(
        self,
        value: Any,
        line: int | None,
        index: int | None,
        reason: str,
        text: str | None = None,
        *,
        provider: str | None = None,
    ) -> RecordError:
        """A ``RecordError`` for *value*, its text redacted and its reason masked with its
        provider's keys (or every provider's, when none claimed it)."""
        guess = provider or (self.fixed.name if self.fixed is not None else None)
        if text is None:
            reason, text = shown(value, reason, self.host.redactor(guess))
        return RecordError(self.name, line, index, guess, reason, text)


def _parts(parts: list[bytes], number: int) -> Iterator[Raw]:
    for index, part in enumerate(parts):
        try:
            value = orjson.loads(part)
        except orjson.JSONDecodeError as exc:
            yield Bad(f"invalid JSON: {exc}", short_text(part)), number, index, None
        else:
            yield value, number, index, None

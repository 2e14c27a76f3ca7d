"""Reading exported dumps: ``read_dump`` yields a ``Run`` or a ``RecordError`` per record.

Inputs: JSON Lines; a JSON array; list wrappers (``{"data": [...]}``, ``{"runs": [...]}``,
whose other top-level fields, such as Bridge Town's ``project_name``, are copied into each
item that lacks them); a single run object; gzip of any of these (recognized by its magic
bytes, whatever the name); a directory (recursive, sorted, dump files only); an open binary
file; ``"-"`` for stdin. Providers are detected per record unless one is given.

Memory stays flat: JSON Lines are read line by line, and a JSON document larger than
:data:`WHOLE_DOCUMENT_LIMIT` is streamed element by element with the stdlib's C scanner
(``JSONDecoder.raw_decode``) instead of being loaded whole. In a streamed wrapper, only the
shared fields that come *before* the list can be copied into its items.
"""

from __future__ import annotations

import codecs
import gzip
import io
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Literal

import attrs
import orjson

from runnorm.errors import DumpError, RunnormError, shorten
from runnorm.jsonio import loads
from runnorm.model import Run
from runnorm.normalize import apply, resolve_provider
from runnorm.plugins import PluginHost, get_host
from runnorm.provider import Provider
from runnorm.redaction import Redactor

__all__ = [
    "DUMP_SUFFIXES",
    "normalize_stream",
    "WHOLE_DOCUMENT_LIMIT",
    "RecordError",
    "dump_files",
    "read_dump",
    "read_records",
]

WHOLE_DOCUMENT_LIMIT = 16 * 1024 * 1024
"""JSON documents up to this size are decoded in one go; larger ones are streamed."""

DUMP_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".gz")
WRAPPER_KEYS = ("data", "runs", "items", "results")
GZIP_MAGIC = b"\x1f\x8b"
READ_BUFFER = 1 << 20
"""Input buffer size: large reads cost fewer system calls than the default 8 KiB."""
_TEXT_LIMIT = 300
_CHUNK = 1 << 20
_WS = " \t\r\n"


@attrs.frozen
class RecordError:
    """A record that did not normalize: where it was, which provider it looked like, why.

    A plain value, not an exception. ``line`` is 1-based (line-oriented inputs), ``index``
    0-based (position in an array or wrapper list); ``text`` is the record, shortened, with
    the values of sensitive keys redacted (or withheld whole when it cannot be parsed and may
    hold one).
    """

    source: str
    line: int | None
    index: int | None
    provider: str | None
    reason: str
    text: str

    @property
    def where(self) -> str:
        """``source:line[index]`` as far as known."""
        out = self.source
        if self.line is not None:
            out += f":{self.line}"
        if self.index is not None:
            out += f"[{self.index}]"
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (what ``--errors`` writes)."""
        return {
            "source": self.source,
            "line": self.line,
            "index": self.index,
            "provider": self.provider,
            "reason": self.reason,
            "text": self.text,
        }


@attrs.frozen
class _Bad:
    """A record that is not even JSON."""

    reason: str
    text: str


# A raw record: (value or _Bad, line, index, the line's bytes when the value is a whole line).
Raw = tuple[Any, int | None, int | None, bytes | None]


def _short_text(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.strip()
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 3] + "..."


WITHHELD = "[record withheld: it may hold secrets]"


def _error_redactor(host: PluginHost, provider: str | None) -> Redactor:
    """Redaction for a failed record's text: its provider's keys, or every provider's."""
    usable = host.usable()
    declared = usable.get(provider) if provider else None
    patterns = (
        declared.sensitive_keys
        if declared is not None
        else tuple(key for p in usable.values() for key in p.sensitive_keys)
    )
    cached = _REDACTORS.get(patterns)
    if cached is None:
        cached = _REDACTORS[patterns] = Redactor(patterns)
    return cached


_REDACTORS: dict[tuple[str, ...], Redactor] = {}


def _record_text(value: Any) -> str:
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = repr(value)
    return _short_text(text)


# -- sources ------------------------------------------------------------------------------------


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
    untyped: Any = stream  # so that a compiled build checks the type here, with these words
    head = untyped.read(2)
    if not isinstance(head, bytes):
        raise TypeError("read_dump needs a binary stream (open the file with 'rb')")
    joined: IO[bytes] = io.BufferedReader(_Peekable(head, stream), buffer_size=_CHUNK)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=joined, mode="rb")  # type: ignore[return-value]
    return joined


# -- raw records -------------------------------------------------------------------------


def _wrapper_items(document: Mapping[str, Any]) -> tuple[str, list[Any]] | None:
    for key in WRAPPER_KEYS:
        items = document.get(key)
        if isinstance(items, list):
            return key, items
    return None


PAGINATION_KEYS = frozenset(
    {
        "limit",
        "offset",
        "cursor",
        "nextCursor",
        "next_cursor",
        "page",
        "page_size",
        "total",
        "total_returned",
        "has_more",
        "hasMore",
        "next",
        "previous",
    }
)


def _shared(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The wrapper's scalar fields worth copying into items (not pagination bookkeeping)."""
    return {
        k: v
        for k, v in document.items()
        if k != key and k not in PAGINATION_KEYS and not isinstance(v, dict | list)
    }


def _with_shared(item: Any, shared: Mapping[str, Any]) -> Any:
    if not shared or not isinstance(item, dict):
        return item
    missing = {k: v for k, v in shared.items() if k not in item}
    return {**item, **missing} if missing else item


def _records_of_document(document: Any, line: int | None) -> Iterator[Raw]:
    """The records in one decoded JSON document (array, wrapper, or a single run)."""
    if isinstance(document, list):
        for index, item in enumerate(document):
            yield item, line, index, None
        return
    if isinstance(document, dict):
        found = _wrapper_items(document)
        if found is not None:
            key, items = found
            shared = _shared(document, key)
            for index, item in enumerate(items):
                yield _with_shared(item, shared), line, index, None
            return
    yield document, line, None, None


def _with_head(head: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    """The lines of *head* (already read from *stream*), then the rest of the stream."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]  # a byte-order mark at the start of the file is not data
    first = head.split(b"\n")
    last = first.pop()
    tail = last + stream.readline()
    lines = [part + b"\n" for part in first]
    if tail:
        lines.append(tail)
    return itertools.chain(lines, stream)


def _iter_lines(stream: IO[bytes], head: bytes) -> Iterator[Raw]:
    """JSON Lines: *head* (already read from *stream*) and then the rest of the stream.

    A line's own bytes travel with its record only when orjson decoded them as they are:
    lines the stdlib had to rescue (``NaN``, a stray byte-order mark) are re-encoded.
    """
    number = 0
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    for raw in _with_head(head, stream):
        number += 1
        source: bytes | None = raw
        try:
            value = loads(raw)
        except decode_error:
            if raw.isspace() or not raw:
                continue
            source = None
            try:
                value = json.loads(raw)
            except ValueError as exc:
                yield _Bad(f"invalid JSON: {exc}", _short_text(raw)), number, None, None
                continue
        if type(value) is dict:
            yield value, number, None, source  # a wrapper on one line is expanded later
        else:
            yield from _records_of_document(value, number)


class _TextStream:
    """Incremental UTF-8 text over a binary stream, for ``raw_decode`` scanning."""

    def __init__(self, stream: IO[bytes], head: bytes) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.buffer = self._decoder.decode(head)
        self.pos = 0
        self.done = False

    def more(self) -> bool:
        if self.done:
            return False
        chunk = self._stream.read(_CHUNK)
        if not chunk:
            self.buffer = self.buffer[self.pos :] + self._decoder.decode(b"", final=True)
            self.pos = 0
            self.done = True
            return False
        self.buffer = self.buffer[self.pos :] + self._decoder.decode(chunk)
        self.pos = 0
        return True

    def skip(self, chars: str = _WS) -> str:
        """Skip *chars*; return the next character ('' at the end)."""
        while True:
            buffer, pos = self.buffer, self.pos
            while pos < len(buffer) and buffer[pos] in chars:
                pos += 1
            self.pos = pos
            if pos < len(buffer):
                return buffer[pos]
            if not self.more():
                return ""

    def value(self, decoder: json.JSONDecoder) -> Any:
        """Decode the JSON value at the cursor, reading more as needed."""
        while True:
            try:
                value, end = decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError:
                if self.more():
                    continue
                raise
            if end == len(self.buffer) and not self.done and self.more():
                continue  # a number may go on in the next chunk
            self.pos = end
            return value


class _StreamEnded(Exception):
    """The rest of a streamed document cannot be read; the error was already reported."""


def _iter_streamed(stream: IO[bytes], head: bytes) -> Iterator[Raw]:
    """Stream a large JSON array or wrapper object element by element."""
    text = _TextStream(stream, head)
    decoder = json.JSONDecoder()
    opening = text.skip(_WS + "\ufeff")
    text.pos += 1
    index = 0
    try:
        if opening == "[":
            yield from _stream_array(text, decoder, {})
            if text.skip():
                raise ValueError("extra data after the JSON document")
            return
        shared: dict[str, Any] = {}
        whole: dict[str, Any] = {}
        wrapped = False
        while True:
            char = text.skip(_WS + ",")
            if char == "}":
                text.pos += 1
                break
            key = text.value(decoder)
            if text.skip() != ":":
                raise ValueError("expected ':' in object")
            text.pos += 1
            text.skip()
            if key in WRAPPER_KEYS and text.buffer[text.pos] == "[":
                text.pos += 1
                wrapped = True
                for item in _stream_array(text, decoder, shared):
                    index += 1
                    yield item
            else:
                value = text.value(decoder)
                if not wrapped:
                    whole[key] = value
                if key not in PAGINATION_KEYS and not isinstance(value, dict | list):
                    shared[key] = value
        if not wrapped:
            yield whole, None, None, None  # one large object: a single record
        if text.skip():
            raise ValueError("extra data after the JSON document")
    except _StreamEnded:
        return
    except (ValueError, IndexError) as exc:
        yield (
            _Bad(f"invalid JSON: {exc}", _short_text(text.buffer[text.pos : text.pos + 200])),
            None,
            index,
            None,
        )


def _stream_array(
    text: _TextStream, decoder: json.JSONDecoder, shared: dict[str, Any]
) -> Iterator[Raw]:
    index = 0
    while True:
        char = text.skip(_WS + ",")
        if char == "]":
            text.pos += 1
            return
        if char == "":
            raise ValueError("unexpected end of input inside an array")
        try:
            item = text.value(decoder)
        except json.JSONDecodeError as exc:
            snippet = _short_text(text.buffer[text.pos : text.pos + 200])
            yield _Bad(f"invalid JSON: {exc}", snippet), None, index, None
            raise _StreamEnded from exc  # no way to find the next element reliably
        yield _with_shared(item, shared), None, index, None
        index += 1


def read_records(stream: IO[bytes]) -> Iterator[Raw]:
    """Decoded records (or ``_Bad`` markers) with their line and index, from a binary stream."""
    stream = open_stream(stream)
    head, document_like = _classify(stream)
    if not document_like:
        yield from _iter_lines(stream, head)
        return
    yield from _document_records(stream, head)


def _document_records(stream: IO[bytes], head: bytes) -> Iterator[Raw]:
    """Records of one JSON document: loaded whole when small, streamed when large."""
    data = head + stream.read(max(0, WHOLE_DOCUMENT_LIMIT + 1 - len(head)))
    if len(data) > WHOLE_DOCUMENT_LIMIT:
        yield from _iter_streamed(stream, data)
        return
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        document = loads(data)
    except ValueError as exc:
        yield _Bad(f"invalid JSON: {exc}", _short_text(data[:200])), 1, None, None
        return
    yield from _records_of_document(document, None)


def _classify(stream: IO[bytes]) -> tuple[bytes, bool]:
    """Read the head of *stream* (at least its whole first line) and say whether it holds
    one JSON document (an array, or an object spanning lines) rather than JSON Lines."""
    head = stream.read(1 << 16)
    stripped = head.lstrip(b" \t\r\n")
    if stripped.startswith(b"\xef\xbb\xbf"):
        stripped = stripped[3:].lstrip()
    if stripped.startswith(b"["):
        return head, True
    if not stripped.startswith(b"{"):
        return head, False
    if b"\n" not in stripped:
        more = stream.readline()  # a long first line: read it whole before judging
        head += more
        stripped += more
    return head, not _is_json(stripped.split(b"\n", 1)[0])


def _is_json(line: bytes) -> bool:
    try:
        loads(line)
    except ValueError:
        return False
    return True


# -- read_dump ---------------------------------------------------------------------------


def _sources(source: Any) -> Iterator[tuple[str, Callable[[], IO[bytes]]]]:
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


def _guess(value: Any, host: PluginHost) -> str | None:
    if not isinstance(value, Mapping):
        return None
    try:
        matches = host.detect(value)
    except Exception:
        return None
    return matches[0].name if len(matches) == 1 else None


def read_dump(
    source: str | os.PathLike[str] | IO[bytes],
    provider: str | Provider | None = None,
    *,
    on_error: Literal["yield", "raise"] = "yield",
) -> Iterator[Run | RecordError]:
    """Yield, in input order, a ``Run`` per record that normalizes and a ``RecordError`` per
    record that does not (with ``on_error="raise"``, raise ``DumpError`` carrying
    ``.record`` at the first one instead)."""
    if on_error not in ("yield", "raise"):
        raise ValueError(f"on_error must be 'yield' or 'raise', not {on_error!r}")
    host = get_host()
    fixed = resolve_provider(provider) if provider is not None else None
    for name, opener in _sources(source):
        stream = opener()
        try:
            for item, _ in normalize_stream(stream, name, fixed, host):
                if type(item) is RecordError and on_error == "raise":
                    raise DumpError(f"{item.where}: {item.reason}", item)
                yield item
        finally:
            if stream is not sys.stdin.buffer and stream is not source:
                stream.close()


Result = tuple[Run | RecordError, bytes | None]


def normalize_stream(
    stream: IO[bytes],
    name: str,
    fixed: Provider | None,
    host: PluginHost,
    *,
    lines: bool = False,
) -> Iterator[Result]:
    """Each record of a binary stream as a ``Run`` or ``RecordError``, with its own bytes.

    Plain JSON Lines (or a byte range of them, ``lines=True``) take the fast loop; anything
    else (gzip of documents, arrays, wrappers, BOMs) the general reader.
    """
    if lines:
        return _jsonl_results(stream, name, fixed, host)
    stream = open_stream(stream)
    head, document_like = _classify(stream)
    if not document_like:
        return _jsonl_results(_with_head(head, stream), name, fixed, host)
    return _normalize_records(_document_records(stream, head), name, fixed, host)


def _jsonl_results(
    lines: Iterable[bytes], name: str, fixed: Provider | None, host: PluginHost
) -> Iterator[Result]:
    """The JSON Lines hot loop: decode, detect, map. Anything unusual on a line (bad JSON,
    no single provider, a mapping error, a wrapper, a non-object) takes the general path for
    that line alone, so the results are exactly the general reader's."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    detect = host.detect
    number = 0
    for raw in lines:
        number += 1
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # noqa: PLW2901 - a byte-order mark opening the file (or shard)
        try:
            value = loads(raw)
        except decode_error:
            if raw.isspace() or not raw:
                continue
            value = None
        if type(value) is dict:
            provider = fixed
            if provider is None:
                matches = detect(value)  # the same rules as normalize(): exactly one
                provider = matches[0] if len(matches) == 1 else None
            if provider is not None:
                try:
                    run = provider.to_run(value)
                    # The line's bytes stand for run.raw only when raw is the decoded line.
                    yield run, (raw if run.raw is value else None)
                    continue
                except Warning:
                    raise
                except Exception:  # reported by the general path below, with the same words
                    pass
        for item, source in _normalize_records(
            _iter_lines(io.BytesIO(raw), b""), name, fixed, host
        ):
            yield (attrs.evolve(item, line=number) if type(item) is RecordError else item), source


def _normalize_records(
    records: Iterable[Raw], name: str, fixed: Provider | None, host: PluginHost
) -> Iterator[Result]:
    """Each record as a ``Run`` or a ``RecordError``, with the record's own bytes when known."""
    detect = host.detect
    fixed_map = fixed.to_run if fixed is not None else None
    for value, line, index, source in records:
        if type(value) is dict:
            provider = fixed
            try:
                if fixed_map is not None:
                    run = fixed_map(value)
                    yield run, (source if run.raw is value else None)
                    continue
                matches = detect(value)
                if len(matches) == 1:
                    provider = matches[0]
                    run = provider.to_run(value)
                    yield run, (source if run.raw is value else None)
                    continue
                failure = _detection_reason(matches)
            except RunnormError as exc:
                failure = str(exc)
            except Warning:
                raise  # a warning made an error by the caller's filters
            except Exception as exc:  # a plugin's bug, reported as normalize() reports it
                failure = str(_mapping_failure(provider, value, exc))
            if index is None and _wrapper_items(value) is not None:
                # A list wrapper on one line of a JSON Lines file: its items are the records.
                documents = _records_of_document(value, line)
                yield from _normalize_records(documents, name, fixed, host)
                continue
        elif isinstance(value, _Bad):
            text = value.text
            if _error_redactor(host, None).may_hold_secrets(text.encode("utf-8", "replace")):
                text = WITHHELD
            yield RecordError(name, line, index, None, value.reason, text), None
            continue
        else:
            failure = (
                f"a run record must be a JSON object, got {type(value).__name__} {shorten(value)}"
            )
        guess = fixed.name if fixed is not None else _guess(value, host)
        shown = _error_redactor(host, guess).redact(value)
        yield RecordError(name, line, index, guess, failure, _record_text(shown)), None


def _mapping_failure(provider: Provider | None, value: Any, exc: Exception) -> RunnormError:
    if provider is not None:
        try:
            apply(provider, value)  # the same wrapping normalize() applies
        except RunnormError as error:
            return error
    return RunnormError(f"mapping failed: {type(exc).__name__}: {shorten(str(exc))}")


def _detection_reason(matches: list[Provider]) -> str:
    if not matches:
        return "no installed provider recognizes this record"
    names = ", ".join(sorted(p.name for p in matches))
    return f"record matches several providers ({names})"

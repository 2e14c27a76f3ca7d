"""JSON documents read element by element in flat memory, past broken elements.

The stdlib's C scanner (``JSONDecoder.raw_decode``) decodes one element at a time from a
sliding text buffer; it gives the positions that let the reader go on after a broken
element (a parser that stops at the first error, such as ijson's, could not). A broken
element of an array or wrapper list is one ``Bad`` record naming its byte offset; the
reader then skips to the element's end (matching brackets, outside strings) and goes on;
an element holding bytes that are not UTF-8 (read as escapes, never decoded) is broken
alone. Where even that fails (an unterminated string or bracket, a broken wrapper field),
one ``Bad`` record names the offset and the bytes not read.
Several documents one after another are read one after the other.

Decoding is as strict as :mod:`runnorm._json`'s: ``NaN``/``Infinity``, lone surrogates and
nesting past 1,024 levels make an element broken. In a streamed wrapper, only the shared
fields that come *before* the list can be copied into its items.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import IO, Any, NoReturn

from runnorm._batch.records import Bad, Raw, short_text
from runnorm._batch.sources import read_upto
from runnorm._batch.wrappers import PAGINATION_KEYS, WRAPPER_KEYS, with_shared
from runnorm._json import loads

__all__ = ["MAX_ELEMENT", "iter_streamed"]

_CHUNK = 1 << 20
MAX_ELEMENT = 64 * 1024 * 1024
"""The largest element (in characters) the streamer holds to decode or skip."""
_WS = " \t\r\n"
_STRUCTURE = re.compile(r'[\[\]{}",]')
_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # high or low: orjson checks the pairs
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, as surrogateescape reads it
_DEPTH_LIMIT = 1024


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


class _Broken(Exception):
    """The element at the cursor does not decode."""


class _Unreadable(Exception):
    """Nothing past the cursor can be read."""


class _Text:
    """Incremental UTF-8 text over a binary stream, with the byte offset of the cursor."""

    def __init__(self, stream: IO[bytes], pending: list[bytes]) -> None:
        self._stream = stream
        self._pending = pending  # chunks already read from the stream, fed first
        # Bytes that are not UTF-8 are read as lone surrogates (U+DC80..U+DCFF), so that the
        # element holding them fails alone; decoded text never holds those otherwise.
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.escaped = False  # the text read so far held such a byte
        self.buffer = ""
        self.pos = 0
        self.base = 0  # bytes before buffer[0]
        self.done = False

    def feed(self, data: bytes, *, final: bool) -> None:
        decoded = self._decoder.decode(data, final=final)
        if not self.escaped and _NOT_UTF8.search(decoded) is not None:
            self.escaped = True
        self.buffer += decoded

    def offset(self, pos: int | None = None) -> int:
        """The byte offset of character *pos* of the buffer (the cursor by default)."""
        at = self.pos if pos is None else pos
        return self.base + len(self.buffer[:at].encode("utf-8", "surrogateescape"))

    def more(self) -> bool:
        """Read another chunk, dropping what is before the cursor; False at the end."""
        if self.done:
            return False
        self.base = self.offset()
        self.buffer = self.buffer[self.pos :]
        self.pos = 0
        chunk = self._pending.pop(0) if self._pending else read_upto(self._stream, _CHUNK)
        if not chunk:
            self.done = True
            self.feed(b"", final=True)
            return False
        self.feed(chunk, final=False)
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
        """Decode the JSON value at the cursor, reading more as needed; ``_Broken`` when it
        does not decode (the cursor stays at its start)."""
        while True:
            try:
                value, end = decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                near_end = exc.pos >= len(self.buffer) - 32 or exc.msg.startswith("Unterminated")
                if near_end and self._room() and self.more():
                    continue
                raise _Broken(exc.msg) from None
            except RecursionError:
                raise _Broken(f"nested deeper than {_DEPTH_LIMIT} levels") from None
            except ValueError as exc:  # NaN, Infinity
                raise _Broken(str(exc)) from None
            if end == len(self.buffer) and not self.done and self.more():
                continue  # a number may go on in the next chunk
            if self.escaped and _NOT_UTF8.search(self.buffer, self.pos, end) is not None:
                raise _Broken("not UTF-8 text")
            if _SURROGATE_ESCAPE.search(self.buffer, self.pos, end) is not None:
                try:  # strict about surrogates as the line reader is: orjson decides
                    value = loads(self.buffer[self.pos : end])
                except ValueError as exc:
                    raise _Broken(str(exc)) from None
            self.pos = end
            return value

    def _room(self) -> bool:
        return len(self.buffer) - self.pos < MAX_ELEMENT

    def skip_value(self) -> None:
        """Move the cursor past the (broken) value at it: to its matching closing bracket,
        or to the next ``,`` or ``]`` outside brackets; ``_Unreadable`` if there is none."""
        depth = 0
        start = scan = self.pos
        while True:
            found = _STRUCTURE.search(self.buffer, scan)
            if found is None:
                scan = self._more_from(scan)
                continue
            char, scan = found.group(), found.end()
            if char == '"':
                closing = _STRING_REST.match(self.buffer, scan)
                while closing is None:
                    scan = self._more_from(scan)
                    closing = _STRING_REST.match(self.buffer, scan)
                scan = closing.end()
            elif char in "[{":
                depth += 1
            elif char in "]}" and depth > 1:
                depth -= 1
            elif char in "]}" and depth == 1:
                self.pos = scan
                return
            elif depth == 0 and char in ",]}":
                # stop before a separator or the closing bracket; a stray one is skipped
                self.pos = found.start() if found.start() > start else scan
                return

    def _more_from(self, scan: int) -> int:
        """Read more while keeping the cursor; *scan* is kept relative to the cursor."""
        relative = scan - self.pos
        if relative >= MAX_ELEMENT or not self.more():
            raise _Unreadable("no end to the broken element")
        return self.pos + relative

    def rest(self) -> int:
        """Read to the end; the number of bytes from the cursor on."""
        total = len(self.buffer[self.pos :].encode("utf-8", "surrogateescape"))
        self.buffer, self.pos = "", 0
        try:
            while chunk := self._stream.read(_CHUNK):
                total += len(chunk)
        except Exception:  # a source that breaks again: count what was read
            pass
        self.done = True
        return total


def iter_streamed(stream: IO[bytes], head: list[bytes]) -> Iterator[Raw]:
    """The records of the JSON documents in *head* (chunks already read, released as they
    are decoded) and then *stream*: array elements, wrapper items, or whole values, with
    their index; broken ones as ``Bad`` records."""
    text = _Text(stream, head)
    index = 0
    try:
        text.more()
        if text.buffer.startswith("\ufeff"):
            text.pos = 1
        decoder = json.JSONDecoder(parse_constant=_refuse_constant)
        while (char := text.skip()) != "":
            if char == "[":
                text.pos += 1
                items = _stream_array(text, decoder, {}, index)
            elif char == "{":
                text.pos += 1
                items = _stream_object(text, decoder, index)
            else:
                items = iter([(_top_value(text, decoder), None, index, None)])
            for item in items:
                index = item[2] + 1 if item[2] is not None else index
                yield item
    except _Unreadable as exc:
        at = text.offset()
        snippet = _snippet(text)
        left = text.rest()
        reason = f"the document cannot be read past byte {at:,}: {exc}; {left:,} bytes not read"
        yield Bad(reason, snippet), None, index, None


def _snippet(text: _Text) -> str:
    """The start of the text at the cursor, to show (bytes that are not UTF-8 replaced)."""
    return short_text(text.buffer[text.pos : text.pos + 200].encode("utf-8", "surrogateescape"))


def _top_value(text: _Text, decoder: json.JSONDecoder) -> Any:
    try:
        return text.value(decoder)
    except _Broken as exc:
        raise _Unreadable(str(exc)) from None


def _stream_object(text: _Text, decoder: json.JSONDecoder, index: int) -> Iterator[Raw]:
    """The items of a wrapper's list, each with the scalar fields read before it; an object
    with no list under a wrapper key is one (large) record."""
    shared: dict[str, Any] = {}
    whole: dict[str, Any] = {}
    wrapped = False
    while True:
        char = text.skip(_WS + ",")
        if char == "}":
            text.pos += 1
            break
        if char != '"':
            raise _Unreadable("expected a key in an object" if char else "the document ends early")
        key = _top_value(text, decoder)
        if text.skip() != ":":
            raise _Unreadable("expected ':' in an object")
        text.pos += 1
        if text.skip() == "[" and key in WRAPPER_KEYS:
            text.pos += 1
            wrapped = True
            for item in _stream_array(text, decoder, shared, index):
                index = item[2] + 1 if item[2] is not None else index
                yield item
            continue
        value = _top_value(text, decoder)
        if not wrapped:
            whole[key] = value
        if key not in PAGINATION_KEYS and not isinstance(value, dict | list):
            shared[key] = value
    if not wrapped:
        yield whole, None, index, None


def _stream_array(
    text: _Text, decoder: json.JSONDecoder, shared: dict[str, Any], index: int
) -> Iterator[Raw]:
    while True:
        char = text.skip(_WS + ",")
        if char == "]":
            text.pos += 1
            return
        if char == "":
            raise _Unreadable("the document ends inside an array")
        try:
            item = text.value(decoder)
        except _Broken as exc:
            at = text.offset()
            snippet = _snippet(text)
            try:
                text.skip_value()
            except _Unreadable as lost:
                raise _Unreadable(f"{exc} ({lost})") from None
            yield Bad(f"invalid JSON at byte {at:,}: {exc}", snippet), None, index, None
        else:
            yield with_shared(item, shared), None, index, None
        index += 1

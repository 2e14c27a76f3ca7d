"""Large JSON documents (arrays and list wrappers) read element by element, in flat memory.

The stdlib's C scanner (``JSONDecoder.raw_decode``) decodes one element at a time from a
sliding text buffer. In a streamed wrapper, only the shared fields that come *before* the
list can be copied into its items. A malformed element ends the document: no way to find
the next one reliably.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import IO, Any

from runnorm._batch.records import Bad, Raw, short_text
from runnorm._batch.wrappers import PAGINATION_KEYS, WRAPPER_KEYS, with_shared

__all__ = ["iter_streamed"]

_CHUNK = 1 << 20
_WS = " \t\r\n"


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


def iter_streamed(stream: IO[bytes], head: bytes) -> Iterator[Raw]:
    """Stream a large JSON array or wrapper object element by element. A document that
    breaks off ends with a ``Bad`` record at the index where it broke."""
    text = _TextStream(stream, head)
    decoder = json.JSONDecoder()
    opening = text.skip(_WS + "\ufeff")
    text.pos += 1
    index = 0
    try:
        items = (
            _stream_array(text, decoder, {}) if opening == "[" else _stream_object(text, decoder)
        )
        for item in items:
            if item[2] is not None:
                index = item[2] + 1
            yield item
        if text.skip():
            raise ValueError("extra data after the JSON document")
    except _StreamEnded:
        return
    except (ValueError, IndexError) as exc:
        yield (
            Bad(f"invalid JSON: {exc}", short_text(text.buffer[text.pos : text.pos + 200])),
            None,
            index,
            None,
        )


def _stream_object(text: _TextStream, decoder: json.JSONDecoder) -> Iterator[Raw]:
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
        key = text.value(decoder)
        if text.skip() != ":":
            raise ValueError("expected ':' in object")
        text.pos += 1
        text.skip()
        if key in WRAPPER_KEYS and text.buffer[text.pos] == "[":
            text.pos += 1
            wrapped = True
            yield from _stream_array(text, decoder, shared)
            continue
        value = text.value(decoder)
        if not wrapped:
            whole[key] = value
        if key not in PAGINATION_KEYS and not isinstance(value, dict | list):
            shared[key] = value
    if not wrapped:
        yield whole, None, None, None


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
            snippet = short_text(text.buffer[text.pos : text.pos + 200])
            yield Bad(f"invalid JSON: {exc}", snippet), None, index, None
            raise _StreamEnded from exc  # no way to find the next element reliably
        yield with_shared(item, shared), None, index, None
        index += 1

"""Dump bytes to raw records: JSON Lines, JSON arrays, list wrappers, single objects.

A raw record is ``(value or Bad, line, index, the line's bytes)``; the reader normalizes it.
List wrappers (``{"data": [...]}``, ``{"runs": [...]}``) give their items, into which the
wrapper's other scalar fields (Bridge Town's ``project_name``), pagination aside, are copied
where an item lacks them. A document larger than :data:`WHOLE_DOCUMENT_LIMIT` is streamed
(:mod:`runnorm._batch.streaming`) instead of being loaded whole.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import IO, Any

import orjson

from runnorm._batch.records import Bad, Raw, short_text
from runnorm._batch.streaming import iter_streamed
from runnorm._batch.wrappers import shared_fields, with_shared, wrapper_items
from runnorm._json import loads

__all__ = [
    "WHOLE_DOCUMENT_LIMIT",
    "classify",
    "document_records",
    "iter_lines",
    "records_of_document",
    "with_head",
]

WHOLE_DOCUMENT_LIMIT = 16 * 1024 * 1024
"""JSON documents up to this size are decoded in one go; larger ones are streamed."""


def records_of_document(document: Any, line: int | None) -> Iterator[Raw]:
    """The records in one decoded JSON document (array, wrapper, or a single run)."""
    if isinstance(document, list):
        for index, item in enumerate(document):
            yield item, line, index, None
        return
    if isinstance(document, dict):
        found = wrapper_items(document)
        if found is not None:
            key, items = found
            shared = shared_fields(document, key)
            for index, item in enumerate(items):
                yield with_shared(item, shared), line, index, None
            return
    yield document, line, None, None


def with_head(head: bytes, stream: IO[bytes]) -> Iterator[bytes]:
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


def iter_lines(stream: IO[bytes], head: bytes) -> Iterator[Raw]:
    """JSON Lines: *head* (already read from *stream*) and then the rest of the stream.

    A line's own bytes travel with its record only when orjson decoded them as they are:
    lines the stdlib had to rescue (``NaN``, a stray byte-order mark) are re-encoded.
    """
    number = 0
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    for raw in with_head(head, stream):
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
                yield Bad(f"invalid JSON: {exc}", short_text(raw)), number, None, None
                continue
        if type(value) is dict:
            yield value, number, None, source  # a wrapper on one line is expanded later
        else:
            yield from records_of_document(value, number)


def document_records(stream: IO[bytes], head: bytes) -> Iterator[Raw]:
    """Records of one JSON document: loaded whole when small, streamed when large."""
    data = head + stream.read(max(0, WHOLE_DOCUMENT_LIMIT + 1 - len(head)))
    if len(data) > WHOLE_DOCUMENT_LIMIT:
        yield from iter_streamed(stream, data)
        return
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        document = loads(data)
    except ValueError as exc:
        yield Bad(f"invalid JSON: {exc}", short_text(data[:200])), 1, None, None
        return
    yield from records_of_document(document, None)


def classify(stream: IO[bytes]) -> tuple[bytes, bool]:
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

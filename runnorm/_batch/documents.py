"""Dump bytes to raw records: what kind of input it is, and its JSON documents.

:func:`classify` is the one answer to "is this JSON Lines?", for the reader and for the
shard planner alike: a stream whose first non-blank byte is ``[`` is a JSON document; one
starting with ``{`` is JSON Lines when its first line ends with ``}`` (one record, valid or
not), else a document spanning lines; a first line over
:data:`LONG_LINE` bytes is read as a document (streamed), never loaded whole to judge it.
Anything else is JSON Lines, unless its head holds NUL bytes or is not UTF-8: binary.

A raw record is ``(value or Bad, line, index, the line's bytes)``; the reader normalizes
it. List wrappers (``{"data": [...]}``, ``{"runs": [...]}``) give their items, into which
the wrapper's other scalar fields (Bridge Town's ``project_name``), pagination aside, are
copied where an item lacks them. A document up to :data:`WHOLE_DOCUMENT_LIMIT` is decoded
in one go; a larger one, or one that does not decode whole, is streamed
(:mod:`runnorm._batch.streaming`), which reads past a broken element.
"""

from __future__ import annotations

import enum
import io
import itertools
from collections.abc import Iterator
from typing import IO, Any

from runnorm._batch.records import Bad, Raw
from runnorm._batch.sources import CorruptSource, read_upto
from runnorm._batch.streaming import iter_streamed
from runnorm._batch.wrappers import shared_fields, with_shared, wrapper_items
from runnorm._json import loads

__all__ = [
    "BOM",
    "HEAD",
    "LONG_LINE",
    "WHOLE_DOCUMENT_LIMIT",
    "Kind",
    "classify",
    "document_records",
    "records_of_document",
    "with_head",
]

WHOLE_DOCUMENT_LIMIT = 16 * 1024 * 1024
"""JSON documents up to this size are decoded in one go; larger ones are streamed."""
HEAD = 1 << 16
"""Bytes read to classify an input."""
LONG_LINE = 1 << 20
"""A first line longer than this is taken for a one-line document, and streamed."""
BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20


class Kind(enum.Enum):
    """What an input holds."""

    LINES = "lines"
    DOCUMENT = "document"
    BINARY = "binary"


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
    """The lines of *head* (already read from *stream*), then the rest of the stream; the
    stream is read on only once the head's whole lines are taken (a compressed source that
    breaks there keeps them)."""
    first = head.split(b"\n")
    last = first.pop()
    lines = [part + b"\n" for part in first]
    return itertools.chain(lines, _tail(last, stream), stream)


def _tail(last: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    """The head's last, unfinished line, finished from *stream*."""
    tail = last + stream.readline()
    if tail:
        yield tail


def document_records(stream: IO[bytes], head: bytes) -> Iterator[Raw]:
    """Records of one JSON document (or several, one after another): decoded whole when
    small and well-formed, streamed otherwise. A compressed source that breaks gives the
    elements before the break, then raises :class:`CorruptSource`."""
    chunks, size = [head], len(head)
    try:
        while size <= WHOLE_DOCUMENT_LIMIT and (chunk := read_upto(stream, _CHUNK)):
            chunks.append(chunk)
            size += len(chunk)
    except CorruptSource:
        yield from _before_the_break(iter_streamed(io.BytesIO(), chunks))
        raise
    if size > WHOLE_DOCUMENT_LIMIT:
        yield from iter_streamed(stream, chunks)
        return
    data = b"".join(chunks)
    del chunks
    try:
        document = loads(data[3:] if data.startswith(BOM) else data)
    except ValueError:  # broken somewhere, or several documents: read element by element
        yield from iter_streamed(io.BytesIO(), [data])
        return
    yield from records_of_document(document, None)


def _before_the_break(raws: Iterator[Raw]) -> Iterator[Raw]:
    """*raws* of a document cut short, but the last when it is broken: that is the break,
    which the source's own failure reports."""
    previous: Raw | None = None
    for raw in raws:
        if previous is not None:
            yield previous
        previous = raw
    if previous is not None and not isinstance(previous[0], Bad):
        yield previous


def _strip(head: bytes) -> bytes:
    stripped = head.lstrip(b" \t\r\n")
    if stripped.startswith(BOM):
        stripped = stripped[3:].lstrip(b" \t\r\n")
    return stripped


_NOT_UTF8_SHARE = 0.01
"""More than this share of a head's bytes not UTF-8 (or any NUL byte): binary data."""


def _is_binary(head: bytes) -> bool:
    """Not text: NUL bytes, or more than 1% of the bytes not UTF-8. A few bytes that are not
    UTF-8 (a record written in Latin-1 among the others) are their record's failure alone,
    never the whole source's."""
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        invalid = len(head) - len(head.decode("utf-8", "ignore").encode("utf-8"))
        return invalid > len(head) * _NOT_UTF8_SHARE
    return False


def classify(stream: IO[bytes]) -> tuple[bytes, Kind]:
    """Read the head of *stream* (its whole first line when it opens an object, up to
    :data:`LONG_LINE`) and say what the input holds."""
    head = read_upto(stream, HEAD)
    stripped = _strip(head)
    if _is_binary(head[:HEAD]):
        return head, Kind.BINARY
    if stripped.startswith(b"["):
        return head, Kind.DOCUMENT
    if not stripped.startswith(b"{"):
        return head, Kind.LINES
    if b"\n" not in stripped and len(head) == HEAD:
        more = stream.readline(LONG_LINE)
        head += more
        stripped += more
        if len(more) == LONG_LINE and not more.endswith(b"\n"):
            return head, Kind.DOCUMENT
    first = stripped.split(b"\n", 1)[0].rstrip(b" \t\r")
    # A record on the first line ends it, valid or not; a document's first line opens it.
    return head, Kind.LINES if first.endswith(b"}") else Kind.DOCUMENT

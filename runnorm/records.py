"""Reading run records out of a file: JSON Lines, a JSON array, a list wrapper or one object.

Each record comes with where it was found (a 1-based line for JSON Lines, a 0-based index for
arrays) so failures can be reported precisely. Wrapper objects (``{"data": [...]}``,
``{"runs": [...]}``) yield their items, each with the wrapper's other scalar fields that the
item lacks (Bridge Town's ``project_name``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import IO, Any

import attrs
import orjson

__all__ = ["WRAPPER_KEYS", "DecodeFailure", "RawRecord", "iter_records", "loads"]

WRAPPER_KEYS = ("data", "runs", "items", "results")
_SNIPPET = 200


def loads(data: bytes | str) -> Any:
    """orjson, falling back to the stdlib for what orjson rejects (integers past 64 bits)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


@attrs.frozen
class DecodeFailure:
    """A record that is not valid JSON."""

    reason: str
    text: str


@attrs.frozen
class RawRecord:
    """One decoded record (or a decode failure) and where it was found."""

    value: Any
    line: int | None = None
    index: int | None = None


def _shorten_text(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "..."


def _unwrap(document: Any) -> Iterator[tuple[int | None, Any]]:
    if isinstance(document, list):
        yield from enumerate(document)
        return
    if isinstance(document, Mapping):
        for key in WRAPPER_KEYS:
            items = document.get(key)
            if isinstance(items, list) and all(isinstance(i, Mapping) for i in items):
                shared = {
                    k: v for k, v in document.items() if k != key and not isinstance(v, dict | list)
                }
                for index, item in enumerate(items):
                    missing = {k: v for k, v in shared.items() if k not in item}
                    yield index, ({**item, **missing} if missing else item)
                return
    yield None, document


def iter_records(stream: IO[bytes]) -> Iterator[RawRecord]:
    """Records of a binary stream holding JSON Lines, or one JSON document."""
    head = stream.read(1 << 16)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    stripped = head.lstrip()
    first_line = stripped.split(b"\n", 1)[0].strip()
    whole_document = stripped.startswith(b"[") or (
        stripped.startswith(b"{") and not _is_complete_json(first_line)
    )
    if whole_document:
        data = head + stream.read()
        try:
            document = loads(data)
        except ValueError as exc:
            yield RawRecord(DecodeFailure(f"invalid JSON: {exc}", _shorten_text(data)), line=1)
            return
        for index, item in _unwrap(document):
            yield RawRecord(item, index=index)
        return
    yield from _iter_lines(head, stream)


def _is_complete_json(line: bytes) -> bool:
    try:
        loads(line)
    except ValueError:
        return False
    return True


def _iter_lines(head: bytes, stream: IO[bytes]) -> Iterator[RawRecord]:
    pending = head
    number = 0
    while True:
        chunk = stream.read(1 << 20)
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop() if chunk else b""
        for raw in lines:
            number += 1
            line = raw.strip()
            if not line:
                continue
            try:
                value = loads(line)
            except ValueError as exc:
                yield RawRecord(DecodeFailure(f"invalid JSON: {exc}", _shorten_text(line)), number)
                continue
            if isinstance(value, list | dict):
                for index, item in _unwrap(value):
                    yield RawRecord(item, line=number, index=index)
            else:
                yield RawRecord(value, line=number)
        if not chunk:
            return

"""JSON in and out, the one implementation every module uses: orjson, strict.

Decoding is strict JSON (RFC 8259): ``NaN``/``Infinity``, lone surrogates (``"\\ud800"``),
trailing data and values nested deeper than 1,024 levels are refused with a ``ValueError``
that says why; nothing falls back to a more lenient decoder, so one input never decodes two
ways. Encoding uses orjson and, for what orjson refuses (integers past 64 bits, nesting past
its 254 levels, strings holding lone surrogates, keys that are not strings), the stdlib with
the same output conventions. Everything decoding accepts encodes, inside a document of a few
levels more (the stdlib is given the recursion room for that, briefly); a value nested deeper
still raises ``ValueError``. Neither function ever raises ``RecursionError``.
"""

from __future__ import annotations

import enum
import json
import sys
import threading
from datetime import date, datetime
from typing import Any

import orjson

__all__ = ["Embedded", "dumps", "loads"]


class Embedded:
    """JSON text already encoded (a payload's own bytes), written as it is."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode strict JSON; raises ``ValueError`` (``orjson.JSONDecodeError``) with the reason."""
    return orjson.loads(data)


def _orjson_default(value: Any) -> Any:
    if type(value) is Embedded:
        return orjson.Fragment(value.data)
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def _default(value: Any) -> Any:
    if type(value) is Embedded:
        return loads(value.data)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def _stdlib(value: Any, indent: bool, *, ascii_only: bool) -> str:
    return json.dumps(
        value,
        indent=2 if indent else None,
        separators=None if indent else (",", ":"),
        ensure_ascii=ascii_only,
        allow_nan=False,
        default=_default,
    )


_DEEP_ROOM = 1_200
"""Recursion room for the stdlib encoder on deep values: orjson decodes 1,024 levels, and
the output document around a payload (``{"extra": {...}}``) adds a few."""
_DEEP_LOCK = threading.Lock()


def _stdlib_deep(value: Any, indent: bool, *, ascii_only: bool) -> str:
    """:func:`_stdlib` with :data:`_DEEP_ROOM` more recursion allowed while it runs."""
    with _DEEP_LOCK:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + _DEEP_ROOM)
        try:
            return _stdlib(value, indent, ascii_only=ascii_only)
        finally:
            sys.setrecursionlimit(limit)


def dumps(value: Any, *, indent: bool = False, newline: bool = False) -> bytes:
    """Encode compact (or indented) JSON as UTF-8 bytes, with a final newline if asked.

    Raises ``ValueError`` only for a value that has no JSON form: nested too deep, or a
    non-finite float that orjson could not take (it writes those as ``null``).
    """
    option = (orjson.OPT_INDENT_2 if indent else 0) | (orjson.OPT_APPEND_NEWLINE if newline else 0)
    try:
        return orjson.dumps(value, default=_orjson_default, option=option)
    except TypeError:
        pass
    try:  # keys that are not strings
        return orjson.dumps(value, default=_orjson_default, option=option | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        pass
    end = b"\n" if newline else b""
    # The stdlib within the recursion limit, then with room of its own: a RecursionError in
    # either try of the first (another thread's deep encoding may have raised the limit for
    # one of them only) goes on to the second.
    for encode in (_stdlib, _stdlib_deep):
        try:
            try:
                return encode(value, indent, ascii_only=False).encode() + end
            except UnicodeEncodeError:  # a lone surrogate: kept, as the JSON escape it came from
                return encode(value, indent, ascii_only=True).encode() + end
        except RecursionError:
            continue
        except ValueError as exc:
            raise ValueError(f"cannot encode as JSON: {exc}") from None
    raise ValueError("cannot encode as JSON: the value is nested too deep")

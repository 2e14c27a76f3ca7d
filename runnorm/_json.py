"""JSON in and out, fast: orjson, with the stdlib as the fallback for what orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads"]

_OPTIONS = orjson.OPT_NON_STR_KEYS


def loads(data: bytes | str) -> Any:
    """Decode JSON; integers past 64 bits go through the stdlib. Raises ``ValueError``."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps(value: Any, *, indent: bool = False) -> bytes:
    """Encode compact (or indented) JSON as bytes; integers past 64 bits via the stdlib."""
    try:
        return orjson.dumps(value, option=_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0))
    except TypeError:
        return json.dumps(
            value,
            indent=2 if indent else None,
            separators=None if indent else (",", ":"),
            ensure_ascii=False,
            default=str,
        ).encode()

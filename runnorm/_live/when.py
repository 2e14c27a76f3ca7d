"""Time bounds given by callers (``since``, ``until``): one reading for every API and command.

An aware ``datetime``; a ``timedelta`` back from now; text: ISO 8601 (without an offset it is
UTC, as payload timestamps are read) or a span back from now (``90s``, ``30m``, ``2h``,
``7d``, ``1w``, ``1d12h``). A naive ``datetime`` object is refused: it is usually local time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from runnorm._errors import ConfigError, PayloadError, shorten
from runnorm._model.timestamps import parse_timestamp

__all__ = ["TimeBound", "parse_when"]

TimeBound: TypeAlias = datetime | timedelta | str | None
"""What ``since`` and ``until`` take: an aware ``datetime``, a ``timedelta`` back from now,
ISO 8601 text or a span such as ``"2h"``; None for no bound."""

_SPAN = re.compile(r"(?:\s*\d+(?:\.\d+)?\s*[smhdw])+\s*")
_SPAN_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_when(name: str, value: Any, *, now: datetime | None = None) -> datetime | None:
    """A time bound as an aware UTC ``datetime``: an aware ``datetime``; a ``timedelta``
    before *now*; text, either ISO 8601 (without an offset: UTC, as payloads are read) or a
    span before now (``"90s"``, ``"30m"``, ``"2h"``, ``"7d"``, ``"1w"``, ``"1d12h"``).
    A naive ``datetime`` is a ``ConfigError``: it is usually local time."""
    try:
        return _when(name, value, now)
    except (OverflowError, ValueError) as exc:  # a span or timedelta past datetime's range
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{name} {shorten(value)} is out of range") from None


def _when(name: str, value: Any, now: datetime | None) -> datetime | None:
    if value is None:
        return None
    current = now or datetime.now(UTC)
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ConfigError(
                f"{name} is a naive datetime: give it a time zone "
                "(datetime.now(timezone.utc), or .replace(tzinfo=...))"
            )
        return value.astimezone(UTC)
    if isinstance(value, timedelta):
        return current - value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if _SPAN.fullmatch(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _SPAN_PART.findall(text))
            return current - timedelta(seconds=seconds)
        try:
            parsed = parse_timestamp(text, path=name)
        except (PayloadError, OverflowError, ValueError):
            parsed = None
        if parsed is not None:
            return parsed
    raise ConfigError(
        f"{name} must be an aware datetime, a timedelta, ISO 8601 text or a span such as "
        f"'2h' or '7d', not {shorten(value)}"
    )

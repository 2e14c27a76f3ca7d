"""Timestamp parsing: every value becomes a timezone-aware UTC ``datetime``.

Rules: a naive string is UTC (Skyvern sends naive UTC); ``Z``, offsets and fractional seconds
parse; a JSON number is epoch milliseconds. ``datetime.fromisoformat`` does the work; a naive
string gets ``"+00:00"`` appended before parsing, which costs far less than
``.replace(tzinfo=...)`` afterwards (see PERFORMANCE.md). python-dateutil is only the fallback
for strings ``fromisoformat`` rejects. A value that parses by no rule raises ``PayloadError``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runnorm._errors import PayloadError, shorten

__all__ = ["UTC", "parse_timestamp"]

_fromisoformat = datetime.fromisoformat
_fromtimestamp = datetime.fromtimestamp
_MAX_LEN = 64


def parse_timestamp(
    value: Any, *, provider: str | None = None, path: str = "", seconds: bool = False
) -> datetime | None:
    """Parse *value* (ISO 8601 string, epoch milliseconds or None) to an aware UTC datetime.

    With ``seconds=True`` a number is epoch seconds (OpenAI's ``created_at``), else milliseconds.
    """
    if value is None:
        return None
    if type(value) is str:
        # Fast path: "YYYY-MM-DDTHH:MM:SS[.ffffff]" naive (no zone designator after the time).
        if len(value) >= 19 and value[-1] not in "Zz" and value[-6] not in "+-":
            try:
                return _fromisoformat(value + "+00:00")
            except ValueError:
                pass
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            parsed = _parse_fallback(value, provider, path)
        return _to_utc(parsed, provider, path)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return _fromtimestamp(value if seconds else value / 1000, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            unit = "seconds" if seconds else "milliseconds"
            raise PayloadError(
                f"epoch {unit} out of range: {shorten(value)}",
                provider=provider,
                path=path,
                value=value,
            ) from exc
    raise PayloadError(
        f"expected an ISO 8601 timestamp or epoch {'seconds' if seconds else 'milliseconds'}, "
        f"got {shorten(value)}",
        provider=provider,
        path=path,
        value=value,
    )


def _to_utc(parsed: datetime, provider: str | None, path: str) -> datetime:
    if parsed.tzinfo is UTC:
        return parsed
    offset = parsed.utcoffset()
    if offset is None:
        return parsed.replace(tzinfo=UTC)
    if offset or parsed.tzinfo is not UTC:
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise PayloadError(
                f"timestamp out of range: {parsed!s}", provider=provider, path=path, value=parsed
            ) from None
    return parsed


def _parse_fallback(value: str, provider: str | None, path: str) -> datetime:
    """ISO 8601 forms ``fromisoformat`` rejects (python-dateutil), then RFC 2822 dates.

    Nothing lenient: a string naming a time zone these cannot resolve (``PST``) is an error,
    never silently UTC.
    """
    from email.utils import parsedate_to_datetime

    from dateutil import parser as date_parser  # loaded only for odd strings

    text = value.strip()
    if text and len(text) <= _MAX_LEN:
        try:
            return date_parser.isoparse(text)
        except (ValueError, OverflowError):
            pass
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None and (parsed.tzinfo is not None or text.endswith(("GMT", "UT"))):
            return parsed
    raise PayloadError(
        f"not a timestamp: {shorten(value)}", provider=provider, path=path, value=value
    )

"""Retry policy: which failures to retry, and how long to wait before the next attempt.

Retried: connection errors and timeouts, 408, 429 and 5xx. Not retried: any other 4xx.
Waits grow exponentially from 0.5 s to 8 s with jitter; a ``Retry-After`` header (seconds or
an HTTP date) is honoured up to a cap.
"""

from __future__ import annotations

import math
import random
import time
from email.utils import parsedate_to_datetime

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "RETRY_AFTER_CAP",
    "backoff_delay",
    "is_retryable_status",
    "parse_retry_after",
]

BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 60.0


def is_retryable_status(status: int) -> bool:
    """408, 429 and every 5xx."""
    return status in (408, 429) or 500 <= status <= 599


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def backoff_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    retry_after_cap: float = RETRY_AFTER_CAP,
) -> float:
    """The wait before retry number *attempt* (0-based)."""
    if retry_after is not None:
        return min(retry_after, retry_after_cap)
    delay = min(cap, base * (2.0**attempt))
    return delay * (0.5 + random.random() / 2)

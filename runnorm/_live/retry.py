"""Retries: which failures to retry, how long to wait, and the one retry loop every flow uses.

Retried: connection errors and timeouts, 408, 429 and 5xx. Not retried: any other 4xx.
Waits grow exponentially from 0.5 s to 8 s with jitter; a ``Retry-After`` header (seconds or
an HTTP date) is honoured up to a cap. With ``CallOptions.deadline`` set (``wait``), no wait
and no request timeout reaches past it.
"""

from __future__ import annotations

import math
import random
import time
from email.utils import parsedate_to_datetime

import attrs

from runnorm._errors import TransportError
from runnorm._live.options import CallOptions
from runnorm._live.wire import Flow, Request, Response, Sleep

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "RETRY_AFTER_CAP",
    "DeadlinePassed",
    "backoff_delay",
    "is_retryable_status",
    "parse_retry_after",
    "send_with_retries",
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


class DeadlinePassed(Exception):
    """Internal: the caller's overall deadline (``CallOptions.deadline``) has passed."""


def _remaining(options: CallOptions) -> float | None:
    return None if options.deadline is None else options.deadline - time.monotonic()


def send_with_retries(options: CallOptions, request: Request) -> Flow[Response]:
    """Send *request*, retrying connection errors, 408, 429 and 5xx up to ``max_retries``.

    With ``options.deadline`` set, no wait or request timeout reaches past it.
    """
    attempt = 0
    while True:
        remaining = _remaining(options)
        if remaining is not None:
            if remaining <= 0:
                raise DeadlinePassed
            if request.timeout is None or request.timeout > remaining:
                request = attrs.evolve(request, timeout=remaining)
        try:
            response: Response = yield request
        except TransportError as exc:
            exc.provider = exc.provider or options.provider.name
            if exc.kind in ("too_large", "request") or attempt >= options.max_retries:
                raise
            yield _pause(options, backoff_delay(attempt))
            attempt += 1
            continue
        if is_retryable_status(response.status) and attempt < options.max_retries:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            delay = backoff_delay(attempt, retry_after)
            yield _pause(options, delay, shared=response.status == 429)
            attempt += 1
            continue
        return response


def _pause(options: CallOptions, seconds: float, *, shared: bool = False) -> Sleep:
    remaining = _remaining(options)
    if remaining is not None:
        seconds = max(0.0, min(seconds, remaining))
    return Sleep(seconds, shared=shared)

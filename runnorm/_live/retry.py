"""Retries: which failures to retry, how long to wait, and the one retry loop every flow uses.

Retried: connection errors and timeouts, 408, 429 and 5xx. Not retried: any other 4xx.
Waits grow exponentially from 0.5 s to 8 s with jitter; a ``retry-after-ms`` header
(milliseconds) or else a ``Retry-After`` header (seconds or an HTTP date) is honoured up to a
cap; a server asking for more than the cap gets the client's own backoff instead. With
``CallOptions.deadline`` set (``wait``), no wait and no request timeout reaches past it.

A request that is not safe to repeat (``idempotent=False``: a cancel or resume, an MCP tool
that changes state) is retried only when the server cannot have acted on it: a connection
that never opened, 429, or 503 with ``Retry-After`` (or ``retry-after-ms``); never after a
timeout, a broken connection or another 5xx.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
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
    "retry_after",
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
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms`` first, then ``Retry-After``."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            value = float(millis.strip())
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value / 1000.0)
    return parse_retry_after(headers.get("retry-after"))


def backoff_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    retry_after_cap: float = RETRY_AFTER_CAP,
) -> float:
    """The wait before retry number *attempt* (0-based).

    The server's *retry_after* when it is within *retry_after_cap*; else (none, or more than
    the cap) exponential backoff with jitter.
    """
    if retry_after is not None and retry_after <= retry_after_cap:
        return retry_after
    delay = min(cap, base * (2.0**attempt))
    return delay * (0.5 + random.random() / 2)


class DeadlinePassed(Exception):
    """Internal: the caller's overall deadline (``CallOptions.deadline``) has passed."""


def _remaining(options: CallOptions) -> float | None:
    return None if options.deadline is None else options.deadline - time.monotonic()


def _retryable_error(error: TransportError, idempotent: bool) -> bool:
    if error.kind in ("too_large", "request"):
        return False
    return idempotent or error.kind == "connect"


def _retryable_response(response: Response, idempotent: bool) -> bool:
    status = response.status
    if idempotent:
        return is_retryable_status(status)
    return status == 429 or (status == 503 and retry_after(response.headers) is not None)


def send_with_retries(
    options: CallOptions, request: Request, *, idempotent: bool = True
) -> Flow[Response]:
    """Send *request*, retrying connection errors, 408, 429 and 5xx up to ``max_retries``.

    With ``options.deadline`` set, no wait or request timeout reaches past it. With
    ``idempotent=False``, only failures that prove the request was not processed are retried
    (a connection that never opened, 429, 503 with ``Retry-After``).
    """
    attempt = 0
    while True:
        remaining = _remaining(options)
        if remaining is not None:
            if remaining <= 0:
                raise DeadlinePassed
            if request.deadline is None:
                request = attrs.evolve(request, deadline=options.deadline)
            if request.timeout is None or request.timeout > remaining:
                request = attrs.evolve(request, timeout=remaining)
        try:
            response: Response = yield request
        except TransportError as exc:
            exc.provider = exc.provider or options.provider.name
            if not _retryable_error(exc, idempotent) or attempt >= options.max_retries:
                raise
            yield _pause(options, backoff_delay(attempt))
            attempt += 1
            continue
        if _retryable_response(response, idempotent) and attempt < options.max_retries:
            delay = backoff_delay(attempt, retry_after(response.headers))
            yield _pause(options, delay, shared=response.status == 429)
            attempt += 1
            continue
        return response


def _pause(options: CallOptions, seconds: float, *, shared: bool = False) -> Sleep:
    remaining = _remaining(options)
    if remaining is not None:
        seconds = max(0.0, min(seconds, remaining))
    return Sleep(seconds, shared=shared)

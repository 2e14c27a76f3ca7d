"""Fetching as generators: one implementation of ``get`` and ``wait`` for sync and async.

A flow yields :class:`~runnorm._live.wire.Request` and :class:`~runnorm._live.wire.Sleep`
steps and receives :class:`~runnorm._live.wire.Response` values (or has a
``TransportError`` thrown in); the drivers in :mod:`runnorm._live.drivers` only perform the
I/O. REST fetching lives in :mod:`runnorm._live.rest`, MCP in :mod:`runnorm._live.mcp`,
retries in :mod:`runnorm._live.retry`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime

import attrs

from runnorm._errors import (
    ConfigError,
    PayloadError,
    RunnormError,
    TransportError,
    UnsupportedError,
    WaitTimeout,
    shorten,
)
from runnorm._live.mcp import McpState, mcp_get_run
from runnorm._live.options import CallOptions, check_seconds
from runnorm._live.replies import scrubbed
from runnorm._live.rest import path_segment, rest_get_run
from runnorm._live.retry import DeadlinePassed
from runnorm._live.wire import Flow, Sleep
from runnorm._model.run import Run
from runnorm._model.status import RunStatus
from runnorm._plugins.fetching import McpFetch, RestFetch

__all__ = [
    "check_run_id",
    "describe_state",
    "get_run_flow",
    "run_state",
    "seconds_until",
    "sendable",
    "wait_flow",
]

WAIT_BACKOFF = 1.5
WAIT_INTERVAL_CAP = 30.0


def check_run_id(run_id: object) -> str:
    """*run_id* itself, or ``ConfigError`` when it is not a non-empty string that can be
    sent as one path segment (not ``.`` or ``..``, no lone surrogate), whatever the
    transport."""
    if not isinstance(run_id, str) or not run_id.strip():
        raise ConfigError(f"run_id must be a non-empty string, not {shorten(run_id)}")
    if path_segment(run_id) is None:
        raise ConfigError(
            f"run_id {shorten(run_id)} cannot be sent: '.', '..' and text with lone "
            "surrogates are not run ids"
        )
    return run_id


def sendable(run_id: object) -> bool:
    """True when *run_id* passes :func:`check_run_id`: it can be fetched again by that id."""
    try:
        check_run_id(run_id)
    except ConfigError:
        return False
    return True


def run_state(run: Run) -> Hashable:
    """What a change is: the status, native status, attempt and ``retry_pending``
    (``on_update`` and ``watch`` events fire when it differs)."""
    return (run.status, run.native_status, run.attempt, run.retry_pending)


def describe_state(run: Run) -> str:
    """``failed ('failed'), attempt 1, retry pending``: a run's state in a message."""
    text = f"{run.status.value} ({run.native_status!r})"
    if run.attempt is not None:
        text += f", attempt {run.attempt}"
    if run.retry_pending:
        text += ", retry pending"
    return text


def seconds_until(moment: datetime | None, now: float | None = None) -> float | None:
    """Seconds from now (``time.time()``, or *now*) until *moment*, or None without one."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() - (time.time() if now is None else now)


def get_run_flow(options: CallOptions, run_id: str, mcp_state: McpState | None = None) -> Flow[Run]:
    """Fetch and normalize one run; no error it raises holds the API key.

    A reply nested too deep for Python's recursion (in the normalizer, the key masking, a
    ``repr``) is a ``PayloadError``, never a ``RecursionError``.
    """
    try:
        return (yield from _get_run(options, check_run_id(run_id), mcp_state))
    except RunnormError as exc:
        try:
            error = scrubbed(options, exc)
        except RecursionError:
            error = _too_deep(options, run_id)
        raise error from exc.__cause__
    except RecursionError:
        raise _too_deep(options, run_id) from None


def _too_deep(options: CallOptions, run_id: str) -> PayloadError:
    return PayloadError(
        f"the reply for run {shorten(run_id)} is nested too deep to process",
        provider=options.provider.name,
    )


def _get_run(options: CallOptions, run_id: str, mcp_state: McpState | None) -> Flow[Run]:
    fetch = options.provider.fetch
    if isinstance(fetch, RestFetch):
        return (yield from rest_get_run(options, fetch, run_id))
    if isinstance(fetch, McpFetch):
        return (yield from mcp_get_run(options, fetch, mcp_state or McpState(), run_id))
    raise UnsupportedError(f"provider {options.provider.name!r} does not support fetching runs")


def wait_flow(
    options: CallOptions,
    run_id: str,
    *,
    timeout: float,
    interval: float,
    stop_on_paused: bool,
    on_update: Callable[[Run], object] | None,
    mcp_state: McpState | None = None,
) -> Flow[Run]:
    """Poll until the run is terminal (or paused); ``WaitTimeout`` once *timeout* s pass.

    The deadline bounds everything: the polls, the waits between them, and each request's
    own retries, ``Retry-After`` waits and timeouts. A run with ``retry_pending`` is not over:
    polling goes on, sleeping until ``next_attempt_at`` when the provider gives it, and a next
    attempt due past the deadline is a ``WaitTimeout`` at once (its message says when).
    ``on_update`` fires when :func:`run_state` changes.
    """
    check_seconds("interval", interval, zero=False)
    check_seconds("timeout", timeout)
    check_run_id(run_id)
    if not isinstance(stop_on_paused, bool):
        raise ConfigError(f"stop_on_paused must be True or False, not {shorten(stop_on_paused)}")
    if on_update is not None and not callable(on_update):
        raise ConfigError(f"on_update must be a callable or None, not {shorten(on_update)}")
    deadline = time.monotonic() + timeout
    bounded = attrs.evolve(options, deadline=deadline)
    delay = interval
    cap = max(interval, WAIT_INTERVAL_CAP)
    last: Run | None = None

    def expired(cause: BaseException | None = None, due: datetime | None = None) -> WaitTimeout:
        state = f"still {describe_state(last)}" if last else "not seen yet"
        if due is None:
            text = f"{options.provider.name} run {run_id!r} {state} after {timeout:g} s"
        else:
            text = (
                f"{options.provider.name} run {run_id!r} {state}: its next attempt is due at "
                f"{due.isoformat()}, past the {timeout:g} s deadline"
            )
        error = WaitTimeout(options.scrub(text), last_run=last, last_runs={run_id: last})
        error.__cause__ = cause
        return error

    while True:
        try:
            run = yield from get_run_flow(bounded, run_id, mcp_state)
        except DeadlinePassed:
            raise expired() from None
        except TransportError as exc:
            if exc.kind == "timeout" and time.monotonic() >= deadline:
                raise expired(exc) from exc
            raise
        if last is None or run_state(run) != run_state(last):
            delay = interval
            if on_update is not None:
                on_update(run)
        last = run
        if run.is_terminal or (stop_on_paused and run.status is RunStatus.PAUSED):
            return run
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise expired()
        due = seconds_until(run.timing.next_attempt_at) if run.retry_pending else None
        if due is not None and due > 0:
            if due > remaining:
                raise expired(due=run.timing.next_attempt_at)
            yield Sleep(due)
            delay = interval  # the next attempt starts now: poll it quickly
            continue
        yield Sleep(min(delay, remaining))
        delay = min(delay * WAIT_BACKOFF, cap)

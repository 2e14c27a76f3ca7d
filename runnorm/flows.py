"""Fetching as generators: one implementation of retries, errors, ``get`` and ``wait``.

A flow yields :class:`~runnorm.wire.Request` and :class:`~runnorm.wire.Sleep` steps and
receives :class:`~runnorm.wire.Response` values (or has a ``TransportError`` thrown in);
the sync and async drivers in :mod:`runnorm.client` only perform the I/O.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import attrs

from runnorm.errors import (
    APIError,
    AuthError,
    ConfigError,
    NotFoundError,
    PayloadError,
    RateLimitError,
    RunnormError,
    ServerError,
    TransportError,
    UnsupportedError,
    WaitTimeout,
    shorten,
)
from runnorm.jsonio import loads
from runnorm.model import Run
from runnorm.normalize import apply
from runnorm.options import CallOptions
from runnorm.provider import McpFetch, RelatedFetch, RestFetch
from runnorm.retry import backoff_delay, is_retryable_status, parse_retry_after
from runnorm.status import RunStatus
from runnorm.wire import Flow, Request, Response, Sleep

__all__ = ["McpState", "error_for", "get_run_flow", "send_with_retries", "wait_flow"]

_DETAIL = 300
WAIT_BACKOFF = 1.5
WAIT_INTERVAL_CAP = 30.0


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


def _decode_body(response: Response) -> Any:
    if not response.body:
        return None
    try:
        return loads(response.body)
    except ValueError:
        return response.body.decode("utf-8", "replace")


def _detail(body: Any) -> str:
    if isinstance(body, Mapping):
        for key in ("detail", "message", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if value:
                return shorten(value, _DETAIL)
    if isinstance(body, str):
        return shorten(body.strip(), _DETAIL).strip("'\"")
    return shorten(body, _DETAIL) if body is not None else "(no body)"


def error_for(options: CallOptions, response: Response, what: str) -> APIError:
    """The exception for an error response: ``AuthError``, ``NotFoundError``, ... ``APIError``."""
    status = response.status
    body = _decode_body(response)
    cls: type[APIError]
    if status in (401, 403):
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    else:
        cls = APIError
    message = options.scrub(
        f"{options.provider.name}: {what} answered HTTP {status}: {_detail(body)}"
    )
    body = options.scrub_value(body)
    return cls(message, provider=options.provider.name, status_code=status, body=body)


def _decode_json(options: CallOptions, response: Response, what: str) -> Any:
    try:
        return loads(response.body)
    except ValueError as exc:
        raise PayloadError(
            f"{what} answered HTTP {response.status} with a body that is not JSON: "
            f"{shorten(response.body[:200])}",
            provider=options.provider.name,
        ) from exc


def rest_get(options: CallOptions, path: str, what: str) -> Flow[Response]:
    """GET ``base_url + path`` with the provider's credential; the final response."""
    request = Request(
        method="GET",
        url=options.base_url + path,
        headers=options.request_headers(),
        timeout=options.timeout,
        max_bytes=options.max_response_bytes,
        secret_headers=options.secret_headers(),
    )
    return (yield from send_with_retries(options, request))


def _rest_get_run(options: CallOptions, fetch: RestFetch, run_id: str) -> Flow[Run]:
    what = f"GET run {run_id!r}"
    response = yield from rest_get(options, fetch.path.format(run_id=quote(run_id, safe="")), what)
    if response.status != 200:
        raise error_for(options, response, what)
    payload = _decode_json(options, response, what)
    run = apply(options.provider, payload) if isinstance(payload, Mapping) else None
    if run is None:
        raise PayloadError(
            f"{what} answered with {type(payload).__name__}, not a run object",
            provider=options.provider.name,
            value=payload,
        )
    for related in fetch.related:
        if options.extras.get(related.option):
            run = yield from _fetch_related(options, related, run)
    return run


def _fetch_related(options: CallOptions, related: RelatedFetch, run: Run) -> Flow[Run]:
    key = run.raw.get(related.key)
    if not isinstance(key, str) or not key:
        return run
    documents: dict[str, Any] = {}
    for name, template in related.paths.items():
        path = template.format(id=quote(key, safe=""))
        what = f"GET {name} of {related.key} {key!r}"
        response = yield from rest_get(options, path, what)
        if response.status == 200:
            documents[name] = _decode_json(options, response, what)
        elif response.status in related.missing_ok:
            documents[name] = None
        else:
            raise error_for(options, response, what)
    try:
        return related.fold(run, documents)
    except (APIError, PayloadError):
        raise
    except Exception as exc:
        raise PayloadError(
            f"could not fold {related.option} documents into the run: {exc}",
            provider=options.provider.name,
        ) from exc


class McpState:
    """An MCP session kept by a client between calls (one per endpoint and key).

    ``phase`` is ``None`` (no session), ``"starting"`` (one call is initializing; the others
    wait for it) or ``"ready"``. The lock guards the phase change only and is never held
    across I/O, so it serves threads and event loops alike.
    """

    __slots__ = ("_ids", "lock", "phase", "protocol_version", "session_id")

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.phase: str | None = None
        self.lock = threading.Lock()
        self._ids = itertools.count(1)

    def claim_start(self) -> bool:
        """True for the one caller that should initialize now."""
        with self.lock:
            if self.phase is None:
                self.phase = "starting"
                return True
            return False

    def ready(self, session_id: str | None, protocol_version: str) -> None:
        """The handshake completed."""
        with self.lock:
            self.session_id, self.protocol_version, self.phase = (
                session_id,
                protocol_version,
                "ready",
            )

    def reset(self) -> None:
        """Forget the session (it expired, the server lost it, or initializing failed)."""
        with self.lock:
            self.session_id, self.protocol_version, self.phase = None, None, None

    def take_id(self) -> int:
        """A fresh JSON-RPC request id."""
        return next(self._ids)


def scrubbed(options: CallOptions, error: RunnormError) -> RunnormError:
    """*error* with the API key masked in its message, ``body`` and ``value``."""
    if not options.api_key:
        return error
    error.args = tuple(options.scrub(a) if isinstance(a, str) else a for a in error.args)
    for attribute in ("body", "value"):
        if hasattr(error, attribute):
            setattr(error, attribute, options.scrub_value(getattr(error, attribute)))
    return error


def check_run_id(run_id: object) -> str:
    """*run_id* itself, or ``ConfigError`` when it is not a non-empty string."""
    if not isinstance(run_id, str) or not run_id.strip():
        raise ConfigError(f"run_id must be a non-empty string, not {shorten(run_id)}")
    return run_id


def get_run_flow(options: CallOptions, run_id: str, mcp_state: McpState | None = None) -> Flow[Run]:
    """Fetch and normalize one run; no error it raises holds the API key."""
    try:
        return (yield from _get_run(options, check_run_id(run_id), mcp_state))
    except RunnormError as exc:
        raise scrubbed(options, exc) from exc.__cause__


def _get_run(options: CallOptions, run_id: str, mcp_state: McpState | None) -> Flow[Run]:
    fetch = options.provider.fetch
    if isinstance(fetch, RestFetch):
        return (yield from _rest_get_run(options, fetch, run_id))
    if isinstance(fetch, McpFetch):
        from runnorm.mcp import mcp_get_run

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
    own retries, ``Retry-After`` waits and timeouts.
    """
    if not interval > 0:
        raise ConfigError(f"interval must be positive, not {shorten(interval)}")
    if not timeout >= 0:
        raise ConfigError(f"timeout must be a non-negative number, not {shorten(timeout)}")
    check_run_id(run_id)
    deadline = time.monotonic() + timeout
    bounded = attrs.evolve(options, deadline=deadline)
    delay = interval
    cap = max(interval, WAIT_INTERVAL_CAP)
    last: Run | None = None

    def expired(cause: BaseException | None = None) -> WaitTimeout:
        state = f"still {last.status.value} ({last.native_status!r})" if last else "not seen yet"
        error = WaitTimeout(
            f"{options.provider.name} run {run_id!r} {state} after {timeout:g} s", last_run=last
        )
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
        if last is None or (run.status, run.native_status) != (last.status, last.native_status):
            delay = interval
            if on_update is not None:
                on_update(run)
        last = run
        if run.is_terminal or (stop_on_paused and run.status is RunStatus.PAUSED):
            return run
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise expired()
        yield Sleep(min(delay, remaining))
        delay = min(delay * WAIT_BACKOFF, cap)

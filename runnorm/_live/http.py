"""The one module that talks to httpx: sending a :class:`~runnorm._live.wire.Request`.

Responsibilities:

- a deadline per attempt: ``Request.timeout`` bounds one attempt from connect to last byte,
  redirects included, however slowly the server drips. Sync: the network backend of each
  httpx pool is wrapped so that every connect, read and write gets at most the time left
  (a server dripping a byte at a time cannot reset it); for a pool that cannot be wrapped
  (a custom transport) the deadline is checked between body chunks. Async: the attempt runs
  under ``asyncio.timeout``.
- size-capped bodies: the ``Content-Length`` is checked first; then raw bytes are read and
  decoded here (:mod:`runnorm._live.decoding`), the cap applied to the decoded bytes as they
  come, so a compression bomb costs at most the cap and one piece.
- ``Request.watch``: the body may end early (an MCP reply on an SSE stream left open).
- ``Request.sink``: the body goes to a writer piece by piece instead of into memory (a
  download); ``Request.idle_timeout`` bounds each network operation when there is no
  whole-attempt deadline (a large download that keeps moving is never cut).
- redirects followed here, never by httpx, so that credential headers (``x-api-key``,
  ``X-BB-API-Key``, ``Authorization``; httpx strips only the last) are dropped whenever a
  redirect leaves the original origin; a ``Location`` that is not an http(s) URL is a
  ``TransportError``.
- httpx's exceptions (and a header httpx cannot encode) turned into ``TransportError``. No
  header value ever reaches an exception message.
- log lines: httpcore's that quote response headers keep only their event name, and httpx's
  request lines have the key masked in the URL (a server may echo it into a cursor).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import attrs
import httpcore
import httpx

from runnorm._errors import ConfigError, TransportError
from runnorm._live.decoding import BodyDecoder, DecodingFailed, TooLarge, TooManyCodings
from runnorm._live.options import mask_key, valid_http_url
from runnorm._live.wire import Request, Response

__all__ = [
    "AsyncSender",
    "ResponseTooLargeError",
    "SyncSender",
    "default_limits",
    "install_deadlines",
]

MAX_REDIRECTS = 5
PER_POOL = 4
MAX_POOLS = 16
MAX_SOCKET_TIMEOUT = 1e6
"""Longest single socket wait (seconds): larger values overflow the C timeval."""
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "runnorm_http_deadline", default=None
)


_SENDING: contextvars.ContextVar[bool] = contextvars.ContextVar("runnorm_sending", default=False)


class _QuietHeaders(logging.Filter):
    """httpcore's debug trace logs the response headers (and errors that may quote them); a
    provider may echo the key in one. While runnorm sends, those lines keep only the event
    name. Other users of httpcore in the process are left alone (a context variable)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SENDING.get():
            event = str(record.msg).split(" ", 1)[0]
            if "response_headers" in event or event.endswith(".failed"):
                record.msg, record.args = f"{event} (details withheld by runnorm)", ()
        return True


for _name in ("httpcore.http11", "httpcore.http2", "httpcore.connection", "httpcore.proxy"):
    logging.getLogger(_name).addFilter(_QuietHeaders())


_SECRETS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "runnorm_secrets", default=()
)


class _MaskedUrls(logging.Filter):
    """httpx logs each request's URL at INFO; a URL may hold the key where a server echoed
    it (a cursor sent back, a run id). While runnorm sends, those lines have the request's
    secrets masked (a context variable: other users of httpx are left alone)."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _SECRETS.get()
        if secrets:
            try:
                text = record.getMessage()
            except Exception:  # a record httpx built oddly: keep its name only
                text = f"{record.msg}"
            for secret in secrets:
                text = mask_key(secret, text)
            record.msg, record.args = text, ()
        return True


logging.getLogger("httpx").addFilter(_MaskedUrls())


def _secrets(request: Request) -> tuple[str, ...]:
    """The key and the credential headers' secrets (the value after any scheme)."""
    found = [request.guard] if request.guard else []
    for name, value in request.headers.items():
        if name.lower() in request.secret_headers:
            secret = value.rsplit(" ", 1)[-1]
            if secret and secret not in found:
                found.append(secret)
    return tuple(found)


class ResponseTooLargeError(TransportError):
    """The response body is larger than the configured ``max_response_bytes``."""


def default_limits() -> httpx.Limits:
    """Pool limits for clients runnorm creates."""
    return httpx.Limits(max_connections=100, max_keepalive_connections=32)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """*timeout* cut to what is left of the current attempt's deadline."""
    deadline = _DEADLINE.get()
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise expired("the request's deadline passed")
        timeout = remaining if timeout is None else min(timeout, remaining)
    return None if timeout is None else min(timeout, MAX_SOCKET_TIMEOUT)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the current attempt's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self.stream.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Wraps a pool's network backend so that its streams keep the attempt's deadline."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self.backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self.backend.connect_tcp(
            host,
            port,
            timeout=_left(timeout, httpcore.ConnectTimeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self.backend.connect_unix_socket(
            path, timeout=_left(timeout, httpcore.ConnectTimeout), socket_options=socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


def install_deadlines(client: httpx.Client) -> bool:
    """Wrap the network backends of *client*'s pools; True when every pool could be wrapped.

    Only runnorm's requests carry a deadline: the client's other requests are unaffected.
    """
    transports = [getattr(client, "_transport", None)]
    transports += list(getattr(client, "_mounts", {}).values())
    complete = True
    for transport in transports:
        if transport is None:
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, _DeadlineBackend):
            continue
        if isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
        else:
            complete = False
    return complete


_FAILURES = (httpx.HTTPError, httpx.InvalidURL, UnicodeEncodeError)
"""What sending can raise: ``InvalidURL`` (a URL httpx cannot encode) is not an ``HTTPError``,
nor is the ``UnicodeEncodeError`` of a header value that is not ASCII."""


def _bad_location(exc: Exception) -> bool:
    """httpx itself refuses a redirect ``Location`` it cannot parse (before we see it)."""
    return isinstance(exc, httpx.RemoteProtocolError) and "location header" in str(exc).lower()


def _kind(exc: Exception) -> str:
    if isinstance(exc, httpx.InvalidURL | UnicodeEncodeError) or _bad_location(exc):
        return "request"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return "request"  # the request itself is bad: retrying cannot help
    return "read"


def _where(request: Request) -> str:
    return request.url.split("?", 1)[0].split("#", 1)[0]


def _transport_error(exc: Exception, request: Request) -> TransportError:
    kind = _kind(exc)
    if kind == "timeout":  # httpx's own words ("timed out") differ between sync and async
        return _timed_out(request)
    if _bad_location(exc):
        detail = "a redirect to a Location that is not a valid URL"
    elif kind == "request":
        # httpx quotes the offending header value here; it may be a credential.
        detail = f"{type(exc).__name__} (the request could not be encoded)"
    else:
        detail = str(exc) or type(exc).__name__
    return TransportError(
        f"{kind} error on {request.method} {_where(request)}: {detail}", kind=kind
    )


def _timed_out(request: Request) -> TransportError:
    if request.timeout is not None:
        detail = f"no complete response within timeout={request.timeout:g} s"
    elif request.idle_timeout is not None:
        detail = f"nothing received for timeout={request.idle_timeout:g} s"
    else:
        detail = "timed out"
    return TransportError(
        f"timeout error on {request.method} {_where(request)}: {detail}", kind="timeout"
    )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _holds_credential(request: Request, url: str) -> bool:
    """True when *url* spells the caller's key (``Request.guard``) or the value of a
    credential header (the key after any scheme)."""
    return any(mask_key(secret, url) != url for secret in _secrets(request))


def _next_hop(request: Request, response: httpx.Response, url: httpx.URL) -> Request | None:
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    refused = TransportError(
        f"{request.method} {_where(request)} answered HTTP {response.status_code} with a "
        "Location that is not an http(s) URL",
        kind="request",
    )
    try:
        target = url.join(location)
    except (httpx.InvalidURL, UnicodeError, ValueError):
        raise refused from None
    if target.scheme not in ("http", "https") or not valid_http_url(str(target)):
        raise refused
    if _holds_credential(request, str(target)):
        # Following it would put the key in a URL: httpx's log line, an error message.
        raise TransportError(
            f"a redirect from {request.method} {url.copy_with(query=None)} points to a URL "
            "that holds the credential; not followed",
            kind="request",
        )
    headers: Mapping[str, str] = request.headers
    if _origin(target) != _origin(url):
        secrets = request.secret_headers | {"authorization", "cookie", "proxy-authorization"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in secrets}
    method, body = request.method, request.body
    if response.status_code == 303 or (
        response.status_code in (301, 302) and request.method == "POST"
    ):
        method, body = "GET", None
    return attrs.evolve(request, method=method, url=str(target), headers=headers, body=body)


def _too_large(request: Request, size: int | None = None) -> ResponseTooLargeError:
    seen = f" ({size} bytes)" if size is not None else ""
    return ResponseTooLargeError(
        f"response to {request.method} {_where(request)} is larger "
        f"than max_response_bytes={request.max_bytes}{seen}",
        kind="too_large",
    )


def _check_declared_length(request: Request, response: httpx.Response) -> None:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > request.max_bytes:
        raise _too_large(request, int(declared))


_UNCAPPED = 2**62
"""The decoder's cap for a body that goes to a sink (the sink's writer enforces its own)."""


class _Body:
    """Collects one response body: raw bytes in, decoded and capped, maybe ended early; or,
    when the request's sink takes it, hands each decoded piece to the sink's writer."""

    def __init__(self, request: Request, response: httpx.Response, deadline: float | None):
        self.request = request
        self.deadline = deadline
        self.raw_size = 0
        self.body = bytearray()
        headers = {k.lower(): v for k, v in response.headers.items()}
        self.writer: Callable[[bytes], bool] | None = (
            request.sink(response.status_code, headers) if request.sink else None
        )
        cap = request.max_bytes if self.writer is None else _UNCAPPED
        self.raw_limit = cap + 64 * 1024
        try:
            self.decoder = BodyDecoder(headers.get("content-encoding", ""), cap)
        except TooManyCodings as exc:
            raise self._bad(str(exc)) from None
        self.watcher: Callable[[bytes], bool] | None = (
            request.watch(response.status_code, headers)
            if request.watch and self.writer is None
            else None
        )
        if self.writer is None:
            _check_declared_length(request, response)

    def _bad(self, detail: str) -> TransportError:
        return TransportError(
            f"read error on {self.request.method} {_where(self.request)}: the body could not "
            f"be decoded ({detail})",
            kind="read",
        )

    def done_before_reading(self) -> bool:
        """True when the watcher needs no body at all (it is asked with ``b""`` first)."""
        return self.watcher is not None and self.watcher(b"")

    def feed(self, raw: bytes) -> bool:
        """Take a raw chunk; True when the watcher has seen enough."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _timed_out(self.request)
        self.raw_size += len(raw)
        if self.raw_size > self.raw_limit:
            raise _too_large(self.request)
        return self._take(self.decoder.feed(raw))

    def finish(self) -> bytes:
        self._take(self.decoder.finish())
        return bytes(self.body)

    def _take(self, pieces: Iterator[bytes]) -> bool:
        try:
            for piece in pieces:
                if self.writer is not None:
                    if self.writer(piece):
                        return True
                    continue
                self.body += piece
                if self.watcher is not None and self.watcher(piece):
                    return True
        except TooLarge:
            raise _too_large(self.request) from None
        except DecodingFailed as exc:
            raise self._bad(str(exc)) from None
        return False


def _collect(request: Request, response: httpx.Response, deadline: float | None) -> bytes:
    body = _Body(request, response, deadline)
    if body.done_before_reading():
        return b""
    for raw in response.iter_raw():
        if body.feed(raw):
            return bytes(body.body)
    return body.finish()


async def _acollect(request: Request, response: httpx.Response) -> bytes:
    body = _Body(request, response, None)  # the attempt runs under asyncio.timeout
    if body.done_before_reading():
        return b""
    chunks: AsyncIterator[bytes] = response.aiter_raw()
    async for raw in chunks:
        if body.feed(raw):
            return bytes(body.body)
    return body.finish()


def _build(request: Request) -> dict[str, Any]:
    timeout = request.timeout if request.timeout is not None else request.idle_timeout
    return {
        "method": request.method,
        "url": request.url,
        "headers": dict(request.headers),
        "content": request.body,
        "timeout": httpx.Timeout(None if timeout is None else min(timeout, MAX_SOCKET_TIMEOUT)),
        "follow_redirects": False,
    }


def _result(request: Request, response: httpx.Response, body: bytes) -> Response:
    return Response(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=body,
        url=request.url,
    )


def _closed() -> ConfigError:
    return ConfigError("the HTTP client is closed: a closed runnorm client cannot send")


def _deadline(request: Request) -> float | None:
    return None if request.timeout is None else time.monotonic() + request.timeout


class SyncSender:
    """Sends requests on a pooled ``httpx.Client`` (the caller's, or one of its own)."""

    def __init__(self, http_client: httpx.Client | None = None) -> None:
        self.owned = http_client is None
        self.client = http_client or httpx.Client(limits=default_limits(), trust_env=True)
        install_deadlines(self.client)

    def send(self, request: Request) -> Response:
        """Send *request*, following redirects safely; raise ``TransportError`` on failure.

        The whole attempt, redirects included, ends by ``request.timeout``.
        """
        if self.client.is_closed:
            raise _closed()
        deadline = _deadline(request)
        token = _DEADLINE.set(deadline)
        sending = _SENDING.set(True)
        masking = _SECRETS.set(_secrets(request))
        try:
            return self._send(request, deadline)
        finally:
            _SECRETS.reset(masking)
            _SENDING.reset(sending)
            _DEADLINE.reset(token)

    def _send(self, request: Request, deadline: float | None) -> Response:
        first = request
        for _ in range(MAX_REDIRECTS + 1):
            try:
                with self.client.stream(**_build(request)) as response:
                    hop = _next_hop(request, response, response.request.url)
                    if hop is None:
                        body = _collect(request, response, deadline)
                        return _result(request, response, body)
            except _FAILURES as exc:
                raise _transport_error(exc, request) from None
            request = hop
        raise TransportError(
            f"more than {MAX_REDIRECTS} redirects from {_where(first)}", kind="request"
        )

    def close(self) -> None:
        """Close the pool if this sender created it."""
        if self.owned:
            self.client.close()


class AsyncSender:
    """Sends requests on pooled ``httpx.AsyncClient`` instances.

    With the caller's client, everything goes through it. Otherwise the sender grows a small
    set of pools as concurrency rises: httpx's async pool spends CPU per request that grows
    with the number of requests in flight on it (measured here: about 1.5 ms a request at 4
    in flight, 5 ms at 32), so ``get_many`` spreads its requests over pools of a few
    connections each. A single caller at a time only ever uses the first pool.
    """

    def __init__(self, http_client: httpx.AsyncClient | None = None) -> None:
        self.owned = http_client is None
        self._clients: list[httpx.AsyncClient] = [] if http_client is None else [http_client]
        self._in_flight: list[int] = [] if http_client is None else [0]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def client(self) -> httpx.AsyncClient:
        """The first pool (created on demand)."""
        if not self._clients:
            self._grow()
        return self._clients[0]

    def _grow(self) -> int:
        self._clients.append(
            httpx.AsyncClient(limits=default_limits(), trust_env=True)  # one small pool
        )
        self._in_flight.append(0)
        return len(self._clients) - 1

    def _pick(self) -> int:
        if not self._clients:
            return self._grow()
        index = min(range(len(self._clients)), key=self._in_flight.__getitem__)
        if self.owned and self._in_flight[index] >= PER_POOL and len(self._clients) < MAX_POOLS:
            index = self._grow()
        return index

    async def send(self, request: Request) -> Response:
        """Send *request*, following redirects safely; raise ``TransportError`` on failure.

        The pools belong to the event loop of the first request: another loop is refused
        (a ``ConfigError``), as is a closed sender or client."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise ConfigError(
                "this AsyncClient was first used on another event loop (its connections "
                "belong to that loop): create one AsyncClient per event loop"
            )
        index = self._pick()
        if self._closed or self._clients[index].is_closed:
            raise _closed()
        self._in_flight[index] += 1
        token = _SENDING.set(True)
        masking = _SECRETS.set(_secrets(request))
        try:
            return await self._send(self._clients[index], request)
        finally:
            _SECRETS.reset(masking)
            _SENDING.reset(token)
            self._in_flight[index] -= 1

    async def _send(self, client: httpx.AsyncClient, request: Request) -> Response:
        if request.timeout is None:
            return await self._hops(client, request)
        try:
            async with asyncio.timeout(min(request.timeout, MAX_SOCKET_TIMEOUT)):
                return await self._hops(client, request)
        except TimeoutError:
            raise _timed_out(request) from None

    async def _hops(self, client: httpx.AsyncClient, request: Request) -> Response:
        first = request
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with client.stream(**_build(request)) as response:
                    hop = _next_hop(request, response, response.request.url)
                    if hop is None:
                        body = await _acollect(request, response)
                        return _result(request, response, body)
            except _FAILURES as exc:
                raise _transport_error(exc, request) from None
            request = hop
        raise TransportError(
            f"more than {MAX_REDIRECTS} redirects from {_where(first)}", kind="request"
        )

    async def aclose(self) -> None:
        """Close the pools this sender created (never the caller's client). From another
        event loop than theirs, they are only dropped: their connections belong to that loop
        (closed with it), and closing them here would raise."""
        self._closed = True
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            return
        if self.owned:
            for client in self._clients:
                await client.aclose()

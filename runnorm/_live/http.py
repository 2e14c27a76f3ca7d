"""The one module that talks to httpx: sending a :class:`~runnorm._live.wire.Request`.

Responsibilities: size-capped body reads (the ``Content-Length`` is checked first, then the
stream is cut off at the cap); redirects followed here, never by httpx, so that credential
headers (``x-api-key``, ``X-BB-API-Key``, ``Authorization`` — httpx strips only the last)
are dropped whenever a redirect leaves the original origin; httpx's exceptions turned into
``TransportError``. No header value ever reaches an exception message.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx

from runnorm._errors import TransportError
from runnorm._live.options import mask_key
from runnorm._live.wire import Request, Response

__all__ = [
    "AsyncSender",
    "ResponseTooLargeError",
    "SyncSender",
    "default_limits",
]

MAX_REDIRECTS = 5
PER_POOL = 4
MAX_POOLS = 16
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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


class ResponseTooLargeError(TransportError):
    """The response body is larger than the configured ``max_response_bytes``."""


def default_limits() -> httpx.Limits:
    """Pool limits for clients runnorm creates."""
    return httpx.Limits(max_connections=100, max_keepalive_connections=32)


_FAILURES = (httpx.HTTPError, httpx.InvalidURL)
"""What sending can raise: ``InvalidURL`` (a URL httpx cannot encode) is not an ``HTTPError``."""


def _kind(exc: httpx.HTTPError | httpx.InvalidURL) -> str:
    if isinstance(exc, httpx.InvalidURL):
        return "request"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return "request"  # the request itself is bad: retrying cannot help
    return "read"


def _transport_error(exc: httpx.HTTPError | httpx.InvalidURL, request: Request) -> TransportError:
    kind = _kind(exc)
    where = request.url.split("?", 1)[0].split("#", 1)[0]
    if kind == "request":
        # httpx quotes the offending header value here; it may be a credential.
        detail = f"{type(exc).__name__} (the request could not be encoded)"
    else:
        detail = str(exc) or type(exc).__name__
    return TransportError(f"{kind} error on {request.method} {where}: {detail}", kind=kind)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _holds_credential(request: Request, url: str) -> bool:
    """True when *url* spells the value of a credential header (the key after any scheme)."""
    for name, value in request.headers.items():
        if name.lower() in request.secret_headers:
            secret = value.rsplit(" ", 1)[-1]
            if secret and mask_key(secret, url) != url:
                return True
    return False


def _next_hop(request: Request, response: httpx.Response, url: httpx.URL) -> Request | None:
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    target = url.join(location)
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
    return Request(
        method=method,
        url=str(target),
        headers=headers,
        body=body,
        timeout=request.timeout,
        max_bytes=request.max_bytes,
        secret_headers=request.secret_headers,
    )


def _too_large(request: Request, size: int | None = None) -> ResponseTooLargeError:
    seen = f" ({size} bytes)" if size is not None else ""
    return ResponseTooLargeError(
        f"response to {request.method} {httpx.URL(request.url).copy_with(query=None)} is larger "
        f"than max_response_bytes={request.max_bytes}{seen}",
        kind="too_large",
    )


def _check_declared_length(request: Request, response: httpx.Response) -> None:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > request.max_bytes:
        raise _too_large(request, int(declared))


def _collect(request: Request, chunks: Iterator[bytes]) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > request.max_bytes:
            raise _too_large(request)
    return bytes(body)


async def _acollect(request: Request, chunks: AsyncIterator[bytes]) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > request.max_bytes:
            raise _too_large(request)
    return bytes(body)


def _build(request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": request.url,
        "headers": dict(request.headers),
        "content": request.body,
        "timeout": httpx.Timeout(request.timeout),
        "follow_redirects": False,
    }


def _result(request: Request, response: httpx.Response, body: bytes) -> Response:
    return Response(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=body,
        url=request.url,
    )


class SyncSender:
    """Sends requests on a pooled ``httpx.Client`` (the caller's, or one of its own)."""

    def __init__(self, http_client: httpx.Client | None = None) -> None:
        self.owned = http_client is None
        self.client = http_client or httpx.Client(limits=default_limits(), trust_env=True)

    def send(self, request: Request) -> Response:
        """Send *request*, following redirects safely; raise ``TransportError`` on failure."""
        token = _SENDING.set(True)
        try:
            return self._send(request)
        finally:
            _SENDING.reset(token)

    def _send(self, request: Request) -> Response:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                with self.client.stream(**_build(request)) as response:
                    hop = _next_hop(request, response, response.request.url)
                    if hop is None:
                        _check_declared_length(request, response)
                        body = _collect(request, response.iter_bytes())
                        return _result(request, response, body)
            except _FAILURES as exc:
                raise _transport_error(exc, request) from None
            request = hop
        raise TransportError(f"more than {MAX_REDIRECTS} redirects from {request.url}")

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
        """Send *request*, following redirects safely; raise ``TransportError`` on failure."""
        index = self._pick()
        self._in_flight[index] += 1
        token = _SENDING.set(True)
        try:
            return await self._send(self._clients[index], request)
        finally:
            _SENDING.reset(token)
            self._in_flight[index] -= 1

    async def _send(self, client: httpx.AsyncClient, request: Request) -> Response:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with client.stream(**_build(request)) as response:
                    hop = _next_hop(request, response, response.request.url)
                    if hop is None:
                        _check_declared_length(request, response)
                        body = await _acollect(request, response.aiter_bytes())
                        return _result(request, response, body)
            except _FAILURES as exc:
                raise _transport_error(exc, request) from None
            request = hop
        raise TransportError(f"more than {MAX_REDIRECTS} redirects from {request.url}")

    async def aclose(self) -> None:
        """Close the pools this sender created (never the caller's client)."""
        if self.owned:
            for client in self._clients:
                await client.aclose()

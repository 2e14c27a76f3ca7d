"""A loopback HTTP server that plays a REST provider in tests (``runnorm.testing`` exports it).

It serves JSON documents by path, checks a credential header, and can be scripted per path
to answer errors, ``Retry-After``, delays, oversized bodies or redirects; a handler per path
answers from the request itself (a list endpoint reading its page and filter parameters).
Every request is recorded (method, path, query, lowercase headers) so tests can assert what
was sent, and where.

    with FakeProviderServer(auth=("x-api-key", "sk-test")) as server:
        server.routes["/v1/runs/tsk_1"] = {"run_id": "tsk_1", "status": "completed"}
        runnorm.get("skyvern", "tsk_1", base_url=server.url, api_key="sk-test")
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import attrs

__all__ = [
    "FakeProviderServer",
    "Loopback",
    "LoopbackHTTPServer",
    "RecordedRequest",
    "Reply",
    "read_request",
    "send_reply",
]


class LoopbackHTTPServer(ThreadingHTTPServer):
    """The threaded server behind the fakes (this one and ``runnorm._fakemcp``)."""

    # The default backlog of 5 drops concurrent connects (each costing a 1 s SYN retry).
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer is normal in tests (timeouts, size caps)."""


@attrs.frozen
class Reply:
    """One scripted answer. ``body`` may be a JSON value or raw bytes.

    ``chunked=True`` sends the body without a ``Content-Length`` (to test streaming caps);
    ``delay`` waits before answering.
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0
    chunked: bool = False


@attrs.frozen
class RecordedRequest:
    """What the server received."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    received_at: float = 0.0
    """``time.monotonic()`` when the request arrived."""


class FakeProviderServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with an ephemeral port."""

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        auth_failure: Reply | None = None,
        delay: float = 0.0,
    ) -> None:
        self.routes: dict[str, Any] = {}
        self.handlers: dict[str, Callable[[RecordedRequest], Reply | Any]] = {}
        """Path -> a function of the request answering a ``Reply`` (or a JSON value, sent
        with 200): consulted after the scripts and the credential check, before ``routes``.
        Called on the server's threads."""
        self.scripts: dict[str, deque[Reply]] = {}
        self.requests: list[RecordedRequest] = []
        self.auth = auth
        self.auth_failure = auth_failure or Reply(403, {"detail": "Invalid credentials"})
        self.delay = delay
        self._lock = threading.Lock()
        self._loopback = Loopback(self._answer)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self._loopback.origin

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests for *path* with *replies*, in order, then the route."""
        with self._lock:
            self.scripts.setdefault(path, deque()).extend(replies)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests for *path*."""
        return [request for request in self.requests if request.path == path]

    def close(self) -> None:
        """Stop serving and release the port."""
        self._loopback.close()

    def __enter__(self) -> FakeProviderServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self.scripts.get(request.path)
            if queue:
                return queue.popleft()
        if self.auth is not None:
            name, value = self.auth
            if request.headers.get(name.lower()) != value:
                return self.auth_failure
        handler = self.handlers.get(request.path)
        if handler is not None:
            answer = handler(request)
            return answer if isinstance(answer, Reply) else Reply(200, answer, delay=self.delay)
        if request.path in self.routes:
            return Reply(200, self.routes[request.path], delay=self.delay)
        return Reply(404, {"detail": f"Not found: {request.path}"}, delay=self.delay)


class Loopback:
    """A :class:`LoopbackHTTPServer` on 127.0.0.1 (ephemeral port) in a daemon thread, each
    request recorded and answered by *answer* (called on the server's threads)."""

    def __init__(self, answer: Callable[[RecordedRequest], Reply]) -> None:
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), _handler_class(answer))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler_class(answer: Callable[[RecordedRequest], Reply]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One buffered write per response, flushed by the base class, and no Nagle delay:
        # headers and body in separate small packets meet delayed ACKs (40 ms stalls).
        wbufsize = -1
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _handle(self) -> None:
            send_reply(self, answer(read_request(self)))

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    return Handler


def read_request(handler: BaseHTTPRequestHandler) -> RecordedRequest:
    """The request *handler* is serving, body read (by its ``Content-Length``)."""
    length = int(handler.headers.get("content-length") or 0)
    body = handler.rfile.read(length) if length else b""
    parts = urlsplit(handler.path)
    return RecordedRequest(
        method=handler.command,
        path=parts.path,
        query=parts.query,
        headers={k.lower(): v for k, v in handler.headers.items()},
        body=body,
        received_at=time.monotonic(),
    )


def send_reply(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    """Write *reply* (after its delay), chunked when it asks to be."""
    if reply.delay:
        time.sleep(reply.delay)
    if isinstance(reply.body, bytes):
        payload = reply.body
    elif reply.body is None:
        payload = b""
    else:
        payload = json.dumps(reply.body).encode()
    handler.send_response(reply.status)
    headers = {k.lower(): v for k, v in reply.headers.items()}
    if payload and "content-type" not in headers:
        handler.send_header("content-type", "application/json")
    for name, value in headers.items():
        handler.send_header(name, value)
    try:
        if reply.chunked:
            handler.send_header("transfer-encoding", "chunked")
            handler.end_headers()
            step = 64 * 1024
            for start in range(0, len(payload), step):
                chunk = payload[start : start + step]
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.write(b"0\r\n\r\n")
        else:
            handler.send_header("content-length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True

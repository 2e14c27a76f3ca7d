"""A raw-socket HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose.

Each test gives a *handler*, called once per request with an :class:`Exchange`: the parsed
request (its raw request line is logged in ``server.requests``) and the socket to write
anything at all to, at any pace. The handler returns True to keep the connection for the
next request. ``close()`` ends every connection, so streams a handler keeps open end too.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import attrs

__all__ = [
    "Exchange",
    "HostileServer",
    "Received",
    "bomb",
    "drip_forever",
    "http_response",
    "mcp_handler",
    "run_result",
    "sse_event",
    "sse_head",
    "wait_until",
]


@attrs.frozen
class Received:
    """One request as it came: the raw request line, headers (lowercase names), body."""

    line: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@attrs.define
class Exchange:
    """What a handler works with."""

    request: Received
    sock: socket.socket
    index: int
    stop: threading.Event

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def drip(self, data: bytes, interval: float, size: int = 1) -> None:
        """Send *data* a few bytes at a time, until done or the server closes."""
        for start in range(0, len(data), size):
            if self.stop.wait(interval):
                return
            self.sock.sendall(data[start : start + size])

    def hold(self, seconds: float = 30.0) -> None:
        """Keep the connection open (until the server closes)."""
        self.stop.wait(seconds)


Handler = Callable[[Exchange], bool | None]


def http_response(
    status: int = 200,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    length: bool = True,
    raw_headers: bytes = b"",
) -> bytes:
    """A response head (and body); ``length=False`` leaves ``Content-Length`` out."""
    lines = [f"HTTP/1.1 {status} X"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if length:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n").encode("latin-1") + raw_headers + b"\r\n"
    return head + body


def sse_event(message: Any) -> bytes:
    return b"event: message\r\ndata: " + json.dumps(message).encode() + b"\r\n\r\n"


def bomb(encoding: str, size: int = 64 * 1024 * 1024) -> bytes:
    """*size* zero bytes compressed with *encoding* (``gzip``, ``deflate``, ``gzip, gzip``)."""
    gzipped = encoding.rsplit(",", maxsplit=1)[-1].strip() in ("gzip", "x-gzip")
    data = _zeros_gzip(size) if gzipped else _zeros_zlib(size)
    if encoding.replace(" ", "") == "gzip,gzip":
        data = gzip.compress(data, 9)
    return data


def _zeros_zlib(size: int, wbits: int = zlib.MAX_WBITS) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b"\0" * (1024 * 1024)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + compressor.flush()


def _zeros_gzip(size: int) -> bytes:
    return _zeros_zlib(size, zlib.MAX_WBITS | 16)


class HostileServer:
    """``with HostileServer(handler) as server: ... server.url ...``"""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Received] = []
        self.stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(1.0)
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() on Linux
        self._thread.join(5)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._listener.close()

    def lines(self) -> list[str]:
        return [received.line for received in self.requests]

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._connections.append(conn)
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        reader = _Reader(conn)
        try:
            while not self.stop.is_set():
                received = reader.request()
                if received is None:
                    return
                with self._lock:
                    self.requests.append(received)
                    index = len(self.requests) - 1
                keep = self.handler(Exchange(received, conn, index, self.stop))
                if not keep:
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


class _Reader:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.conn.recv(65536)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def request(self) -> Received | None:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                return None
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        line, *rest = head.decode("latin-1").split("\r\n")
        headers = {}
        for item in rest:
            name, _, value = item.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(self.buffer) < length:
            if not self._fill():
                return None
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Received(line, headers, body)


ToolReply = Callable[[Exchange, int], bool | None]


def mcp_handler(tool_reply: ToolReply, *, session: str = "s-1") -> Handler:
    """An MCP endpoint: ``initialize`` (JSON, with a session id), the notification (202),
    then *tool_reply(exchange, message_id)* for each ``tools/call``; DELETE answers 200."""

    def handle(exchange: Exchange) -> bool | None:
        request = exchange.request
        if request.line.startswith("DELETE"):
            exchange.send(http_response(200))
            return True
        message = request.json
        if message.get("method") == "initialize":
            result = {
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "hostile", "version": "1"},
            }
            body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result})
            exchange.send(
                http_response(
                    200,
                    body.encode(),
                    {"Content-Type": "application/json", "Mcp-Session-Id": session},
                )
            )
            return True
        if "id" not in message:
            exchange.send(http_response(202))
            return True
        return tool_reply(exchange, message["id"])

    return handle


def run_result(run: dict[str, Any], message_id: int) -> dict[str, Any]:
    """A JSON-RPC response carrying *run* as a tool result (text and structured content)."""
    return {
        "jsonrpc": "2.0",
        "id": message_id,
        "result": {
            "content": [{"type": "text", "text": json.dumps(run)}],
            "structuredContent": run,
            "isError": False,
        },
    }


def sse_head() -> bytes:
    """Headers of an SSE reply with no length: the body runs until the connection closes."""
    return http_response(200, headers={"Content-Type": "text/event-stream"}, length=False)


def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def drip_forever(exchange: Exchange, data: Iterator[bytes], interval: float) -> None:
    for piece in data:
        if exchange.stop.wait(interval):
            return
        exchange.send(piece)

"""A minimal asyncio HTTP/1.1 keep-alive server for benchmarks (run in its own process).

The test suite's ``FakeProviderServer`` is thread-per-connection ``http.server``, which tops
out at a few hundred requests a second here: fine for tests, but it would make a
concurrency benchmark measure the server. This one answers GETs of known paths with
pre-encoded bodies after an optional delay, and checks one credential header.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from multiprocessing.connection import Connection


def serve(
    conn: Connection, routes: Mapping[str, bytes], delay: float, auth: tuple[str, str]
) -> None:
    """Serve *routes* on 127.0.0.1 until the parent sends anything on *conn*."""
    header, value = auth[0].lower().encode(), auth[1].encode()

    def response(status: str, body: bytes) -> bytes:
        head = (
            f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    prepared = {path.encode(): response("200 OK", body) for path, body in routes.items()}
    missing = response("404 Not Found", b'{"detail": "Task run not found"}')
    forbidden = response("403 Forbidden", b'{"detail": "Invalid credentials"}')

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                path = lines[0].split(b" ")[1]
                headers = {}
                for line in lines[1:]:
                    name, _, val = line.partition(b":")
                    headers[name.strip().lower()] = val.strip()
                if delay:
                    await asyncio.sleep(delay)
                if headers.get(header) != value:
                    writer.write(forbidden)
                else:
                    writer.write(prepared.get(path, missing))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
        port = server.sockets[0].getsockname()[1]
        conn.send(f"http://127.0.0.1:{port}")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)
        server.close()

    asyncio.run(main())

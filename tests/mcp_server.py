"""A loopback Bridge Town MCP server for tests, built on the official MCP Python SDK (``mcp`` 2.x).

It speaks MCP Streamable HTTP at ``/mcp`` on ``127.0.0.1`` (ephemeral port), served by uvicorn in a
background thread, with stateful sessions (``Mcp-Session-Id`` issued on ``initialize``). A bearer
token middleware sits in front of the MCP app and every HTTP request is recorded in ``requests``.

Tool ``get_run(run_id)``:

* a known id (or a unique UUID prefix of one) -> the run dict, as ``structuredContent`` plus a
  text content item holding the same JSON;
* ``text-<id>`` -> the same lookup, but only the text content item (no ``structuredContent``);
* ``boom`` -> tool error ``sandbox_unavailable``; anything else -> tool error ``not_found``
  (``isError: true`` with a JSON ``{error, message, hint}`` text item).

Tool ``cancel_run(run_id)``: an unknown id -> tool error ``not_found``; a run already finished
-> tool error ``run_finished``; else the run becomes ``cancelled`` and is returned.

Tool ``get_run_output(run_id, output_name, encoding="auto")``: one output of a run as the file
bytes ``json.dumps(value, indent=2)`` (or the text itself for a string output):
``{"content", "encoding", "size_bytes"}``, base64 when asked for it; an unknown run or output
-> tool error ``not_found``.

Tool ``list_runs(project_name, limit=10, status="")``: the project's runs (those whose
``project_name`` matches), newest first by ``created_at``, at most ``min(limit, 50)``, as list
items (``run_id``, ``run_number``, ``status``, ``commit_sha``, ``started_at``, ``finished_at``,
``created_at``) in ``{project_name, runs, total_returned}``.

``queue_statuses(run_id, payloads)`` makes successive ``get_run`` calls for ``run_id`` answer the
payloads in order (the last one repeats). ``expire_sessions()`` makes the SDK forget every session,
so a request that carries an old ``Mcp-Session-Id`` gets HTTP 404.

Each entry of ``requests`` is a dict: ``method`` and ``path`` (HTTP), ``headers`` (lowercased
names), ``body`` (the parsed JSON body of a POST, else None), ``jsonrpc_method`` (the body's
JSON-RPC ``method``; None for responses, batches, unparseable bodies and non-POSTs), then, once the
response starts, ``status`` and ``content_type``.

Like any mcp 2.x server it also answers the stateless ``2026-07-28`` per-request envelope (what an
mcp 2.x ``Client`` in ``mode="auto"`` tries first); ``handshake_only=True`` refuses that with a 400,
as a pre-2026 server does, so such a client falls back to ``initialize``.

Usage::

    with running_bridgetown_server({run["run_id"]: run}) as server:
        ...  # server.url, server.token, server.requests
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "MCP_PATH",
    "SAMPLES_DIR",
    "BridgeTownServer",
    "load_get_run_samples",
    "running_bridgetown_server",
    "start_bridgetown_server",
]

MCP_PATH = "/mcp"
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "plugins" / "runnorm_bridgetown" / "samples"
UNAUTHORIZED_BODY = {"error": "unauthorized", "message": "Invalid or missing API token"}
_UUID_PREFIX = re.compile(r"^[0-9a-fA-F-]+$")
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def load_get_run_samples() -> dict[str, dict[str, Any]]:
    """The ``get-run-*.json`` samples keyed by their ``run_id`` (fresh copies on every call)."""
    runs: dict[str, dict[str, Any]] = {}
    for path in sorted(SAMPLES_DIR.glob("get-run-*.json")):
        payload = json.loads(path.read_text())
        runs[payload["run_id"]] = payload
    return runs


def _dump(payload: Any) -> str:
    # The same text shape a Python MCP server produces for a dict result (2-space indent).
    return json.dumps(payload, indent=2, ensure_ascii=False)


def _tool_error(error: str, message: str, hint: str) -> CallToolResult:
    body = {"error": error, "message": message, "hint": hint}
    return CallToolResult(content=[TextContent(type="text", text=_dump(body))], is_error=True)


class _Uvicorn(uvicorn.Server):
    """A uvicorn server whose main loop wakes up as soon as ``request_exit()`` is called.

    (The stock loop polls ``should_exit`` every 0.1 s, which adds up over many short tests.)
    """

    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    def request_exit(self) -> None:
        self.should_exit = True
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._wake.set)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the already-read ``body`` once, then defers to ``receive``."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _Gateway:
    """ASGI middleware in front of the MCP app: records each request, then checks the token."""

    def __init__(self, app: ASGIApp, owner: BridgeTownServer) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: let the MCP app start its session manager
            await self.app(scope, receive, send)
            return

        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "headers": headers,
            "jsonrpc_method": None,
            "body": None,
            "status": None,
            "content_type": None,
        }
        self.owner.requests.append(entry)

        if scope["method"] == "POST":
            # Read the whole body to note the JSON-RPC method, then replay it to the inner app.
            chunks: list[bytes] = []
            more_body = True
            while more_body:
                message = await receive()
                if message["type"] != "http.request":
                    return  # client went away before sending the body
                chunks.append(message.get("body", b""))
                more_body = message.get("more_body", False)
            body = b"".join(chunks)
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
                entry["body"] = parsed
                if isinstance(parsed, dict) and isinstance(parsed.get("method"), str):
                    entry["jsonrpc_method"] = parsed["method"]
            receive = _replaying(body, receive)

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        entry["content_type"] = value.decode("latin-1")
            await send(message)

        if headers.get("authorization") != f"Bearer {self.owner.token}":
            await JSONResponse(UNAUTHORIZED_BODY, status_code=401)(scope, receive, recording_send)
            return
        version = headers.get("mcp-protocol-version")
        if (
            self.owner.handshake_only
            and version is not None
            and version not in HANDSHAKE_PROTOCOL_VERSIONS
        ):
            # What a pre-2026 (mcp 1.x) server says to a 2026-07-28 per-request envelope.
            supported = ", ".join(HANDSHAKE_PROTOCOL_VERSIONS)
            error = {
                "code": -32600,
                "message": f"Bad Request: Unsupported protocol version: {version}. "
                f"Supported versions: {supported}",
            }
            body = {"jsonrpc": "2.0", "id": None, "error": error}
            await JSONResponse(body, status_code=400)(scope, receive, recording_send)
            return
        await self.app(scope, receive, recording_send)


class BridgeTownServer:
    """A running loopback Bridge Town MCP server (see the module docstring)."""

    url: str
    token: str
    runs: dict[str, dict[str, Any]]
    requests: list[dict[str, Any]]

    def __init__(
        self,
        runs: dict[str, dict[str, Any]],
        *,
        token: str,
        json_response: bool,
        handshake_only: bool = False,
    ) -> None:
        self.token = token
        self.runs = runs
        self.requests = []
        self.json_response = json_response
        self.handshake_only = handshake_only
        self._queues: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._mcp = self._build_mcp()
        app = self._mcp.streamable_http_app(
            streamable_http_path=MCP_PATH, json_response=json_response, stateless_http=False
        )
        # IPPROTO_TCP explicitly: asyncio only turns on TCP_NODELAY for accepted sockets whose
        # proto says TCP, and without it every reply on a kept-alive connection waits ~40 ms
        # (Nagle against delayed ACKs).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{MCP_PATH}"
        config = uvicorn.Config(
            _Gateway(app, self),
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._uvicorn = _Uvicorn(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(
            target=self._serve, name=f"bridgetown-mcp-{port}", daemon=True
        )
        self._stopped = False

    # -- MCP server ---------------------------------------------------------------------------

    def _build_mcp(self) -> MCPServer:
        # MCPServer() calls logging.basicConfig(); keep the root logger exactly as it was.
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        try:
            mcp = MCPServer("bridgetown", version="0.0.0-test", log_level="WARNING")
        finally:
            root.setLevel(level)
            root.handlers[:] = handlers

        @mcp.tool(description="Get the status, output and metadata of a Bridge Town run.")
        def get_run(run_id: str) -> CallToolResult:
            return self._get_run(run_id)

        @mcp.tool(description="List recent runs of a project.")
        def list_runs(project_name: str, limit: int = 10, status: str = "") -> dict[str, Any]:
            return self._list_runs(project_name, limit, status)

        @mcp.tool(description="Cancel a pending or running Bridge Town run.")
        def cancel_run(run_id: str) -> CallToolResult:
            return self._cancel_run(run_id)

        @mcp.tool(description="Read one output file of a run.")
        def get_run_output(run_id: str, output_name: str, encoding: str = "auto") -> CallToolResult:
            return self._get_run_output(run_id, output_name, encoding)

        return mcp

    def _resolve(self, run_id: str) -> str | list[str] | None:
        """The known run id ``run_id`` names (exactly or as a unique UUID prefix), else None.

        A prefix shared by several runs resolves to the list of them.
        """
        with self._lock:
            queued = list(self._queues)
        known = [*queued, *(key for key in list(self.runs) if key not in queued)]
        if run_id in known:
            return run_id
        if not _UUID_PREFIX.match(run_id):
            return None
        matches = [key for key in known if key.lower().startswith(run_id.lower())]
        if len(matches) == 1:
            return matches[0]
        return matches or None

    def _payload(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            queue = self._queues.get(run_id)
            if queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        return self.runs.get(run_id)

    def _get_run(self, run_id: str) -> CallToolResult:
        if run_id == "boom":
            return _tool_error(
                "sandbox_unavailable", "Sandbox pool exhausted", "Retry in a minute."
            )
        text_only = run_id.startswith("text-")
        resolved = self._resolve(run_id.removeprefix("text-") if text_only else run_id)
        if isinstance(resolved, list):
            return _tool_error(
                "ambiguous_run_id",
                f"Run id prefix {run_id} matches {len(resolved)} runs",
                "Use a longer prefix or the full run_id.",
            )
        payload = None if resolved is None else self._payload(resolved)
        if payload is None:
            return _tool_error(
                "not_found", f"Run {run_id} not found", "Use list_runs to see recent runs."
            )
        content = [TextContent(type="text", text=_dump(payload))]
        if text_only:
            return CallToolResult(content=content)
        return CallToolResult(content=content, structured_content=payload)

    def _cancel_run(self, run_id: str) -> CallToolResult:
        resolved = self._resolve(run_id)
        payload = None if not isinstance(resolved, str) else self.runs.get(resolved)
        if payload is None or not isinstance(resolved, str):
            return _tool_error("not_found", f"Run {run_id} not found", "Use list_runs.")
        if payload.get("status") not in ("pending", "running"):
            return _tool_error(
                "run_finished", f"Run {run_id} is {payload.get('status')}", "Nothing to cancel."
            )
        cancelled = {**payload, "status": "cancelled"}
        with self._lock:
            self.runs[resolved] = cancelled
        return CallToolResult(
            content=[TextContent(type="text", text=_dump(cancelled))],
            structured_content=cancelled,
        )

    def _get_run_output(self, run_id: str, output_name: str, encoding: str) -> CallToolResult:
        resolved = self._resolve(run_id)
        payload = None if not isinstance(resolved, str) else self.runs.get(resolved)
        outputs = ((payload or {}).get("output") or {}).get("outputs") or {}
        if output_name not in outputs:
            return _tool_error("not_found", f"No output {output_name} in run {run_id}", "")
        value = outputs[output_name]
        data = (value if isinstance(value, str) else json.dumps(value, indent=2)).encode()
        if encoding == "base64":
            body = {"content": base64.b64encode(data).decode(), "encoding": "base64"}
        else:
            body = {"content": data.decode(), "encoding": "text"}
        body["size_bytes"] = len(data)
        return CallToolResult(
            content=[TextContent(type="text", text=_dump(body))], structured_content=body
        )

    def _list_runs(self, project_name: str, limit: int, status: str) -> dict[str, Any]:
        """Newest first (by ``created_at``; runs without one last), at most 50, as Bridge
        Town's tool answers."""
        keys = ("run_id", "run_number", "status", "commit_sha", "started_at", "finished_at")
        with self._lock:
            candidates = list(self.runs.values())
        chosen = [
            run
            for run in candidates
            if run.get("project_name") == project_name
            and (not status or run.get("status") == status)
        ]
        chosen.sort(key=lambda run: run.get("created_at") or "", reverse=True)
        runs = [
            {key: run.get(key) for key in (*keys, "created_at")}
            for run in chosen[: max(1, min(limit, 50))]
        ]
        return {"project_name": project_name, "runs": runs, "total_returned": len(runs)}

    # -- test controls ------------------------------------------------------------------------

    def queue_statuses(self, run_id: str, payloads: list[dict[str, Any]]) -> None:
        """Make successive ``get_run`` calls for ``run_id`` answer ``payloads`` in order.

        The last payload repeats. A queued id is known to ``get_run`` even if it is not in ``runs``.
        """
        if not payloads:
            raise ValueError("queue_statuses needs at least one payload")
        with self._lock:
            self._queues[run_id] = [dict(payload) for payload in payloads]

    def reset(self, runs: dict[str, dict[str, Any]] | None = None) -> None:
        """Forget recorded requests, queued statuses and sessions; optionally swap ``runs``.

        For a server shared between tests (e.g. by a module-scoped fixture).
        """
        self.expire_sessions()
        with self._lock:
            self._queues.clear()
            if runs is not None:
                self.runs = runs
        self.requests.clear()

    def expire_sessions(self) -> None:
        """Forget every MCP session: a request carrying an old ``Mcp-Session-Id`` then gets 404."""
        self._call_in_loop(self._discard_sessions())

    @property
    def session_ids(self) -> list[str]:
        """The ids of the MCP sessions the server currently knows."""
        return list(self._mcp.session_manager._server_instances)

    async def _discard_sessions(self) -> None:
        manager = self._mcp.session_manager
        for session_id, transport in list(manager._server_instances.items()):
            await manager._discard_session(session_id, transport)

    def _call_in_loop(self, coro: Any) -> Any:
        loop = self._loop
        if loop is None or self._stopped:
            coro.close()
            return None
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=_STOP_TIMEOUT)

    # -- lifecycle ----------------------------------------------------------------------------

    def _serve(self) -> None:
        # asyncio.run() cancels what is left on the loop at the end (sse-starlette's per-loop
        # shutdown watcher never finishes by itself off the main thread).
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._uvicorn.serve(sockets=[self._sock])

    def start(self) -> BridgeTownServer:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._uvicorn.should_exit = True
                self._thread.join(_STOP_TIMEOUT)
                self._sock.close()
                raise RuntimeError("Bridge Town test MCP server failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Shut the server down (ending open sessions and streams first) and join its thread."""
        if self._stopped:
            return
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self.expire_sessions()  # ends open SSE streams, so shutdown does not wait on them
            self._stopped = True
            self._uvicorn.request_exit()
            self._thread.join(_STOP_TIMEOUT)
            if self._thread.is_alive():
                self._uvicorn.force_exit = True
                self._thread.join(_STOP_TIMEOUT)
        self._stopped = True
        self._sock.close()

    def __enter__(self) -> BridgeTownServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<BridgeTownServer {self.url} json_response={self.json_response}>"


def start_bridgetown_server(
    runs: dict[str, dict[str, Any]] | None = None,
    *,
    token: str = "btk_test_token",
    json_response: bool = False,
    handshake_only: bool = False,
) -> BridgeTownServer:
    """Start a server and return once it accepts connections.

    ``runs`` is used as is (not copied), so the caller may mutate it between calls; None means the
    ``get-run-*.json`` samples keyed by ``run_id``. ``json_response`` answers requests with
    ``application/json`` instead of SSE. ``handshake_only`` refuses (HTTP 400, as an mcp 1.x server
    does) any request whose ``MCP-Protocol-Version`` is not an initialize-handshake version, such
    as the ``2026-07-28`` stateless envelope that mcp 2.x clients try first in ``mode="auto"``.
    """
    if runs is None:
        runs = load_get_run_samples()
    server = BridgeTownServer(
        runs, token=token, json_response=json_response, handshake_only=handshake_only
    )
    return server.start()


@contextlib.contextmanager
def running_bridgetown_server(**kwargs: Any) -> Iterator[BridgeTownServer]:
    """``start_bridgetown_server(**kwargs)`` as a context manager that stops the server on exit."""
    server = start_bridgetown_server(**kwargs)
    try:
        yield server
    finally:
        server.stop()

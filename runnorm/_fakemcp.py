"""A loopback MCP server that plays an MCP provider in tests (``runnorm.testing`` exports it).

It speaks the parts of MCP's Streamable HTTP transport (protocol revisions 2024-11-05 to
2025-11-25) that fetching a run uses, the way servers built with the official SDK answer
them, without depending on that SDK:

- ``POST`` one JSON-RPC message to :attr:`FakeMcpServer.url` (``/mcp``). ``initialize``
  negotiates the protocol version (the client's when it is supported, else the latest) and
  issues an ``Mcp-Session-Id`` header; every later request must carry it (400 without it,
  404 once the session has ended). A notification or a client's response is answered
  ``202 Accepted`` with no body. Requests: ``ping``, ``tools/list``, ``tools/call``; any
  other method is a JSON-RPC ``-32601`` error.
- Replies are ``application/json``, or one SSE ``message`` event with ``sse=True``.
- ``DELETE`` with the session id ends the session; ``GET`` (a server-initiated stream) is
  ``405``.
- With ``auth=(header, value)`` every request must carry that header value exactly, else
  ``401`` with ``{"error": "unauthorized", ...}``.
- A wrong ``Content-Type`` is 415, an ``Accept`` that does not list both JSON and SSE is 406,
  an unsupported ``MCP-Protocol-Version`` header 400, a body that is not JSON 400 (``-32700``).

Tools live in :attr:`FakeMcpServer.tools`, by name, each one of:

- a mapping: the call's single argument's value is looked up in it (``{run_id: payload}``);
  a missing key answers a :class:`ToolFailure` with the server's ``not_found`` code;
- a callable taking the call's ``arguments`` and returning the result.

``tools/list`` lists every tool with its :attr:`FakeMcpServer.schemas` entry as
``inputSchema`` (default ``{"type": "object"}``). :meth:`FakeMcpServer.script_tool` makes the
next calls of one tool answer scripted HTTP replies (a 500, a 503 with ``Retry-After``)
instead of running it.

A result (or mapping value) that is a :class:`ToolFailure` is an ``isError`` result whose
structured content is ``{error, message, hint}``; any other JSON value is the result's
``structuredContent`` (a non-object wrapped as ``{"result": value}``, as the SDK does),
with the same JSON as a text content item. A handler that raises answers an ``isError``
result naming the exception, as the SDK does. Every request is recorded.

    with FakeMcpServer(auth=("Authorization", "Bearer btk_test")) as server:
        server.tools["get_run"] = {run_id: payload}
        runnorm.get("bridgetown", run_id, base_url=server.url, api_key="btk_test")
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Self, TypeAlias

import attrs

from runnorm._fakeserver import Loopback, RecordedRequest, Reply

__all__ = ["PROTOCOL_VERSIONS", "FakeMcpServer", "Tool", "ToolFailure"]

PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""The protocol revisions the stand-in negotiates, oldest first (the last is its latest)."""

Tool: TypeAlias = Mapping[str, Any] | Callable[[Mapping[str, Any]], Any]
"""A tool: a mapping looked up by the call's one argument, or a handler of its arguments."""

_UNAUTHORIZED = {"error": "unauthorized", "message": "Invalid or missing API token"}


@attrs.frozen
class ToolFailure:
    """A tool's error answer: an ``isError`` result with ``{error, message, hint}``."""

    error: str
    message: str = ""
    hint: str = ""

    def body(self) -> dict[str, str]:
        """The structured content: ``{"error", "message", "hint"}``."""
        return {"error": self.error, "message": self.message, "hint": self.hint}


def _rpc_error(message_id: Any, code: int, text: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": text}}


def _text(value: Any) -> str:
    # The text shape a Python MCP server gives a dict result (2-space indent, UTF-8 as is).
    return json.dumps(value, indent=2, ensure_ascii=False)


def _tool_result(value: Any, *, structured: bool) -> dict[str, Any]:
    if isinstance(value, ToolFailure):
        body: Any = value.body()
        result: dict[str, Any] = {"content": [{"type": "text", "text": _text(body)}]}
        if structured:
            result["structuredContent"] = body
        result["isError"] = True
        return result
    result = {"content": [{"type": "text", "text": _text(value)}]}
    if structured:
        result["structuredContent"] = value if isinstance(value, Mapping) else {"result": value}
    result["isError"] = False
    return result


class FakeMcpServer:
    """A threaded HTTP/1.1 MCP server on 127.0.0.1 with an ephemeral port (see the module).

    ``auth``: the ``(header, value)`` every request must carry. ``sse``: reply to requests
    with an SSE stream instead of JSON. ``structured=False``: results carry text content
    only (no ``structuredContent``). ``not_found``: the ``error`` code of the failure a
    mapping tool answers for a missing key. ``path``: where the endpoint is served.
    """

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        sse: bool = False,
        structured: bool = True,
        not_found: str = "not_found",
        path: str = "/mcp",
        name: str = "runnorm-fake-mcp",
    ) -> None:
        self.tools: dict[str, Tool] = {}
        self.descriptions: dict[str, str] = {}
        """Optional tool descriptions for ``tools/list``, by tool name."""
        self.schemas: dict[str, Mapping[str, Any]] = {}
        """Optional ``inputSchema`` for ``tools/list``, by tool name."""
        self.requests: list[RecordedRequest] = []
        self.sessions: dict[str, str] = {}
        """Live sessions: id -> negotiated protocol version."""
        self.auth = auth
        self.sse = sse
        self.structured = structured
        self.not_found = not_found
        self.path = path
        self.name = name
        self._scripted: deque[Reply] = deque()
        self._tool_scripts: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._loopback = Loopback(self._answer)

    @property
    def url(self) -> str:
        """The endpoint: ``http://127.0.0.1:<port>/mcp``."""
        return self._loopback.origin + self.path

    # -- test controls ------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Answer the next requests (after recording them) with *replies*, in order."""
        with self._lock:
            self._scripted.extend(replies)

    def script_tool(self, name: str, *replies: Reply) -> None:
        """Answer the next ``tools/call`` requests of tool *name* (within a valid session)
        with *replies*, in order, as HTTP replies, instead of calling it."""
        with self._lock:
            self._tool_scripts.setdefault(name, deque()).extend(replies)

    def expire_sessions(self) -> None:
        """Forget every session: a request carrying an old ``Mcp-Session-Id`` then gets 404."""
        with self._lock:
            self.sessions.clear()

    def messages(self) -> list[Any]:
        """The JSON-RPC message of each recorded ``POST`` (None for a body that is not JSON)."""
        out = []
        for request in self.requests:
            if request.method == "POST":
                try:
                    out.append(json.loads(request.body))
                except ValueError:
                    out.append(None)
        return out

    def rpc_methods(self) -> list[str | None]:
        """The JSON-RPC ``method`` of each recorded ``POST`` (None for responses and junk)."""
        return [
            m.get("method") if isinstance(m, dict) and isinstance(m.get("method"), str) else None
            for m in self.messages()
        ]

    def tool_calls(self, name: str | None = None) -> list[Mapping[str, Any]]:
        """The ``arguments`` of each ``tools/call`` received (of tool *name*, if given)."""
        found: list[Mapping[str, Any]] = []
        for message in self.messages():
            if not isinstance(message, dict) or message.get("method") != "tools/call":
                continue
            params = message.get("params")
            if isinstance(params, dict) and (name is None or params.get("name") == name):
                arguments = params.get("arguments")
                found.append(arguments if isinstance(arguments, dict) else {})
        return found

    def close(self) -> None:
        """Stop serving and release the port."""
        self._loopback.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------------------------

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._scripted:
                return self._scripted.popleft()
        if request.path != self.path:
            return Reply(404, {"detail": f"Not found: {request.path}"})
        if self.auth is not None:
            header, value = self.auth
            if request.headers.get(header.lower()) != value:
                return Reply(401, _UNAUTHORIZED)
        if request.method == "DELETE":
            return self._end_session(request)
        if request.method != "POST":
            return Reply(405, {"detail": "Method Not Allowed"}, headers={"allow": "POST, DELETE"})
        return self._post(request)

    def _end_session(self, request: RecordedRequest) -> Reply:
        session_id = request.headers.get("mcp-session-id")
        if not session_id:
            return Reply(400, _rpc_error(None, -32600, "Bad Request: Missing session ID"))
        with self._lock:
            known = self.sessions.pop(session_id, None) is not None
        if not known:
            return Reply(404, _rpc_error(None, -32600, "Session not found"))
        return Reply(200)

    def _post(self, request: RecordedRequest) -> Reply:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            return Reply(415, _rpc_error(None, -32600, "Unsupported Media Type"))
        accept = request.headers.get("accept", "").lower()
        if "application/json" not in accept or "text/event-stream" not in accept:
            return Reply(406, _rpc_error(None, -32600, "Not Acceptable"))
        try:
            message = json.loads(request.body)
        except ValueError:
            return Reply(400, _rpc_error(None, -32700, "Parse error"))
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return Reply(400, _rpc_error(None, -32600, "Invalid Request"))
        version = request.headers.get("mcp-protocol-version")
        if version is not None and version not in PROTOCOL_VERSIONS:
            text = f"Bad Request: Unsupported protocol version: {version}"
            return Reply(400, _rpc_error(message.get("id"), -32600, text))
        if message.get("method") == "initialize" and "id" in message:
            return self._initialize(message)
        session_id = request.headers.get("mcp-session-id")
        if not session_id:
            return Reply(400, _rpc_error(None, -32600, "Bad Request: Missing session ID"))
        with self._lock:
            known = session_id in self.sessions
        if not known:
            return Reply(404, _rpc_error(None, -32600, "Session not found"))
        session = {"mcp-session-id": session_id}
        if "id" not in message or "method" not in message:  # a notification, or a response
            return Reply(202, headers=session)
        scripted = self._tool_script(message)
        if scripted is not None:
            return scripted
        return self._reply(self._request(message), session)

    def _tool_script(self, message: Mapping[str, Any]) -> Reply | None:
        params = message.get("params")
        if message.get("method") != "tools/call" or not isinstance(params, Mapping):
            return None
        with self._lock:
            queue = self._tool_scripts.get(params.get("name"))  # type: ignore[arg-type]
            return queue.popleft() if queue else None

    def _initialize(self, message: Mapping[str, Any]) -> Reply:
        params = message.get("params")
        asked = params.get("protocolVersion") if isinstance(params, dict) else None
        version = asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[-1]
        session_id = uuid.uuid4().hex
        with self._lock:
            self.sessions[session_id] = version
        result = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": self.name, "version": "0.0.0"},
        }
        reply = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        return self._reply(reply, {"mcp-session-id": session_id})

    def _request(self, message: Mapping[str, Any]) -> dict[str, Any]:
        method, message_id = message.get("method"), message.get("id")
        params = message.get("params")
        if method == "ping":
            return {"jsonrpc": "2.0", "id": message_id, "result": {}}
        if method == "tools/list":
            tools = [
                {
                    "name": name,
                    "description": self.descriptions.get(name, ""),
                    "inputSchema": dict(self.schemas.get(name, {"type": "object"})),
                }
                for name in list(self.tools)
            ]
            return {"jsonrpc": "2.0", "id": message_id, "result": {"tools": tools}}
        if method != "tools/call":
            return _rpc_error(message_id, -32601, "Method not found")
        name = params.get("name") if isinstance(params, dict) else None
        arguments = params.get("arguments", {}) if isinstance(params, dict) else None
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return _rpc_error(message_id, -32602, "Invalid params")
        value = self._call(name, arguments)
        try:
            result = _tool_result(value, structured=self.structured)
        except (TypeError, ValueError) as exc:  # the test's tool returned something not JSON
            failure = ToolFailure("internal_error", f"{name} returned no JSON value: {exc}")
            result = _tool_result(failure, structured=self.structured)
        return {"jsonrpc": "2.0", "id": message_id, "result": result}

    def _call(self, name: str, arguments: Mapping[str, Any]) -> Any:
        tool = self.tools.get(name)
        if tool is None:
            return ToolFailure("unknown_tool", f"Unknown tool: {name}")
        if isinstance(tool, Mapping):
            if len(arguments) != 1:
                return ToolFailure(
                    "invalid_arguments", f"{name} takes one argument, got {sorted(arguments)}"
                )
            (key,) = arguments.values()
            if isinstance(key, str) and key in tool:
                return tool[key]
            return ToolFailure(
                self.not_found, f"Run {key} not found", "Use list_runs to see recent runs."
            )
        try:
            return tool(arguments)
        except Exception as exc:  # a fault of the test's handler, answered as the SDK does
            return ToolFailure("internal_error", f"Error executing tool {name}: {exc!r}")

    def _reply(self, message: Mapping[str, Any], headers: Mapping[str, str]) -> Reply:
        if not self.sse:
            return Reply(200, dict(message), headers=dict(headers))
        event = f"event: message\r\ndata: {json.dumps(message)}\r\n\r\n".encode()
        stream = {**headers, "content-type": "text/event-stream", "cache-control": "no-cache"}
        return Reply(200, event, headers=stream)

"""A small MCP client (JSON-RPC over Streamable HTTP) for providers that expose runs as tools.

Why our own client and not the official ``mcp`` client: the official client is async-only
(anyio task groups and nested context managers per session), while runnorm needs the same
behaviour from sync and async code, on the caller's pooled ``httpx`` client, with runnorm's
retries, size caps, credential rules and error tree. Fetching a run needs three messages
(``initialize``, ``notifications/initialized``, ``tools/call``), so the protocol part is small
enough to own. It is written as a flow (see :mod:`runnorm._live.flows`), so both drivers share it,
and the test suite proves it against a server built with the official ``mcp`` SDK.

Handled: the ``Mcp-Session-Id`` header from ``initialize`` sent on later requests, with the
negotiated ``MCP-Protocol-Version``; replies as ``application/json`` or as an SSE stream;
results as ``structuredContent`` or as JSON text content; ``isError`` results become
``ToolError`` (or ``NotFoundError`` when the tool says the run does not exist) carrying the
tool's ``error``, ``message`` and ``hint``; JSON-RPC errors become ``APIError``; an expired
session (HTTP 404 on a request that carried a session id) re-initializes once.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from runnorm._errors import (
    APIError,
    PayloadError,
    RunnormError,
    ToolError,
    ToolNotFoundError,
    TransportError,
    shorten,
)
from runnorm._json import loads
from runnorm._live.options import CallOptions
from runnorm._live.replies import body_excerpt, error_for
from runnorm._live.retry import send_with_retries
from runnorm._live.wire import Flow, Request, Response, Sleep
from runnorm._model.run import Run
from runnorm._plugins.normalize import apply
from runnorm._plugins.provider import McpFetch
from runnorm._version import __version__

__all__ = [
    "PROTOCOL_VERSION",
    "McpState",
    "iter_sse_data",
    "mcp_call_tool",
    "mcp_close",
    "mcp_get_run",
]

PROTOCOL_VERSION = "2025-06-18"
ACCEPT = "application/json, text/event-stream"
_NOT_FOUND_WORDS = ("not_found", "run_not_found", "notfound")
_WAIT_STEP = 0.01


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


def iter_sse_data(body: bytes) -> Iterator[str]:
    """The ``data`` of each event in a ``text/event-stream`` body (multi-line data joined)."""
    data: list[str] = []
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _request(message_id: int, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-RPC 2.0 request."""
    return {"jsonrpc": "2.0", "id": message_id, "method": method, "params": params}


def _post(
    options: CallOptions,
    message: Mapping[str, Any],
    session_id: str | None = None,
    protocol_version: str | None = None,
) -> Flow[Response]:
    headers = options.request_headers(accept=ACCEPT)
    headers["content-type"] = "application/json"
    if session_id:
        headers["mcp-session-id"] = session_id
    if protocol_version:
        headers["mcp-protocol-version"] = protocol_version
    request = Request(
        method="POST",
        url=options.base_url,
        headers=headers,
        body=orjson.dumps(message),
        timeout=options.timeout,
        max_bytes=options.max_response_bytes,
        secret_headers=options.secret_headers() | {"mcp-session-id"},
    )
    return (yield from send_with_retries(options, request))


def _messages(options: CallOptions, response: Response) -> list[Any]:
    what = f"MCP endpoint {options.base_url}"
    try:
        if response.content_type == "text/event-stream":
            return [loads(data) for data in iter_sse_data(response.body) if data.strip()]
        decoded = loads(response.body)
    except ValueError as exc:
        raise PayloadError(
            f"{what} sent a reply that is not JSON: {body_excerpt(options, response.body)}",
            provider=options.provider.name,
        ) from exc
    return decoded if isinstance(decoded, list) else [decoded]


def _reply(options: CallOptions, response: Response, message_id: int) -> Mapping[str, Any]:
    for message in _messages(options, response):
        if isinstance(message, Mapping) and message.get("id") == message_id:
            return message
    raise PayloadError(
        f"MCP endpoint {options.base_url} sent no JSON-RPC response to request {message_id}",
        provider=options.provider.name,
    )


def _rpc_error(options: CallOptions, error: Any, what: str) -> APIError:
    error = options.scrub_value(error)  # masked before anything is shortened
    if isinstance(error, Mapping):
        text = f"JSON-RPC error {error.get('code')}: {error.get('message')}"
    else:
        text = f"JSON-RPC error {shorten(error)}"
    return APIError(
        options.scrub(f"{options.provider.name}: {what}: {text}"),
        provider=options.provider.name,
        body=error,
    )


def _initialize(options: CallOptions, state: McpState) -> Flow[None]:
    """The handshake; the session is published to other calls only once it is complete."""
    message_id = state.take_id()
    response = yield from _post(
        options,
        _request(
            message_id,
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "runnorm", "version": __version__},
            },
        ),
    )
    if response.status != 200:
        raise error_for(options, response, "MCP initialize")
    reply = _reply(options, response, message_id)
    if "error" in reply:
        raise _rpc_error(options, reply["error"], "MCP initialize")
    result = reply.get("result")
    version = result.get("protocolVersion") if isinstance(result, Mapping) else None
    protocol_version = version if isinstance(version, str) else PROTOCOL_VERSION
    session_id = response.headers.get("mcp-session-id") or None
    notified = yield from _post(
        options,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        session_id,
        protocol_version,
    )
    if notified.status >= 400:
        raise error_for(options, notified, "MCP notifications/initialized")
    state.ready(session_id, protocol_version)


def _ensure_session(options: CallOptions, state: McpState) -> Flow[None]:
    """Initialize once per state: one call does it, concurrent ones wait for it."""
    waited = 0.0
    while state.phase != "ready":
        if state.claim_start():
            try:
                yield from _initialize(options, state)
            except BaseException:
                state.reset()
                raise
            return
        if options.timeout is not None and waited > options.timeout:
            raise TransportError(
                f"{options.provider.name}: gave up waiting for the MCP session to start",
                provider=options.provider.name,
                kind="timeout",
            )
        yield Sleep(_WAIT_STEP)
        waited += _WAIT_STEP


def _tool_error(options: CallOptions, tool: str, result: Mapping[str, Any]) -> APIError:
    body: Any = result.get("structuredContent")
    if body is None:
        texts = [
            item.get("text", "")
            for item in result.get("content") or []
            if isinstance(item, Mapping) and item.get("type") == "text"
        ]
        text = "\n".join(t for t in texts if isinstance(t, str))
        try:
            body = loads(text)
        except ValueError:
            body = text
    fields = body if isinstance(body, Mapping) else {}
    error = fields.get("error") if isinstance(fields.get("error"), str) else None
    message = fields.get("message") if isinstance(fields.get("message"), str) else None
    hint = fields.get("hint") if isinstance(fields.get("hint"), str) else None
    if not fields:
        message = shorten(options.scrub_value(body), 300) if body else "the tool reported an error"
    summary = message or error or "the tool reported an error"
    text = options.scrub(
        f"{options.provider.name}: tool {tool!r} failed: {summary}"
        + (f" ({error})" if error and message else "")
        + (f". Hint: {hint}" if hint else "")
    )
    lowered = f"{error or ''} {message or ''}".lower()
    body = options.scrub_value(body)
    if any(word in lowered for word in _NOT_FOUND_WORDS) or "not found" in lowered:
        return ToolNotFoundError(
            text, provider=options.provider.name, error=error, hint=hint, body=body
        )
    return ToolError(text, provider=options.provider.name, error=error, hint=hint, body=body)


def _tool_value(options: CallOptions, tool: str, result: Any) -> Any:
    if not isinstance(result, Mapping):
        raise PayloadError(
            f"tool {tool!r} returned {shorten(options.scrub_value(result))}, not a tool result",
            provider=options.provider.name,
        )
    if result.get("isError"):
        raise _tool_error(options, tool, result)
    structured = result.get("structuredContent")
    if isinstance(structured, Mapping):
        inner = structured.get("result")
        if len(structured) == 1 and isinstance(inner, Mapping):
            return inner  # a server that wrapped a non-object return type
        return structured
    for item in result.get("content") or []:
        if isinstance(item, Mapping) and item.get("type") == "text":
            try:
                return loads(item.get("text") or "")
            except ValueError:
                continue
    raise PayloadError(
        f"tool {tool!r} returned no JSON content", provider=options.provider.name, value=result
    )


def mcp_call_tool(
    options: CallOptions, state: McpState, tool: str, arguments: Mapping[str, Any]
) -> Flow[Any]:
    """Call *tool* and return its JSON result (structured content, else parsed text)."""
    what = f"MCP tools/call {tool}"
    renewed = False
    while True:
        yield from _ensure_session(options, state)
        session_id = state.session_id
        message_id = state.take_id()
        response = yield from _post(
            options,
            _request(message_id, "tools/call", {"name": tool, "arguments": dict(arguments)}),
            session_id,
            state.protocol_version,
        )
        if response.status == 404 and session_id and not renewed:
            renewed = True
            with state.lock:
                lost = state.session_id == session_id and state.phase == "ready"
            if lost:
                state.reset()  # expired; whoever gets here first starts a new session
            continue
        if response.status != 200:
            raise error_for(options, response, what)
        reply = _reply(options, response, message_id)
        break
    if "error" in reply:
        raise _rpc_error(options, reply["error"], what)
    return _tool_value(options, tool, reply.get("result"))


def mcp_close(options: CallOptions, state: McpState) -> Flow[None]:
    """End the session on the server (``DELETE`` with its id); best effort, errors ignored."""
    session_id = state.session_id
    state.reset()
    if not session_id:
        return
    headers = options.request_headers(accept=ACCEPT)
    headers["mcp-session-id"] = session_id
    request = Request(
        method="DELETE",
        url=options.base_url,
        headers=headers,
        timeout=min(options.timeout or 5.0, 5.0),
        max_bytes=64 * 1024,
        secret_headers=options.secret_headers() | {"mcp-session-id"},
    )
    try:
        yield request
    except RunnormError:
        return


def mcp_get_run(options: CallOptions, fetch: McpFetch, state: McpState, run_id: str) -> Flow[Run]:
    """Fetch one run with the provider's tool and normalize it."""
    payload = yield from mcp_call_tool(options, state, fetch.tool, {fetch.argument: run_id})
    if not isinstance(payload, Mapping):
        raise PayloadError(
            f"tool {fetch.tool!r} returned {type(payload).__name__}, not a run object",
            provider=options.provider.name,
            value=payload,
        )
    return apply(options.provider, payload)

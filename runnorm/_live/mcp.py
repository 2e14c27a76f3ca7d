"""A small MCP client (JSON-RPC over Streamable HTTP) for providers that expose runs as tools.

Why our own client and not the official ``mcp`` client: the official client is async-only
(anyio task groups and nested context managers per session), while runnorm needs the same
behaviour from sync and async code, on the caller's pooled ``httpx`` client, with runnorm's
retries, size caps, credential rules and error tree. Fetching a run needs three messages
(``initialize``, ``notifications/initialized``, ``tools/call``), so the protocol part is small
enough to own. It is written as a flow (see :mod:`runnorm._live.flows`), so both drivers share it,
and the test suite proves it against a server built with the official ``mcp`` SDK.

Handled: the ``Mcp-Session-Id`` header from ``initialize`` sent on later requests, with the
negotiated ``MCP-Protocol-Version`` (both must be visible ASCII, else ``PayloadError``);
replies as ``application/json`` or as an SSE stream, read only until our response has
arrived (a stream the server keeps open ends there, or at the request's deadline); a reply
is the message with our id *and* a ``result`` or ``error`` (a server-to-client request that
reuses our id is not one); results as ``structuredContent`` or as JSON text content;
``isError`` results become ``ToolError``, or ``ToolNotFoundError`` when the tool's
structured ``error`` code is one of the provider's ``McpFetch.not_found`` codes; JSON-RPC
errors become ``APIError`` (its message shortened, its ``body`` whole; a ``result`` beside
``"error": null`` is a result).

A lost session re-initializes once per call: an HTTP 404 on a request that carried a session
id (the server did not process it), and, for a read tool (:data:`READ_TOOLS`), an SSE
stream that ended without our response. A tool that changes state is never sent twice
unless the server proves it was not processed (a 404 for the session, a refused
connection, a 429, a 503 with ``Retry-After``). A session lost twice in one call is a
``TransportError``, never a ``NotFoundError``.

``tools/list`` (:func:`mcp_list_tools`) gives the tools' schemas at run time: cancelling a
Bridge Town run reads ``cancel_run``'s arguments from it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from runnorm._errors import (
    APIError,
    PayloadError,
    RunnormError,
    ToolError,
    ToolNotFoundError,
    TransportError,
    shorten,
)
from runnorm._json import dumps, loads
from runnorm._live.options import CallOptions
from runnorm._live.replies import body_excerpt, error_for, map_run
from runnorm._live.retry import DeadlinePassed, send_with_retries
from runnorm._live.sse import SseParser, iter_sse_data
from runnorm._live.wire import Flow, Request, Response, Sleep, Watch
from runnorm._model.run import Run
from runnorm._plugins.fetching import McpFetch, fetch_target
from runnorm._version import __version__

__all__ = [
    "PROTOCOL_VERSION",
    "READ_TOOLS",
    "McpState",
    "mcp_call_tool",
    "mcp_close",
    "mcp_get_run",
    "mcp_list_tools",
]

PROTOCOL_VERSION = "2025-06-18"
ACCEPT = "application/json, text/event-stream"
READ_TOOLS = frozenset({"get_run", "list_runs", "get_run_output"})
"""Tools that only read: a call whose session was lost mid-flight is sent again, once."""
_WAIT_STEP = 0.01
MAX_TOOL_PAGES = 20
"""``tools/list`` pages read at most (a server whose cursor never ends is not followed on)."""


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


def _request(message_id: int, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-RPC 2.0 request."""
    return {"jsonrpc": "2.0", "id": message_id, "method": method, "params": params}


def _is_response(message: Any, message_id: int) -> bool:
    """A JSON-RPC response to *message_id*: its id, and a result or an error, no method."""
    if not isinstance(message, Mapping) or "method" in message:
        return False
    found = message.get("id")
    if not isinstance(found, int) or isinstance(found, bool) or found != message_id:
        return False
    return "result" in message or "error" in message


def _until_response(message_id: int | None) -> Watch:
    """Read an SSE reply only until the response to *message_id* (or, for a notification,
    nothing at all); a JSON reply is read whole."""

    def watch(status: int, headers: Mapping[str, str]) -> Callable[[bytes], bool] | None:
        if message_id is None:
            return lambda piece: True  # nothing to wait for
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if status != 200 or media != "text/event-stream":
            return None
        parser = SseParser()

        def seen_enough(piece: bytes) -> bool:
            for data in parser.feed(piece):
                if not data.strip():
                    continue
                try:
                    message = loads(data)
                except ValueError:
                    return True  # not JSON: stop here, the reply is refused below
                if _is_response(message, message_id):
                    return True
            return False

        return seen_enough

    return watch


def _post(
    options: CallOptions,
    message: Mapping[str, Any],
    session_id: str | None = None,
    protocol_version: str | None = None,
    *,
    idempotent: bool = True,
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
        body=dumps(message),
        timeout=options.timeout,
        max_bytes=options.max_response_bytes,
        secret_headers=options.secret_headers() | {"mcp-session-id"},
        guard=options.api_key,
        watch=_until_response(message.get("id") if "id" in message else None),
    )
    return (yield from send_with_retries(options, request, idempotent=idempotent))


def _messages(options: CallOptions, response: Response) -> Iterator[Any]:
    """The JSON-RPC messages of a reply, decoded one at a time (so that what an SSE stream
    held after our response, maybe cut off, is never read)."""
    what = f"MCP endpoint {options.base_url}"
    if response.content_type == "text/event-stream":
        chunks: Iterable[str | bytes] = (d for d in iter_sse_data(response.body) if d.strip())
    else:
        chunks = [response.body]
    for chunk in chunks:
        try:
            decoded = loads(chunk)
        except ValueError as exc:
            raise PayloadError(
                f"{what} sent a reply that is not JSON: "
                f"{body_excerpt(options, chunk if isinstance(chunk, bytes) else chunk.encode())}",
                provider=options.provider.name,
            ) from exc
        if isinstance(decoded, list) and response.content_type != "text/event-stream":
            yield from decoded
        else:
            yield decoded


def _find_reply(
    options: CallOptions, response: Response, message_id: int
) -> Mapping[str, Any] | None:
    for message in _messages(options, response):
        if _is_response(message, message_id):
            return message  # type: ignore[no-any-return]
    return None


def _no_reply(options: CallOptions, message_id: int, why: str = "") -> PayloadError:
    return PayloadError(
        f"MCP endpoint {options.base_url} sent no JSON-RPC response to request {message_id}" + why,
        provider=options.provider.name,
    )


def _reply(options: CallOptions, response: Response, message_id: int) -> Mapping[str, Any]:
    reply = _find_reply(options, response, message_id)
    if reply is None:
        raise _no_reply(options, message_id)
    return reply


def _visible_ascii(value: str) -> bool:
    return bool(value) and len(value) <= 1024 and all("!" <= ch <= "~" for ch in value)


def _session_header(options: CallOptions, response: Response) -> str | None:
    session_id = response.headers.get("mcp-session-id") or None
    if session_id is not None and not _visible_ascii(session_id):
        raise PayloadError(
            f"MCP endpoint {options.base_url} sent an Mcp-Session-Id that is not visible ASCII",
            provider=options.provider.name,
        )
    return session_id


def _failed(reply: Mapping[str, Any]) -> bool:
    """True when *reply* is an error: an ``error`` that is not null, or no ``result`` (a
    result beside ``"error": null``, as JSON-RPC 1.0 servers send, is a result)."""
    return reply.get("error") is not None or "result" not in reply


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else shorten(value, limit)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rpc_error(options: CallOptions, error: Any, what: str) -> APIError:
    error = options.scrub_value(error)  # masked before anything is shortened
    if isinstance(error, Mapping):
        text = f"JSON-RPC error {_short(error.get('code'), 40)}: {_short(error.get('message'))}"
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
    if _failed(reply):
        raise _rpc_error(options, reply.get("error"), "MCP initialize")
    result = reply.get("result")
    version = result.get("protocolVersion") if isinstance(result, Mapping) else None
    if version is not None and not (isinstance(version, str) and _visible_ascii(version)):
        raise PayloadError(
            f"MCP endpoint {options.base_url} answered initialize with protocolVersion "
            f"{shorten(version)}, not a version string",
            provider=options.provider.name,
        )
    protocol_version = version or PROTOCOL_VERSION
    session_id = _session_header(options, response)
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
        if options.deadline is not None and time.monotonic() >= options.deadline:
            raise DeadlinePassed
        if options.timeout is not None and waited > options.timeout:
            raise TransportError(
                f"{options.provider.name}: gave up waiting for the MCP session to start",
                provider=options.provider.name,
                kind="timeout",
            )
        yield Sleep(_WAIT_STEP)
        waited += _WAIT_STEP


def _tool_error(
    options: CallOptions, tool: str, result: Mapping[str, Any], not_found: frozenset[str]
) -> APIError:
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
    body = options.scrub_value(body)
    if error is not None and error in not_found:
        return ToolNotFoundError(
            text, provider=options.provider.name, error=error, hint=hint, body=body
        )
    return ToolError(text, provider=options.provider.name, error=error, hint=hint, body=body)


def _tool_value(options: CallOptions, tool: str, result: Any, not_found: frozenset[str]) -> Any:
    if not isinstance(result, Mapping):
        raise PayloadError(
            f"tool {tool!r} returned {shorten(options.scrub_value(result))}, not a tool result",
            provider=options.provider.name,
        )
    if result.get("isError"):
        raise _tool_error(options, tool, result, not_found)
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
    options: CallOptions,
    state: McpState,
    tool: str,
    arguments: Mapping[str, Any],
    *,
    not_found: frozenset[str] = frozenset(),
    read_only: bool | None = None,
) -> Flow[Any]:
    """Call *tool* and return its JSON result (structured content, else parsed text).

    *not_found*: the tool's ``error`` codes that mean "no such run". *read_only* (default:
    *tool* is in :data:`READ_TOOLS`): the call may be sent again after a lost session.
    """
    what = f"MCP tools/call {tool}"
    safe = tool in READ_TOOLS if read_only is None else read_only
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
            idempotent=safe,
        )
        reply = None
        if response.status == 200:
            reply = _find_reply(options, response, message_id)
            if reply is None and response.content_type != "text/event-stream":
                raise _no_reply(options, message_id)
            if reply is None and not safe:
                raise _no_reply(
                    options, message_id, f" (the stream ended; {tool} is not sent twice)"
                )
        elif response.status != 404 or not session_id:
            raise error_for(options, response, what)
        if reply is not None:
            break
        # The session is lost: 404 for its id, or the reply stream ended without a response.
        if renewed:
            raise TransportError(
                f"{options.provider.name}: {what}: the MCP session was lost again after "
                "re-initializing",
                provider=options.provider.name,
                kind="read",
            )
        renewed = True
        with state.lock:
            lost = state.session_id == session_id and state.phase == "ready"
        if lost:
            state.reset()  # whoever gets here first starts a new session
    if _failed(reply):
        raise _rpc_error(options, reply.get("error"), what)
    return _tool_value(options, tool, reply.get("result"), not_found)


def _request_once(
    options: CallOptions, state: McpState, method: str, params: Mapping[str, Any]
) -> Flow[Any]:
    """One JSON-RPC request that only reads (sent again once after a lost session): its
    ``result``."""
    what = f"MCP {method}"
    renewed = False
    while True:
        yield from _ensure_session(options, state)
        session_id = state.session_id
        message_id = state.take_id()
        response = yield from _post(
            options, _request(message_id, method, params), session_id, state.protocol_version
        )
        if response.status == 404 and session_id and not renewed:
            renewed = True
            with state.lock:
                lost = state.session_id == session_id and state.phase == "ready"
            if lost:
                state.reset()
            continue
        if response.status != 200:
            raise error_for(options, response, what)
        reply = _reply(options, response, message_id)
        if _failed(reply):
            raise _rpc_error(options, reply.get("error"), what)
        return reply.get("result")


def mcp_list_tools(options: CallOptions, state: McpState) -> Flow[list[Mapping[str, Any]]]:
    """Every tool the server lists (``tools/list``, following ``nextCursor``): each a mapping
    with at least a ``name`` string (others are left out)."""
    tools: list[Mapping[str, Any]] = []
    cursor: Any = None
    for _ in range(MAX_TOOL_PAGES):
        params = {} if cursor is None else {"cursor": cursor}
        result = yield from _request_once(options, state, "tools/list", params)
        listed = result.get("tools") if isinstance(result, Mapping) else None
        if not isinstance(listed, list):
            raise PayloadError(
                f"MCP endpoint {options.base_url} answered tools/list without a tools list",
                provider=options.provider.name,
            )
        tools += [t for t in listed if isinstance(t, Mapping) and isinstance(t.get("name"), str)]
        cursor = result.get("nextCursor")
        if not isinstance(cursor, str) or not cursor:
            break
    return tools


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
        guard=options.api_key,
    )
    try:
        yield request
    except RunnormError:
        return


def mcp_get_run(options: CallOptions, fetch: McpFetch, state: McpState, run_id: str) -> Flow[Run]:
    """Fetch one run with the tool the declaration routes it to, and normalize it. Fetching
    only reads: the call may be sent again after a lost session, whatever the tool's name."""
    tool = fetch_target(fetch, run_id, options.extras, options.provider.name)
    payload = yield from mcp_call_tool(
        options,
        state,
        tool,
        {fetch.argument: run_id},
        not_found=fetch.not_found,
        read_only=True,
    )
    if not isinstance(payload, Mapping):
        raise PayloadError(
            f"tool {tool!r} returned {type(payload).__name__}, not a run object",
            provider=options.provider.name,
            value=payload,
        )
    return map_run(options, payload)

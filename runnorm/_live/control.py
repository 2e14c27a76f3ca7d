"""Cancel and resume as flows: one implementation for REST and MCP, sync and async.

The provider's declaration (``Provider.cancel`` / ``Provider.resume``, a
:class:`~runnorm._plugins.capabilities.RestControl` or
:class:`~runnorm._plugins.capabilities.McpControl`) says where the request goes and how the
answer maps to an outcome (``accepted``, ``already_terminal``, ``not_found``, ``conflict``):

- REST: the reply's status code, through ``outcomes``; a 2xx not listed is ``accepted``, a
  code listed in ``ambiguous`` is settled by fetching the run (missing: ``not_found``;
  terminal: ``already_terminal``; else ``conflict``), any other code raises its ``APIError``.
- MCP: the tool and its argument schema come from ``tools/list`` (an absent tool is
  ``UnsupportedError``); a result is ``accepted``, a tool error's code picks the outcome.

A request that changes state is sent once unless the server proves it did not act on it
(:func:`~runnorm._live.retry.send_with_retries` with ``idempotent=False``: a connection that
never opened, 429, 503 with ``Retry-After``); never again after a timeout or another 5xx.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from runnorm._errors import (
    ConfigError,
    NotFoundError,
    PayloadError,
    RunnormError,
    ToolError,
    UnsupportedError,
    shorten,
)
from runnorm._json import dumps
from runnorm._live.flows import check_run_id, get_run_flow
from runnorm._live.mcp import McpState, mcp_call_tool, mcp_list_tools
from runnorm._live.options import CallOptions
from runnorm._live.replies import decode_json, error_detail, error_for, map_run, scrubbed
from runnorm._live.rest import path_segment
from runnorm._live.retry import send_with_retries
from runnorm._live.wire import Flow, Request, Response
from runnorm._model.control import ControlResult, Outcome
from runnorm._model.run import Run
from runnorm._plugins.capabilities import MESSAGE, McpControl, RestControl

__all__ = ["Verb", "control_flow"]

Verb = Literal["cancel", "resume"]
_DONE = {"cancel": "cancelled", "resume": "resumed"}


def control_flow(
    options: CallOptions,
    verb: Verb,
    run_id: str,
    message: str | None = None,
    mcp_state: McpState | None = None,
) -> Flow[ControlResult]:
    """Cancel or resume *run_id* as the provider declares it; no error holds the API key."""
    try:
        return (yield from _control(options, verb, check_run_id(run_id), message, mcp_state))
    except RunnormError as exc:
        raise scrubbed(options, exc) from exc.__cause__
    except RecursionError:
        raise PayloadError(
            f"the reply to {verb} run {shorten(run_id)} is nested too deep to process",
            provider=options.provider.name,
        ) from None


def declared_control(options: CallOptions, verb: Verb) -> RestControl | McpControl:
    """The provider's declaration of *verb*, or ``UnsupportedError``."""
    provider = options.provider
    declared = provider.cancel if verb == "cancel" else provider.resume
    if declared is None:
        raise UnsupportedError(
            f"provider {provider.name!r} does not support {verb} (its plugin declares no "
            f"{verb}); supported: {', '.join(sorted(provider.capabilities))}"
        )
    return declared


def _check_message(options: CallOptions, verb: Verb, mode: str, message: object) -> str | None:
    name = options.provider.name
    if message is not None and not isinstance(message, str):
        raise ConfigError(f"message must be a string or None, not {shorten(message)}")
    if mode == "none" and message is not None:
        raise ConfigError(f"{name}: {verb} takes no message")
    if mode == "required" and (message is None or not message.strip()):
        raise ConfigError(
            f"{name}: {verb} needs a message (message='...'): the reply the run waits for"
        )
    return message


def _control(
    options: CallOptions,
    verb: Verb,
    run_id: str,
    message: str | None,
    state: McpState | None,
) -> Flow[ControlResult]:
    declared = declared_control(options, verb)
    message = _check_message(options, verb, declared.message, message)
    if isinstance(declared, RestControl):
        return (
            yield from _rest(
                options, declared, verb=verb, run_id=run_id, message=message, state=state
            )
        )
    return (
        yield from _mcp(
            options, declared, verb=verb, run_id=run_id, message=message, state=state or McpState()
        )
    )


# -- REST -------------------------------------------------------------------------------------


def _filled(template: Any, message: str | None) -> Any:
    """The body template with every string value equal to ``"{message}"`` replaced; without
    a message (an optional one not given), the keys holding it are left out."""
    if template == MESSAGE:
        return message
    if isinstance(template, Mapping):
        return {
            key: _filled(value, message)
            for key, value in template.items()
            if message is not None or value != MESSAGE
        }
    if isinstance(template, list | tuple):
        return [_filled(value, message) for value in template]
    return template


def _rest(
    options: CallOptions,
    declared: RestControl,
    *,
    verb: Verb,
    run_id: str,
    message: str | None,
    state: McpState | None,
) -> Flow[ControlResult]:
    name = options.provider.name
    if declared.prefixes and not run_id.startswith(declared.prefixes):
        allowed = ", ".join(repr(p) for p in declared.prefixes)
        raise UnsupportedError(
            f"{name}: only runs whose id starts with {allowed} can be {_DONE[verb]}, "
            f"not {shorten(run_id)}"
        )
    segment = path_segment(run_id)
    assert segment is not None  # check_run_id refused the others
    path = declared.path.format(run_id=segment)
    headers = options.request_headers()
    body = None
    if declared.body is not None:
        body = dumps(_filled(declared.body, message))
        headers["content-type"] = "application/json"
    request = Request(
        method=declared.method,
        url=options.base_url + path,
        headers=headers,
        body=body,
        timeout=options.timeout,
        max_bytes=options.max_response_bytes,
        secret_headers=options.secret_headers(),
        guard=options.api_key,
    )
    response = yield from send_with_retries(options, request, idempotent=False)
    what = f"{verb} ({declared.method} {path})"
    status = response.status
    if status in declared.ambiguous:
        return (yield from _settled(options, run_id, state, error_detail(options, response)))
    outcome: Outcome | None = declared.outcomes.get(status)
    if outcome is None:
        if not 200 <= status <= 299:
            raise error_for(options, response, what)
        outcome = "accepted"
    if outcome != "accepted":
        return ControlResult(name, run_id, outcome, detail=error_detail(options, response))
    run, detail = None, None
    if declared.returns_run:
        run, detail = _reply_run(options, response, what)
    return ControlResult(name, run_id, outcome, run=run, detail=detail)


def _reply_run(
    options: CallOptions, response: Response, what: str
) -> tuple[Run | None, str | None]:
    """The run a 2xx reply holds; a reply that is no run leaves ``run`` None and says why
    (the request was accepted all the same: that is not hidden behind an error)."""
    if not response.body:
        return None, "the reply held no run"
    try:
        payload = decode_json(options, response, what)
        if not isinstance(payload, Mapping):
            return None, f"the reply was {type(payload).__name__}, not a run"
        return map_run(options, payload), None
    except PayloadError as exc:
        return None, f"the reply is not a run this provider maps: {scrubbed(options, exc)}"


def _settled(
    options: CallOptions, run_id: str, state: McpState | None, detail: str | None
) -> Flow[ControlResult]:
    """The outcome of a reply that does not say: what the run itself is now."""
    name = options.provider.name
    try:
        run = yield from get_run_flow(options, run_id, state)
    except NotFoundError:
        return ControlResult(name, run_id, "not_found", detail=detail)
    outcome: Outcome = "already_terminal" if run.is_terminal else "conflict"
    return ControlResult(name, run_id, outcome, run=run, detail=detail)


# -- MCP --------------------------------------------------------------------------------------


def _run_argument(options: CallOptions, tool: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The argument taking the run id (``run_id``, else the one required string property)
    and the required arguments of the tool's ``inputSchema`` (a ``required`` that is not a
    list names none)."""
    schema = tool.get("inputSchema")
    schema = schema if isinstance(schema, Mapping) else {}
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    listed = schema.get("required")
    required = [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
    if "run_id" in properties:
        return "run_id", required
    strings = [
        n
        for n in required
        if isinstance(properties.get(n), Mapping) and properties[n].get("type") == "string"
    ]
    if len(strings) == 1:
        return strings[0], required
    raise PayloadError(
        f"{options.provider.name}: cannot tell which argument of tool {tool.get('name')!r} "
        f"takes the run id: its inputSchema has no run_id property and "
        f"{len(strings)} required string properties",
        provider=options.provider.name,
    )


def _mcp(
    options: CallOptions,
    declared: McpControl,
    *,
    verb: Verb,
    run_id: str,
    message: str | None,
    state: McpState,
) -> Flow[ControlResult]:
    name = options.provider.name
    tools = yield from mcp_list_tools(options, state)
    tool = next((t for t in tools if t.get("name") == declared.tool), None)
    if tool is None:
        raise UnsupportedError(
            f"{name}: the MCP server lists no {declared.tool!r} tool, so its runs cannot be "
            f"{_DONE[verb]} here"
        )
    argument, required = _run_argument(options, tool)
    if declared.argument is not None:
        argument = declared.argument
    arguments: dict[str, Any] = {argument: run_id}
    if message is not None and declared.message_argument is not None:
        arguments[declared.message_argument] = message
    unfilled = [n for n in required if n not in arguments and n != declared.message_argument]
    if unfilled:
        raise UnsupportedError(
            f"{name}: tool {declared.tool!r} requires arguments runnorm cannot fill: "
            f"{', '.join(sorted(unfilled))}"
        )
    try:
        result = yield from mcp_call_tool(options, state, declared.tool, arguments, read_only=False)
    except ToolError as exc:
        outcome = declared.outcomes.get(exc.error or "", declared.other_errors)
        body = exc.body if isinstance(exc.body, Mapping) else {}
        words = body.get("message") if isinstance(body.get("message"), str) else None
        return ControlResult(name, run_id, outcome, detail=words or str(exc))
    run = None
    if isinstance(result, Mapping):
        try:
            if options.provider.detect(result):
                run = map_run(options, result)
        except Exception:  # a result that is no run: the call was accepted all the same
            run = None
    return ControlResult(name, run_id, "accepted", run=run)

"""Turning a provider's answers into values or exceptions, with the API key masked.

``error_for`` picks the exception of an error response (``AuthError``, ``NotFoundError``,
``RateLimitError``, ``ServerError``, else ``APIError``); ``decode_json`` reads a body that
must be JSON; ``scrubbed`` masks the key in an error a provider's echo may have put it in;
``map_run`` maps a payload with the key masked in the warnings the mapping raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runnorm._errors import (
    WARNING_MASK,
    APIError,
    AuthError,
    NotFoundError,
    PayloadError,
    RateLimitError,
    ServerError,
    shorten,
)
from runnorm._json import loads
from runnorm._live.options import CallOptions
from runnorm._live.wire import Response
from runnorm._masking import scrubbed
from runnorm._model.run import Run
from runnorm._plugins.normalize import apply
from runnorm._plugins.provider import Provider

__all__ = ["body_excerpt", "decode_json", "error_detail", "error_for", "map_run", "scrubbed"]

_DETAIL = 300
_EXCERPT = 200


def _decode_body(response: Response) -> Any:
    if not response.body:
        return None
    try:
        return loads(response.body)
    except ValueError:
        return response.body.decode("utf-8", "replace")


def _detail(body: Any) -> str:
    if isinstance(body, Mapping):
        for key in ("detail", "message", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if value:
                return shorten(value, _DETAIL)
    if isinstance(body, str):
        return shorten(body.strip(), _DETAIL).strip("'\"")
    return shorten(body, _DETAIL) if body is not None else "(no body)"


def error_for(options: CallOptions, response: Response, what: str) -> APIError:
    """The exception for an error response: ``AuthError``, ``NotFoundError``, ... ``APIError``."""
    status = response.status
    body = _decode_body(response)
    cls: type[APIError]
    if status in (401, 403):
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    else:
        cls = APIError
    body = options.scrub_value(body)  # masked first, then shortened for the message
    message = options.scrub(
        f"{options.provider.name}: {what} answered HTTP {status}: {_detail(body)}"
    )
    return cls(message, provider=options.provider.name, status_code=status, body=body)


def error_detail(options: CallOptions, response: Response) -> str | None:
    """The provider's own words in a reply (``detail``, ``message``, ...), the key masked
    before it is shortened; None for an empty body."""
    if not response.body:
        return None
    return options.scrub(_detail(options.scrub_value(_decode_body(response))))


def decode_json(options: CallOptions, response: Response, what: str) -> Any:
    try:
        return loads(response.body)
    except ValueError as exc:
        raise PayloadError(
            f"{what} answered HTTP {response.status} with a body that is not JSON: "
            f"{body_excerpt(options, response.body)}",
            provider=options.provider.name,
        ) from exc


def body_excerpt(options: CallOptions, body: bytes) -> str:
    """The start of a body for a message: decoded, the key masked, then shortened."""
    return shorten(options.scrub(body.decode("utf-8", "replace")), _EXCERPT)


def map_run(
    options: CallOptions, payload: Mapping[str, Any], provider: Provider | None = None
) -> Run:
    """*payload* mapped by *provider* (the call's by default), the caller's key masked in any
    warning the mapping raises (an unmapped status word that echoes the key)."""
    token = WARNING_MASK.set(options.scrub)
    try:
        return apply(options.provider if provider is None else provider, payload)
    finally:
        WARNING_MASK.reset(token)

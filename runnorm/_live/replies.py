"""Turning a provider's answers into values or exceptions, with the API key masked.

``error_for`` picks the exception of an error response (``AuthError``, ``NotFoundError``,
``RateLimitError``, ``ServerError``, else ``APIError``); ``decode_json`` reads a body that
must be JSON; ``scrubbed`` masks the key in an error a provider's echo may have put it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runnorm._errors import (
    APIError,
    AuthError,
    NotFoundError,
    PayloadError,
    RateLimitError,
    RunnormError,
    ServerError,
    shorten,
)
from runnorm._json import loads
from runnorm._live.options import CallOptions
from runnorm._live.wire import Response

__all__ = ["decode_json", "error_for", "scrubbed"]

_DETAIL = 300


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
    message = options.scrub(
        f"{options.provider.name}: {what} answered HTTP {status}: {_detail(body)}"
    )
    body = options.scrub_value(body)
    return cls(message, provider=options.provider.name, status_code=status, body=body)


def decode_json(options: CallOptions, response: Response, what: str) -> Any:
    try:
        return loads(response.body)
    except ValueError as exc:
        raise PayloadError(
            f"{what} answered HTTP {response.status} with a body that is not JSON: "
            f"{shorten(response.body[:200])}",
            provider=options.provider.name,
        ) from exc


def scrubbed(options: CallOptions, error: RunnormError) -> RunnormError:
    """*error* with the API key masked in its message, ``body`` and ``value``."""
    if not options.api_key:
        return error
    error.args = tuple(options.scrub(a) if isinstance(a, str) else a for a in error.args)
    for attribute in ("body", "value"):
        if hasattr(error, attribute):
            setattr(error, attribute, options.scrub_value(getattr(error, attribute)))
    return error

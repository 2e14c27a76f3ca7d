"""Webhook deliveries: verify the signature against the raw bytes, then normalize the body.

``parse(provider, body, headers, *, secret=None, tolerance=300, now=None)`` returns the
``Run`` the delivery describes. With a ``secret`` the provider's verification runs first and a
bad or missing signature or timestamp raises ``SignatureError``; ``secret=None`` parses without
verifying (and warns: it never reads the environment). A provider that declares no webhook
verification raises ``UnsupportedError``.

Verification always works on the body *exactly as received*: re-serialized JSON differs from
what the sender signed (spacing, key order, ``1.0`` versus ``1``, escaped non-ASCII).
Providers declare their scheme as ``Provider(verify_webhook=...)``, a function
``(body, headers, secret, *, tolerance, now) -> None`` that raises ``SignatureError``; the
helpers here (:func:`hmac_sha256_hex`, :func:`check_timestamp`, :func:`require_header`) make
a typical scheme a few lines.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeAlias

from runnorm._errors import (
    ConfigError,
    PayloadError,
    RunnormWarning,
    SignatureError,
    UnsupportedError,
    shorten,
)
from runnorm._json import loads
from runnorm._model.run import Run
from runnorm._plugins.normalize import apply, resolve_provider
from runnorm._plugins.provider import Provider

__all__ = [
    "Headers",
    "UnverifiedWebhookWarning",
    "check_timestamp",
    "dedupe_key",
    "hmac_sha256_hex",
    "parse",
    "require_header",
]

HeaderInput: TypeAlias = Mapping[str, Any] | Iterable[tuple[Any, Any]]


class UnverifiedWebhookWarning(RunnormWarning):
    """A webhook was parsed without a secret, so its signature was not checked."""


class Headers(Mapping[str, str]):
    """Request headers with case-insensitive names (from a mapping or a list of pairs).

    Repeated names keep the first value. Bytes names and values are decoded as Latin-1,
    as HTTP servers hand them over.
    """

    __slots__ = ("_items",)

    def __init__(self, headers: HeaderInput) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        items: dict[str, str] = {}
        for name, value in pairs:
            key = _text(name).lower()
            if key not in items:
                items[key] = _text(value)
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:  # header values may be signatures: names only
        return f"Headers({sorted(self._items)!r})"


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return str(value)


def hmac_sha256_hex(secret: str | bytes, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of *body* keyed with *secret* (UTF-8)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def require_header(headers: Mapping[str, str], name: str) -> str:
    """The header's value, or ``SignatureError`` when it is missing or empty."""
    value = headers.get(name.lower(), "").strip()
    if not value:
        raise SignatureError(f"missing {name} header")
    return value


def check_timestamp(value: str, *, tolerance: float, now: float, name: str = "timestamp") -> float:
    """Unix seconds in *value*, or ``SignatureError`` when malformed or outside the window."""
    try:
        stamp = float(value)
    except ValueError:
        raise SignatureError(f"malformed {name}: {shorten(value, 40)}") from None
    if math.isnan(stamp) or abs(now - stamp) > tolerance:  # too old, or too far ahead
        raise SignatureError(
            f"{name} is outside the {tolerance:g} s tolerance window (possible replay)"
        )
    return stamp


def _body_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    raise ConfigError(
        "webhook bodies must be the raw bytes received (verifying re-encoded text would "
        f"fail), not {type(body).__name__}"
    )


def parse(
    provider: str | Provider,
    body: bytes,
    headers: HeaderInput,
    *,
    secret: str | bytes | None = None,
    tolerance: float = 300,
    now: float | None = None,
) -> Run:
    """Verify (when *secret* is given) and normalize one webhook delivery.

    *headers* is a mapping or a list of ``(name, value)`` pairs; names are case-insensitive.
    *now* is Unix seconds (default: the current time).
    """
    chosen = resolve_provider(provider)
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not (math.isfinite(tolerance) and tolerance >= 0)
    ):
        raise ConfigError(f"tolerance must be a finite number of seconds, not {tolerance!r}")
    if chosen.verify_webhook is None:
        raise UnsupportedError(f"provider {chosen.name!r} declares no webhooks")
    raw = _body_bytes(body)
    received = Headers(headers)
    if secret is None:
        warnings.warn(
            f"{chosen.name}: webhook parsed without verifying its signature (pass secret=)",
            UnverifiedWebhookWarning,
            stacklevel=2,
        )
    else:
        if not secret:
            raise ConfigError("secret must not be empty; pass None to skip verification")
        chosen.verify_webhook(
            raw,
            received,
            secret,
            tolerance=tolerance,
            now=time.time() if now is None else now,
        )
    try:
        payload = loads(raw)
    except ValueError as exc:
        raise PayloadError(
            f"webhook body is not JSON: {shorten(raw[:200])}", provider=chosen.name
        ) from exc
    if not isinstance(payload, Mapping):
        raise PayloadError(
            f"webhook body must be a JSON object, got {type(payload).__name__}",
            provider=chosen.name,
            path="$",
            value=payload,
        )
    return apply(chosen, payload)


def dedupe_key(run: Run) -> str:
    """``"provider:id:native_status"``: providers retry deliveries, so receivers see repeats."""
    return f"{run.provider}:{run.id}:{run.native_status}"

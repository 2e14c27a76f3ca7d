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

import datetime
import email.header
import hashlib
import hmac
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeAlias

from runnorm._errors import (
    WARNING_MASK,
    ConfigError,
    PayloadError,
    RunnormError,
    RunnormWarning,
    SignatureError,
    UnsupportedError,
    shorten,
)
from runnorm._json import loads
from runnorm._masking import SecretMask, scrubbed
from runnorm._model.run import Run
from runnorm._model.run import dedupe_key as _dedupe_key
from runnorm._plugins.host import PLUGIN_FAULTS
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

HeaderInput: TypeAlias = Mapping[str, Any] | Iterable[tuple[Any, Any]] | Any
"""What ``parse`` takes as headers: a mapping, any object with ``.items()`` (an
``email.message.Message`` as ``http.server`` gives, Starlette's, werkzeug's and aiohttp's
headers), or an iterable of ``(name, value)`` pairs (ASGI's ``scope["headers"]``)."""

_VALUE_TYPES = (str, bytes, bytearray, int, float, email.header.Header)


class UnverifiedWebhookWarning(RunnormWarning):
    """A webhook was parsed without a secret, so its signature was not checked."""


class Headers(Mapping[str, str]):
    """Request headers with case-insensitive names.

    Takes a mapping, an object with ``.items()`` (``email.message.Message``, framework header
    classes) or an iterable of ``(name, value)`` pairs; anything else is a ``ConfigError``.
    Repeated names keep the first value. Names are strings or bytes; values strings, bytes,
    numbers or ``email.header.Header``. Bytes are decoded as Latin-1, as HTTP servers hand
    them over.
    """

    __slots__ = ("_items",)

    def __init__(self, headers: HeaderInput) -> None:
        items: dict[str, str] = {}
        try:
            for name, value in _pairs(headers):
                key = _text(name, "name").lower()
                if key not in items:
                    items[key] = _text(value, "value")
        except ConfigError:
            raise
        except Exception as exc:  # a container whose iteration fails
            raise ConfigError(
                f"could not read the headers ({type(exc).__name__}); pass a mapping, an "
                "email.message.Message or a list of (name, value) pairs"
            ) from exc
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:  # header values may be signatures: names only
        return f"Headers({sorted(self._items)!r})"


def _pairs(headers: Any) -> Iterator[tuple[Any, Any]]:
    """``(name, value)`` pairs of any accepted header container."""
    items = getattr(headers, "items", None)
    if callable(items) and not isinstance(headers, str | bytes | bytearray):
        source: Any = items()
    elif isinstance(headers, Iterable) and not isinstance(headers, str | bytes | bytearray):
        source = headers
    else:
        raise ConfigError(
            "headers must be a mapping, an email.message.Message (or any object with "
            f".items()) or a list of (name, value) pairs, not {type(headers).__name__}"
        )
    for pair in source:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ConfigError(
                f"each header must be a (name, value) pair, not {shorten(pair, 40)} "
                "(raw 'Name: value' lines are not parsed)"
            )
        yield pair[0], pair[1]


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    if what == "value" and isinstance(value, _VALUE_TYPES) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"a header {what} must be text or bytes, not {type(value).__name__}")


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


def _seconds(value: Any, what: str) -> float:
    """A finite number of seconds (an ``int`` or ``float``), or ``ConfigError``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if math.isfinite(seconds):
            return seconds
    raise ConfigError(f"{what} must be a finite number of seconds, not {shorten(value, 40)}")


def _now(now: Any) -> float:
    """*now* as Unix seconds: a number, or a ``datetime`` (naive means UTC)."""
    if now is None:
        return time.time()
    if isinstance(now, datetime.datetime):
        moment = now if now.tzinfo is not None else now.replace(tzinfo=datetime.UTC)
        try:
            return moment.timestamp()
        except Exception as exc:  # out of range, or a tzinfo that fails
            raise ConfigError(f"now is not a usable datetime: {shorten(now, 40)}") from exc
    if isinstance(now, int | float) and not isinstance(now, bool):
        return _seconds(now, "now")
    raise ConfigError(f"now must be Unix seconds or a datetime, not {shorten(now, 40)}")


def _secret(secret: Any) -> str | bytes:
    """The signing secret as given (``bytearray`` as ``bytes``), or ``ConfigError``."""
    if isinstance(secret, bytearray | memoryview):
        secret = bytes(secret)
    if not isinstance(secret, str | bytes):
        raise ConfigError(f"secret must be a str or bytes, not {type(secret).__name__}")
    if not secret:
        raise ConfigError("secret must not be empty; pass None to skip verification")
    if isinstance(secret, str):
        try:
            secret.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError("secret is not valid text (it holds a lone surrogate)") from None
    return secret


def _verify(
    provider: Provider,
    verify: Callable[..., None],
    body: bytes,
    headers: Headers,
    secret: str | bytes,
    *,
    tolerance: float,
    now: float,
) -> None:
    """Run the provider's verification. Any fault of the plugin's code rejects the delivery:
    a ``SignatureError`` naming the plugin (the fault's text is left out, as the secret may be
    in it; it is the ``__cause__``)."""
    try:
        verify(body, headers, secret, tolerance=tolerance, now=now)
    except (RunnormError, Warning):  # a warning turned into an error by a filter stays itself
        raise
    except PLUGIN_FAULTS as exc:
        raise SignatureError(
            f"the {provider.name!r} plugin's webhook verification failed with "
            f"{type(exc).__name__}; the delivery is not verified"
        ) from exc


def parse(
    provider: str | Provider,
    body: bytes,
    headers: HeaderInput,
    *,
    secret: str | bytes | None = None,
    tolerance: float = 300,
    now: float | datetime.datetime | None = None,
) -> Run:
    """Verify (when *secret* is given) and normalize one webhook delivery.

    *headers* is a mapping, an object with ``.items()`` (``email.message.Message``,
    framework header classes) or an iterable of ``(name, value)`` pairs; names are
    case-insensitive. *secret* is a ``str`` or ``bytes``. *now* is Unix seconds or a
    ``datetime`` (default: the current time). Every other argument type is a ``ConfigError``.
    """
    chosen = resolve_provider(provider)
    window = _seconds(tolerance, "tolerance")
    if window < 0:
        raise ConfigError(f"tolerance must not be negative, not {tolerance!r}")
    raw = _body_bytes(body)
    received = Headers(headers)
    key = None if secret is None else _secret(secret)
    moment = _now(now)
    verify = chosen.verify_webhook
    if verify is None:
        raise UnsupportedError(f"provider {chosen.name!r} declares no webhooks")
    if key is None:
        warnings.warn(
            f"{chosen.name}: webhook parsed without verifying its signature (pass secret=)",
            UnverifiedWebhookWarning,
            stacklevel=2,
        )
        return _run_of(chosen, raw)
    mask = SecretMask(key)
    token = WARNING_MASK.set(mask.scrub)  # an unmapped status word may echo the secret
    try:
        _verify(chosen, verify, raw, received, key, tolerance=window, now=moment)
        return _run_of(chosen, raw)
    except RunnormError as exc:  # a header or the body may echo the secret: never show it
        scrubbed(mask, exc)
        raise
    finally:
        WARNING_MASK.reset(token)


def _run_of(provider: Provider, raw: bytes) -> Run:
    """The ``Run`` of a webhook body: ``PayloadError`` unless it is a JSON object."""
    try:
        payload = loads(raw)
    except ValueError as exc:
        raise PayloadError(
            f"webhook body is not JSON ({str(exc)[:80]}): {shorten(raw[:200])}",
            provider=provider.name,
        ) from exc
    if not isinstance(payload, Mapping):
        raise PayloadError(
            f"webhook body must be a JSON object, got {type(payload).__name__}",
            provider=provider.name,
            path="$",
            value=payload,
        )
    return apply(provider, payload)


def dedupe_key(run: Run) -> str:
    """``"provider:id:attempt:native_status"`` when the run has an ``attempt``, else
    ``"provider:id:native_status"``: providers retry deliveries, so receivers see repeats,
    and a run retried under one id sends one delivery per attempt (two attempts' ``failed``
    deliveries are two events)."""
    return _dedupe_key(run)

"""Call options: client defaults merged with per-call overrides and the environment.

The API key comes from the argument, else the provider's environment variable; the base URL
from the argument, else the provider's base-URL variable, else its default. A missing key is
an ``AuthError`` naming the variable, raised before any request is sent.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from runnorm._errors import AuthError, ConfigError, shorten
from runnorm._masking import mask_key, mask_value
from runnorm._plugins.fetching import GENERIC_OPTIONS, chosen_kind
from runnorm._plugins.provider import Provider
from runnorm._version import __version__

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "GENERIC_OPTIONS",
    "MAX_RETRIES_LIMIT",
    "CallOptions",
    "mask_key",
    "check_count",
    "check_seconds",
    "resolve_options",
    "valid_http_url",
]

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
MAX_RETRIES_LIMIT = 100
USER_AGENT = f"runnorm/{__version__}"


@attrs.frozen
class CallOptions:
    """Everything one fetch needs to know; the key is kept out of ``repr``."""

    provider: Provider = attrs.field(repr=lambda p: repr(p.name))
    api_key: str | None = attrs.field(repr=False)
    base_url: str
    timeout: float | None = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    extras: Mapping[str, Any] = attrs.field(factory=dict)
    deadline: float | None = None
    """``time.monotonic()`` past which nothing may wait or be sent (``wait``'s timeout)."""

    def auth_headers(self) -> dict[str, str]:
        """The credential header, or ``AuthError`` naming the variable when no key is set."""
        auth = self.provider.auth
        if auth is None:
            return {}
        if not self.api_key:
            raise AuthError(
                f"{self.provider.name}: no API key; pass api_key= or set {auth.env_var}",
                provider=self.provider.name,
            )
        value = f"{auth.scheme} {self.api_key}" if auth.scheme else self.api_key
        return {auth.header: value}

    def secret_headers(self) -> frozenset[str]:
        """Lowercase names of headers that must never leave the provider's origin."""
        auth = self.provider.auth
        return frozenset({auth.header.lower()}) if auth else frozenset()

    def request_headers(self, accept: str = "application/json") -> dict[str, str]:
        """User headers, then the defaults, then the credential (which always wins)."""
        headers = {"user-agent": USER_AGENT, "accept": accept}
        headers.update(self.headers)
        headers.update(self.auth_headers())
        return headers

    def scrub(self, text: str) -> str:
        """*text* with the API key masked wherever a server's echo may have put it.

        See :func:`mask_key`: every occurrence, in every escaping, and a key cut short by an
        ellipsis too. Mask before shortening: a cut key is only masked up to the ellipsis.
        """
        return mask_key(self.api_key, text) if self.api_key else text

    def scrub_value(self, value: Any) -> Any:
        """A JSON value with the API key masked in every string it holds."""
        return mask_value(self.scrub, value)


_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@functools.lru_cache(maxsize=256)
def valid_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host that can be sent to: an IP literal that
    parses, or a name that encodes to ASCII (IDNA); a port in range, if any. Checked with the
    standard library, so that configuration never loads the HTTP library."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):  # control characters
        return False
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return False
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return False
    return _valid_host(host, bracketed=parts.netloc.rpartition("@")[2].startswith("["))


def _valid_host(host: str, *, bracketed: bool) -> bool:
    if bracketed:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])  # a zone id may follow "%"
        except ValueError:
            return False
        return True
    if _IPV4.fullmatch(host):  # four numbers: an IPv4 address, as httpx reads it
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    if any(ch.isspace() or ch in "[]%" for ch in host):
        return False
    if host.isascii():
        return True
    try:
        host.encode("idna")  # an internationalized name, sent in its ASCII form
    except UnicodeError:
        return False
    return True


def check_seconds(name: str, value: Any, *, allow_none: bool = False, zero: bool = True) -> Any:
    """*value* when it is a finite number of seconds (``> 0`` unless *zero*), else
    ``ConfigError``; ``None`` passes when *allow_none*."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not _finite(value)
        or not (value >= 0 if zero else value > 0)
    ):
        kind = "non-negative" if zero else "positive"
        extra = " or None" if allow_none else ""
        raise ConfigError(f"{name} must be a finite {kind} number{extra}, not {shorten(value)}")
    return value


def _finite(value: float) -> bool:
    """``math.isfinite``, False for an int too large for a float (it raises on those)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_count(name: str, value: Any, limit: int | None = None) -> int:
    """*value* as an ``int`` when it is a whole number ``>= 0`` (and ``<= limit``)."""
    whole = isinstance(value, int) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )
    if isinstance(value, bool) or not whole or value < 0 or (limit is not None and value > limit):
        most = f" at most {limit}" if limit is not None else ""
        raise ConfigError(f"{name} must be a whole number >= 0{most}, not {shorten(value)}")
    return int(value)


def _api_key(provider: Provider, value: Any, source: str) -> str | None:
    """The key with surrounding whitespace removed; never echoed when it is malformed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{provider.name}: the API key ({source}) must be a string")
    key = value.strip()
    if not key:
        return None
    if not key.isascii() or not key.isprintable() or any(ch.isspace() for ch in key):
        raise ConfigError(
            f"{provider.name}: the API key ({source}) contains spaces, control or non-ASCII "
            "characters; check how it was copied"
        )
    return key


def _headers(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("headers must be a mapping of header names to values")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str | int | float):
            raise ConfigError("headers must map header names (str) to values (str)")
        name, text = key, str(item)
        if (
            not _TOKEN.fullmatch(name)
            or not text.isascii()
            or any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in text)
        ):
            raise ConfigError(
                f"header {shorten(name)}: a name must be an HTTP token and a value printable "
                "ASCII text"
            )
        out[name] = text
    return out


def resolve_options(
    provider: Provider,
    settings: Mapping[str, Any],
    *,
    base_url_required: bool = True,
    listing: bool = False,
) -> CallOptions:
    """Build ``CallOptions`` from merged client defaults and call overrides.

    ``base_url_required=False`` checks a client's own settings, to which each call may still
    add the base URL: none configured anywhere is then not an error (``base_url`` is empty).
    ``listing=True`` accepts the listing's own options too (``Provider.list_options``, such
    as Bridge Town's ``project``), which every other call refuses.
    """
    own = provider.options | provider.list_options if listing else provider.options
    unknown = set(settings) - GENERIC_OPTIONS - own
    if unknown:
        allowed = ", ".join(sorted(GENERIC_OPTIONS | own))
        raise ConfigError(
            f"unexpected option(s) for {provider.name}: {', '.join(sorted(unknown))} "
            f"(allowed: {allowed})"
        )
    api_key = _api_key(provider, settings.get("api_key"), "api_key=")
    if api_key is None and provider.auth is not None:
        variable = provider.auth.env_var
        api_key = _api_key(provider, os.environ.get(variable), variable)
    base_url = settings.get("base_url")
    source = "base_url="
    if base_url is None and provider.base_url_env:
        base_url = os.environ.get(provider.base_url_env) or None
        source = provider.base_url_env
    base_url = base_url or provider.base_url
    if not base_url and not base_url_required and "base_url" not in settings:
        base_url = ""
    elif not base_url:
        raise ConfigError(f"{provider.name}: no base_url configured")
    elif not isinstance(base_url, str) or not valid_http_url(base_url):
        raise ConfigError(
            f"{provider.name}: {source} must be an http(s) URL, not {shorten(base_url)}"
        )
    timeout = settings.get("timeout", DEFAULT_TIMEOUT)
    extras = {k: v for k, v in settings.items() if k in own}
    if provider.fetch is not None:
        chosen_kind(provider.fetch, extras, provider.name)  # a bad kind fails before any request
    return CallOptions(
        provider=provider,
        api_key=api_key,
        base_url=base_url.rstrip("/"),
        timeout=check_seconds("timeout", timeout, allow_none=True, zero=False),
        max_retries=check_count(
            "max_retries", settings.get("max_retries", DEFAULT_MAX_RETRIES), MAX_RETRIES_LIMIT
        ),
        headers=_headers(settings.get("headers")),
        max_response_bytes=check_count(
            "max_response_bytes", settings.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)
        ),
        extras=extras,
    )

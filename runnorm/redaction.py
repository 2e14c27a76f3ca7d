"""Redaction of secrets that travel inside payloads (headers, TOTP settings, keys).

A ``Run`` keeps its payload intact in memory; output written by the CLI passes through
:func:`redact_document`, which replaces the value of every sensitive key with ``REDACTED``.
Sensitive keys are the core's list below plus each provider's ``sensitive_keys``
(``fnmatch`` patterns, matched case-insensitively).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

__all__ = ["DEFAULT_SENSITIVE_KEYS", "REDACTED", "Redactor"]

REDACTED = "[REDACTED]"
DEFAULT_SENSITIVE_KEYS: tuple[str, ...] = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-bb-api-key",
    "api_key",
    "apikey",
    "api-key",
    "password",
    "secret",
    "client_secret",
    "access_token",
    "refresh_token",
)


class Redactor:
    """Replaces the values of sensitive keys, at any depth, in copies of JSON documents."""

    __slots__ = ("_match",)

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        every = [*DEFAULT_SENSITIVE_KEYS, *patterns]
        regex = "|".join(f"(?:{fnmatch.translate(p.lower())})" for p in every)
        matcher = re.compile(regex).match
        self._match = lru_cache(maxsize=2048)(lambda key: matcher(key.lower()) is not None)

    def is_sensitive(self, key: str) -> bool:
        """True when values under *key* are secrets."""
        return bool(self._match(key))

    def redact(self, value: Any) -> Any:
        """*value* with secrets replaced; parts without secrets are shared, not copied."""
        if isinstance(value, Mapping):
            changed = False
            out: dict[str, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and item is not None and self._match(key):
                    new: Any = REDACTED
                else:
                    new = self.redact(item)
                changed = changed or new is not item
                out[key] = new
            return out if changed else value
        if isinstance(value, list):
            items = [self.redact(item) for item in value]
            if any(new is not old for new, old in zip(items, value, strict=True)):
                return items
            return value
        return value

    def redact_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """A ``Run.to_dict()`` document with ``raw``, ``extra`` and ``result`` redacted."""
        out = document
        for key in ("raw", "extra", "result"):
            value = document.get(key)
            if value is None:
                continue
            new = self.redact(value)
            if new is not value:
                if out is document:
                    out = dict(document)
                out[key] = new
        return out

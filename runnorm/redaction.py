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


_BLANK = b" \t\r\n"


def _is_key_with_value(text: bytes, position: int) -> bool:
    """After a closing quote at ``position - 1``: a colon, then a value other than null?"""
    size = len(text)
    while position < size and text[position] in _BLANK:
        position += 1
    if position >= size or text[position] != 58:  # ":" - not a key, a string value
        return False
    position += 1
    while position < size and text[position] in _BLANK:
        position += 1
    return not text.startswith(b"null", position)


class Redactor:
    """Replaces the values of sensitive keys, at any depth, in copies of JSON documents."""

    __slots__ = ("_candidates", "_match")

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        every = [*DEFAULT_SENSITIVE_KEYS, *patterns]
        regex = "|".join(f"(?:{fnmatch.translate(p.lower())})" for p in every)
        matcher = re.compile(regex).match
        self._match = lru_cache(maxsize=2048)(lambda key: matcher(key.lower()) is not None)
        # The same keys as they appear in JSON text, lowercase: the whole quoted name, or
        # for a wildcard pattern its quoted literal start. One regex finds every candidate.
        alternatives = []
        for pattern in every:
            lowered = pattern.lower()
            stem = lowered.split("*")[0].split("?")[0].split("[")[0]
            alternatives.append(re.escape(stem) + ('"' if stem == lowered else '[^"]*"'))
        self._candidates = re.compile(f'"(?:{"|".join(alternatives)})'.encode()).finditer

    def is_sensitive(self, key: str) -> bool:
        """True when values under *key* are secrets."""
        return bool(self._match(key))

    def may_hold_secrets(self, json_text: bytes) -> bool:
        """False when the JSON text certainly holds no sensitive key with a non-null value.

        A byte scan, much cheaper than walking the decoded value. Keys written with escapes
        (``\\u``) are not scanned: such text counts as possibly holding secrets.
        """
        if b"\\u" in json_text:
            return True
        lowered = json_text.lower()
        return any(_is_key_with_value(lowered, m.end()) for m in self._candidates(lowered))

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

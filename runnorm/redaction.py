"""Redaction of secrets that travel inside payloads (header maps, TOTP settings, tokens).

A ``Run`` keeps its payload intact in memory; output written by the CLI passes through
:meth:`Redactor.redact_document`, which replaces the value of every sensitive key, at any
depth, with ``[REDACTED]``. Sensitive keys are what each provider declares in
``Provider.sensitive_keys``: ``fnmatch`` patterns over its own field names, matched with
their case (``"extra_http_headers"``, ``"totp_*"``). :data:`HEADER_CREDENTIALS` lists the
usual credential header names, for providers whose payloads carry raw header maps.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["HEADER_CREDENTIALS", "REDACTED", "Redactor"]

REDACTED = "[REDACTED]"
HEADER_CREDENTIALS: tuple[str, ...] = (
    "Authorization",
    "authorization",
    "Proxy-Authorization",
    "proxy-authorization",
    "Cookie",
    "cookie",
    "X-API-Key",
    "x-api-key",
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

    __slots__ = ("_cache", "_literals", "_matcher")

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        every = list(dict.fromkeys(patterns))
        regex = "|".join(f"(?:{fnmatch.translate(p)})" for p in every)
        self._matcher = re.compile(regex).match if every else None
        self._cache: dict[str, bool] = {}
        # For the byte scan: each pattern's quoted literal start ('"totp_'), and whether
        # that is the whole name ('"extra_http_headers"', closing quote included).
        literals = []
        for pattern in every:
            stem = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
            exact = stem == pattern
            literals.append((f'"{stem}{chr(34) if exact else ""}'.encode(), exact))
        self._literals = tuple(literals)

    def is_sensitive(self, key: str) -> bool:
        """True when values under *key* are secrets."""
        known = self._cache.get(key)
        if known is None:
            known = self._matcher is not None and self._matcher(key) is not None
            if len(self._cache) < 4096:
                self._cache[key] = known
        return known

    def may_hold_secrets(self, json_text: bytes) -> bool:
        """False when the JSON text certainly holds no sensitive key with a non-null value.

        A byte scan, much cheaper than walking the decoded value. Keys written with escapes
        (``\\u``) are not scanned: such text counts as possibly holding secrets.
        """
        if not self._literals:
            return False
        for literal, exact in self._literals:
            start = json_text.find(literal)
            while start >= 0:
                end = start + len(literal) if exact else json_text.find(b'"', start + 1) + 1
                if end > 0 and _is_key_with_value(json_text, end):
                    return True
                start = json_text.find(literal, start + 1)
        return b"\\u" in json_text

    def redact(self, value: Any) -> Any:
        """*value* with secrets replaced; parts without secrets are shared, not copied."""
        if self._matcher is None:
            return value
        if isinstance(value, Mapping):
            changed = False
            out: dict[str, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and item is not None and self.is_sensitive(key):
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
        if self._matcher is None:
            return document
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

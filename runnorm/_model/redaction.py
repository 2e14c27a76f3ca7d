"""Redaction of secrets that travel inside payloads (header maps, TOTP settings, tokens).

A ``Run`` keeps its payload intact in memory; output written by the CLI passes through
:meth:`Redactor.redact_document`, which replaces the value of every sensitive key, at any
depth, with ``[REDACTED]`` (a null or empty value hides nothing and stays). Sensitive keys
are what each provider declares in ``Provider.sensitive_keys``: ``fnmatch`` patterns over
its own field names, matched with their case (``"extra_http_headers"``, ``"totp_*"``).
:data:`HEADER_CREDENTIALS` lists the usual credential header names, for providers whose
payloads carry raw header maps.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from runnorm._model.run import Run

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


_UNSEEN: Any = object()
_BLANKS = rb"[ \t\r\n]*+"
_NOT_EMPTY = rb'(?!null|""|\{' + _BLANKS + rb"\}|\[" + _BLANKS + rb"\])"


def _is_empty(value: Any) -> bool:
    """None, or an empty string, object or array: nothing there to hide."""
    return value is None or (type(value) in (str, dict, list) and not value)


def _hiding_escapes(stems: bytes, *, empty_stem: bool) -> Any:
    """A search for the JSON escapes that could spell a character of a key's stem, so that
    the literal search would miss that key: ``\\uXXXX`` of exactly those characters (any
    ``\\u`` when a pattern starts with a wildcard and so has no stem), and ``\\/``,
    ``\\"`` or ``\\\\`` when a stem holds that character. Escapes of other characters
    (``\\u00e9`` in text written with ``ensure_ascii``) cannot hide a sensitive key."""
    chars = set(stems.decode("utf-8", "replace"))
    if empty_stem or any(ord(char) > 0xFFFF for char in chars):  # astral: surrogate pairs
        return re.compile(rb"\\u").search
    codes = []
    for char in sorted(chars):
        digits = f"{ord(char):04x}"
        codes.append("".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits))
    alternatives = [rb"\\u(?:" + "|".join(codes).encode() + rb")"] if codes else []
    alternatives += [re.escape(b"\\" + char) for char in (b"/", b'"', b"\\") if char in stems]
    if not alternatives:
        return lambda text: None
    return re.compile(b"|".join(alternatives)).search


class Redactor:
    """Replaces the values of sensitive keys, at any depth, in copies of JSON documents."""

    __slots__ = (
        "_cache",
        "_escapes",
        "_hidden",
        "_holds_value",
        "_literals",
        "_matcher",
        "_stems",
    )

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        every = list(dict.fromkeys(patterns))
        regex = "|".join(f"(?:{fnmatch.translate(p)})" for p in every)
        self._matcher = re.compile(regex).match if every else None
        self._cache: dict[str, bool] = {}
        # For the byte scan: each pattern's quoted literal start ('"totp_', or the whole
        # '"extra_http_headers"'), found with bytes.find, then one regular expression checks
        # that a hit is a key whose value holds something (not null, not empty). Possessive
        # blank runs keep that check from backtracking past blanks.
        literals, keys, stems = [], [], b""
        for pattern in every:
            stem = re.split(r"[*?\[]", pattern, maxsplit=1)[0].encode()
            stems += stem
            exact = stem.decode() == pattern
            literals.append(b'"' + stem + (b'"' if exact else b""))
            keys.append(re.escape(stem) + (b'"' if exact else rb'(?:[^"\\]|\\.)*"'))
        self._literals = tuple(dict.fromkeys(literals))
        self._stems = tuple(dict.fromkeys(literal.strip(b'"') for literal in literals))
        self._escapes = _hiding_escapes(stems, empty_stem=any(lit == b'"' for lit in literals))
        self._hidden = any(char in stems for char in (b"/", b'"', b"\\"))
        self._holds_value = (
            re.compile(
                b'"(?:' + b"|".join(keys) + rb")" + _BLANKS + b":" + _BLANKS + _NOT_EMPTY
            ).match
            if keys
            else None
        )

    def is_sensitive(self, key: str) -> bool:
        """True when values under *key* are secrets."""
        known = self._cache.get(key)
        if known is None:
            known = self._matcher is not None and self._matcher(key) is not None
            if len(self._cache) < 4096:
                self._cache[key] = known
        return known

    def may_hold_secrets(self, json_text: bytes | bytearray) -> bool:
        """False when the JSON text certainly holds no sensitive key with a non-null value.

        A byte scan, much cheaper than walking the decoded value. Keys written with escapes
        (``\\u``) are not scanned: such text counts as possibly holding secrets.
        """
        holds_value = self._holds_value
        if holds_value is None:
            return False
        for literal in self._literals:
            start = json_text.find(literal)
            while start >= 0:
                if holds_value(json_text, start) is not None:
                    return True
                start = json_text.find(literal, start + 1)
        if json_text.find(b"\\") < 0 or (json_text.find(b"\\u") < 0 and not self._hidden):
            return False  # find: memchr, the fastest test
        return self._escapes(json_text) is not None

    def may_mention_secrets(self, text: bytes | bytearray) -> bool:
        """For text that is not JSON (a broken record, shown to say why it failed): True
        when it spells the start of a sensitive key anywhere, quoted or not (a Python repr's
        ``'totp_secret'``, a log's ``extra_http_headers=``), or holds an escape that could
        hide one. The byte scan of :meth:`may_hold_secrets` only knows JSON's quoted keys."""
        if self._holds_value is None:
            return False
        if any(stem in text for stem in self._stems):
            return True
        return self.may_hold_secrets(text)

    def renamed_secrets(self, run: Run) -> bool:
        """True when ``run.extra`` holds a sensitive key, with a value, that ``raw`` does not
        spell the same way (a snake_case copy of ``connectURL``, say): the byte scan of the
        payload cannot see those."""
        if self._matcher is None:
            return False
        raw, extra = run.raw, run.extra
        if type(raw) is dict and type(extra) is dict and extra.keys() <= raw.keys():
            return False  # every key spelled as in raw (one C-level pass): the scan saw them
        for key, value in extra.items():
            if key not in raw and not _is_empty(value) and self.is_sensitive(key):
                return True
        return False

    def redact(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        """*value* with secrets replaced; parts without secrets are shared, not copied.

        *memo* (container id -> result) lets several calls over values that share parts
        (a run's ``extra`` holds ``raw``'s own values) walk each part once."""
        if self._matcher is None:
            return value
        kind = type(value)
        walk: Callable[[Any, dict[int, Any] | None], Any]
        if kind is dict or (kind is not list and isinstance(value, Mapping)):
            walk = self._redact_mapping
        elif kind is list or isinstance(value, list):
            walk = self._redact_list
        else:
            return value
        if memo is None:
            return walk(value, None)
        done = memo.get(id(value), _UNSEEN)
        if done is _UNSEEN:
            done = memo[id(value)] = walk(value, memo)
        return done

    def _redact_mapping(self, value: Mapping[Any, Any], memo: dict[int, Any] | None) -> Any:
        changed = False
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and not _is_empty(item) and self.is_sensitive(key):
                new: Any = REDACTED
            else:
                new = self.redact(item, memo)
            changed = changed or new is not item
            out[key] = new
        return out if changed else value

    def _redact_list(self, value: list[Any], memo: dict[int, Any] | None) -> Any:
        items = [self.redact(item, memo) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
        return value

    def redact_run(self, run: Run) -> Run:
        """*run* with secrets replaced wherever payload values land: ``raw``, ``extra``,
        ``result``, ``error.details`` and inline artifact ``content`` (*run* itself when
        there are none)."""
        if self._matcher is None:
            return run
        changes: dict[str, Any] = {}
        memo: dict[int, Any] = {}  # the values extra and result share with raw: walked once
        for name, value in (("raw", run.raw), ("extra", run.extra), ("result", run.result)):
            new = self.redact(value, memo)
            if new is not value:
                changes[name] = new
        error = run.error
        if error is not None and error.details:
            details = tuple(self.redact(detail, memo) for detail in error.details)
            if any(new is not old for new, old in zip(details, error.details, strict=True)):
                changes["error"] = attrs.evolve(error, details=details)
        artifacts = []
        for artifact in run.artifacts:
            content = self.redact(artifact.content, memo)
            artifacts.append(
                artifact if content is artifact.content else attrs.evolve(artifact, content=content)
            )
        if any(new is not old for new, old in zip(artifacts, run.artifacts, strict=True)):
            changes["artifacts"] = tuple(artifacts)
        return attrs.evolve(run, **changes) if changes else run

    def redact_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """A ``Run.to_dict()`` document redacted as :meth:`redact_run` redacts a ``Run``
        (*document* itself when there is nothing to redact)."""
        if self._matcher is None:
            return document
        changes: dict[str, Any] = {}
        for key in ("raw", "extra", "result"):
            if key in document:
                value = document[key]
                new = self.redact(value)
                if new is not value:
                    changes[key] = new
        error = document.get("error")
        if isinstance(error, Mapping) and error.get("details"):
            details = self.redact(error["details"])
            if details is not error["details"]:
                changes["error"] = {**error, "details": details}
        artifacts = document.get("artifacts")
        if isinstance(artifacts, list):
            redacted = [
                {**item, "content": content}
                if isinstance(item, Mapping)
                and (content := self.redact(item.get("content"))) is not item.get("content")
                else item
                for item in artifacts
            ]
            if any(new is not old for new, old in zip(redacted, artifacts, strict=True)):
                changes["artifacts"] = redacted
        return {**document, **changes} if changes else document

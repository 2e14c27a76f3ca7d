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
from collections.abc import Iterable, Mapping
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
_WALKING: Any = object()
_BLANKS = rb"[ \t\r\n]*+"
_NOT_EMPTY = rb'(?!null|""|\{' + _BLANKS + rb"\}|\[" + _BLANKS + rb"\])"


_ATOMS = frozenset({str, int, float, bool, type(None)})
_QUICK_DEPTH = 64
"""How deep :meth:`Redactor.redact` goes by recursion before it walks with its own stack."""


def _is_container(value: Any) -> bool:
    """An object or an array (a ``Mapping`` or a ``list``, subclasses included)."""
    kind = type(value)
    if kind is dict or kind is list:
        return True
    return kind not in _ATOMS and isinstance(value, Mapping | list)


class _Frame:
    """One container on :meth:`Redactor.redact`'s stack: its keys (None for an array), a
    copy of its values that the walk overwrites, and where the walk is."""

    __slots__ = ("changed", "keys", "position", "value", "values")

    def __init__(self, value: Any) -> None:
        self.value = value
        if type(value) is list or isinstance(value, list):
            self.keys: list[Any] | None = None
            self.values = list(value)
        else:
            self.keys = list(value)
            self.values = list(value.values())
        self.position = 0
        self.changed = False

    def result(self) -> Any:
        """The container itself when nothing in it changed, else its redacted copy (a
        ``dict`` for any mapping, a ``list`` for any array)."""
        if not self.changed:
            return self.value
        if self.keys is None:
            return self.values
        return dict(zip(self.keys, self.values, strict=True))


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
        "_matcher",
        "_stems",
    )

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        every = list(dict.fromkeys(patterns))
        regex = "|".join(f"(?:{fnmatch.translate(p)})" for p in every)
        self._matcher = re.compile(regex).match if every else None
        self._cache: dict[str, bool] = {}
        # For the byte scan: one regular expression finds a key that starts with a pattern's
        # literal ('"totp_', or the whole '"extra_http_headers"') and whose value holds
        # something (not null, not empty); one search over the text, where a find per literal
        # and a check per hit cost 1.7 times as much on Skyvern's records (whose run_request
        # sends its totp_ keys, mostly null). Possessive blank runs keep it from backtracking.
        literals, keys, stems = [], [], b""
        for pattern in every:
            stem = re.split(r"[*?\[]", pattern, maxsplit=1)[0].encode()
            stems += stem
            exact = stem.decode() == pattern
            literals.append(b'"' + stem + (b'"' if exact else b""))
            keys.append(re.escape(stem) + (b'"' if exact else rb'(?:[^"\\]|\\.)*"'))
        self._stems = tuple(dict.fromkeys(literal.strip(b'"') for literal in literals))
        self._escapes = _hiding_escapes(stems, empty_stem=any(lit == b'"' for lit in literals))
        self._hidden = any(char in stems for char in (b"/", b'"', b"\\"))
        self._holds_value = (
            re.compile(
                b'"(?:' + b"|".join(keys) + rb")" + _BLANKS + b":" + _BLANKS + _NOT_EMPTY
            ).search
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
        if holds_value(json_text) is not None:
            return True
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

        *memo* (container id -> the container and its result) lets several calls over values
        that share parts (a run's ``extra`` holds ``raw``'s own values) walk each part once.
        It holds each container walked, so that no id in it is reused while it lives (a
        mapping may build its values on access, and drop them).

        Walked by recursion (:meth:`_quick`, the cheaper way) while the value is a tree of
        ``dict`` and ``list`` no deeper than :data:`_QUICK_DEPTH`, else with a stack of its own
        (a payload may nest as deep as orjson decodes, 1,024 levels, past Python's recursion
        limit), which takes over what the recursion finished. Per value, the walk
        looks at the key's cached sensitivity and the value's type, and descends only into
        objects and arrays: this runs for every record the byte scan could not clear.

        A value holding itself ends: its copy, when it has one, holds the copy (the loop
        back is set once the container it leads to is done), never the original.
        """
        if self._matcher is None or not _is_container(value):
            return value
        if memo is None:
            memo = {}
        seen = memo.get(id(value))
        if seen is not None:
            return seen[1]
        try:
            quick = self._quick(value, memo, _QUICK_DEPTH)
        except RecursionError:  # called from deep down already: the stack's own walk is safe
            quick = _UNSEEN
        if quick is not _UNSEEN:
            return quick
        memo[id(value)] = (value, _WALKING)
        loops: dict[int, list[tuple[_Frame, int]]] = {}  # container id -> where it is met again
        stack = [_Frame(value)]
        while True:
            frame = stack[-1]
            child = self._scan(frame, memo, loops)
            if child is not _UNSEEN:  # walk it first, then come back to where frame stopped
                memo[id(child)] = (child, _WALKING)
                stack.append(_Frame(child))
                continue
            result = frame.result()
            memo[id(frame.value)] = (frame.value, result)
            if loops:
                for holder, position in loops.pop(id(frame.value), ()):
                    copy = memo[id(holder.value)][1]  # done, and a copy: it was marked changed
                    copy[position if holder.keys is None else holder.keys[position]] = result
            stack.pop()
            if not stack:
                return result

    def _quick(self, value: Any, memo: dict[int, Any], depth: int) -> Any:
        """*value* (a ``dict`` or a ``list``) redacted by recursion, what most payloads need and
        cheaper than the stack's frames; ``_UNSEEN`` when this cannot tell: deeper than
        *depth*, a loop (which recursion meets as depth), or a container of another type.
        Containers finished here are in *memo* as the stack's walk leaves them, so that it
        takes them over as they are when it has to go on from the top."""
        keyed = type(value) is dict
        if depth == 0 or not (keyed or type(value) is list):
            return _UNSEEN
        cache = self._cache
        changes: list[tuple[Any, Any]] | None = None
        for key, item in value.items() if keyed else enumerate(value):
            if item is None:
                continue
            if keyed and (type(key) is str or isinstance(key, str)):
                secret = cache.get(key)
                if secret is None:
                    secret = self.is_sensitive(key)
                if secret and not _is_empty(item):
                    changes = changes or []
                    changes.append((key, REDACTED))
                    continue
            if type(item) in _ATOMS:
                continue
            done = self._quick_child(item, memo, depth)
            if done is not item:
                if done is _UNSEEN:
                    return _UNSEEN
                changes = changes or []
                changes.append((key, done))
        result = value
        if changes is not None:
            result = value.copy()
            for key, done in changes:
                result[key] = done
        memo[id(value)] = (value, result)
        return result

    def _quick_child(self, item: Any, memo: dict[int, Any], depth: int) -> Any:
        """What :meth:`_quick` makes of a value that is not an atom, one level down."""
        kind = type(item)
        if kind is dict or kind is list:
            if not item:  # an empty container holds nothing to redact
                return item
            seen = memo.get(id(item))
            if seen is None:
                return self._quick(item, memo, depth - 1)
            return _UNSEEN if seen[1] is _WALKING else seen[1]
        return _UNSEEN if _is_container(item) else item  # another type: the stack's walk

    def _scan(
        self, frame: _Frame, memo: dict[int, Any], loops: dict[int, list[tuple[_Frame, int]]]
    ) -> Any:
        """Go on through *frame*'s values: redact each sensitive key's, take each walked
        container's result, note each loop back to a container being walked; the first
        container not walked yet, or ``_UNSEEN`` at the end."""
        cache, sensitive = self._cache, self.is_sensitive
        keys, values = frame.keys, frame.values
        for position in range(frame.position, len(values)):
            item = values[position]
            if keys is not None:
                key = keys[position]
                if type(key) is str or isinstance(key, str):
                    secret = cache.get(key)
                    if secret is None:
                        secret = sensitive(key)
                    if secret and not _is_empty(item):
                        values[position] = REDACTED
                        frame.changed = True
                        continue
            kind = type(item)
            if kind in _ATOMS:
                continue
            if kind is dict or kind is list:
                if not item:  # an empty container holds nothing to redact
                    continue
            elif not _is_container(item):
                continue
            done = self._walked(item, memo)
            if done is _UNSEEN:  # it holds containers: walk it first
                frame.position = position
                return item
            if done is _WALKING:  # a loop: copied, and pointed at the copy once that is done
                loops.setdefault(id(item), []).append((frame, position))
                frame.changed = True
            elif done is not item:
                values[position] = done
                frame.changed = True
        frame.position = len(values)
        return _UNSEEN

    def _walked(self, value: Any, memo: dict[int, Any]) -> Any:
        """The result of a container walked already (``_WALKING`` while it is), or of a
        ``dict`` or ``list`` that holds no object or array to walk (most of a payload's:
        redacted here and now by :meth:`_quick`, one level, without a frame); else
        ``_UNSEEN``."""
        seen = memo.get(id(value))
        if seen is not None:
            return seen[1]
        return self._quick(value, memo, 1)

    def secret_texts(self, value: Any) -> list[str]:
        """The texts a message about *value* could show of its secrets: every string (key or
        value) and number held under a sensitive key, at any depth, as itself and as
        ``repr`` writes a string (longest first; blank ones are no secret). Walked with a
        stack of its own, each container once."""
        if self._matcher is None or not _is_container(value):
            return []
        found: set[str] = set()
        seen: set[int] = set()
        pending: list[tuple[Any, bool]] = [(value, False)]
        while pending:
            item, secret = pending.pop()
            if _is_container(item):
                if id(item) in seen:
                    continue
                seen.add(id(item))
                if isinstance(item, Mapping):
                    for key, child in item.items():
                        hidden = secret or (
                            isinstance(key, str) and self.is_sensitive(key) and not _is_empty(child)
                        )
                        if secret:
                            pending.append((key, True))
                        pending.append((child, hidden))
                else:
                    pending.extend((child, secret) for child in item)
            elif secret and isinstance(item, str | int | float) and not isinstance(item, bool):
                text = item if isinstance(item, str) else repr(item)
                found.update(t for t in (text, repr(text)[1:-1]) if t.strip())
        return sorted(found, key=len, reverse=True)

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

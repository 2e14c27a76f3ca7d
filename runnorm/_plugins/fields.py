"""Typed reads from payloads: ``Fields`` (one per provider) and ``FieldReader`` (one per record).

A mapping function binds ``fields = Fields("skyvern")`` once and reads each payload through
``r = fields.read(p)``: ``r.text("status")``, ``r.timing(created="created_at", ...)``, and at
the end ``extra = r.rest()``, every key the mapping did not read. A wrong type fails as a
``PayloadError`` naming the provider, the path and the value.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from runnorm._errors import PayloadError, shorten
from runnorm._model.run import JSON, Timing
from runnorm._model.timestamps import parse_timestamp

__all__ = ["FieldReader", "Fields", "snake_case"]

_fromisoformat = datetime.fromisoformat
_EMPTY_TIMING = Timing()
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DICTS = frozenset({dict})  # _DICTS.issuperset(map(type, items)): every item a dict, in C
_STRS = frozenset({str})


def _stamp(
    value: Any, fields: Fields, key: str, prefix: str = "", path: str | None = None
) -> datetime | None:
    """``parse_timestamp`` with the common shapes inlined (the batch hot path); the error
    path (``prefix + key``, or *path*) and the unit are worked out only off it."""
    if type(value) is str and len(value) >= 19:
        try:
            sign = value[-6]
            if sign in "+-":  # an offset: +00:00 parses to UTC itself
                if value.endswith("+00:00"):
                    return _fromisoformat(value)
            elif value[-1] == "Z":  # parses to UTC itself
                return _fromisoformat(value)
            else:  # naive means UTC; cheaper than .replace afterwards (by 10 times)
                return _fromisoformat(value + "+00:00")
        except ValueError:
            pass
    return parse_timestamp(
        value,
        provider=fields.provider,
        path=path or prefix + key,
        seconds=key in fields.epoch_seconds,
    )


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


_SNAKE: dict[str, str] = {}
_SNAKE_LIMIT = 4096


def snake_case(name: str) -> str:
    """``sandboxId`` -> ``sandbox_id``; snake_case names pass unchanged (results cached)."""
    converted = _SNAKE.get(name)
    if converted is None:
        converted = _CAMEL.sub("_", name).lower()
        if len(_SNAKE) < _SNAKE_LIMIT:
            _SNAKE[name] = converted
    return converted


class Fields:
    """Typed reads from a payload that fail as ``PayloadError`` naming provider, path and value.

    Bind one per provider (``fields = Fields("skyvern")``). :meth:`read` wraps one payload in a
    :class:`FieldReader` that remembers the keys read; the methods here read nested values
    (``fields.text(item, "url", "downloaded_files[0].url")``) and record nothing.
    ``epoch_seconds`` names the timestamp keys whose JSON numbers are epoch seconds (OpenAI's
    ``created_at``); numbers in every other timestamp key are epoch milliseconds.
    """

    __slots__ = ("epoch_seconds", "provider")

    def __init__(self, provider: str, *, epoch_seconds: Iterable[str] = ()) -> None:
        self.provider = provider
        self.epoch_seconds = frozenset(epoch_seconds)

    def read(self, payload: Any, prefix: str = "") -> FieldReader:
        """A :class:`FieldReader` over *payload* (``PayloadError`` unless it is a JSON object)."""
        if type(payload) is not dict:
            return FieldReader(self, self.require_mapping(payload), prefix)
        reader = _new_reader(FieldReader)  # what __init__ does, one call frame less: per record
        reader.fields = self
        reader.payload = payload
        reader.prefix = prefix
        reader.unread = payload.copy()
        return reader

    def error(self, path: str, value: Any, expected: str) -> PayloadError:
        """A ``PayloadError`` for *value* at *path* that should have been *expected*."""
        return PayloadError(
            f"expected {expected}, got {shorten(value)}",
            provider=self.provider,
            path=path,
            value=value,
        )

    def require_mapping(self, payload: Any, path: str = "$") -> Mapping[str, Any]:
        """*payload* itself, or ``PayloadError`` when it is not a JSON object."""
        if type(payload) is dict or isinstance(payload, Mapping):
            return payload
        raise self.error(path, payload, "a JSON object")

    def id(self, p: Mapping[str, Any], *keys: str, prefix: str = "") -> str:
        """The first of *keys* holding a non-empty string (required)."""
        for key in keys:
            value = p.get(key)
            if value is None:
                continue
            if type(value) is str and value:
                return value
            raise self.error(prefix + key, value, "a non-empty string id")
        raise PayloadError(
            f"missing run id (looked for {', '.join(keys)})",
            provider=self.provider,
            path=prefix + keys[0],
        )

    def status_word(
        self, p: Mapping[str, Any], key: str = "status", path: str | None = None
    ) -> str:
        """The native status word (required, a string)."""
        value = p.get(key)
        if type(value) is str:
            return value
        if value is None:
            raise PayloadError("missing status", provider=self.provider, path=path or key)
        raise self.error(path or key, value, "a status string")

    def text(self, p: Mapping[str, Any], key: str, path: str | None = None) -> str | None:
        """A string field or None."""
        value = p.get(key)
        if value is None or type(value) is str:
            return value
        if isinstance(value, str):
            return str(value)
        raise self.error(path or key, value, "a string")

    def integer(self, p: Mapping[str, Any], key: str, path: str | None = None) -> int | None:
        """An integer field or None (a float with no fraction counts, as JSON writers vary).

        Values must fit 64 bits, as every columnar output stores them that way."""
        value = p.get(key)
        if value is None:
            return None
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            return value
        raise self.error(path or key, value, "an integer that fits 64 bits")

    def boolean(self, p: Mapping[str, Any], key: str, path: str | None = None) -> bool | None:
        """A boolean field or None."""
        value = p.get(key)
        if value is None or type(value) is bool:
            return value
        raise self.error(path or key, value, "true or false")

    def time(self, p: Mapping[str, Any], key: str, path: str | None = None) -> datetime | None:
        """A timestamp field as an aware UTC datetime, or None."""
        value = p.get(key)
        if value is None:
            return None
        return _stamp(value, self, key, path=path)

    def mapping(
        self, p: Mapping[str, Any], key: str, path: str | None = None
    ) -> Mapping[str, Any] | None:
        """A JSON object field or None."""
        value = p.get(key)
        if value is None or type(value) is dict or isinstance(value, Mapping):
            return value
        raise self.error(path or key, value, "a JSON object")

    def array(self, p: Mapping[str, Any], key: str, path: str | None = None) -> list[JSON]:
        """A JSON array field; a missing or null one is empty."""
        value = p.get(key)
        if value is None:
            return []
        if type(value) is list:
            return value
        if isinstance(value, list | tuple):
            return list(value)
        raise self.error(path or key, value, "a JSON array")

    def objects(
        self, p: Mapping[str, Any], key: str, path: str | None = None
    ) -> list[Mapping[str, JSON]]:
        """A JSON array of objects; a missing or null one is empty."""
        items = self.array(p, key, path)
        for index, item in enumerate(items):
            if type(item) is not dict and not isinstance(item, Mapping):
                raise self.error(f"{path or key}[{index}]", item, "a JSON object")
        return items

    def strings(self, p: Mapping[str, Any], key: str, path: str | None = None) -> list[str]:
        """A JSON array of strings (nulls skipped); a missing or null one is empty."""
        items = self.array(p, key, path)
        if _STRS.issuperset(map(type, items)):
            return items
        out: list[str] = []
        for index, item in enumerate(items):
            if item is None:
                continue
            if not isinstance(item, str):
                raise self.error(f"{path or key}[{index}]", item, "a string")
            out.append(item)
        return out


_MISSING: Any = object()
_NONES = itertools.repeat(None)


def _put_back(left: dict[str, Any], payload: Mapping[str, Any], back: list[str]) -> dict[str, Any]:
    """*left* plus the *back* keys of *payload*, all in the payload's order.

    When no unread key follows a kept one (one kept key that is the payload's last is the
    common case, and the cheapest), appending is enough, which costs a walk over the
    payload's tail instead of a rebuild.
    """
    if type(payload) is not dict:
        return {k: v for k, v in payload.items() if k in left or k in back}
    if len(back) == 1 and next(reversed(payload)) == back[0]:  # the common case, cheaply
        left[back[0]] = payload[back[0]]
        return left
    wanted = set(back)
    found: list[str] = []
    tail: Iterable[str] = reversed(payload)
    for key in tail:
        if key in wanted:
            found.append(key)
            if len(found) == len(wanted):
                for kept in reversed(found):
                    left[kept] = payload[kept]
                return left
        elif key in left:
            break  # an unread key after a kept one: rebuild in order
    return {k: v for k, v in payload.items() if k in left or k in wanted}


class FieldReader:
    """Typed reads from one payload that remember which keys were read.

    ``extra`` is then :meth:`rest`: every key not read, in the payload's order, with explicit
    ``keep`` (read, and copied to ``extra`` as well) and ``drop`` (never read, never copied:
    each one declared as a dropped :class:`~runnorm.FieldNote`) lists for the exceptions. A key
    counts as read when a method looked it up, present or not, except :meth:`has_any`, which
    only asks. One reader per record: nothing is shared across records or threads.

    :meth:`child` reads a nested object with its own reader, paths prefixed for errors
    (``output.exit_code``).
    """

    # How: ``unread`` starts as a copy of the payload and each read pops its key, so one C-level
    # call both fetches and records, and ``rest()`` is what is left (no per-key set to test).
    __slots__ = ("fields", "payload", "prefix", "unread")

    def __init__(self, fields: Fields, payload: Mapping[str, Any], prefix: str = "") -> None:
        self.fields = fields
        self.payload = payload
        self.prefix = prefix
        self.unread: dict[str, Any] = dict(payload)

    def has_any(self, keys: Collection[str]) -> bool:
        """True when the payload has one of *keys* (nothing is marked read)."""
        return not self.payload.keys().isdisjoint(keys)

    def present(self, keys: tuple[str, ...]) -> bool:
        """True when one of *keys* holds a value other than null. When none does, every one
        of them is marked read (absent or null, none goes to ``extra``): a mapping can skip
        reading a group of fields that a payload sends all null."""
        values = [*map(self.payload.get, keys)]
        if values.count(None) < len(values):
            return True
        any(map(self.unread.pop, keys, _NONES))  # pop(key, None) for each, in C: all None
        return False

    def value(self, key: str) -> Any:
        """The value at *key*, whatever its type, or None."""
        value = self.unread.pop(key, _MISSING)
        return self.payload.get(key) if value is _MISSING else value

    def first(self, *keys: str) -> Any:
        """The first non-null value among *keys* (those after it are not read), or None."""
        pop = self.unread.pop
        for key in keys:
            value = pop(key, _MISSING)
            if value is _MISSING:
                value = self.payload.get(key)
            if value is not None:
                return value
        return None

    def id(self, *keys: str) -> str:
        """The first of *keys* holding a non-empty string (required; later keys are not read)."""
        pop = self.unread.pop
        for key in keys:
            value = pop(key, _MISSING)
            if value is _MISSING:
                value = self.payload.get(key)
            if value is not None:
                if type(value) is str and value:
                    return value
                break
        return self.fields.id(self.payload, *keys, prefix=self.prefix)

    def status(self, key: str = "status") -> str:
        """The native status word (required, a string)."""
        value = self.unread.pop(key, _MISSING)
        if value is _MISSING:
            value = self.payload.get(key)
        if type(value) is str:
            return value
        return self.fields.status_word(self.payload, key, self.prefix + key)

    def text(self, key: str) -> str | None:
        """A string field or None."""
        value = self.unread.pop(key, _MISSING)
        if value is _MISSING:
            value = self.payload.get(key)
        if value is None or type(value) is str:
            return value
        return self.fields.text(self.payload, key, self.prefix + key)

    def integer(self, key: str) -> int | None:
        """An integer field that fits 64 bits, or None (a float with no fraction counts)."""
        value = self.unread.pop(key, _MISSING)
        if value is _MISSING:
            value = self.payload.get(key)
        if value is None or (type(value) is int and _INT64_MIN <= value <= _INT64_MAX):
            return value
        return self.fields.integer(self.payload, key, self.prefix + key)

    def boolean(self, key: str) -> bool | None:
        """A boolean field or None."""
        value = self.unread.pop(key, _MISSING)
        if value is _MISSING:
            value = self.payload.get(key)
        if value is None or type(value) is bool:
            return value
        return self.fields.boolean(self.payload, key, self.prefix + key)

    def time(self, key: str) -> datetime | None:
        """A timestamp field as an aware UTC datetime, or None."""
        value = self.unread.pop(key, _MISSING)
        if value is _MISSING:
            value = self.payload.get(key)
        if value is None:
            return None
        return _stamp(value, self.fields, key, self.prefix)

    def mapping(self, key: str) -> Mapping[str, Any] | None:
        """A JSON object field or None."""
        value = self.unread.pop(key, _MISSING)
        if value is _MISSING:
            value = self.payload.get(key)
        if value is None or type(value) is dict:
            return value
        return self.fields.mapping(self.payload, key, self.prefix + key)

    def child(self, key: str) -> FieldReader | None:
        """A reader over the JSON object at *key* (paths ``key.name``), or None when null."""
        nested = self.mapping(key)
        if nested is None:
            return None
        return self.fields.read(nested, f"{self.prefix}{key}.")

    def array(self, key: str) -> list[JSON]:
        """A JSON array field; a missing or null one is empty."""
        value = self.unread.pop(key, _MISSING)
        if value is _MISSING:  # absent, or read before
            value = self.payload.get(key)
        if value is None:
            return []
        if type(value) is list:
            return value
        return self.fields.array(self.payload, key, self.prefix + key)

    def objects(self, key: str) -> list[Mapping[str, JSON]]:
        """A JSON array of objects; a missing or null one is empty."""
        value = self.unread.pop(key, _MISSING)
        if value is _MISSING:  # absent, or read before
            value = self.payload.get(key)
        if value is None:
            return []
        if type(value) is list and _DICTS.issuperset(map(type, value)):  # a C-level pass
            return value
        return self.fields.objects(self.payload, key, self.prefix + key)

    def strings(self, key: str) -> list[str]:
        """A JSON array of strings (nulls skipped); a missing or null one is empty."""
        value = self.unread.pop(key, _MISSING)
        if value is _MISSING:
            value = self.payload.get(key)
        if value is None:
            return []
        if type(value) is list and _STRS.issuperset(map(type, value)):  # a C-level pass
            return value
        return self.fields.strings(self.payload, key, self.prefix + key)

    def timing(
        self,
        *,
        created: str | None = None,
        queued: str | None = None,
        started: str | None = None,
        finished: str | None = None,
        updated: str | None = None,
        next_attempt: str | None = None,
    ) -> Timing:
        """A ``Timing`` from the named timestamp keys (each may be absent); *next_attempt*
        names the key of ``next_attempt_at`` (a provider that retries runs under one id)."""
        pop, get = self.unread.pop, self.payload.get
        # Unrolled on purpose: this runs once per record in every batch. A key popped already
        # (read before) or absent gives None from pop: then the payload says which.
        c = pop(created, None) if created else None
        q = pop(queued, None) if queued else None
        s = pop(started, None) if started else None
        f = pop(finished, None) if finished else None
        u = pop(updated, None) if updated else None
        if c is None and created:
            c = get(created)
        if q is None and queued:
            q = get(queued)
        if s is None and started:
            s = get(started)
        if f is None and finished:
            f = get(finished)
        if u is None and updated:
            u = get(updated)
        n = None
        if next_attempt:
            n = pop(next_attempt, None)
            if n is None:
                n = get(next_attempt)
        if c is None and q is None and s is None and f is None and u is None and n is None:
            return _EMPTY_TIMING
        fields, prefix = self.fields, self.prefix
        return Timing(
            None if c is None else _stamp(c, fields, created or "", prefix),
            None if q is None else _stamp(q, fields, queued or "", prefix),
            None if s is None else _stamp(s, fields, started or "", prefix),
            None if f is None else _stamp(f, fields, finished or "", prefix),
            None if u is None else _stamp(u, fields, updated or "", prefix),
            None if n is None else _stamp(n, fields, next_attempt or "", prefix),
        )

    def rest(
        self,
        *,
        keep: Collection[str] = (),
        drop: Collection[str] = (),
        snake: bool = False,
        prefix: str = "",
    ) -> dict[str, JSON]:
        """Every key not read, in the payload's order: what goes to ``extra``.

        ``keep``: keys read that are copied all the same (Skyvern's ``run_request``, whose
        ``prompt`` is the task). ``drop``: keys never copied (declare each as a dropped
        ``FieldNote``). ``snake=True`` turns camelCase keys into snake_case (``agentId`` ->
        ``agent_id``); ``prefix`` is put before each key (``output_`` for a nested object).
        Call it once, after the reads: it hands over what is left.
        """
        left = self.unread
        if keep:
            payload = self.payload
            back = [key for key in keep if key not in left and key in payload]
            if back:
                left = _put_back(left, payload, back)
        for key in drop:
            left.pop(key, None)
        if snake:
            cached = _SNAKE.get
            return {prefix + (cached(k) or snake_case(k)): v for k, v in left.items()}
        if prefix:
            return {prefix + k: v for k, v in left.items()}
        return left


_new_reader = object.__new__

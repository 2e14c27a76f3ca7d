"""``Provider``: what a plugin declares about one provider, as data where it can.

A provider module reads like a table: a :class:`Fields` reader bound to the provider's name,
its :class:`~runnorm._model.status.StatusMap`, a mapping function from payload to ``Run``, and the
``Provider`` declaration tying them together with auth, transport and detection facts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from runnorm._errors import PayloadError, shorten
from runnorm._model.run import JSON, Run, Timing
from runnorm._model.status import StatusMap
from runnorm._model.timestamps import parse_timestamp

_fromisoformat = datetime.fromisoformat
_EMPTY_TIMING = Timing()
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _stamp(value: Any, provider: str, path: str) -> datetime | None:
    """``parse_timestamp`` with the common shapes inlined (the batch hot path)."""
    if type(value) is str and len(value) >= 19:
        try:
            if value[-1] == "Z" or value.endswith("+00:00"):  # both parse to UTC itself
                return _fromisoformat(value)
            if value[-6] not in "+-":  # naive means UTC; cheaper than .replace afterwards
                return _fromisoformat(value + "+00:00")
        except ValueError:
            pass
    return parse_timestamp(value, provider=provider, path=path)


__all__ = [
    "Auth",
    "RelatedFetch",
    "Fields",
    "McpFetch",
    "Provider",
    "RestFetch",
    "snake_case",
]

Mapper = Callable[[Mapping[str, Any]], Run]
Detector = Callable[[Mapping[str, Any]], bool]


@attrs.frozen
class Auth:
    """How a provider takes its API key.

    ``header`` is the header name, ``scheme`` an optional prefix (``"Bearer"``), ``env_var``
    the environment variable the key is read from when no argument gives it.
    """

    header: str
    env_var: str
    scheme: str | None = None


@attrs.frozen
class RelatedFetch:
    """Documents fetched after the run when the call option ``option`` is true.

    ``key`` names the payload field holding the related id (Browserbase's ``sessionId``);
    ``paths`` maps a name to a path template using ``{id}``. Each document (None when the
    provider answered one of ``missing_ok``) is handed to ``fold(run, documents)``, a pure
    function returning the enriched ``Run``.
    """

    option: str
    key: str
    paths: Mapping[str, str]
    fold: Callable[[Run, Mapping[str, Any]], Run]
    missing_ok: frozenset[int] = frozenset({404, 409, 410, 422})


@attrs.frozen
class RestFetch:
    """Fetch one run with ``GET {base_url}{path}``; ``path`` holds ``{run_id}``.

    ``related`` lists opt-in follow-up fetches, each switched on by a call option.
    """

    path: str
    related: tuple[RelatedFetch, ...] = ()


@attrs.frozen
class McpFetch:
    """Fetch one run with an MCP ``tools/call`` of ``tool`` with ``{argument: run_id}``.

    ``not_found``: the ``error`` codes the provider's tools return (in an ``isError`` result's
    structured ``{error, message, hint}``) when the run does not exist; such an error is a
    ``ToolNotFoundError``, any other a ``ToolError``. The message text is never consulted.
    """

    tool: str = "get_run"
    argument: str = "run_id"
    not_found: frozenset[str] = frozenset()


@attrs.frozen
class Provider:
    """The declaration a plugin passes to ``register(...)``.

    Required: ``name``, ``statuses`` (a ``StatusMap``), ``to_run`` (payload -> ``Run``) and
    ``detect`` (payload -> bool, by id shape and key sets, never by status words).
    Everything else is optional and switches capabilities on: ``fetch`` with ``auth`` and
    ``base_url`` for live fetching, ``verify_webhook`` for webhook signatures.
    ``sensitive_keys`` are key names (``fnmatch`` patterns, matched with their case) whose
    values in payloads are secrets: CLI output redacts them. ``samples`` is a directory of sample
    payloads (one JSON object per file) used by the conformance suite and the docs.
    """

    name: str
    statuses: StatusMap
    to_run: Mapper
    detect: Detector
    title: str | None = None
    aliases: tuple[str, ...] = ()
    auth: Auth | None = None
    base_url: str | None = None
    base_url_env: str | None = None
    fetch: RestFetch | McpFetch | None = None
    verify_webhook: Callable[..., None] | None = None
    sensitive_keys: tuple[str, ...] = ()
    samples: Path | None = None
    docs_url: str | None = None
    field_notes: Mapping[str, str] = attrs.field(factory=dict)
    detect_keys: frozenset[str] = frozenset()
    """Optional: keys of which a payload must have at least one for ``detect`` to accept it.
    Lets detection skip this provider's detector cheaply on other providers' payloads."""

    @property
    def options(self) -> frozenset[str]:
        """Provider-specific call options (``include_session`` for Browserbase)."""
        if isinstance(self.fetch, RestFetch):
            return frozenset(related.option for related in self.fetch.related)
        return frozenset()

    @property
    def capabilities(self) -> frozenset[str]:
        """What this provider supports: ``normalize``, ``fetch``, ``webhooks``."""
        caps = {"normalize"}
        if self.fetch is not None:
            caps.add("fetch")
        if self.verify_webhook is not None:
            caps.add("webhooks")
        return frozenset(caps)


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

    Bind one per provider (``fields = Fields("skyvern")``) and use it in the mapping function:
    ``fields.text(p, "task")`` returns the string or None and rejects any other type.
    """

    __slots__ = ("provider",)

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def error(self, path: str, value: Any, expected: str) -> PayloadError:
        """A ``PayloadError`` for *value* at *path* that should have been *expected*."""
        return PayloadError(
            f"expected {expected}, got {shorten(value)}",
            provider=self.provider,
            path=path,
            value=value,
        )

    def require_mapping(self, payload: Any) -> Mapping[str, Any]:
        """*payload* itself, or ``PayloadError`` when it is not a JSON object."""
        if type(payload) is dict or isinstance(payload, Mapping):
            return payload
        raise self.error("$", payload, "a JSON object")

    def id(self, p: Mapping[str, Any], *keys: str) -> str:
        """The first of *keys* holding a non-empty string (required)."""
        for key in keys:
            value = p.get(key)
            if value is None:
                continue
            if type(value) is str and value:
                return value
            raise self.error(key, value, "a non-empty string id")
        raise PayloadError(
            f"missing run id (looked for {', '.join(keys)})", provider=self.provider, path=keys[0]
        )

    def status_word(self, p: Mapping[str, Any], key: str = "status") -> str:
        """The native status word (required, a string)."""
        value = p.get(key)
        if type(value) is str:
            return value
        if value is None:
            raise PayloadError("missing status", provider=self.provider, path=key)
        raise self.error(key, value, "a status string")

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
        return _stamp(value, self.provider, path or key)

    def timing(
        self,
        p: Mapping[str, Any],
        *,
        created: str | None = None,
        queued: str | None = None,
        started: str | None = None,
        finished: str | None = None,
        updated: str | None = None,
    ) -> Timing:
        """A ``Timing`` from the named timestamp fields of *p* (each may be absent)."""
        get, name = p.get, self.provider
        # Unrolled on purpose: this runs once per record in every batch.
        c = get(created) if created else None
        q = get(queued) if queued else None
        s = get(started) if started else None
        f = get(finished) if finished else None
        u = get(updated) if updated else None
        if c is None and q is None and s is None and f is None and u is None:
            return _EMPTY_TIMING
        return Timing(
            None if c is None else _stamp(c, name, created or ""),
            None if q is None else _stamp(q, name, queued or ""),
            None if s is None else _stamp(s, name, started or ""),
            None if f is None else _stamp(f, name, finished or ""),
            None if u is None else _stamp(u, name, updated or ""),
        )

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
        if all(type(item) is str for item in items):
            return items
        out: list[str] = []
        for index, item in enumerate(items):
            if item is None:
                continue
            if not isinstance(item, str):
                raise self.error(f"{path or key}[{index}]", item, "a string")
            out.append(item)
        return out

    @staticmethod
    def rest(
        p: Mapping[str, Any], consumed: Collection[str], *, snake: bool = False
    ) -> dict[str, JSON]:
        """The fields of *p* not in *consumed*: what goes to ``extra``.

        With ``snake=True`` camelCase keys become snake_case (``agentId`` -> ``agent_id``).
        """
        if snake:
            cached = _SNAKE.get
            return {cached(k) or snake_case(k): v for k, v in p.items() if k not in consumed}
        return {k: v for k, v in p.items() if k not in consumed}

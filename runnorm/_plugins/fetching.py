"""How a provider fetches one run: ``RestFetch`` (with ``RelatedFetch``) or ``McpFetch``.

Both may route a run to one of several endpoints, as data: by the prefix of its id
(``routes``) or by a run kind the caller names with a call option (``kinds`` and
``kind_option``). :func:`fetch_target` is the one place that choice is made, for REST and MCP,
sync and async; :mod:`runnorm._plugins.checks` is what registration checks about them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from runnorm._errors import ConfigError, shorten
from runnorm._model.run import Run

__all__ = [
    "GENERIC_OPTIONS",
    "RESERVED_OPTIONS",
    "McpFetch",
    "RelatedFetch",
    "RestFetch",
    "chosen_kind",
    "fetch_options",
    "fetch_target",
]

GENERIC_OPTIONS = frozenset(
    {"api_key", "base_url", "timeout", "max_retries", "headers", "max_response_bytes"}
)
"""The call options every provider takes."""
RESERVED_OPTIONS = GENERIC_OPTIONS | frozenset(
    {
        # parameters of the calls that pass provider options through (get, wait, get_many,
        # list_runs, watch, cancel, resume, artifacts, download)
        "provider",
        "run_id",
        "run_ids",
        "ids",
        "concurrency",
        "interval",
        "stop_on_paused",
        "request_timeout",
        "on_update",
        "http_client",
        "since",
        "until",
        "status",
        "limit",
        "full",
        "max_pages",
        "follow",
        "webhooks",
        "message",
        "artifact",
        "dest_dir",
        "overwrite",
        "max_bytes",
        "on_progress",
    }
)
"""Names a provider cannot declare as its own call option: the generic options and the
parameters of the calls that take provider options."""


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
    """Fetch one run with ``GET {base_url}{path}``; a path template holds ``{run_id}``.

    Which path serves a run, first match wins:

    1. ``kinds``: run kind -> path, when the caller passes the call option named
       ``kind_option`` (Hyperbrowser: ``get("hyperbrowser", id, kind="browser_use")`` reaches
       ``/api/task/browser-use/{run_id}``). A kind not declared is a ``ConfigError`` naming
       the valid ones.
    2. ``routes``: id prefix -> path; the longest declared prefix the run id starts with
       (OpenAI: ``{"resp_": "/v1/responses/{run_id}", "batch_": "/v1/batches/{run_id}"}``).
    3. ``path``, the default. Without one, a run that neither chooses is a ``ConfigError``
       saying what to pass.

    Every template is a path (it starts with ``/``, no query or fragment) holding
    ``{run_id}``, which is sent percent-encoded as one path segment.
    ``related`` lists opt-in follow-up fetches, each switched on by a call option.
    """

    path: str | None = None
    related: tuple[RelatedFetch, ...] = ()
    routes: Mapping[str, str] = attrs.field(factory=dict)
    """Id prefix -> path template (``{"batch_": "/v1/batches/{run_id}"}``)."""
    kinds: Mapping[str, str] = attrs.field(factory=dict)
    """Run kind -> path template, chosen with the call option ``kind_option``."""
    kind_option: str | None = None
    """The call option naming the run kind (``"kind"``); required when ``kinds`` is set."""


@attrs.frozen
class McpFetch:
    """Fetch one run with an MCP ``tools/call`` of ``tool`` with ``{argument: run_id}``.

    ``routes`` (id prefix -> tool) and ``kinds`` (run kind -> tool, chosen with the call
    option ``kind_option``) pick another tool for some runs, as for :class:`RestFetch`;
    ``tool`` is the default (None: a run that neither chooses is a ``ConfigError``).
    ``not_found``: the ``error`` codes the provider's tools return (in an ``isError`` result's
    structured ``{error, message, hint}``) when the run does not exist; such an error is a
    ``ToolNotFoundError``, any other a ``ToolError``. The message text is never consulted.
    A fetch tool only reads: a call whose session was lost mid-flight is sent again, once.
    """

    tool: str | None = "get_run"
    argument: str = "run_id"
    not_found: frozenset[str] = frozenset()
    routes: Mapping[str, str] = attrs.field(factory=dict)
    """Id prefix -> tool name."""
    kinds: Mapping[str, str] = attrs.field(factory=dict)
    """Run kind -> tool name, chosen with the call option ``kind_option``."""
    kind_option: str | None = None
    """The call option naming the run kind; required when ``kinds`` is set."""


def _listed(names: Mapping[str, str]) -> str:
    return ", ".join(repr(name) for name in sorted(names))


def chosen_kind(
    fetch: RestFetch | McpFetch, options: Mapping[str, Any], provider: str
) -> str | None:
    """The run kind the call options name (None when the call names none, or the provider
    routes by no kind); ``ConfigError``, naming the valid kinds, for a kind not declared."""
    if fetch.kind_option is None:
        return None
    kind = options.get(fetch.kind_option)
    if kind is None:
        return None
    if not isinstance(kind, str) or kind not in fetch.kinds:
        raise ConfigError(
            f"{provider}: {fetch.kind_option}= must be one of {_listed(fetch.kinds)}, "
            f"not {shorten(kind)}"
        )
    return kind


def fetch_target(
    fetch: RestFetch | McpFetch, run_id: str, options: Mapping[str, Any], provider: str
) -> str:
    """The path template (REST) or the tool (MCP) that serves *run_id*: the kind the call
    options name, else the longest matching id prefix, else the default; ``ConfigError`` when
    none applies."""
    kind = chosen_kind(fetch, options, provider)
    if kind is not None:
        return fetch.kinds[kind]
    best = max(
        (prefix for prefix in fetch.routes if run_id.startswith(prefix)), key=len, default=None
    )
    if best is not None:
        return fetch.routes[best]
    default = fetch.path if isinstance(fetch, RestFetch) else fetch.tool
    if default is not None:
        return default
    wanted = []
    if fetch.kind_option is not None:
        wanted.append(f"pass {fetch.kind_option}= (one of {_listed(fetch.kinds)})")
    if fetch.routes:
        wanted.append(f"use an id starting with one of {_listed(fetch.routes)}")
    how = " or ".join(wanted) or "declare a default"
    raise ConfigError(f"{provider}: no endpoint serves run {shorten(run_id)}: {how}")


def fetch_options(fetch: RestFetch | McpFetch | None) -> list[str]:
    """The call options *fetch* declares, in declaration order (related options, the kind)."""
    options = [r.option for r in fetch.related] if isinstance(fetch, RestFetch) else []
    if fetch is not None and fetch.kind_option is not None:
        options.append(fetch.kind_option)
    return options

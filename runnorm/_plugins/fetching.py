"""How a provider fetches one run: ``RestFetch`` (with ``RelatedFetch``) or ``McpFetch``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from runnorm._model.run import Run

__all__ = ["McpFetch", "RelatedFetch", "RestFetch"]


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

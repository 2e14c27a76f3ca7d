"""Sphinx directives whose tables come from the providers' own declarations, at build time.

- ``{runnorm-provider} NAME``: one provider's page body: facts (auth, base URL, how a run is
  fetched and routed, how runs are listed and what list items lack, options, capabilities
  and those declared for later, sensitive keys),
  the status map, the field mapping and its module docstring, and one of its samples
  normalized.
- ``{runnorm-status-table}``: the ``RunStatus`` x provider table of every first-party provider.
- ``{runnorm-providers}``: an overview row per installed provider.
- ``{runnorm-capabilities}``: the capability matrix, provider x capability, each cell what
  the declaration says (or that it is declared for a later version, or absent).
- ``{runnorm-control-table}``: cancel and resume per provider: the request, and which reply
  gives which ``ControlResult.outcome``.

Everything here is built from ``runnorm.Provider`` objects registered through the entry points
(``.statuses``, ``.field_notes`` (``FieldNote`` data, rendered as they are), ``.auth``,
``.fetch``, ...) and the provider module's docstring; nothing is copied by hand. The
``*_markdown`` functions return MyST markdown and are what the tests call; the directives
parse that markdown into the page.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import runnorm
from runnorm import McpFetch, Provider, RestFetch, Run, RunStatus

__all__ = [
    "CAPABILITIES",
    "FIRST_PARTY",
    "capabilities_markdown",
    "control_rows",
    "control_table_markdown",
    "field_rows",
    "fact_rows",
    "markdown_table",
    "provider_markdown",
    "providers_markdown",
    "status_rows",
    "status_table_markdown",
]

FIRST_PARTY = ("skyvern", "browserbase", "bridgetown")
"""The providers shipped in this distribution: each has a page under ``docs/providers/``."""
CAPABILITIES = ("normalize", "fetch", "webhooks", "list", "cancel", "resume", "artifacts")
"""The matrix's columns, in the order the guides introduce them."""


def _provider(name: str) -> Provider:
    for info in runnorm.providers():  # the public API, as a plugin author's docs would use
        if info.name == name and info.provider is not None:
            return info.provider
    raise LookupError(f"provider {name!r} is not installed (or failed to load)")


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A MyST (GitHub-style) pipe table."""
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def status_rows(provider: Provider) -> list[list[str]]:
    """Native word, ``RunStatus``, terminal: one row per declared word, then the catch-all."""
    rows = [
        [_code(word), _code(status.value), "yes" if status.is_terminal else "no"]
        for word, status in provider.statuses.items()
    ]
    rows.append(["any other word", "`unknown` (one warning per word)", "no"])
    return rows


def _names(names: Sequence[str]) -> str:
    return ", ".join(_code(name) for name in names)


def field_rows(provider: Provider) -> list[list[str]]:
    """Native field -> where it lands in the ``Run`` -> when, from ``Provider.field_notes``."""
    rows = []
    for note in provider.field_notes:
        lands = "dropped (kept in `raw`)" if note.is_dropped else _names(note.to)
        if note.note:
            lands = f"{lands}: {note.note}"
        rows.append([_names(note.native), lands, note.when or "always"])
    rows.append(["the whole payload", f"{_code('raw')}, exactly as received", "always"])
    return rows


def _fetch_text(provider: Provider) -> str:
    fetch = provider.fetch
    if isinstance(fetch, RestFetch):
        if fetch.path is None:
            return "REST: `GET {base_url}` + the path its route gives (below); no default"
        routed = " by default (routes below)" if fetch.routes or fetch.kinds else ""
        return f"REST: `GET {{base_url}}{fetch.path}`{routed}"
    if isinstance(fetch, McpFetch):
        tool = f"`{fetch.tool}`" if fetch.tool else "the tool its route gives (below)"
        routed = (
            " by default (routes below)" if fetch.tool and (fetch.routes or fetch.kinds) else ""
        )
        return (
            f"MCP (JSON-RPC over Streamable HTTP): `tools/call` of {tool}{routed} "
            f'with `{{"{fetch.argument}": run_id}}`'
        )
    return "not supported (normalize only)"


def _route_rows(provider: Provider) -> list[list[str]]:
    """One row per kind (chosen with the call option) and per id prefix, with its endpoint."""
    fetch = provider.fetch
    if fetch is None:
        return []

    def target(value: str) -> str:
        if isinstance(fetch, RestFetch):
            return f"`GET {{base_url}}{value}`"
        return f"`tools/call` of `{value}`"

    rows = [
        [f"`{fetch.kind_option}={kind!r}`", target(value)]
        for kind, value in sorted(fetch.kinds.items())
    ]
    rows += [
        [f"ids starting with `{prefix}`", f"{target(value)} (the longest matching prefix wins)"]
        for prefix, value in sorted(fetch.routes.items())
    ]
    return rows


_PAGING_WORDS = {
    "PageNumbers": "numbered pages",
    "OffsetPages": "offsets",
    "CursorPages": "cursors",
    "AfterPages": "the last item's id sent as the next `after`",
    "NextUrlPages": "absolute next-page URLs (followed on the base URL's origin only)",
}


def _paging_text(paging: Any) -> str:
    words = _PAGING_WORDS.get(type(paging).__name__, type(paging).__name__)
    if isinstance(paging, runnorm.PageNumbers):
        cap = f", pages {paging.first} to {paging.max_page}" if paging.max_page else ""
        return f"{words} (`{paging.page_param}`, `{paging.size_param}`={paging.size}{cap})"
    if isinstance(paging, runnorm.OffsetPages):
        return f"{words} (`{paging.offset_param}`, `{paging.size_param}`={paging.size})"
    if isinstance(paging, runnorm.CursorPages):
        return f"{words} (`{paging.next_field}` sent back as `{paging.cursor_param}`)"
    if isinstance(paging, runnorm.AfterPages):
        return f"{words} (`{paging.after_param}`={paging.item_id})"
    return words


def _list_rows(provider: Provider) -> list[list[str]]:
    """How runs are listed: the endpoint or tool, paging, order, where each filter runs,
    the listing's own options, and what a listed ``Run`` lacks (``full=True`` fetches it)."""
    listing = provider.list
    if listing is None or "list" not in provider.capabilities:
        return []
    if isinstance(listing, runnorm.RestList):
        where = f"`GET {{base_url}}{listing.path}`, {_paging_text(listing.paging)}"
    else:
        where = (
            f"one `tools/call` of `{listing.tool}`, at most {listing.max_items} runs, no "
            "cursor: a listing that reaches that many without `since` covering it ends in "
            "`ListLimitError`"
        )
    order = {"newest_first": "newest first", "oldest_first": "oldest first"}.get(
        listing.order, "in no promised order (no early stop)"
    )
    status = listing.status
    if status is None:
        status_text = "on the client"
    else:
        how = "several words at once" if status.repeatable else "one word"
        spelled = f", spelled {_names(status.words)}" if status.words else ""
        status_text = f"on the server (`{status.param}`, {how}{spelled})"
    time = listing.time
    sent = [p for p in (time.since_param, time.until_param) if p] if time else []
    if sent:
        time_text = f"on the server ({_names(sent)}), and checked on the client"
    elif listing.order == "unordered":
        time_text = "on the client (every page is read)"
    elif isinstance(listing, runnorm.McpList):
        time_text = "on the client; an older run among those returned proves `since` covered"
    else:
        time_text = "on the client; paging stops once a page holds an older run"
    rows = [
        ["list runs", f"{where}; {order}"],
        ["`status=`", status_text],
        ["`since=` / `until=`", time_text],
    ]
    for param in listing.params:
        required = "required" if param.required else "optional"
        rows.append([f"`{param.option}=`", f"listing option ({required}), sent as `{param.param}`"])
    lacks = _names(listing.lacks) if listing.lacks else "nothing: list items are whole runs"
    rows.append(["a listed run lacks", f"{lacks} (`full=True` fetches each run)"])
    return rows


def _declared_where(provider: Provider, name: str) -> str:
    """Where a declared capability's requests go, in a few words."""
    declared: Any = getattr(provider, name, None)
    if isinstance(declared, runnorm.RestList):
        return f"`GET {declared.path}`, {type(declared.paging).__name__}"
    if isinstance(declared, runnorm.McpList):
        return f"tool `{declared.tool}`, at most {declared.max_items} runs"
    if isinstance(declared, runnorm.RestControl):
        return f"`{declared.method} {declared.path}`"
    if isinstance(declared, runnorm.McpControl):
        return f"tool `{declared.tool}`"
    if isinstance(declared, runnorm.Artifacts):
        where = [f"`GET {listing.path}`" for listing in declared.listings]
        return ", ".join((["the run's inline artifacts"] if declared.inline else []) + where)
    return "declared"


def _outcomes_text(declared: Any) -> str:
    """Which reply gives which outcome, from a ``RestControl`` or ``McpControl``."""
    if isinstance(declared, runnorm.RestControl):
        parts = [f"{code} {outcome}" for code, outcome in sorted(declared.outcomes.items())]
        if not any(200 <= code <= 299 for code in declared.outcomes):
            parts.insert(0, "2xx accepted")
        parts += [f"{code}: the run is fetched to tell" for code in declared.ambiguous]
        parts.append("any other code its `APIError`")
        return ", ".join(parts)
    if isinstance(declared, runnorm.McpControl):
        parts = ["a result accepted"]
        parts += [f"tool error `{code}` {o}" for code, o in sorted(declared.outcomes.items())]
        parts.append(f"any other tool error {declared.other_errors}")
        return ", ".join(parts)
    return ""


def _message_text(declared: Any) -> str:
    mode = getattr(declared, "message", "none")
    if mode == "none":
        return "no message"
    if isinstance(declared, runnorm.RestControl):
        return f"message {mode}, sent as `{json.dumps(declared.body)}`"
    return f"message {mode}, as `{declared.message_argument}`"


def _control_text(declared: Any) -> str:
    where = _declared_where_of(declared)
    if isinstance(declared, runnorm.McpControl):
        argument = f"`{declared.argument}`" if declared.argument else "read from `tools/list`"
        where += f" (its run id argument {argument})"
    prefixes = getattr(declared, "prefixes", ())
    only = f"; only ids starting {', '.join(_code(p) for p in prefixes)}" if prefixes else ""
    return f"{where}{only}; {_message_text(declared)}: {_outcomes_text(declared)}"


def _declared_where_of(declared: Any) -> str:
    if isinstance(declared, runnorm.RestControl):
        return f"`{declared.method} {declared.path}`"
    if isinstance(declared, runnorm.McpControl):
        return f"tool `{declared.tool}`"
    return "declared"


def _artifacts_text(declared: Any) -> str:
    parts = []
    if declared.inline:
        inline = "the run's inline artifacts"
        if declared.content is not None:
            inline += f" (an output's exact bytes by tool `{declared.content.tool}`)"
        parts.append(inline)
    for listing in declared.listings:
        how = []
        if listing.download:
            how.append(f"bytes at `{listing.download}` with the key")
        if listing.remint:
            how.append(f"links renewed by `{listing.remint.path}`")
        elif listing.relists and not listing.download:
            how.append("links renewed by listing again")
        by = f", by the run's `{listing.key}`" if listing.key else ""
        detail = f" ({'; '.join(how)})" if how else ""
        parts.append(f"`GET {listing.path}`{by}{detail}")
    return "; ".join(parts)


def _later_text(provider: Provider) -> str | None:
    """The capabilities the plugin declares that this runnorm cannot use yet."""
    later = sorted(provider.declared_capabilities - provider.capabilities)
    if not later:
        return None
    listed = "; ".join(f"{_code(name)} ({_declared_where(provider, name)})" for name in later)
    return f"{listed}: declared by the plugin, not available in this version of runnorm yet"


def fact_rows(provider: Provider) -> list[list[str]]:
    """What the declaration says about auth, transport, options and capabilities."""
    rows = [
        ["name", _code(provider.name)],
        ["aliases", ", ".join(_code(a) for a in provider.aliases) or "none"],
        ["capabilities", ", ".join(_code(c) for c in sorted(provider.capabilities))],
    ]
    auth = provider.auth
    if auth is not None:
        scheme = f" with the scheme `{auth.scheme}`" if auth.scheme else ""
        rows.append(["API key", f"header `{auth.header}`{scheme}; read from `{auth.env_var}`"])
    if provider.base_url or provider.base_url_env:
        default = _code(provider.base_url) if provider.base_url else "none"
        env = f"`{provider.base_url_env}`, else " if provider.base_url_env else ""
        rows.append(["base URL", f"`base_url=`, else {env}{default}"])
    rows.append(["fetch one run", _fetch_text(provider)])
    rows += _route_rows(provider)
    rows += _list_rows(provider)
    if isinstance(provider.fetch, RestFetch):
        for related in provider.fetch.related:
            paths = ", ".join(f"`GET {path}`" for path in related.paths.values())
            rows.append(
                [
                    f"`{related.option}=True`",
                    f"also fetches, by the run's `{related.key}`: {paths} (read-only)",
                ]
            )
    rows.append(
        ["call options", ", ".join(_code(o) for o in sorted(provider.options)) or "the common ones"]
    )
    rows.append(
        [
            "sensitive keys (redacted in output)",
            ", ".join(_code(k) for k in provider.sensitive_keys) or "only the common ones",
        ]
    )
    rows.append(
        [
            "webhooks",
            "signature verification declared"
            if provider.verify_webhook is not None
            else "no verification declared",
        ]
    )
    if provider.cancel is not None:
        rows.append(["cancel", _control_text(provider.cancel)])
    if provider.resume is not None:
        rows.append(["resume", _control_text(provider.resume)])
    if provider.artifacts is not None:
        rows.append(["artifacts", _artifacts_text(provider.artifacts)])
    later = _later_text(provider)
    if later is not None:
        rows.append(["declared, not available yet", later])
    if provider.docs_url:
        rows.append(["provider docs", f"<{provider.docs_url}>"])
    return rows


def _docstring_markdown(provider: Provider) -> str:
    """The provider module's docstring, paragraphs re-flowed onto single lines.

    Re-flowing keeps a continuation line that starts with ``-`` or a digit from turning into a
    list; the docstrings use ``double backticks``, which markdown reads as code too.
    """
    module = importlib.import_module(provider.to_run.__module__)
    text = inspect.cleandoc(module.__doc__ or "")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "\n\n".join(paragraphs)


def _sample(provider: Provider) -> tuple[str, dict[str, Any], Run] | None:
    """The smallest sample whose status word is declared, and its ``Run``."""
    if provider.samples is None:
        return None
    for path in sorted(Path(provider.samples).glob("*.json"), key=lambda p: p.stat().st_size):
        payload = json.loads(path.read_text(encoding="utf-8"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                run = provider.to_run(payload)
            except runnorm.RunnormError:
                continue
        if run.status is not RunStatus.UNKNOWN:
            return path.name, payload, run
    return None


def _json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, ensure_ascii=False) + "\n```"


def provider_markdown(name: str) -> str:
    """A provider page's generated body (MyST markdown), from the provider's declaration."""
    provider = _provider(name)
    title = provider.title or provider.name
    parts = [
        "## Facts",
        f"These tables are generated at build time from the `{provider.name}` plugin's "
        f"`runnorm.Provider` declaration (module `{provider.to_run.__module__}`).",
        markdown_table(["", title], fact_rows(provider)),
        "## Status map",
        f"{title}'s words are matched exactly as listed, with no case folding; a word not "
        "listed becomes `unknown`, keeps `native_status` and warns once.",
        markdown_table(["native word", "`RunStatus`", "terminal"], status_rows(provider)),
        "## Field mapping",
        markdown_table(["native field", "lands in", "when"], field_rows(provider)),
        "## About the mapping",
        "From the provider module's docstring:",
        _docstring_markdown(provider),
    ]
    sample = _sample(provider)
    if sample is not None:
        filename, payload, run = sample
        document = run.to_dict()
        document.pop("raw", None)
        parts += [
            "## A sample, normalized",
            f"The smallest of the plugin's sample payloads, `{filename}`:",
            _json_block(payload),
            "`runnorm.normalize(payload).to_dict()`, without `raw` (which is the payload):",
            _json_block(document),
        ]
    return "\n\n".join(parts) + "\n"


def status_table_markdown(names: Sequence[str] = FIRST_PARTY) -> str:
    """``RunStatus`` x provider: the words each provider declares for each status."""
    providers = [_provider(n) for n in names]
    header = ["`RunStatus`", "terminal", *(p.title or p.name for p in providers)]
    rows = []
    for status in RunStatus:
        row = [_code(status.value), "yes" if status.is_terminal else "no"]
        for provider in providers:
            if status is RunStatus.UNKNOWN:
                row.append("any other word")
            else:
                words = provider.statuses.words_for(status)
                row.append(", ".join(_code(w) for w in words) or "—")
        rows.append(row)
    return markdown_table(header, rows) + "\n"


def providers_markdown() -> str:
    """One row per installed provider."""
    rows = []
    for info in runnorm.providers():
        provider = info.provider
        if provider is None:
            continue
        link = f"[{provider.title or provider.name}]({info.name}.md)"
        rows.append(
            [
                link if info.name in FIRST_PARTY else (provider.title or provider.name),
                _code(info.name),
                info.package or "",
                ", ".join(sorted(info.capabilities)),
                _code(provider.auth.env_var) if provider.auth else "",
                str(len(provider.statuses)),
            ]
        )
    header = ["provider", "name", "package", "capabilities", "key from", "status words"]
    return markdown_table(header, rows) + "\n"


def _capability_cell(provider: Provider, name: str) -> str:
    if name not in provider.declared_capabilities:
        return "—"
    if name not in provider.capabilities:
        return f"declared, not available yet ({_declared_where(provider, name)})"
    if name == "normalize":
        return "yes"
    if name == "fetch":
        return _fetch_text(provider).split(":", 1)[-1].strip()
    if name == "webhooks":
        return "signature verified"
    if name in ("cancel", "resume"):
        return _declared_where_of(getattr(provider, name))
    if name == "artifacts":
        return _artifacts_text(provider.artifacts)
    return _declared_where(provider, name)


def capabilities_markdown() -> str:
    """The capability matrix: one row per installed provider, one column per capability."""
    rows = []
    for info in runnorm.providers():
        provider = info.provider
        if provider is None:
            continue
        title = provider.title or provider.name
        name = f"[{title}]({info.name}.md)" if info.name in FIRST_PARTY else title
        rows.append([name, *(_capability_cell(provider, c) for c in CAPABILITIES)])
    return markdown_table(["provider", *(_code(c) for c in CAPABILITIES)], rows) + "\n"


def control_rows(names: Sequence[str] = FIRST_PARTY) -> list[list[str]]:
    """Provider, verb, the request and its outcomes: from ``Provider.cancel`` / ``resume``."""
    rows = []
    for name in names:
        provider = _provider(name)
        for verb in ("cancel", "resume"):
            declared = getattr(provider, verb)
            if declared is None:
                rows.append([provider.title or name, verb, "not supported: `UnsupportedError`", ""])
                continue
            prefixes = getattr(declared, "prefixes", ())
            only = f" (ids starting {', '.join(_code(p) for p in prefixes)})" if prefixes else ""
            rows.append(
                [
                    provider.title or name,
                    verb,
                    f"{_declared_where_of(declared)}{only}; {_message_text(declared)}",
                    _outcomes_text(declared),
                ]
            )
    return rows


def control_table_markdown(names: Sequence[str] = FIRST_PARTY) -> str:
    header = ["provider", "verb", "request", "reply -> outcome"]
    return markdown_table(header, control_rows(names)) + "\n"


# --- Sphinx glue -----------------------------------------------------------------------------


def setup(app: Any) -> dict[str, Any]:
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective
    from sphinx.util.nodes import nested_parse_with_titles

    class _MarkdownDirective(SphinxDirective):
        """Parses generated MyST markdown into the page (only used from MyST pages)."""

        def markdown(self) -> str:
            raise NotImplementedError

        def run(self) -> list[nodes.Node]:
            for name in FIRST_PARTY:  # rebuild the page when a declaration changes
                module = sys.modules.get(_provider(name).to_run.__module__)
                if module is not None and module.__file__:
                    self.env.note_dependency(module.__file__)
            text = self.markdown()
            container = nodes.section() if self.has_titles else nodes.container()
            source = self.get_source_info()[0]
            content = StringList(text.splitlines(), source=source)
            if self.has_titles:
                nested_parse_with_titles(self.state, content, container)
            else:
                self.state.nested_parse(content, self.content_offset, container)
            return list(container.children)

        has_titles = False

    class ProviderDirective(_MarkdownDirective):
        required_arguments = 1
        has_titles = True

        def markdown(self) -> str:
            return provider_markdown(self.arguments[0])

    class StatusTableDirective(_MarkdownDirective):
        optional_arguments = 1

        def markdown(self) -> str:
            names = self.arguments[0].split(",") if self.arguments else FIRST_PARTY
            return status_table_markdown([n.strip() for n in names])

    class ProvidersDirective(_MarkdownDirective):
        def markdown(self) -> str:
            return providers_markdown()

    class CapabilitiesDirective(_MarkdownDirective):
        def markdown(self) -> str:
            return capabilities_markdown()

    class ControlTableDirective(_MarkdownDirective):
        def markdown(self) -> str:
            return control_table_markdown()

    app.add_directive("runnorm-capabilities", CapabilitiesDirective)
    app.add_directive("runnorm-control-table", ControlTableDirective)
    app.add_directive("runnorm-provider", ProviderDirective)
    app.add_directive("runnorm-status-table", StatusTableDirective)
    app.add_directive("runnorm-providers", ProvidersDirective)
    return {"version": runnorm.__version__, "parallel_read_safe": True}

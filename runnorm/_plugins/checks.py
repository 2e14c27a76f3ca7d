"""What registration checks about a declaration, beyond the plain types ``host`` checks.

``fetch_problem`` and ``capabilities_problem`` return why a ``Provider``'s fetch, list,
cancel, resume or artifacts declaration cannot be registered, or None: path templates (a path
starting with ``/``, only the fields each may use, the run id where it must be), routes and
kinds (with their call option), options that clash with the calls' own parameters, paging,
outcomes and message templates. attrs does not check declared types, so every field is
read as ``Any`` and checked before it is used; ``host._declaration_problem`` calls these.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any, get_args

import attrs

from runnorm._errors import shorten
from runnorm._model.run import ArtifactKind, Run, Timing
from runnorm._plugins.capabilities import (
    MESSAGE,
    AfterPages,
    ArtifactFields,
    ArtifactListing,
    Artifacts,
    CursorPages,
    ListParam,
    McpControl,
    McpList,
    NextUrlPages,
    OffsetPages,
    Order,
    Outcome,
    PageNumbers,
    Remint,
    RestControl,
    RestList,
    StatusFilter,
    TimeFilter,
    ToolContent,
)
from runnorm._plugins.fetching import (
    RESERVED_OPTIONS,
    McpFetch,
    RelatedFetch,
    RestFetch,
    fetch_options,
)

__all__ = ["capabilities_problem", "fetch_problem", "template_problem"]

_OUTCOMES = frozenset(get_args(Outcome))
_ORDERS = frozenset(get_args(Order))
_MESSAGE_MODES = frozenset({"none", "optional", "required"})
_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TIME_FORMATS = frozenset({"rfc3339", "epoch_seconds", "epoch_millis"})
_PAGING = (PageNumbers, OffsetPages, CursorPages, AfterPages, NextUrlPages)


_FORMATTER = string.Formatter()


def template_problem(
    template: object, fields: frozenset[str], *, required: str | None
) -> str | None:
    """Why *template* is not a path template over *fields* (with *required* among them), or
    None: a string starting with ``/``, no query, fragment, spaces or control characters,
    no ``.``/``..`` segment, and replacement fields that are plain names from *fields*."""
    if not isinstance(template, str) or not template.startswith("/"):
        return f"must be a path starting with '/', not {shorten(template)}"
    if any(ch in "?#" or ch.isspace() or not ch.isprintable() for ch in template):
        return f"must be a path without query, fragment, spaces or control characters: {template!r}"
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        return f"is not a valid template ({exc}): {template!r}"
    used = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in fields or spec or conversion:
            allowed = ", ".join("{" + field + "}" for field in sorted(fields))
            return f"may hold only {allowed}, not {{{name}}}: {template!r}"
        used.add(name)
    if required is not None and required not in used:
        return f"must hold {{{required}}}: {template!r}"
    segments = template.split("/")
    if any(segment in (".", "..") for segment in segments):
        return f"must not hold '.' or '..' segments: {template!r}"
    return None


def _names_problem(value: object, what: str) -> str | None:
    if not isinstance(value, str) or not value.isidentifier():
        return f"{what} must be an identifier, not {shorten(value)}"
    return None


def _routing_problem(fetch: Any, owner: str, check: Callable[[object], str | None]) -> str | None:
    routes, kinds, option = fetch.routes, fetch.kinds, fetch.kind_option
    if not isinstance(routes, Mapping) or not isinstance(kinds, Mapping):
        return f"{owner}.routes and {owner}.kinds must be mappings"
    for prefix, target in routes.items():
        if not isinstance(prefix, str) or not prefix:
            return f"{owner}.routes: a prefix must be a non-empty string, not {shorten(prefix)}"
        problem = check(target)
        if problem is not None:
            return f"{owner}.routes[{prefix!r}] {problem}"
    for kind, target in kinds.items():
        if not isinstance(kind, str) or not kind:
            return f"{owner}.kinds: a kind must be a non-empty string, not {shorten(kind)}"
        problem = check(target)
        if problem is not None:
            return f"{owner}.kinds[{kind!r}] {problem}"
    if (option is None) != (not kinds):
        return f"{owner}.kinds and {owner}.kind_option go together: declare both or neither"
    if option is not None:
        return _names_problem(option, f"{owner}.kind_option")
    return None


def _tool_problem(tool: object) -> str | None:
    if not isinstance(tool, str) or not tool:
        return f"must be a tool name, not {shorten(tool)}"
    return None


_RUN_ID = frozenset({"run_id"})
_ID = frozenset({"id"})


def _path_problem(template: object) -> str | None:
    return template_problem(template, _RUN_ID, required="run_id")


def _related_problem(related: RelatedFetch) -> str | None:
    declared: Any = related
    problem = _names_problem(declared.option, "RelatedFetch.option")
    if problem is not None:
        return problem
    if not isinstance(declared.key, str) or not declared.key:
        return f"RelatedFetch.key must be a non-empty string, not {shorten(declared.key)}"
    if not isinstance(declared.paths, Mapping) or not callable(declared.fold):
        return "RelatedFetch.paths must be a mapping and RelatedFetch.fold a callable"
    for name, template in declared.paths.items():
        problem = template_problem(template, _ID, required="id")
        if problem is not None:
            return f"RelatedFetch.paths[{shorten(name)}] {problem}"
    return None


def _rest_problem(fetch: Any) -> str | None:
    if fetch.path is not None:
        problem = _path_problem(fetch.path)
        if problem is not None:
            return f"RestFetch.path {problem}"
    related = fetch.related
    if not isinstance(related, tuple) or not all(isinstance(r, RelatedFetch) for r in related):
        return "RestFetch.related must be a tuple of runnorm.RelatedFetch"
    for item in related:
        problem = _related_problem(item)
        if problem is not None:
            return problem
    return _routing_problem(fetch, "RestFetch", _path_problem)


def _mcp_problem(fetch: Any) -> str | None:
    if fetch.tool is not None and _tool_problem(fetch.tool) is not None:
        return f"McpFetch.tool {_tool_problem(fetch.tool)}"
    if not isinstance(fetch.argument, str) or not fetch.argument:
        return f"McpFetch.argument must be a non-empty string, not {shorten(fetch.argument)}"
    if not isinstance(fetch.not_found, frozenset):
        return "McpFetch.not_found must be a frozenset of error codes"
    return _routing_problem(fetch, "McpFetch", _tool_problem)


def fetch_problem(fetch: object) -> str | None:
    """Why *fetch* (``Provider.fetch``) cannot be registered as declared, or None."""
    problem = _fetch_problem(fetch)
    return None if problem is None else f"Provider.fetch: {problem}"


def _fetch_problem(fetch: object) -> str | None:
    if fetch is None:
        return None
    if isinstance(fetch, RestFetch):
        problem = _rest_problem(fetch)
    elif isinstance(fetch, McpFetch):
        problem = _mcp_problem(fetch)
    else:
        return "must be a runnorm.RestFetch, a runnorm.McpFetch or None"
    if problem is not None:
        return problem
    owner = type(fetch).__name__
    options = fetch_options(fetch)
    for name in options:
        if name in RESERVED_OPTIONS:
            return f"{owner}: {name!r} is taken by the calls themselves, not a provider option"
    if len(set(options)) != len(options):
        return f"{owner}: each call option may be declared once, not {sorted(options)}"
    return None


# -- capabilities ----------------------------------------------------------------------

_ARTIFACT_ID = frozenset({"artifact_id"})
_NONE: frozenset[str] = frozenset()


def _is(value: object, kind: type | tuple[type, ...]) -> bool:
    """``isinstance`` without narrowing: a declaration's fields stay unchecked (``Any``)."""
    return isinstance(value, kind)


def _name(value: object, what: str) -> str | None:
    if not isinstance(value, str) or not value:
        return f"{what} must be a non-empty string, not {shorten(value)}"
    return None


def _optional_name(value: object, what: str) -> str | None:
    return None if value is None else _name(value, what)


def _count(value: object, what: str, *, optional: bool = False, least: int = 1) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        return f"{what} must be a whole number >= {least}, not {shorten(value)}"
    return None


def _flag(value: object, what: str) -> str | None:
    return None if isinstance(value, bool) else f"{what} must be True or False"


def _one_of(value: object, allowed: frozenset[str], what: str) -> str | None:
    if not isinstance(value, str) or value not in allowed:
        return f"{what} must be one of {', '.join(sorted(allowed))}, not {shorten(value)}"
    return None


def _template(value: object, fields: frozenset[str], required: str | None, what: str) -> str | None:
    problem = template_problem(value, fields, required=required)
    return None if problem is None else f"{what} {problem}"


def _first(*problems: object) -> str | None:
    """The first problem: a string; None, False and absent checks (``x and "..."``) pass."""
    for problem in problems:
        if isinstance(problem, str):
            return problem
    return None


def _paging_problem(paging: Any, what: str) -> str | None:
    if not _is(paging, _PAGING):
        return (
            f"{what} must be one of PageNumbers, OffsetPages, CursorPages, AfterPages, NextUrlPages"
        )
    kind = f"{what} ({type(paging).__name__})"
    if _is(paging, PageNumbers):
        return _first(
            _count(paging.size, f"{kind}.size"),
            _name(paging.page_param, f"{kind}.page_param"),
            _name(paging.size_param, f"{kind}.size_param"),
            _count(paging.first, f"{kind}.first", least=0),
            _count(paging.max_page, f"{kind}.max_page", optional=True),
        )
    if _is(paging, OffsetPages):
        return _first(
            _count(paging.size, f"{kind}.size"),
            _name(paging.offset_param, f"{kind}.offset_param"),
            _name(paging.size_param, f"{kind}.size_param"),
            _optional_name(paging.total_field, f"{kind}.total_field"),
        )
    common = _first(
        _optional_name(paging.size_param, f"{kind}.size_param"),
        _count(paging.size, f"{kind}.size", optional=True),
    )
    if common is not None:
        return common
    if paging.size is not None and paging.size_param is None:
        return f"{kind}.size needs a size_param to send it in"
    if _is(paging, CursorPages):
        return _first(
            _name(paging.next_field, f"{kind}.next_field"),
            _name(paging.cursor_param, f"{kind}.cursor_param"),
        )
    if _is(paging, AfterPages):
        return _first(
            _name(paging.after_param, f"{kind}.after_param"),
            _name(paging.item_id, f"{kind}.item_id"),
            _optional_name(paging.more_field, f"{kind}.more_field"),
        )
    return _name(paging.next_field, f"{kind}.next_field")


def _option_problem(option: object, what: str) -> str | None:
    if not isinstance(option, str) or not option.isidentifier():
        return f"{what} must be an identifier, not {shorten(option)}"
    if option in RESERVED_OPTIONS:
        return f"{what} {option!r} is taken by the calls themselves, not a provider option"
    return None


def _params_problem(params: Any, what: str) -> str | None:
    if not isinstance(params, tuple) or not all(isinstance(p, ListParam) for p in params):
        return f"{what} must be a tuple of ListParam"
    for param in params:
        problem = _first(
            _option_problem(param.option, f"{what}: option"),
            _name(param.param, f"{what}: param"),
            _flag(param.required, f"{what}: required"),
        )
        if problem is not None:
            return problem
    options = [param.option for param in params]
    if len(set(options)) != len(options):
        return f"{what}: each option may be declared once, not {sorted(options)}"
    return None


_RUN_FIELDS = frozenset(a.name for a in attrs.fields(Run)) | frozenset(
    f"timing.{a.name}" for a in attrs.fields(Timing)
)


def _keys_problem(keys: Any, what: str, *, run_fields: bool = False) -> str | None:
    if not isinstance(keys, tuple) or not all(isinstance(k, str) and k for k in keys):
        return f"{what} must be a tuple of non-empty strings"
    if run_fields:
        unknown = sorted(set(keys) - _RUN_FIELDS)
        if unknown:
            return f"{what} names fields a Run does not have: {', '.join(unknown)}"
    return None


def _list_common(declared: Any, what: str) -> str | None:
    status, time = declared.status, declared.time
    if status is not None and not _is(status, StatusFilter):
        return f"{what}.status must be a StatusFilter or None"
    if time is not None and not _is(time, TimeFilter):
        return f"{what}.time must be a TimeFilter or None"
    return _first(
        _one_of(declared.order, _ORDERS, f"{what}.order"),
        _optional_name(declared.created_key, f"{what}.created_key"),
        status
        and _first(
            _name(status.param, f"{what}.status.param"),
            _flag(status.repeatable, f"{what}.status.repeatable"),
            status.words is not None and _keys_problem(status.words, f"{what}.status.words"),
            status.words == () and f"{what}.status.words is empty: leave it None",
        ),
        time
        and _first(
            _optional_name(time.since_param, f"{what}.time.since_param"),
            _optional_name(time.until_param, f"{what}.time.until_param"),
            _one_of(time.format, _TIME_FORMATS, f"{what}.time.format"),
            _flag(time.until_inclusive, f"{what}.time.until_inclusive"),
        ),
        time
        and time.since_param is None
        and time.until_param is None
        and f"{what}.time declares no parameter: leave it None",
        _params_problem(declared.params, f"{what}.params"),
        _keys_problem(declared.shared, f"{what}.shared"),
        _keys_problem(declared.lacks, f"{what}.lacks", run_fields=True),
        declared.order != "unordered"
        and declared.created_key is None
        and f"{what}.created_key is needed for its order to be of use",
    )


def _bare_array_problem(declared: Any) -> str | None:
    """A bare-array reply (``items`` None) has no key for the paging's reply field."""
    if declared.items is not None:
        return None
    paging = declared.paging
    field = None
    if _is(paging, (CursorPages, NextUrlPages)):
        field = "next_field"
    elif _is(paging, AfterPages) and paging.more_field is not None:
        field = "more_field"
    elif _is(paging, OffsetPages) and paging.total_field is not None:
        field = "total_field"
    if field is None:
        return None
    return (
        f"RestList.items is None (the reply is a bare array), which holds no "
        f"{type(paging).__name__}.{field}: name the items key, or leave the field None"
    )


def _list_problem(declared: Any) -> str | None:
    if _is(declared, RestList):
        return _first(
            _template(declared.path, _NONE, None, "RestList.path"),
            _paging_problem(declared.paging, "RestList.paging"),
            _optional_name(declared.items, "RestList.items"),
            _list_common(declared, "RestList"),
            _bare_array_problem(declared),
        )
    if _is(declared, McpList):
        return _first(
            _name(declared.tool, "McpList.tool"),
            _count(declared.max_items, "McpList.max_items"),
            _name(declared.items, "McpList.items"),
            _optional_name(declared.limit_argument, "McpList.limit_argument"),
            _list_common(declared, "McpList"),
        )
    return "must be a runnorm.RestList, a runnorm.McpList or None"


def _holds_message(body: Any) -> bool:
    if body == MESSAGE:
        return True
    if isinstance(body, Mapping):
        return any(_holds_message(value) for value in body.values())
    if isinstance(body, list | tuple):
        return any(_holds_message(value) for value in body)
    return False


def _codes_problem(codes: Any, what: str, kind: type) -> str | None:
    if not _is(codes, kind) or not all(
        isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599
        for code in codes
    ):
        shape = "tuple" if kind is tuple else "frozenset"
        return f"{what} must be a {shape} of HTTP status codes"
    return None


def _control_problem(declared: Any, verb: str, fetch: object = None) -> str | None:
    what = f"Provider.{verb}"
    if _is(declared, RestControl):
        outcomes = declared.outcomes
        if not isinstance(outcomes, Mapping) or not all(
            isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599
            for code in outcomes
        ):
            return f"{what}: RestControl.outcomes must map HTTP status codes to outcomes"
        prefixes = declared.prefixes
        return _first(
            _template(declared.path, _RUN_ID, "run_id", f"{what}: RestControl.path"),
            _one_of(declared.method, _METHODS, f"{what}: RestControl.method"),
            *(
                _one_of(o, _OUTCOMES, f"{what}: RestControl.outcomes[...]")
                for o in outcomes.values()
            ),
            _one_of(declared.message, _MESSAGE_MODES, f"{what}: RestControl.message"),
            _flag(declared.returns_run, f"{what}: RestControl.returns_run"),
            _keys_problem(prefixes, f"{what}: RestControl.prefixes"),
            _codes_problem(declared.ambiguous, f"{what}: RestControl.ambiguous", tuple),
            (declared.message != "none") != _holds_message(declared.body)
            and f"{what}: RestControl.body must hold '{{message}}' exactly when it takes a message",
            _is(declared.ambiguous, tuple)
            and bool(set(declared.ambiguous) & set(outcomes))
            and f"{what}: a code is either in RestControl.outcomes or ambiguous, not both",
            bool(declared.ambiguous)
            and fetch is None
            and f"{what}: RestControl.ambiguous needs Provider.fetch (the run is fetched to tell)",
        )
    if _is(declared, McpControl):
        outcomes = declared.outcomes
        if not isinstance(outcomes, Mapping) or not all(isinstance(c, str) for c in outcomes):
            return f"{what}: McpControl.outcomes must map tool error codes to outcomes"
        return _first(
            _name(declared.tool, f"{what}: McpControl.tool"),
            _optional_name(declared.argument, f"{what}: McpControl.argument"),
            *(
                _one_of(o, _OUTCOMES, f"{what}: McpControl.outcomes[...]")
                for o in outcomes.values()
            ),
            _one_of(declared.other_errors, _OUTCOMES, f"{what}: McpControl.other_errors"),
            _optional_name(declared.message_argument, f"{what}: McpControl.message_argument"),
            _one_of(declared.message, _MESSAGE_MODES, f"{what}: McpControl.message"),
            (declared.message != "none") != (declared.message_argument is not None)
            and f"{what}: McpControl.message_argument is needed exactly when it takes a message",
        )
    return f"{what} must be a runnorm.RestControl, a runnorm.McpControl or None"


def _fields_problem(fields: Any, what: str) -> str | None:
    if not _is(fields, ArtifactFields):
        return f"{what} must be an ArtifactFields"
    keys = (
        "id",
        "url",
        "name",
        "name_path",
        "type_key",
        "size",
        "checksum",
        "media_type",
        "created_at",
        "expires_at",
    )
    kinds = fields.kinds
    if not isinstance(kinds, Mapping) or not all(
        isinstance(word, str) and isinstance(kind, ArtifactKind) for word, kind in kinds.items()
    ):
        return f"{what}.kinds must map type words to ArtifactKind members"
    template = fields.name_template
    return _first(
        *(_optional_name(getattr(fields, key), f"{what}.{key}") for key in keys),
        template is not None and _name_template_problem(template, f"{what}.name_template"),
        bool(kinds) and fields.type_key is None and f"{what}.kinds needs a type_key",
        fields.id is None and fields.url is None and f"{what} needs an id or a url key",
    )


def _name_template_problem(template: object, what: str) -> str | None:
    """A file name template: item keys as plain replacement fields, no separators."""
    if not isinstance(template, str) or not template:
        return f"{what} must be a non-empty string, not {shorten(template)}"
    if any(ch in "/\\" or not ch.isprintable() for ch in template):
        return f"{what} must be a file name, without separators or control characters"
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        return f"{what} is not a valid template ({exc}): {template!r}"
    for _, name, spec, conversion in parsed:
        if name is not None and (not name or spec or conversion or not name.isidentifier()):
            return f"{what} may hold only plain item keys ({{pageId}}), not {template!r}"
    return None


def _listing_problem(listing: Any, what: str) -> str | None:
    if not _is(listing, ArtifactListing):
        return f"{what} must be an ArtifactListing"
    key = listing.key
    fields, required = (_ID, "id") if key is not None else (_RUN_ID, "run_id")
    query = listing.query
    if not isinstance(query, Mapping) or not all(
        isinstance(name, str) and name and isinstance(value, str) for name, value in query.items()
    ):
        return f"{what}.query must map parameter names to template strings"
    used = listing.path + "".join(query.values()) if isinstance(listing.path, str) else ""
    remint = listing.remint
    if remint is not None and not _is(remint, Remint):
        return f"{what}.remint must be a Remint or None"
    return _first(
        _optional_name(key, f"{what}.key"),
        _template(listing.path, fields, None, f"{what}.path"),
        "{" + required + "}" not in used and f"{what}: path or query must hold {{{required}}}",
        *(
            _template("/" + value, fields, None, f"{what}.query[{name!r}]")
            for name, value in query.items()
        ),
        _fields_problem(listing.fields, f"{what}.fields"),
        _optional_name(listing.items, f"{what}.items"),
        listing.paging is not None and _paging_problem(listing.paging, f"{what}.paging"),
        not isinstance(listing.kind, ArtifactKind) and f"{what}.kind must be an ArtifactKind",
        listing.download is not None
        and _template(listing.download, _ARTIFACT_ID, "artifact_id", f"{what}.download"),
        _optional_name(listing.accept, f"{what}.accept"),
        _flag(listing.ranges, f"{what}.ranges"),
        _flag(listing.relists, f"{what}.relists"),
        listing.ranges and listing.download is None and f"{what}.ranges needs a download path",
        _optional_name(listing.media_type, f"{what}.media_type"),
        _codes_problem(listing.missing_ok, f"{what}.missing_ok", frozenset),
        remint
        and _first(
            _template(remint.path, _ARTIFACT_ID, "artifact_id", f"{what}.remint.path"),
            _name(remint.url_key, f"{what}.remint.url_key"),
            _optional_name(remint.expires_key, f"{what}.remint.expires_key"),
        ),
        (listing.download is not None or remint is not None)
        and isinstance(listing.fields, ArtifactFields)
        and listing.fields.id is None
        and f"{what}: a download or remint path needs fields.id",
    )


def _content_problem(content: Any, what: str) -> str | None:
    if not _is(content, ToolContent):
        return f"{what} must be a runnorm.ToolContent or None"
    arguments, kinds = content.arguments, content.kinds
    if not isinstance(arguments, Mapping) or not all(isinstance(k, str) for k in arguments):
        return f"{what}.arguments must map argument names to JSON values"
    if not isinstance(kinds, frozenset) or not all(isinstance(k, ArtifactKind) for k in kinds):
        return f"{what}.kinds must be a frozenset of ArtifactKind members"
    names = [content.run_argument, content.name_argument, *arguments]
    return _first(
        _name(content.tool, f"{what}.tool"),
        _name(content.run_argument, f"{what}.run_argument"),
        _name(content.name_argument, f"{what}.name_argument"),
        _name(content.content_key, f"{what}.content_key"),
        _optional_name(content.encoding_key, f"{what}.encoding_key"),
        _optional_name(content.size_key, f"{what}.size_key"),
        len(set(names)) != len(names) and f"{what}: each argument may be given once",
    )


def _artifacts_problem(declared: Any, fetch: object = None) -> str | None:
    if not _is(declared, Artifacts):
        return "Provider.artifacts must be a runnorm.Artifacts or None"
    listings = declared.listings
    if not isinstance(listings, tuple):
        return "Provider.artifacts.listings must be a tuple of ArtifactListing"
    if not listings and declared.inline is not True:
        return "Provider.artifacts declares no source: give listings, or inline=True"
    content = declared.content
    needs_run = declared.inline is True or any(
        _is(listing, ArtifactListing) and listing.key is not None for listing in listings
    )
    return _first(
        _flag(declared.inline, "Provider.artifacts.inline"),
        *(
            _listing_problem(listing, f"Provider.artifacts.listings[{index}]")
            for index, listing in enumerate(listings)
        ),
        content is not None and _content_problem(content, "Provider.artifacts.content"),
        content is not None
        and declared.inline is not True
        and "Provider.artifacts.content applies to inline artifacts: set inline=True",
        content is not None
        and not _is(fetch, McpFetch)
        and "Provider.artifacts.content calls an MCP tool: it needs an McpFetch",
        needs_run
        and fetch is None
        and "Provider.artifacts: inline artifacts and listings by a run field (key=) need "
        "Provider.fetch (the run is fetched first)",
    )


def _prefixed(prefix: str, problem: str | None) -> str | None:
    return None if problem is None else prefix + problem


def capabilities_problem(
    list_: object, cancel: object, resume: object, artifacts: object, *, fetch: object = None
) -> str | None:
    """Why these declarations cannot be registered, or None (each may be None); *fetch* is
    the provider's ``fetch``, which some of them need."""
    return _first(
        None if list_ is None else _prefixed("Provider.list: ", _list_problem(list_)),
        None if cancel is None else _control_problem(cancel, "cancel", fetch),
        None if resume is None else _control_problem(resume, "resume", fetch),
        None if artifacts is None else _artifacts_problem(artifacts, fetch),
    )

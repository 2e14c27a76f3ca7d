"""What a provider can do beyond one run, declared as data: list, cancel, resume, artifacts.

Registration checks every declaration (:mod:`runnorm._plugins.checks`), and this runnorm uses
each: ``list`` (``runnorm.list_runs``, :mod:`runnorm._live.listing`), ``cancel`` and
``resume`` (``runnorm.cancel``, ``runnorm.resume``), ``artifacts`` (``runnorm.artifacts``,
``runnorm.download``). ``Provider.capabilities`` names only what this runnorm can do,
``Provider.declared_capabilities`` everything declared, so that a plugin declaring a verb a
later engine adds keeps working.

Listing (``Provider.list``), one of:

- :class:`RestList`: ``GET {base_url}{path}``, paged in one of the styles below, items at a
  key of the reply (or the reply is a bare array), optional server-side status and time
  filters, the order the provider promises, and provider options sent as query parameters.
- :class:`McpList`: one capped ``tools/call`` (no paging): at most ``max_items`` runs per
  call, so a listing it cannot prove complete ends in ``ListLimitError``.

Paging styles: :class:`PageNumbers` (``page`` and ``page_size`` over bare arrays, with a page
cap), :class:`OffsetPages` (``offset``/``limit`` with a total), :class:`CursorPages` (a
next-cursor field sent back as a parameter), :class:`AfterPages` (the last item's id sent as
``after``), :class:`NextUrlPages` (an absolute ``next`` URL, whose origin must be the base
URL's before the key is sent).

Cancel and resume (``Provider.cancel``, ``Provider.resume``), one of:

- :class:`RestControl`: a method and a path; the reply's status code picks the outcome
  (``accepted``, ``already_terminal``, ``not_found``, ``conflict``), a body template carries
  the caller's message; a code that does not tell (``ambiguous``) is settled by fetching
  the run.
- :class:`McpControl`: a tool whose argument schema comes from ``tools/list`` at run time;
  its error codes pick the outcome.

Artifacts (``Provider.artifacts``): :class:`Artifacts`, the run's own inline artifacts and/or
:class:`ArtifactListing` endpoints whose items map onto ``Artifact`` through
:class:`ArtifactFields`, with a per-file download path and a way to renew an expired link
(:class:`Remint`, or listing again); :class:`ToolContent` fetches an inline artifact's exact
bytes with an MCP tool (Bridge Town's ``get_run_output``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeAlias

import attrs

from runnorm._model.control import Outcome
from runnorm._model.run import JSON, ArtifactKind

__all__ = [
    "IMPLEMENTED",
    "MESSAGE",
    "AfterPages",
    "ArtifactFields",
    "ArtifactListing",
    "Artifacts",
    "CursorPages",
    "ListParam",
    "McpControl",
    "McpList",
    "NextUrlPages",
    "OffsetPages",
    "Order",
    "Outcome",
    "PageNumbers",
    "Paging",
    "Remint",
    "RestControl",
    "RestList",
    "StatusFilter",
    "TimeFilter",
    "ToolContent",
]

IMPLEMENTED = frozenset(
    {"normalize", "fetch", "watch", "webhooks", "list", "cancel", "resume", "artifacts"}
)
"""The capabilities this runnorm can use: every verb a plugin can declare has its engine
(``watch`` comes with ``fetch``)."""

Order: TypeAlias = Literal["newest_first", "oldest_first", "unordered"]
"""The order a listing promises, by creation time; ``unordered``: none is promised."""
MESSAGE = "{message}"
"""In a :class:`RestControl` body template, the value replaced by the caller's message: the
whole string value, never a part of one (no string formatting)."""


# -- listing: paging styles -----------------------------------------------------------------


@attrs.frozen
class PageNumbers:
    """Numbered pages: ``page_param`` counts from ``first``, ``size_param`` asks for ``size``
    items. A page shorter than ``size`` is the last (no total is sent). ``max_page``: the
    highest page number the provider serves (Skyvern: pages 1 to 100, of 100 runs each), so
    a listing whose page ``max_page`` is full is cut short (``ListLimitError``) unless it
    could stop earlier."""

    size: int
    page_param: str = "page"
    size_param: str = "page_size"
    first: int = 1
    max_page: int | None = None


@attrs.frozen
class OffsetPages:
    """``offset_param`` items skipped, ``size_param`` items asked for (``size``); the reply's
    ``total_field`` (if declared) says how many there are, else a short page is the last."""

    size: int
    offset_param: str = "offset"
    size_param: str = "limit"
    total_field: str | None = "total"


@attrs.frozen
class CursorPages:
    """The reply's ``next_field`` (null or absent on the last page) is sent back as
    ``cursor_param`` (Browserbase: ``nextCursor`` -> ``cursor``); ``size_param`` asks for
    ``size`` items a page (``size`` None: the provider's default page size)."""

    next_field: str
    cursor_param: str = "cursor"
    size_param: str | None = "limit"
    size: int | None = None


@attrs.frozen
class AfterPages:
    """Keyset paging: the last item's ``item_id`` is sent as ``after_param`` (OpenAI's
    ``after``); the reply's ``more_field`` false ends it (without one, an empty page does).
    ``size_param`` asks for ``size`` items a page (``size`` None: the provider's default)."""

    after_param: str = "after"
    item_id: str = "id"
    more_field: str | None = "has_more"
    size_param: str | None = "limit"
    size: int | None = None


@attrs.frozen
class NextUrlPages:
    """The reply's ``next_field`` is the absolute URL of the next page (null on the last),
    followed as sent; its origin (scheme, host, port) must be the base URL's, checked before
    the key is sent, else the listing stops with an error. ``size_param`` and ``size`` go
    on the first request only."""

    next_field: str = "next"
    size_param: str | None = None
    size: int | None = None


Paging: TypeAlias = PageNumbers | OffsetPages | CursorPages | AfterPages | NextUrlPages


# -- listing: filters and parameters --------------------------------------------------------


@attrs.frozen
class StatusFilter:
    """A server-side status filter: the native words of the wanted ``RunStatus`` (from the
    provider's ``StatusMap``) are sent as ``param``, several in one request when
    ``repeatable`` (``?status=canceled&status=terminated``). Without ``repeatable``, a
    status that has one such word is filtered on the server, one with several on the
    client. ``words``: the spellings the server's filter takes, when it takes fewer than the
    ``StatusMap`` lists (Browserbase: the uppercase ones; the lowercase spellings its
    replies may hold are never sent); None: every word of the map. The engine checks every
    listed run's status on the client too."""

    param: str = "status"
    repeatable: bool = False
    words: tuple[str, ...] | None = None


@attrs.frozen
class TimeFilter:
    """Server-side bounds on creation time: ``since_param`` and ``until_param`` (either may
    be None), written as ``format`` (``rfc3339``, ``epoch_seconds``, ``epoch_millis``);
    ``until_inclusive`` says whether a run created exactly at ``until`` is included (the
    lower bound is always inclusive)."""

    since_param: str | None = None
    until_param: str | None = None
    format: Literal["rfc3339", "epoch_seconds", "epoch_millis"] = "rfc3339"
    until_inclusive: bool = False


@attrs.frozen
class ListParam:
    """A provider call option of the listing, sent as the query parameter (or tool
    argument) ``param``: Bridge Town's ``project`` -> ``project_name``. ``required``: a
    listing without the option is a ``ConfigError``."""

    option: str
    param: str
    required: bool = False


@attrs.frozen
class RestList:
    """``GET {base_url}{path}`` page after page (``paging``).

    ``items``: the reply key holding the list items (None: the reply is a bare array).
    ``order`` and ``created_key`` (the item field with the creation time, which the
    mapping reads into ``timing.created_at``: the engine compares the ``Run``'s) let
    paging stop once nothing newer (or older) can follow and let ``since``/``until``
    filter on the client when ``time`` declares no server-side bounds; ``status``
    likewise.
    ``params``: provider options of the listing. ``shared``: reply keys copied into each
    item (as ``read_dump`` does for wrappers). ``lacks``: the ``Run`` fields (``result``,
    ``timing.updated_at``, ...) list items do not carry, which ``full=True`` fetches and the
    docs list.
    """

    path: str
    paging: Paging
    items: str | None = None
    order: Order = "unordered"
    created_key: str | None = None
    status: StatusFilter | None = None
    time: TimeFilter | None = None
    params: tuple[ListParam, ...] = ()
    shared: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()


@attrs.frozen
class McpList:
    """One ``tools/call`` of ``tool`` returns at most ``max_items`` runs (``limit_argument``
    asks for them), with no cursor: more than that cannot be reached, so the listing ends
    in ``ListLimitError`` unless ``since`` is covered. ``items``, ``order``,
    ``created_key``, ``status`` (its ``param`` is the tool argument), ``time``, ``params``,
    ``shared`` and ``lacks`` as for :class:`RestList`."""

    tool: str
    max_items: int
    items: str = "runs"
    limit_argument: str | None = "limit"
    order: Order = "unordered"
    created_key: str | None = None
    status: StatusFilter | None = None
    time: TimeFilter | None = None
    params: tuple[ListParam, ...] = ()
    shared: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()


# -- cancel and resume ----------------------------------------------------------------------


@attrs.frozen
class RestControl:
    """Cancel or resume with ``{method} {base_url}{path}`` (``{run_id}`` in the path).

    ``outcomes``: reply status code -> :data:`Outcome`; a 2xx not listed is ``accepted``,
    any other code not listed raises its ``APIError``. ``body``: the JSON body template, in
    which a string value equal to ``"{message}"`` (:data:`MESSAGE`) is replaced by the
    caller's message (Browserbase resume: ``{"task": "{message}"}``); ``message`` says
    whether the verb takes one: ``none`` (a message is a ``ConfigError``), ``optional``
    or ``required`` (its absence is a ``ConfigError``). ``returns_run``: a 2xx body is the
    run, normalized into ``ControlResult.run``. ``prefixes``: when set, only run ids
    starting with one of them support the verb (Skyvern continues workflow runs, ``wr_``);
    others raise ``UnsupportedError``. ``ambiguous``: reply codes that do not say which
    outcome it is (Skyvern's continue answers 404 for a run that is missing *or* not
    paused): the run is then fetched (the provider's ``fetch``) to tell: missing is
    ``not_found``, terminal ``already_terminal``, anything else ``conflict``.

    The request is sent once unless the server proves it did not act on it: a connection
    that never opened, 429, or 503 with ``Retry-After``; never again after a timeout or
    another 5xx.
    """

    path: str
    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "POST"
    outcomes: Mapping[int, Outcome] = attrs.field(factory=dict)
    body: JSON = None
    message: Literal["none", "optional", "required"] = "none"
    returns_run: bool = False
    prefixes: tuple[str, ...] = ()
    ambiguous: tuple[int, ...] = ()


@attrs.frozen
class McpControl:
    """Cancel or resume with a ``tools/call`` of ``tool``, whose ``inputSchema`` is read from
    ``tools/list`` at run time (an absent tool is ``UnsupportedError``). ``argument``: the
    argument taking the run id (None: the schema's ``run_id`` property, else its one
    required string property). A result is ``accepted`` (and the run, when the result is
    one the provider's detector accepts); a tool error's code picks the outcome from
    ``outcomes``, any other code is ``other_errors``. ``message_argument`` and ``message``:
    the caller's message, as for :class:`RestControl`. The call is never sent twice unless
    the server proves it was not processed (as for :class:`RestControl`, and a lost MCP
    session answered 404)."""

    tool: str
    argument: str | None = None
    outcomes: Mapping[str, Outcome] = attrs.field(factory=dict)
    other_errors: Outcome = "conflict"
    message_argument: str | None = None
    message: Literal["none", "optional", "required"] = "none"


# -- artifacts ------------------------------------------------------------------------------


@attrs.frozen
class ArtifactFields:
    """Where each ``Artifact`` field is in one listed item: item keys, None when the items
    have none. ``type_key`` holds the provider's type word, mapped through ``kinds`` (a
    word not listed takes the listing's ``kind``). ``checksum`` is SHA-256 (hex or base64).
    An item without a ``name`` takes the last segment of the path or URI at ``name_path``
    (Skyvern's ``uri``, ``s3://bucket/.../file.png``), else ``name_template`` filled with
    item keys (``"page-{pageId}.mp4"``). ``expires_at``: the link's expiry (a timestamp, or
    epoch milliseconds); without it, the link's own query says (``X-Amz-Date`` with
    ``X-Amz-Expires``, ``expiry``, ``Expires``, ...)."""

    id: str | None = None
    url: str | None = None
    name: str | None = None
    name_path: str | None = None
    name_template: str | None = None
    type_key: str | None = None
    kinds: Mapping[str, ArtifactKind] = attrs.field(factory=dict)
    size: str | None = None
    checksum: str | None = None
    media_type: str | None = None
    created_at: str | None = None
    expires_at: str | None = None


@attrs.frozen
class Remint:
    """An expired link renewed by ``GET {base_url}{path}`` (``{artifact_id}`` in the path),
    whose reply holds the fresh link at ``url_key`` and its expiry at ``expires_key`` (a
    timestamp, or a number of Unix seconds as Skyvern's ``signed-url`` sends)."""

    path: str
    url_key: str = "signed_url"
    expires_key: str | None = "expires_at"


@attrs.frozen
class ArtifactListing:
    """One endpoint listing a run's artifacts: ``GET {base_url}{path}`` with ``query``.

    ``path`` and ``query`` values are templates over ``{run_id}``, or over ``{id}`` when
    ``key`` names the run payload field holding the id they take (Browserbase's
    ``sessionId``). ``items``: the reply key holding the items (None: a bare array);
    ``paging`` when the endpoint pages. ``fields`` maps each item; ``kind`` is the kind of
    an item whose type word is not mapped. ``download``: the per-file path (with
    ``{artifact_id}``) serving the bytes, sent with the key and the ``accept`` header, a
    single ``Range`` honoured when ``ranges``. An expired link is renewed through
    ``remint`` when declared, else fetched through ``download``, else by listing again
    when ``relists`` (the listing mints fresh links on each GET; the ``Artifact.id`` is then
    ``<run or key id>/<item id>``, what listing again needs). ``media_type``: the media type
    of items that name none. ``missing_ok``: reply codes meaning "none here" (an endpoint not
    on every plan): the listing adds nothing and a ``RunnormWarning`` says so. Items with no
    link and no way to fetch one (a recording not built yet) are left out.
    """

    path: str
    fields: ArtifactFields
    items: str | None = None
    key: str | None = None
    query: Mapping[str, str] = attrs.field(factory=dict)
    paging: Paging | None = None
    kind: ArtifactKind = ArtifactKind.OTHER
    download: str | None = None
    accept: str | None = None
    ranges: bool = False
    remint: Remint | None = None
    relists: bool = False
    media_type: str | None = None
    missing_ok: frozenset[int] = frozenset()


@attrs.frozen
class ToolContent:
    """An inline artifact's exact bytes from a ``tools/call`` of ``tool`` (Bridge Town's
    ``get_run_output``): ``{run_argument: run id, name_argument: artifact name}`` plus
    ``arguments``; the result's ``content_key`` holds the bytes, written as its
    ``encoding_key`` says (``base64``, ``text``, ``json``), ``size_key`` their size to check.
    Applies to inline artifacts of ``kinds`` that have a name: their ``Artifact.id`` is
    ``<run id>/<name>``."""

    tool: str
    run_argument: str = "run_id"
    name_argument: str = "output_name"
    arguments: Mapping[str, JSON] = attrs.field(factory=lambda: {"encoding": "base64"})
    content_key: str = "content"
    encoding_key: str | None = "encoding"
    size_key: str | None = "size_bytes"
    kinds: frozenset[ArtifactKind] = frozenset({ArtifactKind.OUTPUT})


@attrs.frozen
class Artifacts:
    """A run's artifacts: ``inline`` ones, those of the fetched run itself (Bridge Town's
    stdout, stderr and outputs), and those the ``listings`` return, in that order.
    ``content``: how an inline artifact's exact bytes are fetched (:class:`ToolContent`);
    without it, ``download`` writes the inline content itself."""

    listings: tuple[ArtifactListing, ...] = ()
    inline: bool = False
    content: ToolContent | None = None

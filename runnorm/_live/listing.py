"""Listing runs: one engine for every declared listing, as a sans-IO flow.

A :class:`Listing` walks a provider's ``RestList`` (page after page, in the paging style the
declaration names: :mod:`runnorm._live.paging`) or its ``McpList`` (one capped tool call).
Each call of :meth:`Listing.page` is a flow returning the next page's selected runs, or None
once the listing is over; the sync and async clients drive the same flows. What it holds to:

- ``since``/``until`` select on creation time (``timing.created_at``; ``since`` inclusive,
  ``until`` exclusive), sent as server parameters where the declaration has a ``TimeFilter``
  and always checked on the client too. ``status`` likewise, with a ``StatusFilter``.
- Paging stops as soon as the declared order proves nothing selectable can follow (newest
  first: a run created before ``since``; oldest first: one at or after ``until``); the rest
  of that page is still read. A run whose creation time breaks the order turns early stopping
  off for the rest of the listing (with a warning): it pages on to the end.
- Every run is yielded once, by id, whatever the pages repeat.
- ``limit`` ends the listing after that many runs, without an error.
- A listing cut short is never silent: a page cap (``PageNumbers.max_page``), a capped tool
  call (``McpList.max_items``) that ``since`` does not prove complete, ``max_pages`` pages,
  a cursor that comes back, or :data:`REPEATED_PAGES` pages in a row of runs already seen
  end it with ``ListLimitError``, raised by the call after the last page's runs.
- A page that fails is retried as every GET is; an error ends the listing, the runs already
  returned stay returned.

:class:`Mark` and :func:`discover_flow` are incremental discovery on top of it ("the runs
created since the last look"): ``runnorm list --checkpoint`` keeps a mark between calls, and
``watch(..., since=...)`` discovers new runs through a :class:`Discovery`, which keeps one
between listings.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import attrs

from runnorm._errors import (
    ConfigError,
    ListLimitError,
    PayloadError,
    RunnormError,
    RunnormWarning,
    UnsupportedError,
    shorten,
)
from runnorm._live.flows import sendable
from runnorm._live.mcp import McpState, mcp_call_tool
from runnorm._live.options import CallOptions, check_count
from runnorm._live.paging import Page, first_page, next_page, past_cap
from runnorm._live.replies import decode_json, error_for, map_run, scrubbed
from runnorm._live.rest import rest_get_url
from runnorm._live.when import parse_when
from runnorm._live.wire import Flow
from runnorm._model.run import Run
from runnorm._model.status import RunStatus
from runnorm._plugins.capabilities import McpList, PageNumbers, RestList, TimeFilter
from runnorm._plugins.provider import Provider

__all__ = [
    "CLOCK_SKEW",
    "MAX_PAGES",
    "REPEATED_PAGES",
    "Discovered",
    "Discovery",
    "ListQuery",
    "Listing",
    "Mark",
    "discover_flow",
    "fetchable",
    "list_query",
    "status_choice",
]

MAX_PAGES = 1000
"""Pages one listing requests at most (``max_pages=``): a cursor that never ends stops here."""
REPEATED_PAGES = 3
"""Pages in a row holding only runs already listed, after which a listing stops (the
provider ignores the page it is asked for)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fetchable(provider: str, runs: list[Run]) -> tuple[list[Run], PayloadError | None]:
    """What ``full=True`` can fetch of a page: the runs before the first whose listed id
    cannot be sent as a run id (``..``, empty), and the ``PayloadError`` for that one (None
    when every id can be sent). The provider's odd id is no fault of the caller's arguments."""
    for index, run in enumerate(runs):
        if not sendable(run.id):
            return runs[:index], PayloadError(
                f"{provider}: the listing holds a run whose id {shorten(run.id)} cannot be "
                "sent as a run id, so it cannot be fetched",
                provider=provider,
            )
    return runs, None


# -- the call's arguments -------------------------------------------------------------------


def status_choice(provider: Provider, status: Any) -> tuple[RunStatus | None, str | None]:
    """``(normalized, native)``: a ``RunStatus`` selects the runs of that status (all of
    its native words); text is a ``RunStatus`` value when it is one (``"succeeded"``), else
    one of the provider's native words, selecting exactly that word."""
    if status is None:
        return None, None
    if isinstance(status, RunStatus):
        return status, None
    if isinstance(status, str):
        try:
            return RunStatus(status), None
        except ValueError:
            pass
        if status in provider.statuses:
            return None, status
    words = ", ".join(repr(word) for word in provider.statuses)
    raise ConfigError(
        f"{provider.name}: status= must be a RunStatus (or its value, such as 'succeeded') "
        f"or one of {provider.name}'s words ({words}), not {shorten(status)}"
    )


@attrs.frozen
class ListQuery:
    """What one listing selects: creation bounds, a status, how many runs, how many pages."""

    since: datetime | None = None
    until: datetime | None = None
    status: RunStatus | None = None
    native: str | None = None
    limit: int | None = None
    max_pages: int = MAX_PAGES


def list_query(
    provider: Provider,
    *,
    since: Any = None,
    until: Any = None,
    status: Any = None,
    limit: Any = None,
    max_pages: Any = MAX_PAGES,
    now: datetime | None = None,
) -> ListQuery:
    """The checked arguments of a listing (``ConfigError`` for a bad one)."""
    current = now or datetime.now(UTC)
    lower = parse_when("since", since, now=current)
    upper = parse_when("until", until, now=current)
    if lower is not None and upper is not None and upper < lower:
        raise ConfigError(f"until ({upper.isoformat()}) is before since ({lower.isoformat()})")
    normalized, native = status_choice(provider, status)
    pages = check_count("max_pages", max_pages)
    if pages < 1:
        raise ConfigError("max_pages must be at least 1")
    return ListQuery(
        since=lower,
        until=upper,
        status=normalized,
        native=native,
        limit=None if limit is None else check_count("limit", limit),
        max_pages=pages,
    )


def _stamp(value: datetime, fmt: str, *, up: bool) -> str:
    """A bound as the server wants it; epoch numbers round outwards (the client trims)."""
    if fmt == "rfc3339":
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    unit = timedelta(seconds=1) if fmt == "epoch_seconds" else timedelta(milliseconds=1)
    delta = value - _EPOCH
    return str(-(-delta // unit) if up else delta // unit)


def _param_value(provider: Provider, option: str, value: Any) -> str:
    if isinstance(value, str) and value and _encodes(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(
        f"{provider.name}: {option}= must be non-empty text (valid Unicode) or a whole number, "
        f"not {shorten(value)}"
    )


def _with_shared(item: Mapping[str, Any], shared: Mapping[str, Any]) -> Mapping[str, Any]:
    """*item* with the reply's *shared* fields it lacks, added after its own (as
    ``read_dump`` copies a wrapper's fields into its items)."""
    missing = {k: v for k, v in shared.items() if k not in item} if shared else None
    return {**item, **missing} if missing else item


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


# -- one listing ----------------------------------------------------------------------------


class Listing:
    """One listing in progress; :meth:`page` is the flow of its next page.

    Built eagerly (a bad option, a missing required option or a provider that cannot list
    fails at once, before any request); state lives here between pages, so one driver or
    another may run each page's flow.
    """

    def __init__(
        self, options: CallOptions, query: ListQuery, mcp_state: McpState | None = None
    ) -> None:
        provider = options.provider
        declared = provider.list
        if declared is None:
            raise UnsupportedError(
                f"provider {provider.name!r} does not support listing runs (its plugin "
                "declares no list)"
            )
        self.options, self.query, self.declared = options, query, declared
        self.mcp_state = mcp_state or McpState()
        self.params = self._list_params()
        self.server_status = self._server_status()
        self.exact = self._exact_on_server()
        self.pages = 0
        """Pages (or tool calls) requested so far."""
        self.listed = 0
        """Runs returned so far."""
        self._observed: set[str] = set()
        self._yielded: set[str] = set()
        self._tokens: set[str] = set()
        self._stale = 0
        self._trusted = declared.order != "unordered"
        self._floor: datetime | None = None
        self._ceiling: datetime | None = None
        self._boundary = False
        self._limited = query.limit == 0
        self._done = self._limited
        self._after: RunnormError | None = None
        """Raised by the call after the last page: a ListLimitError, or the error of reading
        where the listing goes next (after the page's runs were returned)."""
        if isinstance(declared, RestList):
            self.size = self._page_size(declared)
            self._next: Page | None = first_page(declared.paging, self.size)

    # -- what is sent ------------------------------------------------------------------------

    def _list_params(self) -> dict[str, str]:
        provider, extras = self.options.provider, self.options.extras
        params: dict[str, str] = {}
        for param in self.declared.params:
            value = extras.get(param.option)
            if value is None:
                if param.required:
                    raise ConfigError(
                        f"{provider.name}: listing runs needs {param.option}= "
                        f"(sent as {param.param})"
                    )
                continue
            params[param.param] = _param_value(provider, param.option, value)
        return params

    def _server_status(self) -> tuple[str, ...]:
        """The native words the server filters on (none: the client filters alone)."""
        declared, query = self.declared.status, self.query
        if declared is None:
            return ()
        allowed = declared.words
        if query.native is not None:
            return (query.native,) if allowed is None or query.native in allowed else ()
        if query.status is None:
            return ()
        words = [
            word
            for word in self.options.provider.statuses.words_for(query.status)
            if allowed is None or word in allowed
        ]
        if declared.repeatable or len(words) == 1:
            return tuple(words)
        return ()

    def _exact_on_server(self) -> bool:
        """True when the server selects exactly what the client would: a page then holds
        only runs to return, so a ``limit`` may shrink the page size."""
        query, time = self.query, self.declared.time
        wants_status = query.status is not None or query.native is not None
        if wants_status and not self.server_status:
            return False
        if query.since is None and query.until is None:
            return True
        if time is None or time.format != "rfc3339":
            return False
        if query.since is not None and time.since_param is None:
            return False
        return query.until is None or (time.until_param is not None and not time.until_inclusive)

    def _page_size(self, declared: RestList) -> int | None:
        paging, limit = declared.paging, self.query.limit
        size = paging.size
        if self.exact and limit and getattr(paging, "size_param", None) is not None:
            size = limit if size is None else min(size, limit)
        return size

    def _time_params(self, time: TimeFilter | None) -> list[tuple[str, str]]:
        if time is None:
            return []
        out = []
        since, until = self.query.since, self.query.until
        if since is not None and time.since_param is not None:
            out.append((time.since_param, _stamp(since, time.format, up=False)))
        if until is not None and time.until_param is not None:
            out.append((time.until_param, _stamp(until, time.format, up=True)))
        return out

    def _url(self, declared: RestList, page: Page) -> str:
        if page.url is not None:
            return page.url
        status = self.declared.status
        query: list[tuple[str, str]] = list(page.params)
        if status is not None:
            query += [(status.param, word) for word in self.server_status]
        query += self._time_params(declared.time)
        query += list(self.params.items())
        encoded = urlencode(query)
        return self.options.base_url + declared.path + (f"?{encoded}" if encoded else "")

    # -- the flows ---------------------------------------------------------------------------

    def page(self) -> Flow[list[Run] | None]:
        """The next page's selected runs, in the provider's order; None once the listing is
        over. The call after the last page raises ``ListLimitError`` when the listing was
        cut short. No error it raises holds the API key."""
        try:
            return (yield from self._page())
        except RunnormError as exc:
            self._done = True
            try:
                error = scrubbed(self.options, exc)
            except RecursionError:
                error = self._too_deep()
            raise error from exc.__cause__
        except RecursionError:
            self._done = True
            raise self._too_deep() from None

    def _too_deep(self) -> PayloadError:
        return PayloadError(
            f"a page of the listing (page {self.pages}) is nested too deep to process",
            provider=self.options.provider.name,
        )

    def _page(self) -> Flow[list[Run] | None]:
        if self._done:
            after, self._after = self._after, None
            if after is not None:
                raise after
            return None
        if isinstance(self.declared, McpList):
            return (yield from self._tool_call(self.declared))
        return (yield from self._rest_page(self.declared))

    def _rest_page(self, declared: RestList) -> Flow[list[Run]]:
        page = self._next
        assert page is not None  # the listing is done once no page follows
        url = self._url(declared, page)
        what = f"GET {declared.path} (page {page.number})"
        self.pages += 1
        response = yield from rest_get_url(self.options, url)
        if response.status != 200:
            raise error_for(self.options, response, what)
        reply = decode_json(self.options, response, what)
        items = self._items(reply, declared.items, what)
        runs = self._accept(items, reply)
        if self._finished():
            return runs
        try:
            following = next_page(
                self.options,
                declared.paging,
                page,
                reply=reply,
                items=items,
                size=self.size,
                url=url,
            )
        except PayloadError as exc:  # this page's runs first, then the error
            self._done, self._after = True, exc
            return runs
        if following is None:
            self._done = True
        elif past_cap(declared.paging, page):
            paging = declared.paging
            assert isinstance(paging, PageNumbers)
            self._stop(
                f"{self._name} lists at most {paging.max_page} pages of {self.size} runs; "
                "more runs exist"
            )
        elif self.pages >= self.query.max_pages:
            self._stop(f"stopped after max_pages={self.query.max_pages} pages; more were listed")
        elif following.token is not None and following.token in self._tokens:
            self._stop("the provider handed back a cursor it had sent before")
        elif self._stale >= REPEATED_PAGES:
            self._stop(f"{REPEATED_PAGES} pages in a row held only runs already listed")
        else:
            if following.token is not None:
                self._tokens.add(following.token)
            self._next = following
        return runs

    def _tool_call(self, declared: McpList) -> Flow[list[Run]]:
        asked = declared.max_items
        if self.exact and self.query.limit and declared.limit_argument is not None:
            asked = min(asked, self.query.limit)
        arguments: dict[str, Any] = dict(self.params)
        if declared.limit_argument is not None:
            arguments[declared.limit_argument] = asked
        if declared.status is not None and self.server_status:
            words = self.server_status
            status_param = declared.status.param
            arguments[status_param] = list(words) if declared.status.repeatable else words[0]
        arguments.update(self._time_params(declared.time))
        self.pages += 1
        reply = yield from mcp_call_tool(
            self.options, self.mcp_state, declared.tool, arguments, read_only=True
        )
        what = f"MCP tools/call {declared.tool}"
        items = self._items(reply, declared.items, what)
        runs = self._accept(items, reply)
        if not self._finished():
            self._done = True
            if len(items) >= asked:
                hint = "" if self.query.since else "; pass since= to prove a shorter span complete"
                self._stop(
                    f"{self._name}'s {declared.tool} returns at most {declared.max_items} runs "
                    f"per call, with no cursor: the listing may hold more{hint}"
                )
        return runs

    # -- reading pages -----------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return self.options.provider.title or self.options.provider.name

    def _items(self, reply: Any, key: str | None, what: str) -> list[Mapping[str, Any]]:
        name = self.options.provider.name
        items = reply if key is None else (reply.get(key) if isinstance(reply, Mapping) else None)
        if not isinstance(items, list):
            where = "a JSON array" if key is None else f"an object with a {key!r} array"
            raise PayloadError(
                f"{what} answered {shorten(self.options.scrub_value(reply))}, not {where} of runs",
                provider=name,
            )
        for item in items:
            if not isinstance(item, Mapping):
                raise PayloadError(
                    f"{what} listed {shorten(self.options.scrub_value(item))}, not a run object",
                    provider=name,
                )
        return items

    def _accept(self, items: Sequence[Mapping[str, Any]], reply: Any) -> list[Run]:
        """The runs of one page to return: normalized, selected, each once."""
        provider, query = self.options.provider, self.query
        shared = {}
        if isinstance(reply, Mapping):
            shared = {key: reply[key] for key in self.declared.shared if key in reply}
        runs: list[Run] = []
        new = False
        for item in items:
            run = map_run(self.options, _with_shared(item, shared), provider)
            created = run.timing.created_at
            if run.id not in self._observed:  # a repeat (pages shifted) says nothing of order
                self._observed.add(run.id)
                new = True
                self._follow_order(run, created)
            if not self._selected(run, created) or run.id in self._yielded:
                continue
            self._yielded.add(run.id)
            runs.append(run)
            if query.limit is not None and len(self._yielded) >= query.limit:
                self._limited = True
                break
        self._stale = 0 if new or not items else self._stale + 1
        self.listed += len(runs)
        return runs

    def _follow_order(self, run: Run, created: datetime | None) -> None:
        if created is None or not self._trusted:
            return None
        since, until = self.query.since, self.query.until
        if self.declared.order == "newest_first":
            if self._floor is not None and created > self._floor:
                return self._broken(run, created, self._floor)
            self._floor = created
            if since is not None and created < since:
                self._boundary = True
        else:
            if self._ceiling is not None and created < self._ceiling:
                return self._broken(run, created, self._ceiling)
            self._ceiling = created
            if until is not None and created >= until:
                self._boundary = True
        return None

    def _broken(self, run: Run, created: datetime, before: datetime) -> None:
        self._trusted = False
        self._boundary = False
        order = self.declared.order.replace("_", " ")
        warnings.warn(
            f"{self.options.provider.name}: the listing is declared {order}, but run "
            f"{shorten(run.id)} (created {created.isoformat()}) came after one created "
            f"{before.isoformat()}; paging on to the end instead of stopping early",
            RunnormWarning,
            stacklevel=2,
        )

    def _selected(self, run: Run, created: datetime | None) -> bool:
        query = self.query
        if query.since is not None or query.until is not None:
            if created is None:
                return False
            if query.since is not None and created < query.since:
                return False
            if query.until is not None and created >= query.until:
                return False
        if query.status is not None and run.status is not query.status:
            return False
        return query.native is None or run.native_status == query.native

    def _finished(self) -> bool:
        """True (and the listing done) when the limit is reached or the order proves that
        nothing selectable follows."""
        if self._limited or (self._boundary and self._trusted):
            self._done = True
        return self._done

    def _stop(self, why: str) -> None:
        self._done = True
        newest_first = self._trusted and self.declared.order == "newest_first"
        complete_after = self._floor if newest_first else None
        reached = ""
        if complete_after is not None:
            reached = f"; complete for runs created after {complete_after.isoformat()}"
        self._after = ListLimitError(
            f"{self.options.provider.name}: listing cut short after {self.listed} runs: "
            f"{why}{reached}",
            provider=self.options.provider.name,
            listed=self.listed,
            complete_after=complete_after,
        )


# -- incremental discovery ------------------------------------------------------------------


CLOCK_SKEW = timedelta(minutes=5)
"""How far past this machine's clock a creation time may lie and still move a :class:`Mark`."""


@attrs.frozen
class Mark:
    """How far discovery by creation time has got: every run created before ``at`` was
    seen, and of those created exactly at ``at``, the ones in ``ids``. ``at`` None: none
    yet (every run is new).

    ``ahead`` holds the runs seen with a creation time past this machine's clock (more
    than :data:`CLOCK_SKEW` ahead: a bogus ``2099``), id -> that time: they do not move
    ``at``, which would hide every run created until then, and are not new again while the
    mark has not passed them."""

    at: datetime | None = None
    ids: frozenset[str] = frozenset()
    ahead: Mapping[str, datetime] = attrs.field(factory=dict)

    def admits(self, run: Run) -> bool:
        """True for a run this mark has not seen: created after ``at``, or at ``at`` and not
        in ``ids``. With ``at`` set, a run without a creation time is never new."""
        if run.id in self.ahead:
            return False
        if self.at is None:
            return True
        created = run.timing.created_at
        if created is None:
            return False
        return created > self.at or (created == self.at and run.id not in self.ids)

    def after(self, runs: Iterable[Run], now: datetime | None = None) -> Mark:
        """This mark moved past *runs* (the newest creation time, and the ids created then);
        a run created past *now* (this machine's clock) plus :data:`CLOCK_SKEW` goes to
        ``ahead`` instead."""
        limit = (datetime.now(UTC) if now is None else now) + CLOCK_SKEW
        at, ids, ahead = self.at, set(self.ids), dict(self.ahead)
        for run in runs:
            created = run.timing.created_at
            if created is None:
                continue
            if created > limit:
                ahead[run.id] = created
            elif at is None or created > at:
                at, ids = created, {run.id}
            elif created == at:
                ids.add(run.id)
        kept = {run_id: t for run_id, t in ahead.items() if at is None or t > at}
        return Mark(at, frozenset(ids), kept)


@attrs.frozen
class Discovered:
    """What one discovery found: the new ``runs`` (thin, as listed, in the provider's
    order), the ``mark`` to look from next time (unchanged when the listing was ``cut``),
    and the ``ListLimitError`` that cut it, if one did (the runs reached are still given)."""

    runs: tuple[Run, ...]
    mark: Mark
    cut: ListLimitError | None = None


def discover_flow(
    options: CallOptions,
    mark: Mark,
    *,
    mcp_state: McpState | None = None,
    max_pages: int = MAX_PAGES,
) -> Flow[Discovered]:
    """The runs created since *mark* that it has not seen, through the provider's listing
    (``since=mark.at``, early stop and all), and the mark moved past them. *options* must
    be resolved with ``listing=True`` (Bridge Town's ``project``). A cut listing returns the
    runs it reached with ``cut`` set and the mark unchanged; any other error is raised."""
    listing = Listing(options, ListQuery(since=mark.at, max_pages=max_pages), mcp_state)
    found: list[Run] = []
    cut: ListLimitError | None = None
    try:
        while (runs := (yield from listing.page())) is not None:
            found += [run for run in runs if mark.admits(run)]
    except ListLimitError as exc:
        cut = exc
    return Discovered(tuple(found), mark if cut is not None else mark.after(found), cut)


class Discovery:
    """How ``watch(..., since=...)`` discovers runs: each call is a flow listing the runs
    created since the last look (the first: since *since*), newest first where the provider
    lists that way, through ``discover_flow`` over a :class:`Mark` kept between calls (so a
    run is found once, and later listings stop at the first page of runs already seen).

    *options* are the listing's (resolved with ``listing=True``); the deadline of the options
    each call is given (the watch's) bounds its requests. A listing that a limit cuts short
    gives the runs it reached, then its ``ListLimitError`` as the last item (the watch makes
    it an error event), and the mark moves past the runs reached: the next look lists what
    is newer. Other errors are raised (the watch makes them error events too).
    """

    def __init__(self, options: CallOptions, mcp_state: McpState | None = None) -> None:
        if options.provider.list is None:
            raise UnsupportedError(
                f"provider {options.provider.name!r} does not support listing runs, which "
                "watch(since=...) discovers new runs with: watch run ids"
            )
        Listing(options, ListQuery(), mcp_state)  # the listing's options fail here, at once
        self.options, self.mcp_state = options, mcp_state
        self.mark: Mark | None = None

    def __call__(self, options: CallOptions, since: datetime) -> Flow[list[Run | RunnormError]]:
        mark = self.mark if self.mark is not None else Mark(since)
        bounded = attrs.evolve(self.options, deadline=options.deadline)
        found = yield from discover_flow(bounded, mark, mcp_state=self.mcp_state)
        self.mark = found.mark if found.cut is None else mark.after(found.runs)
        out: list[Run | RunnormError] = list(found.runs)
        if found.cut is not None:
            out.append(found.cut)
        return out

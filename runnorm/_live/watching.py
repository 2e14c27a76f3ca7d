"""``watch``: many runs polled concurrently as one flow, an event each time one changes.

The flow decides everything: which run to poll when (the schedule below), how many polls run
at once, what counts as a change, which webhook deliveries to drop, when the watch ends and
when its deadline has passed. It yields :class:`~runnorm._live.wire.Spawn` (one run's
:func:`~runnorm._live.flows.get_run_flow`), :class:`~runnorm._live.wire.Collect` (what has
finished) and :class:`~runnorm._live.wire.Emit` (a :class:`RunEvent`); the drivers in
:mod:`runnorm._live.drivers` run the spawned flows on threads or tasks, over the client's one
sender and one rate-limit gate, so a 429 to any poll holds back the whole watch.

The adaptive schedule (``interval=None``): every run is polled at once, then again after
the gap of its status (:data:`SCHEDULE`), which grows by the factor after each poll that
saw no change, up to the cap, and starts over after a change. A run with a retry pending is
polled when its next attempt is due (``timing.next_attempt_at``), else on
:data:`RETRY_PACE`; after a failed fetch that another poll may fix, on :data:`ERROR_PACE`.

A failed fetch is an error event. :func:`is_permanent` says which errors drop the run from
the watch (a 404, a refused key, another 4xx): such a run is never polled again and no
longer holds the watch open, so a watch whose only unfinished runs were dropped ends
normally, its error events the last word on them (the CLI exits 5 for them), not with
``WaitTimeout``. Every other error (a transport error, a 429, a 5xx, a reply that is not
usable JSON or not a run) keeps the run in the watch, polled again with the error backoff:
the watch ends when every run is terminal or dropped, or with ``WaitTimeout`` (its
``last_runs``) at the deadline.
A number for ``interval`` is the first gap of every status (growing by 1.5 up to 30 s, or
the interval itself when it is longer), as in ``wait``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal, TypeAlias

import attrs

from runnorm._errors import (
    APIError,
    AuthError,
    ConfigError,
    NotFoundError,
    PayloadError,
    RateLimitError,
    RunnormError,
    ServerError,
    ToolError,
    TransportError,
    UnsupportedError,
    WaitTimeout,
    shorten,
)
from runnorm._live.flows import check_run_id, describe_state, get_run_flow, run_state, seconds_until
from runnorm._live.mcp import McpState
from runnorm._live.options import CallOptions, check_seconds
from runnorm._live.retry import DeadlinePassed
from runnorm._live.when import TimeBound, parse_when
from runnorm._live.wire import DELIVERY, Collect, Done, Emit, Flow, Spawn, WatchFlow
from runnorm._model.run import Run, dedupe_key
from runnorm._model.status import RunStatus

__all__ = [
    "DISCOVERY_GAP",
    "ERROR_PACE",
    "RETRY_PACE",
    "SCHEDULE",
    "Discover",
    "Pace",
    "RunEvent",
    "check_watch",
    "is_permanent",
    "poll_gap",
    "watch_flow",
]

Source: TypeAlias = Literal["poll", "list", "webhook"]


def _run_id_of(event: RunEvent) -> str | None:
    return event.run.id if event.run is not None else None


@attrs.frozen(slots=True)
class RunEvent:
    """What ``watch`` saw happen to one run.

    ``run`` is the run as seen now (for an ``error`` event, the last one seen before, or
    None); ``previous`` the one seen before this event (None when the run is first seen;
    for an ``error`` event, the same as ``run``); ``at`` when the event was observed (aware
    UTC); ``source`` ``"poll"``, ``"list"`` (discovered by listing) or ``"webhook"``;
    ``error`` the ``RunnormError`` of a failed fetch, else None; ``run_id`` the id the run is
    watched under (as given, even when the provider's payload spells ``run.id`` otherwise),
    which an error event for a run never fetched has no other place for (None only for a
    failed discovery).
    """

    run: Run | None
    previous: Run | None
    at: datetime
    source: Source
    error: RunnormError | None = None
    run_id: str | None = attrs.field(default=attrs.Factory(_run_id_of, takes_self=True))

    @property
    def is_first(self) -> bool:
        """True for the event of a run seen for the first time."""
        return self.previous is None and self.error is None


@attrs.frozen
class Pace:
    """Poll gaps: *first* seconds after a change, times *factor* after each poll that saw no
    change, at most *cap* seconds."""

    first: float
    factor: float
    cap: float

    def gap(self, unchanged: int) -> float:
        """The gap after *unchanged* polls that saw no change."""
        return min(self.cap, self.first * self.factor ** min(unchanged, 64))


SCHEDULE: Mapping[RunStatus, Pace] = {
    RunStatus.QUEUED: Pace(2.0, 1.5, 30.0),
    RunStatus.RUNNING: Pace(1.0, 1.5, 10.0),
    RunStatus.PAUSED: Pace(5.0, 1.5, 60.0),
    RunStatus.UNKNOWN: Pace(2.0, 1.5, 30.0),
}
"""The adaptive schedule: slower while queued, quicker while running, slowest while paused
(waiting on a person)."""
RETRY_PACE = Pace(2.0, 1.5, 30.0)
"""A run whose retry is pending without a ``next_attempt_at`` (or past it)."""
ERROR_PACE = Pace(1.0, 2.0, 30.0)
"""After a fetch that failed in a way another poll may fix (a transport error, 429, 5xx, a
reply that is not usable: :func:`is_permanent`)."""
DISCOVERY_GAP = 10.0
"""Seconds between two listings of new runs (``since`` with ``follow=True``)."""
_FIXED_BACKOFF, _FIXED_CAP = 1.5, 30.0

Discover: TypeAlias = Callable[[CallOptions, datetime], Flow[Sequence[Run | RunnormError]]]
"""How a watch discovers runs: a flow that lists the runs created after a moment (given the
watch's options, for its deadline), each a ``Run`` to watch; a ``RunnormError`` among them
(a listing a limit cut short, after the runs it reached) is an error event.
:class:`runnorm._live.listing.Discovery` is the one the clients use."""


def poll_gap(run: Run, unchanged: int, interval: float | None) -> float:
    """Seconds until *run* is polled again, after *unchanged* polls saw no change."""
    if run.retry_pending:
        due = seconds_until(run.timing.next_attempt_at)
        if due is not None and due > 0:
            return due
        pace = RETRY_PACE
    else:
        pace = SCHEDULE.get(run.status, RETRY_PACE)
    return _fixed(interval).gap(unchanged) if interval is not None else pace.gap(unchanged)


def _fixed(interval: float, factor: float = _FIXED_BACKOFF) -> Pace:
    return Pace(interval, factor, max(interval, _FIXED_CAP))


def is_permanent(error: RunnormError) -> bool:
    """True when polling again cannot help: the run leaves the watch (its error event is its
    last). That is a 404 (``NotFoundError``, a tool's ``ToolNotFoundError`` too), a refused
    key (``AuthError``), any other 4xx ``APIError`` (or one with no status), an
    ``UnsupportedError`` and a ``ConfigError``.

    Everything else is polled again on the error backoff (:data:`ERROR_PACE`): a transport
    error, a 429, a 5xx, a tool's own failure (``ToolError``), and a ``PayloadError``: a 200
    whose body is not usable (a proxy's HTML page, a cut reply) may be a passing fault, and
    a reply the provider cannot map to a run is polled, with backoff, until the deadline."""
    if isinstance(error, TransportError | RateLimitError | ServerError | PayloadError):
        return False
    if isinstance(error, NotFoundError | AuthError | UnsupportedError):
        return True
    if isinstance(error, ConfigError):
        return True
    if isinstance(error, ToolError):
        return False  # a tool's own failure (a busy sandbox pool) may pass
    if isinstance(error, APIError):
        code = error.status_code
        return code is None or code < 500
    return False


def check_watch(
    run_ids: Iterable[str] | None,
    *,
    since: TimeBound,
    follow: bool,
    interval: float | None,
    timeout: float | None,
    concurrency: int,
) -> tuple[list[str], datetime | None]:
    """The ids (checked, repeats dropped, in order) and ``since`` (aware UTC), or
    ``ConfigError`` for arguments a watch cannot start with."""
    if run_ids is None:
        ids: list[str] = []
    elif isinstance(run_ids, str | bytes):
        raise ConfigError("run_ids must be a list of run ids, not one string: watch(p, [run_id])")
    else:
        try:
            ids = list(run_ids)
        except TypeError:
            message = f"run_ids must be a list of run ids, not {shorten(run_ids)}"
            raise ConfigError(message) from None
    ids = list(dict.fromkeys(check_run_id(run_id) for run_id in ids))
    since = parse_when("since", since)
    if not isinstance(follow, bool):
        raise ConfigError(f"follow must be True or False, not {shorten(follow)}")
    if follow and since is None:
        raise ConfigError("follow=True keeps discovering runs created after since: give since")
    if not ids and since is None:
        raise ConfigError("watch needs run ids, or since= to discover runs")
    check_seconds("interval", interval, allow_none=True, zero=False)
    check_seconds("timeout", timeout, allow_none=True)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency must be a positive integer, not {shorten(concurrency)}")
    return ids, since


@attrs.define
class _Watched:
    """What the flow knows about one run."""

    run_id: str
    due: float
    last: Run | None = None
    unchanged: int = 0  # polls since the last change
    errors: int = 0  # failed fetches in a row
    finished: bool = False
    polling: bool = False
    version: int = 0  # bumped by each event a webhook delivery makes
    polled_version: int = 0  # the version when the poll in flight was sent


def _stale(run: Run, last: Run | None, seen: set[str]) -> bool:
    """*run* is older than *last*: an earlier attempt, or a state seen before it."""
    if last is None:
        return False
    if run.attempt is not None and last.attempt is not None and run.attempt < last.attempt:
        return True
    return dedupe_key(run) in seen and run_state(run) != run_state(last)


def _now() -> datetime:
    return datetime.now(UTC)


def watch_flow(
    options: CallOptions,
    run_ids: Sequence[str],
    *,
    since: datetime | None = None,
    follow: bool = False,
    interval: float | None = None,
    timeout: float | None = None,
    concurrency: int = 16,
    discover: Discover | None = None,
    mcp_state: McpState | None = None,
) -> WatchFlow:
    """Watch *run_ids* (and, with *since* and *discover*, the runs created after *since*)
    until every one is terminal or dropped after an error that :func:`is_permanent` calls
    final (its error event is its last); ``WaitTimeout`` (``last_runs``) once *timeout* s
    pass, or, with *follow*, a normal end then. Arguments as :func:`check_watch` returns
    them."""
    watch = _Watch(
        options,
        run_ids,
        since=since,
        follow=follow,
        interval=interval,
        timeout=timeout,
        concurrency=concurrency,
        discover=discover,
        mcp_state=mcp_state,
    )
    return watch.flow()


class _Watch:
    """The state of one watch; :meth:`flow` is the flow the drivers run."""

    def __init__(
        self,
        options: CallOptions,
        run_ids: Sequence[str],
        *,
        since: datetime | None,
        follow: bool,
        interval: float | None,
        timeout: float | None,
        concurrency: int,
        discover: Discover | None,
        mcp_state: McpState | None,
    ) -> None:
        start = time.monotonic()
        self.deadline = None if timeout is None else start + timeout
        self.options, self.timeout = options, timeout
        self.bounded = attrs.evolve(options, deadline=self.deadline)
        self.since, self.follow, self.interval = since, follow, interval
        self.concurrency, self.discover, self.mcp_state = concurrency, discover, mcp_state
        self.watched = {run_id: _Watched(run_id, due=start) for run_id in run_ids}
        self.seen: set[str] = set()  # dedupe keys of the states events were made for
        self.polling = 0
        self.discovering = discover is not None and since is not None
        self.listed_once, self.listing, self.next_listing = False, False, start
        self.listing_error: RunnormError | None = None
        """Why the last listing failed (None after one that did not): for the timeout's text."""
        self.listing_gap = DISCOVERY_GAP if interval is None else max(interval, DISCOVERY_GAP)

    def flow(self) -> WatchFlow:
        while True:
            if self.over():
                return
            yield from self.start_due()
            done: list[Done] = yield Collect(self.wait())
            for item in done:
                yield from self.take(item)

    # -- the rounds ---------------------------------------------------------------------

    def more_listings(self) -> bool:
        return self.discovering and (self.follow or not self.listed_once)

    def over(self) -> bool:
        """True when the watch is done; ``WaitTimeout`` past the deadline (unless following)."""
        busy = self.polling or self.listing or self.more_listings()
        if not busy and all(w.finished for w in self.watched.values()):
            return True
        if self.deadline is not None and time.monotonic() >= self.deadline:
            if self.follow:
                return True
            raise self.expired()
        return False

    def start_due(self) -> WatchFlow:
        """Spawn the polls that are due, soonest first, up to the concurrency; the listing."""
        now = time.monotonic()
        ready = [w for w in self.watched.values() if not w.finished and not w.polling]
        for w in sorted((w for w in ready if w.due <= now), key=lambda w: w.due):
            if self.polling >= self.concurrency:
                break
            w.polling, w.polled_version = True, w.version
            self.polling += 1
            yield Spawn(("poll", w.run_id), get_run_flow(self.bounded, w.run_id, self.mcp_state))
        if self.more_listings() and not self.listing and self.next_listing <= now:
            assert self.discover is not None and self.since is not None
            self.listing = True
            yield Spawn(("list", None), self.discover(self.bounded, self.since))

    def wait(self) -> float | None:
        """Seconds until the next poll, listing or the deadline (None: until one finishes)."""
        wake: list[float] = []
        if self.polling < self.concurrency:
            wake += [w.due for w in self.watched.values() if not w.finished and not w.polling]
        if self.more_listings() and not self.listing:
            wake.append(self.next_listing)
        if self.deadline is not None:
            wake.append(self.deadline)
        return max(0.0, min(wake) - time.monotonic()) if wake else None

    def take(self, item: Done) -> list[Emit]:
        """The events one finished poll, listing or delivery makes."""
        if item.key == DELIVERY:
            return self.delivered(item)
        kind, run_id = item.key
        if kind == "list":
            return self.listed(item)
        return self.polled(item, self.watched[run_id])

    # -- outcomes -----------------------------------------------------------------------

    def expired(self) -> WaitTimeout:
        unfinished = {w.run_id: w.last for w in self.watched.values() if not w.finished}
        shown = [
            f"{run_id!r} {describe_state(run) if run else 'not seen yet'}"
            for run_id, run in list(unfinished.items())[:3]
        ]
        more = f", and {len(unfinished) - 3} more" if len(unfinished) > 3 else ""
        name = self.options.provider.name
        if self.watched:
            text = (
                f"{name}: {len(unfinished)} of {len(self.watched)} watched "
                f"runs unfinished after {self.timeout:g} s: {', '.join(shown)}{more}"
            )
        else:
            text = f"{name}: no run to watch was found within {self.timeout:g} s"
        if self.listing_error is not None:
            text += f" (the last listing failed: {self.listing_error})"
        return WaitTimeout(self.options.scrub(text), last_runs=unfinished)

    def passed(self, error: BaseException) -> bool:
        """*error* is the deadline passing inside a fetch."""
        if isinstance(error, DeadlinePassed):
            return True
        return (
            isinstance(error, TransportError)
            and error.kind == "timeout"
            and self.deadline is not None
            and time.monotonic() >= self.deadline
        )

    def accept(self, w: _Watched, run: Run, source: Source) -> list[Emit]:
        """Take *run* as *w*'s latest; an event when its state changed."""
        previous, w.last, w.errors = w.last, run, 0
        changed = previous is None or run_state(run) != run_state(previous)
        if changed:
            w.unchanged = 0
            self.seen.add(dedupe_key(run))
        else:
            w.unchanged += 1
        if run.is_terminal:
            w.finished = True
        elif not w.polling:
            w.due = time.monotonic() + poll_gap(run, w.unchanged, self.interval)
        event = RunEvent(run, previous, _now(), source, run_id=w.run_id)
        return [Emit(event)] if changed else []

    def polled(self, item: Done, w: _Watched) -> list[Emit]:
        """One poll's outcome: an event when the run changed or the fetch failed."""
        self.polling -= 1
        w.polling = False
        error = item.error
        if error is not None:
            if self.passed(error):
                return []  # the next round ends the watch
            if not isinstance(error, RunnormError):
                raise error  # a bug, not a fetch that failed
            if w.finished:
                return []
            if is_permanent(error):
                w.finished = True
            else:
                w.errors += 1
                pace = ERROR_PACE if self.interval is None else _fixed(self.interval, 2.0)
                w.due = time.monotonic() + pace.gap(w.errors - 1)
            return [Emit(RunEvent(w.last, w.last, _now(), "poll", error, run_id=w.run_id))]
        run: Run = item.value
        if w.finished:
            return []  # a webhook finished it while this poll was in flight
        if w.version != w.polled_version and _stale(run, w.last, self.seen):
            w.due = time.monotonic() + poll_gap(w.last or run, w.unchanged, self.interval)
            return []  # sent before a webhook moved the run on
        return self.accept(w, run, "poll")

    def listed(self, item: Done) -> list[Emit]:
        """A listing's new runs join the watch (their first events come from the list)."""
        self.listing = False
        self.next_listing = time.monotonic() + self.listing_gap
        error = item.error
        if error is not None:
            if self.passed(error):
                return []
            if not isinstance(error, RunnormError):
                raise error
            if is_permanent(error):
                self.discovering = False
            self.listing_error = error
            return [Emit(RunEvent(None, None, _now(), "list", error, run_id=None))]
        self.listed_once, self.listing_error = True, None
        emits: list[Emit] = []
        for run in item.value:
            if isinstance(run, RunnormError):  # a listing cut short, after the runs reached
                emits.append(Emit(RunEvent(None, None, _now(), "list", run, run_id=None)))
            elif isinstance(run, Run) and run.id not in self.watched:
                w = self.watched[run.id] = _Watched(run.id, due=time.monotonic())
                emits += self.accept(w, run, "list")
        return emits

    def delivered(self, item: Done) -> list[Emit]:
        """A webhook delivery: an event unless it is a duplicate, stale, or not watched."""
        error = item.error
        if isinstance(error, StopAsyncIteration):
            return []
        if isinstance(error, RunnormError):
            raise error
        if error is not None:
            raise ConfigError(
                f"the webhooks iterable failed with {type(error).__name__}: {shorten(str(error))}"
            ) from error
        run = item.value
        if not isinstance(run, Run):
            raise ConfigError(f"webhooks must yield runnorm.Run values, not {shorten(run)}")
        if run.provider != self.options.provider.name:
            return []
        w = self.watched.get(run.id)
        if w is None:
            if not self.discovering:
                return []  # not watched
            w = self.watched[run.id] = _Watched(run.id, due=time.monotonic())
        key = dedupe_key(run)
        if w.finished or key in self.seen or _stale(run, w.last, self.seen):
            return []
        if w.last is not None and run_state(run) == run_state(w.last):
            self.seen.add(key)
            return []
        w.version += 1
        return self.accept(w, run, "webhook")

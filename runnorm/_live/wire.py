"""What a fetch flow asks its driver for, and what it gets back (no HTTP library here).

Fetching is written once, as generators (:mod:`runnorm._live.flows`) that yield :class:`Request`
and :class:`Sleep` steps and receive :class:`Response` values; a sync and an async driver
(:mod:`runnorm._live.drivers`) perform the I/O. Retries, error mapping, MCP sessions and ``wait``
polling therefore have one implementation for both.

A flow that watches many runs (:mod:`runnorm._live.watching`) also yields :class:`Spawn` (run
this sub-flow concurrently), :class:`Collect` (hand me what finished, waiting at most this
long) and :class:`Emit` (give this event to the caller): the concurrency is the drivers', the
decisions stay in the flow.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any, TypeAlias, TypeVar

import attrs

__all__ = [
    "DELIVERY",
    "Collect",
    "Done",
    "Emit",
    "Flow",
    "Request",
    "Response",
    "Sink",
    "Sleep",
    "Spawn",
    "Watch",
    "WatchFlow",
]

T = TypeVar("T")

Watch: TypeAlias = Callable[[int, Mapping[str, str]], Callable[[bytes], bool] | None]
"""Given a response's status and headers, ``None`` (read the whole body) or a function that
is fed ``b""`` first, then the decoded body piece by piece, and says when enough has arrived
(stop reading)."""

Sink: TypeAlias = Callable[[int, Mapping[str, str]], Callable[[bytes], bool] | None]
"""Given a response's status and headers, ``None`` (collect the body as usual, under
``Request.max_bytes``) or a writer that takes the decoded body piece by piece *instead* of
the response (a download: nothing is kept in memory) and says when to stop reading. The
writer enforces its own cap; it must not raise."""


@attrs.frozen
class Request:
    """One HTTP request. ``secret_headers`` (lowercase names) never cross to another origin.

    ``timeout`` is the deadline of one attempt, connect to last byte (redirects included);
    with ``timeout=None``, ``idle_timeout`` bounds each network operation instead (connect,
    each read: a download that keeps moving is never cut). ``watch`` (see :data:`Watch`)
    may end the body early, e.g. an SSE stream left open; ``sink`` (see :data:`Sink`) takes
    the body instead of the response.
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    body: bytes | None = attrs.field(default=None, repr=False)
    timeout: float | None = 30.0
    max_bytes: int = 8 * 1024 * 1024
    secret_headers: frozenset[str] = frozenset()
    watch: Watch | None = attrs.field(default=None, repr=False, eq=False)
    sink: Sink | None = attrs.field(default=None, repr=False, eq=False)
    idle_timeout: float | None = None
    guard: str | None = attrs.field(default=None, repr=False, eq=False)
    """The caller's key, never sent as such: a redirect to a URL that spells it is refused,
    whatever host the request went to (one without the credential header included)."""
    deadline: float | None = attrs.field(default=None, repr=False, eq=False)
    """``time.monotonic()`` past which the request may not start (the deadline of a ``wait``
    or ``watch``): a rate-limit hold-back (:class:`Sleep` ``shared``) lasting longer ends
    there, and the request is not sent."""


@attrs.frozen
class Response:
    """A complete response: status, headers (lowercase names) and the body bytes."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    body: bytes = attrs.field(default=b"", repr=False)
    url: str = ""

    @property
    def content_type(self) -> str:
        """The media type, without parameters, lowercase."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@attrs.frozen
class Sleep:
    """Wait *seconds*. ``shared=True`` holds back every request of the client (a 429)."""

    seconds: float
    shared: bool = False


@attrs.frozen
class Spawn:
    """Run *flow* concurrently with the others (the driver answers None at once); what it
    returns or raises comes back from a later :class:`Collect` as a :class:`Done` of *key*."""

    key: Any
    flow: Generator[Any, Any, Any] = attrs.field(repr=False)


@attrs.frozen
class Collect:
    """Answer the :class:`Done` values of the spawned flows (and deliveries) that finished,
    waiting until at least one has, or *timeout* seconds passed (None: no limit); a list,
    empty when the time ran out."""

    timeout: float | None


@attrs.frozen
class Emit:
    """Hand *event* to the caller (a watch's ``RunEvent``); the driver answers None."""

    event: Any


DELIVERY = "runnorm:delivery"
"""The :class:`Done` key of an item from a watch's ``webhooks`` iterable: ``value`` the item,
or ``error`` what the iterable raised (``StopAsyncIteration`` once it is exhausted)."""


@attrs.frozen
class Done:
    """A spawned flow's outcome: its return *value*, or the *error* it raised."""

    key: Any
    value: Any = None
    error: BaseException | None = None


Step: TypeAlias = Request | Sleep
Flow: TypeAlias = Generator[Step, Any, T]
WatchFlow: TypeAlias = Generator[Spawn | Collect | Emit | Sleep, Any, None]
"""A flow over many runs: it spawns :data:`Flow` values and emits events."""

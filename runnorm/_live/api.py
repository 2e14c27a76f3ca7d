"""Module-level live API: ``get``, ``aget``, ``wait``, ``await_run``, ``get_many``, ``watch``,
``awatch``.

Sync functions reuse one lazily created :class:`~runnorm._live.client.Client` per provider, closed
at interpreter exit. Async functions use a fresh :class:`~runnorm._live.client.AsyncClient` per
call, closed before they return: a client bound to one event loop is never reused on another,
and nothing is left open when a loop ends. (For many async calls, hold an ``AsyncClient``.)
Every call takes the options ``api_key``, ``base_url``, ``timeout`` (per HTTP
request), ``max_retries``, ``headers`` and ``max_response_bytes``, plus the provider's own
(``include_session`` for Browserbase).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from runnorm._errors import RunnormError
from runnorm._live.client import DEFAULT_CONCURRENCY, AsyncClient, Client
from runnorm._live.watching import RunEvent
from runnorm._model.run import Run
from runnorm._plugins.normalize import resolve_provider
from runnorm._plugins.provider import Provider

__all__ = [
    "RunEvent",
    "aget",
    "await_run",
    "awatch",
    "close_clients",
    "get",
    "get_many",
    "wait",
    "watch",
]

_sync_clients: dict[str, Client] = {}
_sync_lock = threading.Lock()


def _client(provider: str | Provider) -> Client:
    name = resolve_provider(provider).name
    client = _sync_clients.get(name)
    if client is None:
        with _sync_lock:
            client = _sync_clients.get(name)
            if client is None:
                client = _sync_clients[name] = Client(name)
    return client


def close_clients() -> None:
    """Close the module-level sync clients (also done at interpreter exit)."""
    with _sync_lock:
        clients = list(_sync_clients.values())
        _sync_clients.clear()
    for client in clients:
        client.close()


atexit.register(close_clients)


def get(provider: str | Provider, run_id: str, **options: Any) -> Run:
    """Fetch one run from *provider* and normalize it."""
    return _client(provider).get(run_id, **options)


async def aget(provider: str | Provider, run_id: str, **options: Any) -> Run:
    """Async :func:`get`."""
    async with AsyncClient(provider) as client:
        return await client.get(run_id, **options)


def wait(
    provider: str | Provider,
    run_id: str,
    *,
    timeout: float = 600.0,
    interval: float = 2.0,
    stop_on_paused: bool = True,
    request_timeout: float | None = None,
    on_update: Callable[[Run], object] | None = None,
    **options: Any,
) -> Run:
    """Poll until the run is terminal (or paused, unless ``stop_on_paused=False``).

    *timeout* is the overall deadline in seconds (``WaitTimeout`` carries ``last_run``);
    *request_timeout* the per-request HTTP timeout; *on_update* is called with each ``Run``
    whose status changed.
    """
    return _client(provider).wait(
        run_id,
        timeout=timeout,
        interval=interval,
        stop_on_paused=stop_on_paused,
        request_timeout=request_timeout,
        on_update=on_update,
        **options,
    )


async def await_run(
    provider: str | Provider,
    run_id: str,
    *,
    timeout: float = 600.0,
    interval: float = 2.0,
    stop_on_paused: bool = True,
    request_timeout: float | None = None,
    on_update: Callable[[Run], object] | None = None,
    **options: Any,
) -> Run:
    """Async :func:`wait`."""
    async with AsyncClient(provider) as client:
        return await client.wait(
            run_id,
            timeout=timeout,
            interval=interval,
            stop_on_paused=stop_on_paused,
            request_timeout=request_timeout,
            on_update=on_update,
            **options,
        )


def get_many(
    provider: str | Provider,
    ids: Iterable[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    **options: Any,
) -> list[Run | RunnormError]:
    """Fetch many runs concurrently; in input order, each a ``Run`` or that id's error."""
    return _client(provider).get_many(ids, concurrency=concurrency, **options)


def watch(
    provider: str | Provider,
    run_ids: Iterable[str] | None = None,
    *,
    since: datetime | None = None,
    follow: bool = False,
    interval: float | None = None,
    timeout: float | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    webhooks: object = None,
    request_timeout: float | None = None,
    **options: Any,
) -> Iterator[RunEvent]:
    """Watch many runs: yield a ``RunEvent`` when a run is first seen and each time its
    status, native status, attempt or ``retry_pending`` changes; end when every run is
    terminal.

    Polls run concurrently (*concurrency* at a time) over one client, whose rate-limit gate
    they share: a 429 slows the whole watch. A terminal run is never polled again. A failed
    fetch is an event with ``error`` set and the watch goes on (a run that is gone, or whose
    reply is not a run, leaves the watch; transport errors, 429 and 5xx are polled again).
    *interval* ``None`` is the adaptive schedule (quick at first, slower while queued,
    quicker while running); a number fixes the first gap. Past *timeout* (the overall
    deadline, seconds; as in :func:`wait`, *request_timeout* is the HTTP one) it raises
    ``WaitTimeout``, whose ``last_runs`` maps each unfinished
    run id to its last ``Run``. *since* (a datetime) also picks up runs created after it,
    through the provider's list capability, and *follow* keeps discovering until *timeout*,
    then ends normally: this version raises ``UnsupportedError`` for *since*. Arguments are
    checked at the call (``ConfigError``; no ids and no *since* is one); the polls start when
    iteration does. *webhooks* works with :func:`awatch` only.
    """
    return _client(provider).watch(
        run_ids,
        since=since,
        follow=follow,
        interval=interval,
        timeout=timeout,
        concurrency=concurrency,
        webhooks=webhooks,
        request_timeout=request_timeout,
        **options,
    )


def awatch(
    provider: str | Provider,
    run_ids: Iterable[str] | None = None,
    *,
    since: datetime | None = None,
    follow: bool = False,
    interval: float | None = None,
    timeout: float | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    webhooks: AsyncIterable[Run] | None = None,
    request_timeout: float | None = None,
    **options: Any,
) -> AsyncIterator[RunEvent]:
    """Async :func:`watch`: ``async for event in runnorm.awatch(...)``, on a client of its
    own, closed when the iteration ends.

    *webhooks* takes an async iterable of verified ``Run`` values (for example from an
    ``asyncio.Queue`` the app's webhook receiver fills): each is merged into the events as
    ``source="webhook"``, a delivery whose ``dedupe_key`` was seen already is dropped, a
    terminal one stops the polling of its run, and one for a run not watched is ignored
    (unless *since* discovers runs).
    """
    client = AsyncClient(provider)
    events = client.watch(
        run_ids,
        since=since,
        follow=follow,
        interval=interval,
        timeout=timeout,
        concurrency=concurrency,
        webhooks=webhooks,
        request_timeout=request_timeout,
        **options,
    )
    return _closing(client, events)


async def _closing(client: AsyncClient, events: AsyncIterator[RunEvent]) -> AsyncIterator[RunEvent]:
    try:
        async for event in events:
            yield event
    finally:
        await events.aclose()  # type: ignore[attr-defined]
        await client.aclose()

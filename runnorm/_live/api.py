"""Module-level live API: ``get``, ``wait``, ``get_many``, ``watch``, ``list_runs``,
``cancel``, ``resume``, ``artifacts``, ``download`` and their async twins (``aget``,
``await_run``, ``awatch``, ``alist_runs``, ``acancel``, ``aresume``, ``aartifacts``,
``adownload``).

Sync functions reuse one lazily created :class:`~runnorm._live.client.Client` per provider, closed
at interpreter exit; a declaration of the caller's own (a ``Provider`` not registered, or
another object than the one registered under its name) gets a client of its own for the
call, as the async functions do, so that its own settings (base URL, paths) are the ones
used. Async functions use a fresh :class:`~runnorm._live.client.AsyncClient` per
call, closed before they return: a client bound to one event loop is never reused on another,
and nothing is left open when a loop ends. (For many async calls, hold an ``AsyncClient``.)
Every call takes the options ``api_key``, ``base_url``, ``timeout`` (per HTTP
request), ``max_retries``, ``headers`` and ``max_response_bytes``, plus the provider's own
(``include_session`` for Browserbase).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
)
from pathlib import Path
from typing import Any, TypeVar

from runnorm._errors import RunnormError, UnsupportedError
from runnorm._live.client import DEFAULT_CONCURRENCY, AsyncClient, Client
from runnorm._live.download import Progress
from runnorm._live.listing import MAX_PAGES
from runnorm._live.watching import RunEvent
from runnorm._live.when import TimeBound
from runnorm._model.control import ControlResult
from runnorm._model.run import Artifact, Run
from runnorm._model.status import RunStatus
from runnorm._plugins.host import get_host
from runnorm._plugins.normalize import resolve_provider
from runnorm._plugins.provider import Provider

__all__ = [
    "RunEvent",
    "aartifacts",
    "acancel",
    "adownload",
    "aget",
    "alist_runs",
    "aresume",
    "artifacts",
    "await_run",
    "awatch",
    "cancel",
    "close_clients",
    "download",
    "get",
    "get_many",
    "list_runs",
    "resume",
    "wait",
    "watch",
]

T = TypeVar("T")
_sync_clients: dict[str, Client] = {}
_sync_lock = threading.Lock()


def _client(name: str) -> Client:
    """The module-level client of the provider registered as *name*."""
    client = _sync_clients.get(name)
    if client is None:
        with _sync_lock:
            client = _sync_clients.get(name)
            if client is None:
                client = _sync_clients[name] = Client(name)
    return client


def _registered(declared: Provider) -> bool:
    """True when *declared* is the provider registered under its name (the module-level
    clients are kept by name: they serve that declaration alone)."""
    try:
        return get_host().get(declared.name) is declared
    except RunnormError:  # not registered (or its name clashes)
        return False


@contextlib.contextmanager
def _using(provider: str | Provider) -> Iterator[Client]:
    """The client of one call: the module-level one of a registered provider, else a client
    of the caller's own declaration for this call alone, closed after it."""
    declared = resolve_provider(provider)
    if _registered(declared):
        yield _client(declared.name)
        return
    with Client(declared) as client:
        yield client


def _iterated(provider: str | Provider, start: Callable[[Client], Iterator[T]]) -> Iterator[T]:
    """*start*'s iterator over the client of :func:`_using`, called at once (its arguments
    are checked there); a client of the call's own is closed when the iteration ends."""
    declared = resolve_provider(provider)
    if _registered(declared):
        return start(_client(declared.name))
    client = Client(declared)
    try:
        items = start(client)
    except BaseException:
        client.close()
        raise
    return _closing_sync(client, items)


def _closing_sync(client: Client, items: Iterator[T]) -> Iterator[T]:
    """*items*, then *client* closed (when the iteration ends or the iterator is closed)."""
    try:
        yield from items
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
        client.close()


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
    with _using(provider) as client:
        return client.get(run_id, **options)


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
    with _using(provider) as client:
        return client.wait(
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
    with _using(provider) as client:
        return client.get_many(ids, concurrency=concurrency, **options)


def watch(
    provider: str | Provider,
    run_ids: Iterable[str] | None = None,
    *,
    since: TimeBound = None,
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
    fetch is an event with ``error`` set and the watch goes on: a run that is gone (404),
    whose key is refused or that gets another 4xx leaves the watch (the watch then ends
    normally once the other runs are terminal); after a transport error, a 429, a 5xx or a
    reply that is not usable (not JSON, not a run) it is polled again with backoff.
    *interval* ``None`` is the adaptive schedule (quick at first, slower while queued,
    quicker while running); a number fixes the first gap. Past *timeout* (the overall
    deadline, seconds; as in :func:`wait`, *request_timeout* is the HTTP one) it raises
    ``WaitTimeout``, whose ``last_runs`` maps each unfinished run id to its last ``Run``.
    *since* (read as in :func:`list_runs`) also picks up runs created after it,
    through the provider's listing (their first events come from the list, ``source="list"``;
    a listing a limit cut short is an error event after the runs it reached; a provider
    without ``list`` raises ``UnsupportedError``), and *follow* keeps discovering (every
    ``DISCOVERY_GAP`` seconds, each listing stopping at the runs already found) until
    *timeout*, then ends normally. The listing's own options (Bridge Town's ``project``)
    go to the listing. Arguments are
    checked at the call (``ConfigError``; no ids and no *since* is one); the polls start when
    iteration does. *webhooks* works with :func:`awatch` only.
    """
    return _iterated(
        provider,
        lambda client: client.watch(
            run_ids,
            since=since,
            follow=follow,
            interval=interval,
            timeout=timeout,
            concurrency=concurrency,
            webhooks=webhooks,
            request_timeout=request_timeout,
            **options,
        ),
    )


def _lister(provider: str | Provider) -> Provider:
    declared = resolve_provider(provider)
    if declared.list is None:
        raise UnsupportedError(
            f"provider {declared.name!r} does not support listing runs (its plugin declares "
            "no list)"
        )
    return declared


def list_runs(
    provider: str | Provider,
    *,
    since: TimeBound = None,
    until: TimeBound = None,
    status: RunStatus | str | None = None,
    limit: int | None = None,
    full: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_pages: int = MAX_PAGES,
    **options: Any,
) -> Iterator[Run]:
    """Runs from *provider*'s list API, lazily, page after page, each run once.

    *since* and *until* bound the creation time (``since`` inclusive, ``until`` exclusive):
    an aware ``datetime``, a ``timedelta`` before now, ISO 8601 text or a span such as
    ``"2h"``; sent to the server where the provider can filter, else checked on the client,
    and paging stops once the provider's order proves nothing newer (or older) can follow.
    *status* is a ``RunStatus`` (its value, such as ``"succeeded"``, too) or one of the
    provider's native words. *limit* stops after that many runs. By default each ``Run``
    is built from its list item alone (one request per page); ``full=True`` fetches each
    run as ``get`` does, *concurrency* at a time. A listing that a provider limit (or
    *max_pages*) cuts short raises ``ListLimitError`` after the runs it reached. Provider
    options: the call options of ``get``, plus the listing's own (Bridge Town: ``project``).
    Arguments are checked at once; the first request goes out with the first ``next()``.
    """
    return _iterated(
        _lister(provider),
        lambda client: client.list_runs(
            since=since,
            until=until,
            status=status,
            limit=limit,
            full=full,
            concurrency=concurrency,
            max_pages=max_pages,
            **options,
        ),
    )


def awatch(
    provider: str | Provider,
    run_ids: Iterable[str] | None = None,
    *,
    since: TimeBound = None,
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


def alist_runs(
    provider: str | Provider,
    *,
    since: TimeBound = None,
    until: TimeBound = None,
    status: RunStatus | str | None = None,
    limit: int | None = None,
    full: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_pages: int = MAX_PAGES,
    **options: Any,
) -> AsyncIterator[Run]:
    """Async :func:`list_runs`: ``async for run in runnorm.alist_runs(...)``.

    Uses a client of its own, closed when the iteration ends (or the iterator is closed);
    arguments are checked at once. For many listings, hold an ``AsyncClient``.
    """
    client = AsyncClient(_lister(provider))
    runs = client.list_runs(
        since=since,
        until=until,
        status=status,
        limit=limit,
        full=full,
        concurrency=concurrency,
        max_pages=max_pages,
        **options,
    )
    return _closing(client, runs)


async def _closing(client: AsyncClient, items: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """*items*, then the client closed (when the iteration ends or the iterator is closed)."""
    try:
        async for item in items:
            yield item
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            await close()
        await client.aclose()


def cancel(
    provider: str | Provider, run_id: str, *, message: str | None = None, **options: Any
) -> ControlResult:
    """Cancel a run; a ``ControlResult`` whose ``outcome`` says what came of it.

    ``"accepted"`` (the provider is stopping it), ``"already_terminal"`` (it had finished),
    ``"not_found"`` or ``"conflict"``, as the provider's declaration maps its answer; any
    other error answer raises its ``APIError``. ``result.run`` is the run when the provider
    sent it back (Browserbase). The request is sent once unless the server proves it did not
    act on it (a connection that never opened, 429, 503 with ``Retry-After``): never again
    after a timeout or another 5xx. A provider without cancel raises ``UnsupportedError``.
    *message* goes with the request where the provider's cancel takes one (none of the
    first-party providers' does: a ``ConfigError`` there).
    """
    with _using(provider) as client:
        return client.cancel(run_id, message=message, **options)


async def acancel(
    provider: str | Provider, run_id: str, *, message: str | None = None, **options: Any
) -> ControlResult:
    """Async :func:`cancel`."""
    async with AsyncClient(provider) as client:
        return await client.cancel(run_id, message=message, **options)


def resume(
    provider: str | Provider, run_id: str, *, message: str | None = None, **options: Any
) -> ControlResult:
    """Resume a paused run; a ``ControlResult`` as for :func:`cancel`.

    *message* is the reply the run waits for, where the provider takes one: Browserbase
    requires it (a ``ConfigError`` without it), Skyvern takes none (a ``ConfigError`` with
    one) and continues workflow runs (``wr_...``) only. A provider without resume raises
    ``UnsupportedError``.
    """
    with _using(provider) as client:
        return client.resume(run_id, message=message, **options)


async def aresume(
    provider: str | Provider, run_id: str, *, message: str | None = None, **options: Any
) -> ControlResult:
    """Async :func:`resume`."""
    async with AsyncClient(provider) as client:
        return await client.resume(run_id, message=message, **options)


def artifacts(provider: str | Provider, run_id: str, **options: Any) -> list[Artifact]:
    """The run's artifacts as the provider lists them, each with ``id`` (what renewing its
    link needs) and ``expires_at`` (when its link stops working, None when unknown).

    Skyvern: ``GET /v1/runs/{id}/artifacts``; Browserbase: the recordings and per-file
    downloads of the run's session; Bridge Town: the run's inline stdout, stderr and
    outputs. A provider without artifacts raises ``UnsupportedError``.
    """
    with _using(provider) as client:
        return client.artifacts(run_id, **options)


async def aartifacts(provider: str | Provider, run_id: str, **options: Any) -> list[Artifact]:
    """Async :func:`artifacts`."""
    async with AsyncClient(provider) as client:
        return await client.artifacts(run_id, **options)


def download(
    provider: str | Provider,
    artifact: Artifact,
    dest_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    max_bytes: int | None = None,
    on_progress: Progress | None = None,
    **options: Any,
) -> Path:
    """Download *artifact* into *dest_dir* (created if missing); the written ``Path``.

    The bytes stream into a hidden partial file there and are renamed when complete; an
    interrupted download keeps it, and the next call resumes with ``Range``. Size and
    SHA-256 are checked where the provider gives them: a mismatch deletes the partial file
    and raises ``ArtifactError`` (as does an artifact larger than *max_bytes*, or a link
    that is not http(s)). The name is cleaned so that it cannot leave *dest_dir*; an existing
    file is replaced only with *overwrite*, else the new one gets a numbered suffix. An
    expired link is renewed through the provider. The key goes only to the provider's own
    base URL: a presigned link elsewhere, or a redirect to one, gets no credential.
    *on_progress(done, total)* is called as bytes arrive; ``timeout`` bounds each network
    operation, not the whole transfer.
    """
    with _using(provider) as client:
        return client.download(
            artifact,
            dest_dir,
            overwrite=overwrite,
            max_bytes=max_bytes,
            on_progress=on_progress,
            **options,
        )


async def adownload(
    provider: str | Provider,
    artifact: Artifact,
    dest_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    max_bytes: int | None = None,
    on_progress: Progress | None = None,
    **options: Any,
) -> Path:
    """Async :func:`download`."""
    async with AsyncClient(provider) as client:
        return await client.download(
            artifact,
            dest_dir,
            overwrite=overwrite,
            max_bytes=max_bytes,
            on_progress=on_progress,
            **options,
        )

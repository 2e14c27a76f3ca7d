"""Module-level live API: ``get``, ``aget``, ``wait``, ``await_run``, ``get_many``.

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
from collections.abc import Callable, Iterable
from typing import Any

from runnorm._errors import RunnormError
from runnorm._live.client import DEFAULT_CONCURRENCY, AsyncClient, Client
from runnorm._model.run import Run
from runnorm._plugins.normalize import resolve_provider
from runnorm._plugins.provider import Provider

__all__ = ["aget", "await_run", "close_clients", "get", "get_many", "wait"]

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

"""``Client`` and ``AsyncClient``: pooled connections, ``get``, ``wait``, ``get_many``,
``list_runs``, ``watch``, ``cancel``, ``resume``, ``artifacts`` and ``download``.

Both run the same flows (:mod:`runnorm._live.flows`, :mod:`runnorm._live.watching`) through
the drivers of :mod:`runnorm._live.drivers`, which only send requests and sleep. A 429
answered to any request of a client holds back every request of that client (the shared
gate), so ``get_many`` and ``watch`` slow the whole pool down rather than one request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from runnorm._errors import ConfigError, RunnormError, UnsupportedError, shorten
from runnorm._live.artifacts import artifacts_flow
from runnorm._live.control import Verb, control_flow
from runnorm._live.download import Progress, download_flow
from runnorm._live.drivers import (
    Gate,
    drive_async,
    drive_sync,
    drive_watch_async,
    drive_watch_sync,
    run_coroutine,
)
from runnorm._live.flows import check_run_id, get_run_flow, wait_flow
from runnorm._live.http import AsyncSender, SyncSender
from runnorm._live.listing import MAX_PAGES, Discovery, Listing, fetchable, list_query
from runnorm._live.mcp import McpState, mcp_close
from runnorm._live.options import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    CallOptions,
    resolve_options,
)
from runnorm._live.watching import RunEvent, check_watch, watch_flow
from runnorm._live.when import TimeBound
from runnorm._live.wire import Flow, WatchFlow
from runnorm._model.control import ControlResult
from runnorm._model.run import Artifact, Run
from runnorm._model.status import RunStatus
from runnorm._plugins.normalize import resolve_provider
from runnorm._plugins.provider import Provider

if TYPE_CHECKING:
    import httpx

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")
H = TypeVar("H")  # the httpx client type a client accepts
S = TypeVar("S", SyncSender, AsyncSender)
DEFAULT_CONCURRENCY = 16


class _Base(Generic[H, S]):
    """Settings, option resolution and MCP sessions shared by both clients."""

    def __init__(
        self,
        provider: str | Provider,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str] | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        http_client: H | None = None,
    ) -> None:
        self.provider = resolve_provider(provider)
        declared = self.provider
        if not (declared.fetch or declared.cancel or declared.resume or declared.artifacts):
            raise UnsupportedError(
                f"provider {self.provider.name!r} does not support fetching runs "
                "(its plugin declares no fetch); runnorm.normalize() still works offline"
            )
        self._settings: dict[str, Any] = {
            "timeout": timeout,
            "max_retries": max_retries,
            "max_response_bytes": max_response_bytes,
        }
        if api_key is not None:
            self._settings["api_key"] = api_key
        if base_url is not None:
            self._settings["base_url"] = base_url
        if headers:  # checked (must be a mapping) by resolve_options below
            self._settings["headers"] = dict(headers) if isinstance(headers, Mapping) else headers
        # Fail early on bad settings (a base URL may still come with each call).
        resolve_options(self.provider, self._settings, base_url_required=False)
        self._resolved: tuple[tuple[str | None, str | None], CallOptions] | None = None
        self._gate = Gate()
        self._mcp: dict[tuple[str, str], tuple[McpState, CallOptions]] = {}
        self._mcp_lock = threading.Lock()
        self._closed = False
        self._sender: S = self._new_sender(http_client)

    def _new_sender(self, http_client: H | None) -> S:
        raise NotImplementedError

    def __repr__(self) -> str:
        base = self._settings.get("base_url") or self.provider.base_url
        return f"{type(self).__name__}(provider={self.provider.name!r}, base_url={base!r})"

    def _check_open(self) -> None:
        """A closed client (``close``, ``aclose``, the end of its ``with``) cannot be used."""
        if self._closed:
            raise ConfigError(
                f"this {type(self).__name__} for {self.provider.name!r} is closed; create a new one"
            )

    def _options(self, overrides: Mapping[str, Any], *, listing: bool = False) -> CallOptions:
        self._check_open()
        if overrides or listing:
            settings = {**self._settings, **overrides}
            return resolve_options(self.provider, settings, listing=listing)
        # The common call: the client's own settings. Resolved once per environment state
        # (the key and base URL may come from variables that can change between calls).
        environment = self._environment()
        cached = self._resolved
        if cached is None or cached[0] != environment:
            cached = self._resolved = (environment, resolve_options(self.provider, self._settings))
        return cached[1]

    def _environment(self) -> tuple[str | None, str | None]:
        auth, variable = self.provider.auth, self.provider.base_url_env
        return (
            os.environ.get(auth.env_var) if auth is not None else None,
            os.environ.get(variable) if variable else None,
        )

    def _mcp_state(self, options: CallOptions) -> McpState:
        fingerprint = hashlib.sha256((options.api_key or "").encode()).hexdigest()
        key = (options.base_url, fingerprint)
        with self._mcp_lock:
            entry = self._mcp.get(key)
            if entry is None:
                entry = self._mcp[key] = (McpState(), options)
            return entry[0]

    def _close_flows(self) -> list[Flow[None]]:
        """Flows that end the MCP sessions this client opened."""
        with self._mcp_lock:
            entries = list(self._mcp.values())
            self._mcp.clear()
        return [mcp_close(options, state) for state, options in entries if state.session_id]

    def _checked(
        self, ids: Iterable[str], concurrency: int, options: Mapping[str, Any]
    ) -> list[str]:
        """The ids as a list, after checking them, the concurrency and the options."""
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"concurrency must be a positive integer, not {concurrency!r}")
        if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
            raise ConfigError(f"ids must be a list of run ids, not {shorten(ids)}")
        checked = [check_run_id(run_id) for run_id in ids]
        self._options(options)  # bad options fail here, once, before any request
        return checked

    def _listing(
        self,
        *,
        since: TimeBound,
        until: TimeBound,
        status: Any,
        limit: Any,
        full: Any,
        concurrency: Any,
        max_pages: Any,
        overrides: Mapping[str, Any],
    ) -> tuple[Listing, dict[str, Any]]:
        """A checked listing, and the options ``full=True`` fetches each run with (the
        call's, less the listing's own, such as ``project``)."""
        if not isinstance(full, bool):
            raise ConfigError(f"full must be True or False, not {full!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"concurrency must be a positive integer, not {concurrency!r}")
        options = self._options(overrides, listing=True)
        query = list_query(
            self.provider,
            since=since,
            until=until,
            status=status,
            limit=limit,
            max_pages=max_pages,
        )
        listing = Listing(options, query, self._mcp_state(options))
        own = self.provider.list_options
        return listing, {k: v for k, v in overrides.items() if k not in own}

    def _get_flow(self, run_id: str, overrides: Mapping[str, Any]) -> Flow[Run]:
        options = self._options(overrides)
        return get_run_flow(options, run_id, self._mcp_state(options))

    def _control_flow(
        self, verb: Verb, run_id: str, message: str | None, overrides: Mapping[str, Any]
    ) -> Flow[ControlResult]:
        options = self._options(overrides)
        return control_flow(options, verb, run_id, message, self._mcp_state(options))

    def _artifacts_flow(self, run_id: str, overrides: Mapping[str, Any]) -> Flow[list[Artifact]]:
        options = self._options(overrides)
        return artifacts_flow(options, run_id, self._mcp_state(options))

    def _download_flow(
        self,
        artifact: Artifact,
        dest_dir: str | os.PathLike[str],
        *,
        overwrite: bool,
        max_bytes: int | None,
        on_progress: Progress | None,
        overrides: Mapping[str, Any],
    ) -> Flow[Path]:
        options = self._options(overrides)
        return download_flow(
            options,
            artifact,
            dest_dir,
            overwrite=overwrite,
            max_bytes=max_bytes,
            on_progress=on_progress,
            mcp_state=self._mcp_state(options),
        )

    def _wait_flow(
        self,
        run_id: str,
        *,
        timeout: float,
        interval: float,
        stop_on_paused: bool,
        request_timeout: float | None,
        on_update: Callable[[Run], object] | None,
        overrides: Mapping[str, Any],
    ) -> Flow[Run]:
        if request_timeout is not None:
            overrides = {**overrides, "timeout": request_timeout}
        options = self._options(overrides)
        return wait_flow(
            options,
            run_id,
            timeout=timeout,
            interval=interval,
            stop_on_paused=stop_on_paused,
            on_update=on_update,
            mcp_state=self._mcp_state(options),
        )

    def _watch_flow(
        self,
        run_ids: Iterable[str] | None,
        *,
        since: TimeBound,
        follow: bool,
        interval: float | None,
        timeout: float | None,
        concurrency: int,
        request_timeout: float | None,
        overrides: Mapping[str, Any],
    ) -> WatchFlow:
        """The watch flow, every argument checked and the key looked up before any request
        (a missing key is an ``AuthError`` now, not one error event per run)."""
        ids, since = check_watch(
            run_ids,
            since=since,
            follow=follow,
            interval=interval,
            timeout=timeout,
            concurrency=concurrency,
        )
        if request_timeout is not None:
            overrides = {**overrides, "timeout": request_timeout}
        discover = None
        if since is not None:  # discovery lists runs: the listing's own options go there
            listing = self._options(overrides, listing=True)
            discover = Discovery(listing, self._mcp_state(listing))
            own = self.provider.list_options
            overrides = {k: v for k, v in overrides.items() if k not in own}
        options = self._options(overrides)
        options.auth_headers()
        return watch_flow(
            options,
            ids,
            since=since,
            follow=follow,
            interval=interval,
            timeout=timeout,
            concurrency=concurrency,
            discover=discover,
            mcp_state=self._mcp_state(options),
        )


class Client(_Base["httpx.Client", SyncSender]):
    """A pooled, reusable client for one provider (a context manager).

    ``http_client`` takes a configured ``httpx.Client`` (proxies, TLS, transports); it is
    not closed by :meth:`close`. Per-call options override the client's settings.
    """

    def _new_sender(self, http_client: httpx.Client | None) -> SyncSender:
        return SyncSender(http_client)

    def get(self, run_id: str, **options: Any) -> Run:
        """Fetch and normalize one run."""
        return self._drive(self._get_flow(run_id, options))

    def wait(
        self,
        run_id: str,
        *,
        timeout: float = 600.0,
        interval: float = 2.0,
        stop_on_paused: bool = True,
        request_timeout: float | None = None,
        on_update: Callable[[Run], object] | None = None,
        **options: Any,
    ) -> Run:
        """Poll until the run is terminal (or paused); ``WaitTimeout`` after *timeout* s."""
        flow = self._wait_flow(
            run_id,
            timeout=timeout,
            interval=interval,
            stop_on_paused=stop_on_paused,
            request_timeout=request_timeout,
            on_update=on_update,
            overrides=options,
        )
        return self._drive(flow)

    def cancel(self, run_id: str, *, message: str | None = None, **options: Any) -> ControlResult:
        """Cancel a run; the ``ControlResult`` says what came of it (see :func:`runnorm.cancel`)."""
        return self._drive(self._control_flow("cancel", run_id, message, options))

    def resume(self, run_id: str, *, message: str | None = None, **options: Any) -> ControlResult:
        """Resume a paused run, with *message* where the provider takes one (see
        :func:`runnorm.resume`)."""
        return self._drive(self._control_flow("resume", run_id, message, options))

    def artifacts(self, run_id: str, **options: Any) -> list[Artifact]:
        """The run's artifacts as the provider lists them (see :func:`runnorm.artifacts`)."""
        return self._drive(self._artifacts_flow(run_id, options))

    def download(
        self,
        artifact: Artifact,
        dest_dir: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        max_bytes: int | None = None,
        on_progress: Progress | None = None,
        **options: Any,
    ) -> Path:
        """Download *artifact* into *dest_dir*; the written path (see :func:`runnorm.download`)."""
        flow = self._download_flow(
            artifact,
            dest_dir,
            overwrite=overwrite,
            max_bytes=max_bytes,
            on_progress=on_progress,
            overrides=options,
        )
        return self._drive(flow)

    def _drive(self, flow: Flow[T]) -> T:
        """Run *flow* on this client's connections and rate-limit gate."""
        return drive_sync(flow, self._sender, self._gate)

    def get_many(
        self, ids: Iterable[str], *, concurrency: int = DEFAULT_CONCURRENCY, **options: Any
    ) -> list[Run | RunnormError]:
        """Fetch many runs concurrently; results in input order, each a Run or its error.

        Runs on a pooled async client with this client's settings; when this client was
        given its own ``http_client``, on threads over that client instead, so its proxies,
        TLS settings and transports apply.
        """
        checked = self._checked(ids, concurrency, options)
        if not self._sender.owned:
            return self._get_many_threaded(checked, concurrency, options)

        async def run() -> list[Run | RunnormError]:
            async with AsyncClient(self.provider, **self._settings) as client:
                client._gate = self._gate  # one 429 hold-back for both
                return await client.get_many(checked, concurrency=concurrency, **options)

        return run_coroutine(run)

    def list_runs(
        self,
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
        """Runs from the provider's list, lazily, page after page (see :func:`runnorm.list_runs`).

        Arguments are checked at once; the first request goes out with the first ``next()``.
        """
        pairs = self._list_pairs(
            since=since,
            until=until,
            status=status,
            limit=limit,
            full=full,
            concurrency=concurrency,
            max_pages=max_pages,
            **options,
        )
        return (run for _, run in pairs)

    def _list_pairs(
        self,
        *,
        since: TimeBound = None,
        until: TimeBound = None,
        status: Any = None,
        limit: Any = None,
        full: Any = False,
        concurrency: Any = DEFAULT_CONCURRENCY,
        max_pages: Any = MAX_PAGES,
        **options: Any,
    ) -> Iterator[tuple[Run, Run]]:
        """Internal (``runnorm list``): ``(listed, returned)`` pairs, the run as listed
        beside the one ``list_runs`` returns (the fetched one with ``full=True``)."""
        listing, fetch = self._listing(
            since=since,
            until=until,
            status=status,
            limit=limit,
            full=full,
            concurrency=concurrency,
            max_pages=max_pages,
            overrides=options,
        )
        return self._pairs(listing, full, concurrency, fetch)

    def _pairs(
        self, listing: Listing, full: bool, concurrency: int, fetch: Mapping[str, Any]
    ) -> Iterator[tuple[Run, Run]]:
        while (runs := self._drive(listing.page())) is not None:
            if not full or not runs:
                yield from ((run, run) for run in runs)
                continue
            wanted, odd = fetchable(self.provider.name, runs)
            fetched = self.get_many([run.id for run in wanted], concurrency=concurrency, **fetch)
            for run, result in zip(wanted, fetched, strict=True):
                if isinstance(result, RunnormError):
                    raise result
                yield run, result
            if odd is not None:
                raise odd

    def _get_many_threaded(
        self, ids: list[str], concurrency: int, options: Mapping[str, Any]
    ) -> list[Run | RunnormError]:
        def one(run_id: str) -> Run | RunnormError:
            try:
                return self.get(run_id, **options)
            except RunnormError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="runnorm") as pool:
            return list(pool.map(one, ids))

    def watch(
        self,
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
        """Poll many runs concurrently and yield a ``RunEvent`` when one is first seen and
        each time it changes, until every one is terminal (see :func:`runnorm.watch`).

        Arguments are checked now; the polls start when iteration does. As in :meth:`wait`,
        *timeout* is the overall deadline and *request_timeout* the HTTP one. ``webhooks``
        works with :meth:`AsyncClient.watch` only (a ``ConfigError`` here)."""
        if webhooks is not None:
            raise ConfigError(
                "webhooks= merges an async iterable of deliveries into awatch() and "
                "AsyncClient.watch(); the sync watch() takes none"
            )
        flow = self._watch_flow(
            run_ids,
            since=since,
            follow=follow,
            interval=interval,
            timeout=timeout,
            concurrency=concurrency,
            request_timeout=request_timeout,
            overrides=options,
        )
        return drive_watch_sync(flow, self._sender, self._gate, concurrency)

    def close(self) -> None:
        """End MCP sessions, then close the pool (unless it came as ``http_client``); the
        client cannot be used after (a ``ConfigError``)."""
        self._closed = True
        for flow in self._close_flows():
            with contextlib.suppress(RunnormError):
                self._drive(flow)
        self._sender.close()

    def __enter__(self) -> Client:
        self._check_open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(_Base["httpx.AsyncClient", AsyncSender]):
    """The async twin of :class:`Client` (an async context manager).

    Bound to the event loop it is first used on (a call from another loop is a
    ``ConfigError``); ``http_client`` takes a configured ``httpx.AsyncClient``.
    """

    def _new_sender(self, http_client: httpx.AsyncClient | None) -> AsyncSender:
        return AsyncSender(http_client)

    async def _drive(self, flow: Flow[T]) -> T:
        """Run *flow* on this client's connections and rate-limit gate."""
        return await drive_async(flow, self._sender, self._gate)

    async def get(self, run_id: str, **options: Any) -> Run:
        """Fetch and normalize one run."""
        return await self._drive(self._get_flow(run_id, options))

    async def wait(
        self,
        run_id: str,
        *,
        timeout: float = 600.0,
        interval: float = 2.0,
        stop_on_paused: bool = True,
        request_timeout: float | None = None,
        on_update: Callable[[Run], object] | None = None,
        **options: Any,
    ) -> Run:
        """Poll until the run is terminal (or paused); ``WaitTimeout`` after *timeout* s."""
        flow = self._wait_flow(
            run_id,
            timeout=timeout,
            interval=interval,
            stop_on_paused=stop_on_paused,
            request_timeout=request_timeout,
            on_update=on_update,
            overrides=options,
        )
        return await self._drive(flow)

    async def cancel(
        self, run_id: str, *, message: str | None = None, **options: Any
    ) -> ControlResult:
        """Cancel a run (see :func:`runnorm.acancel`)."""
        flow = self._control_flow("cancel", run_id, message, options)
        return await self._drive(flow)

    async def resume(
        self, run_id: str, *, message: str | None = None, **options: Any
    ) -> ControlResult:
        """Resume a paused run (see :func:`runnorm.aresume`)."""
        flow = self._control_flow("resume", run_id, message, options)
        return await self._drive(flow)

    async def artifacts(self, run_id: str, **options: Any) -> list[Artifact]:
        """The run's artifacts as the provider lists them (see :func:`runnorm.aartifacts`)."""
        return await self._drive(self._artifacts_flow(run_id, options))

    async def download(
        self,
        artifact: Artifact,
        dest_dir: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        max_bytes: int | None = None,
        on_progress: Progress | None = None,
        **options: Any,
    ) -> Path:
        """Download *artifact* into *dest_dir* (see :func:`runnorm.adownload`)."""
        flow = self._download_flow(
            artifact,
            dest_dir,
            overwrite=overwrite,
            max_bytes=max_bytes,
            on_progress=on_progress,
            overrides=options,
        )
        return await self._drive(flow)

    async def get_many(
        self, ids: Iterable[str], *, concurrency: int = DEFAULT_CONCURRENCY, **options: Any
    ) -> list[Run | RunnormError]:
        """Fetch many runs concurrently; results in input order, each a Run or its error.

        A per-id failure is returned in place. Anything else (a bug, a cancellation)
        cancels the outstanding requests and is raised once they have stopped.
        """
        checked = self._checked(ids, concurrency, options)
        limit = asyncio.Semaphore(concurrency)

        async def one(run_id: str) -> Run | RunnormError:
            async with limit:
                try:
                    return await self.get(run_id, **options)
                except RunnormError as exc:
                    return exc

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(run_id)) for run_id in checked]
        return [task.result() for task in tasks]

    def list_runs(
        self,
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
        """Runs from the provider's list, lazily (``async for``; see
        :func:`runnorm.alist_runs`). Arguments are checked at once."""
        listing, fetch = self._listing(
            since=since,
            until=until,
            status=status,
            limit=limit,
            full=full,
            concurrency=concurrency,
            max_pages=max_pages,
            overrides=options,
        )
        return self._runs(listing, full, concurrency, fetch)

    async def _runs(
        self, listing: Listing, full: bool, concurrency: int, fetch: Mapping[str, Any]
    ) -> AsyncGenerator[Run, None]:
        while (runs := await self._drive(listing.page())) is not None:
            if not full or not runs:
                for run in runs:
                    yield run
                continue
            wanted, odd = fetchable(self.provider.name, runs)
            fetched = await self.get_many(
                [run.id for run in wanted], concurrency=concurrency, **fetch
            )
            for result in fetched:
                if isinstance(result, RunnormError):
                    raise result
                yield result
            if odd is not None:
                raise odd

    def watch(
        self,
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
        """The async twin of :meth:`Client.watch` (``async for event in client.watch(...)``);
        ``webhooks``, an async iterable of verified ``Run`` values, is merged into the
        events as ``source="webhook"`` (see :func:`runnorm.awatch`)."""
        deliveries = None
        if webhooks is not None:
            if not isinstance(webhooks, AsyncIterable):
                raise ConfigError(
                    f"webhooks must be an async iterable of runnorm.Run, not {shorten(webhooks)}"
                )
            deliveries = aiter(webhooks)
        flow = self._watch_flow(
            run_ids,
            since=since,
            follow=follow,
            interval=interval,
            timeout=timeout,
            concurrency=concurrency,
            request_timeout=request_timeout,
            overrides=options,
        )
        return drive_watch_async(flow, self._sender, self._gate, deliveries)

    async def aclose(self) -> None:
        """End MCP sessions, then close the pools (unless one came as ``http_client``); the
        client cannot be used after (a ``ConfigError``)."""
        self._closed = True
        for flow in self._close_flows():
            with contextlib.suppress(RunnormError):
                await self._drive(flow)
        await self._sender.aclose()

    async def __aenter__(self) -> AsyncClient:
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

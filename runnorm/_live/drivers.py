"""The drivers: the only code that performs a flow's I/O, once for sync and once for async.

A flow (:mod:`runnorm._live.flows`) yields ``Request`` and ``Sleep`` steps; a driver sends
each request through a sender (:mod:`runnorm._live.http`), sleeps, and feeds the response
back (or throws the ``TransportError`` in). A ``Sleep(shared=True)`` (a 429) holds the
client's :class:`Gate`, which every later request of that client waits for, up to the
request's own ``deadline`` (a ``wait`` or ``watch`` on the same client): past it, the request
is not sent and the flow gets a timeout ``TransportError``.

A watch (:mod:`runnorm._live.watching`) is a flow that also spawns flows:
:func:`drive_watch_sync` runs them on daemon threads (:class:`_PollThreads`),
:func:`drive_watch_async` as tasks (and reads the ``webhooks`` iterable beside them), each
through :func:`drive_sync` or :func:`drive_async` with the same sender and gate; both hand
the flow's events to the caller as they come.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable, Iterator
from typing import Any, TypeVar

from runnorm._errors import TransportError
from runnorm._live.http import MAX_SOCKET_TIMEOUT, AsyncSender, SyncSender
from runnorm._live.wire import (
    DELIVERY,
    Collect,
    Done,
    Emit,
    Flow,
    Request,
    Sleep,
    Spawn,
    WatchFlow,
)

__all__ = [
    "Gate",
    "drive_async",
    "drive_sync",
    "drive_watch_async",
    "drive_watch_sync",
    "run_coroutine",
]

T = TypeVar("T")


class Gate:
    """When the provider said 429, every request of the client waits until ``until``."""

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until = 0.0

    def hold(self, seconds: float) -> None:
        self.until = max(self.until, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.until - time.monotonic()

    def wait_for(self, deadline: float | None) -> float | None:
        """Seconds to sleep before sending (0: send now), or None when the gate stays shut
        past *deadline* (then sleep until the deadline, and send nothing)."""
        remaining = self.remaining()
        if remaining <= 0:
            return 0.0
        if deadline is not None and deadline - time.monotonic() < remaining:
            return None
        return remaining


def _held_back(request: Request) -> TransportError:
    where = request.url.split("?", 1)[0].split("#", 1)[0]
    return TransportError(
        f"timeout error on {request.method} {where}: the provider's rate limit (HTTP 429) "
        "holds requests back past the deadline; not sent",
        kind="timeout",
    )


def _until(deadline: float | None) -> float:
    return 0.0 if deadline is None else max(0.0, deadline - time.monotonic())


def _nap(seconds: float) -> float:
    """*seconds* cut to the longest wait the platform takes (a longer ``time.sleep`` or lock
    wait raises ``OverflowError``): a flow asking to sleep for centuries (a huge ``timeout``,
    a next attempt due in the year 9999) wakes early and asks again."""
    return min(seconds, MAX_SOCKET_TIMEOUT)


def drive_sync(flow: Flow[T], sender: SyncSender, gate: Gate) -> T:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value = error = None
        if isinstance(step, Sleep):
            if step.shared:
                gate.hold(step.seconds)
            time.sleep(_nap(step.seconds))
            continue
        while (pause := gate.wait_for(step.deadline)) != 0.0:
            if pause is None:
                time.sleep(_nap(_until(step.deadline)))
                break
            time.sleep(_nap(pause))
        if pause is None:
            error = _held_back(step)
            continue
        try:
            value = sender.send(step)
        except TransportError as exc:
            error = exc


async def drive_async(flow: Flow[T], sender: AsyncSender, gate: Gate) -> T:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value = error = None
        if isinstance(step, Sleep):
            if step.shared:
                gate.hold(step.seconds)
            await asyncio.sleep(_nap(step.seconds))
            continue
        while (pause := gate.wait_for(step.deadline)) != 0.0:
            if pause is None:
                await asyncio.sleep(_nap(_until(step.deadline)))
                break
            await asyncio.sleep(_nap(pause))
        if pause is None:
            error = _held_back(step)
            continue
        try:
            value = await sender.send(step)
        except TransportError as exc:
            error = exc


def drive_watch_sync(
    flow: WatchFlow, sender: SyncSender, gate: Gate, workers: int
) -> Iterator[Any]:
    """Yield the events of a watch *flow*; its spawned flows run on up to *workers* threads.

    When the caller stops iterating (or the flow raises), no new request starts: spawned
    flows not yet started are cancelled, those in flight end with their request (every one
    is bounded by the watch's deadline)."""
    pool = _PollThreads(workers)
    running: dict[concurrent.futures.Future[Any], Hashable] = {}
    value: Any = None
    try:
        while True:
            try:
                step = flow.send(value)
            except StopIteration:
                return
            value = None
            if isinstance(step, Emit):
                yield step.event
            elif isinstance(step, Spawn):
                running[pool.submit(drive_sync, step.flow, sender, gate)] = step.key
            elif isinstance(step, Collect):
                value = _collect_sync(running, step.timeout)
            elif isinstance(step, Sleep):
                time.sleep(_nap(step.seconds))
            else:  # pragma: no cover - a flow's bug
                raise TypeError(f"a watch flow cannot yield {step!r}")
    finally:
        flow.close()
        pool.shutdown()


class _PollThreads:
    """Up to *workers* daemon threads running a watch's spawned flows, started as needed.

    Not a ``ThreadPoolExecutor``: the interpreter joins its threads at exit, so that a
    Ctrl-C or SIGTERM during a poll in flight left the process waiting for that request
    (up to its timeout, then its retries). A poll's thread holds nothing the process must
    finish: at exit it is abandoned. :meth:`shutdown` cancels the flows not started yet;
    those running end with their request."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.threads: list[threading.Thread] = []
        self.jobs: queue.SimpleQueue[
            tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ] = queue.SimpleQueue()
        self.idle = 0
        self.lock = threading.Lock()

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.jobs.put((future, fn, args))
        with self.lock:
            if self.idle == 0 and len(self.threads) < self.workers:
                thread = threading.Thread(target=self._work, name="runnorm-watch", daemon=True)
                self.threads.append(thread)
                thread.start()
            else:
                self.idle = max(self.idle - 1, 0)
        return future

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            future, fn, args = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as exc:  # the future's, as a pool's worker does
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self.lock:
                self.idle += 1

    def shutdown(self) -> None:
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self.threads:
            self.jobs.put(None)


def _collect_sync(
    running: dict[concurrent.futures.Future[Any], Hashable], timeout: float | None
) -> list[Done]:
    timeout = None if timeout is None else _nap(timeout)
    if not running:
        if timeout:
            time.sleep(timeout)
        return []
    finished, _ = concurrent.futures.wait(
        running, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED
    )
    out = []
    for future in finished:
        key = running.pop(future)
        error = future.exception()
        out.append(Done(key, error=error) if error is not None else Done(key, future.result()))
    return out


_EXHAUSTED: Any = object()


async def _next(iterator: AsyncIterator[Any]) -> Any:
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return _EXHAUSTED


async def drive_watch_async(
    flow: WatchFlow,
    sender: AsyncSender,
    gate: Gate,
    deliveries: AsyncIterator[Any] | None = None,
) -> AsyncIterator[Any]:
    """Yield the events of a watch *flow*; its spawned flows run as tasks, and the items of
    *deliveries* (a watch's ``webhooks``) come to the flow as ``Done(DELIVERY, item)``.

    When the caller stops iterating (or the flow raises), every task is cancelled and
    awaited before this generator ends."""
    tasks = _Tasks(sender, gate, deliveries)
    value: Any = None
    try:
        while True:
            try:
                step = flow.send(value)
            except StopIteration:
                return
            value = None
            if isinstance(step, Emit):
                yield step.event
            elif isinstance(step, Spawn):
                tasks.spawn(step)
            elif isinstance(step, Collect):
                value = await tasks.collect(step.timeout)
            elif isinstance(step, Sleep):
                await asyncio.sleep(_nap(step.seconds))
            else:  # pragma: no cover - a flow's bug
                raise TypeError(f"a watch flow cannot yield {step!r}")
    finally:
        flow.close()
        await tasks.close()


class _Tasks:
    """The spawned flows of an async watch, and the one read of *deliveries* in flight."""

    def __init__(
        self, sender: AsyncSender, gate: Gate, deliveries: AsyncIterator[Any] | None
    ) -> None:
        self.sender, self.gate, self.deliveries = sender, gate, deliveries
        self.running: dict[asyncio.Future[Any], Hashable] = {}
        self.reading = False

    def spawn(self, step: Spawn) -> None:
        task = asyncio.ensure_future(drive_async(step.flow, self.sender, self.gate))
        self.running[task] = step.key

    async def collect(self, timeout: float | None) -> list[Done]:
        if self.deliveries is not None and not self.reading:
            self.running[asyncio.ensure_future(_next(self.deliveries))] = DELIVERY
            self.reading = True
        done = await _collect_async(self.running, timeout)
        for item in done:
            if item.key == DELIVERY:
                self.reading = False
                if isinstance(item.error, StopAsyncIteration):
                    self.deliveries = None  # exhausted: read no more
        return done

    async def close(self) -> None:
        pending = list(self.running)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


async def _collect_async(
    running: dict[asyncio.Future[Any], Hashable], timeout: float | None
) -> list[Done]:
    timeout = None if timeout is None else _nap(timeout)
    if not running:
        if timeout:
            await asyncio.sleep(timeout)
        return []
    finished, _ = await asyncio.wait(running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    out = []
    for future in finished:
        key = running.pop(future)
        error = future.exception()
        if error is None and future.result() is _EXHAUSTED:
            error = StopAsyncIteration()
        out.append(Done(key, error=error) if error is not None else Done(key, future.result()))
    return out


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    outcome: dict[str, Any] = {}  # the value, or the error to re-raise

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(factory())
        except BaseException as exc:  # re-raised in the calling thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="runnorm-get-many")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value

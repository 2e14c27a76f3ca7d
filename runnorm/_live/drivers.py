"""The drivers: the only code that performs a flow's I/O, once for sync and once for async.

A flow (:mod:`runnorm._live.flows`) yields ``Request`` and ``Sleep`` steps; a driver sends
each request through a sender (:mod:`runnorm._live.http`), sleeps, and feeds the response
back (or throws the ``TransportError`` in). A ``Sleep(shared=True)`` (a 429) holds the
client's :class:`Gate`, which every later request of that client waits for.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from runnorm._errors import TransportError
from runnorm._live.http import AsyncSender, SyncSender
from runnorm._live.wire import Flow, Sleep

__all__ = ["Gate", "drive_async", "drive_sync", "run_coroutine"]

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
            time.sleep(step.seconds)
            continue
        _wait_gate_sync(gate)
        try:
            value = sender.send(step)
        except TransportError as exc:
            error = exc


def _wait_gate_sync(gate: Gate) -> None:
    remaining = gate.remaining()
    while remaining > 0:
        time.sleep(remaining)
        remaining = gate.remaining()


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
            await asyncio.sleep(step.seconds)
            continue
        remaining = gate.remaining()
        while remaining > 0:
            await asyncio.sleep(remaining)
            remaining = gate.remaining()
        try:
            value = await sender.send(step)
        except TransportError as exc:
            error = exc


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

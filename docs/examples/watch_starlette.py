"""Push and poll: a Starlette receiver feeds verified Skyvern webhooks to a running awatch.

The receiver verifies each delivery with ``webhooks.parse`` and puts the ``Run`` on an
``asyncio.Queue``; :func:`supervise` watches the runs with ``runnorm.awatch``, which polls
them and merges the queued deliveries in (``source="webhook"``, repeats dropped by
``dedupe_key``). A run whose workflow retries with ``webhook_on_retry: every_attempt`` sends
a ``failed`` delivery with ``retry_pending`` for each attempt but the last: it is not over
until ``run.is_terminal``. Both must share one event loop: serve the app with uvicorn in the
loop that runs :func:`supervise` (see :func:`main`). Skyvern signs with the API key that
created the run, read here from ``SKYVERN_API_KEY``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import runnorm
from runnorm import webhooks

DELIVERIES: asyncio.Queue[runnorm.Run] = asyncio.Queue()


async def skyvern_webhook(request: Request) -> JSONResponse:
    body = await request.body()  # the raw bytes: never re-serialize before verifying
    try:
        run = webhooks.parse(
            "skyvern", body, request.headers.items(), secret=os.environ["SKYVERN_API_KEY"]
        )
    except runnorm.SignatureError:
        return JSONResponse({"error": "invalid signature"}, status_code=401)
    except runnorm.PayloadError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    await DELIVERIES.put(run)  # awatch drops repeats (Skyvern retries deliveries)
    return JSONResponse({"status": "queued", "key": webhooks.dedupe_key(run)})


app = Starlette(routes=[Route("/webhooks/skyvern", skyvern_webhook, methods=["POST"])])


async def deliveries() -> AsyncIterator[runnorm.Run]:
    while True:
        yield await DELIVERIES.get()


async def supervise(run_ids: Iterable[str], **options: Any) -> dict[str, runnorm.RunStatus]:
    """Watch *run_ids* by poll and by push until each is over; the final status of each."""
    outcome: dict[str, runnorm.RunStatus] = {}
    async for event in runnorm.awatch("skyvern", run_ids, webhooks=deliveries(), **options):
        run = event.run
        if event.error is not None:
            print(f"{event.run_id}: {event.error}")
        elif run is not None and run.retry_pending:
            print(f"{run.id}: attempt {run.attempt} {run.status}, retry pending ({event.source})")
        elif run is not None:
            print(f"{run.id}: {run.status} ({event.source})")
            if run.is_terminal:
                outcome[run.id] = run.status
    return outcome


async def main(run_ids: Iterable[str]) -> dict[str, runnorm.RunStatus]:
    """Serve the receiver (uvicorn, port 8000) while :func:`supervise` runs, in one loop."""
    import uvicorn  # pip install uvicorn

    server = uvicorn.Server(uvicorn.Config(app, port=8000, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        return await supervise(run_ids)
    finally:
        server.should_exit = True
        await serving


if __name__ == "__main__":
    import sys

    print(asyncio.run(main(sys.argv[1:])))

"""An ASGI (Starlette) receiver for Skyvern webhooks: verify, de-duplicate, hand the run on.

Run it with ``uvicorn webhook_starlette:app``; Skyvern signs with the API key that created
the run, read here from ``SKYVERN_API_KEY``.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import runnorm
from runnorm import webhooks

SEEN: set[str] = set()  # use a shared store (Redis, a table) when running several workers
RECEIVED: list[runnorm.Run] = []


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
    key = webhooks.dedupe_key(run)
    if key in SEEN:  # Skyvern retries deliveries: acknowledge repeats, act once
        return JSONResponse({"status": "duplicate"})
    SEEN.add(key)
    RECEIVED.append(run)
    # With a retry policy's every_attempt webhooks, a failed attempt with another one pending
    # is not the outcome: act on the run only once run.is_terminal.
    return JSONResponse(
        {
            "status": "ok",
            "run": run.id,
            "state": run.status.value,
            "attempt": run.attempt,
            "final": run.is_terminal,
        }
    )


app = Starlette(routes=[Route("/webhooks/skyvern", skyvern_webhook, methods=["POST"])])

"""A Flask receiver for Skyvern webhooks: verify, de-duplicate, hand the run on.

Run it with ``flask --app webhook_flask run``; Skyvern signs with the API key that created
the run, read here from ``SKYVERN_API_KEY``.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, request

import runnorm
from runnorm import webhooks

app = Flask(__name__)
SEEN: set[str] = set()  # use a shared store (Redis, a table) when running several workers
RECEIVED: list[runnorm.Run] = []


@app.post("/webhooks/skyvern")
def skyvern_webhook() -> tuple[dict[str, Any], int]:
    body = request.get_data()  # the raw bytes: never re-serialize before verifying
    try:
        run = webhooks.parse(
            "skyvern", body, list(request.headers.items()), secret=os.environ["SKYVERN_API_KEY"]
        )
    except runnorm.SignatureError:
        return {"error": "invalid signature"}, 401
    except runnorm.PayloadError as exc:
        return {"error": str(exc)}, 400
    key = webhooks.dedupe_key(run)
    if key in SEEN:  # Skyvern retries deliveries: acknowledge repeats, act once
        return {"status": "duplicate"}, 200
    SEEN.add(key)
    RECEIVED.append(run)
    # With a retry policy's every_attempt webhooks, a failed attempt with another one pending
    # is not the outcome: act on the run only once run.is_terminal.
    outcome = {"run": run.id, "state": run.status.value, "final": run.is_terminal}
    return {"status": "ok", "attempt": run.attempt, **outcome}, 200

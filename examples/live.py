"""Live use against a loopback stand-in for Skyvern: get, wait, get_many, watch and errors.

Run it with ``python examples/live.py``; the test suite runs it too. Against the real
service, drop the server and set ``SKYVERN_API_KEY`` (and ``SKYVERN_BASE_URL`` for a
self-hosted Skyvern).
"""

from __future__ import annotations

import os

from runnorm.testing import FakeProviderServer, Reply

with FakeProviderServer(auth=("x-api-key", "sk-demo")) as server:
    running = {"run_id": "tsk_42", "status": "running", "run_type": "task_v2"}
    server.script(
        "/v1/runs/tsk_42", Reply(200, {**running, "status": "queued"}), Reply(200, running)
    )
    server.routes["/v1/runs/tsk_42"] = {**running, "status": "completed", "output": {"total": 3}}
    server.routes["/v1/runs/tsk_7"] = {
        "run_id": "tsk_7",
        "status": "failed",
        "failure_reason": "Login failed",
    }
    # wr_9 fails its first attempt and Skyvern retries it under the same id
    workflow = {"run_id": "wr_9", "run_type": "workflow_run", "status": "running", "attempt": 1}
    server.script(
        "/v1/runs/wr_9",
        Reply(200, workflow),
        Reply(200, {**workflow, "status": "failed", "retry_pending": True}),
        Reply(200, {**workflow, "attempt": 2}),
    )
    server.routes["/v1/runs/wr_9"] = {**workflow, "status": "completed", "attempt": 2}
    os.environ["SKYVERN_BASE_URL"] = server.url
    os.environ["SKYVERN_API_KEY"] = "sk-demo"

    # --- the README's example starts here ---
    import runnorm

    run = runnorm.get("skyvern", "tsk_7")
    print(run.status, run.error.message if run.error else None)  # failed Login failed

    run = runnorm.wait(
        "skyvern", "tsk_42", interval=0.05, timeout=30, on_update=lambda r: print("  now", r.status)
    )
    print(run.ok, run.result)  # True {'total': 3}

    for item in runnorm.get_many("skyvern", ["tsk_42", "tsk_7", "tsk_missing"]):
        print(item.status if isinstance(item, runnorm.Run) else repr(item))

    # many runs at once: an event when each is first seen and each time it changes
    for event in runnorm.watch("skyvern", ["wr_9", "tsk_7"], interval=0.05, timeout=30):
        if event.run is not None:  # None only for a run whose first fetch failed
            r = event.run
            print("  watch", r.id, r.status, r.attempt, "retry pending" if r.retry_pending else "")

    try:
        runnorm.get("skyvern", "tsk_7", api_key="wrong-key")
    except runnorm.AuthError as exc:
        print("auth:", exc.status_code, exc)
    # --- the README's example ends here ---

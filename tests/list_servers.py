"""Loopback list APIs for the listing tests: Skyvern's and Browserbase's, as their docs say.

Each wraps a :class:`runnorm.testing.FakeProviderServer` and keeps a mutable set of runs (add
and change them between calls): the list endpoint is a handler reading its page and filter
parameters, and each run's own endpoint serves its get-run payload.

- :class:`SkyvernApi`: ``GET /v1/runs?page=&page_size=&status=...`` (page 1..100, size
  1..100, repeatable status), a bare array of ``TaskRunListItem`` newest first, no time
  filter; ``GET /v1/runs/{run_id}`` the get-run payload.
- :class:`BrowserbaseApi`: ``GET /v1/agents/runs?limit=&cursor=&status=&startAt=&endAt=``
  (``limit`` up to 1000, served in pages of at most ``page_cap``; inclusive bounds on
  ``createdAt``; one status word), ``{data, limit, nextCursor}`` in no promised order (here:
  by run id); ``GET /v1/agents/runs/{runId}``.

Bridge Town's ``list_runs`` is the SDK-built server's (``mcp_server.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from runnorm.testing import FakeProviderServer, RecordedRequest, Reply

__all__ = ["BASE", "BrowserbaseApi", "SkyvernApi", "at", "naive", "zulu"]

BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """``BASE`` plus *minutes*."""
    return BASE + timedelta(minutes=minutes)


def naive(when: datetime) -> str:
    """Skyvern's timestamps: naive ISO 8601 in UTC."""
    return when.replace(tzinfo=None).isoformat()


def zulu(when: datetime) -> str:
    """Browserbase's timestamps: RFC 3339 with ``Z`` and milliseconds."""
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[0] if values else default


class SkyvernApi:
    """Skyvern's run list and runs on a fake server (see the module)."""

    def __init__(self, server: FakeProviderServer) -> None:
        self.server = server
        self.items: dict[str, dict[str, Any]] = {}
        server.handlers["/v1/runs"] = self._list

    def put(self, number: int, minutes: float, status: str = "completed") -> dict[str, Any]:
        """Add (or change) run ``tsk_<number>`` created at ``at(minutes)``: its list item,
        and its get-run payload served at ``/v1/runs/tsk_<number>``."""
        run_id = f"tsk_{number:05d}"
        created = naive(at(minutes))
        item = {
            "task_run_id": f"tr_{number:05d}",
            "run_id": run_id,
            "task_run_type": "task_v2",
            "status": status,
            "title": f"Look up order {number}",
            "started_at": created,
            "finished_at": None,
            "created_at": created,
            "workflow_permanent_id": None,
            "workflow_deleted": False,
            "script_run": False,
            "trigger_type": "api",
        }
        self.items[run_id] = item
        self.server.routes[f"/v1/runs/{run_id}"] = {
            "run_id": run_id,
            "status": status,
            "run_type": "task_v2",
            "output": {"order": number} if status == "completed" else None,
            "created_at": created,
            "modified_at": created,
            "started_at": created,
            "app_url": f"https://app.skyvern.com/runs/{run_id}",
            "run_request": {"prompt": f"Look up order {number}", "url": "https://shop.example"},
        }
        return item

    def newest_first(self) -> list[dict[str, Any]]:
        return sorted(self.items.values(), key=lambda item: item["created_at"], reverse=True)

    def _list(self, request: RecordedRequest) -> Reply:
        query = parse_qs(request.query)
        page = int(_one(query, "page", "1") or 1)
        size = int(_one(query, "page_size", "10") or 10)
        if not (1 <= page <= 100 and 1 <= size <= 100):
            return Reply(422, {"detail": [{"loc": ["query", "page"], "msg": "out of range"}]})
        statuses = query.get("status")
        items = [i for i in self.newest_first() if not statuses or i["status"] in statuses]
        return Reply(200, items[(page - 1) * size : page * size])


class BrowserbaseApi:
    """Browserbase's agent-run list and runs on a fake server (see the module)."""

    def __init__(self, server: FakeProviderServer, *, page_cap: int = 100) -> None:
        self.server = server
        self.page_cap = page_cap
        self.runs: dict[str, dict[str, Any]] = {}
        server.handlers["/v1/agents/runs"] = self._list

    def put(self, number: int, minutes: float, status: str = "COMPLETED") -> dict[str, Any]:
        """Add (or change) a run created at ``at(minutes)``; served at its own path too."""
        run_id = f"00000000-0000-4000-8000-{number:012d}"
        created = zulu(at(minutes))
        run = {
            "runId": run_id,
            "task": f"Extract the pricing of site {number}",
            "status": status,
            "sessionId": f"11111111-0000-4000-8000-{number:012d}",
            "result": {"site": number} if status == "COMPLETED" else None,
            "createdAt": created,
            "updatedAt": created,
        }
        self.runs[run_id] = run
        self.server.routes[f"/v1/agents/runs/{run_id}"] = run
        return run

    def _list(self, request: RecordedRequest) -> Reply:
        query = parse_qs(request.query)
        limit = int(_one(query, "limit", "20") or 20)
        if not 1 <= limit <= 1000:
            return Reply(400, {"statusCode": 400, "error": "Bad Request", "message": "limit"})
        offset = int((_one(query, "cursor") or "c0").removeprefix("c"))
        status = _one(query, "status")
        start, end = _one(query, "startAt"), _one(query, "endAt")
        lower = datetime.fromisoformat(start) if start else None
        upper = datetime.fromisoformat(end) if end else None
        chosen = []
        for run in sorted(self.runs.values(), key=lambda r: r["runId"][::-1]):  # no order
            created = datetime.fromisoformat(run["createdAt"])
            if status and run["status"] != status:
                continue
            if (lower and created < lower) or (upper and created > upper):
                continue
            chosen.append(run)
        size = min(limit, self.page_cap)
        page = chosen[offset : offset + size]
        following = offset + size
        cursor = f"c{following}" if following < len(chosen) else None
        return Reply(200, {"data": page, "limit": limit, "nextCursor": cursor})

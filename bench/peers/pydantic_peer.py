"""pydantic v2 peer: each line validated into a model of the fields wanted, one process.

    python bench/peers/pydantic_peer.py DUMP OUT.parquet|OUT.jsonl

The normalization every peer does to a Skyvern dump (see ``bench/peers/check.py``): id,
status through the status map, UTC timestamps (naive means UTC), error message from
``failure_reason`` (when empty, the first ``errors`` item's ``reasoning``, as runnorm), step
count, and the record's original line, exactly, as ``raw``.
JSON Lines are serialized by pydantic-core; Parquet is written by pyarrow, 50,000 rows a
row group.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel
from pydantic_core import to_json

STATUSES = {
    "created": "queued",
    "queued": "queued",
    "running": "running",
    "paused": "paused",
    "completed": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
    "terminated": "canceled",
    "timed_out": "timed_out",
}
BATCH = 50_000
T = TypeVar("T")
COLUMNS = (
    "id",
    "status",
    "native_status",
    "created_at",
    "started_at",
    "finished_at",
    "error_message",
    "step_count",
    "raw",
)


def utc(stamp: datetime | None) -> datetime | None:
    if stamp is None or stamp.tzinfo is UTC:
        return stamp
    if stamp.tzinfo is None:  # naive means UTC
        return stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


Stamp = Annotated[datetime | None, AfterValidator(utc)]


class SkyvernRun(BaseModel):
    """The fields read; pydantic ignores every other key of the record."""

    status: str
    run_id: str | None = None
    task_id: str | None = None
    workflow_run_id: str | None = None
    task_run_id: str | None = None
    created_at: Stamp = None
    started_at: Stamp = None
    finished_at: Stamp = None
    failure_reason: str | None = None
    errors: list[dict[str, Any]] | None = None
    step_count: int | None = None
    total_steps: int | None = None

    def _reasoning(self) -> str | None:
        first = self.errors[0].get("reasoning") if self.errors else None
        return first if isinstance(first, str) else None

    def row(self, raw: str) -> dict[str, Any]:
        return {
            "id": self.run_id or self.task_id or self.workflow_run_id or self.task_run_id,
            "status": STATUSES.get(self.status, "unknown"),
            "native_status": self.status,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            # an empty failure_reason is no reason: the first errors[] item's reasoning
            "error_message": self.failure_reason or self._reasoning(),
            "step_count": self.total_steps if self.step_count is None else self.step_count,
            "raw": raw,
        }


def rows(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            raw = line.rstrip("\r\n")
            if raw.strip():
                yield SkyvernRun.model_validate_json(raw).row(raw)


def chunks(items: Iterator[T]) -> Iterator[list[T]]:
    """*items* in lists of BATCH (itertools.batched is Python 3.12+)."""
    while chunk := list(islice(items, BATCH)):
        yield chunk


def write_jsonl(path: str, out: str) -> None:
    with open(out, "wb") as sink:
        for row in rows(path):
            sink.write(to_json(row) + b"\n")


def write_parquet(path: str, out: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamp = pa.timestamp("us", tz="UTC")
    text = pa.string()
    types = (text, text, text, stamp, stamp, stamp, text, pa.int64(), text)
    schema = pa.schema(list(zip(COLUMNS, types, strict=True)))
    with pq.ParquetWriter(out, schema) as writer:
        for chunk in chunks(rows(path)):
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))


def main() -> None:
    dump, out = sys.argv[1:3]
    (write_parquet if out.endswith(".parquet") else write_jsonl)(dump, out)


if __name__ == "__main__":
    main()

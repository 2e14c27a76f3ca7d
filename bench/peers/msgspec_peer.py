"""msgspec peer: each line decoded into a Struct of the fields wanted, one process.

    python bench/peers/msgspec_peer.py DUMP OUT.parquet|OUT.jsonl

The normalization every peer does to a Skyvern dump (see ``bench/peers/check.py``): id,
status through the status map, UTC timestamps (naive means UTC), error message from
``failure_reason`` (when empty, the first ``errors`` item's ``reasoning``, as runnorm), step
count, and the record's original line, exactly, as ``raw``.
JSON Lines are encoded by msgspec; Parquet is written by pyarrow, 50,000 rows a row group.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import TypeVar

import msgspec

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


class SkyvernError(msgspec.Struct):
    reasoning: str | None = None


class SkyvernRun(msgspec.Struct):
    """The fields read; msgspec skips every other key of the record."""

    status: str
    run_id: str | None = None
    task_id: str | None = None
    workflow_run_id: str | None = None
    task_run_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    failure_reason: str | None = None
    errors: list[SkyvernError] | None = None
    step_count: int | None = None
    total_steps: int | None = None


class Row(msgspec.Struct):
    id: str | None
    status: str
    native_status: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error_message: str | None
    step_count: int | None
    raw: str


def utc(stamp: datetime | None) -> datetime | None:
    if stamp is None or stamp.tzinfo is UTC:
        return stamp
    if stamp.tzinfo is None:  # naive means UTC
        return stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def rows(path: str) -> Iterator[Row]:
    decode = msgspec.json.Decoder(SkyvernRun).decode
    with open(path, "rb") as lines:
        for line in lines:
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            run = decode(raw)
            yield Row(
                id=run.run_id or run.task_id or run.workflow_run_id or run.task_run_id,
                status=STATUSES.get(run.status, "unknown"),
                native_status=run.status,
                created_at=utc(run.created_at),
                started_at=utc(run.started_at),
                finished_at=utc(run.finished_at),
                # an empty failure_reason is no reason: the first errors[] item's reasoning
                error_message=run.failure_reason
                or (run.errors[0].reasoning if run.errors else None),
                step_count=run.total_steps if run.step_count is None else run.step_count,
                raw=raw.decode(),
            )


def chunks(items: Iterator[T]) -> Iterator[list[T]]:
    """*items* in lists of BATCH (itertools.batched is Python 3.12+)."""
    while chunk := list(islice(items, BATCH)):
        yield chunk


def write_jsonl(path: str, out: str) -> None:
    encode_lines = msgspec.json.Encoder().encode_lines
    with open(out, "wb") as sink:
        for chunk in chunks(rows(path)):
            sink.write(encode_lines(chunk))


def write_parquet(path: str, out: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamp = pa.timestamp("us", tz="UTC")
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("status", pa.string()),
            ("native_status", pa.string()),
            ("created_at", stamp),
            ("started_at", stamp),
            ("finished_at", stamp),
            ("error_message", pa.string()),
            ("step_count", pa.int64()),
            ("raw", pa.string()),
        ]
    )
    with pq.ParquetWriter(out, schema) as writer:
        for chunk in chunks(rows(path)):
            columns = zip(*(msgspec.structs.astuple(row) for row in chunk), strict=True)
            writer.write_table(pa.table(list(columns), schema=schema))


def main() -> None:
    dump, out = sys.argv[1:3]
    (write_parquet if out.endswith(".parquet") else write_jsonl)(dump, out)


if __name__ == "__main__":
    main()

"""Polars peer: the dump as lines, ``str.json_decode`` into a struct of the fields wanted,
struct and string expressions, streamed to the output by the lazy engine.

    python bench/peers/polars_peer.py DUMP OUT.parquet|OUT.jsonl

The normalization every peer does to a Skyvern dump (see ``bench/peers/check.py``): id,
status through the status map, UTC timestamps (naive means UTC), error message from
``failure_reason`` (when empty, the first ``errors`` item's ``reasoning``, as runnorm), step
count, and the record's original line, exactly, as ``raw``.
"""

from __future__ import annotations

import sys

import polars as pl

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
ID_KEYS = ("run_id", "task_id", "workflow_run_id", "task_run_id")
STAMPS = ("created_at", "started_at", "finished_at")
# Only the fields read: json_decode skips the rest of each record.
FIELDS = pl.Struct(
    dict.fromkeys((*ID_KEYS, "status", *STAMPS, "failure_reason"), pl.String)
    | {"step_count": pl.Int64, "total_steps": pl.Int64}
    | {"errors": pl.List(pl.Struct({"reasoning": pl.String}))}
)


def field(name: str) -> pl.Expr:
    return pl.col("run").struct.field(name)


def utc(name: str) -> pl.Expr:
    """An ISO 8601 string as a UTC timestamp; one without a zone designator is UTC."""
    text = field(name)
    zoned = pl.when(text.str.contains(r"(Z|[+-]\d\d:\d\d)$")).then(text).otherwise(text + "Z")
    return zoned.str.replace(r"Z$", "+00:00").str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", time_zone="UTC"
    )


def main() -> None:
    dump, out = sys.argv[1:3]
    runs = (
        pl.scan_lines(dump, name="raw")
        .filter(pl.col("raw").str.strip_chars() != "")
        .with_columns(run=pl.col("raw").str.json_decode(FIELDS))
        .select(
            id=pl.coalesce(field(key) for key in ID_KEYS),
            status=field("status").replace_strict(STATUSES, default="unknown"),
            native_status=field("status"),
            **{name: utc(name) for name in STAMPS},
            # an empty failure_reason is no reason: the first errors[] item's reasoning
            error_message=pl.when(field("failure_reason") != "")
            .then(field("failure_reason"))
            .otherwise(field("errors").list.first().struct.field("reasoning")),
            step_count=pl.coalesce(field("step_count"), field("total_steps")),
            raw=pl.col("raw"),
        )
    )
    if out.endswith(".parquet"):
        runs.sink_parquet(out)
    else:
        runs.sink_ndjson(out)


if __name__ == "__main__":
    main()

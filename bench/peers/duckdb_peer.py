"""DuckDB peer: ``read_ndjson_objects`` and one SQL query, written by DuckDB itself.

    python bench/peers/duckdb_peer.py DUMP OUT.parquet|OUT.jsonl

The normalization every peer does to a Skyvern dump (see ``bench/peers/check.py``): id,
status through the status map, UTC timestamps (naive means UTC), error message from
``failure_reason`` (when empty, the first ``errors`` item's ``reasoning``, as runnorm), step
count, and the record's original line, exactly, as ``raw``.
"""

from __future__ import annotations

import sys

import duckdb

QUERY = """
SELECT
    coalesce(json->>'run_id', json->>'task_id', json->>'workflow_run_id', json->>'task_run_id')
        AS id,
    CASE json->>'status'
        WHEN 'created' THEN 'queued'
        WHEN 'queued' THEN 'queued'
        WHEN 'running' THEN 'running'
        WHEN 'paused' THEN 'paused'
        WHEN 'completed' THEN 'succeeded'
        WHEN 'failed' THEN 'failed'
        WHEN 'canceled' THEN 'canceled'
        WHEN 'terminated' THEN 'canceled'
        WHEN 'timed_out' THEN 'timed_out'
        ELSE 'unknown'
    END AS status,
    json->>'status' AS native_status,
    CAST(json->>'created_at' AS TIMESTAMPTZ) AS created_at,
    CAST(json->>'started_at' AS TIMESTAMPTZ) AS started_at,
    CAST(json->>'finished_at' AS TIMESTAMPTZ) AS finished_at,
    -- an empty failure_reason is no reason: the first errors[] item's reasoning, as runnorm
    coalesce(nullif(json->>'failure_reason', ''), json->'errors'->0->>'reasoning')
        AS error_message,
    coalesce(CAST(json->>'step_count' AS BIGINT), CAST(json->>'total_steps' AS BIGINT))
        AS step_count,
    CAST(json AS VARCHAR) AS raw  -- the line as read: read_ndjson_objects keeps the text
FROM read_ndjson_objects({dump})
"""


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main() -> None:
    dump, out = sys.argv[1:3]
    fmt = "PARQUET" if out.endswith(".parquet") else "JSON"  # JSON: one object a line
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # a naive timestamp string is read as UTC
    con.execute(f"COPY ({QUERY.format(dump=literal(dump))}) TO {literal(out)} (FORMAT {fmt})")


if __name__ == "__main__":
    main()

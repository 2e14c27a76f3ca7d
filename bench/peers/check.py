"""Check a peer's output against runnorm's for the same dump; fail loudly on any difference.

    python bench/peers/check.py DUMP RUNNORM_OUT PEER_OUT [PEER_OUT ...]

*RUNNORM_OUT* is ``runnorm normalize DUMP -o RUNNORM_OUT`` (``.jsonl`` or ``.parquet``); each
*PEER_OUT* is a peer's output for the same dump (``.jsonl`` or ``.parquet``). A peer's output
must have exactly the columns of :data:`COLUMNS`; every row must match runnorm's run of the
same id on id, status, native status, the three timestamps (compared as UTC instants; a naive
one is a failure, and Parquet columns must be UTC timestamps), error message and step count;
and its ``raw`` must be the record's line in the dump, byte for byte. Every record appears
exactly once. Exit 1 on the first output that differs.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
STAMPS = ("created_at", "started_at", "finished_at")
# A peer's column -> runnorm's (JSON Lines nests these, Parquet names them with dots).
RUNNORM = {
    "id": "id",
    "status": "status",
    "native_status": "native_status",
    "created_at": "timing.created_at",
    "started_at": "timing.started_at",
    "finished_at": "timing.finished_at",
    "error_message": "error.message",
    "step_count": "step_count",
}
COMPARED = tuple(RUNNORM)
SHOWN = 5
_HOUR_OFFSET = re.compile(r"[+-]\d\d$")  # DuckDB writes "+00"


class Mismatch(Exception):
    """A peer's output differs from runnorm's."""


@dataclass(frozen=True)
class Expected:
    line: str
    values: dict[str, Any]


def lines(dump: Path) -> Iterator[str]:
    with dump.open(encoding="utf-8") as stream:
        for line in stream:
            text = line.rstrip("\r\n")
            if text.strip():
                yield text


def read_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and rows of a ``.parquet`` or JSON Lines file."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for name in STAMPS:
            if name in table.column_names:
                kind = table.schema.field(name).type
                if not str(kind).startswith("timestamp[") or getattr(kind, "tz", None) != "UTC":
                    raise Mismatch(f"{path}: column {name} is {kind}, not a UTC timestamp")
        return table.column_names, table.to_pylist()
    with path.open(encoding="utf-8") as stream:
        rows = [json.loads(line) for line in stream if line.strip()]
    return (list(rows[0]) if rows else []), rows


def pick(row: dict[str, Any], dotted: str) -> Any:
    """*dotted* from a flat row (runnorm's Parquet) or a nested one (its JSON Lines)."""
    if dotted in row:
        return row[dotted]
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def instant(value: Any, where: str) -> datetime | None:
    """A timestamp value (a datetime, or text in any writer's ISO 8601 style) as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.replace(" UTC", "+00:00").replace(" ", "T")
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        elif _HOUR_OFFSET.search(text):
            text += ":00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise Mismatch(f"{where}: not a timestamp: {value!r}") from None
    if not isinstance(value, datetime):
        raise Mismatch(f"{where}: not a timestamp: {value!r}")
    if value.tzinfo is None:
        raise Mismatch(f"{where}: naive timestamp {value.isoformat()} (want UTC)")
    return value.astimezone(UTC)


def comparable(row: dict[str, Any], column: str, key: str, where: str) -> Any:
    value = pick(row, key)
    return instant(value, f"{where} {column}") if column in STAMPS else value


def expected(dump: Path, runnorm_out: Path) -> dict[str, Expected]:
    """runnorm's values by run id, each with the record's line (runnorm keeps input order)."""
    _, rows = read_rows(runnorm_out)
    out: dict[str, Expected] = {}
    count = 0
    for count, (line, row) in enumerate(zip(lines(dump), rows, strict=False), 1):
        where = f"{runnorm_out} row {count}"
        run_id = row["id"]
        if f'"{run_id}"' not in line or run_id in out:
            raise Mismatch(f"{where}: id {run_id!r} is not that of line {count} of {dump}")
        values = {c: comparable(row, c, key, where) for c, key in RUNNORM.items()}
        out[run_id] = Expected(line, values)
    if count != len(rows) or count != sum(1 for _ in lines(dump)):
        raise Mismatch(f"{runnorm_out}: {len(rows)} runs for a dump of other length (clean?)")
    return out


def check(dump: Path, runnorm_out: Path, peer_out: Path) -> int:
    """Compare *peer_out* with *runnorm_out*; the number of rows checked, or ``Mismatch``."""
    return check_against(expected(dump, runnorm_out), peer_out)


def check_against(want: dict[str, Expected], peer_out: Path) -> int:
    columns, rows = read_rows(peer_out)
    if tuple(columns) != COLUMNS:
        raise Mismatch(f"{peer_out}: columns {columns}, want {list(COLUMNS)}")
    problems: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, 1):
        where = f"{peer_out} row {number}"
        if set(row) != set(COLUMNS):
            problems.append(f"{where}: keys {sorted(row)}")
            continue
        run_id = row["id"]
        if run_id in seen or run_id not in want:
            problems.append(f"{where}: id {run_id!r} {'twice' if run_id in seen else 'unknown'}")
            continue
        seen.add(run_id)
        wanted = want[run_id]
        if row["raw"] != wanted.line:
            problems.append(f"{where} ({run_id}): raw is not the record's line as in the dump")
        for column in COMPARED:
            ours = comparable(row, column, column, where)
            if ours != wanted.values[column]:
                problems.append(
                    f"{where} ({run_id}): {column} {ours!r}, runnorm {wanted.values[column]!r}"
                )
    missing = len(want) - len(seen)
    if missing:
        problems.append(f"{peer_out}: {missing} of runnorm's {len(want)} runs missing")
    if problems:
        shown = "\n  ".join(problems[:SHOWN])
        more = f"\n  ... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise Mismatch(f"{peer_out}: {len(problems)} differences from runnorm:\n  {shown}{more}")
    return len(rows)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    dump, runnorm_out, *peers = map(Path, argv)
    try:
        want = expected(dump, runnorm_out)
        for peer_out in peers:
            count = check_against(want, peer_out)
            print(f"OK {peer_out}: {count:,} runs match runnorm's ({runnorm_out.name})")
    except Mismatch as exc:
        print(f"CHECK FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Generate a mixed-provider JSON Lines dump for the batch benchmarks.

Records are the repository's real sample payloads of all three providers (the ones under
1.9 KB compact, so the average lands near 600 bytes), with fresh ids and shifted timestamps so
no two records are alike. Deterministic for a given seed.

    python bench/make_dump.py bench/data/dump.jsonl --records 200000
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAX_TEMPLATE = 1900
STAMP_KEYS = {
    "created_at",
    "queued_at",
    "started_at",
    "finished_at",
    "modified_at",
    "createdAt",
    "startedAt",
    "endedAt",
    "updatedAt",
}


def templates() -> list[dict[str, Any]]:
    out = []
    for provider in ("skyvern", "browserbase", "bridgetown"):
        for path in sorted((ROOT / "plugins" / f"runnorm_{provider}" / "samples").glob("*.json")):
            if path.name.startswith("unseen-"):
                continue  # unknown statuses warn; the benchmark measures the plain path
            payload = json.loads(path.read_text())
            if len(json.dumps(payload, separators=(",", ":"))) <= MAX_TEMPLATE:
                out.append(payload)
    return out


def _shift(value: Any, delta: timedelta) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    naive = parsed.tzinfo is None
    shifted = (parsed if not naive else parsed.replace(tzinfo=UTC)) + delta
    text = shifted.isoformat()
    if naive:
        return text.removesuffix("+00:00")
    return text.replace("+00:00", "Z") if value.endswith("Z") else text


def record(template: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = dict(template)
    delta = timedelta(seconds=rng.randrange(0, 90 * 86400))
    for key in STAMP_KEYS & out.keys():
        out[key] = _shift(out[key], delta)
    if "runId" in out:
        out["runId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    elif isinstance(out.get("run_id"), str) and out["run_id"].startswith(("tsk_", "wr_")):
        prefix = out["run_id"].rsplit("_", 1)[0]
        out["run_id"] = f"{prefix}_{rng.randrange(10**17, 10**18)}"
        for key in ("task_id", "workflow_run_id"):
            if isinstance(out.get(key), str) and out[key].startswith(("tsk_", "wr_")):
                out[key] = out["run_id"]
    elif "run_id" in out:
        out["run_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pool = templates()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with args.output.open("w") as out:
        for _ in range(args.records):
            line = json.dumps(record(rng.choice(pool), rng), separators=(",", ":"))
            size += len(line) + 1
            out.write(line + "\n")
    print(f"{args.output}: {args.records} records, {size / args.records:.0f} bytes a record")


if __name__ == "__main__":
    main()

"""What reading payloads through ``FieldReader`` costs, against the mapping it replaced.

Until issue 12 each provider module kept a hand-written ``_CONSUMED`` set and built ``extra``
with ``Fields.rest(p, consumed)``. This script loads those mappings from the last commit that
had them (``BASELINE``, read with ``git show``, so it needs a git checkout), runs both on the
same generated dump, alternating, and reports the per-record difference as a share of the whole
batch path (``read_dump`` per record, measured in the same run). The goal: at most 3%.

    python bench/reader_cost.py [--records 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

import runnorm
from runnorm import read_dump

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "f4d2cc6"  # the last commit whose provider modules used _CONSUMED sets
PROVIDERS = ("skyvern", "browserbase", "bridgetown")
sys.path.insert(0, str(ROOT / "bench"))
from make_dump import record, templates  # noqa: E402


def _show(path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def baseline_mappings() -> dict[str, Callable[[Mapping[str, Any]], runnorm.Run]]:
    """Each provider's old ``to_run``, with the old ``Fields`` it was written against."""
    old_fields = types.ModuleType("_old_fields")
    exec(compile(_show("runnorm/_plugins/provider.py"), "old_fields", "exec"), old_fields.__dict__)
    out = {}
    for name in PROVIDERS:
        source = _show(f"plugins/runnorm_{name}/provider.py")
        source = source.replace("    Fields,\n", "", 1).replace(
            'Path(__file__).parent / "samples"', "None"
        )
        module = types.ModuleType(f"_old_{name}")
        module.__dict__["Fields"] = old_fields.Fields
        exec(compile(source, name, "exec"), module.__dict__)  # Fields comes from the old module
        out[name] = module.to_run
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rng = random.Random(7)
    shapes = templates()
    lines = [orjson.dumps(record(rng.choice(shapes), rng)) for _ in range(args.records)]
    payloads = [orjson.loads(line) for line in lines]
    old = baseline_mappings()
    new = {name: importlib.import_module(f"runnorm_{name}.provider") for name in PROVIDERS}
    groups: dict[str, list[Any]] = {name: [] for name in PROVIDERS}
    for payload in payloads:
        for name in PROVIDERS:
            if new[name].detect(payload):
                groups[name].append(payload)
                break

    def per_record(fn: Callable[[Any], object], items: list[Any]) -> float:
        start = time.perf_counter_ns()
        for item in items:
            fn(item)
        return (time.perf_counter_ns() - start) / len(items)

    times: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in PROVIDERS}
    for _ in range(args.rounds):
        for name in PROVIDERS:
            times[name][0].append(per_record(old[name], groups[name]))
            times[name][1].append(per_record(new[name].to_run, groups[name]))
    total_old = total_new = 0.0
    for name in PROVIDERS:
        before, after = (statistics.median(t) for t in times[name])
        total_old += before * len(groups[name])
        total_new += after * len(groups[name])
        print(f"{name:12} {len(groups[name]):6} records  mapping after/before {after / before:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "dump.jsonl"
        dump.write_bytes(b"\n".join(lines) + b"\n")
        batch = []
        for _ in range(5):
            start = time.perf_counter_ns()
            for _item in read_dump(dump):
                pass
            batch.append((time.perf_counter_ns() - start) / len(lines))
    delta = (total_new - total_old) / len(payloads)
    share = delta / statistics.median(batch)
    print(f"mapping cost change per record: {delta:+.0f} ns = {share:+.1%} of the batch path")
    print("goal: at most +3.0%:", "met" if share <= 0.03 else "MISSED")
    return 0 if share <= 0.03 else 1


if __name__ == "__main__":
    raise SystemExit(main())

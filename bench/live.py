"""Live-fetch benchmarks against a loopback Skyvern server; ratios measured in the same run.

1. ``get_many`` of N runs with a 20 ms server delay at concurrency 32, against a plain
   sequential ``httpx.Client`` loop over the same URLs. Goal: >= 5x faster (aim 15x).
2. ``runnorm.Client.get`` against ``httpx.Client.get`` + ``json.loads`` of the same run, both
   clients reused, no delay. Goal: <= 1.3x the time.

Run with ``nox -s bench`` (or ``python bench/live.py``). Exits non-zero when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

import runnorm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loopback

KEY = "sk-bench-0123456789"
SAMPLE = Path(__file__).resolve().parent.parent / (
    "plugins/runnorm_skyvern/samples/get-run-task-v2-completed-full.json"
)


@contextmanager
def serving(count: int, delay: float) -> Iterator[str]:
    """A loopback Skyvern stand-in in a child process (no GIL shared with the client)."""
    payload = json.loads(SAMPLE.read_text())
    routes = {"/v1/runs/tsk_one": json.dumps({**payload, "run_id": "tsk_one"}).encode()}
    for i in range(count):
        routes[f"/v1/runs/tsk_bench_{i}"] = json.dumps(
            {**payload, "run_id": f"tsk_bench_{i}"}
        ).encode()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(
        target=loopback.serve, args=(child, routes, delay, ("x-api-key", KEY)), daemon=True
    )
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(timeout=10)


def bench_get_many(count: int, delay: float, concurrency: int) -> float:
    with serving(count, delay) as base:
        ids = [f"tsk_bench_{i}" for i in range(count)]
        urls = [f"{base}/v1/runs/{run_id}" for run_id in ids]

        started = time.perf_counter()
        with httpx.Client(headers={"x-api-key": KEY}) as plain:
            for url in urls:
                json.loads(plain.get(url).content)
        baseline = time.perf_counter() - started

        with runnorm.Client("skyvern", base_url=base, api_key=KEY) as client:
            started = time.perf_counter()
            results = client.get_many(ids, concurrency=concurrency)
            ours = time.perf_counter() - started
        assert all(isinstance(r, runnorm.Run) for r in results), results[:3]
    speedup = baseline / ours
    print(
        f"get_many: {count} runs, {delay * 1000:.0f} ms delay, concurrency {concurrency}: "
        f"sequential httpx {baseline:.2f} s, runnorm {ours:.2f} s -> {speedup:.1f}x faster"
    )
    return speedup


def bench_get(rounds: int, per_round: int) -> float:
    with serving(0, 0.0) as base:
        url = f"{base}/v1/runs/tsk_one"
        ratios = []
        with (
            httpx.Client(headers={"x-api-key": KEY}) as plain,
            runnorm.Client("skyvern", base_url=base, api_key=KEY) as client,
        ):
            plain.get(url)
            client.get("tsk_one")  # warm both pools
            for _ in range(rounds):
                started = time.perf_counter()
                for _ in range(per_round):
                    json.loads(plain.get(url).content)
                baseline = time.perf_counter() - started
                started = time.perf_counter()
                for _ in range(per_round):
                    client.get("tsk_one")
                ours = time.perf_counter() - started
                ratios.append(ours / baseline)
    ratio = statistics.median(ratios)
    print(
        f"Client.get vs httpx.get + json.loads: median time ratio {ratio:.2f} over {rounds} "
        f"rounds of {per_round} requests"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=300)
    args = parser.parse_args()
    speedup = bench_get_many(args.count, args.delay, args.concurrency)
    ratio = bench_get(args.rounds, args.per_round)
    failed = []
    if speedup < 5:
        failed.append(f"get_many speed-up {speedup:.1f}x < 5x")
    if ratio > 1.3:
        failed.append(f"Client.get time ratio {ratio:.2f} > 1.3")
    for line in failed:
        print(f"GOAL MISSED: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

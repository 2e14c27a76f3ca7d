"""Batch benchmarks; every figure is a ratio to a baseline measured in the same run.

1. API: ``sum(1 for _ in runnorm.read_dump(path))`` against the floor
   ``for line in f: json.loads(line)`` (speed ratio; goal >= 0.4, aim 0.8).
2. CLI end to end: ``runnorm normalize dump.jsonl -o out.jsonl`` against a Python
   copy-through (``json.loads`` + ``json.dumps`` per line); goal >= 1.0x, aim 2x. Reported
   with the default ``--jobs`` (one worker per CPU) and with ``--jobs 1``.
3. ``--jobs 2`` against ``--jobs 1`` (goal >= 1.3x, aim 1.7x).
4. Peak RSS of ``runnorm normalize`` for 1,000,000 records against 100,000 (goal <= 1.2x).

Medians of ``--rounds`` rounds; the dump comes from ``bench/make_dump.py`` (generated into
``bench/data/``, not committed). Exits non-zero when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import runnorm

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
FLOOR = """
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        out.write(json.dumps(json.loads(line)) + "\\n")
"""


def make_dump(records: int) -> Path:
    path = DATA / f"dump-{records}.jsonl"
    if not path.exists():
        subprocess.run(
            [sys.executable, str(HERE / "make_dump.py"), str(path), "--records", str(records)],
            check=True,
        )
    return path


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(*argv: str) -> float:
    """Wall time of a command."""
    return timed(lambda: subprocess.run(argv, check=True, stderr=subprocess.DEVNULL))


def median_ratio(rounds: int, baseline: Callable[[], float], ours: Callable[[], float]) -> float:
    """Median of baseline time / our time, the two measured back to back each round."""
    return statistics.median(baseline() / ours() for _ in range(rounds))


def cli(*args: str) -> list[str]:
    # -P: the installed runnorm, never the source tree in the cwd
    return [sys.executable, "-P", "-m", "runnorm", "normalize", *args]


def peak_rss_kb(argv: list[str]) -> int:
    """Peak RSS of one child process (it runs alone, so RUSAGE_CHILDREN's max is its own)."""
    code = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], check=True, stderr=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], check=True, capture_output=True)
    return int(done.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-rss", action="store_true", help="skip the 1,000,000-record run")
    args = parser.parse_args()
    runnorm.providers()  # plugin discovery outside the timings
    dump = make_dump(args.records)
    out = DATA / "out.jsonl"
    floor_out = DATA / "floor.jsonl"
    size_mb = dump.stat().st_size / 1e6
    print(
        f"dump: {dump.name}, {args.records:,} records, {size_mb:.0f} MB, "
        f"runnorm {runnorm.__version__}"
    )

    def floor_api() -> float:
        def body() -> None:
            with dump.open("rb") as stream:
                for line in stream:
                    json.loads(line)

        return timed(body)

    def ours_api() -> float:
        return timed(lambda: sum(1 for _ in runnorm.read_dump(dump)))

    api = median_ratio(args.rounds, floor_api, ours_api)
    print(f"1. read_dump vs json.loads floor: {api:.2f} of the floor's speed (goal >= 0.4)")

    def floor_cli() -> float:
        return run(sys.executable, "-c", FLOOR, str(dump), str(floor_out))

    cli_default = median_ratio(args.rounds, floor_cli, lambda: run(*cli(str(dump), "-o", str(out))))
    cli_single = median_ratio(
        args.rounds, floor_cli, lambda: run(*cli(str(dump), "-o", str(out), "--jobs", "1"))
    )
    jobs = runnorm_jobs()
    print(
        f"2. CLI vs copy-through floor: {cli_default:.2f}x with the default --jobs ({jobs}), "
        f"{cli_single:.2f}x with --jobs 1 (goal >= 1.0x)"
    )

    parallel = median_ratio(
        args.rounds,
        lambda: run(*cli(str(dump), "-o", str(out), "--jobs", "1")),
        lambda: run(*cli(str(dump), "-o", str(out), "--jobs", "2")),
    )
    print(f"3. --jobs 2 vs --jobs 1: {parallel:.2f}x faster (goal >= 1.3x)")

    failed = []
    if api < 0.4:
        failed.append(f"read_dump ratio {api:.2f} < 0.4")
    if cli_default < 1.0:
        failed.append(f"CLI ratio {cli_default:.2f} < 1.0")
    if parallel < 1.3:
        failed.append(f"--jobs 2 speed-up {parallel:.2f} < 1.3")
    if not args.skip_rss:
        small = make_dump(100_000)
        large = make_dump(1_000_000)
        for label, extra in (("--jobs 1", ["--jobs", "1"]), ("default --jobs", [])):
            rss_small = peak_rss_kb(cli(str(small), "-o", os.devnull, *extra))
            rss_large = peak_rss_kb(cli(str(large), "-o", os.devnull, *extra))
            ratio = rss_large / rss_small
            print(
                f"4. peak RSS ({label}): 100,000 records {rss_small / 1024:.0f} MB, "
                f"1,000,000 records {rss_large / 1024:.0f} MB -> {ratio:.2f}x (goal <= 1.2x)"
            )
            if ratio > 1.2:
                failed.append(f"peak RSS ratio {ratio:.2f} > 1.2 ({label})")
    for line in failed:
        print(f"GOAL MISSED: {line}", file=sys.stderr)
    return 1 if failed else 0


def runnorm_jobs() -> int:
    from runnorm._batch.engine import default_jobs  # the CLI's own default

    return default_jobs()


if __name__ == "__main__":
    sys.exit(main())

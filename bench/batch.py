"""Batch benchmarks; every figure is a ratio to a baseline measured in the same run.

Two dumps from ``bench/make_dump.py``, each reported: the mixed-provider dump and the
Skyvern-only dump (the one the peers normalize), plus a dirty copy of each (1% of the lines
broken). Every command of a dump runs once per round, in alternating order (forwards, then
backwards); a figure is the median over the rounds of the two times' ratio (higher: runnorm
faster). Peak RSS is the largest process of each command, as ``RUSAGE_CHILDREN`` reports it.

Per dump:
1. API: ``sum(1 for _ in runnorm.read_dump(path))`` against the floor
   ``for line in f: json.loads(line)`` (bar >= 0.55).
2. CLI end to end: ``runnorm normalize dump.jsonl -o out.jsonl`` against a Python
   copy-through (``json.loads`` + ``json.dumps`` per line), default ``--jobs`` and
   ``--jobs 1`` (goal >= 1.0x).
3. ``--jobs 2`` against ``--jobs 1`` (bar >= 1.6x).
4. ``-o out.parquet`` against ``-o out.jsonl``: speed (bar >= 0.8), peak RSS (<= 1.5x).
5. The dirty dump against the clean one, lines a second, ``-o out.jsonl`` (bar >= 0.9).
Skyvern-only dump:
6. runnorm against the peers of ``bench/peers/`` writing the same format: ``-o out.parquet``
   against DuckDB (bar >= 0.4, aim 1.0), ``-o out.jsonl`` against msgspec (bar >= 0.7), the
   others for context. Every peer's output is checked against runnorm's (ids, statuses,
   timestamps, error message, step count, raw) after the first round, and on a small dump
   with unknown statuses before any timing: a mismatch stops the benchmark.
8. The same dump with secrets to redact in about 37% of its records (TOTP settings and
   extra headers in ``run_request``: 80% of the runs that send one) against the clean dump,
   ``-o out.jsonl`` (context: what the redaction walk costs an account that uses them).
Then:
7. Peak RSS of ``runnorm normalize`` for 1,000,000 mixed records against 100,000, every
   output format (<= 1.2x; ``--quick``: 200,000 against 20,000).

``--quick``: 20,000 records a dump, still 5 rounds (a couple of minutes; at that size process
start-up weighs on every CLI figure, so only the full run's figures count). The dumps are
generated into ``bench/data/`` (not committed). Exits non-zero when a bar is missed (a
``GOAL MISSED`` line each).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import runnorm

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import check
import run as peers

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
OUT = DATA / "out"

FLOOR = """
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        out.write(json.dumps(json.loads(line)) + "\\n")
"""
MEASURE = """
import resource, subprocess, sys, time
ok = {int(code) for code in sys.argv[1].split(",")}
started = time.perf_counter()
done = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
seconds = time.perf_counter() - started
if done.returncode not in ok:
    sys.stderr.buffer.write(done.stderr[-4000:])
    sys.exit(f"exit status {done.returncode}: {' '.join(sys.argv[2:])}")
print(seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""
"""Runs a command and prints its wall time (this process's start-up not counted) and its
peak RSS in KB (it is the only child, so RUSAGE_CHILDREN's maximum is its own)."""
DIRTY = 0.01
SECRETS = 0.8
"""Share of the Skyvern records that send a ``run_request`` object (get-run responses; list
items and webhooks do not) whose TOTP settings and extra headers the secrets-heavy dump fills
in, as an account that uses them sends them: about 37% of all its records."""
FORMATS = ("jsonl", "json", "csv", "parquet")


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_kb: int | None = None


@dataclass
class Contender:
    key: str
    label: str
    run: Callable[[], Sample]
    lines: int
    samples: list[Sample] = field(default_factory=list)

    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    def rss_mb(self) -> float | None:
        peaks = [s.rss_kb for s in self.samples if s.rss_kb is not None]
        return statistics.median(peaks) / 1024 if peaks else None


@dataclass(frozen=True)
class Figure:
    label: str
    value: float
    bar: float | None = None  # the least acceptable (or with at_most, the most)
    aim: float | None = None
    at_most: bool = False

    def missed(self) -> bool:
        if self.bar is None:
            return False
        return self.value > self.bar if self.at_most else self.value < self.bar

    def line(self) -> str:
        goal = ""
        if self.bar is not None:
            goal = f"bar {'<=' if self.at_most else '>='} {self.bar:g}"
            goal += f", aim {self.aim:g}" if self.aim is not None else ""
        flag = "  GOAL MISSED" if self.missed() else ""
        return f"  {self.label:<64} {self.value:5.2f}  {goal}{flag}".rstrip()


def dump_path(
    records: int,
    provider: str | None = None,
    *,
    dirty: float = 0,
    unseen: bool = False,
    secrets: float = 0,
) -> Path:
    """The dump of that shape, generated by make_dump.py the first time it is asked for."""
    parts = ["dump", *([provider] if provider else []), str(records)]
    parts += [f"dirty{dirty:g}"] if dirty else []
    parts += ["unseen"] if unseen else []
    parts += [f"secrets{secrets:g}"] if secrets else []
    path = DATA / f"{'-'.join(parts)}.jsonl"
    if not path.exists():
        argv = [sys.executable, str(HERE / "make_dump.py"), str(path), "--records", str(records)]
        argv += ["--provider", provider] if provider else []
        argv += ["--dirty", str(dirty)] if dirty else []
        argv += ["--unseen"] if unseen else []
        argv += ["--secrets", str(secrets)] if secrets else []
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return path


def cli(*args: str) -> list[str]:
    # -P: the installed runnorm, never the source tree in the cwd
    return [sys.executable, "-P", "-m", "runnorm", "normalize", *args]


def measured(argv: Sequence[str], ok: tuple[int, ...] = (0,)) -> Callable[[], Sample]:
    """Run *argv* (exit status in *ok*) in a measuring child: wall time and peak RSS."""
    codes = ",".join(map(str, ok))

    def go() -> Sample:
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, codes, *argv],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.exit(f"benchmark command failed: {done.stderr.strip()}")
        seconds, rss = done.stdout.split()
        return Sample(float(seconds), int(rss))

    return go


def in_process(body: Callable[[Path], object], dump: Path) -> Callable[[], Sample]:
    def go() -> Sample:
        started = time.perf_counter()
        body(dump)
        return Sample(time.perf_counter() - started)

    return go


def json_floor(dump: Path) -> None:
    with dump.open("rb") as stream:
        for line in stream:
            json.loads(line)


def count_runs(dump: Path) -> int:
    return sum(1 for _ in runnorm.read_dump(dump))


@functools.lru_cache
def secret_share(path: Path) -> float:
    """The share of *path*'s lines that send extra headers (the secrets-heavy dump's mark)."""
    with path.open("rb") as stream:
        marked = total = 0
        for line in stream:
            total += 1
            marked += b'"extra_http_headers":{' in line
    return marked / max(total, 1)


def line_count(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for _ in stream)


def runnorm_contenders(
    dump: Path, dirty: Path, outdir: Path, jobs: int, secrets: Path | None = None
) -> list[Contender]:
    """The floors and runnorm's commands on *dump* (and one on its dirty copy, and one on its
    secrets-heavy copy when there is one)."""
    lines = line_count(dump)

    def rn(key: str, label: str, fmt: str, *extra: str, source: Path = dump) -> Contender:
        ok = (0, 1) if source == dirty else (0,)  # 1: some records failed, as they should
        argv = cli(str(source), "-o", str(outdir / f"{key}.{fmt}"), *extra)
        return Contender(key, label, measured(argv, ok), lines)

    floor = [sys.executable, "-c", FLOOR, str(dump), str(outdir / "floor.jsonl")]
    errors = str(outdir / "dirty-errors.jsonl")
    out = [
        Contender(
            "api.floor", "for line in f: json.loads(line)", in_process(json_floor, dump), lines
        ),
        Contender(
            "api", "sum(1 for _ in runnorm.read_dump(path))", in_process(count_runs, dump), lines
        ),
        Contender(
            "cli.floor", "copy-through floor (json.loads + json.dumps)", measured(floor), lines
        ),
        rn("rn.jsonl", f"runnorm -o out.jsonl (default --jobs: {jobs})", "jsonl"),
        rn("rn.jsonl.j1", "runnorm -o out.jsonl --jobs 1", "jsonl", "--jobs", "1"),
        rn("rn.parquet", "runnorm -o out.parquet", "parquet"),
        rn(
            "rn.dirty",
            "runnorm -o out.jsonl, dirty copy",
            "jsonl",
            "--errors",
            errors,
            source=dirty,
        ),
    ]
    if secrets is not None:
        label = f"runnorm -o out.jsonl, secrets in {secret_share(secrets):.0%} of records"
        out.append(rn("rn.secrets", label, "jsonl", source=secrets))
    if jobs != 2:
        out.append(rn("rn.jsonl.j2", "runnorm -o out.jsonl --jobs 2", "jsonl", "--jobs", "2"))
    return out


def peer_contenders(dump: Path, outdir: Path, fmt: str) -> list[Contender]:
    lines = line_count(dump)
    return [
        Contender(
            f"{peer}.{fmt}",
            f"{peers.TITLES[peer]} -> {fmt}",
            measured(peers.command(peer, dump, outdir / f"{peer}.{fmt}")),
            lines,
        )
        for peer in peers.PEERS
    ]


def with_peers(ours: list[Contender], dump: Path, outdir: Path) -> list[Contender]:
    """*ours* with each format's peers right after runnorm's run of that format."""
    out: list[Contender] = []
    for contender in ours:
        out.append(contender)
        for fmt in peers.FORMATS:
            if contender.key == f"rn.{fmt}":
                out += peer_contenders(dump, outdir, fmt)
    return out


def measure(
    contenders: list[Contender], rounds: int, after_first: Callable[[], None] | None = None
) -> None:
    """Every contender once a round, forwards then backwards, *after_first* after round 1."""
    for number in range(rounds):
        print(f"  round {number + 1}/{rounds} ...", file=sys.stderr, flush=True)
        for contender in contenders if number % 2 == 0 else contenders[::-1]:
            contender.samples.append(contender.run())
        if number == 0 and after_first is not None:
            after_first()


class Results:
    """The contenders of one dump by key, and the figures computed from them."""

    def __init__(self, contenders: list[Contender]) -> None:
        self.by_key = {c.key: c for c in contenders}

    def speed(self, base: str, ours: str) -> float:
        """Median over the rounds of base time / our time: our speed relative to base's."""
        pairs = zip(self.by_key[base].samples, self.by_key[ours].samples, strict=True)
        return statistics.median(b.seconds / o.seconds for b, o in pairs)

    def rss(self, ours: str, base: str) -> float:
        mine, theirs = self.by_key[ours].rss_mb(), self.by_key[base].rss_mb()
        assert mine is not None and theirs is not None
        return mine / theirs

    def table(self) -> list[str]:
        rows = [f"  {'command':<58} {'median s':>9} {'records/s':>10} {'peak RSS MB':>12}"]
        for c in self.by_key.values():
            seconds, rss = c.seconds(), c.rss_mb()
            shown = "-" if rss is None else f"{rss:,.0f}"
            rows.append(f"  {c.label:<58} {seconds:9.2f} {c.lines / seconds:10,.0f} {shown:>12}")
        return rows


def runnorm_figures(r: Results, jobs: int) -> list[Figure]:
    parallel = "rn.jsonl" if jobs == 2 else "rn.jsonl.j2"
    return [
        Figure("1. read_dump vs json.loads floor, speed", r.speed("api.floor", "api"), 0.55),
        Figure(
            f"2. CLI -o out.jsonl (default --jobs: {jobs}) vs copy-through floor",
            r.speed("cli.floor", "rn.jsonl"),
            1.0,
        ),
        Figure(
            "2. CLI -o out.jsonl --jobs 1 vs copy-through floor",
            r.speed("cli.floor", "rn.jsonl.j1"),
        ),
        Figure("3. --jobs 2 vs --jobs 1, speed", r.speed("rn.jsonl.j1", parallel), 1.6),
        Figure("4. -o out.parquet vs -o out.jsonl, speed", r.speed("rn.jsonl", "rn.parquet"), 0.8),
        Figure(
            "4. -o out.parquet vs -o out.jsonl, peak RSS (x)",
            r.rss("rn.parquet", "rn.jsonl"),
            1.5,
            at_most=True,
        ),
        Figure(
            f"5. dirty copy ({DIRTY:.0%} of lines broken) vs clean, lines/s",
            r.speed("rn.jsonl", "rn.dirty"),
            0.9,
        ),
    ]


def peer_figures(r: Results) -> list[Figure]:
    bars = {("duckdb", "parquet"): (0.4, 1.0), ("msgspec", "jsonl"): (0.7, None)}
    figures = []
    for fmt in peers.FORMATS:
        for peer in peers.PEERS:
            bar, aim = bars.get((peer, fmt), (None, None))
            label = f"6. runnorm -o out.{fmt} vs the {peers.NAMES[peer]} peer -> {fmt}, speed"
            figures.append(Figure(label, r.speed(f"{peer}.{fmt}", f"rn.{fmt}"), bar, aim))
    return figures


def bench_dump(provider: str | None, args: argparse.Namespace, jobs: int) -> list[Figure]:
    """Measure and report one dump (with its dirty copy, and the peers for Skyvern's)."""
    dump = dump_path(args.records, provider)
    dirty = dump_path(args.records, provider, dirty=DIRTY)
    secrets = dump_path(args.records, provider, secrets=SECRETS) if provider == "skyvern" else None
    outdir = OUT / dump.stem
    outdir.mkdir(parents=True, exist_ok=True)
    contenders = runnorm_contenders(dump, dirty, outdir, jobs, secrets)
    checked = None
    if provider == "skyvern":
        contenders = with_peers(contenders, dump, outdir)

        def checked() -> None:
            ours = {fmt: outdir / f"rn.{fmt}.{fmt}" for fmt in peers.FORMATS}
            theirs = {(p, f): outdir / f"{p}.{f}" for p in peers.PEERS for f in peers.FORMATS}
            peers.check_all(dump, ours, theirs, say=lambda line: print(f"  {line}"))

    size = dump.stat().st_size
    title = "Skyvern-only" if provider else "mixed-provider"
    print(
        f"\n{title} dump: {dump.name}, {args.records:,} records, {size / 1e6:.0f} MB "
        f"({size / args.records:.0f} bytes a record); dirty copy {dirty.name}",
        flush=True,
    )
    measure(contenders, args.rounds, after_first=checked)
    results = Results(contenders)
    print("\n".join(results.table()))
    figures = runnorm_figures(results, jobs)
    if provider == "skyvern":
        figures += peer_figures(results)
        assert secrets is not None
        label = f"8. secrets in {secret_share(secrets):.0%} of records vs the clean dump, lines/s"
        figures.append(Figure(label, results.speed("rn.jsonl", "rn.secrets")))
    print(f"figures (medians of {args.rounds} rounds; speed: above 1 runnorm is faster):")
    print("\n".join(f.line() for f in figures))
    return [Figure(f"{title} dump: {f.label}", f.value, f.bar, f.aim, f.at_most) for f in figures]


def rss_scaling(small: int, large: int) -> list[Figure]:
    """Peak RSS of runnorm normalize on the *large* mixed dump against the *small* one."""
    dumps = dump_path(small), dump_path(large)
    print(f"\npeak RSS, {large:,} mixed records against {small:,} (goal <= 1.2x):", flush=True)
    figures = []
    for fmt, extra in [(fmt, ()) for fmt in FORMATS] + [("jsonl", ("--jobs", "1"))]:
        target = OUT / f"rss.{fmt}"
        peaks = []
        for dump in dumps:
            sample = measured(cli(str(dump), "-o", str(target), *extra))()
            assert sample.rss_kb is not None
            peaks.append(sample.rss_kb / 1024)
            target.unlink(missing_ok=True)
        label = f"7. peak RSS -o out.{fmt}{' --jobs 1' if extra else ''}"
        label += f" ({peaks[0]:.0f} MB -> {peaks[1]:.0f} MB)"
        figures.append(Figure(label, peaks[1] / peaks[0], 1.2, at_most=True))
        print(figures[-1].line(), flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="20,000 records; peak RSS at 20,000 and 200,000"
    )
    parser.add_argument("--records", type=int, help="records a dump (default 200,000)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5)")
    parser.add_argument("--skip-rss", action="store_true", help="skip the peak RSS scaling runs")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress on stderr
    args.records = args.records or (20_000 if args.quick else 200_000)
    args.rounds = args.rounds or 5
    runnorm.providers()  # plugin discovery outside the timings
    jobs = default_jobs()
    print(
        f"runnorm {runnorm.__version__}, Python {sys.version.split()[0]}, default --jobs {jobs}; "
        f"{args.records:,} records a dump, {args.rounds} rounds"
    )
    try:
        edge = dump_path(2_000, "skyvern", unseen=True)
        print(f"peers on {edge.name} (unknown statuses and run types included):")
        peers.correctness_pass(edge, OUT / edge.stem, cli, say=lambda line: print(f"  {line}"))
        figures = bench_dump(None, args, jobs) + bench_dump("skyvern", args, jobs)
    except check.Mismatch as exc:
        print(f"CHECK FAILED: {exc}", file=sys.stderr)
        return 1
    if not args.skip_rss:
        small, large = (20_000, 200_000) if args.quick else (100_000, 1_000_000)
        figures += rss_scaling(small, large)
    missed = [f for f in figures if f.missed()]
    for figure in missed:
        bar = f"{'<=' if figure.at_most else '>='} {figure.bar:g}"
        print(f"GOAL MISSED: {figure.label}: {figure.value:.2f}, bar {bar}", file=sys.stderr)
    return 1 if missed else 0


def default_jobs() -> int:
    from runnorm._batch.engine import default_jobs as jobs  # the CLI's own default

    return jobs()


if __name__ == "__main__":
    sys.exit(main())

"""Where the batch time goes: µs per record, stage by stage, on one core.

Streams a dump's records through more and more of the batch path, the way ``runnorm
normalize --jobs 1`` runs it, and reports each stage's cost as the difference to the stage
before (the best of a few rounds each: on a noisy machine the minimum is the stable figure).

    python bench/stages.py [DUMP] [--rounds 5]

Without DUMP, the 20,000-record Skyvern dump of ``bench/batch.py`` (generated if missing).

Then the floors of ``read_dump`` on the 20,000-record mixed dump, as ratios to ``json.loads``
in the same rounds (medians): with every provider's mapping replaced by one returning a
constant ``Run`` (what decoding, detection and the generators cost), by one building a
minimal ``Run`` (a ``Timing`` of three parsed timestamps), by one building the very objects
the real mapping built for each record, from prepared values (what the mappings would cost
if reading the payload were free), and with the real mappings.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import runnorm
from runnorm import Artifact, Attempt, Run, RunError, RunStatus, Timing
from runnorm._batch import reader
from runnorm._batch.normalizer import BatchOptions, Normalizer
from runnorm._batch.reader import normalize_stream
from runnorm._batch.writers import ROW_FORMATS, make_writer
from runnorm._plugins.host import get_host

Step = Callable[[Any, Any], Any]


def _pass(path: Path, step: Step) -> float:
    """Seconds to stream *path* through the reader, then *step* on each (run, bytes)."""
    host = get_host()
    started = time.perf_counter()
    with path.open("rb") as stream:
        for item, source in normalize_stream(stream, str(path), None, host, lines=True):
            step(item, source)
    return time.perf_counter() - started


def stages(fmt: str) -> list[tuple[str, Callable[[], Step]]]:
    """The stages of *fmt*'s path, each a factory of the step it adds up to."""
    norm = Normalizer(BatchOptions(fmt=fmt))

    def write() -> Step:
        writer = make_writer(fmt, io.BytesIO(), fragment=True)  # a worker's writer
        return lambda run, source: writer.write(norm.output(run, source))

    rows = fmt in ROW_FORMATS
    return [
        ("read, decode (orjson), detect, map through to_run", lambda: lambda r, s: None),
        ("+ the secrets byte scan and, where it hits, redaction", lambda: norm._safe),
        (
            "+ the flat row (run_row)" if rows else "+ the output document (run_document)",
            lambda: norm.output,
        ),
        (
            "+ Arrow arrays and the worker's Arrow file"
            if fmt == "parquet"
            else "+ JSON encoding (orjson) and writing",
            write,
        ),
    ]


def _rebuilder(path: Path) -> Callable[[Any, Any], Run]:
    """A stand-in for the mappings that builds, for each record of *path* in turn, the same
    objects the real mapping built (``Run``, ``Timing``, ``RunError``, each ``Artifact`` and
    ``Attempt``), parsing each timestamp from text again and building ``extra`` as a dict of
    the same size, but reading no field: what the mappings would cost if reading the payload
    were free. Records are taken in order (``read_dump`` maps them in order); it restarts
    with each pass."""
    parse = datetime.fromisoformat
    recipes: list[tuple[Any, ...]] = []
    for run in runnorm.read_dump(path):
        t = run.timing
        stamps = tuple(
            None if v is None else v.isoformat()
            for v in (
                t.created_at,
                t.queued_at,
                t.started_at,
                t.finished_at,
                t.updated_at,
                t.next_attempt_at,
            )
        )
        artifacts = tuple(
            (a, None if a.created_at is None else a.created_at.isoformat()) for a in run.artifacts
        )
        extra = tuple(run.extra.items())
        recipes.append((run, stamps, artifacts, extra))
    position = [0]

    def rebuild(provider: Any, payload: Any) -> Run:
        index = position[0]
        position[0] = index + 1 if index + 1 < len(recipes) else 0
        run, stamps, artifacts, extra = recipes[index]
        error = run.error
        return Run(
            provider=run.provider,
            id=run.id,
            status=run.status,
            native_status=run.native_status,
            kind=run.kind,
            result=run.result,
            error=None
            if error is None
            else RunError(code=error.code, message=error.message, details=error.details),
            timing=Timing(*[None if s is None else parse(s) for s in stamps]),
            artifacts=tuple(
                Artifact(
                    a.kind,
                    a.url,
                    a.name,
                    a.checksum,
                    a.size,
                    a.media_type,
                    None if c is None else parse(c),
                    a.content,
                    a.id,
                    a.expires_at,
                )
                for a, c in artifacts
            ),
            web_url=run.web_url,
            session_id=run.session_id,
            step_count=run.step_count,
            task=run.task,
            extra=dict(extra),
            raw=payload,
            attempt=run.attempt,
            retry_pending=run.retry_pending,
            attempts=tuple(
                Attempt(
                    a.number,
                    a.status,
                    a.native_status,
                    a.started_at,
                    a.finished_at,
                    a.error,
                    a.extra,
                )
                for a in run.attempts
            ),
        )

    return rebuild


def floors(path: Path, rounds: int) -> dict[str, float]:
    """``read_dump`` of *path* with the mappings stubbed out, as ratios to ``json.loads``."""
    stamp = datetime.fromisoformat
    constant = Run(provider="floor", id="floor", status=RunStatus.RUNNING, native_status="r")

    def minimal(provider: Any, payload: Any) -> Run:
        return Run(
            provider="floor",
            id="floor",
            status=RunStatus.RUNNING,
            native_status="r",
            timing=Timing(
                stamp("2026-03-08T18:46:45.400152Z"),
                None,
                stamp("2026-03-08T18:46:47.100000+00:00"),
                stamp("2026-03-08T18:49:02.600000+00:00"),
            ),
            raw=payload,
        )

    def loads() -> None:
        with path.open("rb") as stream:
            for line in stream:
                json.loads(line)

    def read(apply: Any = None) -> Callable[[], None]:
        def run() -> None:
            real = reader.apply
            reader.apply = apply or real
            try:
                sum(1 for _ in runnorm.read_dump(path))
            finally:
                reader.apply = real

        return run

    rebuild = _rebuilder(path)
    cases = {
        "json.loads": loads,
        "read_dump, a constant Run for every record": read(lambda provider, payload: constant),
        "read_dump, a minimal Run (Timing, 3 timestamps)": read(minimal),
        "read_dump, the mappings' own objects from prepared values": read(rebuild),
        "read_dump, the providers' mappings": read(),
    }
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        seconds = {}
        for name, case in cases.items():
            started = time.perf_counter()
            case()
            seconds[name] = time.perf_counter() - started
        for name in cases:
            ratios[name].append(seconds["json.loads"] / seconds[name])
    return {name: statistics.median(values) for name, values in ratios.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", type=Path, nargs="?")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.dump is None:
        from batch import dump_path  # bench/batch.py, beside this file

        args.dump = dump_path(20_000, "skyvern")
    records = sum(1 for line in args.dump.open("rb") if line.strip())
    for fmt in ("jsonl", "parquet"):
        print(f"{args.dump.name}, {records:,} records, -o out.{fmt}: µs per record")
        before = 0.0
        for title, factory in stages(fmt):
            best = min(_pass(args.dump, factory()) for _ in range(args.rounds))
            total = best / records * 1e6
            print(f"  {title:58s} {total - before:6.2f}  (total {total:6.2f})")
            before = total
    from batch import dump_path

    mixed = dump_path(20_000)
    print(f"{mixed.name}: read_dump's floors, speed relative to json.loads (medians)")
    for name, ratio in floors(mixed, max(args.rounds, 7)).items():
        print(f"  {name:58s} {ratio:6.2f}")


if __name__ == "__main__":
    main()

"""Where the batch time goes: µs per record, stage by stage, on one core.

Streams a dump's records through more and more of the batch path, the way ``runnorm
normalize --jobs 1`` runs it, and reports each stage's cost as the difference to the stage
before (the best of a few rounds each: on a noisy machine the minimum is the stable figure).

    python bench/stages.py [DUMP] [--rounds 5]

Without DUMP, the 20,000-record Skyvern dump of ``bench/batch.py`` (generated if missing).
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


if __name__ == "__main__":
    main()

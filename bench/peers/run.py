"""The peers: the Skyvern-only dump normalized by DuckDB, Polars, msgspec and pydantic v2.

Each peer is a script of its own here (``python bench/peers/X_peer.py DUMP OUT``), writing
Parquet or JSON Lines by the output's suffix; :mod:`check` compares its output with runnorm's.
``bench/batch.py`` times them beside runnorm, alternating, in the same rounds (this module
gives it the commands and the checks). Run alone, this module is a correctness pass: runnorm
and every peer once, in both formats, each output checked.

    python bench/peers/run.py DUMP [--out DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import check

HERE = Path(__file__).resolve().parent
PEERS = ("duckdb", "polars", "msgspec", "pydantic")
FORMATS = ("parquet", "jsonl")
TITLES = {
    "duckdb": "DuckDB read_ndjson_objects + SQL",
    "polars": "Polars lines + json_decode",
    "msgspec": "msgspec Struct per record",
    "pydantic": "pydantic v2 model per record",
}
NAMES = {"duckdb": "DuckDB", "polars": "Polars", "msgspec": "msgspec", "pydantic": "pydantic v2"}


def command(peer: str, dump: Path, out: Path) -> list[str]:
    """The command line of *peer* normalizing *dump* into *out* (format by its suffix)."""
    return [sys.executable, "-P", str(HERE / f"{peer}_peer.py"), str(dump), str(out)]


def output(outdir: Path, name: str, fmt: str) -> Path:
    return outdir / f"{name}.{fmt}"


def check_all(
    dump: Path,
    runnorm_outputs: dict[str, Path],
    peer_outputs: dict[tuple[str, str], Path],
    say: Callable[[str], None] = print,
) -> None:
    """Check every peer output against runnorm's output in the same format; raise
    :class:`check.Mismatch` at the first that differs."""
    for fmt, runnorm_out in runnorm_outputs.items():
        want = check.expected(dump, runnorm_out)
        for (peer, peer_fmt), peer_out in peer_outputs.items():
            if peer_fmt == fmt:
                count = check.check_against(want, peer_out)
                say(f"check OK: {peer} -> {fmt}: {count:,} runs match runnorm -o out.{fmt}")


def correctness_pass(
    dump: Path,
    outdir: Path,
    runnorm: Callable[..., list[str]],
    say: Callable[[str], None] = print,
) -> None:
    """runnorm and each peer once, both formats, into *outdir*; then :func:`check_all`.
    *runnorm* builds runnorm's command line from its arguments."""
    outdir.mkdir(parents=True, exist_ok=True)
    ours = {fmt: output(outdir, "runnorm", fmt) for fmt in FORMATS}
    theirs = {(p, fmt): output(outdir, p, fmt) for p in PEERS for fmt in FORMATS}
    for out in ours.values():
        subprocess.run(runnorm(str(dump), "-o", str(out)), check=True, stderr=subprocess.DEVNULL)
    for (peer, _), out in theirs.items():
        subprocess.run(command(peer, dump, out), check=True)
    check_all(dump, ours, theirs, say)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", type=Path)
    parser.add_argument("--out", type=Path, default=HERE.parent / "data" / "peers-check")
    args = parser.parse_args()

    def runnorm(*argv: str) -> list[str]:
        return [sys.executable, "-P", "-m", "runnorm", "normalize", *argv]

    try:
        correctness_pass(args.dump, args.out, runnorm)
    except check.Mismatch as exc:
        print(f"CHECK FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

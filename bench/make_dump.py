"""Generate a JSON Lines dump for the batch benchmarks: mixed-provider, or one provider's.

Records are the repository's real sample payloads of all three providers (the ones under
1.9 KB compact, so the average lands near 600 bytes), with fresh ids and shifted timestamps so
no two records are alike. ``--provider skyvern`` draws from that provider's samples only (the
dump the peers in ``bench/peers/`` normalize). ``--dirty 0.01`` then breaks that share of the
lines the ways real dumps break: a line cut short (a writer killed mid-record), a JSON value
that is not an object, or garbage bytes (a binary blob, invalid UTF-8). The dirty dump is the
clean dump of the same seed with those lines replaced, line for line. ``--secrets 0.8`` gives
that share of the records whose ``run_request`` is an object the values a real account that
uses TOTP and extra headers sends there (``totp_identifier``, ``totp_url``,
``extra_http_headers``), which the batch path must redact: the sample payloads send them null.
Deterministic for a given seed.

    python bench/make_dump.py bench/data/dump.jsonl --records 200000
    python bench/make_dump.py bench/data/skyvern.jsonl --provider skyvern --dirty 0.01
    python bench/make_dump.py bench/data/secrets.jsonl --provider skyvern --secrets 0.8
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


PROVIDERS = ("skyvern", "browserbase", "bridgetown")
NOT_OBJECTS = (b"null", b"[]", b'"ok"', b"42", b"true", b"[1,2,3]")


def templates(
    providers: tuple[str, ...] = PROVIDERS, *, unseen: bool = False
) -> list[dict[str, Any]]:
    out = []
    for provider in providers:
        for path in sorted((ROOT / "plugins" / f"runnorm_{provider}" / "samples").glob("*.json")):
            if path.name.startswith("unseen-") and not unseen:
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


def with_secrets(value: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """*value* with the TOTP settings and extra headers of its ``run_request`` filled in, as
    an account that uses them sends them (*value* itself when it has no ``run_request``)."""
    request = value.get("run_request")
    if not isinstance(request, dict):
        return value
    token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24))
    request = {
        **request,
        "totp_identifier": "ops@acme-ops.example",
        "totp_url": "https://acme-ops.example/totp",
        "extra_http_headers": {"Authorization": f"Bearer {token}", "X-Tenant": "acme"},
    }
    return {**value, "run_request": request}


def broken(line: bytes, rng: random.Random) -> bytes:
    """*line* (one record, no newline) broken in one of the ways real dumps break."""
    kind = rng.randrange(3)
    if kind == 0:  # truncated: the writer stopped mid-record
        return line[: rng.randrange(1, len(line) - 1)]
    if kind == 1:  # valid JSON, but not an object
        return rng.choice(NOT_OBJECTS)
    # garbage: a binary fragment (a gzip member's start, then random bytes, invalid UTF-8)
    blob = bytes(rng.randrange(256) for _ in range(rng.randrange(8, 200)))
    return b"\x1f\x8b\x08\x00" + blob.replace(b"\n", b" ").replace(b"\r", b" ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--provider", choices=PROVIDERS, help="one provider's samples only (default: all three)"
    )
    parser.add_argument(
        "--dirty", type=float, default=0.0, help="share of lines to break (0.01: 1%%)"
    )
    parser.add_argument(
        "--secrets",
        type=float,
        default=0.0,
        help="share of records with run_request secrets filled in (0.8: 80%%)",
    )
    parser.add_argument(
        "--unseen",
        action="store_true",
        help="also the unseen-* samples (unknown statuses and run types; for checks, not speed)",
    )
    args = parser.parse_args()
    if not 0 <= args.dirty <= 1 or not 0 <= args.secrets <= 1:
        parser.error("--dirty and --secrets are shares between 0 and 1")
    rng = random.Random(args.seed)
    # A stream of its own, so the clean records are those of the clean dump, line for line.
    dirt = random.Random(f"{args.seed}-dirty")
    keys = random.Random(f"{args.seed}-secrets")
    pool = templates((args.provider,) if args.provider else PROVIDERS, unseen=args.unseen)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    size = bad = 0
    with args.output.open("wb") as out:
        for _ in range(args.records):
            value = record(rng.choice(pool), rng)
            if args.secrets and keys.random() < args.secrets:
                value = with_secrets(value, keys)
            line = json.dumps(value, separators=(",", ":")).encode()
            if args.dirty and dirt.random() < args.dirty:
                line = broken(line, dirt)
                bad += 1
            size += len(line) + 1
            out.write(line + b"\n")
    print(
        f"{args.output}: {args.records} records ({bad} broken), "
        f"{size / args.records:.0f} bytes a record"
    )


if __name__ == "__main__":
    main()

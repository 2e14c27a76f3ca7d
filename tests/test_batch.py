"""Batch: read_dump over every input shape, malformed records, outputs, jobs, Dask, exit codes."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support import ROOT, load, sample_files

import runnorm
from runnorm import DumpError, RecordError, Run, RunStatus
from runnorm._batch import documents as documents_module
from runnorm._batch import engine as batch_module
from runnorm._batch import shards as shards_module
from runnorm._batch import sources as sources_module
from runnorm._batch.writers import COLUMNS, flatten
from runnorm._cli import app as cli
from runnorm._cli import normalize as cli_normalize

MIXED = ROOT / "examples" / "mixed-runs.jsonl"
SAMPLES = [load(p) for p in sample_files() if "unseen" not in p.name]
BT_LIST = ROOT / "plugins/runnorm_bridgetown/samples/dumps/list-runs-forecasts.json"
SKYVERN_GOOD = {"run_id": "tsk_1", "status": "completed", "created_at": "2026-01-20T11:52:29"}


def runs_of(items: list[Run | RecordError]) -> list[Run]:
    return [item for item in items if isinstance(item, Run)]


def jsonl(records: list[Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.fixture
def expected() -> list[Run]:
    return [runnorm.normalize(r) for r in SAMPLES]


# -- inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(jsonl, id="jsonl"),
        pytest.param(lambda rs: json.dumps(rs).encode(), id="array"),
        pytest.param(lambda rs: json.dumps(rs, indent=2).encode(), id="pretty-array"),
        pytest.param(
            lambda rs: json.dumps({"data": rs, "limit": 20, "nextCursor": None}).encode(),
            id="data-wrapper",
        ),
        pytest.param(lambda rs: json.dumps({"runs": rs}).encode(), id="runs-wrapper"),
        pytest.param(lambda rs: gzip.compress(jsonl(rs)), id="gzip-jsonl"),
        pytest.param(lambda rs: gzip.compress(json.dumps(rs).encode()), id="gzip-array"),
    ],
)
def test_every_input_shape_gives_the_same_runs(
    tmp_path: Path, encode: Any, expected: list[Run]
) -> None:
    path = tmp_path / "dump.bin"  # the name says nothing: content decides
    path.write_bytes(encode(SAMPLES))
    assert list(runnorm.read_dump(path)) == expected


@pytest.mark.parametrize("limit", [64, 1000, 10_000])
def test_large_arrays_are_streamed_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expected: list[Run], limit: int
) -> None:
    monkeypatch.setattr(documents_module, "WHOLE_DOCUMENT_LIMIT", limit)
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"project_name": "x", "data": SAMPLES}, indent=1))
    runs = list(runnorm.read_dump(path))
    assert [r.id for r in runs_of(runs)] == [r.id for r in expected]
    assert len(runs) == len(expected)


def test_single_object_and_one_line_wrapper(tmp_path: Path) -> None:
    single = tmp_path / "one.json"
    single.write_text(json.dumps(SKYVERN_GOOD, indent=2))
    assert [r.id for r in runs_of(list(runnorm.read_dump(single)))] == ["tsk_1"]
    line = tmp_path / "wrapped.jsonl"
    line.write_text(json.dumps({"runs": [SKYVERN_GOOD, SKYVERN_GOOD]}) + "\n")
    items = list(runnorm.read_dump(line))
    assert [(type(i).__name__, getattr(i, "id", None)) for i in items] == [("Run", "tsk_1")] * 2


def test_wrapper_shared_fields_are_copied_into_items() -> None:
    runs = runs_of(list(runnorm.read_dump(BT_LIST)))
    assert len(runs) == len(load(BT_LIST)["runs"])
    assert {r.extra["project_name"] for r in runs} == {"forecasts"}
    assert all("total_returned" not in r.extra for r in runs)  # pagination is not shared


def test_skyvern_bare_array(tmp_path: Path) -> None:
    items = [load(p) for p in sample_files("skyvern") if p.name.startswith("list-item")]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(items))
    runs = runs_of(list(runnorm.read_dump(path)))
    assert [r.kind for r in runs] == [i["task_run_type"] for i in items]


def test_directories_are_read_recursively_sorted_dump_files_only(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a.jsonl").write_bytes(jsonl([{**SKYVERN_GOOD, "run_id": "tsk_a"}]))
    (tmp_path / "b" / "c.json.gz").write_bytes(
        gzip.compress(jsonl([{**SKYVERN_GOOD, "run_id": "tsk_c"}]))
    )
    (tmp_path / "b" / "notes.txt").write_text("not a dump")
    (tmp_path / ".hidden.jsonl").write_text("garbage")
    items = list(runnorm.read_dump(tmp_path))
    assert [i.id for i in runs_of(items)] == ["tsk_a", "tsk_c"]
    assert len(items) == 2


def test_open_binary_file_and_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    with MIXED.open("rb") as stream:
        from_file = list(runnorm.read_dump(stream))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MIXED.read_bytes())))
    from_stdin = list(runnorm.read_dump("-"))
    assert from_file == from_stdin == list(runnorm.read_dump(MIXED))
    assert {r.provider for r in runs_of(from_file)} == {"skyvern", "browserbase", "bridgetown"}


def test_text_stream_is_a_clear_error() -> None:
    with pytest.raises(DumpError, match="binary"):
        list(runnorm.read_dump(io.StringIO("{}")))


def test_missing_path() -> None:
    with pytest.raises(DumpError, match="no such file"):
        list(runnorm.read_dump("/no/such/dump.jsonl"))


# -- malformed records ---------------------------------------------------------------------------

MALFORMED = b"\n".join(
    [
        b"\xef\xbb\xbf" + json.dumps(SKYVERN_GOOD).encode(),  # BOM at the start: tolerated
        b'{"run_id": "tsk_2", "status": "comp',  # truncated JSON
        b"[1, 2]",  # non-objects
        b"",  # an empty line is not a record
        b'{"id": "x", "state": "done"}',  # no provider recognizes it
        json.dumps({**SKYVERN_GOOD, "created_at": "last tuesday"}).encode(),  # bad timestamp
        b"\xef\xbb\xbf{}",  # a BOM in the middle of a file is not JSON
        json.dumps({**SKYVERN_GOOD, "run_id": "tsk_9"}).encode(),
        b"",
    ]
)


def test_malformed_records_are_counted_and_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(MALFORMED)
    items = list(runnorm.read_dump(path))
    errors = [i for i in items if isinstance(i, RecordError)]
    assert [r.id for r in runs_of(items)] == ["tsk_1", "tsk_9"]
    assert [(e.line, e.index) for e in errors] == [
        (2, None),
        (3, 0),
        (3, 1),
        (5, None),
        (6, None),
        (7, None),
    ]
    assert len(items) == 8  # in = normalized + failed
    by_line = {e.line: e for e in errors if e.index is None}
    assert "invalid JSON" in by_line[2].reason and by_line[2].text.startswith('{"run_id"')
    assert "no installed provider" in by_line[5].reason and by_line[5].provider is None
    assert "created_at" in by_line[6].reason and by_line[6].provider == "skyvern"
    assert all(e.source == str(path) for e in errors)
    assert errors[0].where == f"{path}:2"


def test_on_error_raise(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(MALFORMED)
    with pytest.raises(DumpError) as info:
        list(runnorm.read_dump(path, on_error="raise"))
    assert info.value.record.line == 2
    assert str(path) in str(info.value)


def test_explicit_provider_for_every_record(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(jsonl([{"run_id": "custom-1", "status": "running"}]))
    assert isinstance(next(runnorm.read_dump(path)), RecordError)
    assert next(runnorm.read_dump(path, "skyvern")).status is RunStatus.RUNNING  # type: ignore[union-attr]


# -- summarize ---------------------------------------------------------------------------------


def test_summarize_counts_and_percentiles() -> None:
    summary = runnorm.summarize(runnorm.read_dump(MIXED))
    assert summary.total == len(MIXED.read_text().splitlines())
    counts = summary.by_provider()
    assert sum(counts["skyvern"].values()) == 7
    assert counts["bridgetown"]["succeeded"] >= 1
    quantiles = summary.percentiles()
    for provider in quantiles:
        assert (
            quantiles[provider]["p50"] <= quantiles[provider]["p90"] <= quantiles[provider]["p99"]
        )
    table = summary.table()
    assert table.splitlines()[0].split()[:2] == ["provider", "queued"] or "provider" in table
    assert "p99 run" in table


# -- the command line ----------------------------------------------------------------------------


def invoke(*args: str, input: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli.main, list(args), input=input)
    return result.exit_code, result.stdout_bytes, result.stderr


def test_cli_counts_errors_file_and_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(MALFORMED)
    errors = tmp_path / "errors.jsonl"
    code, out, err = invoke("normalize", str(path), "--errors", str(errors))
    assert code == 1
    assert len(out.splitlines()) == 2
    written = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(e["source"], e["line"]) for e in written][:2] == [(str(path), 2), (str(path), 3)]
    assert set(written[0]) == {"source", "line", "index", "provider", "reason", "text"}
    assert err.strip().splitlines()[-1] == "records in: 8, normalized: 2, failed: 6"


def test_cli_summary(tmp_path: Path) -> None:
    code, _, err = invoke("normalize", str(MIXED), "--summary", "-o", str(tmp_path / "o.jsonl"))
    assert code == 0
    lines = err.strip().splitlines()
    assert lines[0].startswith("provider") and "p50 run" in lines[0]
    assert {line.split()[0] for line in lines[1:-1]} == {"skyvern", "browserbase", "bridgetown"}
    assert lines[-1] == "records in: 17, normalized: 17, failed: 0"


def _jsonl_documents(tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / "runs.jsonl"
    assert invoke("normalize", str(MIXED), "-o", str(out))[0] == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_json_output_equals_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "runs.json"
    assert invoke("normalize", str(MIXED), "-o", str(out))[0] == 0
    assert json.loads(out.read_text()) == _jsonl_documents(tmp_path)


def test_csv_output_is_the_flattened_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    assert invoke("normalize", str(MIXED), "--format", "csv", "-o", str(out))[0] == 0
    with out.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == list(COLUMNS)
    expected = [flatten(d) for d in _jsonl_documents(tmp_path)]
    text = [{k: "" if v is None else str(v) for k, v in row.items()} for row in expected]
    assert rows == text
    assert "timing.started_at" in rows[0] and "artifacts.screenshot" in rows[0]


def test_parquet_output_is_typed_and_equals_jsonl(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "runs.parquet"
    assert invoke("normalize", str(MIXED), "-o", str(out))[0] == 0
    table = pq.read_table(out)
    assert str(table.schema.field("timing.started_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("step_count").type) == "int64"
    rows = table.to_pylist()
    expected = [flatten(d) for d in _jsonl_documents(tmp_path)]
    assert [r["id"] for r in rows] == [e["id"] for e in expected]
    for row, want in zip(rows, expected, strict=True):
        started = row["timing.started_at"]
        assert (started.isoformat() if started else None) == want["timing.started_at"]
        assert json.loads(row["raw"]) == json.loads(want["raw"])
        assert row["artifacts.screenshot"] == want["artifacts.screenshot"]


_OFFSET = timezone(timedelta(hours=-7, minutes=-30))


@pytest.mark.parametrize(
    "stamps",
    [
        [datetime(2026, 3, 8, 18, 46, 45, 400152, tzinfo=UTC)] * 3,
        [None, datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), None],
        [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)],
        [datetime(2026, 3, 8, 18, 46, 45, 1, tzinfo=_OFFSET), None],  # another offset
        [None, None],
        [datetime(2026, 3, 8, 18, 46, 45), None],  # naive (a plugin's own): pyarrow's reading
        [datetime(2026, 3, 8, 18, 46, 45), datetime(2026, 3, 8, 18, 46, 45, tzinfo=UTC)],
    ],
)
def test_parquet_timestamp_columns_are_what_pyarrow_makes_of_the_datetimes(
    stamps: list[datetime | None],
) -> None:
    """Built from the durations since the epoch (cheaper than pyarrow's reading of aware
    datetimes): the same instants, nulls in the same places, whatever the offsets."""
    pa = pytest.importorskip("pyarrow")
    from runnorm._batch.writers import _Batches

    built: list[Any] = []
    batches = _Batches(built.append)
    kind = pa.timestamp("us", tz="UTC")
    column = batches._stamps(tuple(stamps), kind)
    assert column.type == kind
    assert column.equals(pa.array(stamps, type=kind))


def test_prefer_jemalloc_sets_arrows_default_pool_only_when_it_still_can(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Set before pyarrow is imported, on Linux, when the user chose no pool; else untouched."""
    from runnorm._batch import writers

    # set, then deleted: monkeypatch then restores the variable as it was, whatever is set
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "restored")
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
    monkeypatch.setattr(writers.sys, "platform", "linux")
    monkeypatch.delitem(sys.modules, "pyarrow", raising=False)
    writers.prefer_jemalloc()
    assert writers.os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "jemalloc"
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")  # the user's choice stands
    writers.prefer_jemalloc()
    assert writers.os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system"
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
    monkeypatch.setitem(sys.modules, "pyarrow", sys)  # imported already: too late to matter
    writers.prefer_jemalloc()
    assert "ARROW_DEFAULT_MEMORY_POOL" not in writers.os.environ
    monkeypatch.delitem(sys.modules, "pyarrow")
    monkeypatch.setattr(writers.sys, "platform", "win32")  # wheels without jemalloc
    writers.prefer_jemalloc()
    assert "ARROW_DEFAULT_MEMORY_POOL" not in writers.os.environ


def test_normalize_to_parquet_runs_on_arrows_jemalloc_pool(tmp_path: Path) -> None:
    """The command, in a process of its own: Arrow's default pool is jemalloc where pyarrow
    has it (the Linux wheels), and the output is the same Parquet."""
    import subprocess

    pa = pytest.importorskip("pyarrow")
    out = tmp_path / "o.parquet"
    script = (
        "import sys\n"
        "from runnorm._cli.app import main\n"
        "try:\n"
        "    main(['normalize', sys.argv[1], '-o', sys.argv[2], '--jobs', '1'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "import pyarrow\n"
        "print(pyarrow.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(MIXED), str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    linux_jemalloc = sys.platform.startswith("linux") and (
        "jemalloc" in pa.supported_memory_backends()
    )
    assert done.stdout.split()[-1] == (
        "jemalloc" if linux_jemalloc else pa.default_memory_pool().backend_name
    )
    assert "Unsupported backend" not in done.stderr
    expected = tmp_path / "expected.parquet"
    assert invoke("normalize", str(MIXED), "-o", str(expected), "--jobs", "1")[0] == 0
    pq = pytest.importorskip("pyarrow.parquet")
    assert pq.read_table(out).equals(pq.read_table(expected), check_metadata=True)


def test_parquet_needs_a_file(tmp_path: Path) -> None:
    assert invoke("normalize", str(MIXED), "--format", "parquet")[0] == 2


def test_secrets_are_redacted_in_every_format(tmp_path: Path) -> None:
    source = ROOT / "plugins/runnorm_skyvern/samples/get-run-task-v2-completed-full.json"
    secret = load(source)["run_request"]["extra_http_headers"]["Authorization"]
    for name in ("o.jsonl", "o.json", "o.csv"):
        out = tmp_path / name
        assert invoke("normalize", str(source), "-o", str(out))[0] == 0
        assert secret not in out.read_text() and "[REDACTED]" in out.read_text()
    pq = pytest.importorskip("pyarrow.parquet")
    invoke("normalize", str(source), "-o", str(tmp_path / "o.parquet"))
    assert secret not in str(pq.read_table(tmp_path / "o.parquet").to_pylist())
    kept = tmp_path / "kept.jsonl"
    invoke("normalize", str(source), "--no-redact", "-o", str(kept))
    assert secret in kept.read_text()


def test_redacted_jsonl_lines_still_round_trip(tmp_path: Path) -> None:
    source = ROOT / "plugins/runnorm_skyvern/samples/get-run-task-v2-completed-full.json"
    code, out, _ = invoke("normalize", str(source))
    assert code == 0
    run = Run.from_dict(json.loads(out))
    assert run.raw["run_request"]["extra_http_headers"] == "[REDACTED]"


def test_shards_of_a_large_file_stay_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """However large the file, a shard holds at most SHARD_MAX_BYTES (plus the rest of the
    line it ends in): what the parent maps of a worker's Parquet fragment stays bounded."""
    monkeypatch.setattr(shards_module, "SPLIT_MIN_BYTES", 1)
    monkeypatch.setattr(shards_module, "SHARD_MAX_BYTES", 4096)
    dump = tmp_path / "big.jsonl"
    line = json.dumps({**SKYVERN_GOOD, "task": "x" * 80}).encode() + b"\n"
    dump.write_bytes(line * 3000)
    shards = shards_module.plan_shards([str(dump)], 2)
    size = dump.stat().st_size
    assert len(shards) >= size // 4096 > 2 * shards_module.SHARDS_PER_JOB
    assert all(s.end - s.start <= 4096 + len(line) for s in shards)  # type: ignore[operator]
    assert [s.start for s in shards[1:]] == [s.end for s in shards[:-1]]
    assert (shards[0].start, shards[-1].end) == (0, size)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_jobs_keep_input_order_in_every_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    monkeypatch.setattr(shards_module, "SPLIT_MIN_BYTES", 1)
    records = [{**SKYVERN_GOOD, "run_id": f"tsk_{i}"} for i in range(3000)]
    for index in (10, 1234, 2500, 2501):  # failures in several shards
        records[index] = {"broken": True}
    dump = tmp_path / "big.jsonl"
    dump.write_bytes(jsonl(records))
    shards = shards_module.plan_shards([str(dump)], 2)
    assert len(shards) == 2 * shards_module.SHARDS_PER_JOB

    def run(jobs: int) -> tuple[bytes, list[RecordError], batch_module.BatchStats]:
        out = io.BytesIO() if fmt != "parquet" else (tmp_path / f"o{jobs}.parquet").open("wb")
        errors: list[RecordError] = []
        stats = batch_module.run_batch(
            [str(dump)], batch_module.BatchOptions(fmt=fmt), out, report=errors.append, jobs=jobs
        )
        if isinstance(out, io.BytesIO):
            return out.getvalue(), errors, stats
        out.close()
        return (tmp_path / f"o{jobs}.parquet").read_bytes(), errors, stats

    one, errors_one, _ = run(1)
    two, errors_two, stats_two = run(2)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        tables = [pq.read_table(tmp_path / f"o{j}.parquet").to_pylist() for j in (1, 2)]
        assert tables[0] == tables[1]
    else:
        assert one == two
    assert errors_one == errors_two
    assert [error.line for error in errors_two] == [11, 1235, 2501, 2502]
    assert (stats_two.records, stats_two.normalized, stats_two.failed) == (3000, 2996, 4)


def test_strict_stops_at_the_first_failure_with_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shards_module, "SPLIT_MIN_BYTES", 1)
    records = [{**SKYVERN_GOOD, "run_id": f"tsk_{i}"} for i in range(2000)]
    records[100] = {"broken": True}
    dump = tmp_path / "big.jsonl"
    dump.write_bytes(jsonl(records))
    out = io.BytesIO()
    stats = batch_module.run_batch(
        [str(dump)], batch_module.BatchOptions(strict=True), out, report=lambda e: None, jobs=2
    )
    assert stats.stopped and stats.failed == 1
    assert len(out.getvalue().splitlines()) < 2000


def test_cli_exit_codes(tmp_path: Path) -> None:
    assert invoke("normalize", str(MIXED), "-o", str(tmp_path / "o.jsonl"))[0] == 0
    assert invoke("normalize", "/no/such/dir")[0] == 5
    assert invoke("normalize", str(MIXED), "--format", "xml")[0] == 2
    assert invoke("normalize", str(MIXED), "-p", "nope")[0] == 5


def test_cli_stdin(tmp_path: Path) -> None:
    code, out, _ = invoke("normalize", "-", input=MIXED.read_bytes())
    assert code == 0 and len(out.splitlines()) == 17


def test_progress_line_format(capsys: pytest.CaptureFixture[str]) -> None:
    progress = cli_normalize._Progress()
    progress.shown = -1.0
    progress(batch_module.BatchStats(records=1234, failed=5, bytes_read=2_000_000))
    text = capsys.readouterr().err
    assert "1,234 records" in text and "MB/s" in text and "5 failed" in text


# -- Dask ----------------------------------------------------------------------------------------


def test_dask_errors_must_be_skip_or_include(tmp_path: Path) -> None:
    bag_module = pytest.importorskip("dask.bag")
    from runnorm.dask import normalize_bag, read_dumps

    with pytest.raises(runnorm.ConfigError, match="errors must be 'skip' or 'include'"):
        read_dumps(MIXED, errors="raise")  # type: ignore[arg-type]
    with pytest.raises(runnorm.ConfigError, match="not 'Skip'"):
        normalize_bag(bag_module.from_sequence(SAMPLES[:2]), errors="Skip")  # type: ignore[arg-type]


def test_dask_bag_equals_single_process(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from runnorm.dask import normalize_bag, read_dumps

    lines = MIXED.read_bytes().splitlines(keepends=True)
    parts = tmp_path / "dumps"
    parts.mkdir()
    for k in range(3):
        (parts / f"part-{k}.jsonl").write_bytes(b"".join(lines[k::3]))
    (parts / "part-3.json.gz").write_bytes(gzip.compress(BT_LIST.read_bytes()))
    single = [r.to_dict() for r in runs_of(list(runnorm.read_dump(parts)))]
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        bag = read_dumps(parts)
        assert bag.npartitions == 4
        result = client.compute(bag).result()
        assert json.loads(json.dumps(result)) == json.loads(json.dumps(single))
        payloads = __import__("dask.bag", fromlist=["from_sequence"]).from_sequence(
            SAMPLES[:10], npartitions=2
        )
        normalized = client.compute(normalize_bag(payloads)).result()
        assert [d["id"] for d in normalized] == [runnorm.normalize(s).id for s in SAMPLES[:10]]
        out = tmp_path / "dask.jsonl"
        code, _, err = invoke(
            "normalize",
            str(parts),
            "--engine",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
            "-o",
            str(out),
        )
        assert code == 0, err
        local = tmp_path / "local.jsonl"
        assert invoke("normalize", str(parts), "-o", str(local), "--jobs", "1")[0] == 0
        assert [json.loads(x) for x in out.read_text().splitlines()] == [
            json.loads(x) for x in local.read_text().splitlines()
        ]


SECRET = "SECRET-VALUE-1234"
LEAKY_RECORDS = [
    # a wildcard key written with an escaped quote in its name
    {"run_id": "tsk_2", "status": "completed", "run_request": {'totp_identifier"x': SECRET}},
    # a secret inside an error entry: lands in error.details as well as raw
    {
        "run_id": "tsk_3",
        "status": "failed",
        "errors": [{"error_code": "E", "extra_http_headers": {"Authorization": SECRET}}],
    },
    # a Browserbase camelCase key: lands in extra under its snake_case name
    {
        "runId": "128b2f33-0c5c-4fd0-a6a3-a4506513270e",
        "status": "RUNNING",
        "connectUrl": f"wss://connect.example/?signingKey={SECRET}",
    },
]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
@pytest.mark.parametrize("record", LEAKY_RECORDS, ids=["escaped-key", "error-details", "extra"])
def test_secrets_never_reach_any_output(tmp_path: Path, fmt: str, record: dict[str, Any]) -> None:
    dump = tmp_path / "leaky.jsonl"
    dump.write_bytes(jsonl([record]))
    code, out, err = invoke("normalize", str(dump), "--format", fmt)
    assert code == 0, err
    assert SECRET not in out.decode() and "[REDACTED]" in out.decode()
    code, out, _ = invoke("normalize", str(dump), "--format", fmt, "--no-redact")
    assert SECRET in out.decode()


def test_the_fast_path_writes_the_raw_a_plugin_chose(tmp_path: Path) -> None:
    import types

    import attrs

    from runnorm._plugins.host import PluginHost, get_host, reset_host

    skyvern = get_host().get("skyvern")

    def to_run(payload: Any) -> Run:  # a mapping that drops a field from raw and extra
        run = skyvern.to_run(payload)
        return attrs.evolve(
            run,
            raw={k: v for k, v in payload.items() if k != "api_token"},
            extra={k: v for k, v in run.extra.items() if k != "api_token"},
        )

    plugin = types.ModuleType("partial_raw_plugin")

    @runnorm.hookimpl
    def runnorm_register_providers(register: Any) -> None:
        register(attrs.evolve(skyvern, to_run=to_run))

    plugin.runnorm_register_providers = runnorm_register_providers  # type: ignore[attr-defined]
    host = PluginHost(entry_points=False)
    host.add_plugin(plugin, "partial")
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(jsonl([{**SKYVERN_GOOD, "api_token": SECRET}]))
    previous = reset_host(host)
    try:
        code, out, err = invoke("normalize", str(dump))
    finally:
        reset_host(previous)
    assert code == 0, err
    assert SECRET not in out.decode()
    assert json.loads(out)["raw"] == SKYVERN_GOOD


def test_a_file_named_twice_reports_its_own_lines_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shards_module, "SPLIT_MIN_BYTES", 1)
    records: list[Any] = [{**SKYVERN_GOOD, "run_id": f"tsk_{i}"} for i in range(3000)]
    for index in (99, 1699, 2999):
        records[index] = {"broken": True}
    dump = tmp_path / "big.jsonl"
    dump.write_bytes(jsonl(records))
    errors: list[RecordError] = []
    batch_module.run_batch(
        [str(dump), str(dump)],
        batch_module.BatchOptions(),
        io.BytesIO(),
        report=errors.append,
        jobs=2,
    )
    assert [error.line for error in errors] == [100, 1700, 3000] * 2


def test_renamed_secret_keys_in_extra_are_redacted_in_jsonl_as_in_json(tmp_path: Path) -> None:
    # connectURL is not a declared spelling (matching keeps case), but its snake_case copy
    # in extra, connect_url, is: the JSONL fast path must not skip it.
    record = {
        "runId": "128b2f33-0c5c-4fd0-a6a3-a4506513270e",
        "status": "RUNNING",
        "connectURL": f"wss://connect.example/?signingKey={SECRET}",
    }
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(jsonl([record]))
    documents = []
    for fmt in ("jsonl", "json"):
        code, out, _ = invoke("normalize", str(dump), "--format", fmt)
        assert code == 0
        documents.append(json.loads(out) if fmt == "jsonl" else json.loads(out)[0])
    assert documents[0]["extra"]["connect_url"] == "[REDACTED]"
    assert documents[0]["extra"] == documents[1]["extra"]


def test_batch_entry_points_take_any_paths(tmp_path: Path) -> None:
    from runnorm._model.redaction import Redactor

    out = io.BytesIO()
    stats = batch_module.run_batch((MIXED,), batch_module.BatchOptions(), out, report=print)
    assert (stats.records, stats.failed) == (17, 0)
    assert sources_module.expand_paths((MIXED,)) == [str(MIXED)]
    assert len(shards_module.plan_shards((MIXED,), 2)) == 1
    assert Redactor(["totp_*"]).may_hold_secrets(bytearray(b'{"totp_a": 1}'))

"""Batch data safety: every row of the table in docs/batch.md, aliasing, interruptions, a full
disk, broken documents in flat memory, --jobs 1 vs 2, and generated hostile files."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ROOT

import runnorm
from runnorm import DumpError, RecordError, Run, RunnormError
from runnorm._batch import shards as shards_module
from runnorm._batch import writers as writers_module
from runnorm._cli import app as cli

MIXED = ROOT / "examples" / "mixed-runs.jsonl"
GOOD = {"run_id": "tsk_1", "status": "completed"}


def runs(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{**GOOD, "run_id": f"tsk_{i}", "step_count": i} for i in range(start, start + n)]


def jsonl(records: list[Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def invoke(*args: str, input: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli.main, list(args), input=input)
    return result.exit_code, result.stdout_bytes, result.stderr


def items(data: bytes, **kwargs: Any) -> list[Run | RecordError]:
    return list(runnorm.read_dump(io.BytesIO(data), **kwargs))


def counts(found: list[Run | RecordError]) -> tuple[int, int]:
    failed = sum(isinstance(i, RecordError) for i in found)
    return len(found) - failed, failed


# -- the table ----------------------------------------------------------------------------------


def test_a_bad_record_is_one_failed_record(tmp_path: Path) -> None:
    data = jsonl(runs(2)) + b"{not json\n" + b"[1]\n" + jsonl([{"who": "knows"}]) + jsonl(runs(1))
    found = items(data)
    assert counts(found) == (3, 3)
    reasons = [i.reason for i in found if isinstance(i, RecordError)]
    assert reasons[0].startswith("invalid JSON") and "JSON object" in reasons[1]
    assert "no installed provider recognizes" in reasons[2]
    path = tmp_path / "d.jsonl"
    path.write_bytes(data)
    code, _, err = invoke("normalize", str(path))
    assert code == 1 and "records in: 6, normalized: 3, failed: 3" in err
    with pytest.raises(DumpError) as raised:
        list(runnorm.read_dump(path, on_error="raise"))
    assert isinstance(raised.value.record, RecordError) and raised.value.record.line == 3


def _provider(to_run: Any) -> runnorm.Provider:
    statuses = runnorm.StatusMap("crashy", {"completed": runnorm.RunStatus.SUCCEEDED})
    return runnorm.Provider(name="crashy", statuses=statuses, to_run=to_run, detect=lambda p: True)


@pytest.mark.parametrize(
    ("to_run", "words"),
    [
        (lambda payload: 1 / 0, "ZeroDivisionError"),
        (lambda payload: sys.exit(3), "SystemExit"),
        (lambda payload: {"id": "not a run"}, "returned dict, not a Run"),
    ],
)
def test_a_plugin_crash_or_non_run_is_one_failed_record_naming_it(to_run: Any, words: str) -> None:
    found = items(jsonl(runs(3)), provider=_provider(to_run))
    assert counts(found) == (0, 3)
    for item in found:
        assert isinstance(item, RecordError) and "'crashy' plugin" in item.reason
        assert words in item.reason and item.provider == "crashy"


def _truncated(data: bytes) -> bytes:
    return gzip.compress(data)[:-40]


def _corrupt(data: bytes) -> bytes:
    packed = bytearray(gzip.compress(data))
    packed[len(packed) // 2] ^= 0xFF
    return bytes(packed)


@pytest.mark.parametrize(
    "damage",
    [_truncated, _corrupt, lambda data: gzip.compress(data) + b"garbage after the gzip data"],
    ids=["truncated", "corrupt", "trailing-garbage"],
)
def test_a_broken_compressed_source_keeps_what_came_before(tmp_path: Path, damage: Any) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(jsonl(runs(5)))
    (folder / "b.jsonl.gz").write_bytes(damage(jsonl(runs(2000, 5))))
    (folder / "c.jsonl").write_bytes(jsonl(runs(5, 3000)))
    found = list(runnorm.read_dump(folder))
    normalized, failed = counts(found)
    errors = [i for i in found if isinstance(i, RecordError)]
    if damage is _corrupt:  # gzip checks its CRC at the member's end: bytes decompressed
        assert failed >= 1 and normalized >= 10  # past the damage are read, and may fail
    elif damage is _truncated:  # every record before the cut (its last bytes only lost)
        assert failed == 1 and normalized > 1_900
    else:
        assert (normalized, failed) == (2010, 1)
    error = errors[-1]
    assert error.source.endswith("b.jsonl.gz") and "bytes of decompressed data" in error.reason
    assert [i.id for i in found if isinstance(i, Run)][-5:] == [
        f"tsk_{i}" for i in range(3000, 3005)
    ]
    code, _, err = invoke("normalize", str(folder), "-o", str(tmp_path / "out.jsonl"))
    assert code == 1 and "Aborted" not in err
    assert f"normalized: {normalized}, failed: {failed}" in err


def _noise(n: int, start: int = 0) -> list[dict[str, Any]]:
    # random padding: compressed, it stays as large, so that a cut lands mid-way
    return [{**r, "pad": os.urandom(300).hex()} for r in runs(n, start)]


@pytest.mark.parametrize(
    "data",
    [
        jsonl(_noise(12_000)),  # megabytes: the break far from the head
        jsonl(_noise(40)),  # within the first read
        json.dumps(_noise(2_000)).encode(),  # an array, read whole when it is small
    ],
    ids=["large-lines", "small-lines", "array"],
)
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_truncated_gzip_keeps_every_record_before_the_break(
    tmp_path: Path, data: bytes, jobs: str
) -> None:
    packed = gzip.compress(data)
    cut = packed[: len(packed) // 2]
    readable = gzip.GzipFile(fileobj=io.BytesIO(cut))
    before = b""
    try:  # what a careful reader takes out of it, a step at a time, before it breaks
        while step := readable.read1(1 << 16):
            before += step
    except EOFError:
        pass
    else:
        pytest.fail("the cut gzip read to its end")
    if data.startswith(b"["):
        whole = before.count(b'"pad"')  # elements that began; the last is the cut one
        whole -= not before.rstrip().endswith((b"}", b"},"))
    else:
        whole = before.count(b"\n")
    assert whole > 0
    path = tmp_path / "dump.json.gz"
    path.write_bytes(cut)
    found = list(runnorm.read_dump(path))
    assert counts(found) == (whole, 1)
    (error,) = [i for i in found if isinstance(i, RecordError)]
    assert f"after {len(before):,} bytes of decompressed data" in error.reason
    code, _, err = invoke("normalize", str(path), "--jobs", jobs, "-o", str(tmp_path / "o.jsonl"))
    assert code == 1 and f"records in: {whole + 1}, normalized: {whole}, failed: 1" in err


def test_garbage_after_a_gzip_member_keeps_its_records() -> None:
    data = gzip.compress(jsonl(runs(3))) + b'{"run_id": "tsk_9"}\n'
    found = items(data)
    assert counts(found) == (3, 1)
    reason = found[-1].reason  # type: ignore[union-attr]
    assert f"after {len(jsonl(runs(3))):,} bytes of decompressed data" in reason


def test_a_document_unreadable_past_a_point_names_offset_and_bytes_left() -> None:
    data = b'[{"run_id": "tsk_1", "status": "completed"},\n {"run_id": "tsk_2", "status": "unend'
    found = items(data)
    assert counts(found) == (1, 1)
    error = found[-1]
    assert isinstance(error, RecordError)
    assert "cannot be read past byte" in error.reason and "bytes not read" in error.reason


def test_missing_paths_and_empty_directories_are_dump_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden.jsonl").write_text("{}")
    with pytest.raises(DumpError, match=r"skipped 1 other and 1 hidden"):
        list(runnorm.read_dump(tmp_path))
    with pytest.raises(DumpError, match="no such file"):
        list(runnorm.read_dump(tmp_path / "missing.jsonl"))
    code, _, err = invoke("normalize", str(tmp_path))
    assert code == 5 and "no dump files" in err
    assert invoke("normalize", str(tmp_path / "missing.jsonl"))[0] == 5


def test_an_empty_file_gives_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert list(runnorm.read_dump(path)) == []
    code, out, err = invoke("normalize", str(path))
    assert (code, out) == (0, b"") and "records in: 0, normalized: 0, failed: 0" in err


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n", b"\xef\xbb\xbf \n\n"])
def test_a_file_of_only_a_byte_order_mark_is_an_empty_file(tmp_path: Path, data: bytes) -> None:
    # What a text editor saves for an empty file; a BOM opening a line is not data.
    path = tmp_path / "empty.jsonl"
    path.write_bytes(data)
    assert list(runnorm.read_dump(path)) == []
    code, out, err = invoke("normalize", str(path))
    assert (code, out) == (0, b"") and "records in: 0, normalized: 0, failed: 0" in err
    path.write_bytes(jsonl(runs(1)) + data + jsonl(runs(1, 1)))  # files concatenated
    assert counts(list(runnorm.read_dump(path))) == (2, 0)


def test_every_exception_out_of_read_dump_is_a_runnorm_error(tmp_path: Path) -> None:
    unreadable = tmp_path / "dir.jsonl"
    unreadable.mkdir()
    (unreadable / "inside.txt").write_text("")
    for source in (io.StringIO("{}"), 12345, tmp_path / "nope", unreadable):
        with pytest.raises(RunnormError):
            list(runnorm.read_dump(source))  # type: ignore[arg-type]
    with pytest.raises(RunnormError):
        list(runnorm.read_dump(MIXED, on_error="sometimes"))  # type: ignore[arg-type]


# -- decisions: bare CR, NaN, binary data, deep values, surrogates ------------------------------


def test_bare_cr_line_ends_split_records() -> None:
    data = b"\r".join(json.dumps(r).encode() for r in runs(3)) + b"\n" + jsonl(runs(1, 9))
    found = items(data)
    assert [i.id for i in found if isinstance(i, Run)] == ["tsk_0", "tsk_1", "tsk_2", "tsk_9"]


def test_binary_garbage_is_one_failed_record(tmp_path: Path) -> None:
    found = items(os.urandom(1 << 16) + b"\n" * 500)
    assert counts(found) == (0, 1) and "binary data" in found[0].reason  # type: ignore[union-attr]


@pytest.mark.parametrize("at", [0, 5, 1_999])
def test_a_record_that_is_not_utf8_fails_alone(at: int) -> None:
    """One record written in Latin-1 among UTF-8 ones, in the first 64 KiB or not, is one
    failed record: before, a byte that is not UTF-8 in the head made the whole source
    "binary data", every record of it lost."""
    lines = jsonl(runs(2_000)).splitlines(keepends=True)
    lines[at] = b'{"run_id": "tsk_latin", "status": "completed", "note": "caf\xe9"}\n'
    found = items(b"".join(lines))
    assert counts(found) == (1_999, 1)
    [failed] = [item for item in found if isinstance(item, RecordError)]
    assert failed.line == at + 1 and "UTF-8" in failed.reason


@pytest.mark.parametrize("size", [10, 40_000])  # decoded whole, and streamed in chunks
def test_an_element_that_is_not_utf8_fails_alone_in_a_json_array(size: int) -> None:
    """Before, the document could not be read past the chunk holding it (every element of
    a small document lost); its byte offset is the element's."""
    elements = [json.dumps(r).encode() for r in runs(size)]
    bad = size // 2
    elements[bad] = b'{"run_id": "tsk_latin", "status": "completed", "note": "caf\xe9"}'
    data = b"[" + b",".join(elements) + b"]"
    found = items(data)
    assert counts(found) == (size - 1, 1)
    [failed] = [item for item in found if isinstance(item, RecordError)]
    assert failed.index == bad and "not UTF-8" in failed.reason
    assert f"byte {data.index(elements[bad]):,}" in failed.reason
    assert [item.id for item in found if isinstance(item, Run)][bad] == f"tsk_{bad + 1}"


@pytest.mark.parametrize(
    "line",
    [
        b'{"run_id": "tsk_x", "status": "completed", "note": "\\ud800"}',
        b'{"run_id": "tsk_x", "status": "completed", "note": "\\udc00"}',
        b'{"run_id": "tsk_x", "status": "completed", "note": "a\\uDFFFb"}',
        b'{"run_id": "tsk_x", "status": "completed", "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"run_id": "tsk_x", "status": "completed", "cost": NaN}',
        b'{"run_id": "tsk_x", "status": "completed", "cost": -Infinity}',
    ],
    ids=[
        "lone-surrogate",
        "lone-low-surrogate",
        "lone-low-surrogate-upper",
        "5000-deep",
        "nan",
        "infinity",
    ],
)
def test_values_json_cannot_hold_fail_alone(tmp_path: Path, line: bytes) -> None:
    data = jsonl(runs(2)) + line + b"\n" + jsonl(runs(2, 5))
    for framed in (data, b"[" + b",".join(data.splitlines()) + b"]"):
        assert counts(items(framed)) == (4, 1)
    path = tmp_path / "odd.jsonl"
    path.write_bytes(data)
    code, out, err = invoke("normalize", str(path))
    assert code == 1 and len(out.splitlines()) == 4 and "failed: 1" in err


def _nested(depth: int, inner: str) -> bytes:
    return b'{"a":' * depth + inner.encode() + b"}" * depth


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
@pytest.mark.parametrize("secret", [True, False])
def test_a_record_as_deep_as_json_allows_is_written_in_every_format(
    tmp_path: Path, fmt: str, secret: bool
) -> None:
    """1,020 levels under run_request: decoded (orjson takes 1,024), redacted by a walk that
    keeps its own stack, and encoded inside the output document (a few levels more). Before,
    the walk raised RecursionError past ~500 levels and the encoder past ~990: a traceback that
    stopped the batch."""
    inner = '{"totp_secret":"s3cr3t"}' if secret else '{"x":1}'
    deep = b'{"run_id":"tsk_d","status":"completed","run_request":' + _nested(1020, inner) + b"}"
    path = tmp_path / "deep.jsonl"
    path.write_bytes(jsonl(runs(1)) + deep + b"\n" + jsonl(runs(1, 5)))
    out = tmp_path / f"out.{fmt}"
    code, _, err = invoke("normalize", str(path), "-o", str(out), "--jobs", "1")
    assert code == 0 and "records in: 3, normalized: 3, failed: 0" in err, err
    assert b"s3cr3t" not in out.read_bytes()
    if fmt == "jsonl":
        lines = out.read_bytes().splitlines()
        assert len(lines) == 3 and (b"[REDACTED]" in lines[1]) is secret


@pytest.mark.parametrize(
    "record",
    [
        b'{"unknown":' + _nested(1020, '{"totp_secret":"s3cr3t"}') + b"}",  # no provider's
        b'{"run_id":"tsk_d","status":5,"run_request":' + _nested(1020, "1") + b"}",  # mistyped
    ],
    ids=["unrecognized", "mistyped"],
)
def test_a_record_as_deep_as_json_allows_that_fails_is_one_failed_record(
    tmp_path: Path, record: bytes
) -> None:
    """A failed record's text is the record shown: orjson writes 254 levels, repr about as
    many as the recursion limit, so a record of 1,020 (orjson decodes 1,024) stopped the
    batch with a RecursionError instead of being one failed record."""
    data = jsonl(runs(1)) + record + b"\n" + jsonl(runs(1, 5))
    found = items(data)
    assert counts(found) == (2, 1)
    failure = found[1]
    assert isinstance(failure, RecordError) and failure.text.startswith("{")
    path, errors = tmp_path / "deep.jsonl", tmp_path / "errors.jsonl"
    path.write_bytes(data)
    code, out, err = invoke("normalize", str(path), "--errors", str(errors), "--jobs", "1")
    assert code == 1 and len(out.splitlines()) == 2 and "failed: 1" in err, err
    assert b"s3cr3t" not in errors.read_bytes() and len(errors.read_bytes().splitlines()) == 1


# -- streamed documents -------------------------------------------------------------------------


def _array_with_a_broken_element(path: Path, n: int, broken: bool) -> None:
    padding = "p" * 700
    with path.open("wb") as out:
        out.write(b"[\n")
        for i in range(n):
            record = json.dumps({**GOOD, "run_id": f"tsk_{i}", "step_count": i, "note": padding})
            if broken and i == n // 2:
                record = record.replace('"note": ', '"note": tru')
            out.write(record.encode() + (b",\n" if i < n - 1 else b"\n"))
        out.write(b"]\n")


_PEAK = """
import resource, sys, runnorm
n = f = 0
for item in runnorm.read_dump(sys.argv[1]):
    n += 1
    f += isinstance(item, runnorm.RecordError)
print(n, f, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_a_30mb_array_with_one_broken_element_counts_exactly_in_flat_memory(
    tmp_path: Path,
) -> None:
    n = 40_000
    peaks = {}
    for broken in (False, True):
        path = tmp_path / f"array-{broken}.json"
        _array_with_a_broken_element(path, n, broken)
        assert path.stat().st_size > 30_000_000
        done = subprocess.run(
            [sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, check=True
        )
        records, failed, peak = map(int, done.stdout.split())
        assert (records, failed) == (n, 1 if broken else 0)
        peaks[broken] = peak
    assert peaks[True] <= 1.2 * peaks[False]


def test_a_one_line_wrapper_over_16_mib_is_streamed(tmp_path: Path) -> None:
    records = [{**r, "note": "n" * 600} for r in runs(30_000)]
    wrapper, lines = tmp_path / "wrapper.json", tmp_path / "same.jsonl"
    wrapper.write_bytes(json.dumps({"project_name": "p", "data": records}).encode())
    lines.write_bytes(jsonl(records))
    assert wrapper.stat().st_size > 16 * 1024 * 1024
    peaks = []
    for path in (wrapper, lines):
        done = subprocess.run(
            [sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, check=True
        )
        found, failed, peak = map(int, done.stdout.split())
        assert (found, failed) == (30_000, 0)
        peaks.append(peak)
    assert peaks[0] <= 1.2 * peaks[1]  # streamed: as flat as the same records as JSON Lines


# -- outputs: aliasing, interruptions, a full disk ----------------------------------------------


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_an_output_linked_to_an_input_never_truncates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str, link: str
) -> None:
    monkeypatch.setattr(shards_module, "SPLIT_MIN_BYTES", 1)
    source = tmp_path / "input.jsonl"
    original = MIXED.read_bytes() * 50
    source.write_bytes(original)
    out = tmp_path / "out.jsonl"
    if link == "symlink":
        out.symlink_to(source)
    else:
        os.link(source, out)
    code, _, err = invoke("normalize", str(source), "-o", str(out), "--jobs", jobs)
    assert code == 0 and "records in: 850, normalized: 850" in err
    written = out.read_bytes()
    assert len(written.splitlines()) == 850
    if link == "hardlink":
        assert source.read_bytes() == original  # the other link keeps the input
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.jsonl", "out.jsonl"]


def _wait_for_partial(folder: Path, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while not any(p.name.endswith(".partial") for p in folder.iterdir()):
        assert time.monotonic() < end, "no temporary output appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_leaves_the_previous_output_intact(
    tmp_path: Path, suffix: str, signum: int, code: int
) -> None:
    out = tmp_path / f"out{suffix}"
    previous = gzip.compress(b"previous\n") if suffix.endswith(".gz") else b"previous\n" * 999
    out.write_bytes(previous)
    errors = tmp_path / "errors.jsonl"
    errors.write_bytes(b"old errors\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-P",
            "-m",
            "runnorm",
            "normalize",
            "-",
            "-o",
            str(out),
            "--errors",
            str(errors),
        ],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stderr is not None
    process.stdin.write(MIXED.read_bytes() + b"{broken\n")
    process.stdin.flush()  # stdin stays open: the run is waiting for more
    _wait_for_partial(tmp_path)
    time.sleep(0.2)
    process.send_signal(signum)
    assert process.wait(timeout=30) == code
    stderr = process.stderr.read().decode()
    process.stdin.close()
    assert "output discarded" in stderr and "left as before" in stderr
    assert out.read_bytes() == previous and errors.read_bytes() == b"old errors\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, "errors.jsonl"])


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (CI runs as root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("suffix", [".jsonl", ".json.gz", ".csv", ".parquet"])
def test_a_full_disk_is_a_clear_error_and_publishes_nothing(
    tmp_path: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, jobs: str
) -> None:
    monkeypatch.setattr(shards_module, "SPLIT_MIN_BYTES", 1)
    monkeypatch.setattr(writers_module.ParquetWriter, "ROW_GROUP", 500)  # the disk fills mid-run
    dump = tmp_path / "big.jsonl"
    dump.write_bytes(jsonl([{**r, "note": os.urandom(200).hex()} for r in runs(3000)]))
    out = small_disk / f"out{suffix}"
    out.write_bytes(b"previous\n")
    code, _, err = invoke("normalize", str(dump), "-o", str(out), "--jobs", jobs)
    assert code == 5, err
    assert "No space left on device" in err and "left as before" in err
    assert "Traceback" not in err
    assert out.read_bytes() == b"previous\n"
    assert [p.name for p in small_disk.iterdir()] == [out.name]


def test_errors_file_and_output_are_never_the_same_file(tmp_path: Path) -> None:
    out = tmp_path / "same.jsonl"
    code, _, err = invoke("normalize", str(MIXED), "-o", str(out), "--errors", str(out))
    assert code == 2 and "--errors needs a file of its own" in err and not out.exists()


def test_a_missing_output_directory_leaves_nothing_behind(tmp_path: Path) -> None:
    errors = tmp_path / "errors.jsonl"
    code, _, err = invoke(
        "normalize", str(MIXED), "-o", str(tmp_path / "no" / "out.jsonl"), "--errors", str(errors)
    )
    assert code == 5 and "cannot write" in err and "No such file or directory" in err
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_file_of_a_killed_run_is_swept(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    stale = tmp_path / ".out.jsonl.runnorm-999999999-abcd1234.partial"
    stale.write_bytes(b"half")
    assert invoke("normalize", str(MIXED), "-o", str(out))[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


# -- workers: killed, or a signal the main thread does not receive ------------------------------

_WORKER_SCRIPT = """
import os, signal, sys, threading, time

from runnorm._batch import parallel, shards
from runnorm._cli import app

shards.SPLIT_MIN_BYTES = 1
real = parallel.run_shard


def run_shard(shard, *args, **kwargs):
    if shard.start:  # every shard but the first, in the workers
        {worker}
    return real(shard, *args, **kwargs)


parallel.run_shard = run_shard
{parent}
app.main(sys.argv[1:])
"""


def _run_workers(tmp_path: Path, worker: str, parent: str = "") -> tuple[int, str, Path]:
    """``normalize --jobs 2`` in a subprocess whose workers run *worker* on every shard but
    the first (and whose parent runs *parent* first); (exit code, stderr, output)."""
    script = tmp_path / "workers.py"
    script.write_text(_WORKER_SCRIPT.format(worker=worker, parent=parent))
    source = tmp_path / "dump.jsonl"
    source.write_bytes(jsonl(runs(2000)))
    out = tmp_path / "out" / "runs.jsonl"
    out.parent.mkdir()
    out.write_bytes(b"previous\n")
    command = [sys.executable, "-P", str(script), "normalize", str(source), "-o", str(out)]
    process = subprocess.Popen([*command, "--jobs", "2"], stderr=subprocess.PIPE)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("normalize --jobs 2 hung")
    return process.returncode, stderr.decode(), out


def test_a_worker_killed_mid_run_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    # What the OOM killer does to a worker: its shard is lost, so the run cannot complete.
    code, stderr, out = _run_workers(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    assert code == 5, stderr
    assert "worker process" in stderr and "left as before" in stderr
    assert out.read_bytes() == b"previous\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["runs.jsonl"]


def test_sigterm_received_by_another_thread_still_stops_a_parallel_run(tmp_path: Path) -> None:
    # The kernel may hand a process's signal to any of its threads; the main thread, waiting
    # for a worker that is still busy, must run the handler all the same.
    to_thread = (
        "threading.Timer(1.0, lambda: signal.pthread_kill(threading.get_ident(), "
        "signal.SIGTERM)).start()"
    )
    code, stderr, out = _run_workers(tmp_path, "time.sleep(60)", to_thread)
    assert code == 143, stderr
    assert "terminated" in stderr and "left as before" in stderr
    assert out.read_bytes() == b"previous\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["runs.jsonl"]


def test_ctrl_c_on_a_parallel_run_prints_no_worker_tracebacks(tmp_path: Path) -> None:
    # Ctrl-C signals the whole process group: the parent says "interrupted", workers say nothing.
    group = "threading.Timer(1.0, lambda: os.killpg(0, signal.SIGINT)).start()"
    code, stderr, out = _run_workers(tmp_path, "time.sleep(60)", "os.setpgrp()\n" + group)
    assert code == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "interrupted" in stderr and out.read_bytes() == b"previous\n"


# -- --jobs 1 and --jobs 2 agree ----------------------------------------------------------------


def _shapes(folder: Path) -> dict[str, Path]:
    records = [*runs(300), {"not": "a run"}, *runs(300, 300)]
    elements = ",\n".join(json.dumps(r) for r in records)
    one_per_line = "[\n" + elements + "\n]\n"
    wrapper = '{"project_name": "p", "data": [\n' + elements + "\n]}\n"
    mixed = folder / "mixed"
    mixed.mkdir()
    (mixed / "a.jsonl").write_bytes(jsonl(records) + b"{broken\n\xef\xbb\xbf" + jsonl(runs(2)))
    (mixed / "b.json").write_text(one_per_line)
    (mixed / "c.jsonl.gz").write_bytes(gzip.compress(jsonl(records)))
    (folder / "lines.jsonl").write_bytes(jsonl(records) * 4 + b"x\r{}\n")
    (folder / "array.json").write_text(one_per_line)
    (folder / "wrapper.json").write_text(wrapper)
    return {
        p.name: p
        for p in (mixed, folder / "lines.jsonl", folder / "array.json", folder / "wrapper.json")
    }


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_jobs_1_and_2_are_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setattr(shards_module, "SPLIT_MIN_BYTES", 1)
    for name, path in _shapes(tmp_path).items():
        outputs = []
        for jobs in ("1", "2"):
            out = tmp_path / f"{name}-{jobs}.{fmt}"
            errors = tmp_path / f"{name}-{jobs}.errors"
            code, _, err = invoke(
                "normalize", str(path), "-o", str(out), "--errors", str(errors), "--jobs", jobs
            )
            assert code in (0, 1), err
            outputs.append((out.read_bytes(), errors.read_bytes(), err))
        assert outputs[0] == outputs[1], name


def test_jobs_1_and_2_write_the_same_parquet_rows_in_the_same_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches and row groups, many shards: workers' batches end where shards do, and
    # a bad line empties a shard, yet the row groups are cut as one process cuts them.
    import pyarrow.parquet as pq

    monkeypatch.setattr(shards_module, "SPLIT_MIN_BYTES", 1)
    monkeypatch.setattr(writers_module._Batches, "SIZE", 3)
    monkeypatch.setattr(writers_module.ParquetWriter, "ROW_GROUP", 7)
    source = tmp_path / "dump.jsonl"
    source.write_bytes(jsonl(runs(40)) + b"{broken}\n" * 30 + jsonl(runs(41, 40)))
    tables = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}.parquet"
        code, _, err = invoke("normalize", str(source), "-o", str(out), "--jobs", jobs)
        assert code == 1, err
        metadata = pq.ParquetFile(out).metadata
        groups = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        assert groups == [7] * 11 + [4], jobs
        tables.append(pq.read_table(out))
    assert tables[0].equals(tables[1])


# -- generated files ----------------------------------------------------------------------------

_record = st.fixed_dictionaries(
    {
        "run_id": st.text(min_size=1, max_size=8).map(lambda s: "tsk_" + s),
        "status": st.sampled_from(["completed", "failed", "running", "queued"]),
    },
    optional={
        "step_count": st.integers(-(2**70), 2**70) | st.text(max_size=3),
        "extra": st.recursive(
            st.none() | st.booleans() | st.floats() | st.text(max_size=4),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
            max_leaves=8,
        ),
    },
)


@st.composite
def _dump(draw: st.DrawFn) -> bytes:
    records = draw(st.lists(_record | st.integers() | st.text(max_size=5), max_size=12))
    shape = draw(st.sampled_from(["lines", "array", "wrapper"]))
    if shape == "lines":
        data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    elif shape == "array":
        data = json.dumps(records, indent=draw(st.sampled_from([None, 1]))).encode()
    else:
        data = json.dumps({"runs": records, "total": len(records)}, indent=1).encode()
    damage = draw(st.sampled_from(["none", "truncate", "flip", "insert"]))
    if damage != "none" and data:
        at = draw(st.integers(0, len(data) - 1))
        if damage == "truncate":
            data = data[:at]
        elif damage == "flip":
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        else:
            data = data[:at] + draw(st.binary(min_size=1, max_size=6)) + data[at:]
    if draw(st.booleans()):
        data = gzip.compress(data)
        if draw(st.booleans()) and len(data) > 20:
            data = data[: draw(st.integers(10, len(data) - 1))]
    return data


@pytest.mark.filterwarnings("ignore::runnorm.UnknownStatusWarning")  # flipped status words
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_dump())
def test_generated_files_count_every_record_and_raise_nothing(data: bytes) -> None:
    found = items(data)  # nothing escapes: every failure is a RecordError
    assert all(type(i) in (Run, RecordError) for i in found)
    normalized, failed = counts(found)
    code, out, err = invoke("normalize", "-", input=data)
    assert f"records in: {len(found)}, normalized: {normalized}, failed: {failed}" in err
    assert code == (1 if failed else 0) and len(out.splitlines()) == normalized

"""Batch edge cases: long lines, big single objects, odd bytes, secrets in errors, CLI files."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support import ROOT, load

import runnorm
from runnorm import RecordError, Run
from runnorm._batch import documents as documents_module
from runnorm._batch import outfile
from runnorm._batch import records as records_module
from runnorm._cli import app as cli
from runnorm._cli import normalize as cli_normalize

GOOD = {"run_id": "tsk_1", "status": "completed"}
SECRET = "Bearer s3cr3t-value"


MIXED_DUMP = ROOT / "examples" / "mixed-runs.jsonl"


def lines(records: list[Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def invoke(*args: str, input: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli.main, list(args), input=input)
    return result.exit_code, result.stdout_bytes, result.stderr


@pytest.mark.parametrize("compress", [False, True])
def test_a_long_first_line_is_still_json_lines(tmp_path: Path, compress: bool) -> None:
    first = {**GOOD, "run_id": "tsk_big", "padding": "x" * 300_000}
    data = lines([first] + [{**GOOD, "run_id": f"tsk_{i}"} for i in range(18)])
    path = tmp_path / "dump.jsonl"
    path.write_bytes(gzip.compress(data) if compress else data)
    items = list(runnorm.read_dump(path))
    assert [type(i).__name__ for i in items] == ["Run"] * 19
    code, out, err = invoke("normalize", str(path))
    assert code == 0 and len(out.splitlines()) == 19, err


def test_a_large_single_object_is_one_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents_module, "WHOLE_DOCUMENT_LIMIT", 100)
    path = tmp_path / "one.json"
    payload = {**GOOD, "run_request": {"prompt": "p" * 500}}
    path.write_text(json.dumps(payload, indent=2))
    (run,) = list(runnorm.read_dump(path))
    assert isinstance(run, Run) and run.raw == payload
    path.write_text(json.dumps([GOOD, GOOD], indent=2) + "\n[]\n" + json.dumps(GOOD) + "x")
    items = list(runnorm.read_dump(path))  # documents one after another are each read
    assert [type(i).__name__ for i in items] == ["Run", "Run", "Run", "RecordError"]
    assert "cannot be read past byte" in items[-1].reason  # type: ignore[union-attr]


def test_odd_bytes_never_reach_the_output(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(
        lines([GOOD])
        + b"\xef\xbb\xbf"
        + json.dumps({**GOOD, "run_id": "tsk_bom"}).encode()
        + b"\n"
        + b'{"run_id": "tsk_nan", "status": "completed", "step_count": 1, "cost": NaN}\n'
    )
    code, out, err = invoke("normalize", str(path))
    assert code == 1  # NaN is not JSON: that record fails, saying so; the others go on
    documents = [json.loads(line, parse_constant=pytest.fail) for line in out.splitlines()]
    assert [d["id"] for d in documents] == ["tsk_1", "tsk_bom"]
    assert ":3: invalid JSON" in err and "NaN and Infinity are not JSON" in err
    assert "records in: 3, normalized: 2, failed: 1" in err


@pytest.mark.parametrize(
    "line",
    [
        "{'run_id': 'tsk_1', 'status': 'completed', 'totp_secret': '%s'}",  # a Python repr
        '{run_id: "tsk_1", totp_code: "%s"}',  # JavaScript, keys unquoted
        'run_id=tsk_1 extra_http_headers={"Authorization": "%s"}',  # a log line
        '["tsk_1", {"signingKey": "%s"',  # a broken array on a line
        '{"run_id": "tsk_1", "t\\u006ftp_secret": "%s"',  # an escape spelling the key
    ],
    ids=["python-repr", "unquoted-keys", "log-line", "broken-array", "escaped-key"],
)
def test_text_that_is_not_json_is_withheld_when_it_names_a_sensitive_key(
    tmp_path: Path, line: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(lines([GOOD]).decode() + (line % SECRET) + "\n")
    errors = tmp_path / "errors.jsonl"
    code, _, err = invoke("normalize", str(path), "--errors", str(errors))
    assert code == 1 and SECRET not in err
    reported = [json.loads(text) for text in errors.read_text().splitlines()]
    assert reported and all(r["text"] == records_module.WITHHELD for r in reported)


def test_text_that_is_not_json_is_shown_when_it_names_no_sensitive_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(lines([GOOD]) + b"{'run_id': 'tsk_1', 'status': 'completed'}\n")
    (error,) = [i for i in runnorm.read_dump(path) if isinstance(i, RecordError)]
    assert error.text == "{'run_id': 'tsk_1', 'status': 'completed'}"


def test_failed_records_never_show_secrets(tmp_path: Path) -> None:
    bad = {**GOOD, "created_at": "never", "run_request": {"extra_http_headers": {"A": SECRET}}}
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        lines([bad])
        + b'{"run_id": "tsk_2", "extra_http_headers": {"A": "'
        + SECRET.encode()
        + b'"\n'
    )
    errors = tmp_path / "errors.jsonl"
    code, _, err = invoke("normalize", str(path), "--errors", str(errors))
    assert code == 1
    text = errors.read_text()
    assert SECRET not in text and SECRET not in err
    first, second = (json.loads(line) for line in text.splitlines())
    assert "[REDACTED]" in first["text"]
    assert second["text"] == records_module.WITHHELD
    (error,) = [
        i for i in runnorm.read_dump(io.BytesIO(lines([bad]))) if isinstance(i, RecordError)
    ]
    assert SECRET not in error.text


@pytest.mark.parametrize(
    "record",
    [
        [[{"totp_secret": SECRET}]],  # an array inside an array: not a run record
        {**GOOD, "status": {"totp_secret": SECRET}},  # a mistyped field shows its value
        {**GOOD, "created_at": {"extra_http_headers": {"A": SECRET}}},
        {**GOOD, "screenshot_urls": [{"totp_code": SECRET}]},
        {**GOOD, "failure_reason": {"totp_identifier": 123456789}},  # a number
        {**GOOD, "failure_reason": {"totp_secret": SECRET + "x" * 100}},  # shown cut short
    ],
    ids=["nested-array", "status", "timestamp", "list-item", "a-number", "cut-short"],
)
def test_the_reason_of_a_failed_record_never_shows_a_secret(tmp_path: Path, record: Any) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(lines([record]))
    errors = tmp_path / "errors.jsonl"
    code, _, err = invoke("normalize", str(path), "--errors", str(errors))
    assert code == 1
    code, _, err = invoke("normalize", str(path))
    assert code == 1 and "failed: 1" in err
    secret = "123456789" if "123456789" in path.read_text() else SECRET
    for text in (err, errors.read_text()):
        assert secret not in text and secret[:12] not in text
    (error,) = runnorm.read_dump(path)
    assert isinstance(error, RecordError) and secret[:12] not in error.reason
    with pytest.raises(runnorm.DumpError) as raised:
        list(runnorm.read_dump(path, on_error="raise"))
    assert secret[:12] not in str(raised.value)
    bag = pytest.importorskip("dask.bag")
    from runnorm.dask import normalize_bag

    (failed,) = normalize_bag(bag.from_sequence([record]), errors="include").compute(
        scheduler="synchronous"
    )
    assert secret[:12] not in json.dumps(failed)


def test_integers_past_64_bits_are_payload_errors() -> None:
    with pytest.raises(runnorm.PayloadError) as info:
        runnorm.normalize({**GOOD, "step_count": 2**70})
    assert info.value.path == "step_count"


def test_parquet_survives_a_huge_integer_record(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "dump.jsonl"
    path.write_bytes(lines([GOOD, {**GOOD, "run_id": "tsk_2", "step_count": 2**70}]))
    out = tmp_path / "runs.parquet"
    code, _, _ = invoke("normalize", str(path), "-o", str(out))
    assert code == 1
    assert [row["id"] for row in pq.read_table(out).to_pylist()] == ["tsk_1"]


def test_output_files_are_never_read_as_input(tmp_path: Path) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(lines([GOOD]))
    for _ in range(2):
        code, _, err = invoke(
            "normalize",
            str(folder),
            "-o",
            str(folder / "out.jsonl"),
            "--errors",
            str(folder / "errors.jsonl"),
        )
        assert code == 0, err
        assert err.strip().endswith("records in: 1, normalized: 1, failed: 0")


def test_gzip_output(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl.gz"
    source = ROOT / "examples" / "mixed-runs.jsonl"
    assert invoke("normalize", str(source), "-o", str(out))[0] == 0
    with gzip.open(out) as stream:
        assert len(stream.read().splitlines()) == len(source.read_text().splitlines())
    assert invoke("normalize", str(source), "-o", str(tmp_path / "x.parquet.gz"))[0] == 2


def test_cli_file_and_usage_errors(tmp_path: Path) -> None:
    source = str(ROOT / "examples" / "mixed-runs.jsonl")
    code, _, err = invoke("normalize", source, "-o", "/no/such/dir/out.jsonl")
    assert code == 5 and "cannot write" in err and "Traceback" not in err
    assert invoke("normalize", source, "--errors", "/no/such/dir/e.jsonl")[0] == 5
    assert invoke("normalize", "-", "--engine", "dask", input=b"")[0] == 2
    assert invoke("normalize", source, "--scheduler", "tcp://127.0.0.1:1")[0] == 2


@pytest.mark.filterwarnings("always::runnorm.UnknownStatusWarning")
def test_warnings_print_as_one_line(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    path.write_bytes(lines([{**GOOD, "status": "brand_new_word"}]))
    code, _, err = invoke("normalize", str(path))
    assert code == 0
    assert "runnorm: warning: skyvern: unmapped status 'brand_new_word'" in err
    assert "provider.py" not in err


def test_webhook_signature_header_with_non_ascii_is_rejected_cleanly() -> None:
    body = json.dumps(
        load(ROOT / "plugins/runnorm_skyvern/samples/webhook-task-v2-completed.json")
    ).encode()
    headers = {"x-skyvern-signature": "é" * 64, "x-skyvern-timestamp": "1000"}
    with pytest.raises(runnorm.SignatureError):
        runnorm.webhooks.parse("skyvern", body, headers, secret="k", now=1000)
    with pytest.raises(runnorm.ConfigError, match="tolerance"):
        runnorm.webhooks.parse("skyvern", body, headers, secret="k", tolerance=float("nan"))


def test_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "many.jsonl"
    path.write_bytes(lines([{**GOOD, "run_id": f"tsk_{i}"} for i in range(20_000)]))
    shell = f"{sys.executable} -P -m runnorm normalize {path} --jobs 1 | head -c 100 > /dev/null"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "output closed early" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_an_existing_output_file_is_replaced_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str
) -> None:
    from runnorm._batch import shards

    monkeypatch.setattr(shards, "SPLIT_MIN_BYTES", 1)  # --jobs 2 really splits the input
    source = ROOT / "examples" / "mixed-runs.jsonl"
    fresh = tmp_path / "fresh.jsonl"
    assert invoke("normalize", str(source), "-o", str(fresh), "--jobs", jobs)[0] == 0
    for old in (b"old output\n" * 100_000, b"x"):  # longer and shorter than the new output
        reused = tmp_path / "reused.jsonl"
        reused.write_bytes(old)
        reused.chmod(0o640)
        assert invoke("normalize", str(source), "-o", str(reused), "--jobs", jobs)[0] == 0
        assert reused.read_bytes() == fresh.read_bytes()
        assert reused.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.jsonl", "reused.jsonl"]


def test_a_run_killed_midway_leaves_the_previous_output_intact(tmp_path: Path) -> None:
    output = tmp_path / "runs.jsonl"
    output.write_bytes(b'{"old": 1}\n' * 1000)
    sink = outfile.open_output(str(output))
    sink.stream.write(b'{"new": 1}\n')
    sink.stream.flush()  # killed here: commit() never runs
    assert output.read_bytes() == b'{"old": 1}\n' * 1000
    partial = next(p for p in tmp_path.iterdir() if p != output)
    assert partial.name.startswith(".runs.jsonl.runnorm-") and partial.name.endswith(".partial")
    sink.commit()
    assert output.read_bytes() == b'{"new": 1}\n' and list(tmp_path.iterdir()) == [output]


def test_an_output_symlink_is_written_through(tmp_path: Path) -> None:
    target = tmp_path / "target.jsonl"
    target.write_bytes(b"old\n" * 1000)
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    assert invoke("normalize", str(ROOT / "examples" / "mixed-runs.jsonl"), "-o", str(link))[0] == 0
    assert link.is_symlink()
    assert len(target.read_bytes().splitlines()) == 17


def test_an_input_named_as_the_output_is_read_whole_then_replaced(tmp_path: Path) -> None:
    import subprocess
    import sys

    dump = tmp_path / "runs.jsonl"
    source = (ROOT / "examples" / "mixed-runs.jsonl").read_bytes()
    dump.write_bytes(source)
    code, _, err = invoke("normalize", str(dump), "-o", str(dump))
    assert code == 0 and "records in: 17, normalized: 17" in err
    versions = [json.loads(line)["schema_version"] for line in dump.read_bytes().splitlines()]
    assert versions == [runnorm.SCHEMA_VERSION] * 17
    dump.write_bytes(source)  # the same through stdin
    with dump.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-P", "-m", "runnorm", "normalize", "-", "-o", str(dump)],
            stdin=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0 and "normalized: 17" in done.stderr, done.stderr
    assert len(dump.read_bytes().splitlines()) == 17
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.jsonl"]


def test_errors_file_must_be_a_file_of_its_own(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"")
    code, _, err = invoke("normalize", str(MIXED_DUMP), "-o", str(out), "--errors", str(out))
    assert code == 2 and "--errors" in err


def test_an_interrupted_run_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(files: Any, options: Any, output: Any, **_: Any) -> None:
        output.write(b'{"half": "written"}\n')
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_normalize, "run_batch", interrupted)
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"previous": 1}\n' * 1000)
    result = CliRunner().invoke(cli.main, ["normalize", str(MIXED_DUMP), "-o", str(out)])
    assert result.exit_code == 130
    assert "interrupted; output discarded" in result.output
    assert list(tmp_path.iterdir()) == [out]  # no half output, no hidden file
    assert out.read_bytes() == b'{"previous": 1}\n' * 1000


def test_sigterm_deletes_the_unfinished_output(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "runnorm", "normalize", "-", "-o", str(out)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(MIXED_DUMP.read_bytes())
    process.stdin.flush()  # stdin stays open: the run is waiting for more
    deadline = time.monotonic() + 30
    while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    process.stdin.close()
    assert list(tmp_path.iterdir()) == []


def test_an_errors_file_that_fails_publishes_no_output(tmp_path: Path) -> None:
    dump = tmp_path / "bad.jsonl"
    dump.write_bytes(b"not json at all, line after line\n" * 5000)
    out = tmp_path / "out.jsonl"
    code, _, err = invoke("normalize", str(dump), "-o", str(out), "--errors", "/dev/full")
    assert code == 5, err
    assert "No space left on device" in err
    assert list(tmp_path.iterdir()) == [dump]  # no output, no hidden file


def test_a_full_stdout_is_one_error_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-P", "-m", "runnorm", "normalize", str(MIXED_DUMP)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if "No space" in line]) == 1


def test_an_unfinished_output_is_never_published_by_the_garbage_collector(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out.jsonl"
    sink = outfile.open_output(str(target))
    sink.stream.write(b'{"half": "written"}\n')
    del sink  # dropped without commit(): nothing is published
    import gc

    gc.collect()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_second_run_over_a_directory_skips_its_own_output_there(
    tmp_path: Path, engine: str
) -> None:
    if engine == "dask":
        pytest.importorskip("dask.bag")
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / "runs.jsonl").write_bytes(MIXED_DUMP.read_bytes())
    out = folder / "out.jsonl"
    first = invoke("normalize", str(folder), "--engine", engine, "-o", str(out))
    assert first[0] == 0, first[2]
    published = out.read_bytes()
    again = invoke("normalize", str(folder), "--engine", engine, "-o", str(out))
    assert again[0] == 0 and again[2] == first[2], again[2]
    assert out.read_bytes() == published


def test_a_failure_line_on_a_terminal_shows_control_characters_escaped(tmp_path: Path) -> None:
    path = tmp_path / "evil\x1b[2J\x1b]0;owned\x07.jsonl"
    path.write_bytes(lines([GOOD]) + b"not json\n")
    result = CliRunner().invoke(cli.main, ["normalize", str(path)], color=True)  # as a tty
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "evil\\x1b[2J" in result.stderr and ".jsonl:2: invalid JSON" in result.stderr

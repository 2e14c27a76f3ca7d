"""The command line: providers, schema and normalize, with exit codes and redaction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import ROOT, MakeDist, load, sample_files

import runnorm
from runnorm._cli import app as cli
from runnorm._cli import info as cli_info

EXAMPLE = ROOT / "examples" / "mixed-runs.jsonl"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_providers_json_when_piped(runner: CliRunner) -> None:
    result = runner.invoke(cli.main, ["providers"])
    assert result.exit_code == 0, result.output
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert set(listed) >= {"skyvern", "browserbase", "bridgetown"}
    assert listed["skyvern"]["statuses"]["terminated"] == "canceled"
    assert listed["bridgetown"]["package"] == "runnorm"
    assert listed["browserbase"]["error"] is None


def test_providers_table_on_a_terminal_shows_load_errors(
    runner: CliRunner, make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dist(
        "runnorm-broken",
        "runnorm_broken_cli",
        "raise ImportError('no way')\n",
        {"broken": "runnorm_broken_cli"},
    )
    monkeypatch.setattr(cli_info, "stdout_is_terminal", lambda: True)
    result = runner.invoke(cli.main, ["providers"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "PACKAGE", "VERSION", "CAPABILITIES", "STATUSES"]
    skyvern = next(line for line in lines if line.startswith("skyvern"))
    assert "runnorm" in skyvern and "completed=succeeded" in skyvern
    assert "Load errors:" in result.stdout
    assert "broken (runnorm-broken, broken = runnorm_broken_cli): could not import" in result.stdout


def test_schema_prints_the_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(cli.main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == runnorm.json_schema()


def test_normalize_example_dump(runner: CliRunner) -> None:
    result = runner.invoke(cli.main, ["normalize", str(EXAMPLE)])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    documents = [json.loads(line) for line in lines]
    assert len(documents) == len(EXAMPLE.read_text().splitlines())
    assert {d["provider"] for d in documents} == {"skyvern", "browserbase", "bridgetown"}
    assert result.stderr.strip().splitlines()[-1] == (
        f"records in: {len(documents)}, normalized: {len(documents)}, failed: 0"
    )
    restored = [runnorm.Run.from_dict(d) for d in documents]
    assert restored[0].provider == "skyvern"


def test_normalize_a_json_file_with_one_run_and_an_array(runner: CliRunner, tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(load(sample_files("bridgetown")[0]), indent=2))
    array = tmp_path / "array.json"
    array.write_text(json.dumps([load(p) for p in sample_files("browserbase")[:3]], indent=2))
    result = runner.invoke(cli.main, ["normalize", str(one), str(array)])
    assert result.exit_code == 0, result.stderr
    providers = [json.loads(line)["provider"] for line in result.stdout.splitlines()]
    assert providers == ["bridgetown", "browserbase", "browserbase", "browserbase"]


def test_normalize_wrapper_copies_shared_fields(runner: CliRunner) -> None:
    dump = (
        ROOT / "plugins" / "runnorm_bridgetown" / "samples" / "dumps" / "list-runs-forecasts.json"
    )
    result = runner.invoke(cli.main, ["normalize", str(dump)])
    assert result.exit_code == 0, result.stderr
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(documents) == len(load(dump)["runs"])
    assert {d["extra"]["project_name"] for d in documents} == {"forecasts"}


def test_failed_records_are_reported_with_line_and_exit_1(
    runner: CliRunner, tmp_path: Path
) -> None:
    dump = tmp_path / "dump.jsonl"
    good = json.dumps({"run_id": "tsk_1", "status": "completed"})
    dump.write_text("\n".join([good, "{not json", "[1, 2]", '{"who": "knows"}', "", good]) + "\n")
    result = runner.invoke(cli.main, ["normalize", str(dump)])
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 2
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"{dump}:2: invalid JSON")
    assert errors[1].startswith(f"{dump}:3[0]: ") and "JSON object" in errors[1]
    assert errors[3].startswith(f"{dump}:4: ") and "no installed provider" in errors[3]
    assert errors[-1] == "records in: 6, normalized: 2, failed: 4"


def test_strict_stops_at_first_failure(runner: CliRunner, tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    good = json.dumps({"run_id": "tsk_1", "status": "completed"})
    dump.write_text("\n".join([good, "{bad", good, good]) + "\n")
    result = runner.invoke(cli.main, ["normalize", "--strict", str(dump)])
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr.splitlines()[-1] == "records in: 2, normalized: 1, failed: 1"


def test_explicit_provider_and_unknown_provider(runner: CliRunner, tmp_path: Path) -> None:
    dump = tmp_path / "runs.jsonl"
    dump.write_text(json.dumps({"run_id": "odd-id", "status": "completed"}) + "\n")
    assert runner.invoke(cli.main, ["normalize", str(dump)]).exit_code == 1
    result = runner.invoke(cli.main, ["normalize", "-p", "skyvern", str(dump)])
    assert result.exit_code == 0 and json.loads(result.stdout)["id"] == "odd-id"
    result = runner.invoke(cli.main, ["normalize", "-p", "skyvren", str(dump)])
    assert result.exit_code == 5
    assert "Did you mean 'skyvern'?" in result.stderr


def test_missing_input_exits_5_and_usage_errors_exit_2(runner: CliRunner) -> None:
    result = runner.invoke(cli.main, ["normalize", "/no/such/file.jsonl"])
    assert result.exit_code == 5 and "no such file" in result.stderr
    assert runner.invoke(cli.main, ["normalize"]).exit_code == 2
    assert runner.invoke(cli.main, ["frobnicate"]).exit_code == 2


def test_stdin_and_output_file(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    data = EXAMPLE.read_bytes()
    result = runner.invoke(cli.main, ["normalize", "-", "-o", str(out)], input=data)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert len(out.read_text().splitlines()) == len(data.splitlines())


def test_secrets_in_payloads_are_redacted_unless_asked(runner: CliRunner, tmp_path: Path) -> None:
    sample = ROOT / "plugins/runnorm_skyvern/samples/get-run-task-v2-completed-full.json"
    secret = load(sample)["run_request"]["extra_http_headers"]["Authorization"]
    result = runner.invoke(cli.main, ["normalize", str(sample)])
    assert result.exit_code == 0
    assert secret not in result.stdout
    document = json.loads(result.stdout)
    assert document["raw"]["run_request"]["extra_http_headers"] == "[REDACTED]"
    assert document["extra"]["run_request"]["extra_http_headers"] == "[REDACTED]"
    assert document["raw"]["run_request"]["prompt"]  # the rest is intact
    kept = runner.invoke(cli.main, ["normalize", "--no-redact", str(sample)])
    assert secret in kept.stdout


def test_cli_runs_as_a_module_and_as_a_script(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-P", "-m", "runnorm", "normalize", str(EXAMPLE)],
        capture_output=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.decode().strip().endswith("failed: 0")


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli.main, ["--version"])
    assert result.exit_code == 0 and runnorm.__version__ in result.stdout


def test_version_names_the_version_only() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-P", "-m", "runnorm", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == f"runnorm {runnorm.__version__}"


def test_an_empty_path_is_missing_input_not_the_current_directory(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "runs.jsonl").write_text('{"run_id": "tsk_1", "status": "completed"}\n')
    monkeypatch.chdir(tmp_path)
    for engine in ("local", "dask"):
        result = runner.invoke(cli.main, ["normalize", "", "--engine", engine])
        assert result.exit_code == 5, (engine, result.output)
        assert result.stdout == ""
        assert "empty path" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["normalize", "runs.jsonl", "-o", ""],
        ["normalize", "runs.jsonl", "--errors", ""],
        ["list", "skyvern", "-o", ""],
        ["list", "skyvern", "--checkpoint", ""],
        ["artifacts", "skyvern", "tsk_1", "--download", ""],
    ],
)
def test_an_empty_output_name_is_a_usage_error(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    (tmp_path / "runs.jsonl").write_text('{"run_id": "tsk_1", "status": "completed"}\n')
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli.main, args)
    assert result.exit_code == 2, result.output
    assert "an empty name is not a path" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.jsonl"]  # nothing written


def test_an_empty_path_is_a_dump_error_in_the_library_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runnorm.dask

    (tmp_path / "runs.jsonl").write_text('{"run_id": "tsk_1", "status": "completed"}\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(runnorm.DumpError, match="empty path"):
        list(runnorm.read_dump(""))
    with pytest.raises(runnorm.DumpError, match="empty path"):
        runnorm.dask.read_dumps([""])

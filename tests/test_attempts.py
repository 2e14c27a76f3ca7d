"""Runs over time in the model: attempts, retry_pending, next_attempt_at, in every output."""

from __future__ import annotations

import csv
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from support import ROOT, load, sample_files

import runnorm
from runnorm import Attempt, PayloadError, Run, RunError, RunStatus, Timing
from runnorm._batch.writers import COLUMNS, flatten, parquet_schema
from runnorm._cli import app as cli

SKYVERN = ROOT / "plugins" / "runnorm_skyvern" / "samples"
PENDING = SKYVERN / "get-run-workflow-run-failed-retry-pending.json"
SECOND = SKYVERN / "get-run-workflow-run-completed-second-attempt.json"


def skyvern(name: str) -> Run:
    return runnorm.normalize(load(SKYVERN / f"{name}.json"))


def retried_run() -> Run:
    at = datetime(2026, 9, 21, 8, 0, tzinfo=UTC)
    return Run(
        provider="skyvern",
        id="wr_1",
        status=RunStatus.FAILED,
        native_status="failed",
        timing=Timing(created_at=at, next_attempt_at=at.replace(minute=5)),
        attempt=1,
        retry_pending=True,
        attempts=(
            Attempt(
                number=1,
                status=RunStatus.FAILED,
                native_status="failed",
                started_at=at,
                finished_at=at.replace(second=40),
                error=RunError("NAVIGATION_FAILED", "no route", ({"error_code": "X"},)),
                extra={"retry_decision": "retry"},
            ),
        ),
    )


def test_a_failed_run_with_a_retry_pending_is_not_terminal() -> None:
    run = retried_run()
    assert run.status is RunStatus.FAILED and run.status.is_terminal  # the word alone
    assert not run.is_terminal and not run.ok
    done = attrs.evolve(run, retry_pending=False)
    assert done.is_terminal and not done.ok
    assert attrs.evolve(run, status=RunStatus.SUCCEEDED, retry_pending=False).ok


def test_new_fields_default_empty_and_are_keyword_only() -> None:
    run = Run("p", "1", RunStatus.RUNNING, "running")  # positional construction unchanged
    assert (run.attempt, run.retry_pending, run.attempts) == (None, False, ())
    assert run.timing.next_attempt_at is None
    fields = {f.name: f for f in attrs.fields(Run)}
    assert all(fields[name].kw_only for name in ("attempt", "retry_pending", "attempts"))


def test_to_dict_round_trips_attempts_and_next_attempt_at() -> None:
    run = retried_run()
    document = run.to_dict()
    assert document["schema_version"] == runnorm.SCHEMA_VERSION == 2
    assert document["attempt"] == 1 and document["retry_pending"] is True
    assert document["timing"]["next_attempt_at"] == "2026-09-21T08:05:00+00:00"
    assert document["attempts"] == [
        {
            "number": 1,
            "status": "failed",
            "native_status": "failed",
            "started_at": "2026-09-21T08:00:00+00:00",
            "finished_at": "2026-09-21T08:00:40+00:00",
            "error": {
                "code": "NAVIGATION_FAILED",
                "message": "no route",
                "details": [{"error_code": "X"}],
            },
            "extra": {"retry_decision": "retry"},
        }
    ]
    assert Run.from_dict(json.loads(json.dumps(document))) == run
    jsonschema.Draft202012Validator(runnorm.json_schema()).validate(
        json.loads(json.dumps(document))
    )


def test_batch_encoder_writes_the_attempts_as_to_dict_does() -> None:
    from runnorm._model.encoding import encode_run

    run = retried_run()
    assert json.loads(encode_run(run)) == json.loads(json.dumps(run.to_dict()))


def test_version_1_documents_still_load_with_the_defaults() -> None:
    document = runnorm.normalize({"run_id": "tsk_1", "status": "completed"}).to_dict()
    for key in ("attempt", "retry_pending", "attempts"):
        del document[key]
    del document["timing"]["next_attempt_at"]
    document["schema_version"] = 1
    run = Run.from_dict(document)
    assert (run.attempt, run.retry_pending, run.attempts) == (None, False, ())
    with pytest.raises(PayloadError, match="schema_version"):
        Run.from_dict({**document, "schema_version": 3})
    with pytest.raises(PayloadError, match="schema_version"):
        Run.from_dict({**document, "schema_version": True})


@pytest.mark.parametrize(
    "bad",
    [
        {"retry_pending": "false"},
        {"attempt": "one"},
        {"attempts": [{"number": 1, "status": "nope", "native_status": "x"}]},
        {"attempts": [{"status": "failed", "native_status": "failed"}]},
        {"attempts": "text"},
    ],
)
def test_from_dict_refuses_bad_attempt_fields(bad: dict[str, Any]) -> None:
    document = {**retried_run().to_dict(), **bad}
    with pytest.raises(PayloadError):
        Run.from_dict(document)


def test_json_schema_describes_attempts() -> None:
    schema = runnorm.json_schema()
    assert schema["properties"]["schema_version"] == {"const": 2}
    assert schema["properties"]["retry_pending"] == {"type": "boolean"}
    assert schema["properties"]["attempts"]["items"] == {"$ref": "#/$defs/Attempt"}
    attempt = schema["$defs"]["Attempt"]
    assert list(attempt["properties"]) == [
        "number",
        "status",
        "native_status",
        "started_at",
        "finished_at",
        "error",
        "extra",
    ]
    assert "next_attempt_at" in schema["$defs"]["Timing"]["properties"]


def test_other_providers_leave_the_attempt_fields_empty() -> None:
    for path in sample_files("browserbase") + sample_files("bridgetown"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", runnorm.UnknownStatusWarning)
            run = runnorm.normalize(load(path))
        assert (run.attempt, run.retry_pending, run.attempts) == (None, False, ()), path.name
        assert run.timing.next_attempt_at is None


def test_field_reader_reads_next_attempt_at_into_the_timing() -> None:
    r = runnorm.Fields("x").read({"next_attempt_at": "2026-09-21T08:05:41.731002", "a": 1})
    timing = r.timing(created="created_at", next_attempt="next_attempt_at")
    assert timing.next_attempt_at == datetime(2026, 9, 21, 8, 5, 41, 731002, tzinfo=UTC)
    assert r.rest() == {"a": 1}
    with pytest.raises(PayloadError, match="next_attempt_at"):
        runnorm.Fields("x").read({"next_attempt_at": "soon"}).timing(next_attempt="next_attempt_at")


# -- outputs ----------------------------------------------------------------------------------


def invoke(*args: str) -> int:
    from click.testing import CliRunner

    return CliRunner().invoke(cli.main, list(args)).exit_code


def test_csv_has_attempt_columns_and_attempts_as_json_text(tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    assert invoke("normalize", str(PENDING), str(SECOND), "-o", str(out)) == 0
    with out.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == list(COLUMNS)
    assert COLUMNS[-4:] == ("attempt", "retry_pending", "timing.next_attempt_at", "attempts")
    pending, second = rows
    assert (pending["attempt"], pending["retry_pending"]) == ("1", "true")
    assert pending["timing.next_attempt_at"] == "2026-09-21T08:05:41.731002+00:00"
    assert (second["attempt"], second["retry_pending"], second["timing.next_attempt_at"]) == (
        "2",
        "false",
        "",
    )
    attempts = json.loads(second["attempts"])
    assert [(a["number"], a["status"]) for a in attempts] == [(1, "failed"), (2, "succeeded")]
    assert attempts[0]["extra"]["decision_reason"] == "matched"
    other = flatten(runnorm.normalize({"run_id": "tsk_1", "status": "running"}).to_dict())
    assert (other["attempt"], other["retry_pending"], other["attempts"]) == (None, "false", "[]")


def test_parquet_has_attempts_as_a_list_of_structs(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "runs.parquet"
    assert invoke("normalize", str(PENDING), str(SECOND), "-o", str(out)) == 0
    table = pq.read_table(out)
    schema = table.schema
    assert str(schema.field("attempt").type) == "int64"
    assert str(schema.field("retry_pending").type) == "bool"
    assert str(schema.field("timing.next_attempt_at").type) == "timestamp[us, tz=UTC]"
    assert schema.field("attempts").type == parquet_schema().field("attempts").type
    assert str(schema.field("attempts").type).startswith("list<element: struct<number: int64")
    pending, second = table.to_pylist()
    assert pending["retry_pending"] is True and pending["attempt"] == 1
    assert pending["timing.next_attempt_at"] == datetime(2026, 9, 21, 8, 5, 41, 731002, tzinfo=UTC)
    first, last = second["attempts"]
    assert (first["number"], first["status"], last["status"]) == (1, "failed", "succeeded")
    assert first["error"]["code"] == "NAVIGATION_FAILED"
    assert json.loads(first["error"]["details"]) == [{"error_code": "NAVIGATION_FAILED"}]
    assert json.loads(first["extra"])["retry_decision"] == "retry"
    assert last["error"] is None and last["finished_at"].tzinfo is not None


def test_parquet_batches_with_and_without_attempts_keep_each_runs_own(tmp_path: Path) -> None:
    """Batches of runs without attempts share one cached column of empty lists; a batch
    with one run that has them converts them all; the row counts of each line up."""
    pq = pytest.importorskip("pyarrow.parquet")
    from runnorm._batch.writers import ParquetWriter, _Batches, run_row

    with_attempts = skyvern("get-run-workflow-run-completed-second-attempt")
    plain = runnorm.normalize({"run_id": "tsk_1", "status": "running"})
    runs = [plain] * 2_500
    runs[1_700] = with_attempts
    out = tmp_path / "mixed.parquet"
    with out.open("wb") as stream:
        writer = ParquetWriter(stream)
        for run in runs:
            writer.write(run_row(run))
        writer.close()
    column = pq.read_table(out).column("attempts").to_pylist()
    assert len(column) == 2_500 and _Batches.SIZE < 1_700
    assert [i for i, attempts in enumerate(column) if attempts] == [1_700]
    assert [a["number"] for a in column[1_700]] == [a.number for a in with_attempts.attempts]


def test_parquet_from_to_dict_documents_parses_attempt_timestamps(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    from runnorm._batch.writers import ParquetWriter, flat_row

    with (tmp_path / "one.parquet").open("wb") as stream:
        writer = ParquetWriter(stream)
        writer.write(flat_row(skyvern("get-run-workflow-run-completed-second-attempt").to_dict()))
        writer.close()
    row = pa.parquet.read_table(tmp_path / "one.parquet").to_pylist()[0]
    assert row["attempts"][0]["started_at"] == datetime(2026, 9, 21, 8, 0, 4, 402119, tzinfo=UTC)


def test_summarize_counts_retry_pending() -> None:
    runs = [
        skyvern("get-run-workflow-run-failed-retry-pending"),
        skyvern("list-item-workflow-run-failed-retry-pending"),
        skyvern("get-run-workflow-run-completed-second-attempt"),
    ]
    summary = runnorm.summarize(runs)
    assert summary.retry_pending == 2
    assert summary.to_dict()["retry_pending"] == 2
    assert summary.by_provider() == {"skyvern": {"succeeded": 1, "failed": 2}}
    assert summary.table().splitlines()[-1] == "retry pending: 2"
    other = runnorm.summarize(runs[2:])
    assert other.retry_pending == 0 and "retry pending" not in other.table()
    other.merge(summary)
    assert other.retry_pending == 2


def test_normalize_summary_line_counts_retry_pending(tmp_path: Path) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(
        cli.main, ["normalize", str(PENDING), "-o", str(tmp_path / "o.jsonl"), "--summary"]
    )
    assert result.exit_code == 0
    assert "retry pending: 1" in result.stderr

"""runnorm watch against a loopback server: one line per event, exit codes, the key masked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

import runnorm
from runnorm._cli import app as cli
from runnorm._cli import watch as cli_watch
from runnorm._errors import ConfigError
from runnorm._live.when import parse_when
from runnorm.testing import FakeProviderServer, Reply

KEY = "sk-test-cli-watch-0123456789"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviderServer]:
    monkeypatch.setenv("SKYVERN_API_KEY", KEY)
    with FakeProviderServer(auth=("x-api-key", KEY)) as fake:
        monkeypatch.setenv("SKYVERN_BASE_URL", fake.url)
        yield fake


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, ["watch", *args])
    return result.exit_code, result.stdout, result.stderr


def run(run_id: str, status: str, attempt: int | None = None, pending: bool = False) -> dict:
    body = {
        "run_id": run_id,
        "status": status,
        "run_request": {"prompt": "p", "extra_http_headers": {"Authorization": "Bearer s3"}},
    }
    if attempt is not None:
        body.update(attempt=attempt, retry_pending=pending)
    return body


def play(server: FakeProviderServer, run_id: str, *steps: dict) -> None:
    *first, last = steps
    server.script(f"/v1/runs/{run_id}", *(Reply(200, step) for step in first))
    server.routes[f"/v1/runs/{run_id}"] = last


def test_json_lines_when_piped_one_per_change(server: FakeProviderServer) -> None:
    play(
        server,
        "wr_1",
        run("wr_1", "running", 1),
        run("wr_1", "failed", 1, pending=True),
        run("wr_1", "completed", 2),
    )
    play(server, "wr_2", run("wr_2", "queued"), run("wr_2", "completed"))
    code, out, _ = invoke("skyvern", "wr_1", "wr_2", "--interval", "0.01")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    mine = [(r["status"], r["attempt"], r["retry_pending"]) for r in lines if r["run_id"] == "wr_1"]
    assert mine == [("running", 1, False), ("failed", 1, True), ("succeeded", 2, False)]
    assert [r["status"] for r in lines if r["run_id"] == "wr_2"] == ["queued", "succeeded"]
    second = next(r for r in lines if r["run_id"] == "wr_1" and r["retry_pending"])
    assert second["previous"] == {
        "status": "running",
        "native_status": "running",
        "attempt": 1,
        "retry_pending": False,
    }
    assert second["source"] == "poll" and second["error"] is None
    assert second["run"]["schema_version"] == 2 and datetime.fromisoformat(second["at"])
    assert "Bearer s3" not in out and "[REDACTED]" in out  # the run's secrets redacted


def test_a_table_row_per_event_on_a_terminal(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_watch, "stdout_is_terminal", lambda: True)
    play(server, "wr_1", run("wr_1", "failed", 1, pending=True), run("wr_1", "completed", 2))
    code, out, _ = invoke("skyvern", "wr_1", "--interval", "0.01")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].endswith("wr_1  failed (failed) attempt 1, retry pending")
    assert rows[1].endswith("wr_1  succeeded (completed) attempt 2")


@pytest.mark.parametrize(
    ("finals", "code"),
    [
        (("completed", "completed"), 0),
        (("completed", "failed"), 1),
        (("canceled", "failed"), 3),  # the first run (in argument order) that did not succeed
        (("timed_out", "completed"), 4),
    ],
)
def test_exit_code_is_the_wait_code_of_the_first_run_that_did_not_succeed(
    server: FakeProviderServer, finals: tuple[str, str], code: int
) -> None:
    for run_id, final in zip(("wr_a", "wr_b"), finals, strict=True):
        play(server, run_id, run(run_id, "running"), run(run_id, final))
    assert invoke("skyvern", "wr_a", "wr_b", "--interval", "0.01")[0] == code


def test_a_retry_pending_failure_is_not_the_outcome(server: FakeProviderServer) -> None:
    play(server, "wr_r", run("wr_r", "failed", 1, pending=True), run("wr_r", "failed", 2))
    assert invoke("skyvern", "wr_r", "--interval", "0.01")[0] == 1
    play(server, "wr_s", run("wr_s", "failed", 1, pending=True), run("wr_s", "completed", 2))
    assert invoke("skyvern", "wr_s", "--interval", "0.01")[0] == 0


def test_a_missing_run_exits_5_after_the_others_finish(server: FakeProviderServer) -> None:
    play(server, "wr_ok", run("wr_ok", "running"), run("wr_ok", "completed"))
    code, out, _ = invoke("skyvern", "wr_ok", "wr_gone", "--interval", "0.01")
    assert code == 5
    lines = [json.loads(line) for line in out.splitlines()]
    (gone,) = [r for r in lines if r["run_id"] == "wr_gone"]
    assert gone["error"]["type"] == "NotFoundError" and gone["run"] is None
    assert [r["status"] for r in lines if r["run_id"] == "wr_ok"] == ["running", "succeeded"]


def test_the_deadline_exits_4(server: FakeProviderServer) -> None:
    server.routes["/v1/runs/wr_busy"] = run("wr_busy", "running")
    code, out, err = invoke("skyvern", "wr_busy", "--timeout", "0.3", "--interval", "0.05")
    assert code == 4
    assert "unfinished after 0.3 s" in err and len(out.splitlines()) == 1


def test_usage_errors_exit_2(server: FakeProviderServer) -> None:
    assert invoke("skyvern")[0] == 2  # no ids and no --since
    assert invoke("skyvern", "wr_1", "--follow")[0] == 2  # --follow needs --since
    assert invoke("skyvern", "wr_1", "--since", "last tuesday")[0] == 2
    assert invoke("skyvern", "wr_1", "--interval", "0")[0] == 2
    assert server.requests == []


def test_since_discovers_runs_through_the_listing(server: FakeProviderServer) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    items = [
        {"run_id": run_id, "status": "running", "created_at": (now - ago).isoformat()}
        for run_id, ago in (("tsk_new", timedelta(minutes=5)), ("tsk_newer", timedelta(0)),
                            ("tsk_old", timedelta(hours=5)))
    ]  # fmt: skip
    server.script("/v1/runs", Reply(200, [items[1], items[0], items[2]]))  # newest first
    for item in items:
        server.routes[f"/v1/runs/{item['run_id']}"] = run(item["run_id"], "completed")
    code, out, err = invoke("skyvern", "--since", "2h", "--interval", "0.01")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["run_id"], e["source"]) for e in events[:2]] == [
        ("tsk_newer", "list"),
        ("tsk_new", "list"),
    ]
    assert {e["run_id"] for e in events} == {"tsk_new", "tsk_newer"}  # not the older one
    assert all(e["status"] == "succeeded" for e in events[2:])
    assert len(server.requests_to("/v1/runs")) == 1


def test_the_key_never_reaches_the_output(server: FakeProviderServer) -> None:
    server.script("/v1/runs/wr_echo", Reply(400, {"detail": f"no such key {KEY}"}))
    server.routes["/v1/runs/wr_ok"] = {**run("wr_ok", "completed"), "note": KEY}
    code, out, err = invoke("skyvern", "wr_echo", "wr_ok", "--interval", "0.01")
    assert code == 5
    assert KEY not in out and KEY not in err and "***" in out


def test_when_parses_iso_and_spans_as_list_does() -> None:
    # One reading of WHEN for watch and list (runnorm._live.when), naive ISO text as UTC.
    now = datetime(2026, 9, 21, 12, 0, tzinfo=UTC)
    assert parse_when("--since", "2h", now=now) == now - timedelta(hours=2)
    assert parse_when("--since", "1h30m", now=now) == now - timedelta(minutes=90)
    assert parse_when("--since", "7d", now=now) == now - timedelta(days=7)
    assert parse_when("--since", "2026-09-01T00:00:00") == datetime(2026, 9, 1, tzinfo=UTC)
    assert parse_when("--since", "2026-09-01T02:00:00+02:00") == datetime(2026, 9, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="soon"):
        parse_when("--since", "soon")


def test_watch_reads_since_as_list_runs_does() -> None:
    with pytest.raises(ConfigError, match="naive datetime"):
        runnorm.watch("skyvern", since=datetime(2026, 1, 1), api_key="k")
    with pytest.raises(ConfigError, match="span"):
        runnorm.watch("skyvern", since="yesterday-ish", api_key="k")


def test_a_failed_discovery_is_exit_5(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-watch-discovery-0123456789"
    with FakeProviderServer(auth=("x-api-key", key)) as server:
        server.handlers["/v1/runs"] = lambda request: Reply(401, {"detail": f"bad {key}"})
        monkeypatch.setenv("SKYVERN_API_KEY", key)
        for extra in ([], ["--follow"]):
            code, out, err = invoke(
                "skyvern", "--since", "1h", "--timeout", "2", "--base-url", server.url, *extra
            )
            assert code == 5, (extra, out, err)
            assert key not in out and key not in err

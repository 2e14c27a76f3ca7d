"""runnorm list: the records of normalize, incremental sync with --checkpoint, exit codes.

The listed runs are compared with what ``runnorm normalize`` writes for the same payloads
(byte for byte for the same JSON Lines, record for record for the providers' own dump
shapes); a checkpoint carries a sync across three calls with runs added and changed in
between, for each provider; faults publish what was written and leave the checkpoint alone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from list_servers import BrowserbaseApi, SkyvernApi, at
from mcp_server import BridgeTownServer, running_bridgetown_server
from support import MakeDist, acme_source
from test_listing import bridgetown_runs

from runnorm._cli import app as cli
from runnorm._cli import listing as cli_listing
from runnorm.testing import FakeProviderServer, Reply

SKYVERN_KEY = "sk-cli-list-0123456789"
BROWSERBASE_KEY = "bb_live_cli_0123456789"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def skyvern(monkeypatch: pytest.MonkeyPatch) -> Iterator[SkyvernApi]:
    monkeypatch.setenv("SKYVERN_API_KEY", SKYVERN_KEY)
    with FakeProviderServer(auth=("x-api-key", SKYVERN_KEY)) as server:
        monkeypatch.setenv("SKYVERN_BASE_URL", server.url)
        yield SkyvernApi(server)


@pytest.fixture
def browserbase(monkeypatch: pytest.MonkeyPatch) -> Iterator[BrowserbaseApi]:
    monkeypatch.setenv("BROWSERBASE_API_KEY", BROWSERBASE_KEY)
    with FakeProviderServer(auth=("X-BB-API-Key", BROWSERBASE_KEY)) as server:
        monkeypatch.setenv("BROWSERBASE_BASE_URL", server.url)
        yield BrowserbaseApi(server)


@pytest.fixture(scope="module")
def bridgetown_server() -> Iterator[BridgeTownServer]:
    with running_bridgetown_server(runs={}) as server:
        yield server


@pytest.fixture
def bridgetown(
    bridgetown_server: BridgeTownServer, monkeypatch: pytest.MonkeyPatch
) -> BridgeTownServer:
    bridgetown_server.reset(bridgetown_runs(40))
    monkeypatch.setenv("BRIDGETOWN_API_KEY", bridgetown_server.token)
    monkeypatch.setenv("BRIDGETOWN_MCP_URL", bridgetown_server.url)
    return bridgetown_server


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def fill(api: SkyvernApi | BrowserbaseApi, count: int, start: int = 0) -> None:
    words = ("running", "completed", "failed") if isinstance(api, SkyvernApi) else (
        "RUNNING", "COMPLETED", "FAILED")  # fmt: skip
    for number in range(start, start + count):
        api.put(number, number, words[number % 3])


# -- the same records as normalize ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_listed_runs_are_byte_for_byte_what_normalize_writes(
    skyvern: SkyvernApi, tmp_path: Path, fmt: str
) -> None:
    fill(skyvern, 150)
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(b"".join(orjson.dumps(i) + b"\n" for i in skyvern.newest_first()))
    listed, normalized = tmp_path / f"listed.{fmt}", tmp_path / f"normalized.{fmt}"
    code, _, err = invoke("list", "skyvern", "-o", str(listed))
    assert code == 0, err
    assert "listed: 150, written: 150" in err
    code, _, err = invoke("normalize", str(dump), "-p", "skyvern", "-o", str(normalized))
    assert code == 0, err
    assert listed.read_bytes() == normalized.read_bytes()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(listed.read_text())))
        assert len(rows) == 150 and rows[0]["id"] == "tsk_00149"


def test_piped_output_is_json_lines_and_full_runs_match_normalized_get_payloads(
    skyvern: SkyvernApi, tmp_path: Path
) -> None:
    fill(skyvern, 30)
    code, out, _ = invoke("list", "skyvern")
    assert code == 0 and [r["id"] for r in lines(out)][:2] == ["tsk_00029", "tsk_00028"]
    # --full: the get-run payloads, with a secret the output redacts as normalize does.
    for item in skyvern.items.values():
        route = skyvern.server.routes[f"/v1/runs/{item['run_id']}"]
        route["run_request"]["extra_http_headers"] = {"Authorization": "Bearer s3cret"}
    payloads = [skyvern.server.routes[f"/v1/runs/{i['run_id']}"] for i in skyvern.newest_first()]
    dump = tmp_path / "get-runs.json"
    dump.write_text(json.dumps(payloads, indent=2))  # a JSON array, pretty-printed
    code, out, _ = invoke("list", "skyvern", "--full")
    assert code == 0 and "s3cret" not in out
    _, normalized, _ = invoke("normalize", str(dump), "-p", "skyvern")
    assert lines(out) == lines(normalized)


def test_each_providers_dump_shape_gives_the_listed_records(
    browserbase: BrowserbaseApi, bridgetown: BridgeTownServer, tmp_path: Path
) -> None:
    fill(browserbase, 120)
    code, out, _ = invoke("list", "browserbase")
    assert code == 0
    dump = tmp_path / "browserbase.json"  # what a Browserbase export looks like
    dump.write_text(json.dumps({"data": list(browserbase.runs.values()), "nextCursor": None}))
    _, normalized, _ = invoke("normalize", str(dump))
    key = lambda record: record["id"]  # noqa: E731
    assert sorted(lines(out), key=key) == sorted(lines(normalized), key=key)
    code, out, err = invoke(
        "list", "bridgetown", "-O", "project=forecasts", "--since", "2020-01-01"
    )
    assert code == 0, err
    reply = {"project_name": "forecasts", "runs": [
        {k: run[k] for k in ("run_id", "run_number", "status", "commit_sha", "started_at",
                             "finished_at", "created_at")}
        for run in sorted(bridgetown.runs.values(), key=lambda r: r["created_at"], reverse=True)
    ], "total_returned": 40}  # fmt: skip
    (tmp_path / "bridgetown.json").write_text(json.dumps(reply))
    _, normalized, _ = invoke("normalize", str(tmp_path / "bridgetown.json"))
    assert lines(out) == lines(normalized) and len(lines(out)) == 40
    assert lines(out)[0]["extra"]["project_name"] == "forecasts"


def test_filters_reach_the_listing(skyvern: SkyvernApi) -> None:
    fill(skyvern, 150)
    code, out, _ = invoke(
        "list", "skyvern", "--since", "2026-03-02T09:00:00Z", "--until", "2026-03-02T10:00:00",
        "--status", "failed", "--limit", "7",
    )  # fmt: skip
    records = lines(out)
    assert code == 0 and len(records) == 7
    assert {r["native_status"] for r in records} == {"failed"}
    assert all("09:" in r["timing"]["created_at"] for r in records)
    assert "status=failed" in skyvern.server.requests[0].query


def test_a_table_on_a_terminal_and_a_progress_line(
    skyvern: SkyvernApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fill(skyvern, 3)
    monkeypatch.setattr(cli_listing, "stdout_is_terminal", lambda: True)
    code, out, _ = invoke("list", "skyvern")
    assert code == 0
    header, first, *_ = out.splitlines()
    assert header.split()[:4] == ["created", "(UTC)", "status", "id"]
    # (A Skyvern list item has no task: its title lands in extra.)
    assert first.split() == ["2026-03-02", "08:02:00", "failed", "(failed)", "tsk_00002"]
    monkeypatch.setattr(cli_listing, "stderr_is_terminal", lambda: True)
    code, _, err = invoke("list", "skyvern", "-o", str(tmp_path / "out.jsonl"))
    assert code == 0 and "\r1 run written" in err  # then at most 5 times a second


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_the_key_never_reaches_the_output(skyvern: SkyvernApi, tmp_path: Path, fmt: str) -> None:
    import pyarrow.parquet as pq

    item = skyvern.put(1, 1)
    item["title"] = f"echo {SKYVERN_KEY}"
    item["task_run_type"] = f"type-{SKYVERN_KEY}"  # a column of its own: kind
    out_file = tmp_path / f"out.{fmt}"
    code, out, err = invoke("list", "skyvern", "-o", str(out_file))
    assert code == 0, err
    if fmt == "parquet":
        written = json.dumps(pq.read_table(out_file).to_pylist(), default=str)
    else:
        written = out_file.read_text()
    assert "echo ***" in written and "type-***" in written
    assert SKYVERN_KEY not in written + out + err
    skyvern.server.script("/v1/runs", Reply(401, {"detail": f"bad key {SKYVERN_KEY}"}))
    code, out, err = invoke("list", "skyvern")
    assert code == 5 and SKYVERN_KEY not in out + err and "HTTP 401" in err


# -- incremental sync -----------------------------------------------------------------------


def states(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["id"], r["native_status"]) for r in records]


def sync_three_times(
    provider: str,
    add: Any,
    change: Any,
    tmp_path: Path,
    *extra: str,
) -> list[list[dict[str, Any]]]:
    """Three calls with one checkpoint; *add* and *change* alter the provider in between."""
    checkpoint = tmp_path / "sync.checkpoint.json"
    outputs = []
    for call in range(3):
        if call:
            add(call)
            change(call)
        target = tmp_path / f"call-{call}.jsonl"
        code, _, err = invoke("list", provider, "--checkpoint", str(checkpoint), "-o", str(target),
                              *extra)  # fmt: skip
        assert code == 0, err
        outputs.append(lines(target.read_text()))
    return outputs


def assert_nothing_missed_nothing_twice(
    outputs: list[list[dict[str, Any]]], final: dict[str, str]
) -> None:
    seen = [pair for output in outputs for pair in states(output)]
    assert len(seen) == len(set(seen)), "a run was written twice in the same state"
    for output in outputs:
        ids = [record["id"] for record in output]
        assert len(ids) == len(set(ids)), "a run was written twice in one call"
    last = dict(seen)  # the last state written of each run
    assert last == final, "a run or a change was missed"


def test_checkpoint_sync_skyvern(skyvern: SkyvernApi, tmp_path: Path) -> None:
    fill(skyvern, 150)

    def add(call: int) -> None:
        fill(skyvern, 20, start=150 + 20 * (call - 1))

    def change(call: int) -> None:  # some unfinished runs finish, others stay running
        for number in range(3 * (call - 1), 150, 9):  # every third run was running
            skyvern.put(number, number, "completed")

    outputs = sync_three_times("skyvern", add, change, tmp_path)
    final = {run_id: item["status"] for run_id, item in skyvern.items.items()}
    assert_nothing_missed_nothing_twice(outputs, final)
    assert len(outputs[0]) == 150
    # Call 2: the 20 new runs, then the pending runs that finished: nothing else.
    assert [r["id"] for r in outputs[1][:20]] == [f"tsk_{n:05d}" for n in range(169, 149, -1)]
    assert all(r["native_status"] == "completed" for r in outputs[1][20:])
    saved = json.loads((tmp_path / "sync.checkpoint.json").read_text())
    assert saved["mark"] == {"created_at": at(189).isoformat(), "ids": ["tsk_00189"]}
    assert all(state["status"] == "running" for state in saved["pending"].values())


def test_checkpoint_sync_browserbase(browserbase: BrowserbaseApi, tmp_path: Path) -> None:
    fill(browserbase, 200)

    def add(call: int) -> None:
        fill(browserbase, 15, start=200 + 15 * (call - 1))

    def change(call: int) -> None:
        for number in range(3 * (call - 1), 200, 6):  # every third run was RUNNING
            browserbase.put(number, number, "STOPPED")

    outputs = sync_three_times("browserbase", add, change, tmp_path)
    final = {run_id: run["status"] for run_id, run in browserbase.runs.items()}
    assert_nothing_missed_nothing_twice(outputs, final)
    # The second call asked the server for what was created since the mark.
    second_list = [r for r in browserbase.server.requests_to("/v1/agents/runs")
                   if "startAt=" in r.query]  # fmt: skip
    assert second_list and "startAt=2026-03-02T11%3A19%3A00Z" in second_list[0].query


def test_checkpoint_sync_bridgetown(bridgetown: BridgeTownServer, tmp_path: Path) -> None:
    def add(call: int) -> None:
        bridgetown.runs.update(
            {k: v for k, v in bridgetown_runs(40 + 10 * call).items() if k not in bridgetown.runs}
        )

    def change(call: int) -> None:
        for run in list(bridgetown.runs.values()):
            if run["status"] == "running" and run["run_number"] % (2 * call) == 2:
                bridgetown.runs[run["run_id"]] = {**run, "status": "success"}

    outputs = sync_three_times("bridgetown", add, change, tmp_path, "-O", "project=forecasts",
                               "--since", "2026-03-02T07:00:00Z")  # fmt: skip
    final = {run_id: run["status"] for run_id, run in bridgetown.runs.items()}
    assert_nothing_missed_nothing_twice(outputs, final)
    assert [len(output) >= 10 for output in outputs] == [True] * 3


def test_a_checkpoint_is_for_one_selection_and_must_be_readable(
    skyvern: SkyvernApi, tmp_path: Path
) -> None:
    fill(skyvern, 5)
    checkpoint = tmp_path / "cp.json"
    code, _, _ = invoke("list", "skyvern", "--checkpoint", str(checkpoint), "-o", "-")
    assert code == 0 and checkpoint.is_file()
    code, _, err = invoke("list", "skyvern", "--checkpoint", str(checkpoint), "--until", "1d")
    assert code == 2 and "was written for" in err
    code, _, err = invoke("list", "skyvern", "--checkpoint", str(checkpoint), "--limit", "5")
    assert code == 2 and "--checkpoint syncs every run" in err
    code, _, err = invoke("list", "skyvern", "--checkpoint", str(checkpoint), "-o", str(checkpoint))
    assert code == 2 and "a file of its own" in err
    checkpoint.write_text("{not json")
    code, _, err = invoke("list", "skyvern", "--checkpoint", str(checkpoint))
    assert code == 5 and "is not JSON" in err
    assert skyvern.server.requests_to("/v1/runs")[1:] == []  # only the first call listed


def test_a_cut_listing_exits_1_publishes_what_was_reached_and_keeps_the_checkpoint(
    bridgetown: BridgeTownServer, tmp_path: Path
) -> None:
    checkpoint, target = tmp_path / "cp.json", tmp_path / "out.jsonl"
    base = ("list", "bridgetown", "-O", "project=forecasts", "--checkpoint", str(checkpoint))
    code, _, err = invoke(*base, "--since", "2026-03-02T08:00:00Z", "-o", str(target))
    assert code == 0, err
    before = checkpoint.read_bytes()
    bridgetown.runs.update(bridgetown_runs(100))  # 60 new: more than one call returns
    code, _, err = invoke(*base, "-o", str(target))
    assert code == 1
    assert "listing cut short" in err and "checkpoint not advanced" in err
    assert len(lines(target.read_text())) == 50  # published with what was reached
    assert checkpoint.read_bytes() == before


def test_a_failure_mid_listing_leaves_the_output_and_the_checkpoint_as_they_were(
    skyvern: SkyvernApi, tmp_path: Path
) -> None:
    fill(skyvern, 20)
    checkpoint, target = tmp_path / "cp.json", tmp_path / "out.jsonl"
    target.write_text("previous\n")
    code, _, _ = invoke("list", "skyvern", "--checkpoint", str(checkpoint), "-o", str(target))
    before, published = checkpoint.read_bytes(), target.read_bytes()
    fill(skyvern, 250, start=20)
    items = skyvern.newest_first()
    skyvern.server.script("/v1/runs", Reply(200, items[:100]), Reply(500, {"detail": "down"}))
    code, _, err = invoke("list", "skyvern", "--checkpoint", str(checkpoint), "-o", str(target),
                          "-O", "max_retries=0")  # fmt: skip
    assert code == 5, err
    assert "HTTP 500" in err and "left as before" in err and "not advanced" in err
    assert target.read_bytes() == published  # whole or not at all
    assert {p.name for p in tmp_path.iterdir()} == {"cp.json", "out.jsonl"}  # no temporary file
    assert checkpoint.read_bytes() == before
    # The next call picks up everything the failed one did not record.
    code, _, err = invoke("list", "skyvern", "--checkpoint", str(checkpoint), "-o", str(target))
    assert code == 0 and len(lines(target.read_text())) == 250  # the pending ones unchanged


def test_a_failure_mid_listing_on_stdout_says_how_many_runs_went_out(skyvern: SkyvernApi) -> None:
    fill(skyvern, 150)
    items = skyvern.newest_first()
    skyvern.server.script("/v1/runs", Reply(200, items[:100]), Reply(500, {"detail": "down"}))
    code, out, err = invoke("list", "skyvern", "-O", "max_retries=0")
    assert code == 5, err
    assert "HTTP 500" in err and "100 runs were written before it" in err
    assert [r["id"] for r in lines(out)] == [i["run_id"] for i in items[:100]]


def test_a_run_dated_in_the_future_does_not_hide_the_runs_created_after_it(
    skyvern: SkyvernApi, tmp_path: Path
) -> None:
    for number in range(5):
        skyvern.put(number, number, "completed")
    skyvern.put(99, 60 * 24 * 365 * 70, "completed")  # created in 2096: a bogus clock
    checkpoint, first, second = tmp_path / "cp.json", tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    code, _, err = invoke("list", "skyvern", "--checkpoint", str(checkpoint), "-o", str(first))
    assert code == 0 and len(lines(first.read_text())) == 6, err
    mark = json.loads(checkpoint.read_text())["mark"]
    assert mark["created_at"] == at(4).isoformat() and list(mark["ahead"]) == ["tsk_00099"]
    for number in range(5, 8):  # created after the first five (and long before 2096)
        skyvern.put(number, number, "completed")
    code, _, err = invoke("list", "skyvern", "--checkpoint", str(checkpoint), "-o", str(second))
    assert code == 0, err
    written = sorted(r["id"] for r in lines(second.read_text()))
    assert written == ["tsk_00005", "tsk_00006", "tsk_00007"]  # not hidden, 2096 not again
    assert list(json.loads(checkpoint.read_text())["mark"]["ahead"]) == ["tsk_00099"]


def test_unknown_or_unlisting_providers_exit_5(make_dist: MakeDist) -> None:
    code, _, err = invoke("list", "skyvernn")
    assert code == 5 and "Did you mean 'skyvern'" in err
    make_dist("runnorm-acme-cli", "acme_cli_plugin", acme_source(), {"acme": "acme_cli_plugin"})
    code, _, err = invoke("list", "acme")
    assert code == 5 and "does not support listing runs" in err


@pytest.mark.filterwarnings("default::runnorm.UnknownStatusWarning")
@pytest.mark.usefixtures("runnorm_fresh_status_warnings")
def test_a_key_echoed_in_listed_runs_reaches_neither_checkpoint_nor_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-SECRETkey1234567890"
    runs = [
        {"run_id": "tsk_3", "status": key, "created_at": "2026-01-03T00:00:00"},
        {"run_id": "tsk_2", "status": f"odd{key}", "created_at": "2026-01-02T00:00:00"},
        {"run_id": "tsk_1", "status": "completed", "created_at": "2026-01-01T00:00:00"},
    ]
    with FakeProviderServer(auth=("x-api-key", key)) as server:
        server.handlers["/v1/runs"] = lambda request: runs if "page=1" in request.query else []
        monkeypatch.setenv("SKYVERN_API_KEY", key)
        monkeypatch.setenv("SKYVERN_BASE_URL", server.url)
        checkpoint, out = tmp_path / "cp.json", tmp_path / "out.jsonl"
        code, stdout, stderr = invoke(
            "list", "skyvern", "--checkpoint", str(checkpoint), "-o", str(out)
        )
    assert code == 0, stderr
    assert "unmapped status '***'" in stderr  # the warning is shown, masked
    for text in (stdout, stderr, checkpoint.read_text(), out.read_text()):
        assert key not in text
    assert "***" in checkpoint.read_text()


@pytest.mark.parametrize("bad_id", ["..", ".", " "])
def test_a_listed_run_whose_id_cannot_be_fetched_never_wedges_the_sync(
    skyvern: SkyvernApi, tmp_path: Path, bad_id: str
) -> None:
    fill(skyvern, 3)  # tsk_00000 is running
    skyvern.items["tsk_00000"]["run_id"] = bad_id  # listed running, by an id no GET can carry
    checkpoint, out = tmp_path / "cp.json", tmp_path / "out.jsonl"
    args = ("list", "skyvern", "--checkpoint", str(checkpoint), "-o", str(out))
    code, _, stderr = invoke(*args)
    assert code == 0, stderr
    assert [r["id"] for r in lines(out.read_text())] == ["tsk_00002", "tsk_00001", bad_id]
    assert bad_id not in json.loads(checkpoint.read_text())["pending"]
    code, _, stderr = invoke(*args)
    assert code == 0, stderr
    assert "Traceback" not in stderr and lines(out.read_text()) == []
    # A checkpoint that holds such an id (hand-edited, or from an older runnorm) is read too.
    saved = json.loads(checkpoint.read_text())
    saved["pending"][bad_id] = {"status": "running", "native_status": "running"}
    checkpoint.write_text(json.dumps(saved))
    code, _, stderr = invoke(*args)
    assert code == 0, stderr
    assert bad_id not in json.loads(checkpoint.read_text())["pending"]

"""Edges of the live commands (cancel, watch, artifacts, list): usage errors caught before
anything is sent, exit codes, odd paths."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import invoke_cli, skyvern_from_env

from runnorm.testing import FakeProviderServer, RecordedRequest, Reply

KEY = "sk-test-cli-edges-0123456789"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviderServer]:
    with skyvern_from_env(monkeypatch, KEY) as fake:
        yield fake


invoke = invoke_cli


@pytest.mark.parametrize("flag", ["--timeout", "--interval"])
@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
def test_cancel_wait_with_a_bad_deadline_is_usage_before_the_cancel_is_sent(
    server: FakeProviderServer, flag: str, value: str
) -> None:
    server.routes["/v1/runs/tsk_1/cancel"] = {}
    server.routes["/v1/runs/tsk_1"] = {"run_id": "tsk_1", "status": "canceled"}
    code, _, err = invoke("cancel", "skyvern", "tsk_1", "--wait", flag, value)
    assert code == 2 and "finite" in err
    assert server.requests == []  # the run was not canceled behind a usage error


@pytest.mark.parametrize("command", ["wait", "watch"])
@pytest.mark.parametrize("flag", ["--timeout", "--interval"])
def test_wait_and_watch_refuse_a_deadline_that_is_not_finite(
    server: FakeProviderServer, command: str, flag: str
) -> None:
    code, _, err = invoke(command, "skyvern", "tsk_1", flag, "nan")
    assert code == 2 and "finite" in err
    assert server.requests == []


@pytest.mark.parametrize(
    "args",
    [
        ("artifacts", "skyvern", "tsk_1", "--download", "out\x00dir"),
        ("list", "skyvern", "-o", "runs\x00.jsonl"),
        ("list", "skyvern", "--checkpoint", "cp\x00.json"),
        ("normalize", "-", "-o", "out\x00.jsonl"),
    ],
)
def test_a_path_holding_a_nul_is_a_usage_error(
    server: FakeProviderServer, args: tuple[str, ...]
) -> None:
    code, _, err = invoke(*args)  # a traceback (ValueError from os.stat) before
    assert code == 2 and "NUL character" in err
    assert server.requests == []


@pytest.mark.parametrize(("status", "code"), [("completed", 0), ("failed", 1), ("canceled", 3)])
def test_watch_exits_with_the_runs_code_when_its_payload_spells_the_id_otherwise(
    server: FakeProviderServer, status: str, code: int
) -> None:
    # A provider answers for the id asked, spelling it its own way (a UUID in lower case):
    # the run is the one watched, not a timed-out one and a second one discovered.
    server.routes["/v1/runs/TSK_1"] = {"run_id": "tsk_1", "status": status}
    exit_code, out, err = invoke("watch", "skyvern", "TSK_1", "--interval", "0.01")
    assert exit_code == code, err
    (line,) = out.splitlines()
    event = json.loads(line)
    assert event["run_id"] == "TSK_1" and event["run"]["id"] == "tsk_1"


@pytest.fixture
def stalled(server: FakeProviderServer) -> Iterator[tuple[FakeProviderServer, threading.Event]]:
    """The server's listing: a full first page, then a second that answers only once the
    test is over; the event is set when the second page has been asked for."""
    asked, release = threading.Event(), threading.Event()

    def listing(request: RecordedRequest) -> Reply:
        if "page=1&" in request.query + "&" or "page" not in request.query:
            return Reply(200, [{"run_id": f"tsk_{i}", "status": "completed"} for i in range(100)])
        asked.set()
        release.wait(30)
        return Reply(200, [])

    server.handlers["/v1/runs"] = listing
    server.handlers["/v1/runs/tsk_q"] = lambda request: (
        asked.set(),
        {"run_id": "tsk_q", "status": "queued"},
    )[1]
    server.handlers["/v1/runs/tsk_slow"] = lambda request: (asked.set(), release.wait(30), {})[2]
    yield server, asked
    release.set()


def _terminated(
    args: list[str], asked: threading.Event, signum: int = signal.SIGTERM
) -> tuple[int, str]:
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "runnorm", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert asked.wait(20), "the command never reached the server"
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    return process.returncode, stderr


def test_sigterm_mid_list_exits_143_and_leaves_no_partial_output(
    stalled: tuple[FakeProviderServer, threading.Event], tmp_path: Path
) -> None:
    _, asked = stalled
    out = tmp_path / "runs.jsonl"
    out.write_bytes(b"previous\n")
    code, stderr = _terminated(["list", "skyvern", "-o", str(out)], asked)
    assert code == 143, stderr
    assert "terminated" in stderr and "Traceback" not in stderr
    assert out.read_bytes() == b"previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.jsonl"]  # no temporary file


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
@pytest.mark.parametrize(
    "args", [["wait", "skyvern", "tsk_q", "--interval", "30"], ["watch", "skyvern", "tsk_slow"]]
)
def test_a_signal_mid_wait_or_watch_exits_at_once(
    stalled: tuple[FakeProviderServer, threading.Event],
    args: list[str],
    signum: int,
    code: int,
    said: str,
) -> None:
    # watch's poll is in flight on a thread of its own (the server holds the answer back):
    # the process exits without waiting for it
    _, asked = stalled
    started = time.monotonic()
    exit_code, stderr = _terminated(args, asked, signum)
    assert exit_code == code, stderr
    assert f"runnorm: {said}" in stderr and "Traceback" not in stderr
    assert time.monotonic() - started < 15

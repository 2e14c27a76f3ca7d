"""runnorm cancel, resume and artifacts against loopback servers: output and exit codes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from runnorm._cli import app as cli
from runnorm._cli import artifacts as cli_artifacts
from runnorm._cli import control as cli_control
from runnorm.testing import FakeProviderServer, Reply

KEY = "sk-test-cli-control-0123456789"
BB_KEY = "bb_test_cli_control_9876543210"
DATA = b"artifact bytes\n" * 1000
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviderServer]:
    monkeypatch.setenv("SKYVERN_API_KEY", KEY)
    with FakeProviderServer(auth=("x-api-key", KEY)) as fake:
        monkeypatch.setenv("SKYVERN_BASE_URL", fake.url)
        yield fake


@pytest.fixture
def browserbase(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviderServer]:
    monkeypatch.setenv("BROWSERBASE_API_KEY", BB_KEY)
    with FakeProviderServer(auth=("x-bb-api-key", BB_KEY)) as fake:
        monkeypatch.setenv("BROWSERBASE_BASE_URL", fake.url)
        yield fake


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


AGENT = {
    "runId": "run_7",
    "status": "RUNNING",
    "task": "t",
    "createdAt": "2026-01-20T11:52:29Z",
    "updatedAt": "2026-01-20T11:52:29Z",
}


@pytest.mark.parametrize(
    ("reply", "outcome", "code"),
    [
        (Reply(202, {**AGENT, "status": "STOPPED"}), "accepted", 0),
        (Reply(409, {"message": "Run already finished"}), "already_terminal", 0),
        (Reply(404, {"message": "Run not found"}), "not_found", 5),
    ],
)
def test_cancel_exit_codes_and_json(
    browserbase: FakeProviderServer, reply: Reply, outcome: str, code: int
) -> None:
    browserbase.script("/v1/agents/runs/run_7/stop", reply)
    exit_code, out, _ = invoke("cancel", "bb", "run_7", "-O", "max_retries=0")
    assert exit_code == code
    document = json.loads(out)
    assert (document["outcome"], document["run_id"], document["provider"]) == (
        outcome,
        "run_7",
        "browserbase",
    )
    assert (document["run"] is not None) == (outcome == "accepted")
    assert BB_KEY not in out


def test_cancel_conflict_is_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from runnorm.testing import FakeMcpServer, ToolFailure

    with FakeMcpServer(auth=("Authorization", "Bearer btk_cli")) as mcp:
        mcp.tools["cancel_run"] = lambda arguments: ToolFailure("run_finished", "Run is success")
        mcp.schemas["cancel_run"] = {"type": "object", "properties": {"run_id": {"type": "string"}}}
        code, out, _ = invoke(
            "cancel", "bridgetown", "66666666", "--base-url", mcp.url, "-O", "api_key=btk_cli"
        )
    assert code == 1
    assert (
        json.loads(out)["outcome"] == "conflict" and json.loads(out)["detail"] == "Run is success"
    )


def test_cancel_table_on_a_terminal(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_control, "stdout_is_terminal", lambda: True)
    code, out, _ = invoke("cancel", "skyvern", "tsk_404")
    assert code == 5
    assert "tsk_404: not found (not_found)" in out and "Not found: /v1/runs/tsk_404/cancel" in out


@pytest.mark.parametrize(("status", "code"), [("canceled", 3), ("completed", 0), ("failed", 1)])
def test_cancel_wait_exits_with_the_wait_codes(
    server: FakeProviderServer, status: str, code: int
) -> None:
    server.script("/v1/runs/tsk_1/cancel", Reply(200))
    server.script("/v1/runs/tsk_1", Reply(200, {"run_id": "tsk_1", "status": "running"}))
    server.routes["/v1/runs/tsk_1"] = {"run_id": "tsk_1", "status": status}
    exit_code, out, _ = invoke("cancel", "skyvern", "tsk_1", "--wait", "--interval", "0.01")
    assert exit_code == code
    assert (
        json.loads(out)["status"]
        == {"canceled": "canceled", "completed": "succeeded", "failed": "failed"}[status]
    )


def test_cancel_wait_past_the_deadline_is_4(server: FakeProviderServer) -> None:
    server.script("/v1/runs/tsk_1/cancel", Reply(200))
    server.routes["/v1/runs/tsk_1"] = {"run_id": "tsk_1", "status": "running"}
    code, _, err = invoke("cancel", "skyvern", "tsk_1", "--wait", "--timeout", "0")
    assert code == 4 and "after 0 s" in err


def test_cancel_errors_and_usage(server: FakeProviderServer) -> None:
    server.script("/v1/runs/tsk_1/cancel", Reply(500, {"detail": "boom"}))
    code, _, err = invoke("cancel", "skyvern", "tsk_1", "-O", "max_retries=3")
    assert code == 5 and "HTTP 500" in err
    assert len(server.requests_to("/v1/runs/tsk_1/cancel")) == 1
    code, _, err = invoke("resume", "skyvern", "wr_1", "--message", "hi")
    assert code == 2 and "takes no message" in err
    code, _, err = invoke("resume", "bridgetown", "66666666", "-O", "api_key=btk_x")
    assert code == 5 and "does not support resume" in err


@pytest.mark.parametrize(
    ("reply", "code"),
    [(Reply(202), 0), (Reply(409, {"message": "Run is not paused"}), 1), (Reply(404), 5)],
)
def test_resume_exit_codes(browserbase: FakeProviderServer, reply: Reply, code: int) -> None:
    browserbase.script("/v1/agents/runs/run_7/resume", reply)
    exit_code, out, _ = invoke("resume", "browserbase", "run_7", "--message", "4711", "--json")
    assert exit_code == code
    assert json.loads(out)["outcome"] == {0: "accepted", 1: "conflict", 5: "not_found"}[code]
    (sent,) = browserbase.requests_to("/v1/agents/runs/run_7/resume")
    assert json.loads(sent.body) == {"task": "4711"}
    code_without, _, err = invoke("resume", "browserbase", "run_7")
    assert code_without == 2 and "needs a message" in err


# -- artifacts ------------------------------------------------------------------------------


def items(cdn: FakeProviderServer) -> list[dict[str, object]]:
    return [
        {
            "artifact_id": "a_1",
            "artifact_type": "screenshot_final",
            "uri": "s3://b/r/final.png",
            "signed_url": f"{cdn.url}/final.png",
            "checksum": SHA,
            "file_size": len(DATA),
        },
        {
            "artifact_id": "a_2",
            "artifact_type": "recording",
            "uri": "s3://b/r/../../rec.webm",
            "signed_url": f"{cdn.url}/rec.webm",
            "file_size": len(DATA),
        },
    ]


@pytest.fixture
def cdn() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as fake:
        yield fake


def test_artifacts_lists_json_lines_when_piped(
    server: FakeProviderServer, cdn: FakeProviderServer
) -> None:
    server.routes["/v1/runs/wr_1/artifacts"] = items(cdn)
    code, out, _ = invoke("artifacts", "skyvern", "wr_1")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(d["kind"], d["name"], d["id"]) for d in lines] == [
        ("screenshot", "final.png", "a_1"),
        ("recording", "rec.webm", "a_2"),
    ]
    code, out, _ = invoke("artifacts", "skyvern", "wr_1", "--kind", "recording")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["a_2"]


def test_artifacts_table_on_a_terminal(
    server: FakeProviderServer, cdn: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_artifacts, "stdout_is_terminal", lambda: True)
    server.routes["/v1/runs/wr_1/artifacts"] = items(cdn)
    code, out, _ = invoke("artifacts", "skyvern", "wr_1")
    assert code == 0
    header, first, second = out.splitlines()
    assert header.split() == ["KIND", "NAME", "SIZE", "EXPIRES", "ID"]
    assert first.split() == ["screenshot", "final.png", "15.0", "KB", "-", "a_1"]
    assert second.split()[:2] == ["recording", "rec.webm"]


def test_artifacts_download_with_a_progress_line(
    server: FakeProviderServer,
    cdn: FakeProviderServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_artifacts, "stderr_is_terminal", lambda: True)
    server.routes["/v1/runs/wr_1/artifacts"] = items(cdn)
    cdn.routes["/final.png"] = DATA
    cdn.routes["/rec.webm"] = DATA
    code, out, err = invoke("artifacts", "skyvern", "wr_1", "--download", str(tmp_path / "d"))
    assert code == 0, err
    written = [json.loads(line) for line in out.splitlines()]
    assert [Path(d["path"]).name for d in written] == ["final.png", "rec.webm"]
    assert all(Path(d["path"]).read_bytes() == DATA for d in written)
    assert "final.png: 15.0 KB / 15.0 KB 100%" in err and "\r" in err
    assert all("x-api-key" not in r.headers for r in cdn.requests)


def test_artifacts_download_failing_a_check_is_exit_1_and_goes_on(
    server: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    server.routes["/v1/runs/wr_1/artifacts"] = items(cdn)
    cdn.routes["/final.png"] = DATA[::-1]  # the checksum fails
    cdn.routes["/rec.webm"] = DATA
    code, out, err = invoke("artifacts", "skyvern", "wr_1", "--download", str(tmp_path))
    assert code == 1
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["path"] is None and "SHA-256" in first["error"]
    assert Path(second["path"]).read_bytes() == DATA
    assert "do not match" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.webm"]


def test_artifacts_download_errors_are_exit_5(
    server: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    server.routes["/v1/runs/wr_1/artifacts"] = items(cdn)[:1]
    cdn.script("/final.png", Reply(500, "down"))
    server.script("/v1/artifacts/a_1/content", Reply(500, {"detail": "down too"}))
    code, _, err = invoke(
        "artifacts", "skyvern", "wr_1", "--download", str(tmp_path), "-O", "max_retries=0"
    )
    assert code == 5 and "HTTP 500" in err
    code, _, err = invoke("artifacts", "skyvern", "wr_404")
    assert code == 5 and "HTTP 404" in err


def test_artifacts_max_bytes(
    server: FakeProviderServer, cdn: FakeProviderServer, tmp_path: Path
) -> None:
    server.routes["/v1/runs/wr_1/artifacts"] = items(cdn)[:1]
    code, _, err = invoke(
        "artifacts", "skyvern", "wr_1", "--download", str(tmp_path), "--max-bytes", "100"
    )
    assert code == 1 and "max_bytes=100" in err
    assert cdn.requests == []

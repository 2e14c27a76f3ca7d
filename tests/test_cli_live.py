"""runnorm get / wait against a loopback server: output, redaction and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from runnorm._cli import app as cli
from runnorm._cli import live as cli_live
from runnorm.testing import FakeProviderServer, Reply

KEY = "sk-test-cli-0123456789"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviderServer]:
    monkeypatch.setenv("SKYVERN_API_KEY", KEY)
    with FakeProviderServer(auth=("x-api-key", KEY)) as fake:
        monkeypatch.setenv("SKYVERN_BASE_URL", fake.url)
        yield fake


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


def run(run_id: str, status: str) -> dict[str, object]:
    return {
        "run_id": run_id,
        "status": status,
        "run_request": {"prompt": "p", "extra_http_headers": {"Authorization": "Bearer s3"}},
    }


def test_get_prints_json_when_piped_and_redacts(server: FakeProviderServer) -> None:
    server.routes["/v1/runs/tsk_1"] = run("tsk_1", "failed")
    code, out, _ = invoke("get", "skyvern", "tsk_1")
    assert code == 0  # any fetched run
    document = json.loads(out)
    assert document["status"] == "failed"
    assert "Bearer s3" not in out and KEY not in out


def test_get_table_on_a_terminal(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_live, "stdout_is_terminal", lambda: True)
    server.routes["/v1/runs/tsk_1"] = run("tsk_1", "running")
    code, out, _ = invoke("get", "skyvern", "tsk_1")
    assert code == 0
    assert "status  running (running)" in out and "task  p" in out


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("completed", 0),
        ("failed", 1),
        ("canceled", 3),
        ("terminated", 3),
        ("timed_out", 4),
        ("paused", 1),
    ],
)
def test_wait_exit_codes(server: FakeProviderServer, status: str, code: int) -> None:
    server.script("/v1/runs/tsk_2", Reply(200, run("tsk_2", "running")))
    server.routes["/v1/runs/tsk_2"] = run("tsk_2", status)
    exit_code, out, _ = invoke("wait", "skyvern", "tsk_2", "--interval", "0.01", "--json")
    assert exit_code == code
    assert json.loads(out)["native_status"] == status


def test_wait_deadline_exits_4_with_the_last_run(server: FakeProviderServer) -> None:
    server.routes["/v1/runs/tsk_3"] = run("tsk_3", "running")
    code, out, err = invoke("wait", "skyvern", "tsk_3", "--timeout", "0.2", "--interval", "0.05")
    assert code == 4
    assert "still running" in err
    assert json.loads(out)["status"] == "running"


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(404, {"detail": "Task run not found"}), "not found"),
        (Reply(403, {"detail": "Invalid credentials"}), "Invalid credentials"),
    ],
)
def test_errors_exit_5(server: FakeProviderServer, reply: Reply, message: str) -> None:
    server.script("/v1/runs/tsk_4", reply)
    code, _, err = invoke("get", "skyvern", "tsk_4")
    assert code == 5 and message in err
    assert KEY not in err


def test_missing_key_exits_5_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKYVERN_API_KEY", raising=False)
    code, _, err = invoke("get", "skyvern", "tsk_1", "--base-url", "http://127.0.0.1:9")
    assert code == 5 and "SKYVERN_API_KEY" in err


def test_base_url_flag_and_provider_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSERBASE_API_KEY", KEY)
    run_id = "d21c5a1d-3873-446a-8ac9-032d2092fb9f"
    with FakeProviderServer(auth=("x-bb-api-key", KEY)) as fake:
        fake.routes[f"/v1/agents/runs/{run_id}"] = {
            "runId": run_id,
            "status": "RUNNING",
            "task": "t",
            "sessionId": "s1",
        }
        fake.routes["/v1/sessions/s1"] = {"id": "s1", "status": "RUNNING", "region": "eu-central-1"}
        code, out, err = invoke(
            "get", "browserbase", run_id, "--base-url", fake.url, "-O", "include_session=true"
        )
    assert code == 0, err
    assert json.loads(out)["extra"]["session"]["region"] == "eu-central-1"
    assert invoke("get", "browserbase", run_id, "-O", "nonsense")[0] == 2


@pytest.mark.parametrize(
    "args",
    [
        ("get", "skyvern", "tsk_5", "-O", "run_id=x"),
        ("get", "skyvern", "tsk_5", "-O", "provider=x"),
        ("wait", "skyvern", "tsk_5", "-O", "interval=5"),
        ("wait", "skyvern", "tsk_5", "-O", "stop_on_paused=false"),
        ("wait", "skyvern", "tsk_5", "-O", "on_update=1"),
        ("wait", "skyvern", "tsk_5", "-O", "request_timeout=5"),
        ("watch", "skyvern", "tsk_5", "-O", "since=1h"),
        ("watch", "skyvern", "tsk_5", "-O", "run_ids=x"),
        ("cancel", "skyvern", "tsk_5", "-O", "run_id=x"),
        ("resume", "skyvern", "tsk_5", "-O", "message=x"),
        ("list", "skyvern", "-O", "limit=5"),
        ("list", "skyvern", "-O", "status=failed"),
    ],
)
def test_an_option_naming_a_parameter_of_the_command_is_a_usage_error(
    server: FakeProviderServer, args: tuple[str, ...]
) -> None:
    server.routes["/v1/runs/tsk_5"] = run("tsk_5", "completed")
    result = CliRunner().invoke(cli.main, list(args))
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    name = args[-1].partition("=")[0]
    assert f"-O {name}" in result.stderr


@pytest.mark.parametrize("command", ["wait", "watch", "cancel"])
def test_option_timeout_is_the_http_timeout_of_the_polling_commands(
    server: FakeProviderServer, command: str
) -> None:
    server.routes["/v1/runs/tsk_6"] = run("tsk_6", "completed")
    server.routes["/v1/runs/tsk_6/cancel"] = {}
    args = [command, "skyvern", "tsk_6", "--timeout", "5", "-O", "timeout=3", "--json"]
    if command == "cancel":
        args.append("--wait")
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_table_escapes_control_characters_from_the_payload(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_live, "stdout_is_terminal", lambda: True)
    server.routes["/v1/runs/tsk_8"] = {
        "run_id": "tsk_8",
        "status": "failed",
        "failure_reason": "bad\nline\x1b]0;owned\x07\x1b[2J\u202e\x9b",
        "run_request": {"prompt": "a\rb"},
    }
    code, out, _ = invoke("get", "skyvern", "tsk_8")
    assert code == 0
    assert not any(ch in out for ch in "\x1b\x07\r\u202e\x9b")
    assert "error  bad\\nline\\x1b]0;owned\\x07\\x1b[2J\\u202e\\x9b" in out
    assert "task  a\\rb" in out
    assert len(out.splitlines()) == 5  # provider, id, status, task, error: one line each


def test_an_error_message_from_the_server_is_escaped_on_stderr(server: FakeProviderServer) -> None:
    server.script("/v1/runs/tsk_9", Reply(404, {"detail": "gone\x1b[2J"}))
    code, _, err = invoke("get", "skyvern", "tsk_9")
    assert code == 5
    assert "\x1b" not in err and "gone\\x1b[2J" in err

"""The caller's key, echoed back through every channel a provider has, never comes out.

Each key below is fed back by loopback servers in response bodies, error bodies (JSON and
text, placed where messages are cut short), MCP tool errors and JSON-RPC errors, run fields,
response headers and redirects. Every exception (``str`` and ``repr``, chained causes too),
log record (all loggers), warning, ``repr`` of the client, options and requests, and the
stdout and stderr of ``runnorm get`` / ``runnorm wait`` (table and ``--json``) is then
scanned for any 8-character part of the key (the whole key when shorter), after undoing
``repr``, JSON and percent escapes (``\\'``, ``\\"``, ``\\\\``, ``\\u0041``, ``%41``).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import warnings
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

import runnorm
from runnorm import UnknownStatusWarning
from runnorm._cli import app as cli
from runnorm._live.api import close_clients
from runnorm._live.options import mask_key, resolve_options
from runnorm._live.rest import rest_get
from runnorm._model.status import reset_unknown_status_warnings
from runnorm._plugins.normalize import resolve_provider
from runnorm.testing import FakeProviderServer, Reply

KEYS = [
    "sk-LEAK-0123456789abcdefghijklmnopqrs",  # 36 characters, as in the report
    "sk-'q\"\\-Z0123456789ab%41cd\\u0041",  # quotes, backslashes, escapes of its own
    "Q",  # one character: masked wherever it occurs
    "qZ7",
    "eyJ" + "a1B2c3D4" * 100,  # 803 characters, as a JWT is: masking compiles at any length
]
RUN = "tsk_1"
PATH = f"/v1/runs/{RUN}"

_ESCAPES = re.compile(r"\\+u([0-9a-fA-F]{4})|\\+x([0-9a-fA-F]{2})|%([0-9a-fA-F]{2})|\\+(.)")


def _unescaped(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code, byte, percent, char = match.groups()
        if char is not None:
            return str(char)
        return chr(int(code or byte or percent, 16))

    for _ in range(4):  # repr of JSON of repr ...
        text = _ESCAPES.sub(one, text)
    return text


def leaked(key: str, text: str) -> list[str]:
    """The parts of *key* (8 characters, or the whole key) that *text* spells, in any escaping."""
    size = min(8, len(key))
    parts = {key[i : i + size] for i in range(len(key) - size + 1)}
    texts = (text, _unescaped(text))
    return sorted(part for part in parts if any(part in t for t in texts))


def exception_texts(exc: BaseException) -> list[str]:
    texts, seen = [], set()
    current: BaseException | None = exc
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        texts += [repr(getattr(current, a, None)) for a in ("body", "value", "error", "hint")]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return texts


def echo_body(key: str, cut: int) -> str:
    """Text that puts *key* right where a message of *cut* characters is shortened."""
    return "x" * (cut - len(key) // 2) + key + " tail"


def rest_replies(key: str) -> list[Reply]:
    run = {"run_id": RUN, "status": "failed"}
    return [
        Reply(400, {"detail": f"bad key {key}"}),
        Reply(401, {"detail": echo_body(key, 300)}),
        Reply(404, {"message": {"nested": echo_body(key, 300)}}),
        Reply(422, echo_body(key, 300).encode(), headers={"content-type": "text/plain"}),
        Reply(409, echo_body(key, 80).encode(), headers={"content-type": "text/plain"}),
        Reply(500, {"detail": key}, headers={"x-echo": key, "retry-after": key}),
        Reply(200, echo_body(key, 200).encode(), headers={"content-type": "text/plain"}),
        Reply(200, [key, echo_body(key, 80)]),
        Reply(200, {**run, "status": {"word": echo_body(key, 80)}}),
        Reply(200, {**run, "run_id": {"id": echo_body(key, 80)}}),
        Reply(302, headers={"location": f"/v1/runs/{key}"}),
        Reply(302, headers={"location": f"{PATH}?token={key}"}),
        Reply(307, headers={"location": f"http://127.0.0.1:9/{key}"}),
    ]


@pytest.fixture
def capture(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # every logger: httpx, httpcore, runnorm, the rest
    return caplog


def check(key: str, texts: list[str], where: str) -> None:
    for text in texts:
        assert not leaked(key, text), f"{where}: {text[:300]!r}"


@pytest.mark.parametrize("key", KEYS)
def test_rest_channels_never_show_the_key(key: str, capture: pytest.LogCaptureFixture) -> None:
    failures = 0
    with (
        FakeProviderServer(auth=("x-api-key", key)) as server,
        runnorm.Client("skyvern", api_key=key, base_url=server.url, max_retries=0) as client,
    ):
        check(key, [repr(client), str(client)], "client repr")
        for reply in rest_replies(key):
            server.script(PATH, reply)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    run = client.get(RUN)
                except runnorm.RunnormError as exc:
                    failures += 1
                    check(key, exception_texts(exc), f"exception for {reply.status}")
                except Exception as exc:  # pragma: no cover - the assertion says why
                    pytest.fail(f"not a RunnormError: {type(exc).__name__}")
                else:
                    check(key, [repr(run)[:0]], "run")  # in memory: the payload as sent
            check(key, [str(w.message) for w in caught], "warning")
        # A run field that echoes the key: the Run keeps it, as the provider sent it.
        server.routes[PATH] = {"run_id": RUN, "status": "failed", "failure_reason": key}
        run = client.get(RUN)
        assert run.error is not None and run.error.message == key
    assert failures >= 10
    check(key, [r.getMessage() for r in capture.records], "log line")
    check(key, [repr(r.args) for r in capture.records], "log args")


@pytest.mark.parametrize("key", KEYS)
def test_a_status_word_echoing_the_key_warns_with_it_masked(key: str) -> None:
    reset_unknown_status_warnings()
    with (
        FakeProviderServer(auth=("x-api-key", key)) as server,
        runnorm.Client("skyvern", api_key=key, base_url=server.url, max_retries=0) as client,
    ):
        server.routes[PATH] = {"run_id": RUN, "status": key}
        server.routes["/v1/runs"] = [{"run_id": "tsk_2", "status": f"queued {key}"}]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = client.get(RUN)
            listed = list(client.list_runs(limit=1))
        assert run.native_status == key  # in memory: the payload as sent
        assert listed[0].native_status == f"queued {key}"
    texts = [str(w.message) for w in caught if issubclass(w.category, UnknownStatusWarning)]
    assert len(texts) == 2 and all("unmapped status" in text for text in texts)
    check(key, texts, "warning")
    # Offline, nothing is masked: there is no key to mask.
    with pytest.warns(UnknownStatusWarning, match="unmapped status 'plain_word'"):
        runnorm.normalize({"run_id": RUN, "status": "plain_word"}, "skyvern")


@pytest.mark.parametrize("key", KEYS)
def test_reprs_of_options_and_requests(key: str) -> None:
    options = resolve_options(
        resolve_provider("skyvern"),
        {"api_key": key, "base_url": "http://127.0.0.1:9", "headers": {"x-extra": "1"}},
    )
    request = next(rest_get(options, "/v1/runs/x", "GET"))
    check(key, [repr(options), str(options), repr(request), str(request)], "repr")


def _mcp(message_id: int, result: Any = None, error: Any = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message_id}
    reply.update({"error": error} if error is not None else {"result": result})
    return reply


def _text(text: str, is_error: bool = True) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def mcp_results(key: str) -> list[Reply]:
    """What ``tools/call`` answers (request id 2 of a fresh session)."""
    return [
        Reply(200, _mcp(2, _text(echo_body(key, 300)))),  # the 31-of-32 report
        Reply(200, _mcp(2, _text(echo_body(key, 32)))),
        Reply(
            200,
            _mcp(
                2,
                {"structuredContent": {"error": key, "message": key, "hint": key}, "isError": True},
            ),
        ),
        Reply(200, _mcp(2, _text(f'{{"error": "e", "message": "{echo_body(key, 80)}"}}'))),
        Reply(200, _mcp(2, error={"code": -32000, "message": echo_body(key, 80), "data": key})),
        Reply(200, _mcp(2, [key])),
        Reply(200, echo_body(key, 200).encode(), headers={"content-type": "application/json"}),
        Reply(
            200,
            b"data: " + echo_body(key, 200).encode() + b"\n\n",
            headers={"content-type": "text/event-stream"},
        ),
        Reply(200, _mcp(2, _text("not json", is_error=False))),
        Reply(401, {"detail": echo_body(key, 300)}),
    ]


@pytest.mark.parametrize("key", KEYS)
def test_mcp_channels_never_show_the_key(key: str, capture: pytest.LogCaptureFixture) -> None:
    init = _mcp(1, {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {}})
    with FakeProviderServer() as server:
        for reply in mcp_results(key):
            server.script(
                "/mcp", Reply(200, init, headers={"mcp-session-id": key}), Reply(202), reply
            )
            client = runnorm.Client(
                "bridgetown", api_key=key, base_url=f"{server.url}/mcp", max_retries=0
            )
            with pytest.raises(runnorm.RunnormError) as info:
                client.get(RUN)
            check(key, exception_texts(info.value), f"MCP {reply.body!r:.60}")
            server.scripts.clear()
            client.close()
    check(key, [r.getMessage() for r in capture.records], "log line")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize("key", KEYS)
def test_cli_output_never_shows_the_key(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYVERN_API_KEY", key)
    close_clients()
    with FakeProviderServer(auth=("x-api-key", key)) as server:
        monkeypatch.setenv("SKYVERN_BASE_URL", server.url)
        server.routes[PATH] = {
            "run_id": RUN,
            "status": "failed",
            "failure_reason": echo_body(key, 80),
            "output": {key: [key, f"\n{key}\t"]},
        }
        server.routes["/v1/runs/tsk_2"] = {"run_id": "tsk_2", "status": key}
        outputs = []
        for run_id in (RUN, "tsk_2"):
            for command in ("get", "wait"):
                for flags in ((), ("--json",)):
                    extra = ("--timeout", "0.05", "--interval", "0.01") if command == "wait" else ()
                    _, text = invoke(command, "skyvern", run_id, *flags, *extra)
                    outputs.append(text)
        for reply in rest_replies(key):
            server.script(PATH, reply)
            _, text = invoke("get", "skyvern", RUN, "-O", "max_retries=0")
            outputs.append(text)
    close_clients()
    assert any('"status": "failed"' in text for text in outputs)
    check(key, outputs, "CLI output")


@pytest.mark.parametrize("key", KEYS)
def test_control_and_artifact_channels_never_show_the_key(
    key: str,
    capture: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    # cancel, resume, the artifact listing and a download, each answered every echo; and the
    # CLI commands that print them.
    cancel, resume = f"{PATH}/cancel", "/v1/workflows/runs/wr_1/continue"
    listing, content = f"{PATH}/artifacts", "/v1/artifacts/a_1/content"
    artifact = runnorm.Artifact(kind=runnorm.ArtifactKind.DOWNLOAD, id="a_1", name="f.bin")
    texts: list[str] = []
    monkeypatch.setenv("SKYVERN_API_KEY", key)
    close_clients()
    with (
        FakeProviderServer(auth=("x-api-key", key)) as server,
        runnorm.Client("skyvern", api_key=key, base_url=server.url, max_retries=0) as client,
    ):
        monkeypatch.setenv("SKYVERN_BASE_URL", server.url)
        calls = [
            (cancel, lambda: client.cancel(RUN)),
            (resume, lambda: client.resume("wr_1")),
            (listing, lambda: client.artifacts(RUN)),
            (content, lambda: client.download(artifact, tmp_path)),
        ]
        for path, call in calls:
            for reply in rest_replies(key):
                server.script(path, reply)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        outcome = call()
                    except runnorm.RunnormError as exc:
                        texts += exception_texts(exc)
                    except Exception as exc:  # pragma: no cover - the assertion says why
                        pytest.fail(f"not a RunnormError: {type(exc).__name__}: {exc}")
                    else:
                        if isinstance(outcome, runnorm.ControlResult):
                            texts.append(repr(attrs.evolve(outcome, run=None)))
                texts += [str(w.message) for w in caught]
        for command in (("cancel", "skyvern", RUN), ("artifacts", "skyvern", RUN)):
            for path in (cancel, listing):
                for reply in rest_replies(key)[:6]:
                    server.script(path, reply)
                    texts.append(invoke(*command, "-O", "max_retries=0")[1])
                    server.scripts.clear()
    close_clients()
    check(key, texts, "control and artifacts")
    check(key, [r.getMessage() for r in capture.records], "log line")


def test_masking_rules() -> None:
    long_key = KEYS[0]
    assert mask_key(long_key, f"a {long_key} b") == "a *** b"
    assert mask_key(long_key, f"{long_key[:20]}...") == "***"  # cut short, still masked
    assert mask_key("Q", "Quick Q") == "***uick ***"  # short keys: inside words too
    assert mask_key("a*", "xa*y") == "x###y"  # the mask never holds a key character
    assert mask_key("abab", "ababab") == "***"  # overlapping occurrences, masked as one
    assert mask_key("nope", "all clear") == "all clear"


class _RawServer:
    """A socket server that records each raw request line and answers a fixed JSON body."""

    def __init__(self, body: bytes) -> None:
        self.lines: list[str] = []
        self.body = body
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.02)
        self.stop = threading.Event()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.lines.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(self.body), self.body)
                )

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.mark.parametrize(
    ("run_id", "path"),
    [
        ("a/b", "/v1/runs/a%2Fb"),
        ("a?b#c", "/v1/runs/a%3Fb%23c"),
        ("100%", "/v1/runs/100%25"),
        ("a b", "/v1/runs/a%20b"),
        ("é", "/v1/runs/%C3%A9"),
        ("...", "/v1/runs/..."),
        ("../x", "/v1/runs/..%2Fx"),
        ("%2e%2e", "/v1/runs/%252e%252e"),
    ],
)
def test_run_ids_are_one_path_segment(run_id: str, path: str) -> None:
    server = _RawServer(b'{"run_id": "x", "status": "running"}')
    try:
        runnorm.get("skyvern", run_id, api_key="sk-ids-0123456789", base_url=server.url)
    finally:
        server.close()
    assert server.lines == [f"GET {path} HTTP/1.1"]


@pytest.mark.parametrize("run_id", ["", ".", "..", " ", "a\udc80b", None, 7])
def test_bad_run_ids_are_config_errors_before_any_request(run_id: Any) -> None:
    server = _RawServer(b"{}")
    try:
        for provider in ("skyvern", "bridgetown"):
            with pytest.raises(runnorm.ConfigError):
                runnorm.get(provider, run_id, api_key="sk-ids-0123456789", base_url=server.url)
    finally:
        server.close()
    assert server.lines == []


@pytest.mark.parametrize("session_id", ["..", ".", ""])  # a lone surrogate: not JSON
def test_a_session_id_from_the_payload_that_is_no_segment_is_a_payload_error(
    session_id: str,
) -> None:
    body = (
        b'{"runId": "r1", "status": "RUNNING", "sessionId": "'
        + session_id.encode("utf-8", "backslashreplace").replace(b"\\u", b"\\u")
        + b'"}'
    )
    server = _RawServer(body)
    try:
        with pytest.raises(runnorm.PayloadError, match="cannot fetch include_session"):
            runnorm.get(
                "browserbase",
                "r1",
                api_key="bb-ids-0123456789",
                base_url=server.url,
                include_session=True,
            )
    finally:
        server.close()
    assert server.lines == ["GET /v1/agents/runs/r1 HTTP/1.1"]  # nothing else was fetched


def test_a_session_id_that_needs_encoding_stays_one_segment() -> None:
    server = _RawServer(b'{"runId": "r1", "status": "RUNNING", "sessionId": "s/../1"}')
    try:
        run = runnorm.get(
            "browserbase", "r1", api_key="bb-0123456789", base_url=server.url, include_session=True
        )
    finally:
        server.close()
    assert run.session_id == "s/../1"
    assert server.lines[1:] == [
        "GET /v1/sessions/s%2F..%2F1 HTTP/1.1",
        "GET /v1/sessions/s%2F..%2F1/recording/downloads HTTP/1.1",
        "GET /v1/sessions/s%2F..%2F1/logs HTTP/1.1",
    ]


def test_a_key_of_any_length_is_masked_whole_and_cut_short() -> None:
    key = "eyJ" + "x9" * 2000
    text = f"token {key} and {key[:150]}... and {key[:40]}\u2026 end"
    masked = mask_key(key, text)
    assert masked == "token *** and *** and *** end"
    assert mask_key(key, "nothing here") == "nothing here"


@pytest.mark.parametrize("key", [k for k in KEYS if len(k) > 8])
def test_a_key_cut_in_the_middle_leaves_neither_end(key: str) -> None:
    # pydantic's error text shows a long input as its first 25 and last 24 characters around
    # "..." (a FastAPI provider's 422 or 500 body may hold it): neither part comes out.
    head, tail = key[: len(key) // 2], key[len(key) // 2 + 1 :]
    for text in (
        f"input_value='{head}...{tail}', input_type=str",
        f"key {head}\u2026{tail}!",
        f"key {head}... {tail}",  # a space after the ellipsis: still the key's tail
    ):
        masked = mask_key(key, text)
        assert not leaked(key, masked), masked
    assert mask_key("abcdefgh", "abc...fgh and abc...x") == "*** and ***x"


def test_a_key_cut_in_the_middle_never_reaches_an_error() -> None:
    key = KEYS[-1]
    echo = f"1 validation error\n  input_value='{key[:25]}...{key[-24:]}', input_type=str"
    with FakeProviderServer(auth=("x-api-key", key)) as server:
        server.script(PATH, Reply(500, echo.encode(), headers={"content-type": "text/plain"}))
        with pytest.raises(runnorm.ServerError) as info:
            runnorm.get("skyvern", RUN, api_key=key, base_url=server.url, max_retries=0)
    check(key, exception_texts(info.value), "exception")

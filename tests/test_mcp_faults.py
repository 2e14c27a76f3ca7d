"""MCP servers that misbehave on purpose, and the masking their answers go through.

Each server is a raw loopback socket (:mod:`hostile_server`); every call must end within
its bounds (generous margins: these tests assert bounds, never speed) and with the key
masked.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import pytest
from hostile_server import Exchange, HostileServer, http_response, mcp_handler

import runnorm
from runnorm import PayloadError, ToolError, webhooks
from runnorm._live.options import mask_key
from runnorm.webhooks import hmac_sha256_hex

KEY = "btk_mcp_faults_SECRET_0123456789"
BT_ID = "66666666-6666-6666-6666-666666666666"
JSON = {"Content-Type": "application/json"}


def bt(server: HostileServer, **more: Any) -> dict[str, Any]:
    return {"base_url": server.url + "/mcp", "api_key": KEY, "max_retries": 0, **more}


def tool_error_text(text: str) -> Any:
    def reply(exchange: Exchange, message_id: int) -> bool:
        result = {"content": [{"type": "text", "text": text}], "isError": True}
        body = json.dumps({"jsonrpc": "2.0", "id": message_id, "result": result}).encode()
        exchange.send(http_response(200, body, JSON))
        return True

    return reply


# Texts whose masking used to take time that grew with the square of their length: every
# ellipsis was searched for a cut key from the start of the text, and the whole key from
# every backslash of a run. 100 kB of these took minutes; the response cap is 8 MiB.
HOSTILE_TEXTS = {
    "ellipses": "b..." * 25_000,
    "cut keys": (KEY[:20] + "...x") * 4_000,
    "backslashes": "\\" * 100_000,
    "backslashes and an ellipsis": "\\" * 100_000 + "...",
}


@pytest.mark.parametrize("text", HOSTILE_TEXTS.values(), ids=HOSTILE_TEXTS.keys())
def test_masking_a_hostile_tool_error_takes_time_in_step_with_its_length(text: str) -> None:
    with HostileServer(mcp_handler(tool_error_text(text))) as server:
        start = time.monotonic()
        with pytest.raises(ToolError) as info:
            runnorm.get("bridgetown", BT_ID, **bt(server, timeout=2))
        took = time.monotonic() - start
    assert took < 3, f"masking took {took:.1f} s"
    assert KEY[4:12] not in str(info.value)


def test_the_linear_search_masks_what_the_rules_say() -> None:
    runs = "\\" * 50_000
    assert mask_key(KEY, f"{runs}{KEY} x") == "*** x"  # the run before a key goes with it
    assert mask_key(KEY, f"{runs}...{KEY[:9]}... x") == f"{runs}...*** x"
    assert mask_key(KEY, f"a {KEY[:9]}...{KEY[-8:]} b") == "a *** b"
    assert mask_key(KEY, f"a {KEY[:9]}... {KEY[-8:]} b") == "a *** b"
    assert mask_key(KEY, f"{KEY[:5]}\\u0063...") == "***"  # a cut key spelled with an escape
    assert mask_key(KEY, "b.b..b...") == "b.b..***"
    assert mask_key("ab", "\\\\\\ab \\x61b") == "*** ***"


# -- webhooks: a secret that is not ASCII -------------------------------------------------

NON_ASCII_SECRETS = [
    "s\u00e9cret-webhook-k\u00e9y-ABCDEFGH",
    "\u79d8\u5bc6-webhook-\u9375-ABCDEFGH",
]


def _parts(secret: str) -> set[str]:
    return {secret[i : i + 8] for i in range(len(secret) - 7)}


def _echoes(secret: str) -> dict[str, bytes]:
    """Bodies that are not JSON and echo *secret*: as UTF-8, percent-encoded UTF-8 (a form
    body), JSON-escaped (``ensure_ascii``)."""
    utf8 = secret.encode()
    return {
        "utf-8": b'{"run_id": "tsk_1", "token": "' + utf8 + b'"',
        "percent": b"token=" + quote(utf8, safe="").encode() + b"&run_id=tsk_1",
        "json-escaped": b'{"token": ' + json.dumps(secret).encode() + b", ",
    }


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
@pytest.mark.parametrize("secret", NON_ASCII_SECRETS)
def test_a_secret_that_is_not_ascii_never_shows_in_a_rejection(secret: str, as_bytes: bool) -> None:
    key: str | bytes = secret.encode() if as_bytes else secret
    for name, body in _echoes(secret).items():
        headers = {
            "x-skyvern-signature": hmac_sha256_hex(key, body),
            "x-skyvern-timestamp": str(int(time.time())),
        }
        with pytest.raises(PayloadError) as info:
            webhooks.parse("skyvern", body, headers, secret=key)
        texts = [str(info.value), repr(info.value)]
        shown = [part for part in _parts(secret) if any(part in text for text in texts)]
        assert not shown, f"{name}: {texts[0]}"
        for part in ("cret-web", "webhook-", "-ABCDEFGH"):
            assert part not in texts[0], f"{name}: {texts[0]}"

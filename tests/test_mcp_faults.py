"""MCP servers that misbehave on purpose, and the masking their answers go through.

Each server is a raw loopback socket (:mod:`hostile_server`); every call must end within
its bounds (generous margins: these tests assert bounds, never speed) and with the key
masked.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hostile_server import Exchange, HostileServer, http_response, mcp_handler

import runnorm
from runnorm import ToolError
from runnorm._live.options import mask_key

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

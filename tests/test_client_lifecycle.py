"""A client after ``close()``, re-entered, or moved to another event loop: clear errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hostile_server import Exchange, HostileServer, http_response, mcp_handler, run_result

import runnorm
from runnorm import ConfigError

BT_ID = "66666666-6666-6666-6666-666666666666"
RUN = {"run_id": BT_ID, "status": "running", "project_name": "forecasts"}
KEY = "btk_lifecycle_0123456789"


def ok(exchange: Exchange, message_id: int) -> bool:
    body = json.dumps(run_result(RUN, message_id)).encode()
    exchange.send(http_response(200, body, {"Content-Type": "application/json"}))
    return True


def bt(server: HostileServer) -> dict[str, Any]:
    return {"base_url": server.url + "/mcp", "api_key": KEY, "max_retries": 0, "timeout": 5}


def test_a_closed_client_is_a_config_error() -> None:
    with HostileServer(mcp_handler(ok)) as server:
        client = runnorm.Client("bridgetown", **bt(server))
        assert client.get(BT_ID).id == BT_ID
        client.close()
        with pytest.raises(ConfigError, match="closed") as info:
            client.get(BT_ID)
        assert KEY not in str(info.value)
        with pytest.raises(ConfigError, match="closed"):
            client.get_many([BT_ID])
        with pytest.raises(ConfigError, match="closed"), client:
            pass
        client.close()  # closing twice is fine


def test_a_closed_async_client_is_a_config_error() -> None:
    async def main() -> None:
        async with runnorm.AsyncClient("bridgetown", **bt(server)) as client:
            assert (await client.get(BT_ID)).id == BT_ID
        with pytest.raises(ConfigError, match="closed"):
            await client.get(BT_ID)
        with pytest.raises(ConfigError, match="closed"):
            await client.get_many([BT_ID])
        with pytest.raises(ConfigError, match="closed"):
            async with client:
                pass
        await client.aclose()

    with HostileServer(mcp_handler(ok)) as server:
        asyncio.run(main())


def test_a_closed_http_client_of_the_caller_is_a_runnorm_error() -> None:
    import httpx

    with HostileServer(mcp_handler(ok)) as server:
        http = httpx.Client()
        client = runnorm.Client("bridgetown", http_client=http, **bt(server))
        http.close()
        with pytest.raises(ConfigError, match="closed"):
            client.get(BT_ID)


def test_an_async_client_on_a_second_event_loop_is_a_config_error() -> None:
    with HostileServer(mcp_handler(ok)) as server:
        client = runnorm.AsyncClient("bridgetown", **bt(server))
        assert asyncio.run(client.get(BT_ID)).id == BT_ID
        with pytest.raises(ConfigError, match="event loop"):
            asyncio.run(client.get(BT_ID))
        asyncio.run(client.aclose())

"""Against a real uvicorn on a free loopback port with the `websockets` client: the limits only a real
server shows (handshake 403, transport message cap, slow readers), and a race over real TCP."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


async def next_of_type(ws, kind: str, limit: int = 3000) -> dict:
    for _ in range(limit):
        message = json.loads(await ws.recv())
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


async def close_code(ws) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(3000):
            await ws.recv()
    return closed.value.rcvd.code


def test_a_race_over_real_tcp_then_healthz(live_server):
    server = live_server()

    async def scenario():
        async with websockets.connect(server.ws_url, origin=server.base_url) as ws:
            await ws.send(json.dumps({"type": "start", "settings": {"steps": 20}}))
            assert (await next_of_type(ws, "race"))["settings"]["steps"] == 20
            while True:
                state = await next_of_type(ws, "state")
                if state["done"]:
                    return state

    assert run(scenario())["step"] == 20
    with urllib.request.urlopen(server.base_url + "/healthz") as response:
        assert json.load(response)["status"] == "ok"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_a_foreign_origin_gets_http_403_at_the_handshake(live_server):
    server = live_server()

    async def scenario():
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(server.ws_url, origin="https://evil.example"):
                pass
        return refused.value.response.status_code

    assert run(scenario()) == 403


@pytest.mark.parametrize("size", [5000, 100_000])
def test_messages_over_4kb_close_1009(live_server, size):
    """5 KB: the app's own check (an error message first); 100 KB: uvicorn's transport cap."""
    server = live_server()

    async def scenario():
        async with websockets.connect(server.ws_url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "start", "pad": "x" * size}))
            return await close_code(ws)

    assert run(scenario()) == 1009


def test_a_flood_closes_1008_and_the_next_client_is_served(live_server):
    server = live_server(messages_per_second=10)

    async def scenario():
        async with websockets.connect(server.ws_url) as ws:
            for _ in range(11):
                await ws.send(json.dumps({"type": "speed", "steps_per_frame": 2}))
            flooded = await close_code(ws)
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"type": "start", "settings": {"steps": 8}}))
            await next_of_type(ws, "frame")
        return flooded

    assert run(scenario()) == 1008

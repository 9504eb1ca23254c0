"""Property-based: random messages thrown at /ws/race get an error or the right close code, every
answer is a valid server message, and the server stays healthy for the next client."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from app.web.messages import CLIENT_TYPES, client_message_adapter, server_message_adapter
from integration.conftest import make_settings

# A message nobody else sends: its `state` answer marks the end of the replies to what came before.
SENTINEL = {"type": "speed", "steps_per_frame": 7}

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
setting_values = st.fixed_dictionaries(
    {},
    optional={
        "dataset": st.sampled_from(["disk-ring", "spiral", "xor", "moons", "mnist", ""]) | json_values,
        "seed": st.integers(-5, 2**32) | json_values,
        "theta": st.floats(allow_nan=True, allow_infinity=True) | json_values,
        "learning_rate": st.floats(-1, 2) | json_values,
        "steps": st.integers(-10, 6000) | json_values,
        "speed": st.integers(-3, 80) | json_values,
    },
)
typed_messages = st.fixed_dictionaries(
    {"type": st.sampled_from([*CLIENT_TYPES, "", "Start", "frame", "error"]) | json_values},
    optional={
        "settings": setting_values | json_values,
        "x": st.floats(allow_nan=True, allow_infinity=True) | json_values,
        "y": st.floats(allow_nan=True, allow_infinity=True) | json_values,
        "steps_per_frame": st.integers(-(2**70), 2**70) | json_values,
        "extra": json_values,
    },
)


def encode(value) -> str:
    # allow_nan: NaN and Infinity tokens are exactly what a hostile client would send.
    return json.dumps(value, allow_nan=True)


raw_texts = (
    typed_messages.map(encode)
    | json_values.map(encode)
    | st.text(max_size=200)
    | st.text(alphabet='{}[]":,0123456789eE.-+ntrufals', max_size=300)
    | st.integers(4000, 6000).map(lambda n: '{"type":"start","p":"' + "x" * n + '"}')
)


def is_valid(text: str) -> bool:
    try:
        payload = json.loads(text)
        client_message_adapter.validate_python(payload)
        return True
    except (ValueError, ValidationError, RecursionError, TypeError):
        return False


@pytest.fixture(scope="module")
def shared_client():
    from starlette.testclient import TestClient

    from app.web import create_app

    with TestClient(create_app(make_settings(messages_per_second=10_000, sessions_per_client=4))) as client:
        yield client


def exchange(client, texts: list[str]) -> None:
    with client.websocket_connect("/ws/race") as ws:
        for text in texts:
            ws.send_text(text)
        ws.send_json(SENTINEL)
        replies = []
        try:
            for _ in range(5000):
                message = json.loads(ws.receive_text())
                server_message_adapter.validate_json(json.dumps(message))
                replies.append(message)
                if message["type"] == "state" and message["speed"] == 7:
                    break
            else:
                pytest.fail("no answer to the sentinel")
        except WebSocketDisconnect as closed:
            errors = [m["code"] for m in replies if m["type"] == "error"]
            assert (closed.code, errors[-1]) in {(1009, "too_big"), (1008, "rate_limited")}, (closed.code, errors)
            assert any(len(t.encode("utf-8", "surrogatepass")) > 4096 for t in texts)
            return
    errors = [m for m in replies if m["type"] == "error"]
    invalid = [t for t in texts if not is_valid(t)]
    assert len(errors) >= len(invalid)
    for error in errors:
        assert error["message"] and not math.isnan(len(error["message"]))


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(texts=st.lists(raw_texts, min_size=1, max_size=3))
def test_random_messages_get_errors_or_the_right_close_and_nothing_breaks(shared_client, texts):
    exchange(shared_client, texts)
    # The server is healthy for the next client: a fresh session races normally.
    with shared_client.websocket_connect("/ws/race") as ws:
        ws.send_json({"type": "start", "settings": {"steps": 4}})
        assert json.loads(ws.receive_text())["type"] == "race"
    assert shared_client.get("/healthz").status_code == 200


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=300))
def test_random_binary_messages_are_answered_too(shared_client, payload):
    with shared_client.websocket_connect("/ws/race") as ws:
        ws.send_bytes(payload)
        ws.send_json(SENTINEL)
        first = json.loads(ws.receive_text())
        server_message_adapter.validate_json(json.dumps(first))
        assert first["type"] in ("error", "state")

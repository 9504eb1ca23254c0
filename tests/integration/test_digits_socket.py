"""/ws/digits through Starlette's TestClient: the live digits race on the race's machinery, its
controls, restore by `at_step`, inference with the run's own nets, and bad messages."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from app.engine.digits import DigitsRun
from app.engine.drawing import rasterize
from app.web.digits_live import MAX_DIGITS_RUNS_PER_SLOT, LiveDigitsSettings, _strip_rows, frame_text, sample_data
from integration.conftest import is_type, receive, receive_until

STROKE = [[[0.5, 0.1], [0.52, 0.5], [0.5, 0.9]]]  # a "1"


def fresh_run(at: int, **settings) -> DigitsRun:
    """A brand-new engine run trained `at` minibatches: what the server must reproduce."""
    run = DigitsRun(LiveDigitsSettings(**settings).digits, sample_data())
    run.train_batches(at)
    return run


def fresh_frame(at: int, **settings) -> dict:
    run = fresh_run(at, **settings)
    return json.loads(frame_text(run, LiveDigitsSettings(**settings).steps, _strip_rows(run)))


def start(ws, **message) -> tuple[dict, dict, dict]:
    ws.send_json({"type": "start", **message})
    info, frame, state = receive(ws), receive(ws), receive(ws)
    assert (info["type"], frame["type"], state["type"]) == ("digits", "frame", "state"), (info, frame, state)
    return info, frame, state


def test_a_run_streams_small_frames_one_minibatch_apart_equal_to_the_engines(client):
    with client.websocket_connect("/ws/digits") as ws:
        info, first, state = start(ws, settings={"seed": 2})
        assert info["settings"] == {"seed": 2, "negatives": "hard", "speed": 1}
        assert info["hidden"] == [200, 200] and info["steps"] == 1200 and info["batches_per_epoch"] == 40
        assert len(info["strip"]["index"]) == 20 and sorted(info["strip"]["labels"]) == sorted(list(range(10)) * 2)
        assert first["step"] == 0 and state["running"] is True
        frames = [receive_until(ws, is_type("frame"))[0] for _ in range(6)]
        ws.send_json({"type": "pause"})
        paused, _ = receive_until(ws, is_type("state"))
    assert [f["step"] for f in frames] == list(range(1, 7))
    assert paused["running"] is False and paused["step"] >= 6
    assert first == fresh_frame(0, seed=2)
    assert frames[-1] == fresh_frame(6, seed=2)
    for frame in frames:
        assert len(json.dumps(frame, separators=(",", ":"))) < 400
        assert len(frame["goodness"]["positive"]) == 2 and len(frame["guesses"]["ff"]) == 20


def test_reset_goes_back_to_the_untrained_nets_and_stays_paused(client):
    with client.websocket_connect("/ws/digits") as ws:
        start(ws)
        receive_until(ws, lambda m: m["type"] == "frame" and m["step"] >= 3)
        ws.send_json({"type": "reset"})
        info, seen = receive_until(ws, is_type("digits"))
        frame, _ = receive_until(ws, is_type("frame"))
        state, _ = receive_until(ws, is_type("state"))
    assert frame["step"] == 0 and frame == fresh_frame(0)
    assert state["running"] is False and state["step"] == 0


def test_a_restored_page_gets_its_run_back_at_the_same_step(client):
    with client.websocket_connect("/ws/digits") as ws:
        _, frame, state = start(ws, settings={"seed": 5, "negatives": "random"}, at_step=37)
        assert frame["step"] == 37 and state == {**state, "running": False, "step": 37}
        ws.send_json({"type": "infer", "heldout": 28})
        answer, _ = receive_until(ws, is_type("inference"))
        ws.send_json({"type": "step"})
        after, _ = receive_until(ws, is_type("frame"))
    assert frame == fresh_frame(37, seed=5, negatives="random")
    assert after["step"] == 38 and after == fresh_frame(38, seed=5, negatives="random")
    expected = fresh_run(37, seed=5, negatives="random").infer(sample_data().test_images[28])
    assert answer["source"] == "live" and answer["step"] == 37
    assert answer["ff"]["totals"] == pytest.approx(expected.totals, rel=1e-6)
    assert answer["ff"]["label"] == expected.label and answer["backprop"]["label"] == expected.backprop_label


def test_a_drawn_digit_is_read_by_the_runs_nets_as_the_engine_reads_its_image(client):
    with client.websocket_connect("/ws/digits") as ws:
        start(ws, at_step=12)
        ws.send_json({"type": "infer", "strokes": STROKE})
        answer, _ = receive_until(ws, is_type("inference"))
    image = np.clip(np.rint(rasterize(STROKE) * 255), 0, 255).astype(np.uint8)
    assert np.frombuffer(base64.b64decode(answer["image"]), dtype=np.uint8).tolist() == image.ravel().tolist()
    expected = fresh_run(12).infer(image)
    assert len(answer["ff"]["goodness"]) == 10 and all(len(row) == 2 for row in answer["ff"]["goodness"])
    assert answer["ff"]["totals"] == pytest.approx(expected.totals, rel=1e-6)


def test_sessions_on_the_same_settings_share_one_run(client):
    with client.websocket_connect("/ws/digits") as a, client.websocket_connect("/ws/digits") as b:
        start(a, settings={"seed": 9}, at_step=3)
        start(b, settings={"seed": 9}, at_step=3)
        record = client.app.state.cache.record(LiveDigitsSettings(seed=9))
        assert record.viewers == 2
        assert record.computed == 1  # the frame at step 3, computed once for both


def test_past_the_distinct_runs_the_engine_keeps_a_new_seed_waits_and_the_others_go_on(make_client):
    """Each engine process keeps MAX_DIGITS_RUNS_PER_SLOT digits runs; more distinct runs at once
    would be rebuilt in turn and stall every digits race (bench/digits_server.py: 6 streamed at full
    rate, 8 at 0.3 frames/s). So one more distinct seed is refused with `at_capacity`; a seed that is
    already running can always be joined, and a session switching seeds frees its own."""
    client = make_client(engine_processes=1, sessions_per_client=8)
    sockets = [client.websocket_connect("/ws/digits") for _ in range(MAX_DIGITS_RUNS_PER_SLOT + 2)]
    opened = [socket.__enter__() for socket in sockets]
    try:
        for seed, ws in enumerate(opened[:MAX_DIGITS_RUNS_PER_SLOT]):
            start(ws, settings={"seed": 100 + seed}, at_step=0)
        newcomer, joiner = opened[MAX_DIGITS_RUNS_PER_SLOT:]
        newcomer.send_json({"type": "start", "settings": {"seed": 999}})
        refused, _ = receive_until(newcomer, is_type("error"))
        assert refused["code"] == "at_capacity" and "try again in a minute" in refused["message"]
        assert client.app.state.cache.record(LiveDigitsSettings(seed=999)).viewers == 0
        start(joiner, settings={"seed": 100}, at_step=0)  # a running seed: joined, computed once
        assert client.app.state.cache.record(LiveDigitsSettings(seed=100)).viewers == 2
        start(opened[1], settings={"seed": 998}, at_step=0)  # switching frees its own run's place
    finally:
        for socket in reversed(sockets):
            socket.__exit__(None, None, None)


BAD = [
    ({"type": "start", "settings": {"seed": -1}}, "bad_settings", "seed must be an integer"),
    ({"type": "start", "settings": {"negatives": "soft"}}, "bad_settings", "negatives must be one of hard, random"),
    ({"type": "start", "settings": {"seed": "3"}}, "bad_settings", "seed"),
    ({"type": "start", "at_step": 1201}, "bad_settings", "at_step must be an integer in [0, 1200]"),
    ({"type": "start", "settings": {"steps": 4}}, "bad_settings", "steps"),
    ({"type": "speed", "steps_per_frame": 4}, "unknown_type", "expected one of start"),
    ({"type": "infer", "strokes": []}, "bad_message", "the drawing is empty"),
    ({"type": "infer", "strokes": [[[0.5, 3.0]]]}, "bad_message", "outside the pad"),
    ({"type": "infer", "strokes": [[["a", 0.5]]]}, "bad_message", "strokes"),
    ({"type": "infer", "strokes": [[[0.5, 0.5, 0.5]]]}, "bad_message", "strokes"),
    ({"type": "infer", "strokes": [[[0.5, 0.5]]] * 65}, "bad_message", "strokes"),
    ({"type": "infer", "heldout": 1000}, "bad_message", "heldout"),
    ({"type": "infer", "heldout": 3, "strokes": STROKE}, "bad_message", "either strokes (a drawing) or heldout"),
    ({"type": "infer"}, "bad_message", "either strokes (a drawing) or heldout"),
]


def test_bad_messages_get_a_sentence_and_change_nothing(client):
    with client.websocket_connect("/ws/digits") as ws:
        start(ws, at_step=2)
        for step, (message, code, words) in enumerate(BAD, start=3):
            ws.send_json(message)
            error, _ = receive_until(ws, is_type("error"))
            assert error["code"] == code and words in error["message"], (message, error)
            # The session goes on with its run where it was.
            ws.send_json({"type": "step"})
            frame, _ = receive_until(ws, is_type("frame"))
            assert frame["step"] == step, message


def test_infer_before_start_is_refused(client):
    with client.websocket_connect("/ws/digits") as ws:
        ws.send_json({"type": "infer", "heldout": 1})
        error = receive(ws)
    assert error["code"] == "not_started"


def test_an_oversized_drawing_closes_with_1009_and_a_reason(make_client):
    client = make_client(max_drawing_bytes=8192)
    with client.websocket_connect("/ws/digits") as ws:
        ws.send_text(json.dumps({"type": "infer", "strokes": [[[0.5, 0.5]] * 900]}))
        error = receive(ws)
        assert error["code"] == "too_big" and "8192-byte limit" in error["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
    assert closed.value.code == 1009


def test_a_drawing_over_the_races_limit_fits_the_digits_limit(client):
    strokes = [[[round(0.2 + 0.6 * i / 400, 3), 0.5] for i in range(400)]]
    text = json.dumps({"type": "infer", "strokes": strokes})
    assert len(text) > client.app.state.settings.max_message_bytes
    with client.websocket_connect("/ws/digits") as ws:
        start(ws, at_step=1)
        ws.send_text(text)
        answer, _ = receive_until(ws, is_type("inference"))
    assert answer["step"] == 1


def test_the_protocols_digits_examples_are_valid_messages():
    import re
    from pathlib import Path

    from app.web.digits_session import DIGITS_CLIENT_MESSAGES, digits_message_adapter

    text = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    section = text.split("## The live digits race: `/ws/digits`", 1)[1]
    client = section.split("### Digits: client → server", 1)[1].split("\n### ", 1)[0]
    found = {
        type(digits_message_adapter.validate_json(block)) for block in re.findall(r"```json\n(.*?)\n```", client, re.S)
    }
    assert found <= set(DIGITS_CLIENT_MESSAGES) and len(found) == 2  # start and infer
    server = section.split("### Digits: server → client", 1)[1].split("\n### ", 1)[0]
    kinds = [json.loads(block)["type"] for block in re.findall(r"```json\n(.*?)\n```", server, re.S)]
    assert kinds == ["digits", "frame", "inference"]
    frame = json.loads(re.findall(r"```json\n(.*?)\n```", server, re.S)[1])
    assert set(frame) == set(fresh_frame(0))  # the documented frame has the server's fields


def test_a_hostile_drawing_is_rasterized_by_the_engine_and_charged_to_its_client(make_client):
    """4,000 random points take a worker a good fraction of a second to rasterize: the cost lands
    on the sender's budget, not on the event loop or another client."""
    rng = np.random.default_rng(0)
    strokes = [np.round(rng.random((62, 2)), 3).tolist() for _ in range(64)]
    client = make_client(compute_share=1e-9)  # a bucket that does not refill during the test
    budgets = client.app.state.budgets
    with client.websocket_connect("/ws/digits") as ws:
        start(ws, at_step=0)
        before, _ = budgets.tokens("testclient")
        ws.send_text(json.dumps({"type": "infer", "strokes": strokes}))
        answer, _ = receive_until(ws, is_type("inference"))
        after, _ = budgets.tokens("testclient")
    assert answer["step"] == 0 and len(answer["ff"]["totals"]) == 10
    assert before - after > 0.01  # at least 40 ms of engine time, counted at the digits weight

"""/ws/race through Starlette's TestClient: the race a student runs, its controls, inference, errors."""

from __future__ import annotations

import asyncio
import contextlib
import json

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from app.web.frames import decode_grid
from app.web.messages import server_message_adapter
from integration.conftest import finished, is_type, receive, receive_until

SHORT = {"steps": 24, "speed": 4}


def start(ws, **settings) -> tuple[dict, dict, dict]:
    ws.send_json({"type": "start", "settings": settings})
    race, frame, state = receive(ws), receive(ws), receive(ws)
    assert (race["type"], frame["type"], state["type"]) == ("race", "frame", "state")
    return race, frame, state


def fresh_frame(*, seed: int, steps: int, at: int) -> dict:
    """The frame a brand-new engine run gives at step `at`: what the server must reproduce."""
    from app.engine.race import Race, RaceSettings
    from app.web.frames import frame_text

    race = Race(RaceSettings(seed=seed, steps=steps))
    for _ in range(at):
        race.step()
    return json.loads(frame_text(race.snapshot(grid=True), steps, race.settings.theta))


def run_to_end(ws) -> list[dict]:
    done, seen = receive_until(ws, finished)
    return [m for m in seen if m["type"] == "frame"]


def test_start_streams_valid_frames_to_the_last_step(client):
    with client.websocket_connect("/ws/race") as ws:
        race, first, state = start(ws, **SHORT)
        assert race["settings"]["steps"] == 24 and race["grid_size"] == 32
        assert len(race["train"]) == 300 and {p[2] for p in race["train"]} == {0, 1}
        assert first["step"] == 0 and state["running"] is True
        frames = run_to_end(ws)
    steps = [f["step"] for f in frames]
    assert steps == list(range(4, 25, 4))
    for frame in [first, *frames]:
        server_message_adapter.validate_json(json.dumps(frame))
        grid = decode_grid(frame["grid"]["ff"], frame["grid"]["size"])
        assert grid.shape == (32, 32)
        assert len(frame["goodness"]["positive"]) == 2


def test_every_frame_fits_the_5kb_budget_on_every_dataset(client):
    from app.engine.datasets import DATASET_NAMES

    with client.websocket_connect("/ws/race") as ws:
        for dataset in DATASET_NAMES:
            ws.send_json({"type": "start", "settings": {"dataset": dataset, "steps": 40, "speed": 8}})
            texts = []
            for _ in range(2000):
                text = ws.receive_text()
                message = json.loads(text)
                if message["type"] == "frame":
                    texts.append(text)
                if finished(message):
                    break
            assert texts and max(len(t.encode()) for t in texts) <= 5120, dataset


def test_the_default_race_reaches_95_percent_for_both_nets(make_client):
    client = make_client(frame_rate=120)
    with client.websocket_connect("/ws/race") as ws:
        start(ws, speed=50)
        last = run_to_end(ws)[-1]
    assert last["step"] == 900
    for net in ("ff", "backprop"):
        assert last[net]["test_accuracy"] >= 0.95, last[net]


def test_pause_resume_step_reset_and_speed(client):
    with client.websocket_connect("/ws/race") as ws:
        start(ws, steps=200, speed=2)
        ws.send_json({"type": "pause"})
        paused, _ = receive_until(ws, lambda m: m["type"] == "state" and not m["running"])
        at = paused["step"]
        ws.send_json({"type": "step"})
        frame, _ = receive_until(ws, is_type("frame"))
        assert frame["step"] == at + 1
        state, _ = receive_until(ws, is_type("state"))
        assert state == {"type": "state", "running": False, "step": at + 1, "steps": 200, "speed": 2, "done": False}
        ws.send_json({"type": "speed", "steps_per_frame": 10})
        assert receive_until(ws, is_type("state"))[0]["speed"] == 10
        ws.send_json({"type": "resume"})
        frame, _ = receive_until(ws, lambda m: m["type"] == "frame" and m["step"] > at + 1)
        assert (frame["step"] - (at + 1)) % 10 == 0
        ws.send_json({"type": "reset"})
        race, _ = receive_until(ws, is_type("race"))
        frame, state = receive(ws), receive(ws)
        assert frame["step"] == 0 and state["running"] is False and state["step"] == 0
        ws.send_json({"type": "resume"})
        assert run_to_end(ws)[-1]["step"] == 200


def test_step_while_paused_walks_one_engine_step_at_a_time(client):
    with client.websocket_connect("/ws/race") as ws:
        start(ws, steps=30)
        ws.send_json({"type": "pause"})
        state, _ = receive_until(ws, lambda m: m["type"] == "state" and not m["running"])
        for expected in range(state["step"] + 1, state["step"] + 4):
            ws.send_json({"type": "step"})
            frame, _ = receive_until(ws, is_type("frame"))
            assert frame["step"] == expected


def test_identical_settings_give_identical_frames_from_the_cache(client):
    def frames_of_one_run():
        with client.websocket_connect("/ws/race") as ws:
            _, first, _ = start(ws, seed=7, **SHORT)
            return [first, *run_to_end(ws)]

    first_run = frames_of_one_run()
    metrics_before = client.get("/metrics").text
    second_run = frames_of_one_run()
    assert first_run == second_run
    hits = [line for line in client.get("/metrics").text.splitlines() if line.startswith("ff_cache_hits_total")]
    assert float(hits[0].split()[-1]) >= len(second_run)
    assert "ff_cache_misses_total" in metrics_before


def test_a_step_between_cached_frames_is_the_same_as_a_fresh_run(client):
    """A frame the shared producer skipped (another speed) is replayed from a checkpoint, exactly."""
    with client.websocket_connect("/ws/race") as ws:
        start(ws, seed=3, steps=60, speed=20)
        run_to_end(ws)
        ws.send_json({"type": "reset"})
        receive_until(ws, lambda m: m["type"] == "state")
        for _ in range(27):
            ws.send_json({"type": "step"})
        frame, _ = receive_until(ws, lambda m: m["type"] == "frame" and m["step"] == 27)
    assert fresh_frame(seed=3, steps=60, at=27) == frame


def test_click_inference_during_and_after_training(client):
    with client.websocket_connect("/ws/race") as ws:
        start(ws, **SHORT)
        ws.send_json({"type": "infer", "x": 0.0, "y": 0.0})
        during, _ = receive_until(ws, is_type("inference"))
        assert 0 <= during["step"] <= 24
        receive_until(ws, finished)
        ws.send_json({"type": "infer", "x": 0.05, "y": -0.02})
        after, _ = receive_until(ws, is_type("inference"))
    server_message_adapter.validate_json(json.dumps(after))
    assert after["step"] == 24
    assert after["ff"]["label"] == int(np.argmax(after["ff"]["totals"]))
    assert len(after["ff"]["goodness"]) == 2 and len(after["ff"]["goodness"][0]) == 2
    assert sum(after["backprop"]["probabilities"]) == pytest.approx(1.0, abs=1e-3)


def test_inference_matches_the_engine_at_the_sessions_step(client):
    from app.engine.race import Race, RaceSettings

    with client.websocket_connect("/ws/race") as ws:
        start(ws, seed=5, steps=37, speed=5)
        receive_until(ws, finished)
        ws.send_json({"type": "infer", "x": 0.9, "y": 0.1})
        answer, _ = receive_until(ws, is_type("inference"))
    race = Race(RaceSettings(seed=5, steps=37))
    for _ in range(37):
        race.step()
    expected = race.infer(0.9, 0.1)
    assert answer["ff"]["totals"] == pytest.approx(expected.ff_totals, abs=1e-3)
    assert answer["backprop"]["label"] == expected.backprop_label


@pytest.mark.parametrize(
    "raw, code, names",
    [
        ("{not json", "bad_json", "JSON"),
        ("[1, 2]", "bad_json", "object"),
        ('{"type": "fly"}', "unknown_type", "fly"),
        ('{"no_type": 1}', "unknown_type", "None"),
        ('{"type": "start", "settings": {"theta": 99}}', "bad_settings", "theta"),
        ('{"type": "start", "settings": {"dataset": "mnist"}}', "bad_settings", "dataset"),
        ('{"type": "start", "settings": {"learning-rate": 0.1}}', "bad_settings", "learning-rate"),
        ('{"type": "start", "settings": {"seed": "zero"}}', "bad_settings", "seed"),
        ('{"type": "speed", "steps_per_frame": 0}', "bad_settings", "speed"),
        ('{"type": "infer", "x": "left", "y": 0}', "bad_message", "x"),
        # A value of the wrong JSON type is refused, never converted.
        ('{"type": "start", "settings": {"seed": true}}', "bad_settings", "seed"),
        ('{"type": "start", "settings": {"seed": "42"}}', "bad_settings", "seed"),
        ('{"type": "start", "settings": {"speed": true}}', "bad_settings", "speed"),
        ('{"type": "start", "settings": {"steps": 90.0}}', "bad_settings", "steps"),
        ('{"type": "start", "at_step": "3"}', "bad_settings", "at_step"),
        ('{"type": "speed", "steps_per_frame": "4"}', "bad_settings", "steps_per_frame"),
        ('{"type": "infer", "x": "1e2", "y": 0}', "bad_message", "x"),
        ('{"type": "infer", "x": 0, "y": false}', "bad_message", "y"),
        ('{"type": "infer", "x": 1e400, "y": 0}', "bad_message", "x"),
        ('{"type": "pause"}', "not_started", "start"),
    ],
)
def test_bad_input_gets_an_error_naming_the_problem_and_the_socket_stays_open(client, raw, code, names):
    with client.websocket_connect("/ws/race") as ws:
        ws.send_text(raw)
        error = receive(ws)
        assert error["type"] == "error" and error["code"] == code
        assert names in error["message"]
        start(ws, **SHORT)  # still open and usable


def test_numbers_of_either_json_form_are_numbers(client):
    """An integer is a valid number: theta 2 and x 1 are accepted like 2.0 and 1.0."""
    with client.websocket_connect("/ws/race") as ws:
        race, _, _ = start(ws, theta=2, **SHORT)
        assert race["settings"]["theta"] == 2.0
        ws.send_json({"type": "infer", "x": 1, "y": 0})
        assert receive_until(ws, is_type("inference"))[0]["x"] == 1.0


def test_binary_messages_are_refused_with_a_clear_error_and_the_socket_stays_open(client):
    with client.websocket_connect("/ws/race") as ws:
        ws.send_bytes(json.dumps({"type": "start", "settings": SHORT}).encode())
        error = receive(ws)
        assert error["code"] == "not_text" and "text" in error["message"]
        start(ws, **SHORT)


def test_oversized_message_gets_an_error_then_close_1009(client):
    with client.websocket_connect("/ws/race") as ws:
        ws.send_text(json.dumps({"type": "start", "pad": "x" * 5000}))
        error = receive(ws)
        assert error["code"] == "too_big" and "4096" in error["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
    assert closed.value.code == 1009


def test_a_flood_gets_an_error_then_close_1008(make_client):
    client = make_client(messages_per_second=5)
    with client.websocket_connect("/ws/race") as ws:
        for _ in range(6):
            ws.send_json({"type": "speed", "steps_per_frame": 3})
        error, _ = receive_until(ws, is_type("error"))
        assert error["code"] == "rate_limited"
        with pytest.raises(WebSocketDisconnect) as closed:
            receive_until(ws, lambda m: False)
    assert closed.value.code == 1008
    assert 'ff_refusals_total{reason="rate_limited"} 1.0' in client.get("/metrics").text


def test_sessions_over_the_per_client_cap_close_1013(make_client):
    client = make_client(sessions_per_client=1)
    with client.websocket_connect("/ws/race") as first:
        with client.websocket_connect("/ws/race") as second:
            error = receive(second)
            assert error["code"] == "at_capacity"
            with pytest.raises(WebSocketDisconnect) as closed:
                receive(second)
        assert closed.value.code == 1013
        start(first, **SHORT)  # the first session is untouched
    with client.websocket_connect("/ws/race") as again:  # the slot was released
        start(again, **SHORT)


def test_sessions_over_the_total_cap_close_1013(make_client):
    client = make_client(sessions_total=2, sessions_per_client=5)
    with client.websocket_connect("/ws/race"), client.websocket_connect("/ws/race"):
        with client.websocket_connect("/ws/race") as third:
            assert receive(third)["code"] == "at_capacity"
            with pytest.raises(WebSocketDisconnect) as closed:
                receive(third)
    assert closed.value.code == 1013
    assert "ff_live_sessions 0.0" in client.get("/metrics").text


@pytest.mark.parametrize(
    "origin, allowed",
    [
        ("http://testserver", True),
        ("https://testserver", True),
        ("https://explainer.example", True),
        ("https://evil.example", False),
        ("http://testserver.evil.example", False),
        ("null", False),
    ],
)
def test_origin_is_checked_before_accept(make_client, origin, allowed):
    client = make_client(allowed_origins="https://explainer.example")
    if allowed:
        with client.websocket_connect("/ws/race", headers={"origin": origin}) as ws:
            start(ws, **SHORT)
    else:
        with pytest.raises(WebSocketDisconnect):
            with client.websocket_connect("/ws/race", headers={"origin": origin}):
                pass
        assert 'ff_refusals_total{reason="origin"} 1.0' in client.get("/metrics").text


def test_missing_origin_can_be_refused(make_client):
    client = make_client(allow_missing_origin=False)
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws/race"):
            pass


def test_one_session_errors_never_touch_another(client):
    with client.websocket_connect("/ws/race") as good, client.websocket_connect("/ws/race") as bad:
        start(good, **SHORT)
        bad.send_text("{")
        assert receive(bad)["code"] == "bad_json"
        bad.send_text("x" * 9000)
        assert receive(bad)["code"] == "too_big"
        assert len(run_to_end(good)) == 6


def test_the_outbox_conflates_frames_and_stays_bounded():
    from app.web.limits import Outbox

    outbox = Outbox(capacity=4)
    outbox.put("state-1")
    for step in range(100):  # a client that reads nothing: only the newest frame survives
        outbox.put_frame(f"frame-{step}")
    outbox.put("inference")
    assert [text for _, text in outbox._items] == ["state-1", "frame-99", "inference"]
    assert outbox.conflated == 99
    for index in range(10):
        outbox.put(f"message-{index}")
    assert len(outbox) == 4


def test_a_late_tick_is_followed_by_a_full_interval_so_no_frame_is_conflated():
    """A frame that took longer than the interval to compute, followed by ready (cached) ones:
    the player must wait a full interval after the late tick, not send the next frame at once
    (which would replace the late frame in the outbox before the writer could send it)."""
    import asyncio

    from app.web.metrics import Metrics
    from app.web.sessions import RaceSession
    from app.web.wire import FrameCodec
    from integration.conftest import make_settings

    class SlowFirstFrame:
        steps = 12
        codec = FrameCodec()

        def want_ahead(self, steps):
            pass

        async def frame(self, step):
            if step == 4:
                await asyncio.sleep(0.1)  # ten ticks at 100 frames/s
            return json.dumps({"type": "frame", "step": step}), True

    async def scenario():
        session = RaceSession(None, make_settings(frame_rate=100), None, Metrics(), None)
        session.record = session.viewer = SlowFirstFrame()
        session.running, session.speed = True, 4
        player = asyncio.create_task(session.play_loop())
        sent = []
        try:
            async with asyncio.timeout(5):
                while not sent or '"done":true' not in sent[-1]:
                    item = (await session.outbox.get())[1]
                    sent.append(getattr(item, "text", item))  # a frame (OutFrame) or a message
        finally:
            player.cancel()
        return [json.loads(text)["step"] for text in sent if '"frame"' in text], session.outbox.conflated

    steps, conflated = asyncio.run(scenario())
    assert steps == [4, 8, 12] and conflated == 0


def test_every_session_ticks_on_one_shared_grid_at_its_frame_rate():
    """Sessions that start at unrelated moments still wake on the same grid points (one event-loop
    wake-up then serves all of them), each one frame interval after its last: the grid changes when
    a frame goes, never how often."""
    import asyncio

    from app.web.metrics import Metrics
    from app.web.sessions import TICK_GRID_PER_INTERVAL, RaceSession
    from app.web.wire import FrameCodec
    from integration.conftest import make_settings

    settings = make_settings(frame_rate=50)
    interval = settings.frame_interval_s
    grid = interval / TICK_GRID_PER_INTERVAL

    class Ready:
        steps = 40
        codec = FrameCodec()

        def __init__(self, intro_s):
            self.intro_s = intro_s

        def want_ahead(self, steps):
            pass

        async def frame(self, step):
            if step == 4:  # the first frame played: sessions reach it at unrelated moments
                await asyncio.sleep(self.intro_s)
            return json.dumps({"type": "frame", "step": step}), True

    async def scenario():
        loop = asyncio.get_running_loop()
        sessions = [RaceSession(None, settings, None, Metrics(), None) for _ in range(3)]
        ticks = {id(session): [] for session in sessions}
        owners = {id(session.wake): session for session in sessions}
        call_at = loop.call_at

        def spy(when, callback, *args, **kwargs):
            owner = owners.get(id(getattr(callback, "__self__", None)))
            if owner is not None:
                ticks[id(owner)].append(when)
            return call_at(when, callback, *args, **kwargs)

        loop.call_at = spy
        players = []
        for session, intro_s in zip(sessions, (0.0, 0.0071, 0.0133), strict=True):
            session.record = session.viewer = Ready(intro_s)
            session.running, session.speed = True, 4
            players.append(asyncio.create_task(session.play_loop()))
        try:
            async with asyncio.timeout(10):
                for session in sessions:
                    while '"done":true' not in str((await session.outbox.get())[1]):
                        pass
        finally:
            for player in players:
                player.cancel()
            del loop.call_at
        return [ticks[id(session)] for session in sessions]

    for times in asyncio.run(scenario()):
        assert len(times) >= 8  # one timer per frame played after the first
        for when in times:
            assert abs(when / grid - round(when / grid)) < 1e-6, when
        steps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(steps) > interval - 1e-6  # never faster than the frame rate


class Buffering:
    """A run and its viewer for a session's player: frames are always ready, but the frames ahead
    are buffered only when the test says so."""

    steps = 40

    def __init__(self):
        from app.web.wire import FrameCodec

        self.codec = FrameCodec()
        self.buffered: asyncio.Future | None = None
        self.asked: list[int] = []
        self.released = asyncio.Event()

    async def info(self, speed):
        return json.dumps({"type": "race"})

    async def frame(self, step, intro=False):
        return json.dumps({"type": "frame", "step": step}), True

    def want_ahead(self, steps):
        pass

    def buffer(self, steps):
        self.asked = list(steps)
        self.buffered = asyncio.get_running_loop().create_future()
        return self.buffered

    def unbuffer(self):
        self.released.set()


async def next_frame_step(session) -> int:
    while True:
        item = (await session.outbox.get())[1]
        if '"frame"' in getattr(item, "text", item):
            return json.loads(getattr(item, "text", item))["step"]


@contextlib.asynccontextmanager
async def buffering(run: Buffering):
    """A session started on `run`, its player past the introduction (step 0, sent at once) and
    waiting for its buffer."""
    from app.web.metrics import Metrics
    from app.web.sessions import RaceSession
    from integration.conftest import make_settings

    session = RaceSession(None, make_settings(frame_rate=100), None, Metrics(), None)
    session.record = session.viewer = run
    session.running, session.speed, session.needs_intro = True, 4, True
    player = asyncio.create_task(session.play_loop())
    try:
        async with asyncio.timeout(5):
            assert await next_frame_step(session) == 0
            while run.buffered is None:  # the player asks for its buffer next
                await asyncio.sleep(0)
        yield session
    finally:
        player.cancel()


def test_a_race_starts_playing_once_its_first_frames_ahead_are_computed():
    from app.web.sessions import PREBUFFER_FRAMES

    async def scenario():
        run = Buffering()
        async with buffering(run) as session:
            assert PREBUFFER_FRAMES >= 1 and run.asked == [4 * i for i in range(1, PREBUFFER_FRAMES + 1)]
            assert not [item for _, item in session.outbox._items if '"frame"' in getattr(item, "text", item)]
            run.buffered.set_result(None)
            async with asyncio.timeout(5):
                assert await next_frame_step(session) == 4

    asyncio.run(scenario())


def test_a_pause_while_a_race_buffers_is_heard_at_once():
    from app.web.messages import Pause
    from app.web.sessions import PREBUFFER_TIMEOUT_S

    async def scenario():
        run = Buffering()
        async with buffering(run) as session:
            session.dispatch(Pause(type="pause"))
            # The wait ends with the pause, well before the buffer's own time limit.
            async with asyncio.timeout(PREBUFFER_TIMEOUT_S / 2):
                await run.released.wait()
            assert not session.running and not run.buffered.done()

    asyncio.run(scenario())


def test_the_tick_grid_does_not_drift_over_a_long_race():
    from app.web.sessions import on_tick_grid

    grid, interval = 0.01, 0.05
    tick = 12345.678901
    first = on_tick_grid(tick, grid)
    assert tick <= first < tick + grid
    for frame in range(1, 20000):
        tick += interval
        assert round((on_tick_grid(tick, grid) - first) / grid) == frame * 5


def test_start_at_a_step_lands_there_paused_exactly_as_a_fresh_run(client):
    """A page restoring a race after a reconnect asks for its step back: 53 is a prime that no
    speed divides, so the frame must come from the run itself, not from playing up to it."""
    with client.websocket_connect("/ws/race") as ws:
        ws.send_json({"type": "start", "settings": {"seed": 3, "steps": 60, "speed": 50}, "at_step": 53})
        race, frame, state = receive(ws), receive(ws), receive(ws)
        assert (race["type"], frame["type"], state["type"]) == ("race", "frame", "state")
        assert frame["step"] == 53 and state == {**state, "running": False, "step": 53}
        ws.send_json({"type": "resume"})
        frames = run_to_end(ws)
        assert [f["step"] for f in frames] == [60]
    assert fresh_frame(seed=3, steps=60, at=53) == frame


def test_start_at_a_step_past_the_end_is_refused_and_the_socket_stays_open(client):
    with client.websocket_connect("/ws/race") as ws:
        ws.send_json({"type": "start", "settings": {"steps": 24}, "at_step": 25})
        error = receive(ws)
        assert error["code"] == "bad_settings" and "at_step" in error["message"]
        start(ws, **SHORT)

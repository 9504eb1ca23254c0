"""Engine worker processes: a crash costs only the requests it was serving, once; they start and stop
with the app; and they leave with the server however it dies."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from starlette.websockets import WebSocketDisconnect

from app.engine.race import Race, RaceSettings
from app.web import create_app
from app.web.cache import run_key
from app.web.frames import frame_text
from integration.conftest import (
    TestClient,
    alive,
    descendants,
    finished,
    is_type,
    make_settings,
    receive,
    receive_until,
    serve_in_subprocess,
)


def direct_frame(settings: RaceSettings, step: int) -> dict:
    race = Race(settings)
    race.advance_to(step)
    return json.loads(frame_text(race.snapshot(grid=True), settings.steps, settings.theta))


def wait_until(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # a poll of the server's own state, bounded
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def checkpoint_frame(race: Race) -> dict:
    return json.loads(frame_text(race.snapshot(grid=True), race.settings.steps, race.settings.theta))


def test_the_producer_keeps_a_checkpoint_every_checkpoint_every_steps_and_at_the_last_step():
    """A slot's producer forks a checkpoint at every multiple of CHECKPOINT_EVERY and at the run's
    last step, each the race exactly as it stood there (later steps of the producer leave it)."""
    from app.web.engine_worker import CHECKPOINT_EVERY, RunState

    settings = RaceSettings(seed=9, steps=2 * CHECKPOINT_EVERY + 7)
    state = RunState(settings)
    assert state.produce_to(settings.steps) is True and state.position == settings.steps
    assert sorted(state.checkpoints) == [0, CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY, settings.steps]
    for step, checkpoint in state.checkpoints.items():
        assert checkpoint is not state.producer and checkpoint.step_count == step
        assert checkpoint_frame(checkpoint) == direct_frame(settings, step)


def test_a_producer_stopped_by_its_deadline_has_kept_the_checkpoint_of_its_last_step():
    """With a deadline already passed the producer makes one step and stops; the checkpoint of
    that step is kept all the same, and no step between checkpoints adds one."""
    from app.web.engine_worker import CHECKPOINT_EVERY, RunState

    settings = RaceSettings(seed=10, steps=3 * CHECKPOINT_EVERY)
    state = RunState(settings)
    assert state.produce_to(CHECKPOINT_EVERY - 1) is True
    assert state.produce_to(2 * CHECKPOINT_EVERY, deadline=time.perf_counter()) is False
    assert state.position == CHECKPOINT_EVERY and sorted(state.checkpoints) == [0, CHECKPOINT_EVERY]
    assert state.produce_to(CHECKPOINT_EVERY + 3) is True and sorted(state.checkpoints) == [0, CHECKPOINT_EVERY]
    assert checkpoint_frame(state.checkpoints[CHECKPOINT_EVERY]) == direct_frame(settings, CHECKPOINT_EVERY)


def test_a_crashed_worker_fails_the_waiting_request_once_and_the_run_then_works(make_client):
    client = make_client(engine_processes=1)
    pool, cache = client.app.state.engine_pool, client.app.state.cache
    long_run = RaceSettings(seed=21, steps=5000)
    with client.websocket_connect("/ws/race") as ws:
        ws.send_json({"type": "start", "settings": {"seed": 21, "steps": 5000}, "at_step": 5000})
        wait_until(lambda: (record := cache._live.get(run_key(long_run))) is not None and record.position > 0)
        for pid in pool.pids():  # mid-way through the restore's replay
            os.kill(pid, signal.SIGKILL)
        error, _ = receive_until(ws, is_type("error"))
        assert error["code"] == "internal"
        with pytest.raises(WebSocketDisconnect) as closed:
            receive_until(ws, lambda m: False)
        assert closed.value.code == 1011
    assert client.get("/healthz").status_code == 200
    # The page's restore, and a newcomer on the same run, both succeed the first time.
    with client.websocket_connect("/ws/race") as ws:
        ws.send_json({"type": "start", "settings": {"seed": 21, "steps": 5000}, "at_step": 4999})
        race, frame, state = receive(ws), receive(ws), receive(ws)
        assert (race["type"], frame["step"], state["step"]) == ("race", 4999, 4999)
        assert frame == direct_frame(long_run, 4999)
    with client.websocket_connect("/ws/race") as ws:
        ws.send_json({"type": "start", "settings": {"seed": 21, "steps": 5000, "speed": 50}})
        frame, _ = receive_until(ws, lambda m: m["type"] == "frame" and m["step"] == 50)
        assert frame == direct_frame(long_run, 50)
    assert "ff_engine_failures_total 1.0" in client.get("/metrics").text


def test_a_crash_does_not_touch_races_playing_frames_computed_ahead(make_client):
    """A session streaming a race when its worker dies loses nothing: the frames it had named
    ahead are computed again by the new worker, and it plays every step in order."""
    client = make_client(engine_processes=1, frame_rate=50)
    pool = client.app.state.engine_pool
    with client.websocket_connect("/ws/race") as ws:
        ws.send_json({"type": "start", "settings": {"seed": 5, "steps": 200, "speed": 2}})
        receive_until(ws, lambda m: m["type"] == "frame" and m["step"] >= 20)
        for pid in pool.pids():
            os.kill(pid, signal.SIGKILL)
        done, seen = receive_until(ws, finished)
    steps = [m["step"] for m in seen if m["type"] == "frame"]
    assert steps == list(range(steps[0], 201, 2)) and not [m for m in seen if m["type"] == "error"]


def test_the_engine_workers_start_and_stop_with_the_app():
    with TestClient(create_app(make_settings(engine_processes=2))) as client:
        pool = client.app.state.engine_pool
        pids = pool.pids()
        assert len(pids) == 2  # started with the app, before any race
    assert pool.pids() == []
    for pid in pids:
        assert not alive(pid)


def test_the_engine_processes_leave_when_the_server_is_killed(tmp_path):
    """kill -9 of the server: its engine workers, multiprocessing's forkserver and resource tracker
    all exit on their own (the workers watch the server; the others follow them)."""
    process, _ = serve_in_subprocess({"FF_ENGINE_PROCESSES": "2"}, tmp_path / "server.log")
    left = descendants(process.pid)
    try:
        assert len(left) >= 3  # two workers and the forkserver at least
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        wait_until(lambda: not any(alive(pid) for pid in left), timeout_s=15)
    finally:
        if process.poll() is None:
            process.kill()
        for pid in left:  # whatever the outcome, the test leaves nothing behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_answers_calls_in_order_through_large_answers_and_failed_calls():
    """The socket to a worker carries answers larger than its buffers (a slice of many frames), and a
    call the worker cannot answer fails alone: the worker answers the next one."""
    import asyncio

    from app.web.engine_pool import EnginePool
    from app.web.engine_worker import Item

    settings = [RaceSettings(seed=70 + i, steps=24) for i in range(16)]

    async def scenario():
        pool = EnginePool(1, 1, keep_runs=32)
        try:
            await pool.start()
            channel = pool.slots[0].worker()
            items = [Item(run_key(s), s, frames=[4, 8, 12, 16, 20, 24]) for s in settings]
            big = channel.call("execute", items, 30.0, [])
            wrong = channel.call("no such call")
            after = channel.call("ready")
            results = await big
            with pytest.raises(RuntimeError, match="engine call failed"):
                await wrong
            return results, await after, channel.process.pid
        finally:
            pool.shutdown()

    results, pid, worker = asyncio.run(scenario())
    assert pid == worker
    assert sum(len(text) for result in results for text in result.frames.values()) > 300_000
    for s, result in zip(settings, results, strict=True):
        assert json.loads(result.frames[24]) == direct_frame(s, 24)


@pytest.mark.parametrize("stray", [b"not a pickle", None], ids=["garbage", "unasked"])
def test_a_worker_that_answers_what_nobody_asked_is_replaced(stray):
    """A worker stream that is not answers to calls (a bug, or corruption) costs that worker only:
    the channel fails, the process is stopped, and the slot's next call gets a new worker."""
    import asyncio
    import pickle

    from app.web.engine_pool import EngineCrashed, EnginePool
    from app.web.engine_worker import HEADER

    message = pickle.dumps((True, "unasked")) if stray is None else stray

    async def scenario():
        pool = EnginePool(1, 1, keep_runs=4)
        try:
            await pool.start()
            slot = pool.slots[0]
            first = slot.worker()
            old = await first.call("ready")
            first._received(HEADER.pack(len(message)) + message)  # as if read from its socket
            with pytest.raises(EngineCrashed):
                first.call("ready")
            first.process.join(10)
            return old, first.process.is_alive(), await slot.worker().call("ready")
        finally:
            pool.shutdown()

    old, alive_after, new = asyncio.run(scenario())
    assert not alive_after and new != old

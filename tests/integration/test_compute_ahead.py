"""Frames computed ahead and in engine worker processes: the same frames as a direct Race, bounded
memory, no task left behind, cancellation safety, and a crashed worker costing only its sessions."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.engine.race import Race, RaceSettings
from app.web.cache import RunRecord
from app.web.engine_pool import EnginePool
from app.web.frames import frame_text
from app.web import create_app
from integration.conftest import TestClient, is_type, make_settings, receive_until
from integration.test_race_socket import SHORT, run_to_end, start

SETTINGS = RaceSettings(seed=11, steps=60)


def direct_frames(settings: RaceSettings, steps: list[int]) -> dict[int, str]:
    race, out = Race(settings), {}
    for step in sorted(steps):
        while race.step_count < step:
            race.step()
        out[step] = frame_text(race.snapshot(grid=True), settings.steps, settings.theta)
    return out


async def play_async(record: RunRecord, speed: int, ahead: int) -> dict[int, str]:
    out, step = {}, 0
    while step < record.steps:
        step = min(step + speed, record.steps)
        upcoming = sorted({min(step + speed * i, record.steps) for i in range(1, ahead + 1)} - {step})
        out[step], _ = await record.frame(step, upcoming)
    return out


async def settle(record: RunRecord) -> None:
    """Wait for the record's background chunks; bounded, since a chunk never starts another."""
    for _ in range(100):
        tasks = record.tasks()
        if not tasks:
            return
        await asyncio.wait(tasks)
    raise AssertionError("the record kept starting tasks")


@pytest.fixture(params=[0, 1], ids=["threads", "process"])
def make_record(request):
    executor = ThreadPoolExecutor(2)
    pool = EnginePool(1, keep_runs=4) if request.param else None

    def factory(settings: RaceSettings = SETTINGS, max_frames: int = 1000) -> RunRecord:
        return RunRecord(settings, executor, max_frames, pool)

    yield factory
    if pool is not None:
        pool.shutdown()
    executor.shutdown(wait=True)


@pytest.mark.parametrize("speed", [4, 7])
def test_frames_computed_ahead_are_those_of_a_direct_run(make_record, speed):
    record = make_record()

    async def scenario():
        frames = await play_async(record, speed, ahead=10)
        # A step the producer has passed (a `step` from another session) is the same frame too.
        frames[5], _ = await record.frame(5)
        await settle(record)
        assert asyncio.all_tasks() == {asyncio.current_task()}  # no task left behind
        return frames

    frames = asyncio.run(scenario())
    assert frames == direct_frames(SETTINGS, list(frames))


def test_memory_per_run_stays_bounded_while_computing_ahead(make_record):
    record = make_record(max_frames=5)

    async def scenario():
        frames = await play_async(record, 4, ahead=10)
        await settle(record)
        return frames

    frames = asyncio.run(scenario())
    assert len(record._frames) <= 5
    assert frames == direct_frames(SETTINGS, list(frames))


def test_nothing_is_computed_for_a_run_nobody_plays(make_record):
    record = make_record()

    async def scenario():
        await record.frame(8, [12, 16, 20])
        await settle(record)
        kept = dict(record._frames)
        await asyncio.sleep(0)  # a yield, not a wait: nothing may be scheduled to run
        assert not record.tasks() and record._frames == kept
        return kept

    kept = asyncio.run(scenario())
    assert set(kept) == {8, 12, 16}  # the asked step, and half the named horizon per chunk


def test_a_caller_that_goes_away_does_not_cancel_the_shared_chunk(make_record):
    record = make_record()

    async def scenario():
        first = asyncio.create_task(record.frame(12))
        for _ in range(1000):  # yields until the chunk for step 12 is under way
            if 12 in record._in_flight:
                break
            await asyncio.sleep(0)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        text, spared = await record.frame(12)
        await settle(record)
        return text, spared

    text, spared = asyncio.run(scenario())
    assert spared and text == direct_frames(SETTINGS, [12])[12]


def test_click_model_matches_a_direct_run_when_frames_came_from_a_worker(make_record):
    record = make_record()

    async def scenario():
        await play_async(record, 10, ahead=10)
        await settle(record)
        return await record.model_at(37, None)

    model = asyncio.run(scenario())
    race = Race(SETTINGS)
    for _ in range(37):
        race.step()
    assert model.step_count == 37
    assert model.infer(0.1, -0.2) == race.infer(0.1, -0.2)


def test_a_crashed_engine_worker_costs_only_its_sessions(make_client):
    client = make_client(engine_processes=1)
    pool = client.app.state.engine_pool
    with client.websocket_connect("/ws/race") as ws:
        start(ws, seed=21, steps=2000, speed=1)
        receive_until(ws, is_type("frame"))
        for pid in pool.pids():
            os.kill(pid, signal.SIGKILL)
        error, _ = receive_until(ws, is_type("error"))
        assert error["code"] == "internal"
    assert client.get("/healthz").status_code == 200
    # The slot starts a fresh worker: the next race (a new run, and the crashed run again) plays.
    with client.websocket_connect("/ws/race") as ws:
        _, first, _ = start(ws, seed=22, **SHORT)
        assert [f["step"] for f in run_to_end(ws)] == list(range(4, 25, 4))
    with client.websocket_connect("/ws/race") as ws:
        start(ws, seed=21, steps=2000, speed=50)
        frame, _ = receive_until(ws, is_type("frame"))
    assert frame["step"] == 50
    assert frame == json.loads(direct_frames(RaceSettings(seed=21, steps=2000), [50])[50])


def test_the_engine_workers_stop_with_the_app():
    with TestClient(create_app(make_settings(engine_processes=2))) as client:
        pool = client.app.state.engine_pool
        pids = pool.pids()
        assert len(pids) == 2  # started with the app, before any race
    assert pool.pids() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_frees_a_run_when_the_server_lets_its_record_go():
    executor, pool = ThreadPoolExecutor(1), EnginePool(1, keep_runs=4)

    async def scenario():
        record = RunRecord(SETTINGS, executor, 1000, pool)
        await record.frame(4, [8])
        await settle(record)
        key = record.key
        assert await pool.holds(key)
        del record
        gc.collect()  # the record is unreachable; its finalizer asks the worker to drop the run
        return await pool.holds(key)

    try:
        assert asyncio.run(scenario()) is False
    finally:
        pool.shutdown()
        executor.shutdown(wait=True)

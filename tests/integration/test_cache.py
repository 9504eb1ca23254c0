"""The run cache and its engine: frames computed ahead in engine slots (processes or threads) are the
frames of a direct Race; a run shared by several sessions is computed once; memory stays bounded;
work nobody wants any more is never done; and no task is left behind."""

from __future__ import annotations

import asyncio
import gc
from contextlib import asynccontextmanager

import pytest

from app.engine.race import Race, RaceSettings
from app.web.cache import RunCache, RunRecord
from app.web.engine_pool import EnginePool
from app.web.frames import frame_text
from app.web.scheduler import Account, Budgets, EngineScheduler

SETTINGS = RaceSettings(seed=11, steps=60)


def direct_frames(settings: RaceSettings, steps) -> dict[int, str]:
    race, out = Race(settings), {}
    for step in sorted(steps):
        race.advance_to(step)
        out[step] = frame_text(race.snapshot(grid=True), settings.steps, settings.theta)
    return out


def account(client: str = "127.0.0.1", budgets: Budgets | None = None) -> Account:
    return Account(client, budgets or Budgets(0.25, 5.0, lambda _client: 1))


@asynccontextmanager
async def engine(processes: int, slice_s: float = 0.02):
    """A pool of one slot (a process, or a thread), its scheduler and a run cache."""
    pool = EnginePool(processes, 1, keep_runs=8)
    scheduler = EngineScheduler(pool, slice_s)
    try:
        yield pool, scheduler, RunCache(4, scheduler, 1000)
    finally:
        await scheduler.close()
        pool.shutdown()


@pytest.fixture(params=[0, 1], ids=["threads", "process"])
def processes(request) -> int:
    return request.param


async def play(viewer, speed: int, ahead: int) -> dict[int, str]:
    """What a running session does: at each tick, name the next steps, then take the current one."""
    out, step = {}, 0
    steps = viewer.record.steps
    while step < steps:
        step = min(step + speed, steps)
        viewer.want_ahead(sorted({min(step + speed * i, steps) for i in range(1, ahead + 1)} - {step}))
        out[step], _ = await viewer.frame(step)
    return out


async def settle(scheduler: EngineScheduler) -> None:
    """Until the scheduler has nothing left to do; bounded, since every slice makes progress."""
    for _ in range(2000):
        if not scheduler.waiting() and not scheduler._servers:
            return
        await asyncio.sleep(0.005)  # yields to the slot servers; the loop's bound ends the wait
    raise AssertionError("the scheduler kept working")


@pytest.mark.parametrize("speed", [4, 7])
def test_frames_computed_ahead_are_those_of_a_direct_run(processes, speed):
    async def scenario():
        async with engine(processes) as (_, scheduler, cache):
            viewer = cache.record(SETTINGS).viewer(account())
            frames = await play(viewer, speed, ahead=10)
            # A step the producer has passed (a `step` from another session) is the same frame too.
            frames[5], ready = await viewer.frame(5)
            assert not ready
            viewer.close()
            await settle(scheduler)
        assert asyncio.all_tasks() == {asyncio.current_task()}  # no task left behind
        return frames

    frames = asyncio.run(scenario())
    assert frames == direct_frames(SETTINGS, frames)


def test_memory_per_run_stays_bounded_while_computing_ahead(processes):
    async def scenario():
        async with engine(processes) as (_, scheduler, _cache):
            record = RunRecord(SETTINGS, scheduler, max_frames=5)
            frames = await play(record.viewer(account()), 4, ahead=10)
            await settle(scheduler)
            return record, frames

    record, frames = asyncio.run(scenario())
    assert len(record.frames) <= 5
    assert frames == direct_frames(SETTINGS, frames)


def test_sessions_sharing_a_run_compute_each_frame_once(processes):
    """Two pairs of sessions, one pair started together, one apart (the second pair joins when the
    first is half way): every frame of the run is computed exactly once."""

    async def scenario():
        async with engine(processes) as (_, scheduler, cache):
            record = cache.record(SETTINGS)
            together = [record.viewer(account(f"127.0.0.{i}")) for i in (1, 2)]
            first = await asyncio.gather(*(play(viewer, 4, 10) for viewer in together))
            late = cache.record(SETTINGS).viewer(account("127.0.0.3"))
            assert late.record is record
            second = await play(late, 4, 10)
            await settle(scheduler)
            return record, first, second

    record, (a, b), c = asyncio.run(scenario())
    assert a == b == c
    assert record.computed == len(a) == 15


def test_a_run_held_by_a_session_is_shared_even_after_the_lru_forgot_it():
    async def scenario():
        async with engine(0) as (_, scheduler, cache):
            held = cache.record(SETTINGS)
            for seed in range(20):  # a flood of other runs pushes it out of the LRU
                cache.record(RaceSettings(seed=100 + seed, steps=10))
            return held is cache.record(SETTINGS)

    assert asyncio.run(scenario())


async def ask_deep_then_leave(record, account: Account, scheduler: EngineScheduler) -> None:
    """A viewer asks for step 5000 of `record`'s run, and leaves (cancels and closes) as soon as the
    engine has made some progress, most likely while a slice is under way; then the engine settles."""
    viewer = record.viewer(account)
    wanted = asyncio.create_task(viewer.frame(5000))
    for _ in range(1000):  # yields until the engine has made some progress
        if record.position > 0:
            break
        await asyncio.sleep(0.005)
    wanted.cancel()
    viewer.close()
    await settle(scheduler)


def test_work_for_a_run_nobody_watches_is_dropped(processes):
    """A restore far into a long run, abandoned at once (a new `start`): the engine stops working on
    it after at most the slice under way, and never reaches the step."""
    settings = RaceSettings(seed=12, steps=5000)

    async def scenario():
        async with engine(processes, slice_s=0.01) as (_, scheduler, cache):
            record = cache.record(settings)
            await ask_deep_then_leave(record, account(), scheduler)
            return record

    record = asyncio.run(scenario())
    assert 0 < record.position < 5000 and 5000 not in record.frames and not record.wanted


def test_work_a_client_asked_for_and_then_abandoned_is_still_charged_to_it(processes):
    """Asking for deep work and leaving before the answer must not be free: every second the engine
    spent on the request, the slice under way when the client left included, is charged to it."""
    settings = RaceSettings(seed=13, steps=5000)
    charged: list[float] = []

    class Recording(Account):
        def charge(self, seconds: float) -> None:
            charged.append(seconds)
            super().charge(seconds)

    async def scenario():
        async with engine(processes, slice_s=0.01) as (pool, scheduler, cache):
            spent: list[float] = []
            execute = pool.execute

            async def timed(index, items, slice_s):
                results = await execute(index, items, slice_s)
                spent.extend(result.seconds for result in results)
                return results

            pool.execute = timed
            record = cache.record(settings)
            await ask_deep_then_leave(record, Recording("127.0.0.9", Budgets(0.25, 5.0, lambda _client: 1)), scheduler)
            return spent, record

    spent, record = asyncio.run(scenario())
    assert spent and sum(spent) > 0
    assert sum(charged) == pytest.approx(sum(spent))
    assert not record.askers  # nothing is kept once the engine is done with an item


def test_a_caller_that_goes_away_does_not_cancel_a_step_others_wait_for(processes):
    async def scenario():
        async with engine(processes) as (_, scheduler, cache):
            record = cache.record(SETTINGS)
            leaving, staying = record.viewer(account("127.0.0.1")), record.viewer(account("127.0.0.2"))
            first = asyncio.create_task(leaving.frame(12))
            second = asyncio.create_task(staying.frame(12))
            await asyncio.sleep(0)  # both have asked
            first.cancel()
            leaving.close()
            with pytest.raises(asyncio.CancelledError):
                await first
            text, _ = await second
            await settle(scheduler)
            return text

    assert asyncio.run(scenario()) == direct_frames(SETTINGS, [12])[12]


def test_a_buffer_is_done_once_its_frames_ahead_are_computed_without_making_them_urgent(processes):
    async def scenario():
        async with engine(processes) as (_, scheduler, cache):
            record = cache.record(SETTINGS)
            viewer = record.viewer(account())
            viewer.want_ahead([4, 8, 12, 16])
            buffered = viewer.buffer([4, 8, 12])
            assert buffered is not None and not viewer.awaiting  # waited for as frames ahead
            await asyncio.wait_for(buffered, 30)
            ready = {step for step in (4, 8, 12) if step in record.frames}
            again = viewer.buffer([4, 8, 12])
            # A viewer that leaves releases whoever waits on its buffer.
            leaving = record.viewer(account())
            leaving.want_ahead([52, 56])
            waiting = leaving.buffer([52, 56])
            leaving.close()
            await settle(scheduler)
            return ready, again, waiting

    ready, again, waiting = asyncio.run(scenario())
    assert ready == {4, 8, 12} and again is None
    assert waiting is not None and waiting.done()


def test_the_viewer_with_the_fewest_frames_ready_ahead_goes_first():
    """Among frames asked for ahead, the session whose player will run out first is served first,
    whoever used less lately: every session's next frame before anyone's tenth."""

    async def scenario():
        async with engine(0) as (_, scheduler, cache):
            thin, deep = cache.record(SETTINGS), cache.record(RaceSettings(seed=12, steps=60))
            deep.frames.update({4: "4", 8: "8", 12: "12"})  # three frames ready ahead of its player
            thin_viewer, deep_viewer = thin.viewer(account("10.0.0.1")), deep.viewer(account("10.0.0.2"))
            thin_viewer.account.charge(0.5)  # the thin one used more lately
            ahead = [4 * i for i in range(1, 11)]
            thin_viewer.want_ahead(ahead)
            deep_viewer.want_ahead(ahead)
            now = asyncio.get_running_loop().time()
            order = (thin.priority(now, {}), deep.priority(now, {}))
            thin_viewer.close()
            deep_viewer.close()
            return order, deep_viewer.slack(), thin_viewer.slack()

    (thin, deep), deep_slack, thin_slack = asyncio.run(scenario())
    assert (deep_slack, thin_slack) == (3, 0)
    assert thin < deep


def test_click_inference_matches_a_direct_run_behind_at_and_past_the_producer(processes):
    async def scenario():
        async with engine(processes) as (_, scheduler, cache):
            viewer = cache.record(SETTINGS).viewer(account())
            await play(viewer, 10, ahead=2)
            answers = {step: await viewer.infer(step, 0.1, -0.2) for step in (37, 60, 3)}
            viewer.close()
            await settle(scheduler)
            return answers

    answers = asyncio.run(scenario())
    for step, answer in answers.items():
        race = Race(SETTINGS)
        race.advance_to(step)
        assert answer == race.infer(0.1, -0.2), step


def test_a_slot_frees_a_run_when_the_server_lets_its_record_go():
    async def scenario():
        async with engine(1) as (pool, scheduler, _cache):
            record = RunRecord(SETTINGS, scheduler)
            viewer = record.viewer(account())
            await viewer.frame(4)
            key, slot = record.key, record.slot
            assert await pool.holds(slot, key)
            viewer.close()
            del record, viewer
            gc.collect()  # the record is unreachable; its finalizer tells the slot to drop the run
            other = RunRecord(RaceSettings(seed=99, steps=8), scheduler).viewer(account())
            await other.frame(4)  # the drop travels with the next slice
            return await pool.holds(slot, key)

    assert asyncio.run(scenario()) is False

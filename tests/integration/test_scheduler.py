"""Fair shares of the engine (app/web/scheduler.py): client budgets, the order work is served in, and
what a client past its budget is told."""

from __future__ import annotations

import asyncio

import pytest

from app.engine.race import RaceSettings
from app.web.cache import RunCache
from app.web.engine_pool import EnginePool
from app.web.scheduler import Account, Budgets, EngineScheduler
from integration.conftest import is_type, receive, receive_until


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_holds_a_burst_per_session_and_refills_at_the_share():
    clock, sessions = Clock(), {"a": 1, "b": 3}
    budgets = Budgets(share=0.1, burst_s=2.0, sessions_of=lambda c: sessions.get(c, 0), clock=clock)
    budgets.charge("a", 1.5)
    assert budgets.tokens("a") == (pytest.approx(0.5), 2.0) and not budgets.over("a")
    budgets.charge("a", 1.0)
    assert budgets.over("a") and budgets.standing("a") == pytest.approx(-0.25)
    clock.now += 5.0  # 0.1 engine-second per second for its one race
    assert budgets.tokens("a")[0] == pytest.approx(0.0) and not budgets.over("a")
    clock.now += 1000.0
    assert budgets.tokens("a")[0] == 2.0  # never more than the burst
    budgets.charge("b", 4.0)  # three races: three times the burst and the share
    assert budgets.tokens("b") == (pytest.approx(2.0), 6.0)
    clock.now += 10.0
    assert budgets.tokens("b")[0] == pytest.approx(5.0)


def test_full_buckets_are_forgotten_so_memory_follows_the_clients_present():
    clock = Clock()
    budgets = Budgets(0.1, 2.0, lambda c: 1, clock=clock)
    for index in range(300):
        budgets.charge(f"10.0.{index // 256}.{index % 256}", 0.5)
    clock.now += 60.0  # everyone's bucket is full again
    budgets.charge("10.9.9.9", 0.5)
    assert len(budgets) == 1


def test_priority_puts_the_fullest_bucket_first_then_what_is_due_then_the_soonest_due_then_the_least_used():
    clock = Clock()
    budgets = Budgets(0.1, 2.0, lambda c: 1, clock=clock)
    light, heavy = Account("light", budgets, clock), Account("heavy", budgets, clock)
    heavy.charge(1.9)
    now, standings = clock(), {}
    # A light client's prefetch goes before a heavy client's frame that is due now.
    assert light.priority(now, standings, urgent=False) < heavy.priority(now, standings, urgent=True)
    # Within a client: what a player waits for first, then the session that used least.
    first, second = Account("light", budgets, clock), Account("light", budgets, clock)
    second.charge(0.01)
    standings = {}
    assert first.priority(clock(), standings, True) < first.priority(clock(), standings, False)
    assert first.priority(clock(), standings, False) < second.priority(clock(), standings, False)
    # Among frames ahead, fewer ready ahead of the player (the next frame due sooner) before less used.
    assert second.priority(clock(), standings, False, slack=1) < first.priority(clock(), standings, False, slack=2)
    assert first.priority(clock(), standings, True, slack=9) < second.priority(clock(), standings, False, slack=0)


def test_a_bystander_is_served_first_in_every_slice_while_an_attacker_floods_the_slot():
    """One engine slot; an attacker's three restores deep into long runs (each seconds of work) and a
    bystander's race. Whenever the bystander has work waiting it is the first item of the next
    slice, so it never waits behind the attacker for more than the slices already at the slot."""

    async def scenario():
        pool = EnginePool(0, 1, keep_runs=16)
        scheduler = EngineScheduler(pool, slice_s=0.01)
        cache = RunCache(16, scheduler)
        budgets = Budgets(0.1, 2.0, lambda c: 3)
        attacker = Account("127.0.0.2", budgets)
        attacker.charge(5.0)  # it has used most of its budget already
        slices, in_flight, queued = [], [], []
        execute = pool.execute

        async def spy(index, items, slice_s):
            # The bystander waits for the engine when it has asked for something and no slice
            # already under way (the slot holds two) is working on it.
            waiting = bool(bystander_record.requesters()) and bystander_record.key not in in_flight
            queued.append(scheduler.waiting())  # what ff_engine_runs_waiting reports at this moment
            keys = [item.key for item in items]
            slices.append((keys, waiting))
            in_flight.extend(keys)
            try:
                return await execute(index, items, slice_s)
            finally:
                for key in keys:
                    in_flight.remove(key)

        pool.execute = spy
        floods = []
        for seed in range(3):
            viewer = cache.record(RaceSettings(seed=700 + seed, steps=5000)).viewer(attacker)
            floods.append((viewer, asyncio.create_task(viewer.frame(5000))))
        bystander_record = cache.record(RaceSettings(seed=800, steps=40))
        bystander = bystander_record.viewer(Account("127.0.0.3", budgets))
        await bystander.info(4)
        for step in range(0, 41, 4):
            bystander.want_ahead(range(step + 4, min(step + 40, 40) + 1, 4))
            await bystander.frame(step)
        unfinished = sum(not task.done() for _, task in floods)
        for viewer, task in floods:
            task.cancel()
            viewer.close()
        bystander.close()
        await scheduler.close()
        pool.shutdown()
        return slices, bystander_record.key, unfinished, queued

    slices, key, unfinished, queued = asyncio.run(scenario())
    # The queue-depth gauge saw the flood: runs with work asked for while a slice was handed out.
    assert max(queued) >= 2
    assert unfinished == 3  # the attacker's work went on all along; it just never came first
    served_first = [keys[0] == key for keys, bystander_waiting in slices if bystander_waiting]
    assert served_first and all(served_first)


def test_a_client_past_its_budget_is_told_busy_and_still_served(make_client):
    client = make_client(compute_share=0.001, compute_burst_s=0.02)
    with client.websocket_connect("/ws/race") as ws:
        ws.send_json({"type": "start", "settings": {"seed": 31, "steps": 600}, "at_step": 600})
        receive_until(ws, is_type("state"))  # the restore cost more than the whole budget
        ws.send_json({"type": "start", "settings": {"seed": 32, "steps": 600}, "at_step": 300})
        busy, _ = receive_until(ws, is_type("error"))
        assert busy["code"] == "busy" and "share" in busy["message"]
        race, frame, state = receive(ws), receive(ws), receive(ws)
        assert (race["type"], frame["step"], state["step"]) == ("race", 300, 300)
    assert 'ff_refusals_total{reason="busy"} 1.0' in client.get("/metrics").text

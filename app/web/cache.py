"""The run cache: one shared, lazily computed record per deterministic race, kept in a bounded LRU.

A race is a pure function of its RaceSettings (and the NumPy and app versions), so every session
with the same settings can share one record. A record holds

* the pre-serialized `frame` texts of the steps anybody asked for (a step's frame is computed once,
  even when N sessions ask at the same moment: they all await the one chunk task computing it);
* a "producer" Race that only moves forward, advanced to the furthest step asked for;
* engine checkpoints every CHECKPOINT_EVERY steps (weights and optimizer state only: the data are
  shared), so a frame the producer has already passed (a session at another speed, or `step`) and a
  model for click inference at any reached step cost at most CHECKPOINT_EVERY - 1 engine steps.

Frames are computed ahead, in chunks: a running session names the next few steps it will play
(`ahead`), and when fewer than half of them are ready or under way the record starts one chunk
for the missing ones in the background. The player then mostly finds a ready text at its tick, so
N clients ticking together no longer arrive at the engine as one burst. Only running sessions ask,
so a paused or abandoned run costs nothing, and a chunk is bounded work that always finishes.

With an EnginePool, steps at or past the furthest step produced so far come from the run's
producer in a worker process; the local producer then only serves checkpoints (click inference)
and the frames of steps already passed, which keeps the event loop's GIL free of most engine work.
"""

from __future__ import annotations

import asyncio
import copy
import json
import weakref
from collections import OrderedDict
from concurrent.futures import Executor

import numpy as np

import app as package
from app.engine.race import Race, RaceSettings
from app.web.engine_pool import EnginePool
from app.web.frames import frame_text, race_info

CHECKPOINT_EVERY = 25


def run_key(settings: RaceSettings) -> tuple:
    # RaceSettings stores canonical types, so equal settings have equal reprs.
    return (repr(settings), np.__version__, package.__version__)


def fork(race: Race) -> Race:
    """A deep copy of the race's mutable state (weights, optimizer, RNG); the data arrays and the
    nets' input batches built from them are shared, because nothing ever writes to them (copying
    the batches would make every checkpoint four times its size)."""
    shared = [race.train, race.test, race.train.x, race.train.y, race.test.x, race.test.y, race._grid,
              *race.ff.cached_inputs, *race.backprop.cached_inputs]
    memo = {id(obj): obj for obj in shared if obj is not None}
    return copy.deepcopy(race, memo)


class RunRecord:
    def __init__(self, settings: RaceSettings, executor: Executor, max_frames: int = 1000,
                 pool: EnginePool | None = None) -> None:
        self.settings = settings
        self.key = run_key(settings)
        self._pool = pool
        self._remote_position = 0  # the furthest step the pool's producer has made a frame for
        if pool is not None:  # the worker's producer lives as long as this record
            weakref.finalize(self, pool.forget, self.key).atexit = False
        self.max_frames = max_frames
        self.steps = settings.steps
        self._executor = executor
        self._lock = asyncio.Lock()
        self._frames: dict[int, str] = {}
        self._checkpoints: dict[int, Race] = {}
        self._producer: Race | None = None
        self._info: dict | None = None
        self._pending: dict = {}
        self._in_flight: dict[int, asyncio.Task] = {}  # step -> the chunk task computing it
        self._failed: dict[int, BaseException] = {}  # step -> why its chunk failed, until asked

    # -- engine work, always in a worker thread, always under self._lock --------------------

    def _create(self) -> None:
        race = Race(self.settings)
        self._info = race_info(race)
        self._checkpoints[0] = fork(race)
        self._producer = race

    def _produce_to(self, target: int) -> Race:
        """Move the local producer forward to `target`, keeping a checkpoint on the way every
        CHECKPOINT_EVERY steps (and at the last step)."""
        race = self._producer
        while race.step_count < target:
            race.step()
            if race.step_count % CHECKPOINT_EVERY == 0 or race.step_count == self.steps:
                self._checkpoints[race.step_count] = fork(race)
        return race

    def _advance(self, target: int) -> str:
        return frame_text(self._produce_to(target).snapshot(grid=True), self.steps, self.settings.theta)

    def _local(self, steps: list[int]) -> list[str]:
        """Frames from this process: the local producer moving forward, or a replay behind it."""
        return [self._advance(step) if step >= self._producer.step_count else self._replay(step)
                for step in steps]

    def _checkpoint_to(self, step: int) -> None:
        """Move the local producer (no frames) until a checkpoint at or before `step` exists; with an
        engine pool the frames came from a worker, so the local producer can lag behind them."""
        self._produce_to(min(step // CHECKPOINT_EVERY * CHECKPOINT_EVERY, self.steps))

    def _replay(self, target: int) -> str:
        """A step the producer already passed: from the nearest checkpoint, on a throwaway fork."""
        base = max(step for step in self._checkpoints if step <= target)
        race = self._race_at_private(fork(self._checkpoints[base]), target)
        return frame_text(race.snapshot(grid=True), self.steps, self.settings.theta)

    async def _run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _shared(self, key, compute):
        """The one in-flight task computing `key`, started if needed. Callers await it through
        asyncio.shield: a caller that goes away (a closed socket) must not cancel work others
        wait for, nor release the lock while a worker thread still moves the producer race."""
        task = self._pending.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(compute())
            self._pending[key] = task
            task.add_done_callback(lambda _task: self._pending.pop(key, None))
            return task, True
        return task, False

    async def _ensure_created(self) -> None:
        if self._producer is None:
            async with self._lock:
                if self._producer is None:
                    await self._run(self._create)

    # -- the async API the sessions use ------------------------------------------------------

    async def info(self, speed: int) -> str:
        """The `race` message text for this run (settings.speed is the caller's)."""
        if self._info is None:
            task, _ = self._shared("create", self._ensure_created)
            await asyncio.shield(task)
        info = self._info
        return json.dumps({**info, "settings": {**info["settings"], "speed": speed}}, separators=(",", ":"))

    async def frame(self, step: int, ahead: list[int] = ()) -> tuple[str, bool]:
        """(frame text at `step`, whether this caller was spared computing it: a cached frame, or
        one that another request was already computing). `ahead`: the increasing steps this caller
        will ask for next, computed in the background while it plays (see the module docstring)."""
        step = max(0, min(step, self.steps))
        text = self._frames.get(step)
        spared = True
        if text is None:
            failure = self._failed.pop(step, None)
            if failure is not None:  # a background chunk failed (a crashed worker): say so, once
                raise failure
            task = self._in_flight.get(step)
            if task is None:
                task, spared = self._chunk([step]), False
            # Shielded: a caller that goes away must not cancel a chunk others wait for, nor release
            # the lock while an engine thread or process still moves a producer.
            text = (await asyncio.shield(task))[step]
        if ahead:
            self._prefetch(ahead)
        return text, spared

    def _missing(self, steps) -> list[int]:
        room = self.max_frames - len(self._frames) - len(self._in_flight)
        # A failed step is left for its player to ask, so the failure is reported, not masked.
        missing = [s for s in steps if s not in self._frames and s not in self._in_flight and s not in self._failed]
        return missing[:max(0, room)]  # never compute ahead what the record could not keep

    def _prefetch(self, ahead: list[int]) -> None:
        underway = sum(1 for s in ahead if s in self._frames or s in self._in_flight)
        if underway * 2 < len(ahead):
            # At most half the horizon per chunk: when N clients start together, each one's first
            # chunk is short, so none waits long behind the others' (chunks queue at the engine).
            missing = self._missing(ahead)[:(len(ahead) + 1) // 2]
            if missing:
                task = self._chunk(missing)
                # Nobody awaits a background chunk; its failure (kept in _failed) reaches the first
                # caller that asks for one of its steps, and a later caller computes them afresh.
                task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _chunk(self, steps: list[int]) -> asyncio.Task:
        steps = sorted(set(steps))
        task = asyncio.get_running_loop().create_task(self._compute(steps))
        for step in steps:
            self._in_flight[step] = task

        def finished(_task: asyncio.Task) -> None:
            failure = None if _task.cancelled() else _task.exception()
            for step in steps:
                if self._in_flight.get(step) is _task:
                    del self._in_flight[step]
                    if failure is not None:
                        self._failed[step] = failure

        task.add_done_callback(finished)
        return task

    async def _compute(self, steps: list[int]) -> dict[int, str]:
        await self._ensure_created()
        async with self._lock:
            out = {s: self._frames[s] for s in steps if s in self._frames}
            todo = [s for s in steps if s not in out]
            remote = [s for s in todo if s >= self._remote_position] if self._pool else []
            local = [s for s in todo if s not in remote]
            if remote:
                texts = await self._pool.frames(self.key, self.settings, remote)
                self._remote_position = remote[-1]
                out.update(zip(remote, texts))
            if local:
                out.update(zip(local, await self._run(self._local, local)))
            for s in todo:
                self._failed.pop(s, None)
                if len(self._frames) < self.max_frames:  # memory per run stays bounded
                    self._frames[s] = out[s]
            return out

    def tasks(self) -> set[asyncio.Task]:
        """The record's unfinished tasks (for tests: none is left once everyone is done)."""
        return {t for t in (*self._pending.values(), *self._in_flight.values()) if not t.done()}

    async def model_at(self, step: int, own: Race | None) -> Race:
        """A race at exactly `step` that the caller owns: `own` moved forward when that is cheaper
        than a fresh fork of the nearest checkpoint. The step must have been reached by a frame."""
        task, _ = self._shared("create", self._ensure_created)
        await asyncio.shield(task)
        # Checkpoints are written only while the lock is held, so pick and fork the base under it;
        # the stepping happens on the caller's private copy, outside the lock.
        async with self._lock:
            if self._producer.step_count < step:
                await self._run(self._checkpoint_to, step)
            base = max(s for s in self._checkpoints if s <= step)
            start = own if own is not None and base <= own.step_count <= step else fork(self._checkpoints[base])
        return await self._run(self._race_at_private, start, step)

    @staticmethod
    def _race_at_private(race: Race, target: int) -> Race:
        while race.step_count < target:
            race.step()
        return race


class RunCache:
    """A bounded LRU of RunRecords keyed by settings + NumPy version + app version. An evicted
    record lives on for as long as a session still holds it; it is just no longer shared."""

    def __init__(self, size: int, executor: Executor, frames_per_run: int = 1000,
                 pool: EnginePool | None = None) -> None:
        self.size = size
        self.pool = pool
        self.frames_per_run = frames_per_run
        self._executor = executor
        self._records: OrderedDict[tuple, RunRecord] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def record(self, settings: RaceSettings) -> RunRecord:
        key = run_key(settings)
        record = self._records.get(key)
        if record is None:
            record = RunRecord(settings, self._executor, self.frames_per_run, self.pool)
            self._records[key] = record
            while len(self._records) > self.size:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(key)
        return record

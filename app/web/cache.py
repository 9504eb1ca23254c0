"""The run cache: one shared, lazily computed record per deterministic race, kept in a bounded LRU.

A race is a pure function of its RaceSettings (and the NumPy and app versions), so every session
with the same settings can share one record. A record holds

* the pre-serialized `frame` texts of the steps anybody asked for (a step's frame is computed once,
  even when N sessions ask at the same moment: they queue on the record's lock and the first one
  computes while the others find the text when they get the lock);
* a "producer" Race that only moves forward, advanced to the furthest step asked for;
* engine checkpoints every CHECKPOINT_EVERY steps (weights and optimizer state only: the data are
  shared), so a frame the producer has already passed (a session at another speed, or `step`) and a
  model for click inference at any reached step cost at most CHECKPOINT_EVERY - 1 engine steps.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections import OrderedDict
from concurrent.futures import Executor

import numpy as np

import app as package
from app.engine.race import Race, RaceSettings
from app.web.frames import frame_text, race_info

CHECKPOINT_EVERY = 25


def run_key(settings: RaceSettings) -> tuple:
    return (tuple(sorted(settings.as_dict().items(), key=lambda kv: kv[0])).__repr__(),
            np.__version__, package.__version__)


def fork(race: Race) -> Race:
    """A deep copy of the race's mutable state (weights, optimizer, RNG); data arrays are shared,
    because nothing ever writes to them."""
    shared = [race.train, race.test, race.train.x, race.train.y, race.test.x, race.test.y,
              getattr(race, "_grid", None)]
    memo = {id(obj): obj for obj in shared if obj is not None}
    return copy.deepcopy(race, memo)


class RunRecord:
    def __init__(self, settings: RaceSettings, executor: Executor, max_frames: int = 1000) -> None:
        self.settings = settings
        self.max_frames = max_frames
        self.steps = settings.steps
        self._executor = executor
        self._lock = asyncio.Lock()
        self._frames: dict[int, str] = {}
        self._checkpoints: dict[int, Race] = {}
        self._producer: Race | None = None
        self._info: dict | None = None
        self._pending: dict = {}

    # -- engine work, always in a worker thread, always under self._lock --------------------

    def _create(self) -> None:
        race = Race(self.settings)
        self._info = race_info(race, speed=0)
        self._checkpoints[0] = fork(race)
        self._producer = race

    def _advance(self, target: int) -> str:
        race = self._producer
        while race.step_count < target:
            race.step()
            if race.step_count % CHECKPOINT_EVERY == 0 or race.step_count == self.steps:
                self._checkpoints[race.step_count] = fork(race)
        return frame_text(race.snapshot(grid=True), self.steps)

    def _replay(self, target: int) -> str:
        """A step the producer already passed: from the nearest checkpoint, on a throwaway fork."""
        base = max(step for step in self._checkpoints if step <= target)
        race = self._race_at_private(fork(self._checkpoints[base]), target)
        return frame_text(race.snapshot(grid=True), self.steps)

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

    async def frame(self, step: int) -> tuple[str, bool]:
        """(frame text at `step`, whether this caller was spared computing it: a cached frame, or
        one that another session's request was already computing)."""
        step = max(0, min(step, self.steps))
        text = self._frames.get(step)
        if text is not None:
            return text, True
        task, started = self._shared(step, lambda: self._compute_frame(step))
        return await asyncio.shield(task), not started

    async def _compute_frame(self, step: int) -> str:
        await self._ensure_created()
        async with self._lock:
            text = self._frames.get(step)
            if text is None:
                if step >= self._producer.step_count:
                    text = await self._run(self._advance, step)
                else:
                    text = await self._run(self._replay, step)
                if len(self._frames) < self.max_frames:  # memory per run stays bounded
                    self._frames[step] = text
            return text

    async def model_at(self, step: int, own: Race | None) -> Race:
        """A race at exactly `step` that the caller owns: `own` moved forward when that is cheaper
        than a fresh fork of the nearest checkpoint. The step must have been reached by a frame."""
        task, _ = self._shared("create", self._ensure_created)
        await asyncio.shield(task)
        # Checkpoints are written only while the lock is held, so pick and fork the base under it;
        # the stepping happens on the caller's private copy, outside the lock.
        async with self._lock:
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

    def __init__(self, size: int, executor: Executor, frames_per_run: int = 1000) -> None:
        self.size = size
        self.frames_per_run = frames_per_run
        self._executor = executor
        self._records: OrderedDict[tuple, RunRecord] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def record(self, settings: RaceSettings) -> RunRecord:
        key = run_key(settings)
        record = self._records.get(key)
        if record is None:
            record = RunRecord(settings, self._executor, self.frames_per_run)
            self._records[key] = record
            while len(self._records) > self.size:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(key)
        return record

"""Engine worker processes: the forward-moving Race behind each run's frames lives in one of them.

NumPy at the race's tiny sizes holds the GIL for most of its time, so engine threads in the server
process compete with the event loop that sends the frames. Here each run's frame producer lives in
one worker process (chosen by the run key, so it keeps its state between requests), and only the
finished frame texts come back. Checkpoints for click inference and replays stay in the server
process (see RunRecord): they are rare, and keeping them local keeps them exactly deterministic.

Each slot is a one-process ProcessPoolExecutor. A worker that dies takes only its in-flight
requests with it (they raise EngineCrashed, the sessions say so); the slot starts a fresh process
on the next request, which rebuilds any producer it needs from the run's settings.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from app.engine.race import Race, RaceSettings
from app.web.frames import frame_text


class EngineCrashed(RuntimeError):
    """The worker process computing a request died before answering."""


# -- in the worker process ------------------------------------------------------------------

_producers: OrderedDict[tuple, Race] = OrderedDict()


def produce(key: tuple, settings: RaceSettings, targets: list[int], keep: int) -> list[str]:
    """Frame texts at the increasing `targets`, from this process's producer for the run. A
    producer already past targets[0] (the server lost track after a restart), or dropped, is
    rebuilt: a race is a pure function of its settings, so the frames are the same either way.
    Producers leave when the server's RunRecord does (EnginePool.forget); `keep` is only a cap, as
    high as the runs the server may hold, since evicting a live run's producer costs a rebuild."""
    race = _producers.pop(key, None)
    if race is None or race.step_count > targets[0]:
        race = Race(settings)
    _producers[key] = race
    while len(_producers) > keep:  # memory per worker stays bounded
        _producers.popitem(last=False)
    texts = []
    for target in targets:
        while race.step_count < target:
            race.step()
        texts.append(frame_text(race.snapshot(grid=True), settings.steps, settings.theta))
    return texts


def drop(key: tuple) -> None:
    _producers.pop(key, None)


def holds(key: tuple) -> bool:
    return key in _producers


def _ready() -> bool:
    return True


# -- in the server process ------------------------------------------------------------------

def _context():
    # forkserver: workers fork from a clean server process that has already imported the engine,
    # never from this one (its threads and event loop must not be copied into a child).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["app.web.engine_pool"])
    return context


class EnginePool:
    def __init__(self, processes: int, keep_runs: int) -> None:
        self.processes = processes
        self.keep_runs = keep_runs
        self._slots: list[ProcessPoolExecutor | None] = [None] * processes
        self._closed = False

    def _slot(self, index: int) -> ProcessPoolExecutor:
        if self._closed:
            raise EngineCrashed("the engine pool is shut down")
        executor = self._slots[index]
        if executor is None:
            executor = ProcessPoolExecutor(1, mp_context=_context())
            self._slots[index] = executor
        return executor

    async def start(self) -> None:
        """Start every worker now (at app startup) rather than on the first student's Train."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._slot(i), _ready) for i in range(self.processes)))

    async def frames(self, key: tuple, settings: RaceSettings, targets: list[int]) -> list[str]:
        index = self._index(key)
        executor = self._slot(index)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                executor, produce, key, settings, targets, self.keep_runs)
        except BrokenProcessPool as crash:
            if self._slots[index] is executor:  # the first to notice replaces the slot
                self._slots[index] = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise EngineCrashed("an engine worker process died") from crash

    def _index(self, key: tuple) -> int:
        return hash(key) % self.processes  # affinity: one run, one process, one producer

    def forget(self, key: tuple) -> None:
        """The server no longer holds this run (its RunRecord is gone): free its producer. Called
        from a finalizer, so it never raises and never waits."""
        executor = None if self._closed else self._slots[self._index(key)]
        if executor is not None:
            try:
                executor.submit(drop, key)
            except Exception:  # a broken or closed slot holds no producers anyway
                pass

    async def holds(self, key: tuple) -> bool:
        """Whether the run's worker keeps a producer for it (for tests)."""
        return await asyncio.get_running_loop().run_in_executor(self._slot(self._index(key)), holds, key)

    def pids(self) -> list[int]:
        return [pid for executor in self._slots if executor is not None
                for pid in (executor._processes or {})]

    def shutdown(self) -> None:
        self._closed = True
        for index, executor in enumerate(self._slots):
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
            self._slots[index] = None

"""Engine slots: the worker processes (or threads) where every race's engine work happens.

NumPy at the race's tiny sizes holds the GIL for most of its time, so engine work in the server
process would compete with the event loop that sends the frames. Each slot is a one-process
ProcessPoolExecutor (FF_ENGINE_PROCESSES, default 2) holding a Workshop of runs
(app/web/engine_worker.py); with FF_ENGINE_PROCESSES=0 the slots are threads of this process.
A run lives in one slot, chosen when it is first asked for (the slot serving the fewest runs), so
its producer keeps its state between slices. The scheduler (app/web/scheduler.py) gives each slot
one slice at a time and decides whose work goes first.

A worker that dies takes only the slice it was running with it (EngineCrashed); its slot starts a
fresh process for the next slice, which rebuilds any run it needs from the run's settings (a race
is a pure function of them). Workers watch the server process and exit when it dies.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from app.web import engine_worker
from app.web.engine_worker import Item, ItemResult, Workshop


class EngineCrashed(RuntimeError):
    """The worker process computing a slice died before answering."""


def _context() -> multiprocessing.context.ForkServerContext:
    # forkserver: workers fork from a clean server process that has already imported the engine,
    # never from this one (its threads and event loop must not be copied into a child).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["app.web.engine_worker"])
    return context


class Slot:
    def __init__(self, index: int, processes: bool, keep_runs: int) -> None:
        self.index = index
        self.processes = processes
        self.keep_runs = keep_runs
        self.executor: Executor | None = None
        self.workshop: Workshop | None = None
        self.busy = False
        self.runs = 0  # live runs placed here (for placing new ones evenly)
        self.drop: list[tuple] = []  # runs the server let go, sent along with the next slice

    def ensure(self) -> Executor:
        if self.executor is None:
            if self.processes:
                self.executor = ProcessPoolExecutor(
                    1,
                    mp_context=_context(),
                    initializer=engine_worker.start_worker,
                    initargs=(os.getpid(), self.keep_runs),
                )
            else:
                self.workshop = Workshop(self.keep_runs)
                self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"engine-slot-{self.index}")
        return self.executor

    def submit(self, items: list[Item], slice_s: float) -> Future[list[ItemResult]]:
        drop, self.drop = self.drop, []
        executor = self.ensure()
        if self.processes:
            return executor.submit(engine_worker.execute, items, slice_s, drop)
        assert self.workshop is not None  # ensure() made it: an in-thread slot has its Workshop here
        return executor.submit(self.workshop.execute, items, slice_s, drop)

    def pids(self) -> list[int]:
        processes = getattr(self.executor, "_processes", None) if self.processes else None
        return list(processes or {})

    def discard(self) -> None:
        """The worker died: forget it (its runs are rebuilt on demand by the next one)."""
        executor, self.executor, self.workshop, self.drop = self.executor, None, None, []
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class EnginePool:
    def __init__(self, processes: int, threads: int, keep_runs: int) -> None:
        self.processes = processes
        count = processes or threads
        self.slots = [Slot(index, processes > 0, keep_runs) for index in range(count)]
        self._closed = False

    async def start(self) -> None:
        """Start every worker now (at app startup) rather than on the first student's Train."""
        if not self.processes:
            return
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(slot.ensure(), engine_worker.ready) for slot in self.slots))

    def place(self) -> int:
        """The slot for a new run: the one serving the fewest runs."""
        slot = min(self.slots, key=lambda s: (s.runs, s.index))
        slot.runs += 1
        return slot.index

    async def execute(self, index: int, items: list[Item], slice_s: float) -> list[ItemResult]:
        if self._closed:
            raise EngineCrashed("the engine is shut down")
        slot = self.slots[index]
        try:
            future = slot.submit(items, slice_s)
        except BrokenProcessPool:  # the worker died while idle: nothing was lost, start a new one
            slot.discard()
            future = slot.submit(items, slice_s)
        executor = slot.executor
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool as crash:
            if slot.executor is executor:  # the first to notice replaces the worker
                slot.discard()
            raise EngineCrashed("an engine worker process died") from crash

    def forget(self, index: int, key: tuple) -> None:
        """The server let a run go (its RunRecord is gone): its slot frees the run with the next slice.
        Called from a finalizer, so it never raises and never waits."""
        if self._closed or not 0 <= index < len(self.slots):
            return
        slot = self.slots[index]
        slot.runs = max(0, slot.runs - 1)
        if slot.executor is not None and len(slot.drop) < 100_000:
            slot.drop.append(key)

    async def holds(self, index: int, key: tuple) -> bool:
        """Whether a slot keeps the run (for tests)."""
        slot = self.slots[index]
        if slot.executor is None:
            return False
        if not slot.processes:
            return slot.workshop is not None and key in slot.workshop.runs
        return await asyncio.wrap_future(slot.executor.submit(engine_worker.holds, key))

    def pids(self) -> list[int]:
        return [pid for slot in self.slots for pid in slot.pids()]

    def shutdown(self) -> None:
        self._closed = True
        for slot in self.slots:
            if slot.executor is not None:
                slot.executor.shutdown(wait=True, cancel_futures=True)
            slot.executor = slot.workshop = None

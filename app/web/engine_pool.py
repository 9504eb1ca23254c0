"""Engine slots: the worker processes (or threads) where every race's engine work happens.

NumPy at the race's tiny sizes holds the GIL for most of its time, so engine work in the server
process would compete with the event loop that sends the frames. Each slot is one worker process
(FF_ENGINE_PROCESSES, default 2) holding a Workshop of runs (app/web/engine_worker.py), spoken to
over a socket pair that the event loop itself reads and writes (WorkerChannel): no threads in this
process, so the loop never waits for the GIL behind a pool's feeder or result thread. With
FF_ENGINE_PROCESSES=0 the slots are threads of this process.
A run lives in one slot, chosen when it is first asked for (the slot serving the fewest runs), so
its producer keeps its state between slices. The scheduler (app/web/scheduler.py) gives each slot
one slice at a time and decides whose work goes first.

A worker that dies takes only the slices it was given with it (EngineCrashed); its slot starts a
fresh process for the next slice, which rebuilds any run it needs from the run's settings (a race
is a pure function of them). Workers watch the server process and exit when it dies.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import socket
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.web import engine_worker
from app.web.engine_worker import HEADER, Item, ItemResult, Workshop

log = logging.getLogger("app.web.engine_pool")


class EngineCrashed(RuntimeError):
    """The worker process computing a slice died before answering."""


def _context() -> multiprocessing.context.ForkServerContext:
    # forkserver: workers fork from a clean server process that has already imported the engine,
    # never from this one (its threads and event loop must not be copied into a child).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["app.web.engine_worker"])
    return context


class WorkerChannel:
    """One engine worker process and the event loop's end of a socket pair to it. A call is a
    length-prefixed pickle of (function name, arguments) (engine_worker.CALLS); the worker answers
    calls one at a time, in order, so answers are matched to the oldest pending call. The loop
    reads and writes the socket itself (add_reader / add_writer): no thread, no lock. The socket's
    end of file means the worker died: every pending call fails with EngineCrashed, and the
    channel is dead for good (its slot starts another)."""

    def __init__(self, keep_runs: int, name: str) -> None:
        self.loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        self.process = _context().Process(
            target=engine_worker.serve, args=(theirs, os.getpid(), keep_runs), name=name, daemon=True
        )
        try:
            self.process.start()
        finally:
            theirs.close()  # the worker holds its own copy
        ours.setblocking(False)
        self.sock = ours
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.inbox = bytearray()
        self.outgoing = bytearray()  # what the socket's buffer could not take yet
        self.dead = False
        self.loop.add_reader(ours.fileno(), self._readable)

    @property
    def pid(self) -> int | None:
        return None if self.dead else self.process.pid

    def call(self, name: str, *args: Any) -> asyncio.Future[Any]:
        if self.dead:
            raise EngineCrashed("an engine worker process died")
        payload = pickle.dumps((name, args), protocol=pickle.HIGHEST_PROTOCOL)
        future: asyncio.Future[Any] = self.loop.create_future()
        self.pending.append(future)
        self._write(HEADER.pack(len(payload)) + payload)
        return future

    def _write(self, data: bytes) -> None:
        if self.outgoing:
            self.outgoing += data
            return
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._die()
            return
        if sent < len(data):
            self.outgoing += data[sent:]
            self.loop.add_writer(self.sock.fileno(), self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.outgoing)
        except BlockingIOError:
            return
        except OSError:
            self._die()
            return
        del self.outgoing[:sent]
        if not self.outgoing:
            self.loop.remove_writer(self.sock.fileno())

    def _readable(self) -> None:
        try:
            chunk = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # end of file: the worker is gone
            self._die()
            return
        self._received(chunk)

    def _received(self, chunk: bytes) -> None:
        """Bytes from the worker: answer every call whose whole answer has come."""
        inbox = self.inbox
        inbox += chunk
        while len(inbox) >= HEADER.size:
            (size,) = HEADER.unpack_from(inbox)
            if len(inbox) < HEADER.size + size:
                break
            message = bytes(inbox[HEADER.size : HEADER.size + size])
            del inbox[: HEADER.size + size]
            try:
                ok, value = pickle.loads(message)
                future = self.pending.popleft()
            except Exception:  # an answer nobody asked for, or not one at all: the worker is unusable
                log.exception("engine worker %s sent a malformed answer", self.process.pid)
                self.process.kill()
                self._die()
                return
            if not future.done():  # the caller may have gone (cancelled)
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _die(self) -> None:
        if self.dead:
            return
        self.dead = True
        self.loop.remove_reader(self.sock.fileno())
        if self.outgoing:
            self.loop.remove_writer(self.sock.fileno())
        self.sock.close()
        pending, self.pending = self.pending, deque()
        for future in pending:
            if not future.done():
                future.set_exception(EngineCrashed("an engine worker process died"))

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the worker: the end of file tells it to leave; one that does not is terminated."""
        self._die()
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout_s)


class Slot:
    def __init__(self, index: int, processes: bool, keep_runs: int) -> None:
        self.index = index
        self.processes = processes
        self.keep_runs = keep_runs
        self.channel: WorkerChannel | None = None  # the worker process (processes)
        self.executor: ThreadPoolExecutor | None = None  # the thread (no processes)
        self.workshop: Workshop | None = None
        self.busy = False
        self.runs = 0  # live runs placed here (for placing new ones evenly)
        self.drop: list[tuple] = []  # runs the server let go, sent along with the next slice

    @property
    def started(self) -> bool:
        return self.channel is not None if self.processes else self.executor is not None

    def worker(self) -> WorkerChannel:
        """The slot's worker process, a new one if there is none or it died (a run it held is
        rebuilt from its settings on demand)."""
        if self.channel is None or self.channel.dead:
            self.drop = []  # a new worker holds nothing to let go of
            self.channel = WorkerChannel(self.keep_runs, f"ff-engine-{self.index}")
        return self.channel

    def thread(self) -> tuple[ThreadPoolExecutor, Workshop]:
        if self.executor is None or self.workshop is None:
            self.workshop = Workshop(self.keep_runs)
            self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"engine-slot-{self.index}")
        return self.executor, self.workshop

    def submit(self, items: list[Item], slice_s: float) -> asyncio.Future[list[ItemResult]]:
        channel = self.worker() if self.processes else None  # (a new worker has nothing to drop)
        drop, self.drop = self.drop, []
        if channel is not None:
            return channel.call("execute", items, slice_s, drop)
        executor, workshop = self.thread()
        return asyncio.wrap_future(executor.submit(workshop.execute, items, slice_s, drop))

    def pids(self) -> list[int]:
        pid = self.channel.pid if self.channel is not None else None
        return [] if pid is None else [pid]

    def close(self) -> None:
        channel, executor = self.channel, self.executor
        self.channel, self.executor, self.workshop, self.drop = None, None, None, []
        if channel is not None:
            channel.close()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


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
        await asyncio.gather(*(slot.worker().call("ready") for slot in self.slots))

    def place(self) -> int:
        """The slot for a new run: the one serving the fewest runs."""
        slot = min(self.slots, key=lambda s: (s.runs, s.index))
        slot.runs += 1
        return slot.index

    async def execute(self, index: int, items: list[Item], slice_s: float) -> list[ItemResult]:
        if self._closed:
            raise EngineCrashed("the engine is shut down")
        return await self.slots[index].submit(items, slice_s)

    def forget(self, index: int, key: tuple) -> None:
        """The server let a run go (its RunRecord is gone): its slot frees the run with the next slice.
        Called from a finalizer, so it never raises and never waits."""
        if self._closed or not 0 <= index < len(self.slots):
            return
        slot = self.slots[index]
        slot.runs = max(0, slot.runs - 1)
        if slot.started and len(slot.drop) < 100_000:
            slot.drop.append(key)

    async def holds(self, index: int, key: tuple) -> bool:
        """Whether a slot keeps the run (for tests)."""
        slot = self.slots[index]
        if not slot.processes:
            return slot.workshop is not None and key in slot.workshop.runs
        if slot.channel is None or slot.channel.dead:
            return False
        return bool(await slot.channel.call("holds", key))

    def pids(self) -> list[int]:
        return [pid for slot in self.slots for pid in slot.pids()]

    def shutdown(self) -> None:
        self._closed = True
        for slot in self.slots:
            slot.close()

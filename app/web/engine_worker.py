"""The engine side of the scheduler: what one engine slot (a worker process, or a thread) holds and does.

A slot keeps, for each run it serves, the run's producer (a Race that only moves forward),
checkpoints every CHECKPOINT_EVERY steps, and the latest click model. It executes a slice: work
items for several runs, in the order the scheduler chose, for at most the slice's time. Frames
behind the producer are replayed from the nearest checkpoint (at most CHECKPOINT_EVERY - 1 steps),
so a restore or a second session at another speed never rebuilds a run from step 0. Each item
reports what it did, where the producer stands and what it cost, and the scheduler charges that
to the clients who asked (app/web/scheduler.py).

Nothing here touches the event loop: in a worker process these functions are the whole program;
with FF_ENGINE_PROCESSES=0 a thread runs them on its own Workshop.
"""

from __future__ import annotations

import os
import pickle
import select
import socket
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from threadpoolctl import threadpool_limits

from app.engine.race import PointInference, Race, RaceSettings
from app.web.digits_live import MAX_DIGITS_RUNS_PER_SLOT, DigitsRunState, LiveDigitsSettings
from app.web.frames import frame_text, frame_text_and_parts, race_info
from app.web.wire import FrameParts, encode_delta

# The frame of a call and of its answer on the socket between the server and a worker
# (app/web/engine_pool.py's WorkerChannel): the pickle's length, then the pickle.
HEADER = struct.Struct("!I")

# A checkpoint is a fork (a deep copy of the race, about 0.15 ms): every 25 steps it cost 3-6% of
# a frame's engine time; every 50, half that, and a replay from one is at most 49 steps (about 7 ms).
CHECKPOINT_EVERY = 50
# The settings of a run a slot can hold: the race's, or the live digits figure's (app/web/digits_live.py).
RunSettings = RaceSettings | LiveDigitsSettings


@dataclass
class Item:
    """Work for one run: its `race` info, frame texts at increasing steps, click inferences."""

    key: tuple
    settings: RunSettings
    frames: list[int] = field(default_factory=list)
    # (step, x, y) of a click; for a digits run (step, DigitQuery, 0.0)
    infers: list[tuple[int, Any, float]] = field(default_factory=list)
    want_info: bool = False
    # A viewer takes binary frames (app/web/wire.py): also encode each frame as a delta from the
    # frame this run produced before it, which is what a client playing the run holds.
    wire: bool = False


@dataclass
class ItemResult:
    key: tuple
    info: dict | None
    frames: dict[int, str]
    infers: list[tuple[int, Any, float, Any]]  # (step, x, y, PointInference or DigitAnswer)
    position: int  # the producer's step once the item stopped
    seconds: float  # wall time the item held the slot (what the others waited)
    cpu_seconds: float  # this thread's CPU time on the item (the engine's own cost)
    complete: bool  # everything the item asked for was done (else: the slice ran out)
    # With Item.wire: step -> (base step, the binary DELTA message from the base's frame to it)
    deltas: dict[int, tuple[int, bytes]] = field(default_factory=dict)


class RunState:
    heavy = False  # small: a slot keeps as many as the server holds

    def __init__(self, settings: RaceSettings) -> None:
        self.producer = Race(settings)
        self.checkpoints: dict[int, Race] = {0: self.producer.fork()}
        self.model: Race | None = None  # the latest click model, moved forward for later clicks
        self.last_parts: FrameParts | None = None  # the last frame produced, split for the wire (Item.wire)

    @property
    def position(self) -> int:
        return self.producer.step_count

    def info(self) -> dict:
        return race_info(self.producer)

    def produce_to(self, target: int, deadline: float | None = None) -> bool:
        """Move the producer forward, keeping a checkpoint every CHECKPOINT_EVERY steps and at the
        last one; with a deadline, stop there (after at least one step). True once at `target`."""
        return self.producer.advance_to(target, deadline, on_step=self._checkpoint)

    def _checkpoint(self, race: Race) -> None:
        """After each step of the producer: a checkpoint on the grid and at the run's last step."""
        if race.step_count % CHECKPOINT_EVERY == 0 or race.step_count == race.settings.steps:
            self.checkpoints[race.step_count] = race.fork()

    def at(self, step: int, own: Race | None = None) -> Race:
        """A private race at exactly `step` (at or behind the producer): `own` moved forward when it
        is close enough behind, else a fork of the nearest checkpoint moved forward."""
        base = step // CHECKPOINT_EVERY * CHECKPOINT_EVERY
        while base not in self.checkpoints:  # only the last step's checkpoint is off the grid
            base -= CHECKPOINT_EVERY
        if own is None or not base <= own.step_count <= step:
            # The producer itself, when it stands there (a click at the live edge), is the cheapest base.
            own = (self.producer if self.producer.step_count == step else self.checkpoints[base]).fork()
        own.advance_to(step)
        return own

    def frame(self, step: int, deadline: float | None) -> str | None:
        race = self._at_frame(step, deadline)
        return None if race is None else frame_text(race.snapshot(grid=True), race.settings.steps, race.settings.theta)

    def frame_and_delta(self, step: int, deadline: float | None) -> tuple[str, tuple[int, bytes] | None] | None:
        """The frame text and, for a client playing the run in order, the binary DELTA (wire.py)
        from the frame this run produced before it, (base step, message), when there is one: made
        here rather than in the event loop, since compressing is half of what a binary frame cost
        the server (docs/performance.md); any other base is made by the run's FrameCodec in the
        server. Both come from one snapshot (Item.wire)."""
        race = self._at_frame(step, deadline)
        if race is None:
            return None
        text, parts = frame_text_and_parts(race.snapshot(grid=True), race.settings.steps, race.settings.theta)
        last, self.last_parts = self.last_parts, parts
        delta = (last.step, encode_delta(last, parts)) if last is not None and last.step < step else None
        return text, delta

    def _at_frame(self, step: int, deadline: float | None) -> Race | None:
        if step < self.producer.step_count:
            return self.at(step)
        return self.producer if self.produce_to(step, deadline) else None

    def infer(self, step: int, x: float, y: float, deadline: float | None) -> PointInference | None:
        if step > self.producer.step_count and not self.produce_to(step, deadline):
            return None
        self.model = self.at(step, self.model)
        return self.model.infer(x, y)


class Workshop:
    """The runs one slot serves, at most `keep_runs` of them (least recently used leave first; the
    server also says when it lets a run go, see EnginePool.forget)."""

    def __init__(self, keep_runs: int) -> None:
        self.keep_runs = keep_runs
        self.runs: OrderedDict[tuple, RunState | DigitsRunState] = OrderedDict()

    def run(self, key: tuple, settings: RunSettings) -> RunState | DigitsRunState:
        state = self.runs.pop(key, None)
        if state is None:  # a new run, or one this process never held (a restarted worker)
            state = DigitsRunState(settings) if isinstance(settings, LiveDigitsSettings) else RunState(settings)
        self.runs[key] = state
        while len(self.runs) > self.keep_runs:
            self.runs.popitem(last=False)
        # Digits runs hold megabytes each: only the most recently used few stay (others are rebuilt).
        heavy = [k for k, held in self.runs.items() if held.heavy]
        for k in heavy[: max(0, len(heavy) - MAX_DIGITS_RUNS_PER_SLOT)]:
            del self.runs[k]
        return state

    def execute(self, items: list[Item], slice_s: float, drop: Sequence[tuple] = ()) -> list[ItemResult]:
        """Work through `items` in order until the slice's time is spent (the first item always
        makes progress); items not reached are left out of the answer."""
        for key in drop:
            self.runs.pop(key, None)
        deadline = time.perf_counter() + slice_s
        results: list[ItemResult] = []
        for item in items:
            if results and time.perf_counter() >= deadline:
                break
            results.append(self.work(item, deadline))
        return results

    def work(self, item: Item, deadline: float | None) -> ItemResult:
        started, cpu_started = time.perf_counter(), time.thread_time()
        state = self.run(item.key, item.settings)
        info = state.info() if item.want_info else None
        frames: dict[int, str] = {}
        infers: list[tuple[int, Any, float, Any]] = []  # as ItemResult.infers
        deltas: dict[int, tuple[int, bytes]] = {}
        complete = True
        wired = state if item.wire and isinstance(state, RunState) else None  # with each frame's DELTA
        for step in item.frames:
            if wired is not None:
                made = wired.frame_and_delta(step, deadline)
            else:
                text = state.frame(step, deadline)
                made = None if text is None else (text, None)
            if made is None:
                complete = False
                break
            frames[step], delta = made
            if delta is not None:
                deltas[step] = delta
            if deadline is not None and time.perf_counter() >= deadline:
                break
        for step, x, y in item.infers:
            if deadline is not None and time.perf_counter() >= deadline and (frames or infers):
                break
            result = state.infer(step, x, y, deadline)
            if result is None:
                break
            infers.append((step, x, y, result))
        complete = complete and len(frames) == len(item.frames) and len(infers) == len(item.infers)
        return ItemResult(
            item.key,
            info,
            frames,
            infers,
            state.position,
            time.perf_counter() - started,
            time.thread_time() - cpu_started,
            complete,
            deltas,
        )


# -- entry points in a worker process ----------------------------------------------------------

_workshop: Workshop | None = None


def start_worker(server_pid: int, keep_runs: int) -> None:
    """The start of an engine worker process: its Workshop, and a watch on the server process, so
    that the worker exits when the server dies, however it dies (kill -9 included). With the
    workers gone, multiprocessing's forkserver and resource tracker exit too (they live only as
    long as someone holds their pipes)."""
    global _workshop
    # One BLAS thread per worker: the workers are the engine's parallelism, and a digits minibatch
    # with OpenBLAS's threads fighting the other worker for 2 cores ran 20 times slower.
    threadpool_limits(1)
    _workshop = Workshop(keep_runs)
    threading.Thread(target=_exit_with, args=(server_pid,), name="engine-parent-watch", daemon=True).start()


def _exit_with(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # no pidfd (old kernel, not Linux): poll instead
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
            time.sleep(1.0)
    select.select([handle], [], [])  # readable once the process has exited
    os._exit(0)


def _this_workshop() -> Workshop:
    if _workshop is None:
        raise RuntimeError("not an engine worker process: start_worker did not run here")
    return _workshop


def execute(items: list[Item], slice_s: float, drop: list[tuple]) -> list[ItemResult]:
    return _this_workshop().execute(items, slice_s, drop)


def holds(key: tuple) -> bool:
    return key in _this_workshop().runs


def ready() -> int:
    return os.getpid()


# What the server may ask of a worker, by name.
CALLS: dict[str, Callable[..., Any]] = {"execute": execute, "holds": holds, "ready": ready}


def serve(channel: socket.socket, server_pid: int, keep_runs: int) -> None:
    """A worker process's whole life: answer the server's calls, in order, until the socket closes
    (the server shut the slot down, or died). A call that raises answers with its exception, so the
    server fails that slice's work and the worker goes on."""
    start_worker(server_pid, keep_runs)
    channel.setblocking(True)
    incoming = channel.makefile("rb")
    while True:
        header = incoming.read(HEADER.size)
        if len(header) < HEADER.size:
            break
        (size,) = HEADER.unpack(header)
        payload = incoming.read(size)
        if len(payload) < size:
            break
        try:
            name, args = pickle.loads(payload)
            answer: tuple[bool, Any] = (True, CALLS[name](*args))
        except Exception as failure:  # the server's to report; this worker stays up
            answer = (False, RuntimeError(f"engine call failed: {failure!r}"))
        message = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            channel.sendall(HEADER.pack(len(message)) + message)
        except OSError:  # the server is gone
            break
    os._exit(0)

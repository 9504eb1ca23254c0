"""The run cache: one shared record per deterministic race, and the viewers through which sessions ask
for its frames.

A race is a pure function of its RaceSettings (and the NumPy and app versions), so every session
with the same settings shares one RunRecord, however many there are and whenever they started:
the cache keeps the records of recent runs (an LRU) and finds every record a session still holds
(a weak map), so a run many watch is computed once.

A record holds the pre-serialized `frame` texts of the steps anybody asked for (at most
FF_CACHE_FRAMES_PER_RUN), the `race` info, and what its viewers ask for and nobody has computed
yet: frame steps (the one a player waits for, and the next few a running session names so they are
ready at their ticks), and click inferences. The scheduler (app/web/scheduler.py) turns that demand
into work items for the engine slot the run lives in, best requester first; the engine's answers
come back through `absorb`. A session that leaves a run closes its viewer, which withdraws
everything it asked for, so work for a run nobody watches is never started.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

import app as package
from app.web.engine_worker import Item, ItemResult, RunSettings
from app.web.scheduler import Account, EngineScheduler
from app.web.wire import FrameCodec

WITHDRAWN = None  # the answer to a request withdrawn while it waited


def run_key(settings: RunSettings) -> tuple:
    # RaceSettings and LiveDigitsSettings store canonical types, so equal settings have equal reprs
    # (and the class name in the repr keeps a race and a digits run apart).
    return (repr(settings), np.__version__, package.__version__)


class Viewer:
    """One session's view of one run: what it asked for, so that it can withdraw it all at once."""

    def __init__(self, record: RunRecord, account: Account, binary: bool = False) -> None:
        self.record = record
        self.account = account
        self.binary = binary  # its session sends binary frames (app/web/wire.py)
        self.ahead: set[int] = set()
        self.named: list[int] = []  # the steps the session last named ahead of its player, in order
        self.awaiting: dict[int, asyncio.Future] = {}
        self.introducing: set[int] = set()  # awaited steps that begin a race (a start, a restore)
        self.failure: BaseException | None = None  # a failed slice's news, given once
        self.closed = False
        # Steps the session waits to have computed before it starts playing (see `buffer`).
        self._buffering: tuple[set[int], asyncio.Future] | None = None

    def _failed(self) -> None:
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure

    # A request the viewer withdrew (closed: its session moved to another run, or left) while it
    # waited answers None, not an exception: the session simply moves on, and no exception's
    # traceback ties the viewer and its run into a cycle only the garbage collector would free.

    async def info(self, speed: int) -> str | None:
        """The `race` message text for this run (settings.speed is the caller's)."""
        record = self.record
        if self.closed:
            return None
        if record.info is None:
            future = asyncio.get_running_loop().create_future()
            record.info_waiters.append((self, future))
            record.wake()
            if await future is WITHDRAWN:
                return None
        info = record.info
        assert info is not None  # absorb() sets record.info before it wakes any waiter
        return json.dumps({**info, "settings": {**info["settings"], "speed": speed}}, separators=(",", ":"))

    async def frame(self, step: int, intro: bool = False) -> tuple[str | None, bool]:
        """(frame text at `step`, whether it was ready: cached, so nobody computed it for this call).
        `intro`: the frame a start or a restore begins with (see RunRecord.fail)."""
        self._failed()
        if self.closed:
            return None, False
        record = self.record
        step = max(0, min(step, record.steps))
        text = record.frames.get(step)
        if text is not None:
            return text, True
        future = self.awaiting.get(step)
        if future is None:
            future = self.awaiting[step] = asyncio.get_running_loop().create_future()
            record.want(self, step)
        if intro:
            self.introducing.add(step)
        try:
            return await asyncio.shield(future), False
        finally:
            self.introducing.discard(step)
            if self.awaiting.get(step) is future:
                del self.awaiting[step]
                if not future.done():  # the caller went away: it no longer wants the step
                    future.cancel()
                    record.unwant(self, step)

    def want_ahead(self, steps: Iterable[int]) -> None:
        """The steps this running session will ask for next, computed while it plays the current ones.
        They are asked for in batches: only once fewer than half of them are ready or asked for,
        then all of them, so that the engine gets several frames of a run per turn rather than one
        per tick. Steps named before and not now are withdrawn."""
        if self.closed:
            return
        record = self.record
        self.named = sorted(steps)
        steps = set(self.named)
        for step in self.ahead - steps:
            if step not in self.awaiting:
                record.unwant(self, step)
        self.ahead &= steps
        underway = sum(1 for step in steps if step in record.frames or step in self.ahead)
        if underway * 2 < len(steps):
            for step in steps - self.ahead:
                if step not in record.frames:
                    self.ahead.add(step)
                    record.want(self, step)

    def slack(self) -> int:
        """Frames ready ahead of the session's player, before the first it still needs."""
        frames, ready = self.record.frames, 0
        for step in self.named:
            if step not in frames:
                break
            ready += 1
        return ready

    def buffer(self, steps: Iterable[int]) -> asyncio.Future | None:
        """A future that is done once all of `steps` (asked for ahead, see want_ahead) are computed,
        or the viewer closes; None when they already are. Unlike `frame`, waiting for it does not
        make the steps urgent: a session that starts playing with a few frames in hand waits for
        them like any frames ahead, instead of jumping the queue one frame at a time."""
        self.unbuffer()
        missing = {step for step in steps if step not in self.record.frames}
        if not missing or self.closed:
            return None
        future = asyncio.get_running_loop().create_future()
        self._buffering = (missing, future)
        return future

    def unbuffer(self) -> None:
        buffering, self._buffering = self._buffering, None
        if buffering is not None and not buffering[1].done():
            buffering[1].set_result(None)

    def arrived(self, step: int) -> None:
        """The engine computed `step`, which this viewer asked for."""
        self.ahead.discard(step)
        if self._buffering is not None:
            missing, future = self._buffering
            missing.discard(step)
            if not missing:
                self.unbuffer()

    async def infer(self, step: int, x: Any, y: float) -> Any:
        """Click inference with the run's nets at `step`; a newer click replaces one not yet started.
        A race's click is (x, y) and answers a PointInference; a digits run's is (DigitQuery, 0.0)
        and answers a DigitAnswer; None when withdrawn."""
        self._failed()
        if self.closed:
            return None
        future = asyncio.get_running_loop().create_future()
        self.record.click(self, step, x, y, future)
        try:
            return await asyncio.shield(future)
        finally:
            if not future.done():
                future.cancel()
                self.record.unclick(self, future)

    def close(self) -> None:
        """The session left this run: withdraw everything it asked for; whatever it still awaits
        answers None."""
        if self.closed:
            return
        self.closed = True
        self.unbuffer()
        record = self.record
        record.viewers -= 1
        record.binary_viewers -= self.binary
        for step in self.ahead | set(self.awaiting):
            record.unwant(self, step)
        waiting = list(self.awaiting.values())
        self.ahead, self.awaiting = set(), {}
        click = record.clicks.pop(self, None)
        if click is not None:
            waiting.append(click[3])
        waiting += [future for viewer, future in record.info_waiters if viewer is self]
        record.info_waiters = [(viewer, f) for viewer, f in record.info_waiters if viewer is not self]
        for future in waiting:
            if not future.done():
                future.set_result(WITHDRAWN)


class RunRecord:
    def __init__(self, settings: RunSettings, scheduler: EngineScheduler, max_frames: int = 1000) -> None:
        self.settings = settings
        self.key = run_key(settings)
        self.steps = settings.steps
        self.scheduler = scheduler
        self.max_frames = max_frames
        self.frames: dict[int, str] = {}
        self.info: dict | None = None
        self.slot: int | None = None  # the engine slot the run lives in, once placed
        self.position = 0  # the engine producer's step, as last reported
        self.wanted: dict[int, set[Viewer]] = {}
        self.info_waiters: list[tuple[Viewer, asyncio.Future]] = []
        self.clicks: dict[Viewer, tuple[int, Any, float, asyncio.Future]] = {}
        self.computed = 0  # frames the engine computed for this record (tests, metrics)
        self.crashes = 0  # slices with work for this run that failed in a row
        self.viewers = 0  # open viewers (sessions on this run)
        self.binary_viewers = 0  # of which send binary frames: the engine also makes their deltas
        self.codec = FrameCodec(deltas=max_frames)  # the run's binary frames, encoded once for all (wire.py)
        # Who asked for each item in flight, as they stood when it was handed to the engine: the work
        # is charged to them when it ends, even to a requester who left meanwhile (otherwise asking
        # and leaving at once would be engine time charged to nobody).
        self.askers: dict[int, set[Viewer]] = {}

    def viewer(self, account: Account, binary: bool = False) -> Viewer:
        self.viewers += 1
        self.binary_viewers += binary
        return Viewer(self, account, binary)

    def wake(self) -> None:
        self.scheduler.wake(self)

    # -- demand ------------------------------------------------------------------------------

    def want(self, viewer: Viewer, step: int) -> None:
        if step in self.frames:
            return
        self.wanted.setdefault(step, set()).add(viewer)
        self.wake()

    def unwant(self, viewer: Viewer, step: int) -> None:
        viewers = self.wanted.get(step)
        if viewers is not None:
            viewers.discard(viewer)
            if not viewers:
                del self.wanted[step]

    def click(self, viewer: Viewer, step: int, x: Any, y: float, future: asyncio.Future) -> None:
        old = self.clicks.pop(viewer, None)
        if old is not None and not old[3].done():
            old[3].set_result(WITHDRAWN)
        self.clicks[viewer] = (step, x, y, future)
        self.wake()

    def unclick(self, viewer: Viewer, future: asyncio.Future | None) -> None:
        pending = self.clicks.get(viewer)
        if pending is not None and (future is None or pending[3] is future):
            del self.clicks[viewer]
            if not pending[3].done():
                pending[3].cancel()

    def requesters(self) -> set[Viewer]:
        found = {viewer for viewers in self.wanted.values() for viewer in viewers}
        found.update(self.clicks)
        if self.info is None:
            found.update(viewer for viewer, _ in self.info_waiters)
        return found

    def priority(self, now: float, standings: dict[str, float]) -> tuple | None:
        """The scheduler's sort key for this run (its best requester's), or None with nothing asked."""
        requesters = self.requesters()
        if not requesters:
            return None
        waiting_now = {viewer for viewer, _ in self.info_waiters}
        waiting_now.update(self.clicks)
        return min(
            viewer.account.priority(now, standings, bool(viewer.awaiting) or viewer in waiting_now, viewer.slack())
            for viewer in requesters
        )

    # -- the engine's side -------------------------------------------------------------------

    def item(self, max_frames: int) -> Item:
        frames = sorted(self.wanted)[:max_frames]
        infers = [(step, x, y) for step, x, y, _ in self.clicks.values()]
        want_info = self.info is None and bool(self.info_waiters)
        item = Item(self.key, self.settings, frames, infers, want_info, wire=self.binary_viewers > 0)
        self.askers[id(item)] = self._payers(item)
        return item

    def _payers(self, item: Item) -> set[Viewer]:
        payers = {viewer for step in item.frames for viewer in self.wanted.get(step, ())}
        payers.update(self.clicks)
        if item.want_info:
            payers.update(viewer for viewer, _ in self.info_waiters)
        return payers

    def absorb(self, item: Item, result: ItemResult) -> None:
        self.crashes = 0
        # Those who asked when the work began, and anyone who asked for the same work since.
        payers = self.askers.pop(id(item), set()) | self._payers(item)
        for viewer in payers:  # shared work costs each requester its share
            viewer.account.charge(result.seconds / len(payers))
        self.position = result.position
        if result.info is not None and self.info is None:
            self.info = result.info
        if self.info is not None:
            waiters, self.info_waiters = self.info_waiters, []
            for _, future in waiters:
                if not future.done():
                    future.set_result(True)
        self.computed += len(result.frames)
        for step, (base, message) in result.deltas.items():
            self.codec.add_delta(base, step, message)
        for step, text in result.frames.items():
            if len(self.frames) < self.max_frames:  # memory per run stays bounded
                self.frames[step] = text
            for viewer in self.wanted.pop(step, ()):
                viewer.arrived(step)
                awaited = viewer.awaiting.get(step)
                if awaited is not None and not awaited.done():
                    awaited.set_result(text)
        for step, x, y, inference in result.infers:
            for viewer, (s, cx, cy, future) in list(self.clicks.items()):
                if (s, cx, cy) == (step, x, y):
                    del self.clicks[viewer]
                    if not future.done():
                        future.set_result(inference)

    def settle(self, item: Item) -> None:
        """The engine is done with `item` (answered, failed or never reached): forget its askers."""
        self.askers.pop(id(item), None)

    def fail(self, item: Item, failure: BaseException) -> None:
        """The slice computing `item` failed (a crashed worker). Requests that began something and
        wait for its answer (a start's or a restore's first frame, the `race` info, a click) hear so,
        once: the page can ask again. A playing race's frames, due now or asked for ahead, are
        computed again by the next worker, so a crash costs a race being watched nothing but time;
        unless this run has now failed twice in a row (it may be what kills the worker), when its
        viewers hear so too. Nothing of the failure stays behind: a later request computes afresh."""
        self.position = 0  # the next worker rebuilds the run from its settings
        self.crashes += 1
        for step in item.frames:
            viewers = self.wanted.get(step, set())
            for viewer in list(viewers):
                future = viewer.awaiting.get(step)
                if step in viewer.introducing and future is not None and not future.done():
                    future.set_exception(failure)
                elif self.crashes >= 2:
                    if future is not None and not future.done():
                        future.set_exception(failure)
                    else:
                        viewer.failure = failure
                else:
                    continue
                viewers.discard(viewer)
                viewer.ahead.discard(step)
                viewer.unbuffer()  # it will not come: let the player go on and hear the failure
            if not viewers:
                self.wanted.pop(step, None)
        if item.want_info:
            waiters, self.info_waiters = self.info_waiters, []
            for _, future in waiters:
                if not future.done():
                    future.set_exception(failure)
        for step, x, y in item.infers:
            for viewer, (s, cx, cy, future) in list(self.clicks.items()):
                if (s, cx, cy) == (step, x, y):
                    del self.clicks[viewer]
                    if not future.done():
                        future.set_exception(failure)


class RunCache:
    """Records by settings + NumPy version + app version: the `size` most recently used are kept,
    and every record some session holds is found too, so that it is shared, never duplicated."""

    def __init__(self, size: int, scheduler: EngineScheduler, frames_per_run: int = 1000) -> None:
        self.size = size
        self.scheduler = scheduler
        self.frames_per_run = frames_per_run
        self._recent: OrderedDict[tuple, RunRecord] = OrderedDict()
        self._live: weakref.WeakValueDictionary[tuple, RunRecord] = weakref.WeakValueDictionary()

    def __len__(self) -> int:
        return len(self._recent)

    def record(self, settings: RunSettings) -> RunRecord:
        key = run_key(settings)
        record = self._recent.get(key) or self._live.get(key)
        if record is None:
            record = RunRecord(settings, self.scheduler, self.frames_per_run)
            self._live[key] = record
        self._recent[key] = record
        self._recent.move_to_end(key)
        while len(self._recent) > self.size:
            self._recent.popitem(last=False)
        return record

    def watched(self, kind: type) -> set[RunRecord]:
        """The records of runs whose settings are a `kind` that some session watches now."""
        return {
            record for record in list(self._live.values()) if record.viewers > 0 and isinstance(record.settings, kind)
        }

    def live(self) -> int:
        """Records the cache holds on purpose: the recent ones, and those a session watches (others may
        linger until the garbage collector frees them, but nothing uses them)."""
        watched = {key for key, record in list(self._live.items()) if record.viewers > 0}
        return len(watched | set(self._recent))

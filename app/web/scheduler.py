"""Fair shares of the engine: every client's compute budget, and the scheduler that gives each
engine slot its next slice of work.

Engine work (a new run, a replay to `at_step`, frames computed ahead, click inference) is asked
for by a session and charged, once done, to the sessions and client addresses that asked; work
several sessions share (one run many watch) is computed once and its cost split among them.

* A client address has a token bucket of engine seconds: each of its open races adds
  FF_COMPUTE_SHARE engine-seconds per second to it and FF_COMPUTE_BURST_S to its size. A client
  whose bucket is empty is over its budget: its sessions are told `busy`, and its work waits until
  nobody within budget is waiting.
* Whenever a slot is free, it takes the waiting runs in order of their best requester: the client
  with the fullest bucket first (in tenths of the bucket), then work a player waits for now (a
  start's first frame, a restore, a frame due, a click) before frames asked for ahead, then the
  session with the fewest frames ready ahead of its player (its next frame is due soonest), then
  the session that has used least lately, then the run that has waited longest. A slice lasts at most
  FF_ENGINE_SLICE_S and a slot holds two (one running, the next queued), so nobody waits behind
  anyone's long job for more than two slices.
* Work for a run nobody watches any more is never started: a session that leaves a run withdraws
  what it asked for (app/web/cache.py), and a run with nothing asked for is not scheduled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cache.py imports this module
    from app.web.cache import RunRecord
    from app.web.metrics import Metrics

import asyncio
import itertools
import logging
import math
import time
import weakref
from collections.abc import Callable

from app.web.engine_pool import EnginePool

log = logging.getLogger("app.web.scheduler")

# Half-life of a session's recent engine use, for ordering one client's sessions.
SESSION_USAGE_HALF_LIFE_S = 10.0
# A client's bucket level counts in these steps when ordering work (see Account.priority).
STANDING_BANDS = 10
# Work items in one slice; the slice's time bounds the work, this only bounds what is sent.
MAX_ITEMS_PER_SLICE = 16
# Slices a slot holds at once (of different runs): one running, one queued behind it.
SLICES_IN_FLIGHT = 2
# Frames one item asks for (a run asked for more gets the rest in later slices): small, so that one
# slice serves several runs and none waits behind another's long prefetch.
MAX_FRAMES_PER_ITEM = 6


class Budgets:
    """Token buckets of engine seconds per client address (see the module docstring)."""

    def __init__(
        self,
        share: float,
        burst_s: float,
        sessions_of: Callable[[str], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share = share
        self.burst_s = burst_s
        self.sessions_of = sessions_of
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)

    def _limits(self, client: str) -> tuple[float, float]:
        sessions = max(1, self.sessions_of(client))
        return self.share * sessions, self.burst_s * sessions

    def tokens(self, client: str, now: float | None = None) -> tuple[float, float]:
        """(tokens at `now`, default the clock's now; bucket size)."""
        rate, size = self._limits(client)
        tokens, when = self._buckets.get(client, (size, None))
        if when is not None:
            tokens = min(size, tokens + rate * max(0.0, (self.clock() if now is None else now) - when))
        return tokens, size

    def standing(self, client: str, now: float | None = None) -> float:
        """How full the client's bucket is: 1 untouched, 0 empty, negative over budget. Compare
        standings taken at one `now`: a bucket refills continuously."""
        tokens, size = self.tokens(client, now)
        return tokens / size

    def over(self, client: str) -> bool:
        return self.tokens(client)[0] < 0

    def charge(self, client: str, seconds: float) -> None:
        tokens, size = self.tokens(client)
        self._buckets[client] = (tokens - seconds, self.clock())
        if len(self._buckets) > 256:
            self._prune()

    def _prune(self) -> None:
        # A full bucket is the same as none: forget it, so memory follows the clients present.
        for client in list(self._buckets):
            tokens, size = self.tokens(client)
            if tokens >= size:
                del self._buckets[client]

    def __len__(self) -> int:
        return len(self._buckets)


class Account:
    """One session's standing with the scheduler: its client address and its recent engine use."""

    def __init__(
        self, client: str, budgets: Budgets, clock: Callable[[], float] = time.monotonic, weight: float = 1.0
    ) -> None:
        self.client = client
        self.budgets = budgets
        self.clock = clock
        # Engine seconds count at this weight against the client's budget: the live digits race
        # (app/web/digits_session.py) needs several times a disk race's engine time at its pace.
        self.weight = weight
        self._usage = 0.0
        self._when = clock()

    def usage(self, now: float | None = None) -> float:
        """Engine seconds used, decayed with a half-life of SESSION_USAGE_HALF_LIFE_S."""
        now = self.clock() if now is None else now
        return self._usage * 0.5 ** (max(0.0, now - self._when) / SESSION_USAGE_HALF_LIFE_S)

    def charge(self, seconds: float) -> None:
        seconds *= self.weight
        now = self.clock()
        self._usage, self._when = self.usage(now) + seconds, now
        self.budgets.charge(self.client, seconds)

    @property
    def over_budget(self) -> bool:
        return self.budgets.over(self.client)

    def priority(self, now: float, standings: dict[str, float], urgent: bool, slack: int = 0) -> tuple:
        """Smaller goes first: the client's bucket in tenths (over budget last), then what a player
        is waiting for now before frames asked for ahead, then the session with the fewest frames
        ready ahead of its player (`slack`: whose next frame is due soonest), then the session that
        used least lately.
        Tenths, not the exact level, so that among clients within budget a frame due now is not
        kept behind another's prefetch by a hair's difference in their buckets. All priorities of
        one decision are taken at one `now`; `standings` caches each client's."""
        standing = standings.get(self.client)
        if standing is None:
            standing = standings[self.client] = self.budgets.standing(self.client, now)
        return (-math.ceil(standing * STANDING_BANDS), not urgent, slack, self.usage(now))


class EngineScheduler:
    """Hands each free slot its next slice: the waiting runs of that slot, best requester first."""

    def __init__(self, pool: EnginePool, slice_s: float, metrics: Metrics | None = None) -> None:
        self.pool = pool
        self.slice_s = slice_s
        self.metrics = metrics
        self._waiting: list[dict] = [{} for _ in pool.slots]  # slot -> {record: sequence}
        self._kicks = [asyncio.Event() for _ in pool.slots]  # set when a slot has new work
        self._sequence = itertools.count()
        self._servers: set[asyncio.Task] = set()
        self._closed = False

    # -- what records call -----------------------------------------------------------------------

    def wake(self, record: RunRecord) -> None:
        """The record has work asked for: place it in a slot (once), and make sure that slot serves."""
        if self._closed:
            return
        if record.slot is None:
            record.slot = self.pool.place()
            # When the server lets the run go, its slot lets the producer go too.
            weakref.finalize(record, self.pool.forget, record.slot, record.key).atexit = False
        waiting = self._waiting[record.slot]
        if record not in waiting:
            waiting[record] = next(self._sequence)
        self._kicks[record.slot].set()
        slot = self.pool.slots[record.slot]
        if not slot.busy:
            self._start(slot.index)

    def waiting(self) -> int:
        """Runs with work asked for and not yet done (for tests and metrics)."""
        return sum(len(w) for w in self._waiting)

    # -- the slot servers ------------------------------------------------------------------------

    def _start(self, index: int) -> None:
        self.pool.slots[index].busy = True
        task = asyncio.get_running_loop().create_task(self._serve(index), name=f"engine-slot-{index}")
        self._servers.add(task)
        task.add_done_callback(self._servers.discard)

    def _next_slice(self, index: int, busy: set) -> list:
        """The best waiting runs of a slot, leaving out those in a slice already (`busy`)."""
        waiting = self._waiting[index]
        ready = []
        now = time.monotonic()
        standings: dict[str, float] = {}
        for record, sequence in list(waiting.items()):
            if record in busy:
                continue
            priority = record.priority(now, standings)
            if priority is None:  # nothing asked for any more (withdrawn, or already answered)
                del waiting[record]
            else:
                ready.append((priority, sequence, record))
        ready.sort(key=lambda entry: (entry[0], entry[1]))
        return [record for _, _, record in ready[:MAX_ITEMS_PER_SLICE]]

    async def _serve(self, index: int) -> None:
        """Keeps up to SLICES_IN_FLIGHT slices (of different runs) at the slot: while the worker runs
        one, the next already waits in its queue, so it never idles through a round trip."""
        loop = asyncio.get_running_loop()
        kick = self._kicks[index]
        in_flight: dict[asyncio.Task, list] = {}
        try:
            while not self._closed:
                kick.clear()
                busy = {record for records in in_flight.values() for record in records}
                while len(in_flight) < SLICES_IN_FLIGHT:
                    records = self._next_slice(index, busy)
                    if not records:
                        break
                    busy.update(records)
                    in_flight[loop.create_task(self._slice(index, records))] = records
                if not in_flight:
                    return
                kicked = loop.create_task(kick.wait())
                try:
                    done, _ = await asyncio.wait([*in_flight, kicked], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    kicked.cancel()
                for task in done:
                    in_flight.pop(task, None)
        finally:
            for task in in_flight:
                task.cancel()
            self.pool.slots[index].busy = False
            # Work that arrived while this server was leaving must not be stranded.
            if not self._closed and self._waiting[index]:
                self._start(index)

    async def _slice(self, index: int, records: list) -> None:
        items = [record.item(MAX_FRAMES_PER_ITEM) for record in records]
        try:
            await self._run_slice(index, records, items)
        finally:  # answered, failed, not reached or cancelled: the item is over
            for record, item in zip(records, items, strict=True):
                record.settle(item)

    async def _run_slice(self, index: int, records: list, items: list) -> None:
        try:
            results = await self.pool.execute(index, items, self.slice_s)
        except asyncio.CancelledError:
            raise
        except Exception as failure:  # a crashed worker, or a bug: this slice's work fails
            log.warning("engine slice failed on slot %d: %r", index, failure)
            for record, item in zip(records, items, strict=True):
                record.fail(item, failure)
            if self.metrics is not None:
                self.metrics.engine_failures.inc()
            return
        answered = {result.key: result for result in results}
        for record, item in zip(records, items, strict=True):
            result = answered.get(record.key)
            if result is None:
                continue
            try:
                record.absorb(item, result)
            except Exception as failure:  # a bug must cost this run's requests, never the slot
                log.exception("absorbing an engine result failed")
                record.fail(item, failure)
            if self.metrics is not None:
                self.metrics.engine_seconds.inc(result.cpu_seconds)
                self.metrics.engine_frames.inc(len(result.frames))
        waiting = self._waiting[index]
        for record in records:  # answered or not reached: back to the queue's order
            if record in waiting:
                waiting[record] = next(self._sequence)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._servers):
            task.cancel()
        if self._servers:
            await asyncio.wait(list(self._servers))

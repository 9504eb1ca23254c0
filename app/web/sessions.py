"""One race session: the playback of a run to one client, driven by that client's messages.

Three tasks per connection, so that no one of them can stall the others:

* the receiver reads, bounds and validates client messages and turns them into intents;
* the player is the only task that moves the cursor: it plays frames at the frame rate, does
  single steps and start/reset introductions, fetching frames from the shared RunRecord;
* the writer (app/web/limits.py's SocketWriter) drains the conflating Outbox into the socket,
  holding back while the client has not confirmed reading enough of what it was sent, so frames
  conflate to the newest instead of queueing in kernel buffers; a client that reads nothing for
  the slow-reader timeout ends it, and the session closes with 1008.

Click inference runs as a fourth, short-lived task (at most one; newer clicks replace a pending
one), so a click never waits behind a frame and vice versa. All engine work (frames, replays,
inference) is asked of the run's record through the session's Viewer, and charged to the
session's Account (app/web/scheduler.py): a client past its compute budget is told `busy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.web.transport import Delivery

import asyncio
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError
from starlette.websockets import WebSocket

from app.config import Settings
from app.engine.race import RaceSettings
from app.web.cache import RunCache, RunRecord, Viewer
from app.web.engine_pool import EngineCrashed
from app.web.frames import inference_text
from app.web.limits import Outbox, OutFrame, RateLimiter, SocketWriter
from app.web.messages import (
    CLIENT_TYPES,
    ErrorCode,
    Infer,
    Pause,
    Reset,
    Resume,
    Speed,
    Start,
    State,
    Step,
    client_message_adapter,
    error_text,
)
from app.web.metrics import Metrics
from app.web.scheduler import Account

# Timeouts use asyncio.timeout(), never asyncio.wait_for(): on Python 3.11 wait_for can swallow a
# cancellation that races with its inner await, which leaves a cancelled session running.

log = logging.getLogger("app.web.race")

# Close codes (RFC 6455 / IANA registry).
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
UNSUPPORTED_DATA = 1003
# Pending single steps a client may queue with `step` before the player catches up.
MAX_PENDING_STEPS = 50
# A client past its budget hears `busy` at most this often per session.
BUSY_NOTICE_INTERVAL_S = 1.0
# Every session's ticks fall on one shared grid of this fraction of the frame interval (10 ms at 20
# frames/s), so that one wake-up of the event loop sends the frames of all the sessions due in it
# instead of one wake-up per session per frame: at 100 distinct-seed clients the loop's CPU per
# frame fell to about 0.4 of before (docs/performance.md). A frame goes at most one grid step late.
TICK_GRID_PER_INTERVAL = 5
# A running race starts playing once this many frames after its first are computed (or after
# PREBUFFER_TIMEOUT_S), as a video player buffers before it plays: when a whole class presses Train
# at once, the animation then starts a moment later instead of stuttering through its first second
# (docs/performance.md). On a server with time to spare the frames take a few milliseconds.
PREBUFFER_FRAMES = 3
PREBUFFER_TIMEOUT_S = 1.0


def on_tick_grid(when: float, grid: float) -> float:
    """The first point of the shared grid at or after `when` (a time a hair past a grid point,
    from adding intervals in floating point, counts as that point)."""
    return math.ceil(when / grid - 1e-6) * grid


@dataclass
class Closing:
    code: int
    reason: str


class RaceSession:
    # The protocol this session speaks (app/web/digits_session.py's DigitsSession speaks another).
    message_adapter: TypeAdapter = client_message_adapter
    client_types: tuple[str, ...] = CLIENT_TYPES
    charge_weight = 1.0  # how the session's engine seconds count against its client's budget (Account)
    binary_frames_offered = True  # frames as app/web/wire.py's binary deltas when the client asks for them
    log = log  # where a failed inference is logged (each kind of session its own logger)

    def message_limit(self) -> int:
        """The largest inbound message, in bytes (larger: close 1009)."""
        return self.settings.max_message_bytes

    def __init__(
        self,
        websocket: WebSocket,
        settings: Settings,
        cache: RunCache,
        metrics: Metrics,
        account: Account,
        delivery: Delivery | None = None,
        binary_frames: bool = False,
    ) -> None:
        self.ws = websocket
        self.settings = settings
        self.cache = cache
        self.metrics = metrics
        self.account = account
        self.busy_notice_at = float("-inf")
        self.outbox = Outbox()
        self.writer = SocketWriter(
            websocket, self.outbox, settings.slow_reader_timeout_s, metrics, delivery, binary=binary_frames
        )
        self.limiter = RateLimiter(settings.messages_per_second)
        self.wake = asyncio.Event()
        # Playback state; the receiver writes intents, the player moves `cursor`.
        self.record: RunRecord | None = None
        self.viewer: Viewer | None = None
        self.generation = 0
        self.cursor = 0
        self.running = False
        self.speed = settings.steps_per_frame
        self.pending_steps = 0
        self.needs_intro = False
        # Click inference: the latest unanswered point.
        self.pending_point: tuple[float, float] | None = None
        self.infer_task: asyncio.Task | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        receiver = asyncio.create_task(self.receive_loop(), name="race-receiver")
        player = asyncio.create_task(self.play_loop(), name="race-player")
        writer = asyncio.create_task(self.writer.run(), name="race-writer")
        tasks = {receiver, player, writer}
        closing: Closing | None = None
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The server is shutting the connection down: stop everything and leave at once.
            for task in (*tasks, self.infer_task):
                if task is not None:
                    task.cancel()
            raise
        if receiver in done:
            if receiver.exception() is None:
                closing = receiver.result()
            else:  # the socket failed under us; still stop the other tasks below, then leave
                log.warning("race receiver failed", exc_info=receiver.exception())
        elif writer in done:
            if writer.exception() is None:
                closing = Closing(POLICY_VIOLATION, "slow reader")
        elif player in done:
            failure = player.exception()
            if isinstance(failure, EngineCrashed):  # the engine pool already logged the crash
                log.warning("race ended by an engine failure: %s", failure)
            else:
                log.error("race player failed", exc_info=failure)
            self.outbox.put(error_text(ErrorCode.internal, "The race failed on the server; start again."))
            closing = Closing(INTERNAL_ERROR, "internal error")
        for task in (receiver, player, self.infer_task):
            if task is not None:
                task.cancel()
        if closing is not None and not writer.done():
            # Let the writer flush the error that explains the close, within the slow-reader bound.
            self.outbox.close()
            try:
                async with asyncio.timeout(self.settings.slow_reader_timeout_s):
                    await asyncio.shield(writer)
            except Exception:  # timed out, or the peer vanished: the close below says the rest
                pass
        writer.cancel()
        # No task is left behind: wait until every one of them has really finished. asyncio.wait,
        # not gather: a cancelled gather stays pending until its children end, so anyio's cancel
        # scopes (Starlette's TestClient) would cancel the host twice and then not recognise it.
        await asyncio.wait([t for t in (receiver, player, writer, self.infer_task) if t is not None])
        if self.viewer is not None:  # whatever this session asked the engine for is withdrawn
            self.viewer.close()
        self.writer.report_conflated()
        if closing is not None:
            try:
                async with asyncio.timeout(1.0):
                    await self.ws.close(closing.code, closing.reason)
            except Exception:  # the peer is gone or not reading: nothing more to say
                pass

    # -- the receiver ------------------------------------------------------------------------

    def error(self, code: ErrorCode, message: str) -> None:
        self.outbox.put(error_text(code, message))

    def refuse(self, code: ErrorCode, message: str, close_code: int) -> Closing:
        self.metrics.refuse(code.value)
        self.error(code, message)
        return Closing(close_code, code.value)

    async def receive_loop(self) -> Closing | None:
        """Returns None when the client disconnected, or how to close on a policy violation."""
        limit = self.message_limit()
        while True:
            try:
                async with asyncio.timeout(self.settings.idle_timeout_s):
                    message = await self.ws.receive()
            except TimeoutError:
                if self.running or self.pending_steps:
                    continue
                return self.refuse(
                    ErrorCode.idle,
                    f"No message for {self.settings.idle_timeout_s:g} s; closing. Reconnect to race again.",
                    GOING_AWAY,
                )
            if message["type"] == "websocket.disconnect":
                return None
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
            if size > limit:
                return self.refuse(
                    ErrorCode.too_big, f"Message of {size} bytes is over the {limit}-byte limit.", MESSAGE_TOO_BIG
                )
            if not self.limiter.allow():
                return self.refuse(
                    ErrorCode.rate_limited,
                    f"More than {self.settings.messages_per_second} messages per second.",
                    POLICY_VIOLATION,
                )
            if not isinstance(data, str):
                self.error(ErrorCode.not_text, "Binary messages are not part of this protocol; send JSON text.")
                continue
            try:
                self.handle(data)
            except Exception:  # a bug must cost this message, never the session or the server
                log.exception("race message handling failed")
                self.error(ErrorCode.internal, "The server failed on this message.")

    def handle(self, data: str) -> None:
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):
            self.error(ErrorCode.bad_json, "The message is not valid JSON.")
            return
        if not isinstance(payload, dict):
            self.error(ErrorCode.bad_json, "The message must be a JSON object with a `type`.")
            return
        kind = payload.get("type")
        if not isinstance(kind, str) or kind not in self.client_types:
            shown = repr(kind)[:40]
            self.error(
                ErrorCode.unknown_type,
                f"Unknown message type {shown}; expected one of {', '.join(self.client_types)}.",
            )
            return
        try:
            message = self.message_adapter.validate_python(payload)
        except ValidationError as invalid:
            code = ErrorCode.bad_settings if kind in ("start", "speed") else ErrorCode.bad_message
            self.error(code, f"Bad `{kind}` message: {describe(invalid)}.")
            return
        self.dispatch(message)

    def dispatch(self, message: Start | Pause | Resume | Step | Reset | Speed | Infer) -> None:
        if isinstance(message, Start):
            self.start(message)
        elif isinstance(message, Speed):
            if self.check_speed(message.steps_per_frame):
                self.speed = message.steps_per_frame
                self.send_state()
        elif self.record is None:
            self.error(ErrorCode.not_started, f"Send `start` before `{message.type}`.")
        elif isinstance(message, Pause):
            self.running = False
            self.send_state()
        elif isinstance(message, Resume):
            self.running = self.cursor < self.record.steps
            self.send_state()
        elif isinstance(message, Step):
            self.running = False
            self.pending_steps = min(self.pending_steps + 1, MAX_PENDING_STEPS)
        elif isinstance(message, Reset):
            self.begin(self.record, running=False)
        elif isinstance(message, Infer):
            self.request_inference(message.x, message.y)
        self.wake.set()

    def check_speed(self, speed: int) -> bool:
        problem = self.settings.speed_problem(speed)
        if problem is not None:
            self.error(ErrorCode.bad_settings, problem)
        return problem is None

    def start(self, message: Start) -> None:
        chosen = message.settings.model_dump(exclude_none=True)
        speed = chosen.pop("speed", self.settings.steps_per_frame)
        if not self.check_speed(speed):
            return
        try:
            race_settings = RaceSettings(**chosen)
        except (ValueError, TypeError) as invalid:
            self.error(ErrorCode.bad_settings, f"Bad settings: {invalid}.")
            return
        at_step = message.at_step
        if at_step is not None and at_step > race_settings.steps:
            self.error(
                ErrorCode.bad_settings, f"at_step must be an integer in [0, {race_settings.steps}]; got {at_step}."
            )
            return
        self.speed = speed
        # Runs are deterministic, so a step anywhere in the run can be served exactly (a cached
        # frame, or a replay from the nearest checkpoint): a restored race lands where it was.
        self.begin(self.cache.record(race_settings), running=at_step is None, at_step=at_step or 0)
        self.notice_budget()

    def notice_budget(self) -> None:
        """Tell a client past its compute budget why its request will take a while (rate-limited)."""
        if not self.account.over_budget:
            return
        now = asyncio.get_running_loop().time()
        if now - self.busy_notice_at >= BUSY_NOTICE_INTERVAL_S:
            self.busy_notice_at = now
            self.metrics.refuse("busy")
            self.error(
                ErrorCode.busy,
                "You have asked for more computation than your share of the server "
                "lately; this request waits until other clients' work is done.",
            )

    def begin(self, record: RunRecord, *, running: bool, at_step: int = 0) -> None:
        if self.viewer is not None and self.viewer.record is not record:
            self.viewer.close()  # the old run's pending work is withdrawn, never started
            self.viewer = None
        if self.viewer is None:
            self.viewer = record.viewer(self.account, binary=self.writer.binary)
        else:
            self.viewer.want_ahead(())
        self.record = record
        self.generation += 1
        self.cursor = at_step
        self.pending_steps = 0
        self.running = running
        self.needs_intro = True
        self.wake.set()

    def send_state(self) -> None:
        record = self.record
        steps = record.steps if record else 0
        state = State(
            type="state",
            running=self.running,
            step=self.cursor,
            steps=steps,
            speed=self.speed,
            done=bool(record) and self.cursor >= steps,
        )
        self.outbox.put(state.model_dump_json())

    # -- the player --------------------------------------------------------------------------

    async def play_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.frame_interval_s
        grid = interval / TICK_GRID_PER_INTERVAL
        next_tick = due = loop.time()
        while True:
            if not (self.needs_intro or self.pending_steps or self.running):
                self.wake.clear()
                await self.wake.wait()
                next_tick = loop.time()
                continue
            record, viewer, generation = self.record, self.viewer, self.generation
            if record is None or viewer is None:  # no run yet (dispatch refuses intents before `start`)
                self.needs_intro, self.pending_steps, self.running = False, 0, False
                continue
            if self.needs_intro:
                self.needs_intro = False
                info = await viewer.info(self.speed)
                if info is None:
                    continue  # withdrawn: a new start replaced this run while it was being prepared
                text, hit = await viewer.frame(self.cursor, intro=True)
                if text is None or generation != self.generation:
                    continue  # withdrawn: a new start replaced this run while it was being prepared
                self.count(hit)
                self.outbox.put(info)
                self.outbox.put_frame(OutFrame(text, self.cursor, None, record.codec))
                self.send_state()
                next_tick = loop.time() + interval
                if self.running and not self.pending_steps:
                    await self.prebuffer(viewer, record.steps)
                continue
            single = self.pending_steps > 0
            if not single:
                due = on_tick_grid(next_tick, grid)
                if due > loop.time():
                    # Sleep until the tick, but wake for a pause, step or reset meanwhile. (A timer
                    # that sets the event: cheaper than asyncio.timeout, once per frame per client.)
                    self.wake.clear()
                    timer = loop.call_at(due, self.wake.set)
                    try:
                        await self.wake.wait()
                    finally:
                        timer.cancel()
                    continue
            target = min(self.cursor + (1 if single else self.speed), record.steps)
            # Running, name the next steps so the record computes them before their ticks.
            viewer.want_ahead([] if single else self.steps_ahead(target, record.steps))
            text, hit = await viewer.frame(target)
            if text is None:  # withdrawn: a start or reset replaced the run
                continue
            # A start/reset, or a pause that arrived while the frame was computed, wins: the
            # `state` it sent names the step the client stays on.
            if generation != self.generation or not (single or self.running):
                continue
            if not single:  # how long after its tick the frame was ready (an operator's saturation signal)
                self.metrics.frame_lateness.observe(max(0.0, loop.time() - due))
            self.count(hit)
            self.outbox.put_frame(OutFrame(text, target, self.cursor, record.codec))
            self.cursor = target
            if single:
                self.pending_steps -= 1
            else:
                # Never build a backlog: a frame that came after its successor's tick (a slow
                # fetch, a busy loop) is followed by a full interval, not sent on at once, which
                # would also replace it in the outbox before the writer could send it.
                next_tick += interval
                if next_tick <= loop.time():
                    next_tick = loop.time() + interval
            if self.cursor >= record.steps:
                self.running = False
                self.pending_steps = 0
                self.send_state()
            elif single and not self.pending_steps:
                self.send_state()

    def steps_ahead(self, step: int, last: int) -> list[int]:
        """The steps of the FF_FRAMES_AHEAD frames the player will play after the one at `step`."""
        return sorted({min(step + self.speed * i, last) for i in range(1, self.settings.frames_ahead + 1)} - {step})

    async def prebuffer(self, viewer: Viewer, last: int) -> None:
        """Ask for the frames ahead of the cursor and wait until the first PREBUFFER_FRAMES of them
        are computed, at most PREBUFFER_TIMEOUT_S; a pause, step, start or reset ends the wait."""
        ahead = self.steps_ahead(self.cursor, last)
        viewer.want_ahead(ahead)
        buffered = viewer.buffer(ahead[:PREBUFFER_FRAMES])
        if buffered is None:
            return
        self.wake.clear()
        woken = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait({buffered, woken}, timeout=PREBUFFER_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            viewer.unbuffer()
        if woken.done() and not woken.cancelled():
            self.wake.set()  # the intent that ended the wait is still to be handled

    def count(self, hit: bool) -> None:
        (self.metrics.cache_hits if hit else self.metrics.cache_misses).inc()

    # -- click inference ---------------------------------------------------------------------

    def request_inference(self, x: float, y: float) -> None:
        self.pending_point = (x, y)
        self.notice_budget()
        if self.infer_task is None or self.infer_task.done():
            self.infer_task = asyncio.create_task(self.infer_loop(), name="race-infer")

    async def infer_loop(self) -> None:
        while self.pending_point is not None:
            (x, y), self.pending_point = self.pending_point, None
            viewer, step = self.viewer, self.cursor
            if viewer is None:  # no run yet (dispatch refuses `infer` before `start`)
                continue
            await self.answer(viewer, step, (x, y), inference_text, "click")

    async def answer(
        self, viewer: Viewer, step: int, query: tuple[Any, float], text: Callable[[Any, int], str], what: str
    ) -> None:
        """Ask the run for one inference at `step` and send its answer as text(result, step); a
        failure is logged and told to the client, never raised (the next request still runs)."""
        try:
            result = await viewer.infer(step, *query)
        except Exception:
            self.log.exception("%s inference failed", what)
            self.error(ErrorCode.internal, "Inference failed on the server.")
            return
        if result is not None:  # None: withdrawn, a new start replaced the run
            self.outbox.put(text(result, step))


def describe(invalid: ValidationError) -> str:
    """The first problem pydantic found, as a short phrase naming the field."""
    first = invalid.errors(include_url=False, include_input=False)[0]
    location = first["loc"][1:] if first["loc"] and first["loc"][0] in CLIENT_TYPES else first["loc"]  # the union's tag
    where = ".".join(str(part) for part in location) or "message"
    return f"{where}: {first['msg']}"[:200]

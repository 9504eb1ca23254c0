"""/ws/digits: the live digits race, spoken over the race's own session machinery.

DigitsSession is a RaceSession (app/web/sessions.py: receiver, player, conflating writer with
delivery pings, rate limit, budgets, restore by `at_step`) whose runs are LiveDigitsSettings and
whose `infer` names a drawn digit (strokes) or a held-out digit, answered with the nets of the
reader's own run at the step the page shows. The protocol is in docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, TypeAdapter, model_validator

from app.engine.drawing import MAX_STROKES, check_strokes
from app.web.digits_live import (
    DIGITS_STEPS_PER_FRAME,
    MAX_DIGITS_RUNS_PER_SLOT,
    DigitQuery,
    LiveDigitsSettings,
    inference_text,
)
from app.web.messages import ErrorCode, Pause, Reset, Resume, Step, Strict
from app.web.sessions import RaceSession

log = logging.getLogger("app.web.digits")

HELD_OUT = 1000  # digits in the bundled held-out set

Point = Annotated[list[float], Field(min_length=2, max_length=2)]


class DigitsStartSettings(Strict):
    """What a reader may choose; types here, ranges the engine's (DigitsSettings)."""

    seed: int | None = None
    negatives: str | None = Field(None, max_length=16)


class DigitsStart(Strict):
    type: Literal["start"]
    settings: DigitsStartSettings = Field(default_factory=DigitsStartSettings)
    at_step: int | None = Field(None, ge=0, description="begin paused at this step (minibatches done)")


class DigitFields(Strict):
    """A drawn digit (strokes: polylines of [x, y] in [0, 1], x right, y down) or a held-out digit
    (its index in the 1,000): exactly one of them."""

    strokes: list[list[Point]] | None = Field(None, max_length=MAX_STROKES)
    heldout: int | None = Field(None, ge=0, lt=HELD_OUT)

    @model_validator(mode="after")
    def one_digit(self) -> DigitFields:
        if (self.strokes is None) == (self.heldout is None):
            raise ValueError(
                "give either strokes (a drawing) or heldout (a held-out digit's index), exactly one of them"
            )
        return self


class DigitsInfer(DigitFields):
    type: Literal["infer"]


DigitsClientMessage = Annotated[DigitsStart | Pause | Resume | Step | Reset | DigitsInfer, Field(discriminator="type")]
DIGITS_CLIENT_MESSAGES = (DigitsStart, Pause, Resume, Step, Reset, DigitsInfer)
digits_message_adapter: TypeAdapter = TypeAdapter(DigitsClientMessage)
DIGITS_CLIENT_TYPES = tuple(get_args(model.model_fields["type"].annotation)[0] for model in DIGITS_CLIENT_MESSAGES)


def digit_query(message: DigitFields) -> DigitQuery:
    """The message's digit, checked (ValueError with a sentence for a drawing that can't be read)."""
    if message.heldout is not None:
        return DigitQuery(heldout=message.heldout)
    strokes = check_strokes(message.strokes or [])
    return DigitQuery(strokes=tuple(tuple((float(x), float(y)) for x, y in stroke) for stroke in strokes))


class DigitsSession(RaceSession):
    message_adapter = digits_message_adapter
    client_types = DIGITS_CLIENT_TYPES
    log = log
    # One live digits race at full pace costs about 0.25 engine-seconds per second on a quiet core
    # (a minibatch of both 784-200-200 nets and a 200-digit check, 20 times a second), where a disk
    # race costs about 0.03 and a client's share is FF_COMPUTE_SHARE (0.1): counted at a quarter of
    # its cost, one digits race per client plays at full pace, while several on one address still
    # run into the budget like any other heavy use. docs/digits.md has the measurement.
    charge_weight = 0.25
    binary_frames_offered = False  # its frames are ~240-byte JSON texts without maps: nothing to delta

    def message_limit(self) -> int:
        # A drawing of MAX_POINTS points does not fit the race's small limit.
        return max(self.settings.max_message_bytes, self.settings.max_drawing_bytes)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.speed = DIGITS_STEPS_PER_FRAME
        self.pending_query: DigitQuery | None = None

    def dispatch(self, message: object) -> None:
        if isinstance(message, DigitsStart):
            self.start_digits(message)
            self.wake.set()
        elif isinstance(message, DigitsInfer):
            if self.record is None:
                self.error(ErrorCode.not_started, "Send `start` before `infer`.")
                return
            try:
                query = digit_query(message)
            except ValueError as invalid:
                self.error(ErrorCode.bad_message, f"Bad `infer` message: {invalid}.")
                return
            self.request_digit(query)
        else:
            assert isinstance(message, Pause | Resume | Step | Reset), message  # DigitsClientMessage's others
            super().dispatch(message)

    def start_digits(self, message: DigitsStart) -> None:
        try:
            settings = LiveDigitsSettings(**message.settings.model_dump(exclude_none=True))
        except (ValueError, TypeError) as invalid:
            self.error(ErrorCode.bad_settings, f"Bad settings: {invalid}.")
            return
        at_step = message.at_step
        if at_step is not None and at_step > settings.steps:
            self.error(ErrorCode.bad_settings, f"at_step must be an integer in [0, {settings.steps}]; got {at_step}.")
            return
        record = self.cache.record(settings)
        others = self.cache.watched(LiveDigitsSettings) - {record, self.record}
        slots = self.settings.engine_processes or self.settings.engine_threads
        limit = MAX_DIGITS_RUNS_PER_SLOT * max(1, slots)
        if len(others) >= limit:
            # More distinct runs than the engine processes keep would be rebuilt in turn and stall
            # every digits race on the server: the newcomer waits instead (the others keep their rate).
            self.metrics.refuse("digits_runs")
            self.error(
                ErrorCode.at_capacity,
                f"The server is already running {len(others)} different live digits races, as many as it can; "
                "join one with the same seed, or try again in a minute.",
            )
            return
        self.begin(record, running=at_step is None, at_step=at_step or 0)
        self.notice_budget()

    # -- drawn digits, read by the run's nets at the page's step -------------------------------

    def request_digit(self, query: DigitQuery) -> None:
        self.pending_query = query
        self.notice_budget()
        if self.infer_task is None or self.infer_task.done():
            self.infer_task = asyncio.create_task(self.digit_loop(), name="digits-infer")

    async def digit_loop(self) -> None:
        while self.pending_query is not None:
            query, self.pending_query = self.pending_query, None
            viewer, step = self.viewer, self.cursor
            if viewer is None:
                return
            await self.answer(viewer, step, (query, 0.0), inference_text, "digit")

"""Recorder of the events of one real training step, with the bytes of activations held at each moment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

# What a step can report. The train steps in ff.py and backprop.py call the recorder at these
# moments with their own bookkeeping of the arrays they still hold; nothing here re-runs the maths.
EVENT_KINDS: tuple[str, ...] = (
    "pass",      # a positive or negative pass (FF) or the forward/backward sweep (backprop) begins
    "forward",   # layer i computed its activities
    "keep",      # layer i's activities stay in memory for later (backprop's backward sweep needs them)
    "release",   # an array is dropped; the step no longer holds it
    "normalize", # layer i's activities were length-normalized to feed the next layer
    "loss",      # a loss was computed (FF: layer i's own goodness loss; backprop: the global loss)
    "backward",  # backprop: the error signal reached layer i
    "update",    # layer i's weights changed
)


@dataclass(frozen=True)
class TraceEvent:
    index: int
    kind: str
    layer: int | None        # 1-based layer index (the output layer of backprop is the last)
    polarity: str | None     # FF: "positive" or "negative"; backprop: None
    detail: str              # a short human-readable note, e.g. "activations kept for backward"
    bytes_held: int          # sum of .nbytes of the activation arrays the step holds right now
    held: tuple[str, ...]    # names of those arrays
    loss: float | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["held"] = list(self.held)
        return out


class StepRecorder:
    """Collects events; `held` is the step's own dict of live activation arrays, measured as given."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []

    def record(
        self,
        kind: str,
        held: Mapping[str, np.ndarray],
        layer: int | None = None,
        polarity: str | None = None,
        detail: str = "",
        loss: float | None = None,
    ) -> None:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown trace event kind {kind!r}")
        self.events.append(
            TraceEvent(
                index=len(self.events),
                kind=kind,
                layer=layer,
                polarity=polarity,
                detail=detail,
                bytes_held=int(sum(array.nbytes for array in held.values())),
                held=tuple(held),
                loss=None if loss is None else float(loss),
            )
        )

    @property
    def peak_bytes(self) -> int:
        return max((event.bytes_held for event in self.events), default=0)

    def as_dicts(self) -> list[dict]:
        return [event.as_dict() for event in self.events]

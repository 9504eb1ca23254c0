"""Recorder of the events of one real training step, with the bytes of activations held at each moment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

# What a step can report. The train steps in ff.py and backprop.py tell their recorder which
# arrays they hold and what just happened; nothing here re-runs the maths.
EVENT_KINDS: tuple[str, ...] = (
    "pass",  # a positive or negative pass (FF) or the forward/backward sweep (backprop) begins
    "forward",  # layer i computed its activities
    "keep",  # layer i's activities stay in memory for later (backprop's backward sweep needs them)
    "release",  # an array is dropped; the step no longer holds it
    "normalize",  # layer i's activities were length-normalized to feed the next layer
    "loss",  # a loss was computed (FF: layer i's own goodness loss; backprop: the global loss)
    "backward",  # backprop: the error signal reached layer i
    # Layer i's update is settled: its gradient is complete. The engine applies all the updates of
    # a pass (FF) or sweep (backprop) in one optimizer call on the net's flat parameter array;
    # nothing reads layer i's weights before then, so this moment is when its update happens.
    "update",
)


@dataclass(frozen=True)
class TraceEvent:
    index: int
    kind: str
    layer: int | None  # 1-based layer index (the output layer of backprop is the last)
    polarity: str | None  # FF: "positive" or "negative"; backprop: None
    detail: str  # a short human-readable note, e.g. "activations kept for backward"
    bytes_held: int  # sum of .nbytes of the activation arrays the step holds right now
    held: tuple[str, ...]  # names of those arrays
    loss: float | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["held"] = list(self.held)
        return out


def array_name(kind: str, index: int | None) -> str:
    """ "input", "activity 2", "normalized 1": how the trace names a held array."""
    return kind if index is None else f"{kind} {index}"


class NoRecorder:
    """The recorder of a step nobody watches: every report is ignored, at the cost of a call."""

    def hold(self, kind: str, index: int | None, array: np.ndarray) -> None:
        pass

    def release(self, kind: str, index: int | None, layer: int, polarity: str | None = None) -> None:
        pass

    def drop(self, kind: str, index: int | None) -> None:
        pass

    def record(
        self,
        kind: str,
        layer: int | None = None,
        polarity: str | None = None,
        detail: str = "",
        loss: float | Callable[[], float] | None = None,
    ) -> None:
        pass


NO_RECORDER = NoRecorder()


class StepRecorder(NoRecorder):
    """Collects events and the arrays the step says it holds, measured as given."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self.held: dict[str, np.ndarray] = {}

    def hold(self, kind: str, index: int | None, array: np.ndarray) -> None:
        """The step now holds `array`, named array_name(kind, index)."""
        self.held[array_name(kind, index)] = array

    def release(self, kind: str, index: int | None, layer: int, polarity: str | None = None) -> None:
        """The step drops the array array_name(kind, index) while at `layer`: a `release` event."""
        name = array_name(kind, index)
        del self.held[name]
        self.record("release", layer, polarity, f"{name} released")

    def drop(self, kind: str, index: int | None) -> None:
        """The step drops an array without an event of its own (the next event shows it gone)."""
        del self.held[array_name(kind, index)]

    def record(
        self,
        kind: str,
        layer: int | None = None,
        polarity: str | None = None,
        detail: str = "",
        loss: float | Callable[[], float] | None = None,
    ) -> None:
        """`detail` may name {layer}, {next} (layer + 1) and {polarity}; `loss` may be a number or
        a function giving one, called only here (so a step with NO_RECORDER never computes it)."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown trace event kind {kind!r}")
        if callable(loss):
            loss = loss()
        self.events.append(
            TraceEvent(
                index=len(self.events),
                kind=kind,
                layer=layer,
                polarity=polarity,
                detail=detail.format(layer=layer, next=None if layer is None else layer + 1, polarity=polarity),
                bytes_held=int(sum(array.nbytes for array in self.held.values())),
                held=tuple(self.held),
                loss=None if loss is None else float(loss),
            )
        )

    @property
    def peak_bytes(self) -> int:
        return max((event.bytes_held for event in self.events), default=0)

    def as_dicts(self) -> list[dict]:
        return [event.as_dict() for event in self.events]

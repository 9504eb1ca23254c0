"""The live digits race on the race's machinery: its settings, what an engine slot holds for one
digits run, and the JSON texts of its `digits`, `frame` and `inference` messages.

A digits run is FF and backprop learning the bundled MNIST digits (app.engine.digits.DigitsRun with
app.engine.digits_ready.LIVE_SETTINGS, 784-200-200), one minibatch per step, so a run has 1,200
steps (30 epochs of 40 minibatches). It is a pure function of its LiveDigitsSettings (seed and
negatives), so it goes through the race's RunCache, RunRecord, scheduler and engine workers
unchanged: the same settings share one computation, a frame anywhere in the run can be served
exactly (from the record's frames, or replayed from the nearest checkpoint), and a page that lost
its socket asks for its step again. Frames are small (about 300 bytes): the step, both nets'
held-out error on the fixed 200-digit subset, each FF layer's mean goodness on positive and
negative data, and each net's guess for the 20 strip digits, as two 20-character strings.

A drawn digit's query (strokes or a held-out digit's index) travels to the engine slot as a
DigitQuery; the slot rasterizes it there (a hostile drawing costs up to a quarter of a second, and
that cost is charged to its client like any engine work, never the event loop's).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from app.engine.digits import (
    N_LABELS,
    DigitInference,
    DigitsRun,
    DigitsSettings,
    UnitPixels,
    balanced_subset,
    shared_unit_pixels,
)
from app.engine.digits_ready import LIVE_SETTINGS
from app.engine.drawing import rasterize
from app.engine.mnist import DigitData, load_sample

# A checkpoint (both nets and their optimizers, 9.6 MB at 200-200) every this many minibatches:
# a replay to any step costs at most 399 minibatches (380 took 2.3 s on a quiet core, docs/digits.md).
DIGITS_CHECKPOINT_EVERY = 400
# Digits runs one engine slot keeps; others are rebuilt from their settings when asked for again.
# A copy of a run's nets and optimizers is 9.6 MB at 784-200-200, and a run holds up to seven
# (the producer, checkpoints at 0, 400, 800 and 1,200, the model digits far behind are read with,
# a replay), plus RECENT_STEPS steps' parameters and the copy they are read with (31 MB): at most
# about 98 MB per run, 295 MB per slot (docs/digits.md, "Memory"). The digits themselves are
# shared by every run of a slot.
MAX_DIGITS_RUNS_PER_SLOT = 3
# Steps whose nets' parameters (both nets' weights, no optimizer state: 2.4 MB at 784-200-200) a
# run keeps, the producer's newest: a drawn digit read at any of them is answered at once, where
# a step further back costs a replay from a checkpoint (up to 399 minibatches). It covers the
# FF_FRAMES_AHEAD window (10 frames of one minibatch by default) that the producer runs ahead of
# the page, with two steps to spare; 29 MB per run.
RECENT_STEPS = 12
# Minibatches per frame: 1,200 frames at the race's 20 frames a second is a one-minute race.
DIGITS_STEPS_PER_FRAME = 1
STRIP_SIZE = 20  # held-out digits in the strip, two of each class
DECIMALS = 4


@lru_cache(maxsize=1)
def sample_data() -> DigitData:
    return load_sample()


@lru_cache(maxsize=2)
def sample_pixels(dtype: str) -> UnitPixels:
    """The sample's pixels, one read-only copy per process (15.5 MB) for every run, not one per run."""
    return shared_unit_pixels(sample_data(), dtype)


@lru_cache(maxsize=1)
def strip_index() -> tuple[int, ...]:
    """The strip's held-out digits (indices into the 1,000): two of each class, chosen once from
    the fixed held-out subset every run evaluates on, in the subset's order."""
    data = sample_data()
    subset = balanced_subset(data.test_labels, LIVE_SETTINGS.eval_size)
    rows = balanced_subset(data.test_labels[subset], STRIP_SIZE)
    return tuple(int(index) for index in subset[rows])


@dataclass(frozen=True)
class LiveDigitsSettings:
    """What a reader may choose for a live digits run; everything else is LIVE_SETTINGS."""

    seed: int = 0
    negatives: str = "hard"

    def __post_init__(self) -> None:
        self.digits  # validates (ValueError naming the parameter and its range)  # noqa: B018

    @property
    def digits(self) -> DigitsSettings:
        return LIVE_SETTINGS.replace(seed=self.seed, negatives=self.negatives)

    @property
    def steps(self) -> int:
        """Minibatches in the whole run."""
        s = LIVE_SETTINGS
        return s.epochs * math.ceil(sample_data().train_size / s.batch_size)


@dataclass(frozen=True)
class DigitQuery:
    """A drawn digit (strokes, already checked by app.engine.drawing.check_strokes) or a held-out
    digit (its index in the 1,000); hashable, so a repeated query is recognised."""

    strokes: tuple[tuple[tuple[float, float], ...], ...] | None = None
    heldout: int | None = None

    def image(self) -> np.ndarray:
        """The 28x28 uint8 image the nets receive (0 = background, 255 = ink)."""
        if self.heldout is not None:
            return np.asarray(sample_data().test_images[self.heldout], dtype=np.uint8).reshape(28, 28)
        floats = rasterize([list(stroke) for stroke in self.strokes or ()])
        return np.clip(np.rint(floats * 255.0), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class DigitAnswer:
    image: bytes  # 784 uint8
    inference: DigitInference


def answer(run: DigitsRun, query: DigitQuery) -> DigitAnswer:
    image = query.image()
    return DigitAnswer(image.tobytes(), run.infer(image))


# -- the engine slot's side --------------------------------------------------------------------


class DigitsRunState:
    """What an engine slot holds for one digits run: the producer (only moves forward),
    checkpoints, and the model drawn digits are read with (moved forward for later queries)."""

    heavy = True  # the Workshop keeps few of these (MAX_DIGITS_RUNS_PER_SLOT)

    def __init__(self, settings: LiveDigitsSettings) -> None:
        self.settings = settings
        self.steps = settings.steps
        digits = settings.digits
        self.producer = DigitsRun(digits, sample_data(), pixels=sample_pixels(digits.dtype))
        self.checkpoints: dict[int, DigitsRun] = {0: self.producer.fork()}
        # The nets' parameters (no optimizer state) at the last RECENT_STEPS steps produced, oldest
        # first: a drawn digit at any of them is read without a replay.
        self.recent: dict[int, dict[str, np.ndarray]] = {0: self.producer.parameters()}
        self.view: DigitsRun | None = None  # reads drawn digits with parameters from `recent`
        self.model: DigitsRun | None = None  # drawn digits further back are read with this, moved forward
        self.replay: DigitsRun | None = None  # frames behind the producer are replayed on this
        self.replayed = 0  # minibatches trained on `model` and `replay` (never the producer's)
        self.strip_rows = _strip_rows(self.producer)

    @property
    def position(self) -> int:
        return self.producer.batches_done

    def info(self) -> dict:
        return digits_info(self.settings, self.steps, self.producer)

    def _produced(self, run: DigitsRun) -> None:
        """After each of the producer's minibatches: a checkpoint every DIGITS_CHECKPOINT_EVERY,
        and the parameters into `recent` (the oldest entry's arrays reused once it is full)."""
        step = run.batches_done
        if step % DIGITS_CHECKPOINT_EVERY == 0 or step == self.steps:
            self.checkpoints[step] = run.fork()
        reuse = self.recent.pop(next(iter(self.recent))) if len(self.recent) >= RECENT_STEPS else None
        self.recent[step] = run.parameters(out=reuse)

    def _replayed(self, _run: DigitsRun) -> None:
        self.replayed += 1

    def produce_to(self, target: int, deadline: float | None = None) -> bool:
        return self.producer.advance_to(target, deadline, self._produced)

    def at(self, step: int, own: DigitsRun | None, deadline: float | None) -> tuple[DigitsRun, bool]:
        """A private run at `step` (at or behind the producer): `own` moved forward when it is
        close enough behind, else a fork of the nearest checkpoint (or of the producer, standing
        there) moved forward. A replay can take hundreds of minibatches, so it stops at the
        deadline (after at least one): (the run so far, False), to be continued in a later slice."""
        base = step // DIGITS_CHECKPOINT_EVERY * DIGITS_CHECKPOINT_EVERY
        while base not in self.checkpoints:
            base -= DIGITS_CHECKPOINT_EVERY
        if own is None or not base <= own.batches_done <= step:
            own = (self.producer if self.producer.batches_done == step else self.checkpoints[base]).fork()
        return own, own.advance_to(step, deadline, self._replayed)

    def frame(self, step: int, deadline: float | None) -> str | None:
        run = self.producer
        if step < run.batches_done:
            self.replay, done = self.at(step, self.replay, deadline)
            if not done:
                return None
            run = self.replay
        elif not self.produce_to(step, deadline):
            return None
        return frame_text(run, self.steps, self.strip_rows)

    def infer(self, step: int, query: DigitQuery, _unused: float, deadline: float | None) -> DigitAnswer | None:
        if step > self.producer.batches_done and not self.produce_to(step, deadline):
            return None
        parameters = self.recent.get(step)
        if parameters is not None:  # within the last RECENT_STEPS produced: no replay
            if self.view is None:
                self.view = self.producer.fork(optimizers=False)
            self.view.load_parameters(parameters)
            return answer(self.view, query)
        self.model, done = self.at(step, self.model, deadline)
        return answer(self.model, query) if done else None


def _strip_rows(run: DigitsRun) -> np.ndarray:
    """Rows of the run's evaluation subset that are the strip's digits, in the strip's order."""
    position = {int(index): row for row, index in enumerate(run.eval_index)}
    return np.array([position[index] for index in strip_index()], dtype=np.int64)


def _short(value: float) -> float:
    value = float(value)
    return round(value, DECIMALS) if math.isfinite(value) else 1e9


def frame_text(run: DigitsRun, steps: int, strip_rows: np.ndarray) -> str:
    x, y = run.test_x[run.eval_index], run.test_y[run.eval_index]
    table = run.ff.goodness_table(x)  # (examples, labels, layers)
    ff_guess = np.argmax(run.ff.totals(table), axis=1)
    bp_guess = run.backprop.predict(x)
    rows = np.arange(len(y))
    positive = table[rows, y, :]  # the true label in the input
    negative = (table.sum(axis=1) - positive) / (N_LABELS - 1)  # a wrong label, averaged over all 9
    message = {
        "type": "frame",
        "step": run.batches_done,
        "steps": steps,
        "epoch": _short(run.progress),
        "ff": {"error": _short(np.mean(ff_guess != y))},
        "backprop": {"error": _short(np.mean(bp_guess != y))},
        "goodness": {
            "positive": [_short(g) for g in positive.mean(axis=0)],
            "negative": [_short(g) for g in negative.mean(axis=0)],
        },
        "guesses": {
            "ff": "".join(str(int(g)) for g in ff_guess[strip_rows]),
            "backprop": "".join(str(int(g)) for g in bp_guess[strip_rows]),
        },
    }
    return json.dumps(message, separators=(",", ":"))


def digits_info(settings: LiveDigitsSettings, steps: int, run: DigitsRun) -> dict:
    """The `digits` message without its `settings.speed`, which is the session's."""
    s = run.settings
    strip = strip_index()
    return {
        "type": "digits",
        "settings": {"seed": settings.seed, "negatives": settings.negatives},
        "hidden": list(s.hidden),
        "epochs": s.epochs,
        "batch_size": s.batch_size,
        "batches_per_epoch": run.batches_per_epoch,
        "steps": steps,
        "theta": s.theta,
        "eval_size": len(run.eval_index),
        "train_size": run.data.train_size,
        "strip": {"index": list(strip), "labels": [int(run.test_y[i]) for i in strip]},
    }


def inference_payload(result: DigitAnswer, step: int | None, source: str) -> dict:
    """The answer for one digit: the image the nets received and both nets' verdicts."""
    r = result.inference
    return {
        "type": "inference",
        "source": source,
        "step": step,
        "image": base64.b64encode(result.image).decode("ascii"),
        # Unrounded: two totals that differ must be able to print differently.
        "ff": {
            "goodness": [[float(g) for g in label] for label in r.goodness],
            "totals": [float(t) for t in r.totals],
            "label": r.label,
            "layers_summed": r.counted_layers,
        },
        "backprop": {"probabilities": [_short(p) for p in r.backprop_probabilities], "label": r.backprop_label},
    }


def inference_text(result: DigitAnswer, step: int) -> str:
    return json.dumps(inference_payload(result, step, "live"), separators=(",", ":"))


def heldout_digits() -> list[dict]:
    """The strip's held-out digits for the page (its keyboard choice works before any socket)."""
    data = sample_data()
    return [
        {
            "index": index,
            "label": int(data.test_labels[index]),
            "image": base64.b64encode(np.asarray(data.test_images[index], dtype=np.uint8).tobytes()).decode("ascii"),
        }
        for index in strip_index()
    ]

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
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from app.engine.digits import N_LABELS, DigitInference, DigitsRun, DigitsSettings, balanced_subset
from app.engine.digits_ready import LIVE_SETTINGS
from app.engine.drawing import rasterize
from app.engine.mnist import DigitData, load_sample

# A checkpoint (both nets and their optimizers, about 7 MB at 200-200) every this many minibatches:
# a replay to any step costs at most 399 minibatches (about 2.6 s on a quiet core).
DIGITS_CHECKPOINT_EVERY = 400
# Digits runs one engine slot keeps; others are rebuilt from their settings when asked for again.
# A copy of a run's nets and optimizers is 9.6 MB at 784-200-200, and a run holds up to seven
# (the producer, checkpoints at 0, 400, 800 and 1,200, the model digits are read with, a replay):
# at most about 200 MB per slot. The digits themselves are shared by every run of a slot.
MAX_DIGITS_RUNS_PER_SLOT = 3
# Minibatches per frame: 1,200 frames at the race's 20 frames a second is a one-minute race.
DIGITS_STEPS_PER_FRAME = 1
STRIP_SIZE = 20  # held-out digits in the strip, two of each class
DECIMALS = 4


@lru_cache(maxsize=1)
def sample_data() -> DigitData:
    return load_sample()


_PIXELS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def unit_pixels(run: DigitsRun) -> tuple[np.ndarray, np.ndarray]:
    """The run's training and held-out pixels, the first run's arrays for every later one (equal)."""
    key = str(run.train_x.dtype)
    if key not in _PIXELS:
        for array in (run.train_x, run.test_x):
            array.setflags(write=False)  # shared: nothing may write them
        _PIXELS[key] = (run.train_x, run.test_x)
    return _PIXELS[key]


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
        self.producer = DigitsRun(settings.digits, sample_data())
        # The same pixels for every run: one copy per process (15.5 MB) instead of one per run.
        self.producer.train_x, self.producer.test_x = unit_pixels(self.producer)
        self.checkpoints: dict[int, DigitsRun] = {0: self.producer.fork()}
        self.model: DigitsRun | None = None  # drawn digits are read with this, moved forward
        self.replay: DigitsRun | None = None  # frames behind the producer are replayed on this
        self.strip_rows = _strip_rows(self.producer)

    @property
    def position(self) -> int:
        return self.producer.batches_done

    def info(self) -> dict:
        return digits_info(self.settings, self.steps, self.producer)

    def produce_to(self, target: int, deadline: float | None = None) -> bool:
        run = self.producer
        while run.batches_done < target:
            run.train_batches(1)
            if run.batches_done % DIGITS_CHECKPOINT_EVERY == 0 or run.batches_done == self.steps:
                self.checkpoints[run.batches_done] = run.fork()
            if deadline is not None and time.perf_counter() >= deadline and run.batches_done < target:
                return False
        return True

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
        while own.batches_done < step:
            own.train_batches(1)
            if deadline is not None and time.perf_counter() >= deadline and own.batches_done < step:
                return own, False
        return own, True

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

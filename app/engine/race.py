"""The race: a Forward-Forward net and a backprop MLP trained side by side on the same points."""

from __future__ import annotations

import copy
import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from app.engine.backprop import BackpropMLP
from app.engine.columns import ColumnsKernel
from app.engine.datasets import DATASET_NAMES, EXTENT, NOISE_RANGE, race_data
from app.engine.evaluate import LAYOUTS, RaceEvaluator
from app.engine.ff import INFERENCE_RULES, INPUT_NORMALIZATIONS, SCHEDULES, FFNetwork
from app.engine.optim import OPTIMIZER_NAMES, make_optimizer

N_LABELS = 2  # class A (label 0) and class B (label 1)
HELD_OUT_BAR = 0.97  # the article's bar for a run's held-out accuracy: runs "at 97% or more" are counted
TARGET_ACCURACY = 0.95  # "steps to 95%": the first step at which a net's training accuracy reaches this


@dataclass(frozen=True)
class RaceSettings:
    """Everything that decides a race; validated on construction, so a bad value never trains."""

    dataset: str = "disk-ring"
    seed: int = 0
    theta: float = 2.0
    learning_rate: float = 0.03
    steps: int = 900
    hidden_sizes: tuple[int, ...] = (12, 12)
    noise: float | None = None  # None: the data set's own default jitter
    grid_size: int = 32
    optimizer: str = "adam"
    ff_schedule: str = "separate"
    ff_input_normalization: str = "rms"  # Hinton's ffnormrows on [x, y, one-hot]; docs/engine.md
    ff_inference: str = "all"  # which layers' goodness FF's inference adds up
    init_stream: int = 0  # 0: the seed's own streams; k > 0: another draw of the weights

    # name -> (min, max), inclusive. The one statement of the ranges; the web layer reads it.
    BOUNDS: ClassVar[dict[str, tuple[Any, Any]]] = {
        "seed": (0, 2**31 - 1),
        "theta": (0.05, 50.0),
        "learning_rate": (1e-4, 0.5),
        "steps": (1, 5000),
        "hidden_sizes": (1, 64),  # each layer's width
        "noise": NOISE_RANGE,
        "grid_size": (8, 128),
        "init_stream": (0, 1000),
    }
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "dataset": DATASET_NAMES,
        "optimizer": OPTIMIZER_NAMES,
        "ff_schedule": SCHEDULES,
        "ff_input_normalization": INPUT_NORMALIZATIONS,
        "ff_inference": INFERENCE_RULES,
    }
    MAX_HIDDEN_LAYERS: ClassVar[int] = 4

    def __post_init__(self) -> None:
        for name, choices in self.CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}; got {getattr(self, name)!r}")
        # Checked, then stored as plain int/float: equal settings are then equal (and repr alike)
        # whether a value came as 2, 2.0 or np.int64(2), so they share one cached run.
        for name in ("seed", "steps", "grid_size", "init_stream"):
            self._check_int(name, getattr(self, name))
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("theta", "learning_rate") + (() if self.noise is None else ("noise",)):
            self._check_number(name, getattr(self, name))
            object.__setattr__(self, name, float(getattr(self, name)))
        sizes = self.hidden_sizes
        if isinstance(sizes, (int, np.integer)) or not hasattr(sizes, "__len__"):
            raise ValueError(f"hidden_sizes must be a list of 1 to {self.MAX_HIDDEN_LAYERS} layer widths")
        if not 1 <= len(sizes) <= self.MAX_HIDDEN_LAYERS:
            raise ValueError(f"hidden_sizes must have 1 to {self.MAX_HIDDEN_LAYERS} layers; got {len(sizes)}")
        for width in sizes:
            self._check_int("hidden_sizes", width)
        object.__setattr__(self, "hidden_sizes", tuple(int(w) for w in sizes))

    def _range_error(self, name: str, kind: str, value: Any) -> ValueError:
        lo, hi = self.BOUNDS[name]
        return ValueError(f"{name} must be {kind} in [{lo}, {hi}]; got {value!r}")

    def _check_int(self, name: str, value: Any) -> None:
        lo, hi = self.BOUNDS[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise self._range_error(name, "an integer", value)

    def _check_number(self, name: str, value: Any) -> None:
        lo, hi = self.BOUNDS[name]
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not ok or not np.isfinite(value) or not lo <= value <= hi:
            raise self._range_error(name, "a number", value)

    @classmethod
    def bounds(cls) -> dict[str, tuple[Any, Any, Any]]:
        """{name: (min, max, default)} for every ranged setting (hidden_sizes: per layer)."""
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        return {name: (lo, hi, defaults[name]) for name, (lo, hi) in cls.BOUNDS.items()}

    def replace(self, **changes: Any) -> RaceSettings:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["hidden_sizes"] = list(self.hidden_sizes)
        return out


@dataclass(frozen=True)
class NetMetrics:
    train_accuracy: float
    test_accuracy: float
    loss: float


@dataclass(frozen=True)
class RaceSnapshot:
    step: int
    ff: NetMetrics
    backprop: NetMetrics
    goodness_positive: list[float]  # per layer, mean goodness with the true label
    goodness_negative: list[float]  # per layer, mean goodness with a wrong label
    grid_ff: np.ndarray | None = None  # (G, G) P(class A), row 0 at y = ymax, column 0 at x = xmin
    grid_backprop: np.ndarray | None = None
    ff_layer_test_accuracy: list[float] | None = None  # per layer: its goodness alone deciding
    layer_maps: np.ndarray | None = None  # (layers, labels, M, M) goodness, oriented as the grids


@dataclass(frozen=True)
class StepTimes:
    """Median microseconds of one full-batch step of each net (Race.time_steps)."""

    ff: float
    backprop: float
    repeats: int


@dataclass(frozen=True)
class PointInference:
    x: float
    y: float
    ff_goodness: list[list[float]]  # [label][layer]
    ff_totals: list[float]  # summed over the counted layers, per label
    ff_label: int
    ff_layers_summed: list[int]  # the layers the totals count (the inference rule)
    backprop_probabilities: list[float]
    backprop_label: int


def grid_points(extent: tuple[float, float, float, float], size: int) -> np.ndarray:
    """Cell centres, row-major, row 0 at the top (y = ymax) and column 0 at the left (x = xmin)."""
    xmin, xmax, ymin, ymax = extent
    xs = xmin + (np.arange(size) + 0.5) * (xmax - xmin) / size
    ys = ymax - (np.arange(size) + 0.5) * (ymax - ymin) / size
    gx, gy = np.meshgrid(xs, ys)
    return np.column_stack([gx.ravel(), gy.ravel()])


class Race:
    """Both networks, their data and their shared step counter.

    `kernel` is how the race computes, not what: "columns" (the default) trains and evaluates with
    activations stored (units, rows) (app/engine/columns.py), about 0.7 of the time of "rows", the
    layout of ff.py and backprop.py, whose float64 results are bit for bit those of every earlier
    version (scripts/race_fingerprint.py). The two agree to rounding at every step; over hundreds of
    steps, rounding differences can grow into visibly different runs of the same seed (the recorded
    figures in app/web/*.json are of the default kernel)."""

    def __init__(self, settings: RaceSettings | None = None, kernel: str = "columns") -> None:
        if kernel not in LAYOUTS:
            raise ValueError(f"kernel must be one of {', '.join(LAYOUTS)}; got {kernel!r}")
        self.kernel = kernel
        self.settings = s = settings or RaceSettings()
        self.train, self.test = race_data(s.dataset, s.seed, noise=s.noise)
        self.extent = EXTENT
        # Independent streams from the seed: the nets' initial weights and FF's negative labels.
        # init_stream k > 0 draws them from another sequence of the same seed (robustness checks).
        entropy = s.seed if s.init_stream == 0 else [s.seed, s.init_stream]
        ff_init, bp_init, negatives = (np.random.default_rng(q) for q in np.random.SeedSequence(entropy).spawn(3))
        self.negative_rng = negatives
        self.ff = FFNetwork(
            s.hidden_sizes,
            N_LABELS,
            s.theta,
            make_optimizer(s.optimizer, s.learning_rate),
            ff_init,
            schedule=s.ff_schedule,
            input_normalization=s.ff_input_normalization,
            inference=s.ff_inference,
        )
        self.backprop = BackpropMLP(
            (2, *s.hidden_sizes, N_LABELS), make_optimizer(s.optimizer, s.learning_rate), bp_init
        )
        self.step_count = 0
        self._grid = grid_points(self.extent, s.grid_size)
        self._evaluator = RaceEvaluator(
            self.train.x,
            self.train.y,
            self.test.x,
            self.test.y,
            self._grid,
            N_LABELS,
            s.ff_input_normalization,
            layout=kernel,
        )
        self._columns = ColumnsKernel(self.ff, self.train.x, self.train.y, N_LABELS) if kernel == "columns" else None

    def step(self) -> None:
        """One full-batch FF step and one full-batch backprop step."""
        if self._columns is not None:
            self._columns.ff_step(self.ff)
            self._columns.backprop_step(self.backprop)
        else:
            self.ff.train_step(self.train.x, self.train.y, self.negative_rng)
            self.backprop.train_step(self.train.x, self.train.y)
        self.step_count += 1

    def advance_to(
        self, step: int, deadline: float | None = None, on_step: Callable[[Race], None] | None = None
    ) -> bool:
        """Train until `step_count == step`, calling on_step(race) after every step (a checkpoint
        every k steps, say). A race only moves forward: asked for a step it has passed, it stays
        (fork a race that has not passed it). With a `deadline` (time.perf_counter()) it stops
        there after at least one step. True once the race is at or past `step`."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be an integer; got {step!r}")
        while self.step_count < step:
            self.step()
            if on_step is not None:
                on_step(self)
            if deadline is not None and time.perf_counter() >= deadline and self.step_count < step:
                return False
        return True

    def fork(self) -> Race:
        """An independent copy at this step: weights, optimizer state and the negatives' generator
        are copied, so the copy and the original go on identically but apart. The data and the
        inputs built from them are shared, never copied: nothing writes to them (read-only
        arrays), and copying them would make a checkpoint several times its size."""
        shared = [
            self.train,
            self.test,
            self.train.x,
            self.train.y,
            self.test.x,
            self.test.y,
            self._grid,
            *self.ff.cached_inputs,
            *self.backprop.cached_inputs,
        ]
        if self._columns is not None:
            shared += self._columns.shared_inputs
        return copy.deepcopy(self, {id(obj): obj for obj in shared})

    def time_steps(self, repeats: int = 300) -> StepTimes:
        """The median wall time of each net's own full-batch step, timed on a fork (this race does
        not move) with the two nets' steps alternating, so both see the same machine."""
        if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
            raise ValueError(f"repeats must be a positive integer; got {repeats!r}")
        race = self.fork()
        x, y, negatives = race.train.x, race.train.y, race.negative_rng
        kernel = race._columns
        steps: dict[str, Callable[[], None]] = (
            {"ff": lambda: kernel.ff_step(race.ff), "backprop": lambda: kernel.backprop_step(race.backprop)}
            if kernel is not None
            else {"ff": lambda: race.ff.train_step(x, y, negatives), "backprop": lambda: race.backprop.train_step(x, y)}
        )
        samples: dict[str, list[int]] = {name: [] for name in steps}
        clock = time.perf_counter_ns
        for _ in range(repeats):
            for name, step in steps.items():
                started = clock()
                step()
                samples[name].append(clock() - started)
        return StepTimes(
            **{name: statistics.median(values) / 1000.0 for name, values in samples.items()}, repeats=repeats
        )

    @property
    def done(self) -> bool:
        return self.step_count >= self.settings.steps

    def train_accuracies(self) -> tuple[float, float]:
        """(FF, backprop) accuracy on the training points with the current weights."""
        return (
            self._evaluator.ff_train_accuracy(self.ff),
            self._evaluator.backprop_train_accuracy(self.backprop),
        )

    def decision_grids(self) -> tuple[np.ndarray, np.ndarray]:
        """P(class A) over the grid for each net: FF softmax of label totals, backprop its softmax."""
        size = self.settings.grid_size
        return (
            self._evaluator.ff_grid(self.ff).reshape(size, size),
            self._evaluator.bp_grid(self.backprop).reshape(size, size),
        )

    def snapshot(self, grid: bool = True) -> RaceSnapshot:
        """Both nets' metrics (and grids) from one batched pass per net; see app/engine/evaluate.py."""
        ff = self._evaluator.ff(self.ff, self.ff.theta, grid)
        bp = self._evaluator.backprop(self.backprop, grid)
        size = self.settings.grid_size
        grid_ff = None if ff.grid is None else ff.grid.reshape(size, size)
        grid_bp = None if bp.grid is None else bp.grid.reshape(size, size)
        return RaceSnapshot(
            self.step_count,
            NetMetrics(ff.train_accuracy, ff.test_accuracy, ff.loss),
            NetMetrics(bp.train_accuracy, bp.test_accuracy, bp.loss),
            ff.goodness_positive,
            ff.goodness_negative,
            grid_ff,
            grid_bp,
            ff.layer_test_accuracy,
            ff.layer_maps,
        )

    def infer(self, x: float, y: float) -> PointInference:
        """Classify one point both ways: FF runs it once per candidate label and compares goodness."""
        point = np.array([[float(x), float(y)]])
        table = self.ff.goodness_table(point)[0]  # (labels, layers)
        totals = self.ff.totals(table)
        probabilities = self.backprop.probabilities(point)[0]
        return PointInference(
            float(x),
            float(y),
            table.tolist(),
            totals.tolist(),
            int(np.argmax(totals)),
            list(self.ff.counted_layers),
            probabilities.tolist(),
            int(np.argmax(probabilities)),
        )


@dataclass(frozen=True)
class RaceRun:
    steps_to_target: dict[str, int | None]  # {"ff": step or None, "backprop": step or None}
    train_seconds: float  # the training steps only, not the evaluation


def run_to_end(
    race: Race, on_step: Callable[[int, int, float, float], None] | None = None, target: float = TARGET_ACCURACY
) -> RaceRun:
    """Train the race to its last step, noting when each net's TRAINING accuracy first reaches
    `target`. The one definition of "steps to 95%": the CLI and the scorecard both report this."""
    reached: dict[str, int | None] = {"ff": None, "backprop": None}
    train_seconds = 0.0
    while not race.done:
        start = time.perf_counter()
        race.step()
        train_seconds += time.perf_counter() - start
        ff_accuracy, bp_accuracy = race.train_accuracies()
        for name, accuracy in (("ff", ff_accuracy), ("backprop", bp_accuracy)):
            if reached[name] is None and accuracy >= target:
                reached[name] = race.step_count
        if on_step is not None:
            on_step(race.step_count, race.settings.steps, ff_accuracy, bp_accuracy)
    return RaceRun(reached, train_seconds)

"""Forward-Forward on real handwritten digits, as the paper's supervised MNIST experiment does it.

The label is written into the first 10 pixels of the image (one-hot, at `label_strength`; pixels
scaled to [0, 1]), each layer is a ReLU layer trained only by its own goodness loss, the next layer
sees the length-normalized activities, training runs on minibatches, and negative data is the
same image with a wrong label: uniformly random, or *hard* (a wrong label drawn in proportion to
exp(total goodness) the current net gives it, as Hinton's code draws it from its predictions).
Inference runs one pass per candidate label and sums goodness over the counted layers
(`inference="skip-first"` is the paper's rule for its deep nets); a softmax read-out on a
neutral-label pass is an option. The baseline is app.engine.backprop's MLP with the same hidden
sizes, trained on the same minibatches in the same order.

The formulas (goodness, the layer's loss and local gradient, normalization, wrong labels, the
optimizer) are those of the race, imported from app.engine.ff, app.engine.optim and
app.engine.backprop; this module adds the image input, minibatches, hard negatives and the
training loop. docs/digits.md has the measured choices.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar, NamedTuple, TypedDict

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from app.engine.backprop import BackpropMLP
from app.engine.ff import (
    INFERENCE_RULES,
    FFLayer,
    goodness,
    layer_loss,
    length_from_goodness,
    normalize,
    with_bias_column,
    wrong_labels,
)
from app.engine.mnist import DigitData, load_sample
from app.engine.optim import Adam, Optimizer
from app.engine.readout import SoftmaxReadout

N_LABELS = 10
LABEL_PIXELS = N_LABELS  # the one-hot label overwrites pixels 0-9 (MNIST's blank top row)
NEGATIVE_MODES = ("hard", "random")
# How a row (image with its label pixels) is scaled before layer 1: "length" rescales every row to
# length 1 (Hinton's ffnormrows, up to the constant sqrt(784) that our length-normalized hidden
# layers take out of every later layer's input too); "none" keeps the pixels as they are, times one
# constant for every row (1 / the training rows' mean length), so theta and the learning rate mean
# the same in both modes and only the per-row rescaling differs.
INPUT_MODES = ("length", "none")
DTYPES = ("float32", "float64")


def to_unit_pixels(images: np.ndarray, dtype: DTypeLike = np.float32) -> np.ndarray:
    """(n, rows, cols) or (n, d) images to (n, d) floats in [0, 1]: uint8 divided by 255, floats kept."""
    images = np.asarray(images)
    flat = images.reshape(len(images), -1)
    if flat.dtype == np.uint8:
        return flat.astype(dtype) / 255.0  # a Python float keeps the array's dtype
    return flat.astype(dtype, copy=True)


class UnitPixels(NamedTuple):
    """A data set's training and held-out images as (n, d) unit pixels, read-only, so that any
    number of runs on the same data and dtype can share one copy (shared_unit_pixels)."""

    train: np.ndarray
    test: np.ndarray


def shared_unit_pixels(data: DigitData, dtype: str = "float32") -> UnitPixels:
    """`data`'s pixels for DigitsRun(..., pixels=): computed once by the caller, marked read-only."""
    pixels = UnitPixels(to_unit_pixels(data.train_images, dtype), to_unit_pixels(data.test_images, dtype))
    for array in pixels:
        array.setflags(write=False)  # shared: nothing may write them
    return pixels


def hard_negative_labels(
    scores: np.ndarray, labels: np.ndarray, rng: np.random.Generator, temperature: float = 1.0
) -> np.ndarray:
    """A wrong label per row, drawn with probability softmax(scores / temperature) over the wrong
    labels only (temperature 0: the most plausible wrong label, no draw).

    scores: (n, K) how plausible the net finds each label (its summed goodness). Never the true
    label, whatever the scores hold: a NaN score counts as the least plausible (-inf); wrong labels
    at +inf share the draw equally; a row whose wrong labels are all -inf (or NaN) draws uniformly
    among them. The true label's weight is exactly 0, and the draw compares u * total (u in [0, 1))
    with the cumulative weights, so the true label, whose cumulative weight equals its
    predecessor's, is never picked; should rounding leave a row without a pick, it takes its last
    label of positive weight, which is a wrong one."""
    scores = np.asarray(scores, dtype=np.float64)
    n, k = scores.shape
    if k < 2:
        raise ValueError("negative data needs at least 2 labels")
    labels = np.asarray(labels)
    rows = np.arange(n)
    masked = np.where(np.isnan(scores), -np.inf, scores)
    masked[rows, labels] = -np.inf
    best = masked.max(axis=1, keepdims=True)
    hopeless = np.isneginf(best[:, 0])  # every wrong label at -inf: nothing to prefer
    if temperature == 0.0:  # the most plausible wrong label, no draw
        first_wrong = np.where(labels == 0, 1, 0)
        return np.where(hopeless, first_wrong, np.argmax(masked, axis=1))
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = (masked - best) / temperature  # <= 0; NaN where +inf - +inf or -inf - -inf
        weights = np.exp(shifted)
    weights[np.isposinf(masked)] = 1.0  # the labels at +inf share the draw; the others got exp(-inf) = 0
    weights[hopeless] = 1.0  # uniform over the wrong labels
    weights[rows, labels] = 0.0  # the true label: exactly 0, always
    cumulative = np.cumsum(weights, axis=1)  # each row's total is in [1, K - 1]: its best weighs exp(0) = 1
    threshold = rng.random(n) * cumulative[:, -1]
    below = threshold[:, None] < cumulative
    last_positive = k - 1 - np.argmax(weights[:, ::-1] > 0.0, axis=1)
    return np.where(below.any(axis=1), np.argmax(below, axis=1), last_positive)


# --- the FF network on images ------------------------------------------------------------------


class BatchStats(TypedDict):
    """What one minibatch of FF training reports: per layer, mean goodness and mean loss."""

    goodness_positive: list[float]
    goodness_negative: list[float]
    loss: list[float]
    negative_labels: np.ndarray  # the wrong label each negative carried


class ImageReadout(SoftmaxReadout):
    """ff.SoftmaxReadout on images: the neutral label (every label pixel strength/10) is written
    into the first 10 pixels instead of appended; training, probabilities and predict are ff's."""

    network: DigitFF

    def features(self, images: np.ndarray) -> np.ndarray:
        activities = self.network.hidden_activities(self.network.embed(images, None))
        return with_bias_column(np.concatenate([normalize(activities[i]) for i in self.layer_indices], axis=1))


class DigitFF:
    """A stack of ff.FFLayer on images with the label in the first 10 pixels."""

    def __init__(
        self,
        input_size: int,
        hidden_sizes: tuple[int, ...],
        theta: float,
        optimizer: Optimizer,
        rng: np.random.Generator,
        label_strength: float = 1.0,
        input_normalization: str = "length",
        input_scale: float = 1.0,
        inference: str = "all",
        readout_optimizer: Optimizer | None = None,
        dtype: str = "float32",
        init_scale: float = 1.0,
        weight_decay: float = 0.0,
        peer_normalization: float = 0.0,
    ) -> None:
        if input_normalization not in INPUT_MODES:
            raise ValueError(
                f"input_normalization must be one of {', '.join(INPUT_MODES)}; got {input_normalization!r}"
            )
        if inference not in INFERENCE_RULES:
            raise ValueError(f"inference must be one of {', '.join(INFERENCE_RULES)}; got {inference!r}")
        if inference == "skip-first" and len(hidden_sizes) < 2:
            raise ValueError("inference='skip-first' needs at least 2 hidden layers")
        if input_size <= LABEL_PIXELS:
            raise ValueError(f"images need more than {LABEL_PIXELS} pixels for the label")
        self.input_size, self.n_labels = input_size, N_LABELS
        self.theta, self.label_strength = float(theta), float(label_strength)
        self.input_normalization, self.input_scale = input_normalization, float(input_scale)
        self.inference = inference
        self.dtype = np.dtype(dtype)
        self.optimizer = optimizer
        self.weight_decay = float(weight_decay)
        self.peer_normalization = float(peer_normalization)
        sizes = (input_size, *hidden_sizes)
        self.layers = [FFLayer(a, b, rng, init_scale) for a, b in pairwise(sizes)]
        for layer in self.layers:
            layer.params = layer.params.astype(self.dtype)
        # Peer normalization: each unit's running mean activity on positive data (Hinton's meanstates).
        self.unit_means = [np.zeros(layer.n_out, dtype=self.dtype) for layer in self.layers]
        skip = inference == "skip-first"
        self.readout = (
            ImageReadout(self, readout_optimizer, rng, skip_first_layer=skip) if readout_optimizer is not None else None
        )

    @property
    def counted_layers(self) -> tuple[int, ...]:
        n = len(self.layers)
        return {"all": tuple(range(n)), "skip-first": tuple(range(1, n)), "first": (0,)}[self.inference]

    # input ----------------------------------------------------------------------------------
    def _row_scale(self, sum_of_squares: np.ndarray) -> np.ndarray:
        if self.input_normalization == "length":
            return 1.0 / length_from_goodness(sum_of_squares)  # 1 / (||row|| + eps)
        return np.full_like(sum_of_squares, self.input_scale)

    def embed(self, images: np.ndarray, labels: np.ndarray | int | None) -> np.ndarray:
        """Layer 1's input: (n, d) pixels in [0, 1], the label one-hot at label_strength in pixels
        0-9 (labels=None: the neutral label, strength/10 in each), the row scaled by the input
        normalization, and the bias column of ones (never scaled)."""
        n, d = images.shape
        out = np.empty((n, d + 1), dtype=self.dtype)
        out[:, :d] = images
        out[:, :LABEL_PIXELS] = self.label_strength / N_LABELS if labels is None else 0.0
        if labels is not None:
            out[np.arange(n), np.broadcast_to(labels, (n,))] = self.label_strength
        features = out[:, :d]
        features *= self._row_scale(np.einsum("ij,ij->i", features, features))[:, None].astype(self.dtype)
        out[:, d] = 1.0
        return out

    # one layer's step -------------------------------------------------------------------------
    def _next_input(self, y: np.ndarray, g: np.ndarray) -> np.ndarray:
        """[y / (||y|| + eps), 1], with ||y|| = sqrt(G) from the goodness already in hand (ff.py's rule)."""
        h = np.empty((len(y), y.shape[1] + 1), dtype=self.dtype)
        normalize(y, g=g, out=h[:, :-1])
        h[:, -1] = 1.0
        return h

    def hidden_activities(self, x: np.ndarray) -> list[np.ndarray]:
        """The activities y of every layer for embedded inputs x (with their bias column)."""
        activities, h = [], x
        for i, layer in enumerate(self.layers):
            y = layer.forward(h)
            activities.append(y)
            if i < len(self.layers) - 1:
                h = self._next_input(y, goodness(y))
        return activities

    # training ---------------------------------------------------------------------------------
    def train_batch(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        rng: np.random.Generator,
        negatives: str = "hard",
        temperature: float = 1.0,
    ) -> BatchStats:
        """One FF update of every layer on a minibatch: positives (true label) and negatives (a
        wrong label) flow through together; each layer is updated from its own loss on both, before
        its normalized output (computed before the update) flows to the next layer.
        Returns each layer's mean goodness on positives and negatives and its mean loss."""
        if negatives == "hard":
            wrong = hard_negative_labels(self.totals(self.goodness_table(images)), labels, rng, temperature)
        elif negatives == "random":
            wrong = wrong_labels(labels, N_LABELS, rng)
        else:
            raise ValueError(f"negatives must be one of {', '.join(NEGATIVE_MODES)}; got {negatives!r}")
        n = len(labels)
        h = np.concatenate([self.embed(images, labels), self.embed(images, wrong)])
        targets = np.concatenate([np.ones(n, dtype=self.dtype), np.zeros(n, dtype=self.dtype)])
        stats = BatchStats(goodness_positive=[], goodness_negative=[], loss=[], negative_labels=wrong)
        for i, layer in enumerate(self.layers, start=1):
            y = layer.forward(h)
            g = goodness(y)
            stats["goodness_positive"].append(float(g[:n].mean()))
            stats["goodness_negative"].append(float(g[n:].mean()))
            stats["loss"].append(float(np.mean(layer_loss(g, self.theta, targets))))
            grad = layer.local_gradient(h, y, targets, self.theta, g)
            if self.weight_decay:
                grad[:-1] += self.weight_decay * layer.params[:-1]  # L2 on the weights, not the bias
            if self.peer_normalization:
                # Hinton's peer normalization: pull every unit's mean activity towards its layer's,
                # as if each positive case pushed unit j's input by lambda (mean(m) - m_j), gated
                # by nothing (so it can revive a unit that is always off).
                means = self.unit_means[i - 1]
                means *= 0.9
                means += 0.1 * y[:n].mean(axis=0)
                grad -= self.peer_normalization * np.outer(h[:n].mean(axis=0), means.mean() - means)
            self.optimizer.update(i, layer.params, grad)
            if i < len(self.layers):
                h = self._next_input(y, g)
        if self.readout is not None:
            self.readout.train_step(images, labels)
        return stats

    # inference --------------------------------------------------------------------------------
    def goodness_table(self, images: np.ndarray, chunk: int = 1000) -> np.ndarray:
        """(n, 10, n_layers): every layer's goodness with each candidate label in the input.

        Layer 1 is computed once per image, not once per label: with a one-hot label of fixed
        strength every candidate row has the same length, so the row scale s is shared and
        layer 1's input to unit j is s (w_j . pixels + strength w_j[label]) + b_j."""
        n = len(images)
        table = np.empty((n, N_LABELS, len(self.layers)), dtype=self.dtype)
        first = self.layers[0]
        label_rows = self.label_strength * first.params[:LABEL_PIXELS]  # (10, n_out)
        for start in range(0, n, chunk):
            part = images[start : start + chunk]
            m = len(part)
            x = self.embed(part, 0)  # any label: the scale is the same
            scale = x[:, :1] / self.label_strength if self.label_strength else None
            x[:, :LABEL_PIXELS] = 0.0
            pre = x @ first.params  # s * (w . pixels) + b
            if scale is None:  # strength 0: no label at all
                z = np.broadcast_to(pre[:, None, :], (m, N_LABELS, pre.shape[1])).copy()
            else:
                z = pre[:, None, :] + scale[:, :, None] * label_rows[None, :, :]
            y = np.maximum(z.reshape(m * N_LABELS, -1), 0.0)
            g = goodness(y)
            table[start : start + m, :, 0] = g.reshape(m, N_LABELS)
            for i, layer in enumerate(self.layers[1:], start=1):
                y = layer.forward(self._next_input(y, g))
                g = goodness(y)
                table[start : start + m, :, i] = g.reshape(m, N_LABELS)
        return table

    def totals(self, table: np.ndarray) -> np.ndarray:
        """Summed goodness per label over the counted layers."""
        return table[..., list(self.counted_layers)].sum(axis=-1)

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.argmax(self.totals(self.goodness_table(images)), axis=1)


class MinibatchMLP(BackpropMLP):
    """app.engine.backprop's MLP on minibatches: its input cache is keyed on the training array,
    which a new minibatch never matches, so each batch builds [x, 1] and the one-hot targets once
    and nothing is kept between batches. The forward and backward sweeps are BackpropMLP's."""

    def _inputs(self, points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ones((len(points), points.shape[1] + 1))
        x[:, :-1] = points
        onehot = np.zeros((len(labels), self.sizes[-1]))
        onehot[np.arange(len(labels)), labels] = 1.0
        return x, onehot


# --- the run: settings, both nets, the training loop ---------------------------------------------


@dataclass(frozen=True)
class DigitsSettings:
    """Everything that decides a digits run; validated on construction."""

    seed: int = 0
    epochs: int = 30
    hidden: tuple[int, ...] = (500, 500)
    negatives: str = "hard"
    batch_size: int = 100
    theta: float = 4.0
    learning_rate: float = 0.005  # FF's Adam
    backprop_learning_rate: float = 0.003  # the baseline's Adam
    label_strength: float = 10.0
    input_normalization: str = "length"
    inference: str = "all"
    readout: bool = False
    readout_learning_rate: float = 0.01
    decay: bool = True  # Hinton's schedule: constant, then linear to ~0 over the second half
    hard_temperature: float = 1.0  # hard negatives: p ~ exp(total goodness / T); 0: the argmax
    peer_normalization: float = 0.1  # FF: Hinton's lambdamean (0.03 in his code)
    weight_decay: float = 0.0  # FF: L2 on the weights (Hinton's weight cost)
    init_scale: float = 1.0  # FF weights start at He init times this
    eval_size: int = 200  # the fixed held-out subset evaluate() uses during training
    dtype: str = "float32"

    BOUNDS: ClassVar[dict[str, tuple[Any, Any]]] = {
        "seed": (0, 2**31 - 1),
        "epochs": (1, 1000),
        "hidden": (1, 10000),  # each layer's width
        "batch_size": (1, 60000),
        "theta": (0.01, 1000.0),
        "learning_rate": (1e-6, 1.0),
        "backprop_learning_rate": (1e-6, 1.0),
        "label_strength": (0.0, 100.0),
        "readout_learning_rate": (1e-6, 1.0),
        "eval_size": (1, 100000),
        "init_scale": (1e-3, 1000.0),
        "weight_decay": (0.0, 1.0),
        "hard_temperature": (0.0, 1000.0),
        "peer_normalization": (0.0, 10.0),
    }
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "negatives": NEGATIVE_MODES,
        "input_normalization": INPUT_MODES,
        "inference": INFERENCE_RULES,
        "dtype": DTYPES,
    }
    MAX_HIDDEN_LAYERS: ClassVar[int] = 8

    def __post_init__(self) -> None:
        for name, choices in self.CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}; got {getattr(self, name)!r}")
        for name in ("seed", "epochs", "batch_size", "eval_size"):
            self._check(name, getattr(self, name), integer=True)
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in (
            "theta",
            "learning_rate",
            "backprop_learning_rate",
            "label_strength",
            "readout_learning_rate",
            "init_scale",
            "weight_decay",
            "hard_temperature",
            "peer_normalization",
        ):
            self._check(name, getattr(self, name), integer=False)
            object.__setattr__(self, name, float(getattr(self, name)))
        sizes = self.hidden
        if isinstance(sizes, (int, np.integer, str)) or not hasattr(sizes, "__len__"):
            raise ValueError(f"hidden must be a list of 1 to {self.MAX_HIDDEN_LAYERS} layer widths")
        if not 1 <= len(sizes) <= self.MAX_HIDDEN_LAYERS:
            raise ValueError(f"hidden must have 1 to {self.MAX_HIDDEN_LAYERS} layers; got {len(sizes)}")
        for width in sizes:
            self._check("hidden", width, integer=True)
        object.__setattr__(self, "hidden", tuple(int(w) for w in sizes))
        if self.inference == "skip-first" and len(self.hidden) < 2:
            raise ValueError("inference skip-first needs at least 2 hidden layers")
        object.__setattr__(self, "readout", bool(self.readout))
        object.__setattr__(self, "decay", bool(self.decay))

    def _check(self, name: str, value: Any, integer: bool) -> None:
        lo, hi = self.BOUNDS[name]
        kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
        if isinstance(value, bool) or not isinstance(value, kinds) or not np.isfinite(value) or not lo <= value <= hi:
            raise ValueError(f"{name} must be {'an integer' if integer else 'a number'} in [{lo}, {hi}]; got {value!r}")

    def replace(self, **changes: Any) -> DigitsSettings:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in dataclasses.fields(self)
        }


@dataclass(frozen=True)
class DigitInference:
    """One image under both nets: FF's goodness for every candidate label and layer, and the winner."""

    goodness: list[list[float]]  # [label][layer]
    totals: list[float]  # [label], summed over the counted layers
    label: int  # FF's answer under the rule
    rule: str  # "all" or "skip-first" (or "first")
    counted_layers: list[int]  # 0-based layers the totals add up
    backprop_probabilities: list[float]
    backprop_label: int
    readout_probabilities: list[float] | None = None  # FF's one-pass softmax read-out, if trained
    readout_label: int | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DigitsMetrics:
    """Held-out (or training) figures of both nets at one moment."""

    epoch: float  # epochs done, fractional within an epoch
    examples: int  # test images evaluated
    ff_error: float
    backprop_error: float
    readout_error: float | None = None


def lr_gain(epoch: int, epochs: int) -> float:
    """Hinton's schedule: 1 for the first half of the epochs, then (1 + 2 (E - e)) / E for epoch
    e (1-based), falling linearly to 1/E in the last epoch."""
    return 1.0 if epoch <= epochs / 2 else (1.0 + 2.0 * (epochs - epoch)) / epochs


class DigitsRun:
    """Both nets on one data set, trained on the same minibatches in the same order, step by step.

    run = DigitsRun(DigitsSettings(seed=0))
    while not run.done:
        run.train_batches(8)              # a small chunk: a few tens of milliseconds
        run.evaluate()                    # held-out error on a fixed subset (eval_size digits)
    run.evaluate(full=True); run.infer(image_28x28)
    """

    def __init__(
        self, settings: DigitsSettings | None = None, data: DigitData | None = None, pixels: UnitPixels | None = None
    ) -> None:
        """pixels: shared_unit_pixels(data, settings.dtype), made once and handed to every run on
        the same data (read-only; they must be exactly what this run would compute), so that many
        runs hold one copy of the pixels; None: this run makes its own."""
        self.settings = s = settings or DigitsSettings()
        self.data = data if data is not None else load_sample()
        if s.batch_size > self.data.train_size:
            raise ValueError(
                f"batch_size must be at most the training set's size ({self.data.train_size}); got {s.batch_size}"
            )
        if pixels is None:
            pixels = UnitPixels(
                to_unit_pixels(self.data.train_images, s.dtype), to_unit_pixels(self.data.test_images, s.dtype)
            )
        else:
            _check_pixels(pixels, self.data, s.dtype)
        self.train_x, self.test_x = pixels
        self.train_y, self.test_y = self.data.train_labels, self.data.test_labels
        input_size = self.train_x.shape[1]
        # Independent streams: weights of each net, the shared minibatch order, the negatives.
        ff_init, bp_init, order, negatives = (
            np.random.default_rng(child) for child in np.random.SeedSequence(s.seed).spawn(4)
        )
        self._order_rng, self._negative_rng = order, negatives
        # "none": one constant for every row, the training rows' mean length (label included).
        with_label = self.train_x.copy()
        with_label[:, :LABEL_PIXELS] = 0.0
        sq = np.einsum("ij,ij->i", with_label, with_label, dtype=np.float64) + s.label_strength**2
        input_scale = 1.0 / float(np.mean(np.sqrt(sq)))
        self.ff = DigitFF(
            input_size,
            s.hidden,
            s.theta,
            Adam(s.learning_rate),
            ff_init,
            label_strength=s.label_strength,
            input_normalization=s.input_normalization,
            input_scale=input_scale,
            inference=s.inference,
            readout_optimizer=Adam(s.readout_learning_rate) if s.readout else None,
            dtype=s.dtype,
            init_scale=s.init_scale,
            weight_decay=s.weight_decay,
            peer_normalization=s.peer_normalization,
        )
        self.backprop = MinibatchMLP((input_size, *s.hidden, N_LABELS), Adam(s.backprop_learning_rate), bp_init)
        self.batches_per_epoch = math.ceil(self.data.train_size / s.batch_size)
        self.epoch = 0  # completed epochs
        self.batch_in_epoch = 0  # minibatches done in the current epoch
        self._order = self._order_rng.permutation(self.data.train_size)
        self.seconds = {"ff": 0.0, "backprop": 0.0}  # training time of each net, evaluation excluded
        self.last_stats: BatchStats | None = None
        # The fixed held-out subset for cheap evaluation: the same digits whatever the seed, as
        # balanced over the classes as the test set allows.
        self.eval_index = balanced_subset(self.test_y, min(s.eval_size, self.data.test_size))

    # copies and weights ------------------------------------------------------------------------
    # Read-only arrays every copy shares (the data, never written after __init__).
    _SHARED = ("data", "train_x", "test_x", "train_y", "test_y", "eval_index")

    def fork(self, optimizers: bool = True) -> DigitsRun:
        """An independent copy at this point of training: the nets, optimizers, random streams and
        minibatch order are copied, the data shared; both go on bit for bit as this run would.
        optimizers=False: a copy for inference only (load_parameters, infer, evaluate), whose
        optimizers start empty (Adam's moments are two thirds of a run's copy); training it would
        not go on as this run would."""
        memo: dict[int, Any] = {id(getattr(self, name)): getattr(self, name) for name in self._SHARED}
        if not optimizers:
            s = self.settings
            memo[id(self.ff.optimizer)] = Adam(s.learning_rate)
            memo[id(self.backprop.optimizer)] = Adam(s.backprop_learning_rate)
            if self.ff.readout is not None:
                memo[id(self.ff.readout.optimizer)] = Adam(s.readout_learning_rate)
        return copy.deepcopy(self, memo)

    def parameters(self, out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Copies of everything inference reads at this step: both nets' weights and FF's
        read-out, if trained; not the optimizers' state, the random streams or the data.
        load_parameters on a copy of this run (fork(optimizers=False)) puts them back, and that
        copy then answers infer exactly as this run does now. `out`: arrays from an earlier call
        to copy into instead of allocating new ones."""
        mine = self.weights()
        if self.ff.readout is not None:
            mine["readout"] = self.ff.readout.params
        if out is None:
            return {name: array.copy() for name, array in mine.items()}
        for name, array in mine.items():
            np.copyto(out[name], array)
        return out

    def load_parameters(self, parameters: dict[str, np.ndarray]) -> None:
        """Put back what parameters() copied (from a run with the same settings)."""
        weights = dict(parameters)
        readout = weights.pop("readout", None)
        if (readout is None) != (self.ff.readout is None):
            raise ValueError("parameters must have a read-out exactly when this run trains one")
        self.load_weights(weights)
        if self.ff.readout is not None:
            self.ff.readout.params[...] = readout

    def weights(self) -> dict[str, np.ndarray]:
        """Every weight matrix of both nets by name (ff_0.., backprop_0..), for saving."""
        out = {f"ff_{i}": layer.params for i, layer in enumerate(self.ff.layers)}
        out.update({f"backprop_{i}": matrix for i, matrix in enumerate(self.backprop.params)})
        return out

    def load_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Replace both nets' weights (shapes must match this run's settings), e.g. from a file
        written from weights(); the optimizers' state is left as it is."""
        mine = self.weights()
        if set(weights) != set(mine):
            raise ValueError(f"weights must name exactly {', '.join(sorted(mine))}")
        for name, target in mine.items():
            source = np.asarray(weights[name])
            if source.shape != target.shape:
                raise ValueError(f"{name} must have shape {target.shape}; got {source.shape}")
            target[...] = source

    # progress ---------------------------------------------------------------------------------
    @property
    def total_batches(self) -> int:
        return self.settings.epochs * self.batches_per_epoch

    @property
    def batches_done(self) -> int:
        return self.epoch * self.batches_per_epoch + self.batch_in_epoch

    @property
    def done(self) -> bool:
        return self.epoch >= self.settings.epochs

    @property
    def progress(self) -> float:
        """Epochs done, fractional."""
        return self.epoch + self.batch_in_epoch / self.batches_per_epoch

    # training ---------------------------------------------------------------------------------
    def train_batches(self, count: int = 1) -> int:
        """Train both nets on up to `count` minibatches (fewer at the end of the run); returns how
        many were trained. Each minibatch: one FF update of every layer and one backprop step."""
        s = self.settings
        trained = 0
        while trained < count and not self.done:
            gain = lr_gain(self.epoch + 1, s.epochs) if s.decay else 1.0
            self.ff.optimizer.learning_rate = gain * s.learning_rate
            if self.ff.readout is not None:
                self.ff.readout.optimizer.learning_rate = gain * s.readout_learning_rate
            self.backprop.optimizer.learning_rate = gain * s.backprop_learning_rate
            start = self.batch_in_epoch * s.batch_size
            index = self._order[start : start + s.batch_size]
            x, y = self.train_x[index], self.train_y[index]
            t0 = time.perf_counter()
            self.last_stats = self.ff.train_batch(x, y, self._negative_rng, s.negatives, s.hard_temperature)
            t1 = time.perf_counter()
            self.backprop.train_step(x, y)
            t2 = time.perf_counter()
            self.seconds["ff"] += t1 - t0
            self.seconds["backprop"] += t2 - t1
            trained += 1
            self.batch_in_epoch += 1
            if self.batch_in_epoch == self.batches_per_epoch:
                self.epoch += 1
                self.batch_in_epoch = 0
                self._order = self._order_rng.permutation(self.data.train_size)
        return trained

    def advance_to(
        self, step: int, deadline: float | None = None, on_step: Callable[[DigitsRun], None] | None = None
    ) -> bool:
        """Train until `batches_done == step` (at most total_batches), calling on_step(run) after
        every minibatch (a checkpoint every k minibatches, say). A run only moves forward: asked
        for a step it has passed, it stays (fork a run that has not passed it). With a `deadline`
        (time.perf_counter()) it stops there after at least one minibatch. True once the run is
        at or past `step`."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be an integer; got {step!r}")
        if step > self.total_batches:
            raise ValueError(f"step must be at most the run's {self.total_batches} minibatches; got {step}")
        while self.batches_done < step:
            self.train_batches(1)
            if on_step is not None:
                on_step(self)
            if deadline is not None and time.perf_counter() >= deadline and self.batches_done < step:
                return False
        return True

    def train_epoch(self) -> int:
        """Train to the end of the current epoch."""
        return self.train_batches(self.batches_per_epoch - self.batch_in_epoch)

    # evaluation -------------------------------------------------------------------------------
    def evaluate(self, full: bool = False, split: str = "test") -> DigitsMetrics:
        """Error rates of both nets: on the fixed held-out subset (eval_size digits; cheap enough to
        call several times a second), on the whole held-out set (full=True), or on the training set
        (split="train", always whole)."""
        if split == "train":
            x, y = self.train_x, self.train_y
        elif split == "test":
            x, y = (self.test_x, self.test_y) if full else (self.test_x[self.eval_index], self.test_y[self.eval_index])
        else:
            raise ValueError(f"split must be train or test; got {split!r}")
        ff_error = float(np.mean(self.ff.predict(x) != y))
        bp_error = float(np.mean(self.backprop.predict(x) != y))
        readout_error = None
        if self.ff.readout is not None:
            readout_error = float(np.mean(self.ff.readout.predict(x) != y))
        return DigitsMetrics(self.progress, len(y), ff_error, bp_error, readout_error)

    def layer_errors(self, full: bool = True) -> list[float]:
        """Held-out error of each FF layer's goodness alone deciding."""
        x, y = (self.test_x, self.test_y) if full else (self.test_x[self.eval_index], self.test_y[self.eval_index])
        table = self.ff.goodness_table(x)
        return [float(np.mean(np.argmax(table[:, :, i], axis=1) != y)) for i in range(table.shape[2])]

    def infer(self, image: ArrayLike) -> DigitInference:
        """One image (28x28 or 784 values; uint8 0-255, or floats in [0, 1]) under both nets."""
        pixels = np.asarray(image)
        if pixels.size != self.train_x.shape[1]:
            raise ValueError(f"image must have {self.train_x.shape[1]} pixels; got {pixels.size}")
        if pixels.dtype != np.uint8:
            pixels = pixels.astype(np.float64)
            if not np.all(np.isfinite(pixels)) or pixels.min() < 0.0 or pixels.max() > 1.0:
                raise ValueError("image pixels must be uint8 (0-255) or floats in [0, 1]")
        x = to_unit_pixels(pixels.reshape(1, -1), self.train_x.dtype.type)
        table = self.ff.goodness_table(x)[0].astype(np.float64)
        totals = self.ff.totals(table)
        probabilities = self.backprop.probabilities(x)[0]
        readout = self.ff.readout.probabilities(x)[0] if self.ff.readout is not None else None
        return DigitInference(
            goodness=table.tolist(),
            totals=totals.tolist(),
            label=int(np.argmax(totals)),
            rule=self.ff.inference,
            counted_layers=list(self.ff.counted_layers),
            backprop_probabilities=probabilities.tolist(),
            backprop_label=int(np.argmax(probabilities)),
            readout_probabilities=None if readout is None else readout.tolist(),
            readout_label=None if readout is None else int(np.argmax(readout)),
        )


def _check_pixels(pixels: UnitPixels, data: DigitData, dtype: str) -> None:
    for name, array, images in (("train", pixels.train, data.train_images), ("test", pixels.test, data.test_images)):
        expected = (len(images), int(np.prod(images.shape[1:])))
        if array.dtype != np.dtype(dtype) or array.shape != expected:
            raise ValueError(f"pixels.{name} must be {dtype} of shape {expected}; got {array.dtype} {array.shape}")
        if array.flags.writeable:
            raise ValueError(f"pixels.{name} must be read-only: runs share it (use shared_unit_pixels)")


def balanced_subset(labels: np.ndarray, size: int) -> np.ndarray:
    """`size` test indices taken round-robin over the classes from a fixed permutation (seed 0)."""
    order = np.random.default_rng(0).permutation(len(labels))
    by_class = [order[labels[order] == c] for c in range(N_LABELS)]
    rank = np.empty(len(labels), dtype=np.int64)
    for members in by_class:
        rank[members] = np.arange(len(members))
    # sort by (rank within its class, class): one of each class, then the next of each, ...
    chosen = np.lexsort((labels, rank))[:size]
    return np.sort(chosen)


def report(run: DigitsRun) -> dict:
    """The CLI's JSON object for a run: both nets' accuracy on the whole training and held-out sets."""
    s = run.settings
    test, train_metrics = run.evaluate(full=True), run.evaluate(split="train")
    return {
        "data": run.data.name,
        "train_size": run.data.train_size,
        "test_size": run.data.test_size,
        "seed": s.seed,
        "epochs": s.epochs,
        "hidden": list(s.hidden),
        "negatives": s.negatives,
        "train_seconds": run.seconds["ff"] + run.seconds["backprop"],
        "ff": {"train_accuracy": 1.0 - train_metrics.ff_error, "test_accuracy": 1.0 - test.ff_error},
        "backprop": {"train_accuracy": 1.0 - train_metrics.backprop_error, "test_accuracy": 1.0 - test.backprop_error},
    }


def train(
    settings: DigitsSettings,
    data: DigitData | None = None,
    on_epoch: Callable[[DigitsRun, DigitsMetrics], None] | None = None,
    run: DigitsRun | None = None,
) -> tuple[DigitsRun, dict]:
    """Train to the end (continuing `run` if given); on_epoch(run, metrics) after every epoch, with
    the figures on the whole held-out set. Returns the run and report(run)."""
    run = run if run is not None else DigitsRun(settings, data)
    while not run.done:
        run.train_epoch()
        if on_epoch is not None:
            on_epoch(run, run.evaluate(full=True))
    return run, report(run)

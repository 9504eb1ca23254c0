"""Forward-Forward (Hinton 2022): layers that learn locally, real data to high goodness and fake data to low."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache, partial
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from app.engine.optim import Optimizer

try:  # einsum's C entry point: at 300 rows np.einsum's Python wrapper costs as much again (1 us)
    from numpy._core.multiarray import c_einsum as _einsum
except ImportError:  # pragma: no cover - NumPy 1.x
    _einsum = np.einsum

from app.engine.params import FlatParameters, LazyGradient
from app.engine.scratch import FRESH, Scratch
from app.engine.trace import NO_RECORDER, NoRecorder

if TYPE_CHECKING:  # readout.py imports this module
    from app.engine.readout import SoftmaxReadout

EPSILON = 1e-8  # in h = y / (||y|| + eps): only keeps an all-zero activity vector finite
SCHEDULES = ("separate", "joint")
# How the raw FF input [x, y, one-hot] is scaled before layer 1 (docs/engine.md, "raw input"):
# "none" as it is; "rms" Hinton's ffnormrows, every row rescaled to a mean square of 1 (length
# sqrt(d)); "length" rescaled to length 1.
INPUT_NORMALIZATIONS = ("none", "rms", "length")
# Which layers' goodness inference adds up: every layer, all but the first (the paper's rule for
# its deeper nets), or the first alone.
INFERENCE_RULES = ("all", "skip-first", "first")


# --- the mathematics, one function per formula -------------------------------------------------


def goodness(y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """G = sum_j y_j^2 over the last axis (each row): the paper's goodness (a sum, not a mean)."""
    if out is None:  # (einsum's C entry takes no out=None)
        return _einsum("...j,...j->...", y, y)
    return _einsum("...j,...j->...", y, y, out=out)


def normalize(
    y: ArrayLike,
    epsilon: float = EPSILON,
    g: np.ndarray | None = None,
    out: np.ndarray | None = None,
    *,
    columns: bool = False,
    length: np.ndarray | None = None,
) -> np.ndarray:
    """h = y / (||y|| + eps) for each row of y (the last axis): the length (the goodness) removed,
    the direction kept. ||y|| = sqrt(G), so a caller that has the goodness passes it as `g`; `out`
    receives h. With columns=True each column of a 2-D y is one vector (the (units, rows) layout of
    columns.py); `length`, when given, receives ||y|| + eps, one number per vector, so that nothing
    is allocated. Training, evaluation and inference all normalize with this function, in either
    layout."""
    if not isinstance(y, np.ndarray):
        y = np.asarray(y, dtype=np.float64)
    length = length_from_goodness(goodness(y.T if columns else y) if g is None else g, epsilon, length)
    return np.divide(y, length if columns else length[..., None], out=out)


def length_from_goodness(g: np.ndarray, epsilon: float = EPSILON, out: np.ndarray | None = None) -> np.ndarray:
    """||y|| + eps = sqrt(G) + eps: what `normalize` divides y by, from its goodness G (into `out`)."""
    length = np.sqrt(g, out=out)
    length += epsilon
    return length


def sigmoid(z: np.ndarray) -> np.ndarray:
    # tanh form: never overflows, for any z.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def mean_layer_loss(g: np.ndarray, theta: float, target: np.ndarray | float) -> float:
    return float(np.mean(layer_loss(g, theta, target)))


def layer_loss(g: np.ndarray, theta: float, target: np.ndarray | float) -> np.ndarray:
    """Logistic loss of p(positive) = sigma(G - theta): softplus(z) - t z, without overflow."""
    z = np.asarray(g, dtype=np.float64) - theta
    return np.logaddexp(0.0, z) - target * z


def with_bias_column(h: np.ndarray) -> np.ndarray:
    """[h, 1]: every layer keeps its bias as the last row of one parameter matrix."""
    out = np.ones((h.shape[0], h.shape[1] + 1))
    out[:, :-1] = h
    return out


def embed_label(
    points: np.ndarray,
    labels: np.ndarray,
    n_labels: int,
    out: np.ndarray | None = None,
    input_normalization: str = "none",
) -> np.ndarray:
    """The FF input [x, y, one-hot(label)], scaled as `input_normalization` says, plus the bias
    column of ones (never scaled)."""
    n, d = points.shape
    if out is None:
        out = np.empty((n, d + n_labels + 1))
    out[:, :d] = points
    out[:, d:-1] = 0.0
    out[np.arange(n), d + labels] = 1.0
    normalize_input(out[:, :-1], input_normalization)
    out[:, -1] = 1.0
    return out


def normalize_input(features: np.ndarray, mode: str) -> None:
    """Scale each row of the raw input in place: "length" to length 1, "rms" (Hinton's ffnormrows)
    to a mean square of 1, "none" leaves it."""
    if mode == "none":
        return
    if mode not in INPUT_NORMALIZATIONS:
        raise ValueError(f"input_normalization must be one of {', '.join(INPUT_NORMALIZATIONS)}; got {mode!r}")
    length = np.linalg.norm(features, axis=1, keepdims=True)
    if mode == "rms":
        length /= np.sqrt(features.shape[1])
    features /= length + EPSILON


def wrong_labels(labels: np.ndarray, n_labels: int, rng: np.random.Generator) -> np.ndarray:
    """A label other than the true one for every point, uniform over the wrong ones, drawn from rng."""
    if n_labels < 2:
        raise ValueError("negative data needs at least 2 labels")
    if n_labels == 2:
        return 1 - labels  # only one wrong label exists; no draw needed (and none consumed)
    # Adding 1..n_labels-1 modulo n_labels can never land back on the true label.
    return (labels + rng.integers(1, n_labels, size=labels.shape)) % n_labels


# --- one layer ---------------------------------------------------------------------------------


class FFLayer:
    """y = ReLU([h, 1] @ params), trained only by its own goodness loss on its own input."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, init_scale: float = 1.0) -> None:
        self.n_in, self.n_out = n_in, n_out
        self.params = np.zeros((n_in + 1, n_out))
        # He initialization: ReLU units start with activities of order one.
        self.params[:-1] = rng.normal(0.0, init_scale * np.sqrt(2.0 / n_in), (n_in, n_out))

    @property
    def weights(self) -> np.ndarray:
        return self.params[:-1]

    @property
    def bias(self) -> np.ndarray:
        return self.params[-1]

    def forward(self, h_with_bias: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """y = ReLU([h, 1] @ params), into `out` when given."""
        y = np.matmul(h_with_bias, self.params, out=out)
        return np.maximum(y, 0.0, out=y)

    def local_gradient(
        self,
        h_with_bias: np.ndarray,
        y: np.ndarray,
        target: np.ndarray | float,
        theta: float,
        g: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """d(mean layer loss)/d(params) from this layer's input and output alone:

            dL/dparams = [h, 1]^T (dL/dG * dG/dy) / n,   dL/dG = sigma(G - theta) - target,   dG/dy = 2 y

        (ReLU's derivative is already in y, which is zero wherever the unit is off). Computed as
        [h, 1]^T (y * (tanh((G - theta) / 2) + 1 - 2 target) / n): with sigma(z) = (1 + tanh(z/2)) / 2
        the half cancels dG/dy's 2, which folds the formula into five in-place operations on G
        (bench/engine.py times this against the formula written out)."""
        if g is None:
            g = goodness(y)
        dloss_dg = g - theta
        dloss_dg *= 0.5
        np.tanh(dloss_dg, out=dloss_dg)
        # A plain float target (the separate schedule) stays in Python: no 0-d array round trip.
        dloss_dg += 1.0 - 2.0 * (target if isinstance(target, float) else np.asarray(target))
        dloss_dg *= 1.0 / len(g)
        return np.matmul(h_with_bias.T, y * dloss_dg[:, None], out=out)


# --- the forward pass ---------------------------------------------------------------------------


def forward_pass(
    layers: Sequence[FFLayer],
    x: np.ndarray,
    scratch: Scratch | None = None,
    goodness_out: np.ndarray | None = None,
    recorder: NoRecorder = NO_RECORDER,
    polarity: str | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """The FF forward pass, the one that training, evaluation and inference share.

    For every layer i = 1..L yields (i, h, y, G): the layer's input h with its bias column, its
    activity y = ReLU([h, 1] @ params) and its goodness G = sum_j y_j^2. The next layer's input is
    normalize(y, G), so no layer can read the previous one's goodness. Training updates layer i
    while the pass waits at its yield; evaluation and inference read G.

    Arrays come from `scratch` (fresh ones without), G from the rows of `goodness_out` (L, n) when
    given; each is overwritten by the next pass, so a caller keeps what it needs before then. The
    recorder hears what the pass holds and when (see trace.py)."""
    buffers = FRESH if scratch is None else scratch
    n, last = len(x), len(layers)
    recorder.hold("input", None, x)
    recorder.record("pass", None, polarity, "{polarity} pass begins")
    h = x
    held: tuple[str, int | None] = ("input", None)
    for i, layer in enumerate(layers, start=1):
        y = layer.forward(h, out=buffers.rows(("y", i), n, layer.n_out))
        g = goodness(y, out=buffers.rows(("g", i), n) if goodness_out is None else goodness_out[i - 1])
        recorder.hold("activity", i, y)
        recorder.record("forward", i, polarity, "layer {layer} forward")
        yield i, h, y, g
        recorder.release(*held, i, polarity)
        if i < last:
            h = buffers.rows(("h", i), n, layer.n_out + 1, ones_column=True)
            normalize(y, g=g, out=h[:, :-1])
            held = ("normalized", i)
            recorder.hold(*held, h)
            recorder.record("normalize", i, polarity, "activity {layer} normalized for layer {next}")
        recorder.release("activity", i, i, polarity)


# --- the network -------------------------------------------------------------------------------


class FFNetwork(LazyGradient):
    """A stack of FF layers with length normalization between them and the label in the input.

    The layers' parameter matrices are views of one flat array (params.py), so each pass ends in
    one optimizer update for the whole net."""

    def __init__(
        self,
        hidden_sizes: tuple[int, ...],
        n_labels: int,
        theta: float,
        optimizer: Optimizer,
        rng: np.random.Generator,
        input_size: int = 2,
        schedule: str = "separate",
        init_scale: float = 1.0,
        readout: bool = False,
        readout_optimizer: Optimizer | None = None,
        input_normalization: str = "none",
        inference: str = "all",
    ) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {schedule!r}")
        if input_normalization not in INPUT_NORMALIZATIONS:
            raise ValueError(
                f"input_normalization must be one of {', '.join(INPUT_NORMALIZATIONS)}; got {input_normalization!r}"
            )
        self.input_normalization = input_normalization
        if inference not in INFERENCE_RULES:
            raise ValueError(f"inference must be one of {', '.join(INFERENCE_RULES)}; got {inference!r}")
        if inference == "skip-first" and len(hidden_sizes) < 2:
            raise ValueError("inference='skip-first' needs at least 2 hidden layers")
        self.inference = inference
        self.input_size, self.n_labels, self.theta = input_size, n_labels, float(theta)
        self.schedule = schedule
        self.optimizer = optimizer
        self.hidden_sizes = tuple(int(units) for units in hidden_sizes)
        sizes = (input_size + n_labels, *self.hidden_sizes)
        self.layers = [FFLayer(a, b, rng, init_scale) for a, b in pairwise(sizes)]
        self.parameters = FlatParameters.holding([layer.params for layer in self.layers])
        self._gradient: FlatParameters | None = None
        self._bind_layers()
        self.readout: SoftmaxReadout | None = None
        if readout:
            from app.engine.readout import SoftmaxReadout

            self.readout = SoftmaxReadout(self, readout_optimizer or optimizer, rng)
        self._cache_key: tuple | None = None
        self._buffers: dict = {}
        self._scratch = Scratch()

    def _bind_layers(self) -> None:
        for layer, view in zip(self.layers, self.parameters.views, strict=True):
            layer.params = view

    def __getstate__(self) -> dict:
        # A copy (a checkpoint, a fork) or a pickle carries the weights and the optimizer state,
        # not the work arrays: the gradient buffer and scratch are made anew.
        return {k: v for k, v in self.__dict__.items() if k not in ("_gradient", "_scratch")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._gradient, self._scratch = None, Scratch()
        self._bind_layers()  # the layers must use the copy's own flat array

    # inputs -------------------------------------------------------------------------------
    def _batches(
        self, points: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Positive and negative inputs; with 2 labels they never change, so they are built once."""
        key = (id(points), id(labels), points.shape)
        if self.n_labels == 2 and key == self._cache_key:
            return self._buffers["positive"], self._buffers["negative"], self._buffers["targets"]
        positive = self.embed(points, labels)
        wrong = self.embed(points, wrong_labels(labels, self.n_labels, rng))
        negative: np.ndarray | None = wrong
        if self.schedule == "joint":
            positive, negative = np.concatenate([positive, wrong]), None
        n = len(labels)
        targets = np.concatenate([np.ones(n), np.zeros(n)])
        self._cache_key = key
        self._buffers = {"positive": positive, "negative": negative, "targets": targets}
        for array in self.cached_inputs:
            array.flags.writeable = False
        return positive, negative, targets

    @property
    def cached_inputs(self) -> tuple[np.ndarray, ...]:
        """The read-only batches built from the training points: a copy of the net may share them."""
        return tuple(array for array in self._buffers.values() if array is not None)

    # training -----------------------------------------------------------------------------
    def train_step(
        self,
        points: np.ndarray,
        labels: np.ndarray,
        rng: np.random.Generator,
        recorder: NoRecorder = NO_RECORDER,
    ) -> None:
        """One FF step on a full batch: a positive pass, then a negative pass (or both at once
        with schedule='joint'); each layer updates from its own loss as the pass flows through it."""
        positive, negative, targets = self._batches(points, labels, rng)
        if negative is None:  # the joint schedule: positives and negatives in one pass
            self._pass(positive, targets, "positive+negative", recorder)
        else:
            self._pass(positive, 1.0, "positive", recorder)
            self._pass(negative, 0.0, "negative", recorder)
        if self.readout is not None:
            self.readout.train_step(points, labels)

    def _pass(self, x: np.ndarray, target: np.ndarray | float, polarity: str, recorder: NoRecorder) -> None:
        """One pass: each layer's gradient from its own input, output and loss, then one update.

        A layer's new weights are settled by its gradient; nothing reads them again in this pass
        (the next layer's input is this layer's output from before the update, and the next pass
        starts after this one ends), so one optimizer call on the flat array at the end of the pass
        gives every weight the value it would get from updating each layer as the pass flows."""
        theta, gradients = self.theta, self.gradient.views
        for i, h, y, g in forward_pass(self.layers, x, self._scratch, recorder=recorder, polarity=polarity):
            recorder.record(
                "loss",
                i,
                polarity,
                "layer {layer} goodness loss",
                loss=partial(mean_layer_loss, g, theta, target),
            )
            self.layers[i - 1].local_gradient(h, y, target, theta, g, out=gradients[i - 1])
            recorder.record("update", i, polarity, "layer {layer} updated from its own loss")
        self.optimizer.update(0, self.parameters.flat, self.gradient.flat)

    # inference ----------------------------------------------------------------------------
    def embed(self, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """This net's layer-1 input for `points` carrying `labels`: the label in the input, scaled
        by the net's input normalization, with the bias column."""
        return embed_label(points, labels, self.n_labels, input_normalization=self.input_normalization)

    def hidden_activities(self, x: np.ndarray) -> list[np.ndarray]:
        """The activities y of every layer for embedded inputs x (with their bias column)."""
        return [y for _, _, y, _ in forward_pass(self.layers, x)]

    def goodness_table(self, points: np.ndarray) -> np.ndarray:
        """(n, n_labels, n_layers): the goodness of every layer with each candidate label in the input."""
        n = len(points)
        stacked = np.concatenate([self.embed(points, np.full(n, label)) for label in range(self.n_labels)])
        table = np.empty((len(self.layers), len(stacked)))
        for _ in forward_pass(self.layers, stacked, goodness_out=table):
            pass
        return table.reshape(len(self.layers), self.n_labels, n).transpose(2, 1, 0)

    @property
    def counted_layers(self) -> tuple[int, ...]:
        """The (0-based) layers whose goodness inference adds up, by the net's inference rule."""
        return _counted_layers(self.inference, len(self.layers))

    def totals(self, table: np.ndarray, skip_first_layer: bool = False) -> np.ndarray:
        """Summed goodness per label over the counted layers; skip_first_layer=True asks for the
        paper's deep-net rule (all but the first) whatever the net's own rule is."""
        if skip_first_layer:
            if len(self.layers) < 2:
                raise ValueError("skip_first_layer needs at least 2 hidden layers")
            return table[..., 1:].sum(axis=-1)
        return table[..., list(self.counted_layers)].sum(axis=-1)

    def predict(self, points: np.ndarray, skip_first_layer: bool = False) -> np.ndarray:
        """One pass per candidate label; the label with the most total goodness wins."""
        return np.argmax(self.totals(self.goodness_table(points), skip_first_layer), axis=1)

    def probability_of_label(self, points: np.ndarray, label: int = 0) -> np.ndarray:
        """softmax over the label totals: for 2 labels sigma(total_A - total_B)."""
        totals = self.totals(self.goodness_table(points))
        totals -= totals.max(axis=1, keepdims=True)
        e = np.exp(totals)
        return e[:, label] / e.sum(axis=1)


@lru_cache(maxsize=32)
def _counted_layers(rule: str, n: int) -> tuple[int, ...]:
    return {"all": tuple(range(n)), "skip-first": tuple(range(1, n)), "first": (0,)}[rule]

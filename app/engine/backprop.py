"""The backprop baseline: a ReLU MLP with a softmax cross-entropy loss and gradients written out by hand."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from app.engine.optim import Optimizer
from app.engine.params import FlatParameters, LazyGradient
from app.engine.scratch import FRESH, Scratch
from app.engine.trace import NO_RECORDER, NoRecorder


def softmax(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """exp(z) / sum_k exp(z_k) along each row, with z = logits - max_k logits_k: never overflows.

    The max and the sum run class by class over whole columns: a NumPy reduction across each
    row of a few classes costs about ten times as much (for 2 classes the same numbers)."""
    columns = logits.T
    top = columns[0].copy()
    for column in columns[1:]:
        np.maximum(top, column, out=top)
    z = np.subtract(logits, top[:, None], out=out)
    np.exp(z, out=z)
    columns = z.T
    total = columns[0].copy()
    for column in columns[1:]:
        total += column
    z /= total[:, None]
    return z


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log softmax(logits)[label], via log-sum-exp so it never overflows."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(labels)), labels]))


class BackpropMLP(LazyGradient):
    """sizes = (inputs, hidden..., classes); each layer's bias is the last row of its matrix, and
    the matrices are views of one flat array (params.py): one optimizer update per step."""

    def __init__(
        self, sizes: tuple[int, ...], optimizer: Optimizer, rng: np.random.Generator, init_scale: float = 1.0
    ) -> None:
        self.sizes = tuple(sizes)
        self.optimizer = optimizer
        matrices = []
        for n_in, n_out in pairwise(sizes):
            w = np.zeros((n_in + 1, n_out))
            w[:-1] = rng.normal(0.0, init_scale * np.sqrt(2.0 / n_in), (n_in, n_out))  # He init
            matrices.append(w)
        self.parameters = FlatParameters.holding(matrices)
        self._gradient: FlatParameters | None = None
        self._cache_key: tuple | None = None
        self._cached: tuple[np.ndarray, np.ndarray] | None = None
        self._scratch = Scratch()

    def __getstate__(self) -> dict:
        # Copies and pickles carry weights and optimizer state; the work arrays are made anew.
        return {k: v for k, v in self.__dict__.items() if k not in ("_gradient", "_scratch")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._gradient, self._scratch = None, Scratch()

    @property
    def params(self) -> list[np.ndarray]:
        """Each layer's (n_in + 1, n_out) matrix [W; b]: views of the flat parameter array."""
        return self.parameters.views

    @property
    def n_layers(self) -> int:
        return len(self.params)

    def _inputs(self, points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The race trains on the same arrays every step: build [x, 1] and the one-hot targets once.
        key = (id(points), id(labels), points.shape)
        cached = self._cached
        if key != self._cache_key or cached is None:
            x = np.ones((len(points), points.shape[1] + 1))
            x[:, :-1] = points
            onehot = np.zeros((len(labels), self.sizes[-1]))
            onehot[np.arange(len(labels)), labels] = 1.0
            for array in (x, onehot):
                array.flags.writeable = False
            cached = (x, onehot)
            self._cache_key, self._cached = key, cached
        return cached

    @property
    def cached_inputs(self) -> tuple[np.ndarray, ...]:
        """The read-only [x, 1] and one-hot targets built from the training points: a copy of the
        net may share them."""
        return self._cached or ()

    def forward(
        self,
        x: np.ndarray,
        scratch: Scratch | None = None,
        logits_out: np.ndarray | None = None,
        recorder: NoRecorder = NO_RECORDER,
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """The forward sweep, the one that training, evaluation and inference share: for inputs
        x = [points, 1], the activations [x, [h_1, 1], ..., [h_L-1, 1]] with h_i = ReLU([h_i-1, 1] @ P_i)
        and the logits [h_L-1, 1] @ P_L (into `logits_out` when given). Arrays from `scratch`,
        fresh ones without."""
        buffers = FRESH if scratch is None else scratch
        n = len(x)
        activations, h = [x], x
        for i, w in enumerate(self.params[:-1], start=1):
            # The matmul into contiguous memory, the ReLU on its way into [h, 1]: cheaper than
            # writing the matmul into the strided view.
            y = np.matmul(h, w, out=buffers.rows(("y", i), n, w.shape[1]))
            h = buffers.rows(("h", i), n, w.shape[1] + 1, ones_column=True)
            np.maximum(y, 0.0, out=h[:, :-1])
            activations.append(h)
            recorder.hold("activity", i, h)
            recorder.record("forward", i, None, "layer {layer} forward")
            recorder.record("keep", i, None, "activity {layer} kept for the backward sweep")
        if logits_out is None:
            logits_out = buffers.rows("logits", n, self.sizes[-1])
        return activations, np.matmul(h, self.params[-1], out=logits_out)

    def logits(self, points: np.ndarray) -> np.ndarray:
        h = np.ones((len(points), points.shape[1] + 1))
        h[:, :-1] = points
        return self.forward(h)[1]

    def probabilities(self, points: np.ndarray) -> np.ndarray:
        return softmax(self.logits(points))

    def predict(self, points: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(points), axis=1)

    def loss(self, points: np.ndarray, labels: np.ndarray) -> float:
        return cross_entropy(self.logits(points), labels)

    # training -----------------------------------------------------------------------------
    def _sweep(self, points: np.ndarray, labels: np.ndarray, recorder: NoRecorder) -> list[np.ndarray]:
        """The forward sweep keeping every activation, then the backward sweep from the loss down,
        writing each layer's gradient into self.gradient (returned as its per-layer views).

        dL/dlogits = (softmax - onehot) / n for the mean cross-entropy; layer i's gradient is
        [h_i-1, 1]^T delta_i, and the error for the layer below is delta_i @ W_i^T masked by
        ReLU's on/off pattern. Every gradient uses the weights as they were before the step."""
        x, onehot = self._inputs(points, labels)
        scratch, n = self._scratch, len(labels)
        recorder.hold("input", None, x)
        recorder.record("pass", None, None, "forward sweep begins")
        activations, logits = self.forward(x, scratch, recorder=recorder)
        last = self.n_layers
        p = softmax(logits, out=scratch.rows("p", n, self.sizes[-1]))
        recorder.hold("probabilities", None, p)
        recorder.record("forward", last, None, "layer {layer} (output) forward")
        recorder.record("loss", last, None, "softmax cross-entropy", loss=lambda: cross_entropy(logits, labels))
        recorder.record("pass", None, None, "backward sweep begins")
        delta = np.subtract(p, onehot, out=p)
        delta *= 1.0 / n
        recorder.drop("probabilities", None)
        gradients = self.gradient.views
        for i in range(last, 0, -1):
            h_in = activations[i - 1]
            np.matmul(h_in.T, delta, out=gradients[i - 1])
            recorder.record("backward", i, None, "error reached layer {layer}")
            if i > 1:
                # Through the weights (transposed: weight transport) and ReLU's on/off mask.
                w = self.params[i - 1][:-1]
                delta = np.matmul(delta, w.T, out=scratch.rows(("delta", i - 1), n, w.shape[0]))
                delta *= h_in[:, :-1] > 0.0
            recorder.record("update", i, None, "layer {layer} updated")
            recorder.release("input" if i == 1 else "activity", None if i == 1 else i - 1, i)
        return gradients

    def train_step(self, points: np.ndarray, labels: np.ndarray, recorder: NoRecorder = NO_RECORDER) -> None:
        """One full-batch step: the sweeps, then one optimizer update of the flat array (the same
        as updating each layer in the backward sweep: no gradient reads the new weights)."""
        self._sweep(points, labels, recorder)
        self.optimizer.update(0, self.parameters.flat, self.gradient.flat)

    def gradients(self, points: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
        """The same sweeps as train_step, returning (copies of) the gradients instead of applying them."""
        return [grad.copy() for grad in self._sweep(points, labels, NO_RECORDER)]

"""The backprop baseline: a ReLU MLP with a softmax cross-entropy loss and gradients written out by hand."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from app.engine.trace import StepRecorder


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log softmax(logits)[label], via log-sum-exp so it never overflows."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(labels)), labels]))


class BackpropMLP:
    """sizes = (inputs, hidden..., classes); each layer's bias is the last row of its matrix."""

    def __init__(self, sizes: tuple[int, ...], optimizer, rng: np.random.Generator, init_scale: float = 1.0) -> None:
        self.sizes = tuple(sizes)
        self.optimizer = optimizer
        self.params: list[np.ndarray] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            w = np.zeros((n_in + 1, n_out))
            w[:-1] = rng.normal(0.0, init_scale * np.sqrt(2.0 / n_in), (n_in, n_out))  # He init
            self.params.append(w)
        self._cache_key: tuple | None = None
        self._cached: tuple | None = None

    @property
    def n_layers(self) -> int:
        return len(self.params)

    def _inputs(self, points: np.ndarray, labels: np.ndarray):
        # The race trains on the same arrays every step: build [x, 1] and the one-hot targets once.
        key = (id(points), id(labels), points.shape)
        if key != self._cache_key:
            x = np.ones((len(points), points.shape[1] + 1))
            x[:, :-1] = points
            onehot = np.zeros((len(labels), self.sizes[-1]))
            onehot[np.arange(len(labels)), labels] = 1.0
            for array in (x, onehot):
                array.flags.writeable = False
            self._cache_key, self._cached = key, (x, onehot)
        return self._cached

    @property
    def cached_inputs(self) -> tuple[np.ndarray, ...]:
        """The read-only [x, 1] and one-hot targets built from the training points: a copy of the
        net may share them."""
        return self._cached or ()

    def logits(self, points: np.ndarray) -> np.ndarray:
        h = np.ones((len(points), points.shape[1] + 1))
        h[:, :-1] = points
        for w in self.params[:-1]:
            nxt = np.ones((len(h), w.shape[1] + 1))
            np.matmul(h, w, out=nxt[:, :-1])
            np.maximum(nxt[:, :-1], 0.0, out=nxt[:, :-1])
            h = nxt
        return h @ self.params[-1]

    def probabilities(self, points: np.ndarray) -> np.ndarray:
        return softmax(self.logits(points))

    def predict(self, points: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(points), axis=1)

    def loss(self, points: np.ndarray, labels: np.ndarray) -> float:
        return cross_entropy(self.logits(points), labels)

    # training -----------------------------------------------------------------------------
    def _step(
        self,
        points: np.ndarray,
        labels: np.ndarray,
        on_gradient: Callable[[int, np.ndarray], None],
        recorder: StepRecorder | None,
    ) -> np.ndarray:
        """Forward sweep keeping every activation, then the backward sweep from the loss down.

        on_gradient(layer, grad) is called in reverse layer order, after the error for the layer
        below has been computed with the layer's current weights, so updating inside it is exact."""
        x, onehot = self._inputs(points, labels)
        held = {"input": x}  # the activations this step must keep until its backward sweep
        if recorder is not None:
            recorder.record("pass", held, detail="forward sweep begins")
        h, last = x, self.n_layers
        for i, w in enumerate(self.params[:-1], start=1):
            nxt = np.ones((len(h), w.shape[1] + 1))
            np.matmul(h, w, out=nxt[:, :-1])
            np.maximum(nxt[:, :-1], 0.0, out=nxt[:, :-1])
            h = held[f"activity {i}"] = nxt
            if recorder is not None:
                recorder.record("forward", held, i, detail=f"layer {i} forward")
                recorder.record("keep", held, i, detail=f"activity {i} kept for the backward sweep")
        logits = h @ self.params[-1]
        if recorder is not None:
            loss = cross_entropy(logits, labels)
        p = held["probabilities"] = softmax(logits)
        if recorder is not None:
            recorder.record("forward", held, last, detail=f"layer {last} (output) forward")
            recorder.record("loss", held, last, detail="softmax cross-entropy", loss=loss)
            recorder.record("pass", held, detail="backward sweep begins")
        # dL/dlogits of the mean cross-entropy: (softmax - onehot) / n
        delta = p - onehot
        delta *= 1.0 / len(labels)
        del held["probabilities"]
        for i in range(last, 0, -1):
            below = "input" if i == 1 else f"activity {i - 1}"
            h_in = held[below]
            grad = h_in.T @ delta
            if recorder is not None:
                recorder.record("backward", held, i, detail=f"error reached layer {i}")
            if i > 1:
                # Through the weights (transposed: weight transport) and ReLU's on/off mask.
                delta = delta @ self.params[i - 1][:-1].T
                delta *= h_in[:, :-1] > 0.0
            on_gradient(i, grad)
            if recorder is not None:
                recorder.record("update", held, i, detail=f"layer {i} updated")
            del held[below]
            if recorder is not None:
                recorder.record("release", held, i, detail=f"{below} released")
        return p

    def train_step(
        self, points: np.ndarray, labels: np.ndarray, recorder: StepRecorder | None = None
    ) -> None:
        params, update = self.params, self.optimizer.update
        self._step(points, labels, lambda i, grad: update(i, params[i - 1], grad), recorder)

    def gradients(self, points: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
        """The same backward sweep as train_step, returning the gradients instead of applying them."""
        grads: list = [None] * self.n_layers
        self._step(points, labels, lambda i, grad: grads.__setitem__(i - 1, grad), None)
        return grads

"""A measured alternative, not the engine: the race step and grids with activations stored
(units, rows) instead of (rows, units).

Why it is here. At the race's sizes a layer has 12 units and 300 to 2,048 rows. In the engine's
(rows, units) layout every per-row operation - the goodness sum_j y_j^2, dividing each row by its
length, scaling each row by dL/dG - runs NumPy's inner loop once per row, 12 numbers at a time,
and those loops, not the arithmetic, are most of a step. Stored (units, rows), the same operations
run along rows of hundreds of contiguous numbers. The arithmetic is the same formulas; the order
of the additions in the goodness and in the gradient's matrix product is not, so the results
differ from the engine's in the last bits (weights agree to ~1e-15 relative after 100 steps) and
the engine's float64 results would no longer be bit-for-bit those of earlier versions. That is
the trade bench/engine.py reports: this prototype's speed against the engine's exactness."""

from __future__ import annotations

import math

import numpy as np

try:
    from numpy._core.multiarray import c_einsum as _einsum
except ImportError:  # pragma: no cover
    _einsum = np.einsum

EPSILON = 1e-8


class _Adam:
    """The engine's Adam arithmetic on one flat array."""

    def __init__(self, size, dtype, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.m, self.v, self.scratch = (np.zeros(size, dtype) for _ in range(3))
        self.t, self.lr, self.beta1, self.beta2, self.epsilon = 0, learning_rate, beta1, beta2, epsilon

    def update(self, param, grad):
        self.t += 1
        m, v, s = self.m, self.v, self.scratch
        m *= self.beta1
        np.multiply(grad, 1 - self.beta1, out=s)
        m += s
        v *= self.beta2
        np.multiply(grad, grad, out=s)
        s *= 1 - self.beta2
        v += s
        root = math.sqrt(1 - self.beta2**self.t)
        np.sqrt(v, out=s)
        s += self.epsilon * root
        np.divide(m, s, out=s)
        s *= self.lr * root / (1 - self.beta1**self.t)
        param -= s


def _flat(matrices, dtype):
    """One flat array holding the transposed matrices, and its (n_out, n_in + 1) views."""
    flat = np.concatenate([np.ascontiguousarray(m.T, dtype=dtype).ravel() for m in matrices])
    views, start = [], 0
    for m in matrices:
        views.append(flat[start : start + m.size].reshape(m.shape[1], m.shape[0]))
        start += m.size
    return flat, views


class ColumnsRace:
    """The default race (Adam, separate schedule) from a Race's current weights, in (units, rows)."""

    def __init__(self, race, dtype=np.float64) -> None:
        s, n = race.settings, len(race.train)
        self.theta, self.n, self.dtype = s.theta, n, dtype
        self.ff, self.ff_views = _flat([layer.params for layer in race.ff.layers], dtype)
        self.ff_grad, self.ff_grad_views = _flat([layer.params for layer in race.ff.layers], dtype)
        self.bp, self.bp_views = _flat(race.backprop.params, dtype)
        self.bp_grad, self.bp_grad_views = _flat(race.backprop.params, dtype)
        self.ff_adam = _Adam(self.ff.size, dtype, s.learning_rate)
        self.bp_adam = _Adam(self.bp.size, dtype, s.learning_rate)
        points, labels = race.train.x, race.train.y
        positive, negative = race.ff.embed(points, labels), race.ff.embed(points, 1 - labels)  # 2 labels
        self.positive, self.negative = (np.ascontiguousarray(a.T, dtype=dtype) for a in (positive, negative))
        self.bp_x = np.ones((3, n), dtype)
        self.bp_x[:2] = points.T
        self.onehot = np.eye(2, dtype=dtype)[labels].T.copy()
        ev = race._evaluator
        self.grid_ff = np.ascontiguousarray(ev.ff_inputs[ev.ff_ends[1] :].T, dtype=dtype)
        self.grid_bp = np.ascontiguousarray(ev.bp_inputs[ev.bp_ends[1] :].T, dtype=dtype)
        self._buffers: dict = {}

    def _buffer(self, name, shape, ones_row=False):
        buffer = self._buffers.get((name, shape))
        if buffer is None:
            buffer = self._buffers[(name, shape)] = (
                np.ones(shape, self.dtype) if ones_row else np.empty(shape, self.dtype)
            )
        return buffer

    def _ff_forward(self, x, views, on_layer=None):
        h, n, goodness = x, x.shape[1], []
        for i, p in enumerate(views):
            y = np.matmul(p, h, out=self._buffer(("y", i), (p.shape[0], n)))
            np.maximum(y, 0.0, out=y)
            g = _einsum("ij,ij->j", y, y, out=self._buffer(("g", i), (n,)))
            goodness.append(g)
            if on_layer is not None:
                on_layer(i, h, y, g)
            if i < len(views) - 1:
                length = np.sqrt(g)
                length += EPSILON
                nxt = self._buffer(("h", i), (p.shape[0] + 1, n), ones_row=True)
                np.divide(y, length, out=nxt[:-1])
                h = nxt
        return goodness

    def _ff_pass(self, x, target):
        def update(i, h, y, g):
            d = g - self.theta
            d *= 0.5
            np.tanh(d, out=d)
            d += 1.0 - 2.0 * target
            d *= 1.0 / self.n
            np.matmul(np.multiply(y, d, out=self._buffer(("dy", i), y.shape)), h.T, out=self.ff_grad_views[i])

        self._ff_forward(x, self.ff_views, update)
        self.ff_adam.update(self.ff, self.ff_grad)

    def _bp_forward(self, x):
        h, activations = x, [x]
        for i, w in enumerate(self.bp_views[:-1]):
            nxt = self._buffer(("bh", i, x.shape[1]), (w.shape[0] + 1, x.shape[1]), ones_row=True)
            np.matmul(w, h, out=nxt[:-1])
            np.maximum(nxt[:-1], 0.0, out=nxt[:-1])
            h = nxt
            activations.append(h)
        return activations, np.matmul(self.bp_views[-1], h)

    def _backprop_step(self):
        activations, z = self._bp_forward(self.bp_x)
        z -= z.max(axis=0)
        np.exp(z, out=z)
        z /= z.sum(axis=0)
        z -= self.onehot
        z *= 1.0 / self.n
        delta = z
        for i in range(len(self.bp_views) - 1, -1, -1):
            h = activations[i]
            np.matmul(delta, h.T, out=self.bp_grad_views[i])
            if i:
                delta = np.matmul(self.bp_views[i][:, :-1].T, delta)
                delta *= h[:-1] > 0.0
        self.bp_adam.update(self.bp, self.bp_grad)

    def step(self) -> None:
        self._ff_pass(self.positive, 1.0)
        self._ff_pass(self.negative, 0.0)
        self._backprop_step()

    def decision_grids(self):
        goodness = self._ff_forward(self.grid_ff, self.ff_views)
        totals = np.add.reduce(goodness).reshape(2, -1)
        totals -= totals.max(axis=0)
        np.exp(totals, out=totals)
        ff = totals[0] / totals.sum(axis=0)
        logits = self._bp_forward(self.grid_bp)[1]
        logits -= logits.max(axis=0)
        np.exp(logits, out=logits)
        return ff, logits[0] / logits.sum(axis=0)

    def parameters(self):
        """Every layer's [W; b] as the engine lays it out: FF layers, then backprop's."""
        return [v.T for v in self.ff_views + self.bp_views]

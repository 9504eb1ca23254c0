"""The race's fast kernel: the same FF and backprop steps with activations stored (units, rows).

At the race's sizes (12 units, 300 training rows, up to 3,248 evaluation rows) a NumPy call costs
about as much as its arithmetic. In the (rows, units) layout of `ff.py` and `backprop.py`, every
per-row operation (the goodness `sum_j y_j^2`, dividing each row by its length, scaling each row by
`dL/dG`) runs NumPy's inner loop once per row, 12 numbers at a time. Stored (units, rows), the
same operations run along rows of hundreds of contiguous numbers: the step costs about 0.7 of the
row layout's (docs/performance.md has the measurements).

The formulas are those of the row layout, written for transposed arrays. With `Y = y^T` (units,
rows), `H = [h, 1]^T` (inputs + 1, rows) and the layer's matrix `P` (inputs + 1, units), kept in
its usual layout (a view of the net's flat array, params.py):

    FF layer       Y = ReLU(P^T H),   G = sum_j Y_j^2  (one number per row, i.e. per column of Y)
    its gradient   dL/dP = H (Y * (tanh((G - theta)/2) + 1 - 2t) / n)^T
                   (= [h, 1]^T (dL/dG * dG/dy) / n with dL/dG = sigma(G - theta) - t, dG/dy = 2y,
                   folded as in FFLayer.local_gradient)
    next input     H' = [Y / (sqrt(G) + eps), 1]
    backprop       A_i = [ReLU(P_i^T A_i-1), 1], logits Z = P_L^T A_L-1,
                   delta_L = (softmax(Z) - onehot^T) / n, dL/dP_i = A_i-1 delta_i^T,
                   delta_i-1 = (W_i delta_i) * (A_i-1 > 0)   (W_i: P_i without its bias row)

The arithmetic is the same but for the order in which two sums add their terms (the goodness,
and the gradient's product over rows), so the results agree with the row layout to rounding
(about 1e-15 relative per step; tests/unit/test_columns.py), not to the bit. `Race(kernel="rows")`
keeps the row layout, whose float64 results are bit for bit those of earlier versions.

Each net keeps its parameters, gradient buffer and optimizer: a step here is
`FFNetwork.train_step` / `BackpropMLP.train_step` in another layout, nothing else. The kernel
holds the training inputs (read-only, shared by copies) and its work arrays (never copied)."""

from __future__ import annotations

from typing import Any

import numpy as np

try:  # einsum's C entry point: its Python wrapper costs as much again at these sizes
    from numpy._core.multiarray import c_einsum as _einsum
except ImportError:  # pragma: no cover - NumPy 1.x
    _einsum = np.einsum

from app.engine.backprop import BackpropMLP
from app.engine.ff import EPSILON, FFLayer, FFNetwork, embed_label, wrong_labels


def _ones_last_row(rows: int, n: int, dtype: Any = np.float64) -> np.ndarray:
    """An (rows, n) work array whose last row is 1 (the bias input), set once."""
    out = np.empty((rows, n), dtype)
    out[-1] = 1.0
    return out


def ff_goodness_columns(layers: list[FFLayer], x: np.ndarray, table: np.ndarray, buffers: dict) -> np.ndarray:
    """Evaluation's FF pass in (units, rows): `x` is (inputs + 1, m) with its ones row, `table`
    (layers, m) receives each layer's goodness G. The same pass as ff.forward_pass, transposed:
    Y = ReLU(P^T H), G = sum_j Y_j^2, H' = [Y / (sqrt(G) + eps), 1]. `buffers` keeps the work
    arrays from call to call, one set per layer width: a layer's Y is consumed into H' before the
    next layer writes its own, and its input H before H' overwrites it, so layers of one width
    share them (half the memory a 2-layer pass walks through)."""
    m, last = x.shape[1], len(layers) - 1
    dtype = x.dtype
    h = x
    for i, layer in enumerate(layers):
        params = layer.params if layer.params.dtype == dtype else layer.params.astype(dtype)
        units = params.shape[1]
        key = ("ff", units, m, dtype)
        work = buffers.get(key)
        if work is None:
            work = buffers[key] = (np.empty((units, m), dtype), _ones_last_row(units + 1, m, dtype), np.empty(m, dtype))
        y, h_next, length = work
        np.matmul(params.T, h, out=y)
        np.maximum(y, 0.0, out=y)
        g = _einsum("ij,ij->j", y, y, out=table[i])
        if i < last:
            np.sqrt(g, out=length)
            length += EPSILON
            np.divide(y, length, out=h_next[:-1])
            h = h_next
    return table


def bp_logits_columns(net: BackpropMLP, x: np.ndarray, logits: np.ndarray, buffers: dict) -> list[np.ndarray]:
    """Backprop's forward sweep in (units, rows): `x` is (inputs + 1, m) with its ones row,
    `logits` (classes, m) receives P_L^T A_L-1. Returns the activations [x, A_1, ..., A_L-1]."""
    m, dtype = x.shape[1], x.dtype
    activations, h = [x], x
    params = net.params
    for i, p in enumerate(params[:-1]):
        if p.dtype != dtype:
            p = p.astype(dtype)
        key = ("bp", i, m, dtype)
        a = buffers.get(key)
        if a is None:
            a = buffers[key] = _ones_last_row(p.shape[1] + 1, m, dtype)
        z = a[:-1]  # the leading rows of a C-contiguous array: contiguous
        np.matmul(p.T, h, out=z)
        np.maximum(z, 0.0, out=z)
        activations.append(a)
        h = a
    last = params[-1] if params[-1].dtype == dtype else params[-1].astype(dtype)
    np.matmul(last.T, h, out=logits)
    return activations


class ColumnsKernel:
    """The race's FF step and backprop step in (units, rows), for a race's training points.

    Built once per race from its points and labels (2 labels, as the race has); a copy (a fork, a
    checkpoint) shares the read-only inputs and makes its own work arrays when it first trains."""

    def __init__(self, ff: FFNetwork, points: np.ndarray, labels: np.ndarray, n_classes: int) -> None:
        if ff.n_labels != 2:
            raise ValueError("the columns kernel trains the race's 2-label FF net")
        n = len(labels)
        self.n = n
        positive = embed_label(points, labels, 2, input_normalization=ff.input_normalization)
        negative = embed_label(
            points, wrong_labels(labels, 2, np.random.default_rng(0)), 2, input_normalization=ff.input_normalization
        )  # 2 labels: the wrong label is the other one, no number is drawn
        if ff.schedule == "separate":
            # (input batch, 1 - 2t): t = 1 for the positive pass, 0 for the negative one.
            self.ff_batches: list[tuple[np.ndarray, Any]] = [(positive.T.copy(), -1.0), (negative.T.copy(), 1.0)]
        else:  # "joint": one pass over both batches, a target per row
            both = np.concatenate([positive, negative]).T.copy()
            self.ff_batches = [(both, np.concatenate([np.full(n, -1.0), np.full(n, 1.0)]))]
        self.bp_x = np.ones((points.shape[1] + 1, n))
        self.bp_x[:-1] = points.T
        self.onehot = np.zeros((n_classes, n))
        self.onehot[labels, np.arange(n)] = 1.0
        for array, _ in self.ff_batches:
            array.flags.writeable = False
        for array in (self.bp_x, self.onehot):
            array.flags.writeable = False
        self._work: dict = {}

    def __deepcopy__(self, memo: dict) -> ColumnsKernel:
        clone = object.__new__(ColumnsKernel)
        clone.__dict__.update(self.__dict__)  # the read-only inputs are shared
        clone._work = {}
        memo[id(self)] = clone
        return clone

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_work"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._work = {}

    @property
    def shared_inputs(self) -> tuple[np.ndarray, ...]:
        return (*(batch for batch, _ in self.ff_batches), self.bp_x, self.onehot)

    # -- FF -----------------------------------------------------------------------------------
    def _ff_plan(self, net: FFNetwork) -> list:
        """Per layer, once per net: the transposed parameter view, the gradient view and the work
        arrays for every pass (all passes have n or 2n rows)."""
        plan = self._work.get("ff")
        if plan is not None and plan[0] is net.parameters.flat:
            return plan[1]
        m = self.ff_batches[0][0].shape[1]
        layers = []
        gradients = net.gradient.views
        for i, layer in enumerate(net.layers):
            units = layer.n_out
            layers.append(
                (
                    layer.params.T,
                    gradients[i],
                    np.empty((units, m)),  # Y
                    np.empty(m),  # G
                    np.empty(m),  # dL/dG, folded
                    np.empty((units, m)),  # Y * dL/dG
                    _ones_last_row(units + 1, m) if i < len(net.layers) - 1 else None,  # next H
                )
            )
        self._work["ff"] = (net.parameters.flat, layers)
        return layers

    def ff_step(self, net: FFNetwork) -> None:
        """One FF step: a positive pass then a negative pass (or one joint pass), each ending in
        one optimizer update of the net's flat array (as FFNetwork.train_step)."""
        plan = self._ff_plan(net)
        theta = net.theta
        flat, gradient = net.parameters.flat, net.gradient.flat
        for x, one_minus_2t in self.ff_batches:
            h, scale = x, 1.0 / x.shape[1]  # the mean over the pass's rows (2n in the joint schedule)
            for params_t, grad, y, g, d, dy, h_next in plan:
                np.matmul(params_t, h, out=y)
                np.maximum(y, 0.0, out=y)
                _einsum("ij,ij->j", y, y, out=g)
                # dL/dG * dG/dy / n = y * (tanh((G - theta)/2) + 1 - 2t) / n   (FFLayer.local_gradient)
                np.subtract(g, theta, out=d)
                d *= 0.5
                np.tanh(d, out=d)
                d += one_minus_2t
                d *= scale
                np.multiply(y, d, out=dy)
                np.matmul(h, dy.T, out=grad)
                if h_next is not None:  # H' = [Y / (sqrt(G) + eps), 1]
                    np.sqrt(g, out=d)
                    d += EPSILON
                    np.divide(y, d, out=h_next[:-1])
                    h = h_next
            net.optimizer.update(0, flat, gradient)

    # -- backprop -----------------------------------------------------------------------------
    def backprop_step(self, net: BackpropMLP) -> None:
        """One full-batch backprop step: the forward sweep, the backward sweep, one update of the
        net's flat array (as BackpropMLP.train_step)."""
        work = self._work
        plan = work.get("bp")
        if plan is None or plan[0] is not net.parameters.flat:
            classes = net.sizes[-1]
            plan = work["bp"] = (
                net.parameters.flat,
                np.empty((classes, self.n)),  # logits, then delta
                np.empty(self.n),  # the column max, then the sum
                [np.empty((w.shape[0] - 1, self.n)) for w in net.params[1:]],  # deltas below
            )
        _, z, column, deltas = plan
        activations = bp_logits_columns(net, self.bp_x, z, work)
        # softmax over the classes (rows of z): max and sum row by row over whole contiguous rows
        np.copyto(column, z[0])
        for row in z[1:]:
            np.maximum(column, row, out=column)
        z -= column
        np.exp(z, out=z)
        np.copyto(column, z[0])
        for row in z[1:]:
            column += row
        z /= column
        z -= self.onehot
        z *= 1.0 / self.n
        delta = z
        gradients, params = net.gradient.views, net.params
        for i in range(len(params) - 1, -1, -1):
            a = activations[i]
            np.matmul(a, delta.T, out=gradients[i])
            if i:
                delta = np.matmul(params[i][:-1], delta, out=deltas[i - 1])
                delta *= a[:-1] > 0.0
        net.optimizer.update(0, net.parameters.flat, net.gradient.flat)

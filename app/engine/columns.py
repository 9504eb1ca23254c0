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
    next input     H' = [Y / (sqrt(G) + eps), 1]   (ff.normalize with columns=True, as the rows use it)
    backprop       A_i = [ReLU(P_i^T A_i-1), 1], logits Z = P_L^T A_L-1,
                   delta_L = (softmax(Z) - onehot^T) / n, dL/dP_i = A_i-1 delta_i^T,
                   delta_i-1 = (W_i delta_i) * (A_i-1 > 0)   (W_i: P_i without its bias row)

The arithmetic is the same but for the order in which two sums add their terms (the goodness,
and the gradient's product over rows), so the results agree with the row layout to rounding
(about 1e-15 relative per step; tests/unit/test_columns.py), not to the bit. `Race(kernel="rows")`
keeps the row layout, whose float64 results are bit for bit those of earlier versions.

Each net keeps its parameters, gradient buffer and optimizer: a step here is
`FFNetwork.train_step` / `BackpropMLP.train_step` in another layout, nothing else. The kernel
holds the training inputs (read-only, shared by copies); its work arrays are the thread's
(app/engine/workspace.py), shared with every other race the thread runs."""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np

try:  # einsum's C entry point: its Python wrapper costs as much again at these sizes
    from numpy._core.multiarray import c_einsum as c_einsum  # (re-exported: evaluate.py uses it too)
except ImportError:  # pragma: no cover - NumPy 1.x
    c_einsum = np.einsum

from app.engine.backprop import BackpropMLP
from app.engine.ff import FFNetwork, embed_label, length_from_goodness, normalize, wrong_labels
from app.engine.workspace import Bound, Workspace, workspace

_ZEROS: dict[Any, np.ndarray] = {}  # dtype -> a flat read-only array of zeros, as long as needed yet
_ZERO_VIEWS: dict[tuple[tuple[int, ...], Any], np.ndarray] = {}  # (shape, dtype) -> a view of it
ZERO_VIEWS_KEPT = 64
_ZEROS_LOCK = threading.Lock()


def _zeros(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Read-only zeros of `shape`: ReLU as `np.maximum(y, zeros)` costs less than
    `np.maximum(y, 0.0)` here (NumPy's loop for a scalar operand is not its fast contiguous one:
    3.7 against 4.8 us on a 12 x 2,048 float32 array, bench/engine_parts.py), with the same result.
    Every shape is a view of one flat array per dtype (as long as the largest shape asked for), so
    the memory is that one array whatever shapes a process meets."""
    key = (shape, dtype)
    zeros = _ZERO_VIEWS.get(key)
    if zeros is not None:
        return zeros
    with _ZEROS_LOCK:  # engine threads (FF_ENGINE_PROCESSES=0) may meet a new shape at once
        size = 1
        for extent in shape:
            size *= extent
        flat = _ZEROS.get(dtype)
        if flat is None or flat.size < size:
            flat = np.zeros(max(size, 2 * (0 if flat is None else flat.size)), dtype)
            flat.flags.writeable = False
            _ZEROS[dtype] = flat
            _ZERO_VIEWS.clear()  # views of the old array stay valid where they are held
        zeros = flat[:size].reshape(shape)
        if len(_ZERO_VIEWS) >= ZERO_VIEWS_KEPT:
            _ZERO_VIEWS.pop(next(iter(_ZERO_VIEWS)))
        _ZERO_VIEWS[key] = zeros
    return zeros


def relu_(y: np.ndarray) -> np.ndarray:
    """y = max(y, 0) in place (a C-contiguous y), against the shared zeros of its shape."""
    return np.maximum(y, _zeros(y.shape, y.dtype), out=y)


def ff_goodness_columns(
    net: FFNetwork, x: np.ndarray, table: np.ndarray, work: tuple[tuple[np.ndarray, ...], np.ndarray] | None = None
) -> np.ndarray:
    """Evaluation's FF pass of `net` in (units, rows): `x` is (inputs + 1, m) with its ones row,
    `table` (layers, m) receives each layer's goodness G. The same pass as ff.forward_pass, transposed:
    Y = ReLU(P^T H), G = sum_j Y_j^2, H' = [Y / (sqrt(G) + eps), 1].

    Into the last layer the division by the length s = sqrt(G) + eps is not done: ReLU is
    positively homogeneous, so ReLU(W^T (Y / s) + b) = ReLU(W^T Y + b s) / s, and the last layer
    reads H'' = [Y, s] (s in the bias row) and divides its goodness by s^2, one number per row,
    instead of dividing the (units, m) activities (the dearest operation of the pass). Only at
    the last layer, so that no two lengths multiply. The same numbers to rounding. `work` is
    goodness_work(net, m, dtype), fetched here when not given."""
    layers = net.layers
    m, last = x.shape[1], len(layers) - 1
    dtype = x.dtype
    out, s = work if work is not None else goodness_work(net, m, dtype)
    h = x
    for i, layer in enumerate(layers):
        params = layer.params if layer.params.dtype == dtype else layer.params.astype(dtype)
        y = out[i] if i == last else out[i][:-1]
        np.matmul(params.T, h, out=y)
        relu_(y)
        g = c_einsum("ij,ij->j", y, y, out=table[i])
        if i == last:
            if last:  # G = |ReLU(W^T Y + b s)|^2 / s^2, s in the bias row of the input
                length = h[-1]
                np.multiply(length, length, out=length)
                g /= length
            break
        h = out[i]
        if i == last - 1:  # H'' = [Y, s]
            length_from_goodness(g, out=h[-1])
        else:  # H' = [Y / s, 1]
            normalize(y, g=g, out=y, columns=True, length=s)
    return table


def goodness_work(net: FFNetwork, m: int, dtype: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """ff_goodness_columns' work arrays over m rows: per layer its activities Y (the last layer)
    or its next input (Y written straight into it): [Y, s] before the last layer (a temporary),
    [Y / s, 1] before the others (with its ones row kept); and s."""
    space = workspace()
    widths = net.hidden_sizes
    work = space.temporaries(("ff goodness", widths, m, dtype), _goodness_specs(widths, m, dtype))
    early = widths[:-2]  # the race's 1 or 2 layers have none: every array is a temporary
    inputs = space.with_ones_rows(("ff goodness inputs", widths, m, dtype), tuple((u + 1, m) for u in early), dtype)
    return (*inputs, *work[:-1]), work[-1]


@functools.lru_cache(maxsize=64)
def _goodness_specs(widths: tuple[int, ...], m: int, dtype: Any) -> tuple:
    """Temporaries of ff_goodness_columns: [Y, s] of the layer before the last (if any), Y of the
    last layer, and s."""
    before_last = (((widths[-2] + 1, m), dtype),) if len(widths) > 1 else ()
    return (*before_last, ((widths[-1], m), dtype), ((m,), dtype))


def bp_logits_columns(net: BackpropMLP, x: np.ndarray, logits: np.ndarray, activations: tuple) -> None:
    """Backprop's forward sweep in (units, rows): `x` is (inputs + 1, m) with its ones row,
    `logits` (classes, m) receives P_L^T A_L-1, and `activations` (one (units + 1, m) array per
    hidden layer whose last row is 1: bp_activations) A_1, ..., A_L-1."""
    h = x
    params = net.params
    dtype = x.dtype
    for p, a in zip(params[:-1], activations, strict=True):
        if p.dtype != dtype:
            p = p.astype(dtype)
        z = a[:-1]  # the leading rows of a C-contiguous array: contiguous
        np.matmul(p.T, h, out=z)
        relu_(z)
        h = a
    last = params[-1] if params[-1].dtype == dtype else params[-1].astype(dtype)
    np.matmul(last.T, h, out=logits)


def bp_activations(sizes: tuple[int, ...], m: int, dtype: Any) -> tuple[np.ndarray, ...]:
    """The thread's arrays for each hidden layer's activations [A, 1] over m rows, for a backprop
    net of layer `sizes` (their ones rows set once)."""
    space = workspace()
    key = ("bp activations", sizes, m, dtype)
    return space.with_ones_rows(key, tuple((units + 1, m) for units in sizes[1:-1]), dtype)


class ColumnsKernel:
    """The race's FF step and backprop step in (units, rows), for a race's training points.

    Built once per race from its points and labels (2 labels, as the race has); a copy (a fork, a
    checkpoint) shares the read-only inputs. Work arrays are the thread's (app/engine/workspace.py)."""

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
        self._plans = Bound()  # the steps' work arrays in the thread's workspace: _ff_plan, _bp_plan

    def __deepcopy__(self, memo: dict) -> ColumnsKernel:
        clone = object.__new__(ColumnsKernel)
        clone.__dict__.update(self.__dict__)  # the read-only inputs are shared
        clone._plans = Bound()
        memo[id(self)] = clone
        return clone

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_plans"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._plans = Bound()

    @property
    def shared_inputs(self) -> tuple[np.ndarray, ...]:
        return (*(batch for batch, _ in self.ff_batches), self.bp_x, self.onehot)

    # -- FF -----------------------------------------------------------------------------------
    def _ff_plan(self, net: FFNetwork) -> list:
        """Per layer: the transposed parameter view, the gradient view and the work arrays of the
        step (all passes have m = n or 2n rows): Y, G, dL/dG (folded), Y * dL/dG from the thread's
        temporaries, and for all but the last layer the next input [H', 1] (its ones row kept).
        Made once per net and thread, and again when the thread's arena has grown."""

        def make(space: Workspace) -> list:
            m = self.ff_batches[0][0].shape[1]
            widths = net.hidden_sizes
            specs: list = []
            for units in widths:
                specs += [((units, m), np.float64), ((m,), np.float64), ((m,), np.float64), ((units, m), np.float64)]
            work = space.temporaries(("ff step", widths, m), tuple(specs))
            inputs = space.with_ones_rows(("ff step inputs", widths, m), tuple((units + 1, m) for units in widths[:-1]))
            return [
                (layer.params.T, gradient, *work[4 * i : 4 * i + 4], inputs[i] if i < len(inputs) else None)
                for i, (layer, gradient) in enumerate(zip(net.layers, net.gradient.views, strict=True))
            ]

        plan: list = self._plans.get("ff", make, tied_to=net.parameters.flat)
        return plan

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
                relu_(y)
                c_einsum("ij,ij->j", y, y, out=g)
                # dL/dG * dG/dy / n = y * (tanh((G - theta)/2) + 1 - 2t) / n   (FFLayer.local_gradient)
                np.subtract(g, theta, out=d)
                d *= 0.5
                np.tanh(d, out=d)
                d += one_minus_2t
                d *= scale
                np.multiply(y, d, out=dy)
                np.matmul(h, dy.T, out=grad)
                if h_next is not None:  # H' = [Y / (sqrt(G) + eps), 1], d holding the lengths
                    normalize(y, g=g, out=h_next[:-1], columns=True, length=d)
                    h = h_next
            net.optimizer.update(0, flat, gradient)

    # -- backprop -----------------------------------------------------------------------------
    def _bp_plan(self, net: BackpropMLP) -> tuple:
        """The backprop step's work arrays, as _ff_plan's: the logits (then delta) and the column
        max (then the sum) and the deltas below the last layer from the thread's temporaries, the
        activations [x, A_1, ..., A_L-1] with their ones rows."""

        def make(space: Workspace) -> tuple:
            n, sizes = self.n, net.sizes
            below = (((units, n), np.float64) for units in sizes[1:-1])
            specs = (((sizes[-1], n), np.float64), ((n,), np.float64), *below)
            work = space.temporaries(("bp step", sizes, n), specs)
            hidden = bp_activations(sizes, n, np.float64)
            return (work[0], work[1], work[2:], hidden, (self.bp_x, *hidden))

        plan: tuple = self._plans.get("bp", make, tied_to=net.parameters.flat)
        return plan

    def backprop_step(self, net: BackpropMLP) -> None:
        """One full-batch backprop step: the forward sweep, the backward sweep, one update of the
        net's flat array (as BackpropMLP.train_step)."""
        z, column, below, hidden, activations = self._bp_plan(net)
        bp_logits_columns(net, self.bp_x, z, hidden)
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
                delta = np.matmul(params[i][:-1], delta, out=below[i - 1])
                delta *= a[:-1] > 0.0
        net.optimizer.update(0, net.parameters.flat, net.gradient.flat)

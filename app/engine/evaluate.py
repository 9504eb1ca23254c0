"""The race's batched evaluation: every snapshot metric and both decision grids from one forward pass per net.

A snapshot used to run a dozen small NumPy passes (FF once per label for train, test and grid,
backprop three times). At 300-1,024 rows every NumPy call costs about as much Python overhead as
arithmetic, and holds the GIL, so the server's uncached frames were CPU-bound on call count.
Here the inputs are built once per race and laid out so that one FF pass and one backprop pass
over a prefix of the rows answer everything:

    FF rows:        [train x label 0, train x label 1 | test x labels | grid x labels]
    backprop rows:  [train | test | grid]

The train segment alone gives the training accuracies (the CLI's per-step check), train + test
the snapshot without grids, all three the full snapshot. Scratch buffers are allocated once per
evaluator on first use; a deep copy (a checkpoint fork) shares the read-only inputs and gets its
own scratch, so forks never write into each other's buffers and checkpoints stay small.

With `layout="columns"` (the race's default kernel, app/engine/columns.py) the same rows are read
transposed, (features + 1, rows), and pass through the columns kernel's forward passes: train and
test in float64 (every number the snapshot reports), the grid in its own float32 pass (GRID_DTYPE:
the decision grids and layer maps are only drawn, at 8 bits). `layout="rows"` is the arithmetic of
earlier versions, bit for bit.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass

import numpy as np

from app.engine.backprop import BackpropMLP
from app.engine.columns import bp_logits_columns, c_einsum, ff_goodness_columns, goodness_work
from app.engine.ff import FFNetwork, embed_label, forward_pass
from app.engine.scratch import Scratch
from app.engine.workspace import Bound, workspace

LAYOUTS = ("columns", "rows")  # the kernel a race runs: app/engine/columns.py, or ff.py and backprop.py
GRID_DTYPE = np.float32  # the columns layout's decision grids and layer maps (drawn at 8 bits)


@dataclass(frozen=True)
class FFEvaluation:
    train_accuracy: float
    test_accuracy: float
    loss: float
    goodness_positive: list[float]
    goodness_negative: list[float]
    layer_test_accuracy: list[float]  # each layer's goodness alone deciding
    grid: np.ndarray | None  # (n_grid,) P(label 0); None when the grid was not asked for
    # (layers, labels, m, m) float64: each layer's grid goodness averaged in blocks (layer_maps); idem
    layer_maps: np.ndarray | None


@dataclass(frozen=True)
class BackpropEvaluation:
    train_accuracy: float
    test_accuracy: float
    loss: float
    grid: np.ndarray | None  # (n_grid,) P(label 0); None when the grid was not asked for


def _embedded(
    segments: tuple[np.ndarray, ...], n_labels: int, input_normalization: str
) -> tuple[np.ndarray, np.ndarray]:
    """The FF rows [points, one-hot label] (each segment once per label) and the backprop rows
    [points, 1] of the segments, in order."""
    d = segments[0].shape[1]
    total = sum(len(points) for points in segments)
    ff_inputs = np.empty((n_labels * total, d + n_labels + 1))
    row = 0
    for points in segments:
        for label in range(n_labels):
            block = ff_inputs[row : row + len(points)]
            embed_label(
                points, np.full(len(points), label), n_labels, out=block, input_normalization=input_normalization
            )
            row += len(points)
    bp_inputs = np.ones((total, d + 1))
    bp_inputs[:, :-1] = np.concatenate(segments)
    return ff_inputs, bp_inputs


_GRID_COLUMNS: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
_GRID_COLUMNS_KEPT = 8  # grids (size, normalization) kept at once; a race's settings pick one
_GRID_COLUMNS_LOCK = threading.Lock()


def _grid_columns(
    grid: np.ndarray, n_labels: int, input_normalization: str, ff_rows: np.ndarray, bp_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The grid's FF and backprop inputs transposed in GRID_DTYPE, read-only and shared by every race
    of the process with the same grid (they depend on the grid and the input normalization only)."""
    key = (
        hashlib.blake2b(np.ascontiguousarray(grid).tobytes(), digest_size=16).digest(),
        n_labels,
        input_normalization,
    )
    with _GRID_COLUMNS_LOCK:  # races may be built in several engine threads at once
        columns = _GRID_COLUMNS.get(key)
        if columns is None:
            columns = (ff_rows.T.astype(GRID_DTYPE), bp_rows.T.astype(GRID_DTYPE))
            for array in columns:
                array.flags.writeable = False
            if len(_GRID_COLUMNS) >= _GRID_COLUMNS_KEPT:
                del _GRID_COLUMNS[next(iter(_GRID_COLUMNS))]
            _GRID_COLUMNS[key] = columns
    return columns


TRAIN, TEST, GRID = 1, 2, 3  # how many segments to evaluate: a prefix of [train | test | grid]


class RaceEvaluator:
    """Read-only embedded inputs for (train, test, grid) and the scratch to push them through."""

    def __init__(
        self,
        train_x: np.ndarray,
        train_y: np.ndarray,
        test_x: np.ndarray,
        test_y: np.ndarray,
        grid: np.ndarray,
        n_labels: int,
        input_normalization: str = "none",
        layout: str = "rows",
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
        self.layout = layout
        self.n_labels = n_labels
        self.train_y, self.test_y = train_y, test_y
        self.grid_side = math.isqrt(len(grid))
        if self.grid_side**2 != len(grid):
            raise ValueError(f"the grid must be square; got {len(grid)} points")
        segments = (train_x, test_x, grid)
        self.sizes = tuple(len(points) for points in segments)
        # Row where each segment starts and the prefix lengths that end after it, for both nets.
        self.ff_ends = tuple(n_labels * sum(self.sizes[: k + 1]) for k in range(3))
        self.bp_ends = tuple(sum(self.sizes[: k + 1]) for k in range(3))
        ff_inputs, bp_inputs = _embedded(segments, n_labels, input_normalization)
        n = len(train_y)
        self._train_index = np.arange(n)
        is_true = np.zeros((n_labels, n))
        is_true[train_y, np.arange(n)] = 1.0
        # Per (label, point) of the train segment: which mean each row enters, and its weight.
        # Row 0: mean over the n positives; row 1: mean over the n (K - 1) negatives.
        self.mean_weights = np.stack([is_true / n, (1.0 - is_true) / (n * (n_labels - 1))])
        # The layer loss softplus(z) - t z equals softplus(-z) for t = 1 and softplus(z) for t = 0.
        self.loss_sign = 1.0 - 2.0 * is_true
        self.loss_weights = self.mean_weights.sum(axis=0)
        self.onehot_over_n = is_true / n  # (classes, n): backprop's true-class logit, averaged
        self.class_zero_sign = 1.0 - 2.0 * (np.asarray(train_y) == 1)  # +1 for class 0, -1 for class 1
        self.mean_weights_t = self.mean_weights.reshape(2, -1).T.copy()  # (labels x n, pos/neg)
        # The rows layout keeps the embedded rows. The columns layout reads them transposed,
        # (features + 1, rows): train and test in float64, the grid in float32 (GRID_DTYPE; it is
        # only drawn, see the module doc), the grid's shared by every race with the same grid.
        self.ff_inputs: np.ndarray | None = None
        self.bp_inputs: np.ndarray | None = None
        self.ff_columns: np.ndarray | None = None
        self.bp_columns: np.ndarray | None = None
        self.ff_grid_columns: np.ndarray | None = None
        self.bp_grid_columns: np.ndarray | None = None
        if layout == "columns":
            self.ff_columns = ff_inputs[: self.ff_ends[1]].T.copy()
            self.bp_columns = bp_inputs[: self.bp_ends[1]].T.copy()
            self.ff_grid_columns, self.bp_grid_columns = _grid_columns(
                grid, n_labels, input_normalization, ff_inputs[self.ff_ends[1] :], bp_inputs[self.bp_ends[1] :]
            )
        else:
            self.ff_inputs, self.bp_inputs = ff_inputs, bp_inputs
        for array in (
            ff_inputs,
            bp_inputs,
            self.mean_weights,
            self.mean_weights_t,
            self.loss_sign,
            self.loss_weights,
            self.onehot_over_n,
            self.class_zero_sign,
        ):
            array.flags.writeable = False
        for array in (self.ff_columns, self.bp_columns, self.ff_grid_columns, self.bp_grid_columns):
            if array is not None:
                array.flags.writeable = False
        # Columns layout, 2 labels and as many test as training points (the race's data): every
        # accuracy (train, test, each layer's test) from one comparison over (scores, segment,
        # label, point), against whether each point's label is 1 (segment 0 train, 1 test).
        self.label_is_one: np.ndarray | None = None
        if layout == "columns" and n_labels == 2 and len(train_y) == len(test_y):
            self.label_is_one = np.stack([train_y, test_y]).astype(bool)
            self.label_is_one.flags.writeable = False
        self._scratch = Scratch()  # the rows layout's; the columns layout's are the thread's
        # The columns layout's work arrays in the thread's workspace, by name (the shapes behind a
        # name are fixed: the race's nets and inputs do not change).
        self._work = Bound()

    def __deepcopy__(self, memo: dict) -> RaceEvaluator:
        # Everything but the scratch is read-only: share it. Scratch is per instance (see module doc).
        clone = object.__new__(RaceEvaluator)
        clone.__dict__.update(self.__dict__)
        clone._scratch = Scratch()
        clone._work = Bound()
        memo[id(self)] = clone
        return clone

    def __getstate__(self) -> dict[str, object]:
        # A pickle carries the inputs, not the work arrays (as a deep copy).
        return {**self.__dict__, "_scratch": Scratch(), "_work": Bound()}

    # -- forward passes: the nets' own, over a range of rows ----------------------------------

    def ff_goodness(self, net: FFNetwork, start: int, stop: int) -> np.ndarray:
        """(n_layers, stop - start): each layer's goodness for FF rows [start, stop)."""
        if self.ff_columns is not None:  # rows of the train and test segments
            shape = (len(net.layers), stop - start)
            table = workspace().result(("ff goodness", shape), shape)
            return ff_goodness_columns(net, self.ff_columns[:, start:stop], table)
        assert self.ff_inputs is not None, "the rows layout"
        table = self._scratch.table("ff_goodness", len(net.layers), self.ff_ends[-1])[:, : stop - start]
        for _ in forward_pass(net.layers, self.ff_inputs[start:stop], self._scratch, goodness_out=table):
            pass
        return table

    def bp_logits(self, net: BackpropMLP, start: int, stop: int) -> np.ndarray:
        """(classes, stop - start): backprop's logits for rows [start, stop), one row per class,
        so that the reductions over classes run along contiguous memory (7x cheaper here)."""
        if self.bp_columns is not None:
            return self._bp_logits_columns(net, self.bp_columns[:, start:stop])
        assert self.bp_inputs is not None, "the rows layout"
        logits = self._scratch.table("bp_logits", net.sizes[-1], self.bp_ends[-1])[:, : stop - start]
        net.forward(self.bp_inputs[start:stop], self._scratch, logits_out=logits.T)
        return logits

    def _grid_tables(self, net: FFNetwork) -> np.ndarray:
        """Columns layout: (layers, labels x grid points) FF goodness over the grid, in GRID_DTYPE."""
        inputs = self.ff_grid_columns
        assert inputs is not None, "the columns layout's grid"
        shape = (len(net.layers), inputs.shape[1])
        table, work = self._work.get(
            "ff grid",
            lambda space: (
                space.result(("ff grid goodness", shape), shape, GRID_DTYPE),
                goodness_work(net, shape[1], GRID_DTYPE),
            ),
        )
        return ff_goodness_columns(net, inputs, table, work)

    def _ff_grid_columns(self, net: FFNetwork) -> tuple[np.ndarray, np.ndarray]:
        """Columns layout: P(label 0) over the grid (float64, new) and the (layers, labels, n_grid)
        goodness (GRID_DTYPE, a view of scratch), from one float32 pass over the grid's rows."""
        table = self._grid_tables(net)
        totals = self._totals(net, table).reshape(self.n_labels, self.sizes[2])
        return _probability_first(totals), table.reshape(len(table), self.n_labels, self.sizes[2])

    def _bp_grid_columns(self, net: BackpropMLP) -> np.ndarray:
        """Columns layout: backprop's P(class 0) over the grid (float64, new), from a float32 sweep."""
        inputs = self.bp_grid_columns
        assert inputs is not None, "the columns layout's grid"
        return _probability_first(self._bp_logits_columns(net, inputs))

    def _bp_logits_columns(self, net: BackpropMLP, x: np.ndarray) -> np.ndarray:
        """Columns layout: (classes, m) logits of (inputs + 1, m) rows `x`, in x's dtype (a result
        of the thread's workspace)."""
        m, dtype = x.shape[1], x.dtype
        logits, hidden = self._work.get(
            ("bp sweep", m, dtype),
            lambda space: (
                space.result(("bp logits", net.sizes[-1], m, dtype), (net.sizes[-1], m), dtype),
                space.temporaries(
                    ("bp sweep", net.sizes, m, dtype), tuple(((u + 1, m), dtype) for u in net.sizes[1:-1])
                ),
            ),
        )
        for a in hidden:  # temporaries (in the memory the FF passes just used): their ones rows anew
            a[-1] = 1.0
        bp_logits_columns(net, x, logits, hidden)
        return logits

    # -- what the snapshot reports -------------------------------------------------------------

    def _segment(self, array: np.ndarray, k: int) -> np.ndarray:
        """(..., n_labels, n) view of segment k of FF rows (the last axis) that start at row 0."""
        begin = self.ff_ends[k - 1] if k else 0
        return array[..., begin : self.ff_ends[k]].reshape(*array.shape[:-1], self.n_labels, self.sizes[k])

    def _totals(self, net: FFNetwork, table: np.ndarray) -> np.ndarray:
        """Each row's goodness summed over the layers the net's inference rule counts."""
        counted = net.counted_layers
        rows = table if len(counted) == len(table) else table[list(counted)]
        # Two rows (the race's 2 layers): one addition, the same numbers as the reduction over axis 0.
        return np.add(rows[0], rows[1]) if len(rows) == 2 else rows.sum(axis=0)

    def ff_train_accuracy(self, net: FFNetwork) -> float:
        """FF's accuracy on the training points: the train segment alone (the CLI's per-step check)."""
        columns = self.ff_columns is not None
        totals = self._totals(net, self.ff_goodness(net, 0, self.ff_ends[TRAIN - 1]))
        return _accuracy(self._segment(totals, 0), self.train_y, columns)

    def _ff_accuracies(self, net: FFNetwork) -> tuple[np.ndarray, float, float, list[float]]:
        """Columns layout: (goodness table, train accuracy, test accuracy, each layer's test
        accuracy) over the FF rows of train and test. With `label_is_one` the table and the
        counted total share one (layers + 1, rows) array, so that one comparison decides every
        point for every row of it."""
        layers, stop = len(net.layers), self.ff_ends[TEST - 1]
        scores, work = self._work.get(
            ("ff scores", stop),
            lambda space: (
                space.result(("ff scores", layers, stop), (layers + 1, stop)),
                goodness_work(net, stop, np.float64),
            ),
        )
        assert self.ff_columns is not None, "the columns layout"
        table = ff_goodness_columns(net, self.ff_columns[:, :stop], scores[:layers], work)
        counted = net.counted_layers
        rows = table if len(counted) == layers else table[list(counted)]
        if len(rows) == 2:  # the race's 2 layers: one addition, the numbers of the sum over axis 0
            np.add(rows[0], rows[1], out=scores[layers])
        else:
            rows.sum(axis=0, out=scores[layers])
        if self.label_is_one is None:
            totals = scores[layers]
            return (
                table,
                _accuracy(self._segment(totals, 0), self.train_y, True),
                _accuracy(self._segment(totals, 1), self.test_y, True),
                _layer_accuracies(self._segment(table, 1), self.test_y, True),
            )
        # (scores, segment, label, point): label 1 wins only when strictly larger (argmax's ties)
        by_label = scores.reshape(layers + 1, 2, 2, self.sizes[0])
        right = np.greater(by_label[:, :, 1], by_label[:, :, 0]) == self.label_is_one
        counts = right.sum(axis=-1)  # (scores, segment)
        train_right, test_right = counts[layers].tolist()
        n = self.sizes[0]
        return table, train_right / n, test_right / n, [count / n for count in counts[:layers, 1].tolist()]

    def ff(self, net: FFNetwork, theta: float, grid: bool = True) -> FFEvaluation:
        upto = GRID if grid else TEST
        columns = self.ff_columns is not None  # the grid in its own float32 pass
        if columns:
            table, train_acc, test_acc, layer_test = self._ff_accuracies(net)
            totals = None  # the grid has its own pass
        else:
            table = self.ff_goodness(net, 0, self.ff_ends[upto - 1])
            totals = self._totals(net, table)
            # argmax over labels picks the first label on a tie, as FFNetwork.predict does.
            train_acc = _accuracy(self._segment(totals, 0), self.train_y)
            test_acc = _accuracy(self._segment(totals, 1), self.test_y)
            layer_test = _layer_accuracies(self._segment(table, 1), self.test_y)  # each layer alone
        train = self._segment(table, 0)  # (layers, labels, n)
        if columns:
            shape = train.shape
            z, work = self._work.get(
                "ff loss", lambda space: space.temporaries(("ff loss", shape), ((shape, np.float64),) * 2)
            )
        else:
            z = self._scratch.rows("ff_loss", len(train), train[0].size).reshape(train.shape)
        np.subtract(train, theta, out=z)
        z *= self.loss_sign
        if columns:
            # The same sums as one matrix product and softplus(z) = max(z, 0) + log1p(exp(-|z|)):
            # np.logaddexp costs three times these six operations (equal to rounding).
            means = np.matmul(train.reshape(len(train), -1), self.mean_weights_t).T  # (pos/neg, layers)
            _softplus(z, work)
        else:
            means = np.einsum("kln,sln->sk", train, self.mean_weights)  # (pos/neg, layers)
            np.logaddexp(0.0, z, out=z)
        loss = float((c_einsum if columns else np.einsum)("kln,ln->", z, self.loss_weights))
        grid_p: np.ndarray | None = None
        maps: np.ndarray | None = None
        if grid and columns:
            grid_p, grid_goodness = self._ff_grid_columns(net)
            maps = pooled_layer_maps(grid_goodness, self.grid_side)
        elif grid:
            assert totals is not None, "the rows layout's totals"
            grid_p = _softmax_first(self._segment(totals, 2))
            maps = layer_maps(self._segment(table, 2), self.grid_side)
        return FFEvaluation(train_acc, test_acc, loss, means[0].tolist(), means[1].tolist(), layer_test, grid_p, maps)

    def ff_grid(self, net: FFNetwork) -> np.ndarray:
        """P(label 0) over the grid alone: the grid rows of every label, nothing else."""
        if self.ff_grid_columns is not None:
            return self._ff_grid_columns(net)[0]
        totals = self._totals(net, self.ff_goodness(net, self.ff_ends[1], self.ff_ends[2]))
        return _softmax_first(totals.reshape(self.n_labels, self.sizes[2]))

    def backprop_train_accuracy(self, net: BackpropMLP) -> float:
        """Backprop's accuracy on the training points: the train segment alone."""
        columns = self.bp_columns is not None
        return _accuracy(self.bp_logits(net, 0, self.bp_ends[TRAIN - 1]), self.train_y, columns)

    def backprop(self, net: BackpropMLP, grid: bool = True) -> BackpropEvaluation:
        if self.bp_columns is not None:
            return self._backprop_columns(net, grid)
        stop = self.bp_ends[(GRID if grid else TEST) - 1]
        logits = self.bp_logits(net, 0, stop)
        n_train, n_test, _ = self.sizes
        train_acc = _accuracy(logits[:, :n_train], self.train_y)
        test_acc = _accuracy(logits[:, n_train : n_train + n_test], self.test_y)
        # The log-sum-exp of cross_entropy and the softmax of the grid share one exp.
        z = self._scratch.table("bp_z", len(logits), self.bp_ends[-1])[:, :stop]
        # (For 2 classes the max and the sum of the two rows in one operation each: the same numbers
        # as the reductions over axis 0, which run their loop once per point.)
        np.subtract(logits, np.maximum(logits[0], logits[1]) if len(logits) == 2 else logits.max(axis=0), out=z)
        e = self._scratch.table("bp_exp", len(logits), self.bp_ends[-1])[:, :stop]
        np.exp(z, out=e)
        sums = np.add(e[0], e[1]) if len(e) == 2 else e.sum(axis=0)
        loss = float(np.mean(np.log(sums[:n_train]) - z[self.train_y, self._train_index]))
        grid_p = e[0, self.bp_ends[1] :] / sums[self.bp_ends[1] :] if grid else None
        return BackpropEvaluation(train_acc, test_acc, loss, grid_p)

    def _backprop_columns(self, net: BackpropMLP, grid: bool) -> BackpropEvaluation:
        """Columns layout: the train and test rows in float64, the grid in its own float32 sweep.
        For 2 classes (the race) every number comes from the logit difference d = z_1 - z_0: a
        point is called class 1 when d > 0 (exactly when z_1 > z_0, argmax's tie rule), and its
        cross-entropy is softplus(d) for class 0, softplus(-d) for class 1."""
        n_train, n_test, _ = self.sizes
        logits = self.bp_logits(net, 0, n_train + n_test)
        grid_p = self._bp_grid_columns(net) if grid else None
        if self.label_is_one is None or len(logits) != 2:
            train_acc = _accuracy(logits[:, :n_train], self.train_y, True)
            test_acc = _accuracy(logits[:, n_train:], self.test_y, True)
            return BackpropEvaluation(train_acc, test_acc, self._bp_loss_columns(logits[:, :n_train]), grid_p)
        d, z, work = self._work.get(
            "bp metrics",
            lambda space: space.temporaries(
                ("bp metrics", n_train),
                (((2, n_train), np.float64), ((n_train,), np.float64), ((n_train,), np.float64)),
            ),
        )
        np.subtract(logits[1], logits[0], out=d.reshape(-1))
        train_right, test_right = (np.greater(d, 0.0) == self.label_is_one).sum(axis=-1).tolist()
        np.multiply(d[0], self.class_zero_sign, out=z)
        loss = float(_softplus(z, work).sum()) / n_train
        return BackpropEvaluation(train_right / n_train, test_right / n_test, loss, grid_p)

    def _bp_loss_columns(self, logits: np.ndarray) -> float:
        """Columns layout, any number of classes: the mean cross-entropy of (classes, n) training
        logits, mean(log sum_c e^(z_c - max)) - mean(z_true - max), the second mean as one dot
        product with the one-hot labels over n (where the rows layout indexes z[label, point])."""
        n = logits.shape[1]
        z, e = workspace().temporaries(("bp loss", len(logits), n), (((len(logits), n), np.float64),) * 2)
        np.subtract(logits, np.maximum(logits[0], logits[1]) if len(logits) == 2 else logits.max(axis=0), out=z)
        np.exp(z, out=e)
        sums = np.add(e[0], e[1]) if len(e) == 2 else e.sum(axis=0)
        np.log(sums, out=sums)
        return float(sums.mean() - _einsum_full(z, self.onehot_over_n))

    def bp_grid(self, net: BackpropMLP) -> np.ndarray:
        if self.bp_grid_columns is not None:
            return self._bp_grid_columns(net)
        return _softmax_first(self.bp_logits(net, self.bp_ends[1], self.bp_ends[2]))


def _einsum_full(a: np.ndarray, b: np.ndarray) -> float:
    """sum(a * b) of two (rows, n) arrays, in one call."""
    return float(c_einsum("ij,ij->", a, b))


def _right(scores: np.ndarray, labels: np.ndarray, compare: bool) -> np.ndarray:
    """Whether each point's highest score (over axis -2: labels or classes) is its label.

    With `compare` (the columns kernel) two labels are decided by one comparison over whole rows
    (an argmax over an axis of 2 runs its loop once per point): label 1 wins only when strictly
    larger, as argmax breaks ties; only a NaN score (a diverged net) is read otherwise than argmax
    reads it, which is why the rows kernel keeps argmax."""
    if compare and scores.shape[-2] == 2:
        right = np.greater(scores[..., 1, :], scores[..., 0, :]) == labels.astype(bool)
    else:
        right = np.argmax(scores, axis=-2) == labels
    return right


def _accuracy(scores: np.ndarray, labels: np.ndarray, compare: bool = False) -> float:
    """The fraction of points whose highest score over (labels or classes, n) is their label (_right)."""
    return np.count_nonzero(_right(scores, labels, compare)) / len(labels)


def _layer_accuracies(scores: np.ndarray, labels: np.ndarray, compare: bool = False) -> list[float]:
    """_accuracy for each leading index of (layers, labels, n) scores."""
    right = _right(scores, labels, compare)
    # count_nonzero with an axis goes through a slower Python path: one row at a time is cheaper.
    return [np.count_nonzero(row) / len(labels) for row in right]


SOFTPLUS_DIRECT_BELOW = 700.0  # e^z is finite in float64 up to z = 709.78


def _softplus(z: np.ndarray, work: np.ndarray) -> np.ndarray:
    """softplus(z) = log(1 + e^z) in place; `work` is an array of z's shape. While every z is
    below SOFTPLUS_DIRECT_BELOW, as log1p(exp(z)) (two operations, exact to rounding: for large z,
    log1p(e^z) = z + log1p(e^-z) rounds to z as the sum does); otherwise as
    max(z, 0) + log1p(e^-|z|), which never overflows."""
    if z.max() < SOFTPLUS_DIRECT_BELOW:
        np.exp(z, out=z)
        return np.log1p(z, out=z)
    np.abs(z, out=work)
    np.negative(work, out=work)
    np.exp(work, out=work)
    np.log1p(work, out=work)
    np.maximum(z, 0.0, out=z)
    z += work
    return z


def _probability_first(scores: np.ndarray) -> np.ndarray:
    """(classes, n) scores -> a new float64 (n,) array of softmax probability of class 0; for two
    classes as sigma(s_0 - s_1) = (1 + tanh((s_0 - s_1) / 2)) / 2, which never overflows, in five
    operations over whole rows (the columns layout's grids), in the scores' dtype."""
    if len(scores) != 2:
        return _softmax_first(scores).astype(np.float64)
    d = np.subtract(scores[0], scores[1])  # in the scores' own dtype (float32 for the grids)
    d *= 0.5
    np.tanh(d, out=d)
    p = np.multiply(d, 0.5, dtype=np.float64)  # widened here
    p += 0.5
    return p


def _softmax_first(scores: np.ndarray) -> np.ndarray:
    """(classes, n) scores -> a new (n,) array of softmax probability of class 0."""
    e = scores - scores.max(axis=0)
    np.exp(e, out=e)
    return e[0] / e.sum(axis=0)


def map_side(size: int, largest: int = 16) -> int:
    """The side of the layer maps of a `size` x `size` grid: halved while above `largest` and even."""
    while size > largest and size % 2 == 0:
        size //= 2
    return size


def layer_maps(goodness: np.ndarray, size: int, largest: int = 16) -> np.ndarray:
    """(layers, labels, size*size) grid goodness -> (layers, labels, m, m) with m = map_side(size):
    2x2 blocks averaged, so each map cell is the mean of the cells it covers (the rows layout)."""
    maps = goodness.reshape(*goodness.shape[:2], size, size)
    while size > largest and size % 2 == 0:
        size //= 2
        block = maps.reshape(*maps.shape[:2], size, 2, size, 2)
        # The mean of each 2x2 block as NumPy's mean over both block axes adds it (the same bits),
        # in four whole-array operations instead of a reduction over short axes (5x dearer).
        maps = block[:, :, :, 0, :, 0] + block[:, :, :, 0, :, 1]
        maps += block[:, :, :, 1, :, 0] + block[:, :, :, 1, :, 1]
        maps /= 4
    return maps


_POOLING: dict[tuple[int, int, np.dtype], np.ndarray] = {}


def pooled_layer_maps(goodness: np.ndarray, size: int) -> np.ndarray:
    """layer_maps of the columns layout's float32 grid goodness, as float64: the same block means
    (to float32 rounding) in two operations. With m = map_side(size) and f = size / m, a matrix
    product with P (size, m), P[i, i // f] = 1 / f^2, sums each row's runs of f cells; adding
    every f-th row of that sums the columns of each block."""
    layers, labels = goodness.shape[:2]
    side = map_side(size)
    f = size // side
    if f == 1:
        return goodness.reshape(layers, labels, size, size).astype(np.float64)
    key = (size, side, goodness.dtype)
    pooling = _POOLING.get(key)
    if pooling is None:
        pooling = np.zeros((size, side), goodness.dtype)
        pooling[np.arange(size), np.arange(size) // f] = 1.0 / (f * f)
        pooling.flags.writeable = False
        _POOLING[key] = pooling
    runs = np.matmul(goodness.reshape(-1, size), pooling).reshape(layers, labels, side, f, side)
    if f == 2:
        return np.add(runs[:, :, :, 0], runs[:, :, :, 1], dtype=np.float64)
    return runs.sum(axis=3, dtype=np.float64)

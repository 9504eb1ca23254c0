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

from dataclasses import dataclass

import numpy as np

from app.engine.backprop import BackpropMLP
from app.engine.columns import bp_logits_columns, ff_goodness_columns
from app.engine.ff import FFNetwork, embed_label, forward_pass
from app.engine.scratch import Scratch

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
    # (layers, labels, n_grid) goodness on the grid (float32 in the columns layout); idem
    layer_grid_goodness: np.ndarray | None


@dataclass(frozen=True)
class BackpropEvaluation:
    train_accuracy: float
    test_accuracy: float
    loss: float
    grid: np.ndarray | None  # (n_grid,) P(label 0); None when the grid was not asked for


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
        segments = (train_x, test_x, grid)
        self.sizes = tuple(len(points) for points in segments)
        # Row where each segment starts and the prefix lengths that end after it, for both nets.
        self.ff_ends = tuple(n_labels * sum(self.sizes[: k + 1]) for k in range(3))
        self.bp_ends = tuple(sum(self.sizes[: k + 1]) for k in range(3))
        d = train_x.shape[1]
        self.ff_inputs = np.empty((self.ff_ends[-1], d + n_labels + 1))
        row = 0
        for points in segments:
            for label in range(n_labels):
                block = self.ff_inputs[row : row + len(points)]
                embed_label(
                    points, np.full(len(points), label), n_labels, out=block, input_normalization=input_normalization
                )
                row += len(points)
        self.bp_inputs = np.ones((self.bp_ends[-1], d + 1))
        self.bp_inputs[:, :-1] = np.concatenate(segments)
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
        self.mean_weights_t = self.mean_weights.reshape(2, -1).T.copy()  # (labels x n, pos/neg)
        # The columns layout reads the same inputs transposed, (features + 1, rows): train and test
        # in float64, the grid in float32 (GRID_DTYPE; it is only drawn, see the module doc).
        self.ff_columns: np.ndarray | None = None
        self.bp_columns: np.ndarray | None = None
        self.ff_grid_columns: np.ndarray | None = None
        self.bp_grid_columns: np.ndarray | None = None
        if layout == "columns":
            self.ff_columns = self.ff_inputs[: self.ff_ends[1]].T.copy()
            self.bp_columns = self.bp_inputs[: self.bp_ends[1]].T.copy()
            self.ff_grid_columns = self.ff_inputs[self.ff_ends[1] :].T.astype(GRID_DTYPE)
            self.bp_grid_columns = self.bp_inputs[self.bp_ends[1] :].T.astype(GRID_DTYPE)
        for array in (
            self.ff_inputs,
            self.bp_inputs,
            self.mean_weights,
            self.mean_weights_t,
            self.loss_sign,
            self.loss_weights,
        ):
            array.flags.writeable = False
        for array in (self.ff_columns, self.bp_columns, self.ff_grid_columns, self.bp_grid_columns):
            if array is not None:
                array.flags.writeable = False
        self._scratch = Scratch()
        self._columns_work: dict[tuple[str, int], np.ndarray] = {}

    def __deepcopy__(self, memo: dict) -> RaceEvaluator:
        # Everything but the scratch is read-only: share it. Scratch is per instance (see module doc).
        clone = object.__new__(RaceEvaluator)
        clone.__dict__.update(self.__dict__)
        clone._scratch = Scratch()
        clone._columns_work = {}
        memo[id(self)] = clone
        return clone

    def __getstate__(self) -> dict[str, object]:
        # A pickle carries the inputs, not the work arrays (as a deep copy).
        return {**self.__dict__, "_scratch": Scratch(), "_columns_work": {}}

    # -- forward passes: the nets' own, over a range of rows ----------------------------------

    def ff_goodness(self, net: FFNetwork, start: int, stop: int) -> np.ndarray:
        """(n_layers, stop - start): each layer's goodness for FF rows [start, stop)."""
        table = self._scratch.table("ff_goodness", len(net.layers), self.ff_ends[-1])[:, : stop - start]
        if self.ff_columns is not None:  # rows of the train and test segments
            return ff_goodness_columns(net.layers, self.ff_columns[:, start:stop], table, self._columns_work)
        for _ in forward_pass(net.layers, self.ff_inputs[start:stop], self._scratch, goodness_out=table):
            pass
        return table

    def bp_logits(self, net: BackpropMLP, start: int, stop: int) -> np.ndarray:
        """(classes, stop - start): backprop's logits for rows [start, stop), one row per class,
        so that the reductions over classes run along contiguous memory (7x cheaper here)."""
        if self.bp_columns is not None:
            key = ("bp_logits", stop - start)
            logits = self._columns_work.get(key)
            if logits is None:
                logits = self._columns_work[key] = np.empty((net.sizes[-1], stop - start))
            bp_logits_columns(net, self.bp_columns[:, start:stop], logits, self._columns_work)
            return logits
        logits = self._scratch.table("bp_logits", net.sizes[-1], self.bp_ends[-1])[:, : stop - start]
        net.forward(self.bp_inputs[start:stop], self._scratch, logits_out=logits.T)
        return logits

    def _grid_tables(self, net: FFNetwork) -> np.ndarray:
        """Columns layout: (layers, labels x grid points) FF goodness over the grid, in GRID_DTYPE."""
        inputs = self.ff_grid_columns
        assert inputs is not None, "the columns layout's grid"
        key = ("ff_grid_goodness", len(net.layers))
        table = self._columns_work.get(key)
        if table is None:
            table = self._columns_work[key] = np.empty((len(net.layers), inputs.shape[1]), GRID_DTYPE)
        return ff_goodness_columns(net.layers, inputs, table, self._columns_work)

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
        key = ("bp_grid_logits", net.sizes[-1])
        logits = self._columns_work.get(key)
        if logits is None:
            logits = self._columns_work[key] = np.empty((net.sizes[-1], self.sizes[2]), GRID_DTYPE)
        bp_logits_columns(net, inputs, logits, self._columns_work)
        return _probability_first(logits)

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

    def ff(self, net: FFNetwork, theta: float, grid: bool = True) -> FFEvaluation:
        upto = GRID if grid else TEST
        columns = self.ff_columns is not None  # the grid in its own float32 pass
        table = self.ff_goodness(net, 0, self.ff_ends[min(upto, TEST) - 1 if columns else upto - 1])
        totals = self._totals(net, table)
        # argmax over labels picks the first label on a tie, as FFNetwork.predict does.
        train_acc = _accuracy(self._segment(totals, 0), self.train_y, columns)
        test_acc = _accuracy(self._segment(totals, 1), self.test_y, columns)
        layer_test = _layer_accuracies(self._segment(table, 1), self.test_y, columns)  # each layer alone
        train = self._segment(table, 0)  # (layers, labels, n)
        z = self._scratch.rows("ff_loss", len(train), train[0].size).reshape(train.shape)
        np.subtract(train, theta, out=z)
        z *= self.loss_sign
        if columns:
            # The same sums as one matrix product and softplus(z) = max(z, 0) + log1p(exp(-|z|)):
            # np.logaddexp costs three times these six operations (equal to rounding).
            means = np.matmul(train.reshape(len(train), -1), self.mean_weights_t).T  # (pos/neg, layers)
            _softplus(z, self._scratch.rows("ff_loss_work", z.size).reshape(z.shape))
        else:
            means = np.einsum("kln,sln->sk", train, self.mean_weights)  # (pos/neg, layers)
            np.logaddexp(0.0, z, out=z)
        loss = float(np.einsum("kln,ln->", z, self.loss_weights))
        grid_p: np.ndarray | None = None
        layer_grid: np.ndarray | None = None
        if grid and columns:
            grid_p, grid_goodness = self._ff_grid_columns(net)
            layer_grid = grid_goodness.copy()  # GRID_DTYPE: race.layer_maps averages it, then widens
        elif grid:
            grid_p = _softmax_first(self._segment(totals, 2))
            layer_grid = self._segment(table, 2).copy()
        return FFEvaluation(
            train_acc, test_acc, loss, means[0].tolist(), means[1].tolist(), layer_test, grid_p, layer_grid
        )

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
        upto = GRID if grid else TEST
        columns = self.bp_columns is not None  # the grid in its own float32 pass
        stop = self.bp_ends[min(upto, TEST) - 1 if columns else upto - 1]
        logits = self.bp_logits(net, 0, stop)
        n_train, n_test, _ = self.sizes
        train_acc = _accuracy(logits[:, :n_train], self.train_y, columns)
        test_acc = _accuracy(logits[:, n_train : n_train + n_test], self.test_y, columns)
        # The log-sum-exp of cross_entropy and the softmax of the grid share one exp.
        z = self._scratch.table("bp_z", len(logits), self.bp_ends[-1])[:, :stop]
        # (For 2 classes the max and the sum of the two rows in one operation each: the same numbers
        # as the reductions over axis 0, which run their loop once per point.)
        np.subtract(logits, np.maximum(logits[0], logits[1]) if len(logits) == 2 else logits.max(axis=0), out=z)
        e = self._scratch.table("bp_exp", len(logits), self.bp_ends[-1])[:, :stop]
        np.exp(z, out=e)
        sums = np.add(e[0], e[1]) if len(e) == 2 else e.sum(axis=0)
        loss = float(np.mean(np.log(sums[:n_train]) - z[self.train_y, self._train_index]))
        grid_p: np.ndarray | None = None
        if grid:
            grid_p = self._bp_grid_columns(net) if columns else e[0, self.bp_ends[1] :] / sums[self.bp_ends[1] :]
        return BackpropEvaluation(train_acc, test_acc, loss, grid_p)

    def bp_grid(self, net: BackpropMLP) -> np.ndarray:
        if self.bp_grid_columns is not None:
            return self._bp_grid_columns(net)
        return _softmax_first(self.bp_logits(net, self.bp_ends[1], self.bp_ends[2]))


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


def _softplus(z: np.ndarray, work: np.ndarray) -> np.ndarray:
    """softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^-|z|) in place (never overflows); `work`
    is an array of z's shape."""
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
    p = np.subtract(scores[0], scores[1])  # in the scores' own dtype (float32 for the grids), widened last
    p *= 0.5
    np.tanh(p, out=p)
    p *= 0.5
    p += 0.5
    return p.astype(np.float64, copy=False)


def _softmax_first(scores: np.ndarray) -> np.ndarray:
    """(classes, n) scores -> a new (n,) array of softmax probability of class 0."""
    e = scores - scores.max(axis=0)
    np.exp(e, out=e)
    return e[0] / e.sum(axis=0)

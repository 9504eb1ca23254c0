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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.engine.backprop import BackpropMLP
from app.engine.ff import FFNetwork, embed_label, forward_pass
from app.engine.scratch import Scratch


@dataclass(frozen=True)
class FFEvaluation:
    train_accuracy: float
    test_accuracy: float
    loss: float
    goodness_positive: list[float]
    goodness_negative: list[float]
    layer_test_accuracy: list[float]  # each layer's goodness alone deciding
    grid: np.ndarray | None  # (n_grid,) P(label 0); None when the grid was not asked for
    layer_grid_goodness: np.ndarray | None  # (layers, labels, n_grid) goodness on the grid; idem


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
    ) -> None:
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
        for array in (self.ff_inputs, self.bp_inputs, self.mean_weights, self.loss_sign, self.loss_weights):
            array.flags.writeable = False
        self._scratch = Scratch()

    def __deepcopy__(self, memo: dict) -> RaceEvaluator:
        # Everything but the scratch is read-only: share it. Scratch is per instance (see module doc).
        clone = object.__new__(RaceEvaluator)
        clone.__dict__.update(self.__dict__)
        clone._scratch = Scratch()
        memo[id(self)] = clone
        return clone

    # -- forward passes: the nets' own, over a range of rows ----------------------------------

    def ff_goodness(self, net: FFNetwork, start: int, stop: int) -> np.ndarray:
        """(n_layers, stop - start): each layer's goodness for FF rows [start, stop)."""
        table = self._scratch.table("ff_goodness", len(net.layers), self.ff_ends[-1])[:, : stop - start]
        for _ in forward_pass(net.layers, self.ff_inputs[start:stop], self._scratch, goodness_out=table):
            pass
        return table

    def bp_logits(self, net: BackpropMLP, start: int, stop: int) -> np.ndarray:
        """(classes, stop - start): backprop's logits for rows [start, stop), one row per class,
        so that the reductions over classes run along contiguous memory (7x cheaper here)."""
        logits = self._scratch.table("bp_logits", net.sizes[-1], self.bp_ends[-1])[:, : stop - start]
        net.forward(self.bp_inputs[start:stop], self._scratch, logits_out=logits.T)
        return logits

    # -- what the snapshot reports -------------------------------------------------------------

    def _segment(self, array: np.ndarray, k: int) -> np.ndarray:
        """(..., n_labels, n) view of segment k of FF rows (the last axis) that start at row 0."""
        begin = self.ff_ends[k - 1] if k else 0
        return array[..., begin : self.ff_ends[k]].reshape(*array.shape[:-1], self.n_labels, self.sizes[k])

    def _totals(self, net: FFNetwork, table: np.ndarray) -> np.ndarray:
        """Each row's goodness summed over the layers the net's inference rule counts."""
        counted = net.counted_layers
        return (table if len(counted) == len(table) else table[list(counted)]).sum(axis=0)

    def ff_train_accuracy(self, net: FFNetwork) -> float:
        """FF's accuracy on the training points: the train segment alone (the CLI's per-step check)."""
        totals = self._totals(net, self.ff_goodness(net, 0, self.ff_ends[TRAIN - 1]))
        return _accuracy(self._segment(totals, 0), self.train_y)

    def ff(self, net: FFNetwork, theta: float, grid: bool = True) -> FFEvaluation:
        upto = GRID if grid else TEST
        table = self.ff_goodness(net, 0, self.ff_ends[upto - 1])
        totals = self._totals(net, table)
        # argmax over labels picks the first label on a tie, as FFNetwork.predict does.
        train_acc = _accuracy(self._segment(totals, 0), self.train_y)
        test_acc = _accuracy(self._segment(totals, 1), self.test_y)
        layer_test = _layer_accuracies(self._segment(table, 1), self.test_y)  # each layer alone
        train = self._segment(table, 0)  # (layers, labels, n)
        means = np.einsum("kln,sln->sk", train, self.mean_weights)  # (pos/neg, layers)
        z = self._scratch.rows("ff_loss", len(train), train[0].size).reshape(train.shape)
        np.subtract(train, theta, out=z)
        z *= self.loss_sign
        np.logaddexp(0.0, z, out=z)
        loss = float(np.einsum("kln,ln->", z, self.loss_weights))
        grid_p = _softmax_first(self._segment(totals, 2)) if grid else None
        layer_grid = self._segment(table, 2).copy() if grid else None
        return FFEvaluation(
            train_acc, test_acc, loss, means[0].tolist(), means[1].tolist(), layer_test, grid_p, layer_grid
        )

    def ff_grid(self, net: FFNetwork) -> np.ndarray:
        """P(label 0) over the grid alone: the grid rows of every label, nothing else."""
        totals = self._totals(net, self.ff_goodness(net, self.ff_ends[1], self.ff_ends[2]))
        return _softmax_first(totals.reshape(self.n_labels, self.sizes[2]))

    def backprop_train_accuracy(self, net: BackpropMLP) -> float:
        """Backprop's accuracy on the training points: the train segment alone."""
        return _accuracy(self.bp_logits(net, 0, self.bp_ends[TRAIN - 1]), self.train_y)

    def backprop(self, net: BackpropMLP, grid: bool = True) -> BackpropEvaluation:
        stop = self.bp_ends[(GRID if grid else TEST) - 1]
        logits = self.bp_logits(net, 0, stop)
        n_train, n_test, _ = self.sizes
        train_acc = _accuracy(logits[:, :n_train], self.train_y)
        test_acc = _accuracy(logits[:, n_train : n_train + n_test], self.test_y)
        # The log-sum-exp of cross_entropy and the softmax of the grid share one exp.
        z = self._scratch.table("bp_z", len(logits), self.bp_ends[-1])[:, :stop]
        np.subtract(logits, logits.max(axis=0), out=z)
        e = self._scratch.table("bp_exp", len(logits), self.bp_ends[-1])[:, :stop]
        np.exp(z, out=e)
        sums = e.sum(axis=0)
        loss = float(np.mean(np.log(sums[:n_train]) - z[self.train_y, self._train_index]))
        grid_p = e[0, self.bp_ends[1] :] / sums[self.bp_ends[1] :] if grid else None
        return BackpropEvaluation(train_acc, test_acc, loss, grid_p)

    def bp_grid(self, net: BackpropMLP) -> np.ndarray:
        return _softmax_first(self.bp_logits(net, self.bp_ends[1], self.bp_ends[2]))


def _accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of points whose highest score (over axis -2 of (labels or classes, n)) is their label."""
    return np.count_nonzero(np.argmax(scores, axis=-2) == labels) / len(labels)


def _layer_accuracies(scores: np.ndarray, labels: np.ndarray) -> list[float]:
    """_accuracy for each leading index of (layers, labels, n) scores."""
    right = np.argmax(scores, axis=-2) == labels
    # count_nonzero with an axis goes through a slower Python path: one row at a time is cheaper.
    return [np.count_nonzero(row) / len(labels) for row in right]


def _softmax_first(scores: np.ndarray) -> np.ndarray:
    """(classes, n) scores -> a new (n,) array of softmax probability of class 0."""
    e = scores - scores.max(axis=0)
    np.exp(e, out=e)
    return e[0] / e.sum(axis=0)

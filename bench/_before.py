"""Today's cost, kept to measure against: the snapshot and decision grids as commit 46c37e6 computed them.

`bench/engine.py` times the engine's `Race.snapshot()` and `Race.decision_grids()` next to these,
in the same process and on the same race, so "at most half of today's cost" is a ratio measured in
one run. This is `app/engine/evaluate.py` of that commit (its RaceEvaluator, unchanged but for the
copy hook) and the assembly `Race.snapshot` did; it reads only the nets' public parameters
(`layers[i].params`, `counted_layers`, `backprop.params`), so it runs on the new engine too."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPSILON = 1e-8


@dataclass(frozen=True)
class FFEvaluation:
    train_accuracy: float
    test_accuracy: float | None
    loss: float | None
    goodness_positive: list[float] | None
    goodness_negative: list[float] | None
    grid: np.ndarray | None  # (n_grid,) P(label 0)
    layer_test_accuracy: list[float] | None = None  # each layer's goodness alone deciding
    layer_grid_goodness: np.ndarray | None = None  # (layers, labels, n_grid) goodness on the grid


@dataclass(frozen=True)
class BackpropEvaluation:
    train_accuracy: float
    test_accuracy: float | None
    loss: float | None
    grid: np.ndarray | None  # (n_grid,) P(label 0)


TRAIN, TEST, GRID = 1, 2, 3  # how many segments to evaluate: a prefix of [train | test | grid]


class RaceEvaluator:
    """Read-only embedded inputs for (train, test, grid) and the scratch to push them through."""

    def __init__(
        self, train_x, train_y, test_x, test_y, grid, n_labels: int, input_normalization: str = "none"
    ) -> None:
        self.n_labels = n_labels
        self.train_y, self.test_y = train_y, test_y
        segments = (train_x, test_x, grid)
        self.sizes = tuple(len(points) for points in segments)
        # Row where each segment starts and the prefix lengths that end after it, for both nets.
        self.ff_ends = tuple(n_labels * sum(self.sizes[: k + 1]) for k in range(3))
        self.bp_ends = tuple(sum(self.sizes[: k + 1]) for k in range(3))
        from app.engine.ff import embed_label  # whichever engine is loaded (bench/engine.py --engine-root)

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
        self._scratch: dict[str, np.ndarray] = {}

    def _buffer(self, name: str, shape: tuple[int, ...], ones_column: bool = False) -> np.ndarray:
        buffer = self._scratch.get(name)
        if buffer is None or buffer.shape != shape:
            buffer = self._scratch[name] = np.ones(shape) if ones_column else np.empty(shape)
        return buffer

    # -- forward passes ------------------------------------------------------------------------

    def ff_goodness(self, net, start: int, stop: int) -> np.ndarray:
        """(n_layers, stop - start): each layer's goodness for FF rows [start, stop)."""
        rows = self.ff_ends[-1]
        table = self._buffer("ff_goodness", (len(net.layers), rows))
        norm = self._buffer("ff_norm", (rows,))[start:stop]
        h = self.ff_inputs[start:stop]
        last = len(net.layers) - 1
        for i, layer in enumerate(net.layers):
            y = self._buffer(f"ff_y{i}", (rows, layer.n_out))[start:stop]
            np.matmul(h, layer.params, out=y)
            np.maximum(y, 0.0, out=y)
            g = table[i, start:stop]
            np.einsum("ij,ij->i", y, y, out=g)
            if i < last:
                # The same normalization as training: ||y|| = sqrt(G), the bias column stays 1.
                nxt = self._buffer(f"ff_h{i}", (rows, layer.n_out + 1), ones_column=True)[start:stop]
                np.sqrt(g, out=norm)
                norm += EPSILON
                np.divide(y, norm[:, None], out=nxt[:, :-1])
                h = nxt
        return table[:, start:stop]

    def bp_logits(self, net, start: int, stop: int) -> np.ndarray:
        """(classes, stop - start): backprop's logits for rows [start, stop), one row per class,
        so that the reductions over classes run along contiguous memory (7x cheaper here)."""
        rows = self.bp_ends[-1]
        h = self.bp_inputs[start:stop]
        for i, w in enumerate(net.params[:-1]):
            # The matmul into contiguous scratch, the ReLU on the way into the strided [h, 1]:
            # cheaper than both writing into the strided view.
            y = self._buffer(f"bp_y{i}", (rows, w.shape[1]))[start:stop]
            np.matmul(h, w, out=y)
            nxt = self._buffer(f"bp_h{i}", (rows, w.shape[1] + 1), ones_column=True)[start:stop]
            np.maximum(y, 0.0, out=nxt[:, :-1])
            h = nxt
        logits = self._buffer("bp_logits", (net.params[-1].shape[1], rows))[:, start:stop]
        np.matmul(h, net.params[-1], out=logits.T)
        return logits

    # -- what the snapshot reports -------------------------------------------------------------

    def _segment(self, table: np.ndarray, k: int) -> np.ndarray:
        """(n_layers, n_labels, n) view of segment k of an FF goodness table that starts at row 0."""
        begin = self.ff_ends[k - 1] if k else 0
        return table[:, begin : self.ff_ends[k]].reshape(len(table), self.n_labels, self.sizes[k])

    def ff(self, net, theta: float, upto: int = GRID) -> FFEvaluation:
        table = self.ff_goodness(net, 0, self.ff_ends[upto - 1])
        counted = list(net.counted_layers)  # the net's inference rule: which layers' goodness add up
        totals = [self._segment(table, k)[counted].sum(axis=0) for k in range(upto)]  # (labels, n) each
        # argmax over labels picks the first label on a tie, as FFNetwork.predict does.
        train_acc = _accuracy(totals[0], self.train_y)
        if upto == TRAIN:
            return FFEvaluation(train_acc, None, None, None, None, None)
        test_acc = _accuracy(totals[1], self.test_y)
        test = self._segment(table, 1)
        layer_test = [_accuracy(layer, self.test_y) for layer in test]
        train = self._segment(table, 0)  # (layers, labels, n)
        means = np.einsum("kln,sln->sk", train, self.mean_weights)  # (pos/neg, layers)
        z = self._buffer("ff_loss", train.shape)
        np.subtract(train, theta, out=z)
        z *= self.loss_sign
        np.logaddexp(0.0, z, out=z)
        loss = float(np.einsum("kln,ln->", z, self.loss_weights))
        grid = _softmax_first(totals[2]) if upto == GRID else None
        layer_grid = self._segment(table, 2).copy() if upto == GRID else None
        return FFEvaluation(
            train_acc, test_acc, loss, means[0].tolist(), means[1].tolist(), grid, layer_test, layer_grid
        )

    def ff_grid(self, net) -> np.ndarray:
        """P(label 0) over the grid alone: the grid rows of every label, nothing else."""
        table = self.ff_goodness(net, self.ff_ends[1], self.ff_ends[2])
        counted = table.reshape(len(table), self.n_labels, self.sizes[2])[list(net.counted_layers)]
        return _softmax_first(counted.sum(axis=0))

    def backprop(self, net, upto: int = GRID) -> BackpropEvaluation:
        stop = self.bp_ends[upto - 1]
        logits = self.bp_logits(net, 0, stop)
        n_train, n_test, _ = self.sizes
        train_acc = _accuracy(logits[:, :n_train], self.train_y)
        if upto == TRAIN:
            return BackpropEvaluation(train_acc, None, None, None)
        test_acc = _accuracy(logits[:, n_train : n_train + n_test], self.test_y)
        # The log-sum-exp of cross_entropy and the softmax of the grid share one exp.
        shape = (len(logits), self.bp_ends[-1])
        z = self._buffer("bp_z", shape)[:, :stop]
        np.subtract(logits, logits.max(axis=0), out=z)
        e = self._buffer("bp_exp", shape)[:, :stop]
        np.exp(z, out=e)
        sums = e.sum(axis=0)
        loss = float(np.mean(np.log(sums[:n_train]) - z[self.train_y, self._train_index]))
        grid = e[0, self.bp_ends[1] :] / sums[self.bp_ends[1] :] if upto == GRID else None
        return BackpropEvaluation(train_acc, test_acc, loss, grid)

    def bp_grid(self, net) -> np.ndarray:
        return _softmax_first(self.bp_logits(net, self.bp_ends[1], self.bp_ends[2]))


def _accuracy(totals: np.ndarray, labels: np.ndarray) -> float:
    return np.count_nonzero(np.argmax(totals, axis=0) == labels) / len(labels)


def _softmax_first(scores: np.ndarray) -> np.ndarray:
    """(classes, n) scores -> a new (n,) array of softmax probability of class 0."""
    e = scores - scores.max(axis=0)
    np.exp(e, out=e)
    return e[0] / e.sum(axis=0)


def layer_maps(goodness: np.ndarray, size: int, largest: int = 16) -> np.ndarray:
    maps = goodness.reshape(*goodness.shape[:2], size, size)
    while size > largest and size % 2 == 0:
        size //= 2
        maps = maps.reshape(*maps.shape[:2], size, 2, size, 2).mean(axis=(3, 5))
    return maps


class BeforeRace:
    """Today's snapshot and grids of `race` (a Race of either engine), from its own evaluator."""

    def __init__(self, race) -> None:
        from app.engine.race import grid_points

        self.race = race
        self.evaluator = RaceEvaluator(
            race.train.x,
            race.train.y,
            race.test.x,
            race.test.y,
            grid_points(race.extent, race.settings.grid_size),
            2,
            race.settings.ff_input_normalization,
        )

    def decision_grids(self):
        size = self.race.settings.grid_size
        return (
            self.evaluator.ff_grid(self.race.ff).reshape(size, size),
            self.evaluator.bp_grid(self.race.backprop).reshape(size, size),
        )

    def snapshot(self):
        from app.engine.race import NetMetrics, RaceSnapshot

        race, size = self.race, self.race.settings.grid_size
        ff = self.evaluator.ff(race.ff, race.ff.theta, GRID)
        bp = self.evaluator.backprop(race.backprop, GRID)
        return RaceSnapshot(
            race.step_count,
            NetMetrics(ff.train_accuracy, ff.test_accuracy, ff.loss),
            NetMetrics(bp.train_accuracy, bp.test_accuracy, bp.loss),
            ff.goodness_positive,
            ff.goodness_negative,
            ff.grid.reshape(size, size),
            bp.grid.reshape(size, size),
            ff.layer_test_accuracy,
            layer_maps(ff.layer_grid_goodness, size),
        )

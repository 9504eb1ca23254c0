"""Forward-Forward (Hinton 2022): layers that learn locally to give real data high goodness and fake data low goodness."""

from __future__ import annotations

import numpy as np

from app.engine.trace import StepRecorder

EPSILON = 1e-8          # in h = y / (||y|| + eps): only keeps an all-zero activity vector finite
SCHEDULES = ("separate", "joint")
# How the raw FF input [x, y, one-hot] is scaled before layer 1 (docs/engine.md, "raw input"):
# "none" as it is; "rms" Hinton's ffnormrows, every row rescaled to a mean square of 1 (length
# sqrt(d)); "length" rescaled to length 1.
INPUT_NORMALIZATIONS = ("none", "rms", "length")
# Which layers' goodness inference adds up: every layer, all but the first (the paper's rule for
# its deeper nets), or the first alone.
INFERENCE_RULES = ("all", "skip-first", "first")


# --- the mathematics, one function per formula -------------------------------------------------

def goodness(y: np.ndarray) -> np.ndarray:
    """G = sum_j y_j^2 for each row: the paper's goodness (a sum, not a mean)."""
    return np.einsum("ij,ij->i", y, y)


def normalize(y: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """h = y / (||y|| + eps): the length (the goodness) removed, the direction kept."""
    y = np.asarray(y, dtype=np.float64)
    return y / (np.linalg.norm(y, axis=-1, keepdims=True) + epsilon)


def sigmoid(z: np.ndarray) -> np.ndarray:
    # tanh form: never overflows, for any z.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


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
    points: np.ndarray, labels: np.ndarray, n_labels: int, out: np.ndarray | None = None,
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

    def forward(self, h_with_bias: np.ndarray) -> np.ndarray:
        y = h_with_bias @ self.params
        return np.maximum(y, 0.0, out=y)

    def local_gradient(
        self, h_with_bias: np.ndarray, y: np.ndarray, target, theta: float, g: np.ndarray | None = None
    ) -> np.ndarray:
        """d(mean layer loss)/d(params) from this layer's input and output alone.

        dL/dG = sigma(G - theta) - target and dG/dy = 2y; ReLU's derivative is already in y,
        which is zero wherever the unit is off."""
        if g is None:
            g = goodness(y)
        # (sigma(z) - t) * 2 / n with sigma(z) = (1 + tanh(z / 2)) / 2, folded into five in-place
        # operations: the mean's 1/n and dG/dy's factor 2 cancel the half.
        dloss_dg = g - theta
        dloss_dg *= 0.5
        np.tanh(dloss_dg, out=dloss_dg)
        # A plain float target (the separate schedule) stays in Python: no 0-d array round trip.
        dloss_dg += 1.0 - 2.0 * (target if isinstance(target, float) else np.asarray(target))
        dloss_dg *= 1.0 / len(g)
        return h_with_bias.T @ (y * dloss_dg[:, None])


# --- the network -------------------------------------------------------------------------------

class FFNetwork:
    """A stack of FF layers with length normalization between them and the label in the input."""

    def __init__(
        self,
        hidden_sizes: tuple[int, ...],
        n_labels: int,
        theta: float,
        optimizer,
        rng: np.random.Generator,
        input_size: int = 2,
        schedule: str = "separate",
        init_scale: float = 1.0,
        readout: bool = False,
        readout_optimizer=None,
        input_normalization: str = "none",
        inference: str = "all",
    ) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {schedule!r}")
        if input_normalization not in INPUT_NORMALIZATIONS:
            raise ValueError(f"input_normalization must be one of {', '.join(INPUT_NORMALIZATIONS)}; "
                             f"got {input_normalization!r}")
        self.input_normalization = input_normalization
        if inference not in INFERENCE_RULES:
            raise ValueError(f"inference must be one of {', '.join(INFERENCE_RULES)}; got {inference!r}")
        if inference == "skip-first" and len(hidden_sizes) < 2:
            raise ValueError("inference='skip-first' needs at least 2 hidden layers")
        self.inference = inference
        self.input_size, self.n_labels, self.theta = input_size, n_labels, float(theta)
        self.schedule = schedule
        self.optimizer = optimizer
        sizes = (input_size + n_labels, *hidden_sizes)
        self.layers = [FFLayer(a, b, rng, init_scale) for a, b in zip(sizes[:-1], sizes[1:])]
        self.readout = SoftmaxReadout(self, readout_optimizer or optimizer, rng) if readout else None
        self._cache_key: tuple | None = None
        self._buffers: dict = {}

    # inputs -------------------------------------------------------------------------------
    def _batches(self, points: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
        """Positive and negative inputs; with 2 labels they never change, so they are built once."""
        key = (id(points), id(labels), points.shape)
        if self.n_labels == 2 and key == self._cache_key:
            return self._buffers["positive"], self._buffers["negative"], self._buffers["targets"]
        positive = self.embed(points, labels)
        negative = self.embed(points, wrong_labels(labels, self.n_labels, rng))
        if self.schedule == "joint":
            positive = np.concatenate([positive, negative])
            negative = None
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
        recorder: StepRecorder | None = None,
    ) -> None:
        """One FF step on a full batch: a positive pass, then a negative pass (or both at once
        with schedule='joint'); each layer updates as the pass flows through it."""
        positive, negative, targets = self._batches(points, labels, rng)
        if self.schedule == "separate":
            self._pass(positive, 1.0, "positive", recorder)
            self._pass(negative, 0.0, "negative", recorder)
        else:
            self._pass(positive, targets, "positive+negative", recorder)
        if self.readout is not None:
            self.readout.train_step(points, labels)

    def _pass(self, x: np.ndarray, target, polarity: str, recorder: StepRecorder | None) -> None:
        # `held` is the step's own bookkeeping of the activation arrays it still references; the
        # recorder measures exactly these. Nothing outlives its layer: FF needs no backward sweep.
        held = {"input": x}
        if recorder is not None:
            recorder.record("pass", held, polarity=polarity, detail=f"{polarity} pass begins")
        h, h_name, last = x, "input", len(self.layers)
        for i, layer in enumerate(self.layers, start=1):
            y = layer.forward(h)
            g = goodness(y)
            held[f"activity {i}"] = y
            if recorder is not None:
                recorder.record("forward", held, i, polarity, f"layer {i} forward")
                loss = float(np.mean(layer_loss(g, self.theta, target)))
                recorder.record("loss", held, i, polarity, f"layer {i} goodness loss", loss=loss)
            # The input that flowed into the layer is used for its update, before any later layer runs.
            self.optimizer.update(i, layer.params, layer.local_gradient(h, y, target, self.theta, g))
            if recorder is not None:
                recorder.record("update", held, i, polarity, f"layer {i} updated from its own loss")
            del held[h_name]
            if recorder is not None:
                recorder.record("release", held, i, polarity, f"{h_name} released")
            if i < last:
                # Normalized with the goodness already computed: ||y|| = sqrt(G).
                h = np.ones((len(y), y.shape[1] + 1))
                np.divide(y, (np.sqrt(g) + EPSILON)[:, None], out=h[:, :-1])
                h_name = f"normalized {i}"
                held[h_name] = h
                if recorder is not None:
                    recorder.record("normalize", held, i, polarity, f"activity {i} normalized for layer {i + 1}")
            del held[f"activity {i}"]
            if recorder is not None:
                recorder.record("release", held, i, polarity, f"activity {i} released")

    # inference ----------------------------------------------------------------------------
    def embed(self, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """This net's layer-1 input for `points` carrying `labels`: the label in the input, scaled
        by the net's input normalization, with the bias column."""
        return embed_label(points, labels, self.n_labels, input_normalization=self.input_normalization)

    def hidden_activities(self, x: np.ndarray) -> list[np.ndarray]:
        """The activities y of every layer for embedded inputs x (with their bias column)."""
        activities, h = [], x
        for i, layer in enumerate(self.layers):
            y = layer.forward(h)
            activities.append(y)
            if i < len(self.layers) - 1:
                h = with_bias_column(normalize(y))
        return activities

    def goodness_table(self, points: np.ndarray) -> np.ndarray:
        """(n, n_labels, n_layers): the goodness of every layer with each candidate label in the input."""
        n = len(points)
        stacked = np.concatenate(
            [self.embed(points, np.full(n, label)) for label in range(self.n_labels)]
        )
        table = np.stack([goodness(y) for y in self.hidden_activities(stacked)], axis=1)
        return table.reshape(self.n_labels, n, len(self.layers)).transpose(1, 0, 2)

    @property
    def counted_layers(self) -> tuple[int, ...]:
        """The (0-based) layers whose goodness inference adds up, by the net's inference rule."""
        n = len(self.layers)
        return {"all": tuple(range(n)), "skip-first": tuple(range(1, n)), "first": (0,)}[self.inference]

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


class SoftmaxReadout:
    """The paper's one-pass alternative: a linear softmax on the normalized hidden activities of a
    neutral-label pass (every label entry 1/n_labels), trained on its own; nothing flows back
    into the FF layers. skip_first_layer follows the paper's deep nets; in the race's shallow
    net the first layer carries most of the evidence, so the default reads every layer."""

    def __init__(self, network: FFNetwork, optimizer, rng: np.random.Generator, skip_first_layer: bool = False) -> None:
        self.network = network
        self.optimizer = optimizer
        sizes = [layer.n_out for layer in network.layers]
        skip = skip_first_layer and len(sizes) > 1
        self.layer_indices = list(range(1 if skip else 0, len(sizes)))
        n_in = sum(sizes[i] for i in self.layer_indices)
        self.params = np.zeros((n_in + 1, network.n_labels))
        self.params[:-1] = rng.normal(0.0, np.sqrt(1.0 / n_in), (n_in, network.n_labels))

    def features(self, points: np.ndarray) -> np.ndarray:
        n, k = len(points), self.network.n_labels
        x = np.empty((n, points.shape[1] + k + 1))
        x[:, : points.shape[1]] = points
        x[:, points.shape[1] : -1] = 1.0 / k  # the neutral label
        normalize_input(x[:, :-1], self.network.input_normalization)
        x[:, -1] = 1.0
        activities = self.network.hidden_activities(x)
        return with_bias_column(np.concatenate([normalize(activities[i]) for i in self.layer_indices], axis=1))

    def probabilities(self, points: np.ndarray) -> np.ndarray:
        logits = self.features(points) @ self.params
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, points: np.ndarray) -> np.ndarray:
        return np.argmax(self.features(points) @ self.params, axis=1)

    def train_step(self, points: np.ndarray, labels: np.ndarray) -> None:
        features = self.features(points)
        logits = features @ self.params
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(labels)), labels] -= 1.0
        # Key -1: the readout's optimizer state never collides with a layer's.
        self.optimizer.update(-1, self.params, features.T @ p / len(labels))

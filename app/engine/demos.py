"""Small engine-backed demos for the article: the goodness layer, the normalization drag's next layer, step traces."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike

from app.engine.backprop import BackpropMLP
from app.engine.datasets import make_dataset
from app.engine.ff import EPSILON, FFLayer, FFNetwork, goodness, normalize, sigmoid, with_bias_column
from app.engine.optim import SGDMomentum
from app.engine.race import RaceSettings
from app.engine.trace import StepRecorder

# --- (a) the goodness layer: one 8-unit FF layer pushed by the reader -----------------------------

GOODNESS_UNITS = 8
GOODNESS_INPUTS = 6
GOODNESS_MAX_STEPS = 500
GOODNESS_THETA_RANGE = (1.0, 10.0)  # the widget's slider; below 1 the layer barely moves
Polarity = Literal["positive", "negative"]
POLARITIES: tuple[Polarity, ...] = get_args(Polarity)
# Plain SGD (no momentum) so each step is one visible push; at this rate ten positive steps
# move sigma(G - theta) well up from the start (0.38) without jumping straight to 1.
GOODNESS_LEARNING_RATE = 0.03


def _goodness_state(layer: FFLayer, x: np.ndarray, theta: float, polarity: str | None, step: int) -> dict:
    y = layer.forward(x)[0]
    g = float(goodness(y[None])[0])
    p = float(sigmoid(np.asarray(g - theta)))
    target = 0.0 if polarity == "negative" else 1.0
    return {
        "step": step,
        "polarity": polarity,
        "activities": y.tolist(),
        "goodness": g,
        "probability": p,  # sigma(G - theta): the layer's belief the input is real
        "pressure": abs(p - target),  # |sigma(G - theta) - target|: how hard the update pushes
        "verdict": "real" if p > 0.5 else "fake",
    }


def goodness_layer_history(seed: int, theta: float, actions: list[tuple[str, int]]) -> list[dict]:
    """Replay the reader's actions [(polarity, steps), ...] on one FF layer of 8 units.

    Returns the state at step 0 and after every step. Step 0's polarity is the first action's
    (positive if there is none), so its pressure is measured against the target about to be used."""
    low_seed, high_seed = RaceSettings.BOUNDS["seed"]
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not low_seed <= seed <= high_seed:
        raise ValueError(f"seed must be an integer in [{low_seed}, {high_seed}]; got {seed!r}")
    lo, hi = GOODNESS_THETA_RANGE
    if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not lo <= theta <= hi:
        raise ValueError(f"theta must be a number in [{lo}, {hi}]; got {theta!r}")
    total = 0
    for polarity, steps in actions:
        if polarity not in POLARITIES:
            raise ValueError(f"polarity must be one of {', '.join(POLARITIES)}; got {polarity!r}")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer; got {steps!r}")
        total += steps
    if total > GOODNESS_MAX_STEPS:
        raise ValueError(f"the actions' total steps must be in [0, {GOODNESS_MAX_STEPS}]; got {total}")

    rng = np.random.default_rng(seed)
    layer = FFLayer(GOODNESS_INPUTS, GOODNESS_UNITS, rng)  # the race's layer class
    # A fixed input drawn from the seed; redrawn (deterministically) in the rare case that leaves
    # every unit off, since a silent ReLU layer has no gradient and the demo would be inert.
    while True:
        direction = normalize(rng.normal(size=(1, GOODNESS_INPUTS)))
        g = goodness(layer.forward(with_bias_column(direction)))[0]
        if g > 0.05:
            break
    # Biases start at zero, so G grows with the square of the input's length: scale the input so
    # the layer starts a little unsure, at G = theta - 1/2 (sigma = 0.38 for every theta), where
    # both kinds of update visibly move it.
    x = with_bias_column(direction * np.sqrt(max(theta - 0.5, 0.05) / g))
    # Step size divided by ||x||^2 (a normalized step): each update then changes G by the same
    # fraction whatever theta and hence the input's length, so the demo feels alike for every theta.
    optimizer = SGDMomentum(GOODNESS_LEARNING_RATE / float(np.sum(x * x)), momentum=0.0)
    first = actions[0][0] if actions else "positive"
    history = [_goodness_state(layer, x, theta, first, 0)]
    for polarity, steps in actions:
        target = 1.0 if polarity == "positive" else 0.0
        for _ in range(steps):
            y = layer.forward(x)
            optimizer.update(0, layer.params, layer.local_gradient(x, y, target, theta))
            history.append(_goodness_state(layer, x, theta, polarity, len(history)))
    return history


# --- (b) the normalization drag's small next layer -------------------------------------------------

# Three ReLU units reading a 2-unit activity vector; fixed so the browser can run the same formula.
NEXT_LAYER_WEIGHTS = ((1.0, -0.5), (-0.6, 1.0), (0.7, 0.8))  # (units, inputs)
NEXT_LAYER_BIAS = (0.1, 0.0, -0.2)


def next_layer_response(y: ArrayLike) -> list[float]:
    """ReLU(W h + b) with h = y / (||y|| + eps): it depends on y's direction only."""
    h = normalize(np.asarray(y, dtype=np.float64).reshape(-1))
    response = np.asarray(NEXT_LAYER_WEIGHTS) @ h + np.asarray(NEXT_LAYER_BIAS)
    return np.maximum(response, 0.0).tolist()


def normalization_layer() -> dict:
    """The next layer as plain lists for the browser: response_j = max(0, sum_i w_ji h_i + b_j)."""
    return {
        "weights": [list(row) for row in NEXT_LAYER_WEIGHTS],
        "bias": list(NEXT_LAYER_BIAS),
        "epsilon": EPSILON,
        "formula": "h = y / (||y|| + epsilon); response = max(0, weights @ h + bias)",
    }


# --- (c) step traces of one real training step of small 3-hidden-layer nets ---------------------

TraceAlgorithm = Literal["backprop", "forward-forward"]
TRACE_ALGORITHMS: tuple[TraceAlgorithm, ...] = get_args(TraceAlgorithm)
TRACE_HIDDEN = (8, 8, 8)
TRACE_BATCH = 16


def step_trace(algorithm: str, seed: int = 0) -> dict:
    """The events recorded while the real train step of `algorithm` runs once on a small batch."""
    if algorithm not in TRACE_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(TRACE_ALGORITHMS)}; got {algorithm!r}")
    data = make_dataset("disk-ring", n=TRACE_BATCH, seed=seed)
    rng = np.random.default_rng(seed)
    recorder = StepRecorder()
    if algorithm == "backprop":
        mlp = BackpropMLP((2, *TRACE_HIDDEN, 2), SGDMomentum(0.05), rng)
        mlp.train_step(data.x, data.y, recorder=recorder)
        layer_sizes = list(mlp.sizes)
    else:
        ff = FFNetwork(TRACE_HIDDEN, 2, 2.0, SGDMomentum(0.05), rng)
        ff.train_step(data.x, data.y, rng, recorder=recorder)
        layer_sizes = [ff.layers[0].n_in, *TRACE_HIDDEN]
    return {
        "algorithm": algorithm,
        "layer_sizes": layer_sizes,
        "batch_size": TRACE_BATCH,
        "events": recorder.as_dicts(),
        "peak_bytes": recorder.peak_bytes,
    }

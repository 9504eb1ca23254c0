"""Forward-Forward: goodness, the local loss and gradient, normalization, negatives, inference."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.engine.datasets import make_dataset
from app.engine.ff import (
    EPSILON,
    FFLayer,
    FFNetwork,
    embed_label,
    forward_pass,
    goodness,
    layer_loss,
    length_from_goodness,
    normalize,
    with_bias_column,
    wrong_labels,
)
from app.engine.optim import Adam, SGDMomentum
from app.engine.params import FlatParameters
from app.engine.trace import StepRecorder


class RecordingOptimizer:
    """Plain SGD that also remembers every gradient it was handed, in order; the flat entries in
    `frozen` (a slice) never move."""

    def __init__(self, learning_rate=0.1, frozen=slice(0, 0)):
        self.learning_rate, self.frozen, self.calls = learning_rate, frozen, []

    def update(self, key, param, grad):
        self.calls.append((key, grad.copy()))
        step = self.learning_rate * grad
        step[self.frozen] = 0.0
        param -= step


def layer_gradients(net, flat_gradient):
    """Each layer's part of the flat gradient a net handed its optimizer (one update per pass)."""
    return FlatParameters(net.parameters.shapes, flat_gradient).views


def small_net(optimizer, seed=0, hidden=(6, 5), **kw):
    return FFNetwork(hidden, 2, 2.0, optimizer, np.random.default_rng(seed), **kw)


def central_difference(loss, params, idx, h=1e-6):
    """d loss / d params[idx] by central differences, the parameter restored afterwards."""
    old = params[idx]
    params[idx] = old + h
    up = loss()
    params[idx] = old - h
    down = loss()
    params[idx] = old
    return (up - down) / (2 * h)


def test_goodness_is_the_sum_of_squared_activities():
    y = np.array([[1.0, 2.0, 0.0], [0.5, 0.0, 3.0]])
    np.testing.assert_allclose(goodness(y), [5.0, 9.25])


def test_layer_loss_is_stable_and_matches_the_logistic_loss():
    g = np.array([-1000.0, 0.0, 1.9, 2.0, 2.1, 1000.0])
    for target in (0.0, 1.0):
        loss = layer_loss(g, 2.0, target)
        assert np.all(np.isfinite(loss)) and np.all(loss >= 0)
        p = 1.0 / (1.0 + np.exp(-(g[1:5] - 2.0)))
        naive = -np.log(p) if target == 1.0 else -np.log(1.0 - p)
        np.testing.assert_allclose(loss[1:5], naive, rtol=1e-12)
    assert layer_loss(np.array([1000.0]), 2.0, 1.0)[0] == pytest.approx(0.0)
    assert layer_loss(np.array([1000.0]), 2.0, 0.0)[0] == pytest.approx(998.0)


@pytest.mark.parametrize("target", [1.0, 0.0])
def test_local_gradient_matches_finite_differences_of_the_layer_loss(target):
    rng = np.random.default_rng(0)
    layer = FFLayer(4, 5, rng)
    h = with_bias_column(rng.normal(size=(7, 4)))

    def mean_loss():
        return float(np.mean(layer_loss(goodness(layer.forward(h)), 2.0, target)))

    grad = layer.local_gradient(h, layer.forward(h), target, 2.0)
    numeric = np.zeros_like(grad)
    for idx in np.ndindex(grad.shape):
        numeric[idx] = central_difference(mean_loss, layer.params, idx)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-9)


def test_no_gradient_crosses_layers():
    data = make_dataset("disk-ring", n=40, seed=1)
    rng = np.random.default_rng(5)
    learner = RecordingOptimizer()
    net = small_net(learner)
    layer1, layer2 = (layer.params.copy() for layer in net.layers)
    net.train_step(data.x, data.y, rng)
    assert len(learner.calls) == 2  # one update per pass, positive then negative
    positive_grads = dict(enumerate(layer_gradients(net, learner.calls[0][1]), start=1))

    # Layer 2's gradient is the standalone single-layer computation on its detached input.
    x = embed_label(data.x, data.y, 2)
    lone1, lone2 = FFLayer(4, 6, rng), FFLayer(6, 5, rng)
    lone1.params[:], lone2.params[:] = layer1, layer2
    h2 = with_bias_column(normalize(lone1.forward(x)))
    np.testing.assert_allclose(positive_grads[2], lone2.local_gradient(h2, lone2.forward(h2), 1.0, 2.0))

    # Layer 1's gradient ignores layer 2's loss: it equals the gradient of its own loss alone and
    # not the gradient of the summed loss (which backprop through layer 2 would give).
    np.testing.assert_allclose(positive_grads[1], lone1.local_gradient(x, lone1.forward(x), 1.0, 2.0))

    def summed_loss():
        y1 = lone1.forward(x)
        h = with_bias_column(normalize(y1))
        return float(np.mean(layer_loss(goodness(y1), 2.0, 1.0) + layer_loss(goodness(lone2.forward(h)), 2.0, 1.0)))

    idx = np.unravel_index(np.argmax(np.abs(positive_grads[1])), layer1.shape)
    assert abs(central_difference(summed_loss, lone1.params, idx) - positive_grads[1][idx]) > 1e-6


def test_layer_two_update_is_the_same_whatever_layer_one_receives():
    data = make_dataset("disk-ring", n=40, seed=2)
    moving, frozen = RecordingOptimizer(), RecordingOptimizer()
    a, b = small_net(moving), small_net(frozen)
    frozen.frozen = slice(0, b.layers[0].params.size)  # layer 1 comes first in the flat array
    for _ in range(3):
        a.train_step(data.x, data.y, np.random.default_rng(0))
        b.train_step(data.x, data.y, np.random.default_rng(0))
    # The first positive pass: layer 2's gradient depends on nothing layer 1's update changes.
    np.testing.assert_array_equal(layer_gradients(a, moving.calls[0][1])[1], layer_gradients(b, frozen.calls[0][1])[1])
    assert not np.array_equal(a.layers[0].params, b.layers[0].params)


@settings(max_examples=60, deadline=None)
@given(
    y=st.lists(st.floats(0.0, 10.0), min_size=6, max_size=6).filter(lambda v: np.linalg.norm(v) > 1e-2),
    c=st.floats(1e-2, 1e3),
)
def test_next_layer_output_unchanged_when_its_input_is_scaled(y, c):
    # eps in y / (||y|| + eps) perturbs the direction by eps / ||y|| at most: invisible (< 1e-6
    # relative) for any activity vector longer than 0.05, which is where the property is claimed.
    assume(c * np.linalg.norm(y) > 0.05)
    layer = FFLayer(6, 4, np.random.default_rng(3))
    y = np.array([y])
    out = layer.forward(with_bias_column(normalize(y)))
    scaled = layer.forward(with_bias_column(normalize(c * y)))
    np.testing.assert_allclose(scaled, out, rtol=1e-6, atol=1e-9)


def test_normalize_gives_unit_length_and_keeps_zero_finite():
    h = normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(h[0], [0.6, 0.8])
    np.testing.assert_array_equal(h[1], [0.0, 0.0])
    np.testing.assert_array_equal(length_from_goodness(goodness(np.array([[3.0, 4.0]]))), [5.0 + EPSILON])


def test_the_columns_layout_normalizes_each_column_with_the_same_function():
    """columns.py's (units, rows) layout: normalize(Y, columns=True) is normalize(y) transposed,
    written into `out` with the lengths ||y|| + eps in the caller's `length` (nothing allocated)."""
    y = np.random.default_rng(4).normal(size=(40, 7))
    y[3] = 0.0  # an all-zero activity stays finite in either layout
    columns = np.ascontiguousarray(y.T)
    out, length = np.empty_like(columns), np.empty(40)
    given_g = normalize(columns, g=goodness(y), out=out, columns=True, length=length)
    assert given_g is out
    np.testing.assert_allclose(out, normalize(y).T, rtol=1e-15, atol=0.0)
    np.testing.assert_allclose(length, np.linalg.norm(y, axis=1) + EPSILON, rtol=1e-15)
    np.testing.assert_allclose(normalize(columns, columns=True), normalize(y).T, rtol=1e-15, atol=0.0)


def test_the_step_reports_to_the_recorder_it_is_given_even_an_empty_one():
    """The do-nothing recorder is only the default: a recorder that is false while empty (it has a
    length) still hears the step."""

    class CountingRecorder(StepRecorder):
        def __len__(self):
            return len(self.events)

    data = make_dataset("disk-ring", n=12, seed=2)
    recorder = CountingRecorder()
    assert not recorder
    small_net(SGDMomentum(0.01)).train_step(data.x, data.y, np.random.default_rng(2), recorder=recorder)
    assert {event.kind for event in recorder.events} >= {"pass", "forward", "normalize", "loss", "update"}


@settings(max_examples=40, deadline=None)
@given(n_labels=st.integers(2, 10), seed=st.integers(0, 2**31 - 1))
def test_negatives_carry_a_wrong_label_never_the_true_one(n_labels, seed):
    labels = np.random.default_rng(seed).integers(0, n_labels, 200)
    wrong = wrong_labels(labels, n_labels, np.random.default_rng(seed))
    assert np.all(wrong != labels) and np.all((0 <= wrong) & (wrong < n_labels))
    np.testing.assert_array_equal(wrong, wrong_labels(labels, n_labels, np.random.default_rng(seed)))
    if n_labels > 2:
        assert len(np.unique(wrong)) > 2  # every wrong label can be drawn, not a fixed shift


def test_the_training_step_feeds_true_labels_positive_and_wrong_labels_negative():
    data = make_dataset("disk-ring", n=30, seed=0)
    net = small_net(SGDMomentum(0.01))
    positive, negative, _ = net._batches(data.x, data.y, np.random.default_rng(0))
    np.testing.assert_array_equal(np.argmax(positive[:, 2:4], axis=1), data.y)
    np.testing.assert_array_equal(np.argmax(negative[:, 2:4], axis=1), 1 - data.y)
    np.testing.assert_array_equal(positive[:, :2], data.x)


def test_inference_runs_one_pass_per_label():
    net = small_net(SGDMomentum(0.01), hidden=(5, 5, 5))
    points = np.array([[0.1, 0.2], [-0.8, 0.5]])
    table = net.goodness_table(points)
    assert table.shape == (2, 2, 3)  # points, labels, layers
    for label in (0, 1):
        x = embed_label(points, np.full(2, label), 2)
        expected = np.stack([goodness(y) for y in net.hidden_activities(x)], axis=1)
        np.testing.assert_allclose(table[:, label, :], expected)
    np.testing.assert_array_equal(net.predict(points), np.argmax(table.sum(axis=2), axis=1))
    np.testing.assert_allclose(net.totals(table, skip_first_layer=True), table[:, :, 1:].sum(axis=2))
    np.testing.assert_array_equal(
        net.predict(points, skip_first_layer=True), np.argmax(table[:, :, 1:].sum(axis=2), axis=1)
    )


@pytest.mark.parametrize("schedule", ["separate", "joint"])
def test_ff_learns_the_disk_and_ring(schedule):
    data = make_dataset("disk-ring", n=300, seed=4)
    net = FFNetwork((12, 12), 2, 2.0, Adam(0.03), np.random.default_rng(4), schedule=schedule)
    rng = np.random.default_rng(4)
    for _ in range(400):
        net.train_step(data.x, data.y, rng)
    assert np.mean(net.predict(data.x) == data.y) >= 0.95


def test_softmax_readout_option_classifies_in_one_pass():
    data = make_dataset("disk-ring", n=300, seed=5)
    net = FFNetwork((12, 12), 2, 2.0, Adam(0.03), np.random.default_rng(5), readout=True)
    rng = np.random.default_rng(5)
    for _ in range(600):
        net.train_step(data.x, data.y, rng)
    probabilities = net.readout.probabilities(data.x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert np.mean(net.readout.predict(data.x) == data.y) >= 0.9


def test_one_update_per_pass_is_each_layer_updated_as_the_pass_flows():
    # The paper's order, written out: each layer updated from its own loss before the next layer
    # runs, with its own Adam state. The net applies a pass's updates in one call on its flat
    # array; every weight must come out the same, to the bit.
    data = make_dataset("disk-ring", n=50, seed=3)
    net = small_net(Adam(0.03), hidden=(6, 5, 4))
    layers = [FFLayer(layer.n_in, layer.n_out, np.random.default_rng(0)) for layer in net.layers]
    for lone, layer in zip(layers, net.layers, strict=True):
        lone.params = layer.params.copy()
    per_layer = Adam(0.03)
    positive, negative = embed_label(data.x, data.y, 2), embed_label(data.x, 1 - data.y, 2)
    for _ in range(5):
        net.train_step(data.x, data.y, np.random.default_rng(0))
        for x, target in ((positive, 1.0), (negative, 0.0)):
            h = x
            for i, layer in enumerate(layers, start=1):
                y = layer.forward(h)
                g = goodness(y)
                per_layer.update(i, layer.params, layer.local_gradient(h, y, target, 2.0, g))
                h = with_bias_column(normalize(y, g=g))
    for lone, layer in zip(layers, net.layers, strict=True):
        np.testing.assert_array_equal(lone.params, layer.params)


def test_inference_and_training_share_one_forward_pass():
    # goodness_table runs the pass training runs: the same goodness, bit for bit.
    data = make_dataset("disk-ring", n=30, seed=6)
    net = small_net(SGDMomentum(0.01))
    seen = []
    for _i, _, _, g in forward_pass(net.layers, net.embed(data.x, np.zeros(30, int))):
        seen.append(g.copy())
    table = net.goodness_table(data.x)
    for layer, g in enumerate(seen):
        np.testing.assert_array_equal(table[:, 0, layer], g)

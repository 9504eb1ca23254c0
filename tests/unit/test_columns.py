"""The race's columns kernel (app/engine/columns.py) against the row layout it re-arranges."""

import copy
import pickle

import numpy as np
import pytest

from app.engine.ff import goodness, layer_loss
from app.engine.race import Race, RaceSettings
from tests.unit.test_ff import RecordingOptimizer, central_difference, layer_gradients

SETTINGS = [
    RaceSettings(seed=1),
    RaceSettings(seed=2, dataset="spiral", hidden_sizes=(8, 6, 5), grid_size=12),
    RaceSettings(seed=3, dataset="xor", hidden_sizes=(7,), theta=0.5),
    RaceSettings(seed=4, dataset="moons", optimizer="sgd", learning_rate=0.1),
    RaceSettings(seed=5, ff_schedule="joint", ff_input_normalization="none", ff_inference="skip-first"),
    RaceSettings(seed=6, ff_input_normalization="length", ff_inference="first", init_stream=3, noise=0.1),
]


def recording_races(settings: RaceSettings) -> tuple[Race, Race]:
    """The same race in both kernels, each net's optimizer replaced by one that records gradients."""
    races = Race(settings, kernel="rows"), Race(settings, kernel="columns")
    for race in races:
        race.ff.optimizer, race.backprop.optimizer = RecordingOptimizer(0.01), RecordingOptimizer(0.01)
    return races


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"{s.dataset}-{s.hidden_sizes}-{s.ff_schedule}")
def test_every_gradient_equals_the_row_layouts_to_rounding(settings):
    rows, columns = recording_races(settings)
    for _ in range(3):
        rows.step()
        columns.step()
    for net in ("ff", "backprop"):
        expected, got = getattr(rows, net).optimizer.calls, getattr(columns, net).optimizer.calls
        assert len(got) == len(expected) == (6 if net == "ff" and settings.ff_schedule == "separate" else 3)
        for (_, a), (_, b) in zip(expected, got, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-15 * np.max(np.abs(a)))


@pytest.mark.parametrize("target_pass", [0, 1], ids=["positive", "negative"])
def test_the_ff_gradient_matches_finite_differences_of_the_layer_loss(target_pass):
    race = recording_races(RaceSettings(seed=7, hidden_sizes=(6, 5)))[1]
    params = race.ff.layers[0].params.copy()
    race.step()
    gradient = layer_gradients(race.ff, race.ff.optimizer.calls[target_pass][1])[0]
    x = race._columns.ff_batches[target_pass][0].T  # rows [x, y, label, 1] of that pass
    target = 1.0 - target_pass

    def loss() -> float:
        y = np.maximum(x @ params, 0.0)
        return float(np.mean(layer_loss(goodness(y), race.ff.theta, target)))

    if target_pass == 1:  # the negative pass starts from the weights the positive pass left
        params -= 0.01 * layer_gradients(race.ff, race.ff.optimizer.calls[0][1])[0]
    for idx in [(0, 0), (1, 3), (2, 5), (4, 1), (4, 4)]:  # the last row is the bias
        assert gradient[idx] == pytest.approx(central_difference(loss, params, idx), rel=1e-6, abs=1e-9)


def test_the_default_kernel_trains_like_the_row_layout_to_rounding():
    rows, columns = Race(RaceSettings(seed=8), kernel="rows"), Race(RaceSettings(seed=8))
    assert columns.kernel == "columns"
    for _ in range(60):
        rows.step()
        columns.step()
    for a, b in zip(
        rows.ff.parameters.views + rows.backprop.params,
        columns.ff.parameters.views + columns.backprop.params,
        strict=True,
    ):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * np.max(np.abs(a)))
    a, b = rows.snapshot(), columns.snapshot()
    assert (a.ff.train_accuracy, a.ff.test_accuracy) == (b.ff.train_accuracy, b.ff.test_accuracy)
    assert b.ff.loss == pytest.approx(a.ff.loss, rel=1e-12)
    assert b.backprop.loss == pytest.approx(a.backprop.loss, rel=1e-12)
    # The grids are drawn at 8 bits (app/web/frames.py); the columns kernel computes them in float32.
    np.testing.assert_allclose(b.grid_ff, a.grid_ff, atol=1e-5)
    np.testing.assert_allclose(b.grid_backprop, a.grid_backprop, atol=1e-5)
    np.testing.assert_allclose(b.layer_maps, a.layer_maps, rtol=1e-5, atol=1e-5)


def test_copies_share_the_kernels_inputs_and_train_apart():
    race = Race(RaceSettings(seed=9))
    race.advance_to(5)
    fork = race.fork()
    assert fork._columns.ff_batches[0][0] is race._columns.ff_batches[0][0]
    assert len(fork._columns._plans) == 0  # no work arrays of its own (a Bound, empty)
    revived = pickle.loads(pickle.dumps(race))
    deep = copy.deepcopy(race)
    for other in (fork, revived, deep):
        other.advance_to(20)
    race.advance_to(20)
    for other in (fork, revived, deep):
        for a, b in zip(race.ff.parameters.views, other.ff.parameters.views, strict=True):
            np.testing.assert_array_equal(a, b)
        assert other.ff.parameters.flat is not race.ff.parameters.flat


def test_an_unknown_kernel_is_refused():
    with pytest.raises(ValueError, match="kernel must be one of columns, rows"):
        Race(RaceSettings(), kernel="gpu")


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"{s.dataset}-{s.hidden_sizes}-{s.ff_inference}")
def test_every_snapshot_number_equals_the_row_layouts_to_rounding(settings):
    # The columns evaluation computes the last layer's goodness from H'' = [Y, s], decides two
    # labels by one comparison and takes backprop's loss from the logit difference: the same
    # numbers as the row layout's, to rounding, for every architecture and inference rule.
    rows, columns = Race(settings, kernel="rows"), Race(settings)
    for race in (rows, columns):
        race.advance_to(25)
    columns.ff.parameters.flat[:] = rows.ff.parameters.flat  # the same weights in both
    columns.backprop.parameters.flat[:] = rows.backprop.parameters.flat
    a, b = rows.snapshot(), columns.snapshot()
    for net in ("ff", "backprop"):
        x, y = getattr(a, net), getattr(b, net)
        assert (x.train_accuracy, x.test_accuracy) == (y.train_accuracy, y.test_accuracy)
        assert y.loss == pytest.approx(x.loss, rel=1e-12)
    assert b.ff_layer_test_accuracy == a.ff_layer_test_accuracy
    np.testing.assert_allclose(b.goodness_positive, a.goodness_positive, rtol=1e-12)
    np.testing.assert_allclose(b.goodness_negative, a.goodness_negative, rtol=1e-12)
    np.testing.assert_allclose(b.grid_ff, a.grid_ff, atol=1e-5)
    np.testing.assert_allclose(b.grid_backprop, a.grid_backprop, atol=1e-5)
    np.testing.assert_allclose(b.layer_maps, a.layer_maps, rtol=1e-5, atol=1e-5)
    assert rows.train_accuracies() == columns.train_accuracies()


def test_softplus_takes_the_overflow_safe_form_for_large_arguments():
    from app.engine.evaluate import SOFTPLUS_DIRECT_BELOW, _softplus

    z = np.array([-800.0, -30.0, -1e-3, 0.0, 2.5, 40.0, 699.0])
    expected = np.logaddexp(0.0, z)
    np.testing.assert_allclose(_softplus(z.copy(), np.empty_like(z)), expected, rtol=1e-15)
    large = np.append(z, [SOFTPLUS_DIRECT_BELOW, 1e4])  # e^1e4 overflows: the safe form is taken
    with np.errstate(over="raise"):
        got = _softplus(large.copy(), np.empty_like(large))
    np.testing.assert_allclose(got, np.logaddexp(0.0, large), rtol=1e-15)

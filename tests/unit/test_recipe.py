"""The FF recipe the race uses: the raw input rescaled as Hinton's code does, the inference rule,
each layer's own accuracy and goodness maps, and the class names of every data set."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.datasets import CLASS_NAMES, DATASET_NAMES
from app.engine.evaluate import layer_maps
from app.engine.ff import FFNetwork, embed_label
from app.engine.optim import Adam
from app.engine.race import HELD_OUT_BAR, Race, RaceSettings

coordinates = st.floats(-1.25, 1.25, allow_nan=False)


@given(x=coordinates, y=coordinates, label=st.integers(0, 1))
@settings(max_examples=60, deadline=None)
def test_rms_input_has_a_mean_square_of_one_and_keeps_the_bias(x, y, label):
    row = embed_label(np.array([[x, y]]), np.array([label]), 2, input_normalization="rms")[0]
    assert np.mean(row[:-1] ** 2) == pytest.approx(1.0, rel=1e-6)  # eps = 1e-8 in the divisor
    assert row[-1] == 1.0
    # Only rescaled: the direction of [x, y, one-hot] is the raw one.
    raw = embed_label(np.array([[x, y]]), np.array([label]), 2)[0, :-1]
    np.testing.assert_allclose(row[:-1] / np.linalg.norm(row[:-1]), raw / np.linalg.norm(raw), atol=1e-12)


def test_length_input_has_length_one_and_none_leaves_the_input():
    points = np.array([[0.3, -0.4], [1.0, 1.0]])
    unit = embed_label(points, np.array([0, 1]), 2, input_normalization="length")
    np.testing.assert_allclose(np.linalg.norm(unit[:, :-1], axis=1), 1.0)
    raw = embed_label(points, np.array([0, 1]), 2)
    np.testing.assert_array_equal(raw[:, :2], points)


def test_an_unknown_input_normalization_or_inference_rule_is_refused():
    with pytest.raises(ValueError, match="input_normalization must be one of none, rms, length"):
        embed_label(np.zeros((1, 2)), np.array([0]), 2, input_normalization="layer")
    with pytest.raises(ValueError, match="ff_inference must be one of all, skip-first, first"):
        RaceSettings(ff_inference="last")
    with pytest.raises(ValueError, match="skip-first"):
        FFNetwork((4,), 2, 2.0, Adam(0.01), np.random.default_rng(0), inference="skip-first")


def test_the_race_trains_on_the_inputs_its_inference_sees():
    race = Race(RaceSettings(seed=2))
    points = race.train.x[:5]
    trained_on = race.ff.embed(points, race.train.y[:5])
    np.testing.assert_allclose(trained_on, embed_label(points, race.train.y[:5], 2, input_normalization="rms"))


@pytest.mark.parametrize("rule, counted", [("all", (0, 1)), ("skip-first", (1,)), ("first", (0,))])
def test_every_inference_rule_sums_its_layers_everywhere(rule, counted):
    race = Race(RaceSettings(seed=4, steps=60, ff_inference=rule))
    while not race.done:
        race.step()
    table = race.ff.goodness_table(race.test.x)  # (points, labels, layers)
    expected = np.argmax(table[:, :, list(counted)].sum(axis=2), axis=1)
    snap = race.snapshot(grid=False)
    assert snap.ff.test_accuracy == pytest.approx(np.mean(expected == race.test.y))
    result = race.infer(*race.test.x[0])
    assert result.ff_layers_summed == list(counted)
    assert result.ff_totals == pytest.approx([sum(row[i] for i in counted) for row in result.ff_goodness])


def test_each_layers_accuracy_is_that_layer_alone_deciding():
    race = Race(RaceSettings(seed=5, steps=120))
    while not race.done:
        race.step()
    table = race.ff.goodness_table(race.test.x)
    alone = [np.mean(np.argmax(table[:, :, layer], axis=1) == race.test.y) for layer in range(2)]
    assert race.snapshot().ff_layer_test_accuracy == pytest.approx(alone)


def test_layer_maps_are_the_grid_goodness_averaged_in_blocks():
    race = Race(RaceSettings(seed=1, steps=30))
    while not race.done:
        race.step()
    snap = race.snapshot()
    maps = snap.layer_maps
    assert maps.shape == (2, 2, 16, 16)
    # A map cell is the mean goodness of the four grid cells it covers, with that label in the input.
    from app.engine.race import grid_points

    grid = grid_points(race.extent, 32)
    for layer, label in ((0, 1), (1, 0)):
        cells = grid.reshape(32, 32, 2)[2:4, 6:8].reshape(-1, 2)
        table = race.ff.goodness_table(cells)[:, label, layer]
        assert maps[layer, label, 1, 3] == pytest.approx(table.mean())
    odd = layer_maps(np.ones((1, 2, 9 * 9)), 9)
    assert odd.shape == (1, 2, 9, 9)  # an odd grid is kept whole


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_every_dataset_names_its_two_classes(name):
    assert len(CLASS_NAMES[name]) == 2 and all(CLASS_NAMES[name])
    assert CLASS_NAMES[name][0] != CLASS_NAMES[name][1]


def test_another_init_stream_draws_other_weights_from_the_same_data():
    a, b = Race(RaceSettings(seed=3)), Race(RaceSettings(seed=3, init_stream=1))
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert not np.allclose(a.ff.layers[0].params, b.ff.layers[0].params)
    c = Race(RaceSettings(seed=3, init_stream=1))
    np.testing.assert_array_equal(b.ff.layers[0].params, c.ff.layers[0].params)


@pytest.mark.parametrize("stream", [0, 1])
def test_the_default_recipe_meets_97_percent_on_19_of_20_disk_ring_seeds_for_each_weight_stream(stream):
    # Issue 8's target for the recipe chosen in docs/engine.md, on the data as it is (the default
    # jitter, never tuned to FF): held-out FF accuracy at or above 97% on at least 19 of seeds 0-19.
    accuracies = []
    for seed in range(20):
        race = Race(RaceSettings(seed=seed, init_stream=stream))
        race.advance_to(race.settings.steps)
        accuracies.append(race.snapshot(grid=False).ff.test_accuracy)
    passing = sum(accuracy >= HELD_OUT_BAR for accuracy in accuracies)
    assert passing >= 19, [round(a, 3) for a in accuracies]

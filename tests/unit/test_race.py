"""The race: validated settings, determinism, snapshots, decision grids and point inference."""

import dataclasses
import json

import numpy as np
import pytest

from app.engine import DATASET_NAMES, Race, RaceSettings


@pytest.mark.parametrize(
    "changes, parameter, allowed",
    [
        ({"dataset": "spirals"}, "dataset", "disk-ring"),
        ({"steps": 0}, "steps", "[1, 5000]"),
        ({"steps": -5}, "steps", "[1, 5000]"),
        ({"steps": 5001}, "steps", "[1, 5000]"),
        ({"steps": 10.5}, "steps", "[1, 5000]"),
        ({"theta": 0.0}, "theta", "[0.05, 50.0]"),
        ({"theta": -1.0}, "theta", "[0.05, 50.0]"),
        ({"theta": float("nan")}, "theta", "[0.05, 50.0]"),
        ({"learning_rate": 0.0}, "learning_rate", "[0.0001, 0.5]"),
        ({"learning_rate": 2.0}, "learning_rate", "[0.0001, 0.5]"),
        ({"hidden_sizes": (12, 0)}, "hidden_sizes", "[1, 64]"),
        ({"hidden_sizes": (65, 12)}, "hidden_sizes", "[1, 64]"),
        ({"hidden_sizes": ()}, "hidden_sizes", "1 to 4"),
        ({"seed": -1}, "seed", "[0, 2147483647]"),
        ({"seed": 2**31}, "seed", "[0, 2147483647]"),
        ({"grid_size": 4}, "grid_size", "[8, 128]"),
        ({"noise": 1.0}, "noise", "[0.0, 0.5]"),
        ({"optimizer": "lbfgs"}, "optimizer", "adam"),
    ],
)
def test_bad_settings_name_the_parameter_and_the_allowed_range(changes, parameter, allowed):
    with pytest.raises(ValueError) as error:
        RaceSettings(**changes)
    assert parameter in str(error.value) and allowed in str(error.value)


def test_settings_are_frozen_and_publish_their_bounds():
    settings = RaceSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 3
    bounds = RaceSettings.bounds()
    for name, (lo, hi, _default) in bounds.items():
        assert lo <= hi
        value = getattr(settings, name)
        if name == "hidden_sizes":
            assert all(lo <= w <= hi for w in value)
        elif value is not None:
            assert lo <= value <= hi
    assert bounds["steps"][2] == 900 and bounds["theta"][2] == 2.0
    assert settings.replace(seed=4).seed == 4
    json.dumps(settings.as_dict())
    with pytest.raises(ValueError, match="seed"):
        settings.replace(seed=-2)


def test_same_seed_gives_identical_weights_after_100_steps():
    a, b = Race(RaceSettings(seed=11)), Race(RaceSettings(seed=11))
    c = Race(RaceSettings(seed=12))
    for _ in range(100):
        a.step(), b.step(), c.step()
    for x, y in zip(a.ff.layers, b.ff.layers, strict=True):
        np.testing.assert_array_equal(x.params, y.params)
    for x, y in zip(a.backprop.params, b.backprop.params, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.ff.layers[0].params, c.ff.layers[0].params)


def test_snapshot_reports_both_nets():
    race = Race(RaceSettings(seed=1, grid_size=16))
    for _ in range(30):
        race.step()
    snap = race.snapshot(grid=True)
    assert snap.step == race.step_count == 30
    for metrics in (snap.ff, snap.backprop):
        assert 0.0 <= metrics.train_accuracy <= 1.0 and 0.0 <= metrics.test_accuracy <= 1.0
        assert metrics.loss > 0.0
    assert len(snap.goodness_positive) == len(snap.goodness_negative) == 2
    for grid in (snap.grid_ff, snap.grid_backprop):
        assert grid.shape == (16, 16) and np.all((grid >= 0) & (grid <= 1))
    assert race.snapshot(grid=False).grid_ff is None
    # The FF net learns to give positive data more goodness than negative data.
    assert sum(snap.goodness_positive) > sum(snap.goodness_negative)


@pytest.mark.parametrize("kernel", ["columns", "rows"])
def test_grid_orientation_row_zero_is_the_top_and_matches_infer(kernel):
    race = Race(RaceSettings(seed=2, grid_size=8), kernel=kernel)
    # The columns kernel draws its grids in float32 (sent at 8 bits): equal to 1e-6 there, not relatively.
    close = {"abs": 1e-6} if kernel == "columns" else {}
    for _ in range(200):
        race.step()
    grid_ff, grid_bp = race.decision_grids()
    xmin, xmax, ymin, ymax = race.extent
    cell = (xmax - xmin) / 8
    # Row 0, column 7: the top-right cell, centre (xmax - cell/2, ymax - cell/2).
    result = race.infer(xmax - cell / 2, ymax - cell / 2)
    assert grid_bp[0, 7] == pytest.approx(result.backprop_probabilities[0], **close)
    totals = np.array(result.ff_totals)
    assert grid_ff[0, 7] == pytest.approx(1 / (1 + np.exp(totals[1] - totals[0])), **close)
    # After training, the centre (inner disk) is class A and the corners (outside the ring) are not.
    assert grid_bp[3:5, 3:5].min() > 0.5 and grid_bp[0, 0] < 0.5


def test_infer_reports_per_label_goodness_and_the_winner():
    race = Race(RaceSettings(seed=3))
    for _ in range(300):
        race.step()
    for x, y, label in ((0.0, 0.05, 0), (0.85, 0.0, 1)):
        result = race.infer(x, y)
        assert len(result.ff_goodness) == 2 and all(len(row) == 2 for row in result.ff_goodness)
        np.testing.assert_allclose(result.ff_totals, np.sum(result.ff_goodness, axis=1))
        assert result.ff_label == int(np.argmax(result.ff_totals)) == label
        assert result.backprop_label == label
        assert sum(result.backprop_probabilities) == pytest.approx(1.0)


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_every_dataset_races(name):
    race = Race(RaceSettings(dataset=name, steps=5, grid_size=8))
    for _ in range(5):
        race.step()
    assert race.done
    assert race.snapshot().grid_ff.shape == (8, 8)


@pytest.mark.parametrize("seed", [0, 7, 13])
def test_default_race_reaches_95_percent_held_out(seed):
    race = Race(RaceSettings(seed=seed))
    while not race.done:
        race.step()
    snap = race.snapshot(grid=False)
    assert snap.ff.test_accuracy >= 0.95 and snap.backprop.test_accuracy >= 0.95


def test_a_fork_goes_on_exactly_as_the_original_but_apart():
    race = Race(RaceSettings(seed=6, steps=60))
    race.advance_to(20)
    fork = race.fork()
    assert fork.step_count == 20 and fork.train.x is race.train.x
    assert all(a is b for a, b in zip(fork.ff.cached_inputs, race.ff.cached_inputs, strict=True))
    fork.advance_to(50)
    assert race.step_count == 20  # the original did not move
    race.advance_to(50)
    for a, b in zip(race.ff.layers, fork.ff.layers, strict=True):
        np.testing.assert_array_equal(a.params, b.params)
        assert a.params.base is not b.params.base
    for a, b in zip(race.backprop.params, fork.backprop.params, strict=True):
        np.testing.assert_array_equal(a, b)
    assert race.snapshot(grid=False) == fork.snapshot(grid=False)


def test_advance_to_moves_forward_only_and_reports_every_step():
    race = Race(RaceSettings(seed=1))
    seen = []
    assert race.advance_to(3, on_step=lambda r: seen.append(r.step_count)) is True
    assert seen == [1, 2, 3]
    assert race.advance_to(2) is True and race.step_count == 3  # never backwards
    with pytest.raises(ValueError, match="integer"):
        race.advance_to(4.0)


def test_time_steps_times_each_net_on_a_fork():
    race = Race(RaceSettings(seed=2))
    race.advance_to(5)
    before = [layer.params.copy() for layer in race.ff.layers]
    times = race.time_steps(repeats=5)
    assert times.ff > 0 and times.backprop > 0 and times.repeats == 5
    assert race.step_count == 5
    for a, b in zip(before, race.ff.layers, strict=True):
        np.testing.assert_array_equal(a, b.params)
    with pytest.raises(ValueError, match="repeats"):
        race.time_steps(0)


def test_advance_to_stops_at_a_deadline_after_at_least_one_step():
    import time

    race = Race(RaceSettings(seed=4, steps=500))
    assert race.advance_to(500, deadline=time.perf_counter()) is False
    assert race.step_count == 1  # a deadline already past still makes progress
    assert race.advance_to(5) is True and race.step_count == 5
    assert race.advance_to(3) is True and race.step_count == 5  # never backwards

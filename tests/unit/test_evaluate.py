"""The batched snapshot (app/engine/evaluate.py) against a straightforward reference computation."""

import copy

import numpy as np
import pytest

from app.engine import Race, RaceSettings
from app.engine.ff import layer_loss
from app.engine.race import N_LABELS


def reference_snapshot(race: Race) -> dict:
    """Every figure the long way: one FF pass per label and per point set, one backprop pass each."""
    ff, bp = race.ff, race.backprop
    (x, y), (tx, ty) = (race.train.x, race.train.y), (race.test.x, race.test.y)
    table = ff.goodness_table(x)  # (n, labels, layers)
    n = len(y)
    true = np.zeros(table.shape[:2], bool)
    true[np.arange(n), y] = True
    positive, negative = table[true], table[~true].reshape(n, N_LABELS - 1, -1)
    grid = race._grid
    size = race.settings.grid_size
    return {
        "ff_train": float(np.mean(ff.predict(x) == y)),
        "ff_test": float(np.mean(ff.predict(tx) == ty)),
        "ff_loss": float(
            np.mean(layer_loss(positive, ff.theta, 1.0).sum(axis=1))
            + np.mean(layer_loss(negative, ff.theta, 0.0).sum(axis=2))
        ),
        "goodness_positive": positive.mean(axis=0),
        "goodness_negative": negative.mean(axis=(0, 1)),
        "bp_train": float(np.mean(bp.predict(x) == y)),
        "bp_test": float(np.mean(bp.predict(tx) == ty)),
        "bp_loss": bp.loss(x, y),
        "grid_ff": ff.probability_of_label(grid, 0).reshape(size, size),
        "grid_bp": bp.probabilities(grid)[:, 0].reshape(size, size),
    }


def assert_matches_reference(race: Race) -> None:
    expected = reference_snapshot(race)
    snap = race.snapshot(grid=True)
    # Accuracies count the same argmax decisions: exactly equal.
    assert snap.ff.train_accuracy == expected["ff_train"]
    assert snap.ff.test_accuracy == expected["ff_test"]
    assert snap.backprop.train_accuracy == expected["bp_train"]
    assert snap.backprop.test_accuracy == expected["bp_test"]
    # Sums taken in another order: equal to float rounding.
    assert snap.ff.loss == pytest.approx(expected["ff_loss"], rel=1e-12)
    assert snap.backprop.loss == pytest.approx(expected["bp_loss"], rel=1e-12)
    np.testing.assert_allclose(snap.goodness_positive, expected["goodness_positive"], rtol=1e-12)
    np.testing.assert_allclose(snap.goodness_negative, expected["goodness_negative"], rtol=1e-12)
    # The columns kernel draws its grids in float32 (they are sent at 8 bits): to 1e-5 there.
    grid_atol = 1e-12 if race.kernel == "rows" else 1e-5
    np.testing.assert_allclose(snap.grid_ff, expected["grid_ff"], rtol=0, atol=grid_atol)
    np.testing.assert_allclose(snap.grid_backprop, expected["grid_bp"], rtol=0, atol=grid_atol)
    # The cheaper variants report the same figures as the full snapshot.
    short = race.snapshot(grid=False)
    assert (short.ff, short.backprop) == (snap.ff, snap.backprop)
    assert race.train_accuracies() == (snap.ff.train_accuracy, snap.backprop.train_accuracy)
    grid_ff, grid_bp = race.decision_grids()
    np.testing.assert_allclose(grid_ff, snap.grid_ff, rtol=0, atol=1e-15)
    np.testing.assert_allclose(grid_bp, snap.grid_backprop, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kernel", ["columns", "rows"])
@pytest.mark.parametrize(
    "settings",
    [
        RaceSettings(seed=0),
        RaceSettings(seed=5, hidden_sizes=(8, 6, 5), grid_size=12, dataset="spiral"),
        RaceSettings(seed=2, hidden_sizes=(7,), theta=0.5, dataset="xor"),
    ],
)
def test_the_batched_snapshot_equals_the_reference(settings, kernel):
    race = Race(settings, kernel=kernel)
    for steps in (0, 1, 40, 160):
        while race.step_count < steps:
            race.step()
        assert_matches_reference(race)


def test_grids_are_fresh_arrays_not_views_of_scratch():
    race = Race(RaceSettings(seed=3, grid_size=8))
    first = race.snapshot()
    kept = first.grid_ff.copy(), first.grid_backprop.copy()
    for _ in range(30):
        race.step()
    race.snapshot()
    np.testing.assert_array_equal(first.grid_ff, kept[0])
    np.testing.assert_array_equal(first.grid_backprop, kept[1])


@pytest.mark.parametrize("kernel", ["columns", "rows"])
def test_a_copied_race_shares_the_inputs_but_not_the_scratch(kernel):
    race = Race(RaceSettings(seed=4), kernel=kernel)
    race.snapshot()
    clone = copy.deepcopy(race)
    assert clone._evaluator.ff_inputs is race._evaluator.ff_inputs
    assert clone._evaluator.ff_columns is race._evaluator.ff_columns
    for _ in range(20):
        clone.step()
    before = race.snapshot()
    clone.snapshot()  # the clone's pass must not write into the original's buffers
    after = race.snapshot()
    assert (before.ff, before.backprop) == (after.ff, after.backprop)
    assert_matches_reference(clone)

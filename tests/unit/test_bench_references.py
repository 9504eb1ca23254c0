"""The references every engine speed figure is a ratio to (bench/_reference.py, bench/_before.py)
compute what the engine computes: a ratio to a reference that drifted would mean nothing, and
`make bench` is not run by CI."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.race import Race, RaceSettings
from bench._before import BeforeRace
from bench._reference import PlainRace, check_against


@pytest.mark.parametrize("kernel", ["columns", "rows"])
@pytest.mark.parametrize(
    "settings", [RaceSettings(), RaceSettings(dataset="spiral", seed=7)], ids=["default", "spiral"]
)
def test_the_plain_numpy_step_trains_like_the_engine(settings: RaceSettings, kernel: str) -> None:
    worst = check_against(lambda: Race(settings, kernel=kernel), steps=30)
    assert worst < 1e-9


def test_the_check_fails_when_the_reference_computes_another_step() -> None:
    class Drifted(PlainRace):
        def backprop_step(self) -> None:  # one backprop update too many
            super().backprop_step()
            super().backprop_step()

    import bench._reference as reference

    original = reference.PlainRace
    reference.PlainRace = Drifted  # type: ignore[misc]  # check_against looks the class up at call time
    try:
        with pytest.raises(AssertionError, match="disagree"):
            check_against(lambda: Race(RaceSettings()), steps=5)
    finally:
        reference.PlainRace = original  # type: ignore[misc]  # restored for the other tests


def test_todays_snapshot_and_grids_match_the_engines() -> None:
    race = Race(RaceSettings(seed=3))
    race.advance_to(120)
    before, now = BeforeRace(race).snapshot(), race.snapshot()
    assert before.step == now.step == 120
    for then_metrics, now_metrics in ((before.ff, now.ff), (before.backprop, now.backprop)):
        assert then_metrics.train_accuracy == pytest.approx(now_metrics.train_accuracy, abs=1e-9)
        assert then_metrics.test_accuracy == pytest.approx(now_metrics.test_accuracy, abs=1e-9)
        assert then_metrics.loss == pytest.approx(now_metrics.loss, rel=1e-6)
    np.testing.assert_allclose(before.goodness_positive, now.goodness_positive, rtol=1e-9)
    np.testing.assert_allclose(before.goodness_negative, now.goodness_negative, rtol=1e-9)
    assert before.ff_layer_test_accuracy == pytest.approx(now.ff_layer_test_accuracy, abs=1e-9)
    # The grids and layer maps are float32 now and were float64 then.
    np.testing.assert_allclose(before.layer_maps, now.layer_maps, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(before.grid_ff, now.grid_ff, atol=1e-4)
    np.testing.assert_allclose(before.grid_backprop, now.grid_backprop, atol=1e-4)
    for then_grid, now_grid in zip(BeforeRace(race).decision_grids(), race.decision_grids(), strict=True):
        np.testing.assert_allclose(then_grid, now_grid, atol=1e-4)

"""The many-seed figures the article quotes (app/web/*.json): written by bench commands, they must
describe the race the engine runs now, and rerunning a seed must give the recorded numbers."""

from __future__ import annotations

import pytest

from app.commands.race import train
from app.engine.datasets import DATASET_NAMES, DEFAULT_NOISE
from app.engine.race import Race, RaceSettings
from app.web.measured import measured_figures


def test_both_files_are_there_and_name_their_command_and_machine():
    figures = measured_figures()
    assert set(figures) == {"race_seeds", "datasets"}
    for name, figure in figures.items():
        assert figure["command"].startswith("python -m app bench --only"), name
        assert figure["cpu"], name


def test_the_seed_figures_are_of_the_default_race_as_it_is_now():
    seeds = measured_figures()["race_seeds"]
    assert seeds["settings"] == RaceSettings().as_dict(), (
        "the default race changed: rerun python -m app bench --only race_seeds -- --write app/web/race_seeds.json"
    )
    assert seeds["seeds"] == list(range(20))
    reached = [run["ff"]["steps_to_95"] for run in seeds["runs"]]
    assert seeds["steps_to_95"]["ff"]["min"] == min(reached)
    assert seeds["steps_to_95"]["ff"]["max"] == max(reached)


def test_the_data_set_figures_are_of_the_races_recipe():
    table = measured_figures()["datasets"]
    defaults = RaceSettings()
    assert table["input_normalization"] == defaults.ff_input_normalization
    assert table["inference"] == defaults.ff_inference
    assert [row["dataset"] for row in table["datasets"]] == list(DATASET_NAMES)
    for row in table["datasets"]:
        assert row["noise"] == DEFAULT_NOISE[row["dataset"]], row["dataset"]
        assert row["runs"] == table["seeds"] * table["streams"]


@pytest.mark.parametrize("seed", [0, 3])
def test_rerunning_a_seed_gives_the_recorded_figures(seed):
    recorded = next(run for run in measured_figures()["race_seeds"]["runs"] if run["seed"] == seed)
    now = train(RaceSettings(seed=seed))
    for net in ("ff", "backprop"):
        # Another CPU's BLAS may round differently: allow one held-out point and a few steps.
        assert now[net]["test_accuracy"] == pytest.approx(recorded[net]["test_accuracy"], abs=1 / 300 + 1e-9)
        assert abs(now[net]["steps_to_95"] - recorded[net]["steps_to_95"]) <= 3
    # Each FF layer's own held-out accuracy (the article's per-layer figures) likewise.
    race = Race(RaceSettings(seed=seed))
    race.advance_to(race.settings.steps)
    layers = race.snapshot(grid=False).ff_layer_test_accuracy
    assert layers == pytest.approx(recorded["ff"]["layer_test_accuracy"], abs=1 / 300 + 1e-9)

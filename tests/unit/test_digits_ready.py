"""The drawing pad's ready network (app/engine/digits_ready.py) and DigitsRun's fork and weights."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.digits import DigitsRun, DigitsSettings
from app.engine.digits_ready import (
    LIVE_SETTINGS,
    READY_PATH,
    READY_SHA256,
    read_ready,
    ready_facts,
    ready_run,
)
from app.engine.mnist import file_sha256, load_sample

SMALL = DigitsSettings(hidden=(16, 8), epochs=2, batch_size=200, eval_size=50)


@pytest.fixture(scope="module")
def data():
    return load_sample()


def test_the_committed_weights_are_the_ones_the_script_wrote():
    assert file_sha256(READY_PATH) == READY_SHA256


def test_the_figures_the_page_quotes_are_what_the_stored_weights_score(data):
    facts = ready_facts()
    run = read_ready(READY_PATH, data)
    errors = run.evaluate(full=True)
    assert (facts.test_error_ff, facts.test_error_backprop) == (errors.ff_error, errors.backprop_error)
    assert facts.hidden == LIVE_SETTINGS.hidden == run.settings.hidden
    assert facts.batches == run.total_batches  # trained to the end
    assert errors.ff_error < 0.1 and errors.backprop_error < 0.1  # a trained net, not a fresh one


def test_ready_run_is_loaded_once():
    assert ready_run() is ready_run()


def test_a_fork_trains_on_bit_for_bit_as_the_original_would(data):
    run = DigitsRun(SMALL, data)
    run.train_batches(5)
    fork = run.fork()
    assert fork.train_x is run.train_x and fork.data is run.data  # the data are shared
    run.train_batches(7)
    fork.train_batches(7)
    for name, matrix in run.weights().items():
        assert np.array_equal(matrix, fork.weights()[name]), name
    assert run.evaluate() == fork.evaluate()


def test_a_fork_is_independent(data):
    run = DigitsRun(SMALL, data)
    fork = run.fork()
    fork.train_batches(3)
    assert run.batches_done == 0
    assert not np.array_equal(run.weights()["ff_0"], fork.weights()["ff_0"])


def test_load_weights_checks_names_and_shapes(data):
    run = DigitsRun(SMALL, data)
    weights = {name: matrix.copy() for name, matrix in run.weights().items()}
    with pytest.raises(ValueError, match="weights must name exactly"):
        run.load_weights({"ff_0": weights["ff_0"]})
    wrong = {**weights, "ff_1": np.zeros((3, 3))}
    with pytest.raises(ValueError, match="ff_1 must have shape"):
        run.load_weights(wrong)
    other = DigitsRun(SMALL.replace(seed=7), data)
    other.load_weights(weights)
    image = data.test_images[3]
    assert other.infer(image) == run.infer(image)

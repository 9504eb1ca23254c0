"""The live digits runs' settings and drawn-digit queries (app/web/digits_live.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.engine.digits import DigitsRun
from app.engine.drawing import rasterize
from app.web.digits_live import (
    RECENT_STEPS,
    DigitQuery,
    DigitsRunState,
    LiveDigitsSettings,
    answer,
    sample_data,
    strip_index,
)


def test_settings_are_checked_by_the_engine_and_equal_settings_share_a_key():
    assert repr(LiveDigitsSettings(3, "random")) == repr(LiveDigitsSettings(seed=3, negatives="random"))
    assert LiveDigitsSettings().steps == 1200
    with pytest.raises(ValueError, match="seed must be an integer"):
        LiveDigitsSettings(seed=-1)
    with pytest.raises(ValueError, match="negatives must be one of hard, random"):
        LiveDigitsSettings(negatives="easy")


def test_a_query_gives_the_image_the_nets_receive():
    strokes = ((0.5, 0.1), (0.5, 0.9)), ((0.3, 0.5), (0.7, 0.5))
    image = DigitQuery(strokes=strokes).image()
    assert image.dtype == np.uint8 and image.shape == (28, 28)
    assert np.array_equal(image, np.clip(np.rint(rasterize([list(s) for s in strokes]) * 255), 0, 255))
    held = DigitQuery(heldout=7).image()
    assert np.array_equal(held.ravel(), np.asarray(sample_data().test_images[7]).ravel())
    assert hash(DigitQuery(strokes=strokes)) == hash(DigitQuery(strokes=strokes))


def test_the_strip_is_two_held_out_digits_of_each_class():
    labels = sorted(int(sample_data().test_labels[i]) for i in strip_index())
    assert labels == sorted(list(range(10)) * 2)


def test_a_frame_behind_the_producer_is_replayed_exactly():
    state = DigitsRunState(LiveDigitsSettings(seed=1))
    ahead = state.frame(9, None)
    assert state.position == 9
    behind = state.frame(4, None)
    assert state.position == 9  # the producer never moves back
    fresh = DigitsRunState(LiveDigitsSettings(seed=1))
    assert behind == fresh.frame(4, None) and ahead == fresh.frame(9, None)
    assert json.loads(ahead)["step"] == 9


def test_a_long_replay_stops_at_its_deadline_and_goes_on_where_it_stopped():
    state = DigitsRunState(LiveDigitsSettings(seed=2))
    state.frame(30, None)
    assert state.frame(20, deadline=0.0) is None  # a deadline already past: one minibatch, then stop
    assert state.replay is not None and state.replay.batches_done == 1
    finished = state.frame(20, None)
    assert finished == DigitsRunState(LiveDigitsSettings(seed=2)).frame(20, None)


def fresh_answer(seed: int, step: int, query: DigitQuery):
    """What a run replayed from scratch to `step` answers: the net the page shows at that step."""
    run = DigitsRun(LiveDigitsSettings(seed=seed).digits, sample_data())
    assert run.advance_to(step)
    return answer(run, query)


def test_a_click_a_few_steps_behind_the_head_is_answered_without_a_replay():
    state = DigitsRunState(LiveDigitsSettings(seed=3))
    state.produce_to(12)  # the run produces frames ahead of the page, which shows step 9
    query = DigitQuery(heldout=28)
    got = state.infer(9, query, 0.0, None)
    assert got is not None
    assert state.replayed == 0 and state.model is None  # nothing trained but the producer
    assert state.position == 12
    want = fresh_answer(3, 9, query)
    assert got.inference.totals == want.inference.totals
    assert got.inference.goodness == want.inference.goodness
    assert got.inference.backprop_probabilities == want.inference.backprop_probabilities
    assert got.image == want.image
    # at the head too, and a later click further back reuses the same copy
    assert state.infer(12, query, 0.0, None).inference.totals == fresh_answer(3, 12, query).inference.totals
    assert state.replayed == 0


def test_a_click_further_back_than_the_recent_steps_is_replayed_exactly():
    state = DigitsRunState(LiveDigitsSettings(seed=3))
    state.produce_to(RECENT_STEPS + 4)
    assert sorted(state.recent) == list(range(5, RECENT_STEPS + 5))  # bounded: the newest RECENT_STEPS
    query = DigitQuery(heldout=5)
    got = state.infer(3, query, 0.0, None)
    assert state.replayed == 3  # from the checkpoint at 0
    assert got.inference.totals == fresh_answer(3, 3, query).inference.totals


def test_runs_share_the_samples_pixels_without_the_web_layer_assigning_them():
    one, two = DigitsRunState(LiveDigitsSettings(seed=1)), DigitsRunState(LiveDigitsSettings(seed=2))
    assert one.producer.train_x is two.producer.train_x and one.producer.test_x is two.producer.test_x
    assert not one.producer.train_x.flags.writeable

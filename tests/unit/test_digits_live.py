"""The live digits runs' settings and drawn-digit queries (app/web/digits_live.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.engine.drawing import rasterize
from app.web.digits_live import (
    DigitQuery,
    DigitsRunState,
    LiveDigitsSettings,
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

"""Article demos: the goodness layer, the normalization drag's next layer and the step traces."""

import json

import numpy as np
import pytest

from app.engine import demos
from app.engine.ff import FFLayer


def test_ten_positive_steps_raise_sigma_and_lower_the_pressure():
    for seed in range(5):
        history = demos.goodness_layer_history(seed, 2.0, [("positive", 10)])
        assert len(history) == 11 and history[0]["step"] == 0
        first, last = history[0], history[-1]
        assert last["probability"] > first["probability"] + 0.1
        assert last["pressure"] < first["pressure"]
        assert last["goodness"] > first["goodness"]
        assert len(last["activities"]) == 8 and min(last["activities"]) >= 0


def test_negative_steps_lower_goodness_and_states_are_consistent():
    history = demos.goodness_layer_history(1, 2.0, [("positive", 20), ("negative", 30)])
    assert history[-1]["goodness"] < history[20]["goodness"]
    for state in history:
        g = sum(a * a for a in state["activities"])
        assert state["goodness"] == pytest.approx(g)
        assert state["probability"] == pytest.approx(1 / (1 + np.exp(-(g - 2.0))))
        target = 1.0 if state["polarity"] == "positive" else 0.0
        assert state["pressure"] == pytest.approx(abs(state["probability"] - target))
        assert state["verdict"] == ("real" if state["probability"] > 0.5 else "fake")
    json.dumps(history)


def test_goodness_layer_is_the_race_layer_and_replays_deterministically():
    a = demos.goodness_layer_history(3, 1.5, [("negative", 4), ("positive", 3)])
    b = demos.goodness_layer_history(3, 1.5, [("negative", 4), ("positive", 3)])
    assert a == b
    assert demos.FFLayer is FFLayer


@pytest.mark.parametrize(
    "args, word",
    [
        ((0, 2.0, [("positive", 501)]), "total steps"),
        ((0, 2.0, [("positive", 300), ("negative", 201)]), "total steps"),
        ((0, 2.0, [("sideways", 1)]), "polarity"),
        ((0, 0.0, [("positive", 1)]), "theta"),
        ((-1, 2.0, []), "seed"),
    ],
)
def test_goodness_layer_rejects_bad_arguments(args, word):
    with pytest.raises(ValueError, match=word):
        demos.goodness_layer_history(*args)


def test_next_layer_sees_only_the_direction():
    base = demos.next_layer_response([0.3, 0.8])
    for c in (0.1, 2.0, 50.0):
        np.testing.assert_allclose(demos.next_layer_response([0.3 * c, 0.8 * c]), base, rtol=1e-6)
    assert demos.next_layer_response([0.8, 0.3]) != pytest.approx(base)


def test_exported_next_layer_reproduces_the_engine_formula():
    layer = demos.normalization_layer()
    json.dumps(layer)
    w, b, eps = np.array(layer["weights"]), np.array(layer["bias"]), layer["epsilon"]
    assert w.shape == (3, 2) and b.shape == (3,)
    for y in ([1.0, 0.0], [-0.4, 2.5], [3.0, -3.0]):
        y = np.array(y)
        expected = np.maximum(w @ (y / (np.linalg.norm(y) + eps)) + b, 0.0)
        np.testing.assert_allclose(demos.next_layer_response(y), expected)


@pytest.mark.parametrize("algorithm", demos.TRACE_ALGORITHMS)
def test_step_trace_is_a_real_step_of_a_three_layer_net(algorithm):
    trace = demos.step_trace(algorithm)
    json.dumps(trace)
    assert len(trace["layer_sizes"]) >= 4  # input + at least 3 layers
    events = trace["events"]
    assert [e["index"] for e in events] == list(range(len(events)))
    assert trace["peak_bytes"] == max(e["bytes_held"] for e in events) > 0
    assert sum(e["kind"] == "update" for e in events) >= 3


def test_step_trace_rejects_unknown_algorithms():
    with pytest.raises(ValueError, match="algorithm"):
        demos.step_trace("hebbian")

"""What the race streams about each FF layer and each data set, held against the engine itself."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from app.engine.datasets import CLASS_NAMES, DATASET_NAMES
from app.engine.race import Race, RaceSettings
from integration.conftest import finished, receive


def run_frames(ws, **settings) -> tuple[dict, list[dict]]:
    ws.send_json({"type": "start", "settings": settings})
    info, frames = None, []
    for _ in range(2000):
        message = receive(ws)
        if message["type"] == "race":
            info = message
        elif message["type"] == "frame":
            frames.append(message)
        if finished(message):
            return info, frames
    raise AssertionError("the race never finished")


@pytest.mark.parametrize("dataset", DATASET_NAMES)
def test_the_race_message_names_the_classes_of_its_data_set(client, dataset):
    with client.websocket_connect("/ws/race") as ws:
        info, _ = run_frames(ws, dataset=dataset, steps=4, speed=4)
    assert info["classes"] == list(CLASS_NAMES[dataset])


def test_each_layers_held_out_accuracy_and_maps_match_the_engine(client):
    settings = {"seed": 6, "steps": 48, "speed": 8}
    with client.websocket_connect("/ws/race") as ws:
        info, frames = run_frames(ws, **settings)
        last = frames[-1]
        ws.send_json({"type": "infer", "x": 0.1, "y": -0.2})
        answer = receive(ws)
    race = Race(RaceSettings(seed=6, steps=48))
    while not race.done:
        race.step()
    table = race.ff.goodness_table(race.test.x)
    alone = [np.mean(np.argmax(table[:, :, layer], axis=1) == race.test.y) for layer in range(2)]
    assert last["step"] == 48
    assert last["ff"]["layer_test_accuracy"] == pytest.approx(alone, abs=1e-4)
    layers = last["layers"]
    theta = info["settings"]["theta"]
    assert layers["scale"] == pytest.approx(4 * theta)
    assert len(layers["goodness"]) == 2 and all(len(per_label) == 2 for per_label in layers["goodness"])
    maps = race.snapshot().layer_maps
    for layer in range(2):
        for label in range(2):
            sent = np.frombuffer(base64.b64decode(layers["goodness"][layer][label]), np.uint8)
            expected = np.rint(np.minimum(maps[layer, label] / layers["scale"], 1.0) * 255).ravel()
            assert sent.shape == (layers["size"] ** 2,)
            assert np.max(np.abs(sent.astype(float) - expected)) <= 1
    # Inference: unrounded goodness, the layers summed, and totals that are exactly their sum.
    assert answer["type"] == "inference"
    result = race.infer(0.1, -0.2)
    assert answer["ff"]["goodness"] == result.ff_goodness
    assert answer["ff"]["layers_summed"] == [0, 1]
    assert answer["ff"]["totals"] == pytest.approx([sum(row) for row in answer["ff"]["goodness"]], rel=1e-12)

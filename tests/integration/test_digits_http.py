"""POST /api/digits/infer (the ready network reads a drawn or held-out digit) and GET /api/digits/heldout."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from app.engine.digits_ready import ready_run
from app.engine.drawing import rasterize
from app.web.digits_live import sample_data

STROKES = [[[0.3, 0.2], [0.7, 0.2], [0.45, 0.85]]]  # a "7"


def test_a_held_out_digit_gets_the_engines_answer(client):
    answer = client.post("/api/digits/infer", json={"heldout": 28})
    assert answer.status_code == 200
    body = answer.json()
    expected = ready_run().infer(sample_data().test_images[28])
    assert body["source"] == "ready" and body["step"] is None
    assert np.allclose(body["ff"]["goodness"], expected.goodness, rtol=1e-6)
    assert body["ff"]["totals"] == pytest.approx(expected.totals, rel=1e-6)
    assert body["ff"]["label"] == expected.label and body["ff"]["layers_summed"] == [0, 1]
    assert body["backprop"]["label"] == expected.backprop_label
    image = np.frombuffer(base64.b64decode(body["image"]), dtype=np.uint8)
    assert image.tolist() == np.asarray(sample_data().test_images[28]).ravel().tolist()


def test_a_drawing_is_prepared_as_mnist_and_read_with_ten_labels(client):
    body = client.post("/api/digits/infer", json={"strokes": STROKES}).json()
    image = np.clip(np.rint(rasterize(STROKES) * 255), 0, 255).astype(np.uint8)
    assert np.frombuffer(base64.b64decode(body["image"]), dtype=np.uint8).tolist() == image.ravel().tolist()
    expected = ready_run().infer(image)
    assert len(body["ff"]["goodness"]) == 10 and body["ff"]["totals"] == pytest.approx(expected.totals, rel=1e-6)
    assert sum(body["backprop"]["probabilities"]) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    "body, words",
    [
        ({"strokes": []}, "The drawing is empty: draw a digit first."),
        ({"strokes": [[]]}, "The drawing is empty"),
        ({}, "either strokes (a drawing) or heldout"),
        ({"strokes": STROKES, "heldout": 1}, "either strokes (a drawing) or heldout"),
        ({"strokes": "a 7"}, "strokes: Input should be a valid"),
        ({"strokes": [[[0.5, "x"]]]}, "strokes"),
        ({"strokes": [[[0.5, 0.5, 0.5]]]}, "strokes"),
        ({"strokes": [[[0.5, 1.5]]]}, "outside the pad"),
        ({"strokes": [[[0.5, 0.5]]] * 65}, "strokes"),
        ({"heldout": -1}, "heldout"),
        ({"heldout": 1000}, "heldout"),
        ({"heldout": "7"}, "heldout"),
        ({"heldout": 1.5}, "heldout"),
        ({"heldout": 2, "colour": "red"}, "colour"),
    ],
)
def test_bad_drawings_get_a_422_sentence(client, body, words):
    answer = client.post("/api/digits/infer", json=body)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and words in detail, detail


def test_too_many_points_get_a_sentence(client):
    strokes = [[[0.5, 0.5]] * 2100, [[0.4, 0.4]] * 2100]
    answer = client.post("/api/digits/infer", json={"strokes": strokes})
    assert answer.status_code == 422 and "at most 4000 points" in answer.json()["detail"]


def test_bad_json_and_oversized_bodies(client):
    assert client.post("/api/digits/infer", content=b"{not json").status_code == 422
    limit = client.app.state.settings.max_drawing_bytes
    huge = b'{"strokes": [[' + b"[0.5, 0.5]," * (limit // 10) + b"[0.5, 0.5]]]}"
    answer = client.post("/api/digits/infer", content=huge, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and str(limit) in answer.json()["detail"]


def test_bad_requests_change_nothing(client):
    before = client.post("/api/digits/infer", json={"heldout": 5}).json()
    for body in ({"strokes": []}, {"heldout": 1000}, {"strokes": [[[9, 9]]]}):
        assert client.post("/api/digits/infer", json=body).status_code == 422
    assert client.post("/api/digits/infer", json={"heldout": 5}).json() == before


def test_the_held_out_strip_has_two_digits_of_each_class(client):
    body = client.get("/api/digits/heldout").json()
    digits = body["digits"]
    assert sorted(d["label"] for d in digits) == sorted(list(range(10)) * 2)
    data = sample_data()
    for digit in digits:
        assert data.test_labels[digit["index"]] == digit["label"]
        pixels = np.frombuffer(base64.b64decode(digit["image"]), dtype=np.uint8)
        assert pixels.tolist() == np.asarray(data.test_images[digit["index"]]).ravel().tolist()
    assert "MNIST" in body["credit"]


def test_a_flood_of_heavy_drawings_is_refused_for_its_sender_only(client):
    """Engine work over HTTP is charged to the sender's address like its sockets' work: a script
    sending the heaviest drawings it may (64 strokes, 4,000 points) soon gets 429 with Retry-After,
    while a reader at another address is answered as usual."""
    from starlette.testclient import TestClient

    heavy = {"strokes": [[[(i % 50) / 50, ((i * 7 + s) % 50) / 50] for i in range(62)] for s in range(64)]}
    statuses = []
    for _ in range(200):
        response = client.post("/api/digits/infer", json=heavy)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert "busy" in response.json()["detail"]
            break
    assert statuses[0] == 200 and statuses[-1] == 429, statuses
    neighbour = TestClient(client.app, client=("192.0.2.7", 50000))
    answer = neighbour.post("/api/digits/infer", json={"heldout": 3})
    assert answer.status_code == 200 and len(answer.json()["ff"]["totals"]) == 10
    assert client.post("/api/digits/infer", json={"heldout": 3}).status_code == 429  # still over, still refused

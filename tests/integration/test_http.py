"""HTTP routes: health, metrics, security headers, the page and the APIs the article's widgets call."""

from __future__ import annotations

import pytest

from app import __version__
from app.engine.race import RaceSettings


def assert_security_headers(response, frame_ancestors="'self'"):
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and f"frame-ancestors {frame_ancestors}" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]


def test_healthz_answers_with_the_version(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/static/css/theme.css", "/no/such/page",
                                  "/api/trace?algorithm=nope"])
def test_every_response_carries_the_security_headers(make_client, path):
    client = make_client(frame_ancestors="'self' https://course.example")
    assert_security_headers(client.get(path), "'self' https://course.example")


def test_the_page_renders_with_its_context(make_client, tmp_path):
    # A stand-in template that prints the context, so this test checks the route and not the article.
    (tmp_path / "index.html").write_text(
        "{{ version }}|{{ race_defaults.theta.max }}|{{ race_defaults.dataset.choices | join(',') }}"
        "|{{ race_defaults.speed.default }}|{{ normalization.weights | length }}"
        "|{{ scorecard.steps_to_95_percent['backprop'] }}|{{ url_for('static', path='css/theme.css') }}")
    client = make_client(templates_dir=tmp_path)
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    version, theta_max, datasets, speed, weights, steps_to_95, css = response.text.split("|")
    assert version == __version__
    assert float(theta_max) == RaceSettings.BOUNDS["theta"][1]
    assert datasets.split(",") == list(RaceSettings.CHOICES["dataset"])
    assert speed == "4" and weights == "3" and int(steps_to_95) > 0
    assert css.endswith("/static/css/theme.css")
    assert_security_headers(response)


def test_the_real_article_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    assert 'data-widget="race"' in response.text


@pytest.mark.parametrize("path", ["/", "/embed/race", "/healthz"])
def test_pages_answer_head_like_get_without_a_body(client, path):
    # Link checkers and LMS link previews probe with HEAD; a 405 would read as a broken link.
    got, head = client.get(path), client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.content == b""


def test_metrics_expose_the_counters(client):
    with client.websocket_connect("/ws/race") as ws:
        ws.send_json({"type": "start", "settings": {"steps": 4}})
        ws.receive_text()
        text = client.get("/metrics").text
    for name in ("ff_live_sessions 1.0", "ff_frames_sent_total", "ff_cache_hits_total", "ff_cache_misses_total",
                 "ff_refusals_total"):
        assert name in text


@pytest.mark.parametrize("algorithm", ["backprop", "forward-forward"])
def test_trace_returns_the_events_of_one_real_step(client, algorithm):
    body = client.get(f"/api/trace?algorithm={algorithm}").json()
    assert body["algorithm"] == algorithm and body["events"]
    assert body["peak_bytes"] == max(event["bytes_held"] for event in body["events"])


def test_trace_refuses_an_unknown_algorithm(client):
    assert client.get("/api/trace?algorithm=hebbian").status_code == 422
    assert client.get("/api/trace").status_code == 422


def test_goodness_replays_the_actions(client):
    request = {"seed": 3, "theta": 2.0, "actions": [{"polarity": "positive", "steps": 5},
                                                    {"polarity": "negative", "steps": 2}]}
    first = client.post("/api/goodness", json=request).json()
    assert len(first["history"]) == 1 + 5 + 2
    assert first == client.post("/api/goodness", json=request).json()  # stateless, deterministic
    assert first["history"][5]["goodness"] > first["history"][0]["goodness"]


@pytest.mark.parametrize("body, status", [
    ({"theta": 1e9}, 422),
    ({"theta": "NaN"}, 422),
    ({"seed": -1}, 422),
    ({"actions": [{"polarity": "sideways", "steps": 1}]}, 422),
    ({"actions": [{"polarity": "positive", "steps": 400}, {"polarity": "negative", "steps": 400}]}, 422),
    ({"actions": [{"polarity": "positive", "steps": 0}] * 33}, 422),
    ({"unexpected": 1}, 422),
    ({"actions": [{"polarity": "positive", "steps": 0}] * 200}, 413),
])
def test_goodness_refuses_bad_or_unbounded_requests(client, body, status):
    assert client.post("/api/goodness", json=body).status_code == status


def test_goodness_refuses_malformed_json(client):
    response = client.post("/api/goodness", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_scorecard_is_measured_once_and_cached(client):
    first = client.get("/api/scorecard").json()
    assert set(first["peak_bytes_per_step"]) == {"backprop", "forward-forward"}
    assert all(0 < steps <= 900 for steps in first["steps_to_95_percent"].values())
    # Each net's own step, timed separately: one figure per column.
    assert first["ff_step_microseconds"] > 0 and first["backprop_step_microseconds"] > 0
    assert "race_step_microseconds" not in first
    assert client.get("/api/scorecard").json() is not None
    assert client.get("/api/scorecard").json() == first


def test_scorecard_steps_to_95_are_the_clis(client):
    """One definition: the scorecard's steps to 95% are the training-accuracy figure of `python -m app race`."""
    from app.commands.race import train

    figures = client.get("/api/scorecard").json()
    cli = train(RaceSettings())
    assert figures["accuracy_measured_on"] == "training points"
    assert figures["steps_to_95_percent"] == {"forward-forward": cli["ff"]["steps_to_95"],
                                              "backprop": cli["backprop"]["steps_to_95"]}

"""HTTP routes: health, metrics, security headers, the page and the APIs the article's widgets call."""

from __future__ import annotations

import time

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


@pytest.mark.parametrize(
    "path", ["/healthz", "/metrics", "/static/css/theme.css", "/no/such/page", "/api/trace?algorithm=nope"]
)
def test_every_response_carries_the_security_headers(make_client, path):
    client = make_client(frame_ancestors="'self' https://course.example")
    assert_security_headers(client.get(path), "'self' https://course.example")


def test_the_page_renders_with_its_context(make_client, tmp_path):
    # A stand-in template that prints the context, so this test checks the route and not the article.
    (tmp_path / "index.html").write_text(
        "{{ version }}|{{ race_defaults.theta.max }}|{{ race_defaults.dataset.choices | join(',') }}"
        "|{{ race_defaults.speed.default }}|{{ normalization.weights | length }}"
        "|{{ scorecard.steps_to_95_percent['backprop'] }}|{{ url_for('static', path='css/theme.css') }}"
    )
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
    for name in (
        "ff_live_sessions 1.0",
        "ff_frames_sent_total",
        "ff_cache_hits_total",
        "ff_cache_misses_total",
        "ff_refusals_total",
    ):
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
    request = {
        "seed": 3,
        "theta": 2.0,
        "actions": [{"polarity": "positive", "steps": 5}, {"polarity": "negative", "steps": 2}],
    }
    first = client.post("/api/goodness", json=request).json()
    assert len(first["history"]) == 1 + 5 + 2
    assert first == client.post("/api/goodness", json=request).json()  # stateless, deterministic
    assert first["history"][5]["goodness"] > first["history"][0]["goodness"]


@pytest.mark.parametrize(
    "body, status",
    [
        ({"theta": 1e9}, 422),
        ({"theta": "NaN"}, 422),
        ({"seed": -1}, 422),
        ({"actions": [{"polarity": "sideways", "steps": 1}]}, 422),
        ({"actions": [{"polarity": "positive", "steps": 400}, {"polarity": "negative", "steps": 400}]}, 422),
        ({"actions": [{"polarity": "positive", "steps": 0}] * 33}, 422),
        ({"unexpected": 1}, 422),
        ({"actions": [{"polarity": "positive", "steps": 0}] * 200}, 413),
        # Wrong types are refused, not coerced (as on the sockets): a string seed, a boolean theta,
        # a string step count.
        ({"seed": "42"}, 422),
        ({"theta": True}, 422),
        ({"actions": [{"polarity": "positive", "steps": "3"}]}, 422),
        ({"seed": 42, "theta": 2}, 200),  # an integer theta is a number
    ],
)
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
    assert figures["steps_to_95_percent"] == {
        "forward-forward": cli["ff"]["steps_to_95"],
        "backprop": cli["backprop"]["steps_to_95"],
    }


# -- HEAD, the OpenAPI document, and requests cut short -------------------------------------------


def test_every_get_route_answers_head_like_get_without_a_body(client):
    gets = [route.path for route in client.app.routes if "GET" in getattr(route, "methods", ())]
    heads = {route.path for route in client.app.routes if "HEAD" in getattr(route, "methods", ())}
    assert gets and set(gets) <= heads
    for path in [
        "/oembed?url=http://testserver/embed/race",
        "/metrics",
        "/api/scorecard",
        "/api/trace?algorithm=backprop",
    ]:
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.headers["content-type"] == got.headers["content-type"] and head.content == b"", path


# Every answer each route gives, and a request that gets it.
ANSWERS = [
    ("get", "/", {}, 200),
    ("get", "/embed/race", {}, 200),
    ("get", "/embed/race?theta=99", {}, 400),
    ("get", "/embed/backprop", {}, 404),
    ("get", "/oembed?url=http://testserver/embed/race", {}, 200),
    ("get", "/oembed?url=http://testserver/embed/race&maxwidth=-1", {}, 400),
    ("get", "/oembed?url=http://evil.example/embed/race", {}, 404),
    ("get", "/oembed?url=http://testserver/embed/race&format=xml", {}, 501),
    ("get", "/healthz", {}, 200),
    ("get", "/readyz", {}, 200),
    ("get", "/metrics", {}, 200),
    ("get", "/api/trace?algorithm=backprop", {}, 200),
    ("get", "/api/trace?algorithm=hebbian", {}, 422),
    ("get", "/api/scorecard", {}, 200),
    ("post", "/api/goodness", {"json": {}}, 200),
    ("post", "/api/goodness", {"json": {"seed": -1}}, 422),
    ("post", "/api/goodness", {"content": b"x" * 5000}, 413),
    ("get", "/api/digits/heldout", {}, 200),
    ("post", "/api/digits/infer", {"json": {"heldout": 1}}, 200),
    ("post", "/api/digits/infer", {"json": {"strokes": []}}, 422),
    ("post", "/api/digits/infer", {"content": b"x" * 70000}, 413),
]


def test_the_openapi_document_lists_every_status_each_route_answers(client):
    document = client.get("/openapi.json").json()
    observed: dict[tuple[str, str], set[str]] = {}
    deadline = time.monotonic() + 60
    while client.get("/readyz").status_code != 200:  # warming up: the scorecard is being measured
        assert time.monotonic() < deadline, "the app never became ready"
        time.sleep(0.05)
    for method, url, options, status in ANSWERS:
        response = client.request(method.upper(), url, **options)
        assert response.status_code == status, (method, url)
        path = url.split("?")[0].replace("/embed/race", "/embed/{slug}").replace("/embed/backprop", "/embed/{slug}")
        observed.setdefault((path, method), set()).add(str(status))
        if method == "get":
            observed.setdefault((path, "head"), set()).add(str(status))
    observed[("/api/goodness", "post")].add("400")  # a body cut short: see the test below
    observed[("/api/digits/infer", "post")].add("400")  # the same bounded_body
    # A client past its engine budget: the routes that run engine work answer 429 (app/web/api.py).
    budgets = client.app.state.budgets
    budgets.charge("testclient", 60.0)
    client.app.state.traces.clear()  # a recorded trace is served without engine work, so never refused
    busy = {
        ("/api/trace", "get"): client.get("/api/trace?algorithm=backprop"),
        ("/api/goodness", "post"): client.post("/api/goodness", json={"actions": []}),
        ("/api/digits/infer", "post"): client.post("/api/digits/infer", json={"heldout": 0}),
    }
    for key, response in busy.items():
        assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1, key
        observed[key].add("429")
        if key[1] == "get":
            observed[(key[0], "head")].add("429")
    budgets.charge("testclient", -60.0)
    client.app.state.readiness.drain()  # last: draining changes only /readyz (and /ws/race)
    assert client.get("/readyz").status_code == 503 and client.head("/readyz").status_code == 503
    observed[("/readyz", "get")].add("503")
    observed[("/readyz", "head")].add("503")
    for (path, method), statuses in observed.items():
        declared = set(document["paths"][path][method]["responses"])
        assert statuses <= declared, (path, method, statuses - declared)
        # FastAPI declares 422 for every route with parameters; everything else declared is answered.
        assert declared - statuses <= {"422"}, (path, method, declared - statuses)
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert documented == set(observed)


@pytest.mark.parametrize("path", ["/api/goodness", "/api/digits/infer"])
def test_a_body_cut_short_is_a_400_and_one_log_line(path):
    """Called as uvicorn would: the body's first bytes, then the client disconnects."""
    import asyncio
    import logging

    from app.web import create_app
    from integration.conftest import make_settings

    app = create_app(make_settings())
    events = iter([{"type": "http.request", "body": b'{"seed":', "more_body": True}, {"type": "http.disconnect"}])
    sent = []

    async def receive():
        return next(events)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), (b"content-length", b"100")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger().addHandler(handler)
    try:
        asyncio.run(app(scope, receive, send))
    finally:
        logging.getLogger().removeHandler(handler)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400
    mine = [r for r in records if r.levelno >= logging.WARNING]
    assert len(mine) == 1 and "cut short" in mine[0].getMessage() and mine[0].exc_info is None


def test_a_client_that_sends_headers_too_slowly_gets_408_and_is_disconnected(live_server):
    import socket

    server = live_server(header_timeout_s=0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ...and the rest never comes
        answer = b""
        while True:  # until the server closes; the socket's timeout bounds the wait
            chunk = slow.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 ")
    # A client that connects and says nothing is let go too; one that is quick is served.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as silent:
        assert silent.recv(4096).startswith(b"HTTP/1.1 408 ")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as quick:
        quick.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert quick.recv(4096).startswith(b"HTTP/1.1 200 ")

"""Readiness and the graceful drain: /readyz is false while warming up and while draining, /healthz
stays the liveness check, and on SIGTERM `python -m app serve` tells every race socket 1012, stops
listening and exits within FF_DRAIN_TIMEOUT_S with its engine processes."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from starlette.websockets import WebSocketDisconnect

import app.web.scorecard as scorecard_module
from app.web.readiness import SERVICE_RESTART
from bench._wsload import connect, frame_step
from integration.conftest import alive, descendants, serve_in_subprocess
from integration.test_soak import metrics


def wait_until(predicate, timeout_s: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_readyz_is_false_until_the_scorecard_is_measured_while_healthz_answers(make_client, monkeypatch):
    gate = threading.Event()
    measure = scorecard_module.measure_scorecard

    def held_measurement() -> dict:
        assert gate.wait(30), "the test never released the measurement"
        return measure()

    monkeypatch.setattr(scorecard_module, "measure_scorecard", held_measurement)
    monkeypatch.setattr(scorecard_module, "_measured", None)  # not the figures an earlier app measured
    client = make_client()
    warming = client.get("/readyz")
    assert warming.status_code == 503 and warming.json()["status"] == "warming"
    assert client.get("/healthz").status_code == 200
    assert "ff_ready 0.0" in client.get("/metrics").text
    gate.set()
    ready = wait_until(lambda: client.get("/readyz").status_code == 200, what="/readyz 200")
    assert ready
    assert client.get("/readyz").json()["status"] == "ready"
    assert "ff_ready 1.0" in client.get("/metrics").text


def test_sigterm_itself_turns_readiness_off_and_still_reaches_the_servers_own_handler():
    # The signal path, not drain() called by hand: SIGTERM is delivered to this process (pytest runs
    # tests in the main thread), the watcher turns the replica not-ready, and the handler that was
    # there before (uvicorn's, which starts the graceful shutdown; here a stand-in) still runs.
    from app.web.readiness import Readiness

    heard: list[int] = []
    original = signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))
    try:
        readiness = Readiness()
        readiness.warmed_up()
        undo = readiness.watch_signals()
        assert readiness.phase == "ready"
        signal.raise_signal(signal.SIGTERM)
        assert readiness.phase == "draining" and not readiness.ready
        assert heard == [signal.SIGTERM]
        undo()
        signal.raise_signal(signal.SIGTERM)  # after the undo only the stand-in hears it
        assert heard == [signal.SIGTERM, signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, original)


def test_a_draining_app_is_not_ready_and_sends_a_new_race_socket_elsewhere(client):
    wait_until(lambda: client.get("/readyz").status_code == 200, what="/readyz 200")
    client.app.state.readiness.drain()
    draining = client.get("/readyz")
    assert draining.status_code == 503 and draining.json()["status"] == "draining"
    assert client.get("/healthz").status_code == 200
    with client.websocket_connect("/ws/race") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == SERVICE_RESTART
    assert 'ff_refusals_total{reason="draining"} 1.0' in client.get("/metrics").text


def ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/readyz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


async def race_until_closed(host: str, port: int, seed: int, started: asyncio.Event) -> tuple[int, list[int]]:
    steps: list[int] = []

    def on_text(payload: bytes, _now: float) -> None:
        step = frame_step(payload)
        if step is not None:
            steps.append(step)
            if step >= 40:
                started.set()

    race = await connect(host, port, on_text)
    race.send_text(json.dumps({"type": "start", "settings": {"seed": seed, "steps": 5000, "speed": 1}}))
    code = await asyncio.wait_for(race.closed, 60)
    return code, steps


def test_sigterm_drains_race_sockets_with_1012_and_exits_within_the_drain_timeout(tmp_path):
    drain_s = 3.0
    process, base_url = serve_in_subprocess({"FF_DRAIN_TIMEOUT_S": str(drain_s)}, tmp_path / "server.log")
    try:
        host, port = urlsplit(base_url).hostname, urlsplit(base_url).port
        wait_until(lambda: ready(base_url), what="/readyz 200")
        family = descendants(process.pid)
        assert len(family) >= 3  # the forkserver, two engine workers (and the resource tracker)

        # A request that never ends: headers complete, body promised and never sent. uvicorn lets
        # requests in flight finish during its graceful shutdown; this one only the timeout ends.
        stuck = socket.create_connection((host, port))
        stuck.sendall(
            f"POST /api/goodness HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n{".encode()
        )

        async def scenario() -> tuple[list[tuple[int, list[int]]], float]:
            started = [asyncio.Event() for _ in range(2)]
            races = [asyncio.create_task(race_until_closed(host, port, 70 + i, started[i])) for i in range(2)]
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 60)
            lateness = metrics(base_url)
            assert lateness["ff_frame_lateness_seconds_count"] > 0
            # Real values, not zeros: a frame is sent at its tick or after, never before, so the
            # observed lateness adds up to more than nothing.
            assert lateness["ff_frame_lateness_seconds_sum"] > 0
            assert lateness["ff_live_sessions"] == 2 and lateness["ff_ready"] == 1
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            return await asyncio.gather(*races), signalled

        results, signalled = asyncio.run(scenario())
        for code, steps in results:
            assert code == SERVICE_RESTART
            assert steps == list(range(steps[0], steps[-1] + 1))  # in order, nothing skipped before the close
        # Stopped listening at once: a new connection is refused while the stuck request holds the drain.
        with pytest.raises(OSError):
            socket.create_connection((host, port), timeout=2).close()
        assert process.poll() is None, "the server left before the drain timeout although a request was in flight"
        process.wait(timeout=drain_s + 10)
        took = time.monotonic() - signalled
        assert drain_s <= took <= drain_s + 5, took
        stuck.close()
        wait_until(lambda: not [pid for pid in family if alive(pid)], 10, "the engine processes to exit")
        log = (tmp_path / "server.log").read_text()
        assert "timeout graceful shutdown exceeded" in log and "Application shutdown complete" in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

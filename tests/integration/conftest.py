"""Fixtures for the HTTP and websocket tests: apps with chosen settings, a real uvicorn, helpers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path

import pytest
import uvicorn

with warnings.catch_warnings():
    # Starlette nudges towards httpx2; httpx is what the project installs.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from app.commands.serve import uvicorn_options
from app.config import Settings
from app.web import create_app
from app.web.transport import delivery_protocol, header_timeout_protocol

# Fast but faithful: a short race at a high frame rate keeps each websocket test well under a second.
FAST = {"frame_rate": 100, "messages_per_second": 1000}


def make_settings(**overrides) -> Settings:
    return Settings(**{**FAST, **overrides})


@pytest.fixture
def make_client():
    """make_client(**settings) -> a TestClient of a fresh app; closed (lifespan ended) after the test."""
    clients = []

    def factory(**overrides) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


def receive(ws) -> dict:
    return json.loads(ws.receive_text())


def receive_until(ws, predicate, limit: int = 2000) -> tuple[dict, list[dict]]:
    """Read messages until one matches; return it and everything read before it (bounded)."""
    seen = []
    for _ in range(limit):
        message = receive(ws)
        if predicate(message):
            return message, seen
        seen.append(message)
    raise AssertionError(f"no matching message in {limit}; last: {seen[-3:]}")


def is_type(kind: str):
    return lambda message: message["type"] == kind


def finished(message: dict) -> bool:
    return message["type"] == "state" and message["done"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """A real uvicorn, in a thread of this process, with the options `python -m app serve` uses."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.settings = settings
        args = type("Args", (), {"host": "127.0.0.1", "port": self.port, "workers": 1})()
        options = uvicorn_options(settings, args)
        options.pop("factory"), options.pop("workers")
        # This server's settings are not the environment's: give the protocols them directly.
        options["http"] = header_timeout_protocol(settings.header_timeout_s)
        options["ws"] = delivery_protocol(settings.send_window_bytes)
        self.server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", **options))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/race"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:  # readiness poll on uvicorn's own flag
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server():
    """live_server(**settings) -> a started LiveServer, stopped after the test."""
    servers = []

    def factory(**overrides) -> LiveServer:
        server = LiveServer(make_settings(**overrides)).__enter__()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.__exit__()


ROOT = Path(__file__).resolve().parents[2]


def serve_in_subprocess(
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    *,
    cwd: Path = ROOT,
    environ: dict[str, str] | None = None,
):
    """`python -m app serve` on a free port, as an operator runs it; returns (process, base_url)
    once /healthz answers (a readiness poll, bounded). `env` is added to `environ` (this process's
    environment unless given), and the server runs in `cwd`."""
    port = free_port()
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env={**(os.environ if environ is None else environ), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"

    def log_tail() -> str:
        return f": {log_path.read_text()[-2000:]}" if log_path else ""

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early{log_tail()}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1):
                return process, base_url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server did not answer /healthz within 30 s{log_tail()}")


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, grandchildren...), from /proc; bounded."""
    found, queue = set(), [pid]
    while queue and len(found) < 256:
        parent = queue.pop()
        try:
            for task in Path(f"/proc/{parent}/task").iterdir():
                children = [int(child) for child in (task / "children").read_text().split()]
                found.update(children)
                queue += children
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"

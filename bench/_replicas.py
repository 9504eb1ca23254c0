"""Several replicas of `python -m app serve` behind Debian's nginx on loopback, and a race client that
behaves as the page does across restarts (tests/integration/test_replicas.py, bench/shared_cache.py).

nginx runs in the foreground (`daemon off`) from a config written into a temporary directory, with
the websocket upgrade and `least_conn`; a replica that refuses a connection (stopped, or draining:
uvicorn closes its listener first) is skipped for the next one at once (`proxy_next_upstream error`).
`max_fails=0`, as ingress-nginx configures its upstreams: a refused connection never marks a replica
down for a while (with nginx's default max_fails=1 a replica that was restarting a moment ago, and
then the others as the class reconnected, were all "down": "no live upstreams", 502s, backoff).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench._wsload import RaceSocket, connect, frame_step

ROOT = Path(__file__).resolve().parents[1]
SERVICE_RESTART = 1012  # app/web/readiness.py
# socket.js's backoff: the first retry after 250-500 ms, doubling, at most 15 s.
BASE_DELAY_S, MAX_DELAY_S = 0.5, 15.0


def find_tool(name: str) -> str | None:
    """A command on PATH, in this venv's bin (scripts/ensure-test-tools.sh unpacks there) or in sbin."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def scrape(base_url: str) -> dict[str, float]:
    _, body = get(base_url + "/metrics", timeout=10)
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line and not line.startswith("#")
    }


class Replica:
    """One `python -m app serve` on its own port; restartable on the same port."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"{self.name}-{self.starts}.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def ready(self) -> bool:
        try:
            return get(self.base_url + "/readyz")[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Poll /readyz (bounded); returns the seconds it took."""
        started = time.monotonic()
        while not self.ready():
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited: {self.log_tail()}")
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"replica {self.name} not ready within {timeout_s} s: {self.log_tail()}")
            time.sleep(0.05)
        return time.monotonic() - started

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> float:
        """Signal the server and wait for it to exit; returns the seconds that took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(sig)
        self.process.wait(timeout_s)
        return time.monotonic() - started

    def log_tail(self) -> str:
        return (self.log_dir / f"{self.name}-{self.starts}.log").read_text()[-2000:]

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def nginx_config(directory: Path, port: int, upstreams: list[int]) -> str:
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=0;" for p in upstreams)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"  {kind}_temp_path {directory}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
daemon off;
error_log stderr warn;
pid {directory}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
{temp}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  upstream replicas {{
    least_conn;
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_connect_timeout 2s;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_next_upstream error timeout;
    }}
  }}
}}
"""


class Nginx:
    def __init__(self, binary: str, directory: Path, upstreams: list[int]) -> None:
        self.port = free_port()
        self.directory = directory
        (directory / "nginx.conf").write_text(nginx_config(directory, self.port, upstreams))
        self.log = open(directory / "nginx.log", "w")
        self.process = subprocess.Popen(
            [binary, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-e", "stderr"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited: " + (directory / "nginx.log").read_text()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not listen within 20 s") from None
                time.sleep(0.05)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@dataclass
class ClassClient:
    """A student's page racing through the load balancer, as app/static/js/widgets/race/session.js does: on a
    1012 it reconnects at once (any other close: socket.js's backoff), restores with `start` at the
    last step it was shown and `resume`, and goes on until the last frame. Each frame is checked
    against `check(step, payload)` as it arrives; only steps and times are kept."""

    settings: dict
    check: Callable[[int, bytes], bool] = lambda _step, _payload: True
    steps: list[int] = field(default_factory=list)
    mismatched: list[int] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)
    connects: int = 0
    worst_gap_s: float = 0.0  # longest wait for a frame of a new step, restarts included
    restart_gaps_s: list[tuple[int, float]] = field(default_factory=list)  # (close code, wait after it)
    _last_new_at: float | None = None
    _pending_close: int | None = None

    def on_text(self, payload: bytes, now: float) -> None:
        step = frame_step(payload)
        if step is None:
            return
        if not self.check(step, payload):
            self.mismatched.append(step)
        if self.steps and step <= self.steps[-1]:
            return  # the restore's first frame: the step the page already shows
        if self._last_new_at is not None:
            gap = now - self._last_new_at
            self.worst_gap_s = max(self.worst_gap_s, gap)
            if self._pending_close is not None:
                self.restart_gaps_s.append((self._pending_close, gap))
        self._pending_close = None
        self._last_new_at = now
        self.steps.append(step)

    @property
    def done(self) -> bool:
        return bool(self.steps) and self.steps[-1] >= self.settings["steps"]

    async def run(self, host: str, port: int, deadline_s: float) -> None:
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + deadline_s
        attempt = 0
        while not self.done and loop.time() < stop_at:
            try:
                race: RaceSocket = await connect(host, port, self.on_text, timeout_s=10)
            except (OSError, ConnectionError, TimeoutError):
                code = 1006
            else:
                self.connects += 1
                attempt = 0
                if self.steps:
                    start = {"type": "start", "settings": self.settings, "at_step": self.steps[-1]}
                    race.send_text(json.dumps(start))
                    race.send_text(json.dumps({"type": "resume"}))
                else:
                    race.send_text(json.dumps({"type": "start", "settings": self.settings}))
                closed = await self._until_done_or_closed(race, stop_at)
                if closed is None:
                    race.close()
                    return
                code = closed
                self.closes.append(code)
            if self._last_new_at is not None and self._pending_close is None:
                self._pending_close = code
            if code == SERVICE_RESTART and attempt == 0:
                attempt = 1  # one immediate reconnect; a second 1012 in a row backs off
                continue
            ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2**attempt)
            attempt += 1
            await asyncio.sleep(ceiling / 2 + random.random() * ceiling / 2)

    async def _until_done_or_closed(self, race: RaceSocket, stop_at: float) -> int | None:
        """The close code, or None once the race is done (then the client leaves)."""
        while not self.done:
            try:
                return await asyncio.wait_for(asyncio.shield(race.closed), 0.1)
            except TimeoutError:
                if asyncio.get_running_loop().time() > stop_at:
                    return 1006
        return None

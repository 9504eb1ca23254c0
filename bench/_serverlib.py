"""What the server benchmarks share: the server under test in its own process, CPU and memory of a
process tree read from /proc, and the machine's description printed beside every figure."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.engine.cpu import cpu_model  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load[0]:.1f} at start"
    )


def tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn workers; engine workers, children of
    multiprocessing's forkserver, so grandchildren or deeper)."""
    found, queue = [], [pid]
    while queue and len(found) < 256:  # bounded walk
        current = queue.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                queue += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def cpu_times(pids) -> tuple[float, float]:
    """(user, system) CPU seconds of the processes."""
    user = system = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            user += int(fields[11]) / CLOCK_TICKS
            system += int(fields[12]) / CLOCK_TICKS
        except OSError:
            pass
    return user, system


def rss_mb(pids) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Server:
    """`python -m app serve` on a free loopback port, with the given FF_* settings."""

    def __init__(self, env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.port = free_port()
        environment = {**os.environ, "FF_WORKERS": str(workers), **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)  # readiness poll
        self.stop()
        raise RuntimeError("server did not start")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/race"

    def pids(self) -> list[int]:
        return tree(self.process.pid)

    def main_pids(self) -> list[int]:
        """The uvicorn process(es) alone: the event loop(s), without the engine workers."""
        return [self.process.pid] + [pid for pid in self.pids() if pid != self.process.pid and _is_uvicorn_worker(pid)]

    def metric(self, name: str) -> float:
        """One counter from /metrics (0 when absent)."""
        with urllib.request.urlopen(f"{self.base_url}/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _is_uvicorn_worker(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"multiprocessing" in command and b"spawn_main" in command and b"forkserver" not in command

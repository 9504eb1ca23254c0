"""How many live digits races (/ws/digits, a distinct seed each) one server streams at full rate.

Each client opens /ws/digits from its own loopback address, sends `start` with its own seed, and
records when each `frame` arrives for `--seconds` after its first frame. A trial passes when every
client gets at least 18 frames/s with a 99th-percentile gap between frames of at most 100 ms (the
race's bar, bench/server.py). Prints the machine (CPU model, load average), the server's CPU and
one JSON line per trial; never part of pass/fail.

    .venv/bin/python bench/digits_server.py --clients 2,4,6,8,10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import websockets  # noqa: E402
from _serverlib import Server, cpu_times, machine  # noqa: E402

FPS_BAR, GAP_BAR_MS = 18.0, 100.0


async def one_client(url: str, seed: int, local_ip: str, seconds: float) -> dict:
    arrivals: list[float] = []
    async with websockets.connect(url, max_size=2**20, local_addr=(local_ip, 0)) as socket:
        await socket.send(json.dumps({"type": "start", "settings": {"seed": seed}}))
        deadline = None
        while deadline is None or time.perf_counter() < deadline:
            timeout = 10.0 if deadline is None else max(0.01, deadline - time.perf_counter())
            try:
                text = await asyncio.wait_for(socket.recv(), timeout)
            except TimeoutError:
                break
            if isinstance(text, str) and text.startswith('{"type":"frame"'):
                now = time.perf_counter()
                arrivals.append(now)
                if deadline is None:
                    deadline = now + seconds
    gaps = [(b - a) * 1000 for a, b in zip(arrivals, arrivals[1:], strict=False)]
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    return {
        "frames": len(arrivals),
        "fps": (len(arrivals) - 1) / span if span else 0.0,
        "p99_gap_ms": statistics.quantiles(gaps, n=100)[98] if len(gaps) >= 2 else float("inf"),
    }


async def trial(server: Server, clients: int, seconds: float, first_seed: int) -> dict:
    url = f"ws://127.0.0.1:{server.port}/ws/digits"
    before = cpu_times(server.pids())
    started = time.perf_counter()
    results = await asyncio.gather(
        *(one_client(url, first_seed + i, f"127.0.2.{i + 1}", seconds) for i in range(clients))
    )
    wall = time.perf_counter() - started
    after = cpu_times(server.pids())
    worst_fps = min(r["fps"] for r in results)
    worst_gap = max(r["p99_gap_ms"] for r in results)
    return {
        "clients": clients,
        "worst_fps": round(worst_fps, 2),
        "worst_p99_gap_ms": round(worst_gap, 1) if worst_gap != float("inf") else None,  # None: frames stopped
        "server_cores": round((sum(after) - sum(before)) / wall, 2),
        "passed": worst_fps >= FPS_BAR and worst_gap <= GAP_BAR_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,2,4,6,8,10", help="comma-separated client counts")
    parser.add_argument("--seconds", type=float, default=20.0, help="frames recorded per client")
    parser.add_argument("--quick", action="store_true", help="a short development run (1 and 2 clients, 5 s)")
    args, _ = parser.parse_known_args()  # `python -m app bench` passes every script the same arguments
    if args.quick:
        args.clients, args.seconds = "1,2", 5.0
    print(f"bench/digits_server.py: {machine()}; 1 server worker, default engine processes")
    largest, failed = 0, False  # the largest count passing with every smaller count tried passing too
    for index, clients in enumerate(int(n) for n in args.clients.split(",")):
        server = Server()  # a fresh server per trial: no run computed before
        try:
            result = asyncio.run(trial(server, clients, args.seconds, first_seed=1000 * (index + 1)))
        finally:
            server.stop()
        print(json.dumps(result), flush=True)
        failed = failed or not result["passed"]
        if not failed:
            largest = clients
    print(f"distinct live digits runs streamed at >= {FPS_BAR:g} frames/s, p99 gap <= {GAP_BAR_MS:g} ms: {largest}")


if __name__ == "__main__":
    main()

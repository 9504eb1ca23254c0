"""Server benchmark: time to first frame, bytes per frame, and the most concurrent race clients
the server streams to at >= 18 frames/s with a p99 gap <= 100 ms, cached and uncached.

    python bench/server.py            # full (several minutes)
    python bench/server.py --quick    # a few short trials, for development
    python bench/server.py --scenario distinct --distinct 30,40,50   # one ladder only

The server runs as `python -m app serve` in its own process; the load generator runs in
separate processes on the same machine, over loopback only. Every loop is bounded."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIN_FPS = 18.0
MAX_P99_GAP_S = 0.100
GENERATORS = 2          # load-generator processes
FRAME_PREFIX = '{"type":"frame"'


# ------------------------------------------------------------------------------- load generator

async def one_client(url: str, settings: dict, start_at: float, timeout_s: float) -> dict:
    import websockets

    arrivals: list[float] = []
    sizes: list[int] = []
    async with websockets.connect(url, compression=None, max_size=2**20, open_timeout=30) as ws:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        sent = time.monotonic()
        await ws.send(json.dumps({"type": "start", "settings": settings}))
        deadline = sent + timeout_s
        while time.monotonic() < deadline:
            remaining = deadline - time.monotonic()
            try:
                text = await asyncio.wait_for(ws.recv(), remaining)
            except (asyncio.TimeoutError, websockets.ConnectionClosed):
                break
            now = time.monotonic()
            if text.startswith(FRAME_PREFIX):
                arrivals.append(now)
                sizes.append(len(text.encode()))
            elif text.startswith('{"type":"state"') and '"done":true' in text:
                break
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    # The race's first frames come as one burst (race, frame 0, state), so rates are measured
    # from the first streamed frame (step > 0) on.
    streamed = arrivals[1:]
    span = streamed[-1] - streamed[0] if len(streamed) > 1 else 0.0
    return {
        "first_frame_s": arrivals[0] - sent if arrivals else None,
        "frames": len(arrivals),
        "fps": (len(streamed) - 1) / span if span > 0 else 0.0,
        "p99_gap_s": sorted(gaps[1:])[int(0.99 * (len(gaps) - 2))] if len(gaps) > 2 else None,
        "max_bytes": max(sizes) if sizes else 0,
        "mean_bytes": statistics.fmean(sizes) if sizes else 0,
    }


async def generate(url: str, count: int, first_seed: int | None, steps: int, start_at: float) -> list[dict]:
    timeout_s = 60 + steps / 4 / 20 * 3
    jobs = []
    for index in range(count):
        settings = {"steps": steps}
        if first_seed is not None:
            settings["seed"] = first_seed + index
        jobs.append(one_client(url, settings, start_at, timeout_s))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    return [r if isinstance(r, dict) else {"error": repr(r)} for r in results]


def generator_main(args) -> None:
    results = asyncio.run(generate(args.url, args.count, args.first_seed, args.steps, args.start_at))
    # To a file, not stdout: a full pipe would block the generator while the parent polls it.
    Path(args.out).write_text(json.dumps(results))


# ------------------------------------------------------------------------------- orchestration

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, workers: int = 1) -> None:
        self.port = free_port()
        env = {**os.environ, "FF_SESSIONS_TOTAL": "5000", "FF_SESSIONS_PER_CLIENT": "5000",
               "FF_CACHE_SIZE": "16", "FF_WORKERS": str(workers)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)  # readiness poll
        raise RuntimeError("server did not start")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/race"

    def pids(self) -> list[int]:
        """The server process and all its descendants: uvicorn workers, and the engine worker
        processes (children of multiprocessing's forkserver, so grandchildren or deeper)."""
        found, queue = [], [self.process.pid]
        while queue and len(found) < 256:  # bounded walk
            pid = queue.pop()
            found.append(pid)
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    queue += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
        return found

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def cpu_s(self) -> float:
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                pass
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def trial(server: Server, clients: int, distinct: bool, steps: int, seed_base: int) -> dict:
    """`clients` concurrent races, spread over GENERATORS processes; all press Train together."""
    start_at = time.time() + 3 + clients / 150   # time for every client to connect first
    per = [clients // GENERATORS + (1 if i < clients % GENERATORS else 0) for i in range(GENERATORS)]
    processes, outputs, offset = [], [], 0
    with tempfile.TemporaryDirectory(prefix="bench-server-") as scratch:
        try:
            for count in per:
                if not count:
                    continue
                outputs.append(Path(scratch) / f"generator-{len(outputs)}.json")
                command = [sys.executable, __file__, "--generator", "--url", server.url, "--count", str(count),
                           "--steps", str(steps), "--start-at", str(start_at), "--out", str(outputs[-1])]
                if distinct:
                    command += ["--first-seed", str(seed_base + offset)]
                processes.append(subprocess.Popen(command))
                offset += count
            peak_rss, cpu_before, wall_before = server.rss_mb(), server.cpu_s(), time.monotonic()
            while any(p.poll() is None for p in processes):
                peak_rss = max(peak_rss, server.rss_mb())
                time.sleep(0.25)  # sampling interval for RSS, not synchronisation
        finally:  # an interrupted trial leaves no load generator behind
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        cpu_used = server.cpu_s() - cpu_before
        cpu_share = cpu_used / (time.monotonic() - wall_before)
        results = [r for out in outputs if out.exists() for r in json.loads(out.read_text())]
    ok = [r for r in results if "error" not in r]
    first_frames = [r["first_frame_s"] for r in ok if r["first_frame_s"]]
    worst_fps = min((r["fps"] for r in ok), default=0.0)
    worst_gap = max((r["p99_gap_s"] or 9.9 for r in ok), default=9.9)
    return {
        "clients": clients, "completed": len(ok), "errors": len(results) - len(ok),
        "worst_fps": round(worst_fps, 2), "worst_p99_gap_ms": round(worst_gap * 1000, 1),
        "median_first_frame_ms": round(statistics.median(first_frames) * 1000, 1) if first_frames else None,
        "peak_rss_mb": round(peak_rss, 1),
        "server_cpu_cores": round(cpu_share, 2),
        "total_frames": sum(r["frames"] for r in ok),
        # CPU time per frame delivered: less sensitive than the pass/fail bar to a busy machine.
        "server_cpu_ms_per_frame": round(1000 * cpu_used / max(sum(r["frames"] for r in ok), 1), 3),
        "passed": len(ok) == clients and worst_fps >= MIN_FPS and worst_gap <= MAX_P99_GAP_S,
    }


def search(server: Server, ladder: list[int], distinct: bool, steps: int) -> tuple[dict | None, list[dict]]:
    best, rows = None, []
    for index, clients in enumerate(ladder):
        row = trial(server, clients, distinct, steps, seed_base=1000 + 10_000 * index)
        rows.append(row)
        print(f"  {'distinct' if distinct else 'cached  '} N={clients:4d}: {json.dumps(row)}", flush=True)
        if not row["passed"]:
            break
        best = row
    return best, rows


def machine() -> str:
    model = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short races and a short ladder")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (FF_WORKERS)")
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=900, help=argparse.SUPPRESS)
    parser.add_argument("--first-seed", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--cached", type=lambda v: [int(n) for n in v.split(",")], default=None,
                        help="comma-separated client counts to try with identical settings")
    parser.add_argument("--distinct", type=lambda v: [int(n) for n in v.split(",")], default=None,
                        help="comma-separated client counts to try with a distinct seed each")
    parser.add_argument("--scenario", choices=("both", "cached", "distinct"), default="both",
                        help="run only the identical-settings ladder (a) or the distinct-seeds ladder (b)")
    args, _unknown = parser.parse_known_args()
    if args.generator:
        generator_main(args)
        return

    steps = 300 if args.quick else 900
    cached_ladder = args.cached or ([50, 200] if args.quick else [100, 300, 500, 600, 800, 1000])
    distinct_ladder = args.distinct or ([10, 20] if args.quick else [10, 20, 30, 40, 50, 60])
    print(f"bench/server.py {' '.join(sys.argv[1:])}: {machine()}; races of {steps} steps; "
          f"{args.workers} server worker(s)", flush=True)
    server = Server(args.workers)
    try:
        single = trial(server, 1, distinct=True, steps=steps, seed_base=99)
        cached = trial(server, 1, distinct=False, steps=steps, seed_base=0)
        print(f"  one client, uncached: first frame {single['median_first_frame_ms']} ms; "
              f"cached: {cached['median_first_frame_ms']} ms; server RSS idle {server.rss_mb():.0f} MB", flush=True)
        sizes = asyncio.run(generate(server.url, 1, None, steps, time.time()))[0]
        print(f"  bytes per frame: mean {sizes['mean_bytes']:.0f}, max {sizes['max_bytes']}", flush=True)
        verdicts = []
        if args.scenario in ("both", "cached"):
            best, _ = search(server, cached_ladder, distinct=False, steps=steps)
            verdicts.append(("identical settings (cache)", best, 500))
        if args.scenario in ("both", "distinct"):
            best, _ = search(server, distinct_ladder, distinct=True, steps=steps)
            verdicts.append(("distinct seeds (no cache)", best, 40))
    finally:
        server.stop()
    for label, best, target in verdicts:
        if best is None:
            print(f"  {label}: no tested N met the bar (target {target})")
        else:
            verdict = "met" if best["clients"] >= target else "MISSED"
            print(f"  {label}: largest N tested that met the bar = {best['clients']} "
                  f"(target {target}: {verdict}); server RSS {best['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()

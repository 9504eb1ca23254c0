"""Server benchmark: time to first frame, bytes per frame, and the most concurrent race clients the
server streams to at >= 18 frames/s with a p99 gap <= 100 ms, with identical settings (one run
computed once) and with a distinct seed per client (a run each), reported as a count and as an
efficiency: the load served against what the cores could serve at the engine's own cost per frame.

    python bench/server.py            # full (several minutes)
    python bench/server.py --quick    # a few short trials, for development
    python bench/server.py --scenario distinct --distinct 40,50,60   # one ladder only

The server runs as `python -m app serve` in its own process; the load generator runs in separate
processes on the same machine (bench/_wsload.py: a lean websocket client, so that it is not what
limits the figure), over loopback only. Every trial reports where the CPU went: the server's event
loop, its engine workers, the generators (user and kernel time each); a trial in which a generator
process was near a full core is marked `generator-bound` and its verdict is not a server figure.
Every loop is bounded."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _serverlib import Server, cpu_times, machine, rss_mb  # noqa: E402
from _wsload import BINARY_SUBPROTOCOL, connect, frame_step, install_uvloop  # noqa: E402

MIN_FPS = 18.0
MAX_P99_GAP_S = 0.100
LONG_GAP_S = 0.075  # 1.5 frame intervals: a frame that missed its tick
FRAME_RATE = 20.0
GENERATOR_BOUND_CORES = 0.85  # a generator process busier than this may be what limits the trial
CLIENTS_PER_GENERATOR = 400
# The websocket subprotocol the clients offer: None for JSON text frames (the default, as other
# clients get them), _wsload.BINARY_SUBPROTOCOL with --binary (binary delta frames, as the page
# gets them: the server then also encodes each frame, app/web/wire.py).
SUBPROTOCOL: str | None = None


# ------------------------------------------------------------------------------- load generator


async def one_client(port: int, settings: dict, start_at: float, timeout_s: float, local_ip: str) -> dict:
    arrivals: list[float] = []
    sizes: list[int] = []
    done = asyncio.get_running_loop().create_future()
    refusals: list[bytes] = []

    def on_text(payload: bytes, now: float) -> None:
        if frame_step(payload) is not None:
            arrivals.append(now)
            sizes.append(len(payload))
        elif payload.startswith(b'{"type":"state"') and b'"done":true' in payload and not done.done():
            done.set_result(None)
        elif payload.startswith(b'{"type":"error"'):
            refusals.append(payload[:200])

    ws = await connect("127.0.0.1", port, on_text, local_ip=local_ip, subprotocol=SUBPROTOCOL)
    await asyncio.sleep(max(0.0, start_at - time.time()))  # everybody presses Train together
    sent = time.monotonic()
    ws.send_text(json.dumps({"type": "start", "settings": settings}))
    try:
        await asyncio.wait_for(done, timeout_s)
    except TimeoutError:
        pass
    ws.close()
    if not done.done() or refusals:
        # A client that never saw its race end, or was told an error, did not meet the bar, however
        # punctual the frames it did get were.
        return {"error": f"race not finished: {len(arrivals)} frames, errors {refusals[:2]}"}
    gaps = [b - a for a, b in pairwise(arrivals)]
    # The race's first frame comes with its introduction, so rates are measured from the first
    # streamed frame (step > 0) on.
    streamed = arrivals[1:]
    span = streamed[-1] - streamed[0] if len(streamed) > 1 else 0.0
    return {
        "first_frame_s": arrivals[0] - sent if arrivals else None,
        # From the race's first frame (its introduction) to its first streamed frame: the wait before
        # the animation starts, which the server lengthens under load to start without stutter.
        "start_wait_s": gaps[0] if gaps else None,
        "frames": len(arrivals),
        "fps": (len(streamed) - 1) / span if span > 0 else 0.0,
        "p99_gap_s": sorted(gaps[1:])[int(0.99 * (len(gaps) - 2))] if len(gaps) > 2 else None,
        # Where the long gaps (over 1.5 frame intervals) fell: the index of each, after the start.
        "long_gaps_at": [index for index, gap in enumerate(gaps) if index and gap > LONG_GAP_S],
        "max_bytes": max(sizes) if sizes else 0,
        "mean_bytes": statistics.fmean(sizes) if sizes else 0,
    }


async def generate(
    port: int, count: int, first_seed: int | None, steps: int, start_at: float, local_ip: str, per_seed: int = 1
) -> list[dict]:
    timeout_s = 60 + steps / 4 / FRAME_RATE * 3
    jobs = []
    for index in range(count):
        settings = {"steps": steps}
        if first_seed is not None:
            settings["seed"] = first_seed + index // per_seed
        jobs.append(one_client(port, settings, start_at, timeout_s, local_ip))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    return [r if isinstance(r, dict) else {"error": repr(r)} for r in results]


def generator_main(args) -> None:
    global SUBPROTOCOL
    SUBPROTOCOL = BINARY_SUBPROTOCOL if args.binary else None
    install_uvloop()
    # Cores are CPU time over the time the races ran (from the common start to the end).
    idle_s = max(0.0, args.start_at - time.time())
    started = time.monotonic()
    results = asyncio.run(
        generate(args.port, args.count, args.first_seed, args.steps, args.start_at, args.local_ip, args.per_seed)
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(args.out).write_text(
        json.dumps(
            {
                "clients": results,
                "user_s": usage.ru_utime,
                "system_s": usage.ru_stime,
                "wall_s": time.monotonic() - started - idle_s,
            }
        )
    )


def machine_busy() -> float:
    """Seconds of CPU the whole machine has spent busy (every process, the kernel's interrupts
    included: /proc/stat less idle and iowait), 0.0 where there is no /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------- engine cost


def _timed_frame(race, previous: list | None = None) -> float:
    """Thread CPU seconds of one uncached frame of `race` at normal speed: 4 steps, the snapshot,
    the JSON text (what an engine process does for it). With `previous` (binary clients: a one-item
    list holding the race's last frame split for the wire, None at a race's start), also what an
    engine process adds for a run a binary client watches (Item.wire): the frame's parts, and the
    binary DELTA from the frame before."""
    from app.web.frames import frame_text, frame_text_and_parts
    from app.web.wire import encode_delta

    started = time.thread_time()
    race.advance_to(race.step_count + 4)
    snapshot = race.snapshot(grid=True)
    if previous is None:
        frame_text(snapshot, race.settings.steps, race.settings.theta)
    else:
        _, parts = frame_text_and_parts(snapshot, race.settings.steps, race.settings.theta)
        if previous[0] is not None:
            encode_delta(previous[0], parts)
        previous[0] = parts
    return time.thread_time() - started


def engine_cost_per_frame_ms(races: int = 2, binary: bool = False) -> tuple[float, float]:
    """The engine's own CPU time per uncached frame of a default race, in this process: (mean, median).
    The mean is over whole races, each race's construction included, after one race to warm up:
    what a distinct-seed client's run costs the engine per frame it is served, so the bound on
    clients (cores / (mean x frame rate)) is the cores' real one. The median frame (about 4% less:
    the first frames of a run and some later ones cost more) is reported beside it."""
    from app.engine.race import Race, RaceSettings

    def one_race(seed: int) -> list[float]:
        previous = [None] if binary else None
        started = time.thread_time()
        race = Race(RaceSettings(seed=seed))
        samples = [time.thread_time() - started]  # the construction, then each frame
        while not race.done:
            samples.append(_timed_frame(race, previous))
        samples[1] += samples.pop(0)  # the construction counts with the run's first frame
        return samples

    one_race(12344)  # warm-up
    samples = [sample for seed in range(12345, 12345 + races) for sample in one_race(seed)]
    return statistics.fmean(samples) * 1000, statistics.median(samples) * 1000


def _frames_in_window(seed: int, start_at: float, seconds: float, binary: bool = False) -> list[float]:
    """CPU seconds of each uncached frame (_timed_frame) that one process computes between
    `start_at` and `start_at + seconds` (wall clock), a new race whenever one ends."""
    from app.engine.race import Race, RaceSettings

    race, previous = Race(RaceSettings(seed=seed)), [None] if binary else None
    for _ in range(10):  # warm-up, before the window
        _timed_frame(race, previous)
    while time.time() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - time.time())))
    samples = []
    while time.time() < start_at + seconds:
        built = 0.0
        if race.done:  # a new run, its construction counted with its first frame
            seed += 1000
            started = time.thread_time()
            race, previous = Race(RaceSettings(seed=seed)), [None] if binary else None
            built = time.thread_time() - started
        samples.append(built + _timed_frame(race, previous))
    return samples


def engine_cost_all_cores_ms(processes: int, seconds: float = 3.0, binary: bool = False) -> float:
    """The engine's CPU time per frame while `processes` processes (one per core) compute frames of
    distinct races at once and nothing else runs: what the cores can serve when every one of them
    does engine work. On this kind of virtual machine that costs more per frame than one process
    alone (engine_cost_per_frame_ms), because the cores share caches and memory bandwidth and may be
    hyperthreads of one physical core; the difference is the machine's, not the server's. The mean
    per frame, new runs' construction included, as engine_cost_per_frame_ms."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    start_at = time.time() + 1.5 + 0.5 * processes  # after every process has imported and warmed up
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(
            pool.map(
                _frames_in_window,
                [777 + i for i in range(processes)],
                [start_at] * processes,
                [seconds] * processes,
                [binary] * processes,
            )
        )
    return statistics.fmean(sample for run in runs for sample in run) * 1000


# ------------------------------------------------------------------------------- orchestration


def trial(server: Server, clients: int, distinct: bool, steps: int, seed_base: int, per_seed: int = 1) -> dict:
    """`clients` concurrent races, spread over generator processes; all press Train together. With
    `distinct`, `per_seed` clients share each seed (2: pairs of students on one run)."""
    start_at = time.time() + 3 + clients / 150  # time for every client to connect first
    generators = max(1, -(-clients // CLIENTS_PER_GENERATOR))
    if per_seed > 1:  # a seed's clients in one generator
        generators = max(1, -(-clients // (CLIENTS_PER_GENERATOR - CLIENTS_PER_GENERATOR % per_seed)))
    per = [clients // generators + (1 if i < clients % generators else 0) for i in range(generators)]
    per = [count - count % per_seed for count in per]
    processes, outputs, offset = [], [], 0
    # The engine's own cost, measured again beside every trial: on a shared or virtual machine it
    # drifts by tens of percent within minutes, and the bound a trial is compared with must be its own.
    alone_before, median_before = engine_cost_per_frame_ms(binary=SUBPROTOCOL is not None)
    frames_before = server.metric("ff_engine_frames_total")
    engine_before = server.metric("ff_engine_seconds_total")
    with tempfile.TemporaryDirectory(prefix="bench-server-") as scratch:
        try:
            for index, count in enumerate(per):
                outputs.append(Path(scratch) / f"generator-{index}.json")
                command = [
                    sys.executable,
                    __file__,
                    "--generator",
                    "--port",
                    str(server.port),
                    "--count",
                    str(count),
                    "--steps",
                    str(steps),
                    "--start-at",
                    str(start_at),
                    "--out",
                    str(outputs[-1]),
                    "--local-ip",
                    f"127.0.1.{index + 1}",
                ]
                if distinct:
                    command += ["--first-seed", str(seed_base + offset // per_seed), "--per-seed", str(per_seed)]
                if SUBPROTOCOL:
                    command.append("--binary")
                processes.append(subprocess.Popen(command))
                offset += count
            peak_rss = rss_mb(server.pids())
            # CPU is counted from the common start on: the seconds in which the clients connect and
            # wait would otherwise dilute every `cores` figure (by a fifth at N = 60).
            while time.time() < start_at and any(p.poll() is None for p in processes):
                time.sleep(min(0.05, max(0.0, start_at - time.time())))
            main_before, all_before = cpu_times(server.main_pids()), cpu_times(server.pids())
            machine_before, wall_before = machine_busy(), time.monotonic()
            while any(p.poll() is None for p in processes):
                peak_rss = max(peak_rss, rss_mb(server.pids()))
                time.sleep(0.25)  # sampling interval for RSS, not synchronisation
        finally:  # an interrupted trial leaves no load generator behind
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        wall = time.monotonic() - wall_before
        machine_cores = (machine_busy() - machine_before) / wall
        main_user, main_system = (a - b for a, b in zip(cpu_times(server.main_pids()), main_before, strict=True))
        all_user, all_system = (a - b for a, b in zip(cpu_times(server.pids()), all_before, strict=True))
        reports = [json.loads(out.read_text()) for out in outputs if out.exists()]
    alone_after, median_after = engine_cost_per_frame_ms(binary=SUBPROTOCOL is not None)
    results = [r for report in reports for r in report["clients"]]
    ok = [r for r in results if "error" not in r]
    first_frames = [r["first_frame_s"] for r in ok if r["first_frame_s"]]
    starts = [r["start_wait_s"] for r in ok if r["start_wait_s"] is not None]
    worst_fps = min((r["fps"] for r in ok), default=0.0)
    worst_gap = max((r["p99_gap_s"] or 9.9 for r in ok), default=9.9)
    generator_cores = [round((g["user_s"] + g["system_s"]) / max(g["wall_s"], 1e-9), 2) for g in reports]
    engine_frames = server.metric("ff_engine_frames_total") - frames_before
    engine_seconds = server.metric("ff_engine_seconds_total") - engine_before
    frames_received = sum(r["frames"] for r in ok)
    row = {
        "clients": clients,
        "completed": len(ok),
        "errors": len(results) - len(ok),
        "worst_fps": round(worst_fps, 2),
        "worst_p99_gap_ms": round(worst_gap * 1000, 1),
        "median_first_frame_ms": round(statistics.median(first_frames) * 1000, 1) if first_frames else None,
        "worst_start_wait_ms": round(max(starts) * 1000, 1) if starts else None,
        # Gaps over 1.5 frame intervals, all clients together, and how many came in a client's first
        # 10 frames (the start of a race pressed by everyone at once) or its first 30.
        "long_gaps": sum(len(r["long_gaps_at"]) for r in ok),
        "long_gaps_first_10_frames": sum(1 for r in ok for index in r["long_gaps_at"] if index < 10),
        "long_gaps_first_30_frames": sum(1 for r in ok for index in r["long_gaps_at"] if index < 30),
        "peak_rss_mb": round(peak_rss, 1),
        "server_cores": round((all_user + all_system) / wall, 2),
        "event_loop_cores": {"user": round(main_user / wall, 2), "system": round(main_system / wall, 2)},
        "engine_cores": round((all_user + all_system - main_user - main_system) / wall, 2),
        "generator_cores": generator_cores,
        "machine_cores": round(machine_cores, 2),
        "frames_received_per_s": round(frames_received / wall, 1),
        "event_loop_us_per_frame": round((main_user + main_system) / max(frames_received, 1) * 1e6, 1),
        "engine_frames": int(engine_frames),
        "engine_ms_per_frame": round(engine_seconds / engine_frames * 1000, 3) if engine_frames else None,
        "engine_alone_ms": [round(alone_before, 3), round(alone_after, 3)],  # mean per frame, as the bound
        "engine_alone_median_ms": [round(median_before, 3), round(median_after, 3)],
        "generator_bound": any(cores >= GENERATOR_BOUND_CORES for cores in generator_cores),
    }
    row["passed"] = len(ok) == clients and worst_fps >= MIN_FPS and worst_gap <= MAX_P99_GAP_S
    return row


def search(
    server: Server, ladder: list[int], distinct: bool, steps: int, per_seed: int = 1
) -> tuple[dict | None, list[dict]]:
    best, rows = None, []
    label = ("pairs   " if per_seed == 2 else "distinct") if distinct else "cached  "
    for index, clients in enumerate(ladder):
        # Seeds no earlier trial used (the server's cache would make them free).
        seed_base = 1000 + 10_000 * index + 1_000_000 * per_seed
        row = trial(server, clients, distinct, steps, seed_base=seed_base, per_seed=per_seed)
        rows.append(row)
        print(f"  {label} N={clients:4d}: {json.dumps(row)}", flush=True)
        if not row["passed"]:
            break
        best = row
    return best, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short races and a short ladder")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (FF_WORKERS)")
    parser.add_argument(
        "--binary", action="store_true", help="clients take binary delta frames, as the page does (default: JSON)"
    )
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=900, help=argparse.SUPPRESS)
    parser.add_argument("--first-seed", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--per-seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--local-ip", default="127.0.1.1", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument(
        "--cached",
        type=lambda v: [int(n) for n in v.split(",")],
        default=None,
        help="comma-separated client counts to try with identical settings",
    )
    parser.add_argument(
        "--distinct",
        type=lambda v: [int(n) for n in v.split(",")],
        default=None,
        help="comma-separated client counts to try with a distinct seed each",
    )
    parser.add_argument(
        "--pairs",
        type=lambda v: [int(n) for n in v.split(",")],
        default=None,
        help="comma-separated client counts to try with two clients on each seed",
    )
    parser.add_argument(
        "--scenario",
        choices=("all", "cached", "distinct", "pairs"),
        default="all",
        help="run only the identical-settings ladder (a), the distinct-seeds ladder (b), "
        "or the ladder of two clients per seed (c)",
    )
    args, _unknown = parser.parse_known_args()
    if args.generator:
        generator_main(args)
        return
    global SUBPROTOCOL
    SUBPROTOCOL = BINARY_SUBPROTOCOL if args.binary else None

    steps = 300 if args.quick else 900
    cached_ladder = args.cached or ([50, 200] if args.quick else [200, 400, 600, 800, 1000])
    distinct_ladder = args.distinct or ([10, 20] if args.quick else [40, 60, 80, 90, 100, 110, 120, 130])
    pairs_ladder = args.pairs or ([20] if args.quick else [20, 40, 60, 80])
    binary = SUBPROTOCOL is not None
    cost_ms, median_ms = engine_cost_per_frame_ms(binary=binary)
    cores = os.cpu_count() or 1
    bound = cores / (cost_ms / 1000 * FRAME_RATE)
    all_cores_ms = engine_cost_all_cores_ms(cores, binary=binary)
    all_cores_bound = cores / (all_cores_ms / 1000 * FRAME_RATE)
    print(
        f"bench/server.py {' '.join(sys.argv[1:])}: {machine()}; races of {steps} steps; "
        f"{args.workers} server worker(s); {'binary frames (as the page)' if SUBPROTOCOL else 'JSON frames'}",
        flush=True,
    )
    print(
        f"  engine cost per uncached frame (4 steps, snapshot, JSON{', the binary delta' if binary else ''}; "
        f"mean CPU time over whole races, their construction included): {cost_ms:.3f} ms (median frame "
        f"{median_ms:.3f} ms), so {cores} cores could stream at most {bound:.0f} distinct-seed clients at "
        f"{FRAME_RATE:g} frames/s",
        flush=True,
    )
    print(
        f"  the same with all {cores} cores computing frames at once (one process each, nothing else running): "
        f"{all_cores_ms:.3f} ms per frame ({all_cores_ms / cost_ms:.2f}x alone), "
        f"a bound of {all_cores_bound:.0f} clients",
        flush=True,
    )
    server = Server({"FF_SESSIONS_TOTAL": "5000", "FF_SESSIONS_PER_CLIENT": "5000"}, args.workers)
    try:
        single = trial(server, 1, distinct=True, steps=steps, seed_base=99)
        cached = trial(server, 1, distinct=False, steps=steps, seed_base=0)
        print(
            f"  one client, uncached: first frame {single['median_first_frame_ms']} ms; "
            f"cached: {cached['median_first_frame_ms']} ms; server RSS idle {rss_mb(server.pids()):.0f} MB",
            flush=True,
        )
        sizes = asyncio.run(generate(server.port, 1, None, steps, time.time(), "127.0.1.1"))[0]
        print(f"  bytes per frame: mean {sizes['mean_bytes']:.0f}, max {sizes['max_bytes']}", flush=True)
        verdicts = []
        if args.scenario in ("all", "cached"):
            best, rows = search(server, cached_ladder, distinct=False, steps=steps)
            verdicts.append(("identical settings (one run)", best, rows, 500))
        if args.scenario in ("all", "distinct"):
            best, rows = search(server, distinct_ladder, distinct=True, steps=steps)
            verdicts.append(("distinct seeds (a run each)", best, rows, 40))
        if args.scenario in ("all", "pairs"):
            best, rows = search(server, pairs_ladder, distinct=True, steps=steps, per_seed=2)
            verdicts.append(("two clients per seed (a run per pair)", best, rows, 40))
    finally:
        server.stop()
    for label, best, _rows, target in verdicts:
        if best is None:
            print(f"  {label}: no tested N met the bar (target {target})")
            continue
        verdict = "met" if best["clients"] >= target else "MISSED"
        note = " (GENERATOR-BOUND: not a server figure)" if best["generator_bound"] else ""
        line = (
            f"  {label}: largest N tested that met the bar = {best['clients']}{note} (target {target}: {verdict}); "
            f"server {best['server_cores']} cores (event loop {best['event_loop_cores']}, engine "
            f"{best['engine_cores']}), generators {best['generator_cores']} cores, RSS {best['peak_rss_mb']} MB"
        )
        if "distinct" in label or "per seed" in label:
            runs = best["clients"] // (2 if "per seed" in label else 1)
            alone = statistics.fmean(best["engine_alone_ms"])  # measured just before and after that trial
            trial_bound = cores / (alone / 1000 * FRAME_RATE)
            median_bound = cores / (statistics.fmean(best["engine_alone_median_ms"]) / 1000 * FRAME_RATE)
            parallel_bound = trial_bound * cost_ms / all_cores_ms  # the trial's bound, scaled as at the start
            line += (
                f"; engine {best['engine_ms_per_frame']} ms per frame in the server (alone {alone:.3f} ms, "
                f"the mean of {best['engine_alone_ms']} around that trial); runs served {runs} of a "
                f"{trial_bound:.0f}-run bound = {runs / trial_bound:.0%} (target for distinct seeds: 70%); "
                f"of the all-cores bound ({parallel_bound:.0f} runs) {runs / parallel_bound:.0%}; of the bound "
                f"the median frame would give ({median_bound:.0f} runs) {runs / median_bound:.0%}"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()

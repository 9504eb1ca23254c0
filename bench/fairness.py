"""Fair share under attack: a bystander's race and newcomers' first frames while one client floods
the engine from inside every documented limit.

    python bench/fairness.py                  # both attacks, about a minute
    python bench/fairness.py --attack starts  # one of them

The attacker (one address, 127.0.0.2) holds FF_SESSIONS_PER_CLIENT (8) sockets; on each it sends
20 `start` messages a second with a fresh seed, `steps` 5000 and `at_step` 5000 (attack
"starts"), or 12 `start` + `infer` pairs a second (attack "infers"; 24 messages, inside the 30/s
limit). After a few seconds of attack a bystander (127.0.0.3) races a fresh seed (the default
900 steps), and every 1.5 s a newcomer (127.0.0.4, .5, ...) starts a fresh seed and waits for its
first frame. Targets: the bystander at >= 18 frames/s with a p99 gap <= 100 ms, every newcomer's
first frame within 200 ms. The server is `python -m app serve` with its defaults; attacker and
victims are separate processes speaking websockets over loopback (bench/_wsload.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _serverlib import Server, cpu_times, machine, rss_mb  # noqa: E402
from _wsload import connect, frame_step, install_uvloop  # noqa: E402

ATTACK_SOCKETS = 8
WARM_UP_S = 4.0
NEWCOMER_EVERY_S = 1.5
MIN_FPS, MAX_P99_GAP_S, MAX_FIRST_FRAME_S = 18.0, 0.100, 0.200


# ------------------------------------------------------------------------------ attacker


async def attack(port: int, kind: str, duration_s: float, seed_base: int) -> dict:
    counts = {"sent": 0, "busy": 0, "frames": 0, "closed": 0}

    def on_text(payload: bytes, _now: float) -> None:
        if payload.startswith(b'{"type":"frame"'):
            counts["frames"] += 1
        elif b'"code":"busy"' in payload:
            counts["busy"] += 1

    sockets = [await connect("127.0.0.1", port, on_text, local_ip="127.0.0.2") for _ in range(ATTACK_SOCKETS)]
    seeds = iter(range(seed_base, seed_base + 10_000_000))
    rate = 20 if kind == "starts" else 12
    deadline = time.monotonic() + duration_s

    async def flood(ws) -> None:
        next_at = time.monotonic()
        while time.monotonic() < deadline and not ws.closed.done():
            seed = next(seeds)
            ws.send_text(json.dumps({"type": "start", "settings": {"seed": seed, "steps": 5000}, "at_step": 5000}))
            counts["sent"] += 1
            if kind == "infers":
                ws.send_text(json.dumps({"type": "infer", "x": 0.1, "y": 0.2}))
                counts["sent"] += 1
            # The attacker's own pacing; never a burst to catch up (it stays inside the rate limit).
            next_at = max(next_at + 1.0 / rate, time.monotonic())
            await asyncio.sleep(next_at - time.monotonic())

    await asyncio.gather(*(flood(ws) for ws in sockets))
    counts["closed"] = sum(1 for ws in sockets if ws.closed.done())
    for ws in sockets:
        ws.close()
    return counts


# ------------------------------------------------------------------------------ victims


async def bystander(port: int, seed: int) -> dict:
    arrivals, steps = [], []
    finished = asyncio.get_running_loop().create_future()

    def on_text(payload: bytes, now: float) -> None:
        step = frame_step(payload)
        if step is not None:
            arrivals.append(now)
            steps.append(step)
        elif payload.startswith(b'{"type":"state"') and b'"done":true' in payload and not finished.done():
            finished.set_result(None)

    ws = await connect("127.0.0.1", port, on_text, local_ip="127.0.0.3")
    sent = time.monotonic()
    ws.send_text(json.dumps({"type": "start", "settings": {"seed": seed}}))
    try:
        await asyncio.wait_for(finished, 120)
    except TimeoutError:
        pass
    ws.close()
    streamed = arrivals[1:]  # the first frame comes with the race's introduction
    gaps = sorted(b - a for a, b in pairwise(streamed))
    span = streamed[-1] - streamed[0] if len(streamed) > 1 else 0.0
    return {
        "first_frame_ms": round((arrivals[0] - sent) * 1000, 1) if arrivals else None,
        "frames": len(arrivals),
        "in_order": steps == sorted(steps),
        "fps": round((len(streamed) - 1) / span, 2) if span else 0.0,
        "p99_gap_ms": round(gaps[int(0.99 * (len(gaps) - 1))] * 1000, 1) if gaps else None,
        "worst_gap_ms": round(gaps[-1] * 1000, 1) if gaps else None,
    }


async def newcomer(port: int, seed: int, index: int) -> float | None:
    first = asyncio.get_running_loop().create_future()

    def on_text(payload: bytes, now: float) -> None:
        if frame_step(payload) is not None and not first.done():
            first.set_result(now)

    ws = await connect("127.0.0.1", port, on_text, local_ip=f"127.0.0.{4 + index}")
    sent = time.monotonic()
    ws.send_text(json.dumps({"type": "start", "settings": {"seed": seed}}))
    try:
        arrived = await asyncio.wait_for(first, 30)
    except TimeoutError:
        arrived = None
    ws.close()
    return None if arrived is None else round((arrived - sent) * 1000, 1)


async def victims(port: int, seed_base: int) -> dict:
    race = asyncio.create_task(bystander(port, seed_base))
    firsts = []
    index = 0
    while not race.done() and index < 40:
        await asyncio.sleep(NEWCOMER_EVERY_S)  # the newcomers' schedule
        firsts.append(await newcomer(port, seed_base + 1 + index, index))
        index += 1
    return {"bystander": await race, "newcomer_first_frame_ms": firsts}


# ------------------------------------------------------------------------------ orchestration


def child(args) -> None:
    install_uvloop()
    if args.role == "attacker":
        result = asyncio.run(attack(args.port, args.attack, args.duration, args.seed_base))
    else:
        result = asyncio.run(victims(args.port, args.seed_base))
    Path(args.out).write_text(json.dumps(result))


def scenario(kind: str) -> dict:
    server = Server()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-fairness-") as scratch:
            attacker_out, victims_out = Path(scratch) / "attacker.json", Path(scratch) / "victims.json"
            base = [sys.executable, __file__, "--port", str(server.port)]
            cpu_before, wall_before = cpu_times(server.pids()), time.monotonic()
            attacker = subprocess.Popen(
                base
                + [
                    "--role",
                    "attacker",
                    "--attack",
                    kind,
                    "--duration",
                    "30",
                    "--seed-base",
                    "1000000",
                    "--out",
                    str(attacker_out),
                ]
            )
            time.sleep(WARM_UP_S)  # the attack's head start, by design of the scenario
            victim = subprocess.Popen(base + ["--role", "victims", "--seed-base", "500", "--out", str(victims_out)])
            peak_rss = 0.0
            try:
                while victim.poll() is None:
                    peak_rss = max(peak_rss, rss_mb(server.pids()))
                    time.sleep(0.25)  # sampling interval for RSS, not synchronisation
                attacker.wait(60)
            finally:
                for process in (attacker, victim):
                    if process.poll() is None:
                        process.kill()
                        process.wait()
            user, system = (after - before for after, before in zip(cpu_times(server.pids()), cpu_before, strict=True))
            result = {
                "attack": kind,
                **json.loads(victims_out.read_text()),
                "attacker": json.loads(attacker_out.read_text()) if attacker_out.exists() else None,
                "server_cores": round((user + system) / (time.monotonic() - wall_before), 2),
                "server_peak_rss_mb": round(peak_rss, 1),
                "engine_failures": server.metric("ff_engine_failures_total"),
            }
    finally:
        server.stop()
    by, firsts = result["bystander"], [f for f in result["newcomer_first_frame_ms"]]
    result["passed"] = bool(
        by["fps"] >= MIN_FPS
        and by["p99_gap_ms"] is not None
        and by["p99_gap_ms"] <= MAX_P99_GAP_S * 1000
        and by["in_order"]
        and firsts
        and all(f is not None and f <= MAX_FIRST_FRAME_S * 1000 for f in firsts)
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attack", choices=("starts", "infers", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="accepted for `make bench -- --quick`; same run")
    parser.add_argument("--role", choices=("attacker", "victims"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=30.0, help=argparse.SUPPRESS)
    parser.add_argument("--seed-base", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args()
    if args.role:
        child(args)
        return
    print(f"bench/fairness.py {' '.join(sys.argv[1:])}: {machine()}", flush=True)
    for kind in ("starts", "infers") if args.attack == "both" else (args.attack,):
        result = scenario(kind)
        by, firsts = result["bystander"], [f for f in result["newcomer_first_frame_ms"] if f is not None]
        print(
            f"  attack {kind}: bystander {by['fps']} frames/s, p99 gap {by['p99_gap_ms']} ms "
            f"(worst {by['worst_gap_ms']} ms), {by['frames']} frames in order: {by['in_order']}; "
            f"newcomers' first frame median {statistics.median(firsts) if firsts else None} ms, "
            f"worst {max(firsts) if firsts else None} ms ({len(result['newcomer_first_frame_ms'])} newcomers); "
            f"target {'met' if result['passed'] else 'MISSED'}",
            flush=True,
        )
        print(f"    {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()

"""What a run cache shared by all replicas would save: a class races through nginx (least_conn) in
front of 3 replicas, with no restarts, and each replica's own count of engine frames
(ff_engine_frames) is compared with what one shared cache would have computed (each distinct run's
frames once). Scenarios are the ways a class picks settings.

    .venv/bin/python bench/shared_cache.py [--clients 30] [--steps 300]

Then what a shared cache would change for a restore (a drained replica's readers arriving on another
one): 30 readers on 5 seeds restore at step 450 of a 900-step run on one fresh replica, first when
it holds none of the runs (as after a restart: a replay from step 0), then again when it holds them
(as a shared cache of checkpoints would make every restore); the time to each reader's first new frame.

Needs nginx (scripts/ensure-test-tools.sh). Prints one JSON line per scenario, with the CPU model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.engine.cpu import cpu_model  # noqa: E402
from bench._replicas import ClassClient, Nginx, Replica, find_tool, scrape  # noqa: E402
from bench._wsload import connect, frame_step  # noqa: E402

REPLICAS = 3


def scenarios(clients: int) -> dict[str, list[int]]:
    return {
        "everyone on the default seed": [0] * clients,
        "a handful of seeds (5)": [index % 5 for index in range(clients)],
        "pairs (two per seed)": [index // 2 for index in range(clients)],
        "a seed each": list(range(clients)),
    }


async def race(port: int, seeds: list[int], steps: int, speed: int) -> None:
    clients = [ClassClient({"seed": 1000 + seed, "steps": steps, "speed": speed}) for seed in seeds]

    # A class does not press Train in the same millisecond: spread the starts over a second.
    async def start(index: int, client: ClassClient) -> None:
        await asyncio.sleep(index / len(clients))
        await client.run("127.0.0.1", port, 300)

    await asyncio.gather(*(start(index, client) for index, client in enumerate(clients)))
    assert all(client.done for client in clients)


async def restore_times(port: int, readers: int, at_step: int) -> list[float]:
    """Seconds from sending `start` at `at_step` (+ `resume`) to the first frame past it, per reader."""
    loop = asyncio.get_running_loop()

    async def one(index: int) -> float:
        arrived = loop.create_future()

        def on_text(payload: bytes, now: float) -> None:
            step = frame_step(payload)
            if step is not None and step > at_step and not arrived.done():
                arrived.set_result(now)

        race = await connect("127.0.0.1", port, on_text)
        sent = loop.time()
        race.send_text(json.dumps({"type": "start", "settings": {"seed": 2000 + index % 5}, "at_step": at_step}))
        race.send_text(json.dumps({"type": "resume"}))
        first = await asyncio.wait_for(arrived, 120)
        race.close()
        return first - sent

    return sorted(await asyncio.gather(*(one(index) for index in range(readers))))


def restore_cost(readers: int = 30, at_step: int = 450) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        replica = Replica("restore", {"FF_SESSIONS_PER_CLIENT": "500"}, Path(scratch))
        replica.start()
        try:
            replica.wait_ready()
            for state in ("runs not held (a replay from step 0)", "runs held (what a shared cache would give)"):
                times = asyncio.run(restore_times(replica.port, readers, at_step))
                print(
                    json.dumps(
                        {
                            "restore": state,
                            "readers": readers,
                            "seeds": 5,
                            "at_step": at_step,
                            "first_new_frame_median_s": round(times[len(times) // 2], 3),
                            "first_new_frame_max_s": round(times[-1], 3),
                            "cpu": cpu_model(),
                            "load_average": [round(x, 2) for x in os.getloadavg()],
                        }
                    ),
                    flush=True,
                )
        finally:
            replica.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--speed", type=int, default=4)
    args = parser.parse_args()
    nginx_binary = find_tool("nginx")
    if nginx_binary is None:
        print("needs nginx: run `make test-tools`", file=sys.stderr)
        return 2
    frames_per_run = len(range(0, args.steps + args.speed, args.speed))
    for name, seeds in scenarios(args.clients).items():
        with tempfile.TemporaryDirectory() as scratch:
            directory = Path(scratch)
            replicas = [Replica(str(index), {"FF_SESSIONS_PER_CLIENT": "500"}, directory) for index in range(REPLICAS)]
            for replica in replicas:
                replica.start()
            nginx = None
            try:
                for replica in replicas:
                    replica.wait_ready()
                nginx = Nginx(nginx_binary, directory, [replica.port for replica in replicas])
                asyncio.run(race(nginx.port, seeds, args.steps, args.speed))
                per_replica = [scrape(replica.base_url) for replica in replicas]
            finally:
                if nginx is not None:
                    nginx.close()
                for replica in replicas:
                    replica.close()
        computed = sum(m["ff_engine_frames_total"] for m in per_replica)
        engine_s = sum(m["ff_engine_seconds_total"] for m in per_replica)
        shared = len(set(seeds)) * frames_per_run
        print(
            json.dumps(
                {
                    "scenario": name,
                    "clients": args.clients,
                    "distinct_runs": len(set(seeds)),
                    "engine_frames_computed": int(computed),
                    "with_one_shared_cache": shared,
                    "share_a_shared_cache_saves": round(1 - shared / computed, 3),
                    "engine_seconds": round(engine_s, 2),
                    "replicas_holding_each_run": round(computed / shared, 2),
                    "cpu": cpu_model(),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                }
            ),
            flush=True,
        )
    restore_cost()
    return 0


if __name__ == "__main__":
    sys.exit(main())

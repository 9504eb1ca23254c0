"""What a run cache shared by all replicas would save: a class races through nginx (least_conn) in
front of 3 replicas, with no restarts, and each replica's own count of engine frames
(ff_engine_frames) is compared with what one shared cache would have computed (each distinct run's
frames once). Scenarios are the ways a class picks settings.

    .venv/bin/python bench/shared_cache.py [--clients 30] [--steps 300]

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
    return 0


if __name__ == "__main__":
    sys.exit(main())

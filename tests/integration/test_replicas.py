"""Three replicas behind Debian's nginx (websocket upgrade, least_conn) on loopback, and a class of 60
students racing through it while the replicas are restarted one at a time with SIGTERM and one is
killed with SIGKILL (and started again), as a rolling update and a crash would do.

Every client behaves as the page does (bench/_replicas.py, ClassClient: 1012 means reconnect now,
anything else backs off as socket.js does; the race is restored with `start` at the last step shown
and `resume`). Every client finishes its 900 steps, every frame is byte for byte the frame of an
uninterrupted run (computed by the engine code the workers run, straight through), no step is
missing, and no client waits more than 2 s for its next frame across a restart (on a machine
loaded past its cores: 10 s, with a warning; see OVERLOADED_MAX_GAP_S).

The SIGKILL gap is measured and held to the same bound: the kernel closes the dead server's
sockets at once, nginx passes that on as a dropped connection (no close frame: code 1006), and the
page's first retry comes after socket.js's backoff of 250-500 ms, then the restore.

Sized for 2 cores: 60 clients on 5 seeds (12 students per seed, as a class that was told a seed),
speed 1 (900 frames at 20 frames/s, 45 s of racing, long enough for four restarts; the step a
restore replays to grows half as fast as at speed 2), a send window
large enough that the server never conflates a frame (a conflated frame would be a missing step;
slow readers are test_delivery.py's subject). About a minute in all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from app.engine.race import RaceSettings
from app.web.engine_worker import Item, Workshop
from bench._replicas import ClassClient, Nginx, Replica, find_tool, scrape

CLIENTS, SEEDS, STEPS, SPEED = 60, (101, 202, 303, 404, 505), 900, 1
MAX_GAP_S = 2.0  # the target for a reader across a restart
# On a machine whose load average exceeds twice its cores before the test starts (other work on the
# same cores; the class the test itself runs is part of the scenario and does not count) the
# replays a restore needs are slowed several times over and 2 s is out of reach whatever the code
# does (docs/deploy.md); the test then holds the gaps to this bound, which still catches a reader
# left in backoff or refused by the balancer (such bugs cost 15-30 s), and warns with the figures.
OVERLOADED_MAX_GAP_S = 10.0
FRAME_STEPS = sorted({min(step, STEPS) for step in range(0, STEPS + SPEED, SPEED)})
RACE_DEADLINE_S = 150.0


def reference(seed: int) -> dict[int, bytes]:
    """The uninterrupted run's frames for one seed (in a worker process)."""
    result = Workshop(1).work(
        Item(("reference", seed), RaceSettings(seed=seed, steps=STEPS), frames=FRAME_STEPS), deadline=None
    )
    return {step: text.encode() for step, text in result.frames.items()}


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    binary = find_tool("nginx")
    if binary is None:
        if find_tool("apt-get"):
            pytest.fail("nginx not found: run `make test-tools` (scripts/ensure-test-tools.sh)", pytrace=False)
        pytest.skip("needs nginx (Debian's package; no apt-get here to install it)")
    return binary


def live_sessions(replica: Replica) -> int:
    return int(scrape(replica.base_url)["ff_live_sessions"])


def test_a_class_races_through_rolling_restarts_and_a_crash_losing_nothing(nginx_binary, tmp_path: Path):
    env = {
        "FF_SESSIONS_PER_CLIENT": "200",  # the whole class comes through one proxy address
        "FF_SEND_WINDOW_BYTES": "4000000",
        "FF_DRAIN_TIMEOUT_S": "10",
    }
    # The machine's load before this test does anything (its own setup, references and replica
    # starts, is not outside load).
    loads = [os.getloadavg()[0]]
    replicas = [Replica(name, env, tmp_path) for name in ("a", "b", "c")]
    nginx = None
    with ProcessPoolExecutor(2) as pool:
        references = pool.map(reference, SEEDS)  # while the replicas start
        for replica in replicas:
            replica.start()
        expected = dict(zip(SEEDS, references, strict=True))
    try:
        for replica in replicas:
            replica.wait_ready()
        nginx = Nginx(nginx_binary, tmp_path, [replica.port for replica in replicas])

        clients = []
        for index in range(CLIENTS):
            seed = SEEDS[index % len(SEEDS)]
            frames = expected[seed]
            clients.append(
                ClassClient(
                    {"seed": seed, "steps": STEPS, "speed": SPEED},
                    check=lambda step, payload, frames=frames: frames.get(step) == payload,
                )
            )
        events: list[dict] = []

        def chaos() -> None:
            """In a thread: restart a, b, c in turn with SIGTERM (each back and ready before the
            next, as a rolling update), then SIGKILL the busiest replica and start it again."""
            deadline = time.monotonic() + 60
            while min((len(client.steps) for client in clients), default=0) < 40:  # everyone is racing
                assert time.monotonic() < deadline, "the class did not get going"
                time.sleep(0.05)
            plan = [(replica, signal.SIGTERM) for replica in replicas] + [(None, signal.SIGKILL)]
            for replica, sig in plan:
                if replica is None:
                    replica = max(replicas, key=live_sessions)
                sessions = live_sessions(replica)
                stopped = replica.stop(sig)
                replica.start()
                ready = replica.wait_ready()
                events.append(
                    {
                        "replica": replica.name,
                        "signal": sig.name,
                        "sessions": sessions,
                        "exit_s": stopped,
                        "ready_s": ready,
                    }
                )

        async def race() -> None:
            loop = asyncio.get_running_loop()
            began = loop.time()
            troubles = loop.run_in_executor(None, chaos)
            await asyncio.gather(*(client.run("127.0.0.1", nginx.port, RACE_DEADLINE_S) for client in clients))
            await troubles
            events.append({"race_s": round(loop.time() - began, 1)})

        asyncio.run(race())
        loads.append(os.getloadavg()[0])
    finally:
        if nginx is not None:
            nginx.close()
        for replica in replicas:
            replica.close()

    print("\nrestarts:", json.dumps(events))
    gaps = {"SIGTERM": [], "SIGKILL": []}
    for client in clients:
        for code, gap in client.restart_gaps_s:
            gaps["SIGTERM" if code == 1012 else "SIGKILL"].append(gap)
    for kind, values in gaps.items():
        if values:
            median = sorted(values)[len(values) // 2]
            print(f"{kind}: {len(values)} reconnects, gap median {median:.3f} s, max {max(values):.3f} s")

    lost = {index: sorted(set(FRAME_STEPS) - set(client.steps)) for index, client in enumerate(clients)}
    print("lost steps:", {index: steps[:10] for index, steps in lost.items() if steps})
    restarts = events[:-1]
    assert len(restarts) == 4 and all(event["sessions"] > 0 for event in restarts), events  # each restart hit readers
    assert all(event["exit_s"] < 10 for event in restarts if event["signal"] == "SIGTERM"), events
    for client in clients:
        assert client.done, f"a client stopped at step {client.steps[-1] if client.steps else None}"
        assert client.steps == FRAME_STEPS, "a step was lost or repeated"
        assert not client.mismatched, f"frames differ from the uninterrupted run at steps {client.mismatched[:5]}"
    restarted = [client for client in clients if client.closes]
    assert len(restarted) >= CLIENTS // 2, "fewer readers went through a restart than the test means"
    assert gaps["SIGTERM"] and gaps["SIGKILL"]
    assert all(code in (1012, 1006) for client in clients for code in client.closes)
    worst = max(client.worst_gap_s for client in clients)
    bound = MAX_GAP_S
    if loads[0] > 2 * (os.cpu_count() or 1):  # very busy before the class started (its own load is the scenario)
        bound = OVERLOADED_MAX_GAP_S
        warnings.warn(
            f"load average {loads[0]:.1f} on {os.cpu_count()} cores before the test: gaps checked against "
            f"{bound} s, not "
            f"{MAX_GAP_S} s; worst SIGTERM gap {max(gaps['SIGTERM']):.2f} s, SIGKILL {max(gaps['SIGKILL']):.2f} s",
            stacklevel=1,
        )
    assert max(gaps["SIGTERM"]) <= bound, sorted(gaps["SIGTERM"])[-5:]
    assert max(gaps["SIGKILL"]) <= bound, sorted(gaps["SIGKILL"])[-5:]
    assert worst <= bound, worst


def test_the_nginx_config_is_valid(nginx_binary, tmp_path: Path):
    """nginx's own check of the config the replica test writes (cheap; names the problem if any)."""
    from bench._replicas import nginx_config

    (tmp_path / "nginx.conf").write_text(nginx_config(tmp_path, 8080, [8001, 8002, 8003]))
    check = subprocess.run(
        [nginx_binary, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr

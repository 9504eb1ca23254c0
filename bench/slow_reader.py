"""A client on a slow link: how far behind the race it falls, and whether it sees steps jump.

    python bench/slow_reader.py             # 30 KB/s for 10 s, the server's defaults
    python bench/slow_reader.py --rate 60000

The client reads `rate` bytes a second (a tenth of that every 0.1 s) from a plain socket and
answers pings as any websocket client does; its lag is how far behind the race's own clock
(80 steps a second from its first frame) each frame arrives. Target: under 2 s at 30 KB/s."""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _serverlib import Server, machine  # noqa: E402
from integration.raw_websocket import TEXT, RawWebSocket  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=30_000, help="bytes read per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="accepted for `make bench -- --quick`: 5 s")
    args, _unknown = parser.parse_known_args()
    seconds = 5.0 if args.quick else args.seconds
    print(f"bench/slow_reader.py {' '.join(sys.argv[1:])}: {machine()}", flush=True)
    server = Server()
    try:
        ws = RawWebSocket(server.port)
        frames = []
        ws.send_text(json.dumps({"type": "start", "settings": {"steps": 900}}))
        started = next_read = time.monotonic()
        while time.monotonic() - started < seconds:
            for opcode, payload in ws.read(args.rate // 10):
                if opcode == TEXT and payload.startswith(b'{"type":"frame"'):
                    frames.append((time.monotonic(), json.loads(payload)["step"]))
            next_read += 0.1
            time.sleep(max(0.0, next_read - time.monotonic()))  # the link's pace
        ws.close()
        conflated = server.metric("ff_frames_conflated_total")
    finally:
        server.stop()
    first = frames[0][0]
    lags = sorted(((arrival - first) * 80 - step) / 80 for arrival, step in frames)
    steps = [step for _, step in frames]
    jump = max(b - a for a, b in pairwise(steps))
    print(
        f"  {args.rate} B/s for {seconds:g} s: {len(frames)} frames, steps in order {steps == sorted(steps)}, "
        f"largest jump {jump} steps, {conflated:.0f} frames conflated; lag median {lags[len(lags) // 2]:.2f} s, "
        f"max {lags[-1]:.2f} s (target < 2 s: {'met' if lags[-1] < 2 else 'MISSED'})",
        flush=True,
    )


if __name__ == "__main__":
    main()

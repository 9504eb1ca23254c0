"""How long a replica takes to start: from `python -m app serve` to its first HTTP answer (liveness,
/healthz; the listener is open) and to ready (/readyz 200: engine processes up, the scorecard
measured). The gap between the two is the longest a reader arriving at the first moment can wait
for the page, and what a load balancer that probes /readyz holds readers back for.

    python bench/startup.py            # 5 starts
    python bench/startup.py --quick    # 2 starts"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.engine.cpu import cpu_model  # noqa: E402
from bench._serverlib import free_port  # noqa: E402

POLL_S = 0.01
LIMIT_S = 60.0


def one_start() -> tuple[float, float]:
    """(seconds to the first HTTP answer, seconds to /readyz 200) of one fresh server."""
    port = free_port()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    answered = None
    try:
        while time.monotonic() - started < LIMIT_S:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                    if response.status == 200:
                        now = time.monotonic() - started
                        return (answered if answered is not None else now), now
            except urllib.error.HTTPError:  # 503: listening, warming up
                answered = answered if answered is not None else time.monotonic() - started
            except OSError:  # not listening yet
                pass
            time.sleep(POLL_S)  # a bounded poll of the new server
        raise RuntimeError(f"not ready within {LIMIT_S:.0f} s")
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 starts")
    args, _ = parser.parse_known_args()  # `python -m app bench` passes every script the same arguments
    starts = 2 if args.quick else args.starts
    print(f"# bench/startup.py: {cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    results = [one_start() for _ in range(starts)]
    for first, ready in results:
        print(f"first answer {first:.2f} s, ready {ready:.2f} s (warm-up after listening {ready - first:.2f} s)")
    print(
        f"median of {starts}: first answer {statistics.median(r[0] for r in results):.2f} s, "
        f"ready {statistics.median(r[1] for r in results):.2f} s"
    )


if __name__ == "__main__":
    main()

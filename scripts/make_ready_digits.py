"""Write app/engine/data/digits_ready.npz: the drawing pad's ready network.

Trains app.engine.digits_ready.LIVE_SETTINGS (784-200-200) at seed 0 to its end (30 epochs on the
bundled 4,000 training digits; about 8 s on a quiet 2-core machine), stores both nets' weights as
float16 with fixed zip timestamps, and prints the file's size, its sha256 (the value of
app.engine.digits_ready.READY_SHA256) and the held-out error of the float32 run and of the stored
float16 weights. The same NumPy, BLAS and BLAS thread count give the same bytes (checked: the
committed file was rewritten byte for byte on the 2-core machine with OpenBLAS's default threads;
with OPENBLAS_NUM_THREADS=1 float32 sums round differently: other bytes, the same held-out errors).

Run:  .venv/bin/python scripts/make_ready_digits.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.engine.digits_ready import READY_PATH, read_ready, write_ready  # noqa: E402
from app.engine.mnist import file_sha256  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=READY_PATH)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    run = write_ready(args.output, args.seed)
    seconds = time.perf_counter() - started
    trained = run.evaluate(full=True)
    stored = read_ready(args.output).evaluate(full=True)
    print(
        f"wrote {args.output}: {args.output.stat().st_size} bytes, sha256 {file_sha256(args.output)}; "
        f"trained in {seconds:.1f} s; held-out error FF {trained.ff_error:.3f} backprop {trained.backprop_error:.3f} "
        f"(float16 weights as stored: FF {stored.ff_error:.3f} backprop {stored.backprop_error:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The live digits figure (/ws/digits): what one frame costs an engine worker at each hidden size,
what that means at 20 frames a second, each size's held-out error at the end of the run over seeds,
the frame's size, and the drawing pad's HTTP answer (rasterize + one 10-label inference). The
figures behind the 784-200-200 choice in docs/digits.md. Figures only, never pass/fail."""

from __future__ import annotations

import argparse
import json
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from time import perf_counter_ns

import numpy as np
from threadpoolctl import threadpool_limits

from app.engine.cpu import cpu_model
from app.engine.digits import DigitsRun
from app.engine.digits_ready import LIVE_SETTINGS, ready_run
from app.web.digits_live import DigitQuery, _strip_rows, answer, frame_text, sample_data

COMMAND = "python -m app bench --only digits_live"
SIZES = ((100, 100), (200, 200), (300, 300), (500, 500))
FRAME_RATE = 20  # FF_FRAME_RATE's default: one minibatch per frame
SEVEN = (((0.3, 0.2), (0.7, 0.2), (0.45, 0.85)),)


def frame_cost(hidden: tuple[int, ...], frames: int = 40) -> tuple[float, int]:
    """Median ms of one frame as an engine worker computes it (one minibatch of both nets, then the
    200-digit check and the strip), single-threaded BLAS as in the workers; and the frame's bytes."""
    run = DigitsRun(LIVE_SETTINGS.replace(hidden=hidden), sample_data())
    rows = _strip_rows(run)
    samples, sizes = [], []
    for _ in range(frames + 5):
        start = perf_counter_ns()
        run.train_batches(1)
        text = frame_text(run, run.total_batches, rows)
        samples.append(perf_counter_ns() - start)
        sizes.append(len(text))
    return statistics.median(samples[5:]) / 1e6, round(statistics.mean(sizes))


def final_errors(job: tuple[tuple[int, ...], int]) -> tuple[float, float]:
    hidden, seed = job
    with threadpool_limits(1):
        run = DigitsRun(LIVE_SETTINGS.replace(hidden=hidden, seed=seed), sample_data())
        while not run.done:
            run.train_epoch()
        errors = run.evaluate(full=True)
    return errors.ff_error, errors.backprop_error


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--costs-only", action="store_true", help="skip the training runs (the error columns)")
    args, _ = parser.parse_known_args(argv)
    print(f"# digits_live: {cpu_model()} ({os.cpu_count()} cores), NumPy {np.__version__}; command: {COMMAND}")
    with threadpool_limits(1):
        costs = {hidden: frame_cost(hidden) for hidden in SIZES}
        run = ready_run()
        query = DigitQuery(strokes=SEVEN)
        samples = []
        for _ in range(50):
            start = perf_counter_ns()
            answer(run, query)
            samples.append(perf_counter_ns() - start)
        pad_ms = statistics.median(samples[5:]) / 1e6
        held = json.dumps(answer(run, DigitQuery(heldout=28)).inference.as_dict())
    jobs = [] if args.costs_only else [(hidden, seed) for hidden in SIZES for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.processes, mp_context=get_context("spawn")) as pool:
        results = dict(zip(jobs, pool.map(final_errors, jobs), strict=True))
    print(
        f"\n## one frame per minibatch at {FRAME_RATE} frames a second; errors on the 1,000 held-out digits, "
        f"30 epochs, seeds 0-{args.seeds - 1}"
    )
    print("| hidden | one frame (ms) | engine s per s of a running race | frame bytes | FF error | backprop error |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for hidden in SIZES:
        ms, size = costs[hidden]
        ff = [results[(hidden, s)][0] for s in range(args.seeds) if (hidden, s) in results]
        bp = [results[(hidden, s)][1] for s in range(args.seeds) if (hidden, s) in results]
        errors = (
            f"{statistics.mean(ff):.2%} ({min(ff):.1%}-{max(ff):.1%}) | "
            f"{statistics.mean(bp):.2%} ({min(bp):.1%}-{max(bp):.1%})"
            if ff
            else "- | -"
        )
        print(f"| {'-'.join(map(str, hidden))} | {ms:.1f} | {ms * FRAME_RATE / 1000:.2f} | {size} | {errors} |")
    print(
        f"\ndrawing pad, ready network: rasterize a 3-point stroke and read it with 10 labels: {pad_ms:.2f} ms median"
    )
    print(f"an inference answer's JSON (without the image): {len(held)} bytes")


if __name__ == "__main__":
    main()

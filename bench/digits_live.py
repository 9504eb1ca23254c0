"""The live digits figure (/ws/digits): what one frame costs an engine worker at each hidden size,
what that means at 20 frames a second, each size's held-out error at the end of the run over seeds,
the frame's size, and the drawing pad's answer as the server computes it (the in-process `answer()`
call: rasterize + one 10-label inference; no HTTP). With `--clicks`: what a click on the reader's
own run costs its engine worker (`DigitsRunState.infer` a few steps behind the run's head, where
the page is, and once with a replay from a checkpoint), the memory a run holds, a hostile drawing's
rasterize time, and float32 against float64 for one FF minibatch at the default 784-500-500. The
figures behind docs/digits.md. Figures only, never pass/fail."""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from time import perf_counter_ns

import numpy as np
from threadpoolctl import threadpool_limits

from app.engine.cpu import cpu_model
from app.engine.digits import DigitsRun, DigitsSettings
from app.engine.digits_ready import LIVE_SETTINGS, ready_run
from app.engine.drawing import MAX_POINTS, MAX_STROKES, rasterize
from app.web.digits_live import (
    RECENT_STEPS,
    DigitQuery,
    DigitsRunState,
    LiveDigitsSettings,
    _strip_rows,
    answer,
    frame_text,
    sample_data,
)

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


def median_ms(call, repeats: int, warmup: int = 3) -> float:
    samples = []
    for _ in range(repeats + warmup):
        start = perf_counter_ns()
        call()
        samples.append(perf_counter_ns() - start)
    return statistics.median(samples[warmup:]) / 1e6


def copy_megabytes(run: DigitsRun, **fork: bool) -> float:
    """Pickled size of run.fork(**fork) without the data every copy shares (the pixels, labels)."""
    shared = {id(getattr(run, name)) for name in DigitsRun._SHARED}

    class WithoutShared(pickle.Pickler):
        def persistent_id(self, obj: object) -> str | None:
            return "shared" if id(obj) in shared else None

    buffer = io.BytesIO()
    WithoutShared(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(run.fork(**fork))
    return len(buffer.getvalue()) / 1e6


def clicks(head: int = 393, behind: int = 3, repeats: int = 50) -> None:
    """A click on the reader's own live run (seed 0, 784-200-200), as its engine worker answers it."""
    state = DigitsRunState(LiveDigitsSettings(seed=0))
    state.produce_to(head)
    step = head - behind
    for name, query in (("a 3-point stroke", DigitQuery(strokes=SEVEN)), ("held-out digit 28", DigitQuery(heldout=28))):
        ms = median_ms(lambda q=query: state.infer(step, q, 0.0, None), repeats)
        print(
            f"click on {name} at step {step} with the run at {head} (within the last {RECENT_STEPS} steps): "
            f"{ms:.2f} ms median of {repeats}, {state.replayed} minibatches replayed"
        )
    far = head - RECENT_STEPS - 1
    start = time.perf_counter()
    state.infer(far, DigitQuery(strokes=SEVEN), 0.0, None)
    print(
        f"click at step {far} (outside the last {RECENT_STEPS}): {(time.perf_counter() - start) * 1000:.0f} ms, "
        f"{state.replayed} minibatches replayed from the checkpoint at 0"
    )
    parameters = sum(array.nbytes for array in state.producer.parameters().values()) / 1e6
    print(
        f"memory at 784-200-200: a run's copy (fork, nets and Adam state) {copy_megabytes(state.producer):.1f} MB; "
        f"an inference copy (fork(optimizers=False)) {copy_megabytes(state.producer, optimizers=False):.1f} MB; "
        f"one step's parameters {parameters:.2f} MB, {RECENT_STEPS} kept: {RECENT_STEPS * parameters:.1f} MB"
    )


def hostile_rasterize(repeats: int = 5) -> None:
    rng = np.random.default_rng(0)
    per = MAX_POINTS // MAX_STROKES
    strokes = [rng.random((per, 2)).tolist() for _ in range(MAX_STROKES)]
    ms = median_ms(lambda: rasterize(strokes), repeats, warmup=1)
    print(f"rasterize a hostile drawing ({MAX_STROKES} strokes of {per} random points): {ms:.0f} ms median")


def dtype_cost(minibatches: int = 20) -> None:
    """One FF minibatch (hard negatives included) at the defaults, float32 against float64."""
    for dtype in ("float32", "float64"):
        run = DigitsRun(DigitsSettings(dtype=dtype), sample_data())
        x, y = run.train_x[:100], run.train_y[:100]
        rng = np.random.default_rng(0)
        ms = median_ms(lambda r=run, xx=x, yy=y, g=rng: r.ff.train_batch(xx, yy, g), minibatches)
        print(f"one FF minibatch of 100 at 784-500-500 in {dtype}: {ms:.1f} ms median of {minibatches}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--costs-only", action="store_true", help="skip the training runs (the error columns)")
    parser.add_argument(
        "--clicks", action="store_true", help="only the click, memory, hostile-drawing and float32 figures"
    )
    args, _ = parser.parse_known_args(argv)
    print(f"# digits_live: {cpu_model()} ({os.cpu_count()} cores), NumPy {np.__version__}; command: {COMMAND}")
    if args.clicks:
        with threadpool_limits(1):  # as in the engine workers
            clicks()
            hostile_rasterize()
        dtype_cost()  # BLAS's default threads, as `python -m app digits` runs
        return
    with threadpool_limits(1):
        costs = {hidden: frame_cost(hidden) for hidden in SIZES}
        run = ready_run()
        query = DigitQuery(strokes=SEVEN)
        pad_ms = median_ms(lambda: answer(run, query), 45, warmup=5)
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
        "\ndrawing pad, ready network, the in-process answer() call (no HTTP): rasterize a 3-point stroke and "
        f"read it with 10 labels: {pad_ms:.2f} ms median"
    )
    print(f"an inference answer's JSON (without the image): {len(held)} bytes")


if __name__ == "__main__":
    main()

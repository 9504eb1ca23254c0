"""The small measurements behind the third engine round (docs/performance.md, docs/engine.md):
what single NumPy operations cost at the race's sizes, what a race holds, what a frame's JSON
costs, and what serving many runs in turn costs against one run alone.

    python bench/engine_parts.py            # about 20 s
    python bench/engine_parts.py --quick    # fewer rounds, a smoke run

Every figure is a median of interleaved rounds in this process (bench/engine.py's method), with
the CPU model printed first; compare figures of one run, not across machines."""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from app.engine.cpu import cpu_model  # noqa: E402
from app.engine.race import Race, RaceSettings  # noqa: E402
from app.web.engine_worker import Item, Workshop  # noqa: E402
from app.web.frames import frame_text  # noqa: E402
from bench.engine import interleaved_medians  # noqa: E402


def operations(rounds: int) -> None:
    """ReLU against a scalar and against an array of zeros; a division broadcast over rows against
    an operation of two arrays of one shape: the race's 12 units over the grid (2,048 rows, float32)
    and over train and test (1,200 rows, float64)."""
    for dtype, m in ((np.float32, 2048), (np.float64, 1200)):
        timed = interleaved_medians(_operations_at(dtype, m), rounds)
        print(f"12 x {m} {np.dtype(dtype).name}: " + "; ".join(f"{k} {v:.2f} us" for k, v in timed.items()))


def _operations_at(dtype, m: int) -> dict:
    rng = np.random.default_rng(0)
    y = rng.standard_normal((12, m)).astype(dtype)
    zeros = np.zeros((12, m), dtype)
    length = (rng.random(m) + 0.5).astype(dtype)
    out = np.empty((12, m), dtype)
    return {
        "ReLU, np.maximum(y, 0.0)": lambda: np.maximum(y, 0.0, out=out),
        "ReLU, np.maximum(y, zeros)": lambda: np.maximum(y, zeros, out=out),
        "y / s, s one number per row": lambda: np.divide(y, length, out=out),
        "y * y, one shape": lambda: np.multiply(y, y, out=out),
    }


def memory_per_race(races: int = 20) -> None:
    """What a default race keeps after a step and a snapshot (tracemalloc, the thread's shared work
    memory already made by a race before), per race of `races`."""
    warm = Race(RaceSettings(seed=99))
    warm.advance_to(5)
    warm.snapshot()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    kept = []
    for seed in range(races):
        race = Race(RaceSettings(seed=seed))
        race.advance_to(5)
        race.snapshot()
        kept.append(race)
    gc.collect()
    per_race = (tracemalloc.get_traced_memory()[0] - base) / races / 1024
    tracemalloc.stop()
    print(f"memory a default race keeps (tracemalloc over {races} races): {per_race:.0f} KB")


def frame_parts(frames: int) -> None:
    """A frame's CPU time in three parts: 4 race steps, the snapshot, its JSON text."""
    race = Race(RaceSettings(seed=12345))
    steps, snapshots, texts = [], [], []
    for index in range(frames + 20):
        started = time.thread_time_ns()
        race.advance_to(race.step_count + 4)
        stepped = time.thread_time_ns()
        snapshot = race.snapshot(grid=True)
        snapped = time.thread_time_ns()
        frame_text(snapshot, race.settings.steps, race.settings.theta)
        done = time.thread_time_ns()
        if index >= 20:
            steps.append(stepped - started)
            snapshots.append(snapped - stepped)
            texts.append(done - snapped)
    print(
        "one frame (median CPU time): 4 steps {:.0f} us, snapshot {:.0f} us, JSON text {:.0f} us".format(
            *(statistics.median(v) / 1000 for v in (steps, snapshots, texts))
        )
    )


def runs_in_turn(runs: int, rounds: int) -> None:
    """A Workshop (an engine slot) serving `runs` runs in turn, 6 frames each as a slice asks,
    against one Workshop serving one run as many items, and against one race computing frames
    with nothing around it (median), in interleaved rounds so that the machine's drift lands on
    all three alike. The Workshop figures are means over their frames (checkpoints included)."""

    class Served:
        def __init__(self, count: int) -> None:
            self.workshop = Workshop(1000)
            self.settings = [RaceSettings(seed=1000 * count + i) for i in range(count)]
            self.position = [0] * len(self.settings)
            self.cpu, self.frames = 0.0, 0

        def item(self, i: int, counted: bool) -> None:
            wanted = [self.position[i] + 4 * k for k in range(1, 7)]
            if wanted[-1] > self.settings[i].steps:  # a finished run starts again, as a new one
                self.settings[i] = RaceSettings(seed=self.settings[i].seed + 100_000)
                wanted = [4 * k for k in range(1, 7)]
            self.position[i] = wanted[-1]
            key = ("race", i, self.settings[i].seed)
            result = self.workshop.execute([Item(key, self.settings[i], frames=wanted)], 1.0)[0]
            if counted:
                self.cpu += result.cpu_seconds
                self.frames += len(result.frames)

    many, one = Served(runs), Served(1)
    race, alone = Race(RaceSettings(seed=12345)), []
    for turn in range(rounds):
        counted = turn >= 2
        for i in range(runs):
            many.item(i, counted)
        for _ in range(runs):
            one.item(0, counted)
        for _ in range(6 * runs):
            if race.done:
                race = Race(RaceSettings(seed=race.settings.seed + 1))
            started = time.thread_time()
            race.advance_to(race.step_count + 4)
            frame_text(race.snapshot(grid=True), race.settings.steps, race.settings.theta)
            if counted:
                alone.append(time.thread_time() - started)
    alone_ms, alone_mean_ms = statistics.median(alone) * 1000, statistics.fmean(alone) * 1000
    for label, served in ((f"{runs} runs", many), ("1 run", one)):
        per_frame = served.cpu / served.frames * 1000
        print(
            f"{label} served in turn, 6 frames an item: {per_frame:.3f} ms per frame; one race alone "
            f"{alone_ms:.3f} ms (median), {alone_mean_ms:.3f} ms (mean); served / alone = "
            f"{per_frame / alone_ms:.2f} (median), {per_frame / alone_mean_ms:.3f} (mean)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    args, _ = parser.parse_known_args(argv)  # `python -m app bench` forwards its extra args to every script
    load = os.getloadavg()[0]
    print(f"# engine parts: {cpu_model()}, {os.cpu_count()} CPUs, NumPy {np.__version__}, load average {load:.1f}")
    operations(300 if args.quick else 3000)
    memory_per_race(5 if args.quick else 20)
    frame_parts(60 if args.quick else 400)
    runs_in_turn(10 if args.quick else 45, 4 if args.quick else 12)


if __name__ == "__main__":
    main()

"""The scorecard's measured column: figures this server's own engine produces, computed once."""

from __future__ import annotations

import asyncio
import statistics
import time

import numpy as np

import app as package
from app.engine.demos import TRACE_ALGORITHMS, step_trace
from app.engine.race import TARGET_ACCURACY, Race, RaceSettings, run_to_end

STEP_REPEATS = 300  # timed calls per net; the median shrugs off a neighbour's burst on a shared machine


def median_microseconds(function, repeats: int = STEP_REPEATS) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        function()
        samples.append(time.perf_counter_ns() - started)
    return round(statistics.median(samples) / 1000.0, 1)


def measure_scorecard() -> dict:
    """Runs the default race once and times each net's own step (about a second of CPU): call it
    in a worker thread."""
    peak_bytes = {algorithm: step_trace(algorithm)["peak_bytes"] for algorithm in TRACE_ALGORITHMS}
    race = Race(RaceSettings())
    # The same code path and definition as `python -m app race`: training accuracy.
    reached = run_to_end(race).steps_to_target
    x, y = race.train.x, race.train.y
    ff_us = median_microseconds(lambda: race.ff.train_step(x, y, race.negative_rng))
    bp_us = median_microseconds(lambda: race.backprop.train_step(x, y))
    return {
        "peak_bytes_per_step": peak_bytes,
        "steps_to_95_percent": {"forward-forward": reached["ff"], "backprop": reached["backprop"]},
        "accuracy_measured_on": "training points",
        "target_accuracy": TARGET_ACCURACY,
        "ff_step_microseconds": ff_us,          # median of FFNetwork.train_step on the race's points
        "backprop_step_microseconds": bp_us,    # median of BackpropMLP.train_step on the same points
        "step_points": len(y),
        "race_settings": RaceSettings().as_dict(),
        "numpy_version": np.__version__,
        "app_version": package.__version__,
    }


class Scorecard:
    """Lazily measured on first use, in a worker thread; concurrent first callers share the work."""

    def __init__(self, executor) -> None:
        self._executor = executor
        self._lock = asyncio.Lock()
        self._figures: dict | None = None

    async def figures(self) -> dict:
        if self._figures is None:
            async with self._lock:
                if self._figures is None:
                    loop = asyncio.get_running_loop()
                    self._figures = await loop.run_in_executor(self._executor, measure_scorecard)
        return self._figures

"""The scorecard's measured column: figures this server's own engine produces, computed once."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import Executor

import numpy as np

import app as package
from app.engine.cpu import cpu_model
from app.engine.demos import TRACE_ALGORITHMS, TRACE_BATCH, TRACE_HIDDEN, step_trace
from app.engine.race import TARGET_ACCURACY, Race, RaceSettings, run_to_end

# Measures the same figures again, the same way, on whatever machine runs it (bench/scorecard.py).
COMMAND = "python -m app bench --only scorecard"
STEP_REPEATS = 300  # timed calls per net; the median shrugs off a neighbour's burst on a shared machine


def measure_scorecard() -> dict:
    """Runs the default race once and times each net's own step (about a second of CPU): call it
    in a worker thread."""
    peak_bytes = {algorithm: step_trace(algorithm)["peak_bytes"] for algorithm in TRACE_ALGORITHMS}
    race = Race(RaceSettings())
    # The same code path and definition as `python -m app race`: training accuracy.
    reached = run_to_end(race).steps_to_target
    times = race.time_steps(STEP_REPEATS)  # the engine's own timer, on a fork: the race does not move
    return {
        "peak_bytes_per_step": peak_bytes,
        "trace_network": {"hidden_sizes": list(TRACE_HIDDEN), "batch": TRACE_BATCH},  # whose memory that is
        "steps_to_95_percent": {"forward-forward": reached["ff"], "backprop": reached["backprop"]},
        "accuracy_measured_on": "training points",
        "target_accuracy": TARGET_ACCURACY,
        "ff_step_microseconds": round(times.ff, 1),  # median FF step on the race's points
        "backprop_step_microseconds": round(times.backprop, 1),  # median backprop step, same points
        "step_points": len(race.train.y),
        "race_settings": RaceSettings().as_dict(),
        "numpy_version": np.__version__,
        "app_version": package.__version__,
        "cpu": cpu_model(),  # the machine the figures were measured on
        "cpus": os.cpu_count(),
        "command": COMMAND,
    }


_measured: dict | None = None  # per process: the figures depend on this engine and machine only
_measure_lock = threading.Lock()


def process_scorecard() -> dict:
    """measure_scorecard() once per process (apps created later in it, as the tests do, reuse it)."""
    global _measured
    with _measure_lock:
        if _measured is None:
            _measured = measure_scorecard()
        return _measured


class Scorecard:
    """Measured at start-up, in a worker thread, by the app's warm-up (the replica is not ready until
    it is done: app/web/readiness.py), so no reader starts it; without a lifespan, on first use."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._lock = asyncio.Lock()
        self._figures: dict | None = None

    @property
    def measured(self) -> bool:
        return self._figures is not None

    async def measure(self) -> dict:
        if self._figures is None:
            async with self._lock:
                if self._figures is None:
                    loop = asyncio.get_running_loop()
                    self._figures = await loop.run_in_executor(self._executor, process_scorecard)
        return self._figures

    async def figures(self) -> dict:
        return await self.measure()

"""The scorecard's measured column: figures this server's own engine produces, computed once."""

from __future__ import annotations

import asyncio
import time

import numpy as np

import app as package
from app.engine.demos import TRACE_ALGORITHMS, step_trace
from app.engine.race import Race, RaceSettings

TARGET_ACCURACY = 0.95


def measure_scorecard() -> dict:
    """Runs the default race once (about a second of CPU): call it in a worker thread."""
    peak_bytes = {algorithm: step_trace(algorithm)["peak_bytes"] for algorithm in TRACE_ALGORITHMS}
    race = Race(RaceSettings())
    first_at: dict[str, int | None] = {"forward-forward": None, "backprop": None}
    stepping = 0.0
    while not race.done:
        started = time.perf_counter()
        race.step()
        stepping += time.perf_counter() - started
        snap = race.snapshot(grid=False)
        for name, metrics in (("forward-forward", snap.ff), ("backprop", snap.backprop)):
            if first_at[name] is None and metrics.test_accuracy >= TARGET_ACCURACY:
                first_at[name] = race.step_count
    return {
        "peak_bytes_per_step": peak_bytes,
        "steps_to_95_percent": first_at,
        "accuracy_measured_on": "held-out test points",
        "race_step_microseconds": round(stepping / race.step_count * 1e6, 1),
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

"""Figures the article quotes that take too long to measure at start-up (many seeds): measured by a
bench command, stored beside this module, read once. Each file names the command that rewrites it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = {
    "race_seeds": HERE / "race_seeds.json",  # python -m app bench --only race_seeds -- --write ...
    "datasets": HERE / "datasets.json",  # python -m app bench --only recipe -- --write ...
}


@cache
def measured_figures() -> dict:
    """{"race_seeds": ..., "datasets": ...}; a missing or broken file is left out, never fatal:
    the templates then leave its sentences out."""
    figures = {}
    for name, path in FILES.items():
        try:
            figures[name] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return figures

"""`python -m app race`: train Forward-Forward and backprop side by side, headless, and report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from app.engine.datasets import DATASET_NAMES
from app.engine.race import Race, RaceSettings, run_to_end

HELP = "race Forward-Forward against backprop on one data set, headless (--json for one JSON object)"

_DEFAULTS = RaceSettings()


def configure(parser: argparse.ArgumentParser) -> None:
    # No `choices=` on --dataset: RaceSettings owns validation, so the message is the same everywhere.
    parser.add_argument("--dataset", default=_DEFAULTS.dataset, help=f"one of {', '.join(DATASET_NAMES)}")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="data, weights and negatives")
    parser.add_argument("--steps", type=int, default=_DEFAULTS.steps, help="full-batch training steps")
    parser.add_argument("--theta", type=float, default=_DEFAULTS.theta, help="FF goodness threshold")
    parser.add_argument("--learning-rate", type=float, default=_DEFAULTS.learning_rate, help="shared by both nets")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")


def _progress(step: int, steps: int, ff: float, bp: float) -> None:
    width = 30
    filled = width * step // steps
    sys.stdout.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {step}/{steps}  train accuracy FF {ff:.3f}  backprop {bp:.3f}"
    )
    sys.stdout.flush()


def train(settings: RaceSettings, on_step: Callable[[int, int, float, float], None] | None = None) -> dict:
    """Run the race to the end; only the training steps are timed, evaluation is not."""
    race = Race(settings)
    run = run_to_end(race, on_step)
    snap = race.snapshot(grid=False)
    return {
        "dataset": settings.dataset,
        "seed": settings.seed,
        "steps": settings.steps,
        "train_seconds": run.train_seconds,
        "ff": {
            "train_accuracy": snap.ff.train_accuracy,
            "test_accuracy": snap.ff.test_accuracy,
            "steps_to_95": run.steps_to_target["ff"],
        },
        "backprop": {
            "train_accuracy": snap.backprop.train_accuracy,
            "test_accuracy": snap.backprop.test_accuracy,
            "steps_to_95": run.steps_to_target["backprop"],
        },
    }


def run(args: argparse.Namespace) -> int:
    settings = RaceSettings(
        dataset=args.dataset, seed=args.seed, steps=args.steps, theta=args.theta, learning_rate=args.learning_rate
    )
    if args.json:
        print(json.dumps(train(settings)))
        return 0
    tty = sys.stdout.isatty()
    result = train(settings, on_step=_progress if tty else None)
    if tty:
        sys.stdout.write("\n")
    print(
        f"race on {result['dataset']} (seed {result['seed']}), {result['steps']} steps, "
        f"{result['train_seconds']:.2f} s of training"
    )
    for label, key in (("Forward-Forward", "ff"), ("Backprop", "backprop")):
        r = result[key]
        reached = "never" if r["steps_to_95"] is None else f"at step {r['steps_to_95']}"
        print(
            f"  {label:<16} train {r['train_accuracy']:.1%}  held-out {r['test_accuracy']:.1%}  "
            f"95% train accuracy {reached}"
        )
    return 0

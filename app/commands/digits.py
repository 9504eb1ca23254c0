"""`python -m app digits`: Forward-Forward and backprop on real handwritten digits, headless."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from app.engine.digits import DigitsMetrics, DigitsRun, DigitsSettings, train
from app.engine.mnist import CREDIT, DigitData, load

HELP = (
    "train Forward-Forward and a backprop MLP on real MNIST digits (the bundled 4,000 / 1,000 "
    "sample, or --mnist DIR) and report held-out accuracy (--json for one JSON object)"
)

_DEFAULTS = DigitsSettings()


def configure(parser: argparse.ArgumentParser) -> None:
    # Values are parsed in run(), not by argparse types or choices: every bad value then gives the
    # same one-line message (DigitsSettings owns the ranges) and exit code 2.
    d = _DEFAULTS
    parser.add_argument("--seed", default=str(d.seed), help="weights, minibatch order and negatives")
    parser.add_argument("--epochs", default=str(d.epochs), help=f"passes over the training set (default {d.epochs})")
    parser.add_argument(
        "--hidden",
        default=",".join(map(str, d.hidden)),
        help=f"hidden layer widths, comma-separated (default {','.join(map(str, d.hidden))})",
    )
    parser.add_argument(
        "--negatives", default=d.negatives, help="hard (a wrong label the net finds plausible) or random (default hard)"
    )
    parser.add_argument("--batch", default=str(d.batch_size), help=f"minibatch size (default {d.batch_size})")
    parser.add_argument(
        "--mnist",
        metavar="DIR",
        default=None,
        help="train on the standard MNIST IDX files in DIR (train-images-idx3-ubyte, ... "
        "gzipped or not) instead of the bundled sample",
    )
    parser.add_argument("--theta", default=str(d.theta), help=f"FF goodness threshold (default {d.theta})")
    parser.add_argument(
        "--learning-rate", default=str(d.learning_rate), help=f"FF's Adam learning rate (default {d.learning_rate})"
    )
    parser.add_argument(
        "--label-strength", default=str(d.label_strength), help=f"value of the label pixel (default {d.label_strength})"
    )
    parser.add_argument(
        "--inference",
        default=d.inference,
        help="layers whose goodness FF sums: all or skip-first (the paper's rule for deep nets)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer; got {text!r}") from None


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number; got {text!r}") from None


def settings_from(args: argparse.Namespace) -> DigitsSettings:
    try:
        hidden = tuple(int(part) for part in args.hidden.split(","))
    except ValueError:
        raise ValueError(f"hidden must be comma-separated layer widths such as 500,500; got {args.hidden!r}") from None
    return DigitsSettings(
        seed=_integer("seed", args.seed),
        epochs=_integer("epochs", args.epochs),
        hidden=hidden,
        negatives=args.negatives,
        batch_size=_integer("batch", args.batch),
        theta=_number("theta", args.theta),
        learning_rate=_number("learning-rate", args.learning_rate),
        label_strength=_number("label-strength", args.label_strength),
        inference=args.inference,
    )


class _Bar:
    """A progress bar on stderr (a terminal), redrawn at most ten times a second."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, run: DigitsRun, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        width, done, total = 30, run.batches_done, run.total_batches
        filled = width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] epoch {run.progress:5.2f}/{run.settings.epochs}")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


class _Lines:
    """Progress on stderr that is not a terminal (a log, a pipe): plain lines, no carriage returns,
    one at the end of every epoch and, within a long epoch, at most one every `every` seconds."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.start = self.last = time.perf_counter()

    def __call__(self, run: DigitsRun, force: bool = False) -> None:
        now = time.perf_counter()
        epoch_end = run.batch_in_epoch == 0 and run.batches_done > 0
        if not (force or epoch_end or now - self.last >= self.every):
            return
        self.last = now
        where = (
            f"epoch {run.epoch}/{run.settings.epochs} done"
            if epoch_end
            else f"epoch {run.progress:.2f}/{run.settings.epochs}"
        )
        share = run.batches_done / run.total_batches
        print(f"digits: {where}, {share:.0%} of the minibatches, {now - self.start:.1f} s", file=sys.stderr, flush=True)

    def clear(self) -> None:
        pass


def _train_with_progress(
    settings: DigitsSettings,
    data: DigitData | None,
    on_epoch: Callable[[DigitsRun, DigitsMetrics], None] | None,
    progress: _Bar | _Lines,
) -> dict:
    """train() in small chunks, reporting progress between them (the same result: the same
    minibatches in the same order, tested), and on_epoch with the whole held-out set's figures."""
    run = DigitsRun(settings, data)
    while not run.done:
        run.train_batches(min(4, run.batches_per_epoch - run.batch_in_epoch))  # never across an epoch's end
        epoch_end = run.batch_in_epoch == 0
        if epoch_end and on_epoch is not None:
            metrics = run.evaluate(full=True)
            progress.clear()
            on_epoch(run, metrics)
        progress(run, force=epoch_end)
    progress.clear()
    return train(settings, data, run=run)[1]


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    data = load(args.mnist)
    if settings.batch_size > data.train_size:
        raise ValueError(
            f"batch must be at most the training set's size ({data.train_size}); got {settings.batch_size}"
        )
    tty = sys.stderr.isatty()

    def print_epoch(run: DigitsRun, metrics: DigitsMetrics) -> None:
        print(
            f"epoch {run.epoch:>3}/{settings.epochs}  held-out accuracy  FF {1 - metrics.ff_error:6.2%}  "
            f"backprop {1 - metrics.backprop_error:6.2%}  ({run.seconds['ff'] + run.seconds['backprop']:.1f} s)",
            flush=True,
        )

    if not args.json:
        print(f"data: {data.name}, {data.train_size} training and {data.test_size} held-out digits ({CREDIT})")
        print(
            f"hidden {list(settings.hidden)}, {settings.epochs} epochs, minibatches of {settings.batch_size}, "
            f"{settings.negatives} negatives, seed {settings.seed}",
            flush=True,
        )
    on_epoch = None if args.json else print_epoch
    # Progress goes to stderr, never stdout (which holds only the summary or the JSON object).
    report = _train_with_progress(settings, data, on_epoch, _Bar() if tty else _Lines())
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"trained in {report['train_seconds']:.1f} s (evaluation not counted)")
    for label, key in (("Forward-Forward", "ff"), ("Backprop", "backprop")):
        r = report[key]
        print(f"  {label:<16} train {r['train_accuracy']:.2%}  held-out {r['test_accuracy']:.2%}")
    return 0

"""Engine benchmark: the race step, the decision grids and the snapshot, each as a RATIO to a
reference timed in the same run, so the figures mean the same on a quiet or a busy machine.

    python bench/engine.py                      # 2,000 interleaved rounds (about 30 s)
    python bench/engine.py --quick              # 300 rounds, a smoke run
    python bench/engine.py --engine-root DIR    # time the engine of another checkout (e.g. the
                                                # base commit in a temporary worktree) against
                                                # the same references

References (in bench/): `_reference.py`, the race step written plainly in NumPy (checked against
the engine before timing); `_before.py`, the snapshot and grids as commit 46c37e6 computed them
("today's cost"). The race's default kernel is timed, and the rows kernel (the float64 layout
kept bit for bit) beside it. Every round
calls each timed function once, in turn, and the figure is the median over rounds: a neighbour's
burst slows one round of every function alike."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TARGETS = {"step": 0.35, "grids": 0.5, "snapshot": 0.5, "torch": 8.0}


def interleaved_medians(functions: dict, rounds: int, warmup: int = 30) -> dict[str, float]:
    """{name: median microseconds of one call}, calling every function once per round, in turn."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    samples: dict[str, list[int]] = {name: [] for name in functions}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, function in functions.items():
            start = clock()
            function()
            samples[name].append(clock() - start)
    return {name: statistics.median(values) / 1000.0 for name, values in samples.items()}


def framed_medians(functions: dict, before_each, rounds: int, warmup: int = 30) -> dict[str, float]:
    """As interleaved_medians, but each timed call comes right after an untimed `before_each()`:
    every function is measured in the same cache state (the one a server's frame leaves)."""
    clock = time.perf_counter_ns
    samples: dict[str, list[int]] = {name: [] for name in functions}
    for index in range(warmup + rounds):
        for name, function in functions.items():
            before_each()
            start = clock()
            function()
            if index >= warmup:
                samples[name].append(clock() - start)
    return {name: statistics.median(values) / 1000.0 for name, values in samples.items()}


def torch_race_step(settings, race):
    """The same two networks in idiomatic PyTorch eager (autograd + torch.optim.Adam), float64,
    one thread (its best case at these sizes: two threads on two busy cores were 15x slower), or
    None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(settings.seed)
    dtype = torch.float64  # the NumPy engine computes in float64 too
    x = torch.tensor(race.train.x, dtype=dtype)
    y = torch.tensor(race.train.y)
    onehot = torch.nn.functional.one_hot(y, 2).to(dtype)
    x_pos, x_neg = torch.cat([x, onehot], 1), torch.cat([x, 1 - onehot], 1)
    sizes = (4, *settings.hidden_sizes)
    ff_layers = [torch.nn.Linear(a, b, dtype=dtype) for a, b in pairwise(sizes)]
    ff_opts = [torch.optim.Adam(layer.parameters(), lr=settings.learning_rate) for layer in ff_layers]
    bp_sizes = (2, *settings.hidden_sizes, 2)
    mods = []
    for a, b in pairwise(bp_sizes):
        mods += [torch.nn.Linear(a, b, dtype=dtype), torch.nn.ReLU()]
    mlp = torch.nn.Sequential(*mods[:-1])
    bp_opt = torch.optim.Adam(mlp.parameters(), lr=settings.learning_rate)
    theta = settings.theta

    def step() -> None:
        for data, sign in ((x_pos, -1.0), (x_neg, 1.0)):  # positive pass, then negative pass
            h = data
            for layer, opt in zip(ff_layers, ff_opts, strict=True):
                out = torch.relu(layer(h.detach()))  # detach: no gradient crosses layers
                g = out.pow(2).sum(1)
                loss = torch.nn.functional.softplus(sign * (g - theta)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                h = out.detach() / (out.detach().norm(dim=1, keepdim=True) + 1e-8)
        bp_opt.zero_grad()
        torch.nn.functional.cross_entropy(mlp(x), y).backward()
        bp_opt.step()

    return step, torch.__version__, torch.get_num_threads()


def local_gradient_as_written(layer, h, y, target: float, theta: float, g):
    """dL/dparams = [h, 1]^T (dL/dG * dG/dy) / n with dL/dG = sigma(G - theta) - t, dG/dy = 2y:
    the formula as the docstring states it, to time against the engine's folded form."""
    from app.engine.ff import sigmoid

    dloss_dg = sigmoid(g - theta) - target
    return h.T @ (dloss_dg[:, None] * 2.0 * y) / len(g)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2000, help="interleaved rounds")
    parser.add_argument("--quick", action="store_true", help="300 rounds, for a smoke run")
    parser.add_argument("--engine-root", type=Path, help="import `app` from this checkout instead")
    args, _ = parser.parse_known_args(argv)  # `python -m app bench` forwards its extra args to every script
    rounds = 300 if args.quick else args.repeats
    sys.path.insert(0, str(ROOT))
    from bench._reference import PlainRace, check_against  # plain NumPy only: no `app` import

    if args.engine_root:
        sys.path.insert(0, str(args.engine_root.resolve()))
    import inspect

    import numpy as np

    from app.engine.cpu import cpu_model
    from app.engine.ff import goodness
    from app.engine.race import Race, RaceSettings
    from bench._before import BeforeRace

    settings = RaceSettings()
    # An older checkout (--engine-root) has one layout only, the rows one.
    kernels = "kernel" in inspect.signature(Race).parameters
    agreement = {"default": check_against(lambda: Race(settings))}
    race = Race(settings)
    rows = Race(settings, kernel="rows") if kernels else None  # type: ignore[call-arg]
    if rows is not None:
        agreement["rows"] = check_against(lambda: Race(settings, kernel="rows"))  # type: ignore[call-arg]
    plain, before = PlainRace(race), BeforeRace(race)
    x, y = race.train.x, race.train.y
    load = os.getloadavg()[0]
    kernel = getattr(race, "_columns", None)
    timed = {
        "reference": plain.step,
        "step": race.step,
        "ff": (lambda: kernel.ff_step(race.ff)) if kernel else (lambda: race.ff.train_step(x, y, race.negative_rng)),
        "backprop": (lambda: kernel.backprop_step(race.backprop))
        if kernel
        else (lambda: race.backprop.train_step(x, y)),
    }
    if rows is not None:
        timed["rows step"] = rows.step
    steps = interleaved_medians(timed, rounds)
    timed = {
        "reference": plain.step,
        "grids": race.decision_grids,
        "grids before": before.decision_grids,
        "snapshot": race.snapshot,
        "snapshot before": before.snapshot,
    }
    if rows is not None:
        timed |= {"grids rows": rows.decision_grids, "snapshot rows": rows.snapshot}
    pictures = interleaved_medians(timed, max(rounds // 2, 100))
    # The snapshot as a server computes it: right after the frame's 4 race steps (a fork's, so that
    # the race timed above keeps its state), today's and now's alike.
    frame_race = race.fork() if hasattr(race, "fork") else race
    framed_before = BeforeRace(frame_race)
    framed = framed_medians(
        {"snapshot": frame_race.snapshot, "snapshot before": framed_before.snapshot},
        lambda: [frame_race.step() for _ in range(4)],
        max(rounds // 2, 100),
    )
    layer = race.ff.layers[0]
    h = race.ff.embed(x, y)
    activity = layer.forward(h)
    g = goodness(activity)
    gradient = interleaved_medians(
        {
            "folded": lambda: layer.local_gradient(h, activity, 1.0, settings.theta, g),
            "as written": lambda: local_gradient_as_written(layer, h, activity, 1.0, settings.theta, g),
        },
        rounds,
    )
    torch_step = torch_race_step(settings, race)
    if torch_step is not None:
        step, torch_version, threads = torch_step
        pair = interleaved_medians({"step": race.step, "torch": step}, max(rounds // 5, 60))

    engine_root = f" (engine from {args.engine_root})" if args.engine_root else ""
    default = getattr(race, "kernel", "rows")
    print(
        f"# engine{engine_root}: {cpu_model()}, {os.cpu_count()} CPUs, NumPy {np.__version__}, "
        f"Python {platform.python_version()}, load average {load:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    print(
        "reference: the race step in plain NumPy (bench/_reference.py); after 50 steps it agrees with the engine "
        + ", ".join(f"({name} kernel) to {value:.1e}" for name, value in agreement.items())
        + " (relative)"
    )
    print(
        f"medians of interleaved rounds ({rounds} for the steps); the ratios are the figures, the "
        f"microseconds this run's; the race's default kernel: {default!r}"
    )
    ref = steps["reference"]
    print(
        f"race step (FF + backprop, {len(race.train)} points): {steps['step']:.1f} us = "
        f"{steps['step'] / ref:.3f}x reference ({ref:.1f} us)   (target <= {TARGETS['step']}x)"
    )
    print(f"  FF step alone {steps['ff'] / ref:.3f}x; backprop step alone {steps['backprop'] / ref:.3f}x")
    if rows is not None:
        print(f"  the rows kernel (float64 bit for bit as before): {steps['rows step'] / ref:.3f}x")
    ref = pictures["reference"]
    for name, what in (
        ("grids", f"decision grids, both nets, {settings.grid_size}x{settings.grid_size}"),
        ("snapshot", "snapshot (train/test accuracy and loss, goodness, both grids, layer maps)"),
    ):
        now, then = pictures[name], pictures[f"{name} before"]
        print(
            f"{what}: {now / ref:.3f}x reference; today's code (bench/_before.py) {then / ref:.3f}x; "
            f"now / today = {now / then:.2f}   (target <= {TARGETS[name]})"
        )
        if rows is not None:
            print(f"  the rows kernel: {pictures[f'{name} rows'] / then:.2f} of today's")
    print(
        f"  the snapshot right after a frame's 4 race steps (as the server computes it): "
        f"{framed['snapshot']:.1f} us against today's {framed['snapshot before']:.1f} us in the same state, "
        f"now / today = {framed['snapshot'] / framed['snapshot before']:.2f}"
    )
    print(
        f"FF local gradient (300 x 5 -> 12): the engine's folded form {gradient['folded']:.1f} us, the formula as "
        f"written {gradient['as written']:.1f} us "
        f"(folded / written = {gradient['folded'] / gradient['as written']:.2f})"
    )
    if torch_step is None:
        print("PyTorch: not installed (pip install -e '.[bench]'); comparison skipped")
        return
    print(
        f"PyTorch {torch_version} eager CPU ({threads} thread), same race step, float64: {pair['torch']:.1f} us; "
        f"the engine ({pair['step']:.1f} us in the same rounds) is {pair['torch'] / pair['step']:.1f}x faster"
        f"   (target >= {TARGETS['torch']:.0f}x)"
    )


if __name__ == "__main__":
    main()

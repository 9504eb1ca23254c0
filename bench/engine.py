"""Engine benchmark: microseconds per race step, race steps per second, decision-grid time, and PyTorch eager for scale."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from app.engine.cpu import cpu_model
from app.engine.race import Race, RaceSettings


def median_us(fn, repeats: int, warmup: int = 20) -> float:
    """Median wall time of one call, in microseconds: the median shrugs off a busy shared machine."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000.0


def torch_race_step(settings: RaceSettings):
    """The same two networks in idiomatic PyTorch eager (autograd + torch.optim.Adam), or None."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(settings.seed)
    race = Race(settings)  # for the data only
    dtype = torch.float64  # the NumPy engine computes in float64 too
    x = torch.tensor(race.train.x, dtype=dtype)
    y = torch.tensor(race.train.y)
    onehot = torch.nn.functional.one_hot(y, 2).to(dtype)
    x_pos, x_neg = torch.cat([x, onehot], 1), torch.cat([x, 1 - onehot], 1)
    sizes = (4, *settings.hidden_sizes)
    ff_layers = [torch.nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    ff_opts = [torch.optim.Adam(layer.parameters(), lr=settings.learning_rate) for layer in ff_layers]
    bp_sizes = (2, *settings.hidden_sizes, 2)
    mods = []
    for a, b in zip(bp_sizes[:-1], bp_sizes[1:]):
        mods += [torch.nn.Linear(a, b, dtype=dtype), torch.nn.ReLU()]
    mlp = torch.nn.Sequential(*mods[:-1])
    bp_opt = torch.optim.Adam(mlp.parameters(), lr=settings.learning_rate)
    theta = settings.theta

    def step() -> None:
        for data, sign in ((x_pos, -1.0), (x_neg, 1.0)):   # positive pass, then negative pass
            h = data
            for i, (layer, opt) in enumerate(zip(ff_layers, ff_opts)):
                out = torch.relu(layer(h.detach()))          # detach: no gradient crosses layers
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3000, help="timed calls per figure")
    parser.add_argument("--quick", action="store_true", help="300 repeats, for a smoke run")
    args, _ = parser.parse_known_args(argv)  # `python -m app bench` forwards its extra args to every script
    repeats = 300 if args.quick else args.repeats

    settings = RaceSettings()
    race = Race(settings)
    x, y = race.train.x, race.train.y
    step_us = median_us(race.step, repeats)
    ff_us = median_us(lambda: race.ff.train_step(x, y, race.negative_rng), repeats)
    bp_us = median_us(lambda: race.backprop.train_step(x, y), repeats)
    grid_us = median_us(race.decision_grids, max(repeats // 3, 100))
    # What an uncached server frame costs the engine besides its steps: metrics plus both grids.
    snapshot_us = median_us(race.snapshot, max(repeats // 3, 100))
    print(f"# engine (NumPy {np.__version__}, Python {platform.python_version()}, {cpu_model()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"race step (FF + backprop, {len(race.train)} points): median {step_us:.1f} us "
          f"= {1e6 / step_us:,.0f} race steps/s   (target <= 200 us)")
    print(f"  FF step alone: median {ff_us:.1f} us; backprop step alone: median {bp_us:.1f} us")
    print(f"decision grids, both nets, {settings.grid_size}x{settings.grid_size}: median {grid_us:.1f} us"
          f"   (target <= 1000 us)")
    print(f"snapshot (both nets' train/test accuracy and loss, goodness, both grids): median {snapshot_us:.1f} us")
    torch_step = torch_race_step(settings)
    if torch_step is None:
        print("PyTorch: not installed (pip install -e '.[bench]'); comparison skipped")
        return
    step, version, threads = torch_step
    torch_us = median_us(step, max(repeats // 3, 100))
    print(f"PyTorch {version} eager CPU ({threads} threads), same race step: median {torch_us:.1f} us"
          f"   NumPy is {torch_us / step_us:.1f}x faster   (target >= 5x)")


if __name__ == "__main__":
    main()

"""The FF recipe study: held-out accuracy per layer, and of the sums, over seeds, weight-init
streams, data sets and input normalizations; prints the Markdown tables of docs/engine.md."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from app.engine.cpu import cpu_model
from app.engine.datasets import DATASET_NAMES, DEFAULT_NOISE
from app.engine.ff import INPUT_NORMALIZATIONS
from app.engine.race import HELD_OUT_BAR, Race, RaceSettings

# What a layer-sum rule reads from the (points, labels, layers) goodness table.
RULES = {
    "layer 1": lambda t: t[..., 0],
    "layer 2": lambda t: t[..., 1],
    "sum": lambda t: t.sum(axis=-1),
}


def one_run(job: tuple[str, float, str, int, int, tuple[tuple[str, object], ...]]) -> dict:
    dataset, noise, normalization, stream, seed, extra = job
    race = Race(
        RaceSettings(
            dataset=dataset,
            seed=seed,
            noise=noise,
            init_stream=stream,
            ff_input_normalization=normalization,
            **dict(extra),
        )
    )
    while not race.done:
        race.step()
    table = race.ff.goodness_table(race.test.x)
    out = {"dataset": dataset, "noise": noise, "input": normalization, "stream": stream, "seed": seed}
    for rule, read in RULES.items():
        out[rule] = float(np.mean(np.argmax(read(table), axis=1) == race.test.y))
    out["backprop"] = race.snapshot(grid=False).backprop.test_accuracy
    return out


def settings_field(item: str) -> tuple[str, object]:
    """ "learning_rate=0.1" -> ("learning_rate", 0.1), typed as RaceSettings' default for the field."""
    name, _, text = item.partition("=")
    default = getattr(RaceSettings(), name)  # an unknown field is an AttributeError naming it
    if isinstance(default, bool):
        return name, text.lower() in ("1", "true", "yes")
    return name, type(default)(text)


def summarize(rows: list[dict], key: str) -> str:
    values = np.array([r[key] for r in rows])
    return f"{values.mean():.1%} (min {values.min():.1%}, {np.sum(values >= HELD_OUT_BAR)}/{len(values)})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1")
    parser.add_argument("--streams", type=int, default=2, help="weight-init streams 0..K-1")
    parser.add_argument("--datasets", default=",".join(DATASET_NAMES))
    parser.add_argument("--inputs", default=",".join(INPUT_NORMALIZATIONS), help="input normalizations")
    parser.add_argument(
        "--disk-ring-noise", type=float, default=0.05, help="disk-ring jitter (the other data sets keep their defaults)"
    )
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", metavar="FILE", help="also write every run as JSON")
    parser.add_argument(
        "--write",
        metavar="FILE",
        help="also write the summary of the race's own recipe per data set (app/web/datasets.json)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="another RaceSettings field for every race, e.g. ff_schedule=joint or optimizer=sgd (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="3 seeds, 1 stream, for a smoke run")
    args, _ = parser.parse_known_args(argv)
    extra = tuple(settings_field(item) for item in args.set)
    seeds = range(3 if args.quick else args.seeds)
    streams = range(1 if args.quick else args.streams)
    datasets = args.datasets.split(",")
    noise = {name: (args.disk_ring_noise if name == "disk-ring" else DEFAULT_NOISE[name]) for name in datasets}
    jobs = [
        (d, noise[d], n, k, s, extra)
        for d, n, k, s in itertools.product(datasets, args.inputs.split(","), streams, seeds)
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.processes) as pool:
        rows = list(pool.map(one_run, jobs, chunksize=4))
    print(
        f"# {len(rows)} races of {RaceSettings().steps} steps in {time.perf_counter() - started:.0f} s "
        f"on {cpu_model()} ({args.processes} processes){''.join(f'; {k}={v}' for k, v in extra)}; "
        f"held-out accuracy: mean (min, seeds >= {HELD_OUT_BAR:.0%})"
    )
    header = "| data set (noise) | input | stream | " + " | ".join(f"FF {r}" for r in RULES) + " | backprop |"
    print(header)
    print("| --- | --- | ---: |" + " ---: |" * (len(RULES) + 1))
    for (d, n, k), group in itertools.groupby(rows, key=lambda r: (r["dataset"], r["input"], r["stream"])):
        group = list(group)
        cells = " | ".join(summarize(group, rule) for rule in RULES)
        print(f"| {d} ({noise[d]}) | {n} | {k} | {cells} | {summarize(group, 'backprop')} |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out)
    if args.write:
        with open(args.write, "w") as out:
            json.dump(recipe_summary(rows, noise, len(seeds), len(streams)), out, indent=1)
            out.write("\n")


def recipe_summary(rows: list[dict], noise: dict[str, float], seeds: int, streams: int) -> dict:
    """Per data set, the race's own recipe (its default input normalization and inference rule)
    over every seed and stream: what the article's table shows."""
    defaults = RaceSettings()
    mine = [r for r in rows if r["input"] == defaults.ff_input_normalization]

    def stats(values: list[float]) -> dict:
        return {
            "mean": round(float(np.mean(values)), 4),
            "min": round(float(np.min(values)), 4),
            "at_or_above_bar": int(np.sum(np.array(values) >= HELD_OUT_BAR)),
        }

    rule = {"all": "sum", "first": "layer 1", "skip-first": "layer 2"}[defaults.ff_inference]
    out = []
    for name in dict.fromkeys(r["dataset"] for r in mine):
        group = [r for r in mine if r["dataset"] == name]
        out.append(
            {
                "dataset": name,
                "noise": noise[name],
                "runs": len(group),
                "ff": stats([r[rule] for r in group]),
                "ff_layers": [stats([r["layer 1"] for r in group]), stats([r["layer 2"] for r in group])],
                "backprop": stats([r["backprop"] for r in group]),
            }
        )
    return {
        "command": "python -m app bench --only recipe -- --write app/web/datasets.json",
        "cpu": cpu_model(),
        "held_out_bar": HELD_OUT_BAR,
        "seeds": seeds,
        "streams": streams,
        "steps": defaults.steps,
        "input_normalization": defaults.ff_input_normalization,
        "inference": defaults.ff_inference,
        "datasets": out,
    }


if __name__ == "__main__":
    main()

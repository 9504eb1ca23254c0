"""The default race over seeds 0-19: held-out accuracy (FF's rule, and each FF layer alone) and
steps to 95% train accuracy, as a Markdown table; --write FILE stores it for the article."""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor

from app.commands.race import train
from app.engine.cpu import cpu_model
from app.engine.datasets import DEFAULT_NOISE
from app.engine.race import HELD_OUT_BAR, Race, RaceSettings

COMMAND = "python -m app bench --only race_seeds"


def one_seed(seed: int) -> dict:
    settings = RaceSettings(seed=seed)
    result = train(settings)
    race = Race(settings)  # the per-layer figures need the trained net: retrain (deterministic)
    while not race.done:
        race.step()
    result["ff"]["layer_test_accuracy"] = race.snapshot(grid=False).ff_layer_test_accuracy
    return result


def spread(values: list[int | None]) -> dict:
    reached = [v for v in values if v is not None]
    return {
        "median": statistics.median(reached) if reached else None,
        "min": min(reached, default=None),
        "max": max(reached, default=None),
        "reached": len(reached),
        "of": len(values),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1")
    parser.add_argument("--quick", action="store_true", help="3 seeds, for a smoke run")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--write", metavar="FILE", help="also write the figures as JSON (app/web/race_seeds.json)")
    args, _ = parser.parse_known_args(argv)
    seeds = list(range(3 if args.quick else args.seeds))
    settings = RaceSettings()
    with ProcessPoolExecutor(args.processes) as pool:
        results = list(pool.map(one_seed, seeds))
    print(
        f"# default race: {settings.dataset} (noise {DEFAULT_NOISE[settings.dataset]}), {settings.steps} steps, "
        f"theta {settings.theta}, learning rate {settings.learning_rate} ({settings.optimizer}), "
        f"hidden {list(settings.hidden_sizes)}, FF input {settings.ff_input_normalization}, "
        f"FF inference sums {settings.ff_inference} layers; {cpu_model()}"
    )
    print(
        "| seed | FF held-out | FF layer 1 alone | FF layer 2 alone | backprop held-out "
        "| FF steps to 95% | backprop steps to 95% |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        ff, bp = r["ff"], r["backprop"]
        layers = " | ".join(f"{a:.1%}" for a in ff["layer_test_accuracy"])
        print(
            f"| {r['seed']} | {ff['test_accuracy']:.1%} | {layers} | {bp['test_accuracy']:.1%} "
            f"| {ff['steps_to_95']} | {bp['steps_to_95']} |"
        )
    n = len(results)
    ff_ok = int(sum(r["ff"]["test_accuracy"] >= HELD_OUT_BAR for r in results))
    bp_ok = int(sum(r["backprop"]["test_accuracy"] >= HELD_OUT_BAR for r in results))
    bp_first = sum(
        r["backprop"]["steps_to_95"] is not None
        and (r["ff"]["steps_to_95"] is None or r["backprop"]["steps_to_95"] <= r["ff"]["steps_to_95"])
        for r in results
    )
    reach = {net: spread([r[net]["steps_to_95"] for r in results]) for net in ("ff", "backprop")}
    print(
        f"\nheld-out >= {HELD_OUT_BAR:.0%} at step {settings.steps}: FF {ff_ok}/{n}, backprop {bp_ok}/{n}; "
        f"backprop reached 95% train accuracy no later than FF on {bp_first}/{n} seeds"
    )
    for net, s in reach.items():
        print(
            f"{net} steps to 95% train accuracy: median {s['median']}, range {s['min']}-{s['max']} "
            f"({s['reached']}/{s['of']} seeds reached it)"
        )
    if args.write:
        figures = {
            "command": COMMAND,
            "cpu": cpu_model(),
            "seeds": seeds,
            "settings": settings.as_dict(),
            "steps_to_95": reach,
            "backprop_first": bp_first,
            "held_out_bar": HELD_OUT_BAR,
            "held_out_at_or_above_bar": {"ff": ff_ok, "backprop": bp_ok},
            "runs": [{"seed": r["seed"], "ff": r["ff"], "backprop": r["backprop"]} for r in results],
        }
        with open(args.write, "w") as out:
            json.dump(figures, out, indent=1)
            out.write("\n")


if __name__ == "__main__":
    main()

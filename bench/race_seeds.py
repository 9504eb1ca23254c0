"""The default race over seeds 0-19: held-out accuracy at the last step and steps to 95% train accuracy, as a Markdown table."""

from __future__ import annotations

import argparse

from app.commands.race import train
from app.engine.race import RaceSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1")
    parser.add_argument("--quick", action="store_true", help="3 seeds, for a smoke run")
    args, _ = parser.parse_known_args(argv)
    seeds = range(3 if args.quick else args.seeds)
    settings = RaceSettings()
    print(f"# default race: {settings.dataset}, {settings.steps} steps, theta {settings.theta}, "
          f"learning rate {settings.learning_rate} ({settings.optimizer}), hidden {list(settings.hidden_sizes)}")
    print("| seed | FF held-out | backprop held-out | FF steps to 95% | backprop steps to 95% |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    ff_ok = bp_ok = bp_first = 0
    for seed in seeds:
        r = train(settings.replace(seed=seed))
        ff, bp = r["ff"], r["backprop"]
        ff_ok += ff["test_accuracy"] >= 0.97
        bp_ok += bp["test_accuracy"] >= 0.97
        bp_first += bp["steps_to_95"] is not None and (ff["steps_to_95"] is None or bp["steps_to_95"] <= ff["steps_to_95"])
        print(f"| {seed} | {ff['test_accuracy']:.1%} | {bp['test_accuracy']:.1%} | {ff['steps_to_95']} | {bp['steps_to_95']} |")
    n = len(seeds)
    print(f"\nheld-out >= 97% at step {settings.steps}: FF {ff_ok}/{n}, backprop {bp_ok}/{n}; "
          f"backprop reached 95% train accuracy no later than FF on {bp_first}/{n} seeds")


if __name__ == "__main__":
    main()

"""The scorecard's measured rows, measured as the server measures them when it starts
(app/web/scorecard.py, measure_scorecard): the most activation memory one training step holds, the
default race's steps to 95% training accuracy, and each net's median full-batch step time, with the
machine they were measured on. The article's scorecard names this command beside its figures.

    python -m app bench --only scorecard              # about a second of CPU
    python -m app bench --only scorecard -- --json    # the figures as GET /api/scorecard gives them
"""

from __future__ import annotations

import argparse
import json
import os

from app.web.scorecard import measure_scorecard


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--quick", action="store_true", help="accepted for `make bench`; the run is short anyway")
    args, _ = parser.parse_known_args(argv)  # the other scripts' arguments (python -m app bench -- ...)
    figures = measure_scorecard()
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    peak, reach = figures["peak_bytes_per_step"], figures["steps_to_95_percent"]
    print(
        f"# scorecard ({figures['command']}): {figures['cpu']}, {figures['cpus']} CPUs, "
        f"NumPy {figures['numpy_version']}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"activation memory held in one step: backprop {peak['backprop']:,} bytes, FF {peak['forward-forward']:,} bytes"
    )
    print(
        f"steps to {figures['target_accuracy']:.0%} on the {figures['accuracy_measured_on']} (default race): "
        f"backprop {reach['backprop']}, FF {reach['forward-forward']}"
    )
    print(
        f"one full-batch step on the {figures['step_points']} training points (median): "
        f"backprop {figures['backprop_step_microseconds']} us, FF {figures['ff_step_microseconds']} us"
    )


if __name__ == "__main__":
    main()

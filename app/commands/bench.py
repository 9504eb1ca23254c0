"""`python -m app bench`: run every bench/*.py script in name order, each in its own process."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HELP = "run the benchmarks in bench/ (figures only, never pass/fail); extra args after -- go to every script"

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", action="append", metavar="NAME", help="run only bench/NAME.py (repeatable)")
    parser.add_argument(
        "script_args", nargs=argparse.REMAINDER, help="arguments forwarded to every script, after --, e.g. -- --quick"
    )


def scripts(only: list[str] | None = None) -> list[Path]:
    found = sorted(p for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_"))
    if only:
        missing = sorted(set(only) - {p.stem for p in found})
        if missing:
            names = ", ".join(p.stem for p in found)
            raise ValueError(f"--only must name scripts in bench/ ({names}); got {', '.join(missing)}")
        found = [p for p in found if p.stem in only]
    return found


def run(args: argparse.Namespace) -> int:
    forwarded = [a for a in args.script_args if a != "--"]
    root = str(BENCH_DIR.parent)
    # A separate process per script: one benchmark's imports and warm caches never skew the next.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    status = 0
    for script in scripts(args.only):
        print(f"== bench/{script.name}", flush=True)
        code = subprocess.call([sys.executable, str(script), *forwarded], cwd=root, env=env)
        if code != 0:
            print(f"bench/{script.name} exited with code {code}", file=sys.stderr)
            status = 1
    return status

"""The command line: `python -m app serve | race | bench | digits`."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

# Each command lives in app/commands/<name>.py and exposes HELP, configure(parser) and
# run(args) -> exit code. Commands are imported lazily so `race` never loads the web stack.
COMMANDS = ("serve", "race", "bench", "digits")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Forward-Forward, explained: serve the explainer, race FF against backprop, benchmark.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = import_module(f"app.commands.{name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ValueError as error:
        # Bad settings are the user's to fix: one line, no traceback, argparse's exit code.
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

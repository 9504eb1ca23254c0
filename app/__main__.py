"""The command line: `python -m app serve | race | bench | digits`."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import NoReturn

# Each command lives in app/commands/<name>.py and exposes HELP, configure(parser) and
# run(args) -> exit code. Commands are imported lazily so `race` never loads the web stack.
COMMANDS = ("serve", "race", "bench", "digits")


class UsageError(Exception):
    """A bad command line: printed as one line by main(), exit code 2."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line on stderr (no usage block) and exit code 2.

    argparse's own errors (an unknown option, a missing value, a bad choice) go through error(),
    which here raises UsageError for main() to print; subparsers are made of this class too."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m app",
        description="Forward-Forward, explained: serve the explainer, race FF against backprop, benchmark.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = import_module(f"app.commands.{name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command)
        command.set_defaults(run=module.run, prog=command.prog)
    return parser


def _one_line(prog: str, message: str) -> int:
    text = " ".join(str(message).split())  # never more than one line, whatever the message holds
    print(f"{prog}: error: {text} (see {prog} --help)", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except UsageError as error:
        return _one_line(error.prog, str(error))
    if extra:
        # parse_args would report these against the top-level parser; name the command instead.
        return _one_line(args.prog, f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.run(args) or 0)
    except ValueError as error:
        # Bad settings are the user's to fix: one line, no traceback, argparse's exit code.
        return _one_line(args.prog, str(error))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

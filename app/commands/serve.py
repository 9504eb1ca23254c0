"""`python -m app serve` (placeholder until its issue lands)."""

HELP = "serve (not implemented yet)"


def configure(parser):
    pass


def run(args):
    raise SystemExit("python -m app serve: not implemented yet")

"""`python -m app bench` (placeholder until its issue lands)."""

HELP = "bench (not implemented yet)"


def configure(parser):
    pass


def run(args):
    raise SystemExit("python -m app bench: not implemented yet")

"""`python -m app race` (placeholder until its issue lands)."""

HELP = "race (not implemented yet)"


def configure(parser):
    pass


def run(args):
    raise SystemExit("python -m app race: not implemented yet")

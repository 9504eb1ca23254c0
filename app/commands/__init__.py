"""Sub-commands of `python -m app`; each exposes HELP, configure(parser) and run(args)."""

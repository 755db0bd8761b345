"""Subcommands that ``validation`` adds to the ``fpsolve`` command line."""

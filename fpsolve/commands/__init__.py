"""Subcommands of the ``fpsolve`` command line, one module each (see :mod:`fpsolve.cli`)."""

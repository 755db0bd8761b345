"""The ``fpsolve`` command line.

Subcommands are discovered, so that each capability registers its own:

* every module in :mod:`fpsolve.commands` that defines ``register(subparsers)``;
* every entry point in the ``fpsolve.commands`` group (the ``validation``
  package registers ``train``, ``sweep``, ``validate``, ``demo`` ... this way, so
  that :mod:`fpsolve` never imports :mod:`validation`).

A ``register`` function adds one parser with ``subparsers.add_parser`` and sets
``func`` (a callable taking the parsed namespace and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from importlib.metadata import entry_points

from fpsolve import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="fpsolve",
        description=(
            "Random-matrix theory of learning: stationary distributions, Coulomb gases, "
            "Dyson Brownian motion, Fokker-Planck solvers, and validation of recorded "
            "training dynamics against theory."
        ),
    )
    parser.add_argument("--version", action="version", version=f"fpsolve {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    from fpsolve import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"fpsolve.commands.{info.name}")
        module.register(subparsers)
    for ep in sorted(entry_points(group="fpsolve.commands"), key=lambda e: e.name):
        ep.load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        print(f"fpsolve {args.command}: error: {exc or type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

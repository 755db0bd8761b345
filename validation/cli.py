"""Registers the ``validation`` subcommands with the ``fpsolve`` command line.

Each module in :mod:`validation.commands` that defines ``register(subparsers)``
adds one subcommand; this function is the ``fpsolve.commands`` entry point.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add every subcommand found in :mod:`validation.commands` to ``subparsers``."""
    from validation import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"validation.commands.{info.name}").register(subparsers)

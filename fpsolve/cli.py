"""The ``fpsolve`` command line.

Subcommands are discovered, so that each capability registers its own:

* every module in :mod:`fpsolve.commands` that defines ``register(subparsers)``;
* every entry point in the ``fpsolve.commands`` group (the ``validation``
  package registers ``train``, ``sweep``, ``validate``, ``demo`` ... this way, so
  that :mod:`fpsolve` never imports :mod:`validation`).

A ``register`` function adds one parser with ``subparsers.add_parser`` and sets
``func`` (a callable taking the parsed namespace and returning an exit code).
The namespace also holds ``_given``, the set of option destinations that were
given on the command line (so that a command can tell an explicit value from a
default).

Errors.  Every expected failure ends the command with one line on stderr,
``fpsolve COMMAND: error: MESSAGE``, and an exit status (:data:`EXIT_ERROR` for
bad input, an impossible request, a file that cannot be written, a missing
optional package, a diverged run; :data:`EXIT_INTERRUPTED` for Ctrl-C;
:data:`EXIT_INTERNAL` for an unexpected exception, which is a bug).  ``--debug``
shows the traceback instead.

Outputs.  :func:`check_output_file` and :func:`check_output_dir` are the checks
every command that writes runs before any work: an existing output is refused
unless ``--overwrite`` is given, a directory given as a file (or a file given as
a directory) is refused, and a missing parent directory is named.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys
from importlib.metadata import entry_points
from pathlib import Path

from fpsolve import __version__

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "build_parser",
    "check_output_dir",
    "check_output_file",
    "error_message",
    "main",
]

EXIT_ERROR = 2
"""Exit status of a command refused or failed for an expected reason (one line on stderr)."""

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (SIGINT)."""

EXIT_INTERNAL = 3
"""Exit status of an unexpected exception (a bug: rerun with ``--debug`` and report it)."""

_INSTALL = {
    "distributed": "pip install 'fpsolve[dask]'",
    "dask": "pip install 'fpsolve[dask]'",
    "torch": "pip install 'fpsolve[torch]'",
}
"""How to install the optional packages a command may need."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = " ".join(message.split())
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand."""
    parser = _Parser(
        prog="fpsolve",
        description=(
            "Random-matrix theory of learning: stationary distributions, Coulomb gases, "
            "Dyson Brownian motion, Fokker-Planck solvers, and validation of recorded "
            "training dynamics against theory."
        ),
    )
    parser.add_argument("--version", action="version", version=f"fpsolve {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error instead of one line"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    from fpsolve import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"fpsolve.commands.{info.name}")
        module.register(subparsers)
    for ep in sorted(entry_points(group="fpsolve.commands"), key=lambda e: e.name):
        ep.load()(subparsers)
    for sub in subparsers.choices.values():
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS,
            help="show the traceback of an error instead of one line",
        )  # fmt: skip
    return parser


def _given(argv: list[str] | None) -> frozenset[str]:
    """Destinations of the options given in ``argv`` (defaults suppressed)."""
    parser = build_parser()

    def suppress(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    suppress(sub)
            elif action.dest != argparse.SUPPRESS:
                action.default = argparse.SUPPRESS

    suppress(parser)
    ns = parser.parse_args(argv)
    return frozenset(vars(ns)) - {"func", "command", "debug"}


def error_message(exc: BaseException) -> str | None:
    """The one-line message of an expected failure, or None for an unexpected one.

    Expected: bad input (ValueError, TypeError), files and devices (OSError and
    its subclasses: a missing file, a directory in place of a file, a full disk,
    a locked file), memory (MemoryError), a diverged computation
    (FloatingPointError, OverflowError), a missing optional package
    (ImportError, with the command that installs it) and a missing GPU
    (:class:`fpsolve.cuda.CUDAUnavailableError`).

    Examples
    --------
    >>> error_message(OSError(28, "No space left on device", "run.h5"))
    "no space left on device: 'run.h5' (free some space or write elsewhere)"
    >>> error_message(ModuleNotFoundError("No module named 'distributed'", name="distributed"))
    "this needs the optional package 'distributed': pip install 'fpsolve[dask]'"
    >>> error_message(KeyError("x")) is None
    True
    """
    from fpsolve.cuda import CUDAUnavailableError

    if isinstance(exc, ImportError):
        name = (exc.name or "").partition(".")[0]
        if name:
            how = _INSTALL.get(name, f"pip install {name}")
            msg = f"this needs the optional package {name!r}: {how}"
        else:
            msg = str(exc)
    elif isinstance(exc, MemoryError):
        msg = f"out of memory ({exc})" if str(exc) else "out of memory"
    elif isinstance(exc, OSError) and exc.strerror:
        msg = exc.strerror[:1].lower() + exc.strerror[1:]
        if exc.filename is not None:
            msg += f": {os.fspath(exc.filename)!r}"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            msg += " (free some space or write elsewhere)"
    elif isinstance(exc, ValueError | TypeError | OSError | ArithmeticError | CUDAUnavailableError):
        msg = str(exc) or type(exc).__name__
    else:
        return None
    return " ".join(msg.split())


def check_output_file(
    path: str | os.PathLike | None, *, overwrite: bool, option: str = "--output"
) -> None:
    """Refuse an output file that exists (without ``overwrite``) or cannot be created.

    Called by every command before any work.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    IsADirectoryError
        If ``path`` is a directory.
    FileNotFoundError, NotADirectoryError
        If its parent directory does not exist or is a file.
    """
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{option} {os.fspath(path)!r} is a directory; give a file name")
    if (p.exists() or p.is_symlink()) and not overwrite:
        raise FileExistsError(
            f"{option} {os.fspath(path)!r} exists; pass --overwrite to replace it"
        )
    _check_parent(p, option)


def check_output_dir(path: str | os.PathLike, *, overwrite: bool, option: str = "--output") -> None:
    """Refuse an output directory that holds files (without ``overwrite``) or is a file.

    A missing directory (and its missing parents) is created later by the
    command; an ancestor that is a file is refused here.

    Raises
    ------
    FileExistsError
        If ``path`` is a non-empty directory and ``overwrite`` is false.
    NotADirectoryError
        If ``path`` or one of its ancestors is a file.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(
            f"{option} {os.fspath(path)!r} is a file; give a directory (it is created if needed)"
        )
    if p.is_dir():
        if not overwrite and any(p.iterdir()):
            raise FileExistsError(
                f"{option} {os.fspath(path)!r} is not empty; pass --overwrite to write into it"
            )
        return
    _check_parent(p, option, create=True)


def _check_parent(p: Path, option: str, *, create: bool = False) -> None:
    parent = p.absolute().parent
    while not parent.exists() and create and parent != parent.parent:
        parent = parent.parent
    if not parent.exists():
        raise FileNotFoundError(
            f"{option} {os.fspath(p)!r}: the directory {os.fspath(parent)!r} does not exist"
        )
    if not parent.is_dir():
        raise NotADirectoryError(f"{option} {os.fspath(p)!r}: {os.fspath(parent)!r} is a file")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    args._given = _given(argv)
    prog = f"fpsolve {args.command}"
    try:
        seed = getattr(args, "seed", None)
        if isinstance(seed, int) and seed < 0:
            raise ValueError(f"--seed must be >= 0, got {seed}")
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        msg = error_message(exc)
        if msg is None:
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            print(
                f"{prog}: internal error: {detail} (rerun with --debug for the traceback)",
                file=sys.stderr,
            )
            return EXIT_INTERNAL
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

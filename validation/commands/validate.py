"""``fpsolve validate``: compare recordings with theory and write a report."""

from __future__ import annotations

import argparse

__all__ = ["add_output_options", "register", "run"]


def add_output_options(p: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``--verbose``, shared by ``validate`` and ``demo``."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines; print only the conclusions"
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print every row (quantity, measured, predicted, verdict)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` subcommand."""
    from fpsolve.commands import HelpFormatter
    from validation.analyses.stats import N_SIGMA
    from validation.report.pipeline import ANALYSES

    p = subparsers.add_parser(
        "validate",
        help="compare recorded eigenvalue dynamics with theory; write report.html",
        description=(
            "Run every analysis that applies to the recordings (HDF5 files of the fpsolve "
            "recording format) and write DIR/report.html (self-contained, conclusions first), "
            "DIR/*.png and DIR/results.json (every number, error, prediction and verdict). "
            "Prints the conclusions and one summary row per analysis and setting."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("recordings", nargs="+", help="recording files (.h5)")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument(
        "--analyses",
        nargs="+",
        choices=tuple(ANALYSES),
        default=None,
        help="run only these analyses (default: every one that applies)",
    )
    p.add_argument(
        "--burn-in",
        type=int,
        default=None,
        help="first step used for stationary statistics (default: half the last step)",
    )
    p.add_argument(
        "--n-sigma",
        type=float,
        default=N_SIGMA,
        help="verdict threshold in combined standard errors",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the simulations behind the predictions (default: fresh)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="recordings analysed at the same time, each on all of numba's threads (default: "
        "2 with two threads or more; the numbers do not depend on it)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="write into an output directory that holds files"
    )
    add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``fpsolve validate``."""
    from fpsolve.cli import check_output_dir
    from validation.report.pipeline import validate

    progress = False if args.quiet else None
    if args.burn_in is not None and args.burn_in < 0:
        raise ValueError(f"--burn-in must be >= 0, got {args.burn_in}")
    check_output_dir(args.output, overwrite=args.overwrite)
    result = validate(
        args.recordings,
        analyses=args.analyses,
        burn_in=args.burn_in,
        n_sigma=args.n_sigma,
        rng=args.seed,
        progress=progress,
        workers=args.workers,
    )
    report = result.write(args.output, progress=progress)
    print_summary(result, quiet=args.quiet, verbose=args.verbose)
    print(f"report written to {report.resolve()}")
    return 0


def print_summary(result, *, quiet: bool = False, verbose: bool = False) -> None:
    """The conclusions (``quiet``), or the summary table (every row with ``verbose``)."""
    if quiet:
        print(result.conclusions().text())
    else:
        print(result.summary(verbose=verbose))

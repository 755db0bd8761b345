"""``fpsolve validate``: compare recordings with theory and write a report."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` subcommand."""
    from validation.report.pipeline import ANALYSES

    p = subparsers.add_parser(
        "validate",
        help="compare recorded eigenvalue dynamics with theory; write report.html",
        description=(
            "Run every analysis that applies to the recordings (HDF5 files of the fpsolve "
            "recording format) and write DIR/report.html (self-contained), DIR/*.png and "
            "DIR/results.json (every number, error, prediction and verdict)."
        ),
    )
    p.add_argument("recordings", nargs="+", help="recording files (.h5)")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--analyses", nargs="+", choices=tuple(ANALYSES), default=None,
                   help="run only these analyses")  # fmt: skip
    p.add_argument(
        "--burn-in",
        type=int,
        default=None,
        help="first step used for stationary statistics (default: half the run)",
    )
    p.add_argument("--n-sigma", type=float, default=3.0, help="verdict threshold")
    p.add_argument("--seed", type=int, default=None, help="seed of the simulations")
    p.add_argument(
        "--overwrite", action="store_true", help="write into an output directory that holds files"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``fpsolve validate``."""
    from fpsolve.cli import check_output_dir
    from validation.report.pipeline import validate

    if args.burn_in is not None and args.burn_in < 0:
        raise ValueError(f"--burn-in must be >= 0, got {args.burn_in}")
    check_output_dir(args.output, overwrite=args.overwrite)
    result = validate(
        args.recordings, analyses=args.analyses, burn_in=args.burn_in, n_sigma=args.n_sigma,
        rng=args.seed,
    )  # fmt: skip
    report = result.write(args.output)
    print(result.summary())
    print(f"report written to {report.resolve()}")
    return 0

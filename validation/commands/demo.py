"""``fpsolve demo``: the package's main job (train a small RBM sweep, validate it, report)."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    from fpsolve.commands import HelpFormatter
    from validation.commands.validate import add_output_options

    p = subparsers.add_parser(
        "demo",
        help="train a small RBM sweep, record it, validate it against theory, write a report",
        description=(
            "The main job: train Gaussian RBMs at several alpha/|B| (the paper's model), "
            "record the eigenvalues of W^T W, compare them with every prediction of the "
            "theory and write OUTPUT/report.html and OUTPUT/results.json."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("-o", "--output", default="fpsolve-demo", help="output directory")
    p.add_argument("--seed", type=int, default=2407, help="random seed")
    p.add_argument(
        "--quick",
        action="store_true",
        help="reduced size: 2 settings, 40 runs, t = 300 (smoke test, CI)",
    )
    p.add_argument(
        "--runs", type=int, default=None, help="runs per setting (default 200; quick 40)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="training processes (default: one per core, at most one per setting)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="write into an output directory that holds files"
    )
    add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``fpsolve demo``."""
    from fpsolve.cli import check_output_dir
    from validation.commands.validate import print_summary
    from validation.report.demo import run_demo

    check_output_dir(args.output, overwrite=args.overwrite)
    report, validation = run_demo(
        args.output,
        quick=args.quick,
        n_runs=args.runs,
        seed=args.seed,
        max_workers=args.workers,
        progress=False if args.quiet else None,
        overwrite=args.overwrite,
    )
    print_summary(validation, quiet=args.quiet, verbose=args.verbose)
    print(f"report written to {report.resolve()}")
    return 0

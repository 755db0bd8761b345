"""``fpsolve demo``: the package's main job.

Currently the analytic showcase: the closed forms of the theory next to exact
random-matrix samples, written as one figure and a short text summary.
"""

from __future__ import annotations

import argparse
import os

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo",
        help="run the main job and write a report",
        description="Run the main job and write its report into OUTPUT.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("-o", "--output", default="fpsolve-demo", help="output directory")
    p.add_argument("--seed", type=int, default=2407, help="random seed")
    p.add_argument("--quick", action="store_true", help="reduced size (for CI)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Execute ``fpsolve demo``."""
    from validation.showcase import analytic_showcase

    os.makedirs(args.output, exist_ok=True)
    n_samples = 5_000 if args.quick else 100_000
    path, summary = analytic_showcase(args.output, n_samples=n_samples, rng=args.seed)
    print(summary)
    print(f"report written to {os.path.abspath(path)}")
    return 0

"""``fpsolve train``: train Gaussian RBMs by PCD and record the spectrum of ``W^T W``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_training_options", "register", "run"]


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Add the hyperparameter options shared by ``train`` and ``sweep``."""
    g = parser.add_argument_group("model and training (defaults: the paper's setting)")
    g.add_argument("--runs", type=int, default=1, help="independent runs (default 1)")
    g.add_argument("--steps", type=int, default=None, help="updates per run (default 100000)")
    g.add_argument("--k", type=int, default=3, help="block-Gibbs sweeps per update (3)")
    g.add_argument("--n-v", type=int, default=10, help="visible sites N_v (10)")
    g.add_argument("--n-h", type=int, default=10, help="hidden units N_h <= N_v (10)")
    g.add_argument("--m2", type=float, default=4.0, help="target mass m^2 (4)")
    g.add_argument("--mu2", type=float, default=9.0, help="visible mass mu^2 (9)")
    g.add_argument("--sigma-h", type=float, default=1.0, help="hidden std sigma_h (1)")
    g.add_argument("--w-sigma", type=float, default=0.1, help="initial weight std (0.1)")
    g.add_argument(
        "--target", choices=("exact", "samples"), default="exact",
        help="C_target = K_target^-1 exactly, or from |B| target samples per update",
    )  # fmt: skip
    g.add_argument("--record-every", type=int, default=None, help="snapshot interval in steps")
    g.add_argument("--record-weights", action="store_true", help="also record W")
    g.add_argument("--record-modes", action="store_true", help="also record mu^2 - sigma_h^2 x")
    g.add_argument("--seed", type=int, default=None, help="seed (default: fresh, recorded)")
    g.add_argument("--provenance", default="", help="free-form text stored in the file")
    g.add_argument("-q", "--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress bar or progress lines")  # fmt: skip
    g.add_argument(
        "--device", choices=("cpu", "cuda"), default=None,
        help='train on the CPU (default) or on a CUDA GPU (pip install "fpsolve[cuda]")',
    )  # fmt: skip
    g.add_argument(
        "--force", action="store_true",
        help="train even above the work limit (about a day of one core per setting)",
    )  # fmt: skip


def training_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`validation.training.rbm.train` keywords given by the shared options."""
    from validation.training.rbm import PAPER_STEPS

    return {
        "n_runs": args.runs,
        "n_steps": PAPER_STEPS if args.steps is None else args.steps,
        "k": args.k,
        "n_v": args.n_v,
        "n_h": args.n_h,
        "m2": args.m2,
        "mu2": args.mu2,
        "sigma_h": args.sigma_h,
        "w_sigma": args.w_sigma,
        "target": args.target,
        "record_every": args.record_every,
        "record_weights": args.record_weights,
        "record_modes": args.record_modes,
        "rng": args.seed,
        "provenance": args.provenance,
        "force": args.force,
    }


_RESUME_OPTIONS = {
    "runs": "n_runs", "steps": "n_steps", "k": "k", "n_v": "n_v", "n_h": "n_h", "m2": "m2",
    "mu2": "mu2", "sigma_h": "sigma_h", "w_sigma": "w_sigma", "target": "target",
    "record_every": "record_every", "record_weights": "record_weights",
    "record_modes": "record_modes", "seed": "rng", "provenance": "provenance",
    "alpha": "alpha", "batch_size": "batch_size",
}  # fmt: skip
"""Options of ``train`` that a recording fixes: ``--resume`` refuses them when they differ."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train Gaussian RBMs by PCD and record eigenvalue dynamics (HDF5)",
        description=(
            "Train independent Gaussian scalar-field RBMs by persistent contrastive divergence "
            "(docs/theory.md section 4) and record the eigenvalues of X = W^T W to an HDF5 file, "
            "written incrementally so that an interrupted run can be resumed with --resume."
        ),
    )
    p.add_argument("output", help="HDF5 recording to write (or to resume with --resume)")
    p.add_argument("--alpha", type=float, default=None, help="learning rate (default 0.1)")
    p.add_argument(
        "--batch-size", type=int, default=None, help="persistent chains |B| (default 16)"
    )
    p.add_argument("--threads", type=int, default=None, help="threads over runs (all CPUs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted recording (its settings are read from the file)",
    )  # fmt: skip
    add_training_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``fpsolve train``."""
    from fpsolve.cli import check_output_file
    from validation.training import rbm

    progress = False if args.quiet else None
    if args.resume:
        if args.overwrite:
            raise ValueError(
                "--resume continues a recording; it cannot be combined with --overwrite"
            )
        given: frozenset[str] = getattr(args, "_given", frozenset())
        kw = {**training_kwargs(args), "alpha": args.alpha, "batch_size": args.batch_size}
        expect = {
            _RESUME_OPTIONS[d]: kw[_RESUME_OPTIONS[d]] for d in given & _RESUME_OPTIONS.keys()
        }
        rec = rbm.resume(
            args.output, n_threads=args.threads, progress=progress, device=args.device,
            expect=expect,
        )  # fmt: skip
    else:
        check_output_file(args.output, overwrite=args.overwrite, option="output")
        rec = rbm.train(
            **training_kwargs(args),
            alpha=rbm.PAPER_ALPHA if args.alpha is None else args.alpha,
            batch_size=rbm.PAPER_BATCH_SIZE if args.batch_size is None else args.batch_size,
            path=args.output,
            overwrite=args.overwrite,
            n_threads=args.threads,
            progress=progress,
            device=args.device or "cpu",
        )
    print(
        f"{args.output}: {rec.n_runs} runs, {len(rec.steps)} snapshots up to step "
        f"{int(rec.steps[-1])}, seed {rec.attrs['seed']}"
    )
    return 0

"""``fpsolve spectra``: MP bulk + tail, power-law and spacing analysis of checkpoints."""

from __future__ import annotations

import argparse
import os

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``spectra`` subcommand."""
    from fpsolve.commands import HelpFormatter

    p = subparsers.add_parser(
        "spectra",
        help="weight-matrix spectra of checkpoints: MP fits, tails, spacings",
        description=(
            "Read checkpoints (.npz of named matrices, or PyTorch state_dicts), fit a "
            "Marchenko-Pastur bulk + tail, power-law tails and unfolded spacing statistics "
            "of W^T W for every (pooled) group of matrices, and write results.json and "
            "figures into OUTPUT."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="checkpoint files")
    p.add_argument("-o", "--output", default="fpsolve-spectra", help="output directory")
    p.add_argument(
        "-p",
        "--pattern",
        action="append",
        default=None,
        help="fnmatch pattern of matrix names (repeatable; default: every 2-D array)",
    )
    p.add_argument(
        "--group",
        choices=["kind", "matrix"],
        default="kind",
        help="pool the heads of a layer and kind, or analyse every matrix alone",
    )
    p.add_argument(
        "--fused",
        metavar="PATTERN:N_HEADS[:LAYOUT]",
        default=None,
        help=(
            "split fused q,k,v weights matching PATTERN into N_HEADS heads each; LAYOUT is "
            "out_in (torch.nn.Linear, default) or in_out (GPT-2 Conv1D)"
        ),
    )
    p.add_argument(
        "--iterations",
        type=int,
        nargs="+",
        default=None,
        help="iterations whose spectra are drawn (default: first, middle, last)",
    )
    p.add_argument("--no-power-law", action="store_true", help="skip the power-law fits")
    p.add_argument("--seed", type=int, default=0, help="random seed (bootstrap errors)")
    p.add_argument(
        "-q",
        "--quiet",
        "--no-progress",
        dest="quiet",
        action="store_true",
        help="no progress bar or progress lines",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="write into an output directory that holds files"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``fpsolve spectra``."""
    from fpsolve.cli import check_output_dir
    from validation.analyses.spectra import spectra_evolution, write_report
    from validation.data.checkpoints import FusedAttention, read_checkpoint

    check_output_dir(args.output, overwrite=args.overwrite)
    fused = None
    if args.fused:
        spec, layout = args.fused, "out_in"
        if spec.endswith((":in_out", ":out_in")):
            spec, _, layout = spec.rpartition(":")
        pattern, _, heads = spec.rpartition(":")
        if not pattern or not heads.isdigit():
            raise ValueError(
                f"--fused must be PATTERN:N_HEADS[:out_in|:in_out], got {args.fused!r}"
            )
        fused = FusedAttention(pattern, int(heads), layout=layout)
    cks = [read_checkpoint(c, patterns=args.pattern, fused=fused) for c in args.checkpoints]
    evo = spectra_evolution(
        cks,
        group=args.group,
        power_law=not args.no_power_law,
        rng=args.seed,
        progress=False if args.quiet else None,
    )
    path = write_report(evo, args.output, iterations=args.iterations)
    last = len(evo.iterations) - 1
    print(f"{len(cks)} checkpoints, {len(evo.groups)} groups; iteration {evo.iterations[last]}:")
    for g, name in enumerate(evo.groups):
        print(
            f"  {name}: A = {evo.area[last, g]:.3f} +- {evo.area_err[last, g]:.3f}, "
            f"s2 = {evo.s2[last, g]:.4g}, tail {evo.n_tail[last, g]}"
        )
    print(f"results written to {os.path.abspath(path)}")
    return 0

"""``fpsolve spectrum``: levels of H_FP, relaxation rates and the double-well picture."""

from __future__ import annotations

import argparse

from fpsolve.commands import add_model_arguments, add_output_arguments, build_model, check_output

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``spectrum`` subcommand."""
    p = subparsers.add_parser(
        "spectrum",
        help="levels E_n of H_FP and relaxation rates 2 E_n of one mode",
        description=(
            "Levels E_n of the Schroedinger-form operator H_FP = L^dagger L / 2 of a harmonic or "
            "RBM mode, the relaxation rates 2 E_n (cross-checked with the Fokker-Planck "
            "operator), the slowest relaxation time 1/(2 E_1) and where its state lives; "
            "optionally plots U(x) with levels and eigenfunctions."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_model_arguments(p)
    p.add_argument("--levels", type=int, default=6, help="number of levels (with E_0)")
    p.add_argument(
        "--n-grid",
        type=int,
        default=None,
        help="grid intervals (default: 2000, more where needed to resolve the model)",
    )
    p.add_argument("--no-richardson", action="store_true", help="do not extrapolate over (n, 2n)")
    p.add_argument(
        "--force", action="store_true", help="run even above the limit on grid nodes x levels"
    )
    add_output_arguments(p, "the double-well plot")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``fpsolve spectrum``."""
    from fpsolve.fokker_planck import relaxation_rates
    from fpsolve.hfp import hfp_spectrum

    check_output(args.output, args.overwrite)
    model = build_model(args)
    rich = not args.no_richardson
    spec = hfp_spectrum(
        model, args.g2, args.levels, n_grid=args.n_grid, richardson=rich, force=args.force
    )
    rates = None
    if args.levels >= 2:
        rates = relaxation_rates(
            model, args.g2, args.levels - 1, n=args.n_grid, richardson=rich, force=args.force
        ).rates
    print(f"model   {model!r}")
    print(f"g2      {args.g2:.6g}   n_grid = {spec.n_grid}   richardson = {rich}")
    print(f"{'n':>3} {'E_n':>16} {'2 E_n':>16} {'FP rate':>16} {'<x>_n':>10}")
    for k, e in enumerate(spec.energies):
        fp_rate = "" if (k == 0 or rates is None) else f"{rates[k - 1]:16.10g}"
        print(f"{k:3d} {e:16.10g} {2 * e:16.10g} {fp_rate:>16} {spec.position(k):10.4g}")
    if args.levels >= 2:
        print(f"relaxation time 1/(2 E_1) = {spec.relaxation_time:.8g}")
        print(f"its state lives at <x>_1 = {spec.position(1):.6g}")
    if args.output:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 4.0), layout="constrained")
        spec.plot(ax=ax)
        fig.savefig(args.output, dpi=120)
        plt.close(fig)
        print(f"plot    {args.output}")
    return 0

"""``fpsolve stationary``: print (and optionally plot) the stationary density of one mode."""

from __future__ import annotations

import argparse

from fpsolve.commands import add_model_arguments, add_output_arguments, build_model, check_output

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``stationary`` subcommand."""
    p = subparsers.add_parser(
        "stationary",
        help="stationary density P_s = exp(-V/g2)/Z of one mode",
        description=(
            "Stationary density P_s(x) = exp(-V(x)/g2)/Z of a harmonic or RBM mode: prints "
            "mode, mean, standard deviation, quantiles and log Z; optionally plots it."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_model_arguments(p)
    add_output_arguments(p, "a plot of P_s")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``fpsolve stationary``."""
    import numpy as np

    from fpsolve.analytic import stationary_density

    check_output(args.output, args.overwrite)
    model = build_model(args)
    p = stationary_density(model, args.g2)
    q = np.asarray(p.ppf([0.05, 0.5, 0.95]))
    print(f"model      {model!r}")
    print(f"g2         {p.g2:.6g}")
    print(f"mode       {p.mode:.10g}")
    print(f"mean       {p.mean:.10g}")
    print(f"std        {p.std:.10g}")
    print(f"quantiles  5%: {q[0]:.8g}  50%: {q[1]:.8g}  95%: {q[2]:.8g}")
    print(f"log Z      {p.log_norm:.10g}")
    if args.output:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
        p.plot(ax=ax)
        ax.legend()
        fig.savefig(args.output, dpi=120)
        plt.close(fig)
        print(f"plot       {args.output}")
    return 0

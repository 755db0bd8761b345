"""``fpsolve stationary``: print (and optionally plot) the stationary density of one mode."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers) -> None:
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
    p.add_argument("model", choices=["harmonic", "rbm"], help="which model")
    p.add_argument("--g2", type=float, required=True, help="noise strength g^2 > 0")
    p.add_argument("--omega", type=float, default=1.0, help="harmonic: curvature Omega")
    p.add_argument("--center", type=float, default=0.0, help="harmonic: centre")
    p.add_argument("--kappa", type=float, default=4.0, help="rbm: target eigenvalue kappa")
    p.add_argument("--mu2", type=float, default=9.0, help="rbm: visible mass mu^2")
    p.add_argument("--sigma-h2", type=float, default=1.0, help="rbm: hidden variance sigma_h^2")
    p.add_argument(
        "--convention", choices=["talk", "training"], default="talk", help="rbm: drift convention"
    )
    p.add_argument("-o", "--output", help="write a plot of P_s to this file (png, pdf, svg)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Execute ``fpsolve stationary``."""
    from fpsolve.analytic import stationary_density
    from fpsolve.models import HarmonicModel, RBMModel

    if args.model == "harmonic":
        model = HarmonicModel(args.omega, center=args.center)
    else:
        model = RBMModel(args.kappa, args.mu2, args.sigma_h2, convention=args.convention)
    p = stationary_density(model, args.g2)
    q = p.ppf([0.05, 0.5, 0.95])
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

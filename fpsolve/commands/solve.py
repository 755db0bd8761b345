"""``fpsolve solve``: evolve one mode's density with the Fokker-Planck solver and plot snapshots."""

from __future__ import annotations

import argparse

from fpsolve.commands import add_model_arguments, add_output_arguments, build_model, check_output

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``solve`` subcommand."""
    p = subparsers.add_parser(
        "solve",
        help="evolve one mode's density with the Fokker-Planck solver",
        description=(
            "Evolve P(x, t) of a harmonic or RBM mode, dP/dt = d/dx[(g2 d/dx - K) P], from a "
            "Marchenko-Pastur or Gaussian start; prints mean, variance and mass at each time "
            "and optionally plots the snapshots."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_model_arguments(p)
    p.add_argument(
        "--start", choices=["mp", "gauss"], default="mp", help="initial density: MP law or Gaussian"
    )
    p.add_argument("--mp-r", type=float, default=1.0, help="mp start: aspect ratio r = N/M")
    p.add_argument("--mp-scale", type=float, default=0.1, help="mp start: scale M*s2")
    p.add_argument("--loc", type=float, default=1.0, help="gauss start: centre")
    p.add_argument("--width", type=float, default=0.1, help="gauss start: standard deviation")
    p.add_argument(
        "--times", type=float, nargs="+", default=[0.0, 1.0, 2.0, 5.0, 10.0], help="output times"
    )
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help="number of cells (default: 800, more where needed to resolve the model)",
    )
    p.add_argument(
        "--method", choices=["auto", "eigen", "cn", "euler"], default="auto", help="time stepping"
    )
    p.add_argument("--dt", type=float, default=None, help="time step (cn/euler)")
    p.add_argument(
        "--force", action="store_true", help="run even above the limit on time steps x cells"
    )
    add_output_arguments(p, "a plot of the snapshots")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``fpsolve solve``."""
    import numpy as np

    from fpsolve.fokker_planck import evolve
    from fpsolve.fokker_planck.mesh import InitialDensity

    check_output(args.output, args.overwrite)
    model = build_model(args)
    p0: InitialDensity
    if args.start == "mp":
        from fpsolve.analytic import marchenko_pastur

        p0 = marchenko_pastur(args.mp_r, scale=args.mp_scale)
    else:
        if not args.width > 0:
            raise ValueError(f"--width must be > 0, got {args.width!r}")
        loc, width = args.loc, args.width

        def gauss(x: np.ndarray) -> np.ndarray:
            return np.exp(-0.5 * ((x - loc) / width) ** 2)

        p0 = gauss

    ev = evolve(
        model, args.g2, p0, args.times, n=args.n, method=args.method, dt=args.dt, force=args.force
    )
    print(f"model   {model!r}")
    print(f"g2      {args.g2:.6g}   n = {ev.x.size}   method = {ev.method}")
    print(f"{'t':>10} {'mean':>14} {'var':>14} {'mass - 1':>12}")
    for t, m, v, mass in zip(ev.t, ev.mean, ev.var, ev.mass, strict=True):
        print(f"{t:10.4g} {m:14.8g} {v:14.8g} {mass - 1:12.3e}")
    if args.output:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        ev.plot(ax=ax)
        fig.savefig(args.output, dpi=120)
        plt.close(fig)
        print(f"plot    {args.output}")
    return 0

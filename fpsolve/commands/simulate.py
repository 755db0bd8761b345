"""``fpsolve simulate``: Dyson Brownian motion of a harmonic or RBM mode set.

Writes ``<output>.npz`` (final state, snapshots, moments, histograms, crossing counts)
and ``<output>.png`` (pooled densities of the degenerate groups).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from fpsolve.commands import HelpFormatter

__all__ = ["MAX_PAIR_STEPS", "register", "run"]

MAX_PAIR_STEPS = 1e12
"""Steps x replicas x modes^2 (pair interactions evaluated) that ``simulate`` runs without
``--force``: about a quarter of an hour of one core at a nanosecond per pair."""


def register(subparsers) -> None:
    """Add the ``simulate`` subcommand."""
    p = subparsers.add_parser(
        "simulate",
        help="simulate the eigenvalue DBM (or the SGD map) of harmonic or RBM modes",
        description=(
            "Integrate dx_i = [K_i(x_i) + sum_j g2/(x_i - x_j)] dt + sqrt(2 g2) dB_i for an "
            "ensemble of replicas (the eigenvalue SDE of docs/theory.md), or iterate the SGD "
            "map (--sgd: steps of size --alpha with batch size --batch-size, drift in the "
            "'training' convention, per unit alpha), and write the recorded statistics "
            "(OUTPUT.npz) and a plot of the pooled densities (OUTPUT.png)."
        ),
        formatter_class=HelpFormatter,
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--model",
        choices=("harmonic", "rbm"),
        default="harmonic",
        help="harmonic wells or the Gaussian-RBM modes",
    )
    m.add_argument("--n-modes", type=int, default=2, help="harmonic: number of modes")
    m.add_argument("--omega", type=float, default=1.0, help="harmonic: curvature Omega")
    m.add_argument("--center", type=float, default=0.0, help="harmonic: centre of V")
    m.add_argument(
        "--kappa",
        type=float,
        nargs="+",
        default=None,
        help="rbm: target eigenvalues kappa_a (default: the lattice target)",
    )
    m.add_argument("--n-v", type=int, default=10, help="rbm: lattice sites (if no --kappa)")
    m.add_argument("--m2", type=float, default=4.0, help="rbm: lattice mass squared")
    m.add_argument("--mu2", type=float, default=9.0, help="rbm: visible mass mu^2")
    m.add_argument("--sigma-h2", type=float, default=1.0, help="rbm: hidden variance sigma_h^2")
    m.add_argument(
        "--convention",
        choices=("talk", "training"),
        default=None,
        help="rbm: drift convention (docs/theory.md section 4): 'talk' (c = 1) for the SDE, "
        "'training' (c = 2 sigma_h^2, per unit alpha) for --sgd, which requires it "
        "(default: talk for the SDE, training for --sgd)",
    )
    d = p.add_argument_group("dynamics")
    d.add_argument(
        "--g2",
        type=float,
        default=None,
        help="SDE: noise g^2 (default 1e-3 for rbm, 1 for harmonic)",
    )
    d.add_argument("--dt", type=float, default=None, help="SDE: time step (default 0.01)")
    d.add_argument(
        "--scheme",
        choices=("safe", "em"),
        default="safe",
        help="SDE: collision-safe scheme or plain Euler-Maruyama",
    )
    d.add_argument("--sgd", action="store_true", help="iterate the SGD map instead of the SDE")
    d.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="SGD: learning rate alpha, the step of the map (default 0.1)",
    )
    d.add_argument("--batch-size", type=int, default=16, help="SGD: batch size |B|")
    d.add_argument("--gt2", type=float, default=1.0, help="SGD: noise amplitude gt^2")
    d.add_argument("--n-steps", type=int, default=10_000, help="steps (SDE) or updates (SGD)")
    d.add_argument("--n-replicas", type=int, default=1000, help="independent replicas")
    d.add_argument(
        "--burn-in",
        type=int,
        default=None,
        help="steps before recording statistics (default: half of --n-steps)",
    )
    d.add_argument("--seed", type=int, default=None, help="random seed (default: fresh entropy)")
    o = p.add_argument_group("output")
    o.add_argument("--bins", type=int, default=100, help="histogram bins")
    o.add_argument("--output", "-o", default="dbm", help="output prefix (.npz, .png)")
    o.add_argument("--overwrite", action="store_true", help="replace existing output files")
    o.add_argument("--no-plot", action="store_true", help="write no PNG")
    o.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    d.add_argument(
        "--force",
        action="store_true",
        help=f"run even above the limit of {MAX_PAIR_STEPS:.0e} steps x replicas x modes^2",
    )
    p.set_defaults(func=run)


def _check_options(args) -> None:
    """Refuse options that belong to the other dynamics."""
    if args.sgd:
        if args.dt is not None:
            raise ValueError(
                "--dt is the SDE time step; the SGD map (--sgd) advances by --alpha per update"
            )
        if args.g2 is not None:
            raise ValueError("--g2 is the SDE noise; the SGD map (--sgd) takes --gt2")
        if args.model == "rbm" and args.convention == "talk":
            raise ValueError(
                "--sgd needs --convention training: the SGD map's drift is per unit alpha"
            )
        args.convention = args.convention or "training"
        args.alpha = 0.1 if args.alpha is None else args.alpha
    else:
        if args.alpha is not None:
            raise ValueError("--alpha is the SGD learning rate; pass --sgd, or --dt for the SDE")
        args.convention = args.convention or "talk"
        args.dt = 1e-2 if args.dt is None else args.dt


def _modes(args):
    from fpsolve.models import Modes

    if args.model == "harmonic":
        if args.n_modes < 1:
            raise ValueError(f"--n-modes must be >= 1, got {args.n_modes}")
        return Modes.harmonic(np.full(args.n_modes, args.omega), args.center)
    if args.kappa:
        return Modes.rbm(args.kappa, args.mu2, args.sigma_h2, convention=args.convention)
    return Modes.rbm_lattice(args.n_v, args.m2, args.mu2, args.sigma_h2, convention=args.convention)


def _check_size(args) -> None:
    """Refuse, before anything is allocated, a run that cannot fit in memory or finish."""
    from fpsolve.checks import check_int, check_memory, check_work

    n_replicas = check_int("--n-replicas", args.n_replicas, minimum=1)
    n_steps = check_int("--n-steps", args.n_steps, minimum=0)
    bins = check_int("--bins", args.bins, minimum=1)
    value: int | str
    if args.model == "harmonic":
        name, value = "--n-modes", check_int("--n-modes", args.n_modes, minimum=1)
        n_modes = value
    elif args.kappa:
        name, value, n_modes = "--kappa", f"{len(args.kappa)} values", len(args.kappa)
    else:
        name, value = "--n-v", check_int("--n-v", args.n_v, minimum=1)
        n_modes = value
    # state, its copy, moments and the last snapshot of every replica; histograms per mode;
    # the message names the largest of the three sizes
    sizes = [
        (n_modes, name, value),
        (n_replicas, "--n-replicas", n_replicas),
        (bins, "--bins", bins),
    ]
    big = max(sizes, key=lambda s: s[0])[1:]
    what = f"{n_modes} modes x {n_replicas} replicas and {bins} bins"
    check_memory(*big, n_modes * (8.0 * n_replicas + 2.0 * bins), what)
    work = float(n_steps) * n_replicas * n_modes * n_modes
    check_work("--n-steps", n_steps, work, MAX_PAIR_STEPS, "steps x replicas x modes^2",
               force=args.force)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run the simulation described by ``args``; returns the exit code."""
    from fpsolve import dbm
    from fpsolve.cli import check_output_file

    _check_options(args)
    if os.path.isdir(args.output) or args.output.endswith(("/", os.sep)):
        raise IsADirectoryError(f"--output {args.output!r} is a directory; give a file prefix")
    for suffix in (".npz",) if args.no_plot else (".npz", ".png"):
        check_output_file(f"{args.output}{suffix}", overwrite=args.overwrite)
    _check_size(args)
    modes = _modes(args)
    record = dbm.Record(burn_in=args.burn_in, bins=args.bins)
    progress = False if args.quiet else None
    if args.sgd:
        res = dbm.simulate_sgd(
            modes,
            alpha=args.alpha,
            batch_size=args.batch_size,
            gt2=args.gt2,
            n_steps=args.n_steps,
            n_replicas=args.n_replicas,
            record=record,
            rng=args.seed,
            progress=progress,
        )
    else:
        g2 = args.g2 if args.g2 is not None else (1e-3 if args.model == "rbm" else 1.0)
        res = dbm.simulate(
            modes,
            g2,
            dt=args.dt,
            n_steps=args.n_steps,
            n_replicas=args.n_replicas,
            scheme=args.scheme,
            record=record,
            rng=args.seed,
            progress=progress,
        )
    h = res.histograms
    meta = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in res.params.items()}
    meta.update(method=res.method, models=[repr(m) for m in modes], seed=args.seed)
    np.savez_compressed(
        f"{args.output}.npz",
        x=res.x,
        snapshots=res.snapshots,
        snapshot_steps=res.snapshot_steps,
        mean=res.mean,
        var=res.var,
        n_recorded=res.n_recorded,
        hist_edges=h.edges,
        hist_counts=h.counts,
        hist_underflow=h.underflow,
        hist_overflow=h.overflow,
        spacing_edges=h.spacing_edges,
        spacing_counts=h.spacing_counts,
        crossing_steps=res.crossing_steps,
        groups=json.dumps([list(g) for g in h.groups]),
        params=json.dumps(meta),
    )
    if not args.no_plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        res.plot(ax=ax)
        ax.set_title(f"{args.model} modes, {res.method}, {args.n_replicas} replicas")
        fig.tight_layout()
        fig.savefig(f"{args.output}.png", dpi=120)
        plt.close(fig)
    if not args.quiet:
        print(f"wrote {args.output}.npz" + ("" if args.no_plot else f" and {args.output}.png"))
        print("mode  mean        var")
        for i, (m, v) in enumerate(zip(res.mean, res.var, strict=True)):
            print(f"{i:4d}  {m:<10.6g}  {v:.6g}")
        print(f"crossing steps: {int(res.crossing_steps.sum())}, redone steps: {res.redo_steps}")
    return 0

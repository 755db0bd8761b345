"""Benchmark of matrix-level SGD with exact samples (fpsolve.sgd) against the PCD trainer.

The prediction ``fpsolve.sgd.simulate_sgd_matrix`` and the training it predicts,
``validation.training.rbm.train``, are timed side by side in one process at the same
setting (the paper's: N_v = N_h = 10, m^2 = 4, mu^2 = 9, sigma_h = 1, k = 3, the same
runs, updates, snapshots and threads), for each batch size asked for.  The aligned
eigenvalue map ``fpsolve.sgd.simulate_sgd_aligned`` is timed too.  Printed: seconds,
run-updates per second and the ratio of the rates (above 1: the prediction is cheaper
than the training).

Usage::

    python benchmarks/bench_sgd.py [--runs 256] [--steps 20000] [--batch 4 16 64]
        [--alpha 0.1] [--record-every 100] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numba
import numpy as np

from fpsolve.sgd import GaussianRBM, simulate_sgd_aligned, simulate_sgd_matrix
from validation.training.rbm import train

N_V = N_H = 10
M2 = 4.0
MU2 = 9.0
SIGMA_H = 1.0
K = 3


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--record-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    runs, steps = args.runs, args.steps
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f", numpy {np.__version__}, numba {numba.__version__}; {args.threads} thread(s)"
    )
    print(
        f"setting: N_v=N_h={N_V}, m2={M2}, mu2={MU2}, sigma_h={SIGMA_H}, k={K}, "
        f"alpha={args.alpha}; {runs} runs x {steps} updates, snapshots every {args.record_every}"
    )
    rbm = GaussianRBM.lattice(N_V, m2=M2, mu2=MU2, sigma_h2=SIGMA_H**2, n_h=N_H)
    common = {"n_steps": steps, "record_every": args.record_every, "rng": 1, "progress": False}
    trainer = {"k": K, "n_v": N_V, "n_h": N_H, "m2": M2, "mu2": MU2, "sigma_h": SIGMA_H}
    for batch in args.batch:
        setting = {"alpha": args.alpha, "batch_size": batch, "n_threads": args.threads}
        # compile / load every kernel before timing
        train(2, n_steps=2, batch_size=batch, progress=False)
        simulate_sgd_matrix(rbm, alpha=args.alpha, batch_size=batch, n_steps=2, n_replicas=2)
        simulate_sgd_aligned(rbm, alpha=args.alpha, batch_size=batch, n_steps=2, n_replicas=2)

        t_train, rec = timed(lambda s=setting: train(runs, **s, **trainer, **common))
        t_c, res = timed(lambda s=setting: simulate_sgd_matrix(rbm, n_replicas=runs, **s, **common))
        t_b, res_b = timed(
            lambda s=setting: simulate_sgd_aligned(rbm, n_replicas=runs, **s, **common)
        )
        n = runs * steps
        print(f"|B| = {batch}:")
        for name, t in (("trainer (PCD)", t_train), ("matrix SGD", t_c), ("aligned map", t_b)):
            print(f"  {name:14s} {t:8.2f} s  {n / t:12,.0f} run-updates/s")
        print(f"  ratio matrix SGD / trainer (rates): {t_train / t_c:.2f}x")
        print(f"  ratio aligned map / trainer (rates): {t_train / t_b:.2f}x")
        print(
            "  failed replicas: matrix",
            int(res.failed.sum()),
            "aligned",
            int(res_b.failed.sum()),
            "; mean final x (trainer, matrix):",
            np.round(rec.eigenvalues[:, -1].mean(0)[-3:], 3),
            np.round(np.nanmean(res.eigenvalues[:, -1], axis=0)[-3:], 3),
        )


if __name__ == "__main__":
    main()

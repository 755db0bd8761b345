"""Benchmark of matrix-level SGD with exact samples (fpsolve.sgd) against the PCD trainer.

The prediction ``fpsolve.sgd.simulate_sgd_matrix`` and the training it predicts,
``validation.training.rbm.train``, are timed side by side in one process at the same
setting (the paper's: N_v = N_h = 10, m^2 = 4, mu^2 = 9, sigma_h = 1, k = 3, the same
runs, updates, snapshots and threads), for each batch size asked for, and so is the aligned
eigenvalue map ``fpsolve.sgd.simulate_sgd_aligned``.  Both run side by side with the way
they were computed before as the baselines: level c with the whole ``(N_v, |B|)`` block of
normals per step instead of the Bartlett factor of ``z z^T`` (the generic integrator with
the pieces below), the aligned map in addition with each replica on its own and
``np.linalg.eigvalsh`` of every step's ``Y^T Y``.  Also timed, with the same numbers as
now: level c one replica at a time (the generic integrator) instead of 16 in lanes, and
the aligned map with its matrices built one by one (batches of 15) instead of in lanes of
16.  Now and before draw different random
numbers; they are compared by the mean and standard deviation of the eigenvalues over
the second half of the runs (z-scores over the runs).  Printed: seconds, run-updates per
second and the ratio of the rates (above 1: the prediction is cheaper than the training).

Usage::

    python benchmarks/bench_sgd.py [--runs 256] [--steps 20000] [--batch 4 16 64]
        [--alpha 0.1] [--record-every 100] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time

import numba
import numpy as np
from numba import prange

from fpsolve import _sgd_kernels as _k
from fpsolve.sgd import GaussianRBM, simulate_sgd_aligned, simulate_sgd_matrix
from fpsolve.streams import fill_normals, stream
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


# --------------------------------------------------------------------------- baselines
# Before: every step drew its whole (N_v, |B|) block of normals z, where the kernels now draw
# T with T T^T distributed as z z^T (fpsolve._sgd_kernels.bartlett); the rest of a step is
# the kernels' own code, which takes either draw.
@numba.njit(cache=True)
def _aligned_one(x, s, alpha, sigma_h2, mu2, inv_kappa, batch, n_steps, every, eig):
    """The aligned map of one replica as first computed: normals of the whole batch and
    LAPACK's eigenvalues at every step; the map's own matrix and failure checks."""
    n_h = x.shape[0]
    n_v = inv_kappa.shape[0]
    z = np.empty((n_v, batch))
    work = (np.empty((batch, n_v)), np.empty((n_v, n_v)), np.empty((n_v, n_h)),
            np.empty((n_h, n_h)), np.empty(n_v))  # fmt: skip
    lane = np.empty((n_h * n_h, 1))
    a = np.empty((n_h, n_h))
    for t in range(1, n_steps + 1):
        fill_normals(s, z.reshape(-1))
        _k._aligned_matrix(x, z, batch, alpha, sigma_h2, mu2, inv_kappa, work, lane, 0)
        for i in range(n_h):
            for j in range(i + 1):
                a[i, j] = a[j, i] = lane[i * n_h + j, 0]
        x[:] = np.linalg.eigvalsh(a)
        if _k._aligned_code(x, sigma_h2, mu2) != 0:
            eig[:] = np.nan
            return
        if t % every == 0:
            eig[t // every] = x


@numba.njit(parallel=True, cache=True)
def _aligned_before(x, streams, alpha, sigma_h2, mu2, inv_kappa, batch, n_steps, every, eig):
    for r in prange(x.shape[0]):
        _aligned_one(
            x[r].copy(), streams[r].copy(), alpha, sigma_h2, mu2, inv_kappa, batch, n_steps,
            every, eig[r],
        )  # fmt: skip


@numba.njit
def _direct_work(data, n_rows, n_cols, batch_size):
    """Level c's work arrays with room for the whole ``(N_v, |B|)`` block of normals."""
    w = _k._rbm_work(data, n_rows, n_cols, batch_size)
    phi, phi_t = np.empty((n_rows, batch_size)), np.empty((batch_size, n_rows))
    return (w[0], w[1], w[2], phi, phi_t, w[5], w[6], w[7])


@numba.njit
def _direct_direction(w, s, data, work, g):
    """Level c's direction from the whole ``(N_v, |B|)`` block of normals (before)."""
    fill_normals(s, work[3].reshape(-1))
    _k._rbm_direction_of_draw(w, data, work, g)


class DirectRBM(GaussianRBM):
    """The Gaussian RBM whose level c draws the whole batch of normals (before)."""

    @property
    def numba_pieces(self):
        return (_direct_work, _k._rbm_prepare, _direct_direction)


def aligned_before(rbm, *, alpha, batch_size, n_replicas, n_steps, record_every, rng):
    """Eigenvalue snapshots ``(R, S, N_h)`` of the aligned map computed as before."""
    streams = np.stack(
        [stream(np.random.SeedSequence(rng, spawn_key=(r,))) for r in range(n_replicas)]
    )
    inv_kappa = 1.0 / np.concatenate([rbm.learned_kappa, rbm.kappa[rbm.n_h :]])
    x = np.tile(rbm.x_stable, (n_replicas, 1))
    eig = np.full((n_replicas, n_steps // record_every + 1, rbm.n_h), np.nan)
    eig[:, 0] = x
    _aligned_before(
        x, streams, alpha, rbm.sigma_h2, rbm.mu2, inv_kappa, batch_size, n_steps, record_every,
        eig,
    )  # fmt: skip
    return eig


def _late_stats(eig):
    """Mean and std of every index over the second half of the snapshots, with errors
    over the replicas."""
    late = eig[:, eig.shape[1] // 2 :]
    mean, sd = late.mean(axis=1), late.std(axis=1)
    root_n = np.sqrt(eig.shape[0])
    return [(v.mean(0), v.std(0, ddof=1) / root_n) for v in (mean, sd)]


@contextlib.contextmanager
def _one_by_one():
    """Level c on the generic integrator (one replica at a time) and the aligned map in
    batches of 15 (matrices built one by one, rotations not in vectors): the numbers of the
    lanes, computed as before them."""
    default, lanes = _k._DEFAULT, _k.ALIGNED_LANES
    _k._DEFAULT = _k.Integrator(integrate=_k._integrate, check_start=_k._check_start)
    _k.ALIGNED_LANES = _k.MATRIX_LANES - 1
    try:
        yield
    finally:
        _k._DEFAULT, _k.ALIGNED_LANES = default, lanes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--record-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    numba.set_num_threads(args.threads)  # also for the baseline, which takes no n_threads
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
    direct = DirectRBM.lattice(N_V, m2=M2, mu2=MU2, sigma_h2=SIGMA_H**2, n_h=N_H)
    common = {"n_steps": steps, "record_every": args.record_every, "rng": 1, "progress": False}
    trainer = {"k": K, "n_v": N_V, "n_h": N_H, "m2": M2, "mu2": MU2, "sigma_h": SIGMA_H}
    for batch in args.batch:
        setting = {"alpha": args.alpha, "batch_size": batch, "n_threads": args.threads}
        # compile / load every kernel before timing
        train(2, n_steps=2, batch_size=batch, progress=False)
        simulate_sgd_matrix(rbm, alpha=args.alpha, batch_size=batch, n_steps=2, n_replicas=2)
        simulate_sgd_matrix(direct, alpha=args.alpha, batch_size=batch, n_steps=2, n_replicas=2)
        simulate_sgd_aligned(rbm, alpha=args.alpha, batch_size=batch, n_steps=2, n_replicas=2)
        before = {"alpha": args.alpha, "batch_size": batch, "n_steps": steps,
                  "record_every": args.record_every, "rng": 1}  # fmt: skip
        aligned_before(rbm, n_replicas=2, **{**before, "n_steps": 2, "record_every": 1})

        t_train, rec = timed(lambda s=setting: train(runs, **s, **trainer, **common))
        t_c, res = timed(lambda s=setting: simulate_sgd_matrix(rbm, n_replicas=runs, **s, **common))
        t_c0, res_c0 = timed(
            lambda s=setting: simulate_sgd_matrix(direct, n_replicas=runs, **s, **common)
        )
        t_b, res_b = timed(
            lambda s=setting: simulate_sgd_aligned(rbm, n_replicas=runs, **s, **common)
        )
        t_b0, eig_b0 = timed(lambda b=before: aligned_before(rbm, n_replicas=runs, **b))
        with _one_by_one():
            t_c1, res_c1 = timed(
                lambda s=setting: simulate_sgd_matrix(rbm, n_replicas=runs, **s, **common)
            )
            t_b1, res_b1 = timed(
                lambda s=setting: simulate_sgd_aligned(rbm, n_replicas=runs, **s, **common)
            )
        n = runs * steps
        print(f"|B| = {batch}:")
        for name, t in (
            ("trainer (PCD)", t_train),
            ("matrix SGD", t_c),
            ("matrix, one by one", t_c1),
            ("matrix before", t_c0),
            ("aligned map", t_b),
            ("aligned, one by one", t_b1),
            ("aligned before", t_b0),
        ):
            print(f"  {name:19s} {t:8.2f} s  {n / t:12,.0f} run-updates/s")
        print(f"  ratio matrix SGD / trainer (rates): {t_train / t_c:.2f}x")
        print(f"  ratio aligned map / trainer (rates): {t_train / t_b:.2f}x")
        for level, t0, t1, now, one in (("matrix SGD", t_c, t_c1, res, res_c1),
                                        ("aligned map", t_b, t_b1, res_b, res_b1)):  # fmt: skip
            same = np.array_equal(now.eigenvalues, one.eigenvalues, equal_nan=True)
            print(f"  {level}, one by one / in lanes (time): {t1 / t0:.2f}x "
                  f"(same numbers: {same})")  # fmt: skip
        print(f"  matrix SGD, before / now (time): {t_c0 / t_c:.2f}x")
        print(f"  aligned map, before / now (time): {t_b0 / t_b:.2f}x")
        for level, now, old in (("matrix", res.eigenvalues, res_c0.eigenvalues),
                                ("aligned", res_b.eigenvalues, eig_b0)):  # fmt: skip
            for what, (m1, e1), (m0, e0) in zip(
                ("mean", "std"), _late_stats(now), _late_stats(old), strict=True
            ):
                z = (m1 - m0) / np.hypot(e1, e0)
                print(
                    f"  {level} {what} of x, now - before: largest |difference| "
                    f"{np.abs(m1 - m0).max():.2g}, z over the {N_H} indices "
                    f"{np.array2string(z, precision=1, floatmode='fixed')}"
                )
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

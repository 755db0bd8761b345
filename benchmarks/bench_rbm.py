"""Benchmark of the Gaussian-RBM PCD trainer (validation.training.rbm.train).

One paper setting (N_v = N_h = 10, |B| = 16, k = 3, alpha = 0.1), timed side by side with

* a straightforward vectorised numpy implementation of the same algorithm (all runs
  advanced together with batched matmuls, written below), and
* the random-number limit: the time to draw, with the trainer's generator (one xoshiro256++
  stream per run, ziggurat normals, filled in the trainer's blocks of |B| N_h and |B| N_v),
  exactly the normals the algorithm needs (k |B| (N_v + N_h) per update, plus |B| N_v for
  the target samples with ``--target samples``), with the same threads (timed just before
  and just after the trainer, and averaged); for comparison also the same count drawn one
  by one from numpy Generators (PCG64) inside Numba.

Usage::

    python benchmarks/bench_rbm.py [--runs 400] [--steps 20000] [--numpy-steps 2000]
        [--threads N] [--single-thread-steps 2000] [--target exact|samples]

The numpy baseline (and the single-thread numba run) are timed for fewer updates (the
cost per update is constant) and reported as rates.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from fpsolve.streams import fill_normals
from validation.training.rbm import run_stream, target_matrix, train

N_V = N_H = 10
BATCH = 16
K = 3
ALPHA = 0.1
MU2 = 9.0
SIGMA_H = 1.0
M2 = 4.0
W_SIGMA = 0.1


def numpy_pcd(n_runs: int, n_steps: int, seed: int, samples: bool) -> np.ndarray:
    """Plain vectorised numpy PCD for all runs at once; returns the final eigenvalues."""
    rng = np.random.default_rng(seed)
    s2 = SIGMA_H**2
    c_target = np.linalg.inv(target_matrix(N_V, M2))
    chol_t = np.linalg.cholesky(c_target).T
    w = W_SIGMA * rng.standard_normal((n_runs, N_V, N_H))
    phi = np.ones((n_runs, BATCH, N_V))
    sd_h, sd_v = math.sqrt(s2), 1.0 / math.sqrt(MU2)
    for _ in range(n_steps):
        if samples:
            data = rng.standard_normal((n_runs, BATCH, N_V)) @ chol_t
            c_target = np.swapaxes(data, 1, 2) @ data / BATCH
        for _ in range(K):
            h = s2 * (phi @ w) + sd_h * rng.standard_normal((n_runs, BATCH, N_H))
            phi = (h @ np.swapaxes(w, 1, 2)) / MU2 + sd_v * rng.standard_normal(
                (n_runs, BATCH, N_V)
            )
        c_model = np.swapaxes(phi, 1, 2) @ phi / BATCH
        w = w + ALPHA * s2 * ((c_target - c_model) @ w)
    return np.linalg.eigvalsh(np.swapaxes(w, 1, 2) @ w)


@numba.njit(nogil=True)
def _draw_blocks(s, n_updates, z_h, z_v, samples):
    """The normals of ``n_updates`` updates, in the trainer's blocks, and nothing else.

    Like the trainer, it advances a private copy of the stream state (no cache line is
    shared with the stream of a run on another thread) and writes it back at the end.
    """
    st = s.copy()
    for _ in range(n_updates):
        if samples:
            fill_normals(st, z_v)
        for _ in range(K):
            fill_normals(st, z_h)
            fill_normals(st, z_v)
    s[:] = st


@numba.njit(nogil=True)
def _draw_numpy(g, n):
    acc = 0.0
    for _ in range(n):
        acc += g.standard_normal()
    return acc


def normals_per_update(samples: bool) -> int:
    """k |B| (N_v + N_h), plus |B| N_v for the target samples."""
    return K * BATCH * (N_V + N_H) + (BATCH * N_V if samples else 0)


def numpy_generator_limit(n_runs: int, n_steps: int, n_threads: int, samples: bool) -> float:
    """Seconds to draw the same normals from one numpy Generator per run, inside Numba."""
    gens = np.random.default_rng(0).spawn(n_runs)
    _draw_numpy(gens[0], 10)
    per_run = n_steps * normals_per_update(samples)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(lambda g: _draw_numpy(g, per_run), gens))
    return time.perf_counter() - t0


def rng_limit(n_runs: int, n_steps: int, n_threads: int, samples: bool) -> float:
    """Seconds to draw the normals of ``n_steps`` updates for every run (one stream per run)."""
    streams = [run_stream(0, r) for r in range(n_runs)]
    z_h, z_v = np.empty(BATCH * N_H), np.empty(BATCH * N_V)
    _draw_blocks(streams[0].copy(), 1, z_h, z_v, samples)

    def one(s):
        _draw_blocks(s, n_steps, np.empty(BATCH * N_H), np.empty(BATCH * N_V), samples)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(one, streams))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--numpy-steps", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--single-thread-steps", type=int, default=2_000)
    parser.add_argument("--target", choices=("exact", "samples"), default="exact")
    args = parser.parse_args()
    runs, steps = args.runs, args.steps
    samples = args.target == "samples"
    n_normals = normals_per_update(samples)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f", numpy {np.__version__}, numba {numba.__version__}"
    )
    print(
        f"setting: N_v=N_h={N_V}, |B|={BATCH}, k={K}, alpha={ALPHA}, target={args.target}; "
        f"{runs} runs x {steps} updates"
    )

    train(2, n_steps=10, progress=False, rng=0)  # compile / load the kernel
    results = {}
    plan = [(args.threads, steps)]
    if args.threads > 1:
        plan.append((1, args.single_thread_steps))
    for n_threads, n_steps in plan:
        n_updates = runs * n_steps
        t_before = rng_limit(runs, n_steps, n_threads, samples)
        t0 = time.perf_counter()
        rec = train(
            runs, n_steps=n_steps, record_every=max(1, n_steps // 10), rng=1, progress=False,
            n_threads=n_threads, target=args.target,
        )  # fmt: skip
        t_numba = time.perf_counter() - t0
        if n_threads == args.threads:
            x_final = rec.eigenvalues[:, -1].mean(axis=0)
        # the machine's speed drifts: the limit is the mean of runs just before and after
        t_rng = 0.5 * (t_before + rng_limit(runs, n_steps, n_threads, samples))
        t_pcg = numpy_generator_limit(runs, n_steps, n_threads, samples)
        rate = n_updates / t_numba
        limit = n_updates / t_rng
        results[n_threads] = rate
        print(
            f"numba, {n_threads} thread(s), {n_steps} updates: {t_numba:.2f} s, "
            f"{rate:,.0f} run-updates/s; RNG limit {limit:,.0f} run-updates/s "
            f"({n_normals} normals each, "
            f"{t_rng / (n_updates * n_normals) * 1e9:.2f} ns/normal); "
            f"fraction of limit {rate / limit:.2f}; numpy Generator limit "
            f"{n_updates / t_pcg:,.0f} run-updates/s "
            f"({t_pcg / (n_updates * n_normals) * 1e9:.2f} ns/normal)"
        )

    t0 = time.perf_counter()
    x_np = numpy_pcd(runs, args.numpy_steps, seed=2, samples=samples)
    t_np = time.perf_counter() - t0
    rate_np = runs * args.numpy_steps / t_np
    print(
        f"numpy vectorised (1 process): {t_np:.2f} s for {args.numpy_steps} updates, "
        f"{rate_np:,.0f} run-updates/s"
    )
    for n_threads, rate in results.items():
        print(f"ratio numba ({n_threads} thread(s)) / numpy: {rate / rate_np:.1f}x")
    print("mean final eigenvalues (numba):", np.round(x_final, 3))
    if args.numpy_steps >= steps:
        print("mean final eigenvalues (numpy):", np.round(x_np.mean(axis=0), 3))


if __name__ == "__main__":
    main()

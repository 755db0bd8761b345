"""Benchmark of fpsolve.dbm against its implementation on numba's ``np.random.Generator``,
a reference Numba kernel of the same update on that generator, the normal-number limit of
the project's streams, a vectorised numpy integrator, sdeint and the matrix-level (eigvalsh)
approach; cost table; accuracy of the schemes against exact Coulomb-gas samples.

Run: ``python benchmarks/bench_dbm.py [--quick | --smoke] [--sections ensemble ...]
[--baseline REV]``.  Everything is measured side by side in one process; each timing is the
best of a few repeats (after a warm-up call that compiles).  ``--smoke`` runs every section
at tiny sizes (a check that the script works; its numbers mean nothing).

The implementation on numba's ``Generator`` is ``fpsolve.dbm`` as it was at ``--baseline``
(default :data:`BASELINE`, the last revision that drew from one ``Generator`` per chunk of
replicas), taken from the repository's git history and imported beside the current package
under the name ``fpsolve_baseline`` (a temporary copy, removed at exit); without git or that
revision it is skipped.  ``--sections versus`` (not run by default) times the current
``simulate`` against the same call of any ``--baseline`` revision on one thread.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import io
import math
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np
from scipy import stats

from fpsolve import dbm
from fpsolve.analytic import sample_hermite
from fpsolve.dbm._random import fill_normals_by_replica, replica_streams
from fpsolve.models import Modes
from fpsolve.streams import fill_normals, stream


class Sizes(NamedTuple):
    ensemble: tuple[int, int]  # replicas, steps
    single: tuple[int, int]  # modes, steps
    matrix: tuple[int, int]  # replicas, steps
    cost: tuple[tuple[int, ...], tuple[int, ...], float]  # modes, replicas, work cap
    accuracy: tuple[int, float, tuple[float, ...]]  # replicas, time, time steps
    versus: tuple[int, int]  # replicas, steps of the run against --baseline


SIZES = {
    "full": Sizes(
        (10**5, 50),
        (2000, 30),
        (2000, 20),
        ((2, 10, 100, 1000, 10_000), (1, 100, 10_000, 1_000_000), 2e9),
        (2000, 6.0, (0.02, 0.01, 0.005, 0.002, 0.001)),
        (2000, 300),
    ),
    "quick": Sizes(
        (10**5, 20),
        (2000, 10),
        (2000, 20),
        ((2, 10, 100, 1000, 10_000), (1, 100, 10_000, 1_000_000), 2e8),
        (1000, 6.0, (0.02, 0.01, 0.005, 0.002)),
        (2000, 100),
    ),
    "smoke": Sizes(
        (2000, 4), (600, 2), (20, 2), ((2, 10), (1, 100), 1e6), (50, 0.2, (0.02,)), (200, 5)
    ),
}

# the chunking of fpsolve.dbm's replicas: one kernel call per chunk of about 512 replicas
_CHUNK, _MAX_CHUNKS = 512, 4096
_NO_STATISTICS = dbm.Record(statistics=False)  # pure integration: only the final state

BASELINE = "e0e4b1e78cf22293b4d2c533db4a1cb89cb2e9f5"
"""The last revision whose ``fpsolve.dbm`` drew its normals from numba's ``Generator``."""


def load_baseline(rev):
    """``(dbm, models)`` of the package ``fpsolve`` at git revision ``rev``, imported as
    ``fpsolve_baseline`` from a temporary copy; ``RuntimeError`` if git cannot give it."""
    root = Path(__file__).resolve().parent.parent
    try:
        tar = subprocess.run(
            ["git", "-C", str(root), "archive", rev, "fpsolve"], capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        raise RuntimeError(f"git archive {rev} failed: {err.decode().strip() or exc}") from exc
    tmp = Path(tempfile.mkdtemp(prefix="fpsolve-baseline-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(tmp, **safe)
    pkg = tmp / "fpsolve_baseline"
    (tmp / "fpsolve").rename(pkg)
    # numba takes two named tuples of the same name and fields for one type and then
    # dispatches every call through its slow path: the baseline's get other names
    files = {path: path.read_text() for path in pkg.rglob("*.py")}
    tuples = {
        m for text in files.values() for m in re.findall(r"^class (\w+)\(NamedTuple", text, re.M)
    }
    names = re.compile(rf"\b({'|'.join(sorted(tuples))})\b") if tuples else None
    imports = re.compile(r"^(\s*)(from|import) fpsolve\b", re.MULTILINE)
    for path, text in files.items():
        renamed = imports.sub(r"\1\2 fpsolve_baseline", text)
        path.write_text(names.sub(r"\1Baseline", renamed) if names else renamed)
    sys.path.insert(0, str(tmp))
    return importlib.import_module("fpsolve_baseline.dbm"), importlib.import_module(
        "fpsolve_baseline.models"
    )


def _chunks(n_replicas):
    n_chunks = min(_MAX_CHUNKS, max(1, -(-n_replicas // _CHUNK)))
    size = -(-n_replicas // n_chunks)
    return [(a, min(n_replicas, a + size)) for a in range(0, n_replicas, size)]


def _map(fn, n):
    """``fn(0..n-1)`` on the thread pool fpsolve.dbm uses (numba's number of threads)."""
    threads = min(n, numba.get_num_threads())
    if threads <= 1:
        return [fn(k) for k in range(n)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, range(n)))


@numba.njit(nogil=True)
def _draw_normals(gen, n, c, n_steps, out):
    """Draw n * c normals per step, one by one, as a kernel on numba's Generator does."""
    for _ in range(n_steps):
        for i in range(n):
            for r in range(c):
                out[i, r] = gen.standard_normal()


def generator_limit(n, r_rep, n_steps):
    """A call that draws n * r_rep * n_steps normals with per-chunk numba Generators on the
    same thread pool and chunking as fpsolve.dbm."""
    chunks = _chunks(r_rep)
    gens = np.random.default_rng(9).spawn(len(chunks))
    outs = [np.empty((n, b - a)) for a, b in chunks]
    _draw_normals(gens[0], n, 1, 1, outs[0])

    def run():
        _map(lambda k: _draw_normals(gens[k], n, outs[k].shape[1], n_steps, outs[k]), len(chunks))

    return run


def stream_limit(total, threads=2):
    """A call that draws ``total`` normals with :func:`fpsolve.streams.fill_normals`, each
    of ``threads`` threads filling one large array from its own stream (the normal-number
    limit of the project's generator)."""
    outs = [np.empty(-(-total // threads)) for _ in range(threads)]
    streams = [stream(np.random.SeedSequence(9, spawn_key=(k,))) for k in range(threads)]
    fill_normals(streams[0], outs[0][:10])

    def run():
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda k: fill_normals(streams[k], outs[k]), range(threads)))

    return run


@numba.njit(nogil=True, error_model="numpy")
def _reference_em(x, perm, gen, st, dt, omega, prc, amp, force, psum, eta, xn, cross, n_steps):
    """The Euler-Maruyama step of ``simulate(scheme="em")`` for harmonic modes (centre 0),
    written as one plain kernel over a chunk ``x`` (N, C) whose normals come from numba's
    ``np.random.Generator`` ``gen`` (or, if ``st`` has columns, from the replicas'
    xoshiro256++ streams as in fpsolve.dbm): drift, normals, pair sum vectorised over the
    replicas, ``x + dt K + pair + amp eta``, crossings counted and the order ``perm``
    re-sorted."""
    n, c = x.shape
    scratch = (np.empty(c, np.int64), np.empty(c, np.int64), np.empty(4, np.uint64))
    for _ in range(n_steps):
        for i in range(n):
            for r in range(c):
                force[i, r] = -dt * omega[i] * x[i, r]
        if st.shape[1]:
            fill_normals_by_replica(st, eta, scratch[0], scratch[1], scratch[2])
        else:
            for i in range(n):
                for r in range(c):
                    eta[i, r] = gen.standard_normal()
        for i in range(n):
            for r in range(c):
                psum[i, r] = 0.0
        for i in range(n):
            for j in range(i + 1, n):
                for r in range(c):
                    inv = 1.0 / (x[i, r] - x[j, r])
                    psum[i, r] += prc[i] * inv
                    psum[j, r] -= prc[j] * inv
        for i in range(n):
            for r in range(c):
                xn[i, r] = x[i, r] + force[i, r] + psum[i, r] + amp[i] * eta[i, r]
        for r in range(c):
            broken = False
            for k in range(n - 1):
                if not xn[perm[k, r], r] < xn[perm[k + 1, r], r]:
                    broken = True
                    break
            if broken:
                cross[r] += 1
                for k in range(1, n):  # insertion sort of the order
                    p = perm[k, r]
                    v = xn[p, r]
                    m = k - 1
                    while m >= 0 and xn[perm[m, r], r] > v:
                        perm[m + 1, r] = perm[m, r]
                        m -= 1
                    perm[m + 1, r] = p
        for i in range(n):
            for r in range(c):
                x[i, r] = xn[i, r]


def reference_em(x0, n_replicas, n_steps, dt, g2, rng, *, streams=False):
    """``simulate(scheme="em")`` of harmonic modes (Omega = 1) with :func:`_reference_em`
    on the same chunks and threads, normals from one numba Generator per chunk (or the
    replicas' streams); returns the final state (R, N)."""
    n = x0.size
    chunks = _chunks(n_replicas)
    gens = np.random.default_rng(rng).spawn(len(chunks))
    sts = [
        replica_streams(rng, a, b) if streams else np.empty((4, 0), np.uint64) for a, b in chunks
    ]
    omega, prc, amp = np.ones(n), np.full(n, g2 * dt), np.full(n, math.sqrt(2 * dt * g2))
    states = []
    for a, b in chunks:
        x = np.ascontiguousarray(np.repeat(x0[:, None], b - a, axis=1))
        scratch = [np.empty_like(x) for _ in range(4)]
        perm = np.ascontiguousarray(np.argsort(x, axis=0, kind="stable"))
        states.append((x, perm, scratch, np.zeros(b - a, dtype=np.int64)))

    def one(k):
        x, perm, (force, psum, eta, xn), cross = states[k]
        _reference_em(
            x, perm, gens[k], sts[k], dt, omega, prc, amp, force, psum, eta, xn, cross, n_steps
        )

    _map(one, len(chunks))
    return np.concatenate([s[0] for s in states], axis=1).T


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def numpy_em_loop(x, n_steps, dt, omega, g2, rng):
    """Same scheme, pair sum as a loop over modes with whole-replica vector operations."""
    n = x.shape[0]
    amp = math.sqrt(2 * dt * g2)
    force = np.empty_like(x)
    for _ in range(n_steps):
        np.multiply(x, -omega, out=force)
        for i in range(n):
            d = x[i] - x[i + 1 :]
            inv = 1.0 / d
            force[i] += g2 * inv.sum(axis=0)
            force[i + 1 :] -= g2 * inv
        x = x + dt * force + amp * rng.standard_normal(x.shape)
    return x


def section_ensemble(sizes, baseline):
    """The ensemble throughput; ``baseline``: :func:`load_baseline`'s result, or None."""
    (r_rep, n_steps), n, dt = sizes.ensemble, 10, 1e-3
    modes = Modes.harmonic(np.ones(n))
    updates = r_rep * n * n_steps
    x0 = np.sort(np.random.default_rng(0).normal(size=n)) * 3
    threads = numba.get_num_threads()
    print(
        f"\n## Ensemble: R = {r_rep:.0e} replicas, N = {n} harmonic modes, "
        f"{n_steps} steps (dt = {dt}), {threads} threads"
    )
    kw = {"dt": dt, "n_replicas": r_rep, "rng": 1}
    for scheme in ("em", "safe"):  # compile
        dbm.simulate(modes, 1.0, x0, n_steps=2, scheme=scheme, **kw)
    reference_em(x0, 16, 2, dt, 1.0, 1)
    reference_em(x0, 16, 2, dt, 1.0, 1, streams=True)

    def fp(scheme, record=_NO_STATISTICS):
        return dbm.simulate(modes, 1.0, x0, n_steps=n_steps, scheme=scheme, record=record, **kw)

    old_dbm, old_models = baseline or (None, None)
    if old_dbm is not None:
        old_modes = old_models.Modes.harmonic(np.ones(n))
        old_record = old_dbm.Record(burn_in=n_steps)  # statistics off in that version

        def old(scheme, steps=n_steps):
            return old_dbm.simulate(
                old_modes, 1.0, x0, n_steps=steps, scheme=scheme, record=old_record, **kw
            )

        for scheme in ("em", "safe"):  # compile
            old(scheme, 2)
    # best of 5 of each, interleaved: the speed of a shared machine drifts within seconds
    timed = {
        "em": lambda: fp("em"),
        "safe": lambda: fp("safe"),
        "old_em": (lambda: old("em")) if old_dbm is not None else None,
        "old_safe": (lambda: old("safe")) if old_dbm is not None else None,
        "rec": lambda: fp("safe", dbm.Record(burn_in=0)),
        "ref": lambda: reference_em(x0, r_rep, n_steps, dt, 1.0, 1),
        "ref_st": lambda: reference_em(x0, r_rep, n_steps, dt, 1.0, 1, streams=True),
        "limit": stream_limit(updates, threads=2),
        "gen": generator_limit(n, r_rep, n_steps),
    }
    t = dict.fromkeys(timed, math.inf)
    for _ in range(5):
        for k, fn in timed.items():
            if fn is not None:
                t[k] = min(t[k], best(fn, repeat=1))
    t_em, t_safe, t_old_em, t_old_safe, t_rec, t_ref, t_ref_st, t_limit, t_gen = t.values()
    gen = np.random.default_rng(2)
    xs = np.repeat(x0[:, None], r_rep, axis=1)
    np_steps = max(2, n_steps // 5)
    t_np = best(lambda: numpy_em_loop(xs, np_steps, dt, 1.0, 1.0, gen), repeat=2)
    t_np *= n_steps / np_steps
    rows = [
        ("fpsolve em (xoshiro256++ streams)", t_em),
        ("fpsolve safe", t_safe),
        ("fpsolve em, Generator implementation", t_old_em),
        ("fpsolve safe, Generator implementation", t_old_safe),
        ("fpsolve safe + moments and histograms", t_rec),
        ("reference kernel, numba Generator", t_ref),
        ("reference kernel, xoshiro256++ streams", t_ref_st),
        ("normals only: fill_normals, 2 threads", t_limit),
        ("normals only: numba Generator, same chunks", t_gen),
        ("numpy EM (loop over modes)", t_np),
    ]
    for name, t in rows:
        if math.isfinite(t):
            print(
                f"  {name:42s} {t:8.3f} s  {updates / t / 1e6:8.1f} M updates/s "
                f"{t / updates * 1e9:7.2f} ns/update"
            )
    if old_dbm is not None:
        print(
            f"  fpsolve em / Generator implementation : {t_old_em / t_em:6.2f}x   (target >= 2x; "
            f"safe: {t_old_safe / t_safe:.2f}x)"
        )
    print(f"  fpsolve em / reference kernel (speed) : {t_ref / t_em:6.2f}x")
    print(
        f"  fpsolve em / normal-number limit      : {t_limit / t_em * 100:6.0f}%   "
        f"(target >= 60%; safe: {t_limit / t_safe * 100:.0f}%)"
    )
    print(
        f"  fpsolve safe vs em (time)             : {(t_safe / t_em - 1) * 100:+6.0f}%   "
        f"(target within 15%)"
    )
    print(f"  fpsolve em / numpy (speed)            : {t_np / t_em:6.1f}x")
    safe = fp("safe")
    print(
        f"  safe: steps redone per replica-step {safe.redo_steps / (r_rep * n_steps):.3f} "
        f"(x0 has a spacing of {np.diff(x0).min():.3f}, below sqrt(4 dt g2) = "
        f"{math.sqrt(4 * dt):.3f})"
    )
    a = fp("em").x
    b = reference_em(x0, r_rep, n_steps, dt, 1.0, 1)
    print(
        f"  check, median sum x^2 at the end: fpsolve em {np.median(np.sum(a**2, axis=1)):.4f}, "
        f"reference {np.median(np.sum(b**2, axis=1)):.4f}"
    )
    return {"em": t_em, "safe": t_safe, "updates": updates}


def section_sdeint(ens):
    try:
        import sdeint
    except ImportError:
        print("\n## sdeint.itoEuler: skipped (sdeint is not installed)")
        return

    n, dt, n_steps = 10, 1e-3, 200
    x0 = np.sort(np.random.default_rng(0).normal(size=n)) * 3

    def f(x, t):
        d = x[:, None] - x[None, :]
        np.fill_diagonal(d, np.inf)
        return -x + (1.0 / d).sum(axis=1)

    def g(x, t):
        return math.sqrt(2.0) * np.eye(n)

    tspan = np.linspace(0.0, n_steps * dt, n_steps + 1)
    gen = np.random.default_rng(3)
    t_sdeint = best(lambda: sdeint.itoEuler(f, g, x0, tspan, generator=gen), repeat=2)
    per_update = t_sdeint / (n * n_steps)
    per_update_fp = ens["em"] / ens["updates"]
    print(f"\n## sdeint.itoEuler, one system N = {n}, {n_steps} steps")
    print(
        f"  sdeint {per_update * 1e9:10.0f} ns/update   fpsolve em (ensemble) "
        f"{per_update_fp * 1e9:6.1f} ns/update   ratio {per_update / per_update_fp:8.0f}x"
    )
    modes = Modes.harmonic(np.ones(n))
    dbm.simulate(modes, 1.0, x0, dt=dt, n_steps=2, n_replicas=1, scheme="em", rng=1)
    t1 = best(
        lambda: dbm.simulate(
            modes,
            1.0,
            x0,
            dt=dt,
            n_steps=n_steps * 50,
            n_replicas=1,
            scheme="em",
            rng=1,
            record=_NO_STATISTICS,
        )
    )
    single = t1 / (n * n_steps * 50)
    print(
        f"  fpsolve em, the same single system  {single * 1e9:6.1f} ns/update   "
        f"ratio {per_update / single:8.0f}x"
    )


def section_matrix(ens, sizes):
    (r_rep, n_steps), n, dt = sizes.matrix, 10, 1e-3
    modes = Modes.harmonic(np.ones(n))
    x0 = np.sort(np.random.default_rng(0).normal(size=n)) * 3
    dbm.simulate_matrix(modes, 1.0, x0, dt=dt, n_steps=1, n_replicas=10, rng=1)
    t = best(
        lambda: dbm.simulate_matrix(
            modes, 1.0, x0, dt=dt, n_steps=n_steps, n_replicas=r_rep, rng=1
        ),
        repeat=2,
    )
    per = t / (n * r_rep * n_steps)
    per_fp = ens["em"] / ens["updates"]
    print(f"\n## Matrix level (eigh per step), N = {n}, R = {r_rep}")
    print(
        f"  simulate_matrix {per * 1e9:8.0f} ns/update   ratio to fpsolve em {per / per_fp:6.0f}x"
    )


def section_single(sizes):
    n, n_steps = sizes.single
    modes = Modes.harmonic(np.ones(n))
    x0 = np.sort(np.random.default_rng(0).normal(size=n)) * math.sqrt(2 * n)
    dbm.simulate(modes, 1.0, x0, dt=1e-6, n_steps=1, n_replicas=1, scheme="em", rng=1)

    def run(k):
        return dbm.simulate(
            modes,
            1.0,
            x0,
            dt=1e-6,
            n_steps=k,
            n_replicas=1,
            scheme="em",
            rng=1,
            record=_NO_STATISTICS,
            progress=False,
        )

    t1 = best(lambda: run(n_steps))
    t3 = best(lambda: run(3 * n_steps))
    t_fp = (t3 - t1) / 2  # per n_steps, set-up removed
    setup = t1 - t_fp
    pairs = n * (n - 1) / 2 * n_steps

    def numpy_pairs():
        x = x0.copy()
        for _ in range(n_steps):
            d = x[:, None] - x[None, :]
            np.fill_diagonal(d, np.inf)
            x = x + 1e-6 * (-x + (1.0 / d).sum(axis=1))

    t_np = best(numpy_pairs)
    print(f"\n## Single system N = {n}: pair interactions per second")
    print(
        f"  fpsolve em   {pairs / t_fp / 1e6:8.0f} M pairs/s (steady state; set-up of a "
        f"call {setup * 1e3:.0f} ms, with it {pairs / t1 / 1e6:.0f} M pairs/s over "
        f"{n_steps} steps)"
    )
    print(f"  numpy        {pairs / t_np / 1e6:8.0f} M pairs/s (N x N difference matrix)")
    print(f"  ratio        {t_np / t_fp:8.1f}x")


def section_cost(sizes):
    print("\n## Cost table: seconds per step (fpsolve em, harmonic modes, no recording),")
    print("   from runs of s and 3s steps (set-up cost removed); set-up seconds in brackets")
    ns, rs, cap = sizes.cost
    print("  N \\ R " + "".join(f"{r:>22d}" for r in rs))
    for n in ns:
        modes = Modes.harmonic(np.ones(n))
        x0 = np.linspace(-1, 1, n) * math.sqrt(2 * n)
        cells = []
        for r in rs:
            work = r * (n + n * n / 2)
            if work > cap or r * n > 2e7:
                cells.append(f"{'-':>22s}")
                continue
            steps = max(4, min(100, int(1e8 / work)))

            def run(k, modes=modes, x0=x0, r=r):
                return dbm.simulate(
                    modes,
                    1.0,
                    x0,
                    dt=1e-7,
                    n_steps=k,
                    n_replicas=r,
                    scheme="em",
                    rng=1,
                    record=_NO_STATISTICS,
                    progress=False,
                )

            run(1)
            t1 = best(lambda steps=steps, run=run: run(steps), repeat=2)
            t3 = best(lambda steps=steps, run=run: run(3 * steps), repeat=2)
            per = max(t3 - t1, 0.0) / (2 * steps)
            setup = max(t1 - steps * per, 0.0)
            cells.append(f"{per:12.2e} [{setup:7.1e}]")
        print(f"  {n:6d}" + "".join(cells))


def section_accuracy(sizes):
    n, g2 = 10, 1.0
    modes = Modes.harmonic(np.ones(n))
    exact = sample_hermite(n, 1.0, 20_000, rng=5)
    s_exact = np.diff(exact, axis=1).ravel()
    m2_exact = np.mean(np.sum(exact**2, axis=1))
    r_rep, t_total, dts = sizes.accuracy
    print(
        f"\n## Accuracy vs cost, N = {n} degenerate harmonic modes, R = {r_rep}, "
        f"t = {t_total}: KS distance of neighbour spacings from exact samples, <sum x^2> "
        f"(exact {m2_exact:.2f})"
    )
    print(
        f"  {'scheme':6s} {'dt':>7s} {'KS':>8s} {'<sum x^2>':>12s} {'crossing/step':>14s} "
        f"{'redone/step':>12s} {'seconds':>8s}"
    )
    for scheme in ("em", "safe"):
        for dt in dts:
            steps = int(t_total / dt)
            t0 = time.perf_counter()
            try:
                res = dbm.simulate(
                    modes,
                    g2,
                    dt=dt,
                    n_steps=steps,
                    n_replicas=r_rep,
                    scheme=scheme,
                    rng=7,
                    record=dbm.Record(snapshots=(steps // 2, steps)),
                )
            except FloatingPointError as exc:  # em runs away: the run raises, as a user's would
                step = re.search(r"by step (\d+)|at step (\d+)", str(exc))
                where = next(g for g in step.groups() if g) if step else "?"
                print(f"  {scheme:6s} {dt:7.3f}   diverged (by step {where} of {steps})")
                continue
            sec = time.perf_counter() - t0
            x = res.snapshots.reshape(-1, n)
            spacing = np.diff(np.sort(x, axis=1), axis=1).ravel()  # sorted only to measure
            ks = stats.ks_2samp(spacing, s_exact).statistic
            m2 = np.mean(np.sum(x**2, axis=1))
            per = steps * r_rep
            print(
                f"  {scheme:6s} {dt:7.3f} {ks:8.4f} {m2:12.4g} "
                f"{res.crossing_steps.sum() / per:14.2e} {res.redo_steps / per:12.2e} "
                f"{sec:8.2f}"
            )
    crit = 1.95 * math.sqrt(1 / s_exact.size + 1 / (2 * r_rep * (n - 1)))
    print(f"  (KS at the 1e-3 level for these sample sizes, if independent: {crit:.4f})")


def section_versus(sizes, baseline, rev, rounds=15):
    """``simulate`` against the same call of ``fpsolve`` at ``rev`` (:func:`load_baseline`),
    on one numba thread, alternating, CPU time: a run of ``versus[0]`` replicas x
    ``versus[1]`` steps from the default start, and one step of ``ensemble[0]`` replicas (the
    set-up of a call); whether the final states are the same."""
    old_dbm, old_models = baseline
    n, dt = 10, 1e-3
    (r_run, steps), r_big = sizes.versus, sizes.ensemble[0]
    new_modes, old_modes = Modes.harmonic(np.ones(n)), old_models.Modes.harmonic(np.ones(n))

    def call(pkg, modes, scheme, r, k):
        try:  # a version without Record(statistics=...) records nothing after burn_in=k
            record = pkg.Record(statistics=False)
        except TypeError:
            record = pkg.Record(burn_in=k)
        return pkg.simulate(
            modes, 1.0, dt=dt, n_steps=k, n_replicas=r, scheme=scheme, rng=1, record=record
        )

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        print(
            f"\n## Against fpsolve at {rev}: one numba thread, CPU time, {rounds} alternating "
            f"rounds (best and median)"
        )
        for scheme in ("em", "safe"):
            for r, k, what in ((r_run, steps, "run"), (r_big, 1, "one step")):
                fns = {
                    "now": lambda r=r, k=k, sc=scheme: call(dbm, new_modes, sc, r, k),
                    "before": lambda r=r, k=k, sc=scheme: call(old_dbm, old_modes, sc, r, k),
                }
                same = np.array_equal(fns["now"]().x, fns["before"]().x)  # also compiles
                times = {key: [] for key in fns}
                for _ in range(rounds):
                    for key, fn in fns.items():
                        c0 = time.process_time()
                        fn()
                        times[key].append(time.process_time() - c0)
                now, old = np.array(times["now"]), np.array(times["before"])
                print(
                    f"  {scheme:4s} {what:8s} R = {r:6d}, {k:3d} steps: now {now.min():.4f} s "
                    f"(median {np.median(now):.4f}), before {old.min():.4f} s "
                    f"(median {np.median(old):.4f}); before / now {old.min() / now.min():.3f} "
                    f"(medians {np.median(old) / np.median(now):.3f}); same states: {same}"
                )
    finally:
        numba.set_num_threads(before)


_SECTIONS = ("ensemble", "sdeint", "matrix", "single", "cost", "accuracy", "versus")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="smaller sizes")
    group.add_argument("--smoke", action="store_true", help="tiny sizes (checks the script)")
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=_SECTIONS,
        default=list(_SECTIONS[:-1]),
        help="sections to run (default: all but versus; sdeint and matrix need ensemble; "
        "versus times the current code against --baseline on one thread)",
    )
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        metavar="REV",
        help="git revision of the Generator implementation ('' skips it; default: %(default)s)",
    )
    args = parser.parse_args()
    print(
        f"# fpsolve.dbm benchmark: {platform.machine()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, numba {numba.__version__}, "
        f"{numba.get_num_threads()} numba threads"
    )
    sizes = SIZES["smoke" if args.smoke else "quick" if args.quick else "full"]
    run = set(args.sections)
    ens, base = None, None
    if args.baseline and run & {"ensemble", "versus"}:
        try:
            base = load_baseline(args.baseline)
            print(f"\n(the Generator implementation: fpsolve.dbm at {args.baseline})")
        except RuntimeError as exc:
            print(f"\n(the Generator implementation is skipped: {exc})")
    if run & {"ensemble", "sdeint", "matrix"}:
        ens = section_ensemble(sizes, base)
    if "sdeint" in run:
        section_sdeint(ens)
    if "matrix" in run:
        section_matrix(ens, sizes)
    if "single" in run:
        section_single(sizes)
    if "cost" in run:
        section_cost(sizes)
    if "accuracy" in run:
        section_accuracy(sizes)
    if "versus" in run and base is not None:
        section_versus(sizes, base, args.baseline, rounds=3 if args.smoke else 15)


if __name__ == "__main__":
    main()

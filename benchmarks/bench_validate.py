"""Benchmark of the main job: ``validate()`` of the demo sweep against the training it checks.

Trains the demo sweep (validation.report.demo.DEMO_SETTINGS, 200 runs each, t = 1200), then
times ``validation.validate`` on the sweep, every analysis separately on the largest recording,
and the report.  The target: validate() takes at most 20% of the time that trained the sweep;
the ratio validate / training is printed.

Side by side in the same process, the changed parts against the way they were computed
before, on the demo's recordings:

* validate() with its recordings analysed two at a time (its default on two threads)
  against one at a time, with the process's CPU time and a check that results.json is the
  same (section ``workers``);
* jackknife errors of the stationary statistics (mean, std, pair statistics), of the
  one-point fits, of the dynamics' mean and width and of the spacings: one pass over per-run
  sums (and all two-mode refits together) against a refit of every leave-one-block-out
  sample; the covariance of the dynamics' estimates over snapshots (one matrix product per
  index against einsum) and its escape slopes (all leave-one-out samples in one call);
* Crank-Nicolson on a line of 2000 cells (the dynamics' one-mode FPE curves): the
  tridiagonal factorisation once per call against once per step;
* the matrix step of the PCD eigenvalue map: Householder + QL against cyclic Jacobi with
  full row and column updates (the kernel used before), per 10 x 10 matrix;
* level c of the predictions with its window (10 tau burn-in, then as many steps as the
  measurement's window) against the second half of the recording's updates;
* the spectrum of level c's snapshots: Householder + QL against ``np.linalg.eigvalsh``
  (used before), per 10 x 10 ``W^T W``.

Also printed: the PCD eigenvalue map's time per replica-step as the dynamics analysis runs it,
with its replicas in lanes against the same kernel with one replica per chunk (section
``pcd``); level c's matrix SGD with its replicas in lanes against the generic one-replica
integrator (section ``levelc``); and on request a profile of validate() (section
``profile``).

Usage::

    python benchmarks/bench_validate.py [--runs 200] [--span 1200] [--out /tmp/bench-validate]
        [--sections workers stages pcd levelc baseline report profile]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numba
import numpy as np

from fpsolve.dbm._linalg import symmetric_eigenvalues
from fpsolve.fokker_planck._kernels import crank_nicolson_line
from fpsolve.sgd import GaussianRBM

TARGET = 0.2  # validate() / training


def timed(fn, repeat: int = 1):
    """Best of ``repeat`` wall-clock times and the last result."""
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


# --------------------------------------------------------------------------- baselines
def _stationary_refit(ev, pairs):
    """The stationary statistics with every leave-one-block-out sample refit."""
    from validation.analyses.stats import run_jackknife

    i, j = (np.array(v) for v in zip(*pairs, strict=True))

    def stat(d):
        flat = d.reshape(-1, d.shape[2])
        gap = flat[:, j] - flat[:, i]
        pooled = np.concatenate([flat[:, i], flat[:, j]], axis=0)
        u = pooled - pooled.mean(axis=0)
        u2, u4 = (u**2).mean(axis=0), (u**4).mean(axis=0)
        return np.concatenate([flat.mean(axis=0), flat.std(axis=0), gap.mean(axis=0),
                               (gap**2).mean(axis=0) / gap.mean(axis=0) ** 2,
                               u4 / (3.0 * u2**2) - 1.0])  # fmt: skip

    return run_jackknife(stat, ev)


def _one_point_refit(d):
    """The two-mode fit and Binder cumulant of one pair, every block refit."""
    from validation.analyses.pairs import _fit_two_mode
    from validation.analyses.stats import run_jackknife

    full = _fit_two_mode(d)
    fit = run_jackknife(lambda s: _fit_two_mode(s, start=full), d)
    binder = run_jackknife(lambda v: np.mean((v - v.mean()) ** 4) / (3.0 * np.var(v) ** 2) - 1.0, d)
    return fit, binder


@numba.njit(cache=True)
def _jacobi_full(a, out):
    """Cyclic Jacobi with full row and column updates (the matrix step used before)."""
    n = a.shape[0]
    for _ in range(100):
        off = 0.0
        scale = 0.0
        for p in range(n):
            scale += a[p, p] * a[p, p]
            for q in range(p + 1, n):
                off += a[p, q] * a[p, q]
        if off <= 1e-24 * scale:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                apq = a[p, q]
                if apq == 0.0:
                    continue
                theta = (a[q, q] - a[p, p]) / (2.0 * apq)
                t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                sn = t * c
                for r in range(n):
                    arp, arq = a[r, p], a[r, q]
                    a[r, p] = c * arp - sn * arq
                    a[r, q] = sn * arp + c * arq
                for r in range(n):
                    apr, aqr = a[p, r], a[q, r]
                    a[p, r] = c * apr - sn * aqr
                    a[q, r] = sn * apr + c * aqr
    for i in range(n):
        out[i] = a[i, i]
    out.sort()


@numba.njit(cache=True)
def _loop_jacobi(mats, out):
    a = np.empty_like(mats[0])
    for m in range(mats.shape[0]):
        a[:, :] = mats[m]
        _jacobi_full(a, out[m])


@numba.njit(cache=True)
def _loop_ql(mats, out):
    b = np.empty_like(mats[0])
    e = np.empty(mats.shape[1])
    for m in range(mats.shape[0]):
        symmetric_eigenvalues(mats[m], b, e, out[m])


@numba.njit(cache=True)
def _loop_eigvalsh(mats, out):
    for m in range(mats.shape[0]):
        out[m] = np.linalg.eigvalsh(mats[m])


def _per_matrix(old, new, mats):
    """Microseconds per matrix of the loops ``old`` and ``new`` over ``mats`` (best of 3,
    after compiling calls)."""
    out = np.empty(mats.shape[:2])
    old(mats[:2], out[:2])
    new(mats[:2], out[:2])
    t_old, _ = timed(lambda: old(mats, out), 3)
    t_new, _ = timed(lambda: new(mats, out), 3)
    return t_old * 1e6 / mats.shape[0], t_new * 1e6 / mats.shape[0]


def _matrix_steps(n_mats: int = 100_000, n: int = 10):
    """Matrices like the map's near-collision steps: the paper's targets with two
    near-degenerate pairs, off-diagonal kicks of 0.05."""
    gen = np.random.default_rng(0)
    d = np.array([0.3, 1.0, 2.0, 3.0, 4.0, 4.02, 5.0, 6.0, 7.0, 7.01])[:n]
    e = 0.05 * gen.normal(size=(n_mats, n, n))
    return np.ascontiguousarray(np.eye(n) * d + (e + np.swapaxes(e, 1, 2)) / 2)


@numba.njit(cache=True)
def _cn_refactor(rates, p, dt, n_steps, work):
    """Crank-Nicolson steps of a line, one kernel call per step: the tridiagonal matrix is
    factored in every step, as before (the same numbers)."""
    for _ in range(n_steps):
        crank_nicolson_line(rates, p, dt, 1, 0, work)


def _crank_nicolson(n: int = 2000, n_steps: int = 2000) -> tuple[float, float, bool]:
    """ns per cell and step of Crank-Nicolson on a line of ``n`` cells (the one-mode FPE
    curves of the dynamics): factored in every step against once per call."""
    from fpsolve.fokker_planck import _kernels as fk

    gen = np.random.default_rng(0)
    right, left = gen.uniform(0.5, 2.0, n - 1) * n, gen.uniform(0.5, 2.0, n - 1) * n
    p0 = gen.uniform(size=n)
    dt = 1e-4
    work = fk.line_work(n)
    rates = fk.LineRates(right, left)
    old, new = p0.copy(), p0.copy()
    _cn_refactor(rates, old, dt, 2, work)
    crank_nicolson_line(rates, new, dt, 2, 0, work)
    t_old, _ = timed(lambda: _cn_refactor(rates, old, dt, n_steps, work), 3)
    t_new, _ = timed(lambda: crank_nicolson_line(rates, new, dt, n_steps, 0, work), 3)
    return t_old * 1e9 / (n * n_steps), t_new * 1e9 / (n * n_steps), np.array_equal(old, new)


def _dynamics_statistics(rec) -> None:
    """The jackknife errors of the dynamics analysis and of the spacings: the refit of
    every leave-one-block-out sample against one pass over per-run sums, and the
    covariance of the estimates over snapshots (einsum against one matrix product per
    index); the escape slopes per sample against all samples at once."""
    from validation.analyses import dynamics as dyn
    from validation.analyses.compare import spacings
    from validation.analyses.stats import run_jackknife

    x = np.asarray(rec.eigenvalues)
    r = x.shape[0]

    def moments_refit():
        est = run_jackknife(lambda y: np.stack([y.mean(axis=0), y.std(axis=0, ddof=1)]), x)
        return np.asarray(est.value), np.asarray(est.error)

    def moments_sums():
        m, dm, w, dw = dyn._moments(x)
        return np.stack([m, w]), np.stack([dm, dw])

    def corr_einsum():
        d = x - x.mean(axis=0)
        return np.einsum("rsa,rta->sta", d, d) / ((r - 1) * r)

    sub = x[:, : min(40, x.shape[1]), -1]
    t = np.arange(sub.shape[1], dtype=np.float64)

    def slope_one(y):
        med = np.median(y, axis=0)
        return math.nan if np.any(med <= 0) else float(np.polyfit(t, np.log(med), 1)[0])

    pairs = [tuple(g) for g in rec.mode_groups() if len(g) == 2]
    idx = rec.steps >= rec.steps[-1] / 2
    s = np.stack([np.abs(x[:, idx, j] - x[:, idx, i]) for i, j in pairs], axis=-1)

    def spacings_refit():
        mean = run_jackknife(lambda d: d.mean(axis=(0, 1)), s)
        ratio = run_jackknife(lambda d: (d**2).mean(axis=(0, 1)) / d.mean(axis=(0, 1)) ** 2, s)
        return [mean.value, mean.error, ratio.value, ratio.error]

    def spacings_sums():
        sp = spacings(rec)
        return [sp.mean, sp.mean_error, sp.ratio, sp.ratio_error]

    rows = [
        ("dynamics mean and width, refit / one pass", moments_refit, moments_sums, 1e-8),
        ("covariance over snapshots, einsum / matmul", corr_einsum,
         lambda: dyn._corr_of_estimates(x, "mean"), 1e-12),
        ("escape slope, per sample / all at once",
         lambda: run_jackknife(slope_one, sub),
         lambda: run_jackknife(lambda y: dyn._log_median_slopes(y, t), sub, batched=True), 1e-9),
        ("spacings <S> and ratio, refit / one pass", spacings_refit, spacings_sums, 1e-9),
    ]  # fmt: skip
    for name, old, new, rtol in rows:
        t_old, a = timed(old, 3)
        t_new, b = timed(new, 3)
        same = all(np.allclose(p, q, rtol=0, atol=rtol * np.nanmax(np.abs(p)), equal_nan=True)
                   for p, q in zip(_flat(a), _flat(b), strict=True))  # fmt: skip
        print(f"  {name:<44s} {t_old:7.3f} s / {t_new:7.4f} s, ratio {t_old / t_new:6.1f} "
              f"(equal to {rtol:g} of the largest: {same})")  # fmt: skip


def _flat(v):
    """The arrays of an estimate, a tuple of arrays or an array, as a list."""
    if hasattr(v, "value"):
        return [np.asarray(v.value), np.asarray(v.error)]
    if isinstance(v, (tuple, list)):
        return [np.asarray(u) for u in v]
    return [np.asarray(v)]


# --------------------------------------------------------------------------- main
def main() -> None:
    from validation.analyses import compare, dynamics, predict
    from validation.analyses.levels import stationary_statistics
    from validation.analyses.pairs import _moment_estimates, _two_mode_estimate
    from validation.data.recording import read
    from validation.report.demo import demo_grid
    from validation.report.pipeline import validate
    from validation.training import rbm

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--span", type=float, default=1200.0)
    p.add_argument("--out", default="/tmp/bench-validate")
    sections = ["workers", "stages", "pcd", "levelc", "baseline", "report", "profile"]
    p.add_argument(
        "--sections",
        nargs="+",
        default=sections[:6],
        choices=sections,
        help="parts after training and validate() (default: all but profile)",
    )
    args = p.parse_args()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"{numba.get_num_threads()} threads"
    )
    grid = demo_grid(n_runs=args.runs, time_span=args.span)
    directory = os.path.join(args.out, "recordings")
    t_train, res = timed(lambda: rbm.sweep(grid, directory=directory, rng=1, progress=False,
                                           overwrite=True))  # fmt: skip
    recs = [read(path) for path in res.paths]
    rec = max(recs, key=lambda r: r.steps[-1])
    validate(recs[:1], rng=1, progress=False)  # every kernel compiled or loaded
    t_val, result = timed(lambda: validate(recs, rng=1, progress=False), 2)
    print(f"train the sweep ({len(recs)} settings x {args.runs} runs)  {t_train:8.1f} s")
    print(f"validate(), whole sweep (best of 2)           {t_val:8.1f} s")
    print(f"ratio validate / training = {t_val / t_train:.2f} (target <= {TARGET})")

    if "workers" in args.sections:
        _workers(recs)

    if "stages" in args.sections:
        stages = {
            "initial_spectrum": lambda: compare.initial_spectrum(rec, rng=1),
            "one_point": lambda: compare.one_point(rec),
            "spacings": lambda: compare.spacings(rec),
            "prediction, level c (matrix SGD)": lambda: predict.predict(
                rec, method="matrix", n_replicas=64, rng=1
            ),
            "dynamics (PCD map from the recorded starts)": lambda: dynamics.dynamics(rec, rng=1),
            "scaling (sweep)": lambda: compare.scaling(recs),
        }
        print(f"\nstages on the largest recording ({rec.attrs['alpha']}, "
              f"|B| = {rec.attrs['batch_size']}, {rec.steps[-1]} updates):")  # fmt: skip
        for name, fn in stages.items():
            print(f"  {name:<46s} {timed(fn)[0]:8.2f} s")

    if "pcd" in args.sections:
        _pcd_rate(next(r for r in recs if (r.attrs["alpha"], r.attrs["batch_size"]) == (0.1, 16)))

    if "levelc" in args.sections:
        _level_c_rate(rec)

    if "baseline" in args.sections:
        print("\nside by side (best of 3; ratio = before / now):")
        ev = np.asarray(rec.eigenvalues)[:, rec.steps >= rec.steps[-1] / 2, :]
        pairs = [tuple(g) for g in rec.mode_groups() if len(g) == 2]
        t_old, _ = timed(lambda: _stationary_refit(ev, pairs), 3)
        t_new, _ = timed(lambda: stationary_statistics(ev, pairs), 3)
        print(f"  stationary statistics, refit {t_old:7.3f} s, one pass {t_new:7.4f} s, "
              f"ratio {t_old / t_new:6.1f}")  # fmt: skip
        d = ev[:, :, list(pairs[0])]
        t_old, _ = timed(lambda: _one_point_refit(d), 3)
        t_new, _ = timed(lambda: (_two_mode_estimate(d), _moment_estimates(d)), 3)
        print(f"  one pair's fits, refit       {t_old:7.3f} s, one pass {t_new:7.4f} s, "
              f"ratio {t_old / t_new:6.1f}")  # fmt: skip
        n_rec = int(rec.steps[-1])
        t_old, old = timed(lambda: predict.predict(
            rec, method="matrix", n_replicas=64, burn_in=n_rec // 2, rng=1), 3)  # fmt: skip
        t_new, new = timed(lambda: predict.predict(rec, method="matrix", n_replicas=64, rng=1), 3)
        print(f"  level c, {old.params['n_steps']} steps (second half kept) {t_old:6.2f} s, "
              f"{new.params['n_steps']} steps (burn-in 10 tau = {new.params['burn_in']}) "
              f"{t_new:6.2f} s, ratio {t_old / t_new:4.2f}")  # fmt: skip
        _dynamics_statistics(rec)
        cn_old, cn_new, same = _crank_nicolson()
        print(f"  Crank-Nicolson line (2000 cells), factored every step {cn_old:5.2f} ns, once "
              f"{cn_new:5.2f} ns per cell-step, ratio {cn_old / cn_new:4.2f} (same numbers: "
              f"{same})")  # fmt: skip
        mats = _matrix_steps()
        t_old, t_new = _per_matrix(_loop_jacobi, _loop_ql, mats)
        print(f"  matrix step (10 x 10), Jacobi {t_old:5.2f} us, Householder + QL "
              f"{t_new:5.2f} us, ratio {t_old / t_new:4.2f}")  # fmt: skip
        # level c's snapshots: the spectrum of W^T W for W near the paper's fixed point
        w = GaussianRBM.lattice(10, m2=4.0, mu2=9.0).w_stable
        gen = np.random.default_rng(1)
        ws = w + 0.05 * gen.normal(size=(mats.shape[0] // 10, *w.shape))
        wtw = np.ascontiguousarray(np.swapaxes(ws, 1, 2) @ ws)
        t_old, t_new = _per_matrix(_loop_eigvalsh, _loop_ql, wtw)
        print(f"  level c snapshot (10 x 10 W^T W), np.linalg.eigvalsh {t_old:5.2f} us, "
              f"Householder + QL {t_new:5.2f} us, ratio {t_old / t_new:4.2f}")  # fmt: skip

    if "report" in args.sections:
        report = os.path.join(args.out, f"report-{os.getpid()}")
        t, _ = timed(lambda: result.write(report, progress=False))
        print(f"\nreport (figures, html, json)  {t:8.1f} s")

    if "profile" in args.sections:
        _profile(recs)


def _workers(recs) -> None:
    """validate() with its recordings one at a time against two at a time (the default on
    two threads or more), alternating, best of 2 each; CPU time of the process; the same
    numbers."""
    import tempfile

    from validation.report.pipeline import validate

    best, cpu, text = {1: math.inf, 2: math.inf}, {}, {}
    for _ in range(2):
        for w in (1, 2):
            c0, t0 = os.times(), time.perf_counter()
            res = validate(recs, rng=1, progress=False, workers=w)
            c1, t = os.times(), time.perf_counter() - t0
            if t < best[w]:
                best[w], cpu[w] = t, (c1.user - c0.user) + (c1.system - c0.system)
            with tempfile.TemporaryDirectory() as tmp:
                text[w] = res.write_json(os.path.join(tmp, "r.json")).read_text()
    print(f"\nvalidate(), recordings one at a time {best[1]:6.2f} s ({cpu[1]:.1f} s CPU), two at "
          f"a time {best[2]:6.2f} s ({cpu[2]:.1f} s CPU), ratio {best[1] / best[2]:.2f} "
          f"(same results.json: {text[1] == text[2]})")  # fmt: skip


def _pcd_rate(rec) -> None:
    """The PCD eigenvalue map as the dynamics analysis runs it: two replicas per run from the
    recorded starts, the recording's span (ns per replica-step, on numba's threads); side by
    side, the same kernel with one replica per chunk (the same numbers; its loops over the
    replicas are then one long) and with every near collision taken as a matrix (no 2 x 2
    pair steps)."""
    import functools

    from fpsolve.dbm import Record, integrators, simulate_sgd
    from fpsolve.models import PCDNoise
    from validation.data.setting import RBMSetting

    setting = RBMSetting.from_attrs(rec.attrs)
    x0 = np.tile(np.asarray(rec.eigenvalues)[:, 0, :], (2, 1))
    n_steps = int(rec.steps[-1])
    noise = PCDNoise(k=setting.k, n_v=setting.n_v)
    kw = {"alpha": setting.alpha, "batch_size": setting.batch_size, "x0": x0, "noise": noise,
          "n_replicas": len(x0), "rng": 1}  # fmt: skip
    modes = setting.modes(convention="training")
    coef, lanes = integrators._k.PCDCoef, integrators._k.PCD_LANES

    def run(steps, exact_pairs, chunk):
        integrators._k.PCDCoef = functools.partial(coef, exact_pairs=exact_pairs)
        integrators._k.PCD_LANES = chunk
        try:
            return simulate_sgd(modes, n_steps=steps, record=Record(snapshots=(0, steps),
                                statistics=False), **kw)  # fmt: skip
        finally:
            integrators._k.PCDCoef, integrators._k.PCD_LANES = coef, lanes

    print(f"\nPCD eigenvalue map (alpha = {setting.alpha}, |B| = {setting.batch_size}, "
          f"{len(x0)} replicas x {n_steps} steps, {numba.get_num_threads()} threads, "
          "best of 3):")  # fmt: skip
    per, out = {}, {}
    cases = {
        "lanes": (True, lanes, f"near pairs as 2 x 2 blocks, {lanes} replicas in lanes"),
        "one": (True, 1, "the same kernel, one replica per chunk"),
        "matrix": (False, lanes, "every near collision as a matrix, in lanes"),
    }
    for key, (exact_pairs, chunk, name) in cases.items():
        run(2, exact_pairs, chunk)
        t, out[key] = timed(lambda: run(n_steps, exact_pairs, chunk), 3)  # noqa: B023
        per[key] = 1e9 * t / (len(x0) * n_steps)
        m, q = (v / (len(x0) * n_steps) for v in (out[key].matrix_steps, out[key].pair_steps))
        print(f"  {name:<52s} {per[key]:5.0f} ns per replica-step; "
              f"{m:.1%} matrix steps, {q:.1%} pair steps")  # fmt: skip
    same = np.array_equal(out["lanes"].snapshots, out["one"].snapshots, equal_nan=True)
    print(
        f"  ratio one per chunk / lanes {per['one'] / per['lanes']:.2f} (same numbers: {same}); "
        f"matrix / 2 x 2 blocks {per['matrix'] / per['lanes']:.2f}"
    )


def _level_c_rate(rec) -> None:
    """Level c as validate() runs it (64 replicas, its window), its replicas in lanes against
    the generic integrator (one replica at a time, the kernel that any
    :class:`~fpsolve.sgd.SampledGradientModel` runs): ns per replica-step, the same numbers."""
    from fpsolve import _sgd_kernels as k
    from validation.analyses import predict

    default = k._DEFAULT
    generic = k.Integrator(integrate=k._integrate, check_start=k._check_start)

    def run(integ):
        k._DEFAULT = integ
        try:
            return predict.predict(rec, method="matrix", n_replicas=64, rng=1)
        finally:
            k._DEFAULT = default

    print(f"\nlevel c (matrix SGD), alpha = {rec.attrs['alpha']}, |B| = "
          f"{rec.attrs['batch_size']}, 64 replicas, {numba.get_num_threads()} threads, "
          "best of 3:")  # fmt: skip
    per, out = {}, {}
    names = {"lanes": f"{k.MATRIX_LANES} replicas in lanes", "generic": "one replica at a time"}
    for key, integ in (("lanes", default), ("generic", generic)):
        run(integ)
        t, out[key] = timed(lambda: run(integ), 3)  # noqa: B023
        per[key] = 1e9 * t / (64 * out[key].params["n_steps"])
        print(f"  {names[key]:<40s} {t:6.2f} s  {per[key]:6.0f} ns per replica-step")
    same = all(
        np.array_equal(getattr(out["lanes"], a), getattr(out["generic"], a))
        for a in ("mean_x", "std", "spacing", "spacing_ratio", "binder")
    )
    print(f"  ratio generic / lanes {per['generic'] / per['lanes']:.2f} (same numbers: {same})")


def _profile(recs) -> None:
    import cProfile
    import pstats

    from validation.report.pipeline import validate

    prof = cProfile.Profile()
    prof.runcall(lambda: validate(recs, rng=1, progress=False))
    print("\nprofile of validate() (cumulative, top 25):")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()

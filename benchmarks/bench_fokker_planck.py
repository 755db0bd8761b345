"""Benchmark: fpsolve.fokker_planck / fpsolve.hfp against fplanck and a dense/explicit baseline.

Run as a script::

    python benchmarks/bench_fokker_planck.py [--quick]

Cases: OU (Omega = 1, g2 = 0.5) and the RBM mode (kappa = 4, mu2 = 9, talk convention) with
g2 in {0.05, 0.5}.  For each case and grid size n (800 and 1e5 cells) it times the stationary
solve, the lowest five relaxation rates and the propagation of a Gaussian start to t = 2
(fpsolve: the default method, and Crank-Nicolson with Richardson over (n, 2n) at dt = 2e-3
and dt = 1e-2; ratios are against the dt = 1e-2 run), and
measures the errors at equal grid size against exact results (OU) or converged references
(RBM: analytic P_s of fpsolve.analytic; rates from fpsolve.hfp at 8000 intervals with
Richardson, which agrees with an unfactorised Schroedinger discretisation to 2e-9; P(x, 2)
from fpsolve's Crank-Nicolson with Richardson on (2e4, 4e4) cells and dt = 5e-4,
interpolated).  The peer is
fplanck (PyPI, 0.2.2) on the same cell-centred grid, with a numpy-2 shim (np.product); the
baseline builds the dense central-difference generator, solves its null space, calls
numpy.linalg.eigvals and steps explicit Euler at the stability limit.  Finally it reports the
cost of the two-mode solver against the grid size.

``--fpe-curves`` times the call pattern of validation.analyses.dynamics (the one-mode FPE
curves of every eigenvalue index of a recording): for each index the grid, a cloud-in-cell
start from sampled initial eigenvalues, hfp_spectrum(model, g2, 2) for the relaxation time
and evolve on 2000 cells at the snapshot times, side by side with the previous eigen route
(all eigenpairs of the rate matrix per call) on the same inputs, and prints the ratio and
the largest differences of the mean and width curves (at t = 0 the previous route rebuilt
P(0) from all eigenpairs, with its round-off amplified as described in evolve; the new one
returns P(0)).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import linalg

from fpsolve import fokker_planck as fp
from fpsolve.analytic import stationary_density
from fpsolve.hfp import hfp_spectrum
from fpsolve.models import HarmonicModel, Modes, RBMModel

if not hasattr(np, "product"):  # numpy-2 shim for fplanck 0.2.2
    setattr(np, "product", np.prod)  # noqa: B010

T_END = 2.0


def timed(f, *args, repeat=1, **kwargs):
    best = math.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return out, best


def cases():
    return [
        ("OU  Omega=1  g2=0.5", HarmonicModel(1.0), 0.5, 1.0),
        ("RBM kappa=4 mu2=9 g2=0.5", RBMModel(4.0, 9.0), 0.5, 3.0),
        ("RBM kappa=4 mu2=9 g2=0.05", RBMModel(4.0, 9.0), 0.05, 4.0),
    ]


def start(loc):
    return lambda x: np.exp(-0.5 * ((x - loc) / 0.3) ** 2)


def exact_ou(x, t, loc):
    m = loc * np.exp(-t)
    v = 0.09 * np.exp(-2 * t) + 0.5 * (1 - np.exp(-2 * t))
    return np.exp(-((x - m) ** 2) / (2 * v)) / np.sqrt(2 * np.pi * v)


class References:
    def __init__(self, model, g2, loc):
        self.model, self.g2, self.loc = model, g2, loc
        if isinstance(model, HarmonicModel):
            self.rates = model.omega * np.arange(1, 6)
            self.prop = None
        else:
            self.rates = hfp_spectrum(model, g2, 6, n_grid=8000, richardson=True).rates[1:]
            ev = fp.evolve(
                model, g2, start(loc), [T_END], n=20_000, method="cn", dt=5e-4, richardson=True
            )
            self.prop = (ev.x, ev.p[0])
        self.ps = stationary_density(model, g2)

    def stationary_error(self, x, p):
        return float(np.max(np.abs(p - self.ps.pdf(x))))

    def rate_error(self, rates):
        return float(np.max(np.abs(np.asarray(rates)[:5] - self.rates)))

    def prop_error(self, x, p):
        if self.prop is None:
            return float(np.max(np.abs(p - exact_ou(x, T_END, self.loc))))
        return float(np.max(np.abs(p - np.interp(x, *self.prop))))


# ---------------------------------------------------------------------------- peers
class FPlanck:
    """fplanck on fpsolve's cell-centred grid: kT = g2, drag = 1, U = V (beta U = V/g2)."""

    def __init__(self, model, g2, n):
        import fplanck
        from scipy import constants

        x = fp.grid(model, g2, n=n)
        h = x[1] - x[0]
        self.x, self.h = x, h
        shift = 0.5 * (x[0] + x[-1])
        self.sim = fplanck.fokker_planck(
            temperature=g2 / constants.k,
            drag=1.0,
            extent=n * h * (1 - 1e-9),
            resolution=h,
            potential=lambda y: model.potential(np.clip(y + shift, x[0], x[-1])),
            boundary=fplanck.boundary.reflecting,
        )
        assert self.sim.Ngrid[0] == n

    def stationary(self):
        return self.sim.steady_state() / self.h

    def rates(self):
        from scipy.sparse.linalg import eigs

        # shift-invert just below 0: the generator itself is singular
        vals = eigs(self.sim.master_matrix, k=6, sigma=-1e-3, which="LM", return_eigenvectors=False)
        return np.sort(-vals.real)[1:]

    def propagate(self, loc):
        shift = 0.5 * (self.x[0] + self.x[-1])
        return self.sim.propagate(lambda y: start(loc)(y + shift), T_END) / self.h


class Dense:
    """Plain baseline: dense central differences (flux form), explicit Euler in time."""

    def __init__(self, model, g2, n):
        x = fp.grid(model, g2, n=n)
        h = x[1] - x[0]
        self.x, self.h, self.g2 = x, h, g2
        kf = model.drift(0.5 * (x[:-1] + x[1:]))  # K at the faces
        a = np.zeros((n, n))
        for k in range(n - 1):  # flux J = K P - g2 dP/dx through face k+1/2, central
            cl = 0.5 * kf[k] + g2 / h
            cr = 0.5 * kf[k] - g2 / h
            a[k, k] -= cl / h
            a[k, k + 1] -= cr / h
            a[k + 1, k] += cl / h
            a[k + 1, k + 1] += cr / h
        self.a = a

    def stationary(self):
        p = linalg.null_space(self.a)[:, 0]
        return p / (np.sum(p) * self.h)

    def rates(self):
        lam = np.sort(-np.linalg.eigvals(self.a).real)
        return lam[1:6]

    def propagate(self, loc):
        dt = 0.9 / np.max(np.abs(np.diag(self.a))) / 2
        steps = math.ceil(T_END / dt)
        dt = T_END / steps
        p = start(loc)(self.x)
        p /= p.sum() * self.h
        step = np.eye(self.x.size) + dt * self.a
        for _ in range(steps):
            p = step @ p
        return p


def fpsolve_side(model, g2, n, loc):
    st, t_st = timed(fp.stationary, model, g2, n=n, repeat=3)
    rr, t_r = timed(fp.relaxation_rates, model, g2, 5, n=n, repeat=3)
    ev, t_p = timed(fp.evolve, model, g2, start(loc), [T_END], n=n, repeat=2)
    kw = {"method": "cn", "dt": 1e-2, "richardson": True}
    evr, t_pr = timed(fp.evolve, model, g2, start(loc), [T_END], n=n, repeat=2, **kw)
    kw["dt"] = 2e-3
    evf, t_pf = timed(fp.evolve, model, g2, start(loc), [T_END], n=n, repeat=1, **kw)
    return {
        "stationary": (st.x, st.p, t_st),
        "rates": (rr.rates, t_r),
        "prop": (ev.x, ev.p[0], t_p, ev.method),
        "prop_r": (evr.x, evr.p[0], t_pr),
        "prop_f": (evf.x, evf.p[0], t_pf),
    }


def row(name, what, err, t, ref_t=None):
    ratio = "" if ref_t is None or not np.isfinite(t) else f"{t / ref_t:10.1f}x (vs fpsolve)"
    e = "-" if err is None else f"{err:9.2e}"
    tt = "-" if t is None else f"{t:9.3g}s"
    print(f"  {name:<10} {what:<12} err {e:>9}  time {tt:>10} {ratio}")


def bench_case(label, model, g2, loc, ns, fplanck_prop_max):
    print(f"\n== {label}")
    ref = References(model, g2, loc)
    for n in ns:
        print(f" n = {n}")
        ours = fpsolve_side(model, g2, n, loc)
        x, p, t_st = ours["stationary"]
        row("fpsolve", "stationary", ref.stationary_error(x, p), t_st)
        rates, t_r = ours["rates"]
        row("fpsolve", "rates(5)", ref.rate_error(rates), t_r)
        x, p, t_p, method = ours["prop"]
        row("fpsolve", f"prop[{method}]", ref.prop_error(x, p), t_p)
        x, p, t_pf = ours["prop_f"]
        row("fpsolve", "prop[R,2e-3]", ref.prop_error(x, p), t_pf)
        x, p, t_pr = ours["prop_r"]
        row("fpsolve", "prop[R,1e-2]", ref.prop_error(x, p), t_pr)
        peer, t_build = timed(FPlanck, model, g2, n)
        row("fplanck", "build", None, t_build)
        ps, t = timed(peer.stationary)
        row("fplanck", "stationary", ref.stationary_error(peer.x, ps), t, t_st)
        pr, t = timed(peer.rates)
        row("fplanck", "rates(5)", ref.rate_error(pr), t, t_r)
        if n <= fplanck_prop_max:
            pp, t = timed(peer.propagate, loc)
            row("fplanck", "prop", ref.prop_error(peer.x, pp), t, t_pr)
        else:
            print("  fplanck    prop        not run (expm_multiply cost grows ~ n^3)")
        if n <= 1000:
            base, t_b = timed(Dense, model, g2, n)
            ds, t = timed(base.stationary)
            row("dense", "stationary", ref.stationary_error(base.x, ds), t + t_b, t_st)
            dr, t = timed(base.rates)
            row("dense", "rates(5)", ref.rate_error(dr), t + t_b, t_r)
            dp, t = timed(base.propagate, loc)
            row("dense", "prop[expl]", ref.prop_error(base.x, dp), t + t_b, t_pr)


def bench_two_modes(ns):
    print("\n== two-mode solver, degenerate harmonic pair (Omega = 1, g2 = 0.5), to t = 2")
    modes = Modes.harmonic([1.0, 1.0])

    def p0(a, b):
        return np.exp(-((a - 1.0) ** 2 + (b + 0.5) ** 2) / 0.2)

    fp.evolve_two_modes(modes, 0.5, p0, [0.1], n=20)  # compile
    for n in ns:
        _, t = timed(fp.evolve_two_modes, modes, 0.5, p0, [T_END], n=n, dt=0.01)
        steps = round(T_END / 0.01)
        print(
            f"  n = {n:4d} ({n * n:7d} nodes): {t:8.3f} s for {steps} ADI steps, "
            f"{1e9 * t / steps / n**2:6.1f} ns per node-step"
        )


# ---------------------------------------------------------------------------- FPE curves
def full_eigen_evolve(model, g2, p0, times, n):
    """The previous eigen route of evolve: all eigenpairs of the rate matrix, every call."""
    from scipy.special import logsumexp

    from fpsolve.fokker_planck.mesh import initial_values, make_grid, normalise

    g = make_grid(model, g2, n)
    vals = normalise(initial_values(p0, g.x, g.cut), g.h)
    m = g.rate_matrix()
    lam, u = linalg.eigh_tridiagonal(m.diag, m.off)
    lam[0] = 0.0
    sw = np.exp(0.5 * g.logw)
    c = u.T @ np.where(vals > 0, vals / sw, 0.0)
    ps = np.exp(g.logw - logsumexp(g.logw) - math.log(g.h))
    p = np.array([sw * (u @ (np.exp(-lam * t) * c)) if np.isfinite(t) else ps for t in times])
    mean = g.h * (p @ g.x) / (g.h * p.sum(axis=1))
    return mean, g.h * (p @ g.x**2) / (g.h * p.sum(axis=1)) - mean**2


def cloud_in_cell(values, x):
    h = x[1] - x[0]
    u = np.clip((values - x[0]) / h, 0.0, x.size - 1.0)
    i = np.minimum(np.floor(u).astype(np.int64), x.size - 2)
    w = np.zeros(x.size)
    np.add.at(w, i, 1.0 - (u - i))
    np.add.at(w, i + 1, u - i)
    return w / (values.size * h)


def fpe_curves(modes, g2, x0, t, n_grid, full):
    """Mean and width curves of every index, as validation.analyses.dynamics computes them."""
    mean = np.empty((t.size, len(modes)))
    width = np.empty_like(mean)
    for a, m in enumerate(modes):
        x = fp.grid(m, float(g2[a]), n=n_grid)
        p0 = cloud_in_cell(x0[:, a], x)
        tau = hfp_spectrum(m, float(g2[a]), 2).relaxation_time
        late = t > 30.0 * tau
        t_eval = np.append(t[~late], np.inf) if late.any() else t
        dt = 0.05 / max(abs(f.curvature) for f in m.fixed_points())
        ev = fp.evolve(m, float(g2[a]), p0, t_eval, n=n_grid, dt=dt)
        mu, var = ev.mean, ev.var
        if full and ev.method == "eigen":
            mu, var = full_eigen_evolve(m, float(g2[a]), p0, t_eval, n_grid)
        k = np.minimum(np.arange(t.size), t_eval.size - 1)
        mean[:, a], width[:, a] = mu[k], np.sqrt(np.maximum(var[k], 0.0))
    return mean, width


def bench_fpe_curves(n_grid, n_runs, settings):
    from fpsolve.models import lattice_scalar_spectrum, rbm_pcd_noise

    print(f"\n== FPE curves of a recording (validation.analyses.dynamics), {n_grid} cells")
    kappa = np.sort(lattice_scalar_spectrum(10, 4.0))[::-1]
    modes = Modes.rbm(kappa, 9.0, 1.0, convention="training")
    gt2 = rbm_pcd_noise(modes, k=3).gt2
    w = np.random.default_rng(1).normal(0.0, 0.1, (n_runs, 10, 10))
    x0 = np.linalg.eigvalsh(np.swapaxes(w, 1, 2) @ w)
    t = np.linspace(0.0, 1200.0, 61)
    fpe_curves(modes[:1], 0.1 * gt2 / 8, x0, t[:3], 50, False)  # compile the kernels
    for alpha, batch in settings:
        g2 = alpha * gt2 / batch
        (m_new, w_new), t_new = timed(fpe_curves, modes, g2, x0, t, n_grid, False)
        (m_old, w_old), t_old = timed(fpe_curves, modes, g2, x0, t, n_grid, True)
        d_mean = np.max(np.abs(m_new - m_old)[1:])
        d_width = np.max(np.abs(w_new - w_old)[1:])
        d_start = np.max(np.abs(w_new - w_old)[0])
        print(
            f"  alpha = {alpha:g}, |B| = {batch:2d}: previous {t_old:7.3f} s, now {t_new:7.3f} s, "
            f"ratio {t_old / t_new:5.1f}x; t > 0: max |d mean| {d_mean:.1e}, "
            f"max |d width| {d_width:.1e}; t = 0: max |d width| {d_start:.1e}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 800 only")
    parser.add_argument(
        "--fpe-curves", action="store_true", help="only the FPE curves of validation's dynamics"
    )
    parser.add_argument("--fpe-n", type=int, default=2000, help="cells of the FPE curves")
    parser.add_argument("--fpe-runs", type=int, default=200, help="runs of the FPE-curve start")
    args = parser.parse_args(argv)
    demo = [(0.1, 8), (0.1, 16), (0.1, 32), (0.05, 16)]
    if args.fpe_curves:
        bench_fpe_curves(args.fpe_n, args.fpe_runs, demo)
        return
    ns = [800] if args.quick else [800, 100_000]
    fp.evolve(HarmonicModel(1.0), 0.5, start(1.0), [0.1], n=50, method="cn")  # compile kernels
    for label, model, g2, loc in cases():
        bench_case(label, model, g2, loc, ns, fplanck_prop_max=3200)
    bench_two_modes([50, 100, 200, 400])
    bench_fpe_curves(args.fpe_n, args.fpe_runs, demo)


if __name__ == "__main__":
    main()

"""Spectral fits side by side with WeightWatcher and the powerlaw package.

Runs, on the same synthetic spectra in one process:

1. s2 of pure Marchenko-Pastur spectra (exact real-Wishart draws): accuracy and time
   of ``validation.analyses.spectra.fit_mp_bulk`` against WeightWatcher's MP fit
   (``RMT_Util.fit_density_with_range``, the routine behind ``mp_fit``);
2. bulk fraction A of MP + a rank-20 heavy tail (WeightWatcher's A is
   1 - num_spikes/N with its Tracy-Widom cut and fixed Q);
3. power-law exponents of Pareto samples (alpha = 2.5 and 4.5) against
   ``powerlaw.Fit`` and WeightWatcher's ``WWFit``;
4. pure MP noise: does each method claim a power law?

Usage: ``python benchmarks/bench_spectra.py [--quick]``.  Peers are optional
(``pip install weightwatcher powerlaw``); missing ones are skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import time
import warnings

import numpy as np

from fpsolve.analytic import sample_laguerre
from validation.analyses.spectra import fit_mp_bulk, fit_power_law, spectrum


def _timed(f, *a, **k):
    t = time.perf_counter()
    out = f(*a, **k)
    return out, time.perf_counter() - t


def _peers():
    peers = {}
    logging.disable(logging.CRITICAL)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            from weightwatcher import RMT_Util, WW_powerlaw

            peers["ww"] = (RMT_Util, WW_powerlaw)
        except Exception as exc:  # pragma: no cover - environment dependent
            print(f"weightwatcher unavailable: {exc}")
        try:
            import powerlaw

            peers["powerlaw"] = powerlaw
        except Exception as exc:  # pragma: no cover
            print(f"powerlaw unavailable: {exc}")
    return peers


def _ww_mp(rmt, evals, r, m):
    """WeightWatcher's MP fit: sigma^2 in units where x_+ = sigma^2 (1 + sqrt r)^2."""
    q = 1.0 / r
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        sigma, _ = rmt.fit_density_with_range(evals, q, bw=0.1)
    bulk_max = (sigma * (1 + 1 / math.sqrt(q))) ** 2
    tw = 1 / math.sqrt(q) * bulk_max ** (2 / 3) * m ** (-2 / 3)
    n_spikes = int(np.sum(evals > bulk_max + math.sqrt(tw)))
    return sigma**2 / m, 1.0 - n_spikes / len(evals)


def bench_mp(peers, reps, m=4000, n=1000):
    s2 = 1.0 / m
    print(f"\n[1] pure MP, M={m}, N={n}, s2={s2:.3g}, {reps} spectra")
    rows = {"ours (fit only)": [], "ours (+20 bootstrap errors)": [], "weightwatcher": []}
    for i in range(reps):
        x = sample_laguerre(m, n, 1, s2, 1, rng=100 + i)[0]
        f, t = _timed(fit_mp_bulk, x, m=m, n_bootstrap=0)
        rows["ours (fit only)"].append((f.s2 / s2 - 1, t))
        f, t = _timed(fit_mp_bulk, x, m=m, n_bootstrap=20, rng=i)
        rows["ours (+20 bootstrap errors)"].append((f.s2 / s2 - 1, t))
        if "ww" in peers:
            (s2w, _), t = _timed(_ww_mp, peers["ww"][0], x, n / m, m)
            rows["weightwatcher"].append((s2w / s2 - 1, t))
    return _report(rows, "s2 rel. error")


def _report(rows, what):
    out = {}
    for k, v in rows.items():
        if not v:
            continue
        e = np.array(v)
        out[k] = (np.sqrt(np.mean(e[:, 0] ** 2)), np.median(e[:, 1]))
        print(f"  {k:32s} rms {what} {out[k][0]:.2e}   median time {out[k][1] * 1e3:8.1f} ms")
    return out


def bench_rank_tail(peers, reps, m=2000, n=500, k=20):
    print(f"\n[2] MP + rank-{k} heavy tail, M={m}, N={n}: true bulk fraction {(n - k) / n:.3f}")
    rows = {"ours (r fitted)": [], "ours (r fixed = N/M)": [], "weightwatcher": []}
    true_a = (n - k) / n
    for i in range(reps):
        rng = np.random.default_rng(200 + i)
        w = rng.normal(0, 1 / math.sqrt(m), (m, n))
        u, _ = np.linalg.qr(rng.normal(size=(m, k)))
        v, _ = np.linalg.qr(rng.normal(size=(n, k)))
        w = w + (u * (3.0 * (1 + rng.pareto(2.0, k)))) @ v.T
        x = spectrum(w).eigenvalues
        f, t = _timed(fit_mp_bulk, x, m=m, n_bootstrap=0)
        rows["ours (r fitted)"].append((f.area - true_a, t, f.n_tail))
        f, t = _timed(fit_mp_bulk, x, m=m, r=n / m, n_bootstrap=0)
        rows["ours (r fixed = N/M)"].append((f.area - true_a, t, f.n_tail))
        if "ww" in peers:
            (_, a), t = _timed(_ww_mp, peers["ww"][0], x, n / m, m)
            rows["weightwatcher"].append((a - true_a, t, round((1 - a) * n)))
    out = {}
    for key, v in rows.items():
        if not v:
            continue
        e = np.array(v, dtype=float)
        exact = int(np.sum(e[:, 2] == k))
        out[key] = (np.sqrt(np.mean(e[:, 0] ** 2)), np.median(e[:, 1]), exact)
        print(
            f"  {key:32s} rms A error {out[key][0]:.2e}   tail count exact {exact}/{len(v)}"
            f"   median time {out[key][1] * 1e3:8.1f} ms"
        )
    return out


def _quiet(f, *a, **k):
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        return f(*a, **k)


def bench_power_law(peers, reps, n=2000):
    out = {}
    for alpha in (2.5, 4.5):
        print(f"\n[3] Pareto samples, alpha={alpha}, n={n}, {reps} samples")
        rows = {"ours": [], "powerlaw": [], "weightwatcher WWFit": []}
        for i in range(reps):
            rng = np.random.default_rng(300 + i)
            x = (1 - rng.random(n)) ** (-1 / (alpha - 1))
            f, t = _timed(fit_power_law, x, bulk=None, n_bootstrap=0)
            rows["ours"].append((f.candidate_alpha - alpha, t))
            if "powerlaw" in peers:
                pf, t = _timed(_quiet, peers["powerlaw"].Fit, x)
                rows["powerlaw"].append((pf.power_law.alpha - alpha, t))
            if "ww" in peers:
                wf, t = _timed(_quiet, peers["ww"][1].WWFit, x)
                rows["weightwatcher WWFit"].append((wf.alpha - alpha, t))
        out[alpha] = _report(rows, "alpha error")
    return out


def bench_noise(peers, reps, m=1000, n=250):
    print(f"\n[4] pure MP noise, M={m}, N={n}: is a power law claimed? ({reps} spectra)")
    claims = {"ours": 0, "powerlaw (alpha reported)": 0, "weightwatcher WWFit": 0}
    alphas = {k: [] for k in claims}
    for i in range(reps):
        x = sample_laguerre(m, n, 1, 1.0 / m, 1, rng=400 + i)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            f = fit_power_law(x, n_bootstrap=50, rng=i)
        claims["ours"] += f.power_law
        if "powerlaw" in peers:
            pf = _quiet(peers["powerlaw"].Fit, x)
            claims["powerlaw (alpha reported)"] += 1
            alphas["powerlaw (alpha reported)"].append(pf.power_law.alpha)
        if "ww" in peers:
            wf = _quiet(peers["ww"][1].WWFit, x)
            claims["weightwatcher WWFit"] += 1
            alphas["weightwatcher WWFit"].append(wf.alpha)
    for k, c in claims.items():
        extra = f"  alphas {np.round(alphas[k], 1).tolist()}" if alphas[k] else ""
        print(f"  {k:32s} power law claimed {c}/{reps}{extra}")
    return claims


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer replicates")
    args = p.parse_args(argv)
    reps = 3 if args.quick else 10
    peers = _peers()
    mp = bench_mp(peers, reps)
    if "weightwatcher" in mp:
        ours, ww = mp["ours (fit only)"], mp["weightwatcher"]
        print(
            f"  ratio time ww/ours (fit only) = {ww[1] / ours[1]:.0f}x, "
            f"ww/ours (+errors) = {ww[1] / mp['ours (+20 bootstrap errors)'][1]:.1f}x; "
            f"rms error ww/ours = {ww[0] / ours[0]:.1f}"
        )
    bench_rank_tail(peers, reps)
    bench_power_law(peers, reps)
    bench_noise(peers, reps)


if __name__ == "__main__":
    main()

"""Private numba kernels of the collision-safe scheme: steps redone with the pair term implicit.

A step of replica ``r`` that breaks the ordering of its eigenvalues, or starts from
neighbours closer than ``sqrt(STIFF * P)``, is redone with the same noise and the
pair term implicit inside each cluster of consecutive offending links (closed form
for two eigenvalues, damped Newton for more), the interactions with the rest
explicit; if the order is still broken, with every pair term implicit.
"""

from __future__ import annotations

import math

import numpy as np

from fpsolve.dbm._counters import FULL_SOLVES, REDO_FAILED, REDO_STEPS
from fpsolve.dbm._ordering import ordered, reflect_into
from fpsolve.dbm._pairs import link_scale, noise_at, pair_coef, pair_scale
from fpsolve.jit import jit

__all__ = ["STIFF", "implicit_pair_solve", "mark_links", "redo_marked"]

_kjit = jit(error_model="numpy")
_ijit = jit(error_model="numpy", inline="always")

STIFF = 4.0  # "safe" also redoes steps from states with a neighbour spacing d^2 < STIFF P


@_kjit
def implicit_pair_solve(y, z, prow, pbase, order, max_iter):
    """Solve ``z_i = y_i + prow_i sum_j pbase_ij / (z_i - z_j)`` keeping ``z[order]`` increasing.

    ``pbase`` is symmetric, so the solution minimises the convex function
    ``F(z) = sum_i (z_i - y_i)^2 / (2 prow_i) - sum_{i<j} pbase_ij log|z_i - z_j|`` on the
    ordering chamber of the start ``z``: Newton steps with backtracking (Armijo) that never
    leave the chamber.  Returns True on convergence.
    """
    n = y.shape[0]
    grad = np.empty(n)
    hess = np.empty((n, n))
    trial = np.empty(n)
    scale = 1.0
    for i in range(n):
        scale = max(scale, abs(y[i]), abs(z[i]))

    def objective(v):
        f = 0.0
        for i in range(n):
            f += (v[i] - y[i]) ** 2 / (2.0 * prow[i])
            for j in range(i + 1, n):
                if pbase[i, j] != 0.0:
                    f -= pbase[i, j] * math.log(abs(v[i] - v[j]))
        return f

    fz = objective(z)
    for _ in range(max_iter):
        for i in range(n):
            gi = (z[i] - y[i]) / prow[i]
            hii = 1.0 / prow[i]
            for j in range(n):
                if j != i:
                    d = z[i] - z[j]
                    gi -= pbase[i, j] / d
                    w = pbase[i, j] / (d * d)
                    hii += w
                    hess[i, j] = -w
            grad[i] = gi
            hess[i, i] = hii
        step = np.linalg.solve(hess, -grad)
        dec = 0.0  # Newton decrement squared
        smax = 0.0
        for i in range(n):
            dec -= grad[i] * step[i]
            smax = max(smax, abs(step[i]))
        # stop at steps of the size of z's rounding: near a stiff pair (small pbase, gap
        # ~1e-4) a step of 1e-14 still leaves a residual of 1e-10
        if smax <= 4.0 * 2.220446049250313e-16 * scale or dec <= 1e-30 * (1.0 + abs(fz)):
            break
        t = 1.0
        accepted = False
        for _ls in range(80):
            for i in range(n):
                trial[i] = z[i] + t * step[i]
            inside = True
            for k in range(n - 1):
                if not trial[order[k]] < trial[order[k + 1]]:
                    inside = False
                    break
            if inside:
                ft = objective(trial)
                # Armijo, with room for the rounding of F near the minimum
                if ft <= fz - 1e-4 * t * dec + 1e-13 * (1.0 + abs(fz)):
                    accepted = True
                    break
            t *= 0.5
        if not accepted:
            break
        for i in range(n):
            z[i] = trial[i]
        fz = ft
    worst = 0.0  # residual of the original equation decides
    for i in range(n):
        acc = 0.0
        for j in range(n):
            if j != i:
                acc += pbase[i, j] / (z[i] - z[j])
        worst = max(worst, abs(z[i] - y[i] - prow[i] * acc))
    return worst <= 1e-10 * scale


@_ijit
def mark_links(x, xn, r, perm, prc, pmat, g2, bad):
    """Mark the links ``k = (perm[k], perm[k+1])`` of replica ``r`` that the explicit step
    broke or that start stiff (into ``bad[:, r]``); returns whether any is marked."""
    any_bad = False
    for k in range(x.shape[0] - 1):
        a = perm[k, r]
        b = perm[k + 1, r]
        d = x[b, r] - x[a, r]
        p = max(pair_coef(prc, pmat, a, b), pair_coef(prc, pmat, b, a))
        p *= link_scale(g2, a, b, r)
        bad[k, r] = (not xn[a, r] < xn[b, r]) or d * d < STIFF * p
        any_bad = any_bad or bad[k, r]
    return any_bad


@_ijit
def _without_pairs(x, r, amp, prow, force, eta, gval, g2, y, sc, rs):
    """``y = x + dt K + amp g eta`` (the step without its pair term) of replica ``r``, the
    row factors ``sc`` of the pair term and the implicit weights ``rs = sc * prow``."""
    for i in range(x.shape[0]):
        g = noise_at(gval, i, r)
        y[i] = x[i, r] + force[i, r] + amp[i] * g * eta[i, r]
        sc[i] = pair_scale(g2, i, r)
        rs[i] = max(sc[i] * prow[i], 1e-300)


@_kjit
def _solve_all(x, xn, r, perm, co, tb, wk, counters):
    """Redo replica ``r`` with every pair term implicit (an eigenvalue jumped past more
    than its neighbour); results into ``xn``.  Rare: its arguments stay structured."""
    n = x.shape[0]
    prc, pmat, prow, z, order = co.prc, co.pmat, co.prow, wk.z, wk.order
    pb = np.zeros((n, n))
    for i in range(n):
        z[i] = x[i, r]
        order[i] = perm[i, r]
        for j in range(n):
            if j != i:
                pb[i, j] = pair_coef(prc, pmat, i, j) / prow[i]
    if not implicit_pair_solve(wk.y, z, wk.rs, pb, order, 200):
        counters[REDO_FAILED] += 1
    lo, hi, lok, hik = tb.lo, tb.hi, tb.lok, tb.hik
    for i in range(n):
        xn[i, r] = reflect_into(z[i], i, lo, hi, lok, hik, counters)


@_kjit
def redo_marked(x, xn, perm, todo, n_todo, co, tb, wk, counters):
    """The collision-safe correction of the replicas ``todo[:n_todo]`` of the explicit step
    ``xn`` of ``x``, whose offending links :func:`mark_links` has marked.

    The marked links of a replica form clusters of consecutive eigenvalues; inside each
    the pair term is redone implicitly with the same noise and the interactions with
    the rest explicit (closed form for two eigenvalues, :func:`implicit_pair_solve` for
    more).  If the order is still broken, the whole replica (:func:`_solve_all`).
    Called once per step (the fields of the structured arguments are read once).
    """
    n = x.shape[0]
    amp, prow, prc, pmat = co.amp, co.prow, co.prc, co.pmat
    lo, hi, lok, hik = tb.lo, tb.hi, tb.lok, tb.hik
    force, eta, gval, g2, bad = wk.force, wk.eta, wk.gval, wk.g2, wk.bad
    y, sc, rs, cy, cz, crs, corder = wk.y, wk.sc, wk.rs, wk.cy, wk.cz, wk.crs, wk.corder
    cpc_all, cpb_all = wk.cpc, wk.cpb
    for t in range(n_todo):
        r = todo[t]
        counters[REDO_STEPS] += 1
        _without_pairs(x, r, amp, prow, force, eta, gval, g2, y, sc, rs)
        finite = True
        for i in range(n):
            finite = finite and y[i] - y[i] == 0.0
        if not finite:  # the drift or the noise diverged: no solve, the caller sees NaN
            for i in range(n):
                xn[i, r] = math.nan
            continue
        k = 0
        while k < n - 1:
            if not bad[k, r]:
                k += 1
                continue
            k0 = k
            while k < n - 1 and bad[k, r]:
                k += 1
            m = k - k0 + 1  # cluster perm[k0 .. k], pair term implicit inside it
            cpc = cpc_all[:m, :m]  # only the off-diagonal entries are written and read
            cpb = cpb_all[:m, :m]
            for u in range(m):
                i = perm[k0 + u, r]
                acc = 0.0
                for j in range(n):
                    if j != i:
                        acc += sc[i] * pair_coef(prc, pmat, i, j) / (x[i, r] - x[j, r])
                for v in range(m):
                    j = perm[k0 + v, r]
                    if j != i:
                        acc -= sc[i] * pair_coef(prc, pmat, i, j) / (x[i, r] - x[j, r])
                cy[u] = y[i] + acc
                cz[u] = x[i, r]
                corder[u] = u
                crs[u] = rs[i]
                for v in range(m):
                    if v != u:
                        pij = pair_coef(prc, pmat, i, perm[k0 + v, r])
                        cpc[u, v] = sc[i] * pij
                        cpb[u, v] = pij / prow[i]
            if m == 2:
                p01 = cpc[0, 1]
                p10 = cpc[1, 0]
                dy = cy[1] - cy[0]
                dd = 0.5 * (dy + math.sqrt(dy * dy + 4.0 * (p01 + p10)))
                cz[0] = cy[0] - p01 / dd
                cz[1] = cy[1] + p10 / dd
            elif not implicit_pair_solve(cy[:m], cz[:m], crs[:m], cpb, corder[:m], 200):
                counters[REDO_FAILED] += 1
            for u in range(m):
                i = perm[k0 + u, r]
                xn[i, r] = reflect_into(cz[u], i, lo, hi, lok, hik, counters)
        if not ordered(xn, perm, r, n):
            counters[FULL_SOLVES] += 1
            _solve_all(x, xn, r, perm, co, tb, wk, counters)

"""Private numba kernels of :mod:`fpsolve.dbm`: plain arrays in, preallocated arrays filled.

Layout: one chunk of ``C`` replicas is an ``(N, C)`` C-contiguous array (replicas
innermost, so the pair sum vectorises over replicas).  Each chunk owns one
``numpy.random.Generator`` and is advanced by one sequential kernel call; chunks
run on a thread pool (the kernels release the GIL).  A chunk's output therefore
depends only on its own generator, never on the number of threads.

Per-mode models enter through ``_drift(i, x, kind, par)``, ``_potential(i, x, kind,
par)`` and ``_noise(i, x, nkind)``.  The versions here cover harmonic and RBM modes
by their parameters (``kind`` 0 and 1; ``par`` rows ``(omega, center, 0, 0)`` and
``(c, kappa, mu2, sigma_h2)``); :func:`build_kernels` recompiles the same kernels
against generated dispatchers over user models' ``numba_drift`` callables.
"""

from __future__ import annotations

import math
import types

import numba
import numpy as np

from fpsolve.jit import jit, pjit

__all__ = ["build_kernels", "default_kernels"]

# counters[] slots
CROSS_STEPS = 0  # (replica, step) events whose step broke the ordering
PAIR_CROSSINGS = 1  # neighbour transpositions needed to restore the order (EM only)
REDO_STEPS = 2  # steps redone semi-implicitly ("safe" scheme)
REDO_FAILED = 3  # semi-implicit solves that did not converge (kept the best iterate)
BOUNDARY_HITS = 4  # reflections at a reflecting or wall end of a model's domain
N_RECORDED = 5  # steps that entered the statistics (per chunk)
FULL_SOLVES = 6  # redone steps that needed all pair terms implicit
N_COUNTERS = 7

STIFF = 4.0  # "safe" also redoes steps from states with a neighbour spacing d^2 < STIFF dt G

# IEEE division (x/0 = inf) instead of Python's ZeroDivisionError check: lets LLVM
# vectorise the pair sum (about 2x faster); a collision then shows up as inf, never silently.
_kjit = jit(error_model="numpy")

# rows per block of the blocked pair sum of one large system (see _pair_rows_blocked)
PAIR_BLOCKS = 16
PAIR_BLOCKS_MIN_N = 512


def pair_blocks(n: int) -> np.ndarray:
    """Row bounds of the ``PAIR_BLOCKS`` blocks of the blocked pair sum (equal pair counts).

    Block ``b`` holds rows ``bounds[b] <= i < bounds[b + 1]``; row ``i`` carries the
    ``n - 1 - i`` pairs ``(i, j > i)``.  The bounds depend on ``n`` only, never on the
    number of threads.
    """
    done = np.cumsum(np.arange(n - 1, -1, -1, dtype=np.float64))  # pairs in rows <= i
    total = done[-1]
    inner = np.searchsorted(done, total * np.arange(1, PAIR_BLOCKS) / PAIR_BLOCKS) + 1
    return np.concatenate([[0], inner, [n]]).astype(np.int64)


@_kjit
def _pair_rows(xc, prc, pcoef, rowconst, pt, i0, i1):
    """Add the pairs ``(i, j > i)`` of rows ``i0 <= i < i1`` of one system to ``pt``.

    ``pt[i] += sum_{j > i} P_ij / (x_i - x_j)`` and ``pt[j] -= P_ji / (x_i - x_j)``, with
    ``P_ij = prc[i]`` if ``rowconst`` else ``pcoef[i, j]``.  Each row is summed in four
    interleaved partial sums (one pass that LLVM packs into one vector).
    """
    n = xc.shape[0]
    for i in range(i0, i1):
        xi = xc[i]
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        j = i + 1
        if rowconst:  # pcoef[i, j] = prc[i]: contiguous access only
            while j + 3 < n:
                v0 = 1.0 / (xi - xc[j])
                v1 = 1.0 / (xi - xc[j + 1])
                v2 = 1.0 / (xi - xc[j + 2])
                v3 = 1.0 / (xi - xc[j + 3])
                pt[j] -= prc[j] * v0
                pt[j + 1] -= prc[j + 1] * v1
                pt[j + 2] -= prc[j + 2] * v2
                pt[j + 3] -= prc[j + 3] * v3
                a0 += v0
                a1 += v1
                a2 += v2
                a3 += v3
                j += 4
            while j < n:
                v0 = 1.0 / (xi - xc[j])
                pt[j] -= prc[j] * v0
                a0 += v0
                j += 1
            pt[i] += prc[i] * ((a0 + a1) + (a2 + a3))
        else:
            while j < n:
                v0 = 1.0 / (xi - xc[j])
                pt[j] -= pcoef[j, i] * v0
                a0 += pcoef[i, j] * v0
                j += 1
            pt[i] += a0


@pjit(error_model="numpy")
def _pair_rows_blocked(xc, prc, pcoef, rowconst, out, partial, bounds):
    """``out[i] = sum_{j != i} P_ij / (x_i - x_j)`` for one system, on all threads.

    The rows are split into the fixed blocks ``bounds`` (:func:`pair_blocks`); block
    ``b`` sums its pairs into ``partial[b]`` (:func:`_pair_rows`) and the blocks are
    added in block order, so the result does not depend on the number of threads.
    """
    n = xc.shape[0]
    nb = bounds.shape[0] - 1
    for blk in numba.prange(nb):
        pt = partial[blk]
        pt[:] = 0.0
        _pair_rows(xc, prc, pcoef, rowconst, pt, bounds[blk], bounds[blk + 1])
    for q in numba.prange(n):
        acc = 0.0
        for blk in range(nb):
            acc += partial[blk, q]
        out[q] = acc


# boundary kinds
_NATURAL, _REFLECTING, _WALL = 0, 1, 2


@_kjit
def _rbm_drift(x, c, kappa, mu2, s):
    """Drift of one RBM mode, ``c x (1/kappa - 1/(mu2 - s x))`` (see ``RBMModel``)."""
    return c * x * (1.0 / kappa - 1.0 / (mu2 - s * x))


@_kjit
def _pcd_coupling(x, mu2, s, k, g, factor):
    """PCD noise coupling ``Gt_ab`` at eigenvalues ``x`` into ``g`` (see ``rbm_pcd_noise``).

    ``Gt_ab = a_a a_b f_ab`` with ``a = 2 s x/(mu2 - s x)`` and the chain factor
    ``f_ab = (1 + c)/(1 - c)``, ``c = (s x_a/mu2 * s x_b/mu2)^k`` (``f = 1`` for ``k = 0``),
    written into ``factor``.
    """
    n = x.shape[0]
    for i in range(n):
        ai = 2.0 * s * x[i] / (mu2 - s * x[i])
        ri = s * x[i] / mu2
        for j in range(i, n):
            f = 1.0
            if k > 0:
                c = (ri * s * x[j] / mu2) ** k
                f = (1.0 + c) / (1.0 - c)
            gij = ai * 2.0 * s * x[j] / (mu2 - s * x[j]) * f
            g[i, j] = gij
            g[j, i] = gij
            factor[i, j] = f
            factor[j, i] = f


@_kjit
def _drift(i, x, kind, par):
    if kind[i] == 0:
        return -par[i, 0] * (x - par[i, 1])
    return _rbm_drift(x, par[i, 0], par[i, 1], par[i, 2], par[i, 3])


@_kjit
def _potential(i, x, kind, par):
    if kind[i] == 0:
        return 0.5 * par[i, 0] * (x - par[i, 1]) ** 2
    c, kappa, mu2, s = par[i, 0], par[i, 1], par[i, 2], par[i, 3]
    arg = mu2 - s * x
    if arg <= 0.0:
        return math.inf
    return c * (-(x * x) / (2.0 * kappa) - x / s - (mu2 / (s * s)) * math.log(arg))


@_kjit
def _noise(i, x, nkind):
    return 1.0


# ---------------------------------------------------------------------------
# helpers shared by every kernel (no model calls inside)
# ---------------------------------------------------------------------------
@_kjit
def _reflect(v, lo, hi, lok, hik):
    """Reflect ``v`` back into ``[lo, hi]`` at a reflecting or wall end; returns (v, hit)."""
    hit = False
    for _ in range(4):
        if lok != _NATURAL and v < lo:
            v = 2.0 * lo - v
            hit = True
        elif hik != _NATURAL and v > hi:
            v = 2.0 * hi - v
            hit = True
        else:
            break
    if hik == _WALL and v >= hi:
        v = 0.5 * (lo + hi) if lok != _NATURAL else hi - 1e-12 * (1.0 + abs(hi))
    if lok == _WALL and v <= lo:
        v = 0.5 * (lo + hi) if hik != _NATURAL else lo + 1e-12 * (1.0 + abs(lo))
    return v, hit


@_kjit
def _pco(pcoef, prow, i, j):
    """Pair coefficient ``P_ij``: ``pcoef`` is (n, n), or (1, 1) holding ``c`` with
    ``P_ij = prow_i c``."""
    if pcoef.shape[0] == 1:
        return prow[i] * pcoef[0, 0]
    return pcoef[i, j]


@_kjit
def _ordered(xn, perm, r, n):
    ok = True
    for k in range(n - 1):
        if not xn[perm[k, r], r] < xn[perm[k + 1, r], r]:
            ok = False
            break
    return ok


@_kjit
def _resort(xn, perm, r, n):
    """Insertion sort of ``perm[:, r]`` by ``xn[:, r]``; returns the number of transpositions."""
    swaps = 0
    for k in range(1, n):
        p = perm[k, r]
        v = xn[p, r]
        m = k - 1
        while m >= 0 and xn[perm[m, r], r] > v:
            perm[m + 1, r] = perm[m, r]
            m -= 1
            swaps += 1
        perm[m + 1, r] = p
    return swaps


@_kjit
def _is_identity(perm, r, n):
    """Whether replica ``r`` holds its modes in index order (``perm[k, r] == k``)."""
    for k in range(n):  # noqa: SIM110 (a loop: numba compiles no generator expressions)
        if perm[k, r] != k:
            return False
    return True


@_kjit
def _implicit_pair_solve(y, z, prow, pbase, order, max_iter):
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
        if smax <= 1e-14 * scale or dec <= 1e-30 * (1.0 + abs(fz)):
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


@_kjit
def record_state(
    x,
    step,
    rec_start,
    rec_every,
    ref,
    mom,
    hist_lo,
    hist_w,
    hist,
    under,
    over,
    group_of,
    members,
    sp_w,
    sp_hist,
    sp_over,
    buf,
):
    """Add the state ``x`` (N, C) to the running moments and histograms if ``step`` records.

    Returns 1 if the state was recorded, else 0.
    """
    if step < rec_start or (step - rec_start) % rec_every != 0:
        return 0
    n, c = x.shape
    nb = hist.shape[1]
    for i in range(n):
        g = group_of[i]
        lo = hist_lo[g]
        w = hist_w[g]
        xr = ref[i]
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        s4 = 0.0
        for r in range(c):
            v = x[i, r]
            u = v - xr
            u2 = u * u
            s1 += u
            s2 += u2
            s3 += u2 * u
            s4 += u2 * u2
            b = math.floor((v - lo) / w)
            if b < 0:
                under[i] += 1
            elif b >= nb:
                over[i] += 1
            else:
                hist[i, int(b)] += 1
        mom[i, 0] += s1
        mom[i, 1] += s2
        mom[i, 2] += s3
        mom[i, 3] += s4
    nsb = sp_hist.shape[1]
    for g in range(members.shape[0]):
        m = 0
        while m < members.shape[1] and members[g, m] >= 0:
            m += 1
        if m < 2:
            continue
        w = sp_w[g]
        for r in range(c):
            for a in range(m):
                v = x[members[g, a], r]
                k = a - 1
                while k >= 0 and buf[k] > v:
                    buf[k + 1] = buf[k]
                    k -= 1
                buf[k + 1] = v
            for a in range(m - 1):
                b = math.floor((buf[a + 1] - buf[a]) / w)
                if b >= nsb:
                    sp_over[g] += 1
                else:
                    sp_hist[g, int(b)] += 1
    return 1


@_kjit
def _snapshot(x, step, snap_steps, snaps, pos):
    while pos < snap_steps.shape[0] and snap_steps[pos] == step:
        snaps[pos, :, :] = x
        pos += 1
    return pos


# ---------------------------------------------------------------------------
# kernels that call the models (rebound by build_kernels for user models)
# ---------------------------------------------------------------------------
@_kjit
def _sde_chunk(
    x,
    perm,
    n_steps,
    step0,
    dt,
    pcoef,
    prow,
    amp,
    noise_mode,
    kind,
    par,
    nkind,
    lo,
    hi,
    lok,
    hik,
    safe,
    gen,
    rec_start,
    rec_every,
    ref,
    mom,
    hist_lo,
    hist_w,
    hist,
    under,
    over,
    group_of,
    members,
    sp_w,
    sp_hist,
    sp_over,
    snap_steps,
    snaps,
    snap_pos,
    counters,
    cross_r,
    bounds,
):
    r"""Advance one chunk ``x`` (N, C) by ``n_steps`` steps of (``P_ij = prow_i B_ij`` with
    ``B`` symmetric; ``pcoef`` is ``P`` (n, n) or ``[[c]]`` for ``B_ij = c``, see ``_pco``)

    x_i' = x_i + dt K_i(x_i) + s_i(x) sum_{j != i} P_ij / (x_i - x_j) + amp_i g_i(x_i) eta_i,

    with ``s_i = g_i(x_i)^2`` if ``noise_mode == 1`` else 1 and ``g_i = 1`` if
    ``noise_mode == 0``.  ``safe``: neighbour links (in the order ``perm``) that the
    step breaks, or that start closer than ``sqrt(STIFF dt G)``, form clusters of
    consecutive eigenvalues; inside each cluster the pair term is redone implicitly
    (closed form for two, Newton for more) with the same noise and the interactions
    with the rest explicit.  If the order is still broken, all pair terms are implicit.
    With fewer than 8 replicas the pair sum runs per replica over the modes; if
    ``bounds`` holds more than one block (:func:`pair_blocks`), it is the blocked
    pair sum on all threads (one large system).  Returns the next snapshot index.
    """
    n, c = x.shape
    force = np.empty((n, c))
    psum = np.empty((n, c))
    eta = np.empty((n, c))
    gval = np.ones((n, c))
    xn = np.empty((n, c))
    buf = np.empty(n)
    y = np.empty(n)
    z = np.empty(n)
    order = np.empty(n, dtype=np.int64)
    bad = np.zeros(max(n - 1, 1), dtype=np.bool_)
    cy = np.empty(n)
    cz = np.empty(n)
    rs = np.empty(n)
    sc = np.ones(n)
    crs = np.empty(n)
    corder = np.empty(n, dtype=np.int64)
    few = 1 if c < 8 else 0
    prc = np.empty(n)  # pcoef rows, when each row is constant off the diagonal
    rowconst = True
    for i in range(n):
        prc[i] = _pco(pcoef, prow, i, 1 if i == 0 and n > 1 else 0)
        if pcoef.shape[0] > 1:
            for j in range(n):
                if j != i and pcoef[i, j] != prc[i]:
                    rowconst = False
    xcol = np.empty((c * few, n))  # replica-major copy of x for the few-replica pair sum
    psum_t = np.zeros((c * few, n))
    blocked = few == 1 and bounds.shape[0] > 2
    partial = np.empty((bounds.shape[0] - 1 if blocked else 0, n))
    bounded = False
    for i in range(n):
        bounded = bounded or lok[i] != _NATURAL or hik[i] != _NATURAL
    # replicas in identity order whose links are all sound skip the per-replica checks
    prepass = c >= 8 and not bounded and n >= 2
    ident = np.zeros(c if prepass else 0, dtype=np.uint8)
    quiet = np.zeros(c if prepass else 0, dtype=np.uint8)
    plink = np.empty(max(n - 1, 0))
    for k in range(n - 1):
        plink[k] = max(_pco(pcoef, prow, k, k + 1), _pco(pcoef, prow, k + 1, k))
    for r in range(ident.shape[0]):
        ident[r] = _is_identity(perm, r, n)
    for s in range(n_steps):
        step = step0 + s + 1
        if few:
            for i in range(n):
                for r in range(c):
                    xcol[r, i] = x[i, r]
        # explicit drift, pair sum and noise from the current state
        for i in range(n):
            for r in range(c):
                force[i, r] = dt * _drift(i, x[i, r], kind, par)
                psum[i, r] = 0.0
        if noise_mode != 0:
            for i in range(n):
                for r in range(c):
                    gval[i, r] = _noise(i, x[i, r], nkind)
        if c >= 8:  # vectorise over replicas
            for i in range(n):
                for j in range(i + 1, n):
                    pij = _pco(pcoef, prow, i, j)
                    pji = _pco(pcoef, prow, j, i)
                    for r in range(c):
                        inv = 1.0 / (x[i, r] - x[j, r])
                        psum[i, r] += pij * inv
                        psum[j, r] -= pji * inv
        elif blocked:  # one large system: blocks of rows on all threads
            for r in range(c):
                _pair_rows_blocked(xcol[r], prc, pcoef, rowconst, psum_t[r], partial, bounds)
                for i in range(n):
                    psum[i, r] = psum_t[r, i]
        else:  # few replicas: vectorise over modes
            for r in range(c):
                _pair_rows(xcol[r], prc, pcoef, rowconst, psum_t[r], 0, n)
                for i in range(n):
                    psum[i, r] = psum_t[r, i]
                    psum_t[r, i] = 0.0
        for i in range(n):
            for r in range(c):
                eta[i, r] = gen.standard_normal()
        for i in range(n):
            a = amp[i]
            if noise_mode == 1:
                for r in range(c):
                    g = gval[i, r]
                    xn[i, r] = x[i, r] + force[i, r] + g * g * psum[i, r] + a * g * eta[i, r]
            elif noise_mode == 2:
                for r in range(c):
                    xn[i, r] = x[i, r] + force[i, r] + psum[i, r] + a * gval[i, r] * eta[i, r]
            else:
                for r in range(c):
                    xn[i, r] = x[i, r] + force[i, r] + psum[i, r] + a * eta[i, r]
        # domain ends, ordering
        if prepass:
            for r in range(c):
                quiet[r] = ident[r]
            for k in range(n - 1):
                pk = plink[k]
                for r in range(c):
                    # the test of the per-replica loop below, written out for the hot loop
                    ok = xn[k, r] < xn[k + 1, r]
                    if safe:
                        d = x[k + 1, r] - x[k, r]
                        p = pk
                        if noise_mode == 1:
                            p *= max(gval[k, r] * gval[k, r], gval[k + 1, r] * gval[k + 1, r])
                        ok = ok and not d * d < STIFF * p
                    if not ok:
                        quiet[r] = 0
        for r in range(c):
            if prepass and quiet[r]:
                continue
            if bounded:
                for i in range(n):
                    if lok[i] != _NATURAL or hik[i] != _NATURAL:
                        v, hit = _reflect(xn[i, r], lo[i], hi[i], lok[i], hik[i])
                        if hit:
                            counters[BOUNDARY_HITS] += 1
                        xn[i, r] = v
            if n < 2:
                continue
            broken = not _ordered(xn, perm, r, n)
            if broken:
                counters[CROSS_STEPS] += 1
                cross_r[r] += 1
            if not safe:
                if broken:
                    counters[PAIR_CROSSINGS] += _resort(xn, perm, r, n)
                    if prepass:
                        ident[r] = _is_identity(perm, r, n)
                continue
            # links k = (perm[k], perm[k+1]) that broke or start stiff
            any_bad = False
            for k in range(n - 1):
                a = perm[k, r]
                b = perm[k + 1, r]
                d = x[b, r] - x[a, r]
                p = max(_pco(pcoef, prow, a, b), _pco(pcoef, prow, b, a))
                if noise_mode == 1:
                    p *= max(gval[a, r] * gval[a, r], gval[b, r] * gval[b, r])
                bad[k] = (not xn[a, r] < xn[b, r]) or d * d < STIFF * p
                any_bad = any_bad or bad[k]
            if not any_bad:
                continue
            counters[REDO_STEPS] += 1
            for i in range(n):
                g = gval[i, r]
                y[i] = x[i, r] + force[i, r] + amp[i] * g * eta[i, r]
                sc[i] = g * g if noise_mode == 1 else 1.0
                rs[i] = max(sc[i] * prow[i], 1e-300)
            k = 0
            while k < n - 1:
                if not bad[k]:
                    k += 1
                    continue
                k0 = k
                while k < n - 1 and bad[k]:
                    k += 1
                m = k - k0 + 1  # cluster perm[k0 .. k], pair term implicit inside it
                cpc = np.zeros((m, m))
                cpb = np.zeros((m, m))
                for u in range(m):
                    i = perm[k0 + u, r]
                    acc = 0.0
                    for j in range(n):
                        if j != i:
                            acc += sc[i] * _pco(pcoef, prow, i, j) / (x[i, r] - x[j, r])
                    for v in range(m):
                        j = perm[k0 + v, r]
                        if j != i:
                            acc -= sc[i] * _pco(pcoef, prow, i, j) / (x[i, r] - x[j, r])
                    cy[u] = y[i] + acc
                    cz[u] = x[i, r]
                    corder[u] = u
                    crs[u] = rs[i]
                    for v in range(m):
                        if v != u:
                            pij = _pco(pcoef, prow, i, perm[k0 + v, r])
                            cpc[u, v] = sc[i] * pij
                            cpb[u, v] = pij / prow[i]
                if m == 2:
                    p01 = cpc[0, 1]
                    p10 = cpc[1, 0]
                    dy = cy[1] - cy[0]
                    dd = 0.5 * (dy + math.sqrt(dy * dy + 4.0 * (p01 + p10)))
                    cz[0] = cy[0] - p01 / dd
                    cz[1] = cy[1] + p10 / dd
                elif not _implicit_pair_solve(cy[:m], cz[:m], crs[:m], cpb, corder[:m], 200):
                    counters[REDO_FAILED] += 1
                for u in range(m):
                    i = perm[k0 + u, r]
                    v, hit = _reflect(cz[u], lo[i], hi[i], lok[i], hik[i])
                    if hit:
                        counters[BOUNDARY_HITS] += 1
                    xn[i, r] = v
            if not _ordered(xn, perm, r, n):
                # a jump past a neighbour's neighbour: all pair terms implicit
                counters[FULL_SOLVES] += 1
                pb = np.zeros((n, n))
                for i in range(n):
                    z[i] = x[i, r]
                    order[i] = perm[i, r]
                    for j in range(n):
                        if j != i:
                            pb[i, j] = _pco(pcoef, prow, i, j) / prow[i]
                if not _implicit_pair_solve(y, z, rs, pb, order, 200):
                    counters[REDO_FAILED] += 1
                for i in range(n):
                    v, hit = _reflect(z[i], lo[i], hi[i], lok[i], hik[i])
                    if hit:
                        counters[BOUNDARY_HITS] += 1
                    xn[i, r] = v
        for i in range(n):
            for r in range(c):
                x[i, r] = xn[i, r]
        counters[N_RECORDED] += record_state(
            x,
            step,
            rec_start,
            rec_every,
            ref,
            mom,
            hist_lo,
            hist_w,
            hist,
            under,
            over,
            group_of,
            members,
            sp_w,
            sp_hist,
            sp_over,
            buf,
        )
        snap_pos = _snapshot(x, step, snap_steps, snaps, snap_pos)
    return snap_pos


@_kjit
def _log_target(x, kind, par, inv_g2, lo, hi, lok, hik):
    """log prod_{i<j}|x_i - x_j| - sum_i V_i(x_i)/g_i^2; -inf outside the domain."""
    n = x.shape[0]
    acc = 0.0
    for i in range(n):
        v = x[i]
        if (lok[i] == _WALL and v <= lo[i]) or (lok[i] == _REFLECTING and v < lo[i]):
            return -math.inf
        if (hik[i] == _WALL and v >= hi[i]) or (hik[i] == _REFLECTING and v > hi[i]):
            return -math.inf
        acc -= _potential(i, v, kind, par) * inv_g2[i]
        for j in range(i + 1, n):
            acc += math.log(abs(v - x[j]))
    return acc


@_kjit
def _mala_drift(x, out, kind, par, g2):
    """h-independent part of the MALA proposal mean: K_i + g_i^2 sum_j 1/(x_i - x_j)."""
    n = x.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(n):
            if j != i:
                acc += 1.0 / (x[i] - x[j])
        out[i] = _drift(i, x[i], kind, par) + g2[i] * acc


@_kjit
def _mala_chunk(
    x,
    order,
    h,
    n_burn,
    n_keep,
    thin,
    target,
    kind,
    par,
    g2,
    lo,
    hi,
    lok,
    hik,
    gen,
    out,
    accepted,
    proposed,
):
    """Metropolis-adjusted Langevin chains for the Coulomb gas restricted to the chamber
    ``x[c, order[c]]`` increasing.  ``x`` (C, N) are the chains, ``h`` (C,) their steps
    (adapted during burn-in toward acceptance ``target``), ``out`` (C, n_keep, N).
    """
    nc, n = x.shape
    inv_g2 = 1.0 / g2
    cur_drift = np.empty(n)
    new_drift = np.empty(n)
    prop = np.empty(n)
    for ch in range(nc):
        xc = x[ch].copy()
        oc = order[ch]
        lp = _log_target(xc, kind, par, inv_g2, lo, hi, lok, hik)
        _mala_drift(xc, cur_drift, kind, par, g2)
        hc = h[ch]
        log_h = math.log(hc)
        kept = 0
        total = n_burn + n_keep * thin
        for it in range(total):
            sq = math.sqrt(2.0 * hc)
            for i in range(n):
                prop[i] = xc[i] + hc * cur_drift[i] + sq * math.sqrt(g2[i]) * gen.standard_normal()
            u = gen.random()
            ok = True
            for k in range(n - 1):
                if not prop[oc[k]] < prop[oc[k + 1]]:
                    ok = False
                    break
            acc_prob = 0.0
            if ok:
                lp_new = _log_target(prop, kind, par, inv_g2, lo, hi, lok, hik)
                if lp_new > -math.inf:
                    _mala_drift(prop, new_drift, kind, par, g2)
                    lq_fwd = 0.0
                    lq_bwd = 0.0
                    for i in range(n):
                        d_f = prop[i] - xc[i] - hc * cur_drift[i]
                        d_b = xc[i] - prop[i] - hc * new_drift[i]
                        lq_fwd -= d_f * d_f * inv_g2[i]
                        lq_bwd -= d_b * d_b * inv_g2[i]
                    log_a = lp_new - lp + (lq_bwd - lq_fwd) / (4.0 * hc)
                    acc_prob = 1.0 if log_a >= 0.0 else math.exp(log_a)
                    if u < acc_prob:
                        for i in range(n):
                            xc[i] = prop[i]
                            cur_drift[i] = new_drift[i]
                        lp = lp_new
                        if it >= n_burn:
                            accepted[ch] += 1
            if it < n_burn:
                # Robbins-Monro adaptation of log h toward the target acceptance
                log_h += (acc_prob - target) / math.sqrt(it + 1.0)
                log_h = min(max(log_h, -60.0), 10.0)
                hc = math.exp(log_h)
            else:
                proposed[ch] += 1
                if (it - n_burn + 1) % thin == 0:
                    for i in range(n):
                        out[ch, kept, i] = xc[i]
                    kept += 1
        x[ch, :] = xc
        h[ch] = hc


_MODEL_KERNELS = ("_sde_chunk", "_mala_chunk", "_log_target", "_mala_drift")


class Kernels(types.SimpleNamespace):
    """The model-calling kernels compiled against one set of model dispatchers."""


def default_kernels() -> Kernels:
    """Kernels for harmonic and RBM modes (parameters passed as arrays)."""
    return Kernels(sde_chunk=_sde_chunk, mala_chunk=_mala_chunk)


_BUILT: dict = {}


def _dispatcher(name, funcs, index_name):
    """Source of ``name(i, x, a, b)`` calling ``funcs[a[i]](x)`` (or ``(i, x, a)`` for noise)."""
    args = "i, x, kind, par" if index_name == "kind" else "i, x, nkind"
    lines = [f"def {name}({args}):", f"    k = {index_name}[i]"]
    for k in range(len(funcs) - 1):
        lines.append(f"    if k == {k}:")
        lines.append(f"        return _f{k}(x)")
    lines.append(f"    return _f{len(funcs) - 1}(x)")
    namespace = {f"_f{k}": f for k, f in enumerate(funcs)}
    exec("\n".join(lines), namespace)
    return numba.njit(cache=False, nogil=True, error_model="numpy")(namespace[name])


def build_kernels(key, drifts=None, potentials=None, noises=None) -> Kernels:
    """Kernels whose ``_drift``/``_potential``/``_noise`` dispatch to jitted scalar callables.

    ``drifts[k]`` and ``potentials[k]`` serve the modes with ``kind == k``; ``noises[k]``
    the modes with ``nkind == k``.  ``None`` keeps the parametric harmonic/RBM versions.
    ``key`` memoises the compiled result (it must identify the callables).
    """
    if key in _BUILT:
        return _BUILT[key][0]
    namespace = dict(globals())
    if drifts is not None:
        namespace["_drift"] = _dispatcher("_drift", drifts, "kind")
        namespace["_potential"] = _dispatcher("_potential", potentials, "kind")
    if noises is not None:
        namespace["_noise"] = _dispatcher("_noise", noises, "nkind")
    for name in _MODEL_KERNELS[::-1]:  # helpers first so the kernels see the rebound ones
        py = globals()[name].py_func
        func = types.FunctionType(py.__code__, namespace, name, py.__defaults__, py.__closure__)
        namespace[name] = numba.njit(cache=False, nogil=True, error_model="numpy")(func)
    kernels = Kernels(sde_chunk=namespace["_sde_chunk"], mala_chunk=namespace["_mala_chunk"])
    _BUILT[key] = (kernels, drifts, potentials, noises)  # keep the callables alive
    return kernels

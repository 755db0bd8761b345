"""Private numba kernels of :mod:`fpsolve.dbm` that call the models.

Layout: one chunk of ``C`` replicas is an ``(N, C)`` C-contiguous array (replicas
innermost, so the pair sum vectorises over replicas).  Every replica (every MALA
chain) draws from its own xoshiro256++ stream (:mod:`fpsolve.dbm._random`), held by
its chunk as a column of a ``(4, C)`` uint64 array; a chunk is advanced by one
sequential kernel call and chunks run on a thread pool (the kernels release the
GIL).  A replica's output therefore depends only on its own stream, never on the
chunk it sits in or on the number of threads.

A step that produces a non-finite value stops the chunk: the kernel stores the step
in ``counters[DIVERGED]`` and returns (the caller raises ``FloatingPointError``).

The kernels (:func:`em_chunk`, :func:`safe_chunk`, :func:`pcd_chunk`,
:func:`mala_chunk`) take structured arguments: :class:`Chunk` (the state of a
chunk), :class:`Table` (the models), :class:`Coef` or :class:`PCDCoef` (the step),
:class:`Work` (scratch) and the recording's ``Stats``/``StatBuf``.  They read the
fields once, before the loop over steps, and hand arrays to the helpers they call
every step: numba counts a reference for every field of a tuple a function passes
on, which would cost more than a small system's step.  Which noise a run has is told
by the types of ``Work.gval`` and ``Work.g2`` (None or arrays), so numba compiles one
specialised kernel per kind; every helper that branches on them takes them as
arguments (:mod:`fpsolve.dbm._pairs`).

Per-mode models enter through ``_drift(i, x, kind, par)``, ``_potential(i, x, kind,
par)`` and ``_noise(i, x, nkind)``.  The versions here cover harmonic and RBM modes
by their parameters (``kind`` 0 and 1; ``par`` rows ``(omega, center, 0, 0)`` and
``(c, kappa, mu2, sigma_h2)``) through the drift scalars of :mod:`fpsolve.models`;
:func:`build_kernels` recompiles the same kernels against generated dispatchers over
user models' ``numba_drift`` callables.
"""

from __future__ import annotations

import math
import types
from typing import Any, NamedTuple

import numba
import numpy as np

from fpsolve.dbm._counters import (
    CROSS_STEPS,
    DIVERGED,
    MATRIX_STEPS,
    PAIR_CROSSINGS,
    PAIR_STEPS,
    STEP,
)
from fpsolve.dbm._implicit import STIFF, mark_links, redo_marked
from fpsolve.dbm._linalg import symmetric_eigenvalues
from fpsolve.dbm._ordering import (
    REFLECTING,
    WALL,
    has_bounds,
    is_identity,
    ordered,
    reflect_replica,
    resort,
)
from fpsolve.dbm._pairs import link_scale, noise_at, pair_coef, pair_scale, pair_sum
from fpsolve.dbm._random import fill_normals_by_replica, normal, uniform
from fpsolve.dbm._record import next_record, record_step
from fpsolve.jit import jit
from fpsolve.models._harmonic import _harmonic_drift, _harmonic_potential
from fpsolve.models._noise import _fill_pcd_coupling, _inverse_lambda, _second_order_drift_of
from fpsolve.models._rbm import (
    _chain_factor_parts,
    _chain_power,
    _chain_powers,
    _drift_of,
    _pcd_amplitude,
    rbm_drift,
    rbm_potential,
)
from fpsolve.streams import fill_normals

__all__ = [
    "Chunk",
    "Coef",
    "Kernels",
    "MalaChains",
    "MalaCoef",
    "PCDCoef",
    "Table",
    "Work",
    "build_kernels",
    "default_kernels",
    "work",
]

_kjit = jit(error_model="numpy")
_ijit = jit(error_model="numpy", inline="always")

NEAR = 2.0  # matrix step when neighbours are closer than NEAR off-diagonal kicks


class Table(NamedTuple):
    """The models of the modes, as the kernels read them."""

    kind: np.ndarray  # (N,) int64 model of each mode (see the module docstring)
    par: np.ndarray  # (N, 4) parameters of the parametric models
    nkind: np.ndarray  # (N,) int64 noise function of each mode
    lo: np.ndarray  # (N,) lower end of each domain
    hi: np.ndarray  # (N,) upper end
    lok: np.ndarray  # (N,) int64 kind of the lower end (_ordering.NATURAL, ...)
    hik: np.ndarray  # (N,) int64 kind of the upper end


class Coef(NamedTuple):
    """Coefficients of the explicit step ``x + dt K + s P/(x_i - x_j) + amp g eta``."""

    dt: float
    amp: np.ndarray  # (N,) noise amplitude
    prow: np.ndarray  # (N,) P_ij = prow_i B_ij with B symmetric (the implicit solves need it)
    prc: np.ndarray  # (N,) P_ij = prc_i when every row is constant off the diagonal
    pmat: Any  # None (rows constant) or (N, N) P_ij
    bounds: np.ndarray  # int64 row blocks of the pair sum on all threads (one large system)


class PCDCoef(NamedTuple):
    """Coefficients of the SGD map with the state-dependent PCD noise."""

    alpha: float  # learning rate
    ab: float  # alpha / |B|
    inv_b: float  # 1 / |B|
    mu2: float  # visible mass (shared by the modes)
    s: float  # sigma_h^2 (shared by the modes)
    k: int  # Gibbs sweeps of the chain factor (0: none)
    n_extra: float  # N_v - N_h
    d_weight: float  # weight of the second-order drift D (alpha/|B|, or 0 without it)
    exact_pairs: bool = True  # near pairs sharing no mode as 2 x 2 blocks (False: matrix)


class Chunk(NamedTuple):
    """The state of one chunk of ``C`` replicas, advanced by one kernel call at a time."""

    x: np.ndarray  # (N, C) eigenvalues
    perm: np.ndarray  # (N, C) int64 modes of each replica in ascending order of x
    streams: np.ndarray  # (4, C) uint64 the xoshiro256++ stream of each replica
    counters: np.ndarray  # (N_COUNTERS,) int64
    cross: np.ndarray  # (C,) int64 steps of each replica that broke the ordering
    stopped: np.ndarray  # (C,) int64 step at which a replica left the domain (0: never)


class Work(NamedTuple):
    """Scratch of the explicit step of one chunk (see :func:`work`)."""

    force: np.ndarray  # (N, C) dt K
    psum: np.ndarray  # (N, C) pair sum
    eta: np.ndarray  # (N, C) normals
    xn: np.ndarray  # (N, C) the new state
    gval: Any  # None (constant noise) or (N, C) g_i(x_i)
    g2: Any  # None, or (N, C) g_i(x_i)^2 when it scales the pair term
    xcol: np.ndarray  # (C, N) replica-major copy of x for the few-replica pair sum
    psum_t: np.ndarray  # (C, N) its pair sums
    partial: np.ndarray  # (blocks, N) partial sums of the blocked pair sum (0 rows: off)
    ident: np.ndarray  # (C,) uint8 replicas holding their modes in index order
    quiet: np.ndarray  # (C,) uint8 replicas whose step needs no per-replica checks
    plink: np.ndarray  # (N - 1,) larger pair coefficient of each neighbour link
    bad: np.ndarray  # (N - 1, C) bool links to redo ("safe")
    todo: np.ndarray  # (C,) int64 replicas to redo this step
    ridx: np.ndarray  # (C,) int64 scratch of the normals (rejected ziggurat layers)
    rabs: np.ndarray  # (C,) int64 their abscissa bits
    tmp: np.ndarray  # (4,) uint64 one stream's state
    y: np.ndarray  # (N,) the step without its pair term ("safe")
    z: np.ndarray  # (N,) implicit solution
    order: np.ndarray  # (N,) int64
    sc: np.ndarray  # (N,) row factors of the pair term
    rs: np.ndarray  # (N,) implicit weights
    cy: np.ndarray  # (N,) cluster scratch
    cz: np.ndarray
    crs: np.ndarray
    corder: np.ndarray
    cpc: np.ndarray  # (N, N) pair coefficients of a cluster
    cpb: np.ndarray  # (N, N) their symmetric parts


def work(
    n: int, c: int, *, state_noise: bool, pair_by_noise: bool, blocks: int, by_mode: bool
) -> Work:
    """Scratch for a chunk of ``c`` replicas of ``n`` modes.

    ``state_noise``: the noise is ``g_i(x_i)``; ``pair_by_noise``: the pair term is
    scaled by ``g_i(x_i)^2``; ``blocks``: rows of the blocked pair sum (0: not blocked);
    ``by_mode``: the pair sum runs over the modes of each replica instead of being
    vectorised over the replicas (chosen per run, so that every chunk of a run sums in
    the same order).
    """
    few = c if by_mode else 0
    return Work(
        force=np.empty((n, c)),
        psum=np.empty((n, c)),
        eta=np.empty((n, c)),
        xn=np.empty((n, c)),
        gval=np.ones((n, c)) if state_noise else None,
        g2=np.ones((n, c)) if pair_by_noise else None,
        xcol=np.empty((few, n)),
        psum_t=np.zeros((few, n)),
        partial=np.empty((blocks if few else 0, n)),
        ident=np.zeros(c, dtype=np.uint8),
        quiet=np.zeros(c, dtype=np.uint8),
        plink=np.empty(max(n - 1, 0)),
        bad=np.zeros((max(n - 1, 1), c), dtype=np.bool_),
        todo=np.zeros(c, dtype=np.int64),
        ridx=np.empty(c, dtype=np.int64),
        rabs=np.empty(c, dtype=np.int64),
        tmp=np.empty(4, dtype=np.uint64),
        y=np.empty(n),
        z=np.empty(n),
        order=np.empty(n, dtype=np.int64),
        sc=np.ones(n),
        rs=np.empty(n),
        cy=np.empty(n),
        cz=np.empty(n),
        crs=np.empty(n),
        corder=np.empty(n, dtype=np.int64),
        cpc=np.zeros((n, n)),
        cpb=np.zeros((n, n)),
    )


# ---------------------------------------------------------------------------
# the models (rebound by build_kernels for user models)
# ---------------------------------------------------------------------------
@_kjit
def _drift(i, x, kind, par):
    if kind[i] == 0:
        return _harmonic_drift(x, par[i, 0], par[i, 1])
    return rbm_drift(x, par[i, 0], par[i, 1], par[i, 2], par[i, 3])


@_kjit
def _potential(i, x, kind, par):
    if kind[i] == 0:
        return _harmonic_potential(x, par[i, 0], par[i, 1])
    if par[i, 2] - par[i, 3] * x <= 0.0:
        return math.inf
    return rbm_potential(x, par[i, 0], par[i, 1], par[i, 2], par[i, 3])


@_kjit
def _noise(i, x, nkind):
    return 1.0


# ---------------------------------------------------------------------------
# the explicit step of the SDE and of the SGD map with constant noise
# ---------------------------------------------------------------------------
@_kjit
def _noise_values(x, nkind, gval, g2):
    """``gval = g_i(x_i)`` (and ``g2 = gval^2``) where the run has state-dependent noise."""
    if gval is None:
        return
    for i in range(x.shape[0]):
        for r in range(x.shape[1]):
            g = _noise(i, x[i, r], nkind)
            gval[i, r] = g
            if g2 is not None:
                g2[i, r] = g * g


@_kjit
def _combine(x, amp, force, psum, eta, gval, g2, xn):
    """``xn = x + dt K + s psum + amp g eta`` (``s = g^2`` or 1, ``g = g(x)`` or 1); returns
    whether every value is finite."""
    n, c = x.shape
    finite = True
    for i in range(n):
        a = amp[i]
        for r in range(c):
            v = (
                x[i, r]
                + force[i, r]
                + pair_scale(g2, i, r) * psum[i, r]
                + a * noise_at(gval, i, r) * eta[i, r]
            )
            xn[i, r] = v
            finite = finite & (v - v == 0.0)  # v - v is NaN for inf and NaN
    return finite


@_kjit
def _forces_and_normals(x, streams, dt, kind, par, nkind, force, eta, gval, g2, ridx, rabs, tmp):
    """``force = dt K(x)``, the noise values (:func:`_noise_values`) and the normals
    (one per mode from each replica's stream ``streams[:, r]``)."""
    n, c = x.shape
    for i in range(n):
        for r in range(c):
            force[i, r] = dt * _drift(i, x[i, r], kind, par)
    _noise_values(x, nkind, gval, g2)
    fill_normals_by_replica(streams, eta, ridx, rabs, tmp)


@_kjit
def _start(x, perm, prc, pmat, plink, ident):
    """Per-call set-up: the link coefficients ``plink`` and which replicas hold their modes
    in index order; returns whether the identity-order fast path (prepass) applies."""
    n, c = x.shape
    for k in range(n - 1):
        plink[k] = max(pair_coef(prc, pmat, k, k + 1), pair_coef(prc, pmat, k + 1, k))
    for r in range(c):
        ident[r] = is_identity(perm, r, n)
    return c >= 8 and n >= 2


@_kjit
def _quiet_ordered(xn, ident, quiet):
    """``quiet[r]``: replica ``r`` is in index order and its step kept that order."""
    n, c = xn.shape
    for r in range(c):
        quiet[r] = ident[r]
    for k in range(n - 1):
        for r in range(c):
            if not xn[k, r] < xn[k + 1, r]:
                quiet[r] = 0


@_kjit
def _quiet_sound(x, xn, plink, g2, ident, quiet):
    """``quiet[r]``: as :func:`_quiet_ordered`, and no link started stiff."""
    n, c = xn.shape
    for r in range(c):
        quiet[r] = ident[r]
    for k in range(n - 1):
        pk = plink[k]
        for r in range(c):
            # the test of mark_links, written out for the hot loop
            ok = xn[k, r] < xn[k + 1, r]
            d = x[k + 1, r] - x[k, r]
            p = pk * link_scale(g2, k, k + 1, r)
            ok = ok and not d * d < STIFF * p
            if not ok:
                quiet[r] = 0


@_kjit
def _copy(src, dst):
    """``dst = src``; returns whether every value is finite."""
    n, c = src.shape
    finite = True
    for i in range(n):
        for r in range(c):
            v = src[i, r]
            dst[i, r] = v
            finite = finite & (v - v == 0.0)
    return finite


@_kjit
def em_chunk(ch, co, tb, st, bf, wk, n_steps, step0):
    """Advance the chunk by ``n_steps`` explicit steps (Euler-Maruyama, or the SGD map).

    Nothing is corrected: a step that breaks the ordering of a replica is counted
    (``cross``, ``CROSS_STEPS``) and ``perm`` re-sorted (``PAIR_CROSSINGS``);
    values at a reflecting or wall end are reflected.  A step with a non-finite
    value stops the chunk (``DIVERGED``).
    """
    x, perm, streams, counters, cross = ch.x, ch.perm, ch.streams, ch.counters, ch.cross
    stopped = ch.stopped  # never set by this kernel
    dt, amp, prc, pmat, bounds = co.dt, co.amp, co.prc, co.pmat, co.bounds
    kind, par, nkind, lo, hi, lok, hik = tb
    force, psum, eta, xn, gval, g2 = wk.force, wk.psum, wk.eta, wk.xn, wk.gval, wk.g2
    xcol, psum_t, partial = wk.xcol, wk.psum_t, wk.partial
    ident, quiet, plink = wk.ident, wk.quiet, wk.plink
    ridx, rabs, tmp = wk.ridx, wk.rabs, wk.tmp
    n, c = x.shape
    bounded = has_bounds(lok, hik)
    prepass = _start(x, perm, prc, pmat, plink, ident) and not bounded
    for s in range(n_steps):
        counters[STEP] = step0 + s + 1
        _forces_and_normals(x, streams, dt, kind, par, nkind, force, eta, gval, g2, ridx, rabs, tmp)
        pair_sum(x, prc, pmat, bounds, psum, xcol, psum_t, partial)
        if not _combine(x, amp, force, psum, eta, gval, g2, xn):
            counters[DIVERGED] = step0 + s + 1
            return
        if prepass:
            _quiet_ordered(xn, ident, quiet)
        for r in range(c):
            if prepass and quiet[r]:
                continue
            if bounded and not reflect_replica(xn, r, lo, hi, lok, hik, counters):
                counters[DIVERGED] = step0 + s + 1
                return
            if n >= 2 and not ordered(xn, perm, r, n):
                counters[CROSS_STEPS] += 1
                cross[r] += 1
                counters[PAIR_CROSSINGS] += resort(xn, perm, r, n)
                if prepass:
                    ident[r] = is_identity(perm, r, n)
        _copy(xn, x)
        record_step(x, step0 + s + 1, st, bf, counters, stopped)


@_kjit
def safe_chunk(ch, co, tb, st, bf, wk, n_steps, step0):
    """Advance the chunk by ``n_steps`` collision-safe steps.

    The explicit step of a replica whose links break or start closer than
    ``sqrt(STIFF P)`` (:func:`_implicit.mark_links`) is redone with the pair term
    implicit (:func:`_implicit.redo_marked`); steps that broke the ordering are counted
    before the correction.  A step that leaves a non-finite value after the correction
    (an explicit value thrown across a bounded domain is NaN until redone) stops the chunk
    (``DIVERGED``).
    """
    x, perm, streams, counters, cross = ch.x, ch.perm, ch.streams, ch.counters, ch.cross
    stopped = ch.stopped  # never set by this kernel
    dt, amp, prc, pmat, bounds = co.dt, co.amp, co.prc, co.pmat, co.bounds
    kind, par, nkind, lo, hi, lok, hik = tb
    force, psum, eta, xn, gval, g2 = wk.force, wk.psum, wk.eta, wk.xn, wk.gval, wk.g2
    xcol, psum_t, partial = wk.xcol, wk.psum_t, wk.partial
    ident, quiet, plink = wk.ident, wk.quiet, wk.plink
    bad, todo = wk.bad, wk.todo
    ridx, rabs, tmp = wk.ridx, wk.rabs, wk.tmp
    n, c = x.shape
    bounded = has_bounds(lok, hik)
    prepass = _start(x, perm, prc, pmat, plink, ident) and not bounded
    for s in range(n_steps):
        counters[STEP] = step0 + s + 1
        _forces_and_normals(x, streams, dt, kind, par, nkind, force, eta, gval, g2, ridx, rabs, tmp)
        pair_sum(x, prc, pmat, bounds, psum, xcol, psum_t, partial)
        # an explicit step thrown out of the domain by a near-collision is redone below:
        # the run has diverged only if a value is still not finite after the redo
        _combine(x, amp, force, psum, eta, gval, g2, xn)
        if prepass:
            _quiet_sound(x, xn, plink, g2, ident, quiet)
        n_todo = 0
        for r in range(c):
            if prepass and quiet[r]:
                continue
            if bounded:
                reflect_replica(xn, r, lo, hi, lok, hik, counters)
            if n < 2:
                continue
            if not ordered(xn, perm, r, n):
                counters[CROSS_STEPS] += 1
                cross[r] += 1
            if mark_links(x, xn, r, perm, prc, pmat, g2, bad):
                todo[n_todo] = r
                n_todo += 1
        if n_todo:
            redo_marked(x, xn, perm, todo, n_todo, co, tb, wk, counters)
        if not _copy(xn, x):
            counters[DIVERGED] = step0 + s + 1
            return
        record_step(x, step0 + s + 1, st, bf, counters, stopped)


# ---------------------------------------------------------------------------
# the SGD map with the state-dependent PCD noise (replicas in lanes)
# ---------------------------------------------------------------------------
# Per step, the map runs over the N modes and N (N - 1)/2 pairs of every replica of the
# chunk.  What every replica needs (the coupling's factors, drift and noise amplitude of
# each mode, the near links, the pair sums, the step) is computed with the replicas in
# the innermost loop, one quantity per loop, so that the loops vectorise; the per-replica
# branches (2 x 2 blocks, matrix steps, the domain) follow, replica by replica.  Helpers
# take numbers, not arrays: numba keeps the reference counts of the arrays handed to a
# helper on every call, which would cost as much as the arithmetic of a small step.
@_ijit
def _pcd_sigma(co, amp, chain):
    """The noise amplitude ``alpha sqrt(2 G_ii/|B|)`` of a mode with the factors ``amp``,
    ``chain`` of the coupling (:func:`_pcd_coupling`)."""
    p, q = _chain_factor_parts(chain, chain)
    return co.alpha * amp * math.sqrt(2.0 * co.inv_b * p / q)


@_ijit
def _pcd_drift(xi, co, c, kappa, inv, inv_sum):
    """The drift ``K + d_weight D`` per unit alpha of an RBM mode at ``xi`` (prefactor
    ``c``, target ``kappa``; ``inv`` its ``1/lambda`` and ``inv_sum`` of
    :func:`fpsolve.models._noise._second_order_drift_of`)."""
    d = _second_order_drift_of(xi, co.s, inv, inv_sum)
    return _drift_of(xi, c, kappa, inv) + co.d_weight * d


@_ijit
def _pcd_coupling(ai, aj, ci, cj):
    """``G_ij = amp_i amp_j f_ij`` as numerator and denominator (one division left to the
    caller)."""
    p, q = _chain_factor_parts(ci, cj)
    return ai * aj * p, q


@_ijit
def _pcd_near(d, co, ai, aj, ci, cj):
    """Whether neighbours at distance ``d`` are closer than ``NEAR`` off-diagonal kicks
    ``alpha sqrt(G_ij/|B|)``."""
    p, q = _pcd_coupling(ai, aj, ci, cj)
    return d <= 0.0 or d * d * q < (NEAR * co.alpha) ** 2 * co.inv_b * p  # squared


@_ijit
def _pcd_pair_term(d, ai, aj, ci, cj):
    """``G_ij/d`` with ``d = x_i - x_j``: the pair's second-order eigenvalue shift per
    alpha^2/|B|."""
    p, q = _pcd_coupling(ai, aj, ci, cj)
    return p / (q * d)


@_ijit
def _pcd_block(co, z, ti, tj, ai, aj, ci, cj):
    """A near pair exactly: the eigenvalues of the 2 x 2 block of ``ti, tj`` (the step
    without their pair term) and the off-diagonal kick ``alpha sqrt(G_ij/|B|) z``."""
    p, q = _pcd_coupling(ai, aj, ci, cj)
    e = co.alpha * math.sqrt(co.inv_b * p / q) * z
    mid = 0.5 * (ti + tj)
    r = math.hypot(0.5 * (tj - ti), e)
    return mid - r, mid + r


@_ijit
def _pcd_matrix(x, co, s, g, drift, sigma, eta, link, off, a, scratch, trial):
    """The same step as a matrix: ascending eigenvalues of ``diag(x + alpha K) + dX``
    (same diagonal noise ``eta``, the off-diagonal normals of a marked ``link`` from
    ``off``, fresh ones elsewhere, drawn row by row; ``g`` the coupling ``G(x)``) into
    ``trial``; ``scratch`` holds an (n, n), an (n,) and an (n (n - 1)/2,) work array."""
    n = x.shape[0]
    alpha = co.alpha
    fresh = scratch[2][: n * (n - 1) // 2 - np.sum(link)]
    fill_normals(s, fresh)
    k = 0
    for i in range(n):
        a[i, i] = x[i] + alpha * drift[i] + sigma[i] * eta[i]
        for j in range(i + 1, n):
            if j == i + 1 and link[i]:
                z = off[i]
            else:
                z = fresh[k]
                k += 1
            v = alpha * math.sqrt(co.inv_b * g[i, j]) * z
            a[i, j] = v
            a[j, i] = v
    symmetric_eigenvalues(a, scratch[0], scratch[1], trial)


# replicas per chunk of pcd_chunk: its loops over the replicas of a chunk vectorise, with up
# to 8 doubles per instruction; with fewer than PCD_LANES_MIN replicas in a chunk (a run of
# fewer replicas) the modes, pair sums and normals are computed replica by replica instead
PCD_LANES = 32
PCD_LANES_MIN = 8


class PCDWork(NamedTuple):
    """Scratch of :func:`pcd_chunk` for a chunk of ``C`` replicas of ``N`` modes."""

    inv: np.ndarray  # (N, C) 1/lambda of each mode
    inv_sum: np.ndarray  # (C,) inv_sum of the replica's second-order drift
    amp: np.ndarray  # (N, C) amplitude factor of the coupling
    chain: np.ndarray  # (N, C) its chain power
    drift: np.ndarray  # (N, C) drift per unit alpha
    sigma: np.ndarray  # (N, C) noise amplitude
    near: np.ndarray  # (N, C) bool: mode and the next one closer than NEAR kicks
    rho: np.ndarray  # (C,) scratch of the chain powers
    acc: np.ndarray  # (C,) the sum of the pair terms of one row
    psum: np.ndarray  # (N, C) pair sums
    eta: np.ndarray  # (N, C) diagonal normals
    trial: np.ndarray  # (N, C) the step
    plain: np.ndarray  # (C,) bool: the step is taken as it is (no near link, in order)
    ridx: np.ndarray  # (C,) int64 scratch of the normals (rejected ziggurat layers)
    rabs: np.ndarray  # (C,) int64 their abscissa bits
    rs: np.ndarray  # (4,) uint64 one replica's stream
    vec: np.ndarray  # (6, N) one replica's x, drift, sigma, eta, step, off-diagonal kicks
    link: np.ndarray  # (N - 1,) bool one replica's links taken as 2 x 2 blocks
    g: np.ndarray  # (N, N) coupling G(x) of a matrix step
    factor: np.ndarray  # (N, N) its chain factors
    a: np.ndarray  # (N, N) the matrix
    scratch: tuple  # (N, N), (N,), (N (N - 1)/2,) scratch of the matrix step


@_ijit
def _pcd_work(n, c):
    """Scratch of :func:`pcd_chunk` for ``c`` replicas of ``n`` modes."""
    return PCDWork(
        np.empty((n, c)),
        np.empty(c),
        np.empty((n, c)),
        np.empty((n, c)),
        np.empty((n, c)),
        np.empty((n, c)),
        np.zeros((n, c), dtype=np.bool_),
        np.empty(c),
        np.empty(c),
        np.empty((n, c)),
        np.empty((n, c)),
        np.empty((n, c)),
        np.zeros(c, dtype=np.bool_),
        np.empty(c, dtype=np.int64),
        np.empty(c, dtype=np.int64),
        np.empty(4, dtype=np.uint64),
        np.zeros((6, n)),
        np.zeros(max(n - 1, 0), dtype=np.bool_),
        np.empty((n, n)),
        np.empty((n, n)),
        np.empty((n, n)),
        (np.empty((n, n)), np.empty(n), np.empty(n * (n - 1) // 2)),
    )


@_ijit
def _pcd_modes(x, co, par, wk):
    """The factors ``amp``, ``chain`` of the coupling, the drift and the noise amplitude
    of every mode and replica at ``x`` (N, C), and the near links."""
    n, c = x.shape
    inv, inv_sum, amp, chain, drift = wk.inv, wk.inv_sum, wk.amp, wk.chain, wk.drift
    sigma, near = wk.sigma, wk.near
    mu2, s = co.mu2, co.s
    if c < PCD_LANES_MIN:  # replica by replica: the loops over the replicas are short
        for r in range(c):
            inv_sum[r] = co.n_extra / mu2
            for i in range(n):
                inv[i, r] = _inverse_lambda(x[i, r], mu2, s)
                inv_sum[r] += inv[i, r]
            for i in range(n):
                amp[i, r] = _pcd_amplitude(x[i, r], mu2, s)
                chain[i, r] = _chain_power(x[i, r], mu2, s, co.k)
                drift[i, r] = _pcd_drift(x[i, r], co, par[i, 0], par[i, 1], inv[i, r], inv_sum[r])
                sigma[i, r] = _pcd_sigma(co, amp[i, r], chain[i, r])
    else:
        for r in range(c):
            inv_sum[r] = co.n_extra / mu2
        for i in range(n):
            for r in range(c):
                inv[i, r] = _inverse_lambda(x[i, r], mu2, s)
        for i in range(n):
            for r in range(c):
                inv_sum[r] += inv[i, r]
        for i in range(n):
            for r in range(c):
                amp[i, r] = _pcd_amplitude(x[i, r], mu2, s)
        for i in range(n):
            _chain_powers(x[i], mu2, s, co.k, wk.rho, chain[i])
        for i in range(n):
            ci, kappa = par[i, 0], par[i, 1]
            for r in range(c):
                drift[i, r] = _pcd_drift(x[i, r], co, ci, kappa, inv[i, r], inv_sum[r])
        for i in range(n):
            for r in range(c):
                sigma[i, r] = _pcd_sigma(co, amp[i, r], chain[i, r])
    for i in range(n - 1):
        for r in range(c):
            near[i, r] = _pcd_near(
                x[i + 1, r] - x[i, r], co, amp[i, r], amp[i + 1, r], chain[i, r], chain[i + 1, r]
            )


@_ijit
def _pcd_pair_sums(x, wk):
    """The pair sums of every replica, leaving out its near links: row ``i`` adds its terms
    in the order of ``j`` and each term is subtracted from row ``j`` as it comes."""
    n, c = x.shape
    amp, chain, near, acc, psum = wk.amp, wk.chain, wk.near, wk.acc, wk.psum
    for i in range(n):
        for r in range(c):
            psum[i, r] = 0.0
    if c < PCD_LANES_MIN:  # replica by replica: the loops over the replicas are short
        for r in range(c):
            for i in range(n - 1):
                total = 0.0
                for j in range(i + 1, n):
                    v = 0.0
                    if j > i + 1 or not near[i, r]:
                        v = _pcd_pair_term(
                            x[i, r] - x[j, r], amp[i, r], amp[j, r], chain[i, r], chain[j, r]
                        )
                    total += v
                    psum[j, r] -= v
                psum[i, r] += total
        return
    for i in range(n - 1):
        for r in range(c):
            acc[r] = 0.0
        for j in range(i + 1, n):
            if j == i + 1:  # a near link adds nothing
                for r in range(c):
                    v = _pcd_pair_term(
                        x[i, r] - x[j, r], amp[i, r], amp[j, r], chain[i, r], chain[j, r]
                    )
                    v = 0.0 if near[i, r] else v
                    acc[r] += v
                    psum[j, r] -= v
            else:
                for r in range(c):
                    v = _pcd_pair_term(
                        x[i, r] - x[j, r], amp[i, r], amp[j, r], chain[i, r], chain[j, r]
                    )
                    acc[r] += v
                    psum[j, r] -= v
        for r in range(c):
            psum[i, r] += acc[r]


@_kjit
def pcd_chunk(ch, co, tb, st, bf, n_steps, step0):
    """Advance a chunk of replicas by ``n_steps`` steps of the SGD map with the PCD noise.

    Per step and replica: the factors of the coupling ``G(x)``, the drift and the noise
    amplitude of every mode at the current state (:func:`_pcd_modes`), ``n`` normals,
    then the perturbative step, whose pair term is the second-order eigenvalue shift
    (:func:`_pcd_pair_term`; each pair's coupling and energy denominator in one
    division).  Neighbours closer than ``NEAR`` off-diagonal kicks (:func:`_pcd_near`)
    are left out of the pair term and taken as 2 x 2 blocks (:func:`_pcd_block`,
    ``PAIR_STEPS``) if no two of them share a mode and ``co.exact_pairs``; otherwise, or
    if the step breaks the order, the whole step is taken as a matrix
    (:func:`_pcd_matrix` with the whole ``G(x)``, ``MATRIX_STEPS``), so the eigenvalues
    stay ascending.  A replica draws its normals in that order from its own stream, so
    its numbers do not depend on the chunk.  A step that leaves ``[0, mu2/s)`` is not
    taken: the replica stops (``stopped`` holds the step) and records nothing more; the
    chunk returns once all its replicas have stopped.  A step with a non-finite value
    stops the chunk (``DIVERGED``).
    """
    # the modes are RBM modes (simulate_sgd checks it): par rows (c, kappa, mu2, sigma_h2)
    x, counters, stopped, streams = ch.x, ch.counters, ch.stopped, ch.streams
    if counters[DIVERGED]:
        return
    n, c = x.shape
    wk = _pcd_work(n, c)
    drift, sigma, psum, trial, eta = wk.drift, wk.sigma, wk.psum, wk.trial, wk.eta
    amp, chain, near, plain = wk.amp, wk.chain, wk.near, wk.plain
    rs, link, g, factor, a, scratch = wk.rs, wk.link, wk.g, wk.factor, wk.a, wk.scratch
    xr, dr, sr, er, tr, off = wk.vec[0], wk.vec[1], wk.vec[2], wk.vec[3], wk.vec[4], wk.vec[5]
    alpha, ab, top = co.alpha, co.ab, co.mu2 / co.s
    due = next_record(step0 + 1, st, counters)
    for s in range(n_steps):
        counters[STEP] = step0 + s + 1
        _pcd_modes(x, co, tb.par, wk)
        _pcd_pair_sums(x, wk)
        if c < PCD_LANES_MIN:  # replica by replica, through a contiguous row
            for r in range(c):
                for w in range(4):
                    rs[w] = streams[w, r]
                fill_normals(rs, er)
                for w in range(4):
                    streams[w, r] = rs[w]
                for i in range(n):
                    eta[i, r] = er[i]
        else:
            fill_normals_by_replica(streams, eta, wk.ridx, wk.rabs, rs)
        for i in range(n):
            for r in range(c):
                trial[i, r] = (
                    x[i, r] + alpha * (drift[i, r] + ab * psum[i, r]) + sigma[i, r] * eta[i, r]
                )
        # most steps need nothing more: no near link, in order (so finite) and inside
        for r in range(c):
            plain[r] = not stopped[r] and trial[0, r] >= 0.0 and trial[n - 1, r] < top
        for i in range(n - 1):
            for r in range(c):
                plain[r] = plain[r] and trial[i + 1, r] > trial[i, r] and not near[i, r]
        live = 0
        for r in range(c):
            if plain[r]:
                live += 1
                continue
            if not stopped[r]:
                n_near = 0
                shared = False
                for i in range(n - 1):
                    if near[i, r]:
                        n_near += 1
                        shared = shared or (i > 0 and near[i - 1, r])
                tried = not shared and (n_near == 0 or co.exact_pairs)
                if tried and n_near:
                    for w in range(4):
                        rs[w] = streams[w, r]
                    for i in range(n - 1):
                        if near[i, r]:
                            off[i] = normal(rs)
                            trial[i, r], trial[i + 1, r] = _pcd_block(
                                co, off[i], trial[i, r], trial[i + 1, r], amp[i, r],
                                amp[i + 1, r], chain[i, r], chain[i + 1, r],
                            )  # fmt: skip
                    for w in range(4):
                        streams[w, r] = rs[w]
                taken = tried
                for i in range(n - 1):  # strictly ascending (False with a NaN)
                    taken = taken and trial[i + 1, r] > trial[i, r]
                if taken and n_near:
                    counters[PAIR_STEPS] += 1
                if not taken:  # the links' kicks are reused only if they were drawn
                    counters[MATRIX_STEPS] += 1
                    for i in range(n - 1):
                        link[i] = tried and near[i, r]
                    for i in range(n):
                        xr[i], dr[i], sr[i], er[i] = x[i, r], drift[i, r], sigma[i, r], eta[i, r]
                    for w in range(4):
                        rs[w] = streams[w, r]
                    _fill_pcd_coupling(xr, co.mu2, co.s, co.k, g, factor)
                    _pcd_matrix(xr, co, rs, g, dr, sr, er, link, off, a, scratch, tr)
                    for w in range(4):
                        streams[w, r] = rs[w]
                    for i in range(n):
                        trial[i, r] = tr[i]
                finite = True
                for i in range(n):
                    finite = finite and trial[i, r] - trial[i, r] == 0.0
                if not finite:
                    counters[DIVERGED] = step0 + s + 1
                    return
                if trial[0, r] < 0.0 or trial[n - 1, r] >= top:
                    stopped[r] = step0 + s + 1
            if stopped[r]:  # it keeps its last state
                for i in range(n):
                    trial[i, r] = x[i, r]
            else:
                live += 1
        for i in range(n):
            for r in range(c):
                x[i, r] = trial[i, r]
        if step0 + s + 1 == due:
            record_step(x, due, st, bf, counters, stopped)
            due = next_record(due + 1, st, counters)
        if live == 0:  # nothing left to advance
            return


# ---------------------------------------------------------------------------
# Metropolis-adjusted Langevin chains of the Coulomb gas
# ---------------------------------------------------------------------------
class MalaChains(NamedTuple):
    """The chains of one chunk of :func:`mala_chunk`."""

    x: np.ndarray  # (C, N) current states
    order: np.ndarray  # (C, N) int64 the chamber of each chain: x[c, order[c]] increasing
    h: np.ndarray  # (C,) Langevin steps (adapted during burn-in)
    streams: np.ndarray  # (C, 4) uint64 the xoshiro256++ stream of each chain
    out: np.ndarray  # (C, n_keep, N) kept states
    accepted: np.ndarray  # (C,) int64 accepted moves after burn-in
    proposed: np.ndarray  # (C,) int64 proposed moves after burn-in


class MalaCoef(NamedTuple):
    n_burn: int
    n_keep: int
    thin: int
    target: float  # acceptance rate aimed at during burn-in
    g2: np.ndarray  # (N,) noise strength per mode


@_kjit
def _log_target(x, inv_g2, kind, par, lo, hi, lok, hik):
    """log prod_{i<j}|x_i - x_j| - sum_i V_i(x_i)/g_i^2; -inf outside the domain."""
    n = x.shape[0]
    acc = 0.0
    for i in range(n):
        v = x[i]
        if (lok[i] == WALL and v <= lo[i]) or (lok[i] == REFLECTING and v < lo[i]):
            return -math.inf
        if (hik[i] == WALL and v >= hi[i]) or (hik[i] == REFLECTING and v > hi[i]):
            return -math.inf
        acc -= _potential(i, v, kind, par) * inv_g2[i]
        for j in range(i + 1, n):
            acc += math.log(abs(v - x[j]))
    return acc


@_kjit
def _mala_drift(x, out, g2, kind, par):
    """h-independent part of the MALA proposal mean: K_i + g_i^2 sum_j 1/(x_i - x_j)."""
    n = x.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(n):
            if j != i:
                acc += 1.0 / (x[i] - x[j])
        out[i] = _drift(i, x[i], kind, par) + g2[i] * acc


@_ijit
def _mala_probability(xc, prop, hc, lp, lp_new, cur_drift, new_drift, inv_g2):
    """Metropolis-Hastings acceptance probability of the Langevin move ``xc -> prop``."""
    lq_fwd = 0.0
    lq_bwd = 0.0
    for i in range(xc.shape[0]):
        d_f = prop[i] - xc[i] - hc * cur_drift[i]
        d_b = xc[i] - prop[i] - hc * new_drift[i]
        lq_fwd -= d_f * d_f * inv_g2[i]
        lq_bwd -= d_b * d_b * inv_g2[i]
    log_a = lp_new - lp + (lq_bwd - lq_fwd) / (4.0 * hc)
    return 1.0 if log_a >= 0.0 else math.exp(log_a)


@_kjit
def _mala_chain(ch, c, mc, tb):
    """Run chain ``c`` of the chunk: ``n_burn`` adapting steps, then keep every ``thin``-th."""
    g2, n_burn, s, oc = mc.g2, mc.n_burn, ch.streams[c], ch.order[c]
    accepted, proposed, out = ch.accepted, ch.proposed, ch.out
    kind, par, _, lo, hi, lok, hik = tb
    n = g2.shape[0]
    inv_g2 = 1.0 / g2
    cur_drift = np.empty(n)
    new_drift = np.empty(n)
    prop = np.empty(n)
    xc = ch.x[c].copy()
    lp = _log_target(xc, inv_g2, kind, par, lo, hi, lok, hik)
    _mala_drift(xc, cur_drift, g2, kind, par)
    hc = ch.h[c]
    log_h = math.log(hc)
    kept = 0
    for it in range(n_burn + mc.n_keep * mc.thin):
        sq = math.sqrt(2.0 * hc)
        for i in range(n):
            prop[i] = xc[i] + hc * cur_drift[i] + sq * math.sqrt(g2[i]) * normal(s)
        u = uniform(s)
        ok = True
        for k in range(n - 1):
            if not prop[oc[k]] < prop[oc[k + 1]]:
                ok = False
                break
        acc_prob = 0.0
        if ok:
            lp_new = _log_target(prop, inv_g2, kind, par, lo, hi, lok, hik)
            if lp_new > -math.inf:
                _mala_drift(prop, new_drift, g2, kind, par)
                acc_prob = _mala_probability(xc, prop, hc, lp, lp_new, cur_drift, new_drift, inv_g2)
                if u < acc_prob:
                    for i in range(n):
                        xc[i] = prop[i]
                        cur_drift[i] = new_drift[i]
                    lp = lp_new
                    if it >= n_burn:
                        accepted[c] += 1
        if it < n_burn:
            # Robbins-Monro adaptation of log h toward the target acceptance
            log_h += (acc_prob - mc.target) / math.sqrt(it + 1.0)
            log_h = min(max(log_h, -60.0), 10.0)
            hc = math.exp(log_h)
        else:
            proposed[c] += 1
            if (it - n_burn + 1) % mc.thin == 0:
                for i in range(n):
                    out[c, kept, i] = xc[i]
                kept += 1
    ch.x[c, :] = xc
    ch.h[c] = hc


@_kjit
def mala_chunk(ch, mc, tb):
    """Metropolis-adjusted Langevin chains for the Coulomb gas restricted to the chamber
    of each chain (:class:`MalaChains`), one after the other, each on its own stream."""
    for c in range(ch.x.shape[0]):
        _mala_chain(ch, c, mc, tb)


# ---------------------------------------------------------------------------
# kernels for user models
# ---------------------------------------------------------------------------
_MODEL_FUNCS = (
    "_noise_values",
    "_forces_and_normals",
    "em_chunk",
    "safe_chunk",
    "_log_target",
    "_mala_drift",
    "_mala_chain",
    "mala_chunk",
)


class Kernels(types.SimpleNamespace):
    """The model-calling kernels compiled against one set of model dispatchers."""


def default_kernels() -> Kernels:
    """Kernels for harmonic and RBM modes (parameters passed as arrays)."""
    return Kernels(
        em_chunk=em_chunk, safe_chunk=safe_chunk, pcd_chunk=pcd_chunk, mala_chunk=mala_chunk
    )


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
    for name in _MODEL_FUNCS:
        py = globals()[name].py_func
        func = types.FunctionType(py.__code__, namespace, name, py.__defaults__, py.__closure__)
        namespace[name] = numba.njit(cache=False, nogil=True, error_model="numpy")(func)
    kernels = Kernels(
        em_chunk=namespace["em_chunk"],
        safe_chunk=namespace["safe_chunk"],
        pcd_chunk=namespace["pcd_chunk"],
        mala_chunk=namespace["mala_chunk"],
    )
    _BUILT[key] = (kernels, drifts, potentials, noises)  # keep the callables alive
    return kernels

r"""Private numba kernels: the pair sum :math:`\sum_{j\ne i} P_{ij}/(x_i - x_j)` of the DBM.

The pair coefficients are :math:`P_{ij}` = ``prc[i]`` (every row constant off the
diagonal, ``pmat is None``: no ``n x n`` matrix is ever formed) or ``pmat[i, j]``.
"""

from __future__ import annotations

import numba
import numpy as np

from fpsolve.jit import jit, pjit

__all__ = [
    "PAIR_BLOCKS",
    "PAIR_BLOCKS_MIN_N",
    "link_scale",
    "noise_at",
    "pair_blocks",
    "pair_coef",
    "pair_scale",
    "pair_sum",
]

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
def pair_coef(prc, pmat, i, j):
    """Pair coefficient ``P_ij``: ``prc[i]`` if ``pmat`` is None, else ``pmat[i, j]``."""
    if pmat is None:
        return prc[i]
    return pmat[i, j]


@_kjit
def _pair_rows(xc, prc, pmat, pt, i0, i1):
    """Add the pairs ``(i, j > i)`` of rows ``i0 <= i < i1`` of one system to ``pt``.

    ``pt[i] += sum_{j > i} P_ij / (x_i - x_j)`` and ``pt[j] -= P_ji / (x_i - x_j)``.  With
    constant rows each row is summed in four interleaved partial sums (one pass that LLVM
    packs into one vector).
    """
    n = xc.shape[0]
    for i in range(i0, i1):
        xi = xc[i]
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        j = i + 1
        if pmat is None:  # P_ij = prc[i]: contiguous access only
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
                pt[j] -= pmat[j, i] * v0
                a0 += pmat[i, j] * v0
                j += 1
            pt[i] += a0


@pjit(error_model="numpy")
def _pair_rows_blocked(xc, prc, pmat, out, partial, bounds):
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
        _pair_rows(xc, prc, pmat, pt, bounds[blk], bounds[blk + 1])
    for q in numba.prange(n):
        acc = 0.0
        for blk in range(nb):
            acc += partial[blk, q]
        out[q] = acc


@_kjit
def pair_sum(x, prc, pmat, bounds, psum, xcol, psum_t, partial):
    """``psum[i, r] = sum_{j != i} P_ij / (x[i, r] - x[j, r])`` for a chunk ``x`` (N, C).

    Vectorised over replicas if ``xcol`` has no rows, two pairs ``(i, j)``, ``(i, k)`` per
    division (``1/d_j = d_k / (d_j d_k)``: a few ulp instead of half of one, products of
    two spacings stay far from overflow for any state that has not diverged); otherwise
    (runs of few replicas)
    each replica's row sums run over the modes (``xcol``, ``psum_t``: (C, N) scratch),
    on all threads if ``partial`` has a row per block of ``bounds`` (one large system).
    """
    n, c = x.shape
    if xcol.shape[0] == 0:
        for i in range(n):
            for r in range(c):
                psum[i, r] = 0.0
        for i in range(n):
            j = i + 1
            while j + 1 < n:  # two pairs (i, j), (i, k = j + 1) per division
                k = j + 1
                pij = pair_coef(prc, pmat, i, j)
                pji = pair_coef(prc, pmat, j, i)
                pik = pair_coef(prc, pmat, i, k)
                pki = pair_coef(prc, pmat, k, i)
                for r in range(c):
                    xi = x[i, r]
                    dj = xi - x[j, r]
                    dk = xi - x[k, r]
                    q = 1.0 / (dj * dk)
                    inv_j = dk * q
                    inv_k = dj * q
                    psum[i, r] += pij * inv_j
                    psum[i, r] += pik * inv_k
                    psum[j, r] -= pji * inv_j
                    psum[k, r] -= pki * inv_k
                j += 2
            if j < n:
                pij = pair_coef(prc, pmat, i, j)
                pji = pair_coef(prc, pmat, j, i)
                for r in range(c):
                    inv = 1.0 / (x[i, r] - x[j, r])
                    psum[i, r] += pij * inv
                    psum[j, r] -= pji * inv
        return
    for i in range(n):
        for r in range(c):
            xcol[r, i] = x[i, r]
    for r in range(c):
        if partial.shape[0] > 0:
            _pair_rows_blocked(xcol[r], prc, pmat, psum_t[r], partial, bounds)
        else:
            _pair_rows(xcol[r], prc, pmat, psum_t[r], 0, n)
        for i in range(n):
            psum[i, r] = psum_t[r, i]
            psum_t[r, i] = 0.0


@_kjit
def noise_at(gval, i, r):
    """Noise factor ``g_i(x_i)`` of replica ``r``: 1 for constant noise (``gval`` None)."""
    if gval is None:
        return 1.0
    return gval[i, r]


@_kjit
def pair_scale(g2, i, r):
    """Factor of row ``i`` of the pair term: ``g_i(x_i)^2`` when the coupling is the state-
    dependent noise (``g2`` holds it), else 1."""
    if g2 is None:
        return 1.0
    return g2[i, r]


@_kjit
def link_scale(g2, a, b, r):
    """Larger pair-term factor of the neighbours ``a`` and ``b`` (1 without ``g2``)."""
    if g2 is None:
        return 1.0
    return max(g2[a, r], g2[b, r])

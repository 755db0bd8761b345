"""Private numba kernels: domain ends and the ordering of the eigenvalues of one replica.

``perm[:, r]`` lists the modes of replica ``r`` in ascending order of their values
(the ordering the dynamics keeps); ``x`` and ``xn`` are ``(N, C)`` chunks.  The helpers
are inlined into the kernels (numba ``inline="always"``); every helper reads the fields
of a structured argument once, before its loops (a field read returns a new reference,
whose counting inside a hot loop costs more than the loop's arithmetic).
"""

from __future__ import annotations

import math

import numpy as np

from fpsolve.dbm._counters import BOUNDARY_HITS
from fpsolve.jit import jit

__all__ = [
    "NATURAL",
    "REFLECTING",
    "WALL",
    "any_outside",
    "is_identity",
    "ordered",
    "reflect",
    "resort",
    "sorted_order",
]

_kjit = jit(error_model="numpy")
_ijit = jit(error_model="numpy", inline="always")

# boundary kinds
NATURAL, REFLECTING, WALL = 0, 1, 2


@_kjit
def reflect(v, lo, hi, lok, hik):
    """Reflect ``v`` back into ``[lo, hi]`` at a reflecting or wall end; returns (v, hit).

    ``v`` is NaN if four reflections leave it outside (a step longer than about twice
    the domain: the run has diverged).
    """
    hit = False
    for _ in range(4):
        if lok != NATURAL and v < lo:
            v = 2.0 * lo - v
            hit = True
        elif hik != NATURAL and v > hi:
            v = 2.0 * hi - v
            hit = True
        else:
            break
    if hik == WALL and v >= hi:
        v = 0.5 * (lo + hi) if lok != NATURAL else hi - 1e-12 * (1.0 + abs(hi))
    if lok == WALL and v <= lo:
        v = 0.5 * (lo + hi) if hik != NATURAL else lo + 1e-12 * (1.0 + abs(lo))
    if (lok != NATURAL and v < lo) or (hik != NATURAL and v > hi):
        v = math.nan
    return v, hit


@_ijit
def reflect_into(v, i, lo, hi, lok, hik, counters):
    """``v`` reflected into the domain ``lo[i], hi[i]`` of mode ``i`` (hits counted)."""
    v, hit = reflect(v, lo[i], hi[i], lok[i], hik[i])
    if hit:
        counters[BOUNDARY_HITS] += 1
    return v


@_ijit
def reflect_replica(xn, r, lo, hi, lok, hik, counters):
    """Reflect every bounded mode of replica ``r`` of ``xn`` into its domain; returns
    False if a value could not be brought back (see :func:`reflect`)."""
    ok = True
    for i in range(xn.shape[0]):
        if lok[i] != NATURAL or hik[i] != NATURAL:
            v = reflect_into(xn[i, r], i, lo, hi, lok, hik, counters)
            xn[i, r] = v
            ok = ok and not math.isnan(v)
    return ok


@_ijit
def ordered(xn, perm, r, n):
    """Whether replica ``r`` of ``xn`` is strictly increasing in the order ``perm``."""
    ok = True
    for k in range(n - 1):
        if not xn[perm[k, r], r] < xn[perm[k + 1, r], r]:
            ok = False
            break
    return ok


@_ijit
def resort(xn, perm, r, n):
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
def sorted_order(x):
    """The order ``perm`` (int64, the shape of ``x``) of every replica of ``x`` (N, C):
    ``perm[:, r]`` lists the modes of replica ``r`` in ascending order of ``x[:, r]``,
    ties in index order (``np.argsort(x, axis=0, kind="stable")``, for finite ``x``)."""
    n, c = x.shape
    perm = np.empty((n, c), dtype=np.int64)
    for r in range(c):
        for k in range(n):
            perm[k, r] = k
        resort(x, perm, r, n)  # n - 1 comparisons for a sorted replica
    return perm


@_kjit
def any_outside(x, lo, hi):
    """Whether any value of ``x`` (N, C) is below ``lo`` or above ``hi``."""
    n, c = x.shape
    for i in range(n):
        for r in range(c):
            if x[i, r] < lo or x[i, r] > hi:
                return True
    return False


@_ijit
def is_identity(perm, r, n):
    """Whether replica ``r`` holds its modes in index order (``perm[k, r] == k``)."""
    for k in range(n):  # noqa: SIM110 (a loop: numba compiles no generator expressions)
        if perm[k, r] != k:
            return False
    return True


@_ijit
def has_bounds(lok, hik):
    """Whether any mode has a reflecting or wall end."""
    for i in range(lok.shape[0]):  # noqa: SIM110 (numba compiles no generator expressions)
        if lok[i] != NATURAL or hik[i] != NATURAL:
            return True
    return False

"""Private numba kernels that record a run: running moments, histograms, snapshots.

A chunk of ``C`` replicas is an ``(N, C)`` array (replicas innermost).  What is
recorded is set by :class:`Stats` (shared by all chunks, read only); each chunk
adds into its own :class:`StatBuf`.  :func:`record_step` is called after every
step; its parts are inlined into it (numba ``inline="always"``) so that it calls no
other function: then numba prunes the reference counts of the fields it reads.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from fpsolve.dbm._counters import N_RECORDED, SNAP_POS
from fpsolve.jit import jit

__all__ = ["StatBuf", "Stats", "next_record", "record_step", "snapshot"]

_kjit = jit(error_model="numpy")
_ijit = jit(error_model="numpy", inline="always")


class Stats(NamedTuple):
    """What is recorded, and where (one per run)."""

    rec_start: int  # first recorded step
    every: int  # record every ``every`` steps from ``rec_start``
    ref: np.ndarray  # (N,) centre of the power sums
    hist_lo: np.ndarray  # (G,) lower edge of each group's histogram
    hist_w: np.ndarray  # (G,) bin width of each group
    group_of: np.ndarray  # (N,) int64 group of each mode
    members: np.ndarray  # (G, M) int64 members of each group, padded with -1
    sp_w: np.ndarray  # (G,) bin width of each group's spacing histogram
    snap_steps: np.ndarray  # (S,) int64 steps of the snapshots, ascending
    pair_i: np.ndarray  # (P,) int64 lower member of each neighbouring pair in a group
    pair_j: np.ndarray  # (P,) int64 upper member


class StatBuf(NamedTuple):
    """The accumulators of one chunk of ``C`` replicas."""

    mom: np.ndarray  # (N, 4) power sums of x - ref, k = 1..4
    hist: np.ndarray  # (N, B) int64 counts per mode
    under: np.ndarray  # (N,) int64 below the range
    over: np.ndarray  # (N,) int64 above the range
    sp_hist: np.ndarray  # (G, B) int64 neighbour spacings in each group
    sp_over: np.ndarray  # (G,) int64 spacings beyond the last edge
    snaps: np.ndarray  # (S, N, C) states at the snapshot steps (NaN until taken)
    buf: np.ndarray  # (N,) scratch
    rep_sums: np.ndarray  # (C, N, 2) per replica: sums of x and x^2 ((0, N, 2): off)
    rep_spacing: np.ndarray  # (C, P) per replica: sums of x_j - x_i of each pair


@_ijit
def _moments_and_histograms(x, st, bf):
    n, c = x.shape
    # fields into locals once: a tuple field read inside a loop costs a reference count
    hist, under, over, mom = bf.hist, bf.under, bf.over, bf.mom
    group_of, hist_lo, hist_w, ref = st.group_of, st.hist_lo, st.hist_w, st.ref
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


@_ijit
def _spacing_histograms(x, st, bf):
    """Histogram of the neighbour spacings of the sorted values of each group."""
    c = x.shape[1]
    buf, sp_hist, sp_over, members, sp_w = bf.buf, bf.sp_hist, bf.sp_over, st.members, st.sp_w
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


@_ijit
def _replica_sums(x, st, bf, stopped):
    """Per replica that has not stopped: sums of x, x^2 and of the labelled spacings
    x_j - x_i of the pairs."""
    n = x.shape[0]
    sums, spacing, pair_i, pair_j = bf.rep_sums, bf.rep_spacing, st.pair_i, st.pair_j
    for r in range(sums.shape[0]):
        if stopped[r]:
            continue
        for i in range(n):
            v = x[i, r]
            sums[r, i, 0] += v
            sums[r, i, 1] += v * v
        for p in range(pair_i.shape[0]):
            spacing[r, p] += x[pair_j[p], r] - x[pair_i[p], r]


@_ijit
def _snapshots(x, step, st, bf, counters, stopped):
    """The snapshots taken at ``step``; those of stopped replicas stay NaN."""
    pos = counters[SNAP_POS]
    snap_steps, snaps = st.snap_steps, bf.snaps
    n, c = x.shape
    while pos < snap_steps.shape[0] and snap_steps[pos] == step:
        for i in range(n):
            for r in range(c):
                if not stopped[r]:
                    snaps[pos, i, r] = x[i, r]
        pos += 1
    counters[SNAP_POS] = pos


@_ijit
def _live_columns(x, stopped):
    """``x`` (N, C) itself if no replica has stopped, else a copy of the columns of the
    replicas that have not."""
    n, c = x.shape
    live = 0
    for r in range(c):
        live += stopped[r] == 0
    if live == c:
        return x
    out = np.empty((n, live))
    k = 0
    for r in range(c):
        if stopped[r] == 0:
            for i in range(n):
                out[i, k] = x[i, r]
            k += 1
    return out


@_kjit
def snapshot(x, step, st, bf, counters):
    """Copy ``x`` (N, C) into every snapshot taken at ``step``."""
    _snapshots(x, step, st, bf, counters, np.zeros(x.shape[1], dtype=np.int64))


@_ijit
def _next_statistics(step, rec_start, every):
    """The first step ``>= step`` whose statistics are recorded."""
    if step <= rec_start:
        return rec_start
    return rec_start + -((rec_start - step) // every) * every


@_kjit
def next_record(step, st, counters):
    """The first step ``>= step`` at which :func:`record_step` records anything
    (statistics or a snapshot not yet taken); kernels with few replicas per chunk call
    :func:`record_step` only there."""
    due = _next_statistics(step, st.rec_start, st.every)
    pos = counters[SNAP_POS]
    if pos < st.snap_steps.shape[0]:
        due = min(due, st.snap_steps[pos])
    return due


@_kjit
def record_step(x, step, st, bf, counters, stopped):
    """Record the state ``x`` (N, C) after ``step``: statistics if ``step`` is a recorded
    step (counted in ``counters[N_RECORDED]``), and the snapshots taken at ``step``.

    A replica with ``stopped[r] > 0`` (it left the domain at that step) is left out: it
    enters no statistics and its snapshots stay NaN
    (:func:`fpsolve.dbm.statistics.recorded_steps` counts its recorded steps)."""
    if _next_statistics(step, st.rec_start, st.every) == step:
        live = _live_columns(x, stopped)
        _moments_and_histograms(live, st, bf)
        _spacing_histograms(live, st, bf)
        _replica_sums(x, st, bf, stopped)
        counters[N_RECORDED] += 1
    _snapshots(x, step, st, bf, counters, stopped)

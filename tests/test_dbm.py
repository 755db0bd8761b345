"""Tests of fpsolve.dbm: exact one-step maps, recording, invariances, input errors.

The statistical tests against exact Coulomb-gas results are in test_dbm_stats.py.
"""

import itertools
import json
import math
import os
import re
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fpsolve import dbm
from fpsolve.dbm import _counters, _ordering, _pairs, _random, _setup, integrators
from fpsolve.dbm import _kernels as _k
from fpsolve.dbm._implicit import implicit_pair_solve as _implicit_pair_solve
from fpsolve.models import HarmonicModel, Modes, PCDNoise, PotentialModel
from fpsolve.streams import normals, stream

TWO = Modes.harmonic([1.0, 1.0])


def _replica_normals(seed, n_replicas, size):
    """Row ``r``: the first ``size`` normals of replica ``r``'s stream for ``rng=seed``."""
    seqs = [np.random.SeedSequence(seed, spawn_key=(r,)) for r in range(n_replicas)]
    return np.stack([normals(stream(q), size) for q in seqs])


# --------------------------------------------------------------------------- exact maps
def test_sgd_step_is_the_formula():
    """One step of simulate_sgd is the theory page's SGD map with the same normals, to rounding."""
    modes = Modes([HarmonicModel(2.0, 1.0), HarmonicModel(0.5, -1.0), HarmonicModel(1.0, 3.0)])
    alpha, bsz = 0.05, 8
    gt2 = np.array([1.0, 2.0, 0.5])
    x0 = np.array([0.9, -1.2, 3.3])
    res = dbm.simulate_sgd(
        modes, alpha=alpha, batch_size=bsz, gt2=gt2, x0=x0, n_steps=1, n_replicas=5, rng=7
    )
    eta = _replica_normals(7, 5, 3)  # one normal per mode, in mode order
    k = modes.drift(x0)
    pair = np.array([sum(gt2[i] / (x0[i] - x0[j]) for j in range(3) if j != i) for i in range(3)])
    want = x0 + alpha * k + alpha**2 / bsz * pair + alpha / np.sqrt(bsz) * np.sqrt(2 * gt2) * eta
    np.testing.assert_allclose(res.x, want, rtol=1e-13, atol=1e-15)
    assert res.crossing_steps.sum() == 0


@pytest.mark.parametrize("n_replicas", [3, 20])  # pair sum over modes / over replicas
@pytest.mark.parametrize("coupling", [None, [[0.0, 0.5], [0.5, 0.0]]])
def test_em_step_is_euler_maruyama(n_replicas, coupling):
    modes = Modes.harmonic([1.0, 3.0], [0.0, 0.5])
    g2, dt = np.array([0.3, 0.7]), 0.01
    x0 = np.array([-0.2, 0.4])
    res = dbm.simulate(
        modes,
        g2,
        x0,
        dt=dt,
        n_steps=1,
        n_replicas=n_replicas,
        scheme="em",
        rng=3,
        coupling=coupling,
    )
    eta = _replica_normals(3, n_replicas, 2)
    gpair = g2 if coupling is None else np.array([0.5, 0.5])
    pair = gpair * np.array([1 / (x0[0] - x0[1]), 1 / (x0[1] - x0[0])])
    want = x0 + dt * (modes.drift(x0) + pair) + np.sqrt(2 * dt * g2) * eta
    np.testing.assert_allclose(res.x, want, rtol=1e-13, atol=1e-15)


def test_sgd_counts_crossings_without_sorting():
    """A step that swaps two eigenvalues is counted and the values are left as computed."""
    modes = Modes.harmonic([1.0, 1.0])
    # huge alpha * K pushes the pair through each other: x' = x (1 - alpha) + small terms
    res = dbm.simulate_sgd(
        modes,
        alpha=1.9,
        batch_size=10**6,
        gt2=1e-12,
        x0=[-1.0, 1.0],
        n_steps=1,
        n_replicas=2,
        rng=0,
    )
    assert np.all(res.x[:, 0] > res.x[:, 1])  # not sorted back
    np.testing.assert_array_equal(res.crossing_steps, [1, 1])
    assert res.pair_crossings == 2


@given(
    y=st.lists(st.floats(-3, 3), min_size=2, max_size=6),
    p=st.floats(1e-4, 1.0),
)
@example(y=[0.25, -2.0, 1.0, 0.0], p=1e-4)  # a stiff pair: gap 7e-5 in the solution
def test_implicit_pair_solve_solves_and_keeps_order(y, p):
    y = np.array(y)
    n = y.size
    z = np.arange(n, dtype=float) - n / 2  # ordered start
    rows = np.linspace(0.5, 2.0, n)  # unequal g_i^2: P_ij = rows_i * p
    pc = np.full((n, n), p)
    np.fill_diagonal(pc, 0.0)
    order = np.arange(n)
    assert _implicit_pair_solve(y, z, rows, pc, order, 200)
    assert np.all(np.diff(z) > 0)
    resid = (
        z
        - y
        - np.array([sum(rows[i] * p / (z[i] - z[j]) for j in range(n) if j != i) for i in range(n)])
    )
    np.testing.assert_allclose(resid, 0.0, atol=1e-9 * (1 + np.abs(y).max()))


def test_safe_scheme_keeps_the_order():
    modes = Modes.harmonic(np.ones(6))
    x0 = np.linspace(-1, 1, 6)[::-1].copy()  # descending: that order must be kept
    res = dbm.simulate(
        modes,
        1.0,
        x0,
        dt=0.05,
        n_steps=400,
        n_replicas=50,
        rng=2,
        record=dbm.Record(snapshots=range(0, 401, 20)),
    )
    assert res.redo_steps > 0
    assert res.redo_failed == 0
    assert np.all(np.diff(res.snapshots, axis=2) < 0)


# --------------------------------------------------------------------------- SGD, PCD noise
RBM4 = Modes.rbm([8.0, 6.0, 6.0, 4.0], 9.0, convention="training")  # x_s = 1, 3, 3, 5


def _pcd_terms(noise, x):
    """Drift per unit alpha, coupling and second-order drift of RBM4 at x (numpy)."""
    return RBM4.drift(x), noise.at(RBM4, x).coupling, noise.second_order_drift(RBM4, x)


def test_pcd_sgd_step_is_the_formula():
    """One perturbative step of simulate_sgd(noise=PCDNoise) is the map of its docstring."""
    alpha, bsz = 0.1, 4000
    noise = PCDNoise(k=3, n_v=6)
    x0 = np.array([1.0, 2.9, 3.1, 5.0])
    res = dbm.simulate_sgd(
        RBM4, alpha=alpha, batch_size=bsz, noise=noise, x0=x0, n_steps=1, n_replicas=3, rng=5
    )
    assert res.matrix_steps == 0
    k, g, d = _pcd_terms(noise, x0)
    pair = np.array([sum(g[a, b] / (x0[a] - x0[b]) for b in range(4) if b != a) for a in range(4)])
    for r, eta in enumerate(_replica_normals(5, 3, 4)):  # one stream per replica
        want = (
            x0
            + alpha * (k + alpha / bsz * d)
            + alpha**2 / bsz * pair
            + alpha / np.sqrt(bsz) * np.sqrt(2 * np.diag(g)) * eta
        )
        np.testing.assert_allclose(res.x[r], want, rtol=1e-13)


def _pcd_step_reference(noise, x, alpha, bsz, draws):
    """One step of the PCD map (simulate_sgd's docstring) in numpy from a replica's
    normals: perturbative, isolated near pairs as 2 x 2 blocks, or the whole matrix."""
    n = x.size
    k, g, d = _pcd_terms(noise, x)
    base = x + alpha * (k + alpha / bsz * d) + alpha * np.sqrt(2 * np.diag(g) / bsz) * draws[:n]
    kick = alpha * np.sqrt(np.diag(g, 1) / bsz)
    link = np.diff(x) < 2.0 * kick
    used, off = n, {}
    if not np.any(link[1:] & link[:-1]):
        pair = np.zeros(n)
        for a, b in itertools.permutations(range(n), 2):
            if abs(a - b) > 1 or not link[min(a, b)]:
                pair[a] += g[a, b] / (x[a] - x[b])
        trial = base + alpha**2 / bsz * pair
        for i in np.flatnonzero(link):
            off[i] = draws[used]
            used += 1
            block = np.diag(trial[i : i + 2]) + np.diag([kick[i] * off[i]], 1)
            trial[i : i + 2] = np.linalg.eigvalsh(block, UPLO="U")
        if np.all(np.diff(trial) > 0):
            return trial, "pair" if off else "perturbative"
    a = np.diag(base)
    for i, j in itertools.combinations(range(n), 2):  # row by row over the upper triangle
        if j == i + 1 and i in off:
            z = off[i]
        else:
            z, used = draws[used], used + 1
        a[i, j] = a[j, i] = alpha * np.sqrt(g[i, j] / bsz) * z
    return np.linalg.eigvalsh(a), "matrix"


@pytest.mark.parametrize(
    ("x0", "kinds"),
    [
        ([1.0, 3.0, 3.0 + 1e-4, 5.0], {"pair"}),  # one near pair
        ([0.02, 0.02 + 1e-5, 3.0, 3.0 + 1e-4], {"pair"}),  # two pairs sharing no mode
        ([1.0, 3.0, 3.0 + 1e-4, 3.0 + 2e-4], {"matrix"}),  # three within the kicks
        ([1.0, 3.0, 3.0 + 1e-4, 3.06], {"pair", "matrix"}),  # the pair step may break the order
    ],
)
def test_pcd_sgd_near_collision_steps(x0, kinds):
    """Neighbours within two off-diagonal kicks: each isolated near pair is the spectrum of
    its 2 x 2 block (the rest of the step perturbative), and a step whose near links share
    a mode, or whose pair step breaks the order, is the spectrum of the matrix
    diag(x + alpha K + alpha^2 D/|B| + noise) + dX (the pairs' kicks kept, fresh normals
    elsewhere); against the numpy reference of the step with the same normals."""
    alpha, bsz, n_rep = 0.1, 16, 200
    noise = PCDNoise(k=3, n_v=4)
    x0 = np.array(x0)
    res = dbm.simulate_sgd(
        RBM4, alpha=alpha, batch_size=bsz, noise=noise, x0=x0, n_steps=1, n_replicas=n_rep, rng=6
    )
    seen = []
    for r, draws in enumerate(_replica_normals(6, n_rep, 12)):
        want, kind = _pcd_step_reference(noise, x0, alpha, bsz, draws)
        seen.append(kind)
        np.testing.assert_allclose(res.x[r], want, rtol=1e-12, atol=1e-12)
    assert set(seen) == kinds
    assert (res.pair_steps, res.matrix_steps) == (seen.count("pair"), seen.count("matrix"))


def test_pcd_sgd_pair_steps_keep_the_statistics(monkeypatch):
    """Taking isolated near pairs as 2 x 2 blocks leaves the stationary statistics of the
    map as they are with every near collision taken as a matrix: mean and std of every
    eigenvalue and the mean spacing of the degenerate pair, per-replica time averages of
    two independent ensembles, within Bonferroni bounds from the replica spread."""
    import functools

    from scipy import stats

    noise = PCDNoise(k=3, n_v=4)
    kw = {"alpha": 0.4, "batch_size": 64, "noise": noise, "n_steps": 3000, "n_replicas": 200}
    rec = dbm.Record(burn_in=500, per_replica=True, pairs=[(1, 2)])
    res = dbm.simulate_sgd(RBM4, **kw, record=rec, rng=21)
    with monkeypatch.context() as m:
        m.setattr(integrators._k, "PCDCoef", functools.partial(_k.PCDCoef, exact_pairs=False))
        ref = dbm.simulate_sgd(RBM4, **kw, record=rec, rng=22)
    assert res.pair_steps > 0.05 * 3000 * 200
    assert ref.pair_steps == 0

    def replica_stats(r):
        m = r.replica_mean
        return np.column_stack([m, np.sqrt(r.replica_mean_square - m**2), r.replica_spacing])

    a, b = replica_stats(res), replica_stats(ref)
    err = np.sqrt(a.var(axis=0, ddof=1) / len(a) + b.var(axis=0, ddof=1) / len(b))
    z = stats.norm.isf(0.01 / (2 * a.shape[1]))
    assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) <= z * err)


def test_jacobi_eigenvalues_match_eigvalsh():
    from fpsolve.dbm._linalg import jacobi_eigenvalues

    gen = np.random.default_rng(0)
    for n in (1, 2, 5, 12):
        a = gen.normal(size=(n, n))
        a = a + a.T + np.diag(np.arange(n) * 3.0)
        out = np.empty(n)
        jacobi_eigenvalues(a.copy(), out)
        np.testing.assert_allclose(out, np.linalg.eigvalsh(a), rtol=0, atol=1e-12 * np.abs(a).sum())


def test_symmetric_eigenvalues_match_eigvalsh():
    """Householder + QL (the matrix step of the PCD map) against LAPACK: random,
    nearly diagonal with near-degenerate pairs, diagonal and 1 x 1 matrices; the input
    is kept."""
    from fpsolve.dbm._linalg import symmetric_eigenvalues

    gen = np.random.default_rng(1)
    for n in (1, 2, 3, 10, 30):
        for kind in ("random", "near-diagonal", "diagonal"):
            a = gen.normal(size=(n, n))
            a = a + a.T
            if kind != "random":
                d = np.sort(gen.uniform(0, 9, size=n))
                d[1::3] = d[0::3][: len(d[1::3])] + 1e-9  # near-degenerate neighbours
                a = np.diag(d) + (1e-3 * a if kind == "near-diagonal" else 0.0)
            keep = a.copy()
            out = np.empty(n)
            symmetric_eigenvalues(a, np.empty((n, n)), np.empty(n), out)
            np.testing.assert_array_equal(a, keep)
            # backward stable: |error| <= c n eps ||a|| (c = 1 here)
            atol = n * np.finfo(float).eps * np.linalg.norm(a)
            np.testing.assert_allclose(out, np.linalg.eigvalsh(a), rtol=0, atol=atol)


def test_jacobi_lanes_match_eigvalsh_and_do_not_depend_on_the_batch():
    """The batched Jacobi of the aligned SGD map: each matrix's eigenvalues within the
    bound of the stopping rule, and bit for bit those it gets alone; the strict upper
    triangle is never read."""
    from fpsolve.dbm._linalg import jacobi_lanes
    from fpsolve.products import LANES

    gen = np.random.default_rng(2)
    for n in (1, 2, 3, 10):
        mats = []
        kinds = ("random", "near-diagonal", "converged", "diagonal", "degenerate", "zero")
        for kind in kinds:
            a = gen.normal(size=(n, n))
            a = a + a.T
            d = np.sort(gen.uniform(0, 9, size=n))
            d[1::3] = d[0::3][: len(d[1::3])] + 1e-9  # near-degenerate neighbours
            if kind == "near-diagonal":
                a = np.diag(d) + 0.05 * a
            elif kind == "converged":  # below the stopping rule; a rotation would still act
                a = np.diag(d)
                if n > 1:
                    a[0, 0], a[1, 1] = 1e-6, 2e-6
                    a[0, 1] = a[1, 0] = 1e-12
            elif kind == "diagonal":
                a = np.diag(d)
            elif kind == "degenerate":  # equal diagonal, coupled: gap 0 in every rotation
                a = np.full((n, n), 0.3) + np.eye(n)
            elif kind == "zero":
                a = np.zeros((n, n))
            mats.append(a)
        mats = np.array(mats)

        def solve(batch):
            size, m = batch.shape[:2]
            lanes = np.full((m, m, size), np.nan)
            low = np.tril_indices(m)
            lanes[low] = batch[:, low[0], low[1]].T
            out = np.empty((size, m))
            jacobi_lanes(lanes.reshape(m * m, size), m, out, np.empty((5, size)))
            return out

        together = solve(mats)
        full = solve(np.concatenate([mats] * 3)[:LANES])  # the rotations' vector path
        for k, a in enumerate(mats):
            np.testing.assert_array_equal(solve(a[None]), together[k : k + 1])
            np.testing.assert_array_equal(full[k : k + 1], together[k : k + 1])
            # Weyl: stopping at off-diagonal mass 1e-24 of the diagonal's moves an
            # eigenvalue by at most sqrt(2e-24) ||a||_F; round-off n eps ||a||_F
            norm = np.linalg.norm(a)
            atol = (math.sqrt(2e-24) + n * np.finfo(float).eps) * norm
            np.testing.assert_allclose(together[k], np.linalg.eigvalsh(a), rtol=0, atol=atol)


def test_pcd_sgd_replicas_that_leave_the_domain_stop():
    """A crowded start at large alpha/|B|: replicas leave [0, mu2/s) and stop there."""
    modes = Modes.rbm([4.0, 4.1, 4.2], 9.0, convention="training")
    x0 = np.array([0.001, 0.002, 0.003])
    res = dbm.simulate_sgd(
        modes,
        alpha=1.0,
        batch_size=1,
        noise=PCDNoise(),
        x0=x0,
        n_steps=60,
        n_replicas=10,
        rng=2,
        record=dbm.Record(snapshots=range(61), burn_in=0, per_replica=True),
    )
    stopped = res.left_domain > 0
    assert stopped.any()
    for r in np.flatnonzero(stopped):
        s = res.left_domain[r]
        assert np.all(np.isfinite(res.snapshots[:s, r]))
        assert np.all(np.isnan(res.snapshots[s:, r]))
        kept = res.snapshots[1:s, r]  # the recorded steps before it stopped
        np.testing.assert_allclose(res.replica_mean[r], kept.mean(axis=0), rtol=1e-12)
    assert res.n_samples == sum(min(s - 1, 60) if s else 60 for s in res.left_domain)
    # the pooled statistics hold the recorded steps of each replica before it stopped
    np.testing.assert_allclose(res.mean, np.nanmean(res.snapshots[1:], axis=(0, 1)), rtol=1e-12)
    counts = res.histograms.counts.sum(axis=1) + res.histograms.underflow + res.histograms.overflow
    np.testing.assert_array_equal(counts, res.n_samples)
    x = res.snapshots[np.isfinite(res.snapshots[:, :, 0])]
    assert np.all((x >= 0) & (x < 9.0))
    assert np.all(np.diff(x, axis=1) > 0)


@pytest.mark.parametrize("crowded", [True, False])
def test_pcd_sgd_does_not_depend_on_the_replicas_per_chunk(monkeypatch, crowded):
    """The PCD map runs its replicas in lanes: one replica per chunk, 3 and 32 give the same
    numbers, with replicas that stop (both cases, most of them from the crowded start) and
    with 2 x 2 and matrix steps."""
    modes = Modes.rbm([8.0, 6.0, 6.0, 4.0], 9.0, convention="training")
    kw = {"alpha": 0.1, "batch_size": 4, "x0": None, "n_steps": 400}
    if crowded:
        modes = Modes.rbm([4.0, 4.1, 4.2], 9.0, convention="training")
        kw = {"alpha": 1.0, "batch_size": 1, "x0": [0.001, 0.002, 0.003], "n_steps": 60}
    record = dbm.Record(snapshots=range(0, kw["n_steps"] + 1, 5), burn_in=10, per_replica=True)
    runs = []
    for size in (1, 3, 32):
        monkeypatch.setattr(_k, "PCD_LANES", size)
        runs.append(
            dbm.simulate_sgd(modes, noise=PCDNoise(k=2), n_replicas=40, rng=3, record=record, **kw)
        )
    one = runs[0]
    assert one.left_domain.any()
    assert one.matrix_steps > 0
    assert crowded or one.pair_steps > 0
    for res in runs[1:]:
        for name in ("x", "snapshots", "left_domain", "replica_mean", "replica_spacing"):
            np.testing.assert_array_equal(getattr(res, name), getattr(one, name), err_msg=name)
        np.testing.assert_array_equal(res.histograms.counts, one.histograms.counts)
        np.testing.assert_array_equal(res.histograms.spacing_counts, one.histograms.spacing_counts)
        assert (res.n_samples, res.matrix_steps, res.pair_steps) == (
            one.n_samples,
            one.matrix_steps,
            one.pair_steps,
        )
        # the chunks' power sums are added in another order
        np.testing.assert_allclose(res.power_sums, one.power_sums, rtol=1e-12)


def test_per_replica_averages_equal_the_snapshots():
    modes = Modes([HarmonicModel(1.0), HarmonicModel(1.0), HarmonicModel(2.0, 3.0)])
    rec = dbm.Record(snapshots=range(101), burn_in=40, per_replica=True)
    res = dbm.simulate(modes, 0.5, dt=0.02, n_steps=100, n_replicas=12, rng=3, record=rec)
    late = res.snapshots[41:]  # (steps, R, N)
    assert res.pairs == ((0, 1),)
    np.testing.assert_allclose(res.replica_mean, late.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(res.replica_mean_square, (late**2).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        res.replica_spacing[:, 0], (late[:, :, 1] - late[:, :, 0]).mean(axis=0), rtol=1e-10
    )
    rec2 = dbm.Record(burn_in=40, per_replica=True, pairs=((2, 0),))
    res2 = dbm.simulate(modes, 0.5, dt=0.02, n_steps=100, n_replicas=12, rng=3, record=rec2)
    np.testing.assert_array_equal(res2.x, res.x)
    assert res2.pairs == ((2, 0),)
    np.testing.assert_allclose(
        res2.replica_spacing[:, 0], (late[:, :, 0] - late[:, :, 2]).mean(axis=0), rtol=1e-10
    )
    assert dbm.simulate(modes, 0.5, dt=0.02, n_steps=10, rng=3).replica_mean is None


def test_sgd_noise_rejects_bad_input():
    kw = {"alpha": 0.1, "batch_size": 8, "n_steps": 2}
    with pytest.raises(ValueError, match="not both"):
        dbm.simulate_sgd(RBM4, gt2=1.0, noise=PCDNoise(), **kw)
    with pytest.raises(ValueError, match="gt2 is required"):
        dbm.simulate_sgd(RBM4, **kw)
    with pytest.raises(TypeError, match="PCDNoise"):
        dbm.simulate_sgd(RBM4, noise=lambda x: 1.0, **kw)
    with pytest.raises(ValueError, match="'training' convention"):
        dbm.simulate_sgd(Modes.rbm([8.0, 4.0], 9.0), noise=PCDNoise(), **kw)
    with pytest.raises(ValueError, match="ascending"):
        dbm.simulate_sgd(RBM4, noise=PCDNoise(), x0=[5.0, 3.1, 2.9, 1.0], **kw)
    with pytest.raises(ValueError, match="n_v must be >="):
        dbm.simulate_sgd(RBM4, noise=PCDNoise(n_v=3), **kw)
    with pytest.raises(ValueError, match=r"record\.pairs"):
        dbm.simulate(TWO, 1.0, dt=0.1, n_steps=2, record=dbm.Record(pairs=((0, 2),)))


# --------------------------------------------------------------------------- recording
def test_streaming_statistics_equal_the_snapshots():
    """Recording every 5th step after burn-in = histogramming snapshots at those steps."""
    modes = Modes([HarmonicModel(1.0), HarmonicModel(1.0), HarmonicModel(2.0, 3.0)])
    steps = list(range(105, 301, 5))
    rec = dbm.Record(snapshots=steps, burn_in=100, every=5, bins=30)
    res = dbm.simulate(modes, 0.5, dt=0.01, n_steps=300, n_replicas=150, rng=4, record=rec)
    snaps = res.snapshots  # (n_snap, R, N)
    assert res.n_recorded == len(steps)
    h = res.histograms
    assert h.groups == ((0, 1), (2,))
    for i, g in ((0, 0), (1, 0), (2, 1)):
        counts, _ = np.histogram(snaps[:, :, i], bins=h.edges[g])
        outside = counts.sum() != snaps[:, :, i].size
        np.testing.assert_array_equal(h.counts[i], counts)
        assert h.underflow[i] + h.overflow[i] == snaps[:, :, i].size - counts.sum() or outside
    np.testing.assert_allclose(res.mean, snaps.mean(axis=(0, 1)), rtol=1e-10)
    np.testing.assert_allclose(res.var, snaps.reshape(-1, 3).var(axis=0), rtol=1e-8)
    sp, _ = np.histogram(np.abs(snaps[:, :, 0] - snaps[:, :, 1]), bins=h.spacing_edges[0])
    np.testing.assert_array_equal(h.spacing_counts[0], sp)
    pooled = np.concatenate([snaps[:, :, 0].ravel(), snaps[:, :, 1].ravel()])
    np.testing.assert_array_equal(h.pooled_counts(0), np.histogram(pooled, h.edges[0])[0])
    u = pooled - 0.0
    want = np.mean(u**4) / (3 * np.mean(u**2) ** 2) - 1
    assert res.pooled_binder(0) == pytest.approx(want, rel=1e-9)


def test_plots_return_artists():
    res = dbm.simulate(TWO, 1.0, dt=0.01, n_steps=20, n_replicas=10, rng=1)
    assert len(res.plot()) == 1
    s = dbm.sample_coulomb_gas(TWO, 1.0, n_samples=50, rng=1)
    assert len(s.plot()) > 0


# --------------------------------------------------------------------------- paths agree
@pytest.mark.slow  # compiles two further specialisations of the kernel (about 8 s)
def test_user_model_and_noise_paths_equal_the_fast_path():
    """PotentialModel (generated dispatcher) and noise=g(x) reproduce HarmonicModel bit for bit."""

    @numba.njit
    def v(x):
        return 0.5 * x * x

    @numba.njit
    def dv(x):
        return x

    @numba.njit
    def g(x):
        return 1.0

    pm = PotentialModel(v, dv)
    kw = {"dt": 0.02, "n_steps": 200, "n_replicas": 70, "rng": 11}
    fast = dbm.simulate(TWO, 1.0, [-0.5, 0.5], **kw)
    user = dbm.simulate(Modes([pm, pm]), 1.0, [-0.5, 0.5], **kw)
    noisy = dbm.simulate(TWO, None, [-0.5, 0.5], noise=g, **kw)
    noisy_g2 = dbm.simulate(TWO, 5.0, [-0.5, 0.5], noise=g, **kw)  # g2 unused by the dynamics
    np.testing.assert_array_equal(user.x, fast.x)
    np.testing.assert_array_equal(noisy.x, fast.x)
    np.testing.assert_array_equal(noisy_g2.x, fast.x)
    assert fast.redo_steps > 0  # the safe branch was exercised on every path


@pytest.mark.parametrize("n_replicas", [3, 20])
def test_coupling_matrix_equal_to_g2_is_the_default(n_replicas):
    kw = {"dt": 0.02, "n_steps": 100, "n_replicas": n_replicas, "rng": 5}
    a = dbm.simulate(TWO, 0.7, [-0.5, 0.5], **kw)
    b = dbm.simulate(TWO, 0.7, [-0.5, 0.5], coupling=np.full((2, 2), 0.7), **kw)
    np.testing.assert_array_equal(a.x, b.x)


def test_rng_reproducible_and_generator_advances():
    a = dbm.simulate(TWO, 1.0, dt=0.01, n_steps=50, n_replicas=200, rng=3)
    b = dbm.simulate(TWO, 1.0, dt=0.01, n_steps=50, n_replicas=200, rng=3)
    np.testing.assert_array_equal(a.x, b.x)
    gen = np.random.default_rng(3)
    c = dbm.simulate(TWO, 1.0, dt=0.01, n_steps=50, n_replicas=200, rng=gen)
    d = dbm.simulate(TWO, 1.0, dt=0.01, n_steps=50, n_replicas=200, rng=gen)
    assert not np.array_equal(c.x, d.x)


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**32 - 1, 2**32, 2**63 - 1, 2**70 + 3])
def test_replica_streams_are_the_seed_sequence_streams(seed):
    """The numba construction of the replica streams is numpy's SeedSequence, bit for bit."""
    for start, stop in ((0, 50), (2**32 - 2, 2**32 + 2)):
        got = _random.replica_streams(seed, start, stop)
        want = [stream(np.random.SeedSequence(seed, spawn_key=(r,))) for r in range(start, stop)]
        np.testing.assert_array_equal(got, np.stack(want, axis=1))


def test_normals_by_replica_are_each_streams_normals():
    """Drawn mode by mode across replicas, each replica's normals are its stream's sequence."""
    n, c, steps = 7, 300, 40  # ~1% of draws are rejections: every branch is taken
    st = _random.replica_streams(4, 0, c)
    eta = np.empty((steps, n, c))
    scratch = (np.empty(c, np.int64), np.empty(c, np.int64), np.empty(4, np.uint64))
    for k in range(steps):
        _random.fill_normals_by_replica(st, eta[k], *scratch)
    want = _replica_normals(4, c, steps * n).reshape(c, steps, n)
    np.testing.assert_array_equal(eta.transpose(2, 0, 1), want)
    for r in range(c):  # the states advanced exactly as the sequential draws
        s = stream(np.random.SeedSequence(4, spawn_key=(r,)))
        normals(s, steps * n)
        np.testing.assert_array_equal(st[:, r], s)


def test_the_start_order_is_the_stable_argsort():
    """``sorted_order`` (insertion sort per replica) is ``np.argsort(kind="stable")``, ties in
    index order included, and ``any_outside`` is the numpy test it replaces."""
    rng = np.random.default_rng(3)
    for x in (
        rng.normal(size=(7, 300)),
        rng.integers(0, 3, size=(6, 200)).astype(float),  # many ties
        np.sort(rng.normal(size=(5, 50)), axis=0),  # sorted: the common start
        np.sort(rng.normal(size=(5, 50)), axis=0)[::-1].copy(),  # reversed: every swap
        np.zeros((1, 4)),
    ):
        np.testing.assert_array_equal(
            _ordering.sorted_order(x), np.argsort(x, axis=0, kind="stable")
        )
        for lo, hi in ((-1.0, 1.0), (-10.0, 10.0), (0.5, 0.6), (x.max(), x.max())):
            want = bool(np.any((x < lo) | (x > hi)))
            assert _ordering.any_outside(x, lo, hi) is want


@pytest.mark.parametrize("scheme", ["em", "safe"])
def test_the_state_after_n_steps_is_the_snapshot_of_a_longer_run(scheme):
    """A run of n steps ends in the state that a longer run passes at step n."""
    four = Modes.harmonic([1.0, 1.0, 2.0, 3.0])
    kw = {"dt": 0.05, "n_replicas": 40, "scheme": scheme, "rng": 2}
    long = dbm.simulate(
        four, 1.0, n_steps=6, record=dbm.Record(snapshots=range(7), statistics=False), **kw
    )
    for n_steps in range(1, 6):
        res = dbm.simulate(four, 1.0, n_steps=n_steps, **kw)
        np.testing.assert_array_equal(res.x, long.snapshots[n_steps])
    # every path of the step: replicas out of index order (em), steps redone (safe)
    assert (long.pair_crossings if scheme == "em" else long.redo_steps) > 0


def _runs(seed=5):
    """Results of every stochastic function of fpsolve.dbm with one seed."""
    four = Modes.harmonic([1.0] * 4)
    rbm = Modes.rbm([8.0, 4.0], 9.0, convention="training")
    kw = {"n_steps": 40, "rng": seed}
    return {
        "em": dbm.simulate(four, 1.0, dt=0.05, n_replicas=700, scheme="em", **kw),
        "safe": dbm.simulate(four, 1.0, dt=0.05, n_replicas=700, **kw),
        "sgd": dbm.simulate_sgd(TWO, alpha=0.1, batch_size=2, gt2=1.0, n_replicas=300, **kw),
        "pcd": dbm.simulate_sgd(
            rbm, alpha=0.1, batch_size=4, noise=PCDNoise(k=3), n_replicas=20, **kw
        ),
        "mala": dbm.sample_coulomb_gas(
            Modes.harmonic([1.0, 2.0]), 1.0, x0=[-0.5, 0.5], n_samples=600, burn_in=50, rng=seed
        ),
    }


def _assert_same_runs(a, b, *, moments_exact=True):
    for key in ("em", "safe", "sgd", "pcd"):
        ra, rb = a[key], b[key]
        np.testing.assert_array_equal(ra.x, rb.x)
        np.testing.assert_array_equal(ra.snapshots, rb.snapshots)
        np.testing.assert_array_equal(ra.histograms.counts, rb.histograms.counts)
        np.testing.assert_array_equal(ra.crossing_steps, rb.crossing_steps)
        assert (ra.redo_steps, ra.matrix_steps) == (rb.redo_steps, rb.matrix_steps)
        if moments_exact:
            np.testing.assert_array_equal(ra.power_sums, rb.power_sums)
        else:  # chunk sums added in another order
            np.testing.assert_allclose(ra.power_sums, rb.power_sums, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(a["mala"].samples, b["mala"].samples)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
def test_results_do_not_depend_on_the_number_of_threads():
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _runs()
        numba.set_num_threads(2)
        two = _runs()
    finally:
        numba.set_num_threads(before)
    _assert_same_runs(one, two)


def test_results_do_not_depend_on_the_chunking(monkeypatch):
    """Each replica (chain) draws from its own stream: chunks of 512, 64 or 7 replicas give
    the same states; only the order of adding the chunks' power sums changes."""
    default = _runs()
    for size in (64, 7):
        monkeypatch.setattr(_setup, "_CHUNK", size)
        _assert_same_runs(default, _runs(), moments_exact=False)


def test_a_replica_depends_only_on_its_seed_and_index():
    """The first replicas of a large run are the replicas of a small one (another chunking)."""
    kw = {"dt": 0.05, "n_steps": 60, "rng": 9, "scheme": "em"}
    small = dbm.simulate(TWO, 1.0, [-0.5, 0.5], n_replicas=3, **kw)
    large = dbm.simulate(TWO, 1.0, [-0.5, 0.5], n_replicas=1500, **kw)
    np.testing.assert_array_equal(large.x[:3], small.x)
    kw = {"method": "mala", "burn_in": 20, "rng": 3}
    a = dbm.sample_coulomb_gas(TWO, 1.0, n_samples=40, n_chains=4, **kw)
    b = dbm.sample_coulomb_gas(TWO, 1.0, n_samples=80, n_chains=8, **kw)
    np.testing.assert_array_equal(b.samples[:40], a.samples)


@pytest.mark.parametrize(
    "rng", [None, 17, np.random.SeedSequence(4), np.random.default_rng(4)], ids=type
)
def test_the_recorded_seed_repeats_the_run(rng):
    kw = {"dt": 0.02, "n_steps": 30, "n_replicas": 50}
    res = dbm.simulate(TWO, 1.0, rng=rng, **kw)
    seed = res.params["seed"]
    assert isinstance(seed, int)
    if isinstance(rng, int):
        assert seed == rng
    np.testing.assert_array_equal(dbm.simulate(TWO, 1.0, rng=seed, **kw).x, res.x)
    sgd = dbm.simulate_sgd(TWO, alpha=0.1, batch_size=4, gt2=1.0, n_steps=5, rng=seed)
    assert sgd.params["seed"] == seed
    gas = dbm.sample_coulomb_gas(TWO, 1.0, n_samples=20, rng=seed)
    assert gas.seed == seed


_THREAD_SCRIPT = """
import hashlib, json, numpy as np
from fpsolve import dbm
from fpsolve.models import Modes, PCDNoise
r = dbm.simulate(Modes.harmonic([1.0] * 4), 1.0, dt=0.05, n_steps=40, n_replicas=700, rng=5)
s = dbm.simulate_sgd(Modes.harmonic([1.0, 1.0]), alpha=0.1, batch_size=2, gt2=1.0,
                     n_steps=40, n_replicas=300, rng=6)
c = dbm.sample_coulomb_gas(Modes.harmonic([1.0, 2.0]), 1.0, n_samples=300, burn_in=50, rng=3)
big = dbm.simulate(Modes.harmonic([1.0] * 600), 1.0, dt=1e-4, n_steps=5, n_replicas=2, rng=7)
p = dbm.simulate_sgd(Modes.rbm([8.0, 4.0], 9.0, convention="training"), alpha=0.1,
                     batch_size=4, noise=PCDNoise(k=3), n_steps=40, n_replicas=20, rng=8)
h = hashlib.sha256()
for a in (r.x, r.histograms.counts, r.crossing_steps, s.x, c.samples, big.x, p.x):
    h.update(np.ascontiguousarray(a).tobytes())
print(json.dumps({"hash": h.hexdigest(), "chunks": 0}))
"""


@pytest.mark.slow  # two fresh processes; in the fast set, the in-process test above
def test_thread_count_invariance():
    """Same seed, NUMBA_NUM_THREADS=1 and =2: identical bits (per-chunk random streams)."""
    out = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads}
        proc = subprocess.run(
            [sys.executable, "-c", _THREAD_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        out.append(json.loads(proc.stdout.strip().splitlines()[-1])["hash"])
    assert out[0] == out[1]


@pytest.mark.parametrize("coupled", [False, True])
def test_blocked_pair_sum_of_a_large_system(monkeypatch, coupled):
    """One system with N >= 512 sums its pairs in fixed row blocks on all threads; the
    result equals the sequential pair sum to rounding."""
    n = 600
    modes = Modes.harmonic(np.ones(n))
    x0 = np.sort(np.random.default_rng(0).normal(size=n)) * math.sqrt(2 * n)
    kw = {"dt": 1e-4, "n_steps": 1, "n_replicas": 2, "scheme": "em", "rng": 3}
    p = np.ones((n, n))
    if coupled:
        g = np.random.default_rng(1).uniform(0.5, 1.5, size=(n, n))
        kw["coupling"] = p = 0.5 * (g + g.T)
    bounds = _pairs.pair_blocks(n)
    pairs = [sum(n - 1 - i for i in range(a, b)) for a, b in itertools.pairwise(bounds)]
    assert len(pairs) == _pairs.PAIR_BLOCKS
    assert max(pairs) - min(pairs) <= 2 * n  # each end of a block within one row
    used = []
    monkeypatch.setattr(integrators, "pair_blocks", lambda m: used.append(m) or bounds)
    blocked = dbm.simulate(modes, 1.0, x0, **kw)
    assert used == [n]
    monkeypatch.setattr(integrators, "PAIR_BLOCKS_MIN_N", 10**9)
    sequential = dbm.simulate(modes, 1.0, x0, **kw)
    assert used == [n]
    # two summation orders of n terms differ by at most 2 (n - 1) eps sum_j |P_ij / (x_i - x_j)|
    d = x0[:, None] - x0[None, :]
    np.fill_diagonal(d, np.inf)
    bound = kw["dt"] * 2 * (n - 1) * np.finfo(float).eps * np.abs(p / d).sum(axis=1)
    assert np.all(np.abs(blocked.x - sequential.x) <= bound + 4 * np.finfo(float).eps * np.abs(x0))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"dt": 0.0}, ValueError, "dt must be > 0"),
        ({"dt": -1e-3}, ValueError, "dt must be > 0"),
        ({"x0": [0.5, 0.5]}, ValueError, "distinct"),
        ({"x0": [0.1, 0.2, 0.3]}, ValueError, "x0 must have shape"),
        ({"x0": np.array([[0.0, 1.0]] * 3)}, ValueError, "x0 must have shape"),
        ({"g2": -1.0}, ValueError, "g2 must be > 0"),
        ({"g2": [1.0, 1.0, 1.0]}, ValueError, "g2 must be a scalar or have shape"),
        ({"n_steps": 0}, ValueError, "n_steps must be >= 1"),
        ({"n_steps": 1.5}, TypeError, "n_steps must be an integer"),
        ({"scheme": "rk4"}, ValueError, "scheme must be one of"),
        ({"coupling": [[0, 1], [2, 0]]}, ValueError, "symmetric"),
        ({"coupling": np.ones((3, 3))}, ValueError, "coupling must have shape"),
        ({"x0": [0.0, np.nan]}, ValueError, "x0 must be finite"),
        ({"rng": "seed"}, TypeError, "rng must be"),
        ({"record": {"bins": 3}}, TypeError, "record must be"),
    ],
)
def test_simulate_rejects_bad_input(kwargs, exc, match):
    args = {"g2": 1.0, "dt": 0.01, "n_steps": 5, "n_replicas": 2, **kwargs}
    g2 = args.pop("g2")
    with pytest.raises(exc, match=match):
        dbm.simulate(TWO, g2, **args)


def test_other_functions_reject_bad_input():
    with pytest.raises(ValueError, match="alpha must be > 0"):
        dbm.simulate_sgd(TWO, alpha=0.0, batch_size=1, gt2=1.0, n_steps=1)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        dbm.simulate_sgd(TWO, alpha=0.1, batch_size=0, gt2=1.0, n_steps=1)
    with pytest.raises(ValueError, match="gt2 must be > 0"):
        dbm.simulate_sgd(TWO, alpha=0.1, batch_size=1, gt2=-1.0, n_steps=1)
    with pytest.raises(ValueError, match="g2 must be > 0"):
        dbm.simulate_matrix(TWO, -1.0, dt=0.1, n_steps=1)
    with pytest.raises(ValueError, match="dt must be > 0"):
        dbm.simulate_matrix(TWO, 1.0, dt=0.0, n_steps=1)
    with pytest.raises(ValueError, match="distinct"):
        dbm.sample_coulomb_gas(TWO, 1.0, n_samples=10, x0=[1.0, 1.0])
    with pytest.raises(ValueError, match="method='exact' needs"):
        dbm.sample_coulomb_gas(Modes.harmonic([1.0, 2.0]), 1.0, n_samples=10, method="exact")
    with pytest.raises(ValueError, match="g2 must be > 0"):
        dbm.sample_coulomb_gas(TWO, 0.0, n_samples=10)
    with pytest.raises(ValueError, match="domain"):
        dbm.simulate(Modes.rbm([4.0], 9.0), 1e-3, [10.0], dt=0.01, n_steps=1)
    with pytest.raises(TypeError, match="modes must be"):
        dbm.simulate([1.0, 2.0], 1.0, dt=0.01, n_steps=1)


# --------------------------------------------------------------------------- no silent NaN
RBM_LATTICE = Modes.rbm_lattice(n_v=10, m2=4.0, mu2=9.0)


@pytest.mark.parametrize(
    ("modes", "g2", "dt", "scheme"),
    [
        (RBM_LATTICE, 1e-3, 3.0, "em"),  # jumps across the bounded domain
        (TWO, 1.0, 1e6, "em"),  # overflows to inf, then NaN
        (TWO, 1.0, 1e6, "safe"),
    ],
)
def test_a_diverging_run_raises(modes, g2, dt, scheme):
    with pytest.raises(FloatingPointError) as info:
        dbm.simulate(modes, g2, dt=dt, n_steps=200, n_replicas=20, scheme=scheme, rng=1)
    msg = str(info.value)
    assert "\n" not in msg
    assert f"scheme={scheme!r} diverged at step " in msg
    assert f"dt={dt:g}" in msg
    assert "1/max|K'(x_s)|" in msg
    assert ("or use scheme='safe'" in msg) == (scheme == "em")  # the explicit scheme's hint


@pytest.mark.slow  # 3000 steps of the safe scheme at values near 1e16 (about 3 s)
def test_a_run_that_runs_away_raises():
    """dt = 3 with curvature 1: the explicit drift multiplies the distance to the stable
    point by -2 per step.  "safe" keeps the values finite (its ordering redo; near 1e16 by
    step 3000), and is stopped by the bound (RUNAWAY = 1e3 times the extent of the starts,
    the stable points and the stationary width)."""
    modes = Modes.harmonic([1.0, 1.0, 1.0], [0.0, 3.0, 6.0])
    kw = {"dt": 3.0, "n_steps": 3000, "n_replicas": 8, "scheme": "safe", "rng": 1}
    with pytest.raises(FloatingPointError) as info:
        dbm.simulate(modes, 0.5, [0.0, 3.0, 6.0], **kw)
    msg = str(info.value)
    assert "\n" not in msg
    assert "scheme='safe' diverged by step 3000 with dt=3 " in msg
    assert "ran away from every stable point" in msg
    # the same run at a stable dt stays within the bound
    res = dbm.simulate(modes, 0.5, [0.0, 3.0, 6.0], **{**kw, "dt": 0.5})
    assert np.all(np.abs(res.x - [0.0, 3.0, 6.0]) < 10)


def test_safe_redoes_a_kick_across_a_bounded_domain():
    """A near-collision whose explicit pair kick throws both eigenvalues across the domain
    [0, 9) is redone by the safe scheme (no error); the explicit scheme has diverged."""
    modes = Modes.rbm([6.0, 6.0], 9.0)  # both stable at 3
    x0 = [3.0, 3.0 + 1e-9]  # dt g2 / spacing = 1e4
    kw = {"dt": 0.01, "n_steps": 20, "n_replicas": 4, "rng": 1}
    res = dbm.simulate(modes, 1e-3, x0, record=dbm.Record(snapshots=(1, 20)), **kw)
    assert res.redo_steps >= 4
    assert np.all(np.isfinite(res.snapshots))
    assert np.all((res.snapshots > 0) & (res.snapshots < 9))
    assert np.all(np.diff(res.snapshots, axis=2) > 0)
    with pytest.raises(FloatingPointError, match="scheme='em' diverged at step 1 "):
        dbm.simulate(modes, 1e-3, x0, scheme="em", **kw)


def test_a_diverging_sgd_map_raises():
    with pytest.raises(FloatingPointError, match=r"the SGD map diverged at step \d+ with alpha=5"):
        dbm.simulate_sgd(TWO, alpha=5.0, batch_size=1, gt2=1.0, n_steps=2000, n_replicas=4, rng=1)


def test_the_step_of_a_divergence_does_not_depend_on_threads_or_chunks(monkeypatch):
    steps = set()
    for size in (512, 3):
        monkeypatch.setattr(_setup, "_CHUNK", size)
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            before = numba.get_num_threads()
            numba.set_num_threads(threads)
            try:
                with pytest.raises(FloatingPointError) as info:
                    dbm.simulate(
                        RBM_LATTICE, 1e-3, dt=0.7, n_steps=300, n_replicas=100, scheme="em", rng=2
                    )
            finally:
                numba.set_num_threads(before)
            steps.add(str(info.value))
    assert len(steps) == 1


def test_a_failed_implicit_solve_names_dt(monkeypatch):
    """A LinAlgError from the implicit solve of "safe" is raised again naming dt and the step."""
    table, kernels = _setup.model_table(TWO)

    def failing(ch, co, tb, st, bf, wk, n_steps, step0):
        ch.counters[_counters.STEP] = step0 + 3
        raise np.linalg.LinAlgError("Matrix is singular to machine precision.")

    monkeypatch.setattr(
        _setup, "model_table", lambda modes, noise=None: (table, kernels.__class__(
            em_chunk=kernels.em_chunk, safe_chunk=failing,
            pcd_chunk=kernels.pcd_chunk, mala_chunk=kernels.mala_chunk,
        ))
    )  # fmt: skip
    with pytest.raises(
        np.linalg.LinAlgError, match=r"scheme='safe' failed at step 3 with dt=0\.25"
    ):
        dbm.simulate(TWO, 1.0, dt=0.25, n_steps=10, n_replicas=3, rng=1)


def test_record_that_records_nothing_is_refused():
    kw = {"dt": 0.01, "n_steps": 100, "n_replicas": 3, "rng": 1}
    for burn_in in (100, 150):
        with pytest.raises(ValueError, match=rf"burn_in={burn_in} .* n_steps=100"):
            dbm.simulate(TWO, 1.0, record=dbm.Record(burn_in=burn_in), **kw)
    with pytest.raises(ValueError, match=r"every=20 records no step after record\.burn_in=90 of"):
        dbm.simulate(TWO, 1.0, record=dbm.Record(burn_in=90, every=20), **kw)
    res = dbm.simulate(TWO, 1.0, record=dbm.Record(burn_in=99), **kw)  # the last step only
    assert res.n_recorded == 1
    np.testing.assert_allclose(res.mean, res.x.mean(axis=0), rtol=1e-12)


def test_statistics_of_a_run_without_statistics_raise():
    rec = dbm.Record(snapshots=(0, 50, 100), statistics=False)
    res = dbm.simulate(TWO, 1.0, dt=0.01, n_steps=100, n_replicas=4, rng=1, record=rec)
    assert res.snapshots.shape == (3, 4, 2)
    assert np.all(np.isfinite(res.snapshots))
    assert res.n_samples == 0
    for what in ("mean", "var"):
        with pytest.raises(ValueError, match=rf"{what} is undefined: the run recorded no"):
            getattr(res, what)
    with pytest.raises(ValueError, match="pooled_binder is undefined"):
        res.pooled_binder(0)
    with pytest.raises(ValueError, match=r"pooled_density\(0\) is undefined"):
        res.plot()
    with pytest.raises(ValueError, match=r"density\(1\) is undefined"):
        res.histograms.density(1)
    with pytest.raises(ValueError, match=r"spacing_density\(0\) is undefined"):
        res.histograms.spacing_density(0)


def test_statistics_when_every_replica_stopped_raise():
    """SGD map with PCD noise: replicas that all leave the domain before recording."""
    modes = Modes.rbm([4.0, 4.1, 4.2], 9.0, convention="training")
    res = dbm.simulate_sgd(
        modes,
        alpha=1.0,
        batch_size=1,
        noise=PCDNoise(),
        x0=[0.001, 0.002, 0.003],
        n_steps=400,
        n_replicas=6,
        rng=2,
        record=dbm.Record(burn_in=300),
    )
    assert np.all(res.left_domain > 0)
    assert np.all(res.left_domain <= 300)
    with pytest.raises(ValueError, match="every replica left the domain"):
        _ = res.mean


# --------------------------------------------------------------------------- CLI
def test_cli_simulate(tmp_path):
    from fpsolve.cli import main

    out = tmp_path / "run"
    code = main(
        [
            "simulate",
            "--model",
            "rbm",
            "--n-v",
            "4",
            "--n-steps",
            "200",
            "--n-replicas",
            "20",
            "--seed",
            "1",
            "--quiet",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    data = np.load(f"{out}.npz")
    assert data["x"].shape == (20, 4)
    assert (tmp_path / "run.png").exists()
    assert main(["simulate", "--dt", "-1", "--quiet", "-o", str(out)]) == 2


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--dt", "1e6", "--scheme", "em"], r"scheme='em' diverged at step \d+ with dt=1e\+06"),
        (["--burn-in", "50", "--n-steps", "50"], r"record.burn_in=50 .* n_steps=50"),
    ],
)
def test_cli_simulate_failures_are_one_line(tmp_path, capsys, args, match):
    from fpsolve.cli import main

    code = main(["simulate", *args, "--n-replicas", "10", "--quiet", "-o", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("fpsolve simulate: error: ")
    assert re.search(match, err)
    assert not (tmp_path / "r.npz").exists()

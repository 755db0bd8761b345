"""Statistical tests of fpsolve.dbm against exact Coulomb-gas results and independent methods.

Fixed seeds; KS tests use the critical value at significance 1e-3 for the sample size
(scipy.stats.kstwo), moment tests 3 standard errors.  Where values are correlated the
sample size used is a conservative one (stated at each test).
"""

import math

import numpy as np
import pytest
from scipy import stats

from fpsolve import dbm
from fpsolve.analytic import (
    BINDER_TWO_MODE,
    binder_cumulant,
    sample_hermite,
    two_mode_density,
    wigner_surmise,
)
from fpsolve.models import Modes

pytestmark = pytest.mark.slow

ALPHA_KS = 1e-3
OMEGA, CENTER, G2 = 2.0, 0.5, 0.5
SIGMA = math.sqrt(G2 / OMEGA)  # V/g^2 = (x - c)^2 / (2 sigma^2)
PAIR = Modes.harmonic([OMEGA, OMEGA], CENTER)


def ks_critical(n):
    return stats.kstwo.ppf(1 - ALPHA_KS, int(n))


def ks2_critical(n, m):
    c = math.sqrt(-math.log(ALPHA_KS / 2) / 2)
    return c * math.sqrt((n + m) / (n * m))


def check_two_mode(pairs, n_eff, blocks):
    """Spacing vs Wigner surmise, pooled density vs two-mode density, Binder vs -4/27.

    ``pairs`` (n, 2); ``n_eff`` the sample size for the KS critical values (the pooled
    ECDF averages two ECDFs of n values each, so n is conservative for it); ``blocks``
    the rows for the jackknife of the Binder cumulant.
    """
    spacing = np.abs(pairs[:, 1] - pairs[:, 0])
    d_s = stats.kstest(spacing, wigner_surmise(1, scale=math.sqrt(math.pi) * SIGMA).cdf)
    assert d_s.statistic < ks_critical(n_eff)
    pooled = pairs.ravel()
    d_p = stats.kstest(pooled, two_mode_density(CENTER, SIGMA).cdf)
    assert d_p.statistic < ks_critical(n_eff)
    value, error = binder_cumulant(blocks, center=CENTER)
    assert abs(value - BINDER_TWO_MODE) < 3 * error


def test_two_mode_exact_sampler():
    s = dbm.sample_coulomb_gas(PAIR, G2, n_samples=40_000, rng=101)
    assert s.method == "exact"
    check_two_mode(s.samples, len(s.samples), s.samples)


def test_two_mode_mala_sampler():
    """MALA chains (correlated): KS with the effective sample size, jackknife over chains."""
    n_chains = 32
    s = dbm.sample_coulomb_gas(
        PAIR, G2, n_samples=32_000, method="mala", n_chains=n_chains, burn_in=1000, thin=4, rng=102
    )
    assert s.method == "mala"
    assert 0.4 < s.acceptance_rate < 0.8
    assert np.min(s.acceptance) > 0.3  # no chain stuck
    n_eff = float(np.min(s.ess))
    assert n_eff > 2000
    check_two_mode(s.samples, n_eff, s.samples.reshape(n_chains, -1))


def test_two_mode_sde_safe_scheme():
    """Final states of independent replicas of the "safe" SDE scheme at dt = 0.002."""
    res = dbm.simulate(PAIR, G2, dt=0.002, n_steps=4000, n_replicas=20_000, rng=103)
    assert res.redo_failed == 0
    pairs = res.snapshots[-1]
    check_two_mode(pairs, len(pairs), pairs)


def _semicircle_cdf(x, radius):
    u = np.clip(x / radius, -1.0, 1.0)
    return 0.5 + (u * np.sqrt(1.0 - u * u) + np.arcsin(u)) / np.pi


N_LARGE = 200


def test_large_n_semicircle():
    """Pooled one-point density of N = 200 harmonic modes vs the semicircle of radius
    sqrt(2 N g^2 / Omega), for the exact sampler and the SDE.

    Tolerance: KS critical value for the pooled count R*N (eigenvalues of one spectrum are
    more rigid than independent draws, so this is conservative) plus 1/N for the finite-N
    deviation of the one-point density from the semicircle.
    """
    radius = math.sqrt(2 * N_LARGE) * SIGMA
    exact = sample_hermite(N_LARGE, 1.0, 50, rng=104, scale=SIGMA).ravel()
    d = stats.kstest(exact, lambda x: _semicircle_cdf(x, radius)).statistic
    assert d < ks_critical(exact.size) + 1.0 / N_LARGE
    modes = Modes.harmonic(np.full(N_LARGE, OMEGA))
    res = dbm.simulate(
        modes,
        G2,
        dt=1e-3,
        n_steps=2000,
        n_replicas=16,
        rng=105,
        record=dbm.Record(snapshots=(1000, 1500, 2000)),
    )
    assert res.redo_failed == 0
    sim = res.snapshots.ravel()
    d = stats.kstest(sim, lambda x: _semicircle_cdf(x, radius)).statistic
    assert d < ks_critical(sim.size) + 1.0 / N_LARGE


def test_eigenvalue_sde_agrees_with_matrix_dynamics():
    """Stationary spacing of the eigenvalue SDE and of the GOE matrix dynamics: two-sample KS.

    Matrix snapshots of one replica are 2.5 time units (5 spacing relaxation times) apart.
    """
    dt = 0.005
    mat = dbm.simulate_matrix(
        PAIR,
        G2,
        dt=dt,
        n_steps=2500,
        n_replicas=2000,
        rng=106,
        record=dbm.Record(snapshots=(1500, 1750, 2000, 2250, 2500)),
    )
    s_mat = np.abs(np.diff(mat.snapshots, axis=2)).ravel()
    sde = dbm.simulate(PAIR, G2, dt=dt, n_steps=2000, n_replicas=10_000, rng=107)
    s_sde = np.abs(np.diff(sde.snapshots[-1], axis=1)).ravel()
    d = stats.ks_2samp(s_mat, s_sde).statistic
    assert d < ks2_critical(s_mat.size, s_sde.size)
    assert np.all(np.diff(mat.snapshots, axis=2) > 0)  # eigh keeps the order by itself


def _sgd_var(alpha, batch_size, n_replicas, seed):
    modes = Modes.harmonic([OMEGA])
    n_steps = int(12 / (alpha * OMEGA))
    res = dbm.simulate_sgd(
        modes,
        alpha=alpha,
        batch_size=batch_size,
        gt2=1.0,
        n_steps=n_steps,
        n_replicas=n_replicas,
        rng=seed,
    )
    return res.snapshots[-1][:, 0].var()


def test_sgd_stationary_variance_linear_scaling():
    """(alpha/|B|) gt^2/Omega at small alpha/|B|; equal for equal ratios (3 standard errors;
    SE of a variance from n independent normal values: sqrt(2/n))."""
    n = 40_000
    se = math.sqrt(2.0 / n)
    ratio = 1e-3
    want = ratio * 1.0 / OMEGA
    v1 = _sgd_var(0.002, 2, n, 201)
    v2 = _sgd_var(0.008, 8, n, 202)
    assert abs(v1 / want - 1) < 3 * se
    assert abs(v2 / want - 1) < 3 * se
    assert abs(v1 / v2 - 1) < 3 * math.sqrt(2) * se


def test_sgd_exact_discrete_variance():
    """The map x' = (1 - alpha Omega) x + noise has the exact stationary variance
    (alpha/|B|) gt^2 / (Omega (1 - alpha Omega / 2)); at alpha Omega = 0.4 this differs
    from the continuum value by 25%, far beyond 3 standard errors."""
    n = 40_000
    alpha, bsz = 0.2, 4
    v = _sgd_var(alpha, bsz, n, 203)
    exact = (alpha / bsz) / (OMEGA * (1 - alpha * OMEGA / 2))
    assert abs(v / exact - 1) < 3 * math.sqrt(2.0 / n)

"""Tridiagonal beta-ensemble samplers against dense-matrix samplers and exact laws."""

import numpy as np
import pytest
from scipy import special, stats

from fpsolve.analytic import marchenko_pastur, sample_hermite, sample_laguerre, wigner_surmise


def _dense_goe(n, size, rng):
    a = rng.normal(size=(size, n, n))
    h = (a + np.swapaxes(a, 1, 2)) / 2  # diagonal N(0, 1), off-diagonal N(0, 1/2)
    return np.linalg.eigvalsh(h)


def _dense_wishart(m, n, s2, size, rng, complex_=False):
    if complex_:
        w = (rng.normal(size=(size, m, n)) + 1j * rng.normal(size=(size, m, n))) * np.sqrt(s2 / 2)
    else:
        w = rng.normal(0.0, np.sqrt(s2), size=(size, m, n))
    return np.linalg.eigvalsh(np.conj(np.swapaxes(w, 1, 2)) @ w)


def _var_z(a, b):
    """z-score of the difference of two sample variances (normal approximation of their errors)."""

    def var_err(x):
        n = x.size
        m4 = np.mean((x - x.mean()) ** 4)
        return np.sqrt((m4 - x.var() ** 2) / n)

    return abs(a.var() - b.var()) / np.hypot(var_err(a), var_err(b))


@pytest.mark.parametrize("n", [2, 5, 12])
def test_hermite_matches_dense_goe(n, rng):
    size = 20_000
    tri = sample_hermite(n, 1.0, size, rng=rng)
    dense = _dense_goe(n, size, rng)
    # var(sum of eigenvalues) = var(trace) = n for both; compare with each other and with n
    assert _var_z(tri.sum(axis=1), dense.sum(axis=1)) < 4
    assert tri.sum(axis=1).var() == pytest.approx(n, rel=5 * np.sqrt(2 / size))
    # spacing variance of the middle pair
    k = n // 2
    assert _var_z(tri[:, k] - tri[:, k - 1], dense[:, k] - dense[:, k - 1]) < 4


def test_hermite_large_n_uses_lapack_path_and_semicircle(rng):
    n = 200
    ev = sample_hermite(n, 1.0, 20, rng=rng).ravel() / np.sqrt(n)
    # semicircle on [-sqrt(2), sqrt(2)] for this normalisation: variance 1/2
    semicircle = stats.semicircular(scale=np.sqrt(2))
    res = stats.kstest(ev, semicircle.cdf)
    # eigenvalues are more rigid than iid points and finite-n corrections are O(1/n) = 0.005,
    # so the iid 1% critical value for all 4000 values is a valid bound
    assert res.statistic < stats.kstwo.ppf(0.99, ev.size)


@pytest.mark.parametrize("beta", [1.0, 2.0, 4.0])
def test_hermite_pair_spacing_is_wigner_surmise(beta, rng):
    size = 20_000
    ev = sample_hermite(2, beta, size, rng=rng, loc=3.0, scale=0.4)
    s = np.diff(ev, axis=1)[:, 0]
    # for n = 2 the spacing law is exactly the surmise: (d/2)^2 ~ Gamma((beta+1)/2), d = l1 - l2
    mean_gap = 0.4 * 2 * np.exp(special.gammaln((beta + 2) / 2) - special.gammaln((beta + 1) / 2))
    w = wigner_surmise(beta, scale=mean_gap)
    assert stats.kstest(s, w.cdf).statistic < stats.kstwo.ppf(0.99, size)
    assert ev.mean() == pytest.approx(3.0, abs=5 * 0.4 / np.sqrt(size))


def test_hermite_any_beta_variance_of_trace(rng):
    beta, n, size = 0.5, 6, 40_000
    tri = sample_hermite(n, beta, size, rng=rng)
    # the trace is the sum of the N(0,1) diagonal: variance n for every beta
    assert tri.sum(axis=1).var() == pytest.approx(n, rel=5 * np.sqrt(2 / size))


@pytest.mark.parametrize(
    ("m", "n"), [(5, 2), (12, 7), pytest.param(30, 30, marks=pytest.mark.slow)]
)
def test_laguerre_matches_dense_wishart(m, n, rng):
    size, s2 = 20_000, 0.01
    tri = sample_laguerre(m, n, 1.0, s2, size, rng=rng)
    dense = _dense_wishart(m, n, s2, size, rng)
    assert _var_z(tri.sum(axis=1), dense.sum(axis=1)) < 4
    # exact: var(tr W^T W) = m n 2 s2^2
    assert tri.sum(axis=1).var() == pytest.approx(2 * m * n * s2**2, rel=5 * np.sqrt(2 / size))
    k = n // 2
    assert _var_z(tri[:, k] - tri[:, k - 1], dense[:, k] - dense[:, k - 1]) < 4
    assert np.all(np.diff(tri, axis=1) >= 0)


def test_laguerre_beta2_matches_complex_wishart(rng):
    m, n, size, s2 = 8, 4, 20_000, 0.5
    tri = sample_laguerre(m, n, 2.0, s2, size, rng=rng)
    dense = _dense_wishart(m, n, s2, size, rng, complex_=True)
    assert _var_z(tri.sum(axis=1), dense.sum(axis=1)) < 4
    assert _var_z(tri[:, 1] - tri[:, 0], dense[:, 1] - dense[:, 0]) < 4


def test_laguerre_large_follows_mp(rng):
    m, n, s2 = 400, 200, 0.01
    ev = sample_laguerre(m, n, 1.0, s2, 10, rng=rng).ravel()
    mp = marchenko_pastur(n / m, scale=m * s2)
    assert stats.kstest(ev, mp.cdf).statistic < 0.03


def test_reproducible_and_shapes():
    a = sample_hermite(4, 1.0, 3, rng=1)
    np.testing.assert_array_equal(a, sample_hermite(4, 1.0, 3, rng=1))
    assert sample_hermite(1, 1.0, 7, rng=1).shape == (7, 1)
    assert sample_laguerre(3, 1, 1.0, 1.0, 5, rng=1).shape == (5, 1)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: sample_hermite(0, 1.0, 3), ValueError, "n must be >= 1"),
        (lambda: sample_hermite(3, -1.0, 3), ValueError, "beta must be > 0"),
        (lambda: sample_hermite(3, 1.0, 3, scale=0.0), ValueError, "scale must be > 0"),
        (lambda: sample_hermite(3.5, 1.0, 3), TypeError, "n must be an integer"),
        (lambda: sample_laguerre(3, 5, 1.0, 1.0, 3), ValueError, "n must be <= m"),
        (lambda: sample_laguerre(5, 3, 1.0, -0.1, 3), ValueError, "scale must be > 0"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_mp_fit_bootstrap_draws_its_spectra_from_sample_laguerre():
    """The bootstrap's Wishart spectra are those of the one Laguerre sampler (same stream)."""
    from fpsolve.analytic import MPBulkFit, mp_cdf_fit, mp_fit_bootstrap

    fit = MPBulkFit(1.0, 2.0, 0.5, np.zeros((3, 3)), 0.0)
    got = mp_fit_bootstrap(fit, 40, 40, r=0.5, n_bootstrap=3, rng=7)
    spectra = sample_laguerre(80, 40, 1.0, 2.0 / 80, 3, rng=7)
    want = [tuple(mp_cdf_fit(s, 40, r=0.5))[:3] for s in spectra]
    np.testing.assert_array_equal(got, want)
    assert mp_fit_bootstrap(fit, 40, 40, n_bootstrap=0).shape == (0, 3)


@pytest.mark.parametrize("r", [0.05, 0.5, 1.0])
def test_mp_fit_uses_the_distributions_formulas(r):
    """The fit's pdf and cdf are the distribution's, bit for bit."""
    from fpsolve.analytic._marchenko_pastur import mp_cdf, mp_pdf

    mp = marchenko_pastur(r, scale=2.5)
    x = np.linspace(0.0, 12.0, 997)
    np.testing.assert_array_equal(mp_pdf(x, r, 2.5), mp.pdf(x))
    np.testing.assert_array_equal(mp_cdf(x, r, 2.5), mp.cdf(x))

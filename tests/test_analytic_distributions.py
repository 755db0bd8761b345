"""Generic scipy-style identities and exact moments for every distribution of fpsolve.analytic."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

from fpsolve.analytic import (
    BINDER_GAUSSIAN,
    BINDER_TWO_MODE,
    MarchenkoPastur,
    binder_cumulant,
    jackknife,
    marchenko_pastur,
    poisson_spacing,
    stationary_density,
    two_mode_density,
    wigner_surmise,
)
from fpsolve.models import HarmonicModel, RBMModel

DISTRIBUTIONS = {
    "mp_r1": lambda: marchenko_pastur(1.0),
    "mp_r0.25_scaled": lambda: marchenko_pastur(0.25, scale=2.0),
    "mp_r0.01": lambda: marchenko_pastur(0.01, scale=0.5),
    "surmise_1": lambda: wigner_surmise(1),
    "surmise_2": lambda: wigner_surmise(2, scale=0.5),
    "surmise_4": lambda: wigner_surmise(4),
    "poisson": lambda: poisson_spacing(2.0),
    "two_mode": lambda: two_mode_density(4.0, 0.3),
    "stationary_harmonic": lambda: stationary_density(HarmonicModel(2.0, 1.0), 0.5),
    "stationary_rbm": lambda: stationary_density(RBMModel(4.0, 9.0), 0.05),
    "stationary_rbm_wide": lambda: stationary_density(RBMModel(4.382, 9.0), 2.0),
}
QS = np.array([1e-6, 0.01, 0.1, 0.37, 0.5, 0.8, 0.99, 1 - 1e-6])


@pytest.fixture(params=sorted(DISTRIBUTIONS))
def dist(request):
    return DISTRIBUTIONS[request.param]()


def _interior(dist, n=41):
    return dist.ppf(np.linspace(0.02, 0.98, n))


def test_cdf_of_ppf_is_identity(dist):
    np.testing.assert_allclose(dist.cdf(dist.ppf(QS)), QS, rtol=1e-9, atol=1e-12)


def test_pdf_is_derivative_of_cdf(dist):
    x = _interior(dist)
    lo, hi = dist.ppf(0.0), dist.ppf(1.0)
    # step: a small fraction of the distance to the nearest edge (pdf may be singular there)
    reach = np.minimum(np.abs(x - lo), np.abs(hi - x))
    std = dist.std() if callable(dist.std) else dist.std  # StationaryDensity: attributes
    h = 1e-3 * np.minimum(reach, std)
    f = dist.cdf
    numeric = (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)
    np.testing.assert_allclose(numeric, dist.pdf(x), rtol=1e-6, atol=1e-9)


def test_pdf_integrates_to_one(dist):
    lo, hi = dist.ppf(0.0), dist.ppf(1.0)
    lo = lo if np.isfinite(lo) else dist.ppf(1e-16)  # tails beyond carry < 1e-16
    hi = hi if np.isfinite(hi) else dist.isf(1e-16)
    total = integrate.quad(dist.pdf, lo, hi, points=[dist.ppf(0.5)], limit=400, epsabs=1e-13)[0]
    assert total == pytest.approx(1.0, abs=1e-8)


def test_logpdf_is_log_of_pdf(dist):
    x = _interior(dist)
    np.testing.assert_allclose(dist.logpdf(x), np.log(dist.pdf(x)), rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_rvs_pass_ks(dist):
    n = 20_000
    sample = dist.rvs(n, rng=np.random.default_rng(7))
    result = stats.kstest(sample, dist.cdf)
    # 1% test: the statistic must lie below the critical value for n samples
    assert result.statistic < stats.kstwo.ppf(0.99, n)


def test_rvs_reproducible(dist):
    a = dist.rvs(5, rng=3)
    b = dist.rvs(5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


# ---- exact moments ---------------------------------------------------------------------------
@pytest.mark.parametrize("r", [0.1, 0.5, 1.0])
def test_mp_moments_exact(r):
    s2, m = 0.01, 50
    mp = MarchenkoPastur.from_shape(m, round(r * m), s2)
    assert mp.mean() == pytest.approx(s2 * m, rel=1e-12)
    assert mp.var() == pytest.approx(r * (s2 * m) ** 2, rel=1e-12)
    # second and third raw moments (Narayana): 1 + r, 1 + 3r + r^2 in units of scale
    assert mp.moment(2) == pytest.approx((1 + r) * (s2 * m) ** 2, rel=1e-12)
    assert mp.moment(3) == pytest.approx((1 + 3 * r + r * r) * (s2 * m) ** 3, rel=1e-12)
    third = integrate.quad(lambda x: x**3 * mp.pdf(x), *mp.edges, limit=200)[0]
    assert third == pytest.approx(mp.moment(3), rel=1e-7)


def test_mp_edges():
    mp = marchenko_pastur(0.25, scale=2.0)
    assert mp.edges == pytest.approx((2 * 0.25, 2 * 2.25))
    assert mp.pdf(0.4) == 0.0
    assert mp.pdf(4.6) == 0.0


@pytest.mark.parametrize(
    ("beta", "var"), [(1, 4 / np.pi - 1), (2, 3 * np.pi / 8 - 1), (4, 45 * np.pi / 128 - 1)]
)
def test_surmise_mean_one_and_variance(beta, var):
    w = wigner_surmise(beta)
    assert w.mean() == pytest.approx(1.0, rel=1e-13)
    assert w.var() == pytest.approx(var, rel=1e-12)


def test_surmise_explicit_beta1_formula():
    s = np.linspace(0, 3, 13)
    np.testing.assert_allclose(
        wigner_surmise(1).pdf(s), np.pi / 2 * s * np.exp(-np.pi * s**2 / 4), rtol=1e-13
    )
    # docs/theory.md section 3: <S> = sqrt(pi) sigma, P(S) = S/(2 sigma^2) exp(-S^2/(4 sigma^2))
    sigma = 0.7
    w = wigner_surmise(1, scale=np.sqrt(np.pi) * sigma)
    np.testing.assert_allclose(
        w.pdf(s), s / (2 * sigma**2) * np.exp(-(s**2) / (4 * sigma**2)), rtol=1e-12
    )


def test_two_mode_moments_exact():
    sigma = 0.3
    rho = two_mode_density(4.0, sigma)
    assert rho.mean() == pytest.approx(4.0, rel=1e-14)
    assert rho.var() == pytest.approx(1.5 * sigma**2, rel=1e-12)
    u4 = integrate.quad(lambda x: (x - 4.0) ** 4 * rho.pdf(x), 0, 8)[0]
    assert u4 == pytest.approx(23 / 4 * sigma**4, rel=1e-10)
    std = two_mode_density()
    assert std.moment(4) == pytest.approx(23 / 4, rel=1e-14)


def test_two_mode_pdf_matches_theory_formula():
    sigma, x0 = 0.8, 1.0
    u = np.linspace(-3, 3, 25)
    from scipy.special import erf

    expected = (
        np.exp(-(u**2) / (2 * sigma**2))
        / (4 * np.sqrt(np.pi) * sigma)
        * (
            2 * np.exp(-(u**2) / (2 * sigma**2))
            + np.sqrt(2 * np.pi) * u / sigma * erf(u / (np.sqrt(2) * sigma))
        )
    )
    np.testing.assert_allclose(two_mode_density(x0, sigma).pdf(u + x0), expected, rtol=1e-13)


# ---- Binder cumulant -------------------------------------------------------------------------
def test_binder_constants():
    assert BINDER_GAUSSIAN == 0.0
    assert pytest.approx(23 / 4 / (3 * 1.5**2) - 1, rel=1e-15) == BINDER_TWO_MODE


@pytest.mark.slow
def test_binder_of_two_mode_samples_within_three_errors():
    u = two_mode_density(2.0, 0.5).rvs(400_000, rng=11)
    value, error = binder_cumulant(u)
    assert abs(value - BINDER_TWO_MODE) < 3 * error
    value_c, error_c = binder_cumulant(u, center=2.0)
    assert abs(value_c - BINDER_TWO_MODE) < 3 * error_c


def test_binder_of_gaussian_within_three_errors():
    x = np.random.default_rng(5).normal(3.0, 2.0, size=200_000)
    value, error = binder_cumulant(x)
    assert abs(value - BINDER_GAUSSIAN) < 3 * error
    # the error is the known large-n standard error of U4 for a Gaussian: sqrt(8/(3n)) * (1 +- 10%)
    assert error == pytest.approx(np.sqrt(8 / 3 / x.size), rel=0.1)


def test_binder_blocks_and_rows_agree():
    x = np.random.default_rng(6).normal(size=10_000)
    a = binder_cumulant(x, n_blocks=50)
    b = binder_cumulant(x.reshape(50, -1))
    assert a == b
    assert a.value == pytest.approx(binder_cumulant(x).value, rel=1e-10)


def test_jackknife_of_mean_is_standard_error():
    x = np.random.default_rng(8).normal(size=1000)
    est = jackknife(lambda m: m[..., 0], x[:, None])
    assert est.value == pytest.approx(x.mean())
    assert est.error == pytest.approx(x.std(ddof=1) / np.sqrt(x.size), rel=1e-10)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: marchenko_pastur(1.5), r"r must lie in \(0.0, 1.0\]"),
        (lambda: marchenko_pastur(0.0), "r must lie in"),
        (lambda: marchenko_pastur(0.5, scale=-1.0), "scale must be > 0"),
        (lambda: MarchenkoPastur.from_shape(10, 20, 1.0), "n must be <= m"),
        (lambda: MarchenkoPastur.from_shape(10, 5, -0.1), "s2 must be > 0"),
        (lambda: wigner_surmise(0), "beta must be > 0"),
        (lambda: wigner_surmise(1, scale=0.0), "scale must be > 0"),
        (lambda: two_mode_density(0.0, -1.0), "sigma must be > 0"),
        (lambda: binder_cumulant(np.array([1.0, np.nan, 2.0])), "finite"),
        (lambda: binder_cumulant(np.ones((2, 2, 2))), "1- or 2-dimensional"),
        (lambda: binder_cumulant(np.ones(10), n_blocks=20), "n_blocks must be <="),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_rvs_bad_size_and_rng():
    with pytest.raises(ValueError, match="size must be >= 0"):
        wigner_surmise().rvs(-1)
    with pytest.raises(TypeError, match="rng must be"):
        wigner_surmise().rvs(3, rng="seed")


@given(r=st.floats(1e-3, 1.0), q=st.floats(1e-9, 1 - 1e-9))
def test_mp_ppf_inverts_cdf_property(r, q):
    mp = marchenko_pastur(r)
    assert mp.cdf(mp.ppf(q)) == pytest.approx(q, abs=1e-10)


@given(r=st.floats(1e-3, 1.0), scale=st.floats(1e-3, 1e3))
def test_mp_cdf_monotone_and_bounded_property(r, scale):
    mp = marchenko_pastur(r, scale=scale)
    x = np.linspace(mp.edges[0] * 0.9, mp.edges[1] * 1.1, 101)
    c = mp.cdf(x)
    assert np.all(np.diff(c) >= -1e-14)
    assert c[0] == 0.0
    assert c[-1] == 1.0


@given(beta=st.floats(0.2, 8.0), scale=st.floats(1e-2, 1e2))
def test_surmise_mean_is_scale_property(beta, scale):
    assert wigner_surmise(beta, scale).mean() == pytest.approx(scale, rel=1e-10)

"""Stationary densities (log-space normalisation), Coulomb-gas log density, linear scaling rule."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, special

from fpsolve.analytic import (
    coulomb_gas_logpdf,
    sgd_noise_from_variance,
    sgd_stationary_variance,
    stationary_density,
)
from fpsolve.models import HarmonicModel, Modes, PotentialModel, RBMModel


@given(omega=st.floats(0.05, 20.0), center=st.floats(-10, 10), g2=st.floats(1e-4, 10.0))
def test_harmonic_is_exact_gaussian(omega, center, g2):
    p = stationary_density(HarmonicModel(omega, center), g2)
    var = g2 / omega
    assert p.mean == pytest.approx(center, abs=1e-10 * (1 + abs(center)))
    assert p.var == pytest.approx(var, rel=1e-10)
    assert p.log_norm == pytest.approx(0.5 * np.log(2 * np.pi * var), abs=1e-10)
    x = center + np.sqrt(var) * np.array([-3.0, -1.0, 0.5, 2.0])
    np.testing.assert_allclose(p.cdf(x), special.ndtr((x - center) / np.sqrt(var)), atol=1e-12)


def test_rbm_matches_independent_quadrature():
    model = RBMModel(4.382, 9.0)
    for g2 in (0.05, 0.5, 5.0):
        p = stationary_density(model, g2)
        w = lambda x, g2=g2: np.exp(-(model.potential(x) - model.potential(model.x_stable)) / g2)  # noqa: E731
        z = integrate.quad(w, 0, 9, points=[model.x_stable], limit=400, epsrel=1e-13)[0]
        m1 = integrate.quad(lambda x, w=w: x * w(x), 0, 9, points=[model.x_stable], limit=400)[0]
        log_z = np.log(z) - model.potential(model.x_stable) / g2
        assert p.log_norm == pytest.approx(log_z, abs=1e-9)
        assert p.mean == pytest.approx(m1 / z, rel=1e-9)


@pytest.mark.parametrize("g2", [1e-3, 1e-4])
def test_rbm_small_g2_no_underflow_and_laplace_limit(g2):
    model = RBMModel(4.0, 9.0)
    p = stationary_density(model, g2)
    assert np.isfinite(p.log_norm)
    assert np.all(np.isfinite(p.logpdf(np.array([0.0, 1.0, 5.0, 8.9]))))
    # Laplace: variance -> g2/Omega with a relative correction O(g2)
    assert p.var == pytest.approx(g2 / model.omega, rel=20 * g2)
    assert p.cdf(model.x_stable) == pytest.approx(0.5, abs=0.02)
    assert p.mode == model.x_stable


def test_double_well_keeps_both_wells():
    m = PotentialModel(lambda x: x**4 / 4 - x**2 / 2, lambda x: x**3 - x)
    p = stationary_density(m, 0.01)
    assert p.mean == pytest.approx(0.0, abs=1e-10)
    assert p.cdf(0.0) == pytest.approx(0.5, abs=1e-10)
    assert p.var == pytest.approx(1.0, rel=0.05)


def test_reflecting_end_with_monotone_potential():
    # V = x on [0, inf): exponential law with mean g2
    m = PotentialModel(lambda x: x, np.ones_like, d2potential=lambda x: 0 * x, domain=(0, np.inf))
    p = stationary_density(m, 0.3)
    assert p.mode == 0.0
    assert p.mean == pytest.approx(0.3, rel=1e-10)
    assert p.var == pytest.approx(0.09, rel=1e-10)


def test_outside_domain_density_is_zero():
    p = stationary_density(RBMModel(4.0, 9.0), 0.5)
    assert p.pdf(-1.0) == 0.0
    assert p.logpdf(9.5) == -np.inf
    assert p.cdf(-1.0) == 0.0
    assert p.cdf(10.0) == 1.0


def test_plot_returns_line():
    line = stationary_density(RBMModel(4.0, 9.0), 0.1).plot()
    assert len(line.get_xdata()) == 801


def test_coulomb_gas_logpdf():
    modes = Modes.harmonic([1.0, 2.0], center=[0.0, 1.0])
    x = np.array([[0.5, 2.0], [1.0, 1.0]])
    expected = np.log(1.5) - (0.5 * 0.25) / 0.5 - (0.5 * 2.0 * 1.0) / 0.25
    out = coulomb_gas_logpdf(x, modes, [0.5, 0.25])
    assert out[0] == pytest.approx(expected, rel=1e-14)
    assert out[1] == -np.inf
    rbm = Modes.rbm([4.0, 5.0], 9.0)
    assert coulomb_gas_logpdf(np.array([-1.0, 3.0]), rbm, 0.1) == -np.inf
    with pytest.raises(ValueError, match="g2 must be > 0"):
        coulomb_gas_logpdf(x, modes, [0.5, -1.0])
    with pytest.raises(ValueError, match="n_modes=2"):
        coulomb_gas_logpdf(np.zeros(3), modes, 1.0)


def test_linear_scaling_rule_and_inverse():
    s2 = sgd_stationary_variance(0.1, 16, 2.0, 0.5)
    assert s2 == pytest.approx(0.1 / 16 * 2.0 / 0.5)
    assert sgd_stationary_variance(0.2, 32, 2.0, 0.5) == pytest.approx(s2)
    assert sgd_noise_from_variance(s2, 0.1, 16, 0.5) == pytest.approx(2.0)
    np.testing.assert_allclose(
        sgd_stationary_variance([0.1, 0.2], 16, 1.0, 1.0), [0.1 / 16, 0.2 / 16]
    )


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: stationary_density(RBMModel(4.0, 9.0), 0.0), ValueError, "g2 must be > 0"),
        (lambda: stationary_density(RBMModel(4.0, 9.0), -1.0), ValueError, "g2 must be > 0"),
        (lambda: stationary_density("rbm", 1.0), TypeError, "model must be"),
        (lambda: sgd_stationary_variance(-0.1, 16, 1.0, 1.0), ValueError, "alpha must be"),
        (lambda: sgd_stationary_variance(0.1, 0, 1.0, 1.0), ValueError, "batch_size must be"),
        (
            lambda: sgd_stationary_variance(0.1, 2.5, 1.0, 1.0),
            ValueError,
            "batch_size must be integral",
        ),
        (lambda: sgd_noise_from_variance(0.0, 0.1, 16, 1.0), ValueError, "sigma2 must be"),
        (
            lambda: stationary_density(
                PotentialModel(
                    lambda x: -x,
                    lambda x: -np.ones_like(x),
                    d2potential=lambda x: 0 * x,
                    domain=(0, np.inf),
                ),
                1.0,
            ),
            ValueError,
            "not normalisable",
        ),
        (lambda: stationary_density(RBMModel(4.0, 9.0), 0.1).ppf(1.5), ValueError, "q must lie in"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()

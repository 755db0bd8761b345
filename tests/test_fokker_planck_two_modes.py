"""Tests of fpsolve.fokker_planck.evolve_two_modes: exact moment dynamics of a harmonic pair,
the two-mode density and Wigner surmise, and the non-degenerate RBM Coulomb gas by quadrature."""

import numpy as np
import pytest

from fpsolve import fokker_planck as fp
from fpsolve.analytic import two_mode_density, wigner_surmise
from fpsolve.models import HarmonicModel, Modes, RBMModel


def slope(h, err):
    return float(np.polyfit(np.log(h), np.log(err), 1)[0])


OMEGA, G2 = 1.0, 0.5


def start(x1, x2):
    return np.exp(-((x1 - 1.0) ** 2 + (x2 + 0.5) ** 2) / 0.2)


def test_harmonic_pair_moments_follow_exact_odes():
    """For a degenerate harmonic pair E[x1 + x2] = s0 exp(-Omega t) and
    E[(x2 - x1)^2] = 4 g2/Omega + (r0 - 4 g2/Omega) exp(-2 Omega t) exactly."""
    modes = Modes.harmonic([OMEGA, OMEGA])
    times = np.array([0.0, 0.4, 1.5])
    errs = []
    ns = np.array([50, 100, 200])
    for n in ns:
        ev = fp.evolve_two_modes(modes, G2, start, times, n=int(n), dt=0.01)
        x1, x2 = np.meshgrid(ev.x, ev.x, indexing="ij")
        s = ev.h**2 * np.sum(ev.p * (x1 + x2), axis=(1, 2))
        r2 = ev.h**2 * np.sum(ev.p * (x2 - x1) ** 2, axis=(1, 2))
        s_exact = s[0] * np.exp(-OMEGA * times)
        r_exact = 4 * G2 / OMEGA + (r2[0] - 4 * G2 / OMEGA) * np.exp(-2 * OMEGA * times)
        errs.append(max(np.max(np.abs(s - s_exact)), np.max(np.abs(r2 - r_exact))))
        np.testing.assert_allclose(ev.mass, 1.0, rtol=0, atol=1e-12)
        assert ev.sector_mass[0] + ev.sector_mass[1] == pytest.approx(1.0, abs=1e-12)
    assert slope(1.0 / ns, np.array(errs)) == pytest.approx(2.0, abs=0.3)


def test_adi_second_order_in_time_and_euler_non_negative():
    modes = Modes.harmonic([OMEGA, OMEGA])
    ref = fp.evolve_two_modes(modes, G2, start, [0.5], n=60, dt=0.0025).p[0]
    dts = np.array([0.04, 0.02, 0.01])
    errs = [
        np.max(np.abs(fp.evolve_two_modes(modes, G2, start, [0.5], n=60, dt=d).p[0] - ref))
        for d in dts
    ]
    assert slope(dts, np.array(errs)) == pytest.approx(2.0, abs=0.3)
    eu = fp.evolve_two_modes(modes, G2, start, [0.05, 0.5], n=60, dt=0.05, scheme="euler")
    assert eu.p.min() >= 0.0
    np.testing.assert_allclose(eu.mass, 1.0, rtol=0, atol=1e-12)


def test_degenerate_stationary_marginal_is_two_mode_density_and_spacing_wigner():
    modes = Modes.harmonic([OMEGA, OMEGA], [0.3, 0.3])
    sigma = np.sqrt(G2 / OMEGA)
    rho = two_mode_density(0.3, sigma)
    surmise = wigner_surmise(1, scale=np.sqrt(np.pi) * sigma)
    ns = np.array([40, 80, 160])
    e_rho, e_s = [], []
    for n in ns:
        ev = fp.evolve_two_modes(modes, G2, start, [np.inf], n=int(n))
        e_rho.append(np.max(np.abs(ev.pooled_density()[0] - rho.pdf(ev.x))))
        s, dens = ev.spacing_density()
        e_s.append(np.max(np.abs(dens[0] - surmise.pdf(s))))
    assert slope(1.0 / ns, np.array(e_rho)) == pytest.approx(2.0, abs=0.2)
    assert slope(1.0 / ns, np.array(e_s)) == pytest.approx(2.0, abs=0.3)


def _coulomb_marginals(m1, m2, g2, x, a, b, sector_mass):
    """Marginals of |x1 - x2| exp(-V1/g2 - V2/g2) per sector by Gauss-Legendre quadrature."""
    gx, gw = np.polynomial.legendre.leggauss(200)
    vmin = min(float(m1.potential(m1.x_stable)), float(m2.potential(m2.x_stable)))

    def w(v, y):
        return np.exp(-(v.potential(y) - vmin) / g2)

    def line(lo, hi):
        half = 0.5 * (hi - lo)
        return lo[:, None] + half[:, None] * (gx + 1), half[:, None] * gw

    lo = np.full_like(x, a)
    hi = np.full_like(x, b)
    # sector x1 > x2: rho1(x) = int_a^x (x - y) w1(x) w2(y) dy, rho2(y) = int_y^b (x - y) w1 w2 dx
    yy, ww = line(lo, x)
    f1_low = w(m1, x) * np.sum(ww * (x[:, None] - yy) * w(m2, yy), axis=1)
    yy, ww = line(x, hi)
    f2_low = w(m2, x) * np.sum(ww * (yy - x[:, None]) * w(m1, yy), axis=1)
    # sector x1 < x2
    yy, ww = line(x, hi)
    f1_up = w(m1, x) * np.sum(ww * (yy - x[:, None]) * w(m2, yy), axis=1)
    yy, ww = line(lo, x)
    f2_up = w(m2, x) * np.sum(ww * (x[:, None] - yy) * w(m1, yy), axis=1)
    xx, xw = line(np.array([a]), np.array([b]))
    xx, xw = xx[0], xw[0]

    def total(f_of):
        return float(np.sum(xw * f_of(xx)))

    z_low = total(
        lambda t: (
            w(m1, t)
            * np.sum(
                line(np.full_like(t, a), t)[1]
                * (t[:, None] - line(np.full_like(t, a), t)[0])
                * w(m2, line(np.full_like(t, a), t)[0]),
                axis=1,
            )
        )
    )
    z_up = total(
        lambda t: (
            w(m1, t)
            * np.sum(
                line(t, np.full_like(t, b))[1]
                * (line(t, np.full_like(t, b))[0] - t[:, None])
                * w(m2, line(t, np.full_like(t, b))[0]),
                axis=1,
            )
        )
    )
    up, low = sector_mass
    rho1 = up * f1_up / z_up + low * f1_low / z_low
    rho2 = up * f2_up / z_up + low * f2_low / z_low
    return rho1, rho2


def test_nondegenerate_rbm_pair_relaxes_to_coulomb_gas():
    """Two RBM modes (kappa = 4 and 5.382): the density evolved from a product start to
    t = 150 has the marginals of the Coulomb gas computed by independent quadrature."""
    m1, m2 = RBMModel(4.0, 9.0), RBMModel(5.382, 9.0)
    g2 = 0.5

    def p0(x1, x2):
        return np.exp(-((x1 - 4.0) ** 2 + (x2 - 3.0) ** 2) / 0.5)

    errs = []
    ns = np.array([50, 100])
    for n in ns:
        ev = fp.evolve_two_modes([m1, m2], g2, p0, [150.0, np.inf], n=int(n), dt=0.1)
        np.testing.assert_allclose(ev.p[0], ev.p[1], rtol=0, atol=1e-9 * ev.p[1].max())
        a = float(ev.x[0] - ev.h / 2)
        b = float(ev.x[-1] + ev.h / 2)
        rho1, rho2 = _coulomb_marginals(m1, m2, g2, ev.x, a, b, ev.sector_mass)
        marg = ev.marginals()[0]
        errs.append(max(np.max(np.abs(marg[0] - rho1)), np.max(np.abs(marg[1] - rho2))))
    assert slope(1.0 / ns, np.array(errs)) == pytest.approx(2.0, abs=0.3)


def test_two_mode_bad_input_and_plot():
    modes = Modes.harmonic([1.0, 1.0])
    with pytest.raises(ValueError, match="exactly 2"):
        fp.evolve_two_modes(Modes.harmonic([1.0, 1.0, 1.0]), 0.5, start, [1.0])
    with pytest.raises(TypeError, match="two models"):
        fp.evolve_two_modes(HarmonicModel(1.0), 0.5, start, [1.0])
    with pytest.raises(ValueError, match="g2 must be > 0"):
        fp.evolve_two_modes(modes, [0.5, 0.0], start, [1.0])
    with pytest.raises(ValueError, match="same domain"):
        fp.evolve_two_modes([HarmonicModel(1.0), RBMModel(4.0, 9.0)], 0.5, start, [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        fp.evolve_two_modes(modes, 0.5, lambda a, b: start(a, b) - 0.1, [1.0], n=20)
    with pytest.raises(ValueError, match="not normalisable"):
        fp.evolve_two_modes(modes, 0.5, lambda a, b: 0 * a, [1.0], n=20)
    with pytest.raises(ValueError, match="scheme"):
        fp.evolve_two_modes(modes, 0.5, start, [1.0], n=20, scheme="rk")
    with pytest.raises(ValueError, match="does not cover"):
        fp.evolve_two_modes(modes, 0.5, start, [1.0], n=20, domain=(-1.0, 1.0))
    ev = fp.evolve_two_modes(modes, 0.5, start, [0.0, 0.5], n=30)
    assert ev.plot() is not None
    assert ev.pooled_density().shape == (2, 30)

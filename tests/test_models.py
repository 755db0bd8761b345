"""fpsolve.models: drift/potential consistency, fixed points, conventions, bad input."""

import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fpsolve.models import (
    HarmonicModel,
    Modes,
    PCDNoise,
    PotentialModel,
    RBMModel,
    lattice_scalar_matrix,
    lattice_scalar_spectrum,
    rbm_chain_factor,
    rbm_curvature,
    rbm_drift,
    rbm_pcd_coupling,
    rbm_pcd_noise,
    rbm_potential,
    sgd_g2,
)

kappas = st.floats(0.1, 8.0)


def _numeric_derivative(f, x, h=1e-5):
    return (f(x + h) - f(x - h)) / (2 * h)


@given(kappa=kappas, extra=st.floats(0.1, 10.0), s=st.floats(0.2, 3.0))
def test_rbm_potential_derivatives_are_consistent(kappa, extra, s):
    m = RBMModel(kappa, kappa + extra, s)
    x = np.linspace(0.05, 0.95, 9) * m.domain[1]
    np.testing.assert_allclose(
        _numeric_derivative(m.potential, x), m.dpotential(x), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        _numeric_derivative(m.dpotential, x), m.d2potential(x), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(m.drift(x), -m.dpotential(x))


@given(kappa=kappas, extra=st.floats(0.1, 10.0), s=st.floats(0.2, 3.0))
def test_rbm_fixed_points_and_omega(kappa, extra, s):
    mu2 = kappa + extra
    m = RBMModel(kappa, mu2, s)
    fps = m.fixed_points()
    assert [fp.stable for fp in fps] == [False, True]
    assert fps[1].x == pytest.approx((mu2 - kappa) / s)
    assert abs(float(m.drift(fps[1].x))) < 1e-12 * max(1, mu2 / s)
    assert m.omega == pytest.approx((mu2 - kappa) / kappa**2, rel=1e-12)
    assert m.learned_mode(m.x_stable) == pytest.approx(kappa)


def test_rbm_talk_potential_matches_theory_formula():
    kappa, mu2 = 4.0, 9.0
    m = RBMModel(kappa, mu2)
    x = np.array([0.0, 1.0, 5.0, 8.5])
    expected = -(x**2) / (2 * kappa) - x - mu2 * np.log(mu2 - x)
    np.testing.assert_allclose(m.potential(x), expected, rtol=1e-14)


def test_rbm_training_convention_is_training_drift():
    kappa, mu2, s = 4.382, 9.0, 0.7
    talk = RBMModel(kappa, mu2, s)
    train = RBMModel(kappa, mu2, s, convention="training")
    x = np.linspace(0.1, 12.0, 7)
    # docs/theory.md section 4: dx_a = 2 alpha s x (1/kappa - 1/(mu2 - s x)) per step of dt = alpha
    expected = 2 * s * x * (1 / kappa - 1 / (mu2 - s * x))
    np.testing.assert_allclose(train.drift(x), expected, rtol=1e-14)
    np.testing.assert_allclose(train.drift(x), 2 * s * talk.drift(x), rtol=1e-14)
    assert train.omega == pytest.approx(2 * s * talk.omega)
    assert train.x_stable == talk.x_stable
    assert train != talk


def test_rbm_numba_callables_agree():
    m = RBMModel(4.382, 9.0, 1.3, convention="training")
    for x in (0.0, 0.3, 3.7, 6.5):
        assert m.numba_drift(x) == pytest.approx(float(m.drift(x)), rel=1e-14, abs=1e-15)
        assert m.numba_potential(x) == pytest.approx(float(m.potential(x)), rel=1e-14)


@pytest.mark.slow  # compiles the callables of four clones (about 2 s)
def test_numba_callables_are_built_once_per_model():
    """Each access returns the same dispatcher (compiled once); a copy or pickle carries
    the parameters only and builds its own."""
    for m in (RBMModel(4.0, 9.0, 1.3), HarmonicModel(2.5, center=-1.0)):
        assert m.numba_drift is m.numba_drift
        assert m.numba_potential is m.numba_potential
        for clone in (copy.copy(m), pickle.loads(pickle.dumps(m))):
            assert clone == m
            assert clone.numba_drift is not m.numba_drift
            assert clone.numba_drift(1.0) == m.numba_drift(1.0)
            assert clone.numba_potential(1.0) == m.numba_potential(1.0)


def test_harmonic_model():
    m = HarmonicModel(2.5, center=-1.0)
    assert m.x_stable == -1.0
    assert m.omega == 2.5
    np.testing.assert_allclose(m.drift([0.0, 1.0]), [-2.5, -5.0])
    assert m.boundaries == ("natural", "natural")
    assert m.numba_drift(0.0) == -2.5


def test_potential_model_fixed_points_and_numerical_second_derivative():
    m = PotentialModel(lambda x: x**4 / 4 - x**2 / 2, lambda x: x**3 - x)
    fps = m.fixed_points()
    np.testing.assert_allclose([fp.x for fp in fps], [-1, 0, 1], atol=1e-12)
    assert [fp.stable for fp in fps] == [True, False, True]
    np.testing.assert_allclose(m.d2potential(np.array([0.0, 2.0])), [-1.0, 11.0], rtol=1e-8)


def test_potential_model_scalar_only_callables_and_numba():
    import numba

    @numba.njit
    def v(x):
        return 0.5 * (x - 2.0) ** 2

    @numba.njit
    def dv(x):
        return x - 2.0

    m = PotentialModel(v, dv, domain=(0.0, math.inf))
    assert m.boundaries == ("reflecting", "natural")
    assert m.x_stable == pytest.approx(2.0)
    assert m.numba_drift(1.0) == 1.0
    np.testing.assert_allclose(m.drift(np.array([1.0, 3.0])), [1.0, -1.0])


def test_potential_model_not_compilable_gives_clear_error():
    class Square:
        def __call__(self, x):
            return x * x

    m = PotentialModel(Square(), lambda x: 2 * x)
    with pytest.raises(TypeError, match="potential cannot be compiled by numba"):
        _ = m.numba_potential


def test_lattice_spectrum_matches_target_matrix():
    n_v, m2 = 10, 4.0
    shift = np.roll(np.eye(n_v), 1, axis=1)
    k_target = (m2 + 2) * np.eye(n_v) - (shift + shift.T)
    np.testing.assert_array_equal(lattice_scalar_matrix(n_v, m2), k_target)
    np.testing.assert_allclose(
        np.sort(lattice_scalar_spectrum(n_v, m2)), np.linalg.eigvalsh(k_target), atol=1e-12
    )
    # the paper's values (docs/theory.md section 4)
    kappa = np.sort(lattice_scalar_spectrum(10, 4.0))
    np.testing.assert_allclose(
        kappa, [4, 4.382, 4.382, 5.382, 5.382, 6.618, 6.618, 7.618, 7.618, 8], atol=1e-3
    )


def test_modes_collection():
    modes = Modes.rbm_lattice(10, 4.0, 9.0)
    assert len(modes) == 10
    assert modes.degenerate_groups() == [(0,), (1, 9), (2, 8), (3, 7), (4, 6), (5,)]
    x = np.tile(modes.x_stable, (3, 1))
    np.testing.assert_allclose(modes.drift(x), 0.0, atol=1e-12)
    assert modes.potential(x).shape == (3, 10)
    assert isinstance(modes[1:3], Modes)
    h = Modes.harmonic([1.0, 2.0], center=0.5)
    np.testing.assert_allclose(h.omega, [1.0, 2.0])
    with pytest.raises(ValueError, match="n_modes=2"):
        h.drift(np.zeros(3))


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: RBMModel(9.0, 9.0), "kappa must be < mu2"),
        (lambda: RBMModel(10.0, 9.0), "kappa must be < mu2"),
        (lambda: RBMModel(-1.0, 9.0), "kappa must be > 0"),
        (lambda: RBMModel(4.0, 9.0, sigma_h2=0.0), "sigma_h2 must be > 0"),
        (lambda: RBMModel(4.0, 9.0, convention="paper"), "convention must be one of"),
        (lambda: HarmonicModel(-1.0), "omega must be > 0"),
        (lambda: HarmonicModel(float("nan")), "omega must be finite"),
        (lambda: lattice_scalar_spectrum(0, 1.0), "n_v must be >= 1"),
        (lambda: lattice_scalar_spectrum(4, -1.0), "m2 must be > 0"),
        (lambda: Modes([]), "at least one Model"),
        (lambda: PotentialModel(lambda x: x, lambda x: 1.0, domain=(1.0, 0.0)), "low < high"),
    ],
)
def test_bad_input_raises_naming_parameter(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_x_outside_domain_raises():
    m = RBMModel(4.0, 9.0)
    with pytest.raises(ValueError, match=r"x must lie in the domain \[0.0, 9.0\)"):
        m.drift(-0.1)
    with pytest.raises(ValueError, match="domain"):
        m.potential(9.0)
    with pytest.raises(TypeError, match="models\\[0\\]"):
        Modes([1.0])


def test_rbm_pcd_noise_matches_sampled_update():
    # Var(dX_ab) of the PCD update from |B| exact Gaussian chains, in the eigenbasis of X,
    # against (alpha^2/|B|)(1 + delta_ab) Gt_ab.
    from fpsolve.models import rbm_pcd_noise

    rng = np.random.default_rng(0)
    kappa, mu2, batch, alpha, n = np.array([4.0, 5.0, 8.0]), 9.0, 16, 0.1, 40_000
    x = mu2 - kappa
    u = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    v = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    w = u @ np.diag(np.sqrt(x)) @ v.T
    c = np.linalg.inv(mu2 * np.eye(3) - w @ w.T)
    phi = rng.normal(size=(n, batch, 3)) @ np.linalg.cholesky(c).T
    dc = np.einsum("nbi,nbj->nij", phi, phi) / batch - c
    dx = -2 * alpha * np.einsum("ia,ji,njk,kl,lb->nab", v, w, dc, w, v)
    expected = alpha**2 / batch * (1 + np.eye(3)) * rbm_pcd_noise(Modes.rbm(kappa, mu2)).coupling
    # relative standard error of a variance from n samples of a heavy-tailed product: < 4/sqrt(n)
    np.testing.assert_allclose(dx.var(axis=0), expected, rtol=5 * 4 / np.sqrt(n))


def test_rbm_pcd_noise_fixed_point_and_errors():
    from fpsolve.models import rbm_pcd_noise

    noise = rbm_pcd_noise(Modes.rbm([4.0, 8.0], 9.0), k=3)
    rho = np.array([5.0, 1.0]) / 9.0
    c = rho**6
    np.testing.assert_allclose(noise.gt2, 4 * np.array([25 / 16, 1 / 64]) * (1 + c) / (1 - c))
    with pytest.raises(TypeError, match="modes must be"):
        rbm_pcd_noise(Modes.harmonic([1.0]))
    with pytest.raises(ValueError, match="x must lie"):
        rbm_pcd_noise(Modes.rbm([4.0], 9.0), x=[9.5])


@pytest.mark.parametrize("convention", ["talk", "training"])
@pytest.mark.parametrize("s", [1.0, 1.7])
def test_drift_scalars_are_the_model(convention, s):
    """The model's array methods, its numba callables and the jitted drift scalars agree bit
    for bit (one formula), and are the formulas of the theory page."""
    m = RBMModel(4.0, 9.0, s, convention=convention)
    c = 1.0 if convention == "talk" else 2.0 * s
    assert m.scalar_params == (c, 4.0, 9.0, s)
    x = np.linspace(0.0, 0.999 * 9.0 / s, 37)
    for scalar, method in ((rbm_drift, m.drift), (rbm_potential, m.potential),
                           (rbm_curvature, m.d2potential)):  # fmt: skip
        np.testing.assert_array_equal(method(x), [scalar(v, *m.scalar_params) for v in x])
    np.testing.assert_array_equal(m.drift(x), [m.numba_drift(v) for v in x])
    np.testing.assert_array_equal(m.potential(x), [m.numba_potential(v) for v in x])
    lam = 9.0 - s * x
    np.testing.assert_allclose(m.d2potential(x), c * (9.0 / lam**2 - 1 / 4.0), rtol=1e-13)
    np.testing.assert_allclose(
        m.potential(x), c * (-(x**2) / 8.0 - x / s - 9.0 / s**2 * np.log(lam)), rtol=1e-13
    )
    assert rbm_curvature(m.x_stable, *m.scalar_params) == pytest.approx(m.omega, rel=1e-14)


def test_pcd_coupling_scalars():
    mu2, s = 9.0, 1.3
    x = np.array([0.3, 2.0, 4.5, 6.0])
    lam = mu2 - s * x
    for k in (0, 1, 3):
        rho = s * x / mu2
        c = np.outer(rho, rho) ** k
        f = (1 + c) / (1 - c) if k else np.ones((4, 4))
        want = 4 * s**2 * np.outer(x / lam, x / lam) * f
        got = np.array([[rbm_pcd_coupling(a, b, mu2, s, k) for b in x] for a in x])
        np.testing.assert_allclose(got, want, rtol=1e-13)
        fac = np.array([[rbm_chain_factor(a, b, mu2, s, k) for b in x] for a in x])
        np.testing.assert_allclose(fac, f, rtol=1e-13)
        modes = Modes.rbm(mu2 - s * x, mu2, s)  # stable points at x
        noise = rbm_pcd_noise(modes, x, k=k or None)  # G_ab for a <= b, mirrored
        np.testing.assert_array_equal(noise.coupling, np.triu(got) + np.triu(got, 1).T)
        np.testing.assert_array_equal(noise.chain_factor, np.triu(fac) + np.triu(fac, 1).T)


def test_chain_powers_in_lanes_are_the_scalar_powers_bit_for_bit():
    """The chain powers rho^k of a row of replicas (the PCD map's lanes) are numba's
    ``float ** int`` of each entry exactly, also past 2**16 where numba calls pow."""
    from numba import njit

    from fpsolve.models._rbm import _chain_power, _chain_powers

    @njit
    def both(x, mu2, s, k):
        lanes, rho = np.empty_like(x), np.empty_like(x)
        _chain_powers(x, mu2, s, k, rho, lanes)
        scalar = np.array([_chain_power(v, mu2, s, k) for v in x])
        return lanes, scalar

    x = np.random.default_rng(4).uniform(0.0, 6.9, size=37)  # rho up to 0.997
    for k in (0, 1, 2, 3, 5, 8, 13, 0x10000, 0x10001):
        lanes, scalar = both(x, 9.0, 1.3, k)
        np.testing.assert_array_equal(lanes, scalar, err_msg=f"k={k}")
        if 0 < k < 20:
            np.testing.assert_allclose(scalar, (1.3 * x / 9.0) ** k, rtol=1e-13)


def test_pcd_noise_model():
    modes = Modes.rbm([8.0, 6.0, 4.0], 9.0, 1.2, convention="training")
    x = np.array([0.5, 2.0, 4.0])
    lam = 9.0 - 1.2 * x
    n_v = 5  # two directions outside the range of W, lambda = mu2
    inv = (n_v - 3) / 9.0 + np.sum(1 / lam)
    want = 1.2**2 * x / lam * (inv + 1 / lam)
    np.testing.assert_allclose(PCDNoise(n_v=n_v).second_order_drift(modes, x), want, rtol=1e-14)
    assert not PCDNoise(second_order=False).second_order_drift(modes, x).any()
    np.testing.assert_array_equal(PCDNoise(k=2).at(modes, x).coupling,
                                  rbm_pcd_noise(modes, x, k=2).coupling)  # fmt: skip
    with pytest.raises(ValueError, match="k must be >= 1"):
        PCDNoise(k=0)
    with pytest.raises(TypeError, match="second_order must be a bool"):
        PCDNoise(second_order=1)
    with pytest.raises(ValueError, match="n_v must be >= the number of modes"):
        PCDNoise(n_v=2).second_order_drift(modes)
    with pytest.raises(ValueError, match="share mu2"):
        PCDNoise().second_order_drift(Modes([RBMModel(4.0, 9.0), RBMModel(4.0, 10.0)]))


def test_sgd_g2():
    assert sgd_g2(0.1, 16, 8.0) == pytest.approx(0.05)
    np.testing.assert_array_equal(sgd_g2(0.2, 4, [1.0, 2.0]), 0.2 * np.array([1.0, 2.0]) / 4)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        sgd_g2(0.0, 4, 1.0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        sgd_g2(0.1, 0, 1.0)
    with pytest.raises(ValueError, match="gt2 must be > 0"):
        sgd_g2(0.1, 4, [1.0, -1.0])

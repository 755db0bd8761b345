"""Tests of fpsolve.fokker_planck (one mode): exact OU results, convergence orders,
the RBM mode against the analytic stationary density, invariants and bad input."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fpsolve import fokker_planck as fp
from fpsolve.analytic import stationary_density
from fpsolve.fokker_planck.mesh import (
    initial_values,
    make_grid,
    narrowest_width,
    normalise,
    window,
)
from fpsolve.models import HarmonicModel, PotentialModel, RBMModel


def slope(h, err):
    """Least-squares slope of log(err) against log(h)."""
    return float(np.polyfit(np.log(h), np.log(err), 1)[0])


def ou_transition(x, t, omega, g2, x0, s0):
    """Exact OU density at time t from N(x0, s0^2) (centre 0)."""
    m = x0 * np.exp(-omega * t)
    v = s0**2 * np.exp(-2 * omega * t) + g2 / omega * (1 - np.exp(-2 * omega * t))
    return np.exp(-((x - m) ** 2) / (2 * v)) / np.sqrt(2 * np.pi * v)


# ----------------------------------------------------------------------------- stationary
@pytest.mark.parametrize(
    ("model", "g2"),
    [
        (HarmonicModel(1.3, center=0.4), 0.7),
        (RBMModel(4.0, 9.0), 0.5),
        (RBMModel(4.0, 9.0), 0.05),
        (RBMModel(4.0, 9.0), 1e-3),
        (RBMModel(1.0, 3.0, convention="training"), 0.5),
    ],
)
def test_stationary_exact_at_nodes(model, g2):
    """log P_k - log P_s(x_k) is one constant (exact up to normalisation) close to 0."""
    s = fp.stationary(model, g2, n=2000)
    ref = stationary_density(model, g2).logpdf(s.x)
    diff = s.logp - ref
    assert np.all(np.isfinite(s.logp))
    assert np.ptp(diff) < 1e-9 * max(1.0, np.abs(ref).max())
    # the normalisation is a midpoint sum: small for these smooth densities
    assert abs(diff.mean()) < 1e-6
    assert np.sum(s.p) * s.h == pytest.approx(1.0, abs=1e-13)


def test_stationary_from_drift_is_fourth_order_or_better():
    model, g2 = RBMModel(1.0, 3.0), 0.5
    ns = np.array([25, 50, 100, 200])
    errs = []
    for n in ns:
        s = fp.stationary(model, g2, n=int(n), from_drift=True)
        exact = fp.stationary(model, g2, n=int(n))
        errs.append(np.max(np.abs(s.p - exact.p)) / exact.p.max())
    h = 1.0 / ns
    assert slope(h, np.array(errs)) > 3.8
    assert errs[-1] < 1e-8


def test_stationary_moments_ou():
    s = fp.stationary(HarmonicModel(2.0, center=1.0), 0.5, n=400)
    assert s.mean == pytest.approx(1.0, abs=1e-12)
    assert s.var == pytest.approx(0.25, rel=1e-10)  # midpoint rule: spectrally accurate


# ----------------------------------------------------------------------------- OU dynamics
def test_ou_transition_density_two_times_second_order():
    omega, g2, x0, s0 = 1.0, 0.5, 1.5, 0.3
    model = HarmonicModel(omega)
    times = [0.3, 1.2]
    ns = np.array([100, 200, 400, 800])
    errs = []
    for n in ns:
        ev = fp.evolve(model, g2, lambda x: np.exp(-((x - x0) ** 2) / (2 * s0**2)), times, n=int(n))
        assert ev.method == "eigen"
        exact = np.stack([ou_transition(ev.x, t, omega, g2, x0, s0) for t in times])
        errs.append(np.max(np.abs(ev.p - exact)))
    errs = np.array(errs)
    assert slope(1.0 / ns, errs) == pytest.approx(2.0, abs=0.15)


def test_richardson_evolution_is_fourth_order():
    omega, g2, x0, s0 = 1.0, 0.5, 1.0, 0.3
    times = [0.5, 2.0]
    ns = np.array([100, 200, 400])
    errs = []
    for n in ns:
        ev = fp.evolve(
            HarmonicModel(omega),
            g2,
            lambda x: np.exp(-((x - x0) ** 2) / (2 * s0**2)),
            times,
            n=int(n),
            richardson=True,
        )
        exact = np.stack([ou_transition(ev.x, t, omega, g2, x0, s0) for t in times])
        errs.append(np.max(np.abs(ev.p - exact)))
        np.testing.assert_allclose(ev.mass, 1.0, atol=1e-10)
    assert slope(1.0 / ns, np.array(errs)) == pytest.approx(4.0, abs=0.3)
    x = fp.grid(HarmonicModel(1.0), 0.5, n=50)
    with pytest.raises(ValueError, match="richardson"):
        fp.evolve(HarmonicModel(1.0), 0.5, np.exp(-(x**2)), [1.0], n=50, richardson=True)


def test_cn_converges_to_eigen_second_order_in_dt():
    model, g2 = HarmonicModel(1.0), 0.5
    p0 = lambda x: np.exp(-((x - 1.0) ** 2) / 0.08)  # noqa: E731
    ref = fp.evolve(model, g2, p0, [0.5, 1.0], n=400, method="eigen").p
    dts = np.array([0.04, 0.02, 0.01])
    errs = [
        np.max(np.abs(fp.evolve(model, g2, p0, [0.5, 1.0], n=400, method="cn", dt=d).p - ref))
        for d in dts
    ]
    assert slope(dts, np.array(errs)) == pytest.approx(2.0, abs=0.2)
    euler = [
        np.max(np.abs(fp.evolve(model, g2, p0, [0.5, 1.0], n=400, method="euler", dt=d).p - ref))
        for d in dts
    ]
    assert slope(dts, np.array(euler)) == pytest.approx(1.0, abs=0.15)


def _full_eigen_evolution(model, g2, p0, times, n):
    """Reference: P(t) = W^{1/2} U exp(-Lambda t) U^T W^{-1/2} P(0) from ALL eigenpairs."""
    from scipy import linalg

    g = make_grid(model, g2, n)
    vals = normalise(initial_values(p0, g.x, g.cut), g.h)
    m = g.rate_matrix()
    lam, u = linalg.eigh_tridiagonal(m.diag, m.off)
    lam[0] = 0.0
    sw = np.exp(0.5 * g.logw)
    c = u.T @ np.where(vals > 0, vals / sw, 0.0)
    return np.array([sw * (u @ (np.exp(-lam * t) * c)) for t in times])


def _cloud(values, x):
    """Linear (cloud-in-cell) assignment of samples to the nodes: a spiky start."""
    h = x[1] - x[0]
    u = np.clip((values - x[0]) / h, 0.0, x.size - 1.0)
    i = np.minimum(np.floor(u).astype(np.int64), x.size - 2)
    w = np.zeros(x.size)
    np.add.at(w, i, 1.0 - (u - i))
    np.add.at(w, i + 1, u - i)
    return w / (values.size * h)


@pytest.mark.parametrize(
    ("model", "g2", "start", "times"),
    [
        (HarmonicModel(1.0), 0.5, "smooth", [0.0, 1e-3, 0.1, 0.5, 2.0]),
        (RBMModel(4.0, 9.0, convention="training"), 0.05, "cloud", [0.0, 2.0, 4.0, 8.0, 64.0]),
        (RBMModel(6.0, 9.0, convention="training"), 0.02, "cloud", [0.0, 0.5, 1.0, 30.0]),
    ],
)
def test_eigen_route_equals_the_full_decomposition(model, g2, start, times):
    """The eigen route keeps only the eigenpairs that matter at the earliest positive time:
    equal to the expansion over all of them within 1e-10 of max P(0) (measured: 2e-13),
    and P(0) itself at t = 0."""
    n = 600
    x = fp.grid(model, g2, n=n)
    if start == "smooth":
        p0 = np.exp(-((x - 1.5) ** 2) / 0.18)
    else:
        xs = model.x_stable
        p0 = _cloud(np.random.default_rng(3).uniform(0.6 * xs, 1.2 * xs, 200), x)
    ev = fp.evolve(model, g2, p0, times, n=n, method="eigen")
    ref = _full_eigen_evolution(model, g2, p0, times, n)
    assert np.max(np.abs(ev.p - ref)) <= 1e-10 * ev.p[0].max()
    np.testing.assert_array_equal(ev.p[0], p0 / (p0.sum() * ev.h))


def test_eigen_route_keeps_few_modes_and_sturm_counts_exactly():
    """At t >= 1 an OU start needs a few dozen of the 800 eigenpairs; the Sturm count that
    picks them equals the number of eigenvalues below the cutoff."""
    from scipy import linalg

    from fpsolve.fokker_planck import _kernels, one_mode

    g = make_grid(HarmonicModel(1.0), 0.5, 800)
    m = g.rate_matrix()
    lam = linalg.eigvalsh_tridiagonal(m.diag, m.off)
    vals = normalise(np.exp(-((g.x - 1.5) ** 2) / 0.18), g.h)
    cutoff = one_mode._eigen_cutoff(vals * np.exp(-0.5 * g.logw), vals, 1.0)
    k = _kernels.sturm_count(m.diag, m.off, cutoff)
    assert k == np.count_nonzero(lam < cutoff)
    assert 30 < k < 80
    for x in (-1.0, 0.5 * lam[10] + 0.5 * lam[11], 1e9):
        assert _kernels.sturm_count(m.diag, m.off, x) == np.count_nonzero(lam < x)


def test_infinite_time_is_stationary():
    model, g2 = RBMModel(4.0, 9.0), 0.5
    ev = fp.evolve(model, g2, lambda x: np.exp(-((x - 2) ** 2)), [0.0, np.inf], n=300)
    st_ = fp.stationary(model, g2, n=300)
    np.testing.assert_allclose(ev.p[-1], st_.p, rtol=1e-12, atol=0)
    late = fp.evolve(model, g2, lambda x: np.exp(-((x - 2) ** 2)), [400.0], n=300)
    np.testing.assert_allclose(late.p[0], st_.p, atol=1e-9)


def test_rbm_small_g2_evolution_from_marchenko_pastur_is_finite():
    """g2 = 1e-3: P_s near x = 0 is exp(-1e4) of its peak; nothing overflows, mass is kept,
    and backward Euler converges to Crank-Nicolson at first order in dt."""
    from fpsolve.analytic import marchenko_pastur

    model, p0, times = RBMModel(4.0, 9.0), marchenko_pastur(1.0, scale=0.1), [0.0, 1.0, 5.0]
    cn = fp.evolve(model, 1e-3, p0, times, n=3000, method="cn", dt=0.005)
    diffs = []
    for dt in (0.02, 0.01):
        eu = fp.evolve(model, 1e-3, p0, times, n=3000, method="euler", dt=dt)
        assert np.all(np.isfinite(eu.p))
        assert eu.p.min() >= 0
        np.testing.assert_allclose(eu.mass, 1.0, rtol=0, atol=1e-12)
        diffs.append(np.max(np.abs(eu.mean - cn.mean)))
    assert np.all(np.isfinite(cn.p))
    np.testing.assert_allclose(cn.mass, 1.0, rtol=0, atol=1e-12)
    assert diffs[0] / diffs[1] == pytest.approx(2.0, rel=0.15)
    assert np.all(np.diff(cn.mean) > 0)  # escaping from x ~ 0 toward x_s = 5


# ----------------------------------------------------------------------------- rates
def test_ou_rates_n_omega_second_order_and_richardson():
    omega = 1.7
    model = HarmonicModel(omega)
    exact = omega * np.arange(1, 6)
    ns = np.array([100, 200, 400])
    errs = [
        np.max(np.abs(fp.relaxation_rates(model, 0.3, 5, n=int(n), richardson=False).rates - exact))
        for n in ns
    ]
    assert slope(1.0 / ns, np.array(errs)) == pytest.approx(2.0, abs=0.05)
    r = fp.relaxation_rates(model, 0.3, 5, n=800)
    np.testing.assert_allclose(r.rates, exact, atol=1e-7)
    assert abs(r.lambda0) < 1e-9
    np.testing.assert_allclose(r.times, 1.0 / r.rates)


def test_rbm_rates_converged_reference_to_1e6():
    """(kappa, mu2, g2) = (1, 3, 0.5): n = 2000 against n = 16000, both with Richardson."""
    model = RBMModel(1.0, 3.0)
    ref = fp.relaxation_rates(model, 0.5, 5, n=16000).rates
    got = fp.relaxation_rates(model, 0.5, 5, n=2000).rates
    assert np.max(np.abs(got - ref)) < 1e-6
    plain = fp.relaxation_rates(model, 0.5, 5, n=2000, richardson=False).rates
    assert np.max(np.abs(plain - ref)) > 1e-6  # the extrapolation is what gets there


# ----------------------------------------------------------------------------- invariants
models = st.one_of(
    st.builds(
        HarmonicModel,
        st.floats(0.2, 5.0),
        center=st.floats(-2.0, 2.0),
    ),
    st.builds(
        lambda k, gap: RBMModel(k, k + gap),
        st.floats(0.5, 5.0),
        st.floats(0.5, 6.0),
    ),
)


def _grid_or_refusal(model, g2, n):
    """The grid of n cells, or None after checking that it is refused, naming n, when its
    cells are wider than the narrowest width sqrt(g2/|V''|) at a fixed point."""
    win = window(model, g2, None)
    if (win.b - win.a) / n > narrowest_width(model, g2, win.a, win.b)[0]:
        with pytest.raises(ValueError, match=rf"^n={n} does not resolve the model at g2="):
            make_grid(model, g2, n)
        return None
    return make_grid(model, g2, n)


@given(
    model=models,
    g2=st.floats(0.01, 2.0),
    n=st.integers(8, 300),
    method=st.sampled_from(["euler", "cn", "eigen"]),
    loc=st.floats(0.1, 0.9),
)
def test_mass_conservation_and_positivity(model, g2, n, method, loc):
    """Mass kept and positivity on every grid that resolves the model (else it is refused)."""
    g = _grid_or_refusal(model, g2, n)
    if g is None:
        return
    x = g.x
    centre = x[0] + loc * (x[-1] - x[0])
    width = 0.1 * (x[-1] - x[0])
    p0 = np.exp(-0.5 * ((x - centre) / width) ** 2)
    p0[[0, -1]] = 0.0
    times = [0.0, 0.05, 0.5, 3.0]
    if method == "eigen":
        with np.errstate(divide="ignore"):
            amp = np.max(np.log(p0 / p0.max()) - 0.5 * g.logw)
        if amp > np.log(1e6):  # the eigen route refuses what it cannot represent
            with pytest.raises(ValueError, match="amplified"):
                fp.evolve(model, g2, p0, times, n=n, method=method)
            return
        ev = fp.evolve(model, g2, p0, times, n=n, method=method)
    else:
        ev = fp.evolve(model, g2, p0, times, n=n, method=method, dt=0.02)
    # eigen: round-off amplified by at most 1e6 (else it raises)
    np.testing.assert_allclose(ev.mass, 1.0, rtol=0, atol=1e-9 if method == "eigen" else 1e-12)
    assert np.all(np.isfinite(ev.p))
    if method == "euler":  # an M-matrix step: non-negative by construction
        assert ev.p.min() >= 0.0
    elif method == "eigen":  # exp(tA) >= 0 elementwise; round-off amplified <= 1e6
        assert ev.p.min() >= -1e-9 * ev.p.max()


@given(
    g2=st.floats(1e-3, 3.0),
    n=st.integers(5, 500),
    a=st.floats(0.3, 3.0),
)
def test_rate_matrix_columns_conserve_and_stationary_is_kernel(g2, n, a):
    """Quartic user model: A has zero column sums, non-negative off-diagonals, A P_s = 0."""
    model = PotentialModel(lambda x: a * x**4 / 4 - x**2 / 2, lambda x: a * x**3 - x)
    g = _grid_or_refusal(model, g2, n)
    if g is None:
        return
    _, _, right, left = g.rate_matrix()
    assert np.all(right >= 0)
    assert np.all(left >= 0)
    ps = fp.stationary(model, g2, n=n).p
    flux = right * ps[:-1] - left * ps[1:]
    assert np.max(np.abs(flux)) <= 1e-12 * max(1.0, np.max(right * ps[:-1]))


# ----------------------------------------------------------------------------- errors
def test_bad_input():
    model = HarmonicModel(1.0)
    good = lambda x: np.exp(-(x**2))  # noqa: E731
    with pytest.raises(ValueError, match="g2 must be > 0"):
        fp.stationary(model, 0.0)
    with pytest.raises(ValueError, match="g2 must be > 0"):
        fp.evolve(model, -1.0, good, [1.0])
    with pytest.raises(ValueError, match="does not cover the mass"):
        fp.stationary(model, 1.0, domain=(-1.0, 1.0))
    with pytest.raises(ValueError, match="does not cover the mass"):
        fp.relaxation_rates(RBMModel(4.0, 9.0), 0.5, domain=(0.0, 6.0))
    with pytest.raises(ValueError, match="non-negative"):
        fp.evolve(model, 1.0, lambda x: np.exp(-(x**2)) - 0.1, [1.0], n=100)
    with pytest.raises(ValueError, match="not normalisable"):
        fp.evolve(model, 1.0, np.zeros_like, [1.0], n=100)
    with pytest.raises(ValueError, match="finite"):
        fp.evolve(model, 1.0, lambda x: np.full_like(x, np.inf), [1.0], n=100)
    with pytest.raises(ValueError, match="does not decay"):
        fp.evolve(model, 1.0, np.ones_like, [1.0], n=100)
    with pytest.raises(ValueError, match="shape"):
        fp.evolve(model, 1.0, np.ones(7), [1.0], n=100)
    with pytest.raises(ValueError, match="sorted"):
        fp.evolve(model, 1.0, good, [2.0, 1.0], n=100)
    with pytest.raises(ValueError, match=">= 0"):
        fp.evolve(model, 1.0, good, [-1.0], n=100)
    with pytest.raises(ValueError, match="method"):
        fp.evolve(model, 1.0, good, [1.0], n=100, method="rk4")
    with pytest.raises(ValueError, match="dt must be > 0"):
        fp.evolve(model, 1.0, good, [1.0], n=100, method="cn", dt=0.0)
    with pytest.raises(TypeError, match="Model"):
        fp.stationary("harmonic", 1.0)
    with pytest.raises(ValueError, match="n must be >= 3"):
        fp.stationary(model, 1.0, n=2)
    with pytest.raises(ValueError, match="amplified"):
        fp.evolve(
            RBMModel(4.0, 9.0),
            1e-3,
            lambda x: np.exp(-((x - 0.2) ** 2) / 0.01),
            [1.0],
            n=200,
            method="eigen",
        )


def test_results_plot(tmp_path):
    import matplotlib.pyplot as plt

    model = RBMModel(4.0, 9.0)
    ev = fp.evolve(model, 0.5, lambda x: np.exp(-((x - 1) ** 2)), [0, 1, 2], n=200)
    lines = ev.plot()
    assert len(lines) == 3
    assert fp.stationary(model, 0.5, n=100).plot() is not None
    assert fp.relaxation_rates(model, 0.5, 3, n=200).plot() is not None
    plt.gcf().savefig(tmp_path / "x.png")
    assert math.isfinite(float(ev.mean[-1]))


def test_cli_solve(tmp_path, capsys):
    from fpsolve.cli import main

    out = tmp_path / "s.png"
    code = main(["solve", "rbm", "--g2", "0.5", "--times", "0", "1", "--n", "200", "-o", str(out)])
    assert code == 0
    assert out.exists()
    text = capsys.readouterr().out
    assert "mean" in text
    assert main(["solve", "harmonic", "--g2", "0", "--start", "gauss"]) == 2

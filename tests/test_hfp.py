"""Tests of fpsolve.hfp: exact harmonic levels, E_0 = 0 and psi_0 = sqrt(P_s) to round-off,
FP rates = 2 E_n on an independent grid, the RBM double well, eigen-expansion dynamics."""

import numpy as np
import pytest

from fpsolve import fokker_planck as fp
from fpsolve.analytic import stationary_density
from fpsolve.hfp import hfp_spectrum
from fpsolve.models import HarmonicModel, RBMModel


def slope(h, err):
    return float(np.polyfit(np.log(h), np.log(err), 1)[0])


def test_harmonic_levels_n_omega_over_two():
    omega = 1.6
    model = HarmonicModel(omega, center=-0.5)
    exact = 0.5 * omega * np.arange(6)
    ns = np.array([100, 200, 400])
    errs = [np.max(np.abs(hfp_spectrum(model, 0.4, 6, n_grid=int(n)).energies - exact)) for n in ns]
    assert slope(1.0 / ns, np.array(errs)) == pytest.approx(2.0, abs=0.05)
    rich = hfp_spectrum(model, 0.4, 6, n_grid=800, richardson=True)
    np.testing.assert_allclose(rich.energies, exact, atol=1e-8)
    np.testing.assert_allclose(rich.rates, 2 * exact, atol=2e-8)


def test_harmonic_potential_terms():
    omega, g2 = 2.0, 0.5
    spec = hfp_spectrum(HarmonicModel(omega), g2, 2, n_grid=100)
    np.testing.assert_allclose(spec.U0, omega**2 * spec.x**2 / 8)
    np.testing.assert_allclose(spec.U1, -omega / 4)
    np.testing.assert_allclose(spec.U, omega**2 * spec.x**2 / (8 * g2) - omega / 4)


@pytest.mark.parametrize(
    ("model", "g2"),
    [(HarmonicModel(1.0), 0.3), (RBMModel(4.0, 9.0), 0.5), (RBMModel(4.0, 9.0), 1e-3)],
)
def test_ground_state_exact(model, g2):
    spec = hfp_spectrum(model, g2, 4, n_grid=1500)
    assert abs(spec.energies[0]) < 1e-25
    psi0 = spec.eigenfunctions[0]
    ref = stationary_density(model, g2).logpdf(spec.x)
    logratio = np.log(psi0[psi0 > 1e-150]) - 0.5 * ref[psi0 > 1e-150]
    assert np.ptp(logratio) < 1e-9 * max(1.0, np.abs(ref).max())  # sqrt(P_s) up to a constant
    gram = spec.eigenfunctions @ (spec.weights * spec.eigenfunctions).T
    np.testing.assert_allclose(gram, np.eye(4), atol=1e-9)
    np.testing.assert_allclose(spec.stationary_density(), psi0**2)


def _schroedinger_fd(model, g2, a, b, n, k):
    """Reference: plain 3-point differences of -(g2/2) psi'' + U psi (not factorised),
    psi'(a) = 0 (V'(a) = 0 at the RBM's reflecting end) by a mirror ghost node, psi(b) = 0."""
    from scipy.linalg import eigvalsh_tridiagonal

    h = (b - a) / n
    x = a + h * np.arange(n)
    u = model.dpotential(x) ** 2 / (8 * g2) - model.d2potential(x) / 4
    c = g2 / (2 * h * h)
    d = 2 * c + u
    e = -c * np.ones(n - 1)
    e[0] *= np.sqrt(2.0)  # symmetrised mirror row (weight h/2 at the end node)
    return eigvalsh_tridiagonal(d, e, select="i", select_range=(0, k - 1))


def test_rbm_levels_against_plain_schroedinger_differences():
    """hfp (factorised, fitted) vs the unfactorised Schroedinger operator: both Richardson."""
    model, g2 = RBMModel(1.0, 3.0), 0.5
    spec = hfp_spectrum(model, g2, 6, n_grid=2000, richardson=True)
    a, b = float(spec.x[0]), float(spec.x[-1])
    e1 = _schroedinger_fd(model, g2, a, b, 4000, 6)
    e2 = _schroedinger_fd(model, g2, a, b, 8000, 6)
    ref = (4 * e2 - e1) / 3
    assert np.max(np.abs(spec.energies - ref)) < 1e-6
    assert np.max(np.abs(e1 - ref)) > 1e-6  # the plain scheme needs the extrapolation


def test_rbm_rates_agree_with_fokker_planck_operator():
    """hfp levels (vertex-centred grid) and the FP operator (cell-centred): 2 E_n = rates."""
    model = RBMModel(1.0, 3.0)
    spec = hfp_spectrum(model, 0.5, 6, n_grid=2000, richardson=True)
    rates = fp.relaxation_rates(model, 0.5, 5, n=2000).rates
    assert np.max(np.abs(spec.rates[1:] - rates)) < 1e-6


def test_rbm_small_g2_first_excitation_in_the_well_at_zero():
    """E_1 -> (1/kappa - 1/mu2)/2 with corrections O(g): the escape from x ~ 0."""
    kappa, mu2 = 4.0, 9.0
    model = RBMModel(kappa, mu2)
    target = 0.5 * (1 / kappa - 1 / mu2)
    g2s = np.array([4e-3, 2e-3, 1e-3])
    dev, pos = [], []
    for g2 in g2s:
        spec = hfp_spectrum(model, g2, 3, n_grid=4000)
        dev.append(abs(spec.energies[1] - target))
        pos.append(spec.position(1))
        assert spec.relaxation_time == pytest.approx(1 / (2 * spec.energies[1]))
        assert spec.relaxation_state is spec.eigenfunctions[1] or np.array_equal(
            spec.relaxation_state, spec.eigenfunctions[1]
        )
        assert np.all(np.isfinite(spec.eigenfunctions))
    assert slope(np.sqrt(g2s), np.array(dev)) == pytest.approx(1.0, abs=0.15)
    assert slope(np.sqrt(g2s), np.array(pos)) == pytest.approx(1.0, abs=0.15)
    assert max(pos) < 0.05 * model.x_stable
    assert dev[-1] < 0.02 * target


def test_eigen_expansion_matches_exact_ou_transition():
    omega, g2, x0, s0 = 1.0, 0.5, 1.0, 0.4
    spec = hfp_spectrum(HarmonicModel(omega), g2, 40, n_grid=1600)
    times = [0.5, 2.0, np.inf]
    ev = spec.evolve(lambda x: np.exp(-((x - x0) ** 2) / (2 * s0**2)), times)
    for k, t in enumerate(times[:2]):
        m = x0 * np.exp(-omega * t)
        v = s0**2 * np.exp(-2 * omega * t) + g2 / omega * (1 - np.exp(-2 * omega * t))
        exact = np.exp(-((ev.x - m) ** 2) / (2 * v)) / np.sqrt(2 * np.pi * v)
        assert np.max(np.abs(ev.p[k] - exact)) < 1e-5
    np.testing.assert_allclose(ev.p[-1], spec.stationary_density(), atol=1e-14)
    np.testing.assert_allclose(ev.mass, 1.0, atol=1e-12)
    assert ev.method == "hfp"


def test_bad_input_and_plot():
    model = RBMModel(4.0, 9.0)
    with pytest.raises(ValueError, match="g2 must be > 0"):
        hfp_spectrum(model, 0.0)
    with pytest.raises(ValueError, match="n_levels must be >= 1"):
        hfp_spectrum(model, 0.5, 0)
    with pytest.raises(ValueError, match="does not cover"):
        hfp_spectrum(model, 0.5, domain=(0.0, 5.5))
    spec = hfp_spectrum(model, 0.5, 4, n_grid=300)
    with pytest.raises(ValueError, match="non-negative"):
        spec.evolve(lambda x: x - 1.0, [1.0])
    with pytest.raises(ValueError, match="sqrt"):
        hfp_spectrum(model, 1e-3, 3, n_grid=500).evolve(lambda x: np.exp(-((x - 1) ** 2)), [1.0])
    with pytest.raises(ValueError, match="level"):
        spec.position(9)
    assert len(spec.plot()) == 1 + 2 * 4


def test_cli_spectrum(tmp_path, capsys):
    from fpsolve.cli import main

    out = tmp_path / "dw.png"
    assert (
        main(
            ["spectrum", "rbm", "--g2", "0.01", "--levels", "3", "--n-grid", "400", "-o", str(out)]
        )
        == 0
    )
    assert out.exists()
    assert "relaxation time" in capsys.readouterr().out


def test_hfp_uses_only_public_names_of_the_grid():
    """hfp shares the Fokker-Planck grid through its public names only."""
    import ast
    from pathlib import Path

    import fpsolve.hfp

    tree = ast.parse(Path(fpsolve.hfp.__file__).read_text())
    imported = [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fpsolve")
        for alias in node.names
    ]
    assert ("fpsolve.fokker_planck.mesh", "window") in imported
    assert [imp for imp in imported if imp[1].startswith("_") or "._" in imp[0]] == []

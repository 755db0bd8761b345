"""Extreme but valid parameters for the Fokker-Planck and H_FP solvers: grids adapt to the width
sqrt(g2/|V''|) or refuse with the reason, Richardson extrapolation only on grids that resolve the
levels, levels non-negative and increasing, impossible work refused before it starts, and the
fpsolve commands solve/spectrum/stationary end expected failures with one line and exit 2."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpsolve import fokker_planck as fp
from fpsolve.analytic import stationary_density
from fpsolve.fokker_planck import limits
from fpsolve.fokker_planck.mesh import (
    CELLS_PER_WIDTH,
    check_levels,
    narrowest_width,
    potential_window,
)
from fpsolve.hfp import hfp_spectrum
from fpsolve.models import HarmonicModel, Modes, RBMModel

RBM = RBMModel(4.0, 9.0)
R_ESCAPE = 1 / 4 - 1 / 9  # |V''(0)| of RBM: escape levels E = r/2, 3r/2, ...
OMEGA = 5 / 16  # V''(x_s) of RBM: well levels E = Omega/2, ...

g2s = st.floats(-8.0, 2.0).map(lambda e: 10.0**e)
models = st.one_of(
    st.builds(HarmonicModel, st.floats(1e-3, 1e3), center=st.floats(-5.0, 5.0)),
    st.builds(
        lambda kappa, gap, s, conv: RBMModel(kappa, kappa * (1.0 + gap), s, convention=conv),
        st.floats(0.05, 20.0),
        st.floats(0.05, 5.0),
        st.floats(0.2, 5.0),
        st.sampled_from(["talk", "training"]),
    ),
)


def _cells_per_width(model, g2, x):
    width, _ = narrowest_width(model, g2, x[0], x[-1])
    return width / (x[1] - x[0])


# ----------------------------------------------------------------------------- properties
@settings(max_examples=25)
@given(model=models, g2=g2s)
def test_stationary_adapts_to_the_width(model, g2):
    """Default grid: 8 cells across the narrowest width, unit mass, the analytic variance
    (to 1e-4: a weak wall, density ~ (wall - x)^0.04 at g2 = 100, is resolved to 1e-5)."""
    s = fp.stationary(model, g2)
    assert _cells_per_width(model, g2, s.x) >= 0.99 * CELLS_PER_WIDTH
    assert np.all(np.isfinite(s.p))
    assert s.p.min() >= 0.0
    assert s.h * s.p.sum() == pytest.approx(1.0, abs=1e-12)
    assert s.var == pytest.approx(stationary_density(model, g2).var, rel=1e-4)


@pytest.mark.slow
@settings(max_examples=15)
@given(model=models, g2=st.floats(-6.0, 2.0).map(lambda e: 10.0**e), rich=st.booleans())
def test_levels_are_positive_and_increasing(model, g2, rich):
    """H_FP levels and FP rates on the adapted grids: E_0 = 0, the rest positive, increasing,
    and the two discretisations agree."""
    spec = hfp_spectrum(model, g2, 4, richardson=rich)
    rates = fp.relaxation_rates(model, g2, 3, richardson=rich).rates
    e = spec.energies
    assert abs(e[0]) <= 1e-12 * e[1]
    assert np.all(e[1:] > 0)
    assert np.all(np.diff(e) > 0)
    assert np.all(rates > 0)
    assert np.all(np.diff(rates) > 0)
    np.testing.assert_allclose(2 * e[1:], rates, rtol=2e-3 if not rich else 1e-5)


@pytest.mark.slow
@settings(max_examples=15)
@given(model=models, g2=st.floats(-6.0, 2.0).map(lambda e: 10.0**e))
def test_evolution_conserves_mass_and_positivity(model, g2):
    """Backward Euler on the adapted grid from a Gaussian at the stable point: non-negative,
    mass 1 to round-off accumulated over the steps (400 steps of 2000+ cells: 1e-9)."""
    xs, omega = model.x_stable, model.omega
    width = math.sqrt(g2 / omega)
    a, b, _ = potential_window(model, g2)
    sd = min(width, 0.1 * (xs - a), 0.1 * (b - xs))

    def p0(x):
        return np.exp(-0.5 * ((x - xs) / sd) ** 2)

    ev = fp.evolve(model, g2, p0, [0.0, 0.5 / omega, 2.0 / omega, np.inf], method="euler")
    assert _cells_per_width(model, g2, ev.x) >= 0.99 * CELLS_PER_WIDTH
    assert np.all(np.isfinite(ev.p))
    assert ev.p.min() >= 0.0
    np.testing.assert_allclose(ev.mass, 1.0, rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------- the reported cases
def test_stationary_at_tiny_noise_resolves_the_density_or_refuses():
    """RBM(4, 9) at g2 = 1e-8: variance g2/Omega = 3.2e-8 (it was 5e-30, all mass in a cell)."""
    s = fp.stationary(RBM, 1e-8)
    assert s.var == pytest.approx(3.2e-8, rel=1e-6)
    with pytest.raises(ValueError, match=r"^n=2000 does not resolve the model at g2=1e-08.*n >= "):
        fp.stationary(RBM, 1e-8, n=2000)
    with pytest.raises(ValueError, match=r"^n=2000 does not resolve"):
        fp.evolve(RBM, 1e-8, lambda x: np.exp(-((x - 5) ** 2) / 1e-6), [1.0], n=2000)
    with pytest.raises(ValueError, match=r"^n=2000 does not resolve"):
        fp.grid(RBM, 1e-8, n=2000)


def test_hfp_at_tiny_noise_gives_the_escape_and_well_levels():
    """RBM(4, 9) at g2 = 1e-8 with Richardson: r/2, Omega/2, 3r/2 (they were negative and
    unsorted); an explicit n_grid = 2000 is refused, naming n_grid."""
    spec = hfp_spectrum(RBM, 1e-8, 4, richardson=True)
    np.testing.assert_allclose(
        spec.energies[1:], [R_ESCAPE / 2, OMEGA / 2, 1.5 * R_ESCAPE], rtol=1e-4
    )
    assert spec.relaxation_time > 0
    with pytest.raises(ValueError, match=r"^n_grid=2000 does not resolve the model"):
        hfp_spectrum(RBM, 1e-8, 4, n_grid=2000, richardson=True)
    with pytest.raises(ValueError, match=r"^n=2000 does not resolve the model"):
        fp.relaxation_rates(RBM, 1e-8, 3, n=2000)


def test_weak_wall_is_accepted_with_richardson():
    """RBM(0.5, 1) at g2 = 10: exp(-V/g2) falls too slowly at the wall to reach exp(-50) in
    floating point; the default window, its doubled grid and a domain as wide are accepted."""
    model = RBMModel(0.5, 1.0)
    plain = hfp_spectrum(model, 10.0)
    rich = hfp_spectrum(model, 10.0, richardson=True)
    np.testing.assert_allclose(rich.energies[1:], plain.energies[1:], rtol=1e-3)
    rates = fp.relaxation_rates(model, 10.0, 3).rates
    np.testing.assert_allclose(rates, 2 * rich.energies[1:4], rtol=1e-3)
    a, b, _ = potential_window(model, 10.0)
    s = fp.stationary(model, 10.0, domain=(a, b))
    np.testing.assert_array_equal(s.p, fp.stationary(model, 10.0).p)
    with pytest.raises(ValueError, match="does not cover the mass"):
        fp.stationary(RBM, 0.5, domain=(0.0, 6.0))


# ----------------------------------------------------------------------------- messages
def test_richardson_is_refused_on_grids_that_do_not_resolve_the_levels():
    with pytest.raises(ValueError, match=r"^richardson=True needs grids .* on n_grid=24 .*n_grid"):
        hfp_spectrum(HarmonicModel(1.0), 0.5, 8, n_grid=24, richardson=True)
    with pytest.raises(ValueError, match=r"^richardson=True needs grids .* on n=24 "):
        fp.relaxation_rates(HarmonicModel(1.0), 0.5, 7, n=24)
    assert hfp_spectrum(HarmonicModel(1.0), 0.5, 8, n_grid=24).energies[1] > 0


def test_levels_check_names_the_grid():
    """Negative or decreasing levels are refused beyond the round-off of bisection on a
    matrix of the given norm (16 eps norm), which degenerate levels may show."""
    with pytest.raises(ValueError, match=r"^2E_2 = -0.5 is negative: .* n_grid=30"):
        check_levels(np.array([1.0, -0.5]), symbol="2E", name="n_grid", n=30, norm=1.0)
    with pytest.raises(ValueError, match=r"^lambda_1 = 2 > lambda_2 = 1: .* n=30 "):
        check_levels(np.array([2.0, 1.0]), symbol="lambda", name="n", n=30, norm=1.0)
    eps = np.finfo(float).eps
    check_levels(np.array([-8 * eps, 1.0, 1.0 - 8 * eps]), symbol="E", name="n", n=30, norm=1.0)
    with pytest.raises(ValueError, match=r"^E_1 = -3.55271e-15 is negative"):
        check_levels(np.array([-16 * eps]), symbol="E", name="n", n=30, norm=0.5)


def test_memory_is_estimated_before_allocating():
    big = 10**10
    with pytest.raises(ValueError, match=rf"^n={big} needs about .* bytes"):
        fp.stationary(HarmonicModel(1.0), 0.5, n=big)
    with pytest.raises(ValueError, match=rf"^n={big} needs about"):
        fp.evolve(HarmonicModel(1.0), 0.5, lambda x: np.exp(-(x**2)), [1.0], n=big)
    with pytest.raises(ValueError, match=rf"^n={big} needs about"):
        fp.relaxation_rates(HarmonicModel(1.0), 0.5, n=big)
    with pytest.raises(ValueError, match=rf"^n_grid={big} needs about"):
        hfp_spectrum(HarmonicModel(1.0), 0.5, n_grid=big)
    with pytest.raises(ValueError, match=r"^n=1000000 needs about .* 1000000 x 1000000"):
        fp.evolve_two_modes(Modes.harmonic([1.0, 1.0]), 0.5, lambda a, b: a * 0, [1.0], n=10**6)
    # the eigen route: all 300000 eigenvectors at t = 1e-12
    with pytest.raises(ValueError, match=r"^n=300000 needs about .* eigenvectors"):
        fp.evolve(
            HarmonicModel(1.0), 0.5, lambda x: np.exp(-(x**2)), [1e-12], n=300000, method="eigen"
        )


def test_work_is_estimated_before_starting(monkeypatch):
    model, start = HarmonicModel(1.0), (lambda x: np.exp(-((x - 1) ** 2)))
    with pytest.raises(ValueError, match=r"^dt=1e-09 means 8e\+13 cell updates .*force=True"):
        fp.evolve(model, 0.5, start, [0, 100], n=800, method="euler", dt=1e-9)
    with pytest.raises(ValueError, match=r"^times=1000000000000.0 means .* cell updates"):
        fp.evolve(model, 0.5, start, [0, 1e12], n=800, method="cn")
    with pytest.raises(ValueError, match=r"^dt=1e-09 means .* node updates"):
        fp.evolve_two_modes(
            Modes.harmonic([1.0, 1.0]),
            0.5,
            lambda a, b: np.exp(-((a - 1) ** 2 + b**2)),
            [1],
            dt=1e-9,
        )
    monkeypatch.setattr(limits, "MAX_CELL_STEPS", 1e4)
    with pytest.raises(ValueError, match=r"^dt=0.01 means 1e\+05 cell updates"):
        fp.evolve(model, 0.5, start, [1.0], n=1000, method="cn", dt=0.01)
    forced = fp.evolve(model, 0.5, start, [1.0], n=1000, method="cn", dt=0.01, force=True)
    monkeypatch.setattr(limits, "MAX_CELL_STEPS", 1e10)
    np.testing.assert_array_equal(
        forced.p, fp.evolve(model, 0.5, start, [1.0], n=1000, method="cn", dt=0.01).p
    )
    monkeypatch.setattr(limits, "MAX_NODE_LEVELS", 100.0)
    with pytest.raises(ValueError, match=r"^n_grid=100 means .* nodes x levels"):
        hfp_spectrum(model, 0.5, 3, n_grid=100)
    with pytest.raises(ValueError, match=r"^n=100 means .* cells x rates"):
        fp.relaxation_rates(model, 0.5, 3, n=100)
    assert hfp_spectrum(model, 0.5, 3, n_grid=100, force=True).energies.size == 3
    assert fp.relaxation_rates(model, 0.5, 3, n=100, force=True).rates.size == 3


def test_noise_too_small_for_double_precision_is_refused():
    with pytest.raises(ValueError, match=r"^n=2000 cells .* floating-point spacings .*g2=1e-30"):
        fp.stationary(HarmonicModel(1.0, center=1.0), 1e-30)
    with pytest.raises(ValueError, match=r"^n_grid=\d+ cells .* floating-point spacings"):
        hfp_spectrum(HarmonicModel(1.0, center=1.0), 1e-30)


def test_two_mode_grid_must_resolve_both_modes():
    modes = Modes.harmonic([1.0, 100.0])
    with pytest.raises(ValueError, match=r"^n=20 does not resolve the model at g2=0.5"):
        fp.evolve_two_modes(modes, 0.5, lambda a, b: np.exp(-(a**2 + (b - 1) ** 2)), [1.0], n=20)


# ----------------------------------------------------------------------------- the commands
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["solve", "rbm", "--g2", "0.5", "--n", "1000000000"], "n=1000000000 needs about"),
        (["spectrum", "rbm", "--g2", "0.5", "--n-grid", "1000000000"], "n_grid=1000000000 needs"),
        (
            [
                "solve",
                "rbm",
                "--g2",
                "0.5",
                "--method",
                "euler",
                "--dt",
                "1e-9",
                "--times",
                "0",
                "100",
            ],
            "dt=1e-09 means",
        ),
        (["spectrum", "rbm", "--g2", "1e-8", "--n-grid", "2000"], "n_grid=2000 does not resolve"),
        (["solve", "rbm", "--g2", "1e-8", "--n", "2000"], "n=2000 does not resolve"),
        (["solve", "rbm", "--g2", "0.5", "--times", "2", "1"], "times must be sorted"),
        (["spectrum", "rbm", "--g2", "0.5", "--levels", "0"], "n_levels must be >= 1"),
        (["stationary", "rbm", "--g2", "0.5", "--kappa", "10"], "kappa must be < mu2"),
        (["stationary", "harmonic", "--g2", "-1"], "g2 must be > 0"),
    ],
)
def test_commands_end_expected_failures_with_one_line(argv, message, capsys):
    from fpsolve.cli import main

    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"fpsolve {argv[0]}: error: ")
    assert message in lines[0]


@pytest.mark.parametrize("command", ["solve", "spectrum", "stationary"])
def test_commands_refuse_to_replace_or_misplace_outputs(command, tmp_path, capsys):
    from fpsolve.cli import main

    base = [command, "harmonic", "--g2", "0.5"]
    base += {"solve": ["--times", "0", "0.5", "--n", "100"], "spectrum": ["--levels", "2"]}.get(
        command, []
    )
    out = tmp_path / "plot.png"
    out.write_bytes(b"keep")
    for target, message in (
        (out, "exists; pass --overwrite"),
        (tmp_path, "is a directory"),
        (tmp_path / "missing" / "p.png", "does not exist"),
    ):
        assert main([*base, "-o", str(target)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert f"--output {str(target)!r}" in err[0]
        assert message in err[0]
    assert out.read_bytes() == b"keep"
    assert main([*base, "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"

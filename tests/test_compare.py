"""Analyses of validation.analyses.compare on synthetic recordings with known truth.

Tolerances are 3 standard errors of the analysed sample (the errors the
analyses report), KS decisions at the stated significance 1e-3, and the pull
spread test of the errors is derived in test_errors_are_honest.
"""

import math
import os

import matplotlib.figure
import numpy as np
import pytest

from fpsolve.analytic import BINDER_TWO_MODE
from tests.conftest import TS_DIR, TS_FILES, needs_ts
from validation.analyses.compare import (
    KS_SIGNIFICANCE,
    WIGNER_RATIO,
    initial_spectrum,
    one_point,
    rbm_scaling_variable,
    scaling,
    spacings,
)
from validation.analyses.stats import Entry
from validation.data.importers import from_weights, load_teacher_student
from validation.data.recording import Recording

PAPER_KAPPA = np.array([4.0, 4.382, 5.382, 6.618, 7.618, 8.0, 7.618, 6.618, 5.382, 4.382])


def goe_pair(rng, shape, loc, sigma):
    """Exact two-mode samples: eigenvalues of loc + H, H a 2x2 GOE matrix.

    H11, H22 ~ N(0, sigma^2) and H12 ~ N(0, sigma^2/2) give the joint density
    |x1 - x2| exp(-sum (x_i - loc)^2 / (2 sigma^2)), whose pooled one-point
    density is two_mode_density(loc, sigma).
    """
    a = rng.normal(size=(*shape, 2, 2))
    h = (a + np.swapaxes(a, -1, -2)) / 2.0
    return loc + sigma * np.linalg.eigvalsh(h)


def toy_recording(rng, n_runs=1500, n_snap=2, sigma_pair=(0.2, 0.1), sigma_single=0.3):
    """Modes: a Gaussian single at 0, pairs at 5 and 10 (far apart: the order is exact)."""
    single = rng.normal(0.0, sigma_single, size=(n_runs, n_snap, 1))
    p1 = goe_pair(rng, (n_runs, n_snap), 5.0, sigma_pair[0])
    p2 = goe_pair(rng, (n_runs, n_snap), 10.0, sigma_pair[1])
    eig = np.concatenate([single, p1, p2], axis=-1)
    assert np.all(np.diff(eig, axis=-1) >= 0)
    return Recording(
        eigenvalues=eig,
        steps=np.arange(n_snap) * 100,
        attrs={"model": "toy", "groups": np.array([0, 1, 1, 2, 2])},
    )


def within(value, error, truth, n=3.0):
    return abs(value - truth) <= n * error


# --------------------------------------------------------------------------- initial spectrum
def test_initial_spectrum_rbm_agrees_with_laguerre_and_rejects_wrong_s2():
    from validation.training.rbm import train

    rec = train(300, n_steps=0, progress=False, rng=11)
    assert rec.attrs["w_sigma"] == 0.1
    res = initial_spectrum(rec, rng=5)
    assert (res.m, res.n, res.s2) == (10, 10, pytest.approx(0.01))
    assert res.ks_laguerre[1] >= KS_SIGNIFICANCE
    by_q = {e.quantity: e for e in res.entries()}
    assert by_q["KS D vs Laguerre (finite N)"].verdict == "agree"
    assert by_q["<x>"].verdict == "agree"
    assert by_q["<x^2>"].verdict == "agree"
    assert all(e.analysis == "initial_spectrum" for e in res.entries())
    # a 20% wrong width of the initial W is seen by both tests
    wrong = initial_spectrum(rec, s2=0.012, rng=5)
    assert wrong.ks_laguerre[1] < KS_SIGNIFICANCE
    assert {e.quantity: e for e in wrong.entries()}["<x>"].verdict == "disagree"
    assert isinstance(res.plot(), matplotlib.figure.Figure)


def test_initial_spectrum_imported_singular_values(rng):
    # 30 x 6 Gaussian matrices: singular values are squared; M, N from the weights
    w = rng.normal(0.0, 0.5, size=(400, 1, 30, 6))
    rec = from_weights(w)
    res = initial_spectrum(rec, s2=0.25, rng=2)
    assert (res.m, res.n) == (30, 6)
    assert res.ks_laguerre[1] >= KS_SIGNIFICANCE
    assert within(res.mean, res.mean_error, 30 * 0.25)
    assert 0 < res.ks_mp[0] < 1
    assert 0 <= res.ks_mp[1] <= 1
    with pytest.raises(ValueError, match=r"s2 .* must be given"):
        initial_spectrum(rec)
    no_w = Recording(rec.eigenvalues**2, rec.steps, {"model": "x"})
    with pytest.raises(ValueError, match="ratio"):
        initial_spectrum(no_w, s2=0.25)
    assert initial_spectrum(no_w, s2=0.25, ratio=0.2, rng=2).m == 30
    with pytest.raises(ValueError, match="not an integer"):
        initial_spectrum(no_w, s2=0.25, ratio=0.7)


# --------------------------------------------------------------------------- one-point, spacings
def test_one_point_recovers_two_mode_and_gaussian(rng):
    rec = toy_recording(rng)
    res = one_point(rec)  # default: steps >= 50, i.e. the second snapshot only
    np.testing.assert_array_equal(res.snapshots, [1])
    res = one_point(rec, burn_in=0)
    assert res.groups == ((0,), (1, 2), (3, 4))
    truth_loc, truth_sigma = (0.0, 5.0, 10.0), (0.3, 0.2, 0.1)
    for i in range(3):
        assert within(res.loc[i], res.loc_error[i], truth_loc[i])
        assert within(res.sigma[i], res.sigma_error[i], truth_sigma[i])
        # independent snapshots: n_eff close to R T (tau estimated near 1)
        assert 1500 <= res.n_eff[i] <= 3000
    assert within(res.binder[1], res.binder_error[1], BINDER_TWO_MODE)
    assert within(res.binder[2], res.binder_error[2], BINDER_TWO_MODE)
    assert within(res.binder[0], res.binder_error[0], 0.0)
    # the Binder cumulant separates the two laws at this sample size
    assert abs(BINDER_TWO_MODE) > 5 * res.binder_error[1]
    entries = res.entries()
    assert all(isinstance(e, Entry) and e.analysis == "one_point" for e in entries)
    assert [e.verdict for e in entries if e.quantity.startswith("Binder")] == ["agree"] * 3
    assert isinstance(res.plot(), matplotlib.figure.Figure)


def test_spacings_wigner_not_poisson(rng):
    rec = toy_recording(rng)
    res = spacings(rec, burn_in=0)
    assert res.pairs == ((1, 2), (3, 4))
    for i, sigma in enumerate((0.2, 0.1)):
        assert within(res.mean[i], res.mean_error[i], math.sqrt(math.pi) * sigma)
        assert within(res.sigma[i], res.sigma_error[i], sigma)
        assert within(res.ratio[i], res.ratio_error[i], WIGNER_RATIO)
        # and not the Poisson value 2
        assert not within(res.ratio[i], res.ratio_error[i], 2.0)
    assert res.ks_wigner[1] >= KS_SIGNIFICANCE
    assert res.ks_poisson[1] < KS_SIGNIFICANCE
    ks = {e.quantity: e for e in res.entries() if e.quantity.startswith("KS")}
    assert [e.verdict for e in ks.values()] == ["agree", "rejected"]
    assert [e.kind for e in ks.values()] == ["prediction", "null"]
    assert all(math.isnan(e.error) and e.context["n"] == res.s.size for e in ks.values())
    assert isinstance(res.plot(), matplotlib.figure.Figure)
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert res.plot(ax=ax) is ax.figure
    assert one_point(rec, burn_in=0).plot(ax=ax) is ax.figure


def test_spacings_reject_uncorrelated_levels(rng):
    # two independent Gaussian modes at the same position: no repulsion
    x = np.sort(rng.normal(3.0, 0.2, size=(2000, 1, 2)), axis=-1)
    rec = Recording(x, np.array([0]), {"model": "toy", "groups": [0, 0]})
    res = spacings(rec)
    assert res.ks_wigner[1] < KS_SIGNIFICANCE
    assert not within(res.ratio[0], res.ratio_error[0], WIGNER_RATIO)


@pytest.mark.slow  # 20 replications
def test_errors_are_honest(rng):
    """Pulls (estimate - truth)/error over 20 replications have unit spread.

    For 20 normal pulls the sample standard deviation s has
    19 s^2 ~ chi^2_19: P(s < 0.6) ~ 1e-3 and P(s > 1.5) ~ 1e-4, so [0.6, 1.5]
    fails for honest errors with probability below ~0.2 % per quantity.
    """
    sigma, loc = 0.25, 2.0
    pulls = {"loc": [], "sigma": [], "binder": [], "<S>": []}
    for _ in range(20):
        x = goe_pair(rng, (300, 1), loc, sigma)
        rec = Recording(x, np.array([0]), {"model": "toy", "groups": [0, 0]})
        op = one_point(rec)
        sp = spacings(rec)
        pulls["loc"].append((op.loc[0] - loc) / op.loc_error[0])
        pulls["sigma"].append((op.sigma[0] - sigma) / op.sigma_error[0])
        pulls["binder"].append((op.binder[0] - BINDER_TWO_MODE) / op.binder_error[0])
        pulls["<S>"].append((sp.mean[0] - math.sqrt(math.pi) * sigma) / sp.mean_error[0])
    for name, p in pulls.items():
        assert 0.6 <= np.std(p, ddof=1) <= 1.5, (name, np.std(p, ddof=1))


@pytest.mark.parametrize(("n_snap", "rtol"), [(4, 5e-3), (30, 1e-3)])
def test_one_point_errors_equal_refit_jackknife(rng, n_snap, rtol):
    """The one-pass errors of one_point against refitting every leave-one-block-out
    sample: Gaussian and Binder identical up to rounding.  The two-mode errors (all
    blocks at once, the full likelihood expanded to second order about the full fit)
    differ at third order in the block's shift of the fit: by at most 0.14% with 1,200
    values per pair and 0.015% with 9,000 over six seeds (a single Newton step per
    block from the full fit misses by up to 6% and 2%)."""
    from validation.analyses.pairs import _fit_two_mode
    from validation.analyses.stats import run_jackknife

    x = np.concatenate(
        [goe_pair(rng, (150, n_snap), 1.0, 0.1), rng.normal(3.0, 0.2, (150, n_snap, 1))], axis=2
    )
    op = one_point(Recording(x, np.arange(n_snap), {"groups": [0, 0, 1]}), burn_in=0)
    pair, single = x[:, :, :2], x[:, :, 2:]
    full = _fit_two_mode(pair)
    fit = run_jackknife(lambda d: _fit_two_mode(d, start=full), pair)
    np.testing.assert_allclose([op.loc[0], op.sigma[0]], fit.value, rtol=1e-9)
    np.testing.assert_allclose([op.loc_error[0], op.sigma_error[0]], fit.error, rtol=rtol)
    gauss = run_jackknife(lambda d: np.array([d.mean(), d.std()]), single)
    np.testing.assert_allclose([op.loc[1], op.sigma[1]], gauss.value, rtol=1e-12)
    np.testing.assert_allclose([op.loc_error[1], op.sigma_error[1]], gauss.error, rtol=1e-9)
    for k, d in enumerate((pair, single)):
        u4 = run_jackknife(lambda v: np.mean((v - v.mean()) ** 4) / (3 * v.var() ** 2) - 1, d)
        assert op.binder[k] == pytest.approx(u4.value, rel=1e-12)
        assert op.binder_error[k] == pytest.approx(u4.error, rel=1e-9)


def test_autocorrelated_snapshots(rng):
    """AR(1) snapshots: the error and n_eff account for the correlation."""
    n_runs, n_snap, rho = 400, 40, 0.8
    x = np.empty((n_runs, n_snap, 1))
    x[:, 0, 0] = rng.normal(size=n_runs)
    for t in range(1, n_snap):
        x[:, t, 0] = rho * x[:, t - 1, 0] + math.sqrt(1 - rho**2) * rng.normal(size=n_runs)
    rec = Recording(x, np.arange(n_snap), {"model": "toy", "groups": [0]})
    res = one_point(rec, burn_in=0)
    # exact variance of the mean of an AR(1) series of length T started in equilibrium
    lags = np.arange(1, n_snap)
    var_mean = (1 + 2 * np.sum((1 - lags / n_snap) * rho**lags)) / n_snap / n_runs
    # jackknife over 100 blocks: relative error of the error about 1/sqrt(2*99) ~ 7 %
    assert abs(res.loc_error[0] / math.sqrt(var_mean) - 1) < 0.25
    n_eff_exact = 1.0 / var_mean
    assert 0.6 * n_eff_exact <= res.n_eff[0] <= 1.4 * n_eff_exact
    assert res.n_eff[0] < 0.25 * n_runs * n_snap


def test_frozen_snapshots_count_once(rng):
    """Snapshots copied within a run carry no new information: n_eff = R."""
    x = goe_pair(rng, (200, 1), 1.0, 0.1)
    rec = Recording(np.repeat(x, 3, axis=1), np.array([0, 1, 2]), {"groups": [0, 0]})
    op = one_point(rec, burn_in=0)
    sp = spacings(rec, burn_in=0)
    assert op.n_eff[0] == pytest.approx(200)
    assert sp.n_eff[0] == pytest.approx(200)
    single = one_point(Recording(x, np.array([0]), {"groups": [0, 0]}))
    assert op.sigma_error[0] == pytest.approx(single.sigma_error[0], rel=1e-6)


# --------------------------------------------------------------------------- scaling
def _rbm_attrs(alpha, batch_size):
    return {
        "model": "gaussian_rbm",
        "kappa": PAPER_KAPPA,
        "n_v": 10,
        "n_h": 10,
        "mu2": 9.0,
        "sigma_h": 1.0,
        "alpha": alpha,
        "batch_size": batch_size,
    }


def _rbm_like(rng, alpha, batch_size, a, n_runs=150):
    """Pairs with <S> = a sqrt((alpha/|B|)(mu2 - kappa)) at x_s = mu2 - kappa."""
    attrs = _rbm_attrs(alpha, batch_size)
    kappa = np.sort(PAPER_KAPPA)[::-1]  # kappa of ascending x
    cols, i = [], 0
    while i < 10:
        x_s = 9.0 - kappa[i]
        sigma = a * math.sqrt(alpha / batch_size * (9.0 - kappa[i])) / math.sqrt(math.pi)
        if i + 1 < 10 and kappa[i + 1] == kappa[i]:
            cols.append(goe_pair(rng, (n_runs, 1), x_s, sigma))
            i += 2
        else:
            cols.append(rng.normal(x_s, sigma, size=(n_runs, 1, 1)))
            i += 1
    eig = np.concatenate(cols, axis=-1)
    assert np.all(np.diff(eig, axis=-1) >= 0)
    return Recording(eig, np.array([1000]), attrs)


@pytest.mark.slow
def test_scaling_recovers_a_fit(rng):
    a = 0.3
    settings = [(0.1, b) for b in (4, 8, 16, 32, 64)] + [(al, 16) for al in (0.02, 0.05, 0.08)]
    recs = [_rbm_like(rng, al, b, a) for al, b in settings]
    assert recs[0].mode_groups() == ((0,), (1, 2), (3, 4), (5, 6), (7, 8), (9,))
    res = scaling(recs, predicted_a=(a, 0.0))
    assert res.v.size == 8 * 4
    assert rbm_scaling_variable(recs[0], (1, 2)) == pytest.approx(0.1 / 4 * (9.0 - 7.618))
    value, error, chi2, dof = res.a_fit
    assert within(value, error, a)
    assert dof == 31
    # chi2/dof of honest errors: mean 1, sd sqrt(2/31) = 0.25
    assert abs(chi2 / dof - 1) <= 3 * math.sqrt(2 / dof)
    assert within(res.slope_s[0], res.slope_s[1], 0.5)
    assert within(res.slope_sigma[0], res.slope_sigma[1], 0.5)
    assert set(res.series) == {"alpha", "batch_size"}
    by_q = {e.quantity: e for e in res.entries()}
    assert by_q["a_fit in <S> = a sqrt(v)"].verdict == "agree"
    assert by_q["collapse: a_fit of the alpha series vs the batch_size series"].verdict == "agree"
    assert by_q["slope of log <S> vs log v"].verdict == "agree"
    wrong = scaling(recs, predicted_a=(1.3 * a, 0.0))
    assert {e.quantity: e for e in wrong.entries()}["a_fit in <S> = a sqrt(v)"].verdict == (
        "disagree"
    )
    assert isinstance(res.plot(), matplotlib.figure.Figure)


def test_scaling_detects_wrong_exponent(rng):
    # <S> proportional to (alpha/|B|)^1: slope 1, not 1/2
    recs = []
    for b in (4, 16, 64):
        x = goe_pair(rng, (200, 1), 3.0, 2.0 * 0.1 / b)
        recs.append(
            Recording(
                x, np.array([0]), {"groups": [0, 0], "alpha": 0.1, "batch_size": b, "noise": 0.1}
            )
        )
    res = scaling(recs)
    assert within(res.slope_s[0], res.slope_s[1], 1.0)
    # a user-given scaling variable v = alpha/|B|: <S> is proportional to v, slope 1
    custom = scaling(recs, variable=lambda rec, pair: rec.attrs["alpha"] / rec.attrs["batch_size"])
    assert within(custom.slope_s[0], custom.slope_s[1], 1.0)
    np.testing.assert_allclose(custom.v, [0.1 / 4, 0.1 / 16, 0.1 / 64])
    assert {e.quantity: e for e in res.entries()}["slope of log <S> vs log v"].verdict == (
        "disagree"
    )


def test_spacing_errors_equal_refit_jackknife(rng):
    """<S> and <S^2>/<S>^2 from per-run sums: the value and error of refitting every
    leave-one-block-out sample, up to rounding."""
    from validation.analyses.stats import run_jackknife

    rec = toy_recording(rng, n_runs=230, n_snap=5)
    res = spacings(rec, burn_in=0)
    s = np.abs(rec.eigenvalues[:, :, [2, 4]] - rec.eigenvalues[:, :, [1, 3]])
    mean = run_jackknife(lambda d: d.mean(axis=(0, 1)), s)
    ratio = run_jackknife(lambda d: (d**2).mean(axis=(0, 1)) / d.mean(axis=(0, 1)) ** 2, s)
    np.testing.assert_allclose(res.mean, mean.value, rtol=1e-13)
    np.testing.assert_allclose(res.mean_error, mean.error, rtol=1e-9)
    np.testing.assert_allclose(res.ratio, ratio.value, rtol=1e-13)
    np.testing.assert_allclose(res.ratio_error, ratio.error, rtol=1e-9)


def test_scaling_reuses_measured_spacings_and_one_point_fits(rng):
    """Given each recording's spacings and one-point fits (with its single modes too), the
    scaling is the same as measuring them again; measurements of other pairs or snapshots
    are refused."""
    recs = []
    for b in (8, 32):  # two snapshots, so that burn_in selects one of them
        one = _rbm_like(rng, 0.1, b, 0.3, n_runs=60)
        eig = np.concatenate([one.eigenvalues, one.eigenvalues[::-1]], axis=1)
        recs.append(Recording(eig, np.array([0, 1000]), one.attrs))
    measured = [(spacings(r), one_point(r)) for r in recs]
    again, reused = scaling(recs), scaling(recs, measured=measured)
    for name in ("mean_s", "mean_s_error", "sigma", "sigma_error", "n_eff", "v"):
        np.testing.assert_array_equal(getattr(reused, name), getattr(again, name), err_msg=name)
    assert reused.a_fit == again.a_fit
    with pytest.raises(ValueError, match=r"measured must hold one .* per recording \(2\)"):
        scaling(recs, measured=measured[:1])
    with pytest.raises(TypeError, match=r"measured\[1\] must be a \(Spacings, OnePoint\) pair"):
        scaling(recs, measured=[measured[0], measured[1][0]])
    other = (spacings(recs[1], groups=[(1, 2)]), measured[1][1])
    with pytest.raises(ValueError, match=r"measured\[1\] must measure the pairs"):
        scaling(recs, measured=[measured[0], other])
    early = (spacings(recs[1], burn_in=0), one_point(recs[1], burn_in=0))
    with pytest.raises(ValueError, match=r"measured\[1\] must use the snapshots"):
        scaling(recs, measured=[measured[0], early])


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("groups", "error", "match"),
    [
        ([(0,), (1, 5)], ValueError, r"mode index 5 .* out of range \[0, 5\)"),
        ([(0, 1), (1, 2)], ValueError, "mode index 1 appears in more than one place"),
        ([(0, 1, 2)], ValueError, "single modes and pairs only"),
        ([(0.5,)], TypeError, "integer mode indices"),
        ([], ValueError, "at least one group"),
    ],
)
def test_bad_groups(rng, groups, error, match):
    rec = toy_recording(rng, n_runs=20)
    with pytest.raises(error, match=match):
        one_point(rec, groups=groups)


def test_bad_input(rng):
    rec = toy_recording(rng, n_runs=20)
    few = Recording(rec.eigenvalues[:9], rec.steps, rec.attrs)
    for func in (one_point, spacings, initial_spectrum):
        with pytest.raises(ValueError, match="9 runs; the analyses need at least 10"):
            func(few)
    with pytest.raises(TypeError, match=r"must be a validation\.data\.recording\.Recording"):
        one_point(rec.eigenvalues)
    bad = rec.eigenvalues.copy()
    bad[7, 1, 2] = np.nan
    with pytest.raises(ValueError, match="run 7, snapshot 1"):
        spacings(Recording(bad, rec.steps, rec.attrs))
    with pytest.raises(ValueError, match="no snapshot"):
        one_point(rec, burn_in=1000)
    with pytest.raises(ValueError, match="burn_in or snapshots"):
        one_point(rec, burn_in=0, snapshots=[1])
    with pytest.raises(ValueError, match="strictly increasing"):
        one_point(rec, snapshots=[1, 0])
    with pytest.raises(ValueError, match=r"snapshots must lie in \[-2, 2\)"):
        spacings(rec, snapshots=[2])
    with pytest.raises(ValueError, match="at least one pair"):
        spacings(rec, groups=[(0,), (1,)])
    with pytest.raises(ValueError, match="mode_groups needs"):
        one_point(Recording(rec.eigenvalues, rec.steps, {"model": "toy"}))
    with pytest.raises(ValueError, match="at least 2 recordings"):
        scaling([rec])
    with pytest.raises(ValueError, match="no attribute 'alpha'"):
        scaling([rec, rec])
    with pytest.raises(ValueError, match="snapshot must lie in"):
        initial_spectrum(rec, snapshot=5, s2=1.0, ratio=1.0)
    frozen = Recording(np.ones((12, 1, 2)), np.array([0]), {"groups": [0, 1]})
    with pytest.raises(ValueError, match=r"modes \(0,\) take one value"):
        one_point(frozen)
    with pytest.raises(TypeError, match="variable must be callable"):
        scaling([rec, rec], variable=2.0)


# --------------------------------------------------------------------------- released data
@needs_ts
def test_teacher_student_last_snapshot():
    rec = load_teacher_student(os.path.join(TS_DIR, "TSmodel_lr0.1n0.1bs16.npz"))
    op = one_point(rec, snapshots=[-1])
    sp = spacings(rec, snapshots=[-1])
    assert op.groups == sp.pairs == ((0, 1),)
    assert op.n_eff[0] == sp.n_eff[0] == 3000
    assert 0 < op.sigma[0] < 0.1
    assert op.sigma_error[0] < 0.05 * op.sigma[0]
    # sigma from the two-mode fit and from <S> = sqrt(pi) sigma measure the same width
    assert within(op.sigma[0] - sp.sigma[0], math.hypot(op.sigma_error[0], sp.sigma_error[0]), 0)
    assert sp.ks_poisson[1] < KS_SIGNIFICANCE
    # the released snapshots after epoch 2 are copies: the default selection counts them once
    assert spacings(rec).n_eff[0] == pytest.approx(3000)


@needs_ts
@pytest.mark.slow
def test_teacher_student_scaling():
    recs = [load_teacher_student(os.path.join(TS_DIR, f)) for f in TS_FILES]
    res = scaling(recs, snapshots=[-1])
    assert res.v.size == 14
    assert set(res.series) == {"alpha", "batch_size", "noise"}
    assert within(res.slope_s[0], res.slope_s[1], 0.5)
    value, error, _chi2, dof = res.a_fit
    assert dof == 13
    assert value > 0
    assert error > 0

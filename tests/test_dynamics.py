"""Dynamics vs theory: recorded mean/width against the DBM ensemble, the one-mode FPE, H_FP."""

import math

import numpy as np
import pytest
from scipy import stats

from fpsolve.dbm import Record, simulate_sgd
from fpsolve.models import Modes, PCDNoise, rbm_pcd_noise
from validation.analyses.dynamics import ANALYSIS, Dynamics, dynamics
from validation.analyses.stats import N_SIGMA
from validation.data.recording import Recording
from validation.data.setting import RBMSetting

MU2 = 9.0


def _rbm_attrs(kappa, *, alpha, batch_size, k=3, n_runs):
    kappa = np.asarray(kappa, dtype=np.float64)
    return {
        "model": "gaussian_rbm",
        "n_v": kappa.size,
        "n_h": kappa.size,
        "mu2": MU2,
        "sigma_h": 1.0,
        "m2": float(kappa.min()),
        "k": k,
        "alpha": alpha,
        "batch_size": batch_size,
        "w_sigma": 0.1,
        "kappa": kappa,
        "seed": 0,
        "n_runs": n_runs,
    }


def _dbm_recording(kappa, x0, *, alpha, batch_size, steps, seed, k=3):
    """A recording made by the analysis' own model: the SGD map with the PCD noise."""
    attrs = _rbm_attrs(kappa, alpha=alpha, batch_size=batch_size, k=k, n_runs=x0.shape[0])
    probe = Recording(np.zeros((x0.shape[0], 1, len(kappa))), np.zeros(1, np.int64), attrs)
    steps = np.asarray(steps, dtype=np.int64)
    res = simulate_sgd(
        probe.rbm_modes(),
        alpha=alpha,
        batch_size=batch_size,
        noise=PCDNoise(k=k, n_v=len(kappa)),
        x0=x0,
        n_steps=int(steps[-1]),
        n_replicas=x0.shape[0],
        record=Record(snapshots=tuple(steps.tolist()), statistics=False),
        rng=seed,
    )
    assert not res.left_domain.any()
    return Recording(res.snapshots.transpose(1, 0, 2), steps, attrs)


def _sgd_recording(kappa, x0, *, alpha, batch_size, steps, seed, k=3):
    """A recording made by the SGD map with noise at the fixed points, ascending per run."""
    attrs = _rbm_attrs(kappa, alpha=alpha, batch_size=batch_size, k=k, n_runs=x0.shape[0])
    modes = RBMSetting.from_attrs(attrs).modes(convention="training")
    gt2 = rbm_pcd_noise(modes, k=k).gt2
    steps = np.asarray(steps, dtype=np.int64)
    res = simulate_sgd(
        modes,
        alpha=alpha,
        batch_size=batch_size,
        gt2=gt2,
        x0=x0,
        n_steps=int(steps[-1]),
        n_replicas=x0.shape[0],
        record=Record(snapshots=tuple(steps.tolist()), statistics=False),
        rng=seed,
    )
    eig = np.sort(res.snapshots.transpose(1, 0, 2), axis=2)
    return Recording(eig, steps, attrs), modes, gt2


# ------------------------------------------------------------------------------ synthetic truth
@pytest.fixture(scope="module")
def synthetic():
    """Four RBM modes (targets 8, 6, 6, 4) started at a fifth of their fixed points."""
    gen = np.random.default_rng(11)
    n_runs = 200
    kappa = np.array([4.0, 6.0, 8.0, 6.0])
    xs = np.array([1.0, 3.0, 3.0, 5.0])  # ascending fixed points of the ascending indices
    x0 = 0.2 * xs + np.array([0.0, 0.0, 0.1, 0.0]) + gen.uniform(0.0, 0.05, (n_runs, 4))
    rec = _dbm_recording(
        kappa, x0, alpha=0.1, batch_size=16, steps=np.arange(0, 2001, 100), seed=112
    )
    return rec, dynamics(rec, rng=13)


def test_synthetic_dbm_recording_is_matched_by_dbm(synthetic):
    _, d = synthetic
    assert isinstance(d, Dynamics)
    entries = d.entries()
    assert all(e.analysis == ANALYSIS for e in entries)
    snap = [e for e in entries if " at step " in e.quantity]
    assert len(snap) == 4 * 2 * 2  # modes x (middle, last) x (mean, width)
    # Each verdict fails with probability 0.27 % under agreement (3 combined sigma); the
    # 99.9 % quantile of the number of failures among 16 is 1.
    allowed = stats.binom.ppf(0.999, len(snap), 2 * stats.norm.sf(N_SIGMA))
    assert sum(e.verdict == "disagree" for e in snap) <= allowed
    chi2 = [e for e in entries if e.quantity.startswith("chi2/dof")]
    assert len(chi2) == 8
    for e in chi2:  # consistent with 1 within 3 expected spreads (correlations included)
        assert e.verdict == "agree", e
        assert 0.0 < e.error < 1.0


def test_synthetic_arrays_and_errors(synthetic):
    rec, d = synthetic
    s, n = rec.eigenvalues.shape[1:]
    assert d.mean.shape == d.dbm_mean.shape == d.fpe_mean.shape == (s, n)
    np.testing.assert_allclose(d.t, 0.1 * rec.steps)
    # the DBM starts exactly at the recorded initial eigenvalues
    np.testing.assert_allclose(d.dbm_mean[0], d.mean[0], rtol=1e-12)
    # the jackknife error of the mean over 100 blocks of runs estimates the standard error,
    # itself with relative error 1/sqrt(2 * 99): allow 4 of those
    se = rec.eigenvalues.std(axis=0, ddof=1) / math.sqrt(rec.n_runs)
    np.testing.assert_allclose(d.mean_error[1:], se[1:], rtol=4 / math.sqrt(2 * 99))
    assert d.n_replicas == 2 * rec.n_runs
    assert d.dbm_diverged.size == 0
    assert d.groups == ((0,), (1, 2), (3,))
    assert d.dof == s - 1


def test_plot_returns_figure(synthetic):
    import matplotlib.pyplot as plt

    _, d = synthetic
    fig = d.plot()
    assert len([ax for ax in fig.axes if ax.get_visible()]) == len(d.groups) + 1
    _, ax = plt.subplots()
    assert d.plot(ax) is ax.figure


# ------------------------------------------------------------------------------ FPE vs DBM
@pytest.mark.slow  # 500 runs of 10^4 steps
def test_one_mode_fpe_matches_dbm_ensemble():
    """One isolated mode (no repulsion): the FPE is the small-alpha limit of the SGD map.

    Constant noise (``modes`` and ``gt2`` given) in both, as the one-mode FPE has it.

    The start lies between the unstable point and x_s = 5: during an escape from near 0
    the width is dominated by a few late escapers, a heavy tail for which jackknife
    errors of the width are not reliable.
    """
    gen = np.random.default_rng(21)
    n_runs = 500
    x0 = gen.uniform(2.0, 3.0, (n_runs, 1))  # kappa = 4: x_s = 5
    steps = np.arange(0, 10001, 1000)  # t = alpha * step up to 10 (6 relaxation times)
    rec, modes, gt2 = _sgd_recording(
        [4.0], x0, alpha=0.001, batch_size=1, steps=steps, seed=22, k=None
    )
    d = dynamics(rec, modes=modes, gt2=gt2, rng=23, compare_at=(len(steps) - 1,))
    # 10 correlated comparisons per curve at a total false-alarm rate of 1 %: |z| <= 3.3
    z_max = stats.norm.isf(0.01 / (2 * 10))
    pull = (d.fpe_mean - d.dbm_mean)[1:, 0] / d.dbm_mean_error[1:, 0]
    assert np.all(np.abs(pull) <= z_max), pull
    pull_w = (d.fpe_width - d.dbm_width)[1:, 0] / d.dbm_width_error[1:, 0]
    assert np.all(np.abs(pull_w) <= z_max), pull_w
    # and the curve moved: from the start to the stable point
    assert d.fpe_mean[0, 0] < 3.0
    assert d.fpe_mean[-1, 0] > 4.9


# ------------------------------------------------------------------------------ escape
def test_escape_time_of_single_mode_matches_hfp():
    """Small g^2: the growth time of log median x equals 1/(2 E_1) up to the window's bias.

    Inside the fit window x <= f_hi x_s the local growth rate of the RBM drift lies in
    [(1 - f_hi) r, r] with r = 2 E_1 (g^2 -> 0), so the measured escape time lies in
    [1/(2 E_1), 1/((1 - f_hi) 2 E_1)] up to its statistical error.
    """
    n_runs = 200
    x0 = np.full((n_runs, 1), 0.02)  # 0.004 x_s
    steps = np.arange(0, 1601, 20)
    rec = _dbm_recording([4.0], x0, alpha=0.01, batch_size=10000, steps=steps, seed=31)
    d = dynamics(rec, rng=32, fpe=False)
    assert d.g2[0] < 1e-5
    f_hi = 0.05
    pred, meas, err = d.escape_predicted[0], d.escape_time[0], d.escape_time_error[0]
    assert d.escape_points[0] >= 10
    # H_FP's first excitation lives near x = 0 and tends to |V''(0)|/2
    assert d.escape_level_position[0] < 0.05 * d.modes[0].x_stable
    assert pred == pytest.approx(d.escape_asymptotic[0], rel=0.01)
    assert pred - 3 * err <= meas <= pred / (1 - f_hi) + 3 * err, (meas, err, pred)
    (entry,) = [e for e in d.entries() if e.quantity.startswith("escape time")]
    assert entry.verdict == "agree"
    assert entry.predicted == pytest.approx(pred)


def test_escape_not_measured_is_reported():
    """A mode that starts above the window gets an entry saying so, not a silent gap."""
    x0 = np.full((20, 1), 2.0)  # 0.4 x_s, above the window
    rec = _dbm_recording([4.0], x0, alpha=0.1, batch_size=16, steps=[0, 50, 100], seed=41)
    d = dynamics(rec, rng=42, fpe=False)
    assert np.isnan(d.escape_rate[0])
    assert d.escape_points[0] == 0
    (entry,) = [e for e in d.entries() if e.quantity.startswith("escape time")]
    assert entry.verdict == "measured"
    assert math.isnan(entry.measured)
    assert "window" in entry.context["error_note"]


def test_diverged_dbm_replicas_are_reported():
    """A crowded start with strong noise: the plain map throws every replica out."""
    gen = np.random.default_rng(0)
    x0 = np.sort(gen.uniform(0.0, 0.01, (20, 6)), axis=1)
    kappa = [4.0, 4.1, 4.2, 4.3, 4.4, 4.5]
    attrs = _rbm_attrs(kappa, alpha=1.0, batch_size=1, n_runs=20)
    rec = Recording(np.repeat(x0[:, None, :], 3, axis=1), np.array([0, 50, 100]), attrs)
    d = dynamics(rec, rng=1, fpe=False)
    assert d.dbm_diverged.size == d.n_replicas == 40
    assert d.dbm_mean is None
    assert d.chi2_mean is None
    snap = [e for e in d.entries() if " at step " in e.quantity]
    assert all(e.verdict == "measured" for e in snap)
    assert all(e.context["dbm_diverged"] == 40 for e in snap)
    assert d.plot() is not None


# ------------------------------------------------------------------------------ real RBM
@pytest.mark.slow
def test_real_rbm_recording():
    from validation.training.rbm import train

    rec = train(150, n_steps=8000, n_v=4, n_h=4, record_every=100, rng=5, progress=False)
    d = dynamics(rec, rng=6)
    last = len(rec.steps) - 1
    assert d.compare_at[-1] == last
    xs = d.modes.x_stable
    sigma = np.sqrt(d.g2 / d.modes.omega)  # small-noise stationary width of each index
    dev = np.abs(d.mean[last] - d.dbm_mean[last])
    comb = np.hypot(d.mean_error[last], d.dbm_mean_error[last])
    # Every index has reached its fixed point within a width; the DBM mean tracks the
    # measured one within 3 combined errors or, where the repulsion model (pair term with
    # g_a^2 at the fixed point) shifts it, within half a stationary width.
    assert np.all(np.abs(d.mean[last] - xs) < 2 * sigma)
    assert np.all((dev <= N_SIGMA * comb) | (dev < 0.5 * sigma)), (dev, comb, sigma)
    assert np.all(np.isfinite(d.chi2_mean))
    entries = d.entries()
    assert all(e.analysis == ANALYSIS for e in entries)
    # the slowest index (target 8) escapes through the window, its time is measured
    assert np.isfinite(d.escape_rate[0])
    assert d.escape_points[0] >= 3


# ------------------------------------------------------------------------------ bad input
def _small(**kw):
    attrs = _rbm_attrs([4.0, 6.0], alpha=0.1, batch_size=16, n_runs=3)
    attrs.update(kw)
    eig = np.tile(np.array([0.1, 0.2]), (3, 4, 1)) + np.linspace(0, 0.05, 3)[:, None, None]
    return Recording(eig, np.arange(4) * 10, attrs)


def test_too_few_snapshots():
    rec = _small()
    short = Recording(rec.eigenvalues[:, :2], rec.steps[:2], rec.attrs)
    with pytest.raises(ValueError, match="at least 3 snapshots"):
        dynamics(short)


def test_non_rbm_needs_modes_and_noise():
    rec = _small(model="imported")
    with pytest.raises(ValueError, match="modes is required"):
        dynamics(rec)
    with pytest.raises(ValueError, match="gt2 is required"):
        dynamics(rec, modes=Modes.harmonic([1.0, 1.0], [1.0, 2.0]))
    d = dynamics(rec, modes=Modes.harmonic([1.0, 1.0], [1.0, 2.0]), gt2=0.5, fpe=False, rng=1)
    assert np.all(np.isnan(d.escape_rate))  # escape is defined for RBM modes only


def test_bad_options():
    rec = _small()
    with pytest.raises(TypeError, match="Recording"):
        dynamics(rec.eigenvalues)
    with pytest.raises(ValueError, match="multiple of the number of runs 3"):
        dynamics(rec, n_replicas=4)
    with pytest.raises(ValueError, match="escape_window"):
        dynamics(rec, escape_window=(0.2, 0.1))
    with pytest.raises(ValueError, match="one model per eigenvalue index"):
        dynamics(rec, modes=Modes.rbm([4.0], MU2, convention="training"))
    with pytest.raises(ValueError, match="partition"):
        dynamics(rec, groups=[(0,), (0, 1)])
    with pytest.raises(ValueError, match="compare_at"):
        dynamics(rec, compare_at=(7,))
    attrs = dict(rec.attrs)
    del attrs["alpha"]
    with pytest.raises(ValueError, match="recording attribute 'alpha' is missing"):
        dynamics(Recording(rec.eigenvalues, rec.steps, attrs))


def test_initial_values_outside_domain_name_the_run():
    rec = _small()
    eig = rec.eigenvalues.copy()
    eig[1, 0, 0] = -1e-3
    with pytest.raises(ValueError, match="run 1, index 0"):
        dynamics(Recording(eig, rec.steps, rec.attrs))


def test_moments_and_their_covariance_equal_the_direct_computation():
    """The jackknife of mean and width from per-run powers equals refitting every
    leave-one-block-out sample, and the covariance of the estimates over snapshots is
    that of the per-run values (np.cov) divided by the runs."""
    from validation.analyses.dynamics import _corr_of_estimates, _log_median_slopes, _moments
    from validation.analyses.stats import run_jackknife

    rng = np.random.default_rng(8)
    x = 5.0 + 0.1 * rng.normal(size=(230, 7, 3)).cumsum(axis=1)  # correlated over snapshots
    refit = run_jackknife(lambda y: np.stack([y.mean(axis=0), y.std(axis=0, ddof=1)]), x)
    mean, mean_err, width, width_err = _moments(x)
    np.testing.assert_allclose(mean, refit.value[0], rtol=1e-13)
    np.testing.assert_allclose(width, refit.value[1], rtol=1e-10)
    np.testing.assert_allclose(mean_err, refit.error[0], rtol=1e-9)
    np.testing.assert_allclose(width_err, refit.error[1], rtol=1e-8)
    r = x.shape[0]
    for a in range(3):
        np.testing.assert_allclose(
            _corr_of_estimates(x, "mean")[:, :, a], np.cov(x[:, :, a].T) / r, rtol=1e-12
        )
        sq = (x[:, :, a] - x[:, :, a].mean(axis=0)) ** 2
        np.testing.assert_allclose(
            _corr_of_estimates(x, "width")[:, :, a], np.cov(sq.T) / r, rtol=1e-12
        )
    # the escape slope of each sample: log median against t; NaN where a median is <= 0
    t = np.linspace(0.0, 3.0, 7)
    y = np.stack([np.exp(0.4 * t + 0.01 * rng.normal(size=(50, 7))), -np.ones((50, 7))])
    slopes = _log_median_slopes(y, t)
    assert slopes[0] == pytest.approx(np.polyfit(t, np.log(np.median(y[0], axis=0)), 1)[0])
    assert slopes[0] == pytest.approx(0.4, abs=0.01)
    assert math.isnan(slopes[1])

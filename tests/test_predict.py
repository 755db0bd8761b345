"""Parameter-free predictions (validation.analyses.predict): formulas, DBM, comparisons,
bad input."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from fpsolve.analytic import sgd_stationary_variance
from fpsolve.dbm import Record, simulate
from fpsolve.models import lattice_scalar_spectrum, rbm_pcd_noise
from validation.analyses.predict import (
    Prediction,
    PredictionComparison,
    compare_predictions,
    predict,
)
from validation.analyses.repulsion import Repulsion, repulsion
from validation.data.recording import Recording
from validation.data.setting import RBMSetting

PAIR_STD = math.sqrt(1.5 - math.pi / 4.0)  # labelled std of a Coulomb-gas pair / sigma


def _attrs(alpha=0.1, batch_size=16, *, n_v=4, mu2=12.0, sigma_h=1.0, m2=4.0, k=3):
    """Gaussian-RBM attributes; n_v = 4, mu2 = 12: targets 8, 6, 6, 4 (one pair)."""
    return {
        "model": "gaussian_rbm",
        "n_v": n_v,
        "n_h": n_v,
        "mu2": mu2,
        "sigma_h": sigma_h,
        "m2": m2,
        "kappa": lattice_scalar_spectrum(n_v, m2),
        "alpha": alpha,
        "batch_size": batch_size,
        "k": k,
    }


def _bonferroni(n_tests, level=0.01):
    """Two-sided normal threshold for ``n_tests`` pulls at family-wise ``level``."""
    return float(sps.norm.isf(level / (2 * n_tests)))


# --------------------------------------------------------------------------- small noise
@pytest.mark.parametrize("sigma_h", [1.0, 1.3])
def test_small_noise_width_closed_form(sigma_h):
    attrs = _attrs(alpha=0.05, batch_size=8, sigma_h=sigma_h, mu2=9.0, n_v=6)
    p = predict(attrs, k=None, discrete_map=False)
    ab = 0.05 / 8
    assert p.kappa.tolist() == sorted(p.kappa.tolist(), reverse=True)
    np.testing.assert_allclose(p.width**2, 2 * ab * (9.0 - p.kappa) / sigma_h**2, rtol=1e-12)
    np.testing.assert_allclose(p.x_stable, (9.0 - p.kappa) / sigma_h**2, rtol=1e-12)
    # against the generic linear-scaling formula with the PCD noise
    modes = RBMSetting.from_attrs(attrs).modes(convention="training")
    gt2 = rbm_pcd_noise(modes).gt2
    np.testing.assert_allclose(
        p.width**2, sgd_stationary_variance(0.05, 8, gt2, modes.omega), rtol=1e-12
    )
    assert np.all(p.std_error == 0)
    assert np.all(p.spacing_error == 0)


def test_discrete_map_factor():
    """The linearised map x' = (1 - alpha Omega) x + noise has variance
    (alpha/|B|) gt2 / (Omega (1 - alpha Omega / 2))."""
    attrs = _attrs(alpha=0.2, batch_size=64)
    cont = predict(attrs, discrete_map=False)
    disc = predict(attrs)
    modes = RBMSetting.from_attrs(attrs).modes(convention="training")
    np.testing.assert_allclose(disc.width**2 * (1 - 0.1 * modes.omega), cont.width**2, rtol=1e-12)
    # check the factor on the AR(1) process itself (exact stationary variance of the map)
    a, noise_var = 1 - 0.2 * modes.omega, 2 * 0.2**2 * rbm_pcd_noise(modes, k=3).gt2 / 64
    np.testing.assert_allclose(disc.width**2, noise_var / (1 - a**2), rtol=1e-12)


def test_small_noise_pairs_and_chain_factor():
    attrs = _attrs(n_v=6, mu2=9.0)
    p0, p3 = predict(attrs, k=None), predict(attrs)  # k="auto" uses attrs k = 3
    assert p0.params["k"] is None
    assert p3.params["k"] == 3
    assert p0.groups == ((0,), (1, 2), (3, 4), (5,))
    assert p0.pairs == ((1, 2), (3, 4))
    modes = RBMSetting.from_attrs(attrs).modes(convention="training")
    factor = np.diag(rbm_pcd_noise(modes, k=3).chain_factor)
    np.testing.assert_allclose(p3.width, p0.width * np.sqrt(factor), rtol=1e-12)
    assert np.all(factor > 1)
    # singles: std = width; pair members: labelled std; <S> = sqrt(pi) sigma
    np.testing.assert_allclose(p0.std[[0, 5]], p0.width[[0, 5]], rtol=1e-12)
    np.testing.assert_allclose(p0.std[1:5], p0.width[1:5] * PAIR_STD, rtol=1e-12)
    np.testing.assert_allclose(p0.spacing, math.sqrt(math.pi) * p0.width[[1, 3]], rtol=1e-12)
    # pair members sit sqrt(pi) sigma / 2 below/above their common centre
    np.testing.assert_allclose(p0.mean_x[2] - p0.mean_x[1], p0.spacing[0], rtol=1e-12)
    np.testing.assert_allclose(p0.learned, 9.0 - p0.mean_x, rtol=1e-12)


def test_small_noise_shift_scales_with_alpha_over_b():
    """The first-order shift is linear in alpha/|B| (only the ratio matters)."""
    a = predict(_attrs(alpha=0.1, batch_size=100), discrete_map=False)
    b = predict(_attrs(alpha=0.05, batch_size=25), discrete_map=False)
    c = predict(_attrs(alpha=0.05, batch_size=50), discrete_map=False)
    np.testing.assert_allclose(b.shift, 2 * a.shift, rtol=1e-12)
    np.testing.assert_allclose(c.shift, a.shift, rtol=1e-12)
    # repulsion pushes the lowest mode down and the highest one up
    assert a.shift[0] < 0 < a.shift[-1]


def test_three_fold_group_uses_goe_order_statistics():
    attrs = _attrs(n_v=3, mu2=9.0, m2=4.0)
    attrs["kappa"] = np.array([5.0, 5.0, 5.0])
    p = predict(attrs, k=None)
    assert p.groups == ((0, 1, 2),)
    assert p.pairs == ((0, 1), (1, 2))
    # ordered GOE(3) means about the centre: antisymmetric, from 2e5 fixed-seed draws
    u = (p.mean_x - p.shift - p.x_stable) / p.width
    assert abs(u[1]) < 0.01
    assert abs(u[0] + u[2]) < 0.01
    assert u[2] > 1
    np.testing.assert_allclose(p.spacing / p.width[0], [u[1] - u[0], u[2] - u[1]], atol=0.01)


# --------------------------------------------------------------------------- DBM
def test_dbm_agrees_with_small_noise_at_small_alpha_over_b():
    attrs = _attrs(alpha=0.1, batch_size=2000)  # alpha/|B| = 5e-5
    sn = predict(attrs)
    p = predict(attrs, method="dbm", rng=11)
    assert isinstance(p, Prediction)
    assert p.method == "dbm"
    assert p.params["n_replicas"] == 128
    assert p.params["n_steps"] > p.params["burn_in"]
    z = _bonferroni(3 * 4 + 1)
    assert np.all(np.abs(p.std - sn.std) <= z * p.std_error)
    assert np.all(np.abs(p.spacing - sn.spacing) <= z * p.spacing_error)
    # the means agree including the first-order shift, which the DBM resolves
    assert np.all(np.abs(p.mean_x - sn.mean_x) <= z * p.mean_x_error)
    # the test resolves the discrete-map factor 1/(1 - alpha Omega/2) of the top mode
    continuum = predict(attrs, discrete_map=False)
    assert np.any(np.abs(p.std - continuum.std) > z * p.std_error)


def test_dbm_repulsion_shift_at_larger_alpha_over_b():
    """At alpha/|B| = 2.5e-3 the DBM shift has the sign of the first-order formula and
    its size to within the next order, O(sigma/gap) relative."""
    attrs = _attrs(alpha=0.1, batch_size=40)
    sn = predict(attrs)
    p = predict(attrs, method="dbm", rng=5)
    shift = p.mean_x - (sn.mean_x - sn.shift)  # DBM mean minus the Coulomb-ordered centre
    assert np.all(np.sign(shift[[0, 3]]) == np.sign(sn.shift[[0, 3]]))
    gap = np.min(np.abs(np.diff(np.unique(p.x_stable))))
    tol = np.abs(sn.shift) * (sn.width / gap) * 3 + 3 * p.mean_x_error
    assert np.all(np.abs(shift - sn.shift) <= tol)


def test_dbm_matches_fpsolve_simulate_with_fixed_coupling():
    """At small noise and small steps the prediction's DBM (the eigenvalue map with the
    state-dependent PCD noise) equals fpsolve.dbm.simulate with dt = alpha,
    g2 = alpha gt2/|B| and the frozen coupling alpha G~/|B|.

    Two differences vanish only in limits, so the working point is chosen where both lie
    well below the resolution of the comparison (about 0.9% of each std):

    * the O(dt) weak error of the safe scheme's pair solve: it shortens the mean spacing of
      the degenerate pair by 1.4% at alpha = 0.1 and 0.3% at alpha = 0.01 (measured over 12
      seeds, independent of alpha/|B|);
    * the state dependence of G~ inside the pair: it correlates the pair's centre with its
      spacing, so the labelled stds of the pair differ by a relative O(sigma/x), 1.4% at
      alpha/|B| = 5e-5 and 0.5% at 3.1e-6 (sigma/x = 0.35% and 0.09%).
    """
    alpha, batch = 0.01, 3200
    attrs = _attrs(alpha=alpha, batch_size=batch)
    p = predict(attrs, method="dbm", k=None, second_order=False, rng=2)
    modes = RBMSetting.from_attrs(attrs).modes(convention="training")
    noise = rbm_pcd_noise(modes)
    n_steps = p.params["n_steps"]
    res = simulate(
        modes,
        alpha * noise.gt2 / batch,
        dt=alpha,
        n_steps=n_steps,
        n_replicas=128,
        scheme="safe",
        coupling=alpha * noise.coupling / batch,
        record=Record(burn_in=p.params["burn_in"]),
        rng=3,
    )
    z = _bonferroni(8)
    err_mean = math.sqrt(2) * p.mean_x_error  # the two runs have the same sample sizes
    assert np.all(np.abs(res.mean - p.mean_x) <= z * err_mean)
    assert np.all(np.abs(np.sqrt(res.var) - p.std) <= z * math.sqrt(2) * p.std_error)


def test_simulate_coupling_is_per_unit_time():
    """The correspondence the prediction relies on: with a diag-consistent coupling
    (G_ab = gt2 for all a, b) simulate(dt=alpha, g2=alpha gt2/|B|, coupling=alpha G/|B|,
    scheme="em") is the SGD map of simulate_sgd, bit for bit."""
    from fpsolve.dbm import simulate_sgd
    from fpsolve.models import Modes

    modes = Modes.harmonic([1.0, 1.0, 1.0], [0.0, 3.0, 6.0])
    alpha, batch, gt2 = 0.05, 8, 0.5
    a = simulate_sgd(
        modes,
        alpha=alpha,
        batch_size=batch,
        gt2=gt2,
        x0=[0, 3, 6],
        n_steps=500,
        n_replicas=16,
        rng=4,
    )
    b = simulate(
        modes,
        alpha * gt2 / batch,
        [0, 3, 6],
        dt=alpha,
        n_steps=500,
        n_replicas=16,
        scheme="em",
        coupling=np.full((3, 3), alpha * gt2 / batch),
        rng=4,
    )
    np.testing.assert_array_equal(a.x, b.x)


# --------------------------------------------------------------------------- comparisons
def _coulomb_recording(pred: Prediction, attrs, *, n_runs, n_snapshots, rng):
    """Independent snapshots of the small-noise stationary state: every group a GOE."""
    n = len(pred.kappa)
    ev = np.empty((n_runs, n_snapshots, n))
    for g in pred.groups:
        idx = list(g)
        m = len(idx)
        centre = (pred.x_stable[idx] + pred.shift[idx]).mean()
        sig = pred.width[idx].mean()
        a = rng.standard_normal((n_runs, n_snapshots, m, m))
        h = (a + np.swapaxes(a, 2, 3)) / 2.0
        ev[:, :, idx] = centre + sig * np.linalg.eigvalsh(h)
    steps = np.arange(n_snapshots, dtype=np.int64) * 10 + 10_000
    return Recording(ev, steps, attrs=attrs)


def test_compare_predictions_on_exact_small_noise_samples(rng):
    attrs = _attrs(alpha=0.1, batch_size=64, n_v=6, mu2=9.0)
    pred = predict(attrs)
    rec = _coulomb_recording(pred, attrs, n_runs=200, n_snapshots=20, rng=rng)
    cmp = compare_predictions(rec, pred, burn_in=0)
    assert isinstance(cmp, PredictionComparison)
    entries = cmp.entries()
    assert len(entries) == 2 * 6 + 3 * 2  # mean and std per mode; <S>, shape, Binder per pair
    assert all(e.kind == "prediction" and e.level == "a" for e in entries)
    assert all(e.deviation is not None for e in entries)
    z = _bonferroni(len(entries))
    pulls = np.array([e.pull for e in entries])
    assert np.all(np.abs(pulls) <= z), pulls
    assert {e.analysis for e in entries} == {"prediction"}
    # independent snapshots: n_eff close to runs x snapshots (tau_int = 1 within its noise)
    assert np.all(np.abs(cmp.n_eff / 4000 - 1) < 0.25)
    # a prediction with the wrong width is rejected
    wrong = predict({**attrs, "batch_size": 32})
    with pytest.raises(ValueError, match="batch_size"):
        compare_predictions(rec, wrong)
    fig = cmp.plot()
    assert fig.axes


def test_compare_predictions_detects_a_wrong_width(rng):
    attrs = _attrs(alpha=0.1, batch_size=64, n_v=6, mu2=9.0)
    pred = predict(attrs)
    broad = predict({**attrs, "alpha": 0.2})  # sigma larger by sqrt(2)
    rec = _coulomb_recording(broad, {**attrs}, n_runs=100, n_snapshots=10, rng=rng)
    cmp = compare_predictions(rec, pred, burn_in=0)
    np.testing.assert_allclose(cmp.std_ratio, math.sqrt(2), atol=5 * cmp.std_ratio_error.max())
    rows = [e for e in cmp.entries() if e.family == "std x mode"]
    assert len(rows) == 6
    assert all(e.verdict == "disagree" and e.level == "a" for e in rows)
    for e in rows:  # the deviation is the ratio measured/predicted - 1 with its error
        a = e.context["mode"]
        assert e.deviation[0] == pytest.approx(cmp.std_ratio[a] - 1)
        assert e.deviation[1] == pytest.approx(cmp.std_ratio_error[a])


def test_compare_predictions_burn_in_and_groups(rng):
    attrs = _attrs(alpha=0.1, batch_size=64, n_v=6, mu2=9.0)
    pred = predict(attrs)
    rec = _coulomb_recording(pred, attrs, n_runs=20, n_snapshots=10, rng=rng)
    cmp = compare_predictions(rec, pred, groups=[(0,), (1, 2), (3,), (4,), (5,)])
    assert cmp.pairs == ((1, 2),)
    assert cmp.burn_in == rec.steps[-1] / 2
    with pytest.raises(ValueError, match="does not have"):
        compare_predictions(rec, pred, groups=[(0, 1), (2, 3, 4, 5)])
    with pytest.raises(ValueError, match="leaves no snapshot"):
        compare_predictions(rec, pred, burn_in=1e9)


def test_non_finite_eigenvalues_are_reported(rng):
    attrs = _attrs(n_v=6, mu2=9.0)
    pred = predict(attrs)
    rec = _coulomb_recording(pred, attrs, n_runs=5, n_snapshots=4, rng=rng)
    ev = rec.eigenvalues.copy()
    ev[3, 2, 1] = np.nan
    bad = Recording(ev, rec.steps, attrs=attrs)
    with pytest.raises(ValueError, match=r"run 3, snapshot 2 \(step 10020\), mode 1"):
        compare_predictions(bad, pred, burn_in=0)


def test_repulsion_on_synthetic_sweep(rng):
    recs, preds = [], []
    for batch in (16, 64, 256):
        attrs = _attrs(alpha=0.1, batch_size=batch, n_v=6, mu2=9.0)
        pred = predict(attrs)
        preds.append(pred)
        recs.append(_coulomb_recording(pred, attrs, n_runs=50, n_snapshots=10, rng=rng))
    rep = repulsion(recs, preds, burn_in=0)
    assert isinstance(rep, Repulsion)
    np.testing.assert_allclose(rep.alpha_over_b, [0.1 / 16, 0.1 / 64, 0.1 / 256])
    np.testing.assert_allclose(rep.predicted, rep.small_noise, rtol=1e-12)
    entries = rep.entries()
    assert len(entries) == 3 * 6
    z = _bonferroni(len(entries))
    assert all(abs(e.pull) <= z for e in entries)
    # lambda/kappa of the lowest mode (kappa = 8) exceeds 1 and grows with alpha/|B|
    assert np.all(rep.predicted[:, 0] > 1)
    assert rep.predicted[0, 0] > rep.predicted[2, 0]
    assert rep.plot().axes
    with pytest.raises(ValueError, match="one Prediction per recording"):
        repulsion(recs, preds[:2])


# --------------------------------------------------------------------------- bad input
def test_bad_input():
    attrs = _attrs()
    with pytest.raises(ValueError, match="method must be one of"):
        predict(attrs, method="exact")
    with pytest.raises(ValueError, match="recording attribute 'batch_size' is missing"):
        predict({key: v for key, v in attrs.items() if key != "batch_size"})
    with pytest.raises(ValueError, match="needs the attribute 'k'"):
        predict({key: v for key, v in attrs.items() if key != "k"})
    with pytest.raises(ValueError, match="k"):
        predict(attrs, k=0)
    with pytest.raises(ValueError, match="Gaussian RBM"):
        predict({**attrs, "model": "imported"})
    with pytest.raises(ValueError, match="alpha"):
        predict({**attrs, "alpha": 0.0})
    with pytest.raises(ValueError, match="n_v=4 target"):
        predict({**attrs, "kappa": [4.0, 6.0]})
    with pytest.raises(TypeError, match="Recording or a mapping"):
        predict([1, 2, 3])
    other = Recording(np.ones((2, 3, 4)), np.arange(3, dtype=np.int64), attrs={"model": "npz"})
    with pytest.raises(ValueError, match="Gaussian-RBM recording"):
        predict(other)
    with pytest.raises(ValueError, match="Gaussian-RBM recording"):
        compare_predictions(other, predict(attrs))
    with pytest.raises(TypeError, match="Prediction"):
        compare_predictions(Recording(np.ones((2, 3, 4)), np.arange(3), attrs=attrs), "p")
    with pytest.raises(ValueError, match="n_replicas"):
        predict(attrs, method="dbm", n_replicas=1)
    with pytest.raises(ValueError, match="n_steps must exceed burn_in"):
        predict(attrs, method="dbm", n_steps=10, burn_in=10)
    with pytest.raises(ValueError, match="left the domain"):
        predict(_attrs(alpha=0.1, batch_size=4), method="dbm", rng=0)


def test_prediction_entries_and_plot():
    p = predict(_attrs())
    entries = p.entries()
    assert len(entries) == 4 * 3 + 3  # three per mode, three per pair
    assert all(e.verdict == "measured" and e.analysis == "prediction" for e in entries)
    assert p.plot().axes


# --------------------------------------------------------------------------- real RBMs
@pytest.mark.slow
def test_real_rbm_widths_match_predictions():
    """Train 300 Gaussian RBMs (N_v = N_h = 4, mu2 = 12, alpha = 0.1, |B| = 16) and compare.

    Relaxation: the slowest mode (kappa = 8) relaxes in 1/(alpha Omega) = 80 steps and
    escapes from the initial Marchenko-Pastur region (growth rate
    2 alpha (1/kappa - 1/mu2) = 0.0083 per step from x ~ 1e-4) in about 1100 steps, so
    snapshots after step 2000 of 4000 are stationary.  The predictions are first order in
    the noise: the neglected relative corrections are of the size of the expansion parameter
    sigma_a / (distance to the nearest other group), about 0.14 here, which is the
    tolerance on top of 3 combined standard errors.
    """
    from validation.training.rbm import train

    rec = train(
        300,
        n_steps=4000,
        alpha=0.1,
        batch_size=16,
        n_v=4,
        n_h=4,
        m2=4.0,
        mu2=12.0,
        record_every=10,
        rng=7,
        progress=False,
    )
    for method in ("small_noise", "dbm"):
        pred = predict(rec, method=method, rng=3)
        cmp = compare_predictions(rec, pred, burn_in=2000)
        gap = np.min(np.abs(np.diff(np.unique(pred.x_stable))))
        model = pred.width / gap
        assert np.all(np.abs(cmp.std_ratio - 1) <= 3 * cmp.std_ratio_error + model)
        pair_model = model[list(cmp.pairs[0])].mean()
        assert np.all(np.abs(cmp.spacing_ratio - 1) <= 3 * cmp.spacing_ratio_error + pair_model)
        # repulsion: the lowest mode is pushed down (lambda > kappa), the highest up
        assert cmp.learned[0] > pred.kappa[0] + 3 * cmp.learned_error[0]
        assert cmp.learned[-1] < pred.kappa[-1] - 3 * cmp.learned_error[-1]
        assert np.sign(pred.learned[0] - pred.kappa[0]) == 1


def test_predicted_a_fit_tends_to_sqrt_2pi_over_sigma_h():
    # No chain correlation (k large: c = rho^(2k) ~ 0) and alpha -> 0 (discrete-map factor
    # 1 + O(alpha Omega)): every pair gives a = sqrt(2 pi)/sigma_h, so the spread vanishes.
    from validation.analyses.repulsion import predicted_a_fit

    recs = [
        Recording(np.zeros((2, 1, 6)), np.zeros(1, np.int64),
                  _attrs(alpha=1e-6, batch_size=b, n_v=6, sigma_h=1.3, k=200))
        for b in (4, 64)
    ]  # fmt: skip
    value, spread = predicted_a_fit(recs)
    assert value == pytest.approx(math.sqrt(2 * math.pi) / 1.3, rel=1e-5)
    assert spread < 1e-5
    imported = Recording(np.zeros((2, 1, 6)), np.zeros(1, np.int64), {"model": "imported"})
    assert predicted_a_fit([recs[0], imported]) is None

"""The ladder of prediction levels: shared statistics, levels b and c, failures."""

import math

import numpy as np
import pytest

from validation.analyses.levels import (
    LADDER,
    LEVELS,
    PredictionFailure,
    sample_level,
    sgd_model,
    stationary_statistics,
)
from validation.analyses.predict import predict
from validation.data.setting import RBMSetting


def _paper(alpha=0.1, batch_size=16, n_v=10, **kw):
    return RBMSetting.lattice(
        n_v=n_v, n_h=n_v, m2=4.0, mu2=9.0, sigma_h=1.0, alpha=alpha, batch_size=batch_size,
        k=3, w_sigma=0.1, **kw,
    )  # fmt: skip


def _attrs(setting: RBMSetting, **extra) -> dict:
    keys = ("n_v", "n_h", "mu2", "sigma_h", "kappa", "alpha", "batch_size", "k", "m2", "w_sigma")
    return {**{k: getattr(setting, k) for k in keys}, "model": "gaussian_rbm", **extra}


def _bound(n_tests: int) -> float:
    """Two-sided normal quantile at 1% family-wise error (Bonferroni)."""
    from scipy.stats import norm

    return float(norm.isf(0.005 / n_tests))


def test_ladder_names_every_level_once():
    assert LADDER == ("small_noise", "dbm", "aligned", "matrix")
    assert [LEVELS[m][0] for m in LADDER] == ["a", "b'", "b", "c"]


def test_statistics_equal_the_refit_jackknife():
    """The one-pass jackknife of stationary_statistics against refitting every
    leave-one-block-out sample with the direct formulas (a narrow pair far from 0, where
    raw power sums would lose the centred moments)."""
    from validation.analyses.stats import run_jackknife

    rng = np.random.default_rng(3)
    ev = np.sort(6.0 + 0.02 * rng.standard_normal((130, 9, 4)) + [-2, 0, 0.01, 2], axis=2)
    pairs = ((1, 2), (0, 1))

    def direct(d):
        flat = d.reshape(-1, 4)
        out = [flat.mean(axis=0), flat.std(axis=0)]
        for stat in range(3):
            vals = []
            for i, j in pairs:
                gap, pooled = flat[:, j] - flat[:, i], np.concatenate([flat[:, i], flat[:, j]])
                u = pooled - pooled.mean()
                vals.append((gap.mean(), np.mean(gap**2) / gap.mean() ** 2,
                             np.mean(u**4) / (3 * np.mean(u**2) ** 2) - 1)[stat])  # fmt: skip
            out.append(np.array(vals))
        return np.concatenate(out)

    st = stationary_statistics(ev, pairs)
    ref = run_jackknife(direct, ev)
    fields = ("mean", "std", "spacing", "spacing_ratio", "binder")
    np.testing.assert_allclose(np.concatenate([getattr(st, f) for f in fields]), ref.value,
                               rtol=1e-11)  # fmt: skip
    np.testing.assert_allclose(
        np.concatenate([getattr(st, f + "_error") for f in fields]), ref.error, rtol=1e-8
    )


def test_statistics_of_exact_two_mode_gas():
    """Independent 2x2 GOE draws: <S> = sqrt(pi) sigma, <S^2>/<S>^2 = 4/pi, U4 = -4/27."""
    rng = np.random.default_rng(7)
    sigma = 0.3
    a = rng.standard_normal((400, 50, 2, 2))
    ev = 5.0 + sigma * np.linalg.eigvalsh((a + np.swapaxes(a, 2, 3)) / 2.0)  # H_ij ~ N(0, 1/2)
    st = stationary_statistics(ev, [(0, 1)])
    exact = {
        "spacing": math.sqrt(math.pi) * sigma,
        "spacing_ratio": 4.0 / math.pi,
        "binder": -4.0 / 27.0,
    }
    z = _bound(len(exact) + 2)
    for name, value in exact.items():
        got, err = getattr(st, name)[0], getattr(st, name + "_error")[0]
        assert abs(got - value) < z * err, (name, got, err, value)
        assert err < 0.05 * abs(value)  # 20000 samples: a 5 sigma test detects 25% off
    half = math.sqrt(math.pi) / 2.0 * sigma
    expected_mean = 5.0 + np.array([-half, half])
    np.testing.assert_array_less(np.abs(st.mean - expected_mean), z * st.mean_error)
    assert st.n_runs == 400
    assert st.n_snapshots == 50


def test_statistics_bad_input():
    with pytest.raises(ValueError, match="n_runs >= 2"):
        stationary_statistics(np.zeros((1, 3, 2)))
    ev = np.zeros((3, 3, 2))
    ev[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="run 1, snapshot 2, mode 0"):
        stationary_statistics(ev)
    with pytest.raises(ValueError, match="pairs"):
        stationary_statistics(np.zeros((3, 3, 2)), [(1, 0)])


def test_small_noise_level_gives_the_exact_pair_shape():
    p = predict(_attrs(_paper()))
    assert p.level == "a"
    np.testing.assert_allclose(p.spacing_ratio, 4.0 / math.pi)
    np.testing.assert_allclose(p.binder, -4.0 / 27.0)
    assert len(p.pairs) == 4


def test_sgd_model_uses_the_trainers_target():
    s = _paper(n_v=6)
    model = sgd_model(s)
    np.testing.assert_allclose(np.sort(model.kappa), np.sort(s.kappa), rtol=1e-12)
    keys = ("n_v", "n_h", "mu2", "sigma_h", "kappa", "alpha", "batch_size")
    no_m2 = RBMSetting(**{k: getattr(s, k) for k in keys})
    np.testing.assert_allclose(np.sort(sgd_model(no_m2).kappa), np.sort(s.kappa), rtol=1e-12)


def test_levels_b_and_c_agree_with_the_formula_at_small_noise():
    """At alpha/|B| = 1/640 every level is the small-noise gas to O(alpha/|B|)."""
    s = _paper(n_v=4, alpha=0.1, batch_size=64)
    attrs = _attrs(s)
    small = predict(attrs, k=None)
    for method in ("aligned", "matrix"):
        p = predict(attrs, method=method, n_replicas=16, n_steps=16_000, rng=3)
        assert p.level == LEVELS[method][0]
        assert p.params["n_steps"] == 16_000
        assert p.params["burn_in"] == 3200  # 10 tau, tau = 1/(alpha min Omega) = 320
        # the width within 10% (first-order corrections are about alpha/|B| x 10 here)
        np.testing.assert_allclose(p.std, small.std, rtol=0.1)
        np.testing.assert_allclose(p.mean_x, small.mean_x, atol=3 * small.std.max() / 4)
        assert np.all(p.std_error > 0)
        assert np.all(p.std_error < 0.05 * p.std)


def test_level_b_prime_fails_at_b4_and_names_the_fraction():
    """The Gaussian noise model has no stationary state at |B| = 4 (paper preset)."""
    attrs = _attrs(_paper(batch_size=4))
    with pytest.raises(PredictionFailure, match="left the domain") as info:
        predict(attrs, method="dbm", n_replicas=8, rng=1)
    assert 0 < info.value.fraction <= 1
    assert info.value.method == "dbm"
    assert "level b'" in str(info.value)
    assert "alpha=0.1, |B|=4" in str(info.value)


def test_sample_level_failure_is_reported():
    s = _paper(n_v=2, alpha=3.0, batch_size=1)
    with pytest.raises(PredictionFailure, match="level c") as info:
        sample_level("matrix", s, n_replicas=4, n_steps=2000, burn_in=1000, rng=1)
    assert info.value.fraction > 0


def test_sample_level_bad_input():
    s = _paper(n_v=2)
    with pytest.raises(ValueError, match="method"):
        sample_level("dbm", s, n_replicas=4, n_steps=10, burn_in=5)
    with pytest.raises(ValueError, match="burn_in must be < n_steps=10, got 10"):
        sample_level("matrix", s, n_replicas=4, n_steps=10, burn_in=10)
    with pytest.raises(ValueError, match="n_replicas"):
        sample_level("matrix", s, n_replicas=1, n_steps=10, burn_in=5)


def test_default_steps_follow_the_recording():
    """Burn-in 10 tau (tau = 320 steps here), at most half the recording; then a window as
    long as the measurement's (the second half of the recording)."""
    for n_rec, burn in ((3000, 1500), (20_000, 3200), (20_001, 3200)):
        attrs = _attrs(_paper(n_v=2), n_steps=n_rec)
        p = predict(attrs, method="aligned", n_replicas=4, rng=1)
        assert (p.params["n_steps"], p.params["burn_in"]) == (burn + n_rec - n_rec // 2, burn)
    p = predict(attrs, method="matrix", n_replicas=4, burn_in=100, rng=1)
    assert (p.params["n_steps"], p.params["burn_in"]) == (20_001, 100)
    p = predict(attrs, method="matrix", n_replicas=4, n_steps=4000, rng=1)
    assert (p.params["n_steps"], p.params["burn_in"]) == (4000, 2000)
    with pytest.raises(ValueError, match="n_steps must exceed burn_in=20001"):
        predict(attrs, method="aligned", n_replicas=4, burn_in=20_001)


def test_missing_attribute_is_named():
    attrs = _attrs(_paper(n_v=2))
    del attrs["batch_size"]
    with pytest.raises(ValueError, match="'batch_size' is missing"):
        predict(attrs, method="matrix")


def _window_statistics(ev, keep):
    """Per replica: the mean and std of each index and the mean spacing of each neighbour
    pair over the snapshots ``keep``; shape (R, 3 N - 1)."""
    x = ev[:, keep]
    return np.concatenate([x.mean(1), x.std(1), np.diff(x, axis=2).mean(1)], axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [4, 16])
def test_level_c_is_stationary_after_the_default_burn_in(batch_size):
    """Level c starts at the fixed point W_s and by default discards 10 tau steps (tau =
    1/(alpha min Omega), the eigenvalues' slowest relaxation time), although the
    rotations of W start aligned too.  Per replica, the statistics of the window
    [10 tau, 20 tau) equal those of [30 tau, 40 tau) of the same run: the paired
    differences over 1024 replicas are zero within Bonferroni bounds.  (The window
    [0, 10 tau) fails: largest |z| 6.4 at |B| = 4, 4.8 at |B| = 16.)"""
    s = _paper(n_v=4, batch_size=batch_size)
    p = predict(_attrs(s, n_steps=40_000), method="matrix", n_replicas=2)
    tau = 320
    assert p.params["burn_in"] == 10 * tau
    res = sample_level("matrix", s, n_replicas=1024, n_steps=40 * tau, burn_in=0, rng=11)
    steps = np.arange(0, 40 * tau + 1, math.ceil(40 * tau / 1000))
    early = (steps >= 10 * tau) & (steps < 20 * tau)
    late = (steps >= 30 * tau) & (steps < 40 * tau)
    assert early.sum() == late.sum() > 200
    d = _window_statistics(res.eigenvalues, early) - _window_statistics(res.eigenvalues, late)
    z = d.mean(0) / (d.std(0, ddof=1) / math.sqrt(d.shape[0]))
    assert np.all(np.abs(z) < _bound(z.size)), z.round(2)

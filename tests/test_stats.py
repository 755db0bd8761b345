"""validation.analyses.stats: verdicts, entries, jackknife over runs, autocorrelation times."""

import json
import math

import numpy as np
import pytest

from validation.analyses.stats import (
    Entry,
    autocorrelation_time,
    effective_samples,
    jackknife_sums,
    ratio_trend,
    run_jackknife,
    verdict,
)


def test_verdict_rule():
    assert verdict(1.0, 0.1, 1.29, 0.0) == "agree"
    assert verdict(1.0, 0.1, 1.31, 0.0) == "disagree"
    # combined error sqrt(0.1^2 + 0.2^2) = 0.2236: 3 sigma = 0.671
    assert verdict(1.0, 0.1, 1.67, 0.2) == "agree"
    assert verdict(1.0, 0.1, 1.68, 0.2) == "disagree"
    assert verdict(1.0, 0.1, None) == "measured"
    assert verdict(1.0, 0.1, 1.2, n_sigma=1.0) == "disagree"
    with pytest.raises(ValueError, match="finite"):
        verdict(float("nan"), 0.1, 1.0)
    with pytest.raises(ValueError, match="errors must be >= 0"):
        verdict(1.0, -0.1, 1.0)
    with pytest.raises(ValueError, match="n_sigma must be"):
        verdict(1.0, 0.1, 1.0, n_sigma=0)


def test_entry_is_json_ready():
    e = Entry.compare("spacings", "<S>", np.float64(0.5), 0.01, 0.52, 0.005, n_eff=300,
                      pair=(1, 2), setting={"alpha": np.float32(0.1)})  # fmt: skip
    assert e.verdict == "agree"
    assert e.pull == pytest.approx((0.5 - 0.52) / math.hypot(0.01, 0.005))
    d = e.to_dict()
    assert d["context"] == {"pair": [1, 2], "setting": {"alpha": pytest.approx(0.1)}}
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    m = Entry.compare("x", "q", 1.0, float("nan"))
    assert m.verdict == "measured"
    assert m.pull is None
    assert m.to_dict()["error"] is None


def test_run_jackknife_of_the_mean_equals_the_standard_error(rng):
    # For the mean with one run per block the jackknife error is exactly std/sqrt(n) (ddof=1).
    x = rng.normal(size=57)
    est = run_jackknife(np.mean, x, n_blocks=57)
    assert est.value == pytest.approx(x.mean())
    assert est.error == pytest.approx(x.std(ddof=1) / np.sqrt(57), rel=1e-12)


def test_run_jackknife_keeps_runs_together(rng):
    # Snapshots copied inside a run carry no extra information: the error must not shrink.
    runs = rng.normal(size=(400, 1))
    one = run_jackknife(np.mean, runs)
    copied = run_jackknife(np.mean, np.repeat(runs, 10, axis=1))
    assert copied.error == pytest.approx(one.error, rel=1e-12)
    vec = run_jackknife(lambda a: a.mean(axis=0), rng.normal(size=(300, 3)))
    assert vec.value.shape == vec.error.shape == (3,)
    # error of a mean of 300 unit normals, from 100 blocks: 1/sqrt(300) within ~4 x 7 %
    np.testing.assert_allclose(vec.error, 1 / np.sqrt(300), rtol=0.3)


@pytest.mark.parametrize(("n_runs", "n_blocks"), [(57, None), (230, None), (230, 7), (2, None)])
def test_run_jackknife_batched_evaluates_the_same_samples(rng, n_runs, n_blocks):
    """A statistic of stacked samples, called once, gives the value and error of calling it
    per leave-one-block-out sample (a median: exactly; a fitted slope: to rounding)."""
    x = rng.lognormal(size=(n_runs, 6))
    t = np.arange(6.0)
    one = run_jackknife(lambda y: np.median(y, axis=0), x, n_blocks=n_blocks)
    many = run_jackknife(lambda y: np.median(y, axis=1), x, n_blocks=n_blocks, batched=True)
    np.testing.assert_array_equal(many.value, one.value)
    np.testing.assert_array_equal(many.error, one.error)
    one = run_jackknife(lambda y: np.polyfit(t, y.mean(axis=0), 1)[0], x, n_blocks=n_blocks)
    many = run_jackknife(
        lambda y: np.polyfit(t, y.mean(axis=1).T, 1)[0], x, n_blocks=n_blocks, batched=True
    )
    assert many.value == pytest.approx(one.value, rel=1e-12)
    assert many.error == pytest.approx(one.error, rel=1e-9)


def test_run_jackknife_batched_refuses_samples_beyond_memory():
    """All 99 leave-one-block-out copies of 100 x 3e6 values (about 240 GB) are refused
    before any is made (the data itself is a broadcast view)."""
    data = np.broadcast_to(0.0, (100, 3_000_000))
    with pytest.raises(ValueError, match="n_blocks=100 needs about"):
        run_jackknife(lambda y: y.mean(axis=1), data, batched=True)


def test_run_jackknife_errors():
    with pytest.raises(ValueError, match="at least 2 runs"):
        run_jackknife(np.mean, [1.0])
    with pytest.raises(ValueError, match="n_blocks must be <= the number of runs 3"):
        run_jackknife(np.mean, [1.0, 2.0, 3.0], n_blocks=4)


@pytest.mark.parametrize(("n_runs", "n_blocks"), [(57, None), (230, None), (230, 7), (2, None)])
def test_jackknife_sums_equals_the_refit_jackknife(rng, n_runs, n_blocks):
    """Mean, variance and a ratio of moments from per-run sums: the same value and error
    as refitting every leave-one-block-out sample (runs of unequal length included)."""
    lengths = rng.integers(1, 9, size=n_runs)
    runs = [rng.normal(3.0, 0.5, size=k) for k in lengths]
    width = int(lengths.max())
    padded = np.zeros((n_runs, width))
    mask = np.arange(width) < lengths[:, None]
    padded[mask] = np.concatenate(runs)

    def direct(rows):
        v = padded[rows][mask[rows]]
        return np.array([v.mean(), v.var(), np.mean(v**2) / v.mean() ** 2])

    def finish(t):
        m1, m2 = t[:, 1] / t[:, 0], t[:, 2] / t[:, 0]
        return np.stack([m1, m2 - m1 * m1, m2 / m1**2], axis=1)

    sums = np.stack([lengths, padded.sum(axis=1), (padded**2).sum(axis=1)], axis=1)
    fast = jackknife_sums(sums, finish, n_blocks=n_blocks)
    slow = run_jackknife(direct, np.arange(n_runs), n_blocks=n_blocks)
    np.testing.assert_allclose(fast.value, slow.value, rtol=1e-12)
    np.testing.assert_allclose(fast.error, slow.error, rtol=1e-9)


def test_jackknife_sums_errors():
    with pytest.raises(ValueError, match="sums must hold at least 2 runs"):
        jackknife_sums(np.ones((1, 2)), lambda t: t[:, 0])
    with pytest.raises(ValueError, match="n_blocks must be <= the number of runs 3"):
        jackknife_sums(np.ones((3, 2)), lambda t: t[:, 0], n_blocks=4)


def test_autocorrelation_time_of_ar1(rng):
    # AR(1) with phi = 0.8 has tau_int = (1 + phi)/(1 - phi) = 9.
    e = rng.normal(size=(100, 4000))
    y = np.empty_like(e)
    y[:, 0] = e[:, 0] / np.sqrt(1 - 0.64)
    for t in range(1, y.shape[1]):
        y[:, t] = 0.8 * y[:, t - 1] + e[:, t]
    tau = autocorrelation_time(y)
    # relative error of tau with window W ~ 5 tau over N = 4e5 points: sqrt(2(2W+1)/N) ~ 1.6 %
    assert tau == pytest.approx(9.0, rel=4 * 0.016)
    assert effective_samples(y) == pytest.approx(y.size / tau)


def test_autocorrelation_time_limits(rng):
    assert autocorrelation_time(rng.normal(size=(400, 50))) == pytest.approx(1.0, abs=0.1)
    frozen = np.repeat(rng.normal(size=(50, 1)), 6, axis=1)
    assert autocorrelation_time(frozen) == pytest.approx(6.0)
    assert effective_samples(frozen) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="T >= 2"):
        autocorrelation_time(np.ones((3, 1)))
    with pytest.raises(ValueError, match="finite"):
        autocorrelation_time([[1.0, np.nan]])


def test_effective_samples_of_one_snapshot_is_the_number_of_runs(rng):
    assert effective_samples(rng.normal(size=(37, 1))) == 37.0


# --------------------------------------------------------------------------- kinds of entries
def test_entry_kinds_and_verdict_words():
    pred = Entry.compare("a", "std x mode 3", 1.0, 0.1, 1.2, model="m (a)", level="a")
    assert (pred.kind, pred.verdict, pred.model, pred.level) == (
        "prediction",
        "agree",
        "m (a)",
        "a",
    )
    assert Entry.compare("a", "q", 1.0, 0.1, 1.4).verdict == "disagree"
    # a null model: the same rule, rejection is the expected outcome
    null = Entry.compare("a", "q", 1.0, 0.1, 1.4, kind="null")
    assert (null.kind, null.verdict) == ("null", "rejected")
    assert Entry.compare("a", "q", 1.0, 0.1, 1.2, kind="null").verdict == "not rejected"
    measured = Entry.compare("a", "q", 1.0, 0.1)
    assert (measured.kind, measured.verdict) == ("measured", "measured")
    with pytest.raises(ValueError, match="kind='measured' needs no prediction"):
        Entry.compare("a", "q", 1.0, 0.1, 1.2, kind="measured")
    with pytest.raises(ValueError, match="kind must be one of"):
        Entry("a", "q", 1.0, 0.1, kind="other")
    # an entry built without a kind (older results) gets it from its prediction
    assert Entry("a", "q", 1.0, 0.1, 2.0, 0.0, "disagree").kind == "prediction"


def test_deviation_is_ratio_minus_one_with_propagated_error():
    e = Entry.compare("a", "q", 1.1, 0.05, 1.0, 0.02)
    dev, err = e.deviation
    assert dev == pytest.approx(0.1)
    assert err == pytest.approx(math.hypot(0.05 / 1.0, 1.1 * 0.02 / 1.0**2))
    assert Entry.compare("a", "q", 1.1, 0.05).deviation is None
    assert Entry.compare("a", "q", 1.1, 0.05, 0.0).deviation is None
    assert Entry.compare("a", "chi2/dof", 3.0, 0.5, 1.0, test_statistic=True).deviation is None
    row = e.to_dict()
    assert row["deviation"] == pytest.approx(0.1)
    assert row["kind"] == "prediction"


@pytest.mark.parametrize(
    ("quantity", "family"),
    [
        ("std x mode 3", "std x mode"),
        ("<S> pair (1, 2)", "<S> pair"),
        ("Binder U4 mode (0,)", "Binder U4 mode"),
        ("mean x[3] at step 1500 vs DBM", "mean x vs DBM"),
        ("KS D vs Marchenko-Pastur", "KS D vs Marchenko-Pastur"),
    ],
)
def test_family_strips_the_location(quantity, family):
    assert Entry.compare("a", quantity, 1.0, 0.1).family == family


# --------------------------------------------------------------------------- ratio trend
def test_ratio_trend_recovers_an_exact_line():
    v = np.array([0.00625, 0.0125, 0.025, 0.05])
    t = ratio_trend(v, 1.0 + 0.8 * v, np.full(4, 0.01))
    assert t.coef == pytest.approx((1.0, 0.8), abs=1e-12)
    assert t.chi2 == pytest.approx(0.0, abs=1e-20)
    assert (t.dof, t.n_points) == (2, 4)
    assert t(0.1) == pytest.approx(1.08)


def test_ratio_trend_matches_weighted_polyfit_and_its_covariance(rng):
    v = np.repeat([0.005, 0.01, 0.02, 0.04, 0.08], 3)
    err = rng.uniform(0.005, 0.02, v.size)
    r = 1.0 + 0.5 * v + err * rng.standard_normal(v.size)
    t = ratio_trend(v, r, err, order=1)
    coef, cov = np.polyfit(v, r, 1, w=1 / err, cov="unscaled")
    np.testing.assert_allclose(t.coef, coef[::-1], rtol=1e-10)
    np.testing.assert_allclose(t.coef_error, np.sqrt(np.diag(cov))[::-1], rtol=1e-10)


def test_ratio_trend_errors_have_their_stated_coverage():
    """Over 2000 noisy copies of r = 1 + 2 v, (c1 - 2)/error is standard normal."""
    gen = np.random.default_rng(5)
    v = np.array([0.01, 0.02, 0.03, 0.05, 0.08])
    err = np.full(v.size, 0.01)
    pulls = []
    for _ in range(2000):
        t = ratio_trend(v, 1 + 2 * v + err * gen.standard_normal(v.size), err, order=1)
        pulls.append((t.slope[0] - 2.0) / t.slope[1])
    pulls = np.array(pulls)
    # mean within 4 standard errors of 0, variance within 4 standard errors of 1
    assert abs(pulls.mean()) < 4 / math.sqrt(pulls.size)
    assert abs(pulls.var() - 1) < 4 * math.sqrt(2 / pulls.size)


def test_ratio_trend_adds_c2_only_when_the_line_fails():
    v = np.linspace(0.01, 0.1, 8)
    err = np.full(v.size, 1e-3)
    curved = ratio_trend(v, 1 + v + 40 * v**2, err)
    assert len(curved.coef) == 3
    assert curved.coef == pytest.approx((1.0, 1.0, 40.0), abs=1e-9)
    straight = ratio_trend(v, 1 + v, err)
    assert len(straight.coef) == 2
    assert "alpha/|B|" in straight.describe()


def test_ratio_trend_refuses_bad_input():
    with pytest.raises(ValueError, match="same length"):
        ratio_trend([0.1, 0.2], [1.0], [0.1, 0.1])
    with pytest.raises(ValueError, match="2 distinct values"):
        ratio_trend([0.1, 0.1], [1.0, 1.1], [0.1, 0.1])
    with pytest.raises(ValueError, match="error must be > 0"):
        ratio_trend([0.1, 0.2], [1.0, 1.1], [0.1, 0.0])
    with pytest.raises(ValueError, match="finite"):
        ratio_trend([0.1, 0.2], [1.0, np.nan], [0.1, 0.1])
    with pytest.raises(ValueError, match="order must be"):
        ratio_trend([0.1, 0.2], [1.0, 1.1], [0.1, 0.1], order=3)

"""validation.analyses.stats: verdicts, entries, jackknife over runs, autocorrelation times."""

import json
import math

import numpy as np
import pytest

from validation.analyses.stats import (
    Entry,
    autocorrelation_time,
    effective_samples,
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


def test_run_jackknife_errors():
    with pytest.raises(ValueError, match="at least 2 runs"):
        run_jackknife(np.mean, [1.0])
    with pytest.raises(ValueError, match="n_blocks must be <= the number of runs 3"):
        run_jackknife(np.mean, [1.0, 2.0, 3.0], n_blocks=4)


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

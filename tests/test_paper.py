"""The paper-reproduction script: spacings per pair and setting, a_fit, predictions."""

import json

import numpy as np
import pytest

from validation.report.paper import main, reproduce
from validation.training.rbm import train


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """Two settings of a 4-mode RBM (one degenerate pair, kappa = 6), t = alpha * steps = 400."""
    d = tmp_path_factory.mktemp("sweep")
    for seed, b in ((1, 16), (2, 64)):
        train(60, n_steps=4000, n_v=4, n_h=4, alpha=0.1, batch_size=b, record_every=200,
              rng=seed, progress=False, path=d / f"alpha0.1_B{b}.h5")  # fmt: skip
    return d


def test_reproduce_reports_every_pair_and_the_fit(sweep_dir):
    res = reproduce(sorted(sweep_dir.glob("*.h5")), rng=3)
    assert len(res.rows) == 2  # one pair x two settings
    for r in res.rows:
        assert r["pair"] == [1, 2]
        assert r["kappa"] == pytest.approx(6.0)
        assert r["S"] > 0
        assert r["S_error"] > 0
        assert r["ratio_small_noise"] == pytest.approx(r["S"] / r["S_small_noise"])
        assert r["S_dbm"] is not None
    # <S> falls with |B| at fixed alpha: 4x the batch, half the spacing (within 5 errors)
    s16, s64 = (r["S"] for r in sorted(res.rows, key=lambda r: r["batch_size"]))
    err = np.hypot(res.rows[0]["S_error"], res.rows[1]["S_error"])
    assert abs(s16 / 2 - s64) < 5 * err
    a, da, chi2, dof = res.scaling.a_fit
    # one-parameter weighted least squares through the origin, <S> = a sqrt(v)
    v = np.array([r["v"] for r in res.rows])
    s = np.array([r["S"] for r in res.rows])
    w = 1 / np.array([r["S_error"] for r in res.rows]) ** 2
    a_wls = np.sum(w * s * np.sqrt(v)) / np.sum(w * v)
    assert a == pytest.approx(a_wls, rel=1e-9)
    assert chi2 == pytest.approx(np.sum(w * (s - a_wls * np.sqrt(v)) ** 2), rel=1e-9)
    assert dof == 1
    assert da > 0
    pa, spread = res.predicted_a
    assert pa > 0
    assert spread >= 0
    text = res.table()
    assert "a_fit =" in text
    assert "predicted a" in text
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["a_fit"]["dof"] == 1
    assert res.plot() is not None


def test_command_line_writes_table_json_and_figure(sweep_dir, tmp_path, capsys):
    assert main([str(sweep_dir), "-o", str(tmp_path), "--no-dbm"]) == 0
    assert "a_fit =" in (tmp_path / "paper.txt").read_text()
    assert json.loads((tmp_path / "paper.json").read_text())["rows"]
    assert (tmp_path / "paper.png").stat().st_size > 10_000
    assert main([str(tmp_path / "empty"), "-o", str(tmp_path)]) == 2
    assert "no .h5 recordings" in capsys.readouterr().err


def test_bad_input(sweep_dir):
    from validation.data.recording import read

    rec = read(sorted(sweep_dir.glob("*.h5"))[0])
    with pytest.raises(ValueError, match="at least 2 settings"):
        reproduce([rec])
    from validation.data.recording import Recording

    plain = Recording(rec.eigenvalues, rec.steps, {"model": "imported"})
    with pytest.raises(ValueError, match="Gaussian-RBM recordings; not so: indices"):
        reproduce([rec, plain])

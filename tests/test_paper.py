"""The paper-reproduction script: spacings per pair and setting, a_fit, predictions."""

import json

import numpy as np
import pytest

from validation.data.recording import Recording
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


def test_reproduce_decomposes_by_level(sweep_dir):
    res = reproduce(sorted(sweep_dir.glob("*.h5")), n_replicas=8, rng=3, progress=False)
    assert res.levels == ("small_noise", "dbm", "aligned", "matrix")
    spacing = [r for r in res.rows if r["quantity"] == "<S>"]
    assert len(spacing) == 2  # one pair x two settings
    assert len(res.rows) == 2 * (1 + 4)  # and the std of 4 indices
    for r in spacing:
        assert r["index"] == [1, 2]
        assert r["kappa"] == pytest.approx(6.0)
        assert r["value"] > 0
        assert r["error"] > 0
    for r in res.rows:
        assert r["ratio_a"] == pytest.approx(r["value"] / r["pred_a"])
        for key in ("b'", "b", "c"):
            assert r[f"ratio_{key}"] == pytest.approx(r["value"] / r[f"pred_{key}"])
            rel = np.hypot(r["error"] / r["value"], r[f"pred_{key}_error"] / r[f"pred_{key}"])
            assert r[f"ratio_{key}_error"] == pytest.approx(r[f"ratio_{key}"] * rel)
    assert res.failures == []
    # <S> falls with |B| at fixed alpha: 4x the batch, half the spacing (within 5 errors)
    s16, s64 = (r["value"] for r in sorted(spacing, key=lambda r: r["batch_size"]))
    err = np.hypot(spacing[0]["error"], spacing[1]["error"])
    assert abs(s16 / 2 - s64) < 5 * err
    a, _, chi2, dof = res.scaling.a_fit
    # one-parameter weighted least squares through the origin, <S> = a sqrt(v)
    v = np.array([r["v"] for r in spacing])
    s = np.array([r["value"] for r in spacing])
    w = 1 / np.array([r["error"] for r in spacing]) ** 2
    a_wls = np.sum(w * s * np.sqrt(v)) / np.sum(w * v)
    assert a == pytest.approx(a_wls, rel=1e-9)
    assert res.a_fits()["measured"] == pytest.approx(a_wls, rel=1e-9)
    assert chi2 == pytest.approx(np.sum(w * (s - a_wls * np.sqrt(v)) ** 2), rel=1e-9)
    assert dof == 1
    # the asymptotic test: one linear fit per quantity through two settings
    assert set(res.trends) == {"<S> [1, 2]", "std 0", "std 1", "std 2", "std 3"}
    t = res.trends["<S> [1, 2]"]
    x = [r["alpha_over_b"] for r in spacing]
    y = [r["ratio_a"] for r in spacing]
    assert t(x) == pytest.approx(y)
    targets = res.targets()
    assert [t["n"] for t in targets] == [10, 10]  # alpha/|B| = 0.00625 and 0.0016
    text = res.table()
    assert "asymptotic test" in text
    assert "a_fit: measured" in text
    assert "matrix SGD with exact samples (c)" in text
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["a_fit"]["dof"] == 1
    assert set(d["levels"]) == {"a", "b'", "b", "c"}
    assert res.plot().axes
    assert len(res.plot_ladder().axes) == 2


def test_failures_are_rows_not_nan(sweep_dir):
    """A level without a stationary state: None in the rows, reason and fraction reported."""
    from validation.data.recording import read

    recs = [read(p) for p in sorted(sweep_dir.glob("*.h5"))]
    hot = Recording(recs[0].eigenvalues, recs[0].steps, {**recs[0].attrs, "alpha": 3.0})
    res = reproduce([hot, recs[1]], levels=["a", "c"], n_replicas=4, rng=1, progress=False)
    assert res.levels == ("small_noise", "matrix")
    (fail,) = res.failures
    assert fail["level"] == "c"
    assert fail["alpha"] == 3.0
    assert fail["fraction"] > 0
    assert all(r["ratio_c"] is None for r in res.rows if r["alpha"] == 3.0)
    assert "level c fails at alpha=3, |B|=16" in res.table()
    json.dumps(res.to_dict(), allow_nan=False)


def test_settings_analysed_together_give_the_same_table(sweep_dir, monkeypatch, tmp_path, capsys):
    """Two settings at a time, each in a thread, or one at a time: the same table, bit for
    bit (each setting has its own generator); workers are checked."""
    from fpsolve.jit import threading_layer
    from validation.report import _jobs

    if threading_layer() == "workqueue":
        pytest.skip("numba's workqueue layer runs one parallel kernel at a time")
    paths = sorted(sweep_dir.glob("*.h5"))
    texts = [
        json.dumps(
            reproduce(
                paths, levels=["a", "b", "c"], n_replicas=4, rng=2, progress=False, workers=w
            ).to_dict(),
            sort_keys=True,
        )
        for w in (1, 2)
    ]
    assert texts[0] == texts[1]
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        reproduce(paths, workers=0)
    assert main([str(sweep_dir), "-o", str(tmp_path / "out"), "--workers", "0", "-q"]) == 2
    assert "error: workers must be >= 1, got 0" in capsys.readouterr().err
    monkeypatch.setattr(_jobs, "threading_layer", lambda: "workqueue")
    with pytest.raises(ValueError, match="workers must be 1 with numba's workqueue"):
        reproduce(paths, workers=2)


@pytest.mark.slow  # the whole command three times, with its figures (about 1.5 s)
def test_command_line_writes_table_json_and_figures(sweep_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(sweep_dir), "-o", str(out), "--levels", "a", "-q"]) == 0
    assert "a_fit: measured" in (out / "paper.txt").read_text()
    assert json.loads((out / "paper.json").read_text())["rows"]
    assert (out / "paper.png").stat().st_size > 10_000
    assert (out / "ladder.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main([str(sweep_dir), "-o", str(out), "--levels", "a", "-q"]) == 2
    assert "not empty; pass --overwrite" in capsys.readouterr().err
    assert main([str(sweep_dir), "-o", str(out), "--levels", "a", "-q", "--overwrite"]) == 0
    assert main([str(tmp_path / "empty"), "-o", str(tmp_path / "o2")]) == 2
    assert "no .h5 recordings" in capsys.readouterr().err
    assert main([str(sweep_dir), "-o", str(tmp_path / "o3"), "--levels", "z"]) == 2
    assert "levels must be among" in capsys.readouterr().err


def test_bad_input(sweep_dir):
    from validation.data.recording import read

    rec = read(sorted(sweep_dir.glob("*.h5"))[0])
    with pytest.raises(ValueError, match="at least 2 settings"):
        reproduce([rec])
    plain = Recording(rec.eigenvalues, rec.steps, {"model": "imported"})
    with pytest.raises(ValueError, match="Gaussian-RBM recordings; not so: indices"):
        reproduce([rec, plain])

"""validation.validate, the report and the demo main job."""

import glob
import json
import os

import numpy as np
import pytest

from tests.conftest import TS_DIR
from validation import Validation, validate
from validation.analyses.stats import Entry
from validation.data.recording import Recording
from validation.report.pipeline import ANALYSES
from validation.training.rbm import train


@pytest.fixture(scope="module")
def sweep():
    """Two short RBM settings with the paper's model (t = alpha * steps = 300)."""
    return [
        train(40, n_steps=3000, alpha=0.1, batch_size=b, record_every=100, rng=s, progress=False)
        for s, b in ((1, 8), (2, 32))
    ]


@pytest.fixture(scope="module")
def result(sweep):
    return validate(sweep, rng=3, progress=False)


def test_every_analysis_runs_on_an_rbm_sweep(result):
    assert isinstance(result, Validation)
    keys = {s.key for s in result.sections}
    assert keys == set(ANALYSES)
    per_recording = [s for s in result.sections if s.label != "all recordings"]
    assert len(per_recording) == 2 * (len(ANALYSES) - 2)
    assert result.skipped == ()
    for s in result.sections:
        assert s.entries, s.key
        assert all(isinstance(e, Entry) for e in s.entries)
        assert s.verdict in ("agree", "disagree", "not rejected", "measured")
    counts = result.counts()
    assert sum(counts.values()) == len(result.entries())
    assert counts["agree"] > 0
    # the predictions use the best level of the ladder, (c), and every row names it
    for s in result.sections:
        if s.key in ("predictions", "repulsion"):
            assert {e.level for e in s.entries if e.kind == "prediction"} == {"c"}, s.key
            assert all("(c)" in e.model for e in s.entries if e.kind == "prediction")


def test_results_json_is_strict_and_complete(result, tmp_path):
    path = result.write_json(tmp_path / "r.json")
    data = json.loads(path.read_text())  # strict JSON: NaN would not parse back as null
    assert data["summary"] == result.counts()
    assert {a["analysis"] for a in data["analyses"]} == set(ANALYSES)
    for a in data["analyses"]:
        for row in a["entries"]:
            for field in ("measured", "error", "predicted", "verdict", "kind", "n_eff"):
                assert field in row
    assert [r["batch_size"] for r in data["recordings"]] == [8, 32]


@pytest.mark.slow  # draws every figure of the report (about 10 s)
def test_report_is_self_contained(result, tmp_path):
    report = result.write(tmp_path, progress=False)
    text = report.read_text()
    # one figure per section plus the overview (pairs, spacings, scaling)
    assert text.count("data:image/png;base64,") == len(result.sections) + 1
    for s in result.sections:
        assert s.title in text
    assert "How to read the verdicts" in text
    assert "3 &radic;" in text
    assert text.index("Conclusions") < text.index("Summary per analysis and setting")
    assert (tmp_path / "overview.png").stat().st_size > 20_000
    pngs = sorted(tmp_path.glob("[0-9][0-9]_*.png"))
    assert len(pngs) == len(result.sections)
    assert all(p.stat().st_size > 5_000 for p in pngs)
    assert json.loads((tmp_path / "results.json").read_text())["summary"] == result.counts()


def test_threshold_changes_verdicts_consistently(sweep, result):
    loose = validate(sweep, analyses=["one_point", "spacings"], n_sigma=100.0, rng=3)
    assert loose.counts()["disagree"] <= result.counts()["disagree"]
    for e in loose.entries():
        if e.predicted is not None and np.isfinite(e.error):
            assert e.verdict == ("not rejected" if e.kind == "null" else "agree")


def test_subset_and_non_rbm_recordings(sweep):
    rec = sweep[0]
    attrs = {"model": "imported", "groups": [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]}
    plain = Recording(eigenvalues=rec.eigenvalues, steps=rec.steps, attrs=attrs)
    out = validate([plain], rng=1)
    assert {s.key for s in out.sections} == {"one_point", "spacings"}
    reasons = {a for a, _, _ in out.skipped}
    assert {"initial_spectrum", "predictions", "dynamics", "scaling", "repulsion"} <= reasons


def test_recordings_analysed_together_give_the_same_numbers(sweep, tmp_path):
    """Two recordings at a time, each in a thread with the caller's numba threads, or one
    at a time: the same report, bit for bit (each recording has its own generator)."""
    import numba

    from fpsolve.jit import threading_layer
    from validation.report._jobs import run_jobs

    if threading_layer() == "workqueue":
        pytest.skip("numba's workqueue layer runs one parallel kernel at a time")
    keys = ["initial_spectrum", "dynamics"]  # two of the analyses that draw random numbers
    texts = [
        validate(sweep, analyses=keys, rng=3, progress=False, workers=w)
        .write_json(tmp_path / f"{w}.json")
        .read_text()
        for w in (1, 2)
    ]
    assert texts[0] == texts[1]
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert run_jobs([numba.get_num_threads] * 3, 2) == [1, 1, 1]
    finally:
        numba.set_num_threads(threads)


def test_workers_are_checked(sweep, monkeypatch):
    from validation.report import _jobs

    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        validate(sweep, workers=0)
    monkeypatch.setattr(_jobs, "threading_layer", lambda: "workqueue")
    assert _jobs.check_workers(None) == 1
    with pytest.raises(ValueError, match="workers must be 1 with numba's workqueue"):
        validate(sweep, workers=2)


def test_bad_input_is_named(sweep, tmp_path):
    with pytest.raises(ValueError, match="analyses must be among"):
        validate(sweep, analyses=["spacing"])
    with pytest.raises(ValueError, match="at least one recording"):
        validate([])
    with pytest.raises(TypeError, match=r"recordings\[1\] must be a Recording"):
        validate([sweep[0], 3.0])
    with pytest.raises(FileNotFoundError):
        validate(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="n_sigma must be"):
        validate(sweep, n_sigma=0)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(TS_DIR), reason="released teacher-student data absent")
def test_teacher_student_release_validates(tmp_path):
    from validation.data.importers import load_teacher_student

    files = sorted(glob.glob(os.path.join(TS_DIR, "TSmodel_lr0.1n0.1bs*.npz")))
    assert len(files) == 5
    recs = [load_teacher_student(f) for f in files]
    out = validate(recs, burn_in=10)
    keys = {s.key for s in out.sections}
    assert {"one_point", "spacings", "scaling"} <= keys
    scaling = next(s for s in out.sections if s.key == "scaling").result
    slope, err = scaling.slope_s[:2]
    assert abs(slope - 0.5) < 3 * err
    out.write(tmp_path, progress=False)
    assert (tmp_path / "report.html").stat().st_size > 50_000

"""Importers of weight-matrix recordings and the released teacher-student data."""

import os
import re

import numpy as np
import pytest

from tests.conftest import TS_DIR, TS_FILES, needs_ts
from validation.data.importers import (
    TEACHER_STUDENT_KEYS,
    from_weights,
    load_teacher_student,
)
from validation.data.recording import SchemaError, import_npz


def _weights(rng, shape=(4, 3, 5, 3)):
    return rng.normal(size=shape)


def _ts_npz(path, rng, *, n_runs=7, drop=None, w=None):
    data = {
        "W": rng.normal(size=(n_runs, 6, 2, 2)) if w is None else w,
        "loss": np.zeros((n_runs, 6)),
        "lr": np.float64(0.2),
        "batch_size": np.int64(8),
        "epochs": np.int64(10),
        "noise": np.float64(0.07),
        "save_int": np.int64(2),
    }
    if drop is not None:
        del data[drop]
    np.savez(path, **data)
    return path


# --------------------------------------------------------------------------- from_weights
def test_from_weights_shapes_and_quantity(rng):
    w = _weights(rng)
    sing = from_weights(w)
    eig = from_weights(w, quantity="eigenvalues", steps=[0, 5, 9])
    assert sing.eigenvalues.shape == eig.eigenvalues.shape == (4, 3, 3)
    assert sing.attrs["quantity"] == "singular"
    assert eig.attrs["quantity"] == "eigenvalues"
    np.testing.assert_allclose(sing.eigenvalues**2, eig.eigenvalues, rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(sing.eigenvalues, axis=-1) >= 0)
    np.testing.assert_array_equal(sing.steps, [0, 1, 2])
    np.testing.assert_array_equal(eig.steps, [0, 5, 9])
    np.testing.assert_array_equal(sing.weights, w)
    # against a direct SVD of one matrix
    np.testing.assert_allclose(
        sing.eigenvalues[2, 1], np.sort(np.linalg.svd(w[2, 1], compute_uv=False))
    )


def test_from_weights_single_run_and_wide_matrices(rng):
    w = rng.normal(size=(3, 2, 5))  # one run, M < N
    rec = from_weights(w, quantity="eigenvalues")
    assert rec.eigenvalues.shape == (1, 3, 2)  # nonzero spectrum of the transposed matrix
    np.testing.assert_allclose(
        rec.eigenvalues[0, 0], np.sort(np.linalg.eigvalsh(w[0] @ w[0].T)), rtol=1e-10
    )
    np.testing.assert_allclose(from_weights(w).eigenvalues ** 2, rec.eigenvalues, rtol=1e-10)


def test_from_weights_groups_and_attrs(rng):
    rec = from_weights(
        _weights(rng), groups=[0, 1, 1], attrs={"alpha": 0.1}, model="toy", provenance="test"
    )
    assert rec.mode_groups() == ((0,), (1, 2))
    assert rec.attrs["model"] == "toy"
    assert rec.attrs["alpha"] == 0.1
    assert rec.attrs["provenance"] == "test"


def test_from_weights_reports_nonfinite(rng):
    w = _weights(rng, (6, 5, 3, 2))
    w[2, 3, 0, 1] = np.nan
    w[4, 0, 2, 1] = np.inf
    with pytest.raises(ValueError, match=r"run 2, snapshot 3 \(2 of 30"):
        from_weights(w)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"weights": np.zeros((3, 2))}, ValueError, r"weights must have shape .*\(3, 2\)"),
        ({"weights": np.zeros((2, 0, 2, 2))}, ValueError, "weights must have shape"),
        ({"steps": [0, 1]}, ValueError, r"steps must have shape \(3,\)"),
        ({"steps": [0.0, 1.0, 2.0]}, TypeError, "steps must hold integers"),
        ({"steps": [0, 2, 2]}, ValueError, "strictly increasing"),
        ({"quantity": "squares"}, ValueError, "quantity must be one of"),
        ({"groups": [0, 1]}, ValueError, r"groups must hold one integer label per mode \(3"),
        ({"attrs": {"quantity": "x"}}, ValueError, "attrs must not set"),
        ({"attrs": [("a", 1)]}, TypeError, "attrs must be a mapping"),
    ],
)
def test_from_weights_bad_input(rng, kwargs, error, match):
    args = {"weights": _weights(rng)} | kwargs
    w = args.pop("weights")
    with pytest.raises(error, match=match):
        from_weights(w, **args)


# --------------------------------------------------------------------------- teacher-student
def test_load_teacher_student_synthetic(tmp_path, rng):
    path = _ts_npz(tmp_path / "TSmodel_lr0.2n0.07bs8.npz", rng)
    rec = load_teacher_student(path)
    assert rec.eigenvalues.shape == (7, 6, 2)
    np.testing.assert_array_equal(rec.steps, [0, 2, 4, 6, 8, 10])
    a = rec.attrs
    assert a["model"] == "teacher_student"
    assert a["quantity"] == "singular"
    assert (a["alpha"], a["batch_size"], a["noise"], a["epochs"], a["save_int"]) == (
        0.2,
        8,
        0.07,
        10,
        2,
    )
    np.testing.assert_array_equal(a["target"], [2.0, 2.0])
    assert rec.mode_groups() == ((0, 1),)
    assert "arXiv:2407.16427" in a["provenance"]
    assert "10.5281/zenodo.13294081" in a["provenance"]
    eig = load_teacher_student(path, quantity="eigenvalues")
    np.testing.assert_allclose(rec.eigenvalues**2, eig.eigenvalues, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("key", TEACHER_STUDENT_KEYS)
def test_load_teacher_student_missing_key(tmp_path, rng, key):
    path = _ts_npz(tmp_path / "ts.npz", rng, drop=key)
    with pytest.raises(SchemaError, match=rf"ts\.npz.*no key '{key}'"):
        load_teacher_student(path)


def test_load_teacher_student_bad_files(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_teacher_student(tmp_path / "absent.npz")
    w = rng.normal(size=(5, 6, 2, 2))
    w[3, 4, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"ts\.npz.*run 3, snapshot 4"):
        load_teacher_student(_ts_npz(tmp_path / "ts.npz", rng, w=w))
    with pytest.raises(SchemaError, match=r"key 'W' must have shape"):
        load_teacher_student(_ts_npz(tmp_path / "ts3.npz", rng, w=rng.normal(size=(5, 6, 3, 2))))
    with pytest.raises(SchemaError, match="do not end at epochs"):
        load_teacher_student(_ts_npz(tmp_path / "ts5.npz", rng, w=rng.normal(size=(5, 5, 2, 2))))


# --------------------------------------------------------------------------- import_npz
@pytest.mark.parametrize("kind", ["weights", "eigenvalues"])
def test_import_npz_reports_nonfinite(tmp_path, rng, kind):
    if kind == "weights":
        data = rng.normal(size=(3, 4, 5, 3))
        data[1, 2, 0, 0] = np.nan
    else:
        data = np.sort(rng.normal(size=(3, 4, 5)), axis=-1)
        data[1, 2, 3] = np.inf
    np.savez(tmp_path / "src.npz", **{kind: data})
    with pytest.raises(ValueError, match=rf"'{kind}' holds NaN or inf: first at run 1, snapshot 2"):
        import_npz(tmp_path / "src.npz", tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


# --------------------------------------------------------------------------- released data
@needs_ts
def test_released_teacher_student_files_load():
    pattern = re.compile(r"TSmodel_lr([0-9.]+)n([0-9.]+)bs(\d+)\.npz")
    assert len(TS_FILES) == 14
    for name in TS_FILES:
        rec = load_teacher_student(os.path.join(TS_DIR, name))
        assert rec.eigenvalues.shape == (3000, 6, 2), name
        assert rec.weights.shape == (3000, 6, 2, 2), name
        lr, eps, bs = pattern.fullmatch(name).groups()
        assert rec.attrs["alpha"] == float(lr)
        assert rec.attrs["noise"] == float(eps)
        assert rec.attrs["batch_size"] == int(bs)
        np.testing.assert_array_equal(rec.steps, [0, 2, 4, 6, 8, 10])
        assert np.all(rec.eigenvalues > 0)

"""Tests of validation.data.recording: the HDF5 schema, reader, writer, importer, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fpsolve
from validation.data.recording import (
    FORMAT,
    FORMAT_VERSION,
    SchemaError,
    eigenvalues_of,
    import_npz,
    read,
    write,
)
from validation.training import trainer

SMALL = {"n_v": 4, "n_h": 3, "batch_size": 8, "k": 1, "progress": False}


def _eigs(rng, shape=(2, 5, 3)):
    return np.sort(rng.standard_normal(shape) ** 2, axis=-1)


# --------------------------------------------------------------------------- round trip
def test_write_read_round_trip(tmp_path, rng):
    eig = _eigs(rng)
    w = rng.standard_normal((2, 5, 4, 3))
    path = write(
        tmp_path / "r.h5", eig, np.arange(0, 50, 10), attrs={"lr": 0.1, "shape": np.array([4, 3])},
        weights=w, provenance="unit test",
    )  # fmt: skip
    rec = read(path, weights=True)
    np.testing.assert_array_equal(rec.eigenvalues, eig)
    np.testing.assert_array_equal(rec.steps, np.arange(0, 50, 10))
    np.testing.assert_array_equal(rec.weights, w)
    assert rec.attrs["format"] == FORMAT
    assert rec.attrs["format_version"] == FORMAT_VERSION
    assert rec.attrs["model"] == "imported"
    assert rec.attrs["fpsolve_version"] == fpsolve.__version__
    assert rec.attrs["provenance"] == "unit test"
    assert rec.attrs["lr"] == 0.1
    assert rec.complete
    assert read(path).weights is None  # weights only when asked


def test_train_file_equals_memory(tmp_path):
    kw = {"n_steps": 60, "record_every": 20, "rng": 4, "record_weights": True, **SMALL}
    mem = trainer.train(2, record_modes=True, **kw)
    disk = trainer.train(2, path=tmp_path / "t.h5", record_modes=True, **kw)
    np.testing.assert_array_equal(mem.eigenvalues, disk.eigenvalues)
    np.testing.assert_array_equal(mem.weights, disk.weights)
    np.testing.assert_array_equal(mem.learned_modes, disk.learned_modes)
    for key in ("n_v", "n_h", "mu2", "sigma_h", "m2", "k", "alpha", "batch_size", "w_sigma"):
        assert mem.attrs[key] == disk.attrs[key]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        trainer.train(2, path=tmp_path / "t.h5", **kw)


def test_write_rejects_bad_input(tmp_path, rng):
    eig = _eigs(rng)
    with pytest.raises(ValueError, match="ascending"):
        write(tmp_path / "a.h5", eig[..., ::-1], np.arange(5))
    with pytest.raises(ValueError, match="steps must be 1-dimensional with 5"):
        write(tmp_path / "a.h5", eig, np.arange(4))
    with pytest.raises(ValueError, match="strictly increasing"):
        write(tmp_path / "a.h5", eig, np.array([0, 1, 1, 2, 3]))
    with pytest.raises(ValueError, match="format attributes"):
        write(tmp_path / "a.h5", eig, np.arange(5), attrs={"format": "x"})
    with pytest.raises(ValueError, match="3-dimensional"):
        write(tmp_path / "a.h5", eig[0], np.arange(5))
    with pytest.raises(ValueError, match="weights must have shape"):
        write(tmp_path / "a.h5", eig, np.arange(5), weights=np.ones((2, 5, 3, 4)))


# --------------------------------------------------------------------------- schema errors
def _drop_attr(f, name):
    del f.attrs[name]


def _replace(f, name, data):
    if name in f:
        del f[name]
    f.create_dataset(name, data=data)


MUTATIONS = [
    (lambda f: _drop_attr(f, "format"), "missing root attribute 'format'"),
    (lambda f: _drop_attr(f, "provenance"), "missing root attribute 'provenance'"),
    (lambda f: f.attrs.__setitem__("format", "other"), "attribute 'format' must be"),
    (lambda f: f.attrs.__setitem__("format_version", 99), "'format_version'"),
    (lambda f: f.attrs.__setitem__("model", 3), "attribute 'model' must be a string"),
    (lambda f: f.__delitem__("eigenvalues"), "missing dataset 'eigenvalues'"),
    (lambda f: f.__delitem__("steps"), "missing dataset 'steps'"),
    (lambda f: _replace(f, "eigenvalues", np.ones((2, 5))), "'eigenvalues' must be 3-dim"),
    (lambda f: _replace(f, "eigenvalues", np.ones((2, 4, 3))), "'steps' has 5"),
    (lambda f: _replace(f, "steps", np.array([0.0, 1, 2, 3, 4])), "dataset 'steps' has dtype"),
    (lambda f: _replace(f, "steps", np.array([0, 2, 1, 3, 4])), "'steps' must be non-negative"),
    (lambda f: _replace(f, "progress", np.array([7])), "'progress' must lie in"),
    (lambda f: f["eigenvalues"].__setitem__((0, 0, 0), np.nan), "non-finite entry at"),
    (lambda f: f["eigenvalues"].__setitem__((0, 0, 0), 1e9), "must be ascending"),
    (lambda f: _replace(f, "learned_modes", np.ones((2, 5, 2))), "'learned_modes' must have"),
    (lambda f: f.create_group("weights"), "'weights' must be a dataset"),
    (lambda f: f.attrs.__setitem__("model", "gaussian_rbm"), "missing attribute 'n_v' required"),
]


@pytest.mark.parametrize(("mutate", "message"), MUTATIONS)
def test_schema_errors_name_the_field(tmp_path, rng, mutate, message):
    path = write(tmp_path / "r.h5", _eigs(rng), np.arange(5))
    with h5py.File(path, "r+") as f:
        mutate(f)
    with pytest.raises(SchemaError, match=message):
        read(path)


def test_rbm_attribute_errors(tmp_path):
    path = tmp_path / "t.h5"
    trainer.train(1, n_steps=4, path=path, rng=1, **SMALL)
    with h5py.File(path, "r+") as f:
        f.attrs["kappa"] = np.ones(3)
    with pytest.raises(SchemaError, match="'kappa' must have shape"):
        read(path)
    with h5py.File(path, "r+") as f:
        f.attrs["kappa"] = np.ones(4)
        f.attrs["k"] = 1.5
    with pytest.raises(SchemaError, match="'k' must be an integer"):
        read(path)


def test_read_missing_and_non_hdf5(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(SchemaError, match="not a readable HDF5 file"):
        read(bad)


# --------------------------------------------------------------------------- interruption
def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "_CHUNK_STEPS", 30)
    kw = {"n_steps": 200, "record_every": 10, "rng": 8, "record_weights": True, **SMALL}
    for target in ("exact", "samples"):
        full = trainer.train(3, target=target, **kw)
        path = tmp_path / f"{target}.h5"
        part = trainer.train(3, target=target, path=path, _max_chunks=2, record_modes=True, **kw)
        assert not part.complete
        assert part.steps[-1] == 60
        np.testing.assert_array_equal(part.eigenvalues, full.eigenvalues[:, : len(part.steps)])
        done = trainer.resume(path, progress=False)
        assert done.complete
        np.testing.assert_array_equal(done.eigenvalues, full.eigenvalues)
        np.testing.assert_array_equal(done.weights, full.weights)
        np.testing.assert_allclose(done.learned_modes, 9.0 - full.eigenvalues, rtol=0, atol=0)
        again = trainer.resume(path, progress=False)  # complete: unchanged
        np.testing.assert_array_equal(again.eigenvalues, full.eigenvalues)


def test_resume_uses_a_valid_state_slot(tmp_path, monkeypatch):
    """A slot whose write was cut short (step = -1) is ignored; the other slot is used."""
    monkeypatch.setattr(trainer, "_CHUNK_STEPS", 30)
    kw = {"n_steps": 200, "record_every": 10, "rng": 8, **SMALL}
    full = trainer.train(2, **kw)
    path = tmp_path / "t.h5"
    trainer.train(2, path=path, _max_chunks=3, **kw)
    with h5py.File(path, "r+") as f:
        slots = [f["state"][s] for s in ("slot0", "slot1")]
        newest = max(slots, key=lambda g: int(g["step"][0]))
        newest["step"][0] = -1
        newest["weights"][...] = np.nan  # a half-written slot
    np.testing.assert_array_equal(
        trainer.resume(path, progress=False).eigenvalues, full.eigenvalues
    )


def test_resume_rejects_a_foreign_generator_state(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "_CHUNK_STEPS", 30)
    path = tmp_path / "t.h5"
    trainer.train(2, n_steps=200, record_every=10, rng=8, path=path, _max_chunks=1, **SMALL)
    with h5py.File(path, "r+") as f:
        for slot in ("slot0", "slot1"):
            del f["state"][slot]["rng"]
            f["state"][slot]["rng"] = np.zeros((2, 6), np.uint64)  # e.g. a PCG64 state
    with pytest.raises(ValueError, match=r"state/rng .* shape \(2, 6\); resume needs \(2, 4\)"):
        trainer.resume(path, progress=False)


WRITER = textwrap.dedent(
    """
    import sys, time
    from validation.training import trainer
    trainer._CHUNK_STEPS = 20

    def slow(step):
        print(step, flush=True)
        time.sleep(0.05)

    trainer.train(2, n_steps=2000, record_every=20, n_v=4, n_h=3, batch_size=8, k=1, rng=5,
              path=sys.argv[1], record_weights=True, progress=False, callback=slow)
    """
)


@pytest.mark.slow  # a writer in a subprocess, killed
def test_killed_writer_leaves_every_completed_snapshot(tmp_path):
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, os.fspath(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        seen = [int(proc.stdout.readline()) for _ in range(5)]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    rec = read(path, weights=True)
    assert not rec.complete
    assert rec.steps[-1] >= seen[-1]  # every snapshot reported done is in the file
    full = trainer.train(
        2, n_steps=2000, record_every=20, n_v=4, n_h=3, batch_size=8, k=1, rng=5,
        record_weights=True, progress=False,
    )  # fmt: skip
    n = len(rec.steps)
    np.testing.assert_array_equal(rec.steps, full.steps[:n])
    np.testing.assert_array_equal(rec.eigenvalues, full.eigenvalues[:, :n])
    np.testing.assert_array_equal(rec.weights, full.weights[:, :n])
    done = trainer.resume(path, progress=False)
    np.testing.assert_array_equal(done.eigenvalues, full.eigenvalues)


# --------------------------------------------------------------------------- importer
def test_import_npz_eigenvalues(tmp_path, rng):
    eig = rng.standard_normal((3, 4)) ** 2  # one run, unsorted
    np.savez(tmp_path / "e.npz", eigenvalues=eig, steps=np.array([0, 5, 9]))
    rec = read(import_npz(tmp_path / "e.npz", tmp_path / "e.h5", attrs={"lr": 0.01}))
    np.testing.assert_array_equal(rec.eigenvalues, np.sort(eig, axis=-1)[None])
    np.testing.assert_array_equal(rec.steps, [0, 5, 9])
    assert rec.attrs["lr"] == 0.01
    rec = read(import_npz(tmp_path / "e.npz", tmp_path / "f.h5", steps=[1, 2, 3]))
    np.testing.assert_array_equal(rec.steps, [1, 2, 3])


def test_import_npz_weights_matches_svd(tmp_path, rng):
    w = rng.standard_normal((2, 3, 5, 7))  # M < N: transposed on import
    np.savez(tmp_path / "w.npz", weights=w)
    rec = read(import_npz(tmp_path / "w.npz", tmp_path / "w.h5", provenance="svd"), weights=True)
    sv = np.linalg.svd(w, compute_uv=False)
    np.testing.assert_allclose(rec.eigenvalues, np.sort(sv**2, axis=-1), rtol=1e-10)
    assert rec.weights.shape == (2, 3, 7, 5)
    np.testing.assert_array_equal(rec.steps, [0, 1, 2])


def test_import_npz_errors(tmp_path, rng):
    np.savez(tmp_path / "both.npz", eigenvalues=np.ones((2, 3)), weights=np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="exactly one of"):
        import_npz(tmp_path / "both.npz", tmp_path / "o.h5")
    np.savez(tmp_path / "e.npz", eigenvalues=np.ones((2, 3)))
    with pytest.raises(ValueError, match="no array 'weights'"):
        import_npz(tmp_path / "e.npz", tmp_path / "o.h5", kind="weights")
    with pytest.raises(ValueError, match="kind must be"):
        import_npz(tmp_path / "e.npz", tmp_path / "o.h5", kind="other")
    with pytest.raises(FileNotFoundError):
        import_npz(tmp_path / "missing.npz", tmp_path / "o.h5")


@given(
    m=st.integers(1, 6),
    n=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_eigenvalues_of_are_squared_singular_values(m, n, seed):
    w = np.random.default_rng(seed).standard_normal((3, max(m, n), min(m, n)))
    ev = eigenvalues_of(w)
    assert np.all(np.diff(ev, axis=-1) >= 0)
    sv = np.sort(np.linalg.svd(w, compute_uv=False) ** 2, axis=-1)
    np.testing.assert_allclose(ev, sv, atol=1e-10 * max(1.0, float(sv.max())))

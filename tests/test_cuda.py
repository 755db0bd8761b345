"""The GPU backend: Philox/ziggurat streams, the RBM trainer and the DBM on device="cuda".

Three modes, chosen when this module is imported:

* ``"gpu"``: numba-cuda loads (``fpsolve.cuda.backend.load``) and finds a GPU: the
  kernels run on the GPU, and the GPU-only tests (1000-run statistical comparison with
  the CPU trainer) run too;
* ``"sim"``: numba-cuda without a driver, or ``NUMBA_ENABLE_CUDASIM=1``: the kernels run
  in Numba's CUDA simulator (Python threads) at tiny sizes;
* ``None``: numba-cuda is not installed or does not load: only the pure-numpy tests and
  the error messages run, and the skip reason says why.

Every kernel is checked against the plain-numpy reference of the same update with the
same random numbers.
"""

import ctypes.util
import importlib.metadata
import importlib.util
import os
import sys
import warnings

import numpy as np
import pytest


def _mode():
    """``(mode, reason)``: the package's own loader decides, with warnings recorded
    (pytest turns warnings into errors, and numba-cuda's import may warn)."""
    from fpsolve.cuda import backend

    if not backend.installed():
        return None, "numba-cuda is not installed"
    if (
        os.environ.get("NUMBA_ENABLE_CUDASIM") != "1"
        and "numba.cuda" not in sys.modules
        and ctypes.util.find_library("cuda") is None
        and not _driver_loads()
    ):
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # before numba.cuda is first imported
        from numba.core import config

        config.reload_config()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            backend.load()
        except backend.CUDAUnavailableError as exc:
            seen = "; ".join(f"{w.category.__name__}: {w.message}" for w in caught[:3])
            return None, f"numba-cuda does not load: {exc}" + (f" (warned: {seen})" if seen else "")
    return ("sim" if backend.simulator() else "gpu"), ""


def _driver_loads():
    """Whether the CUDA driver library loads (some images keep it out of the linker cache)."""
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


MODE, WHY = _mode()
kernels = pytest.mark.skipif(MODE is None, reason=WHY or "numba-cuda is not available")
# deprecations raised inside numba-cuda and the CUDA Python bindings while compiling are
# theirs to fix; every other warning stays an error
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:numba"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:cuda"),
]
gpu_only = pytest.mark.skipif(MODE != "gpu", reason="needs an NVIDIA GPU (numba-cuda, driver)")

cuda = None  # numba.cuda in the test kernel's globals (fpsolve.cuda.backend.rebind)

from fpsolve.cuda import philox as P  # noqa: E402
from validation.training import cuda as tcuda  # noqa: E402
from validation.training import rbm, trainer  # noqa: E402

KAT = [  # Random123 known-answer vectors of Philox4x32-10
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


def _words(u0, u1):
    u0, u1 = int(u0), int(u1)
    return (u0 & 0xFFFFFFFF, u0 >> 32, u1 & 0xFFFFFFFF, u1 >> 32)


# --------------------------------------------------------------------------- numpy only
@pytest.mark.parametrize(("ctr", "key", "expected"), KAT)
def test_philox_known_answers(ctr, key, expected):
    scalar = P.philox(*(np.uint64(c) for c in ctr), *(np.uint64(k) for k in key))
    assert _words(*scalar) == expected
    vec = P.philox_np(*ctr, *key)
    assert _words(vec[0][()], vec[1][()]) == expected


def test_normals_are_standard_normal():
    from scipy import stats

    n = 200_000
    z = P.normals_np(np.arange(n), 11, 3, 5, *P.key_from_seed(1))
    # moments with tolerances of 5 standard errors
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    tail = np.mean(np.abs(z) > P.TAIL_R)  # the rejection path's tail sampler
    expect = 2 * stats.norm.sf(P.TAIL_R)
    assert abs(tail - expect) < 5 * np.sqrt(expect / n)


def test_streams_differ_by_every_counter_word_and_key():
    key = P.key_from_seed(4)
    base = P.normals_np(np.arange(64), 1, 2, 3, *key)
    for args in [(1, 2, 4), (1, 3, 3), (2, 2, 3)]:
        assert not np.allclose(base, P.normals_np(np.arange(64), *args, *key))
    assert not np.allclose(base, P.normals_np(np.arange(64), 1, 2, 3, *P.key_from_seed(5)))
    assert P.key_from_seed(4) != P.key_from_seed(4, purpose=1)


def test_stream_layout_blocks_start_even():
    data, hid, vis = tcuda.stream_layout(5, 3, 2, True)
    assert data.tolist() == [0, 1, 2, 3, 4]
    assert hid[:, 0].tolist() == [6, 16]
    assert vis[:, 0].tolist() == [10, 20]
    assert len(set(np.concatenate([data, hid.ravel(), vis.ravel()]).tolist())) == 5 + 6 + 10


def test_device_argument_is_checked():
    with pytest.raises(ValueError, match="device must be one of"):
        rbm.train(1, n_steps=2, device="gpu", progress=False)
    from fpsolve.dbm import simulate
    from fpsolve.models import Modes

    with pytest.raises(ValueError, match="device must be one of"):
        simulate(Modes.harmonic([1.0]), 1.0, dt=0.1, n_steps=2, device="tpu")


def test_missing_numba_cuda_is_a_clear_error(monkeypatch):
    from fpsolve.cuda import backend

    monkeypatch.setattr(backend, "_STATE", {})
    monkeypatch.setattr(backend, "installed", lambda: False)
    with pytest.raises(backend.CUDAUnavailableError, match=r'pip install "fpsolve\[cuda\]"'):
        rbm.train(1, n_steps=2, device="cuda", progress=False, rng=1)


def test_compat_step_only_when_row_stack_is_missing(monkeypatch):
    from fpsolve.cuda import backend

    assert backend._compat_numpy() is False or hasattr(np, "row_stack")
    monkeypatch.delattr(np, "row_stack", raising=False)
    assert backend._compat_numpy() is True
    assert np.row_stack is np.vstack  # noqa: NPY201


def test_installed_by_distribution_or_module(monkeypatch):
    from fpsolve.cuda import backend

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert not backend.installed()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    assert backend.installed()


def test_detection_survives_warnings_and_says_why_it_failed(monkeypatch):
    """Warnings while numba-cuda loads (errors under pytest) do not hide a working install."""
    from fpsolve.cuda import backend

    def load_with_warning(**kwargs):
        warnings.warn("something inside numba-cuda is deprecated", DeprecationWarning, stacklevel=2)

    def fail(**kwargs):
        warnings.warn("driver too old", UserWarning, stacklevel=2)
        raise backend.CUDAUnavailableError("no CUDA GPU is available")

    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")  # no driver probe
    monkeypatch.setattr(backend, "installed", lambda: True)
    monkeypatch.setattr(backend, "simulator", lambda: False)
    monkeypatch.setattr(backend, "load", load_with_warning)
    assert _mode() == ("gpu", "")
    monkeypatch.setattr(backend, "load", fail)
    mode, why = _mode()
    assert mode is None
    assert "no CUDA GPU" in why
    assert "driver too old" in why
    monkeypatch.setattr(backend, "installed", lambda: False)
    assert _mode() == (None, "numba-cuda is not installed")


def test_generated_module_is_written_once_and_named_by_its_text(tmp_path, monkeypatch):
    from fpsolve.cuda import backend

    monkeypatch.setenv("FPSOLVE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(backend, "_MODULES", {})
    mod = backend.generated_module("demo", "VALUE = 3\n")
    path = tmp_path / "cuda" / (mod.__name__ + ".py")
    assert mod.VALUE == 3
    assert path.is_file()
    stamp = path.stat().st_mtime_ns
    assert backend.generated_module("demo", "VALUE = 3\n") is mod
    monkeypatch.setattr(backend, "_MODULES", {})  # as in a new process
    again = backend.generated_module("demo", "VALUE = 3\n")
    assert again.__name__ == mod.__name__
    assert path.stat().st_mtime_ns == stamp
    other = backend.generated_module("demo", "VALUE = 4\n")
    assert other.__name__ != mod.__name__
    assert other.VALUE == 4


@pytest.mark.slow
def test_generated_module_keeps_numba_cache_across_processes(tmp_path):
    """The mechanics the GPU kernels rely on, with Numba's CPU target: a ``cache=True``
    function of a generated module compiles in the first process and loads from the
    on-disk cache in the second."""
    import subprocess

    script = (
        "from fpsolve.cuda import backend\n"
        "src = 'import numba\\n\\n@numba.njit(cache=True)\\ndef f(x):\\n    return 2 * x\\n'\n"
        "mod = backend.generated_module('cachecheck', src)\n"
        "assert mod.f(3) == 6\n"
        "print(sum(mod.f.stats.cache_hits.values()), sum(mod.f.stats.cache_misses.values()))\n"
    )
    env = {**os.environ, "FPSOLVE_CACHE_DIR": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert runs[0].stdout.split() == ["0", "1"]  # compiled
    assert runs[1].stdout.split() == ["1", "0"]  # loaded from the cache
    assert list((tmp_path / "cuda" / "__pycache__").glob("*.nbi"))


def test_one_kernel_serves_every_paper_batch_size():
    shapes = {tcuda._shape(10, 10, b, False) for b in (4, 8, 16, 32, 64)}
    assert len(shapes) == 1
    (shape,) = shapes
    for b, runs in [(4, 16), (16, 8), (64, 2)]:  # |B| = 4: 32 runs would need 88 KiB
        rpb, tpb, shared = tcuda._launch(shape, b, 128)
        assert (rpb, tpb) == (runs, runs * b)
        assert shared + shape.static_shared_bytes() <= 48 * 1024
    assert tcuda._shape(10, 10, 200, False).max_threads == 256
    with pytest.raises(ValueError, match="batch_size <= 1024"):
        tcuda._shape(10, 10, 2000, False)
    with pytest.raises(ValueError, match="shared memory"):
        tcuda._shape(200, 100, 16, False)


@pytest.mark.parametrize("data", [False, True])
def test_kernel_source_is_python(data):
    import ast

    shape = tcuda._Shape(3, 2, data)
    tree = ast.parse(tcuda._kernel_source(shape))
    names = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert names == {"train", "eig"}


# --------------------------------------------------------------------------- kernels
def _normals_kernel():
    from fpsolve.cuda import backend
    from fpsolve.cuda._device import device_functions

    fill = device_functions().fill_normals
    backend.load()

    def kernel(cnt, c1, key, zk, zw, zf, out):
        t = cuda.grid(1)
        if t < out.shape[0]:
            buf = cuda.local.array(80, np.float64)
            fill(buf, cnt, 0, np.uint64(c1), np.uint64(t), np.uint64(7), key[0], key[1], zk, zw,
                 zf)  # fmt: skip
            for i in range(cnt):
                out[t, i] = buf[i]

    return backend.jit(backend.rebind(kernel))  # ``cuda`` becomes a global of the kernel


@kernels
def test_fill_normals_matches_numpy_reference_including_rejections():
    from fpsolve.cuda import backend

    key = P.key_from_seed(9)
    n_threads, cnt = 6, 80
    dev = backend.load().to_device  # device arrays: no implicit-copy warnings on a GPU
    d_out = dev(np.zeros((n_threads, cnt)))
    tables = [dev(a) for a in (np.array(key, np.uint64), P.ZIG_K, P.ZIG_W, P.ZIG_F)]
    _normals_kernel()[1, n_threads](cnt, 3, *tables, d_out)
    out = d_out.copy_to_host()
    ref = P.normals_np(np.arange(cnt)[None, :], 3, np.arange(n_threads)[:, None], 7, *key)
    u0, u1 = P.philox_np(np.arange(cnt // 2)[None, :], 3, np.arange(n_threads)[:, None], 7, *key)
    words = np.stack([u0, u1], axis=-1).reshape(n_threads, cnt)
    rabs = ((words >> np.uint64(9)) & np.uint64(0xFFFFFFFFFFFFF)).astype(np.int64)
    rejected = rabs >= P.ZIG_K[(words & np.uint64(0xFF)).astype(np.int64)]
    assert rejected.sum() >= 2  # the slow path was exercised
    np.testing.assert_array_equal(out, ref)


def _reference_run(cfg, snaps, w, phi):
    c_target, chol = tcuda._target(cfg)
    st = cfg.setting
    out_w = [w]
    prev = int(snaps[0])
    for step in snaps[1:]:
        w, phi = tcuda.reference_updates(
            w, phi, t0=prev, n_updates=int(step) - prev, alpha=st.alpha,
            batch_size=st.batch_size, k=st.k, mu2=st.mu2, sigma_h=st.sigma_h,
            c_target=c_target, chol=chol, data_mode=st.target == "samples",
            key=P.key_from_seed(cfg.seed), run_ids=cfg.first_run + np.arange(cfg.n_runs),
        )  # fmt: skip
        out_w.append(w)
        prev = int(step)
    return np.stack(out_w, axis=1), phi


@kernels
@pytest.mark.parametrize(
    ("n_v", "n_h", "batch_size", "k", "target"),
    # one compiled kernel per (n_v, n_h, target): |B| and k are run-time arguments
    [
        (3, 2, 4, 1, "exact"),
        (3, 2, 3, 2, "exact"),
        (3, 2, 2, 2, "samples"),
        (3, 2, 5, 1, "samples"),
    ],
)
def test_rbm_kernel_matches_numpy_reference(n_v, n_h, batch_size, k, target):
    cfg = trainer._Config.build(
        n_runs=3, n_steps=4, alpha=0.05, batch_size=batch_size, k=k, n_v=n_v, n_h=n_h, m2=4.0,
        mu2=9.0, sigma_h=1.0, w_sigma=0.3, target=target, rng=7, first_run=5,
    )  # fmt: skip
    snaps = np.array([0, 2, 3, 4])
    job = tcuda._make_job(cfg, snaps, {}, record_weights=True, record_modes=False, path=None,
                             overwrite=False)  # fmt: skip
    w_ref, phi_ref = _reference_run(cfg, snaps, job.w.copy(), job.phi.copy())
    tcuda.run_group([job], progress=False)
    np.testing.assert_allclose(job.w_all, w_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(job.phi, phi_ref, rtol=0, atol=1e-12)
    eig = np.linalg.eigvalsh(np.swapaxes(w_ref, -1, -2) @ w_ref)
    np.testing.assert_allclose(job.eig_all, eig, rtol=0, atol=1e-12)


@kernels
def test_rbm_results_do_not_depend_on_launch_shape_or_grouping():
    def make(n_runs, first_run, seed=3, alpha=0.05):
        cfg = trainer._Config.build(
            n_runs=n_runs, n_steps=3, alpha=alpha, batch_size=2, k=1, n_v=3, n_h=2, m2=4.0,
            mu2=9.0, sigma_h=1.0, w_sigma=0.3, target="exact", rng=seed, first_run=first_run,
        )  # fmt: skip
        return tcuda._make_job(cfg, np.array([0, 1, 3]), {}, record_weights=True,
                                  record_modes=False, path=None, overwrite=False)  # fmt: skip

    whole = make(4, 0)
    tcuda.run_group([whole], progress=False, threads_per_block=2)
    parts = [make(2, 0), make(2, 2), make(3, 0, seed=4, alpha=0.02)]
    tcuda.run_group(parts, progress=False, threads_per_block=6)  # runs of 2 settings together
    np.testing.assert_array_equal(np.concatenate([parts[0].w_all, parts[1].w_all]), whole.w_all)
    alone = make(3, 0, seed=4, alpha=0.02)
    tcuda.run_group([alone], progress=False)
    np.testing.assert_array_equal(alone.w_all, parts[2].w_all)


_SMALL = {"n_v": 3, "n_h": 2, "batch_size": 2, "k": 1, "w_sigma": 0.3, "progress": False}


@kernels
def test_gpu_recording_has_the_cpu_schema_and_step_zero(tmp_path):
    import h5py

    gpu = rbm.train(2, n_steps=4, record_every=2, rng=5, path=tmp_path / "g.h5", device="cuda",
                    record_modes=True, record_weights=True, **_SMALL)  # fmt: skip
    cpu = rbm.train(2, n_steps=4, record_every=2, rng=5, path=tmp_path / "c.h5",
                    record_modes=True, record_weights=True, **_SMALL)  # fmt: skip
    with h5py.File(tmp_path / "g.h5") as fg, h5py.File(tmp_path / "c.h5") as fc:
        assert set(fg.keys()) == set(fc.keys())
        assert set(fc.attrs) | {"generator", "device"} == set(fg.attrs)
        assert fg.attrs["generator"] == "philox4x32-10-ziggurat"
        for name in fc["state/slot0"]:
            assert fg["state/slot0"][name].shape == fc["state/slot0"][name].shape
    np.testing.assert_array_equal(gpu.eigenvalues[:, 0], cpu.eigenvalues[:, 0])
    np.testing.assert_array_equal(gpu.weights[:, 0], cpu.weights[:, 0])
    assert gpu.steps.tolist() == [0, 2, 4]
    assert gpu.complete
    np.testing.assert_allclose(gpu.learned_modes, 9.0 - gpu.eigenvalues)


@kernels
def test_gpu_resume_equals_uninterrupted_training(tmp_path, monkeypatch):
    monkeypatch.setattr(tcuda, "_WORK_PER_CHUNK", 1)  # one snapshot per launch
    kw = {"n_steps": 6, "record_steps": [0, 2, 4, 6], "rng": 8, "device": "cuda", **_SMALL}
    full = rbm.train(2, path=tmp_path / "full.h5", **kw)
    part = rbm.train(2, path=tmp_path / "part.h5", _max_chunks=1, **kw)
    assert not part.complete
    with pytest.raises(ValueError, match="random streams"):
        rbm.resume(tmp_path / "part.h5", device="cpu", progress=False)
    done = rbm.resume(tmp_path / "part.h5", progress=False)
    assert done.complete
    np.testing.assert_array_equal(done.eigenvalues, full.eigenvalues)


@kernels
@pytest.mark.slow  # seven trainings (seconds under the simulator)
def test_gpu_first_run_splits_and_sweep_groups(tmp_path):
    kw = {"n_steps": 3, "record_every": 3, "rng": 2, "device": "cuda", **_SMALL}
    whole = rbm.train(4, **kw)
    a = rbm.train(2, **kw)
    b = rbm.train(2, first_run=2, **kw)
    np.testing.assert_array_equal(whole.eigenvalues, np.concatenate([a.eigenvalues, b.eigenvalues]))
    settings = [{"alpha": 0.05}, {"alpha": 0.02}, {"alpha": 0.05, "batch_size": 3}]
    small = {key: v for key, v in _SMALL.items() if key not in ("progress", "batch_size")}
    res = rbm.sweep(settings, directory=tmp_path, rng=1, device="cuda", progress=False,
                    n_runs=2, n_steps=3, record_every=3, **small)  # fmt: skip
    for s, path in zip(res.settings, res.paths, strict=True):
        alone = rbm.train(**{**s, "progress": False, "device": "cuda"})
        np.testing.assert_array_equal(trainer._rec.read(path).eigenvalues, alone.eigenvalues)


@kernels
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # simulator: numpy
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_gpu_divergence_raises_naming_alpha():
    with pytest.raises(FloatingPointError, match=r"alpha=50\.0 is too large for batch_size=2"):
        rbm.train(1, n_steps=30, alpha=50.0, rng=1, device="cuda", **_SMALL)


@kernels
@pytest.mark.slow  # compiles the DBM kernel (seconds under the simulator)
def test_dbm_on_gpu_matches_numpy_reference():
    from fpsolve.cuda import _dbm
    from fpsolve.dbm import Record, simulate
    from fpsolve.models import Modes

    modes = Modes.harmonic([1.0, 1.0, 2.0])
    g2 = np.array([0.5, 0.5, 0.3])
    dt, n_rep = 0.05, 5
    record = Record(snapshots=(0, 3, 6), burn_in=2, bins=10)
    res = simulate(modes, g2, dt=dt, n_steps=6, n_replicas=n_rep, scheme="em", rng=3,
                   record=record, device="cuda")  # fmt: skip
    key = _dbm.philox_key(3)
    x = res.snapshots[0].copy()
    om = np.array([m.omega for m in modes])
    centre = np.array([m.center for m in modes])
    mom = np.zeros((3, 4))
    for step in range(1, 7):
        eta = P.normals_np(np.arange(3)[None, :], step, np.arange(n_rep)[:, None], 0, *key)
        d = x[:, :, None] - x[:, None, :]
        inv = np.divide(1.0, d, out=np.zeros_like(d), where=~np.eye(3, dtype=bool)[None])
        x = x - dt * om * (x - centre) + dt * g2 * inv.sum(axis=2) + np.sqrt(2 * dt * g2) * eta
        if step >= 3:
            u = x - res.reference
            mom += np.stack([(u**p).sum(axis=0) for p in (1, 2, 3, 4)], axis=1)
    np.testing.assert_allclose(res.x, x, rtol=0, atol=1e-12)
    assert res.snapshots.shape == (3, n_rep, 3)
    np.testing.assert_allclose(res.power_sums, mom, rtol=1e-12, atol=1e-12)
    assert res.n_recorded == 4
    assert res.params["device"] == "cuda"
    hist = res.histograms
    total = hist.counts.sum() + hist.underflow.sum() + hist.overflow.sum()
    assert total == 4 * n_rep * 3
    assert hist.spacing_counts.sum() + hist.spacing_overflow.sum() == 4 * n_rep


@kernels
def test_dbm_gpu_refuses_what_it_does_not_support():
    import numba

    from fpsolve.dbm import simulate
    from fpsolve.models import Modes

    modes = Modes.harmonic([1.0, 2.0])
    with pytest.raises(ValueError, match="scheme='em' only"):
        simulate(modes, 1.0, dt=0.1, n_steps=2, device="cuda")
    noise = numba.njit(lambda x: 1.0)
    with pytest.raises(ValueError, match="noise callables"):
        simulate(modes, 1.0, dt=0.1, n_steps=2, scheme="em", noise=noise, device="cuda")


# --------------------------------------------------------------------------- GPU only
@gpu_only
@pytest.mark.slow
def test_gpu_and_cpu_trainers_agree_statistically():
    """1000 runs of a cheap setting: mean and std of every eigenvalue and <S> of every
    degenerate pair at an early and at the last snapshot agree within 4.5 sigma."""
    kw = {"n_steps": 3000, "record_steps": [0, 300, 3000], "progress": False}
    gpu = rbm.train(1000, device="cuda", rng=12, **kw)  # independent of the CPU runs
    cpu = rbm.train(1000, rng=13, **kw)
    rows = tcuda.compare_statistics(gpu, cpu, snapshots=[1, 2])
    worst = max(rows, key=lambda r: abs(r["z"]))
    assert abs(worst["z"]) < 4.5, worst

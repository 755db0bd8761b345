"""Recordings under faults: kills at any point, a second writer, a full disk; the integrators
and solvers over extreme but valid parameters (finite results or a clear refusal)."""

import contextlib
import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fpsolve.cli import main
from validation.data import recording as rec_mod
from validation.data.recording import LockedError, read, write
from validation.training import trainer
from validation.training.rbm import resume, train

SETTING = {"n_runs": 2, "n_steps": 400, "record_every": 20, "rng": 7, "n_threads": 1}
"""A small training whose file is written in chunks of 60 steps (with ``small_chunks``)."""


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(trainer, "_CHUNK_STEPS", 60)


def h5_contents(path):
    """Every dataset (as bytes, with dtype and shape) and every attribute but 'created'."""
    out = {}
    with h5py.File(path, "r") as f:
        out["attrs"] = {k: np.asarray(v).tobytes() for k, v in f.attrs.items() if k != "created"}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data = obj[...]
                out[name] = (data.dtype.str, data.shape, data.tobytes())

        f.visititems(visit)
    return out


def leftovers(directory, keep=()):
    """Files in ``directory`` other than ``keep`` (partial files, lock files)."""
    return sorted(set(os.listdir(directory)) - set(keep))


def fork(child):
    """Run ``child()`` in a forked process; returns the pid.  The child never returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


class Events:
    """Counts the writer's I/O events (dataset writes, flushes, renames); optionally kills the
    process with SIGKILL at event number ``kill_at``."""

    def __init__(self, kill_at=None):
        self.kill_at = kill_at
        self.labels = []

    def tick(self, label):
        self.labels.append(label)
        if len(self.labels) == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def install(self, patch):
        setitem, flush, replace = h5py.Dataset.__setitem__, h5py.File.flush, os.replace

        def ds_setitem(ds, key, value):
            self.tick(f"set {ds.name}")
            setitem(ds, key, value)
            self.tick(f"set {ds.name} done")

        def file_flush(f):
            self.tick("flush")
            flush(f)

        def os_replace(a, b):
            self.tick("rename")
            replace(a, b)

        patch(h5py.Dataset, "__setitem__", ds_setitem)
        patch(h5py.File, "flush", file_flush)
        patch(os, "replace", os_replace)


def reference_events(path, monkeypatch):
    """Train ``SETTING`` into ``path``; returns the labels of its I/O events."""
    with monkeypatch.context() as m:
        events = Events()
        events.install(m.setattr)
        train(**SETTING, path=path, progress=False)
    return events.labels


def kill_and_resume(directory, labels, points, expected):
    """For each event number ``k`` in ``points``: train in a child killed (SIGKILL) at event
    ``k``, resume (or rerun, when the kill came before the file was published), compare."""
    for k in points:
        path = directory / f"run{k}.h5"

        def child(path=path, k=k):
            Events(kill_at=k).install(setattr)
            train(**SETTING, path=path, progress=False)

        _, status = os.waitpid(fork(child), 0)
        assert os.WIFSIGNALED(status), (k, labels[k - 1], status)
        assert os.WTERMSIG(status) == signal.SIGKILL
        if path.exists():
            done = resume(path, progress=False)
        else:  # killed while the file was created: nothing published, a rerun starts afresh
            assert labels.index("rename") >= k - 1, (k, labels[k - 1])
            done = train(**SETTING, path=path, progress=False)
        assert done.complete
        assert h5_contents(path) == expected, (k, labels[k - 1])
        assert leftovers(directory, keep=[p.name for p in directory.glob("*.h5")]) == []


def test_kill_in_the_first_chunk_and_at_random_writes_resumes_bit_identical(
    tmp_path, small_chunks, monkeypatch
):
    labels = reference_events(tmp_path / "ref.h5", monkeypatch)
    published = labels.index("rename") + 1
    first_progress = labels.index("set /progress done") + 1
    later = np.random.default_rng(20240716).choice(
        np.arange(first_progress + 1, len(labels) + 1), size=2, replace=False
    )
    # before the file is published; every write of the first chunk, before and after the
    # first snapshot is flushed; two later writes (fixed seed)
    points = [published - 1, *range(published + 1, first_progress + 2), *sorted(later)]
    kill_and_resume(tmp_path, labels, [int(k) for k in points], h5_contents(tmp_path / "ref.h5"))


def test_keyboard_interrupt_before_the_first_snapshot_resumes_bit_identical(
    tmp_path, small_chunks, monkeypatch
):
    ref, path = tmp_path / "ref.h5", tmp_path / "run.h5"
    train(**SETTING, path=ref, progress=False)

    def interrupt(self, *args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(rec_mod._Writer, "write_snapshots", interrupt)
        with pytest.raises(KeyboardInterrupt):
            train(**SETTING, path=path, progress=False)
    assert len(read(path).steps) == 0  # the file exists, no snapshot written
    assert resume(path, progress=False).complete
    assert h5_contents(path) == h5_contents(ref)
    assert leftovers(tmp_path, keep=["ref.h5", "run.h5"]) == []


@pytest.mark.slow
def test_kill_at_every_write_resumes_bit_identical(tmp_path, small_chunks, monkeypatch):
    labels = reference_events(tmp_path / "ref.h5", monkeypatch)
    points = range(1, len(labels) + 1)
    kill_and_resume(tmp_path, labels, points, h5_contents(tmp_path / "ref.h5"))


@pytest.mark.slow
def test_cli_kill_at_random_times_resumes_bit_identical(tmp_path):
    """``fpsolve train`` killed (SIGKILL) at random times, including as soon as its file
    appears, then ``--resume``d: the file equals an uninterrupted run's."""
    args = ["--runs", "4", "--steps", "20000", "--record-every", "100", "--seed", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def cli(*argv, **kw):
        return subprocess.Popen(
            [sys.executable, "-m", "fpsolve", "train", *argv, *args, "--no-progress"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw,
        )  # fmt: skip

    ref = tmp_path / "ref.h5"
    assert cli(str(ref)).wait() == 0
    expected = h5_contents(ref)
    delays = [0.0, *np.random.default_rng(1).uniform(0.0, 3.0, size=4)]
    for i, delay in enumerate(delays):
        path = tmp_path / f"run{i}.h5"
        proc = cli(str(path))
        deadline = time.monotonic() + 120
        while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if path.exists():
            resumed = subprocess.run(
                [sys.executable, "-m", "fpsolve", "train", str(path), "--resume", "--no-progress"],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert resumed.returncode == 0, resumed.stderr
        else:
            assert cli(str(path)).wait() == 0
        assert h5_contents(path) == expected, delay


def test_second_writer_is_refused_and_the_first_is_untouched(tmp_path, capsys):
    path = tmp_path / "run.h5"
    kw = {"n_runs": 2, "n_steps": 6000, "record_every": 500, "rng": 3, "n_threads": 1}
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()

    def child():
        def pause(step):
            if step <= 5000:  # after the first chunk: wait for the parent
                os.write(ready_w, b"1")
                os.read(go_r, 1)

        train(**kw, path=path, progress=False, callback=pause)

    pid = fork(child)
    try:
        assert os.read(ready_r, 1) == b"1"
        before = path.read_bytes()
        with pytest.raises(LockedError, match="being written by another process"):
            train(**kw, path=path, overwrite=True, progress=False)
        with pytest.raises(LockedError):
            resume(path, progress=False)
        with pytest.raises(LockedError):
            write(path, np.ones((1, 1, 1)), [0], overwrite=True)
        argv = ["train", str(path), "--overwrite", "--runs", "2", "--steps", "10", "--seed", "3"]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert "being written by another process" in err[0]
        assert path.read_bytes() == before
    finally:
        os.write(go_w, b"1")
        _, status = os.waitpid(pid, 0)
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0
    done = read(path)
    assert done.complete
    np.testing.assert_array_equal(done.eigenvalues, train(**kw, progress=False).eigenvalues)
    assert leftovers(tmp_path, keep=["run.h5"]) == []


def test_lock_of_a_killed_writer_does_not_block(tmp_path):
    path = tmp_path / "run.h5"
    pid = fork(lambda: (rec_mod._Lock(path).acquire(path), os.kill(os.getpid(), signal.SIGKILL)))
    os.waitpid(pid, 0)
    assert (tmp_path / "run.h5.lock").exists()
    write(path, np.ones((1, 2, 1)), [0, 1])
    assert read(path).complete
    assert leftovers(tmp_path, keep=["run.h5"]) == []


# --------------------------------------------------------------------------- a full disk
DISK = 256 * 1024


class _SmallFile(io.FileIO):
    """A file that cannot grow beyond ``DISK`` bytes (ENOSPC), for an emulated small disk."""

    def write(self, b):
        if self.tell() + len(b) > DISK:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(b)


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A directory on a 256 KiB disk: a tmpfs where mounting is allowed, otherwise a
    directory whose HDF5 files cannot grow beyond 256 KiB (h5py on a size-limited file
    object) and whose free space reads as 256 KiB."""
    directory = tmp_path / "disk"
    directory.mkdir()
    mounted = (
        shutil.which("mount") is not None
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(directory)],
            capture_output=True, check=False,
        ).returncode == 0
    )  # fmt: skip
    opened = []
    if not mounted:
        real_file, real_usage = h5py.File, shutil.disk_usage

        def small_file(name, mode="r", *args, **kw):
            if isinstance(name, str | os.PathLike) and os.fspath(name).startswith(
                os.fspath(directory)
            ):
                raw = _SmallFile(name, {"w": "w+", "r+": "r+", "r": "r"}[mode] + "b")
                opened.append(raw)  # h5py does not close a file object it was given
                return real_file(raw, mode, *args, **kw)
            return real_file(name, mode, *args, **kw)

        def small_usage(path):
            if os.fspath(path).startswith(os.fspath(directory)):
                return real_usage(path)._replace(free=DISK)
            return real_usage(path)

        monkeypatch.setattr(h5py, "File", small_file)
        monkeypatch.setattr(shutil, "disk_usage", small_usage)
    yield directory
    for raw in opened:
        raw.close()
    if mounted:
        subprocess.run(["umount", str(directory)], check=True)


def test_recording_larger_than_the_disk_is_refused_up_front(small_disk):
    path = small_disk / "run.h5"
    with pytest.raises(OSError, match="No space left on device") as exc:
        train(4, n_steps=2000, record_every=1, rng=1, path=path, progress=False)
    assert exc.value.errno == errno.ENOSPC
    assert leftovers(small_disk) == []


def test_disk_full_while_writing_leaves_the_previous_file_or_none(small_disk, monkeypatch):
    path = small_disk / "run.h5"
    small = np.sort(np.random.default_rng(0).uniform(1, 2, (1, 4, 3)), axis=-1)
    write(path, small, np.arange(4))
    before = path.read_bytes()
    usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(p)._replace(free=2**40))
    big = np.sort(np.random.default_rng(1).uniform(1, 2, (4, 2000, 10)), axis=-1)
    with pytest.raises(OSError, match="No space left on device") as exc:
        write(path, big, np.arange(2000), overwrite=True)
    assert exc.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert leftovers(small_disk, keep=["run.h5"]) == []
    with pytest.raises(OSError, match="No space left on device"):
        write(small_disk / "new.h5", big, np.arange(2000))
    assert leftovers(small_disk, keep=["run.h5"]) == []
    assert read(path).complete


def test_cli_on_a_full_disk_is_one_line_and_writes_nothing(small_disk, capsys):
    argv = ["train", str(small_disk / "run.h5"), "--runs", "4", "--steps", "2000",
            "--record-every", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "no space left on device" in err[0]
    assert leftovers(small_disk) == []


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "run.h5"
    eig = np.ones((1, 2, 1))
    with pytest.raises(TypeError, match="attrs"):
        write(path, eig, [0, 1], attrs={"bad": {"nested": 1}})
    with pytest.raises(ValueError, match="weights holds NaN"):
        write(path, eig, [0, 1], weights=np.full((1, 2, 2, 1), np.nan))
    with pytest.raises(ValueError, match="no empty axis"):
        write(path, np.ones((1, 0, 1)), [])
    assert leftovers(tmp_path) == []


def test_diverged_training_leaves_no_file(tmp_path):
    path = tmp_path / "run.h5"
    with pytest.raises(FloatingPointError, match="was removed"):
        train(2, n_steps=200, alpha=100.0, rng=1, path=path, progress=False)
    assert leftovers(tmp_path) == []
    train(2, n_steps=20, rng=1, path=path, progress=False)  # the rerun is not blocked


def test_resume_refuses_contradicting_arguments_and_leaves_the_file(tmp_path):
    path = tmp_path / "run.h5"
    train(2, n_steps=40, record_every=10, rng=5, path=path, progress=False, _max_chunks=1)
    before = path.read_bytes()
    for key, value in (("alpha", 0.2), ("n_steps", 50), ("rng", 6), ("record_every", 20),
                       ("record_weights", True), ("batch_size", 8)):  # fmt: skip
        with pytest.raises(ValueError, match=f"resume: {key}="):
            resume(path, progress=False, expect={key: value})
    with pytest.raises(TypeError, match="unknown"):
        resume(path, progress=False, expect={"path": "x"})
    assert path.read_bytes() == before
    same = {"alpha": 0.1, "n_steps": 40, "rng": 5, "record_every": 10, "batch_size": 16}
    assert resume(path, progress=False, expect=same).complete


def test_impossible_training_is_refused_before_anything_is_allocated(tmp_path):
    with pytest.raises(ValueError, match="n_runs=10000000 needs about"):
        train(10_000_000, n_steps=10, progress=False)
    with pytest.raises(ValueError, match="batch_size=10000000000 needs about"):
        train(1, n_steps=10, batch_size=10**10, progress=False)
    with pytest.raises(ValueError, match="force=True"):
        train(100, n_steps=10**9, path=tmp_path / "x.h5", progress=False)
    assert leftovers(tmp_path) == []


def test_sweep_checks_every_setting_before_writing(tmp_path):
    from validation.training.rbm import sweep

    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"settings\[1\].*batch_size"):
        sweep([{"batch_size": 4}, {"batch_size": 0}], directory=out, n_steps=10, n_runs=1)
    for name in ("../escape", "/abs", "a/b", ".hidden", "", "..", "x\\y"):
        with pytest.raises(ValueError, match="plain file name"):
            sweep([{"name": name}], directory=out, n_steps=10, n_runs=1)
    with pytest.raises(TypeError, match=r"settings\[0\]"):
        sweep([{"learning_rate": 0.1}], directory=out, n_steps=10, n_runs=1)
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["out"] or not out.exists()


# --------------------------------------------------------------------------- extreme parameters
@given(
    omega=st.floats(1e-3, 1e3),
    g2=st.floats(1e-8, 1e2),
    dt=st.floats(1e-6, 1.0),
    scheme=st.sampled_from(["safe", "em"]),
)
def test_dbm_extreme_parameters_give_finite_results_or_refuse(omega, g2, dt, scheme):
    from fpsolve import dbm
    from fpsolve.models import Modes

    modes = Modes.harmonic([omega, omega, 2 * omega], 1.0)
    try:
        res = dbm.simulate(modes, g2, dt=dt, n_steps=50, n_replicas=8, scheme=scheme, rng=1,
                           progress=False)  # fmt: skip
    except (ValueError, FloatingPointError) as exc:  # a refusal names its reason
        assert str(exc)  # noqa: PT017
        return
    assert np.all(np.isfinite(res.x))
    assert np.all(np.isfinite(res.mean))
    assert np.all(np.isfinite(res.var))


@given(g2=st.floats(1e-4, 1e2), omega=st.floats(1e-2, 1e2), t=st.floats(0.0, 1e3))
def test_fokker_planck_extreme_parameters_conserve_mass_or_refuse(g2, omega, t):
    from fpsolve.fokker_planck import evolve
    from fpsolve.models import HarmonicModel

    model = HarmonicModel(omega, center=1.0)
    try:
        ev = evolve(model, g2, lambda x: np.exp(-0.5 * ((x - 1.0) / 0.3) ** 2), [0.0, t], n=200)
    except (ValueError, FloatingPointError) as exc:  # a refusal names its reason
        assert str(exc)  # noqa: PT017
        return
    assert np.all(np.isfinite(ev.mean))
    assert np.all(np.isfinite(ev.var))
    np.testing.assert_allclose(ev.mass, 1.0, atol=1e-6)


@given(g2=st.floats(1e-4, 1e2), kappa=st.floats(0.5, 8.0))
def test_hfp_extreme_parameters_give_ordered_levels_or_refuse(g2, kappa):
    from fpsolve.hfp import hfp_spectrum
    from fpsolve.models import RBMModel

    try:
        spec = hfp_spectrum(RBMModel(kappa, 9.0, 1.0), g2, 3, n_grid=400)
    except (ValueError, FloatingPointError) as exc:  # a refusal names its reason
        assert str(exc)  # noqa: PT017
        return
    e = np.asarray(spec.energies)
    assert np.all(np.isfinite(e))
    assert np.all(np.diff(e) >= 0)


def test_debug_shows_the_traceback(capsys):
    argv = ["stationary", "harmonic", "--g2", "-1"]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        "fpsolve stationary: error: g2 must be > 0, got -1.0"
    ]
    with pytest.raises(ValueError, match="g2 must be > 0"):
        main([*argv, "--debug"])
    with pytest.raises(ValueError, match="g2 must be > 0"):
        main(["--debug", *argv])


def test_missing_optional_package_names_the_install_command(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    argv = ["sweep", str(tmp_path / "out"), "--steps", "10", "--dask", "tcp://127.0.0.1:1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "fpsolve sweep: error: this needs the optional package 'distributed': "
        "pip install 'fpsolve[dask]'"
    ]


def test_unexpected_exception_is_one_line_with_its_own_status(monkeypatch, capsys):
    import fpsolve.commands.stationary as cmd

    def boom(args):
        raise KeyError("bug")

    monkeypatch.setattr(cmd, "run", boom)
    with contextlib.suppress(SystemExit):
        code = main(["stationary", "harmonic", "--g2", "1"])
    assert code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "internal error" in err[0]
    assert "--debug" in err[0]

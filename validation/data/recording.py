r"""Recordings of eigenvalue dynamics: the HDF5 format, its reader and importers.

A recording holds, for ``R`` independent training runs, the eigenvalues
:math:`x_1 \le \dots \le x_N` of :math:`X = W^T W` (``W`` is ``M x N``, ``N <= M``)
at ``S`` snapshot steps:

``eigenvalues[run, snapshot, mode]``
    float64, ascending along ``mode``;
``steps[snapshot]``
    int64, strictly increasing update counts (step 0 is the initial ``W``);
``weights[run, snapshot, M, N]`` (optional)
    the matrices themselves;
``learned_modes[run, snapshot, mode]`` (optional)
    for the Gaussian RBM, :math:`\lambda_a = \mu^2 - \sigma_h^2 x_a` (same mode order).

File attributes name the format, its version, the model kind, every
hyperparameter, the seed, the package version, the creation time and a
free-form provenance string.  The full schema is in the documentation page
"Recording format".

Writers allocate every dataset at creation (contiguous storage, early
allocation, NaN fill) and afterwards only overwrite raw data: a writer killed
at any moment leaves a file whose metadata is intact.  The number of completed
snapshots is kept in the dataset ``progress``, written (and flushed) after the
snapshots it counts; :func:`read` returns exactly the completed snapshots.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import numbers
import os
import shutil
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import h5py
import numpy as np
from numpy.typing import ArrayLike

import fpsolve
from fpsolve.models import Modes
from validation._typing import PathLike
from validation.data.setting import RBMSetting, label_groups

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "RBM_ATTRS",
    "LockedError",
    "Recording",
    "SchemaError",
    "eigenvalues_of",
    "import_npz",
    "read",
    "write",
]

FORMAT = "fpsolve-recording"
"""Value of the root attribute ``format`` of every recording."""

FORMAT_VERSION = 1
"""Version of the schema written by this module (root attribute ``format_version``)."""

REQUIRED_ATTRS = ("format", "format_version", "model", "fpsolve_version", "created", "provenance")

RBM_ATTRS = (
    "n_v",
    "n_h",
    "mu2",
    "sigma_h",
    "m2",
    "k",
    "alpha",
    "batch_size",
    "w_sigma",
    "kappa",
    "seed",
    "target",
    "n_runs",
    "n_steps",
    "first_run",
)
"""Root attributes every ``model = "gaussian_rbm"`` recording must hold."""


class SchemaError(ValueError):
    """A file does not follow the recording schema; the message names the field."""


@dataclass(frozen=True, eq=False)
class Recording:
    r"""Eigenvalue dynamics of ``R`` runs at ``S`` snapshots.

    Attributes
    ----------
    eigenvalues : ndarray, shape (R, S, N)
        Eigenvalues of :math:`X = W^T W`, ascending along the last axis.
    steps : ndarray of int64, shape (S,)
        Update count of each snapshot.
    attrs : dict
        File attributes (model kind, hyperparameters, seed, versions, provenance).
    weights : ndarray, shape (R, S, M, N), or None
        The weight matrices, when recorded and requested.
    learned_modes : ndarray, shape (R, S, N), or None
        :math:`\mu^2 - \sigma_h^2 x` for Gaussian-RBM recordings that stored them.
    path : pathlib.Path or None
        The file the recording was read from or written to.
    n_planned : int
        Number of snapshots the writer planned; larger than ``S`` for a file
        whose writer stopped early (see :attr:`complete`).
    """

    eigenvalues: np.ndarray
    steps: np.ndarray
    attrs: dict = field(repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)
    learned_modes: np.ndarray | None = field(default=None, repr=False)
    path: Path | None = None
    n_planned: int | None = None

    @property
    def n_runs(self) -> int:
        """Number of runs ``R``."""
        return self.eigenvalues.shape[0]

    @property
    def n_modes(self) -> int:
        """Number of eigenvalues ``N`` per snapshot."""
        return self.eigenvalues.shape[2]

    @property
    def complete(self) -> bool:
        """Whether every planned snapshot was written."""
        return self.n_planned is None or self.n_planned == len(self.steps)

    def rbm_setting(self) -> RBMSetting:
        """The Gaussian-RBM setting stated by the attributes (:meth:`RBMSetting.from_attrs`).

        Raises
        ------
        ValueError
            If the recording is not a Gaussian-RBM recording, or an attribute
            of the setting is missing or invalid.
        """
        if self.attrs.get("model") != "gaussian_rbm":
            raise ValueError(
                f"an RBM setting needs a recording with model='gaussian_rbm', "
                f"got model={self.attrs.get('model')!r}"
            )
        return RBMSetting.from_attrs(self.attrs)

    def rbm_modes(self, *, convention: Literal["talk", "training"] = "training") -> Modes:
        r"""The RBM mode of each eigenvalue index, as :class:`fpsolve.models.Modes`.

        Eigenvalue index ``a`` (ascending ``x``) belongs to the ``a``-th largest of
        the ``n_h`` learned targets (:attr:`RBMSetting.learned_kappa`).
        ``convention`` defaults to ``"training"``, the drift of the recorded
        update per unit :math:`\alpha` (see :class:`fpsolve.models.RBMModel`);
        shorthand for ``rbm_setting().modes(convention=convention)``.

        Raises
        ------
        ValueError
            If the recording is not a Gaussian-RBM recording.
        """
        return self.rbm_setting().modes(convention=convention)

    def mode_groups(self) -> tuple[tuple[int, ...], ...]:
        r"""Groups of eigenvalue indices with the same target, in ascending order.

        For Gaussian-RBM recordings the groups of equal :math:`\kappa` (to 1e-9
        relative), in ascending eigenvalue order, singles included; for other
        recordings the attribute ``groups`` (a flat array of group labels, one
        per mode) when present.

        Raises
        ------
        ValueError
            If the recording carries neither an RBM target nor ``groups``.
        """
        if self.attrs.get("model") == "gaussian_rbm":
            return self.rbm_setting().mode_groups()
        if "groups" not in self.attrs:
            raise ValueError(
                "mode_groups needs a Gaussian-RBM recording or a 'groups' attribute "
                "(one label per mode); give the groups explicitly instead"
            )
        labels = np.asarray(self.attrs["groups"]).ravel()
        if labels.shape != (self.n_modes,):
            raise ValueError(
                f"attribute groups must hold one label per mode ({self.n_modes}), "
                f"got shape {labels.shape}"
            )
        return label_groups(labels)

    def plot(self, ax: Axes | None = None, *, runs: ArrayLike | None = None) -> list[Any]:
        r"""Plot each eigenvalue against the step, averaged over ``runs`` (default all).

        For Gaussian-RBM recordings the fixed points
        :math:`x_s = (\mu^2 - \kappa)/\sigma_h^2` of the ``N`` largest
        learned modes are drawn as dashed lines.

        Returns
        -------
        list of matplotlib artists
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        sel = self.eigenvalues if runs is None else self.eigenvalues[np.asarray(runs)]
        mean = sel.mean(axis=0)
        artists = list(ax.plot(self.steps, mean, lw=1.0))
        if self.attrs.get("model") == "gaussian_rbm":
            x_s = [m.x_stable for m in self.rbm_modes(convention="training")]
            artists += [ax.axhline(x, ls="--", lw=0.6, color="0.5") for x in np.unique(x_s)]
        ax.set_xlabel("step")
        ax.set_ylabel("eigenvalue $x$ of $W^T W$")
        return artists


# --------------------------------------------------------------------------- reading
def _attr_value(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _fail(path, msg) -> SchemaError:
    return SchemaError(f"recording {os.fspath(path)!r}: {msg}")


def _dataset(f, name, path, *, ndim, kind):
    if name not in f:
        raise _fail(path, f"missing dataset {name!r}")
    ds = f[name]
    if not isinstance(ds, h5py.Dataset):
        raise _fail(path, f"{name!r} must be a dataset, found a group")
    if ds.ndim != ndim:
        raise _fail(path, f"dataset {name!r} must be {ndim}-dimensional, got shape {ds.shape}")
    if ds.dtype.kind not in kind:
        raise _fail(path, f"dataset {name!r} has dtype {ds.dtype}, expected kind {kind!r}")
    return ds


def read(path: PathLike, *, weights: bool = False) -> Recording:
    """Read and validate a recording.

    Parameters
    ----------
    path : str or os.PathLike
        HDF5 file following the recording schema (format version 1).
    weights : bool, optional
        Also load the ``weights`` dataset when present (it can be large).

    Returns
    -------
    Recording
        The completed snapshots only: for a file whose writer stopped early
        (``progress < len(steps)``) the arrays hold the first ``progress``
        snapshots.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    SchemaError
        If the file is not HDF5 or a field is missing or malformed; the
        message names the field.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"recording {os.fspath(path)!r} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _fail(path, f"not a readable HDF5 file ({exc})") from exc
    with f:
        attrs = {k: _attr_value(v) for k, v in f.attrs.items()}
        for name in REQUIRED_ATTRS:
            if name not in attrs:
                raise _fail(path, f"missing root attribute {name!r}")
        if attrs["format"] != FORMAT:
            raise _fail(path, f"attribute 'format' must be {FORMAT!r}, got {attrs['format']!r}")
        version = attrs["format_version"]
        if not isinstance(version, numbers.Integral) or not 1 <= int(version) <= FORMAT_VERSION:
            raise _fail(
                path,
                f"attribute 'format_version' must be an integer in [1, {FORMAT_VERSION}], "
                f"got {version!r}",
            )
        for name in ("model", "fpsolve_version", "created", "provenance"):
            if not isinstance(attrs[name], str):
                raise _fail(path, f"attribute {name!r} must be a string, got {attrs[name]!r}")
        steps_ds = _dataset(f, "steps", path, ndim=1, kind="iu")
        eig_ds = _dataset(f, "eigenvalues", path, ndim=3, kind="f")
        n_planned = steps_ds.shape[0]
        if eig_ds.shape[1] != n_planned:
            raise _fail(
                path,
                f"dataset 'eigenvalues' has {eig_ds.shape[1]} snapshots (axis 1) but "
                f"'steps' has {n_planned}",
            )
        if "progress" in f:
            prog_ds = _dataset(f, "progress", path, ndim=1, kind="iu")
            if prog_ds.shape != (1,):
                raise _fail(path, f"dataset 'progress' must have shape (1,), got {prog_ds.shape}")
            done = int(prog_ds[0])
            if not 0 <= done <= n_planned:
                raise _fail(path, f"dataset 'progress' must lie in [0, {n_planned}], got {done}")
        else:
            done = n_planned
        steps = np.asarray(steps_ds[:done], dtype=np.int64)
        if steps.size and (steps[0] < 0 or np.any(np.diff(steps) <= 0)):
            raise _fail(path, "dataset 'steps' must be non-negative and strictly increasing")
        eig = np.asarray(eig_ds[:, :done, :], dtype=np.float64)
        if not np.all(np.isfinite(eig)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(eig))[0])
            raise _fail(path, f"dataset 'eigenvalues' holds a non-finite entry at {bad}")
        if np.any(np.diff(eig, axis=-1) < 0):
            raise _fail(path, "dataset 'eigenvalues' must be ascending along the mode axis")
        w = None
        if "weights" in f:
            w_ds = _dataset(f, "weights", path, ndim=4, kind="f")
            expect = (eig_ds.shape[0], n_planned)
            if w_ds.shape[:2] != expect or w_ds.shape[3] != eig_ds.shape[2]:
                raise _fail(
                    path,
                    f"dataset 'weights' must have shape (runs, snapshots, M, N) = "
                    f"({expect[0]}, {expect[1]}, M, {eig_ds.shape[2]}), got {w_ds.shape}",
                )
            if w_ds.shape[2] < w_ds.shape[3]:
                raise _fail(path, f"dataset 'weights' must have M >= N, got shape {w_ds.shape}")
            if weights:
                w = np.asarray(w_ds[:, :done], dtype=np.float64)
        modes = None
        if "learned_modes" in f:
            m_ds = _dataset(f, "learned_modes", path, ndim=3, kind="f")
            if m_ds.shape != eig_ds.shape:
                raise _fail(
                    path,
                    f"dataset 'learned_modes' must have the shape of 'eigenvalues' "
                    f"{eig_ds.shape}, got {m_ds.shape}",
                )
            modes = np.asarray(m_ds[:, :done, :], dtype=np.float64)
        if attrs["model"] == "gaussian_rbm":
            _check_rbm_attrs(path, attrs, eig_ds.shape)
    return Recording(
        eigenvalues=eig,
        steps=steps,
        attrs=attrs,
        weights=w,
        learned_modes=modes,
        path=path,
        n_planned=n_planned,
    )


def _check_rbm_attrs(path, attrs, shape) -> None:
    for name in RBM_ATTRS:
        if name not in attrs:
            raise _fail(path, f"missing attribute {name!r} required for model 'gaussian_rbm'")
    ints = ("n_v", "n_h", "k", "batch_size", "n_runs", "n_steps", "first_run", "seed")
    for name in ints:
        if not isinstance(attrs[name], numbers.Integral):
            raise _fail(path, f"attribute {name!r} must be an integer, got {attrs[name]!r}")
    for name in ("mu2", "sigma_h", "m2", "alpha", "w_sigma"):
        if not isinstance(attrs[name], numbers.Real):
            raise _fail(path, f"attribute {name!r} must be a real number, got {attrs[name]!r}")
    kappa = np.asarray(attrs["kappa"])
    if kappa.shape != (attrs["n_v"],):
        raise _fail(
            path, f"attribute 'kappa' must have shape (n_v,) = ({attrs['n_v']},), got {kappa.shape}"
        )
    if shape[0] != attrs["n_runs"] or shape[2] != attrs["n_h"]:
        raise _fail(
            path,
            f"dataset 'eigenvalues' shape {shape} does not match n_runs={attrs['n_runs']} "
            f"and n_h={attrs['n_h']}",
        )


# --------------------------------------------------------------------------- writing
def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _base_attrs(model: str, provenance: str) -> dict:
    if not isinstance(model, str) or not model:
        raise TypeError(f"model must be a non-empty string, got {model!r}")
    if not isinstance(provenance, str):
        raise TypeError(f"provenance must be a string, got {provenance!r}")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model,
        "fpsolve_version": fpsolve.__version__,
        "created": _now(),
        "provenance": provenance,
    }


def _early_dataset(f, name, shape, dtype, fill):
    """A contiguous dataset whose storage is allocated (and filled) at creation."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return f.create_dataset(name, shape=shape, dtype=dtype, fillvalue=fill, dcpl=dcpl)


class LockedError(OSError):
    """Another process is writing the recording (its writer lock is held)."""


class _Lock:
    """Exclusive writer lock of a recording: ``flock`` on the file ``<path>.lock``.

    Taken before the recording is created, replaced or reopened, so that a second
    writer is refused before it touches anything; released (and the lock file
    removed) when the writer closes.  The kernel drops the lock of a killed
    process, so a stale lock file never blocks a later writer.  An acquirer checks
    that the file it locked is still the one at the lock path (the holder removes
    it while holding the lock), which makes removal race-free.
    """

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + ".lock")
        self.fd: int | None = None

    def acquire(self, target: Path) -> _Lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            return self
        for _ in range(100):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 32).decode(errors="replace").strip()
                os.close(fd)
                by = f" (process {owner})" if owner.isdigit() else ""
                raise LockedError(
                    f"recording {os.fspath(target)!r} is being written by another process{by}; "
                    "wait for it to finish or write elsewhere"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                return self
            os.close(fd)
        raise LockedError(f"could not lock {os.fspath(self.path)!r}")  # pragma: no cover

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            os.close(self.fd)
            self.fd = None


@contextlib.contextmanager
def _disk_full_named(path):
    """HDF5 reports a full disk as a ValueError or OSError mentioning errno 28: re-raise it
    as ``OSError(ENOSPC)`` naming ``path``."""
    try:
        yield
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and exc.strerror:
            raise
        if getattr(exc, "errno", None) == errno.ENOSPC or "errno = 28" in str(exc):
            raise OSError(errno.ENOSPC, "No space left on device", os.fspath(path)) from exc
        raise


def _partial_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _check_attr_values(attrs: Mapping) -> None:
    """Attribute values HDF5 stores faithfully: numbers, strings and numeric arrays."""
    for key, value in attrs.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"attrs keys must be non-empty strings, got {key!r}")
        if isinstance(value, str | bytes):
            continue
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):
            arr = np.asarray(None)
        if arr.dtype.kind not in "biufc":
            raise TypeError(
                f"attrs[{key!r}] must be a number, a string or a numeric array, got {value!r}"
            )


def _read_state(f: h5py.File, path) -> tuple[int, dict[str, np.ndarray]]:
    """The valid resume slot with the largest step: ``(step, {name: array})``."""
    if "state" not in f:
        raise _fail(path, "missing group 'state' needed to resume")
    best = None
    for s in ("slot0", "slot1"):
        g = f["state"][s]
        step = int(g["step"][0])
        if step >= 0 and (best is None or step > best[0]):
            best = (step, {k: g[k][...] for k in g if k != "step"})
    if best is None:
        raise _fail(path, "no valid resume state in group 'state'")
    return best


class _Writer:
    """Incremental writer: every dataset allocated up front, raw-data writes, flushes.

    :meth:`create` takes the writer lock, builds the complete file (attributes,
    datasets filled with NaN, the initial resume state) under a hidden partial
    name next to ``path`` and renames it into place only when it is complete, so
    a failure while creating (a full disk, a rejected attribute, a kill) leaves
    the previous file or nothing.  The space of every dataset is written at
    creation, so later writes overwrite allocated space and cannot run out of it.

    Write order per chunk: snapshots, flush, ``progress``, flush.  Resume
    state (Gaussian RBM) lives in two slots ``state/slot0``, ``state/slot1``;
    a slot's ``step`` is set to -1, flushed, its arrays written, flushed, and
    its ``step`` written and flushed, so one slot is valid whenever the
    process dies.
    """

    def __init__(self, f: h5py.File, lock: _Lock, path: Path):
        self.f = f
        self.lock = lock
        self.path = path

    @classmethod
    def create(
        cls,
        path,
        *,
        attrs: Mapping,
        steps,
        n_runs,
        n_modes,
        weights_shape=None,
        learned_modes=False,
        state=None,
        overwrite=False,
        fill=None,
    ) -> _Writer:
        """Create ``path`` (atomically) and return a writer on it.

        ``state`` is ``(step, {name: array})``, the initial resume state (Gaussian
        RBM), written into ``state/slot0``; ``fill(f)``, if given, writes the data
        of a complete recording before the file is renamed into place.
        """
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"path {os.fspath(path)!r} is a directory; give a file name")
        parent = path.absolute().parent
        if not parent.is_dir():
            raise FileNotFoundError(
                f"path {os.fspath(path)!r}: the directory {os.fspath(parent)!r} does not exist"
            )
        _check_attr_values(attrs)
        steps = np.asarray(steps, dtype=np.int64)
        s = len(steps)
        n_floats = n_runs * s * n_modes * (1 + bool(learned_modes))
        if weights_shape is not None:
            n_floats += n_runs * s * int(np.prod(weights_shape))
        if state is not None:
            n_floats += 2 * sum(np.asarray(a).size for a in state[1].values())
        need = 8.0 * n_floats + 2**16
        lock = _Lock(path).acquire(path)
        tmp = _partial_path(path)
        try:
            if (path.exists() or path.is_symlink()) and not overwrite:
                raise FileExistsError(
                    f"path {os.fspath(path)!r} exists; pass overwrite=True (--overwrite on the "
                    "command line) to replace it"
                )
            free = shutil.disk_usage(parent).free
            if need > free:
                raise OSError(
                    errno.ENOSPC,
                    f"No space left on device (the recording needs about {need:.3g} bytes, "
                    f"{free:.3g} are free)",
                    os.fspath(path),
                )
            with _disk_full_named(path):
                with h5py.File(tmp, "w") as f:
                    for key, value in attrs.items():
                        f.attrs[key] = value
                    f.create_dataset("steps", data=steps)
                    _early_dataset(f, "progress", (1,), np.int64, 0)
                    _early_dataset(f, "eigenvalues", (n_runs, s, n_modes), np.float64, np.nan)
                    if weights_shape is not None:
                        _early_dataset(
                            f, "weights", (n_runs, s, *weights_shape), np.float64, np.nan
                        )
                    if learned_modes:
                        _early_dataset(f, "learned_modes", (n_runs, s, n_modes), np.float64, np.nan)
                    if state is not None:
                        grp = f.create_group("state")
                        for slot in ("slot0", "slot1"):
                            g = grp.create_group(slot)
                            _early_dataset(g, "step", (1,), np.int64, -1)
                            for name, value in state[1].items():
                                _early_dataset(g, name, value.shape, value.dtype, 0)
                        cls(f, lock, path).write_state(*state)
                    if fill is not None:
                        fill(f)
                os.replace(tmp, path)
            return cls(h5py.File(path, "r+"), lock, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            lock.release()
            raise

    @classmethod
    def reopen(cls, path, lock: _Lock) -> _Writer:
        """A writer on the existing ``path``, whose lock the caller holds."""
        return cls(h5py.File(path, "r+"), lock, Path(path))

    def write_snapshots(self, start, eigenvalues, *, weights=None, learned_modes=None, done):
        with _disk_full_named(self.path):
            stop = start + eigenvalues.shape[1]
            self.f["eigenvalues"][:, start:stop, :] = eigenvalues
            if weights is not None:
                self.f["weights"][:, start:stop] = weights
            if learned_modes is not None:
                self.f["learned_modes"][:, start:stop, :] = learned_modes
            self.f.flush()
            self.f["progress"][0] = done
            self.f.flush()

    def write_state(self, step, arrays: Mapping[str, np.ndarray]):
        with _disk_full_named(self.path):
            slots = [self.f["state"][s] for s in ("slot0", "slot1")]
            target = min(slots, key=lambda g: int(g["step"][0]))
            target["step"][0] = -1
            self.f.flush()
            for name, value in arrays.items():
                target[name][...] = value
            self.f.flush()
            target["step"][0] = step
            self.f.flush()

    def close(self):
        try:
            self.f.close()
        finally:
            self.lock.release()


def write(
    path: PathLike,
    eigenvalues: ArrayLike,
    steps: ArrayLike,
    *,
    model: str = "imported",
    attrs: Mapping[str, Any] | None = None,
    weights: ArrayLike | None = None,
    provenance: str = "",
    overwrite: bool = False,
) -> Path:
    """Write a complete recording (for eigenvalues computed by any training code).

    Parameters
    ----------
    path : str or os.PathLike
        Output HDF5 file.
    eigenvalues : array_like, shape (R, S, N)
        Eigenvalues of :math:`X = W^T W` per run and snapshot, ascending along
        the last axis, finite.
    steps : array_like of int, shape (S,)
        Strictly increasing, non-negative update counts.
    model : str, optional
        Model kind stored in the attribute ``model``.  ``"gaussian_rbm"``
        requires every attribute of :data:`RBM_ATTRS` in ``attrs``.
    attrs : mapping, optional
        Further attributes (hyperparameters); values must be numbers, strings
        or numeric arrays.  They cannot override the format attributes.
    weights : array_like, shape (R, S, M, N), optional
        The weight matrices (``M >= N``), finite.
    provenance : str, optional
        Free-form description of where the data come from.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError, TypeError
        On bad input (checked before anything is written).
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    LockedError
        If another process is writing ``path``.
    OSError
        If the disk is full (errno ``ENOSPC``).

    Notes
    -----
    The file is written under a hidden partial name next to ``path`` and renamed
    into place when complete: a write that fails leaves the previous file (or
    none), never a partial one.
    """
    eig = np.asarray(eigenvalues, dtype=np.float64)
    if eig.ndim != 3 or 0 in eig.shape:
        raise ValueError(
            "eigenvalues must be 3-dimensional (runs, snapshots, modes) with no empty axis, "
            f"got shape {eig.shape}"
        )
    _check_finite_snapshots("eigenvalues", eig)
    if np.any(np.diff(eig, axis=-1) < 0):
        raise ValueError("eigenvalues must be ascending along the last (mode) axis")
    steps_arr = np.asarray(steps)
    if steps_arr.ndim != 1 or steps_arr.shape[0] != eig.shape[1]:
        raise ValueError(
            f"steps must be 1-dimensional with {eig.shape[1]} entries (one per snapshot), "
            f"got shape {steps_arr.shape}"
        )
    if not np.issubdtype(steps_arr.dtype, np.integer):
        raise TypeError(f"steps must hold integers, got dtype {steps_arr.dtype}")
    if steps_arr[0] < 0 or np.any(np.diff(steps_arr) <= 0):
        raise ValueError("steps must be non-negative and strictly increasing")
    base = _base_attrs(model, provenance)
    if attrs is not None and not isinstance(attrs, Mapping):
        raise TypeError(f"attrs must be a mapping, got {type(attrs).__name__}")
    extra = dict(attrs or {})
    clash = sorted(set(extra) & set(base))
    if clash:
        raise ValueError(f"attrs must not set the format attributes {clash}")
    all_attrs = {**base, **extra}
    _check_attr_values(all_attrs)
    if model == "gaussian_rbm":
        _check_rbm_attrs(path, {k: _attr_value(v) for k, v in all_attrs.items()}, eig.shape)
    w = None
    w_shape = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 4 or w.shape[:2] != eig.shape[:2] or w.shape[3] != eig.shape[2]:
            raise ValueError(
                f"weights must have shape (runs, snapshots, M, N) = ({eig.shape[0]}, "
                f"{eig.shape[1]}, M, {eig.shape[2]}), got {w.shape}"
            )
        if w.shape[2] < w.shape[3]:
            raise ValueError(f"weights must have M >= N (N <= M convention), got {w.shape}")
        _check_finite_snapshots("weights", w)
        w_shape = w.shape[2:]

    def fill(f):
        f["eigenvalues"][...] = eig
        if w is not None:
            f["weights"][...] = w
        f["progress"][0] = eig.shape[1]

    _Writer.create(
        path,
        attrs=all_attrs,
        steps=steps_arr.astype(np.int64),
        n_runs=eig.shape[0],
        n_modes=eig.shape[2],
        weights_shape=w_shape,
        overwrite=overwrite,
        fill=fill,
    ).close()
    return Path(path)


def _check_finite_snapshots(name: str, data: np.ndarray) -> None:
    """Raise if ``data[run, snapshot, ...]`` holds NaN/inf; names the first bad run, snapshot."""
    if 0 in data.shape:
        raise ValueError(f"{name} must have no empty axis, got shape {data.shape}")
    bad = ~np.isfinite(data).reshape(data.shape[0], data.shape[1], -1).all(axis=-1)
    if bad.any():
        run, snap = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} holds NaN or inf: first at run {run}, snapshot {snap} "
            f"({int(bad.sum())} of {bad.size} (run, snapshot) pairs affected)"
        )


def _open_npz(path: PathLike, what: str = "file") -> np.lib.npyio.NpzFile:
    """Open a ``.npz`` archive (no pickles), refusing anything else with a clear message.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a readable ``.npz`` archive (``what`` names it).
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"{what} {name!r} does not exist")
    if os.path.isdir(name):
        raise IsADirectoryError(f"{what} {name!r} is a directory, not a .npz archive")
    with open(name, "rb") as f:
        magic = f.read(4)
    if magic not in {b"PK\x03\x04", b"PK\x05\x06"}:
        kind = "a .npy array" if magic == b"\x93NUM" else "not a zip file"
        raise ValueError(f"{what} {name!r} is not a .npz archive ({kind})")
    try:
        npz = np.load(name, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{what} {name!r} is not a readable .npz archive ({exc})") from exc
    return npz


def eigenvalues_of(weights: ArrayLike) -> np.ndarray:
    """Ascending eigenvalues of ``X = W^T W`` for an array of matrices ``(..., M, N)``."""
    w = np.asarray(weights, dtype=np.float64)
    return np.linalg.eigvalsh(np.swapaxes(w, -1, -2) @ w)


def import_npz(
    source: PathLike,
    path: PathLike,
    *,
    kind: str | None = None,
    steps: ArrayLike | None = None,
    attrs: Mapping[str, Any] | None = None,
    model: str = "imported",
    provenance: str = "",
    keep_weights: bool = True,
    overwrite: bool = False,
) -> Path:
    """Convert a plain ``.npz`` file of eigenvalues or weight matrices into a recording.

    Parameters
    ----------
    source : str or os.PathLike
        ``.npz`` archive holding an array ``eigenvalues`` of shape
        ``(R, S, N)`` or ``(S, N)`` (one run), or ``weights`` of shape
        ``(R, S, M, N)`` or ``(S, M, N)``; optionally ``steps`` of shape ``(S,)``.
    path : str or os.PathLike
        Output HDF5 file.
    kind : {"eigenvalues", "weights"}, optional
        Which array to use; by default the one present (an error if both are).
    steps : array_like of int, optional
        Snapshot steps, overriding any ``steps`` array in the archive;
        default ``0, 1, ..., S-1`` when neither is given.
    attrs, model, provenance, overwrite
        As in :func:`write` (metadata supplied by the user).
    keep_weights : bool, optional
        Store the weight matrices too (``kind="weights"`` only).

    Returns
    -------
    pathlib.Path

    Notes
    -----
    Eigenvalues are sorted ascending per snapshot; from weights they are the
    eigenvalues of :math:`X = W^T W` (matrices with ``M < N`` are transposed
    first, which leaves the nonzero spectrum unchanged).
    """
    source = Path(source)
    with _open_npz(source, "source") as npz:
        keys = set(npz.files)
        if kind is None:
            present = [k for k in ("eigenvalues", "weights") if k in keys]
            if len(present) != 1:
                raise ValueError(
                    f"source must hold exactly one of 'eigenvalues' or 'weights' (or pass kind); "
                    f"found arrays {sorted(keys)}"
                )
            kind = present[0]
        if kind not in ("eigenvalues", "weights"):
            raise ValueError(f"kind must be 'eigenvalues' or 'weights', got {kind!r}")
        if kind not in keys:
            raise ValueError(f"source has no array {kind!r}; found {sorted(keys)}")
        data = np.asarray(npz[kind], dtype=np.float64)
        file_steps = np.asarray(npz["steps"]) if "steps" in keys else None
    weights = None
    if kind == "eigenvalues":
        if data.ndim == 2:
            data = data[None]
        if data.ndim != 3:
            raise ValueError(f"'eigenvalues' must have shape (R, S, N) or (S, N), got {data.shape}")
        _check_finite_snapshots(f"source {os.fspath(source)!r} array 'eigenvalues'", data)
        eig = np.sort(data, axis=-1)
    else:
        if data.ndim == 3:
            data = data[None]
        if data.ndim != 4:
            raise ValueError(
                f"'weights' must have shape (R, S, M, N) or (S, M, N), got {data.shape}"
            )
        _check_finite_snapshots(f"source {os.fspath(source)!r} array 'weights'", data)
        if data.shape[2] < data.shape[3]:
            data = np.swapaxes(data, 2, 3)
        eig = eigenvalues_of(data)
        weights = data if keep_weights else None
    if steps is None:
        steps = file_steps if file_steps is not None else np.arange(eig.shape[1])
    return write(
        path,
        eig,
        np.asarray(steps),
        model=model,
        attrs=attrs,
        weights=weights,
        provenance=provenance,
        overwrite=overwrite,
    )

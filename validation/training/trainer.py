r"""Gaussian (scalar-field) RBM trained by persistent contrastive divergence.

The recorded system of docs/theory.md section 4.  Visible field :math:`\phi \in
\mathbb{R}^{N_v}`, hidden :math:`h \in \mathbb{R}^{N_h}` (:math:`N_h \le N_v`),
weights :math:`W` of shape ``(N_v, N_h)``, action

.. math::

    S(\phi, h) = \frac{\mu^2}{2}\phi^T\phi + \frac{(h-\eta)^T(h-\eta)}{2\sigma_h^2}
                 - \phi^T W h, \qquad \eta = 0,

so that :math:`p(\phi) \propto \exp(-\phi^T K \phi / 2)` with
:math:`K = \mu^2 1 - \sigma_h^2 W W^T` (spectrum :math:`\mu^2 - \sigma_h^2 x_a`,
:math:`x_a` the eigenvalues of :math:`X = W^T W`, and :math:`\mu^2` repeated
:math:`N_v - N_h` times).  Block-Gibbs conditionals:

.. math::

    h \mid \phi \sim N(\sigma_h^2 W^T \phi,\ \sigma_h^2), \qquad
    \phi \mid h \sim N(W h / \mu^2,\ 1/\mu^2).

Target: the free periodic lattice field, :math:`K_{target} = (m^2 + 2) 1 - (T + T^T)`
with spectrum :math:`\kappa_k = m^2 + 2 - 2\cos(2\pi k/N_v)`
(:func:`fpsolve.models.lattice_scalar_spectrum`).  One update (one *step*):

.. math::

    W \leftarrow W + \alpha\,\sigma_h^2\,(C_{target} - C_{model})\,W,\qquad
    C_{model} = \frac{1}{|B|}\sum_{b=1}^{|B|} \phi_b \phi_b^T,

where the :math:`|B|` persistent chains (initialised to ones) are advanced by
``k`` block-Gibbs sweeps before each update, and :math:`C_{target}` is
:math:`K_{target}^{-1}` exactly (``target="exact"``, the paper's runs) or the
second moment of :math:`|B|` fresh target samples (``target="samples"``).
Initially :math:`W_{ij} \sim N(0, w_\sigma^2)`, so :math:`X` starts near
Marchenko-Pastur with :math:`s_2 = w_\sigma^2`, :math:`r = N_h/N_v`.

In the instantaneous eigenbasis the update moves :math:`x_a` by
:math:`2\alpha\sigma_h^2 x_a (1/\kappa_a - 1/(\mu^2 - \sigma_h^2 x_a))` per step
(the ``"training"`` convention of :class:`fpsolve.models.RBMModel`), with the
stable fixed point :math:`x_s = (\mu^2 - \kappa_a)/\sigma_h^2`.

Randomness: run ``r`` of a call with seed ``s`` uses its own stream of normals
(:func:`run_stream`: xoshiro256++ seeded by ``SeedSequence(s, spawn_key=(r,))``,
normals by the ziggurat method): it first draws ``W`` and then every normal of
the training, so a run's trajectory depends only on ``(s, r)`` and
the hyperparameters, never on how runs are split over threads, processes or
machines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import h5py
import numpy as np
from numpy.typing import ArrayLike

from fpsolve import streams as _streams
from fpsolve.checks import (
    as_seed,
    check_int,
    check_memory,
    check_positive,
    check_work,
    snapshot_steps,
)
from fpsolve.cuda import check_device
from fpsolve.models import lattice_scalar_matrix
from validation._typing import PathLike, RNGLike
from validation.data import recording as _rec
from validation.data.recording import Recording
from validation.data.setting import RBM_TARGETS, RBMSetting
from validation.training._kernels import _train_run

__all__ = [
    "MAX_WORK",
    "PAPER_ALPHA",
    "PAPER_BATCH_SIZE",
    "resume",
    "run_stream",
    "target_matrix",
    "train",
]

PAPER_ALPHA = 0.1
"""Learning rate of arXiv:2407.16427 (the default of :func:`train`; the batch-size scan)."""

PAPER_BATCH_SIZE = 16
"""Batch size of arXiv:2407.16427 (the default of :func:`train`; the learning-rate scan)."""

_MODEL = "gaussian_rbm"
_BUFFER_BYTES = 32 * 2**20
_CHUNK_STEPS = 5000

MAX_WORK = 1e14
"""Multiply-adds of one :func:`train` call allowed without ``force=True``: about a day of
one core (the paper's setting, 200 runs of 100 000 steps, is 2.3e11)."""


# --------------------------------------------------------------------------- helpers
def target_matrix(n_v: int, m2: float) -> np.ndarray:
    r"""The target :math:`K_{target} = (m^2 + 2)\,1 - (T + T^T)`, ``T`` the cyclic shift.

    :func:`fpsolve.models.lattice_scalar_matrix`; its eigenvalues are
    :func:`fpsolve.models.lattice_scalar_spectrum` ``(n_v, m2)``.

    Parameters
    ----------
    n_v : int
        Number of lattice sites (``>= 1``).
    m2 : float
        Mass squared :math:`m^2 > 0`.

    Returns
    -------
    ndarray, shape (n_v, n_v)
    """
    return lattice_scalar_matrix(n_v, m2)


def run_stream(seed: int, run: int) -> np.ndarray:
    """The random stream of run ``run``: the state of its xoshiro256++ generator.

    The state is ``SeedSequence(seed, spawn_key=(run,)).generate_state(4, uint64)``.
    Standard normals are drawn from it with the 256-layer ziggurat of Marsaglia and
    Tsang (J. Stat. Softw. 5(8), 2000) in numpy's layout; xoshiro256++ is the
    generator of Blackman and Vigna (ACM TOMS 47, 36, 2021).  The training kernel
    advances the state in place; it is stored in recordings (``state/rng``) so that
    :func:`resume` continues the stream exactly.

    Parameters
    ----------
    seed : int
        Non-negative seed of the call (recorded in the file attribute ``seed``).
    run : int
        Global run index (``first_run`` + position in the call).

    Returns
    -------
    ndarray, shape (4,), uint64
    """
    seed = check_int("seed", seed, minimum=0)
    run = check_int("run", run, minimum=0)
    return _streams.stream(np.random.SeedSequence(seed, spawn_key=(run,)))


@dataclass(frozen=True)
class _Config:
    """One training call: the RBM setting and its runs (count, length, seed, first index)."""

    setting: RBMSetting
    n_runs: int
    n_steps: int
    seed: int
    first_run: int

    @classmethod
    def build(
        cls,
        *,
        n_runs: int,
        n_steps: int,
        rng: object,
        first_run: int,
        w_sigma: float,
        target: str,
        **setting: Any,
    ) -> _Config:
        n_runs = check_int("n_runs", n_runs, minimum=1)
        n_steps = check_int("n_steps", n_steps, minimum=0)
        w_sigma = check_positive("w_sigma", w_sigma, strict=False)
        if target not in RBM_TARGETS:
            raise ValueError(f"target must be one of {RBM_TARGETS}, got {target!r}")
        return cls(
            setting=RBMSetting.lattice(**setting, w_sigma=w_sigma, target=target),
            n_runs=n_runs,
            n_steps=n_steps,
            seed=as_seed(rng),
            first_run=check_int("first_run", first_run, minimum=0),
        )

    def attrs(self, provenance: str) -> dict[str, Any]:
        out = _rec._base_attrs(_MODEL, provenance)
        out.update(self.setting.to_attrs())
        out.update(
            seed=self.seed,
            n_runs=self.n_runs,
            n_steps=self.n_steps,
            first_run=self.first_run,
            eta=0.0,
            chains_init="ones",
            update="W <- W + alpha sigma_h^2 (C_target - C_model) W",
        )
        return out

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> _Config:
        """The call that wrote a recording (for :func:`resume`)."""
        setting = RBMSetting.from_attrs(attrs, require=("k", "m2", "w_sigma", "target"))
        return cls(
            setting=setting,
            n_runs=check_int("recording attribute 'n_runs'", attrs["n_runs"], minimum=1),
            n_steps=check_int("recording attribute 'n_steps'", attrs["n_steps"], minimum=0),
            seed=as_seed(int(attrs["seed"])),
            first_run=check_int("recording attribute 'first_run'", attrs["first_run"], minimum=0),
        )


def _n_snapshots(n_steps: int, record_every, record_steps) -> int:
    """The number of snapshots, without building them (for the size checks)."""
    if record_steps is not None or record_every is None:
        return len(snapshot_steps(n_steps, record_every, record_steps))
    every = check_int("record_every", record_every, minimum=1)
    return n_steps // every + 2


def _plan(a: Mapping[str, Any]) -> tuple[_Config, np.ndarray]:
    """Check every argument of :func:`train` (``a``: its arguments by name) and the size of
    the work it asks for, before anything is allocated or written."""
    cfg = _Config.build(
        n_runs=a["n_runs"], n_steps=a["n_steps"], alpha=a["alpha"], batch_size=a["batch_size"],
        k=a["k"], n_v=a["n_v"], n_h=a["n_h"], m2=a["m2"], mu2=a["mu2"], sigma_h=a["sigma_h"],
        w_sigma=a["w_sigma"], target=a["target"], rng=a["rng"], first_run=a["first_run"],
    )  # fmt: skip
    if a["n_threads"] is not None:
        check_int("n_threads", a["n_threads"], minimum=1)
    for name in ("record_weights", "record_modes", "overwrite", "force"):
        if not isinstance(a[name], bool | np.bool_):
            raise TypeError(f"{name} must be True or False, got {a[name]!r}")
    st, n_runs = cfg.setting, cfg.n_runs
    n_snap = _n_snapshots(cfg.n_steps, a["record_every"], a["record_steps"])
    state = n_runs * (st.n_v * st.n_h + st.batch_size * st.n_v + 4)
    big = ("n_runs", n_runs) if n_runs >= st.batch_size else ("batch_size", st.batch_size)
    check_memory(*big, 3 * state, f"the state of {n_runs} runs with {st.batch_size} chains")
    kept = n_runs * n_snap * st.n_h * (1 + (st.n_v if a["record_weights"] else 0))
    if a["path"] is None:
        check_memory(
            "n_runs", n_runs, 2 * kept + 3 * state, f"{n_snap} snapshots of {n_runs} runs in memory"
        )
    else:
        check_memory("record_every", a["record_every"], n_snap, f"{n_snap} snapshot steps")
    per_step = st.n_v * st.n_h * (2 * cast(int, st.k) * st.batch_size + 2 * st.n_v)
    if st.target == "samples":
        per_step += st.batch_size * st.n_v * st.n_v
    big = ("n_runs", n_runs) if n_runs >= cfg.n_steps else ("n_steps", cfg.n_steps)
    check_work(
        *big, float(n_runs) * cfg.n_steps * per_step, MAX_WORK,
        f"multiply-adds ({n_runs} runs x {cfg.n_steps} steps x {per_step:.3g})", force=a["force"],
    )  # fmt: skip
    snap_steps = snapshot_steps(cfg.n_steps, a["record_every"], a["record_steps"])
    return cfg, snap_steps


def _initial_state(cfg: _Config):
    """Per-run streams ``(n_runs, 4)``, initial weights and chains (chains = ones)."""
    st = cfg.setting
    streams = np.stack([run_stream(cfg.seed, cfg.first_run + r) for r in range(cfg.n_runs)])
    w = np.stack([st.w_sigma * _streams.normals(s, (st.n_v, st.n_h)) for s in streams])
    s2 = st.sigma_h2
    top = _rec.eigenvalues_of(w)[:, -1]
    bad = np.nonzero(st.mu2 - s2 * top <= 0)[0]
    if bad.size:
        raise ValueError(
            f"w_sigma={st.w_sigma!r} is too large: the initial K = mu2 - sigma_h^2 W W^T of run "
            f"{cfg.first_run + int(bad[0])} is not positive definite (largest x = {top[bad[0]]:.4g}"
            f" >= mu2/sigma_h^2 = {st.mu2 / s2:.4g})"
        )
    phi = np.ones((cfg.n_runs, st.batch_size, st.n_v))
    return streams, w, phi


def _progress_bar(total, initial, enabled, desc):
    from fpsolve.progress import progress_bar

    return progress_bar(total, initial=initial, enabled=enabled, desc=desc, unit="step")


def _run_training(
    cfg: _Config,
    streams,
    w,
    phi,
    snap_steps,
    start,
    step,
    *,
    writer,
    record_weights,
    record_modes,
    n_threads,
    progress,
    callback,
    max_chunks=None,
):
    """Advance every run from ``step`` through ``snap_steps[start:]``; returns in-memory arrays."""
    n_runs, n_v, n_h = w.shape
    st = cfg.setting
    s2 = st.sigma_h2
    c_target = np.linalg.inv(target_matrix(st.n_v, cast(float, st.m2)))
    c_target = 0.5 * (c_target + c_target.T)
    chol = np.linalg.cholesky(c_target)
    data_mode = st.target == "samples"
    n_snap = len(snap_steps)
    keep = writer is None
    eig_all = np.full((n_runs, n_snap, n_h), np.nan) if keep else None
    w_all = np.full((n_runs, n_snap, n_v, n_h), np.nan) if keep and record_weights else None
    max_snaps = max(1, _BUFFER_BYTES // (8 * n_runs * n_v * n_h))
    n_threads = min(n_threads or os.cpu_count() or 1, n_runs)
    pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None
    bar = _progress_bar(int(snap_steps[-1]) if n_snap else 0, step, progress, "train")
    chunks = 0
    try:
        p = start
        while p < n_snap:
            q = p + 1
            while (
                q < n_snap
                and q - p < max_snaps
                and snap_steps[q] - step <= max(_CHUNK_STEPS, snap_steps[p] - step)
            ):
                q += 1
            n_upd = int(snap_steps[q - 1] - step)
            record_at = np.asarray(snap_steps[p:q] - step, dtype=np.int64)
            buf = np.empty((n_runs, q - p, n_v, n_h))
            # a snapshot at the current step (step 0) is the state itself
            n_now = int(np.sum(record_at == 0))
            buf[:, :n_now] = w[:, None]
            rec_kernel = record_at[n_now:]

            def one(r, n_upd=n_upd, rec_kernel=rec_kernel, buf=buf, n_now=n_now):
                return _train_run(
                    w[r], phi[r], streams[r], n_upd, st.alpha, s2, st.mu2, st.k,
                    c_target, chol, data_mode, rec_kernel, buf[r, n_now:],
                )  # fmt: skip

            stops = list(pool.map(one, range(n_runs))) if pool else [one(r) for r in range(n_runs)]
            bad = [(r, t) for r, t in enumerate(stops) if t >= 0]
            if bad:
                r, t = bad[0]
                raise FloatingPointError(
                    f"run {cfg.first_run + r} diverged (non-finite W) at step {step + t}; "
                    f"alpha={st.alpha!r} is too large for batch_size={st.batch_size}"
                )
            eig = _rec.eigenvalues_of(buf)
            modes = st.mu2 - s2 * eig if record_modes else None
            if eig_all is not None:
                eig_all[:, p:q] = eig
                if w_all is not None:
                    w_all[:, p:q] = buf
            else:
                writer.write_snapshots(
                    p, eig, weights=buf if record_weights else None, learned_modes=modes, done=q
                )
            bar.update(n_upd)
            step = int(snap_steps[q - 1])
            p = q
            if writer is not None:
                writer.write_state(step, _state_arrays(streams, w, phi))
            if callback is not None:
                callback(step)
            chunks += 1
            if max_chunks is not None and chunks >= max_chunks and p < n_snap:
                break
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    return eig_all, w_all


def _state_arrays(streams, w, phi):
    return {"weights": w, "chains": phi, "rng": streams}


# --------------------------------------------------------------------------- public API
def train(
    n_runs: int = 1,
    *,
    n_steps: int,
    alpha: float = PAPER_ALPHA,
    batch_size: int = PAPER_BATCH_SIZE,
    k: int = 3,
    n_v: int = 10,
    n_h: int = 10,
    m2: float = 4.0,
    mu2: float = 9.0,
    sigma_h: float = 1.0,
    w_sigma: float = 0.1,
    target: str = "exact",
    record_every: int | None = None,
    record_steps: ArrayLike | None = None,
    record_weights: bool = False,
    record_modes: bool = False,
    path: PathLike | None = None,
    overwrite: bool = False,
    rng: RNGLike = None,
    first_run: int = 0,
    n_threads: int | None = None,
    progress: bool | None = True,
    provenance: str = "",
    callback: Callable[[int], object] | None = None,
    force: bool = False,
    device: str = "cpu",
    _max_chunks: int | None = None,
) -> Recording:
    r"""Train ``n_runs`` independent Gaussian RBMs by PCD and record the spectrum of ``W^T W``.

    The algorithm is the one of the module docstring (the PCD update :eq:`eq-pcd-update`):
    chains initialised to ones, :math:`W_{ij} \sim N(0, w_\sigma^2)`, ``k``
    block-Gibbs sweeps of ``batch_size`` persistent chains per update, plain SGD
    :math:`W \leftarrow W + \alpha\sigma_h^2 (C_{target} - C_{model}) W`,
    :math:`\mu^2`, :math:`\sigma_h` and :math:`\eta = 0` fixed, float64.

    Parameters
    ----------
    n_runs : int, optional
        Number of independent runs.
    n_steps : int
        Number of updates per run (``>= 0``).
    alpha : float, optional
        Learning rate :math:`\alpha \ge 0`.
    batch_size : int, optional
        Number of persistent chains :math:`|B|` (and of target samples when
        ``target="samples"``).
    k : int, optional
        Block-Gibbs sweeps per update.
    n_v, n_h : int, optional
        Visible sites and hidden units, ``n_h <= n_v``.
    m2 : float, optional
        Target mass :math:`m^2`; target spectrum :math:`\kappa_k = m^2 + 2 - 2\cos(2\pi k/N_v)`.
    mu2 : float, optional
        Visible mass :math:`\mu^2` (fixed).
    sigma_h : float, optional
        Hidden standard deviation :math:`\sigma_h` (fixed).
    w_sigma : float, optional
        Standard deviation of the initial weights.
    target : {"exact", "samples"}, optional
        :math:`C_{target} = K_{target}^{-1}` exactly, or the second moment of
        ``batch_size`` fresh samples of the target field per update.
    record_every : int, optional
        Record at steps ``0, record_every, 2 record_every, ...`` and at
        ``n_steps``; default chosen to give about 1000 snapshots.
    record_steps : array_like of int, optional
        Explicit, strictly increasing snapshot steps in ``[0, n_steps]``.
    record_weights : bool, optional
        Also record ``W`` at each snapshot.
    record_modes : bool, optional
        Also record the learned modes :math:`\mu^2 - \sigma_h^2 x_a`.
    path : str or os.PathLike, optional
        Write the recording to this HDF5 file incrementally (flushed after each
        chunk of snapshots, with the state needed by :func:`resume`).  Without a
        path the recording is kept in memory.
    overwrite : bool, optional
        Replace an existing ``path``.
    rng : int, numpy SeedSequence, numpy Generator or None, optional
        The seed (SPEC 7).  Run ``r`` uses the stream :func:`run_stream` ``(seed, first_run + r)``;
        a non-int ``rng`` is turned into an int seed, which is recorded.
    first_run : int, optional
        Global index of the first run, so that runs of one seed can be split
        over several calls (``train(4, rng=s)`` equals ``train(2, rng=s)`` and
        ``train(2, rng=s, first_run=2)`` joined).
    n_threads : int, optional
        Threads over runs (default: the number of CPUs); results do not depend on it.
    progress : bool or None, optional
        Report progress (:func:`fpsolve.progress.progress_bar`: a bar in a terminal,
        plain lines otherwise); None means on, False silent.
    provenance : str, optional
        Free-form text stored with the recording.
    callback : callable, optional
        Called with the current step after each chunk of snapshots is written.
    force : bool, optional
        Run even when the work exceeds :data:`MAX_WORK` multiply-adds.
    device : {"cpu", "cuda"}, optional
        ``"cuda"`` trains all runs on the GPU (:mod:`validation.training.cuda`; needs
        ``pip install "fpsolve[cuda]"``): the same update and recording schema, with
        the training normals from counter-based Philox streams instead of xoshiro
        (the initial weights are the same); the file gets the attribute
        ``generator = "philox4x32-10-ziggurat"``.  ``n_threads`` is then unused.

    Returns
    -------
    Recording
        ``eigenvalues`` of shape ``(n_runs, n_snapshots, n_h)`` (ascending),
        ``steps``, ``attrs`` (every hyperparameter, the seed, versions).

    Raises
    ------
    ValueError, TypeError
        On bad input, or when the memory needed exceeds what is available or the
        work exceeds :data:`MAX_WORK` (without ``force``); checked before anything
        is allocated or written.
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    validation.data.recording.LockedError
        If another process is writing ``path`` (checked before anything is
        replaced, also with ``overwrite``).
    OSError
        If ``path`` cannot be written (the disk is too small: checked up front).
    FloatingPointError
        If a run diverges (non-finite ``W``; ``alpha/batch_size`` too large); the
        file at ``path`` is removed.

    Examples
    --------
    >>> from validation.training.rbm import train
    >>> rec = train(2, n_steps=200, record_every=100, rng=1, progress=False)
    >>> rec.eigenvalues.shape, rec.steps.tolist()
    ((2, 3, 10), [0, 100, 200])
    """
    cfg, snap_steps = _plan(locals())  # every argument, by name
    if check_device(device) == "cuda":
        from validation.training import cuda

        return cuda.train(
            cfg, snap_steps, provenance=provenance, record_weights=record_weights,
            record_modes=record_modes, path=path, overwrite=overwrite, progress=progress,
            callback=callback, max_chunks=_max_chunks,
        )  # fmt: skip
    attrs = cfg.attrs(provenance)
    streams, w, phi = _initial_state(cfg)
    writer = None
    if path is not None:
        writer = _rec._Writer.create(
            path,
            attrs=attrs,
            steps=snap_steps,
            n_runs=cfg.n_runs,
            n_modes=cfg.setting.n_h,
            weights_shape=(cfg.setting.n_v, cfg.setting.n_h) if record_weights else None,
            learned_modes=record_modes,
            state=(0, _state_arrays(streams, w, phi)),
            overwrite=overwrite,
        )
    try:
        eig, w_all = _run_training(
            cfg, streams, w, phi, snap_steps, 0, 0, writer=writer, record_weights=record_weights,
            record_modes=record_modes, n_threads=n_threads, progress=progress,
            callback=callback, max_chunks=_max_chunks,
        )  # fmt: skip
    except FloatingPointError as exc:
        if writer is None:
            raise
        os.unlink(writer.path)  # a diverged recording cannot be resumed: do not leave it
        removed = os.fspath(writer.path)
        raise FloatingPointError(f"{exc}; the recording {removed!r} was removed") from None
    finally:
        if writer is not None:
            writer.close()
    if path is not None:
        return _rec.read(path, weights=record_weights)
    return Recording(
        eigenvalues=eig,
        steps=snap_steps,
        attrs=attrs,
        weights=w_all,
        learned_modes=cfg.setting.mu2 - cfg.setting.sigma_h2 * eig if record_modes else None,
        path=None,
        n_planned=len(snap_steps),
    )


_EXPECTABLE = frozenset(
    ("n_runs", "n_steps", "rng", "first_run", "record_every", "record_steps", "record_weights",
     "record_modes", "provenance", "alpha", "batch_size", "k", "n_v", "n_h", "m2", "mu2",
     "sigma_h", "w_sigma", "target")
)  # fmt: skip


def _check_expected(path, expect: Mapping[str, Any], cfg: _Config, attrs, snap_steps, has):
    """Raise if a :func:`train` argument in ``expect`` contradicts the recording."""
    unknown = sorted(set(expect) - _EXPECTABLE)
    if unknown:
        raise TypeError(f"expect: unknown train arguments {unknown}")
    st = cfg.setting
    actual = {
        "n_runs": cfg.n_runs, "n_steps": cfg.n_steps, "rng": cfg.seed,
        "first_run": cfg.first_run, "record_weights": has["weights"],
        "record_modes": has["learned_modes"], "provenance": attrs["provenance"],
        **{n: getattr(st, n) for n in ("alpha", "batch_size", "k", "n_v", "n_h", "m2", "mu2",
                                        "sigma_h", "w_sigma", "target")},
    }  # fmt: skip
    for key, value in expect.items():
        if key in ("record_every", "record_steps"):
            kw = {"record_every": None, "record_steps": None, key: value}
            try:
                same = np.array_equal(snapshot_steps(cfg.n_steps, **kw), snap_steps)
            except (ValueError, TypeError):
                same = False
            head = ", ".join(str(v) for v in snap_steps[:3])
            detail = f"its {len(snap_steps)} snapshot steps are {head}, ..."
        else:
            same = value is not None and bool(np.all(value == actual[key]))
            detail = f"{key}={actual[key]!r}"
        if not same:
            raise ValueError(
                f"resume: {key}={value!r} contradicts the recording {os.fspath(path)!r} "
                f"({detail}); a resumed run keeps the settings of its file"
            )


def resume(
    path: PathLike,
    *,
    n_threads: int | None = None,
    progress: bool | None = True,
    callback: Callable[[int], object] | None = None,
    expect: Mapping[str, Any] | None = None,
    device: str | None = None,
) -> Recording:
    """Continue a recording written by :func:`train` whose writer stopped early.

    Training restarts from the last saved state (weights, chains and the
    generator state of every run) and rewrites every snapshot after it (and the
    first snapshot, when the writer stopped before it was written); the
    finished file equals the one an uninterrupted :func:`train` writes, bit for
    bit in its data, wherever the writer stopped.  A complete file is returned
    unchanged.

    Parameters
    ----------
    path : str or os.PathLike
        A ``model = "gaussian_rbm"`` recording with a ``state`` group.
    n_threads, progress, callback
        As in :func:`train`.
    expect : mapping, optional
        Arguments of :func:`train` (``alpha``, ``n_steps``, ``rng``, ``record_every``,
        ...) that the recording must have been written with; a contradiction is
        an error, nothing is resumed.
    device : {"cpu", "cuda"}, optional
        Default: where the file was trained.  A GPU recording (attribute
        ``generator = "philox4x32-10-ziggurat"``) continues only on ``"cuda"``, a CPU
        recording only on ``"cpu"``.

    Returns
    -------
    Recording

    Raises
    ------
    validation.data.recording.LockedError
        If another process is writing ``path``.
    ValueError
        If ``expect`` contradicts the recording, or the file cannot be resumed.
    """
    path = Path(path)
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, minimum=1)
    if not path.exists():
        raise FileNotFoundError(f"recording {os.fspath(path)!r} does not exist")
    lock = _rec._Lock(path).acquire(path)
    try:
        # everything is checked on a read-only handle: a refused resume leaves the file as it is
        rec = _rec.read(path)
        if rec.attrs["model"] != _MODEL:
            raise ValueError(
                f"path must hold a '{_MODEL}' recording, got model={rec.attrs['model']!r}"
            )
        cfg = _Config.from_attrs(rec.attrs)
        generator = rec.attrs.get("generator", "xoshiro256++-ziggurat")
        on_gpu = generator != "xoshiro256++-ziggurat"
        if device is not None and (check_device(device) == "cuda") != on_gpu:
            raise ValueError(
                f"device={device!r} cannot continue {str(path)!r}: its random streams are "
                f"{generator!r}, which run on device={'cuda' if on_gpu else 'cpu'!r}"
            )
        with h5py.File(path, "r") as f:
            has = {k: k in f for k in ("weights", "learned_modes")}
            snap_steps = np.asarray(f["steps"][...], dtype=np.int64)
            step, state = _rec._read_state(f, path)
        if expect:
            _check_expected(path, expect, cfg, rec.attrs, snap_steps, has)
        # the first snapshot after the saved state; the snapshot at the state's own
        # step too when it was never written (a writer stopped in its first chunk)
        start = int(np.searchsorted(snap_steps, step, side="right"))
        if start > len(rec.steps):
            start = int(np.searchsorted(snap_steps, step, side="left"))
            if start > len(rec.steps):
                raise _rec._fail(
                    path,
                    f"the resume state (step {step}) is ahead of the {len(rec.steps)} "
                    "snapshots written",
                )
        if start < len(snap_steps) and on_gpu:
            from validation.training import cuda

            writer = _rec._Writer.reopen(path, lock)
            try:
                cuda.resume(
                    writer, cfg, generator, snap_steps, step, state, start, has,
                    progress=progress, callback=callback,
                )  # fmt: skip
            finally:
                writer.f.close()
        elif start < len(snap_steps):
            streams = np.array(state["rng"], dtype=np.uint64)
            if streams.shape != (cfg.n_runs, 4):
                raise ValueError(
                    f"state/rng of {str(path)!r} has shape {streams.shape}; resume needs "
                    f"({cfg.n_runs}, 4), the xoshiro256++ states of the runs (a recording "
                    "written with the earlier PCG64 generators cannot be resumed)"
                )
            w = np.ascontiguousarray(state["weights"], dtype=np.float64)
            phi = np.ascontiguousarray(state["chains"], dtype=np.float64)
            writer = _rec._Writer.reopen(path, lock)
            try:
                _run_training(
                    cfg, streams, w, phi, snap_steps, start, step, writer=writer,
                    record_weights=has["weights"], record_modes=has["learned_modes"],
                    n_threads=n_threads, progress=progress, callback=callback,
                )  # fmt: skip
            finally:
                writer.f.close()
    finally:
        lock.release()
    return _rec.read(path, weights=has["weights"])

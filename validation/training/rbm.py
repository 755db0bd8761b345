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

import itertools
import math
import numbers
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpsolve import streams as _streams
from fpsolve.checks import check_int, check_positive
from fpsolve.models import lattice_scalar_spectrum
from validation.data import recording as _rec
from validation.data.recording import Recording
from validation.training._kernels import _train_run

__all__ = [
    "PAPER_ALPHA",
    "PAPER_BATCH_SIZE",
    "PAPER_STEPS",
    "PAPER_SWEEP",
    "PRESETS",
    "SweepResult",
    "grid",
    "resume",
    "run_stream",
    "sweep",
    "target_matrix",
    "train",
]

_MODEL = "gaussian_rbm"
_TARGETS = ("exact", "samples")
_BUFFER_BYTES = 32 * 2**20
_CHUNK_STEPS = 5000


PAPER_ALPHA = 0.1
"""Learning rate of arXiv:2407.16427 (the default of :func:`train`; the batch-size scan)."""

PAPER_BATCH_SIZE = 16
"""Batch size of arXiv:2407.16427 (the default of :func:`train`; the learning-rate scan)."""


def _paper_sweep() -> tuple[dict, ...]:
    batch = [{"alpha": PAPER_ALPHA, "batch_size": b} for b in (4, 8, 16, 32, 64)]
    rate = [{"alpha": a, "batch_size": PAPER_BATCH_SIZE} for a in (0.01, 0.02, 0.04, 0.06, 0.08)]
    return tuple(batch + rate)


PAPER_SWEEP: tuple[dict, ...] = _paper_sweep()
"""The scan of arXiv:2407.16427: ``|B|`` in {4, 8, 16, 32, 64} at ``alpha = 0.1`` and
``alpha`` in {0.01, 0.02, 0.04, 0.06, 0.08, 0.1} at ``|B| = 16`` (10 distinct settings);
every other hyperparameter at the paper's value (the defaults of :func:`train`)."""

PRESETS: dict[str, tuple[dict, ...]] = {"paper": PAPER_SWEEP}
"""Named sweeps for :func:`sweep` and ``fpsolve sweep --preset``."""

PAPER_STEPS = 100_000
"""Updates per run in the paper's runs."""


# --------------------------------------------------------------------------- helpers
def target_matrix(n_v: int, m2: float) -> np.ndarray:
    r"""The target :math:`K_{target} = (m^2 + 2)\,1 - (T + T^T)`, ``T`` the cyclic shift.

    Its eigenvalues are :func:`fpsolve.models.lattice_scalar_spectrum` ``(n_v, m2)``.

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
    n_v = check_int("n_v", n_v, minimum=1)
    m2 = check_positive("m2", m2)
    eye = np.eye(n_v)
    shift = np.roll(eye, 1, axis=1)
    return (m2 + 2.0) * eye - (shift + shift.T)


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


def _as_seed(rng) -> int:
    """An int seed from ``rng`` (SPEC 7 inputs): ints are used as they are."""
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return check_int("rng", rng, minimum=0)
    if rng is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.generate_state(1, np.uint64)[0] >> np.uint64(1))
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63))
    raise TypeError(
        f"rng must be None, a non-negative int seed, a numpy SeedSequence or a numpy Generator, "
        f"got {rng!r}"
    )


def _snapshot_steps(n_steps, record_every, record_steps) -> np.ndarray:
    if record_steps is not None:
        if record_every is not None:
            raise ValueError("pass record_every or record_steps, not both")
        steps = np.asarray(record_steps)
        if steps.ndim != 1 or steps.size == 0 or not np.issubdtype(steps.dtype, np.integer):
            raise ValueError(
                f"record_steps must be a non-empty 1-d array of integers, got {record_steps!r}"
            )
        if steps[0] < 0 or steps[-1] > n_steps or np.any(np.diff(steps) <= 0):
            raise ValueError(
                f"record_steps must be strictly increasing within [0, n_steps={n_steps}]"
            )
        return steps.astype(np.int64)
    if record_every is None:
        record_every = max(1, math.ceil(n_steps / 1000))
    record_every = check_int("record_every", record_every, minimum=1)
    steps = np.arange(0, n_steps + 1, record_every, dtype=np.int64)
    if steps[-1] != n_steps:
        steps = np.append(steps, np.int64(n_steps))
    return steps


@dataclass(frozen=True)
class _Config:
    n_runs: int
    n_steps: int
    alpha: float
    batch_size: int
    k: int
    n_v: int
    n_h: int
    m2: float
    mu2: float
    sigma_h: float
    w_sigma: float
    target: str
    seed: int
    first_run: int

    @classmethod
    def build(cls, **kw) -> _Config:
        c = cls(
            n_runs=check_int("n_runs", kw["n_runs"], minimum=1),
            n_steps=check_int("n_steps", kw["n_steps"], minimum=0),
            alpha=check_positive("alpha", kw["alpha"], strict=False),
            batch_size=check_int("batch_size", kw["batch_size"], minimum=1),
            k=check_int("k", kw["k"], minimum=1),
            n_v=check_int("n_v", kw["n_v"], minimum=1),
            n_h=check_int("n_h", kw["n_h"], minimum=1),
            m2=check_positive("m2", kw["m2"]),
            mu2=check_positive("mu2", kw["mu2"]),
            sigma_h=check_positive("sigma_h", kw["sigma_h"]),
            w_sigma=check_positive("w_sigma", kw["w_sigma"], strict=False),
            target=kw["target"],
            seed=_as_seed(kw["rng"]),
            first_run=check_int("first_run", kw["first_run"], minimum=0),
        )
        if c.n_h > c.n_v:
            raise ValueError(
                f"n_h must be <= n_v (W is n_v x n_h with N <= M), got n_h={c.n_h}, n_v={c.n_v}"
            )
        if c.target not in _TARGETS:
            raise ValueError(f"target must be one of {_TARGETS}, got {c.target!r}")
        return c

    @property
    def kappa(self) -> np.ndarray:
        return lattice_scalar_spectrum(self.n_v, self.m2)

    def attrs(self, provenance: str) -> dict:
        out = _rec._base_attrs(_MODEL, provenance)
        out.update(
            n_v=self.n_v,
            n_h=self.n_h,
            mu2=self.mu2,
            sigma_h=self.sigma_h,
            m2=self.m2,
            k=self.k,
            alpha=self.alpha,
            batch_size=self.batch_size,
            w_sigma=self.w_sigma,
            kappa=self.kappa,
            seed=self.seed,
            target=self.target,
            n_runs=self.n_runs,
            n_steps=self.n_steps,
            first_run=self.first_run,
            eta=0.0,
            chains_init="ones",
            update="W <- W + alpha sigma_h^2 (C_target - C_model) W",
        )
        return out

    @classmethod
    def from_attrs(cls, attrs) -> _Config:
        names = [f for f in cls.__dataclass_fields__ if f != "seed"]
        kw = {n: attrs[n] for n in names}
        return cls.build(rng=int(attrs["seed"]), **kw)


def _initial_state(cfg: _Config):
    """Per-run streams ``(n_runs, 4)``, initial weights and chains (chains = ones)."""
    streams = np.stack([run_stream(cfg.seed, cfg.first_run + r) for r in range(cfg.n_runs)])
    w = np.stack([cfg.w_sigma * _streams.normals(s, (cfg.n_v, cfg.n_h)) for s in streams])
    s2 = cfg.sigma_h**2
    top = _rec.eigenvalues_of(w)[:, -1]
    bad = np.nonzero(cfg.mu2 - s2 * top <= 0)[0]
    if bad.size:
        raise ValueError(
            f"w_sigma={cfg.w_sigma!r} is too large: the initial K = mu2 - sigma_h^2 W W^T of run "
            f"{cfg.first_run + int(bad[0])} is not positive definite (largest x = {top[bad[0]]:.4g}"
            f" >= mu2/sigma_h^2 = {cfg.mu2 / s2:.4g})"
        )
    phi = np.ones((cfg.n_runs, cfg.batch_size, cfg.n_v))
    return streams, w, phi


def _progress_bar(total, initial, enabled, desc):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="step")


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
    s2 = cfg.sigma_h**2
    c_target = np.linalg.inv(target_matrix(cfg.n_v, cfg.m2))
    c_target = 0.5 * (c_target + c_target.T)
    chol = np.linalg.cholesky(c_target)
    data_mode = cfg.target == "samples"
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
                    w[r], phi[r], streams[r], n_upd, cfg.alpha, s2, cfg.mu2, cfg.k,
                    c_target, chol, data_mode, rec_kernel, buf[r, n_now:],
                )  # fmt: skip

            stops = list(pool.map(one, range(n_runs))) if pool else [one(r) for r in range(n_runs)]
            bad = [(r, t) for r, t in enumerate(stops) if t >= 0]
            if bad:
                r, t = bad[0]
                raise FloatingPointError(
                    f"run {cfg.first_run + r} diverged (non-finite W) at step {step + t}; "
                    f"alpha={cfg.alpha!r} is too large for batch_size={cfg.batch_size}"
                )
            eig = _rec.eigenvalues_of(buf)
            modes = cfg.mu2 - s2 * eig if record_modes else None
            if keep:
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
    record_steps=None,
    record_weights: bool = False,
    record_modes: bool = False,
    path=None,
    overwrite: bool = False,
    rng=None,
    first_run: int = 0,
    n_threads: int | None = None,
    progress: bool = True,
    provenance: str = "",
    callback: Callable[[int], object] | None = None,
    _max_chunks: int | None = None,
) -> Recording:
    r"""Train ``n_runs`` independent Gaussian RBMs by PCD and record the spectrum of ``W^T W``.

    The algorithm is the one of the module docstring (docs/theory.md section 4):
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
    progress : bool, optional
        Show a tqdm progress bar.
    provenance : str, optional
        Free-form text stored with the recording.
    callback : callable, optional
        Called with the current step after each chunk of snapshots is written.

    Returns
    -------
    Recording
        ``eigenvalues`` of shape ``(n_runs, n_snapshots, n_h)`` (ascending),
        ``steps``, ``attrs`` (every hyperparameter, the seed, versions).

    Raises
    ------
    FloatingPointError
        If a run diverges (non-finite ``W``; ``alpha/batch_size`` too large).

    Examples
    --------
    >>> from validation.training.rbm import train
    >>> rec = train(2, n_steps=200, record_every=100, rng=1, progress=False)
    >>> rec.eigenvalues.shape, rec.steps.tolist()
    ((2, 3, 10), [0, 100, 200])
    """
    cfg = _Config.build(
        n_runs=n_runs, n_steps=n_steps, alpha=alpha, batch_size=batch_size, k=k, n_v=n_v,
        n_h=n_h, m2=m2, mu2=mu2, sigma_h=sigma_h, w_sigma=w_sigma, target=target, rng=rng,
        first_run=first_run,
    )  # fmt: skip
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, minimum=1)
    snap_steps = _snapshot_steps(cfg.n_steps, record_every, record_steps)
    attrs = cfg.attrs(provenance)
    streams, w, phi = _initial_state(cfg)
    writer = None
    if path is not None:
        writer = _rec._Writer.create(
            path,
            attrs=attrs,
            steps=snap_steps,
            n_runs=cfg.n_runs,
            n_modes=cfg.n_h,
            weights_shape=(cfg.n_v, cfg.n_h) if record_weights else None,
            learned_modes=record_modes,
            state_shapes={
                "weights": (w.shape, np.float64),
                "chains": (phi.shape, np.float64),
                "rng": ((cfg.n_runs, 4), np.uint64),
            },
            overwrite=overwrite,
        )
    try:
        if writer is not None:
            writer.write_state(0, _state_arrays(streams, w, phi))
        eig, w_all = _run_training(
            cfg, streams, w, phi, snap_steps, 0, 0, writer=writer, record_weights=record_weights,
            record_modes=record_modes, n_threads=n_threads, progress=progress,
            callback=callback, max_chunks=_max_chunks,
        )  # fmt: skip
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
        learned_modes=cfg.mu2 - cfg.sigma_h**2 * eig if record_modes else None,
        path=None,
        n_planned=len(snap_steps),
    )


def resume(
    path,
    *,
    n_threads: int | None = None,
    progress: bool = True,
    callback: Callable[[int], object] | None = None,
) -> Recording:
    """Continue a recording written by :func:`train` whose writer stopped early.

    Training restarts from the last saved state (weights, chains and the
    generator state of every run) and rewrites every snapshot after it; the
    finished file equals the one an uninterrupted :func:`train` writes, bit for
    bit in its data.  A complete file is returned unchanged.

    Parameters
    ----------
    path : str or os.PathLike
        A ``model = "gaussian_rbm"`` recording with a ``state`` group.
    n_threads, progress, callback
        As in :func:`train`.

    Returns
    -------
    Recording
    """
    path = Path(path)
    rec = _rec.read(path)
    if rec.attrs["model"] != _MODEL:
        raise ValueError(f"path must hold a '{_MODEL}' recording, got model={rec.attrs['model']!r}")
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, minimum=1)
    cfg = _Config.from_attrs(rec.attrs)
    writer = _rec._Writer.reopen(path)
    try:
        has_weights = "weights" in writer.f
        has_modes = "learned_modes" in writer.f
        snap_steps = np.asarray(writer.f["steps"][...], dtype=np.int64)
        step, state = writer.read_state()
        start = int(np.searchsorted(snap_steps, step, side="right"))
        if start < len(snap_steps):
            streams = np.array(state["rng"], dtype=np.uint64)
            if streams.shape != (cfg.n_runs, 4):
                raise ValueError(
                    f"state/rng of {str(path)!r} has shape {streams.shape}; resume needs "
                    f"({cfg.n_runs}, 4), the xoshiro256++ states of the runs (a recording "
                    "written with the earlier PCG64 generators cannot be resumed)"
                )
            w = np.ascontiguousarray(state["weights"], dtype=np.float64)
            phi = np.ascontiguousarray(state["chains"], dtype=np.float64)
            _run_training(
                cfg, streams, w, phi, snap_steps, start, step, writer=writer,
                record_weights=has_weights, record_modes=has_modes, n_threads=n_threads,
                progress=progress, callback=callback,
            )  # fmt: skip
    finally:
        writer.close()
    return _rec.read(path, weights="weights" in _h5_keys(path))


def _h5_keys(path):
    import h5py

    with h5py.File(path, "r") as f:
        return set(f.keys())


# --------------------------------------------------------------------------- sweeps
def _derive_seed(seed: int, index: int) -> int:
    ss = np.random.SeedSequence(seed, spawn_key=(2**31 + index,))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _setting_name(index: int, setting: Mapping) -> str:
    if "name" in setting:
        return str(setting["name"])
    parts = [f"{index:03d}"]
    for key, value in setting.items():
        if key in ("rng", "name"):
            continue
        parts.append(f"{key}{value:g}" if isinstance(value, float) else f"{key}{value}")
    return "_".join(parts)


def _sweep_task(kwargs: dict) -> str:
    """Train one setting into its own file (runs in an executor worker)."""
    train(**kwargs)
    return os.fspath(kwargs["path"])


@dataclass(frozen=True)
class SweepResult:
    """The files of a sweep, one per setting.

    Attributes
    ----------
    settings : tuple of dict
        The full keyword arguments of :func:`train` for each setting (without
        ``path``), including its seed ``rng``.
    paths : tuple of pathlib.Path
        The recording of each setting, in the order of ``settings``.
    """

    settings: tuple
    paths: tuple

    def read(self, index: int) -> Recording:
        """Read the recording of setting ``index``."""
        return _rec.read(self.paths[index])

    def fluctuations(self, *, burn_in: float = 0.5) -> np.ndarray:
        r"""Variance over runs and late snapshots of each eigenvalue, per setting.

        Parameters
        ----------
        burn_in : float, optional
            Fraction of the snapshots discarded at the start of each recording.

        Returns
        -------
        ndarray, shape (n_settings, n_modes)
            :math:`\mathrm{Var}(x_a)` pooled over runs and snapshots after the burn-in;
            the linear scaling rule predicts it proportional to ``alpha/batch_size``.
        """
        out = []
        for p in self.paths:
            rec = _rec.read(p)
            s0 = int(burn_in * len(rec.steps))
            late = rec.eigenvalues[:, s0:, :]
            out.append(late.reshape(-1, late.shape[-1]).var(axis=0))
        return np.array(out)

    def plot(self, ax=None, *, burn_in: float = 0.5):
        """Log-log plot of :meth:`fluctuations` (mean over modes) against ``alpha/batch_size``.

        Returns
        -------
        list of matplotlib artists
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        ratio = np.array([s["alpha"] / s["batch_size"] for s in self.settings])
        var = self.fluctuations(burn_in=burn_in).mean(axis=1)
        artists = list(ax.loglog(ratio, var, "o"))
        ax.set_xlabel(r"$\alpha/|B|$")
        ax.set_ylabel(r"mean Var$(x_a)$")
        return artists


def sweep(
    settings: str | Iterable[Mapping],
    *,
    directory,
    executor=None,
    max_workers: int | None = None,
    rng=None,
    progress: bool = True,
    overwrite: bool = False,
    n_threads: int = 1,
    **common,
) -> SweepResult:
    """Train a grid of settings, each into its own recording, on any executor.

    Parameters
    ----------
    settings : str or iterable of mapping
        A preset name from :data:`PRESETS` (``"paper"``), or mappings of
        :func:`train` keyword arguments (e.g. ``{"alpha": 0.1, "batch_size": 4}``);
        a mapping may hold ``name`` (the file stem) and its own ``rng``.
    directory : str or os.PathLike
        Output directory (created if needed); setting ``i`` is written to
        ``directory / f"{name}.h5"``.
    executor : concurrent.futures.Executor-like, optional
        Anything with ``submit(fn, *args)`` returning futures with ``result()``,
        e.g. a Dask ``Client.get_executor()``.  Default: a local
        :class:`~concurrent.futures.ProcessPoolExecutor` with ``max_workers``
        processes, shut down at the end.
    max_workers : int, optional
        Processes of the default executor.
    rng : int, numpy SeedSequence, numpy Generator or None, optional
        Sweep seed.  Setting ``i`` without its own ``rng`` gets the seed
        ``SeedSequence(seed, spawn_key=(2**31 + i,))``: files do not depend on
        the executor or the number of workers.
    progress : bool, optional
        Progress bar over settings.
    overwrite : bool, optional
        Replace existing files.
    n_threads : int, optional
        Threads per setting inside each worker.
    **common
        Keyword arguments of :func:`train` shared by every setting
        (``n_runs``, ``n_steps``, ``record_every``, ...); a setting overrides them.

    Returns
    -------
    SweepResult
    """
    if isinstance(settings, str):
        if settings not in PRESETS:
            raise ValueError(f"settings: unknown preset {settings!r}; known: {sorted(PRESETS)}")
        settings = PRESETS[settings]
    settings = [dict(s) for s in settings]
    if not settings:
        raise ValueError("settings must hold at least one setting, got none")
    for i, s in enumerate(settings):
        if "path" in s:
            raise ValueError(f"settings[{i}] must not set 'path'; files go to directory")
    for key in ("path", "progress", "callback", "_max_chunks"):
        if key in common:
            raise ValueError(f"sweep sets {key!r} itself; it cannot be passed")
    seed = _as_seed(rng)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    jobs = []
    names = set()
    for i, s in enumerate(settings):
        name = _setting_name(i, s)
        if name in names:
            raise ValueError(f"settings: two settings have the file name {name!r}")
        names.add(name)
        kw = {**common, **{k: v for k, v in s.items() if k != "name"}}
        kw.setdefault("rng", _derive_seed(seed, i))
        kw.setdefault("alpha", PAPER_ALPHA)
        kw.setdefault("batch_size", PAPER_BATCH_SIZE)
        if "n_steps" not in kw:
            raise ValueError("n_steps must be given (in common or in every setting)")
        jobs.append(kw)
    paths = [directory / f"{_setting_name(i, s)}.h5" for i, s in enumerate(settings)]
    for p in paths:
        if p.exists() and not overwrite:
            raise FileExistsError(f"{os.fspath(p)!r} exists; pass overwrite=True to replace it")
    own = executor is None
    if own:
        executor = ProcessPoolExecutor(max_workers=max_workers)
    from tqdm.auto import tqdm

    try:
        extra = {"overwrite": overwrite, "progress": False, "n_threads": n_threads}
        futures = [
            executor.submit(_sweep_task, {**kw, "path": p, **extra})
            for kw, p in zip(jobs, paths, strict=True)
        ]
        with tqdm(total=len(futures), disable=not progress, desc="sweep", unit="setting") as bar:
            for fut in futures:  # in submission order: works for any future-like object
                fut.result()
                bar.update(1)
    finally:
        if own:
            executor.shutdown()
    return SweepResult(settings=tuple(jobs), paths=tuple(paths))


def grid(**axes) -> list[dict]:
    """Settings for :func:`sweep`: the Cartesian product of keyword lists.

    Parameters
    ----------
    **axes : list
        Values of each :func:`train` keyword.

    Returns
    -------
    list of dict
        One dict per combination, the last keyword varying fastest.

    Examples
    --------
    >>> from validation.training.rbm import grid
    >>> grid(alpha=[0.1, 0.05], batch_size=[16])
    [{'alpha': 0.1, 'batch_size': 16}, {'alpha': 0.05, 'batch_size': 16}]
    """
    keys = list(axes)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*axes.values())]

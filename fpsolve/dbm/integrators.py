"""The integrators of :mod:`fpsolve.dbm`: the eigenvalue SDE, the SGD map, the matrix level."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.checks import as_rng, as_seed, check_finite_array, check_int, check_positive
from fpsolve.cuda import check_device
from fpsolve.dbm import _kernels as _k
from fpsolve.dbm import _setup as setup
from fpsolve.dbm._counters import (
    BOUNDARY_HITS,
    DIVERGED,
    FULL_SOLVES,
    MATRIX_STEPS,
    N_COUNTERS,
    N_RECORDED,
    PAIR_CROSSINGS,
    PAIR_STEPS,
    REDO_FAILED,
    REDO_STEPS,
    STEP,
)
from fpsolve.dbm._ordering import any_outside, sorted_order
from fpsolve.dbm._pairs import PAIR_BLOCKS_MIN_N, pair_blocks
from fpsolve.dbm.statistics import Histograms, Record, Recorder, recorded_steps
from fpsolve.models import Modes, PCDNoise, RBMModel, sgd_g2

__all__ = ["RUNAWAY", "SCHEMES", "DBMResult", "simulate", "simulate_matrix", "simulate_sgd"]

SCHEMES = ("em", "safe")
"""Schemes of :func:`simulate`: plain Euler-Maruyama and the collision-safe scheme."""

RUNAWAY = 1e3
"""A run has run away when a value lies farther than ``RUNAWAY`` times the extent of the
starts, the stable points and the widest stationary width from that extent."""

# numba's workqueue threading layer (used when neither TBB nor OpenMP is available) must not
# run two parallel regions at once: runs of one large system take turns.
_PARALLEL_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class DBMResult:
    """Outcome of :func:`simulate`, :func:`simulate_sgd` or :func:`simulate_matrix`.

    Attributes
    ----------
    modes : Modes
        The models.
    method : str
        ``"em"``, ``"safe"``, ``"sgd"`` or ``"matrix"``.
    params : dict
        ``dt``, ``n_steps``, ``n_replicas``, the noise parameters and the int ``seed``
        of the run (``rng=seed`` repeats it).
    x : ndarray, shape (n_replicas, n_modes)
        Final state.
    snapshot_steps : ndarray of int
        Steps of the snapshots.
    snapshots : ndarray, shape (n_snapshots, n_replicas, n_modes)
        States at ``snapshot_steps``.
    n_recorded : int
        Recorded steps of a replica that ran to the end.
    n_samples : int
        Recorded states per mode, all replicas together (``n_recorded * n_replicas``
        unless replicas stopped early, see ``left_domain``).
    reference : ndarray, shape (n_modes,)
        Centre ``c_i`` of the power sums.
    power_sums : ndarray, shape (n_modes, 4)
        :math:`\\sum (x_i - c_i)^k`, ``k = 1..4``, over recorded states.
    histograms : Histograms
        Streaming histograms.
    crossing_steps : ndarray of int, shape (n_replicas,)
        Steps of each replica whose explicit update broke the ordering of the
        eigenvalues (for ``"safe"`` these steps were redone semi-implicitly).
    pair_crossings : int
        Neighbour transpositions that the crossings made (``"em"``/``"sgd"``).
    redo_steps, redo_failed : int
        Replica steps redone semi-implicitly (``"safe"``), and solves that did not
        converge (the best ordered iterate was kept).
    full_solves : int
        Redone steps that needed every pair term implicit (an eigenvalue jumped past
        more than its neighbour).
    boundary_hits : int
        Reflections at reflecting or wall ends of the models' domains.
    matrix_steps : int
        Steps of the SGD map with state-dependent noise taken at matrix level (see
        :func:`simulate_sgd`).
    pair_steps : int
        Steps of the SGD map with state-dependent noise that took their near pairs as
        2 x 2 blocks (see :func:`simulate_sgd`).
    left_domain : ndarray of int, shape (n_replicas,)
        Step at which a replica of the SGD map with state-dependent noise would have
        left the domain; the replica stopped there (its later snapshots are NaN and
        it records nothing more).  0 for a replica that ran to the end.
    replica_mean, replica_mean_square : ndarray, shape (n_replicas, n_modes), or None
        Time averages of :math:`x_i` and :math:`x_i^2` over each replica's recorded
        steps (``Record(per_replica=True)``).
    replica_spacing : ndarray, shape (n_replicas, n_pairs), or None
        Time average of the labelled spacing :math:`x_j - x_i` of each pair of
        ``pairs`` (``Record(per_replica=True)``).
    pairs : tuple of (int, int)
        The pairs of ``replica_spacing`` (:attr:`Record.pairs`).
    """

    modes: Modes
    method: str
    params: dict
    x: np.ndarray
    snapshot_steps: np.ndarray
    snapshots: np.ndarray
    n_recorded: int
    n_samples: int
    reference: np.ndarray
    power_sums: np.ndarray
    histograms: Histograms
    crossing_steps: np.ndarray
    pair_crossings: int = 0
    redo_steps: int = 0
    redo_failed: int = 0
    full_solves: int = 0
    boundary_hits: int = 0
    matrix_steps: int = 0
    pair_steps: int = 0
    left_domain: np.ndarray | None = None
    replica_mean: np.ndarray | None = None
    replica_mean_square: np.ndarray | None = None
    replica_spacing: np.ndarray | None = None
    pairs: tuple = ()

    def _samples(self, what: str) -> int:
        """``n_samples``, or ValueError if the run recorded no state for ``what``."""
        if self.n_samples > 0:
            return self.n_samples
        if self.left_domain is not None and np.all(self.left_domain > 0):
            why = "every replica left the domain before its first recorded step"
        elif self.n_recorded == 0:
            why = "the run recorded no statistics (Record(statistics=False))"
        else:
            why = "no recorded state"
        raise ValueError(f"{what} is undefined: {why}; only the snapshots hold states")

    @property
    def mean(self) -> np.ndarray:
        """Mean of each mode over the recorded states.

        Raises
        ------
        ValueError
            If no state was recorded.
        """
        n = self._samples("mean")
        return self.reference + self.power_sums[:, 0] / n

    @property
    def var(self) -> np.ndarray:
        """Variance of each mode over the recorded states (pooled over replicas).

        Raises
        ------
        ValueError
            If no state was recorded.
        """
        n = self._samples("var")
        m1 = self.power_sums[:, 0] / n
        return self.power_sums[:, 1] / n - m1 * m1

    @property
    def crossing_rate(self) -> float:
        """Steps that broke the ordering per replica per unit time (``dt = alpha`` for SGD)."""
        time = self.params["n_steps"] * self.params["dt"]
        return float(self.crossing_steps.sum()) / (self.x.shape[0] * time)

    def pooled_binder(self, group: int) -> float:
        """Binder cumulant :math:`\\langle u^4\\rangle/(3\\langle u^2\\rangle^2) - 1` of a
        group pooled, with ``u = x - reference`` (the stable point), from the power sums."""
        members = list(self.histograms.groups[group])
        n = self._samples("pooled_binder") * len(members)
        m2 = self.power_sums[members, 1].sum() / n
        m4 = self.power_sums[members, 3].sum() / n
        return m4 / (3.0 * m2 * m2) - 1.0

    def plot(self, ax=None) -> list:
        """Pooled density of each degenerate group; returns the artists."""
        return self.histograms.plot(ax=ax)


# ---------------------------------------------------------------------------
# the engine: chunks of replicas advanced by one kernel
# ---------------------------------------------------------------------------
def _run(
    modes: Modes,
    x0: np.ndarray,
    *,
    dt: float,
    n_steps: int,
    kernel: Callable,
    coef: Any,
    table: _k.Table,
    work: Callable[[int, int, bool], _k.Work] | None,
    g2eff: np.ndarray,
    record: Record | None,
    seed: int,
    progress: bool | None,
    method: str,
    params: dict,
    chunk_size: int | None = None,
) -> DBMResult:
    """Advance the replicas ``x0`` (R, n) by ``n_steps`` calls of ``kernel`` per chunk.

    ``work(c, blocks, by_mode)`` allocates the scratch of a chunk of ``c`` replicas (None
    for kernels without; ``by_mode``: the pair sum of a run of fewer than 8 replicas runs
    over the modes of each replica), once per chunk size and pool thread, as the kernels
    keep nothing in it from one call to the next; ``chunk_size`` fixes the replicas per
    kernel call.
    Replica ``r`` draws from the stream ``stream(SeedSequence(seed, spawn_key=(r,)))``.
    """
    n_replicas, n = x0.shape
    rec = Recorder(record, modes, g2eff, n_steps, n_replicas, setup.groups(modes, g2eff))
    spans = setup.chunks(n_replicas, chunk_size)
    streams = setup.streams(seed, spans)
    # one large system (one chunk, few replicas): the pair sum runs on all threads
    blocked = len(spans) == 1 and n_replicas < 8 and n >= PAIR_BLOCKS_MIN_N
    if isinstance(coef, _k.Coef):
        coef = coef._replace(bounds=pair_blocks(n) if blocked else np.zeros(1, dtype=np.int64))
    chunks = []
    for (a, b), st in zip(spans, streams, strict=True):
        x = np.ascontiguousarray(x0[a:b].T)
        chunks.append(
            _k.Chunk(
                x=x,
                perm=sorted_order(x),
                streams=st,
                counters=np.zeros(N_COUNTERS, dtype=np.int64),
                cross=np.zeros(b - a, dtype=np.int64),
                stopped=np.zeros(b - a, dtype=np.int64),
            )
        )
    bufs = [rec.buffers(a, b) for a, b in spans]
    blocks = len(coef.bounds) - 1 if blocked else 0
    by_mode = n_replicas < 8
    scratch = threading.local()  # the kernels keep nothing in their scratch between calls

    def work_of(c: int) -> _k.Work:
        """The scratch of a chunk of ``c`` replicas, one per size and pool thread."""
        assert work is not None
        works = scratch.__dict__.setdefault("works", {})
        if c not in works:
            works[c] = work(c, blocks, by_mode)
        return works[c]

    for ch, bf in zip(chunks, bufs, strict=True):
        rec.start(ch.x, bf, ch.counters)
    far = _runaway_bounds(modes, x0, g2eff)
    cost = n_replicas * (n + 0.5 * n * n)
    show = setup.show_progress(progress, cost * n_steps)
    block = max(1, int(2e8 // cost)) if show else n_steps
    from tqdm.auto import tqdm

    def advance(k: int, step0: int, steps: int) -> None:
        try:
            if work is None:
                kernel(chunks[k], coef, table, rec.stats, bufs[k], steps, step0)
            else:
                wk = work_of(chunks[k].x.shape[1])
                kernel(chunks[k], coef, table, rec.stats, bufs[k], wk, steps, step0)
        except np.linalg.LinAlgError as exc:
            step = int(chunks[k].counters[STEP])
            raise np.linalg.LinAlgError(
                f"{_name(method)} failed at step {step} with {_step_name(method)}={dt:g}: "
                f"the implicit solve of the pair term raised '{exc}'; reduce "
                f"{_step_name(method)}"
            ) from exc

    with (
        _PARALLEL_LOCK if blocked else contextlib.nullcontext(),
        tqdm(total=n_steps, disable=not show, unit="step", desc=method) as bar,
    ):
        step0 = 0
        while step0 < n_steps:
            steps = min(block, n_steps - step0)

            def block_of(k: int, s0: int = step0, st: int = steps) -> None:
                advance(k, s0, st)

            setup.parallel_map(block_of, len(chunks))
            bad = [int(ch.counters[DIVERGED]) for ch in chunks if ch.counters[DIVERGED]]
            if bad:
                raise FloatingPointError(_divergence(modes, method, dt, min(bad)))
            step0 += steps
            if far is not None and any(any_outside(ch.x, *far) for ch in chunks):
                raise FloatingPointError(_divergence(modes, method, dt, step0, by=True))
            bar.update(steps)
    counters = [ch.counters for ch in chunks]
    tot = _total(counters)
    snaps = np.concatenate([b.snaps for b in bufs], axis=2).transpose(0, 2, 1)
    x = np.empty((n_replicas, n))
    for (a, b), ch in zip(spans, chunks, strict=True):
        x[a:b] = ch.x.T
    stopped = np.concatenate([ch.stopped for ch in chunks])
    recorded = recorded_steps(counters, [b - a for a, b in spans], stopped, rec.stats)
    mean, mean_square, spacing = rec.replica_averages(recorded)
    return DBMResult(
        modes=modes,
        method=method,
        params={**params, "dt": dt, "n_steps": n_steps, "n_replicas": n_replicas, "seed": seed},
        x=x,
        snapshot_steps=rec.snap_steps,
        snapshots=np.ascontiguousarray(snaps),
        n_recorded=int(counters[0][N_RECORDED]),
        n_samples=int(recorded.sum()),
        reference=rec.ref,
        power_sums=_total([b.mom for b in bufs]),
        histograms=rec.histograms(bufs),
        crossing_steps=np.concatenate([ch.cross for ch in chunks]),
        pair_crossings=int(tot[PAIR_CROSSINGS]),
        redo_steps=int(tot[REDO_STEPS]),
        redo_failed=int(tot[REDO_FAILED]),
        full_solves=int(tot[FULL_SOLVES]),
        boundary_hits=int(tot[BOUNDARY_HITS]),
        matrix_steps=int(tot[MATRIX_STEPS]),
        pair_steps=int(tot[PAIR_STEPS]),
        left_domain=stopped,
        replica_mean=mean,
        replica_mean_square=mean_square,
        replica_spacing=spacing,
        pairs=rec.pairs,
    )


def _on_gpu(
    modes: Modes,
    x0: np.ndarray,
    *,
    dt: float,
    n_steps: int,
    prow: np.ndarray,
    pmat: np.ndarray | None,
    amp: np.ndarray,
    noise: Any,
    g2eff: np.ndarray,
    record: Record | None,
    rng: Any,
    progress: bool | None,
    method: str,
    params: dict,
    row_coef: float | None = None,
) -> DBMResult:
    """The explicit step on the GPU (:mod:`fpsolve.cuda`): pair coefficients
    ``P_ij = prow_i * row_coef`` (``row_coef`` defaults to ``dt``) or the matrix ``pmat``."""
    from fpsolve.cuda import _dbm as _cuda_dbm

    if pmat is None:
        pcoef = np.full((1, 1), dt if row_coef is None else row_coef)
    else:
        pcoef, prow = pmat, np.ones(len(modes))
    res = _cuda_dbm.simulate(
        modes, x0, dt=dt, n_steps=n_steps, pcoef=pcoef, prow=prow, amp=amp, noise=noise,
        safe=False, g2eff=g2eff, record=record, rng=rng, progress=progress, method=method,
        params=params,
    )  # fmt: skip
    if not np.all(np.isfinite(res.x)):  # the GPU kernel runs to the end: the first bad snapshot
        bad = np.flatnonzero(~np.all(np.isfinite(res.snapshots), axis=(1, 2)))
        step = int(res.snapshot_steps[bad[0]]) if bad.size else n_steps
        raise FloatingPointError(_divergence(modes, method, dt, step, by=True))
    return res


def _name(method: str) -> str:
    return "the SGD map" if method == "sgd" else f"scheme={method!r}"


def _step_name(method: str) -> str:
    return "alpha" if method == "sgd" else "dt"


def _divergence(modes: Modes, method: str, dt: float, step: int, *, by: bool = False) -> str:
    """The one-line message of a run that produced a non-finite value at ``step`` (``by``:
    at ``step`` or before)."""
    name = _step_name(method)
    k = np.abs(setup.curvature(modes))
    k = k[np.isfinite(k) & (k > 0)]
    bound = f"{name} below about 1/max|K'(x_s)| = {1.0 / k.max():.3g}" if k.size else "small steps"
    close = "and near-collisions of eigenvalues need smaller steps still"
    if method == "em":
        hint = f"the explicit step is stable only for {bound} {close}: reduce dt"
        hint += " or use scheme='safe'"
    elif method == "safe":
        hint = f"its drift step is explicit, stable only for {bound}: reduce dt"
    else:
        hint = f"the map is stable only for {bound} {close}: reduce alpha"
    return (
        f"{_name(method)} diverged {'by' if by else 'at'} step {step} with {name}={dt:g} "
        f"(a value became inf or NaN, jumped across a bounded domain or ran away from "
        f"every stable point); {hint}"
    )


def _runaway_bounds(modes: Modes, x0: np.ndarray, g2eff: np.ndarray) -> tuple | None:
    """``(lo, hi)`` outside which a value has run away (:data:`RUNAWAY`); None when a mode
    has no stable point with positive curvature (no scale is known)."""
    xs, om = setup.stable(modes), setup.curvature(modes)
    if not np.all(np.isfinite(xs) & np.isfinite(om) & (om > 0)):
        return None
    width = float(np.sqrt(np.max(np.broadcast_to(g2eff, om.shape) / om)))
    lo, hi = min(float(x0.min()), float(xs.min())), max(float(x0.max()), float(xs.max()))
    reach = RUNAWAY * (hi - lo + width)
    return lo - reach, hi + reach


def _total(arrays: list[np.ndarray]) -> np.ndarray:
    """The sum of the chunks' arrays, in chunk order (``sum`` from 0, as always)."""
    return np.asarray(sum(arrays))


def _common(modes: Any, dt: float, n_steps: int, n_replicas: int) -> tuple[Modes, float, int, int]:
    modes = setup.check_modes(modes)
    dt = check_positive("dt", dt)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    n_replicas = check_int("n_replicas", n_replicas, minimum=1)
    return modes, dt, n_steps, n_replicas


def _pair_coef(p: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(prc, pmat)`` of the pair coefficients ``p`` (n, n): ``pmat`` None when every row
    is constant off the diagonal (``prc`` then holds the rows)."""
    n = p.shape[0]
    prc = np.array([p[i, 1 if i == 0 and n > 1 else 0] for i in range(n)])
    off = ~np.eye(n, dtype=bool)
    rowconst = n == 1 or bool(np.all(p[off].reshape(n, n - 1) == prc[:, None]))
    return prc, (None if rowconst else p)


def simulate(
    modes: Modes | Sequence,
    g2: ArrayLike | None,
    x0: ArrayLike | None = None,
    *,
    dt: float,
    n_steps: int,
    n_replicas: int = 1,
    scheme: str = "safe",
    coupling: ArrayLike | None = None,
    noise: Callable | Sequence[Callable] | None = None,
    record: Record | None = None,
    rng: int | np.random.Generator | None = None,
    progress: bool | None = None,
    device: str = "cpu",
) -> DBMResult:
    r"""Integrate the eigenvalue SDE for an ensemble of replicas.

    .. math::

        dx_i = \Big[K_i(x_i) + \sum_{j\ne i}\frac{G_{ij}}{x_i - x_j}\Big]dt
               + \sqrt2\, g_i\, dB_i \qquad (\text{Ito}),

    with :math:`G_{ij} = g_i^2` unless ``coupling`` is given.  With state-dependent
    noise :math:`g_i = g_i(x_i)` (``noise``) the noise term is
    :math:`\sqrt2\,g_i(x_i)\,dB_i` and the pair term uses :math:`g_i(x_i)^2` (or
    ``coupling``), both evaluated at the start of the step.

    Schemes (``dt`` is the step):

    ``"em"``
        Euler-Maruyama.  Neighbouring eigenvalues cross at a rate per unit time
        that does not vanish with ``dt``; crossings are counted, never sorted away.
    ``"safe"``
        Euler-Maruyama, except that a step which would break the ordering is redone
        with the pair term implicit and the same noise,
        :math:`z_i = x_i + K_i(x_i)dt + \sqrt{2dt}\,g_i\eta_i + dt\sum_j G_{ij}/(z_i - z_j)`,
        solved by damped Newton inside the ordering chamber.  Its stationary state
        tends to the Coulomb gas as ``dt -> 0``.

    Parameters
    ----------
    modes : Modes
        One model per eigenvalue.
    g2 : float or array_like, shape (n_modes,)
        Noise strength :math:`g_i^2 > 0` (ignored for the noise amplitude when
        ``noise`` is given; may then be None).
    x0 : array_like, shape (n_modes,) or (n_replicas, n_modes), optional
        Start, distinct values inside each model's domain.  Default: the stable
        points, the ``m`` members of a degenerate group spread over the semicircle of
        radius :math:`\sqrt{2m g^2/\Omega}` around it.
        The ordering of ``x0`` is the one the dynamics keeps.
    dt : float
        Time step, > 0.
    n_steps : int
        Number of steps, >= 1.
    n_replicas : int, optional
        Independent replicas (own random streams).
    scheme : {"safe", "em"}, optional
        Integration scheme.
    coupling : array_like, shape (n_modes, n_modes), optional
        Symmetric pair-coupling matrix :math:`G_{ij} \ge 0`.
    noise : callable or sequence of callables, optional
        Jitted scalar functions :math:`x \mapsto g_i(x)` (one for all modes or one
        per mode).
    record : Record, optional
        What to record; default the final state and statistics after ``n_steps//2``.
    rng : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Seed (SPEC 7), turned into the int seed ``s`` that ``params["seed"]`` records
        (:func:`fpsolve.checks.as_seed`; an int is used as it is).  Replica ``r`` draws
        its normals, per step one per mode in mode order, from the xoshiro256++ stream
        ``fpsolve.streams.stream(SeedSequence(s, spawn_key=(r,)))``: results do not
        depend on the number of threads or on the chunking of the replicas.
    progress : bool, optional
        Show a progress bar; default only for long runs.

    device : {"cpu", "cuda"}, optional
        ``"cuda"`` runs every replica on the GPU (one thread per replica; needs
        ``pip install "fpsolve[cuda]"``): ``scheme="em"`` only, harmonic and RBM
        models, constant noise (``g2``, optionally ``coupling``).  The normals come
        from counter-based Philox streams keyed by ``rng`` (replica ``r``, step ``t``),
        so results match the CPU path in distribution, not number for number.

    Returns
    -------
    DBMResult

    Raises
    ------
    FloatingPointError
        If the run diverges: a step produces an inf or NaN, throws a value across
        a bounded domain, or a value runs away (farther than :data:`RUNAWAY` times the
        extent of the starts, stable points and stationary widths).  The message names
        the scheme, the step, ``dt`` and the explicit step's stability bound
        :math:`dt \lesssim 1/\max_i|K_i'(x_s)|`.
    numpy.linalg.LinAlgError
        If an implicit solve of ``"safe"`` fails (the message names ``dt`` and the step).
    ValueError
        For invalid input, and for a ``record`` that leaves no step to record.

    Examples
    --------
    >>> from fpsolve.models import Modes
    >>> from fpsolve.dbm import simulate
    >>> res = simulate(Modes.harmonic([1.0, 1.0]), 1.0, dt=0.01, n_steps=200,
    ...                n_replicas=100, rng=1)
    >>> res.x.shape
    (100, 2)
    """
    modes, dt, n_steps, n_replicas = _common(modes, dt, n_steps, n_replicas)
    n = len(modes)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    device = check_device(device)
    if device == "cuda" and scheme != "em":
        raise ValueError(f"device='cuda' supports scheme='em' only, got scheme={scheme!r}")
    noise_f = setup.check_noise(noise, n)
    if g2 is None:
        if noise_f is None:
            raise ValueError("g2 is required unless noise is given")
        xs = setup.stable(modes)
        g2 = np.array([float(noise_f[i](xs[i])) ** 2 for i in range(n)])
        g2_given = False
    else:
        g2 = setup.per_mode("g2", g2, n)
        g2_given = True
    if x0 is None:
        x0 = setup.default_x0(modes, g2)
    x0 = setup.check_x0(x0, modes, n_replicas)
    pmat: np.ndarray | None
    if coupling is not None:
        p = dt * setup.check_coupling(coupling, n)
        np.fill_diagonal(p, 0.0)
        prow = np.ones(n)
        prc, pmat = _pair_coef(p)
    else:  # P_ij = prow_i * dt (no n x n matrix)
        prow = g2.copy() if (g2_given and noise_f is None) else np.ones(n)
        prc, pmat = prow * dt, None
    amp = np.sqrt(2.0 * dt * g2) if noise_f is None else np.full(n, math.sqrt(2.0 * dt))
    state_noise = noise_f is not None
    pair_by_noise = state_noise and coupling is None
    seed = as_seed(rng)
    params = {"g2": g2, "coupling": coupling, "noise": noise is not None, "seed": seed}
    if device == "cuda":
        return _on_gpu(
            modes, x0, dt=dt, n_steps=n_steps, prow=prow, pmat=pmat, amp=amp, noise=noise_f,
            g2eff=g2, record=record, rng=seed, progress=progress, method=scheme, params=params,
        )  # fmt: skip
    table, kernels = setup.model_table(modes, noise_f)
    return _run(
        modes,
        x0,
        dt=dt,
        n_steps=n_steps,
        kernel=kernels.safe_chunk if scheme == "safe" else kernels.em_chunk,
        coef=_k.Coef(dt=dt, amp=amp, prow=prow, prc=prc, pmat=pmat, bounds=np.zeros(1, np.int64)),
        table=table,
        work=lambda c, blocks, by_mode: _k.work(
            n,
            c,
            state_noise=state_noise,
            pair_by_noise=pair_by_noise,
            blocks=blocks,
            by_mode=by_mode,
        ),
        g2eff=g2,
        record=record,
        seed=seed,
        progress=progress,
        method=scheme,
        params=params,
    )


def simulate_sgd(
    modes: Modes | Sequence,
    *,
    alpha: float,
    batch_size: int,
    gt2: ArrayLike | None = None,
    noise: PCDNoise | None = None,
    x0: ArrayLike | None = None,
    n_steps: int,
    n_replicas: int = 1,
    record: Record | None = None,
    rng: int | np.random.Generator | None = None,
    progress: bool | None = None,
    device: str = "cpu",
) -> DBMResult:
    r"""Iterate the SGD map of the eigenvalues (docs/theory.md section 2).

    With constant noise ``gt2`` the map exactly as written,

    .. math::

        x_i' = x_i + \alpha K_i(x_i)
               + \frac{\alpha^2}{|B|}\sum_{j\ne i}\frac{\tilde g_i^2}{x_i - x_j}
               + \frac{\alpha}{\sqrt{|B|}}\sqrt2\,\tilde g_i\,\eta_i,
        \qquad \eta_i \sim N(0, 1).

    The map is the model (there is no strict continuum limit); nothing is sorted or
    corrected.  Steps after which the eigenvalues are no longer in their previous
    order are counted (:attr:`DBMResult.crossing_steps`, ``pair_crossings``).  Near a
    stable point the stationary variance is
    :math:`\sigma_i^2 = (\alpha/|B|)\,\tilde g_i^2/\Omega_i`
    (:func:`fpsolve.analytic.sgd_stationary_variance`).

    With the state-dependent noise of PCD training, ``noise`` (a
    :class:`fpsolve.models.PCDNoise`, for RBM modes in the ``"training"``
    convention), the coupling :math:`\tilde G_{ab}(x)` and the second-order drift
    :math:`D_a(x)` are evaluated at the current eigenvalues,

    .. math::

        x_a' = x_a + \alpha K_a(x_a) + \frac{\alpha^2}{|B|}\Big(\sum_{b\ne a}
        \frac{\tilde G_{ab}(x)}{x_a - x_b} + D_a(x)\Big)
        + \frac{\alpha}{\sqrt{|B|}}\sqrt{2\tilde G_{aa}(x)}\,\eta_a,

    all modes repelling.  The pair sum is the second-order perturbative eigenvalue
    shift of the matrix step :math:`X' = \mathrm{diag}(x + \alpha K + \alpha^2 D/|B|)
    + \delta X`, :math:`\mathrm{Var}\,\delta X_{ab} = (\alpha^2/|B|)(1 + \delta_{ab})
    \tilde G_{ab}`.  Two neighbours closer than two off-diagonal kicks
    :math:`2\alpha\sqrt{\tilde G_{a,a+1}/|B|}` (a near pair) are degenerate at this
    order: if no two near pairs share a mode, each is taken exactly as the eigenvalues of
    its 2 x 2 block, whose diagonal is the perturbative step without their pair term and
    whose off-diagonal is a fresh kick (degenerate perturbation theory; counted in
    :attr:`DBMResult.pair_steps`).  Otherwise, or if the step would break the order, the
    step is taken as a matrix (its eigenvalues by Householder tridiagonalisation and QL,
    the same diagonal noise, the pairs' kicks, fresh normals for the other off-diagonals;
    counted in :attr:`DBMResult.matrix_steps`).  So the eigenvalues never cross, like
    those of :math:`W^T W`, and ``x0`` must be ascending.  A step that would leave
    :math:`[0, \mu^2/\sigma_h^2)` is not taken: the replica stops there
    (:attr:`DBMResult.left_domain`).  Each replica has its own random stream.

    Parameters
    ----------
    modes : Modes
        One model per eigenvalue; :math:`K_i` is the drift per unit of ``alpha``.
    alpha : float
        Learning rate, > 0 (the time step of the map).
    batch_size : int
        Batch size :math:`|B| \ge 1`.
    gt2 : float or array_like, shape (n_modes,), optional
        Constant :math:`\tilde g_i^2 > 0`; required unless ``noise`` is given.
    noise : PCDNoise, optional
        State-dependent noise instead of ``gt2``.
    x0 : array_like, shape (n_modes,) or (n_replicas, n_modes), optional
        Start (distinct values); default as in :func:`simulate` (with ``noise``, the
        :math:`g^2` of the noise at the stable points).
    n_steps, n_replicas, record, rng, progress, device
        As in :func:`simulate` (``device="cuda"``: constant noise ``gt2`` only).  With
        ``noise``, replica ``r`` draws the kicks of its near pairs (in ascending order)
        and then the other off-diagonal normals of a matrix step (row by row) from its
        stream after the step's ``n_modes`` diagonal ones.

    Returns
    -------
    DBMResult
        ``method == "sgd"``, ``params["dt"] == alpha``.

    Raises
    ------
    FloatingPointError
        If the map diverges (as in :func:`simulate`; the message names ``alpha``).

    Examples
    --------
    >>> from fpsolve.models import Modes
    >>> from fpsolve.dbm import simulate_sgd
    >>> res = simulate_sgd(Modes.harmonic([1.0, 1.0]), alpha=0.01, batch_size=8, gt2=1.0,
    ...                    n_steps=500, n_replicas=100, rng=1)
    >>> res.x.shape, res.params["g2"].tolist()
    ((100, 2), [0.00125, 0.00125])
    """
    modes = setup.check_modes(modes)
    alpha = check_positive("alpha", alpha)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    n_replicas = check_int("n_replicas", n_replicas, minimum=1)
    device = check_device(device)
    if noise is not None:
        if device == "cuda":
            raise ValueError(
                "device='cuda' supports constant noise (gt2) only; use device='cpu' for noise"
            )
        if gt2 is not None:
            raise ValueError("give either gt2 (constant noise) or noise, not both")
        return _sgd_pcd(
            modes,
            noise,
            alpha=alpha,
            batch_size=batch_size,
            x0=x0,
            n_steps=n_steps,
            n_replicas=n_replicas,
            record=record,
            rng=rng,
            progress=progress,
        )
    if gt2 is None:
        raise ValueError("gt2 is required unless noise is given")
    n = len(modes)
    gt2 = setup.per_mode("gt2", gt2, n)
    g2eff = np.asarray(sgd_g2(alpha, batch_size, gt2))
    if x0 is None:
        x0 = setup.default_x0(modes, g2eff)
    x0 = setup.check_x0(x0, modes, n_replicas)
    pc = alpha**2 / batch_size  # P_ij = gt2_i alpha^2/|B|
    amp = (alpha / math.sqrt(batch_size)) * math.sqrt(2.0) * np.sqrt(gt2)
    seed = as_seed(rng)
    params = {"alpha": alpha, "batch_size": batch_size, "gt2": gt2, "g2": g2eff, "seed": seed}
    if device == "cuda":
        return _on_gpu(
            modes, x0, dt=alpha, n_steps=n_steps, prow=gt2.copy(), pmat=None,
            amp=amp, noise=None, g2eff=g2eff, record=record, rng=seed, progress=progress,
            method="sgd", params=params, row_coef=pc,
        )  # fmt: skip
    table, kernels = setup.model_table(modes)
    return _run(
        modes,
        x0,
        dt=alpha,
        n_steps=n_steps,
        kernel=kernels.em_chunk,
        coef=_k.Coef(
            dt=alpha,
            amp=amp,
            prow=gt2.copy(),
            prc=gt2 * pc,
            pmat=None,
            bounds=np.zeros(1, np.int64),
        ),
        table=table,
        work=lambda c, blocks, by_mode: _k.work(
            n, c, state_noise=False, pair_by_noise=False, blocks=blocks, by_mode=by_mode
        ),
        g2eff=g2eff,
        record=record,
        seed=seed,
        progress=progress,
        method="sgd",
        params=params,
    )


def _sgd_pcd(
    modes: Modes,
    noise: PCDNoise,
    *,
    alpha: float,
    batch_size: int,
    x0: ArrayLike | None,
    n_steps: int,
    n_replicas: int,
    record: Record | None,
    rng: int | np.random.Generator | None,
    progress: bool | None,
) -> DBMResult:
    """:func:`simulate_sgd` with the state-dependent PCD noise."""
    if not isinstance(noise, PCDNoise):
        raise TypeError(f"noise must be a fpsolve.models.PCDNoise, got {noise!r}")
    if not all(isinstance(m, RBMModel) and m.convention == "training" for m in modes):
        raise ValueError(
            "noise=PCDNoise needs RBMModel modes in the 'training' convention (drift per "
            "unit alpha, like the noise)"
        )
    gt2 = noise.at(modes).gt2  # also checks that the modes share mu2 and sigma_h2
    n_extra = noise.n_outside(modes)
    g2eff = np.asarray(sgd_g2(alpha, batch_size, gt2))
    if x0 is None:
        x0 = setup.default_x0(modes, g2eff)
    x0 = setup.check_x0(x0, modes, n_replicas)
    if np.any(np.diff(x0, axis=1) <= 0):
        r = int(np.argmax(np.any(np.diff(x0, axis=1) <= 0, axis=1)))
        raise ValueError(
            f"x0 must be ascending in every replica with noise=PCDNoise (the modes are the "
            f"labelled eigenvalues, which never cross); replica {r} has {x0[r].tolist()}"
        )
    rbm = modes[0]
    assert isinstance(rbm, RBMModel)
    ab = alpha / batch_size
    coef = _k.PCDCoef(
        alpha=alpha,
        ab=ab,
        inv_b=1.0 / batch_size,
        mu2=rbm.mu2,
        s=rbm.sigma_h2,
        k=0 if noise.k is None else noise.k,
        n_extra=float(n_extra),
        d_weight=ab if noise.second_order else 0.0,
    )
    table, kernels = setup.model_table(modes)
    return _run(
        modes,
        x0,
        dt=alpha,
        n_steps=n_steps,
        kernel=kernels.pcd_chunk,
        coef=coef,
        table=table,
        work=None,
        g2eff=g2eff,
        record=record,
        seed=as_seed(rng),
        progress=progress,
        method="sgd",
        params={"alpha": alpha, "batch_size": batch_size, "gt2": gt2, "g2": g2eff, "noise": noise},
        chunk_size=_k.PCD_LANES,
    )


def simulate_matrix(
    modes: Modes | Sequence,
    g2: float,
    x0: ArrayLike | None = None,
    *,
    dt: float,
    n_steps: int,
    n_replicas: int = 1,
    record: Record | None = None,
    rng: int | np.random.Generator | None = None,
    progress: bool | None = None,
) -> DBMResult:
    r"""The same dynamics at matrix level: a symmetric ``X`` with GOE noise.

    One step, with :math:`X = U\,\mathrm{diag}(\lambda)\,U^T` (``eigh``, ascending):

    .. math::

        X' = U\,\mathrm{diag}\big(\lambda + dt\,K(\lambda)\big)\,U^T
             + \sqrt{g^2 dt}\;\frac{A + A^T}{\sqrt2},\qquad A_{ab}\sim N(0,1),

    so the noise has variance :math:`2g^2dt` on the diagonal and :math:`g^2dt` off it;
    second-order perturbation theory gives the eigenvalue SDE with
    :math:`G_{ij} = g^2`.  The drift of mode ``i`` acts on the eigenvalue whose rank
    is the rank of ``x0[i]``.  Eigenvalues are those of ``X`` (``eigh``), so they never
    cross; this is the independent check of :func:`simulate`.  Cost
    :math:`O(N^3)` per replica and step.

    Parameters
    ----------
    modes : Modes
        One model per eigenvalue (the matrix is ``n_modes x n_modes``).
    g2 : float
        Common noise strength :math:`g^2 > 0` (GOE noise has one scale).
    x0 : array_like, shape (n_modes,), optional
        Start ``X = diag(x0)``; default as in :func:`simulate`.
    dt, n_steps, n_replicas, record, rng, progress
        As in :func:`simulate`.

    Returns
    -------
    DBMResult
        ``method == "matrix"``; no crossings by construction.

    Raises
    ------
    ValueError
        Also if an eigenvalue leaves a model's domain during the run (no boundary
        handling at matrix level).
    """
    modes, dt, n_steps, n_replicas = _common(modes, dt, n_steps, n_replicas)
    n = len(modes)
    g2 = check_positive("g2", g2)
    g2v = np.full(n, g2)
    if x0 is None:
        x0 = setup.default_x0(modes, g2v)
    x0 = check_finite_array("x0", x0)
    if x0.shape != (n,):
        raise ValueError(f"x0 must have shape ({n},) for simulate_matrix, got {x0.shape}")
    x0 = setup.check_x0(x0, modes, 1)[0]
    order = np.argsort(x0, kind="stable")  # mode order[k] is the k-th smallest eigenvalue
    gen = as_rng(rng)
    rec = Recorder(record, modes, g2v, n_steps, n_replicas, setup.groups(modes, g2v))
    bf = rec.buffers(0, n_replicas)
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    lam = np.repeat(np.sort(x0)[None, :], n_replicas, axis=0)
    u = np.repeat(np.eye(n)[None], n_replicas, axis=0)
    xm = np.empty((n_replicas, n))
    xm[:, order] = lam
    rec.start(np.ascontiguousarray(xm.T), bf, counters)
    scale = math.sqrt(g2 * dt / 2.0)
    show = setup.show_progress(progress, n_replicas * n**3 * n_steps)
    from tqdm.auto import tqdm

    for step in tqdm(range(1, n_steps + 1), disable=not show, unit="step", desc="matrix"):
        try:
            k = modes.drift(xm)
        except ValueError as exc:
            raise ValueError(
                f"simulate_matrix: an eigenvalue left its domain at step {step}: {exc}"
            ) from exc
        new = lam + dt * k[:, order]
        a = gen.standard_normal((n_replicas, n, n))
        x = (u * new[:, None, :]) @ u.transpose(0, 2, 1) + scale * (a + a.transpose(0, 2, 1))
        lam, u = np.linalg.eigh(x)
        xm[:, order] = lam
        rec.record(np.ascontiguousarray(xm.T), step, bf, counters)
    n_rec = int(counters[N_RECORDED])
    mean, mean_square, spacing = rec.replica_averages(np.full(n_replicas, n_rec))
    return DBMResult(
        modes=modes,
        method="matrix",
        params={"g2": g2v, "dt": dt, "n_steps": n_steps, "n_replicas": n_replicas},
        x=xm.copy(),
        snapshot_steps=rec.snap_steps,
        snapshots=np.ascontiguousarray(bf.snaps.transpose(0, 2, 1)),
        n_recorded=n_rec,
        n_samples=n_rec * n_replicas,
        reference=rec.ref,
        power_sums=bf.mom,
        histograms=rec.histograms([bf]),
        crossing_steps=np.zeros(n_replicas, dtype=np.int64),
        left_domain=np.zeros(n_replicas, dtype=np.int64),
        replica_mean=mean,
        replica_mean_square=mean_square,
        replica_spacing=spacing,
        pairs=rec.pairs,
    )

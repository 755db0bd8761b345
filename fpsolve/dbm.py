r"""Dyson Brownian motion of eigenvalues and exact Coulomb-gas sampling (docs/theory.md section 2).

The eigenvalues :math:`x_i` of :math:`X = W^T W` follow the Ito SDE

.. math::

    dx_i = \Big[K_i(x_i) + \sum_{j \ne i} \frac{G_{ij}}{x_i - x_j}\Big]\,dt
           + \sqrt{2}\, g_i\, dB_i, \qquad G_{ij} = g_i^2 \text{ by default},

with :math:`K_i = -V_i'` the drift of mode ``i`` (a :class:`fpsolve.models.Model`).
For :math:`G_{ij} = g_i^2` and constant :math:`g_i` the stationary state is the
:math:`\beta = 1` Coulomb gas

.. math::

    P_s(\{x\}) = \frac{1}{Z}\prod_{i<j}|x_i - x_j|\, \exp\Big(-\sum_i V_i(x_i)/g_i^2\Big),

restricted to the ordering of the starting point (eigenvalues never cross).
Stochastic gradient descent with learning rate :math:`\alpha` and batch size
:math:`|B|` is the discrete map

.. math::

    x_i' = x_i + \alpha K_i + \frac{\alpha^2}{|B|}\sum_{j\ne i}\frac{\tilde g_i^2}{x_i - x_j}
           + \frac{\alpha}{\sqrt{|B|}}\sqrt{2}\,\tilde g_i\,\eta_i,
    \qquad \eta_i \sim N(0, 1),

one Euler-Maruyama step with :math:`dt = \alpha`, :math:`g_i^2 = \alpha\tilde g_i^2/|B|`.

Public functions
----------------
:func:`simulate`
    the SDE with the Euler-Maruyama (``"em"``) or collision-safe (``"safe"``) scheme.
:func:`simulate_sgd`
    the SGD map exactly as written, counting steps that make eigenvalues cross.
:func:`simulate_matrix`
    the same physics for a symmetric matrix with GOE noise, eigenvalues by ``eigvalsh``.
:func:`sample_coulomb_gas`
    samples of :math:`P_s`: exact (harmonic, beta-Hermite) or Metropolis-adjusted Langevin.

Runs keep no trajectories: they record snapshots at chosen steps, running moments per
mode, histograms per mode, pooled histograms of degenerate groups, histograms of
neighbour spacings inside each group, and crossing counts (:class:`Record`).
Replicas are split into chunks with one random stream each (spawned from ``rng``),
so a seed gives identical results whatever the number of threads.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from fpsolve import _dbm_kernels as _k
from fpsolve.checks import (
    as_rng,
    check_finite_array,
    check_in_range,
    check_int,
    check_positive,
)
from fpsolve.cuda import check_device
from fpsolve.models import HarmonicModel, Model, Modes, RBMModel

__all__ = [
    "SCHEMES",
    "CoulombGasSamples",
    "DBMResult",
    "Histograms",
    "Record",
    "sample_coulomb_gas",
    "simulate",
    "simulate_matrix",
    "simulate_sgd",
]

SCHEMES = ("em", "safe")
"""Schemes of :func:`simulate`: plain Euler-Maruyama and the collision-safe scheme."""

_MAX_CHUNKS = 4096
# numba's workqueue threading layer (used when neither TBB nor OpenMP is available) must not
# run two parallel regions at once: runs of one large system take turns.
_PARALLEL_LOCK = threading.Lock()
_CHUNK = 512  # replicas per random stream (cache-sized working set)
_PROGRESS_WORK = 1e9  # pair-sum operations above which a progress bar is shown by default
_BOUNDARY_CODE = {"natural": 0, "reflecting": 1, "wall": 2}


# ---------------------------------------------------------------------------
# recording configuration and results
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    """What a run records (no trajectories are stored).

    Parameters
    ----------
    snapshots : sequence of int, optional
        Steps (``0 <= step <= n_steps``) at which the whole state of every replica is
        kept; default only the last step.
    burn_in : int, optional
        Steps discarded before statistics start; default ``n_steps // 2``.
    every : int, optional
        Record statistics every ``every`` steps after ``burn_in``.
    bins : int, optional
        Bins of every histogram.
    ranges : sequence of (float, float), optional
        Histogram range of each degenerate group (in the order of
        :attr:`Histograms.groups`); default centred on the stable points, wide
        enough for the group's stationary spread.
    spacing_max : sequence of float, optional
        Upper end of the spacing histogram of each group (lower end 0).
    """

    snapshots: tuple[int, ...] | None = None
    burn_in: int | None = None
    every: int = 1
    bins: int = 100
    ranges: tuple | None = None
    spacing_max: tuple | None = None


@dataclass(frozen=True, eq=False)
class Histograms:
    """Streaming histograms of a run.

    Attributes
    ----------
    groups : tuple of tuple of int
        Degenerate groups (same model and same noise); histogram edges are shared
        inside a group so that the pooled histogram is the sum of its members'.
    edges : ndarray, shape (n_groups, bins + 1)
        Bin edges of each group.
    counts : ndarray, shape (n_modes, bins)
        Counts per mode.
    underflow, overflow : ndarray, shape (n_modes,)
        Recorded values below / above the range of each mode's group.
    spacing_edges : ndarray, shape (n_groups, bins + 1)
        Edges of the neighbour-spacing histogram of each group.
    spacing_counts : ndarray, shape (n_groups, bins)
        Counts of neighbour spacings inside each group (all zero for single modes).
    spacing_overflow : ndarray, shape (n_groups,)
        Spacings beyond the last edge.
    """

    groups: tuple
    edges: np.ndarray
    counts: np.ndarray
    underflow: np.ndarray
    overflow: np.ndarray
    spacing_edges: np.ndarray
    spacing_counts: np.ndarray
    spacing_overflow: np.ndarray

    def pooled_counts(self, group: int) -> np.ndarray:
        """Counts of all modes of ``group`` pooled (do not sort a pair into modes: pool it)."""
        return self.counts[list(self.groups[group])].sum(axis=0)

    def pooled_density(self, group: int) -> np.ndarray:
        """Pooled one-point density of ``group``, normalised by all its recorded values."""
        members = list(self.groups[group])
        total = self.counts[members].sum() + self.underflow[members].sum()
        total += self.overflow[members].sum()
        return self.pooled_counts(group) / (max(total, 1) * np.diff(self.edges[group]))

    def density(self, mode: int) -> np.ndarray:
        """One-point density of ``mode``, normalised by all its recorded values."""
        g = next(k for k, grp in enumerate(self.groups) if mode in grp)
        total = self.counts[mode].sum() + self.underflow[mode] + self.overflow[mode]
        return self.counts[mode] / (max(total, 1) * np.diff(self.edges[g]))

    def spacing_density(self, group: int) -> np.ndarray:
        """Density of neighbour spacings inside ``group``, normalised by all spacings."""
        total = self.spacing_counts[group].sum() + self.spacing_overflow[group]
        return self.spacing_counts[group] / (max(total, 1) * np.diff(self.spacing_edges[group]))

    def plot(self, ax=None):
        """Step plot of the pooled density of every group; returns the artists."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        artists = []
        for g, grp in enumerate(self.groups):
            line = ax.stairs(self.pooled_density(g), self.edges[g], label=f"modes {grp}")
            artists.append(line)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.legend(fontsize="small")
        return artists


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
        ``dt``, ``n_steps``, ``n_replicas`` and the noise parameters of the run.
    x : ndarray, shape (n_replicas, n_modes)
        Final state.
    snapshot_steps : ndarray of int
        Steps of the snapshots.
    snapshots : ndarray, shape (n_snapshots, n_replicas, n_modes)
        States at ``snapshot_steps``.
    n_recorded : int
        Recorded steps (each contributes ``n_replicas`` states to the statistics).
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
    """

    modes: Modes
    method: str
    params: dict
    x: np.ndarray
    snapshot_steps: np.ndarray
    snapshots: np.ndarray
    n_recorded: int
    reference: np.ndarray
    power_sums: np.ndarray
    histograms: Histograms
    crossing_steps: np.ndarray
    pair_crossings: int = 0
    redo_steps: int = 0
    redo_failed: int = 0
    full_solves: int = 0
    boundary_hits: int = 0

    @property
    def n_samples(self) -> int:
        """Number of recorded states per mode (``n_recorded * n_replicas``)."""
        return self.n_recorded * self.x.shape[0]

    @property
    def mean(self) -> np.ndarray:
        """Mean of each mode over the recorded states."""
        n = max(self.n_samples, 1)
        return self.reference + self.power_sums[:, 0] / n

    @property
    def var(self) -> np.ndarray:
        """Variance of each mode over the recorded states (pooled over replicas)."""
        n = max(self.n_samples, 1)
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
        n = self.n_samples * len(members)
        m2 = self.power_sums[members, 1].sum() / n
        m4 = self.power_sums[members, 3].sum() / n
        return m4 / (3.0 * m2 * m2) - 1.0

    def plot(self, ax=None):
        """Pooled density of each degenerate group; returns the artists."""
        return self.histograms.plot(ax=ax)


@dataclass(frozen=True, eq=False)
class CoulombGasSamples:
    """Samples of the Coulomb gas from :func:`sample_coulomb_gas`.

    Attributes
    ----------
    samples : ndarray, shape (n_samples, n_modes)
        Column ``i`` is mode ``i``; MALA samples are ordered chain by chain.
    method : str
        ``"exact"`` or ``"mala"``.
    modes : Modes
        The models.
    g2 : ndarray, shape (n_modes,)
        Noise strength per mode.
    acceptance : ndarray, shape (n_chains,)
        Acceptance rate of each chain after burn-in (1 for ``"exact"``); a chain far
        below the others has stuck.
    step : ndarray, shape (n_chains,)
        Adapted Langevin step ``h`` of each chain (NaN for ``"exact"``).
    ess : ndarray, shape (n_modes,)
        Effective sample size per mode (integrated autocorrelation time, Sokal window
        ``c = 5``, per chain, summed over chains).
    """

    samples: np.ndarray
    method: str
    modes: Modes
    g2: np.ndarray
    acceptance: np.ndarray
    step: np.ndarray
    ess: np.ndarray

    @property
    def acceptance_rate(self) -> float:
        """Mean acceptance over chains."""
        return float(np.mean(self.acceptance))

    def plot(self, ax=None, bins: int = 60):
        """Histogram of each degenerate group pooled; returns the artists."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        artists = []
        for grp in self.modes.degenerate_groups():
            vals = self.samples[:, list(grp)].ravel()
            _, _, patches = ax.hist(
                vals, bins=bins, density=True, histtype="step", label=f"modes {grp}"
            )
            artists.extend(patches)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.legend(fontsize="small")
        return artists


# ---------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------
def _check_modes(modes) -> Modes:
    if isinstance(modes, Model):
        return Modes([modes])
    if isinstance(modes, Modes):
        return modes
    if isinstance(modes, Sequence) and all(isinstance(m, Model) for m in modes):
        return Modes(modes)
    raise TypeError(f"modes must be a fpsolve.models.Modes (or a sequence of Model), got {modes!r}")


def _per_mode(name, value, n, *, strict=True) -> np.ndarray:
    arr = check_finite_array(name, value)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(
            f"{name} must be a scalar or have shape ({n},) (one per mode), got {arr.shape}"
        )
    bad = arr <= 0 if strict else arr < 0
    if np.any(bad):
        k = int(np.argmax(bad))
        allowed = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {allowed}, got {arr[k]!r} for mode {k}")
    return arr


def _check_coupling(coupling, n) -> np.ndarray:
    c = check_finite_array("coupling", coupling, ndim=2)
    if c.shape != (n, n):
        raise ValueError(f"coupling must have shape ({n}, {n}), got {c.shape}")
    if not np.allclose(c, c.T, rtol=1e-12, atol=0.0):
        raise ValueError("coupling must be symmetric (G_ij = G_ji)")
    off = c[~np.eye(n, dtype=bool)]
    if np.any(off < 0):
        raise ValueError(f"coupling must be >= 0 off the diagonal, got {off.min()!r}")
    return c


def _model_key(m: Model):
    """Models with equal parameters share derived quantities (user models by identity)."""
    if type(m) in (HarmonicModel, RBMModel):
        return (type(m).__name__, tuple(sorted(m.params.items())))
    return ("id", id(m))


def _per_model(modes: Modes, attr: str) -> np.ndarray:
    """``getattr(model, attr)`` per mode (NaN where it raises ValueError), once per model."""
    cache: dict = {}
    out = np.full(len(modes), np.nan)
    for i, m in enumerate(modes):
        key = _model_key(m)
        if key not in cache:
            cache[key] = math.nan
            with contextlib.suppress(ValueError):
                cache[key] = float(getattr(m, attr))
        out[i] = cache[key]
    return out


def _sigma(modes: Modes, g2) -> np.ndarray:
    """Stationary single-mode width sqrt(g2/Omega) (NaN where a model has no stable point)."""
    return np.sqrt(np.asarray(g2, dtype=np.float64) / _per_model(modes, "omega"))


def _stable(modes: Modes) -> np.ndarray:
    return _per_model(modes, "x_stable")


def _groups(modes: Modes, g2) -> list[tuple[int, ...]]:
    """Degenerate groups refined by equal g2."""
    out = []
    for grp in modes.degenerate_groups():
        sub: dict[float, list[int]] = {}
        for i in grp:
            sub.setdefault(float(g2[i]), []).append(i)
        out.extend(tuple(v) for v in sub.values())
    return sorted(out, key=lambda g: g[0])


def _semicircle_quantiles(m: int) -> np.ndarray:
    """Quantiles ``(a + 1/2)/m`` of the semicircle law on ``[-1, 1]``."""
    u = np.linspace(-1.0, 1.0, 4001)
    cdf = 0.5 + (u * np.sqrt(1.0 - u * u) + np.arcsin(u)) / np.pi
    return np.interp((np.arange(m) + 0.5) / m, cdf, u)


def _default_x0(modes: Modes, g2) -> np.ndarray:
    """Stable points; members of a degenerate group of ``m`` modes placed at the quantiles
    of the semicircle of radius ``sqrt(2 m) sigma`` (``sigma = sqrt(g2/Omega)``)."""
    xs, sig = _stable(modes), _sigma(modes, g2)
    if np.any(np.isnan(xs)):
        k = int(np.argmax(np.isnan(xs)))
        raise ValueError(f"x0 is required: mode {k} ({modes[k]!r}) has no stable fixed point")
    x0 = xs.copy()
    for grp in _groups(modes, g2):
        m = len(grp)
        offsets = math.sqrt(2.0 * m) * _semicircle_quantiles(m) if m > 1 else np.zeros(1)
        for a, i in enumerate(grp):
            x0[i] = xs[i] + offsets[a] * sig[i]
    if len(np.unique(x0)) < len(x0):  # distinct models sharing a stable point
        x0 = x0 + 1e-3 * np.nanmax(sig) * np.arange(len(x0))
    for i, m in enumerate(modes):
        if not m.contains(x0[i]):
            x0[i] = xs[i]
    return x0


def _check_x0(x0, modes: Modes, n_replicas: int) -> np.ndarray:
    """Validate x0 ((n,) or (n_replicas, n)); return (n_replicas, n)."""
    n = len(modes)
    x = check_finite_array("x0", x0)
    shared = x.ndim == 1
    if shared:
        if x.shape != (n,):
            raise ValueError(f"x0 must have shape ({n},) or ({n_replicas}, {n}), got {x.shape}")
        x = x[None, :]  # checked once, broadcast at the end
    elif x.shape != (n_replicas, n):
        raise ValueError(f"x0 must have shape ({n},) or ({n_replicas}, {n}), got {x.shape}")
    srt = np.sort(x, axis=1)
    if n > 1 and np.any(np.diff(srt, axis=1) <= 0):
        r = int(np.argmax(np.any(np.diff(srt, axis=1) <= 0, axis=1)))
        raise ValueError(
            f"x0 must hold distinct eigenvalues (the pair term is singular at x_i = x_j); "
            f"replica {r} has coinciding values {x[r].tolist()}"
        )
    lo = np.array([m.domain[0] for m in modes])
    hi = np.array([m.domain[1] for m in modes])
    lo_wall = np.array([m.boundaries[0] == "wall" for m in modes])
    hi_wall = np.array([m.boundaries[1] == "wall" for m in modes])
    inside = np.where(lo_wall, x > lo, x >= lo) & np.where(hi_wall, x < hi, x <= hi)
    if not np.all(inside):
        r, i = np.argwhere(~inside)[0]
        raise ValueError(
            f"x0 for mode {i} must lie in the domain ({lo[i]}, {hi[i]}) of {modes[i]!r}, "
            f"got {float(x[r, i])!r}"
        )
    if shared:
        return np.array(np.broadcast_to(x, (n_replicas, n)), dtype=np.float64)
    return np.array(x, dtype=np.float64)


def _check_noise(noise, n):
    if noise is None:
        return None
    funcs = list(noise) if isinstance(noise, Sequence) else [noise] * n
    if len(funcs) != n:
        raise ValueError(
            f"noise must be one callable or {n} callables (one per mode), got {len(funcs)}"
        )
    out = []
    for k, func in enumerate(funcs):
        if not callable(func):
            raise TypeError(f"noise[{k}] must be a callable x -> g_i(x), got {func!r}")
        f = func
        if not isinstance(f, numba.core.registry.CPUDispatcher):
            try:
                f = numba.njit(func)
                float(f(0.5))
            except Exception as exc:
                raise TypeError(
                    f"noise[{k}] cannot be compiled by numba ({exc.__class__.__name__}); pass an "
                    f"@numba.njit function of a scalar"
                ) from exc
        out.append(f)
    return out


class _Table:
    """Per-mode arrays for the kernels, and the kernels that fit the models."""

    def __init__(self, modes: Modes, noise=None):
        n = len(modes)
        self.kind = np.zeros(n, dtype=np.int64)
        self.par = np.zeros((n, 4))
        self.lo = np.array([m.domain[0] for m in modes], dtype=np.float64)
        self.hi = np.array([m.domain[1] for m in modes], dtype=np.float64)
        self.lok = np.array([_BOUNDARY_CODE[m.boundaries[0]] for m in modes], dtype=np.int64)
        self.hik = np.array([_BOUNDARY_CODE[m.boundaries[1]] for m in modes], dtype=np.int64)
        self.nkind = np.zeros(n, dtype=np.int64)
        fast = all(type(m) in (HarmonicModel, RBMModel) for m in modes)
        drifts = potentials = noises = None
        key: list = []
        if fast:
            for i, m in enumerate(modes):
                if isinstance(m, HarmonicModel):
                    self.par[i] = (m.omega, m.center, 0.0, 0.0)
                else:
                    self.kind[i] = 1
                    self.par[i] = (m.prefactor, m.kappa, m.mu2, m.sigma_h2)
        else:
            unique: list[Model] = []
            for i, m in enumerate(modes):
                for k, u in enumerate(unique):
                    if u is m:
                        self.kind[i] = k
                        break
                else:
                    self.kind[i] = len(unique)
                    unique.append(m)
            drifts = tuple(m.numba_drift for m in unique)
            potentials = tuple(m.numba_potential for m in unique)
            key.append(tuple((id(m), m) for m in unique))
        if noise is not None:
            uniq_f: list = []
            for i, f in enumerate(noise):
                for k, u in enumerate(uniq_f):
                    if u is f:
                        self.nkind[i] = k
                        break
                else:
                    self.nkind[i] = len(uniq_f)
                    uniq_f.append(f)
            noises = tuple(uniq_f)
            key.append(tuple((id(f), f) for f in uniq_f))
        if drifts is None and noises is None:
            self.kernels = _k.default_kernels()
        else:
            self.kernels = _k.build_kernels(
                (fast, *key), drifts=drifts, potentials=potentials, noises=noises
            )


def _chunks(n_replicas: int) -> list[tuple[int, int]]:
    n_chunks = min(_MAX_CHUNKS, max(1, -(-n_replicas // _CHUNK)))
    size = -(-n_replicas // n_chunks)
    return [(a, min(n_replicas, a + size)) for a in range(0, n_replicas, size)]


def _spawn(rng, n: int) -> list[np.random.Generator]:
    """``n`` independent generators spawned from ``rng`` (SeedSequence children)."""
    return as_rng(rng).spawn(n)


def _map(fn, n: int):
    threads = min(n, numba.get_num_threads())
    if threads <= 1:
        return [fn(k) for k in range(n)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, range(n)))


def _show_progress(progress, work: float) -> bool:
    if progress is None:
        return work > _PROGRESS_WORK
    return bool(progress)


# ---------------------------------------------------------------------------
# recording set-up
# ---------------------------------------------------------------------------
class _Recorder:
    def __init__(self, record, modes, g2eff, n_steps, n_replicas, groups):
        record = Record() if record is None else record
        if not isinstance(record, Record):
            raise TypeError(f"record must be a fpsolve.dbm.Record or None, got {record!r}")
        n = len(modes)
        snaps = (n_steps,) if record.snapshots is None else tuple(record.snapshots)
        steps = np.array(
            sorted({check_int("record.snapshots", s, minimum=0) for s in snaps}), dtype=np.int64
        )
        if steps.size and steps[-1] > n_steps:
            raise ValueError(f"record.snapshots must be <= n_steps={n_steps}, got {steps[-1]}")
        burn = (
            n_steps // 2
            if record.burn_in is None
            else check_int("record.burn_in", record.burn_in, minimum=0)
        )
        every = check_int("record.every", record.every, minimum=1)
        bins = check_int("record.bins", record.bins, minimum=1)
        self.snap_steps = steps
        self.rec_start = burn + every if burn + every <= n_steps else n_steps + 1
        self.rec_start = max(self.rec_start, 1)
        self.every = every
        self.bins = bins
        self.groups = groups
        ng = len(groups)
        xs, sig = _stable(modes), _sigma(modes, g2eff)
        self.hist_lo = np.empty(ng)
        self.hist_w = np.empty(ng)
        self.sp_w = np.empty(ng)
        self.ref = np.zeros(n)
        edges, sp_edges = [], []
        for g, grp in enumerate(groups):
            members = list(grp)
            if record.ranges is not None:
                if len(record.ranges) != ng:
                    raise ValueError(
                        f"record.ranges must hold one (low, high) per group "
                        f"({ng} groups: {groups}), got {len(record.ranges)}"
                    )
                lo, hi = (float(v) for v in record.ranges[g])
                if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                    raise ValueError(
                        f"record.ranges[{g}] must be finite with low < high, "
                        f"got {record.ranges[g]!r}"
                    )
                centre = 0.5 * (lo + hi)
                s = (hi - lo) / (2.0 * (math.sqrt(4.0 * len(grp)) + 5.0))
            else:
                if np.any(np.isnan(xs[members])) or np.any(np.isnan(sig[members])):
                    raise ValueError(
                        f"record.ranges is required: modes {grp} have no stable "
                        "fixed point to centre the histograms on"
                    )
                centre = float(np.mean(xs[members]))
                s = float(np.max(sig[members]))
                half = (math.sqrt(4.0 * len(grp)) + 5.0) * s
                dlo, dhi = modes[members[0]].domain
                lo, hi = max(centre - half, dlo), min(centre + half, dhi)
            self.ref[members] = xs[members] if not np.any(np.isnan(xs[members])) else centre
            self.hist_lo[g] = lo
            self.hist_w[g] = (hi - lo) / bins
            edges.append(np.linspace(lo, hi, bins + 1))
            smax = (
                8.0 * s
                if record.spacing_max is None
                else check_positive("record.spacing_max", record.spacing_max[g])
            )
            self.sp_w[g] = smax / bins
            sp_edges.append(np.linspace(0.0, smax, bins + 1))
        self.edges = np.array(edges)
        self.sp_edges = np.array(sp_edges)
        self.group_of = np.zeros(n, dtype=np.int64)
        maxm = max(len(g) for g in groups)
        self.members = np.full((ng, maxm), -1, dtype=np.int64)
        for g, grp in enumerate(groups):
            self.group_of[list(grp)] = g
            self.members[g, : len(grp)] = grp

    def buffers(self, n, c):
        ng = len(self.groups)
        return {
            "mom": np.zeros((n, 4)),
            "hist": np.zeros((n, self.bins), dtype=np.int64),
            "under": np.zeros(n, dtype=np.int64),
            "over": np.zeros(n, dtype=np.int64),
            "sp_hist": np.zeros((ng, self.bins), dtype=np.int64),
            "sp_over": np.zeros(ng, dtype=np.int64),
            "snaps": np.zeros((len(self.snap_steps), n, c)),
            "buf": np.zeros(n),
        }

    def record(self, x, step, b):
        return _k.record_state(
            x,
            step,
            self.rec_start,
            self.every,
            self.ref,
            b["mom"],
            self.hist_lo,
            self.hist_w,
            b["hist"],
            b["under"],
            b["over"],
            self.group_of,
            self.members,
            self.sp_w,
            b["sp_hist"],
            b["sp_over"],
            b["buf"],
        )

    def histograms(self, bufs) -> Histograms:
        return Histograms(
            groups=tuple(self.groups),
            edges=self.edges,
            counts=sum(b["hist"] for b in bufs),
            underflow=sum(b["under"] for b in bufs),
            overflow=sum(b["over"] for b in bufs),
            spacing_edges=self.sp_edges,
            spacing_counts=sum(b["sp_hist"] for b in bufs),
            spacing_overflow=sum(b["sp_over"] for b in bufs),
        )


# ---------------------------------------------------------------------------
# the SDE / SGD engine
# ---------------------------------------------------------------------------
def _run(
    modes,
    x0,
    *,
    dt,
    n_steps,
    pcoef,
    prow,
    amp,
    noise_mode,
    noise,
    safe,
    g2eff,
    record,
    rng,
    progress,
    method,
    params,
    device="cpu",
):
    if device == "cuda":
        from fpsolve.cuda import _dbm as _cuda_dbm

        return _cuda_dbm.simulate(
            modes,
            x0,
            dt=dt,
            n_steps=n_steps,
            pcoef=pcoef,
            prow=prow,
            amp=amp,
            noise=noise,
            safe=safe,
            g2eff=g2eff,
            record=record,
            rng=rng,
            progress=progress,
            method=method,
            params=params,
        )
    n_replicas = x0.shape[0]
    n = len(modes)
    table = _Table(modes, noise)
    groups = _groups(modes, g2eff)
    rec = _Recorder(record, modes, g2eff, n_steps, n_replicas, groups)
    chunks = _chunks(n_replicas)
    gens = _spawn(rng, len(chunks))
    xs = [np.ascontiguousarray(x0[a:b].T) for a, b in chunks]
    perms = [np.ascontiguousarray(np.argsort(x, axis=0, kind="stable")) for x in xs]
    bufs = [rec.buffers(n, b - a) for a, b in chunks]
    counters = [np.zeros(_k.N_COUNTERS, dtype=np.int64) for _ in chunks]
    cross = [np.zeros(b - a, dtype=np.int64) for a, b in chunks]
    snap_pos = [0] * len(chunks)
    for k in range(len(chunks)):
        snap_pos[k] = _k._snapshot(xs[k], 0, rec.snap_steps, bufs[k]["snaps"], 0)
    kernel = table.kernels.sde_chunk
    # one large system (one chunk, few replicas): the pair sum runs on all threads
    blocked = len(chunks) == 1 and n_replicas < 8 and n >= _k.PAIR_BLOCKS_MIN_N
    bounds = _k.pair_blocks(n) if blocked else np.zeros(1, dtype=np.int64)
    cost = n_replicas * (n + 0.5 * n * n)
    show = _show_progress(progress, cost * n_steps)
    block = max(1, int(2e8 // cost)) if show else n_steps
    from tqdm.auto import tqdm

    def advance(k, step0, steps):
        b = bufs[k]
        snap_pos[k] = kernel(
            xs[k],
            perms[k],
            steps,
            step0,
            dt,
            pcoef,
            prow,
            amp,
            noise_mode,
            table.kind,
            table.par,
            table.nkind,
            table.lo,
            table.hi,
            table.lok,
            table.hik,
            safe,
            gens[k],
            rec.rec_start,
            rec.every,
            rec.ref,
            b["mom"],
            rec.hist_lo,
            rec.hist_w,
            b["hist"],
            b["under"],
            b["over"],
            rec.group_of,
            rec.members,
            rec.sp_w,
            b["sp_hist"],
            b["sp_over"],
            rec.snap_steps,
            b["snaps"],
            snap_pos[k],
            counters[k],
            cross[k],
            bounds,
        )

    with (
        _PARALLEL_LOCK if blocked else contextlib.nullcontext(),
        tqdm(total=n_steps, disable=not show, unit="step", desc=method) as bar,
    ):
        step0 = 0
        while step0 < n_steps:
            steps = min(block, n_steps - step0)
            _map(lambda k, s0=step0, st=steps: advance(k, s0, st), len(chunks))
            step0 += steps
            bar.update(steps)
    tot = sum(counters)
    snaps = np.concatenate([b["snaps"] for b in bufs], axis=2).transpose(0, 2, 1)
    x = np.concatenate(xs, axis=1).T.copy()
    return DBMResult(
        modes=modes,
        method=method,
        params={**params, "dt": dt, "n_steps": n_steps, "n_replicas": n_replicas},
        x=x,
        snapshot_steps=rec.snap_steps,
        snapshots=np.ascontiguousarray(snaps),
        n_recorded=int(counters[0][_k.N_RECORDED]),
        reference=rec.ref,
        power_sums=sum(b["mom"] for b in bufs),
        histograms=rec.histograms(bufs),
        crossing_steps=np.concatenate(cross),
        pair_crossings=int(tot[_k.PAIR_CROSSINGS]),
        redo_steps=int(tot[_k.REDO_STEPS]),
        redo_failed=int(tot[_k.REDO_FAILED]),
        full_solves=int(tot[_k.FULL_SOLVES]),
        boundary_hits=int(tot[_k.BOUNDARY_HITS]),
    )


def _common(modes, dt, n_steps, n_replicas):
    modes = _check_modes(modes)
    dt = check_positive("dt", dt)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    n_replicas = check_int("n_replicas", n_replicas, minimum=1)
    return modes, dt, n_steps, n_replicas


def simulate(
    modes,
    g2,
    x0=None,
    *,
    dt: float,
    n_steps: int,
    n_replicas: int = 1,
    scheme: str = "safe",
    coupling=None,
    noise: Callable | Sequence[Callable] | None = None,
    record: Record | None = None,
    rng=None,
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
    rng : int, numpy.random.Generator or None
        Seed (SPEC 7).  Streams per chunk of replicas are spawned from it.
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
    noise_f = _check_noise(noise, n)
    if g2 is None:
        if noise_f is None:
            raise ValueError("g2 is required unless noise is given")
        xs = _stable(modes)
        g2 = np.array([float(noise_f[i](xs[i])) ** 2 for i in range(n)])
        g2_given = False
    else:
        g2 = _per_mode("g2", g2, n)
        g2_given = True
    if x0 is None:
        x0 = _default_x0(modes, g2)
    x0 = _check_x0(x0, modes, n_replicas)
    if coupling is not None:
        pcoef = dt * _check_coupling(coupling, n)
        np.fill_diagonal(pcoef, 0.0)
        prow = np.ones(n)
    else:  # P_ij = prow_i * dt, passed as [[dt]] (no n x n matrix)
        prow = g2.copy() if (g2_given and noise_f is None) else np.ones(n)
        pcoef = np.full((1, 1), dt)
    if noise_f is None:
        amp, noise_mode = np.sqrt(2.0 * dt * g2), 0
    else:
        amp = np.full(n, math.sqrt(2.0 * dt))
        noise_mode = 2 if coupling is not None else 1
    return _run(
        modes,
        x0,
        dt=dt,
        n_steps=n_steps,
        pcoef=pcoef,
        prow=prow,
        amp=amp,
        noise_mode=noise_mode,
        noise=noise_f,
        safe=scheme == "safe",
        g2eff=g2,
        record=record,
        rng=rng,
        progress=progress,
        method=scheme,
        params={"g2": g2, "coupling": coupling, "noise": noise is not None},
        device=device,
    )


def simulate_sgd(
    modes,
    *,
    alpha: float,
    batch_size: int,
    gt2,
    x0=None,
    n_steps: int,
    n_replicas: int = 1,
    record: Record | None = None,
    rng=None,
    progress: bool | None = None,
    device: str = "cpu",
) -> DBMResult:
    r"""Iterate the SGD map of the eigenvalues exactly as written (docs/theory.md section 2).

    .. math::

        x_i' = x_i + \alpha K_i(x_i)
               + \frac{\alpha^2}{|B|}\sum_{j\ne i}\frac{\tilde g_i^2}{x_i - x_j}
               + \frac{\alpha}{\sqrt{|B|}}\sqrt2\,\tilde g_i\,\eta_i,
        \qquad \eta_i \sim N(0, 1).

    The map is the model (there is no strict continuum limit); nothing is sorted or
    corrected.  Steps after which the eigenvalues are no longer in their previous
    order are counted (:attr:`DBMResult.crossing_steps`, ``pair_crossings``).  Near a
    stable point the stationary variance is
    :math:`\sigma_i^2 = (\alpha/|B|)\,\tilde g_i^2/\Omega_i`.

    Parameters
    ----------
    modes : Modes
        One model per eigenvalue; :math:`K_i` is the drift per unit of ``alpha``.
    alpha : float
        Learning rate, > 0 (the time step of the map).
    batch_size : int
        Batch size :math:`|B| \ge 1`.
    gt2 : float or array_like, shape (n_modes,)
        :math:`\tilde g_i^2 > 0`.
    x0 : array_like, shape (n_modes,) or (n_replicas, n_modes), optional
        Start (distinct values); default as in :func:`simulate`.
    n_steps, n_replicas, record, rng, progress, device
        As in :func:`simulate` (the map is the explicit step, so ``device="cuda"``
        applies as for ``scheme="em"``).

    Returns
    -------
    DBMResult
        ``method == "sgd"``, ``params["dt"] == alpha``.
    """
    modes = _check_modes(modes)
    alpha = check_positive("alpha", alpha)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    n_replicas = check_int("n_replicas", n_replicas, minimum=1)
    n = len(modes)
    gt2 = _per_mode("gt2", gt2, n)
    g2eff = alpha * gt2 / batch_size
    if x0 is None:
        x0 = _default_x0(modes, g2eff)
    x0 = _check_x0(x0, modes, n_replicas)
    pcoef = np.full((1, 1), alpha**2 / batch_size)  # P_ij = gt2_i alpha^2/|B|
    amp = (alpha / math.sqrt(batch_size)) * math.sqrt(2.0) * np.sqrt(gt2)
    return _run(
        modes,
        x0,
        dt=alpha,
        n_steps=n_steps,
        pcoef=pcoef,
        prow=gt2.copy(),
        amp=amp,
        noise_mode=0,
        noise=None,
        safe=False,
        g2eff=g2eff,
        record=record,
        rng=rng,
        progress=progress,
        method="sgd",
        params={"alpha": alpha, "batch_size": batch_size, "gt2": gt2, "g2": g2eff},
        device=check_device(device),
    )


def simulate_matrix(
    modes,
    g2: float,
    x0=None,
    *,
    dt: float,
    n_steps: int,
    n_replicas: int = 1,
    record: Record | None = None,
    rng=None,
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
        x0 = _default_x0(modes, g2v)
    x0 = check_finite_array("x0", x0)
    if x0.shape != (n,):
        raise ValueError(f"x0 must have shape ({n},) for simulate_matrix, got {x0.shape}")
    x0 = _check_x0(x0, modes, 1)[0]
    order = np.argsort(x0, kind="stable")  # mode order[k] is the k-th smallest eigenvalue
    gen = as_rng(rng)
    groups = _groups(modes, g2v)
    rec = _Recorder(record, modes, g2v, n_steps, n_replicas, groups)
    b = rec.buffers(n, n_replicas)
    lam = np.repeat(np.sort(x0)[None, :], n_replicas, axis=0)
    u = np.repeat(np.eye(n)[None], n_replicas, axis=0)
    xm = np.empty((n_replicas, n))
    xm[:, order] = lam
    pos = _k._snapshot(np.ascontiguousarray(xm.T), 0, rec.snap_steps, b["snaps"], 0)
    scale = math.sqrt(g2 * dt / 2.0)
    n_rec = 0
    show = _show_progress(progress, n_replicas * n**3 * n_steps)
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
        xt = np.ascontiguousarray(xm.T)
        n_rec += rec.record(xt, step, b)
        pos = _k._snapshot(xt, step, rec.snap_steps, b["snaps"], pos)
    return DBMResult(
        modes=modes,
        method="matrix",
        params={"g2": g2v, "dt": dt, "n_steps": n_steps, "n_replicas": n_replicas},
        x=xm.copy(),
        snapshot_steps=rec.snap_steps,
        snapshots=np.ascontiguousarray(b["snaps"].transpose(0, 2, 1)),
        n_recorded=n_rec,
        reference=rec.ref,
        power_sums=b["mom"],
        histograms=rec.histograms([b]),
        crossing_steps=np.zeros(n_replicas, dtype=np.int64),
    )


# ---------------------------------------------------------------------------
# Coulomb-gas sampling
# ---------------------------------------------------------------------------
def _exact_ok(modes: Modes, g2) -> bool:
    first = modes[0]
    return (
        all(isinstance(m, HarmonicModel) for m in modes)
        and all(m == first for m in modes)
        and bool(np.all(g2 == g2[0]))
    )


def _ess(chains: np.ndarray) -> np.ndarray:
    """ESS per mode of chains (n_chains, n_keep, n_modes): Sokal's window, c = 5."""
    n_chains, n_keep, n = chains.shape
    if n_keep < 4:
        return np.full(n, float(n_chains * n_keep))
    y = chains - chains.mean(axis=1, keepdims=True)
    size = 1 << (2 * n_keep - 1).bit_length()
    f = np.fft.rfft(y, n=size, axis=1)
    acf = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n_keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = acf / acf[:, :1]
    rho = np.nan_to_num(rho, nan=0.0)
    tau = 2.0 * np.cumsum(rho, axis=1) - 1.0
    ess = np.zeros(n)
    lags = np.arange(n_keep)[None, :, None]
    window = lags >= 5.0 * tau
    idx = np.where(window.any(axis=1), window.argmax(axis=1), n_keep - 1)
    tau_w = np.take_along_axis(tau, idx[:, None, :], axis=1)[:, 0, :]
    tau_w = np.maximum(tau_w, 1.0 / n_keep)
    ess = np.sum(n_keep / tau_w, axis=0)
    return ess


def sample_coulomb_gas(
    modes,
    g2,
    *,
    n_samples: int,
    rng=None,
    method: str = "auto",
    x0=None,
    n_chains: int | None = None,
    burn_in: int = 2000,
    thin: int = 10,
    target_accept: float = 0.574,
) -> CoulombGasSamples:
    r"""Samples of the :math:`\beta = 1` Coulomb gas of the modes.

    .. math::

        P_s(\{x\}) \propto \prod_{i<j}|x_i - x_j|\,\exp\Big(-\sum_i V_i(x_i)/g_i^2\Big),

    restricted to the ordering chamber of ``x0`` (the states the DBM started at
    ``x0`` explores; for degenerate modes all chambers are equivalent).

    ``method="exact"`` (identical harmonic modes :math:`V = \Omega(x-c)^2/2`, equal
    :math:`g^2`): the beta-Hermite tridiagonal model,
    :func:`fpsolve.analytic.sample_hermite` with ``loc = c``,
    ``scale = sqrt(g2/Omega)``; mode ``i`` gets the eigenvalue whose rank is that of
    ``x0[i]``.

    ``method="mala"``: Metropolis-adjusted Langevin with the diagonal preconditioner
    :math:`D = \mathrm{diag}(g_i^2)`; the proposal is one Euler-Maruyama step of the DBM,
    :math:`x' = x + h[K_i + g_i^2\sum_{j\ne i}1/(x_i - x_j)] + \sqrt{2h}\,g_i\,\xi_i`,
    accepted with the Metropolis-Hastings probability, so it is unbiased at any ``h``.
    Proposals outside the chamber or a domain are rejected.  ``h`` is adapted per
    chain toward ``target_accept`` during ``burn_in`` only.

    Parameters
    ----------
    modes : Modes
        One model per eigenvalue.
    g2 : float or array_like, shape (n_modes,)
        :math:`g_i^2 > 0`.
    n_samples : int
        Number of samples returned.
    rng : int, numpy.random.Generator or None
        Seed (SPEC 7); chains get streams spawned from it.
    method : {"auto", "exact", "mala"}, optional
        ``"auto"``: exact when possible, else MALA.
    x0 : array_like, shape (n_modes,), optional
        Start of the chains and choice of chamber; default as in :func:`simulate`.
    n_chains : int, optional
        MALA chains; default ``min(64, n_samples)``.
    burn_in : int, optional
        MALA steps per chain discarded (and used to adapt ``h``).
    thin : int, optional
        Keep every ``thin``-th MALA state.
    target_accept : float, optional
        Acceptance rate aimed at during adaptation, in (0, 1).

    Returns
    -------
    CoulombGasSamples
    """
    modes = _check_modes(modes)
    n = len(modes)
    g2 = _per_mode("g2", g2, n)
    n_samples = check_int("n_samples", n_samples, minimum=1)
    if method not in ("auto", "exact", "mala"):
        raise ValueError(f"method must be 'auto', 'exact' or 'mala', got {method!r}")
    if x0 is None:
        x0 = _default_x0(modes, g2)
    x0 = check_finite_array("x0", x0)
    if x0.shape != (n,):
        raise ValueError(f"x0 must have shape ({n},), got {x0.shape}")
    x0 = _check_x0(x0, modes, 1)[0]
    order = np.argsort(x0, kind="stable")
    exact = _exact_ok(modes, g2)
    if method == "exact" and not exact:
        raise ValueError(
            "method='exact' needs identical HarmonicModel modes with equal g2; use method='mala'"
        )
    if method == "exact" or (method == "auto" and exact):
        from fpsolve.analytic import sample_hermite

        m = modes[0]
        scale = math.sqrt(g2[0] / m.omega)
        vals = sample_hermite(n, 1.0, n_samples, rng, loc=m.center, scale=scale)
        samples = np.empty_like(vals)
        samples[:, order] = vals
        return CoulombGasSamples(
            samples=samples,
            method="exact",
            modes=modes,
            g2=g2,
            acceptance=np.ones(1),
            step=np.full(1, np.nan),
            ess=np.full(n, float(n_samples)),
        )
    burn_in = check_int("burn_in", burn_in, minimum=0)
    thin = check_int("thin", thin, minimum=1)
    target_accept = check_in_range(
        "target_accept", target_accept, 0.0, 1.0, low_open=True, high_open=True
    )
    n_chains = (
        min(64, n_samples) if n_chains is None else check_int("n_chains", n_chains, minimum=1)
    )
    n_keep = -(-n_samples // n_chains)
    table = _Table(modes)
    blocks = _chunks(n_chains)
    gens = _spawn(rng, len(blocks))
    sig2 = np.nanmin(_sigma(modes, g2) ** 2) if np.any(np.isfinite(_sigma(modes, g2))) else 1.0
    h0 = 0.5 * sig2 / np.max(g2) / max(n, 1) ** (1.0 / 3.0)
    xs = [np.repeat(x0[None, :], b - a, axis=0) for a, b in blocks]
    orders = [np.repeat(order[None, :], b - a, axis=0) for a, b in blocks]
    hs = [np.full(b - a, h0) for a, b in blocks]
    outs = [np.empty((b - a, n_keep, n)) for a, b in blocks]
    acc = [np.zeros(b - a, dtype=np.int64) for a, b in blocks]
    prop = [np.zeros(b - a, dtype=np.int64) for a, b in blocks]
    kernel = table.kernels.mala_chunk

    def run(k):
        kernel(
            xs[k],
            orders[k],
            hs[k],
            burn_in,
            n_keep,
            thin,
            target_accept,
            table.kind,
            table.par,
            g2,
            table.lo,
            table.hi,
            table.lok,
            table.hik,
            gens[k],
            outs[k],
            acc[k],
            prop[k],
        )

    _map(run, len(blocks))
    chains = np.concatenate(outs, axis=0)
    acceptance = np.concatenate(acc) / np.maximum(np.concatenate(prop), 1)
    return CoulombGasSamples(
        samples=chains.reshape(-1, n)[:n_samples].copy(),
        method="mala",
        modes=modes,
        g2=g2,
        acceptance=acceptance,
        step=np.concatenate(hs),
        ess=_ess(chains),
    )

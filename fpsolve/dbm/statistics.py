"""What a run of :mod:`fpsolve.dbm` records: :class:`Record` (the choice), :class:`Histograms`
(streaming histograms), and the recorder that sets up the kernels' accumulators."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fpsolve.checks import check_int, check_positive
from fpsolve.dbm._counters import N_RECORDED
from fpsolve.dbm._record import StatBuf, Stats, record_step, snapshot
from fpsolve.dbm._setup import sigma, stable
from fpsolve.models import Modes

__all__ = ["Histograms", "Record"]


@dataclass(frozen=True)
class Record:
    """What a run records (no trajectories are stored).

    Parameters
    ----------
    snapshots : sequence of int, optional
        Steps (``0 <= step <= n_steps``) at which the whole state of every replica is
        kept; default only the last step.
    burn_in : int, optional
        Steps discarded before statistics start, ``0 <= burn_in < n_steps``; default
        ``n_steps // 2``.
    every : int, optional
        Record statistics every ``every`` steps after ``burn_in`` (at least one step:
        ``burn_in + every <= n_steps``).
    bins : int, optional
        Bins of every histogram.
    ranges : sequence of (float, float), optional
        Histogram range of each degenerate group (in the order of
        :attr:`Histograms.groups`); default centred on the stable points, wide
        enough for the group's stationary spread.
    spacing_max : sequence of float, optional
        Upper end of the spacing histogram of each group (lower end 0).
    per_replica : bool, optional
        Also keep, per replica, the time averages of :math:`x_i`, :math:`x_i^2` and
        of the labelled spacing :math:`x_j - x_i` of each pair of ``pairs``
        (:attr:`DBMResult.replica_mean`, ...), for errors from independent replicas.
    pairs : sequence of (int, int), optional
        Mode pairs ``(i, j)`` of the per-replica spacings; default the neighbouring
        modes inside each degenerate group (:attr:`Histograms.groups`), in index order.
    statistics : bool, optional
        False: keep only the snapshots (no moments, histograms or per-replica
        averages; ``burn_in`` and ``every`` are not used, and the statistics of the
        result raise ValueError).
    """

    snapshots: tuple[int, ...] | None = None
    burn_in: int | None = None
    every: int = 1
    bins: int = 100
    ranges: tuple | None = None
    spacing_max: tuple | None = None
    per_replica: bool = False
    pairs: tuple | None = None
    statistics: bool = True


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
        """Pooled one-point density of ``group``, normalised by all its recorded values.

        Raises ValueError if nothing was recorded (as do :meth:`density` and
        :meth:`spacing_density`).
        """
        members = list(self.groups[group])
        total = self.counts[members].sum() + self.underflow[members].sum()
        total += self.overflow[members].sum()
        _check_recorded(total, f"pooled_density({group})")
        return self.pooled_counts(group) / (total * np.diff(self.edges[group]))

    def density(self, mode: int) -> np.ndarray:
        """One-point density of ``mode``, normalised by all its recorded values."""
        g = next(k for k, grp in enumerate(self.groups) if mode in grp)
        total = self.counts[mode].sum() + self.underflow[mode] + self.overflow[mode]
        _check_recorded(total, f"density({mode})")
        return self.counts[mode] / (total * np.diff(self.edges[g]))

    def spacing_density(self, group: int) -> np.ndarray:
        """Density of neighbour spacings inside ``group``, normalised by all spacings
        (ValueError for a group of one mode, which has none)."""
        if len(self.groups[group]) < 2:
            raise ValueError(
                f"spacing_density({group}) is undefined: group {self.groups[group]} has one "
                "mode, hence no neighbour spacings"
            )
        total = self.spacing_counts[group].sum() + self.spacing_overflow[group]
        _check_recorded(total, f"spacing_density({group})")
        return self.spacing_counts[group] / (total * np.diff(self.spacing_edges[group]))

    def plot(self, ax=None) -> list:
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


class Recorder:
    """Sets up what a run records (:class:`Record`) and collects it from the chunks."""

    def __init__(
        self,
        record: Record | None,
        modes: Modes,
        g2eff: np.ndarray,
        n_steps: int,
        n_replicas: int,
        groups: list[tuple[int, ...]],
    ):
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
        if record.statistics:
            if burn >= n_steps:
                raise ValueError(
                    f"record.burn_in={burn} leaves no step to record: it must be < "
                    f"n_steps={n_steps} (Record(statistics=False) keeps only the snapshots)"
                )
            if burn + every > n_steps:
                raise ValueError(
                    f"record.every={every} records no step after record.burn_in={burn} of "
                    f"n_steps={n_steps}: burn_in + every must be <= n_steps"
                )
            self.rec_start = max(burn + every, 1)
        else:
            self.rec_start = n_steps + 1  # nothing is recorded
        self.snap_steps = steps
        self.every = every
        self.bins = bins
        self.groups = groups
        ng = len(groups)
        xs, sig = stable(modes), sigma(modes, g2eff)
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
        self.n_modes = n
        self.pairs = _check_pairs(record.pairs, groups, n)
        self.per_replica = bool(record.per_replica)
        rows = n_replicas if self.per_replica else 0
        self.rep_sums = np.zeros((rows, n, 2))
        self.rep_spacing = np.zeros((rows, len(self.pairs)))
        self.stats = Stats(
            rec_start=self.rec_start,
            every=self.every,
            ref=self.ref,
            hist_lo=self.hist_lo,
            hist_w=self.hist_w,
            group_of=self.group_of,
            members=self.members,
            sp_w=self.sp_w,
            snap_steps=self.snap_steps,
            pair_i=np.array([p[0] for p in self.pairs], dtype=np.int64),
            pair_j=np.array([p[1] for p in self.pairs], dtype=np.int64),
        )

    def buffers(self, a: int, b: int) -> StatBuf:
        """Accumulators of the chunk of replicas ``a <= r < b`` (the per-replica sums are
        views of the run's arrays)."""
        n, ng = self.n_modes, len(self.groups)
        rows = slice(a, b) if self.per_replica else slice(0, 0)
        return StatBuf(
            mom=np.zeros((n, 4)),
            hist=np.zeros((n, self.bins), dtype=np.int64),
            under=np.zeros(n, dtype=np.int64),
            over=np.zeros(n, dtype=np.int64),
            sp_hist=np.zeros((ng, self.bins), dtype=np.int64),
            sp_over=np.zeros(ng, dtype=np.int64),
            snaps=np.full((len(self.snap_steps), n, b - a), np.nan),
            buf=np.zeros(n),
            rep_sums=self.rep_sums[rows],
            rep_spacing=self.rep_spacing[rows],
        )

    def start(self, x: np.ndarray, bf: StatBuf, counters: np.ndarray) -> None:
        """Snapshots of the start ``x`` (N, C) (step 0)."""
        snapshot(x, 0, self.stats, bf, counters)

    def record(self, x: np.ndarray, step: int, bf: StatBuf, counters: np.ndarray) -> None:
        """Record the state ``x`` (N, C) after ``step`` into ``bf`` (no replica stops)."""
        record_step(x, step, self.stats, bf, counters, np.zeros(x.shape[1], dtype=np.int64))

    def histograms(self, bufs: list[StatBuf]) -> Histograms:
        """The histograms of all chunks."""
        return Histograms(
            groups=tuple(self.groups),
            edges=self.edges,
            counts=np.asarray(sum(b.hist for b in bufs)),
            underflow=np.asarray(sum(b.under for b in bufs)),
            overflow=np.asarray(sum(b.over for b in bufs)),
            spacing_edges=self.sp_edges,
            spacing_counts=np.asarray(sum(b.sp_hist for b in bufs)),
            spacing_overflow=np.asarray(sum(b.sp_over for b in bufs)),
        )

    def replica_averages(
        self, recorded: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[None, None, None]:
        """Per-replica time averages of x, x^2 and the pair spacings (None unless asked)."""
        if not self.per_replica:
            return None, None, None
        count = np.maximum(recorded, 1)[:, None]
        return (
            self.rep_sums[:, :, 0] / count,
            self.rep_sums[:, :, 1] / count,
            self.rep_spacing / count,
        )


def _check_recorded(total: int, what: str) -> None:
    if total == 0:
        raise ValueError(
            f"{what} is undefined: the run recorded no statistics (Record(statistics=False), "
            "or every replica stopped before its first recorded step)"
        )


def recorded_steps(
    counters: list[np.ndarray], sizes: list[int], stopped: np.ndarray, stats: Stats
) -> np.ndarray:
    """Recorded steps of every replica: those of its chunk (``counters``, ``sizes``
    replicas each), or for a replica that left the domain at step ``stopped[r] > 0`` the
    recorded steps before that one (see ``record_step``)."""
    chunk = np.concatenate(
        [np.full(c, int(k[N_RECORDED])) for k, c in zip(counters, sizes, strict=True)]
    )
    last = np.asarray(stopped, dtype=np.int64) - 1  # the steps recorded: rec_start + k every
    before = np.where(last >= stats.rec_start, (last - stats.rec_start) // stats.every + 1, 0)
    return np.where(stopped > 0, np.minimum(before, chunk), chunk)


def _check_pairs(pairs, groups: list[tuple[int, ...]], n: int) -> tuple[tuple[int, int], ...]:
    """``record.pairs`` checked, default the neighbouring modes inside each group."""
    if pairs is None:
        return tuple((g[a], g[a + 1]) for g in groups for a in range(len(g) - 1))
    out = []
    for pair in pairs:
        try:
            i, j = (check_int("record.pairs", v, minimum=0) for v in pair)
        except TypeError as exc:
            raise TypeError(f"record.pairs must hold pairs of mode indices, got {pairs!r}") from exc
        if i >= n or j >= n or i == j:
            raise ValueError(
                f"record.pairs must hold pairs of distinct modes in [0, {n}), got {(i, j)}"
            )
        out.append((i, j))
    return tuple(out)

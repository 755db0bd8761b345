"""Shared pieces of the stationary analyses: input checks, snapshot selection,
autocorrelation times, entry labels, figures and Kolmogorov-Smirnov entries.

The statistics they implement are described in :mod:`validation.analyses.compare`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from validation.analyses.stats import Entry, autocorrelation_time
from validation.data.recording import Recording, _check_finite_snapshots

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["KS_SIGNIFICANCE", "MIN_RUNS"]

MIN_RUNS = 10
"""Fewest independent runs an analysis accepts (errors are jackknife over runs)."""

KS_SIGNIFICANCE = 1e-3
"""Significance of the Kolmogorov-Smirnov verdicts: ``"agree"`` iff p >= this."""


# --------------------------------------------------------------------------- input checks
def _check_recording(rec, name: str = "rec") -> np.ndarray:
    """The eigenvalue array of a usable recording (type, shape, runs, finiteness)."""
    if not isinstance(rec, Recording):
        raise TypeError(
            f"{name} must be a validation.data.recording.Recording, got {type(rec).__name__}"
        )
    eig = np.asarray(rec.eigenvalues, dtype=np.float64)
    if eig.ndim != 3 or 0 in eig.shape:
        raise ValueError(
            f"{name}.eigenvalues must have shape (runs, snapshots, modes), got {eig.shape}"
        )
    if eig.shape[0] < MIN_RUNS:
        raise ValueError(
            f"{name} has {eig.shape[0]} runs; the analyses need at least {MIN_RUNS} independent "
            "runs (errors are jackknife over runs)"
        )
    steps = np.asarray(rec.steps)
    if steps.shape != (eig.shape[1],):
        raise ValueError(
            f"{name}.steps must have shape ({eig.shape[1]},) (one per snapshot), got {steps.shape}"
        )
    _check_finite_snapshots(f"{name}.eigenvalues", eig)
    return eig


def _resolve_groups(rec, groups, name: str = "groups") -> tuple[tuple[int, ...], ...]:
    """Validated groups: tuples of one or two distinct mode indices, no index twice."""
    if groups is None:
        groups = rec.mode_groups()
    n = rec.n_modes
    try:
        out = tuple(tuple(_index(i) for i in g) for g in groups)
    except TypeError as exc:
        raise TypeError(
            f"{name} must be a sequence of sequences of integer mode indices, got {groups!r}"
        ) from exc
    if not out:
        raise ValueError(f"{name} must hold at least one group, got {groups!r}")
    seen: set[int] = set()
    for g in out:
        if len(g) not in (1, 2):
            raise ValueError(
                f"{name} may hold single modes and pairs only (one or two indices each), "
                f"got group {g} in {groups!r}"
            )
        for i in g:
            if not 0 <= i < n:
                raise ValueError(
                    f"{name}: mode index {i} in group {g} is out of range [0, {n}) "
                    f"for a recording with {n} modes"
                )
            if i in seen:
                raise ValueError(
                    f"{name}: mode index {i} appears in more than one place {groups!r}"
                )
            seen.add(i)
    return out


def _index(i) -> int:
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"mode index must be an integer, got {i!r}")
    return int(i)


def _select(rec, burn_in, snapshots) -> np.ndarray:
    """Indices of the snapshots to use (default: step >= half the last step)."""
    steps = np.asarray(rec.steps)
    n_snap = steps.size
    if burn_in is not None and snapshots is not None:
        raise ValueError("give burn_in or snapshots, not both")
    if snapshots is not None:
        idx = np.atleast_1d(np.asarray(snapshots))
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(
                f"snapshots must be a non-empty 1D array of integers, got {snapshots!r}"
            )
        if np.any(idx < -n_snap) or np.any(idx >= n_snap):
            raise ValueError(
                f"snapshots must lie in [-{n_snap}, {n_snap}) for a recording with {n_snap} "
                f"snapshots, got {idx.tolist()}"
            )
        idx = idx % n_snap
        if np.any(np.diff(idx) <= 0):
            raise ValueError(f"snapshots must be strictly increasing, got {snapshots!r}")
        return idx.astype(np.int64)
    if burn_in is None:
        threshold = steps[-1] / 2.0
    else:
        if isinstance(burn_in, bool) or not isinstance(burn_in, (int, float, np.number)):
            raise TypeError(f"burn_in must be a number (a step), got {burn_in!r}")
        if not math.isfinite(burn_in) or burn_in < 0:
            raise ValueError(f"burn_in must be a finite step >= 0, got {burn_in!r}")
        threshold = burn_in
    idx = np.flatnonzero(steps >= threshold)
    if idx.size == 0:
        raise ValueError(f"burn_in={burn_in!r} leaves no snapshot (last step {int(steps[-1])})")
    return idx.astype(np.int64)


def _tau(series: np.ndarray) -> float:
    r"""Autocorrelation time of ``series[R, T]`` in snapshots, between 1 and ``T``.

    The larger of the integrated autocorrelation time
    (:func:`validation.analyses.stats.autocorrelation_time`, which measures
    fluctuations about each run's own mean) and the blocking estimate with
    whole runs as blocks, :math:`T\,\mathrm{Var}(\bar x_{run})/\mathrm{Var}(x)`,
    which also sees correlations longer than the run (a series constant in
    each run gives ``T``); 1 for a single snapshot.
    """
    t = series.shape[1]
    if t < 2:
        return 1.0
    total = float(np.var(series))
    if total == 0.0:
        return float(t)
    blocking = t * float(np.var(series.mean(axis=1))) / total
    return float(min(max(autocorrelation_time(series), blocking, 1.0), t))


def _setting_labels(rec) -> dict:
    """JSON-ready labels of a recording's setting for entry contexts."""
    out = {}
    for key in ("model", "alpha", "batch_size", "noise", "source"):
        if key in rec.attrs:
            value = rec.attrs[key]
            # the recording's model is the "network"; an entry's "model" is what it is compared with
            out["network" if key == "model" else key] = (
                value.item() if isinstance(value, np.generic) else value
            )
    if "quantity" in rec.attrs:
        out["spectrum"] = rec.attrs["quantity"]
    if rec.path is not None:
        out["path"] = str(rec.path)
    return out


def _new_figure(n_panels: int) -> tuple[Figure, np.ndarray]:
    import matplotlib.pyplot as plt

    cols = min(n_panels, 3)
    rows = -(-n_panels // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.ravel()[n_panels:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n_panels]


# --------------------------------------------------------------------------- KS entries
def _ks_entry(analysis, quantity, d, p, crit, n, n_eff, *, model, kind="prediction", **context):
    """A KS entry: measured D, no error, predicted = critical D, verdict from the p-value.

    A null model (``kind="null"``) is ``"rejected"`` when ``p < KS_SIGNIFICANCE``.
    """
    entry = Entry.compare(
        analysis,
        quantity,
        d,
        0.0,
        crit,
        n_eff=n_eff,
        kind=kind,
        model=model,
        p_value=float(p),
        n=int(n),
        significance=KS_SIGNIFICANCE,
        error_note=f"KS test, p = {p:.2g}; predicted: the critical D at p = {KS_SIGNIFICANCE:g}",
        test_statistic=True,
        **context,
    )
    agree = p >= KS_SIGNIFICANCE
    if kind == "null":
        return replace(entry, error=math.nan, verdict="not rejected" if agree else "rejected")
    return replace(entry, error=math.nan, verdict="agree" if agree else "disagree")


def _ks_one_sample(values, cdf, n_eff: float) -> tuple[float, float, float]:
    """KS distance of ``values`` to ``cdf``; p-value and critical D for ``n_eff`` samples."""
    d = float(stats.kstest(values, cdf).statistic)
    n = max(math.floor(n_eff), 1)
    return d, float(stats.kstwo.sf(d, n)), float(stats.kstwo.isf(KS_SIGNIFICANCE, n))

r"""Statistics with honest errors for recorded eigenvalue dynamics.

Independent training runs are the unit of statistics: every error here is a
jackknife over runs (or over blocks of whole runs), so correlations between the
snapshots of one run are accounted for automatically, and
:func:`autocorrelation_time` says how many effectively independent samples
a number rests on.

Every comparison of a measurement with a prediction becomes an :class:`Entry`
whose verdict follows one stated rule (:func:`verdict`): agreement when

.. math::

    |m - p| \le n_\sigma \sqrt{\delta m^2 + \delta p^2}, \qquad n_\sigma = 3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.analytic import Estimate
from fpsolve.checks import check_int, check_positive

__all__ = [
    "N_SIGMA",
    "Entry",
    "autocorrelation_time",
    "effective_samples",
    "run_jackknife",
    "verdict",
]

N_SIGMA = 3.0
"""Default verdict threshold: agreement within this many combined standard errors."""

VERDICTS = ("agree", "disagree", "measured")


def verdict(
    measured: float,
    error: float,
    predicted: float | None,
    predicted_error: float = 0.0,
    *,
    n_sigma: float = N_SIGMA,
) -> str:
    r"""Verdict of a measurement against a prediction.

    Parameters
    ----------
    measured, error : float
        Measured value and its standard error.
    predicted, predicted_error : float or None
        Prediction and its standard error (0 for an exact prediction).  With
        ``predicted=None`` there is nothing to compare with.
    n_sigma : float, optional
        Threshold in combined standard errors.

    Returns
    -------
    str
        ``"agree"`` if :math:`|m - p| \le n_\sigma\sqrt{\delta m^2 + \delta p^2}`,
        ``"disagree"`` otherwise, ``"measured"`` when ``predicted`` is None.
    """
    n_sigma = check_positive("n_sigma", n_sigma)
    if predicted is None:
        return "measured"
    values = (measured, error, predicted, predicted_error)
    if not all(math.isfinite(float(v)) for v in values):
        raise ValueError(
            "verdict needs finite numbers, got measured={}, error={}, predicted={}, "
            "predicted_error={}".format(*values)
        )
    if error < 0 or predicted_error < 0:
        raise ValueError(
            f"errors must be >= 0, got error={error}, predicted_error={predicted_error}"
        )
    combined = math.hypot(error, predicted_error)
    return "agree" if abs(measured - predicted) <= n_sigma * combined else "disagree"


@dataclass(frozen=True)
class Entry:
    """One number of a validation: measured value, error, prediction, verdict.

    Attributes
    ----------
    analysis : str
        Analysis it belongs to (e.g. ``"spacing"``).
    quantity : str
        What was measured (e.g. ``"<S> pair (1, 2)"``).
    measured, error : float
        Measurement and its standard error (``nan`` when not measured).
    predicted, predicted_error : float or None
        Prediction and its standard error; None when the theory makes none.
    verdict : str
        ``"agree"``, ``"disagree"`` or ``"measured"`` (see :func:`verdict`).
    n_eff : float or None
        Effectively independent samples the measurement rests on.
    context : dict
        Setting, modes and any other labels (JSON-serialisable).
    """

    analysis: str
    quantity: str
    measured: float
    error: float
    predicted: float | None = None
    predicted_error: float | None = None
    verdict: str = "measured"
    n_eff: float | None = None
    context: dict = field(default_factory=dict)

    @classmethod
    def compare(
        cls,
        analysis: str,
        quantity: str,
        measured: float,
        error: float,
        predicted: float | None = None,
        predicted_error: float = 0.0,
        *,
        n_eff: float | None = None,
        n_sigma: float = N_SIGMA,
        **context: Any,
    ) -> Entry:
        """Build an entry with its verdict from :func:`verdict`."""
        measured, error = float(measured), float(error)
        if predicted is not None:
            predicted, predicted_error = float(predicted), float(predicted_error)
        return cls(
            analysis=analysis,
            quantity=quantity,
            measured=measured,
            error=error,
            predicted=predicted,
            predicted_error=None if predicted is None else predicted_error,
            verdict=verdict(measured, error, predicted, predicted_error, n_sigma=n_sigma),
            n_eff=None if n_eff is None else float(n_eff),
            context=_plain(context),
        )

    @property
    def pull(self) -> float | None:
        """``(measured - predicted) / combined error``, or None without a prediction."""
        if self.predicted is None:
            return None
        combined = math.hypot(self.error, self.predicted_error or 0.0)
        return (self.measured - self.predicted) / combined if combined > 0 else math.inf

    def to_dict(self) -> dict:
        """JSON-ready dict (``nan`` and ``inf`` become None)."""
        return _plain(asdict(self))


def _plain(obj):
    """Convert numpy scalars/arrays to JSON-ready Python objects; non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def run_jackknife(
    statistic: Callable[..., Any],
    samples: ArrayLike,
    *,
    n_blocks: int | None = None,
) -> Estimate:
    r"""Jackknife over independent runs of any statistic of the data.

    Parameters
    ----------
    statistic : callable
        Maps an array of runs ``(r, ...)`` (a subset of ``samples`` along the
        first axis) to a float or an array.
    samples : array_like, shape (R, ...)
        Data with independent runs along the first axis; the other axes (e.g.
        snapshots after equilibration, modes) stay together, so correlations
        inside a run are accounted for.
    n_blocks : int, optional
        Number of delete-one blocks of contiguous runs, ``2 <= n_blocks <= R``
        (default ``min(R, 100)``).  Runs beyond a multiple of ``n_blocks`` are
        used in the value but not in the error.

    Returns
    -------
    Estimate
        ``value`` = statistic of all runs;
        :math:`\text{error}^2 = \frac{n-1}{n}\sum_b (\theta_{(b)} - \bar\theta)^2`
        over the ``n`` leave-one-block-out values.
    """
    data = np.asarray(samples)
    if data.ndim < 1 or data.shape[0] < 2:
        raise ValueError(f"samples must hold at least 2 runs along axis 0, got shape {data.shape}")
    n_runs = data.shape[0]
    n = min(n_runs, 100) if n_blocks is None else check_int("n_blocks", n_blocks, minimum=2)
    if n > n_runs:
        raise ValueError(f"n_blocks must be <= the number of runs {n_runs}, got {n}")
    value = np.asarray(statistic(data), dtype=np.float64)
    edges = np.linspace(0, n_runs - n_runs % n if n_runs % n else n_runs, n + 1).astype(int)
    mask = np.ones(n_runs, dtype=bool)
    loo = []
    for b in range(n):
        mask[:] = True
        mask[edges[b] : edges[b + 1]] = False
        mask[edges[-1] :] = False
        loo.append(np.asarray(statistic(data[mask]), dtype=np.float64))
    loo_arr = np.asarray(loo)
    error = np.sqrt((n - 1) / n * np.sum((loo_arr - loo_arr.mean(axis=0)) ** 2, axis=0))
    if value.ndim == 0:
        return Estimate(float(value), float(error))
    return Estimate(value, error)  # type: ignore[arg-type]  # per-component errors


def autocorrelation_time(series: ArrayLike, *, c: float = 5.0) -> float:
    r"""Integrated autocorrelation time of an ensemble of time series.

    .. math::

        \tau_{int} = 1 + 2\sum_{t=1}^{W} \rho(t),

    with :math:`\rho` the autocorrelation about the mean of all runs (so a series
    that is frozen inside each run but differs between runs counts as fully
    correlated), averaged over runs, and the window
    :math:`W` the smallest with :math:`W \ge c\,\tau_{int}(W)` (Sokal's
    automatic window, as in emcee).

    Parameters
    ----------
    series : array_like, shape (R, T) or (T,)
        One scalar time series per run (e.g. one eigenvalue at successive
        snapshots after equilibration).
    c : float, optional
        Window constant.

    Returns
    -------
    float
        :math:`\tau_{int} \ge` the value for uncorrelated data, 1, up to noise;
        in units of the snapshot spacing.
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"series must have shape (R, T) with T >= 2, got {np.shape(series)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("series must be finite")
    c = check_positive("c", c)
    t = x.shape[1]
    x = x - x.mean()
    size = 1 << (2 * t - 1).bit_length()
    f = np.fft.rfft(x, n=size, axis=1)
    acf = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :t].mean(axis=0)
    if acf[0] <= 0:
        return 1.0
    rho = acf / acf[0]
    taus = 2.0 * np.cumsum(rho) - 1.0
    window = np.arange(t) >= c * taus
    w = int(np.argmax(window)) if window.any() else t - 1
    return float(max(taus[w], 1.0 / t))


def effective_samples(series: ArrayLike, *, c: float = 5.0) -> float:
    """Effectively independent samples in ``series`` of shape (R, T): ``R T / tau_int``.

    ``R`` for a single snapshot (``T = 1``): the runs are independent.
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    if x.ndim == 2 and x.shape[1] == 1:
        return float(x.shape[0])
    tau = autocorrelation_time(x, c=c)
    return float(x.size / max(tau, 1.0))

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

Entries are of three kinds (:data:`KINDS`): *predictions* of the theory
(verdict ``"agree"`` or ``"disagree"``), *null models* such as Poisson level
spacings or a Gaussian without repulsion, whose expected outcome is rejection
(``"rejected"``, or ``"not rejected"``, which is flagged), and numbers that are
*measured* only.  :func:`ratio_trend` fits measured/predicted against the
scaling variable :math:`\alpha/|B|` to expose systematic deviations.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.analytic import Estimate
from fpsolve.checks import check_int, check_memory, check_positive

__all__ = [
    "KINDS",
    "N_SIGMA",
    "VERDICTS",
    "Entry",
    "Trend",
    "autocorrelation_time",
    "effective_samples",
    "jackknife_sums",
    "ratio_trend",
    "run_jackknife",
    "verdict",
]

N_SIGMA = 3.0
"""Default verdict threshold: agreement within this many combined standard errors."""

KINDS = ("prediction", "null", "measured")
"""Kinds of entries: a prediction of the theory, a null model expected to be rejected, or a
number that is measured only."""

VERDICTS = ("agree", "disagree", "rejected", "not rejected", "measured")
"""Verdicts: ``"agree"``/``"disagree"`` for predictions, ``"rejected"`` (the expected outcome)
/``"not rejected"`` for null models, ``"measured"`` for numbers without a prediction."""

_NULL_VERDICT = {"agree": "not rejected", "disagree": "rejected"}


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
        Measurement and its standard error (``nan`` when not measured, or when the
        measurement is a test statistic without an error, such as a
        Kolmogorov-Smirnov distance; ``context["error_note"]`` then says why).
    predicted, predicted_error : float or None
        Prediction and its standard error; None when the theory makes none.
    verdict : str
        One of :data:`VERDICTS` (see :func:`verdict`).
    n_eff : float or None
        Effectively independent samples the measurement rests on.
    context : dict
        Setting, modes and any other labels (JSON-serialisable).
    kind : str
        One of :data:`KINDS`; default ``"prediction"`` with a prediction and
        ``"measured"`` without.
    model : str or None
        Name of what the measurement is compared with, e.g.
        ``"Wigner surmise (beta=1)"`` or ``"small-noise formula (a)"``.
    level : str or None
        Short key of the level of the prediction ladder that produced the
        prediction (``"a"`` small-noise formula, ``"b"`` eigenvalue SGD map, ...);
        None for predictions outside the ladder (exact laws, universal constants).
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
    kind: str = ""
    model: str | None = None
    level: str | None = None

    def __post_init__(self):
        if not self.kind:
            kind = "measured" if self.predicted is None else "prediction"
            object.__setattr__(self, "kind", kind)
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

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
        kind: str | None = None,
        model: str | None = None,
        level: str | None = None,
        **context: Any,
    ) -> Entry:
        """Build an entry with its verdict from :func:`verdict`.

        ``kind`` defaults to ``"prediction"`` when ``predicted`` is given and
        ``"measured"`` otherwise; a ``"null"`` entry's verdict is ``"rejected"``
        where a prediction's would be ``"disagree"``.
        """
        measured, error = float(measured), float(error)
        if predicted is not None:
            predicted, predicted_error = float(predicted), float(predicted_error)
        if kind is None:
            kind = "measured" if predicted is None else "prediction"
        if (kind == "measured") != (predicted is None):
            raise ValueError(
                f"kind={kind!r} needs {'no ' if kind == 'measured' else ''}prediction, "
                f"got predicted={predicted!r}"
            )
        v = verdict(measured, error, predicted, predicted_error, n_sigma=n_sigma)
        return cls(
            analysis=analysis,
            quantity=quantity,
            measured=measured,
            error=error,
            predicted=predicted,
            predicted_error=None if predicted is None else predicted_error,
            verdict=_NULL_VERDICT[v] if kind == "null" else v,
            n_eff=None if n_eff is None else float(n_eff),
            context=_plain(context),
            kind=kind,
            model=model,
            level=level,
        )

    @property
    def pull(self) -> float | None:
        """``(measured - predicted) / combined error``, or None without a prediction."""
        if self.predicted is None:
            return None
        combined = math.hypot(self.error, self.predicted_error or 0.0)
        return (self.measured - self.predicted) / combined if combined > 0 else math.inf

    @property
    def deviation(self) -> tuple[float, float] | None:
        r"""Relative deviation :math:`m/p - 1` with its error, or None.

        The error is :math:`\sqrt{(\delta m/p)^2 + (m\,\delta p/p^2)^2}`.  None for
        entries without a prediction, with a prediction of 0, or without a finite
        error (test statistics such as a Kolmogorov-Smirnov distance).
        """
        p = self.predicted
        finite = math.isfinite(self.measured) and math.isfinite(self.error)
        if p is None or p == 0.0 or not finite or self.context.get("test_statistic"):
            return None
        dp = self.predicted_error or 0.0
        return self.measured / p - 1.0, math.hypot(self.error / p, self.measured * dp / p**2)

    @property
    def family(self) -> str:
        """The quantity without its location (mode, pair, snapshot): rows of one family are
        the same kind of number at different places, e.g. ``"std x mode"``."""
        return _family(self.quantity)

    def to_dict(self) -> dict:
        """JSON-ready dict (``nan`` and ``inf`` become None), with ``deviation`` and
        ``deviation_error`` added."""
        out = asdict(self)
        dev = self.deviation
        out["deviation"], out["deviation_error"] = (None, None) if dev is None else dev
        return _plain(out)


_LOCATION = re.compile(r"\s*(\(\d+(?:,\s*\d+)*,?\)|\[\d+\]|(?<=mode)\s+\d+|\bat step \d+)")


def _family(quantity: str) -> str:
    return re.sub(r"\s+", " ", _LOCATION.sub("", quantity)).strip()


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


def _blocks(n_runs: int, n_blocks: int | None) -> np.ndarray:
    """Edges of the delete-one blocks of contiguous runs (runs past the last edge are
    used in the value only)."""
    n = min(n_runs, 100) if n_blocks is None else check_int("n_blocks", n_blocks, minimum=2)
    if n > n_runs:
        raise ValueError(f"n_blocks must be <= the number of runs {n_runs}, got {n}")
    return np.linspace(0, n_runs - n_runs % n, n + 1).astype(int)


def _jackknife_estimate(value, loo) -> Estimate:
    value = np.asarray(value, dtype=np.float64)
    loo = np.asarray(loo, dtype=np.float64)
    n = loo.shape[0]
    error = np.sqrt((n - 1) / n * np.sum((loo - loo.mean(axis=0)) ** 2, axis=0))
    if value.ndim == 0:
        return Estimate(float(value), float(error))
    return Estimate(value, error)  # type: ignore[arg-type]  # per-component errors


def _central_moments(p1, p2, p3, p4):
    """Second and fourth central moments from the raw moments ``p_k = <u^k>`` (``u``
    taken about any nearby point, so that they stay well conditioned)."""
    m2 = p2 - p1 * p1
    m4 = p4 - 4 * p1 * p3 + 6 * p1 * p1 * p2 - 3 * p1**4
    return m2, m4


def _binder_cumulant(m2, m4):
    r""":math:`U_4 = m_4/(3 m_2^2) - 1` from the central moments (0 for a Gaussian)."""
    return m4 / (3.0 * m2 * m2) - 1.0


def run_jackknife(
    statistic: Callable[..., Any],
    samples: ArrayLike,
    *,
    n_blocks: int | None = None,
    batched: bool = False,
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
    batched : bool, optional
        ``statistic`` maps a stack of samples ``(m, r, ...)`` to one value per sample,
        ``(m, ...)``, and is called once for all leave-one-block-out samples (they are
        held together: ``n_blocks - 1`` times the data, refused if that exceeds the
        memory available) and once for all runs.

    Returns
    -------
    Estimate
        ``value`` = statistic of all runs;
        :math:`\text{error}^2 = \frac{n-1}{n}\sum_b (\theta_{(b)} - \bar\theta)^2`
        over the ``n`` leave-one-block-out values.

    See Also
    --------
    jackknife_sums : the same estimate for a statistic of per-run sums, in one pass.
    """
    data = np.asarray(samples)
    if data.ndim < 1 or data.shape[0] < 2:
        raise ValueError(f"samples must hold at least 2 runs along axis 0, got shape {data.shape}")
    edges = _blocks(data.shape[0], n_blocks)
    if batched:
        n = len(edges) - 1
        check_memory("n_blocks", n, (n - 1) * data.size, f"{n} leave-one-block-out samples")
        every = np.arange(edges[-1])
        keep = np.stack([np.delete(every, np.s_[a:b]) for a, b in itertools.pairwise(edges)])
        return _jackknife_estimate(statistic(data[None])[0], statistic(data[keep]))
    mask = np.ones(data.shape[0], dtype=bool)
    loo = []
    for b in range(len(edges) - 1):
        mask[:] = True
        mask[edges[b] : edges[b + 1]] = False
        mask[edges[-1] :] = False
        loo.append(np.asarray(statistic(data[mask]), dtype=np.float64))
    return _jackknife_estimate(statistic(data), loo)


def jackknife_sums(
    sums: ArrayLike,
    finish: Callable[[np.ndarray], np.ndarray],
    *,
    n_blocks: int | None = None,
) -> Estimate:
    r"""Jackknife over runs of a statistic that depends on the data through per-run sums.

    The estimate of :func:`run_jackknife` for statistics such as moments, ratios of
    moments and cumulants, computed in one pass: the leave-one-block-out totals are
    the total minus each block's sum, so the cost is that of one evaluation.

    Parameters
    ----------
    sums : array_like, shape (R, ...)
        Additive sums of each run (counts included where the statistic needs them).
    finish : callable
        Maps totals with a leading axis, shape ``(m, ...)``, to the statistic of each,
        shape ``(m,)`` or ``(m, q)``.
    n_blocks : int, optional
        As in :func:`run_jackknife` (default ``min(R, 100)``).

    Returns
    -------
    Estimate
        As :func:`run_jackknife`, equal to it up to rounding.

    Examples
    --------
    The mean of all values, with its error over 40 runs:

    >>> import numpy as np
    >>> from validation.analyses.stats import jackknife_sums, run_jackknife
    >>> x = np.random.default_rng(0).normal(size=(40, 25))
    >>> per_run = np.stack([x.sum(axis=1), np.full(40, 25.0)], axis=1)
    >>> fast = jackknife_sums(per_run, lambda t: t[:, 0] / t[:, 1])
    >>> slow = run_jackknife(np.mean, x)
    >>> bool(np.isclose(fast.value, slow.value) and np.isclose(fast.error, slow.error))
    True
    """
    s = np.asarray(sums, dtype=np.float64)
    if s.ndim < 1 or s.shape[0] < 2:
        raise ValueError(f"sums must hold at least 2 runs along axis 0, got shape {s.shape}")
    edges = _blocks(s.shape[0], n_blocks)
    used = s[: edges[-1]]
    loo = used.sum(axis=0) - np.add.reduceat(used, edges[:-1], axis=0)
    return _jackknife_estimate(np.asarray(finish(s.sum(axis=0)[None]))[0], finish(loo))


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


@dataclass(frozen=True)
class Trend:
    r"""Weighted least-squares trend of measured/predicted against a scaling variable.

    :math:`r = c_0 + c_1 v\ (+ c_2 v^2)`, usually with :math:`v = \alpha/|B|`: a
    prediction that is right to leading order has :math:`c_0 = 1`, and
    :math:`c_1` measures the first correction the prediction lacks.

    Attributes
    ----------
    coef, coef_error : tuple of float
        :math:`(c_0, c_1)` or :math:`(c_0, c_1, c_2)` and their standard errors
        (from the weights; not rescaled by :math:`\chi^2/\text{dof}`).
    chi2 : float
        :math:`\sum (r - \hat r)^2/\delta r^2`.
    dof : int
        Points minus coefficients.
    n_points : int
        Points in the fit.
    """

    coef: tuple
    coef_error: tuple
    chi2: float
    dof: int
    n_points: int

    @property
    def intercept(self) -> tuple[float, float]:
        """:math:`c_0` and its error."""
        return self.coef[0], self.coef_error[0]

    @property
    def slope(self) -> tuple[float, float]:
        """:math:`c_1` and its error."""
        return self.coef[1], self.coef_error[1]

    @property
    def chi2_dof(self) -> float:
        r""":math:`\chi^2/\text{dof}` (``nan`` without degrees of freedom)."""
        return self.chi2 / self.dof if self.dof > 0 else math.nan

    def __call__(self, v: ArrayLike) -> np.ndarray:
        """The fitted ratio at ``v``."""
        return np.polynomial.polynomial.polyval(np.asarray(v, dtype=np.float64), self.coef)

    def describe(self, variable: str = "alpha/|B|") -> str:
        """One line: the coefficients with errors and chi^2/dof."""
        names = ("", f" {variable}", f" ({variable})^2")
        terms = " + ".join(
            f"({_value_error(c, e)}){n}"
            for c, e, n in zip(self.coef, self.coef_error, names, strict=False)
        )
        chi = "" if self.dof <= 0 else f", chi2/dof = {self.chi2:.3g}/{self.dof}"
        return f"{terms}{chi}"


def _value_error(value: float, error: float) -> str:
    """``value +- error`` with the error to two significant digits."""
    if not (math.isfinite(error) and error > 0):
        return f"{value:.4g}"
    digits = max(0, 1 - math.floor(math.log10(error)))
    return f"{value:.{digits}f} +- {error:.{digits}f}"


def ratio_trend(
    v: ArrayLike,
    ratio: ArrayLike,
    error: ArrayLike,
    *,
    order: int | None = None,
    n_sigma: float = N_SIGMA,
) -> Trend:
    r"""Fit measured/predicted :math:`r = c_0 + c_1 v\,(+\,c_2 v^2)` by weighted least squares.

    Parameters
    ----------
    v : array_like, shape (n,)
        Scaling variable of each point (e.g. :math:`\alpha/|B|`); at least two
        distinct values.
    ratio, error : array_like, shape (n,)
        Measured/predicted and its standard error (> 0).
    order : {1, 2}, optional
        Degree of the polynomial.  Default: 1, raised to 2 only when the linear
        fit's :math:`\chi^2/\text{dof}` exceeds
        :math:`1 + n_\sigma\sqrt{2/\text{dof}}` and there are at least 4 distinct
        values of ``v``.
    n_sigma : float, optional
        Threshold of that test.

    Returns
    -------
    Trend

    Examples
    --------
    >>> from validation.analyses.stats import ratio_trend
    >>> t = ratio_trend([0.01, 0.02, 0.04], [1.03, 1.06, 1.12], [0.01, 0.01, 0.01])
    >>> [round(c, 6) for c in t.coef]
    [1.0, 3.0]
    """
    x = np.asarray(v, dtype=np.float64).ravel()
    y = np.asarray(ratio, dtype=np.float64).ravel()
    dy = np.asarray(error, dtype=np.float64).ravel()
    if not x.size == y.size == dy.size:
        raise ValueError(
            f"v, ratio and error must have the same length, got {x.size}, {y.size}, {dy.size}"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.isfinite(dy))):
        raise ValueError("v, ratio and error must be finite")
    if np.any(dy <= 0):
        raise ValueError(f"error must be > 0, got min {dy.min() if dy.size else None}")
    distinct = np.unique(x).size
    if distinct < 2:
        raise ValueError(f"v must take at least 2 distinct values, got {distinct}")
    n_sigma = check_positive("n_sigma", n_sigma)
    if order is not None and order not in (1, 2):
        raise ValueError(f"order must be 1, 2 or None, got {order!r}")
    if order == 2 and distinct < 3:
        raise ValueError(f"order=2 needs at least 3 distinct values of v, got {distinct}")

    def fit(deg):
        design = np.vander(x, deg + 1, increasing=True)
        w = 1.0 / dy**2
        a = design.T @ (design * w[:, None])
        coef = np.linalg.solve(a, design.T @ (w * y))
        cov = np.linalg.inv(a)
        chi2 = float(np.sum(w * (y - design @ coef) ** 2))
        return Trend(
            tuple(float(c) for c in coef),
            tuple(float(e) for e in np.sqrt(np.diag(cov))),
            chi2,
            int(x.size - deg - 1),
            int(x.size),
        )

    if order is not None:
        return fit(order)
    linear = fit(1)
    if (
        distinct >= 4
        and linear.dof > 0
        and linear.chi2_dof > 1.0 + n_sigma * math.sqrt(2.0 / linear.dof)
    ):
        return fit(2)
    return linear

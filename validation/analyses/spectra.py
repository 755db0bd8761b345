r"""Weight-matrix spectra of trained networks: Marchenko-Pastur bulk + tail,
power-law tails, unfolded level spacings, and their evolution over training.

Conventions (docs/theory.md sections 1 and 6): a weight matrix ``W`` is ``M x N``
with ``N <= M`` (a wider matrix is transposed, with a note); its spectrum is the
``N`` eigenvalues of :math:`X = W^T W`.  The Marchenko-Pastur (MP) law of
i.i.d. entries of variance :math:`s^2`, with :math:`r = N/M`, is

.. math::

    P_{MP}(x) = \frac{\sqrt{(x_+ - x)(x - x_-)}}{2\pi s^2 M r x},\qquad
    x_\pm = M s^2 (1 \pm \sqrt r)^2,

and a trained spectrum is described as :math:`A\,P_{MP}(x; s^2, r)` on the
bulk with the remaining weight :math:`1 - A` in a tail.

The pure fitting pieces live in :mod:`fpsolve.analytic` (``mp_cdf_fit``,
``mp_bulk_tail_split``, ``power_law_scan``, ``power_law_likelihood_ratio``,
``spacing_ratios``); this module adds matrices in, results with errors and plots
out.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from fpsolve.analytic import (
    RATIO_MEAN_GOE,
    RATIO_MEAN_GSE,
    RATIO_MEAN_GUE,
    RATIO_MEAN_POISSON,
    LikelihoodRatio,
    marchenko_pastur,
    mp_bulk_tail_split,
    mp_fit_bootstrap,
    poisson_spacing,
    power_law_likelihood_ratio,
    power_law_scan,
    spacing_ratios,
    wigner_surmise,
)
from fpsolve.checks import as_rng, check_finite_array, check_int, check_positive

__all__ = [
    "MPFit",
    "PowerLawFit",
    "SpacingStatistics",
    "SpectraEvolution",
    "Spectrum",
    "Unfolded",
    "fit_mp_bulk",
    "fit_power_law",
    "spacing_statistics",
    "spectra_evolution",
    "spectrum",
    "unfold",
    "write_report",
]

#: Reference values of the mean consecutive-spacing ratio (Atas et al. 2013).
RATIO_REFERENCE = {
    "poisson": RATIO_MEAN_POISSON,
    "goe": RATIO_MEAN_GOE,
    "gue": RATIO_MEAN_GUE,
    "gse": RATIO_MEAN_GSE,
}
_BETAS = {"goe": 1, "gue": 2, "gse": 4}


# ----------------------------------------------------------------------------
# Spectra
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalues of :math:`X = W^T W` for one ``M x N`` matrix (``N <= M``).

    Attributes
    ----------
    eigenvalues : numpy.ndarray
        Ascending, shape ``(N,)``.
    shape : tuple of int
        ``(M, N)`` after any transposition.
    name : str
        Label of the matrix.
    notes : tuple of str
        What was done to the input (transposition).
    """

    eigenvalues: np.ndarray
    shape: tuple[int, int]
    name: str = ""
    notes: tuple[str, ...] = ()

    @property
    def r(self) -> float:
        """Ratio ``N / M``."""
        return self.shape[1] / self.shape[0]

    def plot(self, ax=None, *, bins=40):
        """Histogram of the eigenvalues; returns the bar container."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        *_, patches = ax.hist(self.eigenvalues, bins=bins, density=True, alpha=0.6)
        ax.set_xlabel("eigenvalue x of W^T W")
        ax.set_ylabel("density")
        ax.set_title(self.name)
        return patches


def spectrum(matrix, *, name: str = "") -> Spectrum:
    r"""Eigenvalues of :math:`X = W^T W` of a weight matrix.

    A matrix with more columns than rows is transposed first (its ``W^T W``
    would have ``N - M`` zero eigenvalues), and a note says so.

    Parameters
    ----------
    matrix : array_like
        Finite 2-D array ``W``.
    name : str, optional
        Label.

    Returns
    -------
    Spectrum
    """
    w = np.asarray(matrix)
    if w.ndim != 2:
        raise ValueError(
            f"matrix {name!r} must be 2-dimensional (a weight matrix W), got shape {w.shape}"
        )
    w = check_finite_array(f"matrix {name!r}" if name else "matrix", w, ndim=2)
    notes = []
    if w.shape[1] > w.shape[0]:
        notes.append(f"transposed {w.shape[0]}x{w.shape[1]} to {w.shape[1]}x{w.shape[0]} (N <= M)")
        w = w.T
    if min(w.shape) < 1:
        raise ValueError(f"matrix {name!r} is empty, shape {w.shape}")
    sv = np.linalg.svd(w, compute_uv=False)
    return Spectrum(np.sort(sv * sv), (int(w.shape[0]), int(w.shape[1])), name, tuple(notes))


def _eigenvalues(eigenvalues, name="eigenvalues", *, minimum=8):
    if isinstance(eigenvalues, Spectrum):
        eigenvalues = eigenvalues.eigenvalues
    x = np.sort(check_finite_array(name, eigenvalues, ndim=1))
    if len(x) < minimum:
        raise ValueError(f"{name} must hold at least {minimum} values, got {len(x)}")
    if x[0] < -_ZERO_TOL * max(abs(x[-1]), np.finfo(float).tiny):
        raise ValueError(f"{name} must be >= 0 (spectrum of W^T W), got minimum {x[0]!r}")
    return x


#: Eigenvalues below this fraction of the largest are zero modes (round-off of a rank deficit).
_ZERO_TOL = 1e-10


# ----------------------------------------------------------------------------
# MP bulk + tail
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MPFit:
    r"""Marchenko-Pastur bulk + tail fit of one spectrum (see :func:`fit_mp_bulk`).

    Attributes
    ----------
    area, area_err : float
        Bulk area :math:`A` (1 for pure MP noise) and its error.
    s2, s2_err : float
        Entry variance :math:`s^2` and its error.
    r, r_err : float
        Effective ratio (``r_err = 0`` when fixed).
    scale, scale_err : float
        :math:`M s^2`, the mean of the bulk law.
    m : float
        Row count used to convert ``scale`` to ``s2`` (given, or ``n_bulk / r``).
    n, n_tail : int
        Number of eigenvalues and of tail eigenvalues.
    tail : numpy.ndarray
        The tail eigenvalues (ascending).
    tail_trace_fraction : float
        :math:`\sum_{tail} x / \sum x`.
    threshold : float
        Fitted upper edge plus ``edge_sigmas`` Tracy-Widom widths; tail = above it.
    consistent : bool
        False when no tail count up to ``max_tail_fraction`` made the bulk fit
        self-consistent (the fit is then unreliable).
    r_fixed : bool
    eigenvalues : numpy.ndarray
    n_bootstrap : int
        Parametric-bootstrap replicates behind the errors.
    notes : tuple of str
    """

    area: float
    area_err: float
    s2: float
    s2_err: float
    r: float
    r_err: float
    scale: float
    scale_err: float
    m: float
    n: int
    n_tail: int
    tail: np.ndarray
    tail_trace_fraction: float
    threshold: float
    consistent: bool
    r_fixed: bool
    eigenvalues: np.ndarray
    n_bootstrap: int
    notes: tuple[str, ...] = ()

    @property
    def edges(self) -> tuple[float, float]:
        r"""Fitted bulk support :math:`(x_-, x_+)`."""
        sr = math.sqrt(self.r)
        return self.scale * (1 - sr) ** 2, self.scale * (1 + sr) ** 2

    @property
    def tail_fraction(self) -> float:
        """Tail fraction by count, ``n_tail / n``."""
        return self.n_tail / self.n

    @property
    def distribution(self):
        """The fitted bulk law, :func:`fpsolve.analytic.marchenko_pastur` ``(r, scale)``."""
        return marchenko_pastur(self.r, self.scale)

    def pdf(self, x):
        r"""Fitted density :math:`A\,P_{MP}(x; s^2, r)`."""
        return self.area * self.distribution.pdf(x)

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "area": self.area,
            "area_err": self.area_err,
            "s2": self.s2,
            "s2_err": self.s2_err,
            "r": self.r,
            "r_err": self.r_err,
            "n": self.n,
            "n_tail": self.n_tail,
            "tail_trace_fraction": self.tail_trace_fraction,
            "threshold": self.threshold,
            "consistent": self.consistent,
            "notes": list(self.notes),
        }

    def plot(self, ax=None, *, bins=40, label=None):
        """Histogram of the spectrum with the fitted :math:`A P_{MP}`; returns the artists."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        *_, patches = ax.hist(self.eigenvalues, bins=bins, density=True, alpha=0.5, label=label)
        lo, hi = self.edges
        xs = np.linspace(lo, hi, 400)
        (line,) = ax.plot(xs, self.pdf(xs), color="k", label=f"A={self.area:.3f}, s2={self.s2:.3g}")
        vline = ax.axvline(self.threshold, color="r", ls=":", lw=1)
        ax.set_xlabel("eigenvalue x of W^T W")
        ax.set_ylabel("density")
        ax.legend(fontsize="small")
        return [patches, line, vline]


def fit_mp_bulk(
    eigenvalues,
    *,
    m: int | None = None,
    r: float | None = None,
    edge_sigmas: float = 4.0,
    max_tail_fraction: float = 0.5,
    n_matrices: int = 1,
    n_bootstrap: int = 20,
    rng=None,
) -> MPFit:
    r"""Fit a Marchenko-Pastur bulk :math:`A\,P_{MP}(x; s^2, r)` plus a tail.

    Method.  For a tail count ``k`` the lowest ``N - k`` eigenvalues are fitted
    by least squares to the empirical CDF, residuals
    :math:`(i - \tfrac12)/N - A\,F_{MP}(x_{(i)}; M s^2, r)`;
    ``k`` is the smallest count for which the largest bulk eigenvalue lies below
    the fitted edge :math:`x_+` plus ``edge_sigmas`` Tracy-Widom widths
    :math:`\sigma_{TW} = M s^2 (1+\sqrt r)(1 + r^{-1/2})^{1/3} M^{-2/3}`
    (found by bisection).  A rank-``k`` signal leaves a bulk of effective ratio
    :math:`(N-k)/M`, so ``r`` is fitted unless given.  Errors are the standard
    deviations over ``n_bootstrap`` parametric-bootstrap replicates (bulk drawn
    exactly from the fitted Laguerre ensemble, tail kept, ``k`` kept).

    Parameters
    ----------
    eigenvalues : array_like or Spectrum
        Eigenvalues of :math:`W^T W` (at least 8, ``>= 0``; zero modes, below
        ``1e-10`` of the largest in size, are dropped with a note).
    m : int, optional
        Row count ``M`` of ``W`` for :math:`s^2 = \mathrm{scale}/M`; without it
        ``M = N_{bulk} / r``.  Taken from a :class:`Spectrum` if not given.
    r : float, optional
        Fixed ratio in ``(0, 1]``; fitted when None.
    edge_sigmas : float, optional
        Tail threshold above the fitted edge, in Tracy-Widom widths.
    max_tail_fraction : float, optional
        Largest tail fraction considered.
    n_matrices : int, optional
        Number of independent matrices pooled in ``eigenvalues`` (same shape):
        the Tracy-Widom margin is that of one matrix and the bootstrap pools as
        many independent spectra.
    n_bootstrap : int, optional
        Replicates for the errors; with fewer than 2 the errors are NaN (not
        computed), which makes the fit alone cost a few milliseconds.
    rng : int, numpy.random.Generator or None
        Seed for the bootstrap.

    Returns
    -------
    MPFit

    Examples
    --------
    >>> from fpsolve.analytic import sample_laguerre
    >>> x = sample_laguerre(2000, 500, 1, 1 / 2000, 1, rng=1)[0]
    >>> fit = fit_mp_bulk(x, m=2000, rng=2)
    >>> fit.n_tail, round(fit.area, 2), round(fit.s2 * 2000, 2)
    (0, 1.0, 1.0)
    """
    notes = []
    if isinstance(eigenvalues, Spectrum) and m is None:
        m = eigenvalues.shape[0]
    x = _eigenvalues(eigenvalues)
    n_bootstrap = check_int("n_bootstrap", n_bootstrap, minimum=0)
    if m is not None:
        m = check_int("m", m, minimum=1)
    gen = as_rng(rng)
    zeros = int(np.count_nonzero(x <= _ZERO_TOL * x[-1]))
    if zeros:
        notes.append(f"dropped {zeros} zero eigenvalues (below {_ZERO_TOL:g} of the largest)")
        x = x[zeros:]
        if len(x) < 8:
            raise ValueError(f"eigenvalues must hold at least 8 positive values, got {len(x)}")
    n_matrices = check_int("n_matrices", n_matrices, minimum=1)
    split = mp_bulk_tail_split(
        x,
        r=r,
        edge_sigmas=edge_sigmas,
        max_tail_fraction=max_tail_fraction,
        n_matrices=n_matrices,
    )
    fit, k = split.fit, split.n_tail
    n = len(x)
    n_b = n - k
    if not split.consistent:
        notes.append(
            f"no self-consistent bulk with a tail fraction <= {max_tail_fraction}; fit unreliable"
        )
    tail = x[n_b:]

    def s2_of(scale, rr):
        return scale / m if m is not None else scale * rr / n_b

    # parametric bootstrap: exact Laguerre bulk with the fitted (scale, r), tail kept
    est = mp_fit_bootstrap(
        fit, n_b, n, r=r, n_matrices=n_matrices, n_bootstrap=n_bootstrap, rng=gen
    )
    est = np.column_stack([est, s2_of(est[:, 1], est[:, 2])])
    err = est.std(axis=0, ddof=1) if n_bootstrap >= 2 else np.full(4, np.nan)
    return MPFit(
        area=fit.area,
        area_err=float(err[0]),
        s2=float(s2_of(fit.scale, fit.r)),
        s2_err=float(err[3]),
        r=fit.r,
        r_err=0.0 if r is not None else float(err[2]),
        scale=fit.scale,
        scale_err=float(err[1]),
        m=float(m) if m is not None else n_b / fit.r,
        n=n,
        n_tail=k,
        tail=tail.copy(),
        tail_trace_fraction=float(tail.sum() / x.sum()),
        threshold=split.threshold,
        consistent=split.consistent,
        r_fixed=r is not None,
        eigenvalues=x,
        n_bootstrap=n_bootstrap,
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------------
# Power law
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLawFit:
    r"""Power-law tail fit (see :func:`fit_power_law`).

    Attributes
    ----------
    power_law : bool
        The verdict: is the tail a power law?
    alpha, alpha_err : float or None
        Exponent of :math:`p(x) \propto x^{-\alpha}` and its error; None when
        ``power_law`` is False (see ``reasons``).
    candidate_alpha, candidate_alpha_err : float
        The maximum-likelihood exponent at the chosen x_min whatever the verdict.
    xmin : float
    n_tail : int
        Points at or above ``xmin``.
    ks : float
        Kolmogorov-Smirnov distance of the fit.
    p_value : float or None
        Goodness-of-fit p-value (semi-parametric bootstrap); None if not run.
    lr_exponential, lr_lognormal : LikelihoodRatio
        Vuong tests (statistic > 0 favours the power law).
    bulk_threshold : float or None
        Upper edge (plus Tracy-Widom margin) of the MP bulk used for the checks.
    n_beyond_bulk : int or None
        Eigenvalues above ``bulk_threshold``.
    reasons : tuple of str
        Why ``power_law`` is False (empty when True).
    data : numpy.ndarray
    """

    power_law: bool
    alpha: float | None
    alpha_err: float | None
    candidate_alpha: float
    candidate_alpha_err: float
    xmin: float
    n_tail: int
    ks: float
    p_value: float | None
    lr_exponential: LikelihoodRatio
    lr_lognormal: LikelihoodRatio
    bulk_threshold: float | None
    n_beyond_bulk: int | None
    reasons: tuple[str, ...]
    data: np.ndarray

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "power_law": self.power_law,
            "alpha": self.alpha,
            "alpha_err": self.alpha_err,
            "candidate_alpha": self.candidate_alpha,
            "xmin": self.xmin,
            "n_tail": self.n_tail,
            "ks": self.ks,
            "p_value": self.p_value,
            "lr_exponential": [self.lr_exponential.normalized, self.lr_exponential.p_value],
            "lr_lognormal": [self.lr_lognormal.normalized, self.lr_lognormal.p_value],
            "n_beyond_bulk": self.n_beyond_bulk,
            "reasons": list(self.reasons),
        }

    def plot(self, ax=None):
        """Empirical complementary CDF (log-log) with the fitted power law."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        x = np.sort(self.data)
        ccdf = 1.0 - np.arange(len(x)) / len(x)
        (emp,) = ax.loglog(x, ccdf, ".", ms=3, label="data")
        t = np.geomspace(self.xmin, x[-1], 100)
        frac = self.n_tail / len(x)
        label = (
            f"alpha={self.alpha:.2f}+-{self.alpha_err:.2f}" if self.power_law else "no power law"
        )
        (fit,) = ax.loglog(
            t, frac * (t / self.xmin) ** (1 - self.candidate_alpha), "k-", label=label
        )
        ax.set_xlabel("x")
        ax.set_ylabel("P(X >= x)")
        ax.legend(fontsize="small")
        return [emp, fit]


def fit_power_law(
    eigenvalues,
    *,
    xmin: float | None = None,
    n_tail_min: int = 10,
    bulk="fit",
    n_bootstrap: int = 100,
    significance: float = 0.1,
    rng=None,
) -> PowerLawFit:
    r"""Clauset-Shalizi-Newman power-law fit of a spectral tail, with a verdict.

    Model above :math:`x_{min}`: :math:`p(x) = \frac{\alpha-1}{x_{min}}
    (x/x_{min})^{-\alpha}` (no bound on :math:`\alpha`); maximum-likelihood
    :math:`\hat\alpha = 1 + n/\sum\ln(x_i/x_{min})`, error
    :math:`(\hat\alpha-1)/\sqrt n`; :math:`x_{min}` minimises the KS distance
    unless given.  The verdict ``power_law`` is True only if

    * at least ``n_tail_min`` points lie at or above :math:`x_{min}`;
    * the goodness-of-fit p-value (``n_bootstrap`` semi-parametric bootstrap
      replicates, each with its own x_min scan) is at least ``significance``;
    * neither the exponential nor the log-normal is significantly better
      (Vuong test, p < ``significance`` with the sign against the power law);
    * with a bulk, at least ``n_tail_min`` eigenvalues lie beyond the MP bulk
      (so pure MP noise gives "no power law").

    A ``UserWarning`` is issued when :math:`x_{min}` lies inside the fitted MP
    bulk.

    Parameters
    ----------
    eigenvalues : array_like or Spectrum
        Positive values (eigenvalues, or any samples with ``bulk=None``).
    xmin : float, optional
        Fixed x_min (no scan).
    n_tail_min : int, optional
        Fewest tail points, ``>= 2``.
    bulk : "fit", MPFit or None, optional
        MP bulk for the checks: fitted here by :func:`fit_mp_bulk` (default),
        a given fit, or none (plain samples).
    n_bootstrap : int, optional
        Goodness-of-fit replicates (0 skips the test, ``p_value`` is None).
    significance : float, optional
        Level for the goodness-of-fit and likelihood-ratio tests.
    rng : int, numpy.random.Generator or None
        Seed for the bootstrap.

    Returns
    -------
    PowerLawFit
    """
    x = _eigenvalues(eigenvalues, minimum=2)
    if x[0] <= 0:
        raise ValueError(f"eigenvalues must be > 0 for a power-law fit, got minimum {x[0]!r}")
    n_tail_min = check_int("n_tail_min", n_tail_min, minimum=2)
    n_bootstrap = check_int("n_bootstrap", n_bootstrap, minimum=0)
    significance = check_positive("significance", significance)
    gen = as_rng(rng)
    if isinstance(bulk, str):
        if bulk != "fit":
            raise ValueError(f"bulk must be 'fit', an MPFit or None, got {bulk!r}")
        bulk = fit_mp_bulk(x, n_bootstrap=0)
    elif bulk is not None and not isinstance(bulk, MPFit):
        raise TypeError(f"bulk must be 'fit', an MPFit or None, got {type(bulk).__name__}")
    scan = power_law_scan(x, n_tail_min=n_tail_min, xmin=xmin)
    lr_exp = power_law_likelihood_ratio(x, scan.xmin, scan.alpha, "exponential")
    lr_ln = power_law_likelihood_ratio(x, scan.xmin, scan.alpha, "lognormal")
    reasons = [
        f"{lr.alternative} fits better (normalised LR {lr.normalized:.2f}, p = {lr.p_value:.3g})"
        for lr in (lr_exp, lr_ln)
        if lr.statistic < 0 and lr.p_value < significance
    ]
    p_value = None
    if n_bootstrap > 0:
        p_value = _gof_p_value(x, scan, n_tail_min, xmin, n_bootstrap, gen)
        if p_value < significance:
            reasons.append(f"goodness-of-fit p = {p_value:.3g} < {significance}")
    threshold = n_beyond = None
    if bulk is not None:
        threshold = bulk.threshold
        n_beyond = int(np.count_nonzero(x > threshold))
        if n_beyond < n_tail_min:
            reasons.append(
                f"only {n_beyond} eigenvalues beyond the MP bulk (threshold {threshold:.4g}), "
                f"fewer than n_tail_min={n_tail_min}"
            )
        if scan.xmin < bulk.edges[1]:
            warnings.warn(
                f"x_min = {scan.xmin:.4g} lies inside the fitted MP bulk "
                f"(upper edge {bulk.edges[1]:.4g})",
                UserWarning,
                stacklevel=2,
            )
    ok = not reasons
    return PowerLawFit(
        power_law=ok,
        alpha=scan.alpha if ok else None,
        alpha_err=scan.alpha_err if ok else None,
        candidate_alpha=scan.alpha,
        candidate_alpha_err=scan.alpha_err,
        xmin=scan.xmin,
        n_tail=scan.n_tail,
        ks=scan.ks,
        p_value=p_value,
        lr_exponential=lr_exp,
        lr_lognormal=lr_ln,
        bulk_threshold=threshold,
        n_beyond_bulk=n_beyond,
        reasons=tuple(reasons),
        data=x,
    )


def _gof_p_value(x, scan, n_tail_min, xmin, n_bootstrap, gen):
    """Clauset et al. (2009) semi-parametric bootstrap of the KS distance."""
    n = len(x)
    body = x[x < scan.xmin]
    frac_tail = scan.n_tail / n
    exceed = 0
    for _ in range(n_bootstrap):
        n_t = int(gen.binomial(n, frac_tail)) if len(body) else n
        n_t = max(n_t, n_tail_min)
        u = gen.random(n_t)
        synth_tail = scan.xmin * (1.0 - u) ** (-1.0 / (scan.alpha - 1.0))
        synth_body = gen.choice(body, size=n - n_t) if len(body) and n > n_t else np.empty(0)
        sample = np.concatenate([synth_body, synth_tail])
        d = power_law_scan(sample, n_tail_min=n_tail_min, xmin=xmin).ks
        exceed += d >= scan.ks
    return exceed / n_bootstrap


# ----------------------------------------------------------------------------
# Unfolding and spacings
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Unfolded:
    r"""Unfolded levels (see :func:`unfold`).

    Attributes
    ----------
    levels : numpy.ndarray
        The raw levels that were unfolded (ascending; MP unfolding keeps the bulk).
    unfolded : numpy.ndarray
        :math:`\xi_i = \bar N(x_i)`, the smooth counting function at each level.
    spacings : numpy.ndarray
        :math:`s_i = \xi_{i+1} - \xi_i` (mean close to 1).
    method : str
        ``"mp"`` or ``"polynomial"``.
    degree : int or None
        Polynomial degree.
    fit : MPFit or None
        The MP fit used.
    """

    levels: np.ndarray
    unfolded: np.ndarray
    spacings: np.ndarray
    method: str
    degree: int | None = None
    fit: MPFit | None = None

    def plot(self, ax=None):
        """Staircase of the raw levels with the smooth counting function."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        (stair,) = ax.step(self.levels, np.arange(1, len(self.levels) + 1), where="post")
        (smooth,) = ax.plot(self.levels, self.unfolded, "k-", lw=1)
        ax.set_xlabel("level")
        ax.set_ylabel("N(x)")
        return [stair, smooth]


def unfold(
    eigenvalues,
    method: str,
    *,
    fit: MPFit | None = None,
    degree: int | None = None,
    trim: float = 0.0,
) -> Unfolded:
    r"""Map levels to unit mean density with a stated smooth counting function.

    ``method="mp"``: :math:`\xi_i = N A\, F_{MP}(x_i; M s^2, r)` with the fitted
    bulk (``fit``, or :func:`fit_mp_bulk` run here); only bulk eigenvalues
    (at or below the tail threshold) are kept.  ``method="polynomial"``: a
    least-squares polynomial of the given ``degree`` fitted to the staircase
    :math:`i \mapsto x_i` gives :math:`\xi_i = \bar N(x_i)`.  There is no
    default: the choice is always explicit.

    Parameters
    ----------
    eigenvalues : array_like or Spectrum
        Levels (any order).
    method : {"mp", "polynomial"}
    fit : MPFit, optional
        MP fit for ``method="mp"``.
    degree : int, optional
        Polynomial degree (``>= 1``), required for ``method="polynomial"``.
    trim : float, optional
        Fraction of the levels dropped at each end after unfolding, in ``[0, 0.5)``.

    Returns
    -------
    Unfolded
    """
    x = _eigenvalues(eigenvalues, minimum=3) if method == "mp" else None
    if method == "mp":
        if degree is not None:
            raise ValueError("degree applies to method='polynomial' only")
        if fit is None:
            fit = fit_mp_bulk(x, n_bootstrap=0)
        elif not isinstance(fit, MPFit):
            raise TypeError(f"fit must be an MPFit, got {type(fit).__name__}")
        lv = x[(x > 0) & (x <= fit.threshold)]
        xi = fit.n * fit.area * fit.distribution.cdf(lv)
    elif method == "polynomial":
        lv = np.sort(
            check_finite_array(
                "eigenvalues", getattr(eigenvalues, "eigenvalues", eigenvalues), ndim=1
            )
        )
        if degree is None:
            raise ValueError("method='polynomial' needs degree (an int >= 1)")
        degree = check_int("degree", degree, minimum=1)
        if len(lv) < degree + 3:
            raise ValueError(
                f"polynomial unfolding of degree {degree} needs at least {degree + 3} levels, "
                f"got {len(lv)}"
            )
        if fit is not None:
            raise ValueError("fit applies to method='mp' only")
        poly = np.polynomial.Polynomial.fit(lv, np.arange(1, len(lv) + 1), degree)
        xi = poly(lv)
    else:
        raise ValueError(f"method must be 'mp' or 'polynomial', got {method!r}")
    if not 0.0 <= trim < 0.5:
        raise ValueError(f"trim must lie in [0, 0.5), got {trim!r}")
    cut = int(trim * len(lv))
    if cut:
        lv, xi = lv[cut:-cut], xi[cut:-cut]
    if len(lv) < 2:
        raise ValueError(f"fewer than 2 levels left to unfold ({len(lv)})")
    return Unfolded(lv, xi, np.diff(xi), method, degree, fit)


@dataclass(frozen=True)
class SpacingStatistics:
    r"""Nearest-neighbour spacing and spacing-ratio statistics (see :func:`spacing_statistics`).

    Attributes
    ----------
    spacings : numpy.ndarray
        Pooled unfolded spacings, each set normalised to mean 1.
    ratios : numpy.ndarray
        Pooled consecutive-spacing ratios of the raw levels.
    n_sets : int
    ks : dict
        ``{"goe"|"gue"|"gse"|"poisson": (statistic, p_value)}`` of the
        Kolmogorov-Smirnov test of ``spacings`` against the Wigner surmise with
        beta = 1, 2, 4 and the Poisson law.
    ratio_mean, ratio_err : float
        :math:`\langle\tilde r\rangle` and its standard error.
    ratio_reference : dict
        Large-N reference values of :math:`\langle\tilde r\rangle`.
    """

    spacings: np.ndarray
    ratios: np.ndarray
    n_sets: int
    ks: dict
    ratio_mean: float
    ratio_err: float
    ratio_reference: dict = field(default_factory=lambda: dict(RATIO_REFERENCE))

    @property
    def n_spacings(self) -> int:
        """Number of pooled spacings."""
        return len(self.spacings)

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "n_spacings": self.n_spacings,
            "n_sets": self.n_sets,
            "ks": {k: list(v) for k, v in self.ks.items()},
            "ratio_mean": self.ratio_mean,
            "ratio_err": self.ratio_err,
        }

    def plot(self, ax=None, *, bins=30):
        """Spacing histogram with the Wigner surmises and Poisson; returns the artists."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        *_, patches = ax.hist(
            self.spacings, bins=bins, density=True, alpha=0.5, label=f"{self.n_spacings} spacings"
        )
        s = np.linspace(0, max(4.0, float(self.spacings.max())), 300)
        lines = [patches]
        for lab, beta in _BETAS.items():
            (ln,) = ax.plot(s, wigner_surmise(beta).pdf(s), label=f"surmise beta={beta} ({lab})")
            lines.append(ln)
        (ln,) = ax.plot(s, poisson_spacing().pdf(s), "k--", label="Poisson")
        lines.append(ln)
        ax.set_xlabel("unfolded spacing s")
        ax.set_ylabel("P(s)")
        ax.legend(fontsize="small")
        return lines


def spacing_statistics(unfolded, *, min_spacings: int = 50) -> SpacingStatistics:
    r"""Spacings against the Wigner surmises and Poisson, and :math:`\langle\tilde r\rangle`.

    Each set of unfolded spacings is divided by its mean and the sets are
    pooled; the pool is compared with :math:`P_\beta(s)` (beta = 1, 2, 4) and
    :math:`e^{-s}` by Kolmogorov-Smirnov tests.  The consecutive-spacing ratio
    :math:`\tilde r_i = \min(s_i, s_{i+1})/\max(s_i, s_{i+1})` is computed on the
    raw levels (no unfolding needed), pooled, and compared with
    :math:`2\ln2 - 1` (Poisson) and 0.5307 / 0.5996 / 0.6744 (GOE / GUE / GSE);
    its error is the standard error of the pooled mean.  A ``UserWarning`` is
    issued when fewer than ``min_spacings`` spacings are pooled.

    Parameters
    ----------
    unfolded : Unfolded or sequence of Unfolded
    min_spacings : int, optional

    Returns
    -------
    SpacingStatistics
    """
    sets = [unfolded] if isinstance(unfolded, Unfolded) else list(unfolded)
    if not sets or not all(isinstance(u, Unfolded) for u in sets):
        raise TypeError("unfolded must be an Unfolded or a non-empty sequence of Unfolded")
    min_spacings = check_int("min_spacings", min_spacings, minimum=1)
    sp, rt = [], []
    for u in sets:
        s = u.spacings
        if len(s) == 0 or s.mean() <= 0:
            continue
        sp.append(s / s.mean())
        if len(u.levels) >= 3:
            rt.append(spacing_ratios(u.levels))
    if not sp:
        raise ValueError("no spacings to analyse")
    spacings = np.concatenate(sp)
    ratios = np.concatenate(rt) if rt else np.empty(0)
    if len(spacings) < min_spacings:
        warnings.warn(
            f"only {len(spacings)} spacings pooled (fewer than {min_spacings}); "
            "the KS tests have little power",
            UserWarning,
            stacklevel=2,
        )
    ks = {}
    for lab, beta in _BETAS.items():
        res = stats.kstest(spacings, wigner_surmise(beta).cdf)
        ks[lab] = (float(res.statistic), float(res.pvalue))
    res = stats.kstest(spacings, poisson_spacing().cdf)
    ks["poisson"] = (float(res.statistic), float(res.pvalue))
    if len(ratios) >= 2:
        rmean = float(ratios.mean())
        rerr = float(ratios.std(ddof=1) / math.sqrt(len(ratios)))
    else:
        rmean, rerr = float("nan"), float("nan")
    return SpacingStatistics(spacings, ratios, len(sets), ks, rmean, rerr)


# ----------------------------------------------------------------------------
# Evolution over training
# ----------------------------------------------------------------------------


def _default_group(name: str) -> str:
    """Group label: the name with its head index replaced by ``*``."""
    out = re.sub(r"\.heads?\.(\d+)\.", ".heads.*.", name)
    return re.sub(r"\[(\w+)\.\d+\]$", r"[\1.*]", out)


@dataclass(frozen=True)
class SpectraEvolution:
    r"""Spectral statistics over training checkpoints (see :func:`spectra_evolution`).

    Arrays have shape ``(n_checkpoints, n_groups)``; ``alpha`` is NaN where
    the verdict was "no power law", ``ratio_mean`` NaN where a group has fewer
    than 3 levels per matrix.

    Attributes
    ----------
    iterations : numpy.ndarray
    groups : tuple of str
    area, area_err, s2, s2_err, r, n_tail, tail_trace_fraction : numpy.ndarray
    alpha, alpha_err : numpy.ndarray
    ratio_mean, ratio_err, ks_goe : numpy.ndarray
        Mean spacing ratio, its error, and the KS p-value against the beta=1 surmise.
    fits : tuple of tuple of MPFit
        ``fits[t][g]``.
    spacings : tuple of tuple of SpacingStatistics
    """

    iterations: np.ndarray
    groups: tuple[str, ...]
    area: np.ndarray
    area_err: np.ndarray
    s2: np.ndarray
    s2_err: np.ndarray
    r: np.ndarray
    n_tail: np.ndarray
    tail_trace_fraction: np.ndarray
    alpha: np.ndarray
    alpha_err: np.ndarray
    ratio_mean: np.ndarray
    ratio_err: np.ndarray
    ks_goe: np.ndarray
    fits: tuple
    spacings: tuple

    def as_dict(self) -> dict:
        """JSON-ready summary (NaN written as None)."""

        def clean(a):
            return [[None if not np.isfinite(v) else float(v) for v in row] for row in a]

        return {
            "iterations": [int(i) for i in self.iterations],
            "groups": list(self.groups),
            "area": clean(self.area),
            "area_err": clean(self.area_err),
            "s2": clean(self.s2),
            "s2_err": clean(self.s2_err),
            "r": clean(self.r),
            "n_tail": self.n_tail.tolist(),
            "tail_trace_fraction": clean(self.tail_trace_fraction),
            "alpha": clean(self.alpha),
            "alpha_err": clean(self.alpha_err),
            "ratio_mean": clean(self.ratio_mean),
            "ratio_err": clean(self.ratio_err),
            "ks_goe_p": clean(self.ks_goe),
        }

    def plot(self, ax=None):
        """``A`` and ``s2`` against iteration for each group; returns the artists.

        ``ax`` is a pair of axes (created when None).
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(10, 4))
        ax_a, ax_s = ax
        artists = []
        colors = plt.get_cmap("tab20")
        for g, name in enumerate(self.groups):
            style = {"color": colors(g % 20), "marker": "osd^v<>"[g % 7], "ms": 3, "label": name}
            artists.append(
                ax_a.errorbar(self.iterations, self.area[:, g], self.area_err[:, g], **style)
            )
            artists.append(
                ax_s.errorbar(self.iterations, self.s2[:, g], self.s2_err[:, g], **style)
            )
        ax_a.set_xlabel("iteration")
        ax_a.set_ylabel("MP area A")
        ax_s.set_xlabel("iteration")
        ax_s.set_ylabel("s2")
        ax_a.legend(fontsize="x-small")
        return artists

    def plot_spectra(self, group: int | str = 0, iterations=None, axes=None):
        """Spectra with their MP fits at the chosen iterations (default: first, middle, last)."""
        import matplotlib.pyplot as plt

        g = self.groups.index(group) if isinstance(group, str) else int(group)
        if iterations is None:
            idx = sorted({0, len(self.iterations) // 2, len(self.iterations) - 1})
        else:
            idx = [int(np.argmin(np.abs(self.iterations - it))) for it in iterations]
        if axes is None:
            _, axes = plt.subplots(1, len(idx), figsize=(4 * len(idx), 3.5), squeeze=False)
            axes = axes[0]
        artists = []
        for a, t in zip(axes, idx, strict=False):
            artists.extend(self.fits[t][g].plot(a))
            a.set_title(f"{self.groups[g]} @ {int(self.iterations[t])}", fontsize="small")
        return artists


def spectra_evolution(
    checkpoints,
    *,
    group: str | Callable[[str], str] = "kind",
    power_law: bool = True,
    n_bootstrap: int = 20,
    rng=None,
    progress: bool = False,
) -> SpectraEvolution:
    r"""MP bulk, tail and spacing statistics of every checkpoint of a training run.

    For each checkpoint and each group of matrices the spectra of
    :math:`W^T W` are pooled (matrices of one group must have the same shape)
    and analysed: :func:`fit_mp_bulk` (``m`` = rows), :func:`fit_power_law`
    on the pooled spectrum with that bulk (``alpha`` NaN where the verdict is
    "no power law"), and :func:`spacing_statistics` of each matrix's bulk
    unfolded with the group's MP fit (``method="mp"``), pooled.

    Parameters
    ----------
    checkpoints : sequence
        Items with ``iteration`` and ``matrices`` (a mapping name -> 2-D array),
        e.g. from :func:`validation.data.checkpoints.read_checkpoint`, or
        ``(iteration, mapping)`` pairs.
    group : "kind", "matrix" or callable, optional
        ``"kind"`` pools the heads of one layer and kind (the head index is
        removed from the name), ``"matrix"`` analyses every matrix alone, a
        callable maps a name to its group label.
    power_law : bool, optional
        Run the power-law fits.
    n_bootstrap : int, optional
        Replicates for the MP-fit errors.
    rng : int, numpy.random.Generator or None
    progress : bool, optional
        Show a tqdm progress bar.

    Returns
    -------
    SpectraEvolution
    """
    gen = as_rng(rng)
    items = []
    for c in checkpoints:
        if isinstance(c, tuple) and len(c) == 2:
            it, mats = c
        else:
            it, mats = c.iteration, c.matrices
        if not isinstance(mats, Mapping) or not mats:
            raise TypeError("each checkpoint needs a non-empty mapping of named matrices")
        items.append((int(it), mats))
    if not items:
        raise ValueError("checkpoints is empty")
    items.sort(key=lambda p: p[0])
    if group == "kind":
        key = _default_group
    elif group == "matrix":
        key = str
    elif callable(group):
        key = group
    else:
        raise ValueError(f"group must be 'kind', 'matrix' or a callable, got {group!r}")
    groups: list[str] = []
    for _, mats in items:
        for name in mats:
            gname = key(name)
            if gname not in groups:
                groups.append(gname)
    shape = (len(items), len(groups))
    arrays = {
        k: np.full(shape, np.nan)
        for k in (
            "area",
            "area_err",
            "s2",
            "s2_err",
            "r",
            "tail_trace_fraction",
            "alpha",
            "alpha_err",
            "ratio_mean",
            "ratio_err",
            "ks_goe",
        )
    }
    n_tail = np.zeros(shape, dtype=int)
    fits, spac = [], []
    from tqdm.auto import tqdm

    for t, (_, mats) in enumerate(tqdm(items, disable=not progress, desc="checkpoints")):
        row_fits, row_sp = [], []
        for g, gname in enumerate(groups):
            specs = [spectrum(w, name=nm) for nm, w in mats.items() if key(nm) == gname]
            if not specs:
                row_fits.append(None)
                row_sp.append(None)
                continue
            shapes = {s.shape for s in specs}
            if len(shapes) > 1:
                raise ValueError(f"group {gname!r} mixes matrix shapes {sorted(shapes)}")
            pooled = np.concatenate([s.eigenvalues for s in specs])
            fit = fit_mp_bulk(
                pooled,
                m=specs[0].shape[0],
                n_matrices=len(specs),
                n_bootstrap=n_bootstrap,
                rng=gen,
            )
            row_fits.append(fit)
            for k_, v in (
                ("area", fit.area),
                ("area_err", fit.area_err),
                ("s2", fit.s2),
                ("s2_err", fit.s2_err),
                ("r", fit.r),
                ("tail_trace_fraction", fit.tail_trace_fraction),
            ):
                arrays[k_][t, g] = v
            n_tail[t, g] = fit.n_tail
            if power_law and fit.n >= 12:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    pl = fit_power_law(pooled, bulk=fit, n_bootstrap=50, rng=gen)
                if pl.power_law:
                    arrays["alpha"][t, g] = pl.alpha
                    arrays["alpha_err"][t, g] = pl.alpha_err
            unf = []
            for s in specs:
                lv = s.eigenvalues[(s.eigenvalues > 0) & (s.eigenvalues <= fit.threshold)]
                if len(lv) >= 3:
                    xi = s.shape[1] * fit.area * fit.distribution.cdf(lv)
                    unf.append(Unfolded(lv, xi, np.diff(xi), "mp", None, fit))
            st = None
            if unf:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    st = spacing_statistics(unf)
                arrays["ratio_mean"][t, g] = st.ratio_mean
                arrays["ratio_err"][t, g] = st.ratio_err
                arrays["ks_goe"][t, g] = st.ks["goe"][1]
            row_sp.append(st)
        fits.append(tuple(row_fits))
        spac.append(tuple(row_sp))
    return SpectraEvolution(
        iterations=np.array([it for it, _ in items]),
        groups=tuple(groups),
        n_tail=n_tail,
        fits=tuple(fits),
        spacings=tuple(spac),
        **arrays,
    )


def write_report(evolution: SpectraEvolution, out_dir, *, iterations=None) -> str:
    """Write ``results.json`` and figures of a :class:`SpectraEvolution` into ``out_dir``.

    Files: ``results.json`` (:meth:`SpectraEvolution.as_dict` plus the pooled
    spacing statistics of the last checkpoint), ``evolution.png`` (``A`` and
    ``s2`` against iteration), ``spectra.png`` (spectra with MP fits at the
    checkpoints nearest to ``iterations``, default first, middle and last, one
    row per group, at most 12 rows) and
    ``spacings.png`` (spacings of the last checkpoint pooled over groups, with
    the Wigner surmises and Poisson).

    Parameters
    ----------
    evolution : SpectraEvolution
    out_dir : str or os.PathLike
    iterations : sequence of int, optional
        Iterations shown in ``spectra.png`` (e.g. ``[0, 1000, 5000]``).

    Returns
    -------
    str
        Path of ``results.json``.
    """
    import json
    import os

    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    result = evolution.as_dict()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    evolution.plot(ax)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "evolution.png"), dpi=110)
    plt.close(fig)
    n_rows = min(len(evolution.groups), 12)
    if iterations is None:
        idx = sorted({0, len(evolution.iterations) // 2, len(evolution.iterations) - 1})
    else:
        its = np.asarray(evolution.iterations)
        idx = sorted({int(np.argmin(np.abs(its - it))) for it in iterations})
    fig, axes = plt.subplots(n_rows, len(idx), figsize=(4 * len(idx), 2.8 * n_rows), squeeze=False)
    for g in range(n_rows):
        evolution.plot_spectra(g, iterations=evolution.iterations[idx], axes=axes[g])
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "spectra.png"), dpi=90)
    plt.close(fig)
    last = [s for s in evolution.spacings[-1] if s is not None]
    if last:
        pooled = [
            Unfolded(
                np.arange(len(s.spacings) + 1.0),
                np.concatenate([[0.0], np.cumsum(s.spacings)]),
                s.spacings,
                "mp",
            )
            for s in last
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            st = spacing_statistics(pooled)
        ratios = np.concatenate([s.ratios for s in last])
        summary = st.as_dict()
        summary["ratio_mean"] = float(ratios.mean()) if len(ratios) else None
        summary["ratio_err"] = (
            float(ratios.std(ddof=1) / math.sqrt(len(ratios))) if len(ratios) > 1 else None
        )
        result["spacings_last_pooled"] = summary
        fig, ax = plt.subplots(figsize=(5, 4))
        st.plot(ax)
        ax.set_title(f"iteration {int(evolution.iterations[-1])}, all groups")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "spacings.png"), dpi=110)
        plt.close(fig)
    path = os.path.join(out_dir, "results.json")
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1)
    return path

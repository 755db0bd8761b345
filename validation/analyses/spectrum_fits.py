r"""One spectrum of a weight matrix: the Marchenko-Pastur bulk with its tail, and the
power-law fit of the tail.

Conventions are those of :mod:`validation.analyses.spectra`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.analytic import (
    LikelihoodRatio,
    MarchenkoPastur,
    marchenko_pastur,
    mp_bulk_tail_split,
    mp_fit_bootstrap,
    power_law_likelihood_ratio,
    power_law_scan,
)
from fpsolve.checks import as_rng, check_finite_array, check_int, check_positive
from validation._typing import RNGLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["MPFit", "PowerLawFit", "Spectrum", "fit_mp_bulk", "fit_power_law", "spectrum"]


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

    def plot(self, ax: Axes | None = None, *, bins: int = 40) -> Any:
        """Histogram of the eigenvalues; returns the bar container."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        *_, patches = ax.hist(self.eigenvalues, bins=bins, density=True, alpha=0.6)
        ax.set_xlabel("eigenvalue x of W^T W")
        ax.set_ylabel("density")
        ax.set_title(self.name)
        return patches


def spectrum(matrix: ArrayLike, *, name: str = "") -> Spectrum:
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
    def distribution(self) -> MarchenkoPastur:
        """The fitted bulk law, :func:`fpsolve.analytic.marchenko_pastur` ``(r, scale)``."""
        return marchenko_pastur(self.r, self.scale)

    def pdf(self, x: ArrayLike) -> np.ndarray:
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

    def plot(
        self, ax: Axes | None = None, *, bins: int = 40, label: str | None = None
    ) -> list[Any]:
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
    eigenvalues: ArrayLike | Spectrum,
    *,
    m: int | None = None,
    r: float | None = None,
    edge_sigmas: float = 4.0,
    max_tail_fraction: float = 0.5,
    n_matrices: int = 1,
    n_bootstrap: int = 20,
    rng: RNGLike = None,
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

    def plot(self, ax: Axes | None = None) -> list[Any]:
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
    eigenvalues: ArrayLike | Spectrum,
    *,
    xmin: float | None = None,
    n_tail_min: int = 10,
    bulk: MPFit | Literal["fit"] | None = "fit",
    n_bootstrap: int = 100,
    significance: float = 0.1,
    rng: RNGLike = None,
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

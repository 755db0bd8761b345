r"""Unfolded levels and their spacing statistics against the Wigner surmises and Poisson.

Conventions are those of :mod:`validation.analyses.spectra`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from fpsolve.analytic import (
    RATIO_MEAN_GOE,
    RATIO_MEAN_GSE,
    RATIO_MEAN_GUE,
    RATIO_MEAN_POISSON,
    poisson_spacing,
    spacing_ratios,
    wigner_surmise,
)
from fpsolve.checks import check_finite_array, check_int
from validation.analyses.spectrum_fits import MPFit, Spectrum, _eigenvalues, fit_mp_bulk

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["RATIO_REFERENCE", "SpacingStatistics", "Unfolded", "spacing_statistics", "unfold"]

#: Reference values of the mean consecutive-spacing ratio (Atas et al. 2013).
RATIO_REFERENCE = {
    "poisson": RATIO_MEAN_POISSON,
    "goe": RATIO_MEAN_GOE,
    "gue": RATIO_MEAN_GUE,
    "gse": RATIO_MEAN_GSE,
}
_BETAS = {"goe": 1, "gue": 2, "gse": 4}


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

    def plot(self, ax: Axes | None = None) -> list[Any]:
        """Staircase of the raw levels with the smooth counting function."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        (stair,) = ax.step(self.levels, np.arange(1, len(self.levels) + 1), where="post")
        (smooth,) = ax.plot(self.levels, self.unfolded, "k-", lw=1)
        ax.set_xlabel("level")
        ax.set_ylabel("N(x)")
        return [stair, smooth]


def unfold(
    eigenvalues: ArrayLike | Spectrum,
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
    if method == "mp":
        x = _eigenvalues(eigenvalues, minimum=3)
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

    def plot(self, ax: Axes | None = None, *, bins: int = 30) -> list[Any]:
        """Spacing histogram with the Wigner surmises and Poisson; returns the artists."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        *_, patches = ax.hist(
            self.spacings, bins=bins, density=True, alpha=0.5, label=f"{self.n_spacings} spacings"
        )
        s = np.linspace(0, max(4.0, float(self.spacings.max())), 300)
        lines: list[Any] = [patches]
        for lab, beta in _BETAS.items():
            (ln,) = ax.plot(s, wigner_surmise(beta).pdf(s), label=f"surmise beta={beta} ({lab})")
            lines.append(ln)
        (ln,) = ax.plot(s, poisson_spacing().pdf(s), "k--", label="Poisson")
        lines.append(ln)
        ax.set_xlabel("unfolded spacing s")
        ax.set_ylabel("P(s)")
        ax.legend(fontsize="small")
        return lines


def spacing_statistics(
    unfolded: Unfolded | Sequence[Unfolded], *, min_spacings: int = 50
) -> SpacingStatistics:
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

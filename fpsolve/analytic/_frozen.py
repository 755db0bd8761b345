"""A scipy.stats-style frozen distribution with SPEC 7 ``rng`` handling."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from fpsolve.checks import as_rng, check_int

__all__ = ["FrozenDistribution"]


class FrozenDistribution:
    """Base of the package's distributions: a frozen ``scipy.stats.rv_continuous``.

    Methods follow scipy.stats (``pdf``, ``logpdf``, ``cdf``, ``sf``, ``ppf``,
    ``isf``, ``rvs``, ``mean``, ``var``, ``std``, ``moment``, ``stats``,
    ``support``, ``interval``, ``expect``); ``rvs`` takes ``rng`` (an int
    seed, a Generator or None) in place of ``random_state``.
    """

    def __init__(self, frozen: Any):
        self._dist = frozen

    def pdf(self, x: npt.ArrayLike) -> Any:
        """Probability density at ``x`` (0 outside the support)."""
        return self._dist.pdf(x)

    def logpdf(self, x: npt.ArrayLike) -> Any:
        """Log of the probability density (``-inf`` outside the support)."""
        return self._dist.logpdf(x)

    def cdf(self, x: npt.ArrayLike) -> Any:
        """Cumulative distribution function."""
        return self._dist.cdf(x)

    def sf(self, x: npt.ArrayLike) -> Any:
        """Survival function ``1 - cdf``."""
        return self._dist.sf(x)

    def ppf(self, q: npt.ArrayLike) -> Any:
        """Quantile function, the inverse of :meth:`cdf`."""
        return self._dist.ppf(q)

    def isf(self, q: npt.ArrayLike) -> Any:
        """Inverse survival function."""
        return self._dist.isf(q)

    def rvs(
        self,
        size: int | tuple[int, ...] | None = None,
        rng: int | np.random.Generator | None = None,
    ) -> Any:
        """Random variates.

        Parameters
        ----------
        size : int or tuple of int, optional
            Output shape.
        rng : int, numpy.random.Generator or None
            Seed or generator (SPEC 7).
        """
        if size is not None:
            shape = (size,) if np.ndim(size) == 0 else tuple(cast(Sequence[int], size))
            for s in shape:
                check_int("size", s, minimum=0)
        return self._dist.rvs(size=size, random_state=as_rng(rng))

    def mean(self) -> float:
        """Mean."""
        return float(self._dist.mean())

    def var(self) -> float:
        """Variance."""
        return float(self._dist.var())

    def std(self) -> float:
        """Standard deviation."""
        return float(self._dist.std())

    def median(self) -> float:
        """Median."""
        return float(self._dist.median())

    def moment(self, order: int) -> float:
        """Raw (non-central) moment of the given order."""
        return float(self._dist.moment(order))

    def stats(self, moments: str = "mv") -> Any:
        """Mean ('m'), variance ('v'), skew ('s') and/or excess kurtosis ('k')."""
        return self._dist.stats(moments=moments)

    def support(self) -> tuple[float, float]:
        """Ends of the support."""
        lo, hi = self._dist.support()
        return float(lo), float(hi)

    def interval(self, confidence: float) -> tuple[float, float]:
        """Equal-tail interval holding ``confidence`` of the mass."""
        return self._dist.interval(confidence)

    def expect(self, func: Callable[[Any], Any] | None = None, **kwargs: Any) -> float:
        """Expectation of ``func`` by numerical integration."""
        return float(self._dist.expect(func, **kwargs))

r"""The pooled one-point density of a degenerate pair (2x2 GOE) and the Binder cumulant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from fpsolve.analytic._frozen import FrozenDistribution
from fpsolve.checks import check_int, check_positive, check_real

__all__ = [
    "BINDER_GAUSSIAN",
    "BINDER_TWO_MODE",
    "Estimate",
    "TwoModeDensity",
    "binder_cumulant",
    "jackknife",
    "two_mode_density",
]

BINDER_GAUSSIAN = 0.0
"""Binder cumulant of a Gaussian."""
BINDER_TWO_MODE = -4.0 / 27.0
"""Binder cumulant of the two-mode density: (23/4) / (3 (3/2)^2) - 1 = -4/27."""

_SQRT2 = np.sqrt(2.0)
_SQRTPI = np.sqrt(np.pi)


class _TwoModeGen(stats.rv_continuous):
    """Standardised (loc 0, sigma 1) pooled density of a degenerate pair."""

    def _pdf(self, z):
        return np.exp(-z * z) / (2 * _SQRTPI) + (_SQRT2 / 4) * z * special.erf(z / _SQRT2) * np.exp(
            -z * z / 2
        )

    def _cdf(self, z):
        return (
            0.5 + 0.5 * special.erf(z) - (_SQRT2 / 4) * np.exp(-z * z / 2) * special.erf(z / _SQRT2)
        )

    def _sf(self, z):
        return self._cdf(-z)

    def _rvs(self, size=None, random_state=None):
        centre = random_state.normal(0.0, np.sqrt(0.5), size=size)
        half_gap = np.sqrt(-np.log(random_state.uniform(size=size)))  # |x1 - x2| / 2
        sign = np.where(random_state.uniform(size=size) < 0.5, -1.0, 1.0)
        return centre + sign * half_gap

    def _munp(self, n):
        n = int(n)
        if n % 2:
            return 0.0
        k = np.arange(0, n + 1, 2)
        centre = 0.5 ** ((n - k) / 2) * special.factorial2(n - k - 1)
        gap = special.gamma(1 + k / 2)
        return float(np.sum(special.comb(n, k) * centre * gap))

    def _stats(self):
        return 0.0, 1.5, 0.0, 23.0 / 4.0 / 1.5**2 - 3.0


_two_mode_gen = _TwoModeGen(name="two_mode_density")


class TwoModeDensity(FrozenDistribution):
    r"""One-point density of a degenerate pair of eigenvalues, both pooled.

    For two modes with :math:`V = (x - x_0)^2/(2\sigma^2)` each (``g = 1``) and
    the :math:`\beta = 1` repulsion :math:`|x_1 - x_2|` (:eq:`eq-two-mode-z`),
    with :math:`u = x - x_0`,

    .. math::

        \rho(u) = \frac{e^{-u^2/(2\sigma^2)}}{4\sqrt\pi\,\sigma}
        \left[2 e^{-u^2/(2\sigma^2)}
        + \sqrt{2\pi}\,\frac{u}{\sigma}\,\mathrm{erf}\!\left(\frac{u}{\sqrt2\sigma}\right)\right],

    the "semicircle for two modes".  Its CDF is closed-form,
    :math:`F = \tfrac12 + \tfrac12\mathrm{erf}(z)
    - \tfrac{\sqrt2}{4} e^{-z^2/2}\mathrm{erf}(z/\sqrt2)`
    with :math:`z = u/\sigma`; :math:`\langle u^2\rangle = 3\sigma^2/2`,
    :math:`\langle u^4\rangle = 23\sigma^4/4`, Binder cumulant :math:`-4/27`.
    ``rvs`` is exact: the centre of mass is :math:`N(x_0, \sigma^2/2)`, the gap
    :math:`|x_1 - x_2|` Rayleigh with scale :math:`\sqrt2\sigma`, and one of the
    two eigenvalues is taken at random.

    Parameters
    ----------
    loc : float, optional
        Position :math:`x_0` of the pair.
    sigma : float, optional
        Gaussian width :math:`\sigma > 0` of each mode.
    """

    def __init__(self, loc: float = 0.0, sigma: float = 1.0):
        self.loc = check_real("loc", loc)
        self.sigma = check_positive("sigma", sigma)
        super().__init__(_two_mode_gen(loc=self.loc, scale=self.sigma))

    def __repr__(self) -> str:
        return f"two_mode_density(loc={self.loc!r}, sigma={self.sigma!r})"


def two_mode_density(loc: float = 0.0, sigma: float = 1.0) -> TwoModeDensity:
    """Frozen two-mode density; see :class:`TwoModeDensity`.

    Examples
    --------
    >>> from fpsolve.analytic import two_mode_density
    >>> rho = two_mode_density(loc=4.0, sigma=0.5)
    >>> round(rho.var() / 0.5**2, 12)
    1.5
    """
    return TwoModeDensity(loc, sigma)


class Estimate(NamedTuple):
    """A value with its standard error; unpacks as ``value, error``."""

    value: float
    error: float


def jackknife(
    estimator: Callable[[np.ndarray], Any],
    block_means: npt.ArrayLike,
    block_sizes: npt.ArrayLike | None = None,
) -> Estimate:
    r"""Delete-one-block jackknife of a smooth function of means.

    Parameters
    ----------
    estimator : callable
        Maps an array of means of shape ``(..., k)`` to values of shape ``(...)``
        (it is called once on the full means and once, vectorised, on the
        ``n`` leave-one-out means).
    block_means : array_like, shape (n_blocks, k)
        Per-block means of the ``k`` statistics the estimator needs.
    block_sizes : array_like, shape (n_blocks,), optional
        Number of samples in each block (default: equal).

    Returns
    -------
    Estimate
        ``value`` from all data, ``error``
        :math:`= \sqrt{\tfrac{n-1}{n}\sum_i (\theta_{(i)} - \bar\theta)^2}`.
    """
    means = np.asarray(block_means, dtype=np.float64)
    if means.ndim != 2:
        raise ValueError(f"block_means must be 2-dimensional (n_blocks, k), got {means.shape}")
    n = check_int("n_blocks", means.shape[0], minimum=2)
    sizes = np.ones(n) if block_sizes is None else np.asarray(block_sizes, dtype=np.float64)
    if sizes.shape != (n,) or np.any(sizes <= 0):
        raise ValueError(f"block_sizes must be {n} positive numbers, got {block_sizes!r}")
    sums = means * sizes[:, None]
    total, count = sums.sum(axis=0), sizes.sum()
    value = float(estimator(total / count))
    loo = np.asarray(estimator((total - sums) / (count - sizes)[:, None]), dtype=np.float64)
    error = float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))
    return Estimate(value, error)


def _binder_from_moments(m):
    """U4 from raw moments m = (E x, E x^2, E x^3, E x^4) (last axis), centred at E x."""
    m1, m2, m3, m4 = m[..., 0], m[..., 1], m[..., 2], m[..., 3]
    c2 = m2 - m1**2
    c4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    return c4 / (3 * c2**2) - 1


def _binder_from_central(m):
    return m[..., 3] / (3 * m[..., 1] ** 2) - 1


def binder_cumulant(
    samples: npt.ArrayLike, *, center: float | None = None, n_blocks: int | None = None
) -> Estimate:
    r"""Binder cumulant with a jackknife error.

    :math:`U_4 = \langle u^4\rangle / (3\langle u^2\rangle^2) - 1`.

    :math:`U_4 = 0` for a Gaussian and :math:`-4/27` for the two-mode density.

    Parameters
    ----------
    samples : array_like
        1D: independent samples (delete-one jackknife, or ``n_blocks``
        contiguous blocks).  2D ``(n_blocks, m)``: each row is one block (for
        example all pooled values of one run); the jackknife deletes rows.
    center : float, optional
        Centre of :math:`u = x - \mathrm{center}`.  Default: the sample mean,
        recomputed in every jackknife replica.
    n_blocks : int, optional
        For 1D input, the number of contiguous blocks (use it for correlated
        samples); default one block per sample.

    Returns
    -------
    Estimate
        ``(value, error)``.

    Examples
    --------
    >>> import numpy as np
    >>> from fpsolve.analytic import binder_cumulant, two_mode_density
    >>> u = two_mode_density().rvs(200_000, rng=1)
    >>> value, error = binder_cumulant(u)
    >>> abs(value + 4 / 27) < 3 * error
    True
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"samples must be 1- or 2-dimensional, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite; found NaN or inf")
    if x.ndim == 1:
        if n_blocks is None:
            blocks = x[:, None]
        else:
            n_blocks = check_int("n_blocks", n_blocks, minimum=2)
            if n_blocks > x.size:
                raise ValueError(
                    f"n_blocks must be <= the number of samples {x.size}, got {n_blocks}"
                )
            usable = x.size - x.size % n_blocks
            blocks = x[:usable].reshape(n_blocks, -1)
    else:
        if n_blocks is not None:
            raise ValueError("n_blocks applies to 1D samples only; 2D rows are the blocks")
        blocks = x
    if blocks.shape[0] < 2:
        raise ValueError(f"samples must hold at least 2 blocks, got {blocks.shape[0]}")
    if center is None:
        shift = float(np.mean(blocks))  # moments about a nearby point: better conditioning
        u = blocks - shift
        estimator = _binder_from_moments
    else:
        u = blocks - check_real("center", center)
        estimator = _binder_from_central
    means = np.stack([np.mean(u**p, axis=1) for p in (1, 2, 3, 4)], axis=1)
    return jackknife(estimator, means)

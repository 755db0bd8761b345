r"""The Marchenko-Pastur law of the eigenvalues of ``X = W^T W``."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from fpsolve.analytic._frozen import FrozenDistribution
from fpsolve.checks import check_in_range, check_int, check_positive

__all__ = ["MarchenkoPastur", "marchenko_pastur"]


def _theta(x, r):
    """Angle with x = (1 - sqrt r)^2 + 4 sqrt(r) sin^2(theta/2), theta in [0, pi].

    Written with arctan2 of sqrt(x - x_-) and sqrt(x_+ - x) so that both edges
    keep full relative precision.
    """
    sr = np.sqrt(r)
    lo, hi = (1.0 - sr) ** 2, (1.0 + sr) ** 2
    return 2.0 * np.arctan2(np.sqrt(np.maximum(x - lo, 0.0)), np.sqrt(np.maximum(hi - x, 0.0)))


def _x_of_theta(theta, r):
    sr = np.sqrt(r)
    return (1.0 - sr) ** 2 + 4.0 * sr * np.sin(theta / 2) ** 2


def mp_pdf(x: np.ndarray | float, r: np.ndarray | float, scale: float = 1.0) -> np.ndarray:
    r"""Density of the MP law with ratio ``r`` and ``scale`` at ``x`` (0 outside the support)."""
    y = x / scale
    lo, hi = (1.0 - np.sqrt(r)) ** 2, (1.0 + np.sqrt(r)) ** 2
    inside = (hi - y) * (y - lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        dens = np.where(inside > 0, np.sqrt(np.maximum(inside, 0.0)) / (2 * np.pi * r * y), 0.0)
    return dens / scale


def mp_cdf(x: np.ndarray | float, r: np.ndarray | float, scale: float = 1.0) -> np.ndarray:
    """CDF of the MP law with ratio ``r`` and ``scale`` at ``x`` (closed form, in [0, 1])."""
    return np.clip(_cdf_theta(_theta(x / scale, r), r), 0.0, 1.0)


def _cdf_theta(theta, r):
    sr = np.sqrt(r)
    phi = np.arctan2((1.0 + sr) * np.sin(theta / 2), (1.0 - sr) * np.cos(theta / 2))
    return (2.0 / np.pi) * (
        np.sin(theta) / (2.0 * sr) + (1.0 + r) * theta / (4.0 * r) - (1.0 - r) / (2.0 * r) * phi
    )


class _MarchenkoPasturGen(stats.rv_continuous):
    """Standard MP law (mean 1, s2 = 1/M) with ratio r in (0, 1]."""

    def _argcheck(self, r):
        return (r > 0) & (r <= 1)

    def _get_support(self, r):
        return (1.0 - np.sqrt(r)) ** 2, (1.0 + np.sqrt(r)) ** 2

    def _pdf(self, x, r):
        return mp_pdf(x, r)

    def _cdf(self, x, r):
        return mp_cdf(x, r)

    def _ppf(self, q, r):
        q, r = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(r, dtype=float))
        lo, hi = np.zeros(q.shape), np.full(q.shape, np.pi)
        for _ in range(64):  # bisection in theta: F is monotone there; 64 halvings reach eps
            mid = 0.5 * (lo + hi)
            below = _cdf_theta(mid, r) < q
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return _x_of_theta(0.5 * (lo + hi), r)

    def _munp(self, n, r):
        n = int(n)
        if n == 0:
            return np.ones_like(np.asarray(r, dtype=float))
        j = np.arange(n)
        coef = special.comb(n, j) * special.comb(n - 1, j) / (j + 1)
        return np.sum(coef * np.power.outer(np.asarray(r, dtype=float), j), axis=-1)

    def _stats(self, r):
        return 1.0, r, None, None


_mp_gen = _MarchenkoPasturGen(name="marchenko_pastur", shapes="r")


class MarchenkoPastur(FrozenDistribution):
    r"""Marchenko-Pastur distribution of the eigenvalues of ``X = W^T W``.

    For an ``M x N`` matrix ``W`` (``N <= M``) with i.i.d. entries of
    variance :math:`s^2`, ratio :math:`r = N/M` and ``scale`` :math:`= M s^2`,

    .. math::

        P_{MP}(x) = \frac{\sqrt{(x_+ - x)(x - x_-)}}{2\pi\,\mathrm{scale}\; r\, x},
        \qquad x_\pm = \mathrm{scale}\,(1 \pm \sqrt r)^2 .

    The mean is ``scale`` and the variance ``r * scale**2``; raw moments are
    the Narayana polynomials :math:`\sum_{j<k} r^j \binom{k}{j}\binom{k-1}{j}/(j+1)`
    times ``scale**k``.  The CDF is closed-form (substitution
    :math:`x = 1 + r - 2\sqrt r\cos\theta`), the quantile function is a
    64-step bisection in :math:`\theta` (exact to round-off), and ``rvs``
    inverts it.

    Parameters
    ----------
    r : float
        Ratio :math:`N/M` in ``(0, 1]``.
    scale : float, optional
        :math:`M s^2 > 0`.

    Examples
    --------
    >>> from fpsolve.analytic import marchenko_pastur
    >>> mp = marchenko_pastur(0.25, scale=2.0)
    >>> mp.edges
    (0.5, 4.5)
    >>> round(mp.mean(), 12), round(mp.var(), 12)
    (2.0, 1.0)
    """

    def __init__(self, r: float, scale: float = 1.0):
        self.r = check_in_range("r", r, 0.0, 1.0, low_open=True)
        self.scale = check_positive("scale", scale)
        super().__init__(_mp_gen(self.r, scale=self.scale))

    @classmethod
    def from_shape(cls, m: int, n: int, s2: float) -> MarchenkoPastur:
        """The law for an ``m x n`` matrix (``n <= m``) with entry variance ``s2``."""
        m = check_int("m", m, minimum=1)
        n = check_int("n", n, minimum=1)
        if n > m:
            raise ValueError(f"n must be <= m (ratio r = n/m <= 1), got m={m}, n={n}")
        return cls(n / m, scale=m * check_positive("s2", s2))

    @property
    def edges(self) -> tuple[float, float]:
        r"""Support ends :math:`(x_-, x_+)`."""
        return self.support()

    def __repr__(self) -> str:
        return f"marchenko_pastur(r={self.r!r}, scale={self.scale!r})"


def marchenko_pastur(r: float, scale: float = 1.0) -> MarchenkoPastur:
    """Frozen Marchenko-Pastur distribution; see :class:`MarchenkoPastur`."""
    return MarchenkoPastur(r, scale)

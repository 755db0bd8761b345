r"""Nearest-neighbour spacing laws: Wigner surmise (beta = 1, 2, 4, any beta > 0) and Poisson."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from fpsolve.analytic._frozen import FrozenDistribution
from fpsolve.checks import check_positive

__all__ = ["PoissonSpacing", "WignerSurmise", "poisson_spacing", "wigner_surmise"]


def _constants(beta):
    """``a, b`` of P(s) = a s^beta exp(-b s^2) normalised to unit mass and mean."""
    b = np.exp(2.0 * (special.gammaln((beta + 2) / 2) - special.gammaln((beta + 1) / 2)))
    a = 2.0 * b ** ((beta + 1) / 2) / special.gamma((beta + 1) / 2)
    return a, b


class _SurmiseGen(stats.rv_continuous):
    def _argcheck(self, beta):
        return beta > 0

    def _logpdf(self, s, beta):
        a, b = _constants(beta)
        with np.errstate(divide="ignore"):
            return np.log(a) + beta * np.log(s) - b * s * s

    def _pdf(self, s, beta):
        return np.exp(self._logpdf(s, beta))

    def _cdf(self, s, beta):
        _, b = _constants(beta)
        return special.gammainc((beta + 1) / 2, b * s * s)

    def _sf(self, s, beta):
        _, b = _constants(beta)
        return special.gammaincc((beta + 1) / 2, b * s * s)

    def _ppf(self, q, beta):
        _, b = _constants(beta)
        return np.sqrt(special.gammaincinv((beta + 1) / 2, q) / b)

    def _rvs(self, beta, size=None, random_state=None):
        _, b = _constants(beta)
        return np.sqrt(random_state.gamma((beta + 1) / 2, size=size) / b)

    def _munp(self, n, beta):
        _, b = _constants(beta)
        return np.exp(
            special.gammaln((beta + 1 + n) / 2) - special.gammaln((beta + 1) / 2)
        ) / b ** (n / 2)


_surmise_gen = _SurmiseGen(a=0.0, name="wigner_surmise", shapes="beta")


class WignerSurmise(FrozenDistribution):
    r"""Wigner surmise: the spacing law of a 2x2 Gaussian beta-ensemble.

    With ``s = S / scale`` (``scale`` is the mean spacing :math:`\langle S\rangle`),

    .. math::

        P_\beta(s) = a_\beta\, s^\beta e^{-b_\beta s^2}, \qquad
        b_\beta = \left[\frac{\Gamma((\beta+2)/2)}{\Gamma((\beta+1)/2)}\right]^2, \quad
        a_\beta = \frac{2\, b_\beta^{(\beta+1)/2}}{\Gamma((\beta+1)/2)},

    so that :math:`\int P = \int s P = 1`.  For :math:`\beta = 1`:
    :math:`P(s) = (\pi/2)\, s\, e^{-\pi s^2/4}`; :math:`\beta = 2`:
    :math:`(32/\pi^2) s^2 e^{-4 s^2/\pi}`; :math:`\beta = 4`:
    :math:`2^{18}/(3^6\pi^3)\, s^4 e^{-64 s^2/(9\pi)}`.  For a degenerate pair
    with Gaussian width :math:`\sigma` (:eq:`eq-wigner-surmise`),
    :math:`\langle S\rangle = \sqrt\pi\,\sigma` (``beta = 1``).  The CDF is
    ``gammainc((beta+1)/2, b s^2)``; ``rvs`` is exact (a gamma variate).

    Parameters
    ----------
    beta : float, optional
        Dyson index, ``> 0`` (1: GOE, 2: GUE, 4: GSE).
    scale : float, optional
        Mean spacing, ``> 0``.
    """

    def __init__(self, beta: float = 1, scale: float = 1.0):
        self.beta = check_positive("beta", beta)
        self.scale = check_positive("scale", scale)
        super().__init__(_surmise_gen(self.beta, scale=self.scale))

    def __repr__(self) -> str:
        return f"wigner_surmise(beta={self.beta!r}, scale={self.scale!r})"


class PoissonSpacing(FrozenDistribution):
    r"""Spacing law of uncorrelated levels: :math:`P(s) = e^{-s}` with ``s = S/scale``.

    Parameters
    ----------
    scale : float, optional
        Mean spacing, ``> 0``.
    """

    def __init__(self, scale: float = 1.0):
        self.scale = check_positive("scale", scale)
        super().__init__(stats.expon(scale=self.scale))

    def __repr__(self) -> str:
        return f"poisson_spacing(scale={self.scale!r})"


def wigner_surmise(beta: float = 1, scale: float = 1.0) -> WignerSurmise:
    """Frozen Wigner surmise with Dyson index ``beta`` and mean ``scale``.

    See :class:`WignerSurmise`.

    Examples
    --------
    >>> from fpsolve.analytic import wigner_surmise
    >>> round(wigner_surmise(1).mean(), 12), round(wigner_surmise(4, scale=2.0).mean(), 12)
    (1.0, 2.0)
    """
    return WignerSurmise(beta, scale)


def poisson_spacing(scale: float = 1.0) -> PoissonSpacing:
    """Frozen Poisson (exponential) spacing law with mean ``scale``; see :class:`PoissonSpacing`."""
    return PoissonSpacing(scale)

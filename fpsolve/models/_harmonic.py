"""The harmonic (Ornstein-Uhlenbeck) mode and its drift scalars."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.checks import check_positive, check_real
from fpsolve.jit import jit
from fpsolve.models._base import FixedPoint, Model

__all__ = ["HarmonicModel"]


@jit
def _harmonic_drift(x, omega, center):
    """``K(x) = -omega (x - center)`` (also on arrays, through ``.py_func``)."""
    return -omega * (x - center)


@jit
def _harmonic_potential(x, omega, center):
    """``V(x) = omega (x - center)^2 / 2`` (also on arrays, through ``.py_func``)."""
    return 0.5 * omega * (x - center) ** 2


class HarmonicModel(Model):
    r"""Harmonic (Ornstein-Uhlenbeck) mode.

    .. math::

        V(x) = \frac{\Omega}{2}(x - c)^2, \qquad K(x) = -\Omega\,(x - c),

    on the real line with natural boundaries.

    Parameters
    ----------
    omega : float
        Curvature :math:`\Omega > 0`.
    center : float, optional
        Position :math:`c` of the minimum.

    Examples
    --------
    >>> from fpsolve.models import HarmonicModel
    >>> m = HarmonicModel(2.0, center=1.0)
    >>> float(m.drift(0.0)), m.x_stable, m.omega
    (2.0, 1.0, 2.0)
    """

    name = "harmonic"

    def __init__(self, omega: float, center: float = 0.0):
        self._omega = check_positive("omega", omega)
        self.center = check_real("center", center)

    @property
    def domain(self) -> tuple[float, float]:
        return (-math.inf, math.inf)

    @property
    def boundaries(self) -> tuple[str, str]:
        return ("natural", "natural")

    @property
    def params(self) -> dict[str, float]:
        return {"omega": self._omega, "center": self.center}

    @property
    def omega(self) -> float:
        r"""Curvature :math:`\Omega`."""
        return self._omega

    def potential(self, x: ArrayLike) -> np.ndarray:
        return _harmonic_potential.py_func(self._checked(x), self._omega, self.center)

    def dpotential(self, x: ArrayLike) -> np.ndarray:
        return -_harmonic_drift.py_func(self._checked(x), self._omega, self.center)

    def d2potential(self, x: ArrayLike) -> np.ndarray:
        x = self._checked(x)
        return np.full_like(x, self._omega)

    def fixed_points(self) -> tuple[FixedPoint, ...]:
        return (FixedPoint(self.center, self._omega, True),)

    def _numba_dpotential(self) -> Callable[[float], float]:
        import numba

        omega, center = self._omega, self.center

        @numba.njit(cache=False)
        def dv(x):
            return -_harmonic_drift(x, omega, center)

        return dv

    def _numba_potential(self) -> Callable[[float], float]:
        import numba

        omega, center = self._omega, self.center

        @numba.njit(cache=False)
        def v(x):
            return _harmonic_potential(x, omega, center)

        return v

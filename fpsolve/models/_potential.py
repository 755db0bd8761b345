"""A user model given by its potential and derivatives."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from fpsolve.models._base import BOUNDARY_KINDS, FixedPoint, Model

__all__ = ["PotentialModel"]


class PotentialModel(Model):
    r"""A user model given by its potential and derivatives, ``K = -V'``.

    Parameters
    ----------
    potential, dpotential : callable
        ``V(x)`` and ``V'(x)``, vectorised over numpy arrays.  Pass numba
        ``@njit`` functions (of a scalar) to make the model usable in jitted
        solvers; plain Python callables work everywhere else.
    d2potential : callable, optional
        ``V''(x)``.  If omitted, a fourth-order central difference of
        ``dpotential`` with step ``1e-4 * (1 + |x|)`` is used.
    domain : tuple of float, optional
        ``(low, high)``; default the real line.
    boundaries : tuple of str, optional
        Kind of each end (:data:`BOUNDARY_KINDS`).  Default: ``"natural"`` at
        infinite ends and ``"reflecting"`` at finite ones.
    name : str, optional
        Name used in reports.
    search : tuple of float, optional
        Interval scanned (2001 points, then Brent's method on each sign change
        of ``V'``) for fixed points; default the domain, with infinite ends
        replaced by -100 and 100.

    Examples
    --------
    >>> import numpy as np
    >>> from fpsolve.models import PotentialModel
    >>> quartic = PotentialModel(lambda x: x**4 / 4 - x**2 / 2, lambda x: x**3 - x)
    >>> [round(fp.x, 12) for fp in quartic.fixed_points()]
    [-1.0, 0.0, 1.0]
    """

    name = "user"

    def __init__(
        self,
        potential: Callable,
        dpotential: Callable,
        d2potential: Callable | None = None,
        *,
        domain: tuple[float, float] = (-math.inf, math.inf),
        boundaries: tuple[str, str] | None = None,
        name: str = "user",
        search: tuple[float, float] | None = None,
    ):
        for pname, f in (("potential", potential), ("dpotential", dpotential)):
            if not callable(f):
                raise TypeError(f"{pname} must be callable, got {f!r}")
        if d2potential is not None and not callable(d2potential):
            raise TypeError(f"d2potential must be callable or None, got {d2potential!r}")
        lo, hi = (float(v) for v in domain)
        if not lo < hi:
            raise ValueError(f"domain must satisfy low < high, got {domain!r}")
        if boundaries is None:
            kinds = tuple("natural" if math.isinf(e) else "reflecting" for e in (lo, hi))
        else:
            kinds = tuple(boundaries)
        for end, kind in zip((lo, hi), kinds, strict=True):
            if kind not in BOUNDARY_KINDS:
                raise ValueError(f"boundaries must be drawn from {BOUNDARY_KINDS}, got {kind!r}")
            if math.isinf(end) != (kind == "natural"):
                raise ValueError(
                    f"boundaries: an infinite end must be 'natural' and a finite end "
                    f"'reflecting' or 'wall'; got {kind!r} at {end}"
                )
        self._v, self._dv, self._d2v = potential, dpotential, d2potential
        self._domain = (lo, hi)
        self._boundaries = (kinds[0], kinds[1])
        self.name = name
        if search is None:
            search = (max(lo, -100.0), min(hi, 100.0))
        self._search = (float(search[0]), float(search[1]))

    @property
    def domain(self) -> tuple[float, float]:
        return self._domain

    @property
    def boundaries(self) -> tuple[str, str]:
        return self._boundaries

    @property
    def params(self) -> dict[str, Any]:
        return {"name": self.name, "domain": self._domain, "boundaries": self._boundaries}

    def potential(self, x: ArrayLike) -> np.ndarray:
        return np.asarray(_apply(self._v, self._checked(x)), dtype=np.float64)

    def dpotential(self, x: ArrayLike) -> np.ndarray:
        return np.asarray(_apply(self._dv, self._checked(x)), dtype=np.float64)

    def d2potential(self, x: ArrayLike) -> np.ndarray:
        x = self._checked(x)
        if self._d2v is not None:
            return np.asarray(_apply(self._d2v, x), dtype=np.float64)
        h = 1e-4 * (1.0 + np.abs(x))
        f = lambda y: np.asarray(_apply(self._dv, y), dtype=np.float64)  # noqa: E731
        return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)

    def fixed_points(self) -> tuple[FixedPoint, ...]:
        lo, hi = self._search
        eps = 1e-9 * max(1.0, abs(lo), abs(hi))
        a = lo + eps if self._boundaries[0] == "wall" else lo
        b = hi - eps if self._boundaries[1] == "wall" else hi
        grid = np.linspace(a, b, 2001)
        dv = self.dpotential(grid)
        roots = [float(x) for x, d in zip(grid, dv, strict=True) if d == 0.0]
        sign_change = np.nonzero(np.sign(dv[:-1]) * np.sign(dv[1:]) < 0)[0]
        roots += [
            optimize.brentq(lambda y: float(self.dpotential(y)), grid[i], grid[i + 1], xtol=1e-14)
            for i in sign_change
        ]
        roots.sort()
        return tuple(
            FixedPoint(r, float(self.d2potential(r)), bool(self.d2potential(r) > 0)) for r in roots
        )

    def _numba_dpotential(self) -> Callable[[float], float]:
        return _as_numba("dpotential", self._dv)

    def _numba_potential(self) -> Callable[[float], float]:
        return _as_numba("potential", self._v)


def _apply(f: Callable, x: np.ndarray) -> Any:
    """Call ``f`` on an array, falling back to element-wise calls for scalar-only functions."""
    try:
        return f(x)
    except TypeError:
        return np.vectorize(f, otypes=[np.float64])(x)


def _as_numba(name: str, f: Callable) -> Callable[[float], float]:
    import numba
    from numba.core.registry import CPUDispatcher

    if isinstance(f, CPUDispatcher):
        return f
    try:
        compiled = numba.njit(f)
        compiled(0.5)
    except Exception as exc:
        raise TypeError(
            f"{name} cannot be compiled by numba ({exc.__class__.__name__}); pass an "
            f"@numba.njit function of a scalar to use this model in jitted solvers"
        ) from exc
    return compiled

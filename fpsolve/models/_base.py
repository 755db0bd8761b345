"""The model interface: a drift ``K = -V'`` on a domain with a kind of boundary at each end."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["BOUNDARY_KINDS", "FixedPoint", "Model"]

BOUNDARY_KINDS = ("natural", "reflecting", "wall")
"""The kinds of boundary a model's domain can have at each end."""


@dataclass(frozen=True)
class FixedPoint:
    """A zero of the drift, ``K(x) = 0``.

    Attributes
    ----------
    x : float
        Position of the fixed point.
    curvature : float
        ``V''(x)``; positive at a stable point (minimum of ``V``).
    stable : bool
        Whether the point attracts (``V''(x) > 0``).
    """

    x: float
    curvature: float
    stable: bool


class Model(ABC):
    r"""Base class: the drift ``K(x) = -V'(x)`` of one eigenvalue on its domain.

    Subclasses implement :meth:`potential`, :meth:`dpotential`,
    :meth:`d2potential`, :meth:`fixed_points` and :attr:`domain`.  All array
    methods take scalars or arrays and raise :class:`ValueError` for points
    outside the domain.
    """

    #: Short name used in plots and reports.
    name: str = "model"

    @property
    @abstractmethod
    def domain(self) -> tuple[float, float]:
        """``(low, high)`` ends of the domain (``-inf``/``inf`` for unbounded ends)."""

    @property
    @abstractmethod
    def boundaries(self) -> tuple[str, str]:
        """Kind of each end, each one of :data:`BOUNDARY_KINDS`."""

    @abstractmethod
    def potential(self, x: ArrayLike) -> np.ndarray:
        """The potential ``V(x)``."""

    @abstractmethod
    def dpotential(self, x: ArrayLike) -> np.ndarray:
        """The derivative ``V'(x)``."""

    @abstractmethod
    def d2potential(self, x: ArrayLike) -> np.ndarray:
        """The second derivative ``V''(x)``."""

    @abstractmethod
    def fixed_points(self) -> tuple[FixedPoint, ...]:
        """All zeros of the drift in the domain, in increasing ``x``."""

    @property
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The parameters that define the model (for reports and file metadata)."""

    # -- derived quantities -------------------------------------------------
    def drift(self, x: ArrayLike) -> np.ndarray:
        """The drift ``K(x) = -V'(x)``."""
        return -self.dpotential(x)

    @property
    def x_stable(self) -> float:
        """The stable fixed point (the one with the lowest potential if several)."""
        stable = [fp for fp in self.fixed_points() if fp.stable]
        if not stable:
            raise ValueError(f"{self!r} has no stable fixed point in its domain {self.domain}")
        return min(stable, key=lambda fp: float(self.potential(fp.x))).x

    @property
    def omega(self) -> float:
        r"""Curvature :math:`\Omega = V''(x_s)` at the stable fixed point."""
        return float(self.d2potential(self.x_stable))

    def contains(self, x: ArrayLike) -> np.ndarray:
        """Boolean mask: which points lie in the domain (a ``"wall"`` end is excluded)."""
        x = np.asarray(x, dtype=np.float64)
        lo, hi = self.domain
        lo_kind, hi_kind = self.boundaries
        ok_lo = x > lo if lo_kind == "wall" else x >= lo
        ok_hi = x < hi if hi_kind == "wall" else x <= hi
        return ok_lo & ok_hi & np.isfinite(x)

    def _checked(self, x: ArrayLike, name: str = "x") -> np.ndarray:
        arr = np.asarray(x, dtype=np.float64)
        inside = self.contains(arr)
        if not np.all(inside):
            bad = arr[~inside] if arr.ndim else arr
            lo, hi = self.domain
            lb = "(" if self.boundaries[0] == "wall" else "["
            hb = ")" if self.boundaries[1] == "wall" else "]"
            raise ValueError(
                f"{name} must lie in the domain {lb}{lo}, {hi}{hb} of {self!r}; "
                f"got {float(np.ravel(bad)[0])!r}"
                + (f" and {np.size(bad) - 1} more outside" if np.size(bad) > 1 else "")
            )
        return arr

    # -- numba --------------------------------------------------------------
    @property
    def numba_drift(self) -> Callable[[float], float]:
        """A numba-compiled scalar function ``x -> K(x)`` for jitted solvers.

        Built on the first access; every later access returns the same dispatcher, so it
        compiles once per model (not once per access).
        """
        return self._numba_once("drift", lambda: _numba_negate(self._numba_dpotential()))

    @property
    def numba_potential(self) -> Callable[[float], float]:
        """A numba-compiled scalar function ``x -> V(x)`` (one dispatcher per model, as
        :attr:`numba_drift`)."""
        return self._numba_once("potential", self._numba_potential)

    def _numba_once(
        self, kind: str, build: Callable[[], Callable[[float], float]]
    ) -> Callable[[float], float]:
        built = self.__dict__.setdefault("_numba_built", {})
        if kind not in built:
            built[kind] = build()
        return built[kind]

    def __getstate__(self) -> dict[str, Any]:
        # the compiled callables are rebuilt on demand: a copy or pickle carries parameters only
        state = self.__dict__.copy()
        state.pop("_numba_built", None)
        return state

    @abstractmethod
    def _numba_dpotential(self) -> Callable[[float], float]:
        """Return a numba dispatcher for ``V'``."""

    @abstractmethod
    def _numba_potential(self) -> Callable[[float], float]:
        """Return a numba dispatcher for ``V``."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Model) and type(self) is type(other) and self.params == other.params
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.params.items()))))


def _numba_negate(f: Callable[[float], float]) -> Callable[[float], float]:
    import numba

    @numba.njit(cache=False)
    def neg(x):
        return -f(x)

    return neg

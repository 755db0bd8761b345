r"""Drift and potential models shared by every solver.

A model describes the deterministic part of one eigenvalue's motion,

.. math::

    K(x) = -V'(x),

on a domain with a stated kind of boundary at each end.  The same model object
is handed to the Dyson-Brownian-motion integrator (:mod:`fpsolve.dbm`), the
Fokker-Planck solver (:mod:`fpsolve.fokker_planck`) and the Schroedinger-form
eigensolver (:mod:`fpsolve.hfp`), so "the same physics" is literally the same
object everywhere.

Boundary kinds
--------------
``"natural"``
    an infinite end; the density decays there because :math:`V \to +\infty`.
``"reflecting"``
    a finite end with zero probability flux (the RBM mode at :math:`x = 0`).
``"wall"``
    a finite end where :math:`V \to +\infty` (the RBM mode at
    :math:`x = \mu^2/\sigma_h^2`); the density vanishes there.

Conventions for the RBM mode (docs/theory.md section 4)
-------------------------------------------------------
The PCD update :math:`W \leftarrow W + \alpha\sigma_h^2 (C_{target} - C_{model}) W`
moves the eigenvalue :math:`x_a` of :math:`X = W^T W` by, per step,

.. math::

    \delta x_a = 2\alpha\sigma_h^2\, x_a
        \left(\frac{1}{\kappa_a} - \frac{1}{\mu^2 - \sigma_h^2 x_a}\right).

``convention="training"`` uses exactly this drift per unit of ``dt = alpha``.
``convention="talk"`` drops the factor :math:`2\sigma_h^2` (the talk writes
:math:`K(x) = (1/\kappa - 1/(\mu^2 - x))\,x` with :math:`\sigma_h = 1`).  The
two differ by the constant prefactor ``model.prefactor``; nothing converts
between them silently.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, overload

import numpy as np
from scipy import optimize

from fpsolve.checks import check_int, check_positive, check_real

__all__ = [
    "BOUNDARY_KINDS",
    "FixedPoint",
    "HarmonicModel",
    "Model",
    "Modes",
    "PotentialModel",
    "RBMModel",
    "RBMNoise",
    "lattice_scalar_matrix",
    "lattice_scalar_spectrum",
    "rbm_pcd_noise",
]

BOUNDARY_KINDS = ("natural", "reflecting", "wall")
"""The kinds of boundary a model's domain can have at each end."""

RBM_CONVENTIONS = ("talk", "training")


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
    def potential(self, x):
        """The potential ``V(x)``."""

    @abstractmethod
    def dpotential(self, x):
        """The derivative ``V'(x)``."""

    @abstractmethod
    def d2potential(self, x):
        """The second derivative ``V''(x)``."""

    @abstractmethod
    def fixed_points(self) -> tuple[FixedPoint, ...]:
        """All zeros of the drift in the domain, in increasing ``x``."""

    @property
    @abstractmethod
    def params(self) -> dict:
        """The parameters that define the model (for reports and file metadata)."""

    # -- derived quantities -------------------------------------------------
    def drift(self, x):
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

    def contains(self, x) -> np.ndarray:
        """Boolean mask: which points lie in the domain (a ``"wall"`` end is excluded)."""
        x = np.asarray(x, dtype=np.float64)
        lo, hi = self.domain
        lo_kind, hi_kind = self.boundaries
        ok_lo = x > lo if lo_kind == "wall" else x >= lo
        ok_hi = x < hi if hi_kind == "wall" else x <= hi
        return ok_lo & ok_hi & np.isfinite(x)

    def _checked(self, x, name: str = "x") -> np.ndarray:
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
        """A numba-compiled scalar function ``x -> K(x)`` for jitted solvers."""
        return _numba_negate(self._numba_dpotential())

    @property
    def numba_potential(self) -> Callable[[float], float]:
        """A numba-compiled scalar function ``x -> V(x)``."""
        return self._numba_potential()

    @abstractmethod
    def _numba_dpotential(self):
        """Return a numba dispatcher for ``V'``."""

    @abstractmethod
    def _numba_potential(self):
        """Return a numba dispatcher for ``V``."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.params == other.params

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.params.items()))))


def _numba_negate(f):
    import numba

    @numba.njit(cache=False)
    def neg(x):
        return -f(x)

    return neg


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
    def domain(self):
        return (-math.inf, math.inf)

    @property
    def boundaries(self):
        return ("natural", "natural")

    @property
    def params(self):
        return {"omega": self._omega, "center": self.center}

    @property
    def omega(self) -> float:
        r"""Curvature :math:`\Omega`."""
        return self._omega

    def potential(self, x):
        x = self._checked(x)
        return 0.5 * self._omega * (x - self.center) ** 2

    def dpotential(self, x):
        x = self._checked(x)
        return self._omega * (x - self.center)

    def d2potential(self, x):
        x = self._checked(x)
        return np.full_like(x, self._omega)

    def fixed_points(self):
        return (FixedPoint(self.center, self._omega, True),)

    def _numba_dpotential(self):
        import numba

        omega, center = self._omega, self.center

        @numba.njit(cache=False)
        def dv(x):
            return omega * (x - center)

        return dv

    def _numba_potential(self):
        import numba

        omega, center = self._omega, self.center

        @numba.njit(cache=False)
        def v(x):
            return 0.5 * omega * (x - center) ** 2

        return v


class RBMModel(Model):
    r"""One mode of the Gaussian scalar-field RBM (docs/theory.md section 4).

    With :math:`s = \sigma_h^2` and prefactor :math:`c` set by ``convention``,

    .. math::

        K(x) = c\,x\left(\frac{1}{\kappa} - \frac{1}{\mu^2 - s x}\right), \qquad
        V(x) = c\left[-\frac{x^2}{2\kappa} - \frac{x}{s}
               - \frac{\mu^2}{s^2}\log(\mu^2 - s x)\right],

    on :math:`0 \le x < \mu^2/s`: reflecting at :math:`x = 0` (an unstable
    fixed point, a maximum of ``V``) and a logarithmic wall at
    :math:`x = \mu^2/s`.  The stable fixed point is
    :math:`x_s = (\mu^2 - \kappa)/s`, where the learned mode
    :math:`\lambda = \mu^2 - s x` equals the target :math:`\kappa`, with
    curvature :math:`\Omega = c\,(\mu^2 - \kappa)/\kappa^2`.  For
    :math:`s = 1` and the talk's convention ``V`` is exactly the talk's
    :math:`-x^2/(2\kappa) - x - \mu^2\log(\mu^2 - x)`.

    Parameters
    ----------
    kappa : float
        Target eigenvalue :math:`\kappa` of the mode, ``0 < kappa < mu2``.
    mu2 : float
        Visible mass :math:`\mu^2 > 0`.
    sigma_h2 : float, optional
        Hidden-unit variance :math:`\sigma_h^2 > 0`.
    convention : {"talk", "training"}, optional
        ``"talk"``: :math:`c = 1`.  ``"training"``: :math:`c = 2\sigma_h^2`,
        the drift of the PCD update per unit of ``dt = alpha``.

    Examples
    --------
    >>> from fpsolve.models import RBMModel
    >>> m = RBMModel(kappa=4.0, mu2=9.0)
    >>> m.x_stable, m.omega
    (5.0, 0.3125)
    >>> RBMModel(4.0, 9.0, convention="training").prefactor
    2.0
    """

    name = "rbm"

    def __init__(
        self,
        kappa: float,
        mu2: float,
        sigma_h2: float = 1.0,
        *,
        convention: Literal["talk", "training"] = "talk",
    ):
        self.mu2 = check_positive("mu2", mu2)
        self.kappa = check_positive("kappa", kappa)
        if self.kappa >= self.mu2:
            raise ValueError(
                f"kappa must be < mu2 (the learned mode mu2 - sigma_h2*x must reach kappa "
                f"with x > 0); got kappa={self.kappa!r}, mu2={self.mu2!r}"
            )
        self.sigma_h2 = check_positive("sigma_h2", sigma_h2)
        if convention not in RBM_CONVENTIONS:
            raise ValueError(f"convention must be one of {RBM_CONVENTIONS}, got {convention!r}")
        self.convention = convention

    @property
    def prefactor(self) -> float:
        r"""The constant :math:`c`: 1 (``"talk"``) or :math:`2\sigma_h^2` (``"training"``)."""
        return 1.0 if self.convention == "talk" else 2.0 * self.sigma_h2

    @property
    def domain(self):
        return (0.0, self.mu2 / self.sigma_h2)

    @property
    def boundaries(self):
        return ("reflecting", "wall")

    @property
    def params(self):
        return {
            "kappa": self.kappa,
            "mu2": self.mu2,
            "sigma_h2": self.sigma_h2,
            "convention": self.convention,
        }

    @property
    def x_stable(self) -> float:
        r"""Stable fixed point :math:`x_s = (\mu^2 - \kappa)/\sigma_h^2`."""
        return (self.mu2 - self.kappa) / self.sigma_h2

    @property
    def omega(self) -> float:
        r""":math:`\Omega = V''(x_s) = c\,(\mu^2 - \kappa)/\kappa^2`."""
        return self.prefactor * (self.mu2 - self.kappa) / self.kappa**2

    def learned_mode(self, x):
        r"""The eigenvalue of the RBM's ``K`` that ``x`` encodes: :math:`\mu^2 - \sigma_h^2 x`."""
        return self.mu2 - self.sigma_h2 * self._checked(x)

    def potential(self, x):
        x = self._checked(x)
        s, mu2 = self.sigma_h2, self.mu2
        return self.prefactor * (
            -(x**2) / (2.0 * self.kappa) - x / s - (mu2 / s**2) * np.log(mu2 - s * x)
        )

    def dpotential(self, x):
        x = self._checked(x)
        return -self.prefactor * x * (1.0 / self.kappa - 1.0 / (self.mu2 - self.sigma_h2 * x))

    def d2potential(self, x):
        x = self._checked(x)
        return self.prefactor * (self.mu2 / (self.mu2 - self.sigma_h2 * x) ** 2 - 1.0 / self.kappa)

    def fixed_points(self):
        return (
            FixedPoint(0.0, float(self.d2potential(0.0)), False),
            FixedPoint(self.x_stable, self.omega, True),
        )

    def _numba_dpotential(self):
        import numba

        c, kappa, mu2, s = self.prefactor, self.kappa, self.mu2, self.sigma_h2

        @numba.njit(cache=False)
        def dv(x):
            return -c * x * (1.0 / kappa - 1.0 / (mu2 - s * x))

        return dv

    def _numba_potential(self):
        import numba

        c, kappa, mu2, s = self.prefactor, self.kappa, self.mu2, self.sigma_h2

        @numba.njit(cache=False)
        def v(x):
            return c * (-(x**2) / (2.0 * kappa) - x / s - (mu2 / s**2) * math.log(mu2 - s * x))

        return v


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
            boundaries = tuple("natural" if math.isinf(e) else "reflecting" for e in (lo, hi))
        boundaries = tuple(boundaries)
        for end, kind in zip((lo, hi), boundaries, strict=True):
            if kind not in BOUNDARY_KINDS:
                raise ValueError(f"boundaries must be drawn from {BOUNDARY_KINDS}, got {kind!r}")
            if math.isinf(end) != (kind == "natural"):
                raise ValueError(
                    f"boundaries: an infinite end must be 'natural' and a finite end "
                    f"'reflecting' or 'wall'; got {kind!r} at {end}"
                )
        self._v, self._dv, self._d2v = potential, dpotential, d2potential
        self._domain = (lo, hi)
        self._boundaries = boundaries
        self.name = name
        if search is None:
            search = (max(lo, -100.0), min(hi, 100.0))
        self._search = (float(search[0]), float(search[1]))

    @property
    def domain(self):
        return self._domain

    @property
    def boundaries(self):
        return self._boundaries

    @property
    def params(self):
        return {"name": self.name, "domain": self._domain, "boundaries": self._boundaries}

    def potential(self, x):
        return np.asarray(_apply(self._v, self._checked(x)), dtype=np.float64)

    def dpotential(self, x):
        return np.asarray(_apply(self._dv, self._checked(x)), dtype=np.float64)

    def d2potential(self, x):
        x = self._checked(x)
        if self._d2v is not None:
            return np.asarray(_apply(self._d2v, x), dtype=np.float64)
        h = 1e-4 * (1.0 + np.abs(x))
        f = lambda y: np.asarray(_apply(self._dv, y), dtype=np.float64)  # noqa: E731
        return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)

    def fixed_points(self):
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

    def _numba_dpotential(self):
        return _as_numba("dpotential", self._dv)

    def _numba_potential(self):
        return _as_numba("potential", self._v)


def _apply(f, x):
    """Call ``f`` on an array, falling back to element-wise calls for scalar-only functions."""
    try:
        return f(x)
    except TypeError:
        return np.vectorize(f, otypes=[np.float64])(x)


def _as_numba(name, f):
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


def lattice_scalar_spectrum(n_v: int, m2: float) -> np.ndarray:
    r"""Spectrum of the 1D periodic free scalar field on ``n_v`` sites.

    .. math::

        \kappa_k = m^2 + 2 - 2\cos(2\pi k / N_v), \qquad k = 0, \dots, N_v - 1,

    the eigenvalues of :math:`K_{target} = (m^2 + 2)\,1 - (T + T^T)` with
    :math:`T` the cyclic shift.  Modes ``k`` and ``N_v - k`` are degenerate.

    Parameters
    ----------
    n_v : int
        Number of lattice sites, ``>= 1``.
    m2 : float
        Mass squared :math:`m^2 > 0`.

    Returns
    -------
    ndarray, shape (n_v,)
        :math:`\kappa_k` in the order of ``k`` (not sorted).

    Examples
    --------
    >>> from fpsolve.models import lattice_scalar_spectrum
    >>> lattice_scalar_spectrum(4, 1.0).round(12).tolist()
    [1.0, 3.0, 5.0, 3.0]
    """
    n_v = check_int("n_v", n_v, minimum=1)
    m2 = check_positive("m2", m2)
    k = np.arange(n_v)
    return m2 + 2.0 - 2.0 * np.cos(2.0 * np.pi * k / n_v)


def lattice_scalar_matrix(n_v: int, m2: float) -> np.ndarray:
    r"""The target action matrix of the 1D periodic free scalar field on ``n_v`` sites.

    .. math::

        K_{target} = (m^2 + 2)\,1 - (T + T^T),

    with :math:`T` the cyclic shift; its eigenvalues are :func:`lattice_scalar_spectrum`
    and :math:`K_{target}^{-1}` is the target second moment of the Gaussian RBM
    (docs/theory.md section 4).

    Parameters
    ----------
    n_v : int
        Number of lattice sites, ``>= 1``.
    m2 : float
        Mass squared :math:`m^2 > 0`.

    Returns
    -------
    ndarray, shape (n_v, n_v)

    Examples
    --------
    >>> from fpsolve.models import lattice_scalar_matrix
    >>> lattice_scalar_matrix(4, 1.0).tolist()[0]
    [3.0, -1.0, 0.0, -1.0]
    """
    n_v = check_int("n_v", n_v, minimum=1)
    m2 = check_positive("m2", m2)
    eye = np.eye(n_v)
    shift = np.roll(eye, 1, axis=1)
    return (m2 + 2.0) * eye - (shift + shift.T)


class Modes(Sequence[Model]):
    """An ordered collection of modes, each with its own model.

    Parameters
    ----------
    models : sequence of Model
        One model per mode; the order is kept as given.

    Examples
    --------
    >>> from fpsolve.models import Modes
    >>> modes = Modes.rbm_lattice(n_v=10, m2=4.0, mu2=9.0)
    >>> len(modes), [len(g) for g in modes.degenerate_groups()]
    (10, [1, 2, 2, 2, 2, 1])
    """

    def __init__(self, models: Sequence[Model]):
        models = tuple(models)
        if not models:
            raise ValueError("models must hold at least one Model, got an empty sequence")
        for i, m in enumerate(models):
            if not isinstance(m, Model):
                raise TypeError(f"models[{i}] must be a fpsolve.models.Model, got {m!r}")
        self._models = models

    # -- constructors -------------------------------------------------------
    @classmethod
    def harmonic(cls, omega, center=0.0) -> Modes:
        """Harmonic modes from broadcastable arrays of ``omega`` and ``center``."""
        omega, center = np.broadcast_arrays(np.atleast_1d(omega), np.atleast_1d(center))
        return cls([HarmonicModel(float(o), float(c)) for o, c in zip(omega, center, strict=True)])

    @classmethod
    def rbm(cls, kappa, mu2: float, sigma_h2: float = 1.0, *, convention="talk") -> Modes:
        """RBM modes for a target spectrum ``kappa`` (one :class:`RBMModel` per entry)."""
        kappa = np.atleast_1d(np.asarray(kappa, dtype=np.float64))
        if kappa.ndim != 1:
            raise ValueError(f"kappa must be 1-dimensional, got shape {kappa.shape}")
        return cls([RBMModel(float(k), mu2, sigma_h2, convention=convention) for k in kappa])

    @classmethod
    def rbm_lattice(
        cls, n_v: int, m2: float, mu2: float, sigma_h2: float = 1.0, *, convention="talk"
    ) -> Modes:
        """RBM modes with targets :func:`lattice_scalar_spectrum` ``(n_v, m2)``, in ``k`` order."""
        return cls.rbm(lattice_scalar_spectrum(n_v, m2), mu2, sigma_h2, convention=convention)

    # -- sequence protocol --------------------------------------------------
    @overload
    def __getitem__(self, i: int) -> Model: ...
    @overload
    def __getitem__(self, i: slice) -> Modes: ...
    def __getitem__(self, i):
        if isinstance(i, slice):
            return Modes(self._models[i])
        return self._models[i]

    def __len__(self) -> int:
        return len(self._models)

    def __iter__(self) -> Iterator[Model]:
        return iter(self._models)

    def __repr__(self) -> str:
        return f"Modes({list(self._models)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Modes) and self._models == other._models

    def __hash__(self) -> int:
        return hash(self._models)

    # -- vectorised access --------------------------------------------------
    @property
    def n_modes(self) -> int:
        """Number of modes."""
        return len(self._models)

    @property
    def x_stable(self) -> np.ndarray:
        """Stable fixed point of each mode."""
        return np.array([m.x_stable for m in self._models])

    @property
    def omega(self) -> np.ndarray:
        r"""Curvature :math:`\Omega_i` at each mode's stable point."""
        return np.array([m.omega for m in self._models])

    def _columns(self, x, method: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 0 or x.shape[-1] != self.n_modes:
            raise ValueError(
                f"x must have last axis of length n_modes={self.n_modes}, got shape {x.shape}"
            )
        out = np.empty_like(x)
        for i, m in enumerate(self._models):
            out[..., i] = getattr(m, method)(x[..., i])
        return out

    def drift(self, x) -> np.ndarray:
        """Per-mode drift ``K_i(x_i)`` for ``x`` of shape ``(..., n_modes)``."""
        return self._columns(x, "drift")

    def potential(self, x) -> np.ndarray:
        """Per-mode potential ``V_i(x_i)`` for ``x`` of shape ``(..., n_modes)``."""
        return self._columns(x, "potential")

    def degenerate_groups(self, rtol: float = 1e-9) -> list[tuple[int, ...]]:
        """Groups of mode indices with the same model (equal parameters within ``rtol``).

        Groups are listed in order of their first member.
        """
        groups: list[list[int]] = []
        for i, m in enumerate(self._models):
            for g in groups:
                if _same_model(self._models[g[0]], m, rtol):
                    g.append(i)
                    break
            else:
                groups.append([i])
        return [tuple(g) for g in groups]


class RBMNoise(NamedTuple):
    """Noise of the PCD update in the eigenbasis of ``X`` (see :func:`rbm_pcd_noise`)."""

    gt2: np.ndarray
    coupling: np.ndarray
    chain_factor: np.ndarray


def rbm_pcd_noise(modes: Modes, x=None, *, k: int | None = None) -> RBMNoise:
    r"""Noise that the PCD estimate of :math:`C_{model}` puts on the eigenvalues of ``X``.

    The update :math:`W \leftarrow W + \alpha\sigma_h^2 (C_{target} - \hat C) W`
    (docs/theory.md section 4) with :math:`\hat C = C + \delta C` the covariance of
    :math:`|B|` chains moves :math:`X = W^T W` by
    :math:`\delta X = -2\alpha\sigma_h^2 W^T\delta C\, W` beyond the drift.  In
    the eigenbasis of ``X`` (:math:`W v_a = \sqrt{x_a}\, u_a`, and
    :math:`u_a` are eigenvectors of :math:`C = K^{-1}` with eigenvalues
    :math:`1/\lambda_a`, :math:`\lambda_a = \mu^2 - \sigma_h^2 x_a`), Gaussian
    chains give :math:`\mathrm{Var}(u_a^T\delta C u_b) = (1 + \delta_{ab}) /
    (\lambda_a\lambda_b |B|)`, hence

    .. math::

        \mathrm{Var}(\delta X_{ab}) = \frac{\alpha^2}{|B|}(1 + \delta_{ab})
        \tilde G_{ab}, \qquad
        \tilde G_{ab} = \frac{4\sigma_h^4 x_a x_b}{\lambda_a\lambda_b}.

    Matched to the SGD map of docs/theory.md section 2 (noise variance
    :math:`2\alpha^2\tilde g_a^2/|B|`, pair term
    :math:`(\alpha^2/|B|)\sum_b \tilde G_{ab}/(x_a - x_b)` from second-order
    perturbation theory) this is :math:`\tilde g_a^2 = \tilde G_{aa}`, the
    :math:`\beta = 1` structure (diagonal variance twice the off-diagonal one),
    in the ``"training"`` convention of :class:`RBMModel` (drift per unit
    :math:`\alpha`).  At the fixed point :math:`\lambda_a = \kappa_a`:
    :math:`\tilde g_a^2 = 4(\mu^2-\kappa_a)^2/\kappa_a^2` and the small-noise width
    is :math:`\sigma_a^2 = (\alpha/|B|)\,\tilde g_a^2/\Omega_a
    = 2(\alpha/|B|)(\mu^2-\kappa_a)/\sigma_h^2`.

    Persistent chains advanced ``k`` block-Gibbs sweeps per update are
    correlated from one update to the next: one sweep multiplies the component
    of :math:`\phi` along :math:`u_a` by :math:`\rho_a = \sigma_h^2 x_a/\mu^2` (plus
    fresh noise), so :math:`\delta C_{ab}` has lag-one correlation
    :math:`c_{ab} = (\rho_a\rho_b)^k`.  With ``k`` given, both :math:`\tilde g^2` and
    :math:`\tilde G` are multiplied by the integrated factor
    :math:`(1 + c_{ab})/(1 - c_{ab})` (noise summed over the many updates of one
    relaxation time; the lag of the chains behind ``W`` is of order
    :math:`\alpha` and neglected).

    Parameters
    ----------
    modes : Modes
        :class:`RBMModel` modes sharing ``mu2`` and ``sigma_h2`` (any convention;
        the result is in the ``"training"`` convention).
    x : array_like, shape (n_modes,), optional
        Eigenvalues at which to evaluate; default the stable points
        :math:`x_a = (\mu^2 - \kappa_a)/\sigma_h^2`.
    k : int, optional
        Block-Gibbs sweeps per update; None ignores the chain correlation.

    Returns
    -------
    RBMNoise
        ``gt2`` (shape ``(n,)``), ``coupling`` :math:`\tilde G` (``(n, n)``,
        symmetric, diagonal ``gt2``) and ``chain_factor`` (``(n, n)``, ones when
        ``k`` is None).

    Examples
    --------
    >>> from fpsolve.models import Modes, rbm_pcd_noise
    >>> noise = rbm_pcd_noise(Modes.rbm([4.0, 8.0], mu2=9.0))
    >>> noise.gt2.round(4).tolist()
    [6.25, 0.0625]
    """
    if not isinstance(modes, Modes) or not all(isinstance(m, RBMModel) for m in modes):
        raise TypeError(f"modes must be a Modes of RBMModel, got {modes!r}")
    mu2, s = modes[0].mu2, modes[0].sigma_h2
    if any(m.mu2 != mu2 or m.sigma_h2 != s for m in modes):
        raise ValueError("modes must share mu2 and sigma_h2 (one RBM)")
    if x is None:
        x = np.array([m.x_stable for m in modes])
    else:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (len(modes),):
            raise ValueError(f"x must have shape ({len(modes)},), got {x.shape}")
        if not np.all((x >= 0) & (x < mu2 / s)):
            raise ValueError(f"x must lie in [0, mu2/sigma_h2) = [0, {mu2 / s}), got {x}")
    from fpsolve._dbm_kernels import _pcd_coupling

    k = 0 if k is None else check_int("k", k, minimum=1)
    n = len(modes)
    coupling, factor = np.empty((n, n)), np.empty((n, n))
    _pcd_coupling(np.ascontiguousarray(x, dtype=np.float64), mu2, s, k, coupling, factor)
    return RBMNoise(np.diag(coupling).copy(), coupling, factor)


def _same_model(a: Model, b: Model, rtol: float) -> bool:
    if type(a) is not type(b):
        return False
    pa, pb = a.params, b.params
    if pa.keys() != pb.keys():
        return False
    for k in pa:
        va, vb = pa[k], pb[k]
        if isinstance(va, float) and isinstance(vb, float):
            if not math.isclose(va, vb, rel_tol=rtol, abs_tol=rtol):
                return False
        elif va != vb:
            return False
    return True

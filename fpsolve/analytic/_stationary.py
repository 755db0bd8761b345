r"""Stationary one-mode densities, the Coulomb-gas log-density and the linear scaling rule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import optimize

from fpsolve.checks import as_rng, check_int, check_positive
from fpsolve.models import Model, Modes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.lines import Line2D

__all__ = [
    "StationaryDensity",
    "coulomb_gas_logpdf",
    "sgd_noise_from_variance",
    "sgd_stationary_variance",
    "stationary_density",
]

_CUTOFF = 800.0  # exp(-800) ~ 1e-348: below the smallest double, relative to the peak
_N_PANELS = 4096
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


def _gl_nodes(a, b):
    """Gauss-Legendre nodes and weights on [a, b] (vectorised over a, b)."""
    a = np.asarray(a, dtype=float)[..., None]
    b = np.asarray(b, dtype=float)[..., None]
    half = 0.5 * (b - a)
    return a + half * (_GL_X + 1.0), half * _GL_W


@dataclass(frozen=True, eq=False)
class StationaryDensity:
    r"""Stationary density :math:`P_s(x) = e^{-V(x)/g^2}/Z` of one mode on its domain.

    Built by :func:`stationary_density`.  Everything is computed in log space
    relative to the minimum of ``V``, so densities far below the smallest
    double (``g2 = 1e-3`` for the RBM mode) are handled.  Integrals use
    8-point Gauss-Legendre on 4096 panels covering the *effective support*:
    where :math:`(V - V_{min})/g^2 < 800`.

    Attributes
    ----------
    model : Model
        The model.
    g2 : float
        Noise strength :math:`g^2`.
    mode : float
        Position of the global minimum of ``V`` (the maximum of :math:`P_s`).
    log_norm : float
        :math:`\log Z = \log \int e^{-V/g^2} dx` (with the model's ``V``).
    effective_support : tuple of float
        The interval outside which :math:`P_s < e^{-800} P_s(\mathrm{mode})`.
    mean, var : float
        Mean and variance of :math:`P_s`.
    """

    model: Model
    g2: float
    mode: float
    log_norm: float
    effective_support: tuple[float, float]
    mean: float
    var: float
    _edges: np.ndarray = field(repr=False)
    _cdf_edges: np.ndarray = field(repr=False)
    _vmin: float = field(repr=False)

    @property
    def std(self) -> float:
        """Standard deviation."""
        return float(np.sqrt(self.var))

    def support(self) -> tuple[float, float]:
        """The model's domain."""
        return self.model.domain

    def _shifted_log(self, x):
        """``-(V(x) - V_min)/g2`` for points inside the domain."""
        return -(self.model.potential(x) - self._vmin) / self.g2

    def logpdf(self, x: npt.ArrayLike) -> float | np.ndarray:
        """Log density (``-inf`` outside the domain)."""
        x = np.asarray(x, dtype=float)
        out = np.full(x.shape, -np.inf)
        inside = self.model.contains(x)
        out[inside] = self._shifted_log(x[inside]) - (self.log_norm + self._vmin / self.g2)
        return out if out.ndim else float(out)

    def pdf(self, x: npt.ArrayLike) -> float | np.ndarray:
        """Density :math:`P_s(x)` (0 outside the domain)."""
        return np.exp(self.logpdf(x))

    def cdf(self, x: npt.ArrayLike) -> float | np.ndarray:
        """Cumulative distribution function."""
        x = np.asarray(x, dtype=float)
        lo, hi = self._edges[0], self._edges[-1]
        xc = np.clip(x, lo, hi)  # beyond the effective support the cdf is 0 or 1 to round-off
        j = np.clip(np.searchsorted(self._edges, xc, side="right") - 1, 0, len(self._edges) - 2)
        nodes, weights = _gl_nodes(self._edges[j], xc)
        part = np.sum(weights * self.pdf(nodes), axis=-1)
        out = np.clip(self._cdf_edges[j] + part, 0.0, 1.0)
        out = np.where(x >= hi, 1.0, np.where(x <= lo, 0.0, out))
        return out if out.ndim else float(out)

    def sf(self, x: npt.ArrayLike) -> float | np.ndarray:
        """Survival function ``1 - cdf``."""
        return 1.0 - self.cdf(x)

    def ppf(self, q: npt.ArrayLike) -> float | np.ndarray:
        """Quantile function: Newton steps safeguarded by bisection inside one panel."""
        q = np.asarray(q, dtype=float)
        if np.any((q < 0) | (q > 1) | ~np.isfinite(q)):
            raise ValueError(f"q must lie in [0, 1], got values from {q.min()!r} to {q.max()!r}")
        j = np.clip(np.searchsorted(self._cdf_edges, q, side="right") - 1, 0, len(self._edges) - 2)
        lo, hi = self._edges[j].copy(), self._edges[j + 1].copy()
        x = 0.5 * (lo + hi)
        for _ in range(60):
            f = self.cdf(x) - q
            lo = np.where(f < 0, x, lo)
            hi = np.where(f < 0, hi, x)
            p = self.pdf(x)
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = x - f / p
            ok = np.isfinite(newton) & (newton > lo) & (newton < hi)
            x_new = np.where(ok, newton, 0.5 * (lo + hi))
            if np.all(np.abs(x_new - x) <= 4 * np.finfo(float).eps * np.maximum(1, np.abs(x))):
                x = x_new
                break
            x = x_new
        return x if x.ndim else float(x)

    def rvs(
        self,
        size: int | tuple[int, ...] | None = None,
        rng: int | np.random.Generator | None = None,
    ) -> float | np.ndarray:
        """Random variates by inversion of the CDF.

        Parameters
        ----------
        size : int or tuple of int, optional
            Output shape.
        rng : int, numpy.random.Generator or None
            Seed or generator.
        """
        return self.ppf(as_rng(rng).uniform(size=size))

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Line2D:
        """Plot :math:`P_s` over the effective support; returns the line."""
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        lo, hi = self.effective_support
        if self.model.boundaries[1] == "wall" and hi >= self.model.domain[1]:
            hi = np.nextafter(hi, -np.inf)
        x = np.linspace(lo, hi, 801)
        kwargs.setdefault("label", f"{self.model.name}, $g^2$={self.g2:g}")
        (line,) = ax.plot(x, self.pdf(x), **kwargs)
        ax.set_xlabel("$x$")
        ax.set_ylabel("$P_s(x)$")
        return line


def _global_minimum(model: Model, g2: float) -> float:
    lo, hi = model.domain
    candidates = [fp.x for fp in model.fixed_points() if fp.stable]
    for end, kind in zip((lo, hi), model.boundaries, strict=True):
        if kind == "reflecting":
            candidates.append(end)
    if not candidates:
        raise ValueError(
            f"model {model!r} has no stable fixed point and no reflecting end: "
            f"exp(-V/g2) is not normalisable"
        )
    values = [float(model.potential(c)) for c in candidates]
    return candidates[int(np.argmin(values))]


def _edge(model: Model, g2: float, start: float, vmin: float, direction: int) -> float:
    """Point beyond which (V - vmin)/g2 > _CUTOFF going from ``start`` in ``direction``."""
    lo, hi = model.domain
    end = hi if direction > 0 else lo
    kind = model.boundaries[1 if direction > 0 else 0]

    def excess(x: float) -> float:
        # V is +inf where the wall term rounds to log(0), a few ulp short of the wall
        with np.errstate(divide="ignore"):
            return (float(model.potential(x)) - vmin) / g2 - _CUTOFF

    if start == end:
        return end
    curv = abs(float(model.d2potential(start)))
    step = np.sqrt(g2 / curv) if curv > 0 else 1e-3 * (1 + abs(start))
    inside = start
    for k in range(200):  # doubling steps outward
        if np.isfinite(end):
            frac = min(1.0, step * 2.0**k / abs(end - start))
            if frac >= 1.0:
                if kind == "reflecting":
                    if excess(end) > 0:
                        return optimize.brentq(excess, inside, end, xtol=1e-14 * (1 + abs(end)))
                    return end
                # approach the wall geometrically
                for m in range(1, 80):
                    x = end - (end - start) * 2.0**-m
                    if x == end or math.isinf(excess(x)):
                        break
                    if excess(x) > 0:
                        return optimize.brentq(excess, inside, x, xtol=1e-14 * (1 + abs(x)))
                    inside = x
                return inside
            x = start + direction * step * 2.0**k
        else:
            x = start + direction * step * 2.0**k
        if excess(x) > 0:
            return optimize.brentq(excess, inside, x, xtol=1e-14 * (1 + abs(x)))
        inside = x
    raise ValueError(
        f"exp(-V/g2) of {model!r} does not decay toward {end}: the density is not normalisable"
    )


def stationary_density(model: Model, g2: float) -> StationaryDensity:
    r"""Stationary density of one mode, :math:`P_s(x) = e^{-V(x)/g^2} / Z`.

    The stationary state of :math:`dP/dt = \partial_x[(g^2\partial_x - K)P]`
    with :math:`K = -V'` and zero flux at the ends (:eq:`eq-fokker-planck`,
    :eq:`eq-rbm-stationary`).  Normalisation is done in log space relative to :math:`V_{min}`, so it
    works for sharply peaked densities (the RBM mode at ``g2 = 1e-3``).

    Parameters
    ----------
    model : Model
        Any model of :mod:`fpsolve.models`.
    g2 : float
        Noise strength :math:`g^2 > 0`.

    Returns
    -------
    StationaryDensity
        With ``pdf``, ``logpdf``, ``cdf``, ``ppf``, ``rvs``, ``mean``, ``var``,
        ``std``, ``mode``, ``log_norm`` and ``plot``.

    Examples
    --------
    >>> from fpsolve.models import HarmonicModel, RBMModel
    >>> from fpsolve.analytic import stationary_density
    >>> p = stationary_density(HarmonicModel(2.0, center=1.0), g2=0.5)
    >>> round(p.mean, 10), round(p.var, 10)
    (1.0, 0.25)
    >>> q = stationary_density(RBMModel(kappa=4.0, mu2=9.0), g2=1e-3)
    >>> round(q.mode, 12)
    5.0
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a fpsolve.models.Model, got {model!r}")
    g2 = check_positive("g2", g2)
    mode = _global_minimum(model, g2)
    vmin = float(model.potential(mode))
    # include every well that is not negligible, then extend outward from the outermost
    wells = [fp.x for fp in model.fixed_points() if fp.stable]
    wells = [w for w in wells if (float(model.potential(w)) - vmin) / g2 < _CUTOFF] + [mode]
    a = _edge(model, g2, min(wells), vmin, -1)
    b = _edge(model, g2, max(wells), vmin, +1)
    edges = np.linspace(a, b, _N_PANELS + 1)
    nodes, weights = _gl_nodes(edges[:-1], edges[1:])
    logw = -(model.potential(nodes) - vmin) / g2
    peak = logw.max()
    dens = np.exp(logw - peak) * weights
    panel = dens.sum(axis=1)
    total = panel.sum()
    log_i = np.log(total) + peak
    cdf_edges = np.concatenate([[0.0], np.cumsum(panel) / total])
    probs = dens / total
    mean = float(np.sum(probs * nodes))
    var = float(np.sum(probs * (nodes - mean) ** 2))
    return StationaryDensity(
        model=model,
        g2=g2,
        mode=float(mode),
        log_norm=float(log_i - vmin / g2),
        effective_support=(float(a), float(b)),
        mean=mean,
        var=var,
        _edges=edges,
        _cdf_edges=cdf_edges,
        _vmin=vmin,
    )


def coulomb_gas_logpdf(x: npt.ArrayLike, modes: Modes, g2: npt.ArrayLike) -> np.ndarray:
    r"""Unnormalised log-density of the :math:`\beta = 1` Coulomb gas.

    .. math::

        \log P_s(\{x\}) = \sum_{i<j}\log|x_i - x_j| - \sum_i V_i(x_i)/g_i^2 + \mathrm{const},

    the stationary state of the eigenvalue DBM with :math:`K_i = -V_i'`
    (:eq:`eq-coulomb-gas`).

    Parameters
    ----------
    x : array_like, shape (..., n_modes)
        Configurations.
    modes : Modes
        One model per eigenvalue.
    g2 : float or array_like, shape (n_modes,)
        Noise strength :math:`g_i^2 > 0` of each mode.

    Returns
    -------
    ndarray, shape (...)
        ``-inf`` where an eigenvalue lies outside its model's domain.
    """
    if not isinstance(modes, Modes):
        raise TypeError(f"modes must be a fpsolve.models.Modes, got {modes!r}")
    x = np.asarray(x, dtype=float)
    n = modes.n_modes
    if x.ndim == 0 or x.shape[-1] != n:
        raise ValueError(f"x must have last axis of length n_modes={n}, got shape {x.shape}")
    g2 = np.broadcast_to(np.asarray(g2, dtype=float), (n,))
    if np.any(~(g2 > 0)) or not np.all(np.isfinite(g2)):
        raise ValueError(f"g2 must be > 0 and finite for every mode, got {g2!r}")
    out = np.zeros(x.shape[:-1])
    for i, m in enumerate(modes):
        xi = x[..., i]
        inside = m.contains(xi)
        vi = np.full(xi.shape, np.inf)
        vi[inside] = m.potential(xi[inside])
        out -= vi / g2[i]
    with np.errstate(divide="ignore"):
        for i in range(n):
            for j in range(i + 1, n):
                out += np.log(np.abs(x[..., i] - x[..., j]))
    return out


def sgd_stationary_variance(
    alpha: npt.ArrayLike, batch_size: npt.ArrayLike, gt2: npt.ArrayLike, omega: npt.ArrayLike
) -> float | np.ndarray:
    r"""Stationary Gaussian variance of one mode under SGD (the linear scaling rule).

    .. math::

        \sigma_i^2 = \frac{\alpha}{|B|}\,\frac{\tilde g_i^2}{\Omega_i},

    from expanding :math:`V_i = \alpha\tilde V_i` to second order around its
    minimum (:eq:`eq-linear-scaling`); only :math:`\alpha/|B|` matters.

    Parameters
    ----------
    alpha : float or array_like
        Learning rate, ``> 0``.
    batch_size : int or array_like
        Batch size :math:`|B| \ge 1`.
    gt2 : float or array_like
        Per-step noise strength :math:`\tilde g_i^2 > 0`.
    omega : float or array_like
        Curvature :math:`\Omega_i > 0` (per unit of ``alpha``).

    Returns
    -------
    float or ndarray
        :math:`\sigma_i^2`, broadcast over the inputs.
    """
    a, b, g, om = _positive_arrays(alpha=alpha, batch_size=batch_size, gt2=gt2, omega=omega)
    out = a / b * g / om
    return out if out.ndim else float(out)


def sgd_noise_from_variance(
    sigma2: npt.ArrayLike,
    alpha: npt.ArrayLike,
    batch_size: npt.ArrayLike,
    omega: npt.ArrayLike,
) -> float | np.ndarray:
    r"""Invert :func:`sgd_stationary_variance`: :math:`\tilde g^2 = \sigma^2\,\Omega\,|B|/\alpha`.

    Parameters
    ----------
    sigma2 : float or array_like
        Measured stationary variance, ``> 0``.
    alpha, batch_size, omega : float or array_like
        As in :func:`sgd_stationary_variance`.

    Returns
    -------
    float or ndarray
        :math:`\tilde g^2`.
    """
    s2, a, b, om = _positive_arrays(sigma2=sigma2, alpha=alpha, batch_size=batch_size, omega=omega)
    out = s2 * om * b / a
    return out if out.ndim else float(out)


def _positive_arrays(**arrays: npt.ArrayLike) -> list[np.ndarray]:
    out = []
    for name, value in arrays.items():
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        if name == "batch_size":
            check_int("batch_size", int(np.min(arr)), minimum=1)
            if np.any(arr != np.round(arr)):
                raise ValueError(f"batch_size must be integral, got {value!r}")
        out.append(arr)
    return out

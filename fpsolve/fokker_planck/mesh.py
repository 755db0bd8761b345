r"""The finite-volume grid of :mod:`fpsolve.fokker_planck`, shared with :mod:`fpsolve.hfp`.

Exponentially fitted (Scharfetter-Gummel) fluxes.  Between two neighbouring
nodes ``x_k < x_{k+1}`` with :math:`\Delta_k = (V_{k+1} - V_k)/g^2` the flux
:math:`J = -g^2 e^{-V/g^2}\,\partial_x (e^{V/g^2} P)` is constant across the
edge, which gives the rates

.. math::

    r_{k \to k+1} = \frac{g^2}{h^2} B(\Delta_k), \qquad
    r_{k+1 \to k} = \frac{g^2}{h^2} B(-\Delta_k), \qquad
    B(z) = \frac{z}{e^z - 1},

and the symmetric couplings :math:`\sqrt{r_{k\to k+1} r_{k+1\to k}}
= (g^2/h^2)\, s(\Delta_k)`, :math:`s(z) = (z/2)/\sinh(z/2)`.  Everything is a
function of the differences :math:`\Delta_k` only, so nothing overflows however
small :math:`g^2` is.

This module holds what the one-mode and two-mode solvers and the
Schroedinger-form eigensolver share: the fitted rates, the window that covers
the stationary mass, the number of cells that resolves the model, the
cell-centred :class:`Grid` with its symmetric rate matrix, the refinement,
extrapolation and checks of its eigenvalues, the checks of initial densities and
output times, and the loop over the output times of the time steppers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import optimize
from scipy.linalg import solve_banded

from fpsolve.checks import check_int, check_positive, check_real
from fpsolve.fokker_planck.limits import check_memory
from fpsolve.models import Model

__all__ = [
    "CELLS_PER_WIDTH",
    "COVER",
    "CUT",
    "MIN_CELLS_PER_WIDTH",
    "RICHARDSON_AGREEMENT",
    "Domain",
    "Grid",
    "InitialDensity",
    "RateMatrix",
    "Window",
    "bernoulli",
    "cells",
    "check_decay",
    "check_levels",
    "check_model",
    "check_spacing",
    "check_times",
    "default_dt",
    "edge_rates",
    "grid",
    "initial_values",
    "make_grid",
    "march",
    "narrowest_width",
    "normalise",
    "potential_differences",
    "potential_window",
    "refine_levels",
    "richardson_levels",
    "sinhc_half",
    "stepper_plan",
    "window",
]

CUT = 50.0
"""Natural (and wall) ends are cut where ``(V - V_min)/g2`` reaches this value."""

COVER = 20.0
r"""A user ``domain`` must reach where :math:`(V - V_{min})/g^2 \ge` this value at
every end that is not a reflecting end of the model (else the grid does not
cover the mass)."""

_GL3_X, _GL3_W = np.polynomial.legendre.leggauss(3)


class _HasPdf(Protocol):
    def pdf(self, x: Any) -> npt.ArrayLike: ...


InitialDensity: TypeAlias = _HasPdf | Callable[..., npt.ArrayLike] | npt.ArrayLike
"""An initial density: a distribution with ``pdf``, a callable of the nodes, or their values."""

Domain: TypeAlias = Sequence[float] | None
"""``(low, high)`` of a grid, or None for the model's window."""


# =========================================================================== fitted rates
def bernoulli(z: npt.ArrayLike) -> np.ndarray:
    """``B(z) = z/(e^z - 1)`` without overflow; ``B(0) = 1``, ``B(+inf) = 0``."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    a = np.abs(z)
    small = a < 1e-4
    zs = z[small]
    out[small] = 1.0 - zs / 2.0 + zs * zs / 12.0
    big = ~small
    zb = z[big]
    ab = a[big]
    with np.errstate(invalid="ignore", over="ignore"):
        # z > 0: z e^{-z}/(1 - e^{-z});  z < 0: |z|/(1 - e^{z})
        pos = np.where(np.isinf(zb), 0.0, zb * np.exp(-ab) / -np.expm1(-ab))
        neg = -zb / -np.expm1(-ab)
    out[big] = np.where(zb > 0, pos, neg)
    return out


def sinhc_half(z: npt.ArrayLike) -> np.ndarray:
    """``s(z) = (z/2)/sinh(z/2)`` without overflow (``s(0) = 1``, ``s(inf) = 0``)."""
    a = np.abs(np.asarray(z, dtype=np.float64))
    out = np.empty_like(a)
    small = a < 1e-4
    out[small] = 1.0 - a[small] ** 2 / 24.0
    ab = a[~small]
    with np.errstate(invalid="ignore", over="ignore"):
        out[~small] = np.where(np.isinf(ab), 0.0, ab * np.exp(-0.5 * ab) / -np.expm1(-ab))
    return out


def edge_rates(delta: npt.ArrayLike, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Rates ``(right, left)`` of each edge: ``c*B(delta)`` (k -> k+1), ``c*B(-delta)``."""
    return c * bernoulli(delta), c * bernoulli(-np.asarray(delta, dtype=np.float64))


def potential_differences(
    model: Model,
    edges_lo: np.ndarray,
    edges_hi: np.ndarray,
    g2: float,
    *,
    from_drift: bool,
) -> np.ndarray:
    """``(V(hi) - V(lo))/g2`` per edge, from ``V`` or by 3-point Gauss quadrature of ``K``."""
    if not from_drift:
        return (model.potential(edges_hi) - model.potential(edges_lo)) / g2
    half = 0.5 * (edges_hi - edges_lo)
    mid = 0.5 * (edges_hi + edges_lo)
    nodes = mid[:, None] + half[:, None] * _GL3_X[None, :]
    k = model.drift(nodes)
    return -(k @ _GL3_W) * half / g2


# =========================================================================== windows
class Window(NamedTuple):
    """The interval ``(a, b)`` a grid covers and whether each end is a cut."""

    a: float
    b: float
    cut: tuple[bool, bool]  # True: a zero-flux cut, False: a reflecting end of the model


def check_model(model: Any) -> Model:
    """Return ``model`` if it is a :class:`fpsolve.models.Model`, else raise TypeError."""
    if not isinstance(model, Model):
        raise TypeError(f"model must be a fpsolve.models.Model, got {model!r}")
    return model


def potential_window(model: Model, g2: float, cut: float = CUT) -> tuple[float, float, float]:
    """``(a, b, vmin)``: the part of the domain where ``(V - vmin)/g2 < cut``.

    Reflecting ends are kept; natural ends and walls are cut where the
    stationary density has fallen by ``exp(-cut)`` from its peak.
    """
    lo, hi = model.domain
    cands = []
    try:
        cands = [fp.x for fp in model.fixed_points()]
    except (ValueError, RuntimeError):  # pragma: no cover - user models
        cands = []
    for end, kind in zip((lo, hi), model.boundaries, strict=True):
        if kind == "reflecting":
            cands.append(end)
    if not cands:
        cands = [0.0 if model.contains(0.0) else 0.5 * (lo + hi)]
    cands = [c for c in cands if bool(model.contains(c))]
    vals = [float(model.potential(c)) for c in cands]
    vmin = min(vals)
    left, right = min(cands), max(cands)
    try:
        curv = abs(float(model.d2potential(cands[int(np.argmin(vals))])))
    except ValueError:  # pragma: no cover
        curv = 0.0
    scale = math.sqrt(g2 / curv) if curv > 0 else 1.0
    a = _cut_end(model, g2, vmin, left, -1, lo, model.boundaries[0], scale, cut)
    b = _cut_end(model, g2, vmin, right, +1, hi, model.boundaries[1], scale, cut)
    return a, b, vmin


def _cut_end(model, g2, vmin, start, direction, end, kind, scale, cut):
    if kind == "reflecting":
        return float(end)

    def excess(x: float) -> float:
        # V is +inf where the wall term rounds to log(0), a few ulp short of the wall
        with np.errstate(divide="ignore"):
            return (float(model.potential(x)) - vmin) / g2 - cut

    inside = start
    for k in range(400):
        x = start + direction * scale * 2.0 ** (k / 2.0)
        at_wall = math.isfinite(end) and (x - end) * direction >= 0
        if at_wall or math.isinf(excess(x)):
            # approach the wall geometrically, up to the last point where V is finite
            for m in range(1, 200):
                x = end - direction * abs(end - inside) * 2.0**-m
                if x == end or math.isinf(excess(x)):
                    break
                if excess(x) >= 0:
                    return float(optimize.brentq(excess, inside, x, xtol=1e-13 * (1 + abs(x))))
                inside = x
            return float(inside)
        if excess(x) >= 0:
            lo_, hi_ = sorted((inside, x))
            return float(optimize.brentq(excess, lo_, hi_, xtol=1e-13 * (1 + abs(x))))
        inside = x
    raise ValueError(  # pragma: no cover
        f"could not find where exp(-V/g2) becomes negligible beyond {start} for {model!r}"
    )


def window(model: Model, g2: float, domain: Domain | Window) -> Window:
    """The interval of a grid: the model's window (:func:`potential_window`) or ``domain``.

    A user ``domain`` must lie inside the model's domain and, at every end that is
    not a reflecting end of the model, reach where the stationary density has fallen
    by ``exp(-COVER)`` or as far as the default window (which stops short of a wall
    where ``exp(-V/g2)`` falls too slowly to reach ``exp(-CUT)`` in floating point).
    A :class:`Window` is taken as it is (it was checked when it was made).
    """
    if isinstance(domain, Window):
        return domain
    lo, hi = model.domain
    kinds = model.boundaries
    a_def, b_def, vmin = potential_window(model, g2)
    if domain is None:
        return Window(a_def, b_def, (kinds[0] != "reflecting", kinds[1] != "reflecting"))
    try:
        a, b = (check_real("domain", float(v)) for v in domain)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"domain must be a pair of finite numbers (low, high), got {domain!r}"
        ) from exc
    if not a < b:
        raise ValueError(f"domain must satisfy low < high, got {domain!r}")
    if a < lo or b > hi:
        raise ValueError(f"domain={domain!r} must lie inside the model's domain {model.domain}")
    cut = (not (a == lo and kinds[0] == "reflecting"), not (b == hi and kinds[1] == "reflecting"))
    ends = ((a, cut[0], kinds[0], lo, a <= a_def), (b, cut[1], kinds[1], hi, b >= b_def))
    for end, is_cut, kind, mend, beyond_default in ends:
        if not is_cut or (kind == "wall" and end == mend) or beyond_default:
            continue
        excess = (float(model.potential(end)) - vmin) / g2
        if excess < COVER:
            raise ValueError(
                f"domain={domain!r} does not cover the mass of the stationary density: at "
                f"x={end!r} it is exp(-{excess:.3g}) of its peak, need below exp(-{COVER:g}); "
                f"widen the domain (the default window is {a_def!r} ... {b_def!r})"
            )
    return Window(a, b, cut)


# =========================================================================== resolution
CELLS_PER_WIDTH = 8.0
r"""Without an explicit size, grids get enough cells to put this many across the narrowest
width :math:`\sqrt{g^2/|V''|}` at a fixed point of the model inside the window."""

MIN_CELLS_PER_WIDTH = 1.0
"""An explicit size must put at least this many cells across that width."""


def narrowest_width(model: Model, g2: float, a: float, b: float) -> tuple[float, float]:
    r"""``(width, x)``: the smallest :math:`\sqrt{g^2/|V''(x_f)|}` over fixed points in ``[a, b]``.

    The stationary density has this width at a stable fixed point and the escape
    states of :math:`H_{FP}` have it at an unstable one.  ``(inf, nan)`` if the
    model has no fixed point with non-zero curvature in ``[a, b]``.
    """
    try:
        points = model.fixed_points()
    except (ValueError, RuntimeError):  # pragma: no cover - user models
        points = ()
    best = (math.inf, math.nan)
    for fp in points:
        curv = abs(float(fp.curvature))
        if a <= fp.x <= b and 0.0 < curv < math.inf and math.sqrt(g2 / curv) < best[0]:
            best = (math.sqrt(g2 / curv), float(fp.x))
    return best


def cells(
    model: Model,
    g2: float,
    win: Window,
    n: int | None,
    *,
    default: int,
    name: str = "n",
    n_min: int = 3,
) -> int:
    """The number of cells (or intervals) of a grid on ``win``.

    ``n=None``: ``default``, raised to put :data:`CELLS_PER_WIDTH` cells across the
    :func:`narrowest_width`.  An explicit ``n`` must put at least
    :data:`MIN_CELLS_PER_WIDTH` across it, else ValueError naming ``name``.
    """
    width, at = narrowest_width(model, g2, win.a, win.b)
    span = win.b - win.a
    if n is None:
        need = CELLS_PER_WIDTH * span / width
        return max(default, math.ceil(need)) if math.isfinite(need) else default
    n = check_int(name, n, minimum=n_min)
    if span / n > width / MIN_CELLS_PER_WIDTH:
        need = math.ceil(MIN_CELLS_PER_WIDTH * span / width)
        raise ValueError(
            f"{name}={n} does not resolve the model at g2={g2!r}: cells of {span / n:.3g} on "
            f"[{win.a:.6g}, {win.b:.6g}] are wider than sqrt(g2/|V''|) = {width:.3g} at the "
            f"fixed point x = {at:.6g}; need {name} >= {need}, or leave {name} unset to adapt it"
        )
    return n


def check_spacing(name: str, n: int, g2: float, win: Window) -> None:
    """Raise unless cells of ``(b - a)/n`` are far above the floating-point spacing there."""
    h = (win.b - win.a) / n
    ulp = float(np.spacing(max(abs(win.a), abs(win.b))))
    if not h > 64.0 * ulp:
        raise ValueError(
            f"{name}={n} cells on [{win.a!r}, {win.b!r}] would be {h:.3g} wide, within 64 "
            f"floating-point spacings ({ulp:.3g}) of x: g2={g2!r} is too small for double "
            f"precision on this window"
        )


# =========================================================================== the grid
class RateMatrix(NamedTuple):
    r"""The symmetric rate matrix :math:`M = -W^{-1/2} A W^{1/2}` of a :class:`Grid`.

    ``diag`` and ``off`` are its diagonal and off-diagonal; ``right[k]`` and
    ``left[k]`` are the rates :math:`k \to k+1` and :math:`k+1 \to k` of the
    (non-symmetric) generator ``A``.
    """

    diag: np.ndarray
    off: np.ndarray
    right: np.ndarray
    left: np.ndarray


@dataclass(frozen=True)
class Grid:
    r"""``n`` equal cells on ``[a, b]`` with the fitted potential differences of a mode.

    Attributes
    ----------
    model : Model
        The mode.
    g2 : float
        Noise strength :math:`g^2`.
    x : ndarray, shape (n,)
        Cell centres :math:`x_k = a + (k + 1/2) h`.
    h : float
        Cell width.
    a, b : float
        Ends of the grid.
    delta : ndarray, shape (n - 1,)
        :math:`\Delta_k = (V(x_{k+1}) - V(x_k))/g^2`.
    logw : ndarray, shape (n,)
        :math:`-(V(x_k) - V_{min})/g^2` up to a constant, maximum 0.
    cut : tuple of bool
        Whether each end is a zero-flux cut (not a reflecting end of the model).
    from_drift : bool
        Whether ``delta`` came from quadrature of the drift.
    """

    model: Model
    g2: float
    x: np.ndarray
    h: float
    a: float
    b: float
    delta: np.ndarray
    logw: np.ndarray
    cut: tuple[bool, bool]
    from_drift: bool

    @property
    def n(self) -> int:
        """Number of cells."""
        return int(self.x.size)

    def rate_matrix(self) -> RateMatrix:
        """Diagonal and off-diagonal of the symmetric rate matrix, and the edge rates."""
        c = self.g2 / self.h**2
        right, left = edge_rates(self.delta, c)
        d = np.zeros(self.x.size)
        d[:-1] += right
        d[1:] += left
        e = -c * sinhc_half(self.delta)
        return RateMatrix(d, e, right, left)

    def doubled(self) -> Grid:
        """The grid with ``2 n`` cells on the same interval with the same ends."""
        win = Window(self.a, self.b, self.cut)
        return make_grid(self.model, self.g2, 2 * self.n, domain=win, from_drift=self.from_drift)


def make_grid(
    model: Model,
    g2: float,
    n: int | None,
    *,
    domain: Domain | Window = None,
    from_drift: bool = False,
    n_min: int = 3,
    default_n: int = 2000,
    floats_per_cell: float = 12.0,
) -> Grid:
    """Check the arguments and build the :class:`Grid` (see :func:`grid`).

    ``n=None`` adapts the size to the model (:func:`cells`); the memory of
    ``floats_per_cell`` numbers per cell is checked before anything is allocated.
    """
    model = check_model(model)
    g2 = check_positive("g2", g2)
    win = window(model, g2, domain)
    n = cells(model, g2, win, n, default=default_n, n_min=n_min)
    check_spacing("n", n, g2, win)
    check_memory("n", n, floats_per_cell * n, "the grid and the solution on it")
    a, b, cut = win
    h = (b - a) / n
    x = a + (np.arange(n) + 0.5) * h
    if from_drift:
        delta = potential_differences(model, x[:-1], x[1:], g2, from_drift=True)
        logw = np.concatenate(([0.0], -np.cumsum(delta)))
    else:
        v = model.potential(x) / g2
        delta = np.diff(v)
        logw = -(v - v.min())
    logw = logw - logw.max()
    if not (np.all(np.isfinite(delta)) and np.all(np.isfinite(logw))):
        raise ValueError(f"the potential of {model!r} is not finite on the grid {a!r} ... {b!r}")
    return Grid(model, g2, x, h, a, b, delta, logw, cut, bool(from_drift))


def grid(model: Model, g2: float, *, n: int | None = None, domain: Domain = None) -> np.ndarray:
    r"""The cell centres used by :func:`stationary`, :func:`evolve` and :func:`relaxation_rates`.

    ``n`` equal cells on ``domain`` (default: the model's domain with
    natural ends and walls cut where :math:`(V - V_{min})/g^2 = 50`).  The cells
    must resolve the model: at least one cell across the narrowest width
    :math:`\sqrt{g^2/|V''|}` at a fixed point inside the window
    (:func:`narrowest_width`); without ``n`` there are 2000 cells, or more to put 8
    across it.

    Parameters
    ----------
    model : Model
        The mode.
    g2 : float
        Noise strength :math:`g^2 > 0`.
    n : int, optional
        Number of cells, ``>= 3``; default 2000, or more to resolve the model.
    domain : tuple of float, optional
        ``(low, high)`` inside the model's domain.

    Returns
    -------
    ndarray, shape (n,)
        :math:`x_k = a + (k + 1/2) h`, :math:`h = (b - a)/n`.

    Examples
    --------
    >>> from fpsolve.models import HarmonicModel
    >>> from fpsolve.fokker_planck import grid
    >>> x = grid(HarmonicModel(1.0), 0.02, n=40)   # ends where x^2/(2 g2) = 50: +-sqrt(2)
    >>> round(float(x[0]), 6), round(float(x[1] - x[0]), 6)
    (-1.378858, 0.070711)
    >>> from fpsolve.models import RBMModel
    >>> grid(RBMModel(4.0, 9.0), 0.5).size, grid(RBMModel(4.0, 9.0), 1e-8).size
    (2000, 223687)
    """
    return make_grid(model, g2, n, domain=domain).x


# =========================================================================== levels
def refine_levels(m: RateMatrix, lam: npt.ArrayLike, scale: np.ndarray | None = None) -> np.ndarray:
    """Refine eigenvalues of M = B^T B (B: rows -sqrt(right), sqrt(left)) found by bisection.

    Bisection gives each eigenvalue to ``eps * ||M||`` absolutely, which on fine grids is
    far above ``eps * lambda``.  Two steps of inverse iteration at the bisection value give
    the eigenvector, and the Rayleigh quotient ``||B v||^2 / ||v||^2`` (a sum of
    squares, accurate to a few ulp relative) gives the eigenvalue.  ``scale`` (optional, per node)
    turns ``v`` into the ``B`` variables: ``B`` acts on ``v / scale``.
    """
    d, e = m.diag, m.off
    n = d.size
    sr, sl = np.sqrt(m.right), np.sqrt(m.left)
    out = np.array(lam, dtype=np.float64, copy=True)
    rng = np.random.default_rng(12345)
    start = rng.uniform(0.5, 1.5, n)
    ab = np.zeros((3, n))
    ab[0, 1:] = e
    ab[2, :-1] = e
    for k, sigma in enumerate(np.asarray(lam, dtype=np.float64)):
        ab[1] = d - sigma
        v = start.copy()
        try:
            for _ in range(2):
                with np.errstate(all="ignore"):
                    v = solve_banded((1, 1), ab, v, check_finite=False)
                nv = np.linalg.norm(v)
                if not (np.isfinite(nv) and nv > 0):
                    raise np.linalg.LinAlgError
                v /= nv
        except np.linalg.LinAlgError:
            continue  # keep the bisection value
        y = v if scale is None else v / scale
        bv = sl * y[1:] - sr * y[:-1]
        out[k] = float(bv @ bv)
    return out


RICHARDSON_AGREEMENT = 0.05
"""Richardson extrapolation over ``(n, 2n)`` needs every level on the two grids to agree
to this fraction of its value (else the coarse grid does not resolve the levels)."""


def richardson_levels(
    coarse: np.ndarray, fine: np.ndarray, *, symbol: str, name: str, n: int
) -> np.ndarray:
    """``(4 fine - coarse)/3`` of levels ``1, 2, ...`` found on ``n`` and ``2n`` cells.

    Raises ValueError naming ``name`` if a level differs between the grids by more than
    :data:`RICHARDSON_AGREEMENT` of its value: the expansion in :math:`h^2` that the
    extrapolation removes does not hold there.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(coarse - fine) / np.abs(fine)
    bad = np.flatnonzero(~(rel <= RICHARDSON_AGREEMENT))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"richardson=True needs grids that resolve the levels: {symbol}_{k + 1} is "
            f"{coarse[k]:.6g} on {name}={n} and {fine[k]:.6g} on {2 * n} (they differ by "
            f"{rel[k]:.2g} of it, more than {RICHARDSON_AGREEMENT:g}); pass a larger {name} "
            f"or richardson=False"
        )
    return (4.0 * fine - coarse) / 3.0


def check_levels(levels: np.ndarray, *, symbol: str, name: str, n: int, norm: float) -> None:
    """Raise unless levels ``1, 2, ...`` are non-negative and increasing up to round-off.

    Round-off: ``16 eps norm`` with ``norm`` the largest diagonal entry of the matrices
    the levels came from (bisection finds eigenvalues to ``eps * ||M||``; exactly
    degenerate or tunnelling-split levels may come out in either order within it).
    """
    atol = 16.0 * np.finfo(np.float64).eps * norm
    bad = np.flatnonzero(~(levels >= -atol))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"{symbol}_{k + 1} = {levels[k]:.6g} is negative: the grid of {name}={n} does "
            f"not resolve the levels; pass a larger {name}"
        )
    drop = np.flatnonzero(np.diff(levels) < -atol)
    if drop.size:
        k = int(drop[0])
        raise ValueError(
            f"{symbol}_{k + 1} = {levels[k]:.10g} > {symbol}_{k + 2} = {levels[k + 1]:.10g}: "
            f"the levels of {name}={n} are not in increasing order (near-degenerate levels "
            f"extrapolated apart); pass a larger {name} or richardson=False"
        )


# =========================================================================== densities
def initial_values(
    p0: InitialDensity,
    x: np.ndarray | tuple[np.ndarray, ...],
    cut: tuple[bool, bool],
    name: str = "p0",
    shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Values of an initial density at the nodes, checked finite and non-negative.

    ``p0`` is a distribution with ``pdf``, a callable (called with ``x``, or with
    the arrays of a mesh ``x``) or an array of the grid's shape.
    """
    if hasattr(p0, "pdf") and callable(p0.pdf):
        vals = p0.pdf(x)
    elif callable(p0):
        vals = p0(x) if not isinstance(x, tuple) else p0(*x)
    else:
        vals = p0
    if shape is None:
        assert isinstance(x, np.ndarray)
        shape = x.shape
    try:
        vals = np.asarray(vals, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a callable, a distribution with .pdf or an array") from exc
    if vals.shape != shape:
        raise ValueError(f"{name} must give values of shape {shape} on the grid, got {vals.shape}")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} must be finite on the grid (it is not normalisable)")
    if np.any(vals < 0):
        k = np.unravel_index(int(np.argmin(vals)), vals.shape)
        raise ValueError(f"{name} must be non-negative; got {float(vals[k])!r} at grid index {k}")
    return vals


def normalise(vals: np.ndarray, cell: float, name: str = "p0") -> np.ndarray:
    """``vals`` divided by its mass ``cell * sum(vals)``, which must be positive and finite."""
    mass = float(np.sum(vals) * cell)
    if not (mass > 0 and math.isfinite(mass)):
        raise ValueError(f"{name} is not normalisable on the grid: its mass is {mass!r}")
    return vals / mass


def check_decay(vals: np.ndarray, cut: tuple[bool, bool], name: str = "p0") -> None:
    """Raise unless ``vals`` has fallen below ``1e-8`` of its peak at each cut end."""
    peak = float(vals.max())
    for side, is_cut, v in (("low", cut[0], vals[0]), ("high", cut[1], vals[-1])):
        if is_cut and v > 1e-8 * peak:
            raise ValueError(
                f"{name} does not decay within the grid: at its {side} end it is "
                f"{v / peak:.3g} of its peak (need <= 1e-8); its mass lies outside the grid, "
                f"pass a wider domain"
            )


# =========================================================================== times
def check_times(times: npt.ArrayLike) -> np.ndarray:
    """Output times as a float array: non-empty, 1-d, sorted, ``>= 0`` (``inf`` allowed)."""
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times must be a non-empty 1-d array, got shape {t.shape}")
    if np.any(np.isnan(t)) or np.any(t < 0):
        raise ValueError(f"times must be >= 0 (not NaN), got {t.tolist()!r}")
    if np.any(np.diff(t) < 0):
        raise ValueError("times must be sorted in increasing order")
    return t


def default_dt(models: Sequence[Model]) -> float:
    """The default time step ``0.005 / max|V''|`` over the models' fixed points."""
    scale = 0.0
    for m in models:
        try:
            for fp in m.fixed_points():
                scale = max(scale, abs(fp.curvature))
        except (ValueError, RuntimeError):  # pragma: no cover
            pass
    return 0.005 / (scale if scale > 0 else 1.0)


def stepper_plan(t: np.ndarray, dt: float) -> list[tuple[int, int, float]]:
    """``(output index, n_steps, step)`` per output time: equal steps of at most ``dt``.

    An infinite time gets ``n_steps = 0`` (its output is the stationary state).
    """
    plan = []
    prev = 0.0
    for k, tk in enumerate(t):
        if not math.isfinite(tk):
            plan.append((k, 0, 0.0))
            continue
        span = tk - prev
        m = math.ceil(span / dt - 1e-9) if span > 0 else 0
        plan.append((k, m, span / m if m else 0.0))
        prev = tk
    return plan


def march(
    plan: list[tuple[int, int, float]],
    t: np.ndarray,
    p: np.ndarray,
    ps: np.ndarray,
    euler: Callable[[np.ndarray, float, int], None] | None,
    crank_nicolson: Callable[[np.ndarray, float, int, int], None],
    *,
    progress: bool,
    desc: str,
) -> np.ndarray:
    """Advance ``p`` in place through the output times of ``plan``; ``(n_times, *p.shape)``.

    With ``euler`` every step is ``euler(p, dt, n_steps)``; otherwise
    ``crank_nicolson(p, dt, n_steps, n_euler)`` after a Rannacher start (four
    backward-Euler half steps in the first interval, two if it has one step).
    Infinite times get ``ps``.
    """
    from tqdm.auto import tqdm

    out = np.empty((t.size, *p.shape))
    first = True
    for k, n_steps, step in tqdm(plan, disable=not progress, desc=desc):
        if not math.isfinite(t[k]):
            out[k] = ps
            continue
        if n_steps:
            if euler is not None:
                euler(p, step, n_steps)
            else:
                n_euler = 4 if (first and n_steps >= 2) else (2 if first else 0)
                crank_nicolson(p, step, n_steps - n_euler // 2, n_euler)
            first = False
        out[k] = p
    return out

r"""One mode: stationary density, relaxation rates and time evolution on the fitted grid.

See :mod:`fpsolve.fokker_planck` for the scheme and :mod:`fpsolve.fokker_planck.mesh`
for the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import linalg
from scipy.special import logsumexp

from fpsolve.checks import check_int, check_positive
from fpsolve.fokker_planck import _kernels as kern
from fpsolve.fokker_planck import limits
from fpsolve.fokker_planck.mesh import (
    Domain,
    Grid,
    InitialDensity,
    RateMatrix,
    check_decay,
    check_levels,
    check_times,
    default_dt,
    initial_values,
    make_grid,
    march,
    normalise,
    refine_levels,
    richardson_levels,
    stepper_plan,
)
from fpsolve.models import Model

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.lines import Line2D

__all__ = [
    "Evolution",
    "RelaxationRates",
    "Stationary",
    "evolve",
    "relaxation_rates",
    "stationary",
]

_EIGEN_MAX_N = 3000
_EIGEN_MAX_LOG_RATIO = math.log(1e6)
_METHODS = ("auto", "eigen", "cn", "euler")


# =========================================================================== stationary
@dataclass(frozen=True)
class Stationary:
    r"""Discrete stationary density of one mode, :math:`P_k \propto e^{-V(x_k)/g^2}`.

    Attributes
    ----------
    model : Model
        The mode.
    g2 : float
        Noise strength :math:`g^2`.
    x : ndarray, shape (n,)
        Cell centres.
    p : ndarray, shape (n,)
        Density at the nodes, normalised so that :math:`h\sum_k P_k = 1`.
    logp : ndarray, shape (n,)
        :math:`\log P_k` (finite even where ``p`` underflows).
    h : float
        Cell width.
    from_drift : bool
        Whether the potential differences came from quadrature of ``K``.
    """

    model: Model
    g2: float
    x: np.ndarray = field(repr=False)
    p: np.ndarray = field(repr=False)
    logp: np.ndarray = field(repr=False)
    h: float
    from_drift: bool

    @property
    def mean(self) -> float:
        """Mean :math:`h\\sum_k x_k P_k`."""
        return float(self.h * np.sum(self.x * self.p))

    @property
    def var(self) -> float:
        """Variance."""
        return float(self.h * np.sum((self.x - self.mean) ** 2 * self.p))

    def plot(self, ax: Axes | None = None, **kwargs) -> Line2D:
        """Plot the density; returns the line."""
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        kwargs.setdefault("label", f"FP stationary, $g^2$={self.g2:g}")
        (line,) = ax.plot(self.x, self.p, **kwargs)
        ax.set_xlabel("$x$")
        ax.set_ylabel("$P_s(x)$")
        return line


def stationary(
    model: Model,
    g2: float,
    *,
    n: int | None = None,
    domain: Domain = None,
    from_drift: bool = False,
) -> Stationary:
    r"""Stationary solution of the discrete one-mode Fokker-Planck equation, in O(n).

    The zero-flux solution of the fitted scheme,

    .. math::

        P_k = \frac{e^{-V(x_k)/g^2}}{h\sum_j e^{-V(x_j)/g^2}},

    exact at the nodes up to the normalisation; computed in log space.  With
    ``from_drift=True`` ``V`` is replaced by the cumulative Gauss-Legendre
    integral of ``-K`` (accurate to :math:`O(h^5)`).

    Parameters
    ----------
    model : Model
        The mode (drift :math:`K = -V'`, domain and boundaries).
    g2 : float
        Noise strength :math:`g^2 > 0`.
    n : int, optional
        Number of cells; default 2000, or more to put 8 cells across the
        narrowest width :math:`\sqrt{g^2/|V''|}` at a fixed point inside the
        window.  An explicit ``n`` must put at least one cell across it.
    domain : tuple of float, optional
        ``(low, high)``; must cover the mass (see :data:`COVER`).
    from_drift : bool, optional
        Use only the drift ``K`` (quadrature) instead of the potential.

    Returns
    -------
    Stationary

    Examples
    --------
    >>> from fpsolve.models import HarmonicModel
    >>> from fpsolve.fokker_planck import stationary
    >>> s = stationary(HarmonicModel(2.0), 0.5, n=400)
    >>> round(s.var, 6)   # g2 / omega
    0.25

    At small noise the default grid adapts to the width of the density:

    >>> from fpsolve.models import RBMModel
    >>> s = stationary(RBMModel(4.0, 9.0), 1e-8)
    >>> s.x.size, round(s.var / 3.2e-8, 6)   # g2 / Omega, Omega = 5/16
    (223687, 1.0)
    """
    g = make_grid(model, g2, n, domain=domain, from_drift=from_drift, floats_per_cell=14.0)
    logp = g.logw - logsumexp(g.logw) - math.log(g.h)
    return Stationary(g.model, g.g2, g.x, np.exp(logp), logp, g.h, g.from_drift)


# =========================================================================== spectrum
@dataclass(frozen=True)
class RelaxationRates:
    r"""Lowest relaxation rates :math:`\lambda_1 \le \lambda_2 \le \dots` of the one-mode FPE.

    Attributes
    ----------
    model : Model
        The mode.
    g2 : float
        Noise strength.
    rates : ndarray, shape (n_rates,)
        The non-zero rates :math:`\lambda_n = 2E_n`, ``n = 1..n_rates``
        (Richardson-extrapolated if ``richardson``).
    rates_n, rates_2n : ndarray
        Rates on ``n`` and on ``2n`` cells (``rates_2n`` is empty without Richardson).
    lambda0 : float
        The computed zero rate (0 up to round-off, ``~ eps * g2/h^2``).
    n : int
        Number of cells of the coarse grid.
    richardson : bool
        Whether ``rates = (4 rates_2n - rates_n)/3``.
    """

    model: Model
    g2: float
    rates: np.ndarray
    rates_n: np.ndarray = field(repr=False)
    rates_2n: np.ndarray = field(repr=False)
    lambda0: float
    n: int
    richardson: bool

    @property
    def times(self) -> np.ndarray:
        r"""Relaxation times :math:`1/\lambda_n`."""
        return 1.0 / self.rates

    def plot(self, ax: Axes | None = None, **kwargs) -> Line2D:
        """Plot the rates against their index; returns the line."""
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        kwargs.setdefault("marker", "o")
        (line,) = ax.plot(np.arange(1, self.rates.size + 1), self.rates, **kwargs)
        ax.set_xlabel("$n$")
        ax.set_ylabel(r"$\lambda_n$")
        return line


def _lowest_rates(g: Grid, k: int) -> tuple[np.ndarray, float]:
    """The ``k + 1`` lowest eigenvalues of ``M`` (refined) and its largest diagonal entry."""
    m = g.rate_matrix()
    lam = linalg.eigvalsh_tridiagonal(m.diag, m.off, select="i", select_range=(0, k))
    return refine_levels(m, lam), float(m.diag.max())


def relaxation_rates(
    model: Model,
    g2: float,
    n_rates: int = 5,
    *,
    n: int | None = None,
    domain: Domain = None,
    from_drift: bool = False,
    richardson: bool = True,
    force: bool = False,
) -> RelaxationRates:
    r"""Lowest relaxation rates of the one-mode Fokker-Planck operator.

    The rates are the eigenvalues of the symmetric tridiagonal matrix
    :math:`M = B^T B` (see the module docstring), :math:`\lambda_n = 2E_n` with
    :math:`E_n` the levels of :math:`H_{FP}` (:eq:`eq-hfp-expansion`).  The
    scheme is second order in :math:`h`; with ``richardson=True`` the rates on
    ``n`` and ``2n`` cells are combined as :math:`(4\lambda^{(2n)} -
    \lambda^{(n)})/3`, removing the :math:`h^2` term.  Cost: bisection on a
    tridiagonal matrix, :math:`O(n\,n_{rates})`, then two steps of inverse
    iteration per rate and the Rayleigh quotient :math:`\|Bv\|^2/\|v\|^2` (a sum of
    squares), which makes each rate accurate to a few ulp relative instead
    of :math:`\epsilon\|M\| \sim \epsilon g^2/h^2` absolute.

    Parameters
    ----------
    model : Model
        The mode.
    g2 : float
        Noise strength :math:`g^2 > 0`.
    n_rates : int, optional
        How many non-zero rates, ``>= 1``.
    n : int, optional
        Number of cells; default 2000, or more to put 8 cells across the
        narrowest width :math:`\sqrt{g^2/|V''|}` at a fixed point inside the
        window.  An explicit ``n`` must put at least one cell across it.  With
        Richardson: the cells of the coarse grid.
    domain : tuple of float, optional
        ``(low, high)``; must cover the mass.
    from_drift : bool, optional
        Use only ``K`` (quadrature) instead of ``V``.
    richardson : bool, optional
        Extrapolate over ``(n, 2n)``; refused (ValueError) when a rate differs
        between the two grids by more than 5% of its value (the grids do not
        resolve it).
    force : bool, optional
        Run even when cells times rates exceed
        :data:`~fpsolve.fokker_planck.limits.MAX_NODE_LEVELS`.

    Returns
    -------
    RelaxationRates
        The rates are checked positive and increasing (ValueError otherwise).

    Examples
    --------
    >>> from fpsolve.models import HarmonicModel
    >>> from fpsolve.fokker_planck import relaxation_rates
    >>> r = relaxation_rates(HarmonicModel(1.5), 0.3, 3, n=800)
    >>> [round(float(v), 6) for v in r.rates]   # n * Omega
    [1.5, 3.0, 4.5]
    """
    n_rates = check_int("n_rates", n_rates, minimum=1)
    scale = 3 if richardson else 1
    g = make_grid(model, g2, n, domain=domain, from_drift=from_drift, floats_per_cell=24.0 * scale)
    if n_rates >= g.x.size:
        raise ValueError(f"n_rates must be < n={g.x.size}, got {n_rates}")
    work = scale * g.n * (n_rates + 1)
    limits.check_work("n", g.n, work, limits.MAX_NODE_LEVELS, "cells x rates", force=force)
    r1, norm = _lowest_rates(g, n_rates)
    if richardson:
        r2, norm = _lowest_rates(g.doubled(), n_rates)
        rates = richardson_levels(r1[1:], r2[1:], symbol="lambda", name="n", n=g.n)
    else:
        r2 = np.empty(0)
        rates = r1[1:].copy()
    check_levels(rates, symbol="lambda", name="n", n=g.n, norm=norm)
    return RelaxationRates(
        g.model, g.g2, rates, r1[1:], r2[1:], float(r1[0]), g.x.size, bool(richardson)
    )


# =========================================================================== evolution
@dataclass(frozen=True)
class Evolution:
    r"""A one-mode density :math:`P(x, t)` at the requested times.

    Attributes
    ----------
    model : Model
        The mode.
    g2 : float
        Noise strength.
    x : ndarray, shape (n,)
        Nodes.
    t : ndarray, shape (n_times,)
        Output times.
    p : ndarray, shape (n_times, n)
        Density at the nodes, ``p[k]`` at time ``t[k]``.
    mass : ndarray, shape (n_times,)
        :math:`h\sum_j P_j(t)` (1 up to round-off, or up to the truncation of
        the eigen-expansion for :mod:`fpsolve.hfp`).
    h : float
        Cell width (node spacing).
    method : str
        ``"eigen"``, ``"cn"``, ``"euler"`` or ``"hfp"``.
    dt : float or None
        Largest time step used (``None`` for the exact-in-time methods).
    """

    model: Model
    g2: float
    x: np.ndarray = field(repr=False)
    t: np.ndarray
    p: np.ndarray = field(repr=False)
    mass: np.ndarray = field(repr=False)
    h: float
    method: str
    dt: float | None

    @property
    def mean(self) -> np.ndarray:
        """Mean of ``x`` at each time."""
        return self.h * (self.p @ self.x) / self.mass

    @property
    def var(self) -> np.ndarray:
        """Variance of ``x`` at each time."""
        m2 = self.h * (self.p @ self.x**2) / self.mass
        return m2 - self.mean**2

    def plot(self, ax: Axes | None = None, max_curves: int = 8, **kwargs) -> list[Line2D]:
        """Plot up to ``max_curves`` snapshots; returns the lines."""
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        idx = np.unique(np.linspace(0, self.t.size - 1, min(max_curves, self.t.size)).astype(int))
        cmap = plt.get_cmap("viridis")
        lines = []
        for j, k in enumerate(idx):
            (line,) = ax.plot(
                self.x,
                self.p[k],
                color=cmap(j / max(1, idx.size - 1)),
                label=f"t = {self.t[k]:.3g}",
                **kwargs,
            )
            lines.append(line)
        ax.set_xlabel("$x$")
        ax.set_ylabel("$P(x, t)$")
        ax.legend(fontsize="small")
        return lines


def evolve(
    model: Model,
    g2: float,
    p0: InitialDensity,
    times: npt.ArrayLike,
    *,
    n: int | None = None,
    domain: Domain = None,
    method: str = "auto",
    dt: float | None = None,
    from_drift: bool = False,
    richardson: bool = False,
    progress: bool = False,
    force: bool = False,
) -> Evolution:
    r"""Evolve a one-mode density with the fitted finite-volume Fokker-Planck operator.

    Solves :math:`dP/dt = A P` (the space-discretised
    :math:`\partial_t P = \partial_x[(g^2\partial_x - K)P]`, see the module
    docstring) from :math:`P(x, 0) = p_0(x)` and returns the density at the
    requested ``times``.

    Time integration (``method``):

    ``"eigen"``
        Exact in time: :math:`P(t) = W^{1/2} U e^{-\Lambda t} U^T W^{-1/2} P(0)`
        from the eigenpairs of the symmetric tridiagonal :math:`M` with
        :math:`\lambda \le \Lambda`, where :math:`e^{-\Lambda t_{min}}\|W^{-1/2}P(0)\|_2
        = \epsilon \max P(0)` at the earliest positive output time
        :math:`t_{min}`: the modes left out change no output by more than that
        (all eigenpairs if more than half are needed); ``t = 0`` returns
        :math:`P(0)`.  Cost :math:`O(n k)` for :math:`k` eigenpairs; its round-off
        is amplified by
        :math:`\max_k P_0(x_k) w_k^{-1/2} / \max_k P_0(x_k)` (with
        :math:`\max w = 1`), so it is used by ``"auto"`` only when
        ``n <= 3000`` and that factor is below :math:`10^6` (above it,
        ``method="eigen"`` raises ValueError).
    ``"cn"``
        Crank-Nicolson with a Rannacher start (four backward-Euler half steps),
        second order in ``dt``, :math:`O(n)` per step.  Not guaranteed
        non-negative for large ``dt``.
    ``"euler"``
        Backward Euler: first order, unconditionally non-negative (M-matrix).

    Every method conserves the mass to round-off.  ``times`` may contain
    ``numpy.inf``: the discrete stationary state.

    Parameters
    ----------
    model : Model
        The mode.
    g2 : float
        Noise strength :math:`g^2 > 0`.
    p0 : callable, distribution with ``pdf`` or array_like
        Initial density: ``p0(x)`` is evaluated at the nodes (an array must
        have shape ``(n,)``, values at :func:`grid`).  It must be finite,
        non-negative, with positive mass, and decay (below ``1e-8`` of its
        peak) at cut ends; it is normalised on the grid.
    times : array_like
        Output times, sorted, ``>= 0``.
    n : int, optional
        Number of cells; default 800, or more to put 8 cells across the
        narrowest width :math:`\sqrt{g^2/|V''|}` at a fixed point inside the
        window.  An explicit ``n`` must put at least one cell across it.
    domain : tuple of float, optional
        ``(low, high)``; must cover the mass.
    method : {"auto", "eigen", "cn", "euler"}, optional
        Time integration.
    dt : float, optional
        Largest step for ``"cn"``/``"euler"``; default ``0.005 / max|V''|``
        over the fixed points.
    from_drift : bool, optional
        Use only ``K`` (quadrature) instead of ``V``.
    richardson : bool, optional
        Also solve on ``2n`` cells, interpolate that solution to the ``n``
        nodes with 4-point (:math:`O(h^4)`) interpolation and return
        :math:`(4P^{(2n)} - P^{(n)})/3`, which removes the :math:`h^2` error
        term.  The result is no longer guaranteed non-negative and its
        mass is 1 only up to the interpolation error (see ``mass``).
        Needs a callable ``p0``.
    progress : bool, optional
        Show a tqdm progress bar over the output times.
    force : bool, optional
        Run ``"cn"``/``"euler"`` even when time steps times cells exceed
        :data:`~fpsolve.fokker_planck.limits.MAX_CELL_STEPS` (refused otherwise,
        before the first step).

    Returns
    -------
    Evolution

    Examples
    --------
    >>> import numpy as np
    >>> from fpsolve.models import HarmonicModel
    >>> from fpsolve.fokker_planck import evolve
    >>> start = lambda x: np.exp(-((x - 2.0) ** 2) / 0.02)
    >>> ev = evolve(HarmonicModel(1.0), 0.5, start, [0.0, 1.0], n=800)
    >>> round(float(ev.mean[1]), 4)   # 2 exp(-t)
    0.7358
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    t = check_times(times)
    if dt is not None:
        dt = check_positive("dt", dt)
    if richardson and not callable(p0) and not hasattr(p0, "pdf"):
        raise ValueError("richardson=True needs p0 as a callable or a distribution, not an array")
    per_cell = 14.0 + t.size * (6.0 if richardson else 1.0)
    g = make_grid(
        model, g2, n, domain=domain, from_drift=from_drift, default_n=800, floats_per_cell=per_cell
    )
    scale = 3 if richardson else 1  # cells of the (n, 2n) pair, in units of n
    out, method, used_dt = _evolve_on(g, p0, t, method, dt, progress, force=force, scale=scale)
    if richardson:
        fine = g.doubled()
        out_fine, _, _ = _evolve_on(fine, p0, t, method, dt, progress, force=True, scale=1)
        out = (4.0 * _fine_to_coarse(out_fine) - out) / 3.0
    mass = g.h * out.sum(axis=1)
    return Evolution(g.model, g.g2, g.x, t, out, mass, g.h, method, used_dt)


def _fine_to_coarse(f):
    """Cubic (O(h^4)) interpolation from 2n cell centres to the n coarse cell centres."""
    out = np.empty((*f.shape[:-1], f.shape[-1] // 2))
    out[..., 1:-1] = (-f[..., 1:-3:2] + 9 * f[..., 2:-2:2] + 9 * f[..., 3:-1:2] - f[..., 4::2]) / 16
    w = np.array([0.3125, 0.9375, -0.3125, 0.0625])
    out[..., 0] = f[..., :4] @ w
    out[..., -1] = f[..., :-5:-1] @ w
    return out


def _evolve_on(g: Grid, p0, t, method, dt, progress, *, force: bool, scale: int):
    """Check ``p0``, choose the method and evolve on one grid: ``(p, method, dt)``.

    Time stepping is refused unless ``force`` when its steps times ``scale * n`` cells
    exceed ``limits.MAX_CELL_STEPS``.
    """
    vals = initial_values(p0, g.x, g.cut)
    vals = normalise(vals, g.h)
    check_decay(vals, g.cut)
    support = vals > 0
    # round-off of the eigen route is amplified by max_j P0_j w_j^{-1/2} / max_j P0_j
    with np.errstate(divide="ignore"):
        amp = np.log(vals[support]) - 0.5 * g.logw[support] - math.log(vals.max())
    log_ratio = float(amp.max())
    if method == "auto":
        method = (
            "eigen" if (g.x.size <= _EIGEN_MAX_N and log_ratio <= _EIGEN_MAX_LOG_RATIO) else "cn"
        )
    if method == "eigen" and log_ratio > _EIGEN_MAX_LOG_RATIO:
        raise ValueError(
            f"method='eigen' cannot represent this initial density: round-off would be "
            f"amplified by exp({log_ratio:.3g}); use method='cn' or 'euler'"
        )
    ps = np.exp(g.logw - logsumexp(g.logw) - math.log(g.h))
    if method == "eigen":
        return _evolve_eigen(g, vals, t, ps, progress), method, None
    name, value = (
        ("dt", dt) if dt is not None else ("times", float(np.max(t[np.isfinite(t)], initial=0)))
    )
    if dt is None:
        dt = default_dt([g.model])
    plan = stepper_plan(t, dt)
    steps = sum(step[1] for step in plan)
    what = f"cell updates ({steps:.3g} time steps of at most dt={dt:.3g} on {scale * g.n} cells)"
    limits.check_work(name, value, steps * scale * g.n, limits.MAX_CELL_STEPS, what, force=force)
    return _evolve_steps(g, vals, t, ps, method, plan, progress), method, float(dt)


def _evolve_eigen(g: Grid, vals, t, ps, progress):
    """``P(t) = W^{1/2} U exp(-Lambda t) U^T W^{-1/2} P(0)`` from the slow eigenpairs of ``M``.

    Only the eigenpairs with ``lambda <= cutoff`` (:func:`_eigen_cutoff`) are computed;
    the others change no output by more than ``eps * max P(0)``.  ``t = 0`` gives
    ``P(0)`` itself.
    """
    from tqdm.auto import tqdm

    half = 0.5 * g.logw
    support = vals > 0
    q0 = np.zeros_like(vals)
    q0[support] = vals[support] * np.exp(-half[support])
    positive = t[(t > 0) & np.isfinite(t)]
    out = np.empty((t.size, g.x.size))
    if positive.size:
        lam, u = _slow_modes(g.rate_matrix(), _eigen_cutoff(q0, vals, float(positive[0])))
        lam[0] = 0.0
        c = u.T @ q0
        sw = np.exp(half)
    for k in tqdm(range(t.size), disable=not progress, desc="fp evolve"):
        if not np.isfinite(t[k]):
            out[k] = ps
        elif t[k] == 0.0:
            out[k] = vals
        else:
            out[k] = sw * (u @ (np.exp(-lam * t[k]) * c))
    return out


def _eigen_cutoff(q0: np.ndarray, vals: np.ndarray, t_min: float) -> float:
    r"""The rate above which eigenpairs are negligible at every time ``>= t_min``.

    With :math:`q_0 = W^{-1/2}P(0)` and :math:`w \le 1`, the modes with
    :math:`\lambda > \Lambda` change :math:`P(t)` by at most
    :math:`e^{-\Lambda t}\|q_0\|_2`; :math:`\Lambda` makes that
    :math:`\epsilon \max P(0)` at :math:`t_{min}`.
    """
    ratio = float(np.linalg.norm(q0)) / float(vals.max())
    return (math.log(ratio) - math.log(np.finfo(np.float64).eps)) / t_min


def _slow_modes(m: RateMatrix, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of ``M`` with eigenvalue below ``cutoff`` (all of them if that is most)."""
    n = m.diag.size
    k = kern.sturm_count(m.diag, m.off, cutoff)
    k = n if 2 * k >= n else max(k, 1)
    limits.check_memory("n", n, 3.0 * n * k, f"{k} eigenvectors of {n} entries")
    if k == n:
        return linalg.eigh_tridiagonal(m.diag, m.off)
    return linalg.eigh_tridiagonal(m.diag, m.off, select="i", select_range=(0, k - 1))


def _evolve_steps(g: Grid, vals, t, ps, method, plan, progress):
    """Backward Euler (``"euler"``) or Crank-Nicolson after a Rannacher start (``"cn"``)."""
    m = g.rate_matrix()
    rates = kern.LineRates(m.right, m.left)
    work = kern.line_work(g.x.size)

    def euler(p, dt, n_steps):
        kern.backward_euler_line(rates, p, dt, n_steps, work)

    def crank_nicolson(p, dt, n_steps, n_euler):
        kern.crank_nicolson_line(rates, p, dt, n_steps, n_euler, work)

    stepper = euler if method == "euler" else None
    p = vals.copy()
    return march(plan, t, p, ps, stepper, crank_nicolson, progress=progress, desc="fp evolve")

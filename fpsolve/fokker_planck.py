r"""Finite-volume Fokker-Planck solver for one mode and for two coupled modes.

One mode (docs/theory.md section 2 with one eigenvalue), time ``t`` in the units of
the model's drift:

.. math::

    \partial_t P = \partial_x\left[\left(g^2 \partial_x - K(x)\right) P\right],
    \qquad K = -V'.

The domain is cut into ``n`` equal cells with nodes at the cell centres.  The
flux through the face between nodes ``k`` and ``k+1`` is the exponentially
fitted (Scharfetter-Gummel) flux, exact for a flux that is constant across the
edge,

.. math::

    J_{k+1/2} = \frac{g^2}{h}\left[B(\Delta_k) P_k - B(-\Delta_k) P_{k+1}\right],
    \qquad \Delta_k = \frac{V(x_{k+1}) - V(x_k)}{g^2}, \qquad B(z) = \frac{z}{e^z - 1}.

Consequences: the mass :math:`h\sum_k P_k` is conserved to round-off (the
rate matrix has zero column sums), the off-diagonal rates are positive (an
M-matrix: implicit steps keep densities non-negative), and the discrete
stationary state is :math:`P_k \propto e^{-V(x_k)/g^2}` exactly at the nodes.
With ``from_drift=True`` the differences :math:`\Delta_k` are computed as
:math:`-\int K\,dx/g^2` by 3-point Gauss-Legendre quadrature across each cell
(error :math:`O(h^6)` per edge), so only ``K`` is used and the stationary state
at the nodes is accurate to :math:`O(h^5)`.  All quantities are functions of
the differences :math:`\Delta_k`, so :math:`g^2 = 10^{-3}` neither overflows nor
produces NaN; normalisation is done in log space.

Boundaries: a ``"reflecting"`` end of the model is a zero-flux face of the
first/last cell; ``"natural"`` ends and ``"wall"`` ends are cut where
:math:`(V - V_{min})/g^2 = 50` (the stationary density has fallen by
:math:`e^{-50}`) and the cut is a zero-flux face.

Symmetrised form: with :math:`w_k = e^{-V(x_k)/g^2}`,
:math:`M = W^{-1/2}(-A)W^{1/2}` is symmetric tridiagonal with off-diagonal
:math:`-(g^2/h^2)\,s(\Delta_k)`, :math:`s(z) = (z/2)/\sinh(z/2)`, and
:math:`M = B^T B` with a bidiagonal :math:`B` (the discrete
:math:`L = g\partial_x + V'/(2g)` of :mod:`fpsolve.hfp`).  Its eigenvalues are the
relaxation rates :math:`\lambda_n = 2E_n`, :math:`\lambda_0 = 0`.

Two modes: :math:`P(x_1, x_2, t)` with the beta = 1 Coulomb repulsion,

.. math::

    \partial_t P = \sum_{i=1,2} \partial_i\left[\left(g_i^2\partial_i - K_i^{eff}\right)P\right],
    \qquad K_i^{eff} = K_i(x_i) + \frac{g_i^2}{x_i - x_j},

on a square grid with the same fitted fluxes in each direction, built from
:math:`F = V_1/g_1^2 + V_2/g_2^2 - \log|x_1 - x_2|`; the stationary state at the
nodes is exactly the Coulomb gas :math:`\propto |x_1 - x_2|
e^{-V_1/g_1^2 - V_2/g_2^2}`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg
from scipy.special import logsumexp

from fpsolve import _fp_core as core
from fpsolve.checks import check_int, check_positive, check_real
from fpsolve.models import Model, Modes

__all__ = [
    "COVER",
    "Evolution",
    "RelaxationRates",
    "Stationary",
    "TwoModeEvolution",
    "evolve",
    "evolve_two_modes",
    "grid",
    "relaxation_rates",
    "stationary",
]

COVER = 20.0
r"""A user ``domain`` must reach where :math:`(V - V_{min})/g^2 \ge` this value at
every end that is not a reflecting end of the model (else the grid does not
cover the mass)."""

_EIGEN_MAX_N = 3000
_EIGEN_MAX_LOG_RATIO = math.log(1e6)
_METHODS = ("auto", "eigen", "cn", "euler")


# =========================================================================== grids
@dataclass(frozen=True)
class _Grid:
    model: Model
    g2: float
    x: np.ndarray
    h: float
    a: float
    b: float
    delta: np.ndarray  # (V_{k+1} - V_k)/g2
    logw: np.ndarray  # -(V - V_min)/g2 up to a constant, max 0
    cut: tuple[bool, bool]  # whether each end is a cut (not a reflecting end)
    from_drift: bool


def _check_model(model) -> Model:
    if not isinstance(model, Model):
        raise TypeError(f"model must be a fpsolve.models.Model, got {model!r}")
    return model


def _window(model: Model, g2: float, domain) -> tuple[float, float, tuple[bool, bool]]:
    lo, hi = model.domain
    kinds = model.boundaries
    a, b, vmin = core.potential_window(model, g2)
    if domain is None:
        return a, b, (kinds[0] != "reflecting", kinds[1] != "reflecting")
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
    for end, is_cut, kind, mend in ((a, cut[0], kinds[0], lo), (b, cut[1], kinds[1], hi)):
        if not is_cut or (kind == "wall" and end == mend):
            continue
        excess = (float(model.potential(end)) - vmin) / g2
        if excess < COVER:
            raise ValueError(
                f"domain={domain!r} does not cover the mass of the stationary density: at "
                f"x={end!r} it is exp(-{excess:.3g}) of its peak, need below exp(-{COVER:g}); "
                f"widen the domain (default: {(a if end == a else b)!r} ... "
                f"{core.potential_window(model, g2)[:2]!r})"
            )
    return a, b, cut


def _make_grid(model, g2, n, domain, from_drift, *, n_min=3) -> _Grid:
    model = _check_model(model)
    g2 = check_positive("g2", g2)
    n = check_int("n", n, minimum=n_min)
    a, b, cut = _window(model, g2, domain)
    h = (b - a) / n
    x = a + (np.arange(n) + 0.5) * h
    if from_drift:
        delta = core.potential_differences(model, x[:-1], x[1:], g2, from_drift=True)
        logw = np.concatenate(([0.0], -np.cumsum(delta)))
    else:
        v = model.potential(x) / g2
        delta = np.diff(v)
        logw = -(v - v.min())
    logw = logw - logw.max()
    if not (np.all(np.isfinite(delta)) and np.all(np.isfinite(logw))):
        raise ValueError(f"the potential of {model!r} is not finite on the grid {a!r} ... {b!r}")
    return _Grid(model, g2, x, h, a, b, delta, logw, cut, bool(from_drift))


def grid(model: Model, g2: float, *, n: int = 2000, domain=None) -> np.ndarray:
    r"""The cell centres used by :func:`stationary`, :func:`evolve` and :func:`relaxation_rates`.

    ``n`` equal cells on ``domain`` (default: the model's domain with
    natural ends and walls cut where :math:`(V - V_{min})/g^2 = 50`).

    Parameters
    ----------
    model : Model
        The mode.
    g2 : float
        Noise strength :math:`g^2 > 0`.
    n : int, optional
        Number of cells, ``>= 3``.
    domain : tuple of float, optional
        ``(low, high)`` inside the model's domain.

    Returns
    -------
    ndarray, shape (n,)
        :math:`x_k = a + (k + 1/2) h`, :math:`h = (b - a)/n`.
    """
    return _make_grid(model, g2, n, domain, False).x


def _rates_matrix(g: _Grid):
    """Diagonal and off-diagonal of the symmetric rate matrix M = -W^{-1/2} A W^{1/2}."""
    c = g.g2 / g.h**2
    right, left = core.edge_rates(g.delta, c)
    d = np.zeros(g.x.size)
    d[:-1] += right
    d[1:] += left
    e = -c * core.sinhc_half(g.delta)
    return d, e, right, left


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

    def plot(self, ax=None, **kwargs):
        """Plot the density; returns the line."""
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        kwargs.setdefault("label", f"FP stationary, $g^2$={self.g2:g}")
        (line,) = ax.plot(self.x, self.p, **kwargs)
        ax.set_xlabel("$x$")
        ax.set_ylabel("$P_s(x)$")
        return line


def stationary(
    model: Model, g2: float, *, n: int = 2000, domain=None, from_drift: bool = False
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
        Number of cells.
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
    """
    g = _make_grid(model, g2, n, domain, from_drift)
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

    def plot(self, ax=None, **kwargs):
        """Plot the rates against their index; returns the line."""
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        kwargs.setdefault("marker", "o")
        (line,) = ax.plot(np.arange(1, self.rates.size + 1), self.rates, **kwargs)
        ax.set_xlabel("$n$")
        ax.set_ylabel(r"$\lambda_n$")
        return line


def _lowest_rates(g: _Grid, k: int) -> np.ndarray:
    d, e, right, left = _rates_matrix(g)
    lam = linalg.eigvalsh_tridiagonal(d, e, select="i", select_range=(0, k))
    return core.refine_levels(d, e, right, left, lam)


def relaxation_rates(
    model: Model,
    g2: float,
    n_rates: int = 5,
    *,
    n: int = 2000,
    domain=None,
    from_drift: bool = False,
    richardson: bool = True,
) -> RelaxationRates:
    r"""Lowest relaxation rates of the one-mode Fokker-Planck operator.

    The rates are the eigenvalues of the symmetric tridiagonal matrix
    :math:`M = B^T B` (see the module docstring), :math:`\lambda_n = 2E_n` with
    :math:`E_n` the levels of :math:`H_{FP}` (docs/theory.md section 5).  The
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
        Number of cells (of the coarse grid with Richardson).
    domain : tuple of float, optional
        ``(low, high)``; must cover the mass.
    from_drift : bool, optional
        Use only ``K`` (quadrature) instead of ``V``.
    richardson : bool, optional
        Extrapolate over ``(n, 2n)``.

    Returns
    -------
    RelaxationRates

    Examples
    --------
    >>> from fpsolve.models import HarmonicModel
    >>> from fpsolve.fokker_planck import relaxation_rates
    >>> r = relaxation_rates(HarmonicModel(1.5), 0.3, 3, n=800)
    >>> [round(float(v), 6) for v in r.rates]   # n * Omega
    [1.5, 3.0, 4.5]
    """
    n_rates = check_int("n_rates", n_rates, minimum=1)
    g = _make_grid(model, g2, n, domain, from_drift)
    if n_rates >= g.x.size:
        raise ValueError(f"n_rates must be < n={g.x.size}, got {n_rates}")
    r1 = _lowest_rates(g, n_rates)
    if richardson:
        g_fine = _make_grid(g.model, g.g2, 2 * g.x.size, (g.a, g.b), from_drift)
        g_fine = _Grid(**{**g_fine.__dict__, "cut": g.cut})
        r2 = _lowest_rates(g_fine, n_rates)
        rates = (4.0 * r2[1:] - r1[1:]) / 3.0
    else:
        r2 = np.empty(0)
        rates = r1[1:].copy()
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

    def plot(self, ax=None, max_curves: int = 8, **kwargs):
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


def _initial_values(p0, x, cut, name="p0", shape=None) -> np.ndarray:
    if hasattr(p0, "pdf") and callable(p0.pdf):
        vals = p0.pdf(x)
    elif callable(p0):
        vals = p0(x) if not isinstance(x, tuple) else p0(*x)
    else:
        vals = p0
    shape = x.shape if shape is None else shape
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


def _normalise(vals, cell, name="p0"):
    mass = float(np.sum(vals) * cell)
    if not (mass > 0 and math.isfinite(mass)):
        raise ValueError(f"{name} is not normalisable on the grid: its mass is {mass!r}")
    return vals / mass


def _check_decay(vals, cut, name="p0"):
    peak = float(vals.max())
    for side, is_cut, v in (("low", cut[0], vals[0]), ("high", cut[1], vals[-1])):
        if is_cut and v > 1e-8 * peak:
            raise ValueError(
                f"{name} does not decay within the grid: at its {side} end it is "
                f"{v / peak:.3g} of its peak (need <= 1e-8); its mass lies outside the grid, "
                f"pass a wider domain"
            )


def _check_times(times) -> np.ndarray:
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times must be a non-empty 1-d array, got shape {t.shape}")
    if np.any(np.isnan(t)) or np.any(t < 0):
        raise ValueError(f"times must be >= 0 (not NaN), got {t.tolist()!r}")
    if np.any(np.diff(t) < 0):
        raise ValueError("times must be sorted in increasing order")
    return t


def _rate_scale(models: Sequence[Model]) -> float:
    scale = 0.0
    for m in models:
        try:
            for fp in m.fixed_points():
                scale = max(scale, abs(fp.curvature))
        except (ValueError, RuntimeError):  # pragma: no cover
            pass
    return scale if scale > 0 else 1.0


def _stepper_plan(t, dt):
    """(interval index, n_steps, step) for each output interval with finite end."""
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


def evolve(
    model: Model,
    g2: float,
    p0,
    times,
    *,
    n: int = 800,
    domain=None,
    method: str = "auto",
    dt: float | None = None,
    from_drift: bool = False,
    richardson: bool = False,
    progress: bool = False,
) -> Evolution:
    r"""Evolve a one-mode density with the fitted finite-volume Fokker-Planck operator.

    Solves :math:`dP/dt = A P` (the space-discretised
    :math:`\partial_t P = \partial_x[(g^2\partial_x - K)P]`, see the module
    docstring) from :math:`P(x, 0) = p_0(x)` and returns the density at the
    requested ``times``.

    Time integration (``method``):

    ``"eigen"``
        Exact in time: :math:`P(t) = W^{1/2} U e^{-\Lambda t} U^T W^{-1/2} P(0)`
        from all eigenpairs of the symmetric tridiagonal :math:`M`.  Cost
        :math:`O(n^2)` memory; its round-off is amplified by
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
        Number of cells.
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
    g = _make_grid(model, g2, n, domain, from_drift)
    t = _check_times(times)
    if dt is not None:
        dt = check_positive("dt", dt)
    out, method, used_dt = _evolve_on(g, p0, t, method, dt, progress)
    if richardson:
        if not callable(p0) and not hasattr(p0, "pdf"):
            raise ValueError(
                "richardson=True needs p0 as a callable or a distribution, not an array"
            )
        fine = _make_grid(g.model, g.g2, 2 * g.x.size, (g.a, g.b), from_drift)
        fine = _Grid(**{**fine.__dict__, "cut": g.cut})
        out_fine, _, _ = _evolve_on(fine, p0, t, method, dt, progress)
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


def _evolve_on(g: _Grid, p0, t, method, dt, progress):
    vals = _initial_values(p0, g.x, g.cut)
    vals = _normalise(vals, g.h)
    _check_decay(vals, g.cut)
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
    d, e, right, left = _rates_matrix(g)
    out = np.empty((t.size, g.x.size))
    ps = np.exp(g.logw - logsumexp(g.logw) - math.log(g.h))
    finite = np.isfinite(t)
    from tqdm.auto import tqdm

    if method == "eigen":
        lam, u = linalg.eigh_tridiagonal(d, e)
        lam[0] = 0.0
        half = 0.5 * g.logw
        q0 = np.zeros_like(vals)
        q0[support] = vals[support] * np.exp(-half[support])
        c = u.T @ q0
        sw = np.exp(half)
        for k in tqdm(range(t.size), disable=not progress, desc="fp evolve"):
            out[k] = sw * (u @ (np.exp(-lam * t[k]) * c)) if finite[k] else ps
        used_dt = None
    else:
        if dt is None:
            dt = 0.005 / _rate_scale([g.model])
        p = vals.copy()
        tmp, tmp2, cp = np.empty_like(p), np.empty_like(p), np.empty_like(p)
        first = True
        for k, m, step in tqdm(_stepper_plan(t, dt), disable=not progress, desc="fp evolve"):
            if not finite[k]:
                out[k] = ps
                continue
            if m:
                if method == "euler":
                    core._step_line(right, left, p, step, -m, 0, tmp, tmp2, cp)
                else:
                    n_euler = 4 if (first and m >= 2) else (2 if first else 0)
                    n_cn = m - n_euler // 2
                    core._step_line(right, left, p, step, n_cn, n_euler, tmp, tmp2, cp)
                first = False
            out[k] = p
        used_dt = float(dt)
    return out, method, used_dt


# =========================================================================== two modes
@dataclass(frozen=True)
class TwoModeEvolution:
    r"""Density :math:`P(x_1, x_2, t)` of two coupled eigenvalues at the requested times.

    Attributes
    ----------
    modes : Modes
        The two modes (``modes[0]`` drives :math:`x_1`).
    g2 : tuple of float
        :math:`(g_1^2, g_2^2)`.
    x : ndarray, shape (n,)
        Nodes of each axis (the same for both).
    t : ndarray, shape (n_times,)
        Output times.
    p : ndarray, shape (n_times, n, n)
        ``p[k, i, j]`` = :math:`P(x_i, x_j, t_k)`; zero on the diagonal cells.
    mass : ndarray, shape (n_times,)
        :math:`h^2 \sum P`.
    sector_mass : tuple of float
        Mass in :math:`x_1 < x_2` and in :math:`x_1 > x_2` (each conserved:
        the eigenvalues never cross).
    h : float
        Node spacing.
    scheme : str
        ``"adi"`` or ``"euler"``.
    dt : float
        Largest time step.
    """

    modes: Modes
    g2: tuple[float, float]
    x: np.ndarray = field(repr=False)
    t: np.ndarray
    p: np.ndarray = field(repr=False)
    mass: np.ndarray = field(repr=False)
    sector_mass: tuple[float, float]
    h: float
    scheme: str
    dt: float

    def marginals(self) -> np.ndarray:
        """One-point densities of ``x1`` and ``x2``: shape ``(n_times, 2, n)``."""
        m1 = self.h * self.p.sum(axis=2)
        m2 = self.h * self.p.sum(axis=1)
        return np.stack([m1, m2], axis=1)

    def pooled_density(self) -> np.ndarray:
        r"""Pooled one-point density :math:`(\rho_1 + \rho_2)/2`: shape ``(n_times, n)``.

        Both eigenvalues are pooled (never sorted into modes by hand, docs/theory.md section 3).
        """
        return self.marginals().mean(axis=1)

    def spacing_density(self) -> tuple[np.ndarray, np.ndarray]:
        r"""Density of the spacing :math:`S = |x_1 - x_2|`.

        Returns
        -------
        s : ndarray, shape (n - 1,)
            :math:`S_k = k h`, ``k = 1..n-1``.
        density : ndarray, shape (n_times, n - 1)
            Mass at :math:`|i - j| = k` divided by ``h``.
        """
        n = self.x.size
        i, j = np.indices((n, n))
        k = np.abs(i - j).ravel()
        flat = self.p.reshape(self.t.size, -1) * self.h**2
        dens = np.zeros((self.t.size, n))
        for r in range(self.t.size):
            dens[r] = np.bincount(k, weights=flat[r], minlength=n)
        return self.h * np.arange(1, n), dens[:, 1:] / self.h

    def plot(self, ax=None, index: int = -1, **kwargs):
        """Colour map of :math:`P(x_1, x_2)` at ``t[index]``; returns the mesh."""
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        kwargs.setdefault("shading", "nearest")
        mesh = ax.pcolormesh(self.x, self.x, self.p[index].T, **kwargs)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_title(f"t = {self.t[index]:.3g}")
        ax.set_aspect("equal")
        return mesh


def _as_two_modes(modes) -> Modes:
    if isinstance(modes, Model):
        raise TypeError("modes must hold two models (a Modes or a sequence), got one Model")
    if not isinstance(modes, Modes):
        try:
            modes = Modes(list(modes))
        except TypeError as exc:
            raise TypeError(f"modes must be a Modes or a sequence of two Models: {exc}") from exc
    if len(modes) != 2:
        raise ValueError(f"modes must hold exactly 2 models, got {len(modes)}")
    return modes


def evolve_two_modes(
    modes,
    g2,
    p0: Callable | np.ndarray,
    times,
    *,
    n: int = 160,
    domain=None,
    scheme: str = "adi",
    dt: float | None = None,
    progress: bool = False,
) -> TwoModeEvolution:
    r"""Evolve the joint density of two coupled eigenvalues (beta = 1 Dyson Brownian motion).

    .. math::

        \partial_t P = \sum_{i=1,2}\partial_i\left[g_i^2\partial_i P
          - \left(K_i(x_i) + \frac{g_i^2}{x_i - x_j}\right)P\right]

    (docs/theory.md section 2) on an ``n x n`` grid of cell centres with
    exponentially fitted fluxes in each direction built from
    :math:`F = V_1/g_1^2 + V_2/g_2^2 - \log|x_1 - x_2|`.  The diagonal cells
    :math:`x_1 = x_2` carry no mass and no flux: for beta = 1 the two
    eigenvalues never meet, so the masses of the sectors :math:`x_1 < x_2` and
    :math:`x_1 > x_2` are each conserved.  The stationary state at the nodes
    is the Coulomb gas :math:`\propto |x_1 - x_2|\,e^{-V_1/g_1^2 - V_2/g_2^2}`
    in each sector, weighted by the sector's initial mass (``times`` may
    contain ``numpy.inf`` for it).

    Time stepping: ``"adi"`` is Peaceman-Rachford alternating directions
    (second order, tridiagonal solves along lines, :math:`O(n^2)` per step)
    after four split backward-Euler half steps; ``"euler"`` is split
    backward Euler (first order, non-negative).  Both conserve mass to
    round-off.

    Parameters
    ----------
    modes : Modes or sequence of two Model
        ``modes[0]`` drives :math:`x_1`, ``modes[1]`` drives :math:`x_2`.  Both
        must have the same domain.
    g2 : float or pair of float
        :math:`g_i^2 > 0`.
    p0 : callable or array_like
        ``p0(x1, x2)`` evaluated on the ``ij`` mesh of the nodes, or an
        ``(n, n)`` array.  Finite, non-negative, positive mass; it is set to
        zero on the diagonal cells and normalised.
    times : array_like
        Output times, sorted, ``>= 0`` (``inf`` allowed).
    n : int, optional
        Cells per axis.
    domain : tuple of float, optional
        ``(low, high)`` of each axis; default: the union of the two modes'
        windows (see :func:`grid`).
    scheme : {"adi", "euler"}, optional
        Time stepping.
    dt : float, optional
        Largest step; default ``0.005 / max|V_i''|`` over the fixed points.
    progress : bool, optional
        tqdm progress bar.

    Returns
    -------
    TwoModeEvolution
    """
    modes = _as_two_modes(modes)
    g2v = np.broadcast_to(np.asarray(g2, dtype=np.float64), (2,))
    g2s = tuple(check_positive("g2", float(v)) for v in g2v)
    n = check_int("n", n, minimum=4)
    if scheme not in ("adi", "euler"):
        raise ValueError(f"scheme must be 'adi' or 'euler', got {scheme!r}")
    m1, m2 = modes
    if m1.domain != m2.domain or m1.boundaries != m2.boundaries:
        raise ValueError(
            f"both modes must have the same domain and boundaries, got {m1.domain} "
            f"{m1.boundaries} and {m2.domain} {m2.boundaries}"
        )
    if domain is None:
        w1 = _window(m1, g2s[0], None)
        w2 = _window(m2, g2s[1], None)
        a, b = min(w1[0], w2[0]), max(w1[1], w2[1])
        cut = w1[2]
    else:
        a1, b1, cut = _window(m1, g2s[0], domain)
        _window(m2, g2s[1], domain)
        a, b = a1, b1
    h = (b - a) / n
    x = a + (np.arange(n) + 0.5) * h
    v1 = m1.potential(x) / g2s[0]
    v2 = m2.potential(x) / g2s[1]
    v1 -= v1.min()
    v2 -= v2.min()
    diff = x[:, None] - x[None, :]
    off = ~np.eye(n, dtype=bool)
    f = np.zeros((n, n))
    f[off] = (v1[:, None] + v2[None, :])[off] - np.log(np.abs(diff[off]))
    # rates along axis 0 (x1) and axis 1 (x2); edges touching the diagonal are closed
    d0 = f[1:, :] - f[:-1, :]
    d1 = f[:, 1:] - f[:, :-1]
    i0, j0 = np.indices(d0.shape)
    closed0 = (i0 == j0) | (i0 + 1 == j0)
    i1, j1 = np.indices(d1.shape)
    closed1 = (j1 == i1) | (j1 + 1 == i1)
    r0, l0 = core.edge_rates(np.where(closed0, 0.0, d0), g2s[0] / h**2)
    r1, l1 = core.edge_rates(np.where(closed1, 0.0, d1), g2s[1] / h**2)
    for arr, closed in ((r0, closed0), (l0, closed0), (r1, closed1), (l1, closed1)):
        arr[closed] = 0.0
    t = _check_times(times)
    mesh = tuple(np.meshgrid(x, x, indexing="ij"))
    vals = _initial_values(p0, mesh, cut, shape=(n, n))
    vals = np.where(off, vals, 0.0)
    vals = _normalise(vals, h * h)
    for axis in (0, 1):
        _check_decay(vals.max(axis=1 - axis), cut)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    lower = upper.T
    sector = (float(vals[upper].sum() * h * h), float(vals[lower].sum() * h * h))
    # stationary state per sector
    logw = np.where(off, -f, -np.inf)
    ps = np.zeros((n, n))
    for mask, mass in ((upper, sector[0]), (lower, sector[1])):
        if mass > 0:
            lw = logw[mask]
            ps[mask] = mass * np.exp(lw - logsumexp(lw)) / (h * h)
    dt = 0.005 / _rate_scale(list(modes)) if dt is None else check_positive("dt", dt)
    r0c, l0c = np.ascontiguousarray(r0), np.ascontiguousarray(l0)
    r1t, l1t = np.ascontiguousarray(r1.T), np.ascontiguousarray(l1.T)
    p = np.ascontiguousarray(vals)
    wa, wb, cp = np.empty((n, n)), np.empty((n, n)), np.empty((n, n))
    out = np.empty((t.size, n, n))
    from tqdm.auto import tqdm

    first = True
    for k, m, step in tqdm(_stepper_plan(t, dt), disable=not progress, desc="two-mode FP"):
        if not math.isfinite(t[k]):
            out[k] = ps
            continue
        if m:
            if scheme == "euler":
                core._step_adi(r0c, l0c, r1t, l1t, p, step, -m, 0, wa, wb, cp)
            else:
                n_euler = 4 if (first and m >= 2) else (2 if first else 0)
                core._step_adi(r0c, l0c, r1t, l1t, p, step, m - n_euler // 2, n_euler, wa, wb, cp)
            first = False
        out[k] = p
    mass = h * h * out.sum(axis=(1, 2))
    return TwoModeEvolution(modes, g2s, x, t, out, mass, sector, h, scheme, float(dt))

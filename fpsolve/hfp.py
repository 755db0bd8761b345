r"""Schroedinger form of the one-mode Fokker-Planck equation (docs/theory.md section 5).

With :math:`K = -V'` and :math:`P = \sqrt{P_s}\,\psi`, the one-mode FPE
:math:`\partial_\tau P = \partial_x(g^2\partial_x - K)P` becomes

.. math::

    \partial_\tau\psi = -2H_{FP}\psi, \qquad
    H_{FP} = \tfrac12 L^\dagger L = -\frac{g^2}{2}\partial_x^2 + U(x),

    L = g\,\partial_x + \frac{V'}{2g}, \qquad
    U = \frac{U_0 + g^2 U_1}{g^2}, \quad U_0 = \frac{(V')^2}{8}, \quad U_1 = -\frac{V''}{4}.

The levels :math:`E_n` of :math:`H_{FP}` give the relaxation rates
:math:`\lambda_n = 2E_n`; :math:`E_0 = 0` with :math:`\psi_0 = \sqrt{P_s}`, and

.. math::

    P(x, \tau) = \sqrt{P_s(x)}\sum_n c_n e^{-2E_n\tau}\psi_n(x), \qquad
    c_n = \int \psi_n(x)\,\frac{P(x, 0)}{\sqrt{P_s(x)}}\,dx.

Discretisation: the factorised form is discretised directly.  On a
vertex-centred grid :math:`x_j = a + jh` with control volumes
:math:`m_j = h` (:math:`h/2` at a kept end) the discrete :math:`L` is the
bidiagonal exponentially fitted difference

.. math::

    (L\psi)_{j+1/2} = \frac{g}{h}\sqrt{s(\Delta_j)}
        \left(e^{\Delta_j/4}\psi_{j+1} - e^{-\Delta_j/4}\psi_j\right),
    \qquad \Delta_j = \frac{V(x_{j+1}) - V(x_j)}{g^2}, \quad s(z) = \frac{z/2}{\sinh(z/2)},

(with the :math:`m_j` weights), which tends to :math:`g\psi' + V'\psi/(2g)`
and annihilates :math:`\sqrt{P_s}` exactly at the nodes.  Hence
:math:`H = L^T L/2` has :math:`E_0 = 0` and :math:`\psi_0 = \sqrt{P_s}` to
round-off; :math:`\psi_0` is taken from the kernel of :math:`L` and
:math:`E_0 = \|L\psi_0\|^2/2`.  A reflecting end is a node with no edge
beyond it, i.e. :math:`L\psi = 0` there (zero flux); at a wall the last edge
has :math:`\Delta = +\infty` and drops out, so :math:`\psi \to 0`.  Natural
ends are cut where :math:`(V - V_{min})/g^2 = 50`.  This grid is independent of
the cell-centred grid of :func:`fpsolve.fokker_planck.relaxation_rates`: the two
agree to :math:`O(h^2)` (and much better after Richardson extrapolation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import linalg

from fpsolve.checks import check_int, check_positive
from fpsolve.fokker_planck import Evolution, limits
from fpsolve.fokker_planck.mesh import (
    Domain,
    InitialDensity,
    RateMatrix,
    Window,
    cells,
    check_decay,
    check_levels,
    check_model,
    check_spacing,
    check_times,
    edge_rates,
    initial_values,
    refine_levels,
    richardson_levels,
    sinhc_half,
    window,
)
from fpsolve.models import Model

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

__all__ = ["HFPSpectrum", "hfp_spectrum"]


@dataclass(frozen=True)
class _VGrid:
    x: np.ndarray
    m: np.ndarray
    h: float
    delta: np.ndarray
    logw: np.ndarray


def _vertex_grid(model: Model, g2: float, n_grid: int, win: Window) -> _VGrid:
    a, b = win.a, win.b
    lo, hi = model.domain
    kinds = model.boundaries
    h = (b - a) / n_grid
    x = a + np.arange(n_grid + 1) * h
    keep = np.ones(x.size, dtype=bool)
    if a == lo and kinds[0] == "wall":
        keep[0] = False
    if b == hi and kinds[1] == "wall":
        keep[-1] = False
    m = np.full(x.size, h)
    m[0] = m[-1] = 0.5 * h
    x, m = x[keep], m[keep]
    v = model.potential(x) / g2
    if not np.all(np.isfinite(v)):
        raise ValueError(f"the potential of {model!r} is not finite on the grid {a!r} ... {b!r}")
    logw = -(v - v.min())
    return _VGrid(x, m, h, np.diff(v), logw)


def _matrix(vg: _VGrid, g2: float) -> RateMatrix:
    """M = L^T L (rates) in the m^{1/2}-scaled variables, and the edge rates."""
    c = g2 / vg.h
    right, left = edge_rates(vg.delta, c)
    d = np.zeros(vg.x.size)
    d[:-1] += right
    d[1:] += left
    d /= vg.m
    e = -c * sinhc_half(vg.delta) / np.sqrt(vg.m[:-1] * vg.m[1:])
    return RateMatrix(d, e, right, left)


def _l_matrix_apply(vg: _VGrid, g2: float, y):
    """Apply the bidiagonal L (scaled variables y = sqrt(m) psi): returns its n-1 entries."""
    c = g2 / vg.h
    right, left = edge_rates(vg.delta, c)
    return np.sqrt(left / vg.m[1:]) * y[1:] - np.sqrt(right / vg.m[:-1]) * y[:-1]


@dataclass(frozen=True)
class HFPSpectrum:
    r"""Levels and eigenfunctions of :math:`H_{FP}` on a grid.

    Attributes
    ----------
    model : Model
        The mode.
    g2 : float
        Noise strength :math:`g^2`.
    x : ndarray, shape (n,)
        Grid nodes.
    weights : ndarray, shape (n,)
        Quadrature weights (control volumes): :math:`\int f\,dx \approx \sum_j w_j f(x_j)`.
    energies : ndarray, shape (n_levels,)
        :math:`E_0 = 0 \le E_1 \le \dots` (Richardson-extrapolated if
        ``richardson``; :math:`E_0 = \|L\psi_0\|^2/2`, round-off).
    eigenfunctions : ndarray, shape (n_levels, n)
        :math:`\psi_n(x_j)`, orthonormal with ``weights``; :math:`\psi_0 =
        \sqrt{P_s} > 0`, every other one with its largest lobe positive.
    U, U0, U1 : ndarray, shape (n,)
        :math:`U(x)`, :math:`U_0 = (V')^2/8`, :math:`U_1 = -V''/4` at the nodes.
    n_grid : int
        Number of grid intervals.
    richardson : bool
        Whether ``energies`` are extrapolated over ``(n_grid, 2 n_grid)``.
    """

    model: Model
    g2: float
    x: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    energies: np.ndarray
    eigenfunctions: np.ndarray = field(repr=False)
    U: np.ndarray = field(repr=False)
    U0: np.ndarray = field(repr=False)
    U1: np.ndarray = field(repr=False)
    n_grid: int
    richardson: bool
    _cut: tuple[bool, bool] = field(repr=False)

    @property
    def rates(self) -> np.ndarray:
        r"""Relaxation rates :math:`\lambda_n = 2E_n`."""
        return 2.0 * self.energies

    @property
    def relaxation_time(self) -> float:
        r"""Slowest relaxation time :math:`\tau_1 = 1/(2E_1)`."""
        if self.energies.size < 2:
            raise ValueError("relaxation_time needs n_levels >= 2")
        return float(1.0 / (2.0 * self.energies[1]))

    @property
    def relaxation_state(self) -> np.ndarray:
        r"""The eigenfunction :math:`\psi_1` that sets :attr:`relaxation_time`."""
        if self.energies.size < 2:
            raise ValueError("relaxation_state needs n_levels >= 2")
        return self.eigenfunctions[1]

    def position(self, level: int = 1) -> float:
        r"""Where level ``level`` lives: :math:`\int x\,\psi_n(x)^2\,dx`."""
        level = check_int("level", level, minimum=0)
        if level >= self.energies.size:
            raise ValueError(f"level must be < n_levels={self.energies.size}, got {level}")
        psi2 = self.eigenfunctions[level] ** 2
        return float(np.sum(self.weights * self.x * psi2))

    def stationary_density(self) -> np.ndarray:
        r""":math:`P_s = \psi_0^2` at the nodes."""
        return self.eigenfunctions[0] ** 2

    def coefficients(self, p0: InitialDensity) -> np.ndarray:
        r"""Expansion coefficients :math:`c_n = \int\psi_n P_0/\sqrt{P_s}\,dx` of a density.

        ``p0`` is a callable, a distribution with ``pdf`` or an array at the
        nodes; it is checked and normalised as in
        :func:`fpsolve.fokker_planck.evolve`.
        """
        vals = initial_values(p0, self.x, self._cut)
        mass = float(np.sum(self.weights * vals))
        if not (mass > 0 and math.isfinite(mass)):
            raise ValueError(f"p0 is not normalisable on the grid: its mass is {mass!r}")
        vals = vals / mass
        check_decay(vals, self._cut)
        psi0 = self.eigenfunctions[0]
        support = vals > 0
        with np.errstate(divide="ignore"):
            amp = np.log(vals[support]) - np.log(psi0[support]) - math.log(vals.max())
        if not np.all(psi0[support] > 0) or float(amp.max()) > math.log(1e8):
            raise ValueError(
                "p0 has mass where sqrt(P_s) is below 1e-8 of p0's peak: the eigen-expansion "
                "cannot represent it in double precision; use fpsolve.fokker_planck.evolve "
                "with method='cn' or 'euler'"
            )
        q = np.zeros_like(vals)
        q[support] = vals[support] / psi0[support]
        return self.eigenfunctions @ (self.weights * q)

    def evolve(self, p0: InitialDensity, times: npt.ArrayLike) -> Evolution:
        r"""Density at ``times`` from the truncated eigen-expansion.

        .. math::

            P(x, \tau) = \sqrt{P_s}\sum_{n < n_{levels}} c_n e^{-2E_n\tau}\psi_n(x).

        Truncating to ``n_levels`` levels is accurate once
        :math:`e^{-2E_{n_{levels}}\tau}` is negligible; the returned ``mass``
        shows the truncation (it is :math:`c_0 = 1` for every ``tau``).

        Parameters
        ----------
        p0 : callable, distribution with ``pdf`` or array_like
            Initial density (see :meth:`coefficients`).
        times : array_like
            Output times :math:`\tau \ge 0`, sorted.

        Returns
        -------
        fpsolve.fokker_planck.Evolution
            With ``method="hfp"``.
        """
        t = check_times(times)
        c = self.coefficients(p0)
        decay = np.exp(-2.0 * np.outer(np.where(np.isfinite(t), t, np.inf), self.energies))
        decay[:, 0] = 1.0
        p = (decay * c) @ self.eigenfunctions * self.eigenfunctions[0]
        mass = p @ self.weights
        h = float(np.median(np.diff(self.x)))
        return Evolution(self.model, self.g2, self.x, t, p, mass, h, "hfp", None)

    def plot(
        self, ax: Axes | None = None, n_show: int = 4, scale: float | None = None
    ) -> list[Artist]:
        r"""The double-well picture: :math:`U(x)`, the levels and the eigenfunctions.

        Each :math:`\psi_n` is drawn shifted to its level :math:`E_n` and scaled
        by ``scale`` (default: a fifth of the spread of the shown levels).

        Returns
        -------
        list of matplotlib artists
        """
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        k = min(n_show, self.energies.size)
        e = self.energies[:k]
        spread = float(e[-1] - e[0]) if k > 1 else 1.0
        if scale is None:
            peak = np.abs(self.eigenfunctions[:k]).max()
            scale = 0.2 * (spread if spread > 0 else 1.0) / peak
        artists: list[Artist] = [ax.plot(self.x, self.U, color="k", lw=1.5, label="$U(x)$")[0]]
        cmap = plt.get_cmap("tab10")
        for i in range(k):
            artists.append(ax.axhline(e[i], color=cmap(i), lw=0.8, ls="--"))
            artists.append(
                ax.plot(
                    self.x,
                    e[i] + scale * self.eigenfunctions[i],
                    color=cmap(i),
                    label=rf"$E_{i}$ = {e[i]:.4g}",
                )[0]
            )
        top = e[-1] + 0.6 * (spread if spread > 0 else 1.0)
        low = min(float(self.U.min()), float(e[0])) - 0.1 * (spread if spread > 0 else 1.0)
        ax.set_ylim(low, top)
        ax.set_xlabel("$x$")
        ax.set_ylabel(r"$U(x)$, $E_n$")
        ax.legend(fontsize="small")
        return artists


def _levels(vg: _VGrid, g2: float, n_levels: int, vectors: bool):
    """Lowest eigenvalues of ``M`` (refined), their vectors if asked, its largest diagonal."""
    m = _matrix(vg, g2)
    if vectors:
        lam, y = linalg.eigh_tridiagonal(m.diag, m.off, select="i", select_range=(0, n_levels - 1))
    else:
        lam = linalg.eigvalsh_tridiagonal(m.diag, m.off, select="i", select_range=(0, n_levels - 1))
        y = None
    # Rayleigh quotients ||L y||^2 after inverse iteration: relative, not eps*||M||, accuracy
    lam = refine_levels(m, lam, scale=np.sqrt(vg.m))
    return lam, y, float(m.diag.max())


def hfp_spectrum(
    model: Model,
    g2: float,
    n_levels: int = 6,
    *,
    n_grid: int | None = None,
    domain: Domain = None,
    richardson: bool = False,
    force: bool = False,
) -> HFPSpectrum:
    r"""Lowest levels :math:`E_n` and eigenfunctions :math:`\psi_n` of :math:`H_{FP}`.

    :math:`H_{FP} = L^\dagger L/2 = -(g^2/2)\partial_x^2 + U(x)` with
    :math:`U = (V')^2/(8g^2) - V''/4` (:eq:`eq-hfp-potential`), discretised in
    factorised form (module docstring) so that :math:`E_0 = 0` and
    :math:`\psi_0 = \sqrt{P_s}` hold to round-off.  Relaxation rates of the
    FPE are :math:`2E_n`.

    Parameters
    ----------
    model : Model
        The mode (its potential ``V`` and derivatives are used).
    g2 : float
        Noise strength :math:`g^2 > 0`.
    n_levels : int, optional
        Number of levels, ``>= 1`` (including :math:`E_0`).
    n_grid : int, optional
        Number of grid intervals, ``>= 4``; default 2000, or more to put 8
        intervals across the narrowest width :math:`\sqrt{g^2/|V''|}` at a fixed
        point inside the window (the width of :math:`\psi_0` in a well and of
        the escape states at a maximum).  An explicit ``n_grid`` must put at
        least one interval across it.
    domain : tuple of float, optional
        ``(low, high)``; must cover the mass (as in :mod:`fpsolve.fokker_planck`).
    richardson : bool, optional
        Extrapolate the energies over ``(n_grid, 2 n_grid)``; eigenfunctions
        are those of ``n_grid``.  Refused (ValueError) when a level differs
        between the two grids by more than 5% of its value: they do not
        resolve it.
    force : bool, optional
        Run even when nodes times levels exceed
        :data:`~fpsolve.fokker_planck.limits.MAX_NODE_LEVELS`.

    Returns
    -------
    HFPSpectrum
        ``E_1, E_2, ...`` are checked positive and increasing (ValueError
        otherwise).

    Examples
    --------
    >>> from fpsolve.models import HarmonicModel
    >>> from fpsolve.hfp import hfp_spectrum
    >>> spec = hfp_spectrum(HarmonicModel(2.0), 0.5, 4, richardson=True)
    >>> [round(float(e), 7) for e in spec.energies]   # n * Omega / 2
    [0.0, 1.0, 2.0, 3.0]
    """
    n_levels = check_int("n_levels", n_levels, minimum=1)
    model = check_model(model)
    g2 = check_positive("g2", g2)
    win = window(model, g2, domain)
    n_grid = cells(model, g2, win, n_grid, default=2000, name="n_grid", n_min=4)
    check_spacing("n_grid", n_grid, g2, win)
    scale = 3 if richardson else 1
    nodes = n_grid + 1
    what = f"{scale} grid(s) of {nodes} nodes with {n_levels} eigenfunctions"
    limits.check_memory("n_grid", n_grid, scale * nodes * (24.0 + 2.0 * n_levels), what)
    work = scale * nodes * n_levels
    limits.check_work("n_grid", n_grid, work, limits.MAX_NODE_LEVELS, "nodes x levels", force=force)
    vg = _vertex_grid(model, g2, n_grid, win)
    if n_levels >= vg.x.size:
        raise ValueError(f"n_levels must be < the number of nodes {vg.x.size}, got {n_levels}")
    lam, y, norm = _levels(vg, g2, n_levels, True)
    # psi_0 from the kernel of L: sqrt(m w) in the scaled variables, exactly
    y0 = np.sqrt(vg.m) * np.exp(0.5 * vg.logw)
    y0 /= np.linalg.norm(y0)
    y[:, 0] = y0
    lam[0] = float(np.sum(_l_matrix_apply(vg, g2, y0) ** 2))
    psi = (y / np.sqrt(vg.m)[:, None]).T.copy()
    for k in range(1, n_levels):
        j = int(np.argmax(np.abs(psi[k])))
        if psi[k, j] < 0:
            psi[k] *= -1.0
    if richardson and n_levels > 1:
        lam2, _, norm = _levels(_vertex_grid(model, g2, 2 * n_grid, win), g2, n_levels, False)
        extrapolated = richardson_levels(lam[1:], lam2[1:], symbol="2E", name="n_grid", n=n_grid)
        lam = np.concatenate(([lam[0]], extrapolated))
    check_levels(lam[1:], symbol="2E", name="n_grid", n=n_grid, norm=norm)
    dv = model.dpotential(vg.x)
    d2v = model.d2potential(vg.x)
    u0 = dv**2 / 8.0
    u1 = -d2v / 4.0
    u = (u0 + g2 * u1) / g2
    return HFPSpectrum(
        model, g2, vg.x, vg.m, 0.5 * lam, psi, u, u0, u1, n_grid, bool(richardson), win.cut
    )

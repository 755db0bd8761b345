r"""Two coupled modes: the joint density of two eigenvalues with the beta = 1 repulsion.

See :mod:`fpsolve.fokker_planck` for the scheme.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.special import logsumexp

from fpsolve.checks import check_positive
from fpsolve.fokker_planck import _kernels as kern
from fpsolve.fokker_planck import limits
from fpsolve.fokker_planck.mesh import (
    Domain,
    InitialDensity,
    Window,
    cells,
    check_decay,
    check_spacing,
    check_times,
    default_dt,
    edge_rates,
    initial_values,
    march,
    normalise,
    stepper_plan,
    window,
)
from fpsolve.models import Model, Modes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import QuadMesh

__all__ = ["TwoModeEvolution", "evolve_two_modes"]


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

        Both eigenvalues are pooled (never sorted into modes by hand, :eq:`eq-two-mode-density`).
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

    def plot(self, ax: Axes | None = None, index: int = -1, **kwargs) -> QuadMesh:
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


def _as_two_modes(modes: Modes | Sequence[Model]) -> Modes:
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
    modes: Modes | Sequence[Model],
    g2: float | Sequence[float],
    p0: InitialDensity,
    times: npt.ArrayLike,
    *,
    n: int | None = None,
    domain: Domain = None,
    scheme: str = "adi",
    dt: float | None = None,
    progress: bool = False,
    force: bool = False,
) -> TwoModeEvolution:
    r"""Evolve the joint density of two coupled eigenvalues (beta = 1 Dyson Brownian motion).

    .. math::

        \partial_t P = \sum_{i=1,2}\partial_i\left[g_i^2\partial_i P
          - \left(K_i(x_i) + \frac{g_i^2}{x_i - x_j}\right)P\right]

    (:eq:`eq-fokker-planck`) on an ``n x n`` grid of cell centres with
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
        Cells per axis, ``>= 4``; default 160, or more to put 8 cells across the
        narrowest width :math:`\sqrt{g_i^2/|V_i''|}` at a fixed point inside the
        window.  An explicit ``n`` must put at least one cell across it.
    domain : tuple of float, optional
        ``(low, high)`` of each axis; default: the union of the two modes'
        windows (see :func:`grid`).
    scheme : {"adi", "euler"}, optional
        Time stepping.
    dt : float, optional
        Largest step; default ``0.005 / max|V_i''|`` over the fixed points.
    progress : bool, optional
        tqdm progress bar.
    force : bool, optional
        Run even when time steps times :math:`n^2` exceed
        :data:`~fpsolve.fokker_planck.limits.MAX_CELL_STEPS` (refused otherwise,
        before the first step).

    Returns
    -------
    TwoModeEvolution
    """
    modes = _as_two_modes(modes)
    dt_given = dt is not None
    g2v = np.broadcast_to(np.asarray(g2, dtype=np.float64), (2,))
    g2s = (check_positive("g2", float(g2v[0])), check_positive("g2", float(g2v[1])))
    if scheme not in ("adi", "euler"):
        raise ValueError(f"scheme must be 'adi' or 'euler', got {scheme!r}")
    t = check_times(times)
    win = _joint_window(modes, g2s, domain)
    n = max(cells(m, g2, win, n, default=160, n_min=4) for m, g2 in zip(modes, g2s, strict=True))
    check_spacing("n", n, min(g2s), win)
    limits.check_memory("n", n, (t.size + 14.0) * n * n, f"{t.size + 14} arrays of {n} x {n}")
    dt = default_dt(list(modes)) if dt is None else check_positive("dt", dt)
    plan = stepper_plan(t, dt)
    steps = sum(step[1] for step in plan)
    what = f"node updates ({steps:.3g} time steps of at most dt={dt:.3g} on {n} x {n} nodes)"
    name, value = ("dt", dt) if dt_given else ("times", float(np.max(t[np.isfinite(t)], initial=0)))
    limits.check_work(name, value, steps * n * n, limits.MAX_CELL_STEPS, what, force=force)
    a, b, cut = win
    h = (b - a) / n
    x = a + (np.arange(n) + 0.5) * h
    f = _coulomb_potential(modes, g2s, x)
    rates = _rates(f, g2s, h)
    off = ~np.eye(n, dtype=bool)
    mesh = tuple(np.meshgrid(x, x, indexing="ij"))
    vals = initial_values(p0, mesh, cut, shape=(n, n))
    vals = np.where(off, vals, 0.0)
    vals = normalise(vals, h * h)
    for axis in (0, 1):
        check_decay(vals.max(axis=1 - axis), cut)
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
    out = _march(rates, np.ascontiguousarray(vals), t, plan, scheme, ps, progress)
    mass = h * h * out.sum(axis=(1, 2))
    return TwoModeEvolution(modes, g2s, x, t, out, mass, sector, h, scheme, float(dt))


def _joint_window(modes: Modes, g2s: tuple[float, float], domain: Domain) -> Window:
    """The interval of the square grid: the union of the modes' windows, or ``domain``."""
    m1, m2 = modes
    if m1.domain != m2.domain or m1.boundaries != m2.boundaries:
        raise ValueError(
            f"both modes must have the same domain and boundaries, got {m1.domain} "
            f"{m1.boundaries} and {m2.domain} {m2.boundaries}"
        )
    if domain is None:
        w1 = window(m1, g2s[0], None)
        w2 = window(m2, g2s[1], None)
        return Window(min(w1.a, w2.a), max(w1.b, w2.b), w1.cut)
    w1 = window(m1, g2s[0], domain)
    window(m2, g2s[1], domain)
    return w1


def _coulomb_potential(modes: Modes, g2s: tuple[float, float], x: np.ndarray) -> np.ndarray:
    r""":math:`F = V_1/g_1^2 + V_2/g_2^2 - \log|x_1 - x_2|` on the mesh, 0 on the diagonal."""
    m1, m2 = modes
    n = x.size
    v1 = m1.potential(x) / g2s[0]
    v2 = m2.potential(x) / g2s[1]
    v1 -= v1.min()
    v2 -= v2.min()
    diff = x[:, None] - x[None, :]
    off = ~np.eye(n, dtype=bool)
    f = np.zeros((n, n))
    f[off] = (v1[:, None] + v2[None, :])[off] - np.log(np.abs(diff[off]))
    return f


def _rates(f: np.ndarray, g2s: tuple[float, float], h: float) -> kern.AdiRates:
    """Fitted rates along both axes; edges touching the diagonal are closed."""
    d0 = f[1:, :] - f[:-1, :]
    d1 = f[:, 1:] - f[:, :-1]
    i0, j0 = np.indices(d0.shape)
    closed0 = (i0 == j0) | (i0 + 1 == j0)
    i1, j1 = np.indices(d1.shape)
    closed1 = (j1 == i1) | (j1 + 1 == i1)
    r0, l0 = edge_rates(np.where(closed0, 0.0, d0), g2s[0] / h**2)
    r1, l1 = edge_rates(np.where(closed1, 0.0, d1), g2s[1] / h**2)
    for arr, closed in ((r0, closed0), (l0, closed0), (r1, closed1), (l1, closed1)):
        arr[closed] = 0.0
    return kern.AdiRates(
        np.ascontiguousarray(r0),
        np.ascontiguousarray(l0),
        np.ascontiguousarray(r1.T),
        np.ascontiguousarray(l1.T),
    )


def _march(rates: kern.AdiRates, p: np.ndarray, t, plan, scheme, ps, progress) -> np.ndarray:
    """Step ``p`` (in place) through the output times; ``ps`` at infinite times."""
    work = kern.adi_work(*p.shape)

    def euler(p, dt, n_steps):
        kern.backward_euler_adi(rates, p, dt, n_steps, work)

    def peaceman_rachford(p, dt, n_steps, n_euler):
        kern.peaceman_rachford(rates, p, dt, n_steps, n_euler, work)

    stepper = euler if scheme == "euler" else None
    return march(plan, t, p, ps, stepper, peaceman_rachford, progress=progress, desc="two-mode FP")

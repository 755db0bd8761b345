r"""Private machinery shared by :mod:`fpsolve.fokker_planck` and :mod:`fpsolve.hfp`.

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
small :math:`g^2` is.  Kernels here are private and take plain arrays.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from fpsolve.jit import jit

__all__: list[str] = []

CUT = 50.0
"""Natural (and wall) ends are cut where ``(V - V_min)/g2`` reaches this value."""

_GL3_X, _GL3_W = np.polynomial.legendre.leggauss(3)


# --------------------------------------------------------------------------- rates
def bernoulli(z):
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


def sinhc_half(z):
    """``s(z) = (z/2)/sinh(z/2)`` without overflow (``s(0) = 1``, ``s(inf) = 0``)."""
    a = np.abs(np.asarray(z, dtype=np.float64))
    out = np.empty_like(a)
    small = a < 1e-4
    out[small] = 1.0 - a[small] ** 2 / 24.0
    ab = a[~small]
    with np.errstate(invalid="ignore", over="ignore"):
        out[~small] = np.where(np.isinf(ab), 0.0, ab * np.exp(-0.5 * ab) / -np.expm1(-ab))
    return out


def edge_rates(delta, c):
    """Rates ``(right, left)`` of each edge: ``c*B(delta)`` (k -> k+1), ``c*B(-delta)``."""
    return c * bernoulli(delta), c * bernoulli(-np.asarray(delta, dtype=np.float64))


# --------------------------------------------------------------------------- windows
def potential_window(model, g2: float, cut: float = CUT) -> tuple[float, float, float]:
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

    def excess(x):
        return (float(model.potential(x)) - vmin) / g2 - cut

    inside = start
    for k in range(400):
        x = start + direction * scale * 2.0 ** (k / 2.0)
        if math.isfinite(end) and (x - end) * direction >= 0:
            # approach the wall geometrically
            for m in range(1, 200):
                x = end - direction * abs(end - inside) * 2.0**-m
                if x == end:
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


def potential_differences(model, edges_lo, edges_hi, g2, *, from_drift: bool):
    """``(V(hi) - V(lo))/g2`` per edge, from ``V`` or by 3-point Gauss quadrature of ``K``."""
    if not from_drift:
        return (model.potential(edges_hi) - model.potential(edges_lo)) / g2
    half = 0.5 * (edges_hi - edges_lo)
    mid = 0.5 * (edges_hi + edges_lo)
    nodes = mid[:, None] + half[:, None] * _GL3_X[None, :]
    k = model.drift(nodes)
    return -(k @ _GL3_W) * half / g2


# --------------------------------------------------------------------------- kernels
@jit
def _apply_line(right, left, p, out):  # pragma: no cover - compiled
    """out = A p for the 1D rate matrix with edge rates right (k->k+1), left (k+1->k)."""
    n = p.shape[0]
    for i in range(n):
        out[i] = 0.0
    for k in range(n - 1):
        f = right[k] * p[k] - left[k] * p[k + 1]
        out[k] -= f
        out[k + 1] += f


@jit
def _solve_line(right, left, tau, rhs, out, cp):  # pragma: no cover - compiled
    """Solve (I - tau A) out = rhs (Thomas; I - tau A is column diagonally dominant)."""
    n = rhs.shape[0]
    # row i: -tau*right[i-1] * x[i-1] + (1 + tau*(right[i] + left[i-1])) x[i] - tau*left[i] x[i+1]
    b0 = 1.0 + tau * (right[0] if n > 1 else 0.0)
    c0 = -tau * left[0] if n > 1 else 0.0
    cp[0] = c0 / b0
    out[0] = rhs[0] / b0
    for i in range(1, n):
        a = -tau * right[i - 1]
        b = 1.0 + tau * left[i - 1]
        if i < n - 1:
            b += tau * right[i]
            c = -tau * left[i]
        else:
            c = 0.0
        m = b - a * cp[i - 1]
        cp[i] = c / m
        out[i] = (rhs[i] - a * out[i - 1]) / m
    for i in range(n - 2, -1, -1):
        out[i] -= cp[i] * out[i + 1]


@jit
def _step_line(right, left, p, dt, n_steps, n_euler, tmp, tmp2, cp):  # pragma: no cover
    """Advance p in place: n_euler backward-Euler steps of dt/2 ... then Crank-Nicolson.

    ``n_euler`` counts half steps of backward Euler (Rannacher start); the
    remaining time is done with Crank-Nicolson steps of ``dt``.  With
    ``n_steps < 0`` every one of ``-n_steps`` steps is a backward-Euler step
    of ``dt`` (the positivity-preserving scheme).
    """
    n = p.shape[0]
    if n_steps < 0:
        for _ in range(-n_steps):
            _solve_line(right, left, dt, p, tmp, cp)
            for i in range(n):
                p[i] = tmp[i]
        return
    for _ in range(n_euler):
        _solve_line(right, left, 0.5 * dt, p, tmp, cp)
        for i in range(n):
            p[i] = tmp[i]
    for _ in range(n_steps):
        _apply_line(right, left, p, tmp)
        for i in range(n):
            tmp[i] = p[i] + 0.5 * dt * tmp[i]
        _solve_line(right, left, 0.5 * dt, tmp, tmp2, cp)
        for i in range(n):
            p[i] = tmp2[i]


@jit
def _apply_axis0(right, left, p, out):  # pragma: no cover - compiled
    """out = A_0 p for rates along axis 0 of a 2D array (right/left shape (n0-1, n1))."""
    n0, n1 = p.shape
    for i in range(n0):
        for j in range(n1):
            out[i, j] = 0.0
    for k in range(n0 - 1):
        for j in range(n1):
            f = right[k, j] * p[k, j] - left[k, j] * p[k + 1, j]
            out[k, j] -= f
            out[k + 1, j] += f


@jit
def _solve_axis0(right, left, tau, rhs, out, cp):  # pragma: no cover - compiled
    """Solve (I - tau A_0) out = rhs along axis 0, all lines at once."""
    n0, n1 = rhs.shape
    for j in range(n1):
        b0 = 1.0 + tau * right[0, j]
        cp[0, j] = -tau * left[0, j] / b0
        out[0, j] = rhs[0, j] / b0
    for i in range(1, n0):
        for j in range(n1):
            a = -tau * right[i - 1, j]
            b = 1.0 + tau * left[i - 1, j]
            c = 0.0
            if i < n0 - 1:
                b += tau * right[i, j]
                c = -tau * left[i, j]
            m = b - a * cp[i - 1, j]
            cp[i, j] = c / m
            out[i, j] = (rhs[i, j] - a * out[i - 1, j]) / m
    for i in range(n0 - 2, -1, -1):
        for j in range(n1):
            out[i, j] -= cp[i, j] * out[i + 1, j]


@jit
def _step_adi(r0, l0, r1t, l1t, p, dt, n_steps, n_euler, a, b, cp):  # pragma: no cover
    """Advance a 2D density in place.

    Peaceman-Rachford ADI (second order) after ``n_euler`` split backward-Euler
    half steps; ``n_steps < 0``: ``-n_steps`` split backward-Euler steps
    (positivity preserving).  Axis-1 rates are passed transposed (shape
    ``(n1-1, n0)``) and axis-1 work is done on transposed copies.
    """
    n0, n1 = p.shape
    pt = np.empty((n1, n0))
    bt = np.empty((n1, n0))
    cpt = np.empty((n1, n0))
    if n_steps < 0:
        for _ in range(-n_steps):
            _solve_axis0(r0, l0, dt, p, a, cp)
            pt[:, :] = a.T
            _solve_axis0(r1t, l1t, dt, pt, bt, cpt)
            p[:, :] = bt.T
        return
    for _ in range(n_euler):
        _solve_axis0(r0, l0, 0.5 * dt, p, a, cp)
        pt[:, :] = a.T
        _solve_axis0(r1t, l1t, 0.5 * dt, pt, bt, cpt)
        p[:, :] = bt.T
    tau = 0.5 * dt
    for _ in range(n_steps):
        # (I - tau A0) P* = (I + tau A1) P
        pt[:, :] = p.T
        _apply_axis0(r1t, l1t, pt, bt)
        for j in range(n1):
            for i in range(n0):
                a[i, j] = p[i, j] + tau * bt[j, i]
        _solve_axis0(r0, l0, tau, a, b, cp)
        # (I - tau A1) P^{n+1} = (I + tau A0) P*
        _apply_axis0(r0, l0, b, a)
        for j in range(n1):
            for i in range(n0):
                pt[j, i] = b[i, j] + tau * a[i, j]
        _solve_axis0(r1t, l1t, tau, pt, bt, cpt)
        p[:, :] = bt.T


def refine_levels(d, e, right, left, lam, scale=None):
    """Refine eigenvalues of M = B^T B (B: rows -sqrt(right), sqrt(left)) found by bisection.

    Bisection gives each eigenvalue to ``eps * ||M||`` absolutely, which on fine grids is
    far above ``eps * lambda``.  Two steps of inverse iteration at the bisection value give
    the eigenvector, and the Rayleigh quotient ``||B v||^2 / ||v||^2`` (a sum of
    squares, accurate to a few ulp relative) gives the eigenvalue.  ``scale`` (optional, per node)
    turns ``v`` into the ``B`` variables: ``B`` acts on ``v / scale``.
    """
    from scipy.linalg import solve_banded

    n = d.size
    sr, sl = np.sqrt(right), np.sqrt(left)
    out = np.array(lam, dtype=np.float64, copy=True)
    rng = np.random.default_rng(12345)
    start = rng.uniform(0.5, 1.5, n)
    ab = np.zeros((3, n))
    ab[0, 1:] = e
    ab[2, :-1] = e
    for k, sigma in enumerate(lam):
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

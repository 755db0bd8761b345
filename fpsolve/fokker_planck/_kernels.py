r"""Compiled time steppers of the fitted finite-volume generator ``A`` (one and two modes).

Along a line of nodes ``A`` is tridiagonal with edge rates ``right[k]``
(:math:`k \to k+1`) and ``left[k]`` (:math:`k+1 \to k`):
:math:`(AP)_k = J_{k-1/2} - J_{k+1/2}`, :math:`J_{k+1/2} = r_k P_k - l_k P_{k+1}`.
``I - \tau A`` is column diagonally dominant, so the Thomas algorithm needs no
pivoting.  Rates and work arrays travel as named tuples; each scheme is its own
kernel.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fpsolve.jit import jit

__all__ = [
    "AdiRates",
    "AdiWork",
    "LineRates",
    "LineWork",
    "backward_euler_adi",
    "backward_euler_line",
    "crank_nicolson_line",
    "peaceman_rachford",
    "sturm_count",
]


class LineRates(NamedTuple):
    """Edge rates of one line: ``right[k]`` (k -> k+1) and ``left[k]`` (k+1 -> k)."""

    right: np.ndarray
    left: np.ndarray


class LineWork(NamedTuple):
    """Work arrays of a line stepper, each of the line's shape."""

    tmp: np.ndarray
    tmp2: np.ndarray
    cp: np.ndarray
    pivot: np.ndarray


class AdiRates(NamedTuple):
    """Rates along axis 0 (shape ``(n0-1, n1)``) and along axis 1, transposed (``(n1-1, n0)``)."""

    right0: np.ndarray
    left0: np.ndarray
    right1t: np.ndarray
    left1t: np.ndarray


class AdiWork(NamedTuple):
    """Work arrays of the 2D steppers: three of shape ``(n0, n1)``, three transposed."""

    a: np.ndarray
    b: np.ndarray
    cp: np.ndarray
    pt: np.ndarray
    bt: np.ndarray
    cpt: np.ndarray


def line_work(n: int) -> LineWork:
    """Work arrays for a line of ``n`` nodes."""
    return LineWork(np.empty(n), np.empty(n), np.empty(n), np.empty(n))


def adi_work(n0: int, n1: int) -> AdiWork:
    """Work arrays for an ``n0 x n1`` density."""
    return AdiWork(
        np.empty((n0, n1)),
        np.empty((n0, n1)),
        np.empty((n0, n1)),
        np.empty((n1, n0)),
        np.empty((n1, n0)),
        np.empty((n1, n0)),
    )


# --------------------------------------------------------------------------- spectra
@jit
def sturm_count(diag, off, x):  # pragma: no cover - compiled
    """Number of eigenvalues below ``x`` of the symmetric tridiagonal matrix ``(diag, off)``.

    The count of negative pivots of the LDL^T factorisation of ``T - x I`` (Sturm
    sequence); a zero pivot is replaced by a tiny negative number, as in LAPACK's dstebz.
    """
    count = 0
    q = diag[0] - x
    for i in range(1, diag.shape[0] + 1):
        if q == 0.0:
            q = -1e-300
        if q < 0.0:
            count += 1
        if i < diag.shape[0]:
            q = diag[i] - x - off[i - 1] * off[i - 1] / q
    return count


# --------------------------------------------------------------------------- one line
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
def _factor_line(right, left, tau, cp, pivot):  # pragma: no cover - compiled
    """The Thomas factorisation of ``I - tau A`` (column diagonally dominant): the pivots
    and the scaled super-diagonal ``cp``, for :func:`_solve_line`."""
    n = cp.shape[0]
    # row i: -tau*right[i-1] * x[i-1] + (1 + tau*(right[i] + left[i-1])) x[i] - tau*left[i] x[i+1]
    pivot[0] = 1.0 + tau * (right[0] if n > 1 else 0.0)
    cp[0] = (-tau * left[0] if n > 1 else 0.0) / pivot[0]
    for i in range(1, n):
        a = -tau * right[i - 1]
        b = 1.0 + tau * left[i - 1]
        if i < n - 1:
            b += tau * right[i]
            c = -tau * left[i]
        else:
            c = 0.0
        pivot[i] = b - a * cp[i - 1]
        cp[i] = c / pivot[i]


@jit
def _solve_line(right, tau, rhs, out, cp, pivot):  # pragma: no cover - compiled
    """Solve ``(I - tau A) out = rhs`` with the factorisation of :func:`_factor_line`."""
    n = rhs.shape[0]
    out[0] = rhs[0] / pivot[0]
    for i in range(1, n):
        out[i] = (rhs[i] - (-tau * right[i - 1]) * out[i - 1]) / pivot[i]
    for i in range(n - 2, -1, -1):
        out[i] -= cp[i] * out[i + 1]


@jit
def backward_euler_line(rates, p, dt, n_steps, work):  # pragma: no cover - compiled
    """Advance ``p`` in place by ``n_steps`` backward-Euler steps of ``dt`` (non-negative)."""
    _factor_line(rates.right, rates.left, dt, work.cp, work.pivot)
    for _ in range(n_steps):
        _solve_line(rates.right, dt, p, work.tmp, work.cp, work.pivot)
        p[:] = work.tmp


@jit
def crank_nicolson_line(rates, p, dt, n_steps, n_euler, work):  # pragma: no cover - compiled
    """Advance ``p`` in place: ``n_euler`` backward-Euler steps of ``dt/2`` (the Rannacher
    start), then ``n_steps`` Crank-Nicolson steps of ``dt``."""
    n = p.shape[0]
    right, left = rates.right, rates.left
    tmp, tmp2 = work.tmp, work.tmp2
    _factor_line(right, left, 0.5 * dt, work.cp, work.pivot)  # the same for every step
    for _ in range(n_euler):
        _solve_line(right, 0.5 * dt, p, tmp, work.cp, work.pivot)
        p[:] = tmp
    for _ in range(n_steps):
        _apply_line(right, left, p, tmp)
        for i in range(n):
            tmp[i] = p[i] + 0.5 * dt * tmp[i]
        _solve_line(right, 0.5 * dt, tmp, tmp2, work.cp, work.pivot)
        p[:] = tmp2


# --------------------------------------------------------------------------- two axes
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
def _split_euler(rates, p, tau, work):  # pragma: no cover - compiled
    """One split backward-Euler step of ``tau``: axis 0, then axis 1 (on the transpose)."""
    _solve_axis0(rates.right0, rates.left0, tau, p, work.a, work.cp)
    work.pt[:, :] = work.a.T
    _solve_axis0(rates.right1t, rates.left1t, tau, work.pt, work.bt, work.cpt)
    p[:, :] = work.bt.T


@jit
def backward_euler_adi(rates, p, dt, n_steps, work):  # pragma: no cover - compiled
    """Advance a 2D density in place by ``n_steps`` split backward-Euler steps of ``dt``."""
    for _ in range(n_steps):
        _split_euler(rates, p, dt, work)


@jit
def peaceman_rachford(rates, p, dt, n_steps, n_euler, work):  # pragma: no cover - compiled
    """Advance a 2D density in place: ``n_euler`` split backward-Euler steps of ``dt/2``,
    then ``n_steps`` Peaceman-Rachford ADI steps of ``dt`` (second order)."""
    n0, n1 = p.shape
    a, b, pt, bt = work.a, work.b, work.pt, work.bt
    for _ in range(n_euler):
        _split_euler(rates, p, 0.5 * dt, work)
    tau = 0.5 * dt
    for _ in range(n_steps):
        # (I - tau A0) P* = (I + tau A1) P
        pt[:, :] = p.T
        _apply_axis0(rates.right1t, rates.left1t, pt, bt)
        for j in range(n1):
            for i in range(n0):
                a[i, j] = p[i, j] + tau * bt[j, i]
        _solve_axis0(rates.right0, rates.left0, tau, a, b, work.cp)
        # (I - tau A1) P^{n+1} = (I + tau A0) P*
        _apply_axis0(rates.right0, rates.left0, b, a)
        for j in range(n1):
            for i in range(n0):
                pt[j, i] = b[i, j] + tau * a[i, j]
        _solve_axis0(rates.right1t, rates.left1t, tau, pt, bt, work.cpt)
        p[:, :] = bt.T

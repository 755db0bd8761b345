"""Private numba kernels: eigenvalues of a small symmetric matrix inside a jitted loop."""

from __future__ import annotations

import math

from fpsolve.jit import jit
from fpsolve.products import LANES, lane_rotate

__all__ = ["jacobi_eigenvalues", "jacobi_lanes", "symmetric_eigenvalues"]


@jit
def jacobi_eigenvalues(a, out):
    """Eigenvalues of the symmetric ``a`` (n, n), ascending, into ``out``; ``a`` is destroyed.

    Cyclic Jacobi rotations until the off-diagonal mass is below ``1e-24`` of the
    diagonal's (at most 100 sweeps): no allocation and no LAPACK call, for the
    matrix steps of small systems inside the SGD kernel.
    """
    n = a.shape[0]
    for _ in range(100):
        off = 0.0
        scale = 0.0
        for p in range(n):
            scale += a[p, p] * a[p, p]
            for q in range(p + 1, n):
                off += a[p, q] * a[p, q]
        if off <= 1e-24 * scale:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                apq = a[p, q]
                gap = a[q, q] - a[p, p]
                # a rotation that would move the diagonal by less than 1e-26 |gap| is skipped
                if abs(apq) <= 1e-13 * abs(gap):
                    continue
                theta = gap / (2.0 * apq)
                t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                sn = t * c
                a[p, p] -= t * apq
                a[q, q] += t * apq
                a[p, q] = 0.0
                a[q, p] = 0.0
                for r in range(n):  # the other entries of rows and columns p, q (symmetric)
                    if r != p and r != q:  # noqa: PLR1714 (numba)
                        arp = a[r, p]
                        arq = a[r, q]
                        a[r, p] = c * arp - sn * arq
                        a[r, q] = sn * arp + c * arq
                        a[p, r] = a[r, p]
                        a[q, r] = a[r, q]
    for i in range(n):
        out[i] = a[i, i]
    out.sort()


@jit(error_model="numpy")
def jacobi_lanes(a, n, out, work):
    """Eigenvalues of ``L`` symmetric ``n x n`` matrices together, ascending, into ``out``.

    ``a`` is ``(n * n, L)``: entry ``(i, j)`` of matrix ``k`` at ``a[i * n + j, k]``; only
    the lower triangle (``i >= j``) is read, and ``a`` is destroyed.  ``out`` is
    ``(L, n)`` and ``work`` a ``(5, L)`` scratch array.

    Cyclic Jacobi rotations (the formulas of :func:`jacobi_eigenvalues`) applied to all
    matrices at once, with the inner loops running over the matrices, so that they
    vectorise.  A matrix stops rotating once its off-diagonal mass is below ``1e-24`` of
    its diagonal's (checked before each sweep, at most 100 sweeps): every matrix gets the
    eigenvalues, bit for bit, that it would get alone, whichever matrices share the batch.
    Quadratic convergence makes this fast for nearly diagonal matrices, such as those of
    the aligned SGD map (about four sweeps).
    """
    n_lanes = a.shape[1]
    c, s, off, scale, frozen = work[0], work[1], work[2], work[3], work[4]
    frozen[:] = 0.0
    for _ in range(100):
        off[:] = 0.0
        scale[:] = 0.0
        for p in range(n):
            for k in range(n_lanes):
                scale[k] += a[p * n + p, k] * a[p * n + p, k]
            for q in range(p):
                for k in range(n_lanes):
                    off[k] += a[p * n + q, k] * a[p * n + q, k]
        done = True
        for k in range(n_lanes):
            if off[k] <= 1e-24 * scale[k]:
                frozen[k] = 1.0
            else:
                done = False
        if done:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                ipp, iqq, iqp = p * n + p, q * n + q, q * n + p
                for k in range(n_lanes):
                    apq = a[iqp, k]
                    gap = a[iqq, k] - a[ipp, k]
                    # a rotation that would move the diagonal by less than 1e-26 |gap| is
                    # skipped, as is every rotation of a converged matrix
                    skip = abs(apq) <= 1e-13 * abs(gap) or frozen[k] != 0.0
                    theta = gap / (2.0 * (1.0 if skip else apq))
                    t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                    t = 0.0 if skip else (-t if theta < 0.0 else t)
                    ck = 1.0 / math.sqrt(t * t + 1.0)
                    c[k] = ck
                    s[k] = t * ck
                    a[ipp, k] -= t * apq
                    a[iqq, k] += t * apq
                    a[iqp, k] = apq if skip else 0.0
                for r in range(n):  # the other entries of rows and columns p, q
                    if r != p and r != q:  # noqa: PLR1714 (numba)
                        irp = r * n + p if r > p else p * n + r
                        irq = r * n + q if r > q else q * n + r
                        if n_lanes == LANES:
                            lane_rotate(a, irp, irq, c, s)
                        else:
                            for k in range(n_lanes):
                                arp = a[irp, k]
                                arq = a[irq, k]
                                a[irp, k] = c[k] * arp - s[k] * arq
                                a[irq, k] = s[k] * arp + c[k] * arq
    for k in range(n_lanes):
        for i in range(n):
            out[k, i] = a[i * n + i, k]
        out[k].sort()


@jit
def _tridiagonalise(a, d, e):
    """Householder reduction of the symmetric ``a`` to tridiagonal form (eigenvalues only):
    diagonal into ``d``, sub-diagonal into ``e[1:]`` (``e[0] = 0``); ``a`` is destroyed."""
    n = a.shape[0]
    for i in range(n - 1, 0, -1):
        last = i - 1
        if last > 0:
            scale = 0.0
            for k in range(i):
                scale += abs(a[i, k])
            if scale == 0.0:
                e[i] = a[i, last]
                continue
            h = 0.0
            for k in range(i):
                a[i, k] /= scale
                h += a[i, k] * a[i, k]
            f = a[i, last]
            g = -math.sqrt(h) if f >= 0.0 else math.sqrt(h)
            e[i] = scale * g
            h -= f * g
            a[i, last] = f - g
            f = 0.0
            for j in range(i):
                g = 0.0
                for k in range(j + 1):
                    g += a[j, k] * a[i, k]
                for k in range(j + 1, i):
                    g += a[k, j] * a[i, k]
                e[j] = g / h
                f += e[j] * a[i, j]
            hh = f / (h + h)
            for j in range(i):
                f = a[i, j]
                g = e[j] - hh * f
                e[j] = g
                for k in range(j + 1):
                    a[j, k] -= f * e[k] + g * a[i, k]
        else:
            e[i] = a[i, last]
    e[0] = 0.0
    for i in range(n):
        d[i] = a[i, i]


@jit
def _tridiagonal_ql(d, e):
    """Eigenvalues of the symmetric tridiagonal matrix (diagonal ``d``, sub-diagonal
    ``e[1:]``) into ``d`` by the implicit QL method; False if an eigenvalue needs more than
    30 iterations."""
    n = d.shape[0]
    for i in range(1, n):
        e[i - 1] = e[i]
    e[n - 1] = 0.0
    for low in range(n):
        it = 0
        while True:
            m = low
            while m < n - 1:
                dd = abs(d[m]) + abs(d[m + 1])
                if abs(e[m]) <= 2.220446049250313e-16 * dd:
                    break
                m += 1
            if m == low:
                break
            it += 1
            if it > 30:
                return False
            g = (d[low + 1] - d[low]) / (2.0 * e[low])
            r = math.sqrt(g * g + 1.0)
            g = d[m] - d[low] + e[low] / (g + math.copysign(r, g))
            s = 1.0
            c = 1.0
            p = 0.0
            underflow = False
            for i in range(m - 1, low - 1, -1):
                f = s * e[i]
                b = c * e[i]
                r = math.sqrt(f * f + g * g)
                e[i + 1] = r
                if r == 0.0:
                    d[i + 1] -= p
                    e[m] = 0.0
                    underflow = True
                    break
                s = f / r
                c = g / r
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2.0 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
            if underflow:
                continue
            d[low] -= p
            e[low] = g
            e[m] = 0.0
    return True


@jit
def symmetric_eigenvalues(a, b, e, out):
    """Eigenvalues of the symmetric ``a`` (n, n), ascending, into ``out``; ``a`` is kept.

    Householder tridiagonalisation and implicit QL (absolute errors within
    ``n eps |a|_F``) on the scratch ``b`` (n, n) and ``e`` (n,); Jacobi rotations
    (:func:`jacobi_eigenvalues`) in the rare case that QL does not converge.
    """
    b[:, :] = a
    _tridiagonalise(b, out, e)
    if _tridiagonal_ql(out, e):
        out.sort()
    else:
        b[:, :] = a
        jacobi_eigenvalues(b, out)

"""Private numba kernel: eigenvalues of a small symmetric matrix inside a jitted loop."""

from __future__ import annotations

import math

from fpsolve.jit import jit

__all__ = ["jacobi_eigenvalues"]


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
                if apq == 0.0:
                    continue
                theta = (a[q, q] - a[p, p]) / (2.0 * apq)
                t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                sn = t * c
                for r in range(n):
                    arp = a[r, p]
                    arq = a[r, q]
                    a[r, p] = c * arp - sn * arq
                    a[r, q] = sn * arp + c * arq
                for r in range(n):
                    apr = a[p, r]
                    aqr = a[q, r]
                    a[p, r] = c * apr - sn * aqr
                    a[q, r] = sn * apr + c * aqr
    for i in range(n):
        out[i] = a[i, i]
    out.sort()

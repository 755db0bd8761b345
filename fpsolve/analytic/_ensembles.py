r"""Exact samplers of Gaussian (Hermite) and Wishart (Laguerre) beta-ensembles.

Dumitriu & Edelman, "Matrix models for beta ensembles", J. Math. Phys. 43 (2002) 5830:
tridiagonal (Hermite) and bidiagonal (Laguerre) matrices with independent
normal and chi entries whose eigenvalues have exactly the beta-ensemble law.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from fpsolve.checks import as_rng, check_int, check_positive, check_real

__all__ = ["sample_hermite", "sample_laguerre"]

_DENSE_MAX_N = 48  # batched dense eigvalsh below this size, LAPACK tridiagonal solver above
_CHUNK_ELEMENTS = 4_000_000


def _tridiagonal_eigvalsh(diag, off):
    """Eigenvalues (ascending) of a stack of symmetric tridiagonal matrices."""
    size, n = diag.shape
    if n == 1:
        return diag.copy()
    if n == 2:
        mid = 0.5 * (diag[:, 0] + diag[:, 1])
        rad = np.hypot(0.5 * (diag[:, 0] - diag[:, 1]), off[:, 0])
        return np.stack([mid - rad, mid + rad], axis=1)
    out = np.empty((size, n))
    if n <= _DENSE_MAX_N:
        step = max(1, _CHUNK_ELEMENTS // (n * n))
        idx = np.arange(n)
        for s in range(0, size, step):
            d, e = diag[s : s + step], off[s : s + step]
            mats = np.zeros((len(d), n, n))
            mats[:, idx, idx] = d
            mats[:, idx[:-1], idx[1:]] = e
            mats[:, idx[1:], idx[:-1]] = e
            out[s : s + step] = np.linalg.eigvalsh(mats)
        return out
    for k in range(size):
        out[k] = linalg.eigvalsh_tridiagonal(diag[k], off[k])
    return out


def sample_hermite(
    n: int,
    beta: float,
    size: int,
    rng: int | np.random.Generator | np.random.SeedSequence | None = None,
    *,
    loc: float = 0.0,
    scale: float = 1.0,
) -> np.ndarray:
    r"""Eigenvalues of the Gaussian beta-ensemble, sampled exactly.

    Joint density of the ``n`` eigenvalues :math:`\lambda_i` (``loc = 0``,
    ``scale = 1``):

    .. math::

        P(\lambda) \propto \prod_{i<j} |\lambda_i - \lambda_j|^\beta
        \exp\Big(-\sum_i \lambda_i^2 / 2\Big),

    drawn as the spectrum of :math:`H_\beta = \tfrac{1}{\sqrt2}\,\mathrm{tridiag}`
    with diagonal :math:`N(0, 2)` and off-diagonals
    :math:`\chi_{\beta(n-1)}, \dots, \chi_\beta` (Dumitriu-Edelman).  For
    ``beta = 1`` this is the GOE with diagonal variance 1 and off-diagonal
    variance 1/2.  The returned values are ``loc + scale * lambda``: the
    stationary state of ``n`` harmonic modes :math:`V = \Omega (x-c)^2/2` with
    noise ``g2`` is ``loc = c``, ``scale = sqrt(g2 / Omega)``.

    Parameters
    ----------
    n : int
        Number of eigenvalues, ``>= 1``.
    beta : float
        Dyson index, ``> 0``.
    size : int
        Number of independent spectra.
    rng : int, numpy.random.Generator or None
        Seed or generator.
    loc, scale : float, optional
        Shift and scale (``scale > 0``) of the eigenvalues.

    Returns
    -------
    ndarray, shape (size, n)
        Each row ascending.

    Examples
    --------
    >>> from fpsolve.analytic import sample_hermite
    >>> sample_hermite(5, 1.0, size=3, rng=0).shape
    (3, 5)
    """
    n = check_int("n", n, minimum=1)
    beta = check_positive("beta", beta)
    size = check_int("size", size, minimum=1)
    loc = check_real("loc", loc)
    scale = check_positive("scale", scale)
    gen = as_rng(rng)
    diag = gen.normal(0.0, 1.0, size=(size, n))
    dof = beta * np.arange(n - 1, 0, -1)
    off = np.sqrt(gen.chisquare(dof, size=(size, n - 1)) / 2.0)
    return loc + scale * _tridiagonal_eigvalsh(diag, off)


def sample_laguerre(
    m: int,
    n: int,
    beta: float,
    scale: float,
    size: int,
    rng: int | np.random.Generator | np.random.SeedSequence | None = None,
) -> np.ndarray:
    r"""Eigenvalues of ``X = W^T W`` (Wishart/Laguerre beta-ensemble), sampled exactly.

    For ``beta = 1`` these are the eigenvalues of :math:`W^T W` with ``W`` an
    ``m x n`` real matrix of i.i.d. :math:`N(0, \mathrm{scale})` entries; for
    general ``beta`` the joint density is

    .. math::

        P(x) \propto \prod_{i<j}|x_i - x_j|^\beta
        \prod_i x_i^{\beta(m-n+1)/2 - 1} e^{-\beta x_i / (2\,\mathrm{scale})},

    normalised so that the mean eigenvalue is ``m * scale`` for every beta.
    Drawn as :math:`(\mathrm{scale}/\beta)\,\mathrm{eig}(B B^T)` with ``B``
    lower bidiagonal, diagonal :math:`\chi_{\beta m}, \chi_{\beta(m-1)}, \dots,
    \chi_{\beta(m-n+1)}` and subdiagonal :math:`\chi_{\beta(n-1)}, \dots, \chi_\beta`
    (Dumitriu-Edelman).  For large ``m, n`` the spectrum follows
    :func:`~fpsolve.analytic.marchenko_pastur` with ``r = n/m``,
    ``scale = m * scale``.

    Parameters
    ----------
    m, n : int
        Matrix shape, ``m >= n >= 1``.
    beta : float
        Dyson index, ``> 0``.
    scale : float
        Entry variance :math:`s^2 > 0`.
    size : int
        Number of independent spectra.
    rng : int, numpy.random.Generator or None
        Seed or generator.

    Returns
    -------
    ndarray, shape (size, n)
        Each row ascending.
    """
    m = check_int("m", m, minimum=1)
    n = check_int("n", n, minimum=1)
    if n > m:
        raise ValueError(
            f"n must be <= m (X = W^T W of an m x n matrix with n <= m), got m={m}, n={n}"
        )
    beta = check_positive("beta", beta)
    scale = check_positive("scale", scale)
    size = check_int("size", size, minimum=1)
    gen = as_rng(rng)
    a2 = gen.chisquare(beta * (m - np.arange(n)), size=(size, n))
    b2 = gen.chisquare(beta * np.arange(n - 1, 0, -1), size=(size, n - 1))
    diag = a2.copy()
    diag[:, 1:] += b2
    off = np.sqrt(a2[:, :-1] * b2)
    return (scale / beta) * _tridiagonal_eigvalsh(diag, off)

"""Private Numba kernels of the Gaussian-RBM trainer (plain arrays in and out).

Conventions (docs/theory.md section 4): ``w`` is ``(n_v, n_h)``, the visible chains
``phi`` are ``(batch_size, n_v)``, ``eta = 0``, ``s = sigma_h^2``.  One block-Gibbs
sweep draws

    h   | phi ~ N(s W^T phi, s)      ((batch_size, n_h) normals, C order)
    phi | h   ~ N(W h / mu2, 1/mu2)  ((batch_size, n_v) normals, C order)

for all chains at once.  One update (a step) is: in data mode draw ``batch_size``
target samples ``L z`` (``n_v`` normals each, ``L L^T = K_target^{-1}``), then
``k`` sweeps of every chain, then ``W <- W + alpha s (C_target - C_model) W``.
Every random number comes from the one stream of the run (``fpsolve._xoshiro``:
xoshiro256++ with a ziggurat), in exactly this order, so a plain-numpy
implementation taking its normals from the same stream in the same order
reproduces the kernel to rounding.

Speed: the normals of a block are filled at once (the generator's hot loop keeps
its state in registers).  The matrices are too small for BLAS to pay (and
OpenBLAS serialises concurrent small calls from several threads), so the
products are plain loops: inside a sweep the chains are held transposed,
``(n_v, batch_size)`` and ``(n_h, batch_size)``, and every inner loop runs over
the chains (contiguous, vectorised); the second moment and ``(C_target -
C_model) W`` run their inner loops over contiguous rows.  Each loop sums in a
fixed order, so results do not depend on the thread count.
"""

from __future__ import annotations

import math

import numpy as np

from fpsolve._numba import jit
from fpsolve._xoshiro import _fill_normals

__all__: list[str] = []


@jit(inline="always")
def _half_sweep(out, coef, rows, scale, sd, z):
    """``out[m, b] = scale sum_k coef[k, m] rows[k, b] + sd z[b M + m]`` (``M`` rows of ``out``).

    One half of a block-Gibbs sweep on transposed chains: every inner loop runs over
    the chains ``b`` (contiguous, vectorised); ``k`` is summed in order.
    """
    n_out, n_b = out.shape
    for m in range(n_out):
        om = out[m]
        for b in range(n_b):
            om[b] = 0.0
        for k in range(rows.shape[0]):
            a = coef[k, m]
            rk = rows[k]
            for b in range(n_b):
                om[b] += a * rk[b]
        for b in range(n_b):
            om[b] = scale * om[b] + sd * z[b * n_out + m]


@jit
def _sweeps_t(w, phi_t, h_t, s, n_sweeps, sigma_h2, mu2, z_h, z_v):
    """``n_sweeps`` block-Gibbs sweeps of the transposed chains ``phi_t`` (``(n_v, B)``).

    ``h_t`` (``(n_h, B)``), ``z_h`` (``B n_h``) and ``z_v`` (``B n_v``) are work
    arrays; the normals are drawn in the C order of ``(B, n_h)`` and ``(B, n_v)``.
    """
    sd_h = math.sqrt(sigma_h2)
    sd_v = 1.0 / math.sqrt(mu2)
    inv_mu2 = 1.0 / mu2
    w_t = np.ascontiguousarray(w.T)
    for _ in range(n_sweeps):
        _fill_normals(s, z_h)
        _half_sweep(h_t, w, phi_t, sigma_h2, sd_h, z_h)  # h = s W^T phi + sigma_h z
        _fill_normals(s, z_v)
        _half_sweep(phi_t, w_t, h_t, inv_mu2, sd_v, z_v)  # phi = W h / mu2 + z / mu


@jit
def _gibbs_sweeps(w, phi, s, n_sweeps, sigma_h2, mu2):
    """Advance the chains ``phi`` (``(n_chains, n_v)``, in place) by ``n_sweeps`` sweeps.

    Per sweep: draw ``(n_chains, n_h)`` normals ``z`` (C order) from the stream
    ``s`` and set every hidden vector ``h = sigma_h2 W^T phi + sigma_h z``, then
    draw ``(n_chains, n_v)`` normals (C order) and set every visible vector
    ``phi = W h / mu2 + z / mu``.
    """
    n_chains, n_v = phi.shape
    n_h = w.shape[1]
    phi_t = np.ascontiguousarray(phi.T)
    _sweeps_t(
        w, phi_t, np.empty((n_h, n_chains)), s, n_sweeps, sigma_h2, mu2,
        np.empty(n_chains * n_h), np.empty(n_chains * n_v),
    )  # fmt: skip
    phi[:] = phi_t.T


@jit(inline="always")
def _matmul(out, a, b):
    """``out = a @ b``, rows of ``b`` added in order (inner loops over contiguous rows)."""
    out[:] = 0.0
    for i in range(out.shape[0]):
        oi = out[i]
        for l in range(b.shape[0]):  # noqa: E741
            c = a[i, l]
            bl = b[l]
            for j in range(out.shape[1]):
                oi[j] += c * bl[j]


@jit
def _second_moment(phi, out):
    """``out = (1/B) sum_b phi_b phi_b^T`` for chains ``(B, n_v)`` (summed over ``b`` in order)."""
    n_chains, n_v = phi.shape
    out[:] = 0.0
    for b in range(n_chains):
        pb = phi[b]
        for i in range(n_v):
            a = pb[i]
            oi = out[i]
            for l in range(n_v):  # noqa: E741
                oi[l] += a * pb[l]
    inv = 1.0 / n_chains
    for i in range(n_v):
        for l in range(n_v):  # noqa: E741
            out[i, l] *= inv


@jit
def _train_run(
    w, phi, s, n_updates, alpha, sigma_h2, mu2, k, c_target, chol, data_mode, record_at, w_out
):
    """Train one run for ``n_updates`` PCD updates, in place.

    Parameters
    ----------
    w : (n_v, n_h) float64, updated in place.
    phi : (batch_size, n_v) float64 persistent chains, updated in place.
    s : (4,) uint64 stream of this run (``fpsolve._xoshiro``), advanced in place.
    c_target : (n_v, n_v) exact target second moment (used when not ``data_mode``).
    chol : (n_v, n_v) lower Cholesky factor of the target covariance (data mode).
    record_at : sorted int64 array of update counts ``1..n_updates`` after which
        ``w`` is copied into consecutive slots of ``w_out``.

    Returns
    -------
    int
        ``-1``, or the (1-based) update after which ``w`` first held a
        non-finite entry (the run stops there).
    """
    n_chains, n_v = phi.shape
    n_h = w.shape[1]
    phi_t = np.ascontiguousarray(phi.T)
    h_t = np.empty((n_h, n_chains))
    z_h = np.empty(n_chains * n_h)
    z_v = np.empty(n_chains * n_v)
    c_model = np.empty((n_v, n_v))
    c_data = np.empty((n_v, n_v))
    grad = np.empty((n_v, n_v))
    w_new = np.empty((n_v, n_h))
    z = np.empty((n_chains, n_v))
    data = np.empty((n_chains, n_v))
    chol_t = np.ascontiguousarray(chol.T)
    rate = alpha * sigma_h2
    slot = 0
    n_rec = record_at.shape[0]
    stopped = -1
    for t in range(1, n_updates + 1):
        if data_mode:
            _fill_normals(s, z.ravel())
            _matmul(data, z, chol_t)  # target samples L z
            _second_moment(data, c_data)
        _sweeps_t(w, phi_t, h_t, s, k, sigma_h2, mu2, z_h, z_v)
        for b in range(n_chains):
            for i in range(n_v):
                phi[b, i] = phi_t[i, b]
        _second_moment(phi, c_model)
        for i in range(n_v):
            for l in range(n_v):  # noqa: E741
                target = c_data[i, l] if data_mode else c_target[i, l]
                grad[i, l] = target - c_model[i, l]
        _matmul(w_new, grad, w)
        finite = True
        for i in range(n_v):
            for j in range(n_h):
                v = w[i, j] + rate * w_new[i, j]
                w[i, j] = v
                if not math.isfinite(v):
                    finite = False
        if not finite:
            stopped = t
            break
        while slot < n_rec and record_at[slot] == t:
            for i in range(n_v):
                for j in range(n_h):
                    w_out[slot, i, j] = w[i, j]
            slot += 1
    return stopped

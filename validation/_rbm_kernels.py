"""Private Numba kernels of the Gaussian-RBM trainer (plain arrays in and out).

Conventions (docs/theory.md section 4): ``w`` is ``(n_v, n_h)``, the visible chains
``phi`` are ``(batch_size, n_v)``, ``eta = 0``, ``s = sigma_h^2``.  One block-Gibbs
sweep draws

    h   | phi ~ N(s W^T phi, s)      ((batch_size, n_h) normals, C order)
    phi | h   ~ N(W h / mu2, 1/mu2)  ((batch_size, n_v) normals, C order)

for all chains at once.  One update (a step) is: in data mode draw ``batch_size``
target samples ``L z`` (``n_v`` normals each, ``L L^T = K_target^{-1}``), then
``k`` sweeps of every chain, then ``W <- W + alpha s (C_target - C_model) W``.
Every random number comes from the one Generator of the run, in exactly this
order, so a plain-numpy implementation drawing in the same order reproduces
the kernel to rounding.  The matrix products go through BLAS (``np.dot`` with
an output array); the noise is drawn with numba's implementation of
``Generator.standard_normal``, which reproduces numpy's stream.
"""

from __future__ import annotations

import math

import numpy as np

from fpsolve._numba import jit

__all__: list[str] = []


@jit
def _gibbs_sweeps(w, phi, h, rng, n_sweeps, sigma_h2, mu2):
    """Advance the chains ``phi`` (``(n_chains, n_v)``, in place) by ``n_sweeps`` sweeps.

    Per sweep: draw ``(n_chains, n_h)`` normals ``z`` (C order) and set every
    hidden vector ``h = sigma_h2 W^T phi + sigma_h z``, then draw
    ``(n_chains, n_v)`` normals (C order) and set every visible vector
    ``phi = W h / mu2 + z / mu``.  ``h`` (``(n_chains, n_h)``) is a work array;
    the matrix products go through BLAS.
    """
    sd_h = math.sqrt(sigma_h2)
    sd_v = 1.0 / math.sqrt(mu2)
    inv_mu2 = 1.0 / mu2
    w_t = w.T
    h_flat = h.ravel()
    phi_flat = phi.ravel()
    z_h = np.empty(h_flat.shape[0])
    z_v = np.empty(phi_flat.shape[0])
    for _ in range(n_sweeps):
        for q in range(z_h.shape[0]):
            z_h[q] = rng.standard_normal()
        np.dot(phi, w, h)
        for q in range(h_flat.shape[0]):
            h_flat[q] = sigma_h2 * h_flat[q] + sd_h * z_h[q]
        for q in range(z_v.shape[0]):
            z_v[q] = rng.standard_normal()
        np.dot(h, w_t, phi)
        for q in range(phi_flat.shape[0]):
            phi_flat[q] = phi_flat[q] * inv_mu2 + sd_v * z_v[q]


@jit
def _second_moment(phi, out):
    """``out = (1/B) sum_b phi_b phi_b^T`` for chains ``(B, n_v)`` (symmetrised)."""
    n_chains, n_v = phi.shape
    np.dot(phi.T, phi, out)
    inv = 1.0 / n_chains
    for i in range(n_v):
        out[i, i] *= inv
        for l in range(i + 1, n_v):  # noqa: E741
            v = 0.5 * (out[i, l] + out[l, i]) * inv
            out[i, l] = v
            out[l, i] = v


@jit
def _train_run(
    w, phi, rng, n_updates, alpha, sigma_h2, mu2, k, c_target, chol, data_mode, record_at, w_out
):
    """Train one run for ``n_updates`` PCD updates, in place.

    Parameters
    ----------
    w : (n_v, n_h) float64, updated in place.
    phi : (batch_size, n_v) float64 persistent chains, updated in place.
    rng : numpy Generator of this run.
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
    h = np.empty((n_chains, n_h))
    c_model = np.empty((n_v, n_v))
    c_data = np.empty((n_v, n_v))
    grad = np.empty((n_v, n_v))
    w_new = np.empty((n_v, n_h))
    z = np.empty((n_chains, n_v))
    data = np.empty((n_chains, n_v))
    chol_t = chol.T
    rate = alpha * sigma_h2
    slot = 0
    n_rec = record_at.shape[0]
    stopped = -1
    for t in range(1, n_updates + 1):
        if data_mode:
            z_flat = z.ravel()
            for q in range(z_flat.shape[0]):
                z_flat[q] = rng.standard_normal()
            np.dot(z, chol_t, data)
            _second_moment(data, c_data)
        _gibbs_sweeps(w, phi, h, rng, k, sigma_h2, mu2)
        _second_moment(phi, c_model)
        for i in range(n_v):
            for l in range(n_v):  # noqa: E741
                target = c_data[i, l] if data_mode else c_target[i, l]
                grad[i, l] = target - c_model[i, l]
        np.dot(grad, w, w_new)
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


@jit
def _draw_normals(rng, n):
    """Draw ``n`` standard normals from ``rng`` and return their sum (the RNG speed limit)."""
    acc = 0.0
    for _ in range(n):
        acc += rng.standard_normal()
    return acc

"""Private Numba kernels of the Gaussian-RBM trainer (plain arrays in and out).

Conventions (docs/theory.md section 4): ``w`` is ``(n_v, n_h)``, the visible chains
``phi`` are ``(batch_size, n_v)``, ``eta = 0``, ``s = sigma_h^2``.  One block-Gibbs
sweep draws

    h   | phi ~ N(s W^T phi, s)      ((n_h, batch_size) normals, C order)
    phi | h   ~ N(W h / mu2, 1/mu2)  ((n_v, batch_size) normals, C order)

for all chains at once: the normals of a half sweep are drawn unit by unit, one per
chain.  One update (a step) is: in data mode draw ``batch_size`` target samples
``L z`` (``(n_v, batch_size)`` normals, C order; ``L L^T = K_target^{-1}``), then
``k`` sweeps of every chain, then ``W <- W + alpha s (C_target - C_model) W``.
Every random number comes from the one stream of the run (``fpsolve.streams``:
xoshiro256++ with a ziggurat), in exactly this order, so a plain-numpy
implementation taking its normals from the same stream in the same order
reproduces the kernel to rounding.

Speed: the normals of a block are filled at once (the generator's hot loop keeps
its state in registers).  Every matrix product is one of ``fpsolve.products``
(register blocks of ``coef^T rows``, summed in a fixed order, so results do not
depend on the thread count); the noise of a half sweep is added as each block of
the product is stored.  Inside a sweep the chains are held transposed,
``(n_v, batch_size)`` and ``(n_h, batch_size)``, so the columns of the products are
the chains.  A run works on private copies of its weights, chains and stream state
and writes them back at the end: the callers' arrays hold many runs side by side (a
stream state is 32 bytes, so two runs share a cache line), and runs advanced on
different threads must not write to one line again and again.
"""

from __future__ import annotations

import math

import numpy as np

from fpsolve.jit import jit
from fpsolve.products import product, product_noise
from fpsolve.streams import fill_normals

__all__: list[str] = []


@jit(inline="always")
def _transpose(out, a):
    """``out = a^T`` (both C order)."""
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j, i] = a[i, j]


@jit
def _sweeps_t(w, w_t, phi_t, h_t, s, n_sweeps, sigma_h2, mu2, z_h, z_v):
    """``n_sweeps`` block-Gibbs sweeps of the transposed chains ``phi_t`` (``(n_v, B)``).

    ``w_t`` is ``w^T``; ``h_t`` (``(n_h, B)``), ``z_h`` (``(n_h, B)``) and ``z_v``
    (``(n_v, B)``) are work arrays: the normals of a half sweep are drawn unit by unit,
    one per chain (the C order of ``z_h`` and ``z_v``).
    """
    sd_h = math.sqrt(sigma_h2)
    sd_v = 1.0 / math.sqrt(mu2)
    inv_mu2 = 1.0 / mu2
    for _ in range(n_sweeps):
        fill_normals(s, z_h.reshape(-1))
        product_noise(h_t, w, phi_t, sigma_h2, sd_h, z_h)  # h = s W^T phi + sigma_h z
        fill_normals(s, z_v.reshape(-1))
        product_noise(phi_t, w_t, h_t, inv_mu2, sd_v, z_v)  # phi = W h / mu2 + z / mu


@jit
def _gibbs_sweeps(w, phi, s, n_sweeps, sigma_h2, mu2):
    """Advance the chains ``phi`` (``(n_chains, n_v)``, in place) by ``n_sweeps`` sweeps.

    Per sweep: draw ``(n_h, n_chains)`` normals ``z`` (C order) from the stream ``s``
    and set every hidden vector ``h_b = sigma_h2 W^T phi_b + sigma_h z[:, b]``, then
    draw ``(n_v, n_chains)`` normals (C order) and set every visible vector
    ``phi_b = W h_b / mu2 + z[:, b] / mu``.
    """
    n_chains, n_v = phi.shape
    n_h = w.shape[1]
    phi_t = np.ascontiguousarray(phi.T)
    _sweeps_t(
        np.ascontiguousarray(w), np.ascontiguousarray(w.T), phi_t, np.empty((n_h, n_chains)), s,
        n_sweeps, sigma_h2, mu2, np.empty((n_h, n_chains)), np.empty((n_v, n_chains)),
    )  # fmt: skip
    _transpose(phi, phi_t)


@jit
def _train_run(
    w, phi, s, n_updates, alpha, sigma_h2, mu2, k, c_target, chol, data_mode, record_at, w_out
):
    """Train one run for ``n_updates`` PCD updates, in place.

    Parameters
    ----------
    w : (n_v, n_h) float64, updated in place.
    phi : (batch_size, n_v) float64 persistent chains, updated in place.
    s : (4,) uint64 stream of this run (``fpsolve.streams``), advanced in place.
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
    # private copies: runs on other threads never write to the cache lines of this one
    st = s.copy()
    w_run = w.copy()
    phi_t = np.ascontiguousarray(phi.T)
    phi_run = np.empty((n_chains, n_v))
    w_t = np.ascontiguousarray(w.T)
    h_t = np.empty((n_h, n_chains))
    z_h = np.empty((n_h, n_chains))
    z_v = np.empty((n_v, n_chains))
    c_model = np.empty((n_v, n_v))
    c_data = np.empty((n_v, n_v))
    grad_t = np.empty((n_v, n_v))
    w_new = np.empty((n_v, n_h))
    data = np.empty((n_chains, n_v))
    chol_t = np.ascontiguousarray(chol.T)
    rate = alpha * sigma_h2
    inv_b = 1.0 / n_chains
    slot = 0
    n_rec = record_at.shape[0]
    stopped = -1
    for t in range(1, n_updates + 1):
        if data_mode:  # target samples L z, z drawn unit by unit (C order of z_v)
            fill_normals(st, z_v.reshape(-1))
            product(data, z_v, chol_t)
            product(c_data, data, data)
        _sweeps_t(w_run, w_t, phi_t, h_t, st, k, sigma_h2, mu2, z_h, z_v)
        _transpose(phi_run, phi_t)
        product(c_model, phi_run, phi_run)  # sum_b phi_b phi_b^T
        for i in range(n_v):
            for l in range(n_v):  # noqa: E741
                target = c_data[i, l] * inv_b if data_mode else c_target[i, l]
                grad_t[l, i] = target - c_model[i, l] * inv_b
        product(w_new, grad_t, w_run)  # (C_target - C_model) W
        finite = True
        for i in range(n_v):
            for j in range(n_h):
                v = w_run[i, j] + rate * w_new[i, j]
                w_run[i, j] = v
                w_t[j, i] = v
                if not math.isfinite(v):
                    finite = False
        if not finite:
            stopped = t
            break
        while slot < n_rec and record_at[slot] == t:
            for i in range(n_v):
                for j in range(n_h):
                    w_out[slot, i, j] = w_run[i, j]
            slot += 1
    s[:] = st
    w[:] = w_run
    _transpose(phi, phi_t)
    return stopped

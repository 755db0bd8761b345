"""Private Numba kernels of :mod:`fpsolve.sgd`: plain arrays in, preallocated arrays filled.

The integrator (:func:`_integrate`) is generic: it advances every replica of a weight
matrix ``w`` by ``w <- w + alpha g`` and knows nothing of the model beyond three jitted
pieces, module globals here that default to the Gaussian RBM's:

``_work(data, n_rows, n_cols, batch_size) -> work``
    allocate the model's work arrays (any tuple) once per replica;
``_prepare(w, data, work) -> int``
    factor whatever the sampler needs under the current ``w``; ``0``, or a code
    ``>= 1`` saying that ``w`` left the model's domain (the replica stops);
``_direction(w, s, data, work, g)``
    draw the step's samples from the stream ``s`` and write the update direction into
    ``g`` (``w' = w + alpha g``).

``data`` is the model's tuple of parameters.  :func:`build_integrator` recompiles the
integrator against another model's pieces (without the on-disk cache, as
``fpsolve._dbm_kernels.build_kernels`` does for user drift models).

The Gaussian RBM itself runs on :func:`_rbm_lanes_integrate`, which steps
:data:`MATRIX_LANES` replicas together with each replica in a lane of every array (the
replicas innermost, summed by :func:`fpsolve.products.lane_sum`): each lane does the
arithmetic of :func:`_integrate` with the RBM's pieces in the same order, so every number
is the same, bit for bit.  The aligned map builds the matrices of a batch of
:data:`MATRIX_LANES` replicas the same way (:func:`_aligned_lanes_matrices`).

Randomness: replica ``r`` owns the stream ``streams[r]`` (``fpsolve.streams``) and
everything it draws comes from it in a fixed order, so a replica's trajectory does
not depend on how replicas are split over threads, nor on how the steps are split
into calls.  A replica works on private copies of its weights and stream state and
writes them back at the end (neighbouring replicas share cache lines).
"""

from __future__ import annotations

import math
import types
import typing

import numba
import numpy as np
from numba import prange

from fpsolve.dbm._linalg import jacobi_lanes, symmetric_eigenvalues
from fpsolve.dbm._random import fill_normals_by_replica, normal, uniform
from fpsolve.jit import jit, pjit
from fpsolve.products import LANES, lane_subtract, lane_sum, product
from fpsolve.streams import fill_normals

__all__ = ["build_integrator"]

# failure codes: 0 running, 1 non-finite W (the integrator's), 1 + c for a model's code c
NON_FINITE = 1


# --------------------------------------------------------------------------- Wishart draws
@jit(inline="always")
def _chi(s, k):
    """A chi variate with ``k >= 1`` degrees of freedom from stream ``s`` (advanced).

    ``|N(0, 1)|`` for ``k = 1``, else ``sqrt(2 G)`` with ``G ~ Gamma(k/2)`` drawn by the
    method of Marsaglia and Tsang (ACM Trans. Math. Softw. 26, 363, 2000): one normal and
    one uniform per trial, with its squeeze before the logarithms.
    """
    if k == 1:
        return abs(normal(s))
    d = 0.5 * k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = normal(s)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = uniform(s)
        x2 = x * x
        if u < 1.0 - 0.0331 * x2 * x2 or math.log(u) < 0.5 * x2 + d * (1.0 - v + math.log(v)):
            return math.sqrt(2.0 * d * v)


@jit
def bartlett(s, t, batch):
    """Fill ``t`` (``(N, m)``, ``m = min(N, batch)``) with a matrix ``T`` from stream ``s``
    such that ``T T^T`` has the law of ``z z^T``, ``z`` an ``(N, batch)`` matrix of
    independent standard normals.

    For ``batch <= N``, ``T = z`` (the ``N batch`` normals in C order).  For ``batch > N``,
    the Bartlett factor (docs/theory.md eq. sgd-bartlett; Bartlett, Proc. R. Soc. Edinb.
    53, 260, 1934), the transpose of the R factor of ``z^T = QR``: ``T_ii ~ chi(batch -
    i)``, ``T_ij ~ N(0, 1)`` for ``j < i``, zero above the diagonal; ``N (N - 1)/2``
    normals (drawn first, in one call, in row-major order of their places) and ``N`` chi
    variates (then, by row) instead of ``N batch`` normals.
    """
    n = t.shape[0]
    flat = t.reshape(-1)
    if batch <= n:
        fill_normals(s, flat)
        return
    n_below = n * (n - 1) // 2
    fill_normals(s, flat[:n_below])
    k = n_below  # move them to their places, last first (a place is never before its value)
    for i in range(n - 1, 0, -1):
        for j in range(i - 1, -1, -1):
            k -= 1
            t[i, j] = flat[k]
    for i in range(n):
        t[i, i] = _chi(s, batch - i)
        for j in range(i + 1, n):
            t[i, j] = 0.0


# --------------------------------------------------------------------------- Gaussian RBM
# data = (mu2, sigma_h2, c_target); docs/theory.md section 4.
@jit
def _rbm_work(data, n_rows, n_cols, batch_size):
    """The work arrays (commented below) for ``n_rows = N_v``, ``n_cols = N_h``."""
    m = min(n_rows, batch_size)
    return (
        np.empty((n_cols, n_rows)),  # W^T
        np.empty((n_rows, n_rows)),  # lower Cholesky factor L of K (upper part unused)
        np.empty(n_rows),  # 1 / L_ii
        np.empty((n_rows, m)),  # Bartlett factor T of z z^T, then phi = L^{-T} T
        np.empty((m, n_rows)),  # phi^T
        np.empty((n_rows, n_rows)),  # phi phi^T = L^{-T} z z^T L^{-1}
        np.empty((n_rows, n_rows)),  # sigma_h2 (C_target - C_hat)
        np.full(1, batch_size),  # |B|
    )


@jit
def _rbm_prepare(w, data, work):
    """Cholesky factor of ``K = mu2 1 - sigma_h2 W W^T``; 1 if ``K`` is not positive definite."""
    mu2, s, _ = data
    w_t, chol, inv_d = work[0], work[1], work[2]
    n_v, n_h = w.shape
    for i in range(n_v):
        for j in range(n_h):
            w_t[j, i] = w[i, j]
    product(chol, w_t, w_t)  # W W^T
    for i in range(n_v):
        for j in range(i + 1):
            chol[i, j] = (mu2 if i == j else 0.0) - s * chol[i, j]
    for j in range(n_v):  # in place, column by column (reads the lower triangle only)
        d = chol[j, j]
        for k in range(j):
            d -= chol[j, k] * chol[j, k]
        if not d > 0.0:  # also catches NaN
            return 1
        d = math.sqrt(d)
        chol[j, j] = d
        inv = 1.0 / d
        inv_d[j] = inv
        for i in range(j + 1, n_v):
            t = chol[i, j]
            for k in range(j):
                t -= chol[i, k] * chol[j, k]
            chol[i, j] = t * inv
    return 0


@jit
def _rbm_direction(w, s, data, work, g):
    """``g = sigma_h2 (C_target - C_hat) W`` with ``C_hat`` from exact samples of ``N(0, K^-1)``.

    The samples are ``L^{-T} z`` for ``z`` an ``(N_v, |B|)`` matrix of standard normals
    (covariance ``(L L^T)^{-1} = K^{-1}``), so ``|B| C_hat = L^{-T} z z^T L^{-1}``: the
    step draws ``T`` with ``T T^T`` distributed as ``z z^T`` (:func:`bartlett`) into
    ``work[3]`` and hands it to :func:`_rbm_direction_of_draw`.
    """
    bartlett(s, work[3], work[7][0])
    _rbm_direction_of_draw(w, data, work, g)


@jit(inline="always")
def _rbm_direction_of_draw(w, data, work, g):
    """The direction of :func:`_rbm_direction` from the draw in ``work[3]`` (``(N_v, m)``,
    overwritten): solves ``L^T phi = T`` by back substitution and forms ``phi phi^T``;
    ``|B|`` is ``work[7][0]``."""
    _, sigma_h2, c_target = data
    chol, inv_d, phi, phi_t, c_hat, delta = work[1], work[2], work[3], work[4], work[5], work[6]
    n_v, m = phi.shape
    for i in range(n_v - 1, -1, -1):
        row = phi[i]
        for k in range(i + 1, n_v):
            c = chol[k, i]
            src = phi[k]
            for b in range(m):
                row[b] -= c * src[b]
        d = inv_d[i]
        for b in range(m):
            row[b] *= d
    for i in range(n_v):
        for b in range(m):
            phi_t[b, i] = phi[i, b]
    product(c_hat, phi_t, phi_t)  # phi phi^T
    inv_b = 1.0 / work[7][0]
    for i in range(n_v):
        for j in range(n_v):
            delta[i, j] = sigma_h2 * (c_target[i, j] - c_hat[i, j] * inv_b)
    product(g, delta, w)  # delta is symmetric: delta^T W = delta W


_work, _prepare, _direction = _rbm_work, _rbm_prepare, _rbm_direction  # the default model


# --------------------------------------------------------------------------- the integrator
@jit
def _spectrum(w, spec, out):
    """``out`` = the eigenvalues of ``W^T W`` (ascending; Householder + QL,
    :func:`~fpsolve.dbm._linalg.symmetric_eigenvalues`); ``spec`` holds two
    ``(n_cols, n_cols)`` and one ``(n_cols,)`` work arrays."""
    x, b, e = spec
    product(x, w, w)
    symmetric_eigenvalues(x, b, e, out)


@jit
def _advance(w, s, alpha, data, work, g, spec, t0, t1, snap_steps, p, eig, w_out, keep_w):
    """Steps ``t0 + 1 .. t1`` of one replica; records snapshot ``p`` onwards at its steps.

    Returns ``(code, step)``: code 0, or the failure code and the step whose update
    produced the failing ``w``.
    """
    n_rows, n_cols = w.shape
    n_snap = snap_steps.shape[0]
    for t in range(t0 + 1, t1 + 1):
        _direction(w, s, data, work, g)
        finite = True
        for i in range(n_rows):
            for j in range(n_cols):
                v = w[i, j] + alpha * g[i, j]
                w[i, j] = v
                if not math.isfinite(v):
                    finite = False
        if not finite:
            return NON_FINITE, t
        code = _prepare(w, data, work)
        if code != 0:
            return NON_FINITE + code, t
        while p < n_snap and snap_steps[p] == t:
            _spectrum(w, spec, eig[p])
            if keep_w:
                w_out[p] = w
            p += 1
    return 0, t1


@pjit
def _integrate(
    w, streams, code, fail_step, alpha, batch_size, data, t0, t1, snap_steps, p, eig, w_out, keep_w
):
    """Advance every running replica (``code[r] == 0``) from step ``t0`` to ``t1``, in place.

    ``w`` is ``(R, n_rows, n_cols)``, ``streams`` ``(R, 4)``; snapshots ``p, p + 1, ...``
    (steps in ``(t0, t1]``) go to ``eig[r, p]`` (``(R, S, n_cols)``) and, with
    ``keep_w``, to ``w_out[r, p]``.  The model pieces must accept ``w[r]`` (checked
    before the first call).
    """
    n_rep, n_rows, n_cols = w.shape
    for r in prange(n_rep):
        if code[r] == 0:
            wr = w[r].copy()
            st = streams[r].copy()
            work = _work(data, n_rows, n_cols, batch_size)
            _prepare(wr, data, work)
            g = np.empty((n_rows, n_cols))
            spec = (np.empty((n_cols, n_cols)), np.empty((n_cols, n_cols)), np.empty(n_cols))
            c, t = _advance(
                wr, st, alpha, data, work, g, spec, t0, t1, snap_steps, p, eig[r], w_out[r], keep_w
            )
            w[r] = wr
            streams[r] = st
            if c != 0:
                code[r] = c
                fail_step[r] = t


@jit
def _check_start(w, data, batch_size, code):
    """``code[r]`` = the model's ``_prepare`` code for ``w[r]`` (0 if inside its domain)."""
    n_rep, n_rows, n_cols = w.shape
    for r in range(n_rep):
        work = _work(data, n_rows, n_cols, batch_size)
        code[r] = _prepare(w[r].copy(), data, work)


# --------------------------------------------------------------------------- RBM in lanes
MATRIX_LANES = LANES
"""Replicas of the Gaussian RBM that :func:`_rbm_lanes_integrate` steps together (at most)."""


@jit
def _lanes_gram(w, mu2, s, chol):
    """Lower triangle of ``K = mu2 1 - s W W^T`` for every lane (``w`` ``(N_v, N_h, L)``),
    summed as :func:`_rbm_prepare` sums it."""
    n_v, n_h, n_l = w.shape
    for i in range(n_v):
        for j in range(i + 1):
            at = (i * n_v + j) * n_l
            lane_sum(chol, at, w, i * n_h * n_l, n_l, w, j * n_h * n_l, n_l, n_h)
            diag = mu2 if i == j else 0.0
            for q in range(n_l):
                chol[i, j, q] = diag - s * chol[i, j, q]


@jit
def _lanes_cholesky(chol, inv_d, bad):
    """In-place lower Cholesky factor of every lane of ``chol`` (``(N_v, N_v, L)``), with
    ``inv_d = 1 / L_ii``; ``bad[q]`` is set where ``K`` is not positive definite (that
    lane then goes on with a pivot of 1, and its numbers mean nothing)."""
    n_v, _, n_l = chol.shape
    for j in range(n_v):
        row_j = j * n_v * n_l
        lane_subtract(chol, row_j + j * n_l, chol, row_j, n_l, chol, row_j, n_l, j)
        for q in range(n_l):
            d = chol[j, j, q]
            if not d > 0.0:  # also catches NaN
                bad[q] = True
                d = 1.0
            d = math.sqrt(d)
            chol[j, j, q] = d
            inv_d[j, q] = 1.0 / d
        for i in range(j + 1, n_v):
            row_i = i * n_v * n_l
            lane_subtract(chol, row_i + j * n_l, chol, row_i, n_l, chol, row_j, n_l, j)
            for q in range(n_l):
                chol[i, j, q] *= inv_d[j, q]


class _LanesWork(typing.NamedTuple):
    """The scratch of one batch of ``L`` lanes (replicas innermost)."""

    w: np.ndarray  # (N_v, N_h, L) the weights
    g: np.ndarray  # (N_v, N_h, L) the update direction
    chol: np.ndarray  # (N_v, N_v, L) K, then its lower Cholesky factor
    inv_d: np.ndarray  # (N_v, L) 1 / L_ii
    phi: np.ndarray  # (N_v, m, L) the draw T, then L^{-T} T
    c_hat: np.ndarray  # (N_v, N_v, L) phi phi^T, then sigma_h2 (C_target - C_hat)
    eta: np.ndarray  # (N_v m, L) normals
    st: np.ndarray  # (4, L) uint64 the streams
    ridx: np.ndarray  # (L,) int64 scratch of fill_normals_by_replica
    rabs: np.ndarray  # (L,) int64
    tmp: np.ndarray  # (4,) uint64 one stream
    bad: np.ndarray  # (L,) bool, K not positive definite
    live: np.ndarray  # (L,) bool, the lane is a running replica


@jit
def _lanes_work(n_v, n_h, m, n_l):
    return _LanesWork(
        np.zeros((n_v, n_h, n_l)), np.empty((n_v, n_h, n_l)), np.empty((n_v, n_v, n_l)),
        np.empty((n_v, n_l)), np.empty((n_v, m, n_l)), np.empty((n_v, n_v, n_l)),
        np.empty((n_v * m, n_l)), np.empty((4, n_l), dtype=np.uint64),
        np.empty(n_l, dtype=np.int64), np.empty(n_l, dtype=np.int64),
        np.empty(4, dtype=np.uint64), np.zeros(n_l, dtype=np.bool_), np.zeros(n_l, dtype=np.bool_),
    )  # fmt: skip


@jit
def _lanes_draw(lw, batch):
    """Every lane's :func:`bartlett` draw into ``lw.phi``, from its stream in ``lw.st``."""
    n_v, m, n_l = lw.phi.shape
    phi, eta = lw.phi, lw.eta
    if batch <= n_v:
        fill_normals_by_replica(lw.st, eta, lw.ridx, lw.rabs, lw.tmp)
        for i in range(n_v):
            for b in range(m):
                for q in range(n_l):
                    phi[i, b, q] = eta[i * m + b, q]
        return
    n_below = n_v * (n_v - 1) // 2
    fill_normals_by_replica(lw.st, eta[:n_below], lw.ridx, lw.rabs, lw.tmp)
    k = 0
    for i in range(n_v):
        for j in range(n_v):
            if j < i:
                for q in range(n_l):
                    phi[i, j, q] = eta[k, q]
                k += 1
            elif j > i:
                for q in range(n_l):
                    phi[i, j, q] = 0.0
    tmp = lw.tmp
    for q in range(n_l):
        if lw.live[q]:
            for w in range(4):
                tmp[w] = lw.st[w, q]
            for i in range(n_v):
                phi[i, i, q] = _chi(tmp, batch - i)
            for w in range(4):
                lw.st[w, q] = tmp[w]
        else:
            for i in range(n_v):
                phi[i, i, q] = 1.0


@jit
def _lanes_direction(lw, sigma_h2, c_target, batch):
    """``lw.g``: :func:`_rbm_direction_of_draw` of every lane, summed in the same order."""
    w, g, chol, inv_d, phi, c_hat = lw.w, lw.g, lw.chol, lw.inv_d, lw.phi, lw.c_hat
    n_v, n_h, n_l = w.shape
    m = phi.shape[1]
    for i in range(n_v - 1, -1, -1):  # back substitution
        for b in range(m):
            lane_subtract(
                phi, (i * m + b) * n_l, chol, ((i + 1) * n_v + i) * n_l, n_v * n_l,
                phi, ((i + 1) * m + b) * n_l, m * n_l, n_v - 1 - i,
            )  # fmt: skip
            for q in range(n_l):
                phi[i, b, q] *= inv_d[i, q]
    inv_b = 1.0 / batch
    for i in range(n_v):  # phi phi^T is symmetric bit for bit; C_target need not be
        for j in range(i + 1):
            lane_sum(c_hat, (i * n_v + j) * n_l, phi, i * m * n_l, n_l, phi, j * m * n_l, n_l, m)
            lower, upper = c_target[i, j], c_target[j, i]
            for q in range(n_l):
                v = c_hat[i, j, q] * inv_b
                c_hat[j, i, q] = sigma_h2 * (upper - v)
                c_hat[i, j, q] = sigma_h2 * (lower - v)
    for a in range(n_v):  # g = delta W, delta^T W summed as product() sums it
        for c in range(n_h):
            lane_sum(g, (a * n_h + c) * n_l, c_hat, a * n_l, n_v * n_l, w, c * n_l, n_h * n_l, n_v)


@jit
def _lanes_write_back(lw, q, r, w, streams):
    """Lane ``q``'s weights and stream into replica ``r`` of ``w`` and ``streams``."""
    n_v, n_h, _ = lw.w.shape
    for i in range(n_v):
        for j in range(n_h):
            w[r, i, j] = lw.w[i, j, q]
    for k in range(4):
        streams[r, k] = lw.st[k, q]


@jit
def _lanes_stop(lw, q, r, c, t, w, streams, code, fail_step):
    """Lane ``q`` (replica ``r``) failed with code ``c`` at step ``t``: write it back, stop it."""
    _lanes_write_back(lw, q, r, w, streams)
    code[r] = c
    fail_step[r] = t
    lw.live[q] = False


@jit
def _rbm_lanes_advance(
    w, streams, code, fail_step, alpha, batch, data, r0, t0, t1, snap_steps, p, eig, w_out,
    keep_w, lw,
):  # fmt: skip
    """Steps ``t0 + 1 .. t1`` of the running replicas ``r0 .. r0 + L - 1`` (fewer at the end),
    in lanes; the numbers of :func:`_advance` with the Gaussian RBM's pieces, bit for bit."""
    mu2, sigma_h2, c_target = data
    n_rep, n_v, n_h = w.shape
    n_l = lw.live.shape[0]
    for q in range(n_l):
        r = r0 + q
        lw.live[q] = r < n_rep and code[r] == 0
        if lw.live[q]:
            for i in range(n_v):
                for j in range(n_h):
                    lw.w[i, j, q] = w[r, i, j]
            for k in range(4):
                lw.st[k, q] = streams[r, k]
        else:  # a zero W (K = mu2 1) and a stream of its own; never written back
            lw.w[:, :, q] = 0.0
            for k in range(4):
                lw.st[k, q] = streams[r0, k] ^ np.uint64(q + 1)
    _lanes_gram(lw.w, mu2, sigma_h2, lw.chol)
    _lanes_cholesky(lw.chol, lw.inv_d, lw.bad)
    x = np.empty((n_v, n_h))
    spec = (np.empty((n_h, n_h)), np.empty((n_h, n_h)), np.empty(n_h))
    n_snap = snap_steps.shape[0]
    for t in range(t0 + 1, t1 + 1):
        _lanes_draw(lw, batch)
        _lanes_direction(lw, sigma_h2, c_target, batch)
        for i in range(n_v):
            for j in range(n_h):
                for q in range(n_l):
                    lw.w[i, j, q] = lw.w[i, j, q] + alpha * lw.g[i, j, q]
        for q in range(n_l):
            if lw.live[q]:
                finite = True
                for i in range(n_v):
                    for j in range(n_h):
                        finite = finite and math.isfinite(lw.w[i, j, q])
                if not finite:
                    _lanes_stop(lw, q, r0 + q, NON_FINITE, t, w, streams, code, fail_step)
        lw.bad[:] = False
        _lanes_gram(lw.w, mu2, sigma_h2, lw.chol)
        _lanes_cholesky(lw.chol, lw.inv_d, lw.bad)
        running = 0
        for q in range(n_l):
            if lw.live[q] and lw.bad[q]:
                _lanes_stop(lw, q, r0 + q, NON_FINITE + 1, t, w, streams, code, fail_step)
            running += lw.live[q]
        while p < n_snap and snap_steps[p] == t:
            for q in range(n_l):
                if lw.live[q]:
                    r = r0 + q
                    for i in range(n_v):
                        for j in range(n_h):
                            x[i, j] = lw.w[i, j, q]
                    _spectrum(x, spec, eig[r, p])
                    if keep_w:
                        w_out[r, p] = x
            p += 1
        if running == 0:
            return
    for q in range(n_l):
        if lw.live[q]:
            _lanes_write_back(lw, q, r0 + q, w, streams)


@pjit
def _rbm_lanes_integrate(
    w, streams, code, fail_step, alpha, batch_size, data, t0, t1, snap_steps, p, eig, w_out, keep_w
):  # fmt: skip
    """:func:`_integrate` with the Gaussian RBM's pieces, :data:`MATRIX_LANES` replicas at a
    time (the same numbers)."""
    n_rep, n_v, n_h = w.shape
    m = min(n_v, batch_size)
    for b in prange(-(-n_rep // MATRIX_LANES)):
        lw = _lanes_work(n_v, n_h, m, MATRIX_LANES)
        _rbm_lanes_advance(
            w, streams, code, fail_step, alpha, batch_size, data, b * MATRIX_LANES, t0, t1,
            snap_steps, p, eig, w_out, keep_w, lw,
        )  # fmt: skip


class Integrator(types.SimpleNamespace):
    """The integrator compiled against one model's pieces."""


_DEFAULT = Integrator(integrate=_rbm_lanes_integrate, check_start=_check_start)
_BUILT: dict = {}
_GENERIC = ("_spectrum", "_advance", "_integrate", "_check_start")


def build_integrator(work, prepare, direction) -> Integrator:
    """The integrator compiled against the jitted model pieces ``(work, prepare, direction)``."""
    if (work, prepare, direction) == (_rbm_work, _rbm_prepare, _rbm_direction):
        return _DEFAULT
    key = (work, prepare, direction)
    if key not in _BUILT:
        namespace = dict(globals())
        namespace.update(_work=work, _prepare=prepare, _direction=direction)
        for name in _GENERIC:  # callees first: each kernel sees the rebound ones
            py = globals()[name].py_func
            func = types.FunctionType(py.__code__, namespace, name, py.__defaults__)
            parallel = name == "_integrate"
            namespace[name] = numba.njit(cache=False, nogil=True, parallel=parallel)(func)
        _BUILT[key] = Integrator(
            integrate=namespace["_integrate"], check_start=namespace["_check_start"]
        )
    return _BUILT[key]


# --------------------------------------------------------------------------- aligned map
ALIGNED_LANES = LANES
"""Replicas of the aligned map whose eigenvalue problems are solved together (at most)."""


@jit
def _aligned_matrix(x, z, batch, alpha, sigma_h2, mu2, inv_kappa, work, lanes, k):
    """One step's ``Y^T Y`` for the replica at ``x`` (ascending) from the draw ``z``.

    ``z`` is ``(N_v, m)`` with ``z z^T`` distributed as the Wishart matrix of ``batch``
    standard normal samples (:func:`bartlett`; or the ``(N_v, batch)`` normals themselves).
    In the target eigenbasis ``C_hat_ab = (z z^T)_ab / (batch sqrt(lambda_a lambda_b))``
    with ``lambda_a = mu2 - sigma_h2 x_a`` (``mu2`` beyond the ``N_h`` learned directions);
    ``M = 1 + alpha sigma_h2 (diag(inv_kappa) - C_hat)`` and ``Y = M[:, :N_h] diag(sqrt x)``.
    The lower triangle of ``Y^T Y`` goes to column ``k`` of ``lanes`` (the layout of
    :func:`fpsolve.dbm._linalg.jacobi_lanes`).  ``work`` holds ``z_t`` (``(m, N_v)``),
    ``c_hat`` (``(N_v, N_v)``), ``y`` (``(N_v, N_h)``), ``a`` (``(N_h, N_h)``) and
    ``scale`` (``(N_v,)``).
    """
    z_t, c_hat, y, a, scale = work
    n_h = x.shape[0]
    n_v, m = z.shape
    rate = alpha * sigma_h2
    inv_b = 1.0 / batch
    for i in range(n_v):
        scale[i] = 1.0 / math.sqrt(mu2 - sigma_h2 * x[i]) if i < n_h else 1.0 / math.sqrt(mu2)
    for i in range(n_v):
        for b in range(m):
            z_t[b, i] = z[i, b] * scale[i]
    product(c_hat, z_t, z_t)
    for i in range(n_v):
        for j in range(n_h):
            mij = (inv_kappa[i] if i == j else 0.0) - c_hat[i, j] * inv_b
            y[i, j] = ((1.0 if i == j else 0.0) + rate * mij) * math.sqrt(x[j])
    product(a, y, y)
    for i in range(n_h):
        for j in range(i + 1):
            lanes[i * n_h + j, k] = a[i, j]


@jit
def _aligned_lanes_matrices(x, batch, alpha, sigma_h2, mu2, inv_kappa, lw, lanes):
    """:func:`_aligned_matrix` of every lane at once, the same numbers.

    The draw (:func:`_lanes_draw`) goes to ``lw.phi``; ``lw.inv_d`` holds
    ``1 / sqrt(lambda)``, ``lw.c_hat`` the sample part ``|B| C_hat`` and ``lw.w`` the
    matrix ``Y``.  A lane that is not running (``lw.live``) is built as if at ``x = 0``:
    a zero matrix, which :func:`~fpsolve.dbm._linalg.jacobi_lanes` leaves alone.
    """
    n_l, n_h = x.shape
    n_v, m, _ = lw.phi.shape
    scale, zs, c_hat, y = lw.inv_d, lw.phi, lw.c_hat, lw.w
    rate = alpha * sigma_h2
    inv_b = 1.0 / batch
    _lanes_draw(lw, batch)
    for i in range(n_v):
        for q in range(n_l):
            xi = x[q, i] if i < n_h and lw.live[q] else 0.0
            scale[i, q] = 1.0 / math.sqrt(mu2 - sigma_h2 * xi) if i < n_h else 1.0 / math.sqrt(mu2)
        for b in range(m):
            for q in range(n_l):
                zs[i, b, q] = zs[i, b, q] * scale[i, q]
    for i in range(n_v):  # the lower triangle of the columns j < N_h (symmetric bit for bit)
        for j in range(min(i + 1, n_h)):
            lane_sum(c_hat, (i * n_v + j) * n_l, zs, i * m * n_l, n_l, zs, j * m * n_l, n_l, m)
    for i in range(n_v):
        for j in range(n_h):
            at = (i, j) if j <= i else (j, i)
            eye, ik = (1.0, inv_kappa[i]) if i == j else (0.0, 0.0)
            for q in range(n_l):
                mij = ik - c_hat[at[0], at[1], q] * inv_b
                xj = x[q, j] if lw.live[q] else 0.0
                y[i, j, q] = (eye + rate * mij) * math.sqrt(xj)
    for i in range(n_h):
        for j in range(i + 1):
            lane_sum(lanes, (i * n_h + j) * n_l, y, i * n_l, n_h * n_l, y, j * n_l, n_h * n_l, n_v)


@jit
def _aligned_code(x, sigma_h2, mu2):
    """0 if ``x`` (ascending) is inside the domain, else the failure code."""
    n_h = x.shape[0]
    for i in range(n_h):
        if not math.isfinite(x[i]):
            return NON_FINITE
    if x[0] < 0.0:
        return NON_FINITE + 2
    if not mu2 - sigma_h2 * x[n_h - 1] > 0.0:
        return NON_FINITE + 1
    return 0


@jit
def _aligned_advance(
    x, streams, code, fail_step, alpha, sigma_h2, mu2, inv_kappa, batch, t0, t1, snap_steps, p, eig
):
    """Steps ``t0 + 1 .. t1`` of the aligned eigenvalue map for a batch of replicas, in place.

    ``x`` is ``(L, N_h)``, ``streams`` ``(L, 4)``, ``code``, ``fail_step`` ``(L,)`` and
    ``eig`` ``(L, S, N_h)``.  The running replicas (``code == 0``) step together: each
    draws (:func:`bartlett`) and builds its ``Y^T Y`` (:func:`_aligned_matrix`), all are
    diagonalised at once
    (:func:`~fpsolve.dbm._linalg.jacobi_lanes`), and ``x' = eig(Y^T Y)``.  A replica that
    leaves the domain gets the code of :func:`_aligned_code` (model codes 1:
    ``lambda <= 0``, 2: an eigenvalue below 0) and the step, and stops.
    """
    n_lanes, n_h = x.shape
    n_v = inv_kappa.shape[0]
    m = min(n_v, batch)
    z = np.empty((n_v, m))  # the draw (bartlett)
    work = (
        np.empty((m, n_v)),  # (diag(1 / sqrt(lambda)) z)^T
        np.empty((n_v, n_v)),  # C_hat |B|
        np.empty((n_v, n_h)),  # Y
        np.empty((n_h, n_h)),  # Y^T Y
        np.empty(n_v),  # 1 / sqrt(lambda)
    )
    lanes = np.empty((n_h * n_h, n_lanes))
    vals = np.empty((n_lanes, n_h))
    scratch = np.empty((5, n_lanes))
    in_lanes = n_lanes == LANES  # the matrices built in lanes (the same numbers)
    lw = _lanes_work(n_v, n_h, m, n_lanes if in_lanes else 0)
    if in_lanes:
        for k in range(n_lanes):
            lw.live[k] = code[k] == 0
            lw.st[:, k] = streams[k]
    n_snap = snap_steps.shape[0]
    for t in range(t0 + 1, t1 + 1):
        running = 0
        for k in range(n_lanes):
            running += code[k] == 0
        if running == 0:
            break
        if in_lanes:
            _aligned_lanes_matrices(x, batch, alpha, sigma_h2, mu2, inv_kappa, lw, lanes)
        else:
            for k in range(n_lanes):
                if code[k] == 0:
                    bartlett(streams[k], z, batch)
                    _aligned_matrix(x[k], z, batch, alpha, sigma_h2, mu2, inv_kappa, work, lanes, k)
                else:  # a zero matrix: converged before the first sweep
                    lanes[:, k] = 0.0
        jacobi_lanes(lanes, n_h, vals, scratch)
        for k in range(n_lanes):
            if code[k] == 0:
                x[k] = vals[k]
                c = _aligned_code(x[k], sigma_h2, mu2)
                if c != 0:
                    code[k] = c
                    fail_step[k] = t
                    if in_lanes:  # its stream as it stopped
                        lw.live[k] = False
                        streams[k] = lw.st[:, k]
        while p < n_snap and snap_steps[p] == t:
            for k in range(n_lanes):
                if code[k] == 0:
                    eig[k, p] = x[k]
            p += 1
    if in_lanes:
        for k in range(n_lanes):
            if code[k] == 0:
                streams[k] = lw.st[:, k]


def aligned_batch_size(n_replicas: int, n_threads: int) -> int:
    """Replicas per batch: :data:`ALIGNED_LANES`, fewer where that would leave a thread idle."""
    return min(ALIGNED_LANES, max(1, -(-n_replicas // n_threads)))


@pjit
def _aligned_integrate(
    x, streams, code, fail_step, alpha, sigma_h2, mu2, inv_kappa, batch, t0, t1, snap_steps, p, eig,
    size,
):  # fmt: skip
    """:func:`_aligned_advance` for every running replica of ``x`` (``(R, N_h)``), in place.

    Replicas go in batches of ``size`` (:func:`aligned_batch_size`), each on private
    copies of its rows; the batches do not change any replica's numbers.
    """
    n_rep = x.shape[0]
    for b in prange(-(-n_rep // size)):
        r0 = b * size
        r1 = min(n_rep, r0 + size)
        xb = x[r0:r1].copy()
        sb = streams[r0:r1].copy()
        cb = code[r0:r1].copy()
        fb = fail_step[r0:r1].copy()
        _aligned_advance(
            xb, sb, cb, fb, alpha, sigma_h2, mu2, inv_kappa, batch, t0, t1, snap_steps, p,
            eig[r0:r1],
        )  # fmt: skip
        x[r0:r1] = xb
        streams[r0:r1] = sb
        code[r0:r1] = cb
        fail_step[r0:r1] = fb

r"""The Gaussian-RBM PCD trainer on a CUDA GPU (``validation.rbm.train(..., device="cuda")``).

The update is the one of :mod:`validation.rbm` (docs/theory.md section 4), in float64:

.. math::

    h_b \mid \phi_b \sim N(\sigma_h^2 W^T \phi_b, \sigma_h^2),\quad
    \phi_b \mid h_b \sim N(W h_b/\mu^2, 1/\mu^2)\ (k \text{ sweeps}),\qquad
    W \leftarrow W + \alpha\sigma_h^2\Big(C_{target} - \frac{1}{|B|}\sum_b \phi_b\phi_b^T\Big) W,

for every run of one or several settings in one kernel launch.  Only the random numbers
differ from the CPU trainer: the initial weights are drawn exactly as there (the
xoshiro256++ stream of the run, so step 0 is identical), but the normals of the
training come from counter-based streams (:mod:`fpsolve.cuda._philox`): normal ``n`` of
chain ``b`` at update ``t`` of global run ``r`` is a function of the setting's key
(from its seed) and the counter ``(n, t, r, b)``.  In data mode (``target="samples"``)
normals ``0..N_v-1`` of each chain give its target sample ``L z`` (lower Cholesky factor
``L`` of :math:`K_{target}^{-1}`), the sweeps use the next ones; in exact mode the sweeps
start at ``n = 0``.  Sweep ``s`` draws ``N_h`` normals for ``h`` then ``N_v`` for
:math:`\phi`, unit by unit.  A run's trajectory therefore depends only on its seed, its
global index and the hyperparameters, never on how many runs or settings share a launch
or how the steps are split into launches; recordings carry the attribute
``generator = "philox4x32-10-ziggurat"`` and resume on the GPU.

Kernel layout: one thread per persistent chain, ``|B|`` threads per run, several runs
per block.  ``W`` of each run lives in shared memory (read as broadcasts), each thread
keeps its chain :math:`\phi_b` and :math:`h_b` in registers (shapes are compile-time
constants; one compiled kernel per ``(N_v, N_h, |B|, k, runs per block, mode)``).
:math:`C_{model}` and the gradient are block reductions over shared memory with a fixed
summation order, so results are reproducible bit for bit.  Every ``record_every``
steps ``W`` is copied to a device buffer; a second kernel computes the eigenvalues of
:math:`X = W^T W` (cyclic Jacobi, sorted ascending), which are copied out while the
next chunk of steps runs.

:func:`reference_updates` is a plain-numpy implementation of exactly this update with
the same random numbers, used by the tests.
"""

from __future__ import annotations

import math
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from fpsolve.cuda import _backend
from fpsolve.cuda import _philox as _ph
from fpsolve.cuda._device import device_functions
from validation import recording as _rec
from validation.recording import Recording

__all__ = ["GENERATOR", "compare_statistics", "reference_updates", "stream_layout"]

GENERATOR = "philox4x32-10-ziggurat"
"""Value of the recording attribute ``generator`` written by the GPU trainer."""

_WORK_PER_CHUNK = 2e9  # chain-updates per launch (about a second at the target speed)
_BUFFER_BYTES = 1 << 30  # device buffer of recorded weights per group
_DEFAULT_TPB = 128  # threads per block (runs per block = threads / batch_size)
_KERNELS: dict = {}
cuda = None  # numba.cuda in each kernel's own globals (fpsolve.cuda._backend.rebind)
_KERNEL_LOCK = threading.Lock()


# --------------------------------------------------------------------------- kernels
def _even(n: int) -> int:
    return n + (n & 1)


def stream_layout(n_v: int, n_h: int, k: int, data_mode: bool):
    """Indices of the normals of one chain in one update (the counter word ``n``).

    Returns ``(data, hidden, visible)``: ``data`` (``n_v``,) the target-sample normals
    (data mode only, else empty), ``hidden`` (``k, n_h``) and ``visible`` (``k, n_v``) the
    normals of sweep ``s``, unit by unit.  Each block starts at an even index, so that
    a block never shares a Philox call with another (an odd-sized block leaves one
    normal unused).
    """
    base = _even(n_v) if data_mode else 0
    per = _even(n_h) + _even(n_v)
    data = np.arange(n_v if data_mode else 0, dtype=np.int64)
    hidden = base + per * np.arange(k)[:, None] + np.arange(n_h)[None, :]
    visible = base + per * np.arange(k)[:, None] + _even(n_h) + np.arange(n_v)[None, :]
    return data, hidden.astype(np.int64), visible.astype(np.int64)


_COMMON_ARGS = (
    "w, phi, rate, key, run_id, n_runs, t0, n_upd, rec_at, wbuf, stop, "
    "ct, chol, s2, sd_h, sd_v, inv_mu2, zk_g, zw_g, zf"
)


def _bounds(tpb: int, min_blocks: int | None):
    return tpb if not min_blocks else (tpb, int(min_blocks))


def _make_train_kernel(
    nv: int, nh: int, nb: int, k: int, rpb: int, data: bool, min_blocks: int | None = None
):
    """The training kernel with loops (any size; chains in local arrays)."""
    from numba import float64, int64, uint64

    fill_normals = device_functions().fill_normals
    jit = _backend.jit
    NV, NH, B, K, RPB = nv, nh, nb, k, rpb
    TPB = RPB * B
    NW = NV * NH
    PER = -(-NW // B)
    INV_B = 1.0 / B
    DATA = bool(data)
    ND = NV if DATA else 1
    BASE = _even(NV) if DATA else 0
    PERIOD = _even(NH) + _even(NV)
    HALF = _even(NH)
    NZ = max(_even(NH), _even(NV))

    def train(w, phi, rate, key, run_id, n_runs, t0, n_upd, rec_at, wbuf, stop,
              ct, chol, s2, sd_h, sd_v, inv_mu2, zk_g, zw_g, zf):  # fmt: skip
        s_w = cuda.shared.array((RPB, NV, NH), float64)
        s_p = cuda.shared.array((RPB, B, NV), float64)
        s_d = cuda.shared.array((RPB, B, ND), float64)
        s_g = cuda.shared.array((RPB, NV, NV), float64)
        s_dead = cuda.shared.array(RPB, int64)
        s_zero = cuda.shared.array(1, int64)
        zk = cuda.shared.array(256, int64)
        zw = cuda.shared.array(256, float64)
        p = cuda.local.array(NV, float64)
        h = cuda.local.array(NH, float64)
        zb = cuda.local.array(NZ, float64)
        newv = cuda.local.array(PER, float64)
        tid = cuda.threadIdx.x
        lr = tid // B
        b = tid - lr * B
        r = cuda.blockIdx.x * RPB + lr
        active = r < n_runs
        for m in range(tid, 256, TPB):
            zk[m] = zk_g[m]
            zw[m] = zw_g[m]
        k0 = uint64(0)
        k1 = uint64(0)
        c2 = uint64(0)
        rr = 0.0
        if active:
            for e in range(b, NW, B):
                i = e // NH
                j = e - i * NH
                s_w[lr, i, j] = w[r, i, j]
            for i in range(NV):
                p[i] = phi[r, b, i]
            k0 = key[r, 0]
            k1 = key[r, 1]
            c2 = uint64(run_id[r])
            rr = rate[r]
            if b == 0:
                s_dead[lr] = 1 if stop[r] >= 0 else 0
        elif b == 0:
            s_dead[lr] = 1
        c3 = uint64(b)
        if tid == 0:
            s_zero[0] = 0
        cuda.syncthreads()
        slot = 0
        for u in range(n_upd):
            t = t0 + u + 1
            c1 = uint64(t)
            live = active and s_dead[lr] == 0
            oz = s_zero[0]  # entry indices recomputed each update, never hoisted
            if live:
                if DATA:
                    fill_normals(zb, NV, 0, c1, c2, c3, k0, k1, zk, zw, zf)
                    for i in range(NV):
                        acc = 0.0
                        for m in range(i + 1):
                            acc += chol[i, m] * zb[m]
                        s_d[lr, b, i] = acc
                for s in range(K):
                    nidx = BASE + s * PERIOD
                    cuda.threadfence_block()  # W re-read from shared memory, not held in registers
                    fill_normals(zb, NH, nidx, c1, c2, c3, k0, k1, zk, zw, zf)
                    for j in range(NH):
                        acc = 0.0
                        for i in range(NV):
                            acc += s_w[lr, i, j] * p[i]
                        h[j] = s2 * acc + sd_h * zb[j]
                    cuda.threadfence_block()
                    fill_normals(zb, NV, nidx + HALF, c1, c2, c3, k0, k1, zk, zw, zf)
                    for i in range(NV):
                        acc = 0.0
                        for j in range(NH):
                            acc += s_w[lr, i, j] * h[j]
                        p[i] = acc * inv_mu2 + sd_v * zb[i]
                for i in range(NV):
                    s_p[lr, b, i] = p[i]
            cuda.syncthreads()
            if live:  # G = C_target - C_model, entries (i, l >= i) shared out over the chains
                e = 0
                for i in range(NV):
                    for m in range(i, NV):
                        if e % B == b:
                            acc = 0.0
                            for c in range(B):
                                acc += s_p[lr, c, i] * s_p[lr, c, m]
                            if DATA:
                                accd = 0.0
                                for c in range(B):
                                    accd += s_d[lr, c, i] * s_d[lr, c, m]
                                g = (accd - acc) * INV_B
                            else:
                                g = ct[i, m] - acc * INV_B
                            s_g[lr, i, m] = g
                            s_g[lr, m, i] = g
                        e += 1
            cuda.syncthreads()
            if live:  # W + alpha sigma_h^2 G W, entries shared out over the chains
                for q in range(PER):
                    e = b + q * B + oz
                    if e < NW:
                        i = e // NH
                        j = e - i * NH
                        acc = 0.0
                        for m in range(NV):
                            acc += s_g[lr, i, m] * s_w[lr, m, j]
                        newv[q] = s_w[lr, i, j] + rr * acc
            cuda.syncthreads()
            if live:
                bad = False
                for q in range(PER):
                    e = b + q * B + oz
                    if e < NW:
                        i = e // NH
                        j = e - i * NH
                        v = newv[q]
                        s_w[lr, i, j] = v
                        if not math.isfinite(v):
                            bad = True
                if bad:
                    s_dead[lr] = 1
                    stop[r] = t
            cuda.syncthreads()
            if slot < rec_at.shape[0] and rec_at[slot] == u + 1:
                if active:
                    for e in range(b, NW, B):
                        i = e // NH
                        j = e - i * NH
                        wbuf[slot, r, i, j] = s_w[lr, i, j]
                slot += 1
        if active:
            for e in range(b, NW, B):
                i = e // NH
                j = e - i * NH
                w[r, i, j] = s_w[lr, i, j]
            for i in range(NV):
                phi[r, b, i] = p[i]

    return jit(_backend.rebind(train), launch_bounds=_bounds(TPB, min_blocks))


def _unrolled_source(nv: int, nh: int, nb: int, k: int, rpb: int, data: bool) -> str:
    """Source of the training kernel with the chain in scalars (registers), loops unrolled.

    The same arithmetic and random numbers as :func:`_make_train_kernel`; the
    per-thread entries of the reductions are decoded once, before the update loop.
    """
    nw = nv * nh
    per = -(-nw // nb)
    ne = nv * (nv + 1) // 2
    pe = -(-ne // nb)
    base = _even(nv) if data else 0
    period = _even(nh) + _even(nv)
    half = _even(nh)
    lines = [f"def train({_COMMON_ARGS}):"]
    add = lines.append
    add(f"    s_w = cuda.shared.array(({rpb}, {nv}, {nh}), float64)")
    add(f"    s_p = cuda.shared.array(({rpb}, {nb}, {nv}), float64)")
    add(f"    s_d = cuda.shared.array(({rpb}, {nb}, {nv if data else 1}), float64)")
    add(f"    s_g = cuda.shared.array(({rpb}, {nv}, {nv}), float64)")
    add(f"    s_dead = cuda.shared.array({rpb}, int64)")
    add("    zk = cuda.shared.array(256, int64)")
    add("    zw = cuda.shared.array(256, float64)")
    add(f"    zb = cuda.local.array({max(_even(nh), _even(nv))}, float64)")
    add("    tid = cuda.threadIdx.x")
    add(f"    lr = tid // {nb}")
    add(f"    b = tid - lr * {nb}")
    add(f"    r = cuda.blockIdx.x * {rpb} + lr")
    add("    active = r < n_runs")
    add(f"    for m in range(tid, 256, {rpb * nb}):")
    add("        zk[m] = zk_g[m]")
    add("        zw[m] = zw_g[m]")
    add("    k0 = uint64(0)")
    add("    k1 = uint64(0)")
    add("    c2 = uint64(0)")
    add("    rr = 0.0")
    for i in range(nv):
        add(f"    p{i} = 0.0")
    add("    if active:")
    add(f"        for e in range(b, {nw}, {nb}):")
    add(f"            i = e // {nh}")
    add(f"            s_w[lr, i, e - i * {nh}] = w[r, i, e - i * {nh}]")
    for i in range(nv):
        add(f"        p{i} = phi[r, b, {i}]")
    add("        k0 = key[r, 0]")
    add("        k1 = key[r, 1]")
    add("        c2 = uint64(run_id[r])")
    add("        rr = rate[r]")
    add("        if b == 0:")
    add("            s_dead[lr] = 1 if stop[r] >= 0 else 0")
    add("    elif b == 0:")
    add("        s_dead[lr] = 1")
    add("    c3 = uint64(b)")
    add(f"    s_tri = cuda.shared.array((2, {ne}), int32)")
    add("    s_zero = cuda.shared.array(1, int64)")
    add("    if tid == 0:")
    add("        s_zero[0] = 0")
    add(f"    for ce in range(tid, {ne}, {rpb * nb}):")
    add("        e = 0")
    add(f"        for i in range({nv}):")
    add(f"            for m in range(i, {nv}):")
    add("                if e == ce:")
    add("                    s_tri[0, ce] = i")
    add("                    s_tri[1, ce] = m")
    add("                e += 1")
    add("    cuda.syncthreads()")
    add("    slot = 0")
    add("    for u in range(n_upd):")
    add("        t = t0 + u + 1")
    add("        c1 = uint64(t)")
    add("        live = active and s_dead[lr] == 0")
    # entry indices from a shared zero: recomputed each update, never hoisted into registers
    add("        oz = s_zero[0]")
    add("        if live:")
    args = "c1, c2, c3, k0, k1, zk, zw, zf"
    if data:
        add(f"            fill_normals(zb, {nv}, 0, {args})")
        for i in range(nv):
            terms = " + ".join(f"chol[{i}, {m}] * zb[{m}]" for m in range(i + 1))
            add(f"            s_d[lr, b, {i}] = {terms}")
    add(f"            for s in range({k}):")
    add(f"                nb0 = {base} + s * {period}")
    # a fence per half sweep: W is re-read from shared memory each time, never held in
    # (too many) registers across the sweeps
    add("                cuda.threadfence_block()")
    add(f"                fill_normals(zb, {nh}, nb0, {args})")
    for j in range(nh):
        add("                acc = 0.0")
        for i in range(nv):
            add(f"                acc += s_w[lr, {i}, {j}] * p{i}")
        add(f"                h{j} = s2 * acc + sd_h * zb[{j}]")
    add("                cuda.threadfence_block()")
    add(f"                fill_normals(zb, {nv}, nb0 + {half}, {args})")
    for i in range(nv):
        add("                acc = 0.0")
        for j in range(nh):
            add(f"                acc += s_w[lr, {i}, {j}] * h{j}")
        add(f"                p{i} = acc * inv_mu2 + sd_v * zb[{i}]")
    for i in range(nv):
        add(f"            s_p[lr, b, {i}] = p{i}")
    add("        cuda.syncthreads()")
    add("        if live:")
    for q in range(pe):
        add(f"            ce = b + {q * nb} + oz")
        add(f"            if ce < {ne}:")
        add("                ci = s_tri[0, ce]")
        add("                cl = s_tri[1, ce]")
        add("                acc = 0.0")
        add(f"                for c in range({nb}):")
        add("                    acc += s_p[lr, c, ci] * s_p[lr, c, cl]")
        if data:
            add("                accd = 0.0")
            add(f"                for c in range({nb}):")
            add("                    accd += s_d[lr, c, ci] * s_d[lr, c, cl]")
            add(f"                g = (accd - acc) * {1.0 / nb!r}")
        else:
            add(f"                g = ct[ci, cl] - acc * {1.0 / nb!r}")
        add("                s_g[lr, ci, cl] = g")
        add("                s_g[lr, cl, ci] = g")
    add("        cuda.syncthreads()")
    add("        if live:")
    for q in range(per):
        add(f"            nw{q} = 0.0")
        add(f"            ge = b + {q * nb} + oz")
        add(f"            if ge < {nw}:")
        add(f"                gi = ge // {nh}")
        add(f"                gj = ge - gi * {nh}")
        add("                acc = 0.0")
        add(f"                for m in range({nv}):")
        add("                    acc += s_g[lr, gi, m] * s_w[lr, m, gj]")
        add(f"                nw{q} = s_w[lr, gi, gj] + rr * acc")
    add("        cuda.syncthreads()")
    add("        if live:")
    add("            bad = False")
    for q in range(per):
        add(f"            ge = b + {q * nb} + oz")
        add(f"            if ge < {nw}:")
        add(f"                gi = ge // {nh}")
        add(f"                s_w[lr, gi, ge - gi * {nh}] = nw{q}")
        add(f"                if not math.isfinite(nw{q}):")
        add("                    bad = True")
    add("            if bad:")
    add("                s_dead[lr] = 1")
    add("                stop[r] = t")
    add("        cuda.syncthreads()")
    add("        if slot < rec_at.shape[0] and rec_at[slot] == u + 1:")
    add("            if active:")
    add(f"                for e in range(b, {nw}, {nb}):")
    add(f"                    i = e // {nh}")
    add(f"                    wbuf[slot, r, i, e - i * {nh}] = s_w[lr, i, e - i * {nh}]")
    add("            slot += 1")
    add("    if active:")
    add(f"        for e in range(b, {nw}, {nb}):")
    add(f"            i = e // {nh}")
    add(f"            w[r, i, e - i * {nh}] = s_w[lr, i, e - i * {nh}]")
    for i in range(nv):
        add(f"        phi[r, b, {i}] = p{i}")
    return "\n".join(lines) + "\n"


def _make_train_kernel_unrolled(
    nv: int, nh: int, nb: int, k: int, rpb: int, data: bool, min_blocks: int | None = None
):
    """The training kernel generated with the chain in registers (small shapes)."""
    from numba import float64, int32, int64, uint64

    src = _unrolled_source(nv, nh, nb, k, rpb, data)
    namespace = {
        "cuda": _backend.load(need_device=False),
        "math": math,
        "float64": float64,
        "int32": int32,
        "int64": int64,
        "uint64": uint64,
        "fill_normals": device_functions().fill_normals,
    }
    code = compile(src, f"<rbm_cuda train {nv}x{nh} B={nb} k={k} rpb={rpb}>", "exec")
    exec(code, namespace)
    return _backend.jit(namespace["train"], launch_bounds=_bounds(rpb * nb, min_blocks))


UNROLL_MAX = 48
"""Largest ``n_v + n_h`` for which the unrolled kernel (chains in registers) is used."""


def _make_eig_kernel(nv: int, nh: int):
    """Ascending eigenvalues of ``X = W^T W`` for ``wbuf[slot, run]``, one thread per matrix."""
    from numba import float64

    NV, NH = nv, nh
    TINY = 4.9e-32  # (machine epsilon)^2: off-diagonal weight at convergence

    def eig(wbuf, n_slots, n_runs, out):
        g = cuda.grid(1)
        if g >= n_slots * n_runs:
            return
        s = g // n_runs
        r = g - s * n_runs
        a = cuda.local.array((NH, NH), float64)
        d = cuda.local.array(NH, float64)
        for p in range(NH):
            for q in range(p, NH):
                acc = 0.0
                for i in range(NV):
                    acc += wbuf[s, r, i, p] * wbuf[s, r, i, q]
                a[p, q] = acc
                a[q, p] = acc
        for _sweep in range(60):  # cyclic Jacobi
            off = 0.0
            diag = 0.0
            for p in range(NH):
                diag += a[p, p] * a[p, p]
                for q in range(p + 1, NH):
                    off += a[p, q] * a[p, q]
            if off <= TINY * diag:
                break
            for p in range(NH - 1):
                for q in range(p + 1, NH):
                    apq = a[p, q]
                    if apq != 0.0:
                        theta = (a[q, q] - a[p, p]) / (2.0 * apq)
                        t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                        if theta < 0.0:
                            t = -t
                        c = 1.0 / math.sqrt(t * t + 1.0)
                        sn = t * c
                        for m in range(NH):
                            amp = a[m, p]
                            amq = a[m, q]
                            a[m, p] = c * amp - sn * amq
                            a[m, q] = sn * amp + c * amq
                        for m in range(NH):
                            apm = a[p, m]
                            aqm = a[q, m]
                            a[p, m] = c * apm - sn * aqm
                            a[q, m] = sn * apm + c * aqm
                        a[p, q] = 0.0
                        a[q, p] = 0.0
        for p in range(NH):  # insertion sort of the diagonal
            v = a[p, p]
            m = p - 1
            while m >= 0 and d[m] > v:
                d[m + 1] = d[m]
                m -= 1
            d[m + 1] = v
        for p in range(NH):
            out[s, r, p] = d[p]

    return _backend.jit(_backend.rebind(eig))


def _kernels(nv, nh, nb, k, rpb, data, variant="auto", min_blocks=None):
    """Compiled kernels (cached); ``variant`` "loops", "unrolled" or "auto".

    ``min_blocks`` asks the compiler for that many resident blocks per multiprocessor
    (fewer registers per thread, perhaps spills): a tuning knob of the benchmark.
    """
    if variant == "auto":
        variant = "unrolled" if nv + nh <= UNROLL_MAX else "loops"
    if variant not in ("loops", "unrolled"):
        raise ValueError(f"variant must be 'auto', 'loops' or 'unrolled', got {variant!r}")
    key = (nv, nh, nb, k, rpb, bool(data), variant, min_blocks, _backend.simulator())
    make = _make_train_kernel_unrolled if variant == "unrolled" else _make_train_kernel
    with _KERNEL_LOCK:
        if key not in _KERNELS:
            _KERNELS[key] = types.SimpleNamespace(
                train=make(nv, nh, nb, k, rpb, data, min_blocks),
                eig=_make_eig_kernel(nv, nh),
            )
        return _KERNELS[key]


# --------------------------------------------------------------------------- reference
def reference_updates(
    w, phi, *, t0, n_updates, alpha, batch_size, k, mu2, sigma_h, c_target, chol, data_mode,
    key, run_ids,
):  # fmt: skip
    """Plain-numpy reference of the GPU update, with the same random numbers.

    Parameters
    ----------
    w : ndarray, shape (n_runs, n_v, n_h)
        Weights after update ``t0`` (copied, not modified).
    phi : ndarray, shape (n_runs, batch_size, n_v)
        Persistent chains.
    t0, n_updates : int
        Updates ``t0 + 1 .. t0 + n_updates`` are made.
    alpha : float or ndarray, shape (n_runs,)
        Learning rate per run.
    key : tuple of int
        The Philox key of the setting (:func:`fpsolve.cuda._philox.key_from_seed`).
    run_ids : ndarray of int, shape (n_runs,)
        Global run indices (the counter word ``c2``).

    Returns
    -------
    w, phi : ndarray
        The state after the updates.
    """
    w = np.array(w, dtype=np.float64)
    phi = np.array(phi, dtype=np.float64)
    n_runs, n_v, n_h = w.shape
    s2 = sigma_h**2
    sd_h = math.sqrt(s2)
    sd_v = 1.0 / math.sqrt(mu2)
    rate = np.broadcast_to(np.asarray(alpha, dtype=np.float64) * s2, (n_runs,))
    i_data, i_hid, i_vis = stream_layout(n_v, n_h, k, data_mode)
    n_per = int(i_vis[-1, -1]) + 1
    chains = np.arange(batch_size, dtype=np.uint64)
    runs = np.asarray(run_ids, dtype=np.uint64)
    for t in range(t0 + 1, t0 + n_updates + 1):
        z = _ph.normals_np(
            np.arange(n_per, dtype=np.uint64)[None, None, :], np.uint64(t),
            runs[:, None, None], chains[None, :, None], key[0], key[1],
        )  # fmt: skip
        if data_mode:
            d = np.einsum("il,rbl->rbi", chol, z[:, :, i_data])
        for s in range(k):
            h = s2 * np.einsum("rij,rbi->rbj", w, phi) + sd_h * z[:, :, i_hid[s]]
            phi = np.einsum("rij,rbj->rbi", w, h) / mu2 + sd_v * z[:, :, i_vis[s]]
        c_model = np.einsum("rbi,rbl->ril", phi, phi) / batch_size
        if data_mode:
            g = np.einsum("rbi,rbl->ril", d, d) / batch_size - c_model
        else:
            g = c_target[None] - c_model
        w = w + rate[:, None, None] * np.einsum("ril,rlj->rij", g, w)
    return w, phi


# --------------------------------------------------------------------------- driver
@dataclass(eq=False)
class Job:
    """One setting trained on the GPU: its configuration, state and output."""

    cfg: object  # validation.rbm._Config
    snap_steps: np.ndarray
    attrs: dict
    record_weights: bool
    record_modes: bool
    w: np.ndarray
    phi: np.ndarray
    step: int = 0
    start: int = 0
    writer: object = None
    eig_all: np.ndarray | None = field(default=None, repr=False)
    w_all: np.ndarray | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[int, int]:
        return _ph.key_from_seed(self.cfg.seed)

    @property
    def run_ids(self) -> np.ndarray:
        return self.cfg.first_run + np.arange(self.cfg.n_runs, dtype=np.int64)

    def rng_state(self, step: int) -> np.ndarray:
        """The ``state/rng`` rows: ``(k0, k1, global run, step)`` per run."""
        out = np.empty((self.cfg.n_runs, 4), dtype=np.uint64)
        k0, k1 = self.key
        out[:, 0] = k0
        out[:, 1] = k1
        out[:, 2] = self.run_ids.astype(np.uint64)
        out[:, 3] = step
        return out

    def group_key(self):
        c = self.cfg
        return (c.n_v, c.n_h, c.batch_size, c.k, c.target, c.mu2, c.sigma_h, c.m2,
                tuple(self.snap_steps.tolist()), self.step)  # fmt: skip


def _target(cfg):
    from validation.rbm import target_matrix

    c_target = np.linalg.inv(target_matrix(cfg.n_v, cfg.m2))
    c_target = 0.5 * (c_target + c_target.T)
    return c_target, np.linalg.cholesky(c_target)


def _chunks(snap_steps, start, step, max_snaps, max_steps):
    """``(p, q)`` snapshot ranges of the launches, as in the CPU trainer."""
    out = []
    p = start
    n = len(snap_steps)
    while p < n:
        q = p + 1
        while (
            q < n
            and q - p < max_snaps
            and snap_steps[q] - step <= max(max_steps, snap_steps[p] - step)
        ):
            q += 1
        out.append((p, q, step))
        step = int(snap_steps[q - 1])
        p = q
    return out


def _runs_per_block(batch_size: int, threads_per_block: int | None) -> int:
    if threads_per_block is None:  # the simulator runs each thread as a Python thread
        threads_per_block = 2 * batch_size if _backend.simulator() else _DEFAULT_TPB
    return max(1, int(threads_per_block) // batch_size)


def _progress_bar(total, initial, enabled, desc):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="step")


def run_group(
    jobs, *, progress=True, callback=None, max_chunks=None, threads_per_block=None,
    variant="auto", min_blocks=None, desc="train",
):  # fmt: skip
    """Train the jobs (same shapes, snapshots and current step) together, in one launch each chunk.

    Writes each job's snapshots and resume state to its writer (or keeps them in
    ``job.eig_all``/``job.w_all``); raises FloatingPointError on a diverged run.
    """
    cuda = _backend.load()
    cfg = jobs[0].cfg
    nv, nh, nb, k = cfg.n_v, cfg.n_h, cfg.batch_size, cfg.k
    data = cfg.target == "samples"
    snap_steps = jobs[0].snap_steps
    start, step0 = jobs[0].start, jobs[0].step
    sizes = [j.cfg.n_runs for j in jobs]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_runs = int(bounds[-1])
    if n_runs >= 2**32 or int(snap_steps[-1]) >= 2**32:
        raise ValueError(
            f"device='cuda' supports fewer than 2**32 runs and steps per call, got "
            f"n_runs={n_runs}, n_steps={int(snap_steps[-1])}"
        )
    rpb = _runs_per_block(nb, threads_per_block)
    kern = _kernels(nv, nh, nb, k, rpb, data, variant, min_blocks)
    s2 = cfg.sigma_h**2
    c_target, chol = _target(cfg)
    per_snap = n_runs * (nv * nh + nh) * 8
    max_snaps = int(max(1, min(len(snap_steps), _BUFFER_BYTES // per_snap)))
    max_steps = max(1, int(_WORK_PER_CHUNK // (n_runs * nb)))
    state_bytes = n_runs * (nv * nh + nb * nv + 4) * 8
    _backend.check_memory(
        state_bytes + max_snaps * per_snap,
        f"training {n_runs} runs (n_v={nv}, n_h={nh}, batch_size={nb})",
    )
    w = np.ascontiguousarray(np.concatenate([j.w for j in jobs]), dtype=np.float64)
    phi = np.ascontiguousarray(np.concatenate([j.phi for j in jobs]), dtype=np.float64)
    rate = np.concatenate([np.full(j.cfg.n_runs, j.cfg.alpha * s2) for j in jobs])
    key = np.concatenate(
        [np.tile(np.array(j.key, dtype=np.uint64), (j.cfg.n_runs, 1)) for j in jobs]
    )
    run_id = np.concatenate([j.run_ids for j in jobs])
    stream = cuda.stream()
    d_w = cuda.to_device(w, stream=stream)
    d_phi = cuda.to_device(phi, stream=stream)
    d_rate = cuda.to_device(rate, stream=stream)
    d_key = cuda.to_device(np.ascontiguousarray(key), stream=stream)
    d_run = cuda.to_device(run_id, stream=stream)
    d_stop = cuda.to_device(np.full(n_runs, -1, dtype=np.int64), stream=stream)
    d_ct = cuda.to_device(c_target, stream=stream)
    d_chol = cuda.to_device(chol, stream=stream)
    d_zk = cuda.to_device(_ph.ZIG_K, stream=stream)
    d_zw = cuda.to_device(_ph.ZIG_W, stream=stream)
    d_zf = cuda.to_device(_ph.ZIG_F, stream=stream)
    d_wbuf = cuda.device_array((max_snaps, n_runs, nv, nh), dtype=np.float64, stream=stream)
    d_eig = cuda.device_array((max_snaps, n_runs, nh), dtype=np.float64, stream=stream)
    keep_w = any(j.record_weights for j in jobs)
    hosts = [
        {
            "eig": cuda.pinned_array((max_snaps, n_runs, nh), dtype=np.float64),
            "wbuf": cuda.pinned_array((max_snaps, n_runs, nv, nh), dtype=np.float64)
            if keep_w
            else None,
            "w": cuda.pinned_array((n_runs, nv, nh), dtype=np.float64),
            "phi": cuda.pinned_array((n_runs, nb, nv), dtype=np.float64),
            "stop": cuda.pinned_array(n_runs, dtype=np.int64),
            "event": cuda.event(),
        }
        for _ in range(2)
    ]
    grid = -(-n_runs // rpb)
    tpb = rpb * nb
    eig_tpb = 128
    chunks = _chunks(snap_steps, start, step0, max_snaps, max_steps)
    bar = _progress_bar(int(snap_steps[-1]) if len(snap_steps) else 0, step0, progress, desc)
    host_w = w.copy()  # state at the start of the chunk being launched (for step-0 snapshots)

    def launch(ci):
        p, q, step = chunks[ci]
        buf = hosts[ci % 2]
        record_at = np.asarray(snap_steps[p:q] - step, dtype=np.int64)
        n_now = int(np.sum(record_at == 0))
        rec_k = np.ascontiguousarray(record_at[n_now:])
        n_upd = int(snap_steps[q - 1] - step)
        # no snapshot in the kernel: one entry that never matches (no zero-size device array)
        d_rec = cuda.to_device(rec_k if rec_k.size else np.full(1, -1, np.int64), stream=stream)
        if n_upd > 0:
            kern.train[grid, tpb, stream](
                d_w, d_phi, d_rate, d_key, d_run, n_runs, step, n_upd, d_rec, d_wbuf, d_stop,
                d_ct, d_chol, s2, math.sqrt(s2), 1.0 / math.sqrt(cfg.mu2), 1.0 / cfg.mu2,
                d_zk, d_zw, d_zf,
            )  # fmt: skip
        ns = rec_k.size
        if ns:
            kern.eig[-(-ns * n_runs // eig_tpb), eig_tpb, stream](d_wbuf, ns, n_runs, d_eig)
            d_eig[:ns].copy_to_host(buf["eig"][:ns], stream=stream)
            if keep_w:
                d_wbuf[:ns].copy_to_host(buf["wbuf"][:ns], stream=stream)
        d_w.copy_to_host(buf["w"], stream=stream)
        d_phi.copy_to_host(buf["phi"], stream=stream)
        d_stop.copy_to_host(buf["stop"], stream=stream)
        buf["event"].record(stream)
        return n_now, ns, n_upd

    def finish(ci, n_now, ns, n_upd, w_before):
        p, q, _step = chunks[ci]
        buf = hosts[ci % 2]
        buf["event"].synchronize()
        stop = np.array(buf["stop"])
        bad = np.flatnonzero(stop >= 0)
        if bad.size:
            r = int(bad[0])
            jj = int(np.searchsorted(bounds, r, side="right") - 1)
            c = jobs[jj].cfg
            raise FloatingPointError(
                f"run {c.first_run + r - int(bounds[jj])} diverged (non-finite W) at step "
                f"{int(stop[r])}; alpha={c.alpha!r} is too large for batch_size={c.batch_size}"
            )
        wrec = np.empty((n_runs, q - p, nv, nh)) if keep_w else None
        eig = np.empty((n_runs, q - p, nh))
        if n_now:
            eig[:, :n_now] = _rec.eigenvalues_of(w_before)[:, None]
            if keep_w:
                wrec[:, :n_now] = w_before[:, None]
        if ns:
            eig[:, n_now:] = np.asarray(buf["eig"][:ns]).transpose(1, 0, 2)
            if keep_w:
                wrec[:, n_now:] = np.asarray(buf["wbuf"][:ns]).transpose(1, 0, 2, 3)
        w_end = np.array(buf["w"])
        phi_end = np.array(buf["phi"])
        step_end = int(snap_steps[q - 1])
        for jj, job in enumerate(jobs):
            a, b = int(bounds[jj]), int(bounds[jj + 1])
            e_j = eig[a:b]
            c = job.cfg
            if job.writer is None:
                job.eig_all[:, p:q] = e_j
                if job.w_all is not None:
                    job.w_all[:, p:q] = wrec[a:b]
            else:
                job.writer.write_snapshots(
                    p, e_j, weights=wrec[a:b] if job.record_weights else None,
                    learned_modes=c.mu2 - c.sigma_h**2 * e_j if job.record_modes else None,
                    done=q,
                )  # fmt: skip
                job.writer.write_state(
                    step_end,
                    {"weights": w_end[a:b], "chains": phi_end[a:b], "rng": job.rng_state(step_end)},
                )
            job.w = w_end[a:b]
            job.phi = phi_end[a:b]
            job.step = step_end
            job.start = q
        bar.update(n_upd)
        if callback is not None:
            callback(step_end)
        return w_end

    try:
        pending = None
        for ci in range(len(chunks)):
            if max_chunks is not None and ci >= max_chunks:
                break
            info = launch(ci)
            if pending is not None:
                host_w = finish(*pending)
            pending = (ci, *info, host_w)
        if pending is not None:
            finish(*pending)
    finally:
        bar.close()
        stream.synchronize()


# --------------------------------------------------------------------------- entry points
def _make_job(cfg, snap_steps, attrs, *, record_weights, record_modes, path, overwrite):
    from validation.rbm import _initial_state

    _streams, w, phi = _initial_state(cfg)
    job = Job(cfg=cfg, snap_steps=snap_steps, attrs=attrs, record_weights=record_weights,
              record_modes=record_modes, w=w, phi=phi)  # fmt: skip
    if path is not None:
        job.writer = _rec._Writer.create(
            path,
            attrs=attrs,
            steps=snap_steps,
            n_runs=cfg.n_runs,
            n_modes=cfg.n_h,
            weights_shape=(cfg.n_v, cfg.n_h) if record_weights else None,
            learned_modes=record_modes,
            state_shapes={
                "weights": (w.shape, np.float64),
                "chains": (phi.shape, np.float64),
                "rng": ((cfg.n_runs, 4), np.uint64),
            },
            overwrite=overwrite,
        )
        try:
            job.writer.write_state(0, {"weights": w, "chains": phi, "rng": job.rng_state(0)})
        except BaseException:
            job.writer.close()
            raise
    else:
        n_snap = len(snap_steps)
        job.eig_all = np.full((cfg.n_runs, n_snap, cfg.n_h), np.nan)
        if record_weights:
            job.w_all = np.full((cfg.n_runs, n_snap, cfg.n_v, cfg.n_h), np.nan)
    return job


def gpu_attrs(cfg, provenance: str) -> dict:
    """The recording attributes of a GPU run: the CPU ones plus ``generator`` and ``device``."""
    attrs = cfg.attrs(provenance)
    attrs.update(generator=GENERATOR, device="cuda")
    return attrs


def _result(job, path) -> Recording:
    if path is not None:
        return _rec.read(path, weights=job.record_weights)
    c = job.cfg
    return Recording(
        eigenvalues=job.eig_all,
        steps=job.snap_steps,
        attrs=job.attrs,
        weights=job.w_all,
        learned_modes=c.mu2 - c.sigma_h**2 * job.eig_all if job.record_modes else None,
        path=None,
        n_planned=len(job.snap_steps),
    )


def train(
    cfg, snap_steps, *, provenance, record_weights, record_modes, path, overwrite, progress,
    callback, max_chunks=None, threads_per_block=None,
):  # fmt: skip
    """The GPU path of :func:`validation.rbm.train` (arguments already checked)."""
    _backend.load()
    attrs = gpu_attrs(cfg, provenance)
    job = _make_job(cfg, snap_steps, attrs, record_weights=record_weights,
                    record_modes=record_modes, path=path, overwrite=overwrite)  # fmt: skip
    try:
        run_group([job], progress=progress, callback=callback, max_chunks=max_chunks,
                  threads_per_block=threads_per_block)  # fmt: skip
    finally:
        if job.writer is not None:
            job.writer.close()
    return _result(job, path)


def resume(path, cfg, *, progress, callback, threads_per_block=None) -> None:
    """The GPU path of :func:`validation.rbm.resume` for a recording with ``generator`` Philox."""
    _backend.load()
    writer = _rec._Writer.reopen(path)
    try:
        snap_steps = np.asarray(writer.f["steps"][...], dtype=np.int64)
        step, state = writer.read_state()
        start = int(np.searchsorted(snap_steps, step, side="right"))
        if start >= len(snap_steps):
            return
        rng = np.asarray(state["rng"], dtype=np.uint64)
        job = Job(
            cfg=cfg, snap_steps=snap_steps, attrs={}, record_weights="weights" in writer.f,
            record_modes="learned_modes" in writer.f,
            w=np.ascontiguousarray(state["weights"], dtype=np.float64),
            phi=np.ascontiguousarray(state["chains"], dtype=np.float64),
            step=step, start=start, writer=writer,
        )  # fmt: skip
        expect = job.rng_state(step)
        if rng.shape != expect.shape or not np.array_equal(rng[:, :3], expect[:, :3]):
            raise ValueError(
                f"state/rng of {str(path)!r} does not hold the Philox keys and run indices of "
                f"seed {cfg.seed} (shape {rng.shape}); the file is not a consistent GPU recording"
            )
        run_group([job], progress=progress, callback=callback,
                  threads_per_block=threads_per_block)  # fmt: skip
    finally:
        writer.close()


def sweep(jobs_kwargs, paths, *, overwrite, progress, threads_per_block=None) -> None:
    """Train the settings of :func:`validation.rbm.sweep` on the GPU.

    Settings with the same shapes and snapshots share launches (runs of all of them
    side by side); the groups run concurrently, each on its own CUDA stream.
    """
    import inspect

    from validation.rbm import _Config, _snapshot_steps
    from validation.rbm import train as cpu_train

    _backend.load()
    params = inspect.signature(cpu_train).parameters
    defaults = {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}
    jobs = []
    try:
        for given, path in zip(jobs_kwargs, paths, strict=True):
            unknown = sorted(set(given) - set(params))
            if unknown:
                raise TypeError(f"sweep: unknown keyword arguments of train: {unknown}")
            kw = {**defaults, **given}
            record_every = kw.pop("record_every")
            record_steps = kw.pop("record_steps")
            record_weights = bool(kw.pop("record_weights"))
            record_modes = bool(kw.pop("record_modes"))
            provenance = kw.pop("provenance")
            fields = set(_Config.__dataclass_fields__) - {"seed"}
            cfg = _Config.build(rng=kw["rng"], **{name: kw[name] for name in fields})
            snaps = _snapshot_steps(cfg.n_steps, record_every, record_steps)
            job = _make_job(
                cfg, snaps, gpu_attrs(cfg, provenance), record_weights=record_weights,
                record_modes=record_modes, path=path, overwrite=overwrite,
            )  # fmt: skip
            jobs.append(job)
        groups: dict = {}
        for job in jobs:
            groups.setdefault(job.group_key(), []).append(job)
        groups_list = list(groups.values())
        if len(groups_list) == 1 or _backend.simulator():  # the simulator is single-stream
            for group in groups_list:
                run_group(group, progress=progress, threads_per_block=threads_per_block)
        else:
            with ThreadPoolExecutor(len(groups_list)) as pool:
                futures = [
                    pool.submit(
                        run_group,
                        g,
                        progress=progress,
                        threads_per_block=threads_per_block,
                        desc=f"|B|={g[0].cfg.batch_size}",
                    )
                    for g in groups_list
                ]
                for f in futures:
                    f.result()
    finally:
        for job in jobs:
            if job.writer is not None:
                job.writer.close()


# --------------------------------------------------------------------------- statistics
def compare_statistics(a: Recording, b: Recording, *, snapshots=None) -> list[dict]:
    r"""Compare two recordings of the same setting run by run: z-scores of the differences.

    At each snapshot index, for every eigenvalue :math:`x_i` the mean and the standard
    deviation over runs, and for every pair of a degenerate group
    (:meth:`Recording.mode_groups`) the mean spacing :math:`\langle S\rangle`,
    :math:`S = |x_i - x_j|`.  Standard errors: :math:`\sqrt{v/n}` for means and
    :math:`\sqrt{(m_4 - s^4)/n}/(2s)` for standard deviations (:math:`m_4` the fourth
    central moment); ``z = (value_a - value_b)/sqrt(se_a^2 + se_b^2)``.

    Parameters
    ----------
    a, b : Recording
        Recordings with the same steps and modes (runs are independent samples).
    snapshots : sequence of int, optional
        Snapshot indices; default the last.

    Returns
    -------
    list of dict
        Keys ``step``, ``quantity`` (``"mean"``, ``"std"``, ``"<S>"``), ``index`` (mode or
        pair), ``a``, ``b``, ``z``.
    """
    if not np.array_equal(a.steps, b.steps) or a.n_modes != b.n_modes:
        raise ValueError("a and b must have the same snapshot steps and number of modes")
    snapshots = [len(a.steps) - 1] if snapshots is None else list(snapshots)
    pairs = [
        (i, j) for grp in a.mode_groups() for p, i in enumerate(grp) for j in grp[p + 1 :]
    ]  # fmt: skip
    rows = []

    def mean_se(x):
        return x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])

    def std_se(x):
        s = x.std(axis=0, ddof=1)
        m4 = ((x - x.mean(axis=0)) ** 4).mean(axis=0)
        return s, np.sqrt(np.maximum(m4 - s**4, 0.0) / x.shape[0]) / (2.0 * s)

    for snap in snapshots:
        xa, xb = a.eigenvalues[:, snap, :], b.eigenvalues[:, snap, :]
        step = int(a.steps[snap])
        quantities = [("mean", mean_se, xa, xb, list(range(a.n_modes))),
                      ("std", std_se, xa, xb, list(range(a.n_modes)))]  # fmt: skip
        if pairs:
            sa = np.stack([np.abs(xa[:, i] - xa[:, j]) for i, j in pairs], axis=1)
            sb = np.stack([np.abs(xb[:, i] - xb[:, j]) for i, j in pairs], axis=1)
            quantities.append(("<S>", mean_se, sa, sb, pairs))
        for name, func, qa, qb, labels in quantities:
            va, ea = func(qa)
            vb, eb = func(qb)
            z = (va - vb) / np.sqrt(ea**2 + eb**2)
            for k, lab in enumerate(labels):
                row = {"step": step, "quantity": name, "index": lab}
                row.update(a=float(va[k]), b=float(vb[k]), z=float(z[k]))
                rows.append(row)
    return rows

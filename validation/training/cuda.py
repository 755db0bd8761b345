r"""The Gaussian-RBM PCD trainer on a CUDA GPU (``train(..., device="cuda")``).

The update is the one of :mod:`validation.training.trainer` (docs/theory.md section 4),
in float64:

.. math::

    h_b \mid \phi_b \sim N(\sigma_h^2 W^T \phi_b, \sigma_h^2),\quad
    \phi_b \mid h_b \sim N(W h_b/\mu^2, 1/\mu^2)\ (k \text{ sweeps}),\qquad
    W \leftarrow W + \alpha\sigma_h^2\Big(C_{target} - \frac{1}{|B|}\sum_b \phi_b\phi_b^T\Big) W,

for every run of one or several settings in one kernel launch.  Only the random numbers
differ from the CPU trainer: the initial weights are drawn exactly as there (the
xoshiro256++ stream of the run, so step 0 is identical), but the normals of the
training come from counter-based streams (:mod:`fpsolve.cuda.philox`): normal ``n`` of
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
keeps its chain :math:`\phi_b` and :math:`h_b` in registers.  Only ``N_v``, ``N_h``
and the target mode are compile-time constants: ``|B|``, ``k`` and the runs per block
are arguments, so one kernel serves every ``|B| <= 128`` (the whole paper sweep), and
the kernels are generated into a module file of the kernel cache
(:func:`fpsolve.cuda.backend.generated_module`) whose compiled code Numba keeps on
disk, so a shape is compiled once per machine.  :math:`C_{model}` and the gradient are
block reductions over shared memory with a fixed summation order, so results are
reproducible bit for bit.  Every ``record_every``
steps ``W`` is copied to a device buffer; a second kernel computes the eigenvalues of
:math:`X = W^T W` (cyclic Jacobi, sorted ascending), which are copied out while the
next chunk of steps runs.

:func:`reference_updates` is a plain-numpy implementation of exactly this update with
the same random numbers, used by the tests.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from fpsolve.checks import snapshot_steps
from fpsolve.cuda import backend
from fpsolve.cuda import philox as _ph
from validation.data import recording as _rec
from validation.data.recording import Recording
from validation.training.trainer import (
    _Config,
    _initial_state,
    _progress_bar,
    target_matrix,
)

__all__ = ["GENERATOR", "compare_statistics", "reference_updates", "stream_layout"]

GENERATOR = "philox4x32-10-ziggurat"
"""Value of the recording attribute ``generator`` written by the GPU trainer."""

_WORK_PER_CHUNK = 2e9  # chain-updates per launch (about a second at the target speed)
_BUFFER_BYTES = 1 << 30  # device buffer of recorded weights per group
_DEFAULT_TPB = 128  # threads per block (runs per block = threads / batch_size)
_KERNELS: dict = {}
_KERNEL_LOCK = threading.Lock()


# --------------------------------------------------------------------------- kernels
def _even(n: int) -> int:
    return n + (n & 1)


def _odd(n: int) -> int:
    return n | 1


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


@dataclass(frozen=True)
class _Shape:
    """What a compiled training kernel is specialised on (everything else is an argument).

    ``max_threads`` bounds the threads per block (``launch_bounds``) and so the batch
    sizes it runs (``batch_size <= max_threads``); ``min_blocks`` asks the compiler for
    that many resident blocks per multiprocessor (a register cap).
    """

    n_v: int
    n_h: int
    data: bool
    max_threads: int = 128
    min_blocks: int | None = None

    @property
    def w_stride(self) -> int:  # odd strides: the runs of a warp read W from distinct banks
        return _odd(self.n_v * self.n_h)

    @property
    def g_stride(self) -> int:
        return _odd(self.n_v * self.n_v)

    def shared_bytes(self, runs_per_block: int, threads: int) -> int:
        """Dynamic shared memory of a launch (two W buffers and G per run, the chains)."""
        per_chain = self.n_v * (2 if self.data else 1)
        words = runs_per_block * (2 * self.w_stride + self.g_stride + 1) + threads * per_chain
        return 8 * words

    def static_shared_bytes(self) -> int:
        return 256 * 16 + 8 * self.n_v * (self.n_v + 1) // 2 + 64  # tables, G index, alignment


_SHARED_LIMIT = 48 * 1024  # bytes per block without an opt-in
_COMMON_ARGS = (
    "w, phi, rate, key, run_id, n_runs, nb, k, t0, n_upd, rec_at, wbuf, stop, "
    "ct, chol, s2, sd_h, sd_v, inv_mu2, zk_g, zw_g, zf"
)


def _kernel_source(shape: _Shape) -> str:
    """Source of the module holding the training and eigenvalue kernels of ``shape``.

    One thread per persistent chain: ``nb = |B|`` consecutive threads of a block form
    a run, ``blockDim.x // nb`` runs share a block.  Dynamic shared memory holds, per
    run, ``W`` twice (read the old, write the new), ``G = C_target - C_model`` and a
    stop flag, and per thread its chain (and target sample) for the ``C_model``
    reduction.  Per update: ``k`` block-Gibbs sweeps in registers, ``G`` (its
    ``n_v(n_v+1)/2`` entries shared out over the run's threads), then ``W + rate G W``
    (entries shared out likewise); three barriers.  Shared memory is read through
    per-run views with constant or unsigned indices (no negative-index wraparound).

    The chain is written with loops over local arrays: the compiler unrolls them for
    small shapes and keeps the chain in registers (the same machine code as a source
    written out unrolled, at half the compile time).
    """
    nv, nh, data = shape.n_v, shape.n_h, shape.data
    nw, sw, sg = nv * nh, shape.w_stride, shape.g_stride
    ne = nv * (nv + 1) // 2
    base = _even(nv) if data else 0
    period = _even(nh) + _even(nv)
    half = _even(nh)
    bounds = shape.max_threads if not shape.min_blocks else (shape.max_threads, shape.min_blocks)
    out: list[str] = [
        "import math",
        "",
        "from numba import float64, int64, uint32, uint64",
        "",
        "from fpsolve.cuda.backend import jit, load",
        "from fpsolve.cuda._device import device_functions",
        "",
        "cuda = load(need_device=False)",
        "fill_normals = device_functions().fill_normals",
        f"NV = uint64({nv})",
        f"NH = uint64({nh})",
        f"NW = uint64({nw})",
        f"NE = uint64({ne})",
        "",
        "",
        f"@jit(cache=True, launch_bounds={bounds!r})",
        f"def train({_COMMON_ARGS}):",
    ]
    add = out.append
    args = "c1, c2, c3, k0, k1, zk, zw, zf"
    add("    dyn = cuda.shared.array(0, float64)")
    add(f"    tri = cuda.shared.array((2, {ne}), uint32)")
    add("    zk = cuda.shared.array(256, int64)")
    add("    zw = cuda.shared.array(256, float64)")
    add(f"    zb = cuda.local.array({max(_even(nh), _even(nv))}, float64)")
    add(f"    p = cuda.local.array({nv}, float64)")
    add(f"    h = cuda.local.array({nh}, float64)")
    add("    tid = cuda.threadIdx.x")
    add("    nthreads = cuda.blockDim.x")
    add("    rpb = nthreads // nb")
    add("    lr = tid // nb")
    add("    bi = tid - lr * nb")
    add("    r = cuda.blockIdx.x * rpb + lr")
    add("    active = r < n_runs")
    # per-run views of the dynamic shared memory: W (two buffers), G, the run's chains
    add(f"    wa = dyn[lr * {sw}:lr * {sw} + {nw}]")
    add(f"    wb = dyn[(rpb + lr) * {sw}:(rpb + lr) * {sw} + {nw}]")
    add(f"    g = dyn[2 * rpb * {sw} + lr * {sg}:2 * rpb * {sw} + lr * {sg} + {nv * nv}]")
    add(f"    o_p = rpb * {2 * sw + sg}")
    add(f"    pr = dyn[o_p + lr * nb * {nv}:o_p + (lr + 1) * nb * {nv}]")
    add(f"    pme = dyn[o_p + tid * {nv}:o_p + (tid + 1) * {nv}]")
    if data:
        add(f"    o_d = o_p + nthreads * {nv}")
        add(f"    dr = dyn[o_d + lr * nb * {nv}:o_d + (lr + 1) * nb * {nv}]")
        add(f"    dme = dyn[o_d + tid * {nv}:o_d + (tid + 1) * {nv}]")
        add(f"    dead = dyn[o_p + 2 * nthreads * {nv} + lr:o_p + 2 * nthreads * {nv} + lr + 1]")
    else:
        add(f"    dead = dyn[o_p + nthreads * {nv} + lr:o_p + nthreads * {nv} + lr + 1]")
    add("    for m in range(tid, 256, nthreads):")
    add("        zk[m] = zk_g[m]")
    add("        zw[m] = zw_g[m]")
    add(f"    for ce in range(tid, {ne}, nthreads):")  # entry ce of G's upper triangle
    add("        i = 0")
    add("        rest = ce")
    add(f"        while rest >= {nv} - i:")
    add(f"            rest -= {nv} - i")
    add("            i += 1")
    add("        tri[0, ce] = uint32(i)")
    add("        tri[1, ce] = uint32(i + rest)")
    add("    b = uint64(bi)")
    add("    ub = uint64(nb)")
    add("    k0 = uint64(0)")
    add("    k1 = uint64(0)")
    add("    c2 = uint64(0)")
    add("    rr = 0.0")
    add("    if active:")
    add("        e = b")
    add("        while e < NW:")
    add("            i = e // NH")
    add("            wa[e] = w[r, i, e - i * NH]")
    add("            e += ub")
    add(f"        for i in range({nv}):")
    add("            p[i] = phi[r, bi, i]")
    add("        k0 = key[r, 0]")
    add("        k1 = key[r, 1]")
    add("        c2 = uint64(run_id[r])")
    add("        rr = rate[r]")
    add("        if bi == 0:")
    add("            dead[0] = 1.0 if stop[r] >= 0 else 0.0")
    add("    c3 = b")
    add("    inv_nb = 1.0 / nb")
    add("    cuda.syncthreads()")
    add("    slot = 0")
    add("    for u in range(n_upd):")
    add("        t = t0 + u + 1")
    add("        c1 = uint64(t)")
    add("        live = active and dead[0] == 0.0")
    add("        if live:")
    if data:
        add(f"            fill_normals(zb, {nv}, 0, {args})")
        for i in range(nv):
            terms = " + ".join(f"chol[{i}, {m}] * zb[{m}]" for m in range(i + 1))
            add(f"            dme[{i}] = {terms}")
    add("            for s in range(k):")
    add(f"                n0 = {base} + s * {period}")
    # a fence per half sweep: W is re-read from shared memory each time, never hoisted
    # out of the sweep loop into (too many) registers
    add("                cuda.threadfence_block()")
    add(f"                fill_normals(zb, {nh}, n0, {args})")
    add(f"                for j in range({nh}):")
    add("                    acc = 0.0")
    add(f"                    for i in range({nv}):")
    add(f"                        acc += wa[i * {nh} + j] * p[i]")
    add("                    h[j] = s2 * acc + sd_h * zb[j]")
    add("                cuda.threadfence_block()")
    add(f"                fill_normals(zb, {nv}, n0 + {half}, {args})")
    add(f"                for i in range({nv}):")
    add("                    acc = 0.0")
    add(f"                    for j in range({nh}):")
    add(f"                        acc += wa[i * {nh} + j] * h[j]")
    add("                    p[i] = acc * inv_mu2 + sd_v * zb[i]")
    add(f"            for i in range({nv}):")
    add("                pme[i] = p[i]")
    add("        cuda.syncthreads()")
    add("        if live:")  # G, upper-triangle entries shared out over the run's threads
    add("            ce = b")
    add("            while ce < NE:")
    add("                ci = uint64(tri[0, ce])")
    add("                cl = uint64(tri[1, ce])")
    add("                acc = 0.0")
    add("                c = uint64(0)")
    add("                while c < ub:")
    add("                    acc += pr[c * NV + ci] * pr[c * NV + cl]")
    add("                    c += uint64(1)")
    if data:
        add("                accd = 0.0")
        add("                c = uint64(0)")
        add("                while c < ub:")
        add("                    accd += dr[c * NV + ci] * dr[c * NV + cl]")
        add("                    c += uint64(1)")
        add("                gv = (accd - acc) * inv_nb")
    else:
        add("                gv = ct[ci, cl] - acc * inv_nb")
    add("                g[ci * NV + cl] = gv")
    add("                g[cl * NV + ci] = gv")
    add("                ce += ub")
    add("        cuda.syncthreads()")
    add("        if live:")  # W <- W + rate G W into the other buffer
    add("            bad = False")
    add("            e = b")
    add("            while e < NW:")
    add("                i = e // NH")
    add("                j = e - i * NH")
    add("                acc = 0.0")
    add("                m = uint64(0)")
    add("                while m < NV:")
    add("                    acc += g[i * NV + m] * wa[m * NH + j]")
    add("                    m += uint64(1)")
    add("                v = wa[e] + rr * acc")
    add("                wb[e] = v")
    add("                if not math.isfinite(v):")
    add("                    bad = True")
    add("                e += ub")
    add("            if bad:")
    add("                dead[0] = 1.0")
    add("                stop[r] = t")
    add("        wa, wb = wb, wa")
    add("        cuda.syncthreads()")
    add("        if slot < rec_at.shape[0] and rec_at[slot] == u + 1:")
    add("            if active:")
    add("                e = b")
    add("                while e < NW:")
    add("                    i = e // NH")
    add("                    wbuf[slot, r, i, e - i * NH] = wa[e]")
    add("                    e += ub")
    add("            slot += 1")
    add("    if active:")
    add("        e = b")
    add("        while e < NW:")
    add("            i = e // NH")
    add("            w[r, i, e - i * NH] = wa[e]")
    add("            e += ub")
    add(f"        for i in range({nv}):")
    add("            phi[r, bi, i] = p[i]")
    out.append("")
    out.append("")
    out.append(_EIG_SOURCE.format(nv=nv, nh=nh))
    return "\n".join(out)


_EIG_SOURCE = """\
@jit(cache=True)
def eig(wbuf, n_slots, n_runs, out):
    # ascending eigenvalues of X = W^T W for wbuf[slot, run], one thread per matrix; the
    # loop bounds are run-time values (fully unrolled Jacobi sweeps compile slowly)
    g = cuda.grid(1)
    if g >= n_slots * n_runs:
        return
    s = g // n_runs
    r = g - s * n_runs
    nv = wbuf.shape[2]
    nh = wbuf.shape[3]
    a = cuda.local.array(({nh}, {nh}), float64)
    d = cuda.local.array({nh}, float64)
    for p in range(nh):
        for q in range(p, nh):
            acc = 0.0
            for i in range(nv):
                acc += wbuf[s, r, i, p] * wbuf[s, r, i, q]
            a[p, q] = acc
            a[q, p] = acc
    for _sweep in range(60):  # cyclic Jacobi
        off = 0.0
        diag = 0.0
        for p in range(nh):
            diag += a[p, p] * a[p, p]
            for q in range(p + 1, nh):
                off += a[p, q] * a[p, q]
        if off <= 4.9e-32 * diag:  # (machine epsilon)^2
            break
        for p in range(nh - 1):
            for q in range(p + 1, nh):
                apq = a[p, q]
                if apq != 0.0:
                    theta = (a[q, q] - a[p, p]) / (2.0 * apq)
                    t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                    if theta < 0.0:
                        t = -t
                    c = 1.0 / math.sqrt(t * t + 1.0)
                    sn = t * c
                    for m in range(nh):
                        amp = a[m, p]
                        amq = a[m, q]
                        a[m, p] = c * amp - sn * amq
                        a[m, q] = sn * amp + c * amq
                    for m in range(nh):
                        apm = a[p, m]
                        aqm = a[q, m]
                        a[p, m] = c * apm - sn * aqm
                        a[q, m] = sn * apm + c * aqm
                    a[p, q] = 0.0
                    a[q, p] = 0.0
    for p in range(nh):  # insertion sort of the diagonal
        v = a[p, p]
        m = p - 1
        while m >= 0 and d[m] > v:
            d[m + 1] = d[m]
            m -= 1
        d[m + 1] = v
    for p in range(nh):
        out[s, r, p] = d[p]
"""


def _shape(n_v, n_h, batch_size, data, *, min_blocks=None) -> _Shape:
    """The kernel shape for a setting: threads per block bounded by 128 (or by the
    next power of two above a larger ``batch_size``), so one kernel serves every
    ``batch_size <= 128`` of a shape."""
    if batch_size > 1024:
        raise ValueError(
            f"device='cuda' supports batch_size <= 1024 (one thread per chain), got {batch_size}"
        )
    max_threads = max(128, 1 << (int(batch_size) - 1).bit_length())
    shape = _Shape(n_v, n_h, bool(data), max_threads, min_blocks)
    if shape.static_shared_bytes() + shape.shared_bytes(1, batch_size) > _SHARED_LIMIT:
        raise ValueError(
            f"device='cuda': n_v={n_v}, n_h={n_h}, batch_size={batch_size} need "
            f"{(shape.static_shared_bytes() + shape.shared_bytes(1, batch_size)) / 1024:.0f} "
            f"KiB of shared memory per run, more than the {_SHARED_LIMIT // 1024} KiB of a "
            "block; use device='cpu'"
        )
    return shape


def _launch(shape: _Shape, batch_size: int, threads_per_block: int | None):
    """``(runs per block, threads per block, dynamic shared bytes)`` of a launch.

    Runs per block: ``threads_per_block // batch_size`` (default 128 threads, two runs
    under the simulator, where threads are Python threads), at least one, halved until
    the block's shared memory fits.
    """
    if threads_per_block is None:
        threads_per_block = 2 * batch_size if backend.simulator() else _DEFAULT_TPB
    rpb = max(1, min(int(threads_per_block), shape.max_threads) // batch_size)
    while rpb > 1 and (
        shape.static_shared_bytes() + shape.shared_bytes(rpb, rpb * batch_size) > _SHARED_LIMIT
    ):
        rpb //= 2
    return rpb, rpb * batch_size, shape.shared_bytes(rpb, rpb * batch_size)


def _kernels(shape: _Shape):
    """The compiled kernels of ``shape`` (``.train``, ``.eig``): generated once per
    machine into the kernel cache (:func:`fpsolve.cuda.backend.generated_module`)."""
    key = (shape, backend.simulator())
    with _KERNEL_LOCK:
        if key not in _KERNELS:
            stem = "rbm_{}x{}{}_t{}{}".format(
                shape.n_v, shape.n_h, "_data" if shape.data else "", shape.max_threads,
                f"_mb{shape.min_blocks}" if shape.min_blocks else "",
            )  # fmt: skip
            _KERNELS[key] = backend.generated_module(stem, _kernel_source(shape))
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
        The Philox key of the setting (:func:`fpsolve.cuda.philox.key_from_seed`).
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

    cfg: _Config
    snap_steps: np.ndarray
    attrs: dict
    record_weights: bool
    record_modes: bool
    w: np.ndarray
    phi: np.ndarray
    step: int = 0
    start: int = 0
    writer: Any = None
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
        """Jobs with equal keys train side by side in one launch."""
        st = self.cfg.setting
        return (st.n_v, st.n_h, st.batch_size, st.k, st.target, st.mu2, st.sigma_h, st.m2,
                tuple(self.snap_steps.tolist()), self.step)  # fmt: skip


def _target(cfg: _Config):
    st = cfg.setting
    c_target = np.linalg.inv(target_matrix(st.n_v, cast(float, st.m2)))  # the trainer sets m2
    c_target = 0.5 * (c_target + c_target.T)
    return c_target, np.linalg.cholesky(c_target)


def _chunks(snap_steps, start, step, max_snaps, max_steps):
    """``(p, q, step)`` snapshot ranges of the launches, as in the CPU trainer."""
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


def run_group(
    jobs, *, progress=True, callback=None, max_chunks=None, threads_per_block=None,
    min_blocks=None, desc="train",
):  # fmt: skip
    """Train the jobs (same shapes, snapshots and current step) together, in one launch each chunk.

    Writes each job's snapshots and resume state to its writer (or keeps them in
    ``job.eig_all``/``job.w_all``); raises FloatingPointError on a diverged run.
    ``threads_per_block`` (runs per block times ``batch_size``, a run-time choice) and
    ``min_blocks`` (a compiled register cap) are tuning knobs (:func:`_launch`,
    :class:`_Shape`).
    """
    cuda = backend.load()
    st = jobs[0].cfg.setting
    nv, nh, nb = st.n_v, st.n_h, st.batch_size
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
    shape = _shape(nv, nh, nb, st.target == "samples", min_blocks=min_blocks)
    rpb, tpb, shared = _launch(shape, nb, threads_per_block)
    kern = _kernels(shape)
    s2 = st.sigma_h2
    c_target, chol = _target(jobs[0].cfg)
    per_snap = n_runs * (nv * nh + nh) * 8
    max_snaps = int(max(1, min(len(snap_steps), _BUFFER_BYTES // per_snap)))
    max_steps = max(1, int(_WORK_PER_CHUNK // (n_runs * nb)))
    state_bytes = n_runs * (nv * nh + nb * nv + 4) * 8
    backend.check_memory(
        state_bytes + max_snaps * per_snap,
        f"training {n_runs} runs (n_v={nv}, n_h={nh}, batch_size={nb})",
    )
    w = np.ascontiguousarray(np.concatenate([j.w for j in jobs]), dtype=np.float64)
    phi = np.ascontiguousarray(np.concatenate([j.phi for j in jobs]), dtype=np.float64)
    rate = np.concatenate([np.full(j.cfg.n_runs, j.cfg.setting.alpha * s2) for j in jobs])
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
            kern.train[grid, tpb, stream, shared](
                d_w, d_phi, d_rate, d_key, d_run, n_runs, nb, st.k, step, n_upd, d_rec, d_wbuf,
                d_stop, d_ct, d_chol, s2, math.sqrt(s2), 1.0 / math.sqrt(st.mu2), 1.0 / st.mu2,
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
                f"{int(stop[r])}; alpha={c.setting.alpha!r} is too large for "
                f"batch_size={c.setting.batch_size}"
            )
        wrec = np.empty((n_runs, q - p, nv, nh)) if keep_w else None
        eig = np.empty((n_runs, q - p, nh))
        if n_now:
            eig[:, :n_now] = _rec.eigenvalues_of(w_before)[:, None]
            if wrec is not None:
                wrec[:, :n_now] = w_before[:, None]
        if ns:
            eig[:, n_now:] = np.asarray(buf["eig"][:ns]).transpose(1, 0, 2)
            if wrec is not None:
                wrec[:, n_now:] = np.asarray(buf["wbuf"][:ns]).transpose(1, 0, 2, 3)
        w_end = np.array(buf["w"])
        phi_end = np.array(buf["phi"])
        step_end = int(snap_steps[q - 1])
        for jj, job in enumerate(jobs):
            a, b = int(bounds[jj]), int(bounds[jj + 1])
            e_j = eig[a:b]
            modes = st.mu2 - s2 * e_j if job.record_modes else None
            if job.writer is None:
                job.eig_all[:, p:q] = e_j
                if job.w_all is not None:
                    job.w_all[:, p:q] = wrec[a:b]
            else:
                weights = wrec[a:b] if job.record_weights else None
                job.writer.write_snapshots(p, e_j, weights=weights, learned_modes=modes, done=q)
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
    st = cfg.setting
    _streams, w, phi = _initial_state(cfg)
    job = Job(cfg=cfg, snap_steps=snap_steps, attrs=attrs, record_weights=record_weights,
              record_modes=record_modes, w=w, phi=phi)  # fmt: skip
    if path is not None:
        job.writer = _rec._Writer.create(
            path,
            attrs=attrs,
            steps=snap_steps,
            n_runs=cfg.n_runs,
            n_modes=st.n_h,
            weights_shape=(st.n_v, st.n_h) if record_weights else None,
            learned_modes=record_modes,
            state=(0, {"weights": w, "chains": phi, "rng": job.rng_state(0)}),
            overwrite=overwrite,
        )
    else:
        n_snap = len(snap_steps)
        job.eig_all = np.full((cfg.n_runs, n_snap, st.n_h), np.nan)
        if record_weights:
            job.w_all = np.full((cfg.n_runs, n_snap, st.n_v, st.n_h), np.nan)
    return job


def gpu_attrs(cfg: _Config, provenance: str) -> dict:
    """The recording attributes of a GPU run: the CPU ones plus ``generator`` and ``device``."""
    attrs = cfg.attrs(provenance)
    attrs.update(generator=GENERATOR, device="cuda")
    return attrs


def _result(job, path) -> Recording:
    if path is not None:
        return _rec.read(path, weights=job.record_weights)
    st = job.cfg.setting
    return Recording(
        eigenvalues=job.eig_all,
        steps=job.snap_steps,
        attrs=job.attrs,
        weights=job.w_all,
        learned_modes=st.mu2 - st.sigma_h2 * job.eig_all if job.record_modes else None,
        path=None,
        n_planned=len(job.snap_steps),
    )


def train(
    cfg, snap_steps, *, provenance, record_weights, record_modes, path, overwrite, progress,
    callback, max_chunks=None, threads_per_block=None,
):  # fmt: skip
    """The GPU path of :func:`validation.training.trainer.train` (arguments already checked)."""
    backend.load()
    _shape(cfg.setting.n_v, cfg.setting.n_h, cfg.setting.batch_size, False)  # refuse early
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


def resume(
    writer, cfg, generator, snap_steps, step, state, start, has, *, progress, callback,
    threads_per_block=None,
) -> None:  # fmt: skip
    """The GPU path of :func:`validation.training.trainer.resume`: continue a Philox
    recording from ``state`` (at ``step``), rewriting the snapshots from ``start`` on
    (the file and its lock are checked by the caller)."""
    if generator != GENERATOR:
        raise ValueError(f"{str(writer.path)!r} has an unknown generator {generator!r}")
    backend.load()
    job = Job(
        cfg=cfg, snap_steps=snap_steps, attrs={}, record_weights=has["weights"],
        record_modes=has["learned_modes"],
        w=np.ascontiguousarray(state["weights"], dtype=np.float64),
        phi=np.ascontiguousarray(state["chains"], dtype=np.float64),
        step=step, start=start, writer=writer,
    )  # fmt: skip
    rng, expect = np.asarray(state["rng"], dtype=np.uint64), job.rng_state(step)
    if rng.shape != expect.shape or not np.array_equal(rng[:, :3], expect[:, :3]):
        raise ValueError(
            f"state/rng of {str(writer.path)!r} does not hold the Philox keys and run indices "
            f"of seed {cfg.seed} (shape {rng.shape}); the file is not a consistent GPU recording"
        )
    run_group([job], progress=progress, callback=callback, threads_per_block=threads_per_block)


def sweep(jobs_kwargs, paths, *, overwrite, progress, threads_per_block=None) -> None:
    """Train the settings of :func:`validation.training.sweep.sweep` on the GPU.

    Settings with the same shapes and snapshots share launches (runs of all of them
    side by side); the groups run concurrently, each on its own CUDA stream.
    """
    import inspect

    from validation.training.trainer import train as cpu_train

    backend.load()
    params = inspect.signature(cpu_train).parameters
    defaults = {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}
    jobs = []
    try:
        for given, path in zip(jobs_kwargs, paths, strict=True):
            unknown = sorted(set(given) - set(params))
            if unknown:
                raise TypeError(f"sweep: unknown keyword arguments of train: {unknown}")
            kw = {**defaults, **given}
            snaps = snapshot_steps(kw["n_steps"], kw["record_every"], kw["record_steps"])
            cfg = _Config.build(
                n_runs=kw["n_runs"], n_steps=kw["n_steps"], rng=kw["rng"],
                first_run=kw["first_run"], w_sigma=kw["w_sigma"], target=kw["target"],
                **{name: kw[name] for name in _SETTING_ARGS},
            )  # fmt: skip
            _shape(cfg.setting.n_v, cfg.setting.n_h, cfg.setting.batch_size, False)
            job = _make_job(
                cfg, snaps, gpu_attrs(cfg, kw["provenance"]),
                record_weights=bool(kw["record_weights"]), record_modes=bool(kw["record_modes"]),
                path=path, overwrite=overwrite,
            )  # fmt: skip
            jobs.append(job)
        groups: dict = {}
        for job in jobs:
            groups.setdefault(job.group_key(), []).append(job)
        groups_list = list(groups.values())

        def one(group):
            run_group(group, progress=progress, threads_per_block=threads_per_block,
                      desc=f"|B|={group[0].cfg.setting.batch_size}")  # fmt: skip

        if len(groups_list) == 1 or backend.simulator():  # the simulator is single-stream
            for group in groups_list:
                one(group)
        else:
            with ThreadPoolExecutor(len(groups_list)) as pool:
                for f in [pool.submit(one, g) for g in groups_list]:
                    f.result()
    finally:
        for job in jobs:
            if job.writer is not None:
                job.writer.close()


_SETTING_ARGS = ("alpha", "batch_size", "k", "n_v", "n_h", "m2", "mu2", "sigma_h")


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
        quantities: list[tuple[str, Any, np.ndarray, np.ndarray, list]] = [
                      ("mean", mean_se, xa, xb, list(range(a.n_modes))),
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

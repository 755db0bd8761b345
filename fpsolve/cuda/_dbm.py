r"""Euler-Maruyama DBM ensembles on the GPU (``fpsolve.dbm.simulate(..., device="cuda")``).

One thread per replica advances

.. math::

    x_i' = x_i + dt\,K_i(x_i) + \sum_{j\ne i}\frac{P_{ij}}{x_i - x_j} + a_i\,\eta_i,
    \qquad \eta_i \sim N(0, 1),

exactly the explicit step of the CPU kernel (``fpsolve._dbm_kernels._sde_chunk`` with
``noise_mode = 0``: ``P_ij = prow_i c`` or a full matrix, harmonic and RBM models,
reflecting and wall ends), counts the steps that break the ordering and re-sorts the
replica's permutation as the CPU ``"em"``/``"sgd"`` path does, and records the same
statistics: power sums about ``reference`` (per-thread sums, then a fixed-order block
reduction; blocks are summed on the host in block order), histograms per mode, pooled
spacing histograms per group (integer counts: shared-memory histograms per block when
they fit, else global atomics), snapshots at the requested steps.

Random numbers: normal ``i`` of replica ``r`` at step ``t`` is normal ``i`` of the
Philox stream ``(c1, c2, c3) = (t, r, 0)`` under a key drawn from ``rng``
(:mod:`fpsolve.cuda.philox`), so a replica's path does not depend on the launch
shape or on how the steps are split into launches.  Moments depend on the launch
shape only through the order of floating-point sums.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from fpsolve.cuda import backend
from fpsolve.cuda import philox as _ph
from fpsolve.cuda._device import device_functions

__all__: list[str] = []

_TPB = 128
_SHARED_HIST_BYTES = 24 * 1024
_STEP_WORK = 4e9  # pair terms per launch (keeps launches around a second)
_KERNELS: dict = {}
_LOCK = threading.Lock()
cuda = None  # numba.cuda in each kernel's own globals (fpsolve.cuda.backend.rebind)

_NATURAL, _REFLECTING, _WALL = 0, 1, 2
PAIR_CROSSINGS = 0
BOUNDARY_HITS = 1


def _reflect(v, lo, hi, lok, hik):
    """Reflect ``v`` into ``[lo, hi]`` at reflecting or wall ends: ``(v, hit)`` (CPU rule)."""
    hit = False
    for _ in range(4):
        if lok != _NATURAL and v < lo:
            v = 2.0 * lo - v
            hit = True
        elif hik != _NATURAL and v > hi:
            v = 2.0 * hi - v
            hit = True
        else:
            break
    if hik == _WALL and v >= hi:
        v = 0.5 * (lo + hi) if lok != _NATURAL else hi - 1e-12 * (1.0 + abs(hi))
    if lok == _WALL and v <= lo:
        v = 0.5 * (lo + hi) if hik != _NATURAL else lo + 1e-12 * (1.0 + abs(lo))
    return v, hit


def _make_kernel(n, n_groups, max_members, bins, shared_hist, tpb, rowconst):
    from numba import float64, int32, int64, uint64

    fill_normals = device_functions().fill_normals
    reflect = backend.jit(_reflect, device=True, forceinline=True)
    N, NG, MAXM, BINS, TPB = n, n_groups, max(1, max_members), bins, tpb
    NZ = n + (n & 1)
    SH = bool(shared_hist)
    HN = N if SH else 1
    HG = NG if SH else 1
    ROWCONST = bool(rowconst)

    def kernel(x, perm, n_steps, step0, dt, pcoef, prow, amp, kind, par, lo, hi, lok, hik,
               bounded, key, n_rep, rec_start, rec_every, ref, bmom, hist_lo, hist_w, hist,
               under, over, group_of, members, sp_w, sp_hist, sp_over, cross_r, counters,
               zk_g, zw_g, zf):  # fmt: skip
        zk = cuda.shared.array(256, int64)
        zw = cuda.shared.array(256, float64)
        red = cuda.shared.array(TPB, float64)
        s_hist = cuda.shared.array((HN, BINS), int32)
        s_under = cuda.shared.array(HN, int32)
        s_over = cuda.shared.array(HN, int32)
        s_sp = cuda.shared.array((HG, BINS), int32)
        s_spo = cuda.shared.array(HG, int32)
        xl = cuda.local.array(N, float64)
        xn = cuda.local.array(N, float64)
        ps = cuda.local.array(N, float64)
        zb = cuda.local.array(NZ, float64)
        mom = cuda.local.array((N, 4), float64)
        pl = cuda.local.array(N, int64)
        buf = cuda.local.array(MAXM, float64)
        tid = cuda.threadIdx.x
        r = cuda.blockIdx.x * TPB + tid
        active = r < n_rep
        for m in range(tid, 256, TPB):
            zk[m] = zk_g[m]
            zw[m] = zw_g[m]
        if SH:
            for m in range(tid, HN * BINS, TPB):
                s_hist[m // BINS, m - (m // BINS) * BINS] = 0
            for m in range(tid, HG * BINS, TPB):
                s_sp[m // BINS, m - (m // BINS) * BINS] = 0
            for m in range(tid, HN, TPB):
                s_under[m] = 0
                s_over[m] = 0
            for m in range(tid, HG, TPB):
                s_spo[m] = 0
        for i in range(N):
            for m in range(4):
                mom[i, m] = 0.0
        cuda.syncthreads()
        n_pairs = 0
        n_bound = 0
        if active:
            k0 = key[0]
            k1 = key[1]
            c2 = uint64(r)
            c3 = uint64(0)
            for i in range(N):
                xl[i] = x[i, r]
                pl[i] = perm[i, r]
            n_cross = 0
            for s in range(n_steps):
                step = step0 + s + 1
                for i in range(N):
                    ps[i] = 0.0
                for i in range(N - 1):
                    xi = xl[i]
                    acc = 0.0
                    for j in range(i + 1, N):
                        inv = 1.0 / (xi - xl[j])
                        if ROWCONST:
                            acc += inv
                            ps[j] -= prow[j] * pcoef[0, 0] * inv
                        else:
                            acc += pcoef[i, j] * inv
                            ps[j] -= pcoef[j, i] * inv
                    if ROWCONST:
                        ps[i] += prow[i] * pcoef[0, 0] * acc
                    else:
                        ps[i] += acc
                fill_normals(zb, N, 0, uint64(step), c2, c3, k0, k1, zk, zw, zf)
                for i in range(N):
                    v = xl[i]
                    if kind[i] == 0:
                        f = -par[i, 0] * (v - par[i, 1])
                    else:
                        f = par[i, 0] * v * (1.0 / par[i, 1] - 1.0 / (par[i, 2] - par[i, 3] * v))
                    xn[i] = v + dt * f + ps[i] + amp[i] * zb[i]
                if bounded:
                    for i in range(N):
                        if lok[i] != 0 or hik[i] != 0:
                            v, hit = reflect(xn[i], lo[i], hi[i], lok[i], hik[i])
                            if hit:
                                n_bound += 1
                            xn[i] = v
                broken = False
                for m in range(N - 1):
                    if not xn[pl[m]] < xn[pl[m + 1]]:
                        broken = True
                if broken:
                    n_cross += 1
                    for m in range(1, N):  # insertion sort of the permutation
                        p = pl[m]
                        v = xn[p]
                        q = m - 1
                        while q >= 0 and xn[pl[q]] > v:
                            pl[q + 1] = pl[q]
                            q -= 1
                            n_pairs += 1
                        pl[q + 1] = p
                for i in range(N):
                    xl[i] = xn[i]
                if step >= rec_start and (step - rec_start) % rec_every == 0:
                    for i in range(N):
                        v = xl[i]
                        u = v - ref[i]
                        u2 = u * u
                        mom[i, 0] += u
                        mom[i, 1] += u2
                        mom[i, 2] += u2 * u
                        mom[i, 3] += u2 * u2
                        g = group_of[i]
                        bf = math.floor((v - hist_lo[g]) / hist_w[g])
                        if bf < 0:
                            if SH:
                                cuda.atomic.add(s_under, i, int32(1))
                            else:
                                cuda.atomic.add(under, i, int64(1))
                        elif bf >= BINS:
                            if SH:
                                cuda.atomic.add(s_over, i, int32(1))
                            else:
                                cuda.atomic.add(over, i, int64(1))
                        elif SH:
                            cuda.atomic.add(s_hist, (i, int(bf)), int32(1))
                        else:
                            cuda.atomic.add(hist, (i, int(bf)), int64(1))
                    for g in range(NG):
                        mm = 0
                        while mm < MAXM and members[g, mm] >= 0:
                            mm += 1
                        if mm < 2:
                            continue
                        for a in range(mm):
                            v = xl[members[g, a]]
                            q = a - 1
                            while q >= 0 and buf[q] > v:
                                buf[q + 1] = buf[q]
                                q -= 1
                            buf[q + 1] = v
                        for a in range(mm - 1):
                            bf = math.floor((buf[a + 1] - buf[a]) / sp_w[g])
                            if bf >= BINS:
                                if SH:
                                    cuda.atomic.add(s_spo, g, int32(1))
                                else:
                                    cuda.atomic.add(sp_over, g, int64(1))
                            elif SH:
                                cuda.atomic.add(s_sp, (g, int(bf)), int32(1))
                            else:
                                cuda.atomic.add(sp_hist, (g, int(bf)), int64(1))
            for i in range(N):
                x[i, r] = xl[i]
                perm[i, r] = pl[i]
            cross_r[r] += n_cross
        if n_pairs:
            cuda.atomic.add(counters, PAIR_CROSSINGS, int64(n_pairs))
        if n_bound:
            cuda.atomic.add(counters, BOUNDARY_HITS, int64(n_bound))
        for i in range(N):  # power sums: fixed-order tree over the block
            for m in range(4):
                red[tid] = mom[i, m]
                cuda.syncthreads()
                half = TPB // 2
                while half > 0:
                    if tid < half:
                        red[tid] += red[tid + half]
                    cuda.syncthreads()
                    half //= 2
                if tid == 0:
                    bmom[cuda.blockIdx.x, i, m] += red[0]
                cuda.syncthreads()
        if SH:
            for m in range(tid, HN * BINS, TPB):
                i = m // BINS
                c = s_hist[i, m - i * BINS]
                if c:
                    cuda.atomic.add(hist, (i, m - i * BINS), int64(c))
            for m in range(tid, HG * BINS, TPB):
                g = m // BINS
                c = s_sp[g, m - g * BINS]
                if c:
                    cuda.atomic.add(sp_hist, (g, m - g * BINS), int64(c))
            for m in range(tid, HN, TPB):
                if s_under[m]:
                    cuda.atomic.add(under, m, int64(s_under[m]))
                if s_over[m]:
                    cuda.atomic.add(over, m, int64(s_over[m]))
            for m in range(tid, HG, TPB):
                if s_spo[m]:
                    cuda.atomic.add(sp_over, m, int64(s_spo[m]))

    return backend.jit(backend.rebind(kernel, PAIR_CROSSINGS=PAIR_CROSSINGS,
                                        BOUNDARY_HITS=BOUNDARY_HITS))  # fmt: skip


def _kernel(n, n_groups, max_members, bins, tpb, rowconst):
    shared = (n + n_groups) * (bins + 2) * 4 <= _SHARED_HIST_BYTES
    key = (n, n_groups, max_members, bins, shared, tpb, rowconst, backend.simulator())
    with _LOCK:
        if key not in _KERNELS:
            _KERNELS[key] = _make_kernel(n, n_groups, max_members, bins, shared, tpb, rowconst)
        return _KERNELS[key]


def philox_key(rng) -> tuple[int, int]:
    """The Philox key of a DBM run: two 32-bit words drawn from ``rng`` (SPEC 7)."""
    from fpsolve.checks import as_rng

    k = as_rng(rng).integers(0, 2**32, size=2, dtype=np.uint64)
    return int(k[0]), int(k[1])


def simulate(
    modes, x0, *, dt, n_steps, pcoef, prow, amp, noise, safe, g2eff, record, rng, progress,
    method, params,
):  # fmt: skip
    """The GPU path of ``fpsolve.dbm.simulate``: the explicit step (``"em"`` and ``"sgd"``) only.

    Takes ``_run``'s arguments and returns the same :class:`fpsolve.dbm.DBMResult`.
    """
    from fpsolve.dbm import _setup as setup
    from fpsolve.dbm.integrators import DBMResult
    from fpsolve.dbm.statistics import Histograms, Recorder
    from fpsolve.models import HarmonicModel, RBMModel

    if safe:
        raise ValueError(
            "scheme='safe' is not supported on device='cuda'; use scheme='em' (or device='cpu')"
        )
    if noise is not None:
        raise ValueError(
            "noise callables are not supported on device='cuda'; pass g2 (constant noise) or "
            "use device='cpu'"
        )
    if not all(type(m) in (HarmonicModel, RBMModel) for m in modes):
        raise ValueError(
            "device='cuda' supports HarmonicModel and RBMModel modes only, got "
            f"{sorted({type(m).__name__ for m in modes})}; use device='cpu'"
        )
    n_replicas = x0.shape[0]
    table = setup.model_table(modes)[0]
    groups = setup.groups(modes, g2eff)
    rec = Recorder(record, modes, g2eff, n_steps, n_replicas, groups)
    out = run(table, rec, x0, dt=dt, n_steps=n_steps, pcoef=pcoef, prow=prow, amp=amp, rng=rng,
              progress=progress)  # fmt: skip
    hist = Histograms(
        groups=tuple(groups), edges=rec.edges, counts=out["hist"], underflow=out["under"],
        overflow=out["over"], spacing_edges=rec.sp_edges, spacing_counts=out["sp_hist"],
        spacing_overflow=out["sp_over"],
    )  # fmt: skip
    return DBMResult(
        modes=modes,
        method=method,
        params={**params, "dt": dt, "n_steps": n_steps, "n_replicas": n_replicas, "device": "cuda"},
        x=out["x"],
        snapshot_steps=rec.snap_steps,
        snapshots=out["snapshots"],
        n_recorded=n_recorded(rec.rec_start, rec.every, n_steps),
        n_samples=n_replicas * n_recorded(rec.rec_start, rec.every, n_steps),
        reference=rec.ref,
        power_sums=out["power_sums"],
        histograms=hist,
        crossing_steps=out["cross"],
        pair_crossings=out["pair_crossings"],
        boundary_hits=out["boundary_hits"],
    )


def run(table, rec, x0, *, dt, n_steps, pcoef, prow, amp, rng, progress, threads_per_block=None):
    """Advance ``x0`` (``(n_replicas, n)``) on the GPU; returns the pieces of a DBMResult.

    ``table`` and ``rec`` are the CPU path's model table and recorder (``fpsolve.dbm``).
    """
    cuda = backend.load()
    n_rep, n = x0.shape
    if n_rep >= 2**32 or n_steps >= 2**32:
        raise ValueError(
            f"device='cuda' supports fewer than 2**32 replicas and steps, got n_replicas={n_rep}, "
            f"n_steps={n_steps}"
        )
    tpb = _TPB if threads_per_block is None else int(threads_per_block)
    if tpb < 1 or tpb & (tpb - 1) or tpb > 1024:
        raise ValueError(f"threads_per_block must be a power of 2 <= 1024, got {tpb}")
    n_blocks = -(-n_rep // tpb)
    n_groups = len(rec.groups)
    max_members = rec.members.shape[1]
    bins = rec.bins
    rowconst = pcoef.shape[0] == 1
    n_snap = len(rec.snap_steps)
    needed = n * n_rep * 16 + n_rep * 8 + n_blocks * n * 32 + (n + n_groups) * bins * 8
    backend.check_memory(needed, f"simulating {n_rep} replicas of {n} modes")
    kern = _kernel(n, n_groups, max_members, bins, tpb, rowconst)
    key = np.array(philox_key(rng), dtype=np.uint64)
    bounded = bool(np.any(table.lok != 0) or np.any(table.hik != 0))
    stream = cuda.stream()
    xt = np.ascontiguousarray(x0.T)
    perm = np.ascontiguousarray(np.argsort(xt, axis=0, kind="stable").astype(np.int64))
    dev = {
        "x": cuda.to_device(xt, stream=stream),
        "perm": cuda.to_device(perm, stream=stream),
        "bmom": cuda.to_device(np.zeros((n_blocks, n, 4)), stream=stream),
        "hist": cuda.to_device(np.zeros((n, bins), dtype=np.int64), stream=stream),
        "under": cuda.to_device(np.zeros(n, dtype=np.int64), stream=stream),
        "over": cuda.to_device(np.zeros(n, dtype=np.int64), stream=stream),
        "sp_hist": cuda.to_device(np.zeros((n_groups, bins), dtype=np.int64), stream=stream),
        "sp_over": cuda.to_device(np.zeros(n_groups, dtype=np.int64), stream=stream),
        "cross": cuda.to_device(np.zeros(n_rep, dtype=np.int64), stream=stream),
        "counters": cuda.to_device(np.zeros(2, dtype=np.int64), stream=stream),
    }
    inputs = (
        pcoef, prow, amp, table.kind, table.par, table.lo, table.hi, table.lok, table.hik, key,
        rec.ref, rec.hist_lo, rec.hist_w, rec.group_of, rec.members, rec.sp_w,
        _ph.ZIG_K, _ph.ZIG_W, _ph.ZIG_F,
    )  # fmt: skip
    const = [cuda.to_device(np.ascontiguousarray(a), stream=stream) for a in inputs]
    (d_pcoef, d_prow, d_amp, d_kind, d_par, d_lo, d_hi, d_lok, d_hik, d_key, d_ref, d_hlo, d_hw,
     d_gof, d_mem, d_spw, d_zk, d_zw, d_zf) = const  # fmt: skip
    snaps = np.zeros((n_snap, n_rep, n))
    pos = 0
    while pos < n_snap and rec.snap_steps[pos] == 0:
        snaps[pos] = x0
        pos += 1
    per_step = max(1.0, n_rep * n * (n + 1) / 2)
    max_steps = max(1, int(_STEP_WORK // per_step))
    from tqdm.auto import tqdm

    show = bool(progress) if progress is not None else per_step * n_steps > 1e11
    step = 0
    with tqdm(total=n_steps, disable=not show, unit="step", desc="em (cuda)") as bar:
        while step < n_steps:
            stop = n_steps
            if pos < n_snap:
                stop = min(stop, int(rec.snap_steps[pos]))
            stop = min(stop, step + max_steps)
            count = stop - step
            kern[n_blocks, tpb, stream](
                dev["x"], dev["perm"], count, step, dt, d_pcoef, d_prow, d_amp, d_kind, d_par,
                d_lo, d_hi, d_lok, d_hik, bounded, d_key, n_rep, rec.rec_start, rec.every,
                d_ref, dev["bmom"], d_hlo, d_hw, dev["hist"], dev["under"], dev["over"], d_gof,
                d_mem, d_spw, dev["sp_hist"], dev["sp_over"], dev["cross"], dev["counters"],
                d_zk, d_zw, d_zf,
            )  # fmt: skip
            step = stop
            if pos < n_snap and rec.snap_steps[pos] == step:
                xs = dev["x"].copy_to_host(stream=stream)
                stream.synchronize()
                while pos < n_snap and rec.snap_steps[pos] == step:
                    snaps[pos] = xs.T
                    pos += 1
            bar.update(count)
    stream.synchronize()
    host = {k: v.copy_to_host() for k, v in dev.items()}
    x = host["x"].T.copy()
    if not np.all(np.isfinite(x)):
        r = int(np.argmax(~np.all(np.isfinite(x), axis=1)))
        raise FloatingPointError(
            f"replica {r} left the finite range (an eigenvalue became NaN or inf); reduce dt"
        )
    return {
        "x": x,
        "snapshots": snaps,
        "power_sums": host["bmom"].sum(axis=0),
        "hist": host["hist"],
        "under": host["under"],
        "over": host["over"],
        "sp_hist": host["sp_hist"],
        "sp_over": host["sp_over"],
        "cross": host["cross"],
        "pair_crossings": int(host["counters"][PAIR_CROSSINGS]),
        "boundary_hits": int(host["counters"][BOUNDARY_HITS]),
    }


def n_recorded(rec_start: int, every: int, n_steps: int) -> int:
    """Recorded steps: ``t`` in ``1..n_steps`` with ``t >= rec_start`` and
    ``(t - rec_start) % every == 0``."""
    if rec_start > n_steps:
        return 0
    return (n_steps - rec_start) // every + 1

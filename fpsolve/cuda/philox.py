r"""Counter-based normal numbers for the GPU kernels: Philox4x32-10 and a 256-layer ziggurat.

Every normal is a pure function of a *key* and a *counter*, so a kernel can compute
the numbers of any (run, step, unit, chain) without state and without depending on
how work is split over threads, blocks or launches.

Generator
    Philox4x32-10 of Salmon, Moraes, Dror and Shaw ("Parallel random numbers: as easy
    as 1, 2, 3", SC11, 2011): a 64-bit key ``(k0, k1)`` and a 128-bit counter
    ``(c0, c1, c2, c3)`` (32-bit words) give four 32-bit words; ten rounds, the
    Random123 constants and known-answer vectors.  The output is read as two 64-bit
    words ``u0 = o0 | o1 << 32`` and ``u1 = o2 | o3 << 32``.
Normal transform
    One 64-bit word gives one normal in about 99 % of cases, by the ziggurat of
    Marsaglia and Tsang (J. Stat. Softw. 5(8), 2000) with exactly the tables and
    bit layout of :mod:`fpsolve.streams` (bits 0-7 the layer, bit 8 the sign, bits
    9-60 the abscissa).  A rejected word is completed from a *retry* stream: block
    ``j = 0, 1, ...`` is Philox at counter ``(n, c1, c2, c3 | (j + 1) << 16)`` with
    ``n`` the index of the normal; the wedge test uses ``u0`` and a new candidate from
    ``u1``; in the tail (layer 0) both words give the exponential pair of Marsaglia's
    tail method.  Uniforms are ``(u >> 11) 2^{-53}``.
Counter layout (one *stream* is ``(c1, c2, c3 & 0xFFFF)``)
    Normal ``n`` of a stream is word ``n & 1`` of block ``c0 = n >> 1``; the callers fix
    ``c1``, ``c2`` and the low 16 bits of ``c3`` (the RBM trainer: update, run, chain;
    the DBM: step, replica, 0).  The high 16 bits of ``c3`` are 0 for the stream
    itself and ``j + 1`` for retries.

The same algorithm is written twice: scalar functions that Numba compiles for the
GPU (and that Numba's CUDA simulator runs as Python), and vectorised numpy functions
(:func:`philox_np`, :func:`normals_np`) that the tests and plain-numpy references of
the kernels use.
"""

from __future__ import annotations

import math

import numpy as np

from fpsolve.streams import _FI, _KI, _R, _WI

__all__ = ["ZIG_F", "ZIG_K", "ZIG_W", "key_from_seed", "normals_np", "philox_np"]

_U = np.uint64
_U32 = np.uint32
M0 = _U(0xD2511F53)
M1 = _U(0xCD9E8D57)
W0 = _U(0x9E3779B9)
W1 = _U(0xBB67AE85)
MASK32 = _U(0xFFFFFFFF)
SH32 = _U(32)
SH16 = _U(16)
MAX_RETRY = 4096
"""Retry blocks tried for one rejected word before its candidate is taken as it is
(never reached in practice: each block succeeds with probability > 0.9)."""

ZIG_K = _KI.copy()  # int64 acceptance thresholds (abscissa bits)
ZIG_W = _WI.copy()  # abscissa scale per layer
ZIG_F = _FI.copy()  # density at the layer edges
TAIL_R = _R
INV_R = 1.0 / _R
U53 = 1.0 / 9007199254740992.0


def key_from_seed(seed: int, purpose: int = 0) -> tuple[int, int]:
    """The Philox key ``(k0, k1)`` of a non-negative int ``seed`` (and a purpose tag).

    ``SeedSequence(seed, spawn_key=(0x5048494C, purpose)).generate_state(2, uint32)``:
    distinct seeds and purposes give unrelated keys.
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=(0x5048494C, int(purpose)))
    k = ss.generate_state(2, np.uint32)
    return int(k[0]), int(k[1])


# --------------------------------------------------------------------------- scalar (device)
def mulhilo(a, m):
    """High and low 32-bit words of the product of the 32-bit words ``a`` and ``m``.

    Plain uint64 arithmetic (numpy scalars never overflow); the kernels use
    :func:`mulhilo_device` instead.
    """
    p = _U(a) * _U(m)
    return _U32(p >> SH32), _U32(p & MASK32)


def mulhilo_device(a, m):
    """:func:`mulhilo` as two 32-bit instructions on the GPU (``mul.hi.u32``, ``mul.lo.u32``).

    ``umulhi`` is libdevice's, bound by :mod:`fpsolve.cuda._device`.  A 64-bit product of
    the zero-extended words compiles to a full 64-bit multiply (three or four integer
    multiplies), since the compiler loses track of the zero high words.
    """
    return _U32(umulhi(_U32(a), _U32(m))), _U32(_U(a) * _U(m))  # noqa: F821


def philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of the counter ``(c0..c3)`` and key ``(k0, k1)`` (integers < 2^32).

    Returns the two 64-bit outputs ``(o0 | o1 << 32, o2 | o3 << 32)`` as uint64.  Sums
    and exclusive ors are written in uint64 and truncated, which the compiler narrows
    to 32-bit instructions and numpy scalars (the simulator) evaluate without overflow.
    """
    c0 = _U32(c0)
    c1 = _U32(c1)
    c2 = _U32(c2)
    c3 = _U32(c3)
    k0 = _U32(k0)
    k1 = _U32(k1)
    for _ in range(10):
        hi0, lo0 = mulhilo(c0, M0)
        hi1, lo1 = mulhilo(c2, M1)
        n0 = _U32(hi1 ^ c1 ^ k0)
        n2 = _U32(hi0 ^ c3 ^ k1)
        c1 = lo1
        c3 = lo0
        c0 = n0
        c2 = n2
        k0 = _U32((_U(k0) + W0) & MASK32)
        k1 = _U32((_U(k1) + W1) & MASK32)
    return _U(c0) | (_U(c1) << SH32), _U(c2) | (_U(c3) << SH32)


def uniform(u):
    """``(u >> 11) 2^-53`` in [0, 1)."""
    return np.float64(u >> _U(11)) * U53


def zig_word(u, zk, zw):
    """Fast ziggurat step of the word ``u``: ``(layer, abscissa bits, x, accepted)``."""
    idx = np.int64(u & _U(0xFF))
    rabs = np.int64((u >> _U(9)) & _U(0x000FFFFFFFFFFFFF))
    x = np.float64(rabs) * zw[idx]
    if (u >> _U(8)) & _U(1):
        x = -x
    return idx, rabs, x, rabs < zk[idx]


def zig_finish(u, n, c1, c2, c3, k0, k1, zk, zw, zf):
    """The normal of the rejected word ``u`` (normal ``n`` of the stream ``(c1, c2, c3)``)."""
    idx, _rabs, x, _ok = zig_word(u, zk, zw)
    negative = (u >> _U(8)) & _U(1)
    j = 0
    while j < MAX_RETRY:
        v0, v1 = philox(_U(n), c1, c2, _U(c3) | (_U(j + 1) << SH16), k0, k1)
        j += 1
        if idx == 0:  # tail beyond R: Marsaglia's exponential proposal
            xx = -INV_R * math.log1p(-uniform(v0))
            yy = -math.log1p(-uniform(v1))
            if yy + yy > xx * xx:
                return -(TAIL_R + xx) if negative else TAIL_R + xx
        else:
            if (zf[idx - 1] - zf[idx]) * uniform(v0) + zf[idx] < math.exp(-0.5 * x * x):
                return x
            idx, _rabs, x, ok = zig_word(v1, zk, zw)
            negative = (v1 >> _U(8)) & _U(1)
            if ok:
                return x
    return x


def zig_fast(u, zk, zw):
    """The fast ziggurat path of the word ``u``: ``(x, accepted)``.

    The layer index stays unsigned: no negative-index wraparound in the table lookups.
    """
    idx = u & _U(0xFF)
    rabs = np.int64((u >> _U(9)) & _U(0x000FFFFFFFFFFFFF))
    x = np.float64(rabs) * zw[idx]
    if (u >> _U(8)) & _U(1):
        x = -x
    return x, rabs < zk[idx]


def normal_fix(n, c1, c2, c3, k0, k1, zk, zw, zf):
    """Normal ``n`` of the stream whose word the fast path rejected (recomputes the word)."""
    u0, u1 = philox(_U(n >> 1), c1, c2, c3, k0, k1)
    u = u1 if n & 1 else u0
    return zig_finish(u, n, c1, c2, c3, k0, k1, zk, zw, zf)


def normal_pair(q, c1, c2, c3, k0, k1, zk, zw, zf):
    """Normals ``2q`` and ``2q + 1`` of the stream ``(c1, c2, c3)`` under the key."""
    u0, u1 = philox(_U(q), c1, c2, c3, k0, k1)
    z0, ok0 = zig_fast(u0, zk, zw)
    if not ok0:
        z0 = zig_finish(u0, 2 * q, c1, c2, c3, k0, k1, zk, zw, zf)
    z1, ok1 = zig_fast(u1, zk, zw)
    if not ok1:
        z1 = zig_finish(u1, 2 * q + 1, c1, c2, c3, k0, k1, zk, zw, zf)
    return z0, z1


def fill_normals(zb, cnt, n0, c1, c2, c3, k0, k1, zk, zw, zf):
    """``zb[0:cnt]`` = normals ``n0 .. n0 + cnt - 1`` of the stream (``n0`` even).

    The fast path runs for every word (unrolled when ``cnt`` is a compile-time
    constant); the rejected ones are marked in a bit mask and completed afterwards in
    one loop, so that the long rejection code appears once per call site.
    """
    base = 0
    while base < cnt:
        m = min(cnt - base, 64)
        rej = _U(0)
        for a in range(0, m, 2):
            u0, u1 = philox(_U((n0 + base + a) >> 1), c1, c2, c3, k0, k1)
            x, ok = zig_fast(u0, zk, zw)
            zb[base + a] = x
            if not ok:
                rej |= _U(1) << _U(a)
            if a + 1 < m:
                x, ok = zig_fast(u1, zk, zw)
                zb[base + a + 1] = x
                if not ok:
                    rej |= _U(1) << _U(a + 1)
        while rej != _U(0):
            j = 0
            while ((rej >> _U(j)) & _U(1)) == _U(0):
                j += 1
            rej ^= _U(1) << _U(j)
            zb[base + j] = normal_fix(n0 + base + j, c1, c2, c3, k0, k1, zk, zw, zf)
        base += 64


# --------------------------------------------------------------------------- numpy reference
def philox_np(c0, c1, c2, c3, k0, k1):
    """Vectorised :func:`philox` (arrays broadcast; uint64 in, two uint64 arrays out)."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & MASK32 for c in (c0, c1, c2, c3))
    c0, c1, c2, c3 = np.broadcast_arrays(c0, c1, c2, c3)
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = (p1 >> SH32) ^ c1 ^ k0, p1 & MASK32, (p0 >> SH32) ^ c3 ^ k1, p0 & MASK32
        k0 = (k0 + W0) & MASK32
        k1 = (k1 + W1) & MASK32
    return c0 | (c1 << SH32), c2 | (c3 << SH32)


def normals_np(n, c1, c2, c3, k0, k1) -> np.ndarray:
    """Normal number ``n`` of the streams ``(c1, c2, c3)`` (arrays broadcast), float64."""
    n, c1, c2, c3 = np.broadcast_arrays(*(np.asarray(a, dtype=np.uint64) for a in (n, c1, c2, c3)))
    u0, u1 = philox_np(n >> _U(1), c1, c2, c3, k0, k1)
    u = np.where((n & _U(1)) == 0, u0, u1)
    idx = (u & _U(0xFF)).astype(np.int64)
    rabs = ((u >> _U(9)) & _U(0x000FFFFFFFFFFFFF)).astype(np.int64)
    x = rabs.astype(np.float64) * ZIG_W[idx]
    x = np.where(((u >> _U(8)) & _U(1)) == 1, -x, x)
    bad = rabs >= ZIG_K[idx]
    if np.any(bad):
        k0u, k1u = _U(k0), _U(k1)
        flat = np.flatnonzero(bad)
        out = x.reshape(-1)
        for f in flat:
            i = np.unravel_index(f, x.shape)
            out[f] = zig_finish(u[i], int(n[i]), c1[i], c2[i], c3[i], k0u, k1u, ZIG_K, ZIG_W, ZIG_F)
    return x

"""Private: the random streams of :mod:`fpsolve.dbm` (xoshiro256++ with ziggurat normals).

Replica (or chain) ``r`` of a run with the int seed ``s`` draws every random number from
the stream ``fpsolve.streams.stream(SeedSequence(s, spawn_key=(r,)))``, the convention of
:mod:`fpsolve.sgd` and of the Gaussian-RBM trainer.  :func:`replica_streams` builds those
states without creating a ``SeedSequence`` per replica: :func:`_spawn_states` repeats
numpy's ``SeedSequence`` hashing (``mix_entropy`` and ``generate_state``) for the spawn key
``(r,)`` and is tested bit for bit against it.

The DBM kernels hold the streams of a chunk of ``C`` replicas as a ``(4, C)`` uint64 array
(one row per state word, replicas innermost).  :func:`fill_normals_by_replica` draws one
normal per replica and mode, mode by mode: the fast ziggurat draw of every replica in one
pass over the replicas (vectorised across their streams), then the rare rejections.  A
replica's own stream is consumed in the same order as by :func:`fpsolve.streams.fill_normals`
(mode 0, 1, ... of step 1, then of step 2, ...), so its normals depend on its seed only,
never on the chunk it sits in or the thread that runs the chunk.
"""

from __future__ import annotations

import numbers

import numpy as np

from fpsolve.jit import jit
from fpsolve.streams import _KI, _advance, _finish_normal, _next_double, _next_u64, _ziggurat

__all__ = ["fill_normals_by_replica", "normal", "replica_streams", "uniform"]

_U = np.uint64
_M32 = np.uint64(0xFFFFFFFF)
# numpy's SeedSequence constants (numpy/random/bit_generator.pyx)
_INIT_A = np.uint64(0x43B0D7E5)
_MULT_A = np.uint64(0x931E8875)
_INIT_B = np.uint64(0x8B51F9DD)
_MULT_B = np.uint64(0x58F38DED)
_MIX_L = np.uint64(0xCA01F9DD)
_MIX_R = np.uint64(0x4973F715)
_POOL = 4


def _words(value: int) -> list[int]:
    """The little-endian 32-bit words of the non-negative int ``value`` (``[0]`` for 0)."""
    out = []
    while value > 0:
        out.append(value & 0xFFFFFFFF)
        value >>= 32
    return out or [0]


@jit(inline="always")
def _hashmix(value, hc):
    value = (value ^ hc) & _M32
    hc = (hc * _MULT_A) & _M32
    value = (value * hc) & _M32
    return value ^ (value >> _U(16)), hc


@jit(inline="always")
def _mix(x, y):
    res = (_MIX_L * x - _MIX_R * y) & _M32
    return res ^ (res >> _U(16))


@jit
def _spawn_states(run, start, out):
    """``out[:, k]``: the state of ``stream(SeedSequence(seed, spawn_key=(start + k,)))``,
    ``run`` holding the seed's 32-bit words padded with zeros to at least the pool size."""
    n_run = run.shape[0]
    entropy = np.zeros(n_run + 2, dtype=np.uint64)
    pool = np.zeros(_POOL, dtype=np.uint64)
    words = np.zeros(2 * _POOL, dtype=np.uint64)
    for i in range(n_run):
        entropy[i] = run[i]
    for k in range(out.shape[1]):
        r = np.uint64(start + k)
        entropy[n_run] = r & _M32
        n_ent = n_run + 1
        if r >> _U(32):
            entropy[n_run + 1] = r >> _U(32)
            n_ent += 1
        hc = _INIT_A
        for i in range(_POOL):  # n_run >= _POOL: the pool starts from the seed's words
            pool[i], hc = _hashmix(entropy[i], hc)
        for i_src in range(_POOL):
            for i_dst in range(_POOL):
                if i_src != i_dst:
                    h, hc = _hashmix(pool[i_src], hc)
                    pool[i_dst] = _mix(pool[i_dst], h)
        for i_src in range(_POOL, n_ent):
            for i_dst in range(_POOL):
                h, hc = _hashmix(entropy[i_src], hc)
                pool[i_dst] = _mix(pool[i_dst], h)
        hb = _INIT_B
        for i in range(2 * _POOL):
            v = (pool[i % _POOL] ^ hb) & _M32
            hb = (hb * _MULT_B) & _M32
            v = (v * hb) & _M32
            words[i] = v ^ (v >> _U(16))
        zero = True
        for w in range(4):
            out[w, k] = words[2 * w] | (words[2 * w + 1] << _U(32))
            zero = zero and out[w, k] == 0
        if zero:  # the one invalid state of xoshiro256++, as fpsolve.streams.stream
            out[0, k] = 1


def replica_streams(seed: int, start: int, stop: int) -> np.ndarray:
    """The streams of replicas ``start <= r < stop`` of the int ``seed``, as ``(4, stop -
    start)`` uint64 (column ``k`` equals ``stream(SeedSequence(seed, spawn_key=(start + k,)))``)."""
    if not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    run = _words(int(seed))
    run += [0] * (_POOL - len(run))  # numpy pads short entropy when there is a spawn key
    out = np.empty((4, stop - start), dtype=np.uint64)
    _spawn_states(np.array(run, dtype=np.uint64), start, out)
    return out


@jit
def fill_normals_by_replica(st, eta, ridx, rabs, tmp):
    """``eta[i, r]``: one standard normal per mode ``i`` and replica ``r`` from the stream
    ``st[:, r]`` (advanced), drawn mode by mode.

    ``ridx``, ``rabs`` (``(C,)`` int64) and ``tmp`` (``(4,)`` uint64) are scratch.
    """
    n, c = eta.shape
    for i in range(n):
        for r in range(c):  # the fast draw of every replica (vectorised over the streams)
            res, s0, s1, s2, s3 = _advance(st[0, r], st[1, r], st[2, r], st[3, r])
            st[0, r] = s0
            st[1, r] = s1
            st[2, r] = s2
            st[3, r] = s3
            idx, bits, x = _ziggurat(res)
            eta[i, r] = x
            ridx[r] = idx if bits >= _KI[idx] else -1
            rabs[r] = bits
        for r in range(c):  # the rejections (about 1% of the draws)
            idx = ridx[r]
            if idx >= 0:
                for w in range(4):
                    tmp[w] = st[w, r]
                eta[i, r] = _finish_normal(tmp, idx, rabs[r], eta[i, r])
                for w in range(4):
                    st[w, r] = tmp[w]


@jit(inline="always")
def normal(s):
    """One standard normal from the stream ``s`` (``(4,)`` uint64, advanced), the value
    :func:`fpsolve.streams.fill_normals` would give."""
    idx, bits, x = _ziggurat(_next_u64(s))
    if bits < _KI[idx]:
        return x
    return _finish_normal(s, idx, bits, x)


@jit(inline="always")
def uniform(s):
    """One uniform number on ``[0, 1)`` (53 random bits) from the stream ``s`` (advanced)."""
    return _next_double(s)

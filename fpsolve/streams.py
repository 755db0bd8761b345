"""Normal-number streams for Numba kernels: xoshiro256++ with a 256-layer ziggurat.

Public for jitted code outside :mod:`fpsolve` (the Gaussian-RBM trainer of
:mod:`validation.training` draws every normal from these streams).

A stream is a ``(4,)`` uint64 array, the state of the xoshiro256++ generator of
Blackman and Vigna ("Scrambled linear pseudorandom number generators", ACM TOMS 47,
36, 2021).  Normals come from the ziggurat method of Marsaglia and Tsang (J. Stat.
Softw. 5(8), 2000) with numpy's layout: 256 layers, 8 bits of a draw pick the layer,
one bit the sign and 52 bits the abscissa; the rare rejections fall back to the wedge
test or to the tail sampler beyond ``R``.  The tables are built here from ``R`` and the
layer area ``V = R f(R) + sqrt(pi/2) erfc(R/sqrt 2)``.

Everything is written for speed inside numba loops: :func:`fill_normals` keeps the
state in registers and leaves the hot loop only for the rejections.  Filling ``n``
values in one call or in several consecutive calls gives the same numbers, so a
stream's output depends only on its state and the number of values drawn.
"""

from __future__ import annotations

import math

import numpy as np

from fpsolve.jit import jit

__all__ = ["fill_normals", "normals", "stream"]

_U = np.uint64
_R = 3.6541528853610088  # start of the tail of the 256-layer ziggurat
_INV_R = 1.0 / _R
_V = _R * math.exp(-0.5 * _R * _R) + math.sqrt(math.pi / 2.0) * math.erfc(_R / math.sqrt(2.0))


def _tables(r: float = _R, v: float = _V):
    """Ziggurat tables ``(k, w, f)``: acceptance thresholds (int64, scaled by 2^52),
    abscissa scales ``x_i / 2^52`` and densities ``exp(-x_i^2 / 2)`` of the 256 layers."""
    m1 = 2.0**52
    k = np.zeros(256, np.int64)
    w = np.zeros(256)
    f = np.zeros(256)
    dn = tn = r
    q = v / math.exp(-0.5 * dn * dn)
    k[0] = int(dn / q * m1)
    w[0] = q / m1
    w[255] = dn / m1
    f[0] = 1.0
    f[255] = math.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(v / dn + math.exp(-0.5 * dn * dn)))
        k[i + 1] = int(dn / tn * m1)
        tn = dn
        f[i] = math.exp(-0.5 * dn * dn)
        w[i] = dn / m1
    return k, w, f


_KI, _WI, _FI = _tables()


def stream(seed_sequence: np.random.SeedSequence) -> np.ndarray:
    """A new stream (``(4,)`` uint64 state) seeded from ``seed_sequence``."""
    state = seed_sequence.generate_state(4, np.uint64)
    if not state.any():  # the one invalid state of xoshiro256++ (probability 2^-256)
        state[0] = 1
    return state


def normals(state: np.ndarray, size) -> np.ndarray:
    """``size`` standard normals from ``state`` (advanced in place), C order."""
    out = np.empty(size)
    fill_normals(state, out.reshape(-1))
    return out


@jit(inline="always")
def _advance(s0, s1, s2, s3):
    """One xoshiro256++ step from the state words: ``(output, s0, s1, s2, s3)``."""
    a = s0 + s3
    res = ((a << _U(23)) | (a >> _U(41))) + s0
    t = s1 << _U(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    return res, s0, s1, s2, (s3 << _U(45)) | (s3 >> _U(19))


@jit(inline="always")
def _ziggurat(r):
    """The fast ziggurat draw from 64 bits ``r``: ``(layer, abscissa bits, x)``.

    ``x`` is accepted when ``abscissa bits < _KI[layer]``; the sign comes without a branch.
    """
    idx = np.int64(r & _U(0xFF))
    rabs = np.int64((r >> _U(9)) & _U(0x000FFFFFFFFFFFFF))
    x = (1.0 - 2.0 * np.float64(np.int64((r >> _U(8)) & _U(1)))) * (rabs * _WI[idx])
    return idx, rabs, x


@jit(inline="always")
def _next_u64(s):
    res, s[0], s[1], s[2], s[3] = _advance(s[0], s[1], s[2], s[3])
    return res


@jit(inline="always")
def _next_double(s):
    """Uniform on [0, 1) with 53 random bits."""
    return np.float64(np.int64(_next_u64(s) >> _U(11))) * (1.0 / 9007199254740992.0)


@jit
def _finish_normal(s, idx, rabs, x):
    """Complete a draw whose fast ziggurat test failed (about 1% of draws)."""
    while True:
        if idx == 0:  # tail beyond R (Marsaglia's exponential proposal)
            while True:
                xx = -_INV_R * math.log1p(-_next_double(s))
                yy = -math.log1p(-_next_double(s))
                if yy + yy > xx * xx:
                    return -(_R + xx) if (rabs >> 8) & 1 else _R + xx
        if (_FI[idx - 1] - _FI[idx]) * _next_double(s) + _FI[idx] < math.exp(-0.5 * x * x):
            return x
        idx, rabs, x = _ziggurat(_next_u64(s))
        if rabs < _KI[idx]:
            return x


@jit
def fill_normals(s, out):
    """Fill the 1-d array ``out`` with standard normals from stream ``s`` (advanced)."""
    n = out.shape[0]
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    i = 0
    while i < n:
        idx = 0
        rabs = 0
        x = 0.0
        while i < n:  # hot loop: state in registers
            r, s0, s1, s2, s3 = _advance(s0, s1, s2, s3)
            idx, rabs, x = _ziggurat(r)
            if rabs >= _KI[idx]:
                break
            out[i] = x
            i += 1
        if i < n:
            s[0], s[1], s[2], s[3] = s0, s1, s2, s3
            out[i] = _finish_normal(s, idx, rabs, x)
            s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
            i += 1
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3

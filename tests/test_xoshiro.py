"""Tests of fpsolve.streams: the xoshiro256++ streams and their ziggurat normals."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from scipy import stats

from fpsolve import streams as X

_MASK = (1 << 64) - 1


def _xoshiro_reference(state, n):
    """xoshiro256++ written from the paper's C code with Python integers."""
    s = [int(v) for v in state]

    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & _MASK

    out = []
    for _ in range(n):
        out.append((rotl((s[0] + s[3]) & _MASK, 23) + s[0]) & _MASK)
        t = (s[1] << 17) & _MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out, s


@numba.njit
def _raw(s, n):
    out = np.empty(n, np.uint64)
    for i in range(n):
        out[i] = X._next_u64(s)
    return out


def test_generator_matches_reference_implementation():
    state = X.stream(np.random.SeedSequence(5))
    ref, ref_state = _xoshiro_reference(state, 1000)
    s = state.copy()
    np.testing.assert_array_equal(_raw(s, 1000), np.array(ref, dtype=np.uint64))
    assert [int(v) for v in s] == ref_state
    # the published first outputs from the state (1, 2, 3, 4)
    assert _raw(np.array([1, 2, 3, 4], np.uint64), 3).tolist() == [
        41943041, 58720359, 3588806011781223,
    ]  # fmt: skip


def test_ziggurat_tables_equal_numpys():
    """numba's copy of numpy's ziggurat tables (random_standard_normal)."""
    const = pytest.importorskip("numba.np.random._constants")
    np.testing.assert_allclose(X._WI, const.wi_double, rtol=1e-12)
    np.testing.assert_allclose(X._FI, const.fi_double, rtol=0, atol=1e-14)
    np.testing.assert_allclose(X._KI, const.ki_double.astype(np.int64), rtol=1e-12)
    assert X._KI[1] == 0
    assert const.ziggurat_nor_r == X._R


def test_fill_is_split_invariant_and_advances_state():
    s = X.stream(np.random.SeedSequence(1))
    whole = X.normals(s.copy(), 5000)
    t = s.copy()
    parts = np.concatenate([X.normals(t, n) for n in (1, 0, 499, 1500, 3000)])
    np.testing.assert_array_equal(parts, whole)
    u = s.copy()
    X.normals(u, 5000)
    np.testing.assert_array_equal(u, t)
    assert not np.array_equal(u, s)


def test_normals_are_standard_normal():
    n = 2_000_000
    x = X.normals(X.stream(np.random.SeedSequence(11)), n)
    # KS at the 0.1% level: critical value 1.95 / sqrt(n)
    assert stats.kstest(x, "norm").statistic < 1.95 / math.sqrt(n)
    assert abs(x.mean()) < 4 / math.sqrt(n)
    assert abs(x.var() - 1) < 4 * math.sqrt(2 / n)
    assert abs(stats.kurtosis(x)) < 4 * math.sqrt(24 / n)
    # the tail sampler beyond R and the wedges: binomial counts, 4 sigma
    for lo, hi in ((X._R, np.inf), (2.0, 3.0), (0.2, 0.3)):
        p = 2 * (stats.norm.sf(lo) - stats.norm.sf(hi))
        count = np.count_nonzero((np.abs(x) > lo) & (np.abs(x) <= hi))
        assert abs(count - n * p) < 4 * math.sqrt(n * p * (1 - p)), (lo, count, n * p)
    # both signs in the tail
    tail = x[np.abs(x) > X._R]
    assert 0.3 < np.mean(tail > 0) < 0.7


def test_streams_differ_and_are_reproducible():
    a = X.stream(np.random.SeedSequence(3, spawn_key=(0,)))
    b = X.stream(np.random.SeedSequence(3, spawn_key=(1,)))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, X.stream(np.random.SeedSequence(3, spawn_key=(0,))))
    x, y = X.normals(a, 10_000), X.normals(b, 10_000)
    assert abs(np.corrcoef(x, y)[0, 1]) < 4 / math.sqrt(10_000)

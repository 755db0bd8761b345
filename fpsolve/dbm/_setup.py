"""Input handling shared by the integrators and samplers of :mod:`fpsolve.dbm`: checks of
models, noise and starts, the model table the kernels read, chunks of replicas, threads."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numba
import numpy as np
from numpy.typing import ArrayLike

from fpsolve.checks import check_finite_array
from fpsolve.dbm import _kernels as _k
from fpsolve.dbm._random import replica_streams
from fpsolve.models import HarmonicModel, Model, Modes, RBMModel

_MAX_CHUNKS = 4096
_CHUNK = 512  # replicas per kernel call (cache-sized working set)
_PROGRESS_WORK = 1e9  # pair-sum operations above which a progress bar is shown by default
_BOUNDARY_CODE = {"natural": 0, "reflecting": 1, "wall": 2}

T = TypeVar("T")


def check_modes(modes: Any) -> Modes:
    if isinstance(modes, Model):
        return Modes([modes])
    if isinstance(modes, Modes):
        return modes
    if isinstance(modes, Sequence) and all(isinstance(m, Model) for m in modes):
        return Modes(modes)
    raise TypeError(f"modes must be a fpsolve.models.Modes (or a sequence of Model), got {modes!r}")


def per_mode(name: str, value: ArrayLike, n: int, *, strict: bool = True) -> np.ndarray:
    arr = check_finite_array(name, value)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(
            f"{name} must be a scalar or have shape ({n},) (one per mode), got {arr.shape}"
        )
    bad = arr <= 0 if strict else arr < 0
    if np.any(bad):
        k = int(np.argmax(bad))
        allowed = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {allowed}, got {arr[k]!r} for mode {k}")
    return arr


def check_coupling(coupling: ArrayLike, n: int) -> np.ndarray:
    c = check_finite_array("coupling", coupling, ndim=2)
    if c.shape != (n, n):
        raise ValueError(f"coupling must have shape ({n}, {n}), got {c.shape}")
    if not np.allclose(c, c.T, rtol=1e-12, atol=0.0):
        raise ValueError("coupling must be symmetric (G_ij = G_ji)")
    off = c[~np.eye(n, dtype=bool)]
    if np.any(off < 0):
        raise ValueError(f"coupling must be >= 0 off the diagonal, got {off.min()!r}")
    return c


def _model_key(m: Model) -> tuple:
    """Models with equal parameters share derived quantities (user models by identity)."""
    if type(m) in (HarmonicModel, RBMModel):
        return (type(m).__name__, tuple(sorted(m.params.items())))
    return ("id", id(m))


def _per_model(modes: Modes, attr: str) -> np.ndarray:
    """``getattr(model, attr)`` per mode (NaN where it raises ValueError), once per model."""
    cache: dict = {}
    out = np.full(len(modes), np.nan)
    for i, m in enumerate(modes):
        key = _model_key(m)
        if key not in cache:
            cache[key] = math.nan
            with contextlib.suppress(ValueError):
                cache[key] = float(getattr(m, attr))
        out[i] = cache[key]
    return out


def sigma(modes: Modes, g2: ArrayLike) -> np.ndarray:
    """Stationary single-mode width sqrt(g2/Omega) (NaN where a model has no stable point)."""
    return np.sqrt(np.asarray(g2, dtype=np.float64) / _per_model(modes, "omega"))


def curvature(modes: Modes) -> np.ndarray:
    """Curvature ``Omega = -K'(x_s)`` of each mode at its stable point (NaN where none)."""
    return _per_model(modes, "omega")


def stable(modes: Modes) -> np.ndarray:
    """Stable fixed point of each mode (NaN where a model has none)."""
    return _per_model(modes, "x_stable")


def groups(modes: Modes, g2: np.ndarray) -> list[tuple[int, ...]]:
    """Degenerate groups refined by equal g2."""
    out: list[tuple[int, ...]] = []
    for grp in modes.degenerate_groups():
        sub: dict[float, list[int]] = {}
        for i in grp:
            sub.setdefault(float(g2[i]), []).append(i)
        out.extend(tuple(v) for v in sub.values())
    return sorted(out, key=lambda g: g[0])


def _semicircle_quantiles(m: int) -> np.ndarray:
    """Quantiles ``(a + 1/2)/m`` of the semicircle law on ``[-1, 1]``."""
    u = np.linspace(-1.0, 1.0, 4001)
    cdf = 0.5 + (u * np.sqrt(1.0 - u * u) + np.arcsin(u)) / np.pi
    return np.interp((np.arange(m) + 0.5) / m, cdf, u)


def default_x0(modes: Modes, g2: np.ndarray) -> np.ndarray:
    """Stable points; members of a degenerate group of ``m`` modes placed at the quantiles
    of the semicircle of radius ``sqrt(2 m) sigma`` (``sigma = sqrt(g2/Omega)``)."""
    xs, sig = stable(modes), sigma(modes, g2)
    if np.any(np.isnan(xs)):
        k = int(np.argmax(np.isnan(xs)))
        raise ValueError(f"x0 is required: mode {k} ({modes[k]!r}) has no stable fixed point")
    x0 = xs.copy()
    for grp in groups(modes, g2):
        m = len(grp)
        offsets = math.sqrt(2.0 * m) * _semicircle_quantiles(m) if m > 1 else np.zeros(1)
        for a, i in enumerate(grp):
            x0[i] = xs[i] + offsets[a] * sig[i]
    if len(np.unique(x0)) < len(x0):  # distinct models sharing a stable point
        x0 = x0 + 1e-3 * np.nanmax(sig) * np.arange(len(x0))
    for i, model in enumerate(modes):
        if not model.contains(x0[i]):
            x0[i] = xs[i]
    return x0


def check_x0(x0: ArrayLike, modes: Modes, n_replicas: int) -> np.ndarray:
    """Validate x0 ((n,) or (n_replicas, n)); return (n_replicas, n)."""
    n = len(modes)
    x = check_finite_array("x0", x0)
    shared = x.ndim == 1
    if shared:
        if x.shape != (n,):
            raise ValueError(f"x0 must have shape ({n},) or ({n_replicas}, {n}), got {x.shape}")
        x = x[None, :]  # checked once, broadcast at the end
    elif x.shape != (n_replicas, n):
        raise ValueError(f"x0 must have shape ({n},) or ({n_replicas}, {n}), got {x.shape}")
    srt = np.sort(x, axis=1)
    if n > 1 and np.any(np.diff(srt, axis=1) <= 0):
        r = int(np.argmax(np.any(np.diff(srt, axis=1) <= 0, axis=1)))
        raise ValueError(
            f"x0 must hold distinct eigenvalues (the pair term is singular at x_i = x_j); "
            f"replica {r} has coinciding values {x[r].tolist()}"
        )
    lo = np.array([m.domain[0] for m in modes])
    hi = np.array([m.domain[1] for m in modes])
    lo_wall = np.array([m.boundaries[0] == "wall" for m in modes])
    hi_wall = np.array([m.boundaries[1] == "wall" for m in modes])
    inside = np.where(lo_wall, x > lo, x >= lo) & np.where(hi_wall, x < hi, x <= hi)
    if not np.all(inside):
        r, i = np.argwhere(~inside)[0]
        raise ValueError(
            f"x0 for mode {i} must lie in the domain ({lo[i]}, {hi[i]}) of {modes[i]!r}, "
            f"got {float(x[r, i])!r}"
        )
    if shared:
        return np.array(np.broadcast_to(x, (n_replicas, n)), dtype=np.float64)
    return np.array(x, dtype=np.float64)


def check_noise(noise: Any, n: int) -> list[Callable[[float], float]] | None:
    if noise is None:
        return None
    funcs = list(noise) if isinstance(noise, Sequence) else [noise] * n
    if len(funcs) != n:
        raise ValueError(
            f"noise must be one callable or {n} callables (one per mode), got {len(funcs)}"
        )
    out: list[Callable[[float], float]] = []
    for k, func in enumerate(funcs):
        if not callable(func):
            raise TypeError(f"noise[{k}] must be a callable x -> g_i(x), got {func!r}")
        f = func
        if not isinstance(f, numba.core.registry.CPUDispatcher):
            try:
                f = numba.njit(func)
                float(f(0.5))
            except Exception as exc:
                raise TypeError(
                    f"noise[{k}] cannot be compiled by numba ({exc.__class__.__name__}); pass an "
                    f"@numba.njit function of a scalar"
                ) from exc
        out.append(f)
    return out


def _unique_index(items: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Index of each item among the distinct objects (by identity), and those objects."""
    index = np.zeros(len(items), dtype=np.int64)
    unique: list[Any] = []
    for i, item in enumerate(items):
        for k, u in enumerate(unique):
            if u is item:
                index[i] = k
                break
        else:
            index[i] = len(unique)
            unique.append(item)
    return index, unique


def model_table(
    modes: Modes, noise: Sequence[Callable[[float], float]] | None = None
) -> tuple[_k.Table, _k.Kernels]:
    """The kernels' view of the models (and noise functions), and the kernels that fit them.

    Harmonic and RBM modes are passed by their parameters to the default kernels; any
    other model (or a noise function) gets kernels compiled against its numba callables.
    """
    n = len(modes)
    kind = np.zeros(n, dtype=np.int64)
    par = np.zeros((n, 4))
    nkind = np.zeros(n, dtype=np.int64)
    fast = all(type(m) in (HarmonicModel, RBMModel) for m in modes)
    drifts = potentials = noises = None
    key: list = []
    if fast:
        for i, m in enumerate(modes):
            if isinstance(m, HarmonicModel):
                par[i] = (m.omega, m.center, 0.0, 0.0)
            elif isinstance(m, RBMModel):
                kind[i] = 1
                par[i] = m.scalar_params
    else:
        kind, unique = _unique_index(list(modes))
        drifts = tuple(m.numba_drift for m in unique)
        potentials = tuple(m.numba_potential for m in unique)
        key.append(tuple((id(m), m) for m in unique))
    if noise is not None:
        nkind, uniq_f = _unique_index(noise)
        noises = tuple(uniq_f)
        key.append(tuple((id(f), f) for f in uniq_f))
    table = _k.Table(
        kind=kind,
        par=par,
        nkind=nkind,
        lo=np.array([m.domain[0] for m in modes], dtype=np.float64),
        hi=np.array([m.domain[1] for m in modes], dtype=np.float64),
        lok=np.array([_BOUNDARY_CODE[m.boundaries[0]] for m in modes], dtype=np.int64),
        hik=np.array([_BOUNDARY_CODE[m.boundaries[1]] for m in modes], dtype=np.int64),
    )
    if drifts is None and noises is None:
        return table, _k.default_kernels()
    kernels = _k.build_kernels((fast, *key), drifts=drifts, potentials=potentials, noises=noises)
    return table, kernels


def chunks(n_replicas: int, size: int | None = None) -> list[tuple[int, int]]:
    """Replica ranges ``(a, b)`` advanced by one kernel call each: about ``_CHUNK`` replicas
    (at most ``_MAX_CHUNKS`` chunks), or exactly ``size``."""
    if size is None:
        n_chunks = min(_MAX_CHUNKS, max(1, -(-n_replicas // _CHUNK)))
        size = -(-n_replicas // n_chunks)
    return [(a, min(n_replicas, a + size)) for a in range(0, n_replicas, size)]


def streams(seed: int, spans: list[tuple[int, int]], *, by_row: bool = False) -> list[np.ndarray]:
    """The xoshiro256++ streams of the replicas of each span ``(a, b)``: replica ``r`` gets
    ``fpsolve.streams.stream(SeedSequence(seed, spawn_key=(r,)))``, as the columns of a
    ``(4, b - a)`` array (``by_row``: the rows of a ``(b - a, 4)`` array)."""
    out = []
    for a, b in spans:
        st = replica_streams(seed, a, b)
        out.append(np.ascontiguousarray(st.T) if by_row else st)
    return out


def parallel_map(fn: Callable[[int], T], n: int) -> list[T]:
    """``[fn(0), ..., fn(n - 1)]`` on up to numba's number of threads."""
    threads = min(n, numba.get_num_threads())
    if threads <= 1:
        return [fn(k) for k in range(n)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, range(n)))


def show_progress(progress: bool | None, work: float) -> bool:
    """Whether to show a progress bar: as asked, or for more than ``_PROGRESS_WORK``."""
    if progress is None:
        return work > _PROGRESS_WORK
    return bool(progress)

"""Input checks shared by the public API: each raises with the parameter's name,
its value and what is allowed."""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

__all__ = [
    "MEMORY_FRACTION",
    "as_rng",
    "as_seed",
    "available_memory",
    "check_finite_array",
    "check_in_range",
    "check_int",
    "check_memory",
    "check_positive",
    "check_real",
    "check_work",
    "snapshot_steps",
]

MEMORY_FRACTION = 0.8
"""At most this fraction of the available memory is planned for by :func:`check_memory`."""


def check_real(name: str, value, *, finite: bool = True) -> float:
    """Return ``value`` as a float, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if finite and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def check_positive(name: str, value, *, strict: bool = True) -> float:
    """Return ``value`` as a float after checking ``value > 0`` (``>= 0`` if not strict)."""
    value = check_real(name, value)
    if (strict and value <= 0) or (not strict and value < 0):
        allowed = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def check_in_range(
    name: str, value, low: float, high: float, *, low_open=False, high_open=False
) -> float:
    """Return ``value`` as a float after checking it lies in the stated interval."""
    value = check_real(name, value)
    bad_low = value <= low if low_open else value < low
    bad_high = value >= high if high_open else value > high
    if bad_low or bad_high:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {lb}{low}, {high}{hb}, got {value!r}")
    return value


def check_int(name: str, value, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int after checking it is integral and ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_finite_array(name: str, value, *, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array, raising if it holds NaN/inf or has the wrong ndim."""
    arr = np.asarray(value, dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))
        raise ValueError(
            f"{name} must be finite; {len(bad)} non-finite entries, first at index {tuple(bad[0])}"
        )
    return arr


def as_rng(rng) -> np.random.Generator:
    """Normalise ``rng`` (SPEC 7): None, an int seed, a SeedSequence or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral):
        return np.random.default_rng(int(rng))
    if rng is None or isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be None, an int seed, a numpy SeedSequence or a numpy Generator, got {rng!r}"
    )


def available_memory() -> float:
    """Bytes of memory available to a new allocation (``MemAvailable``, else free pages)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return math.inf


def check_memory(name: str, value: object, n_floats: float, what: str) -> None:
    """Raise ValueError if ``n_floats`` 8-byte numbers exceed the memory that may be used.

    ``name=value`` is the parameter that sets the size; ``what`` says what is
    allocated.  Called before anything is allocated, so that an impossible size
    is refused at once instead of failing (or swapping) after a long wait.
    """
    need = 8.0 * float(n_floats)
    avail = available_memory()
    if need > MEMORY_FRACTION * avail:
        raise ValueError(
            f"{name}={value!r} needs about {need:.3g} bytes ({what}), more than "
            f"{MEMORY_FRACTION:.0%} of the {avail:.3g} bytes of memory available; "
            f"reduce {name}"
        )


def check_work(
    name: str, value: object, work: float, limit: float, what: str, *, force: bool
) -> None:
    """Raise ValueError if ``work`` exceeds ``limit`` and ``force`` is not set."""
    if not force and work > limit:
        raise ValueError(
            f"{name}={value!r} means {work:.3g} {what}, above the limit of {limit:.3g}; "
            f"change {name} or pass force=True (--force on the command line) to run it anyway"
        )


def as_seed(rng) -> int:
    """A non-negative int seed from ``rng`` (SPEC 7 inputs); an int is used as it is.

    ``None`` and a SeedSequence give 63 bits of their state, a Generator an integer it
    draws, so a run seeded by a non-int ``rng`` can record the int seed that repeats it.
    """
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return check_int("rng", rng, minimum=0)
    if rng is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.generate_state(1, np.uint64)[0] >> np.uint64(1))
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63))
    raise TypeError(
        f"rng must be None, a non-negative int seed, a numpy SeedSequence or a numpy Generator, "
        f"got {rng!r}"
    )


def snapshot_steps(n_steps: int, record_every=None, record_steps=None) -> np.ndarray:
    """The steps at which a run of ``n_steps`` steps records a snapshot (int64, increasing).

    ``record_steps`` (strictly increasing integers in ``[0, n_steps]``) is used as it
    is; otherwise ``0, record_every, 2 record_every, ...`` and ``n_steps``, with
    ``record_every`` by default ``ceil(n_steps / 1000)`` (about 1000 snapshots).
    """
    if record_steps is not None:
        if record_every is not None:
            raise ValueError("pass record_every or record_steps, not both")
        steps = np.asarray(record_steps)
        if steps.ndim != 1 or steps.size == 0 or not np.issubdtype(steps.dtype, np.integer):
            raise ValueError(
                f"record_steps must be a non-empty 1-d array of integers, got {record_steps!r}"
            )
        if steps[0] < 0 or steps[-1] > n_steps or np.any(np.diff(steps) <= 0):
            raise ValueError(
                f"record_steps must be strictly increasing within [0, n_steps={n_steps}]"
            )
        return steps.astype(np.int64)
    if record_every is None:
        record_every = max(1, math.ceil(n_steps / 1000))
    record_every = check_int("record_every", record_every, minimum=1)
    steps = np.arange(0, n_steps + 1, record_every, dtype=np.int64)
    if steps[-1] != n_steps:
        steps = np.append(steps, np.int64(n_steps))
    return steps

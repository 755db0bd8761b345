"""Input checks shared by the public API: each raises with the parameter's name,
its value and what is allowed."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_rng",
    "check_finite_array",
    "check_in_range",
    "check_int",
    "check_positive",
    "check_real",
]


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
    if rng is None or isinstance(rng, numbers.Integral | np.random.SeedSequence):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be None, an int seed, a numpy SeedSequence or a numpy Generator, got {rng!r}"
    )

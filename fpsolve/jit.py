"""The one place where numba's jit is configured for the package's kernels.

Kernels are compiled with ``cache=True`` (compiled code is reused across
processes), ``nogil=True`` and without fastmath: results must not depend on
reassociation.  ``pjit`` adds ``parallel=True`` for kernels that split replicas
over threads; such kernels must derive one random stream per chunk of replicas
so that output does not depend on the thread count.
"""

from __future__ import annotations

import numba

__all__ = ["jit", "pjit"]

_OPTIONS = {"cache": True, "nogil": True, "fastmath": False}


def jit(func=None, **overrides):
    """``numba.njit`` with the package's options."""
    options = {**_OPTIONS, **overrides}
    if func is None:
        return numba.njit(**options)
    return numba.njit(**options)(func)


def pjit(func=None, **overrides):
    """``numba.njit(parallel=True)`` with the package's options."""
    return jit(func, parallel=True, **overrides)

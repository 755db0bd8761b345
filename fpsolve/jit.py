"""The one place where numba's jit is configured for the package's kernels.

Kernels are compiled with ``cache=True`` (compiled code is reused across
processes), ``nogil=True`` and without fastmath: results must not depend on
reassociation.  ``pjit`` adds ``parallel=True`` for kernels that split replicas
over threads; such kernels must derive one random stream per chunk of replicas
so that output does not depend on the thread count.
"""

from __future__ import annotations

import numba

__all__ = ["jit", "pjit", "threading_layer"]

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


@pjit
def _parallel_region(n):
    """The sum of ``0 .. n - 1`` in a parallel loop (starts numba's threading layer)."""
    total = 0
    for i in numba.prange(n):
        total += i
    return total


def threading_layer() -> str:
    """The threading layer of numba's parallel kernels: ``"tbb"``, ``"omp"`` or
    ``"workqueue"``.

    Numba chooses it when the first parallel kernel runs (a tiny one is run here if none
    has).  ``"workqueue"`` (neither TBB nor OpenMP installed) cannot run parallel kernels
    from two threads at once; the others can.

    Returns
    -------
    str
        :func:`numba.threading_layer` once a parallel kernel has run.

    Examples
    --------
    >>> from fpsolve.jit import threading_layer
    >>> threading_layer() in ("tbb", "omp", "workqueue")
    True
    """
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run in this process yet
        _parallel_region(2)
        return numba.threading_layer()

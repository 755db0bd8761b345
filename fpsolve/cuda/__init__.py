"""GPU backend of fpsolve: Numba's CUDA target (the ``numba-cuda`` package), optional.

Install with ``pip install "fpsolve[cuda]"``.  Functions that take ``device="cuda"``
(:func:`fpsolve.dbm.simulate`, ``validation.training.rbm.train``/``resume``/``sweep``) load the
backend on first use; without numba-cuda or without a GPU they raise
:class:`CUDAUnavailableError` saying what to install.  With ``NUMBA_ENABLE_CUDASIM=1``
the kernels run in Numba's CUDA simulator (Python on the CPU: slow, for tests).

Random numbers on the GPU are counter-based (Philox4x32-10 with a ziggurat, see the
GPU guide), so each run's or replica's numbers do not depend on how the work is
split over threads and launches.
"""

from __future__ import annotations

from fpsolve.cuda.backend import CUDAUnavailableError, simulator

__all__ = ["DEVICES", "CUDAUnavailableError", "check_device", "is_available", "simulator"]

DEVICES = ("cpu", "cuda")
"""Values of the ``device`` parameters."""


def check_device(device) -> str:
    """Return ``device`` after checking it is one of :data:`DEVICES` (ValueError otherwise)."""
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    return device


def is_available() -> bool:
    """Whether ``device="cuda"`` can run here (numba-cuda and a GPU, or the simulator)."""
    from fpsolve.cuda.backend import load

    try:
        load()
    except CUDAUnavailableError:
        return False
    return True

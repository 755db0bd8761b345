"""Device functions shared by the GPU kernels, compiled on first use.

The scalar functions of :mod:`fpsolve.cuda.philox` are plain Python; here they are
re-created in one namespace and compiled with ``numba.cuda.jit(device=True)``, so that
the calls between them resolve to device functions.  Under Numba's CUDA simulator the
same functions run as Python.
"""

from __future__ import annotations

import types

from fpsolve.cuda import philox
from fpsolve.cuda.backend import jit, simulator

__all__ = ["device_functions"]

_CACHE: dict = {}

# (name, forceinline): the rejection path stays a real call (about 1 % of words)
_FUNCS = (
    ("mulhilo", True),
    ("philox", True),
    ("uniform", True),
    ("zig_word", True),
    ("zig_fast", True),
    ("zig_finish", False),
    ("normal_fix", False),
    ("normal_pair", True),
    ("fill_normals", True),
)


def device_functions() -> types.SimpleNamespace:
    """The functions of :mod:`fpsolve.cuda.philox` named in ``_FUNCS``, as device functions."""
    if "dev" in _CACHE:
        return _CACHE["dev"]
    namespace = dict(vars(philox))
    out = {}
    for name, inline in _FUNCS:
        py = getattr(philox, name)
        if name == "mulhilo" and not simulator():  # the simulator has no libdevice
            from numba.cuda import libdevice

            namespace["umulhi"] = libdevice.umulhi
            py = philox.mulhilo_device
        func = types.FunctionType(py.__code__, namespace, name, py.__defaults__, py.__closure__)
        compiled = jit(func, device=True, forceinline=inline)
        namespace[name] = compiled
        out[name] = compiled
    _CACHE["dev"] = types.SimpleNamespace(**out)
    return _CACHE["dev"]

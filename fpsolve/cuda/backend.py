"""Loading Numba's CUDA target (the ``numba-cuda`` package) for the GPU kernels.

Everything that touches ``numba.cuda`` goes through :func:`load`, which

1. applies the compatibility step for numba-cuda 0.30.x under numpy >= 2.5: its
   ``numba/cuda/np/arrayobj.py`` registers ``overload(np.row_stack)``, a name numpy 2.5
   removed (numpy 2.0 deprecated it as an alias of ``np.vstack``), so the first kernel
   compilation fails with ``AttributeError``.  Only when numpy lacks ``row_stack`` is
   ``np.row_stack = np.vstack`` set, before ``numba.cuda`` is imported; numpy's own
   functions are unaffected and the alias is what numpy < 2.5 had;
2. insists on the NVIDIA-maintained target (``numba.cuda.implementation == "NVIDIA"``), not
   the deprecated copy built into numba;
3. checks that a GPU is there, unless Numba's CUDA simulator is switched on
   (``NUMBA_ENABLE_CUDASIM=1``), in which case the kernels run as Python on the CPU.

Any failure raises :class:`CUDAUnavailableError` saying what to install or switch on.

Kernels whose shapes are compile-time constants are generated as source text and
imported by :func:`generated_module` from a file in :func:`cache_dir`, named by the
hash of its text, so that Numba's on-disk cache (``cuda.jit(cache=True)``) keeps
their compiled code across processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

__all__ = [
    "CUDAUnavailableError",
    "cache_dir",
    "check_memory",
    "generated_module",
    "installed",
    "jit",
    "load",
    "rebind",
    "simulator",
]

INSTALL_HINT = (
    'pip install "fpsolve[cuda]" (numba-cuda with the CUDA 13 toolkit wheels; '
    '"fpsolve[cuda12]" for a CUDA 12 driver)'
)

_STATE: dict = {}


class CUDAUnavailableError(RuntimeError):
    """``device="cuda"`` was asked for but no usable CUDA GPU or numba-cuda is there."""


def simulator() -> bool:
    """Whether Numba's CUDA simulator is switched on (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba.core import config

    return bool(getattr(config, "ENABLE_CUDASIM", 0))


def _compat_numpy() -> bool:
    """The numpy >= 2.5 step for numba-cuda 0.30.x; returns whether it was applied."""
    if hasattr(np, "row_stack"):
        return False
    np.row_stack = np.vstack  # noqa: NPY201 (numba-cuda 0.30.x overloads it at import)
    return True


def load(*, need_device: bool = True):
    """The ``numba.cuda`` module, ready to compile kernels, or :class:`CUDAUnavailableError`.

    Parameters
    ----------
    need_device : bool, optional
        Also require a GPU (or the simulator).  ``False`` serves compiling to PTX
        (``numba.cuda.compile_ptx``) on a machine without one.

    Returns
    -------
    module
        ``numba.cuda`` from the numba-cuda package (or its simulator).
    """
    if not need_device:
        return _import()
    if "cuda" in _STATE:
        return _STATE["cuda"]
    if "error" in _STATE:
        raise CUDAUnavailableError(_STATE["error"])
    try:
        cuda = _load()
    except CUDAUnavailableError as exc:
        _STATE["error"] = str(exc)
        raise
    _STATE["cuda"] = cuda
    return cuda


def installed() -> bool:
    """Whether the numba-cuda package is installed (its distribution or its module)."""
    try:
        importlib.metadata.distribution("numba-cuda")
    except importlib.metadata.PackageNotFoundError:
        return importlib.util.find_spec("numba_cuda") is not None
    return True


def _import():
    if not installed():
        raise CUDAUnavailableError(
            f'device="cuda" needs the numba-cuda package, which is not installed: {INSTALL_HINT}'
        )
    _STATE["numpy_compat"] = _compat_numpy()
    try:
        from numba import cuda
    except Exception as exc:  # a broken install: say what failed
        raise CUDAUnavailableError(
            f"numba-cuda failed to import ({exc.__class__.__name__}: {exc}); reinstall it: "
            f"{INSTALL_HINT}"
        ) from exc
    if getattr(cuda, "implementation", "Built-in") != "NVIDIA":
        raise CUDAUnavailableError(
            "numba.cuda is numba's built-in CUDA target, not the numba-cuda package (its "
            "redirection did not take effect: install numba-cuda into the environment's "
            f"site-packages): {INSTALL_HINT}"
        )
    try:  # small launches (tests, few runs) are deliberate: no occupancy warnings
        from numba.cuda.core import config as cuda_config

        cuda_config.CUDA_LOW_OCCUPANCY_WARNINGS = 0
    except ImportError:  # pragma: no cover - other numba-cuda layouts
        pass
    return cuda


def _load():
    cuda = _import()
    if simulator():
        return cuda
    try:
        ok = cuda.is_available()
    except Exception as exc:  # pragma: no cover - driver errors vary
        raise CUDAUnavailableError(
            f'device="cuda": the CUDA driver could not be used ({exc}); is an NVIDIA GPU '
            f"with its driver installed? ({INSTALL_HINT})"
        ) from exc
    if not ok:
        raise CUDAUnavailableError(
            'device="cuda": no CUDA GPU is available (numba.cuda.is_available() is False); run '
            "on a machine with an NVIDIA GPU and driver, or set NUMBA_ENABLE_CUDASIM=1 to run "
            f"the kernels in Numba's CUDA simulator (slow; for tests). Packages: {INSTALL_HINT}"
        )
    return cuda


def free_memory() -> int | None:
    """Free bytes on the current device (None under the simulator)."""
    cuda = load()
    if simulator():
        return None
    free, _total = cuda.current_context().get_memory_info()
    return int(free)


def check_memory(needed: int, what: str) -> None:
    """Refuse an allocation of ``needed`` bytes that the device cannot hold (before making it)."""
    free = free_memory()
    if free is not None and needed > 0.9 * free:
        raise ValueError(
            f"{what} needs {needed / 2**30:.2f} GiB of GPU memory but only {free / 2**30:.2f} "
            "GiB are free; use fewer runs/replicas per call or fewer snapshots"
        )


def device_name() -> str:
    """A short description of the device (``"simulator"`` under the simulator)."""
    cuda = load()
    if simulator():
        return "simulator"
    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    return f"{name} (cc {dev.compute_capability[0]}.{dev.compute_capability[1]})"


_SIM_DROPS = ("forceinline", "launch_bounds", "max_registers", "lineinfo", "cache")


def jit(func=None, **options):
    """``numba.cuda.jit`` with the options the simulator lacks dropped under it.

    Needs numba-cuda but no GPU (dispatchers compile on first launch or by
    ``compile_ptx``); entry points call :func:`load` first to check for a device.
    """
    cuda = load(need_device=False)
    if simulator():
        options = {k: v for k, v in options.items() if k not in _SIM_DROPS}
    if func is None:
        return cuda.jit(**options)
    return cuda.jit(**options)(func)


def rebind(func, **names):
    """``func`` with its own copy of its globals, in which ``cuda`` is ``numba.cuda``.

    Kernels refer to ``cuda`` as a module global (never a closure variable), because
    Numba's CUDA simulator runs a kernel by swapping the ``cuda`` global of the
    kernel's function for its fake module.  ``names`` are bound as further globals.
    """
    import types

    namespace = dict(func.__globals__)
    namespace["cuda"] = load(need_device=False)
    namespace.update(names)
    return types.FunctionType(
        func.__code__, namespace, func.__name__, func.__defaults__, func.__closure__
    )


_MODULES: dict = {}
_MODULE_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Directory of the generated kernel modules: ``$FPSOLVE_CACHE_DIR/cuda``, else
    ``$XDG_CACHE_HOME/fpsolve/cuda`` (default ``~/.cache/fpsolve/cuda``).

    Numba keeps the compiled kernels in ``__pycache__`` beside each module (or under
    ``NUMBA_CACHE_DIR`` when set); deleting the directory only costs a recompilation.
    """
    if os.environ.get("FPSOLVE_CACHE_DIR"):
        return Path(os.environ["FPSOLVE_CACHE_DIR"]) / "cuda"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fpsolve" / "cuda"


def _dependency_digest() -> str:
    """Hash of what generated kernels call but do not contain (the device functions)."""
    from fpsolve.cuda import _device, philox

    h = hashlib.sha256()
    for mod in (philox, _device):
        h.update(Path(str(mod.__file__)).read_bytes())
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):  # checked by load()
        h.update(importlib.metadata.version("numba-cuda").encode())
    return h.hexdigest()[:16]


def generated_module(stem: str, source: str):
    """Import ``source`` as a module kept in :func:`cache_dir`.

    The file is named ``{stem}_{hash}.py`` by the hash of ``source`` and of the device
    functions it uses, and written only when absent, so that its modification time (part
    of Numba's cache key) stays fixed and ``cache=True`` kernels in it are compiled once
    per machine, not once per process.  Without a writable cache directory the module
    goes to a fresh temporary directory (compiled once per process).
    """
    header = f"# generated by fpsolve.cuda; dependencies {_dependency_digest()}\n"
    source = header + source
    name = f"{stem}_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    with _MODULE_LOCK:
        if name in _MODULES:
            return _MODULES[name]
        try:
            path = _write_once(cache_dir(), name, source)
        except OSError:
            path = _write_once(Path(tempfile.mkdtemp(prefix="fpsolve-cuda-")), name, source)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import the generated module {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        _MODULES[name] = module
        return module


def _write_once(directory: Path, name: str, source: str) -> Path:
    path = directory / f"{name}.py"
    if path.is_file() and path.read_text() == source:
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(source)
    os.replace(tmp, path)  # atomic: concurrent writers leave one complete file
    return path

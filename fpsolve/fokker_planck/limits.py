"""Impossible work refused before it starts: memory and work estimates of the solvers.

Every solver of :mod:`fpsolve.fokker_planck` and :mod:`fpsolve.hfp` estimates, from its
arguments alone, the memory it will allocate (sizes times 8 bytes) and the work it will
do, and refuses with a one-line :class:`ValueError` naming the parameter before it
allocates or starts.  Memory is compared with what the machine has available; work is
compared with a limit that ``force=True`` lifts.
"""

from __future__ import annotations

import math
import os

__all__ = [
    "MAX_CELL_STEPS",
    "MAX_NODE_LEVELS",
    "MEMORY_FRACTION",
    "available_memory",
    "check_memory",
    "check_work",
]

MEMORY_FRACTION = 0.8
"""At most this fraction of the available memory is planned for."""

MAX_CELL_STEPS = 1e10
"""Time steps times cells (times cells again for two modes) that a solve may take without
``force=True`` (about a minute or more at 5-20 ns per cell and step)."""

MAX_NODE_LEVELS = 1e8
"""Grid nodes times levels that an eigensolve may take without ``force=True`` (about a minute
at 0.5-1 microsecond per node and level)."""


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

    ``name=value`` is the parameter that sets the size; ``what`` says what is allocated.
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

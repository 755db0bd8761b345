"""Impossible work refused before it starts: memory and work estimates of the solvers.

Every solver of :mod:`fpsolve.fokker_planck` and :mod:`fpsolve.hfp` estimates, from its
arguments alone, the memory it will allocate (sizes times 8 bytes) and the work it will
do, and refuses with a one-line :class:`ValueError` naming the parameter before it
allocates or starts.  Memory is compared with what the machine has available; work is
compared with a limit that ``force=True`` lifts.  The checks themselves are those of
:mod:`fpsolve.checks`, shared with every other part of the package; this module holds the
solvers' limits.
"""

from __future__ import annotations

from fpsolve.checks import MEMORY_FRACTION, available_memory, check_memory, check_work

__all__ = [
    "MAX_CELL_STEPS",
    "MAX_NODE_LEVELS",
    "MEMORY_FRACTION",
    "available_memory",
    "check_memory",
    "check_work",
]

MAX_CELL_STEPS = 1e10
"""Time steps times cells (times cells again for two modes) that a solve may take without
``force=True`` (about a minute or more at 5-20 ns per cell and step)."""

MAX_NODE_LEVELS = 1e8
"""Grid nodes times levels that an eigensolve may take without ``force=True`` (about a minute
at 0.5-1 microsecond per node and level)."""

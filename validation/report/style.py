"""One figure style for every figure of the report: readable ticks, visible error bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["REPORT_RC", "report_style"]

REPORT_RC = {
    "figure.dpi": 100,
    "font.size": 9.5,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "lines.markersize": 5,
    "errorbar.capsize": 3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
"""matplotlib settings of the report's figures."""


@contextmanager
def report_style() -> Iterator[None]:
    """Draw the figures made inside with :data:`REPORT_RC`."""
    import matplotlib as mpl

    with mpl.rc_context(REPORT_RC):  # type: ignore[arg-type]  # rc keys are typed as literals
        yield

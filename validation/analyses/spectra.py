r"""Weight-matrix spectra of trained networks: Marchenko-Pastur bulk + tail,
power-law tails, unfolded level spacings, and their evolution over training.

Conventions (docs/theory.md sections 1 and 6): a weight matrix ``W`` is ``M x N``
with ``N <= M`` (a wider matrix is transposed, with a note); its spectrum is the
``N`` eigenvalues of :math:`X = W^T W`.  The Marchenko-Pastur (MP) law of
i.i.d. entries of variance :math:`s^2`, with :math:`r = N/M`, is

.. math::

    P_{MP}(x) = \frac{\sqrt{(x_+ - x)(x - x_-)}}{2\pi s^2 M r x},\qquad
    x_\pm = M s^2 (1 \pm \sqrt r)^2,

and a trained spectrum is described as :math:`A\,P_{MP}(x; s^2, r)` on the
bulk with the remaining weight :math:`1 - A` in a tail.

The pure fitting pieces live in :mod:`fpsolve.analytic` (``mp_cdf_fit``,
``mp_bulk_tail_split``, ``power_law_scan``, ``power_law_likelihood_ratio``,
``spacing_ratios``); this module adds matrices in, results with errors and plots
out.
"""

from validation.analyses.evolution import SpectraEvolution, spectra_evolution, write_report
from validation.analyses.level_spacings import (
    RATIO_REFERENCE,
    SpacingStatistics,
    Unfolded,
    spacing_statistics,
    unfold,
)
from validation.analyses.spectrum_fits import (
    MPFit,
    PowerLawFit,
    Spectrum,
    fit_mp_bulk,
    fit_power_law,
    spectrum,
)

__all__ = [
    "RATIO_REFERENCE",
    "MPFit",
    "PowerLawFit",
    "SpacingStatistics",
    "SpectraEvolution",
    "Spectrum",
    "Unfolded",
    "fit_mp_bulk",
    "fit_power_law",
    "spacing_statistics",
    "spectra_evolution",
    "spectrum",
    "unfold",
    "write_report",
]

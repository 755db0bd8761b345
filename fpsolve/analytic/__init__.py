"""Closed-form random-matrix theory: the analytic layer of fpsolve.

Distributions follow scipy.stats conventions (``pdf``, ``logpdf``, ``cdf``,
``ppf``, ``rvs``, moments); random functions take ``rng`` (SPEC 7).

- :func:`marchenko_pastur`: the MP law of the eigenvalues of ``W^T W``.
- :func:`wigner_surmise`, :func:`poisson_spacing`: nearest-neighbour spacing laws.
- :func:`two_mode_density`, :func:`binder_cumulant`: universal statistics of a
  degenerate pair.
- :func:`sample_hermite`, :func:`sample_laguerre`: exact beta-ensemble spectra.
- :func:`stationary_density`, :func:`coulomb_gas_logpdf`,
  :func:`sgd_stationary_variance`: stationary states of the eigenvalue dynamics.
"""

from fpsolve.analytic._ensembles import sample_hermite, sample_laguerre
from fpsolve.analytic._frozen import FrozenDistribution
from fpsolve.analytic._marchenko_pastur import MarchenkoPastur, marchenko_pastur
from fpsolve.analytic._spacing import (
    PoissonSpacing,
    WignerSurmise,
    poisson_spacing,
    wigner_surmise,
)
from fpsolve.analytic._stationary import (
    StationaryDensity,
    coulomb_gas_logpdf,
    sgd_noise_from_variance,
    sgd_stationary_variance,
    stationary_density,
)
from fpsolve.analytic._two_mode import (
    BINDER_GAUSSIAN,
    BINDER_TWO_MODE,
    Estimate,
    TwoModeDensity,
    binder_cumulant,
    jackknife,
    two_mode_density,
)

__all__ = [
    "BINDER_GAUSSIAN",
    "BINDER_TWO_MODE",
    "Estimate",
    "FrozenDistribution",
    "MarchenkoPastur",
    "PoissonSpacing",
    "StationaryDensity",
    "TwoModeDensity",
    "WignerSurmise",
    "binder_cumulant",
    "coulomb_gas_logpdf",
    "jackknife",
    "marchenko_pastur",
    "poisson_spacing",
    "sample_hermite",
    "sample_laguerre",
    "sgd_noise_from_variance",
    "sgd_stationary_variance",
    "stationary_density",
    "two_mode_density",
    "wigner_surmise",
]

# --- spectral fits (issue 7) ---
from fpsolve.analytic._spectral_fits import (
    RATIO_MEAN_GOE,
    RATIO_MEAN_GSE,
    RATIO_MEAN_GUE,
    RATIO_MEAN_POISSON,
    RATIO_SURMISE_GOE,
    LikelihoodRatio,
    MPBulkFit,
    MPBulkTail,
    PowerLawScan,
    mp_bulk_tail_split,
    mp_cdf_fit,
    mp_edge_fluctuation,
    mp_fit_bootstrap,
    power_law_likelihood_ratio,
    power_law_scan,
    spacing_ratios,
)

__all__ += [
    "RATIO_MEAN_GOE",
    "RATIO_MEAN_GSE",
    "RATIO_MEAN_GUE",
    "RATIO_MEAN_POISSON",
    "RATIO_SURMISE_GOE",
    "LikelihoodRatio",
    "MPBulkFit",
    "MPBulkTail",
    "PowerLawScan",
    "mp_bulk_tail_split",
    "mp_cdf_fit",
    "mp_edge_fluctuation",
    "mp_fit_bootstrap",
    "power_law_likelihood_ratio",
    "power_law_scan",
    "spacing_ratios",
]
# --- end spectral fits ---

"""Analyses of recordings against the theory: statistics with errors
(:mod:`validation.analyses.stats`), stationary comparisons (:mod:`validation.analyses.compare`,
gathering :mod:`~validation.analyses.initial`, :mod:`~validation.analyses.pairs` and
:mod:`~validation.analyses.scaling`), parameter-free predictions
(:mod:`validation.analyses.predict`), dynamics (:mod:`validation.analyses.dynamics`) and
weight-matrix spectra (:mod:`validation.analyses.spectra`, gathering
:mod:`~validation.analyses.spectrum_fits`, :mod:`~validation.analyses.level_spacings` and
:mod:`~validation.analyses.evolution`)."""

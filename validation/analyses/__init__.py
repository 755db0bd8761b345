"""Analyses of recordings against the theory: statistics with errors
(:mod:`validation.analyses.stats`), stationary comparisons (:mod:`validation.analyses.compare`),
parameter-free predictions (:mod:`validation.analyses.predict`), dynamics
(:mod:`validation.analyses.dynamics`) and weight-matrix spectra
(:mod:`validation.analyses.spectra`)."""

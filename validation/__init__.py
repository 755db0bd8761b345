"""validation: recorded weight-matrix dynamics in, theory-vs-data verdicts out.

Builds on :mod:`fpsolve` (never the other way round): the Gaussian-RBM trainer
that records eigenvalue dynamics (:mod:`validation.training.rbm`), the HDF5 recording
format and importers (:mod:`validation.data.recording`, :mod:`validation.data.importers`),
statistics with errors (:mod:`validation.analyses.stats`), the comparisons of recordings
with the predictions of the theory (:mod:`validation.analyses.compare`,
:mod:`validation.analyses.predict`, :mod:`validation.analyses.dynamics`), weight-matrix spectra of
trained networks (:mod:`validation.analyses.spectra`), and :func:`validate`, which runs
them all and writes the report.
"""

from validation.report.pipeline import Validation, validate

__all__ = ["Validation", "validate"]

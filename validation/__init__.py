"""validation: recorded weight-matrix dynamics in, theory-vs-data verdicts out.

Builds on :mod:`fpsolve` (never the other way round): the Gaussian-RBM trainer
that records eigenvalue dynamics (:mod:`validation.rbm`), the HDF5 recording
format and importers (:mod:`validation.recording`, :mod:`validation.importers`),
statistics with errors (:mod:`validation.stats`), the comparisons of recordings
with the predictions of the theory (:mod:`validation.compare`,
:mod:`validation.predict`, :mod:`validation.dynamics`), weight-matrix spectra of
trained networks (:mod:`validation.spectra`), and :func:`validate`, which runs
them all and writes the report.
"""

from validation.pipeline import Validation, validate

__all__ = ["Validation", "validate"]

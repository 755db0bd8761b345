"""validation: recorded weight-matrix dynamics in, theory-vs-data verdicts out.

Builds on :mod:`fpsolve` (never the other way round): the Gaussian-RBM trainer
that records eigenvalue dynamics, the HDF5 recording format and importers, and
comparisons of recordings with the predictions of the theory.
"""

__all__: list[str] = []

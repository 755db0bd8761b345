"""The Gaussian-RBM trainer and its sweeps, at one import path.

The trainer (persistent contrastive divergence, the recorded update, the random
streams, :func:`train` and :func:`resume`) lives in :mod:`validation.training.trainer`;
sweeps over settings (:func:`sweep`, :func:`grid`, the presets) in
:mod:`validation.training.sweep`.  This module re-exports their public names, so
``from validation.training.rbm import train, sweep`` keeps working.

Examples
--------
>>> from validation.training.rbm import train
>>> rec = train(2, n_steps=200, record_every=100, rng=1, progress=False)
>>> rec.eigenvalues.shape, rec.steps.tolist()
((2, 3, 10), [0, 100, 200])
"""

from validation.training.sweep import (
    PAPER_ALPHA,
    PAPER_BATCH_SIZE,
    PAPER_STEPS,
    PAPER_SWEEP,
    PRESETS,
    SweepResult,
    grid,
    sweep,
)
from validation.training.trainer import resume, run_stream, target_matrix, train

__all__ = [
    "PAPER_ALPHA",
    "PAPER_BATCH_SIZE",
    "PAPER_STEPS",
    "PAPER_SWEEP",
    "PRESETS",
    "SweepResult",
    "grid",
    "resume",
    "run_stream",
    "sweep",
    "target_matrix",
    "train",
]

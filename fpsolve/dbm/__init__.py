r"""Dyson Brownian motion of eigenvalues and exact Coulomb-gas sampling (docs/theory.md section 2).

The eigenvalues :math:`x_i` of :math:`X = W^T W` follow the Ito SDE

.. math::

    dx_i = \Big[K_i(x_i) + \sum_{j \ne i} \frac{G_{ij}}{x_i - x_j}\Big]\,dt
           + \sqrt{2}\, g_i\, dB_i, \qquad G_{ij} = g_i^2 \text{ by default},

with :math:`K_i = -V_i'` the drift of mode ``i`` (a :class:`fpsolve.models.Model`).
For :math:`G_{ij} = g_i^2` and constant :math:`g_i` the stationary state is the
:math:`\beta = 1` Coulomb gas

.. math::

    P_s(\{x\}) = \frac{1}{Z}\prod_{i<j}|x_i - x_j|\, \exp\Big(-\sum_i V_i(x_i)/g_i^2\Big),

restricted to the ordering of the starting point (eigenvalues never cross).
Stochastic gradient descent with learning rate :math:`\alpha` and batch size
:math:`|B|` is the discrete map

.. math::

    x_i' = x_i + \alpha K_i + \frac{\alpha^2}{|B|}\sum_{j\ne i}\frac{\tilde g_i^2}{x_i - x_j}
           + \frac{\alpha}{\sqrt{|B|}}\sqrt{2}\,\tilde g_i\,\eta_i,
    \qquad \eta_i \sim N(0, 1),

one Euler-Maruyama step with :math:`dt = \alpha`, :math:`g_i^2 = \alpha\tilde g_i^2/|B|`.

Public functions
----------------
:func:`simulate`
    the SDE with the Euler-Maruyama (``"em"``) or collision-safe (``"safe"``) scheme.
:func:`simulate_sgd`
    the SGD map: exactly as written with constant noise (counting steps that make
    eigenvalues cross), or with the state-dependent PCD noise of an RBM
    (:class:`fpsolve.models.PCDNoise`), stepped at matrix level near collisions.
:func:`simulate_matrix`
    the same physics for a symmetric matrix with GOE noise, eigenvalues by ``eigvalsh``.
:func:`sample_coulomb_gas`
    samples of :math:`P_s`: exact (harmonic, beta-Hermite) or Metropolis-adjusted Langevin.

Runs keep no trajectories: they record snapshots at chosen steps, running moments per
mode, histograms per mode, pooled histograms of degenerate groups, histograms of
neighbour spacings inside each group, per-replica time averages on request, and
crossing counts (:class:`Record`).  Replica ``r`` of a run with the int seed ``s``
(``result.params["seed"]``, from ``rng``) draws from the xoshiro256++ stream
``fpsolve.streams.stream(SeedSequence(s, spawn_key=(r,)))``, so a seed gives identical
results whatever the number of threads and the chunking of the replicas.  A run that
diverges (a value becomes inf or NaN) raises ``FloatingPointError``.

The package holds the integrators (:mod:`fpsolve.dbm.integrators`), the recording
of statistics (:mod:`fpsolve.dbm.statistics`) and the Coulomb-gas samplers
(:mod:`fpsolve.dbm.coulomb_gas`); the numba kernels are private.
"""

from fpsolve.dbm.coulomb_gas import CoulombGasSamples, sample_coulomb_gas
from fpsolve.dbm.integrators import (
    RUNAWAY,
    SCHEMES,
    DBMResult,
    simulate,
    simulate_matrix,
    simulate_sgd,
)
from fpsolve.dbm.statistics import Histograms, Record

__all__ = [
    "RUNAWAY",
    "SCHEMES",
    "CoulombGasSamples",
    "DBMResult",
    "Histograms",
    "Record",
    "sample_coulomb_gas",
    "simulate",
    "simulate_matrix",
    "simulate_sgd",
]

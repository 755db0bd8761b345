r"""Drift and potential models shared by every solver.

A model describes the deterministic part of one eigenvalue's motion,

.. math::

    K(x) = -V'(x),

on a domain with a stated kind of boundary at each end.  The same model object
is handed to the Dyson-Brownian-motion integrator (:mod:`fpsolve.dbm`), the
Fokker-Planck solver (:mod:`fpsolve.fokker_planck`) and the Schroedinger-form
eigensolver (:mod:`fpsolve.hfp`), so "the same physics" is literally the same
object everywhere.

Boundary kinds
--------------
``"natural"``
    an infinite end; the density decays there because :math:`V \to +\infty`.
``"reflecting"``
    a finite end with zero probability flux (the RBM mode at :math:`x = 0`).
``"wall"``
    a finite end where :math:`V \to +\infty` (the RBM mode at
    :math:`x = \mu^2/\sigma_h^2`); the density vanishes there.

Conventions for the RBM mode (docs/theory.md section 4)
-------------------------------------------------------
The PCD update :math:`W \leftarrow W + \alpha\sigma_h^2 (C_{target} - C_{model}) W`
moves the eigenvalue :math:`x_a` of :math:`X = W^T W` by, per step,

.. math::

    \delta x_a = 2\alpha\sigma_h^2\, x_a
        \left(\frac{1}{\kappa_a} - \frac{1}{\mu^2 - \sigma_h^2 x_a}\right).

``convention="training"`` uses exactly this drift per unit of ``dt = alpha``.
``convention="talk"`` drops the factor :math:`2\sigma_h^2` (the talk writes
:math:`K(x) = (1/\kappa - 1/(\mu^2 - x))\,x` with :math:`\sigma_h = 1`).  The
two differ by the constant prefactor ``model.prefactor``; nothing converts
between them silently.

Each formula is written once, next to its model: the RBM mode's drift,
potential, curvature and PCD noise coupling are the numba scalar functions
:func:`rbm_drift`, :func:`rbm_potential`, :func:`rbm_curvature`,
:func:`rbm_chain_factor` and :func:`rbm_pcd_coupling` (the drift scalars, for
jitted code anywhere); :class:`RBMModel`, :func:`rbm_pcd_noise`,
:class:`PCDNoise` and the kernels of :mod:`fpsolve.dbm` call them.  The
correspondence of one SGD step and the SDE is :func:`sgd_g2`.
"""

from fpsolve.models._base import BOUNDARY_KINDS, FixedPoint, Model
from fpsolve.models._harmonic import HarmonicModel
from fpsolve.models._modes import Modes
from fpsolve.models._noise import PCDNoise, RBMNoise, rbm_pcd_noise, sgd_g2
from fpsolve.models._potential import PotentialModel
from fpsolve.models._rbm import (
    RBMModel,
    lattice_scalar_matrix,
    lattice_scalar_spectrum,
    rbm_chain_factor,
    rbm_curvature,
    rbm_drift,
    rbm_pcd_coupling,
    rbm_potential,
)

__all__ = [
    "BOUNDARY_KINDS",
    "FixedPoint",
    "HarmonicModel",
    "Model",
    "Modes",
    "PCDNoise",
    "PotentialModel",
    "RBMModel",
    "RBMNoise",
    "lattice_scalar_matrix",
    "lattice_scalar_spectrum",
    "rbm_chain_factor",
    "rbm_curvature",
    "rbm_drift",
    "rbm_pcd_coupling",
    "rbm_pcd_noise",
    "rbm_potential",
    "sgd_g2",
]

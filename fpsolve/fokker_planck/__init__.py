r"""Finite-volume Fokker-Planck solver for one mode and for two coupled modes.

One mode (docs/theory.md section 2 with one eigenvalue), time ``t`` in the units of
the model's drift:

.. math::

    \partial_t P = \partial_x\left[\left(g^2 \partial_x - K(x)\right) P\right],
    \qquad K = -V'.

The domain is cut into ``n`` equal cells with nodes at the cell centres.  The
flux through the face between nodes ``k`` and ``k+1`` is the exponentially
fitted (Scharfetter-Gummel) flux, exact for a flux that is constant across the
edge,

.. math::

    J_{k+1/2} = \frac{g^2}{h}\left[B(\Delta_k) P_k - B(-\Delta_k) P_{k+1}\right],
    \qquad \Delta_k = \frac{V(x_{k+1}) - V(x_k)}{g^2}, \qquad B(z) = \frac{z}{e^z - 1}.

Consequences: the mass :math:`h\sum_k P_k` is conserved to round-off (the
rate matrix has zero column sums), the off-diagonal rates are positive (an
M-matrix: implicit steps keep densities non-negative), and the discrete
stationary state is :math:`P_k \propto e^{-V(x_k)/g^2}` exactly at the nodes.
With ``from_drift=True`` the differences :math:`\Delta_k` are computed as
:math:`-\int K\,dx/g^2` by 3-point Gauss-Legendre quadrature across each cell
(error :math:`O(h^6)` per edge), so only ``K`` is used and the stationary state
at the nodes is accurate to :math:`O(h^5)`.  All quantities are functions of
the differences :math:`\Delta_k`, so :math:`g^2 = 10^{-3}` neither overflows nor
produces NaN; normalisation is done in log space.

Boundaries: a ``"reflecting"`` end of the model is a zero-flux face of the
first/last cell; ``"natural"`` ends and ``"wall"`` ends are cut where
:math:`(V - V_{min})/g^2 = 50` (the stationary density has fallen by
:math:`e^{-50}`) and the cut is a zero-flux face.

Symmetrised form: with :math:`w_k = e^{-V(x_k)/g^2}`,
:math:`M = W^{-1/2}(-A)W^{1/2}` is symmetric tridiagonal with off-diagonal
:math:`-(g^2/h^2)\,s(\Delta_k)`, :math:`s(z) = (z/2)/\sinh(z/2)`, and
:math:`M = B^T B` with a bidiagonal :math:`B` (the discrete
:math:`L = g\partial_x + V'/(2g)` of :mod:`fpsolve.hfp`).  Its eigenvalues are the
relaxation rates :math:`\lambda_n = 2E_n`, :math:`\lambda_0 = 0`.

Two modes: :math:`P(x_1, x_2, t)` with the beta = 1 Coulomb repulsion,

.. math::

    \partial_t P = \sum_{i=1,2} \partial_i\left[\left(g_i^2\partial_i - K_i^{eff}\right)P\right],
    \qquad K_i^{eff} = K_i(x_i) + \frac{g_i^2}{x_i - x_j},

on a square grid with the same fitted fluxes in each direction, built from
:math:`F = V_1/g_1^2 + V_2/g_2^2 - \log|x_1 - x_2|`; the stationary state at the
nodes is exactly the Coulomb gas :math:`\propto |x_1 - x_2|
e^{-V_1/g_1^2 - V_2/g_2^2}`.

Layout: :mod:`fpsolve.fokker_planck.mesh` (the grid, its rates and checks, shared
with :mod:`fpsolve.hfp`), :mod:`fpsolve.fokker_planck.one_mode` and
:mod:`fpsolve.fokker_planck.two_modes`; the public names are re-exported here.
"""

from fpsolve.fokker_planck.mesh import COVER, grid
from fpsolve.fokker_planck.one_mode import (
    Evolution,
    RelaxationRates,
    Stationary,
    evolve,
    relaxation_rates,
    stationary,
)
from fpsolve.fokker_planck.two_modes import TwoModeEvolution, evolve_two_modes

__all__ = [
    "COVER",
    "Evolution",
    "RelaxationRates",
    "Stationary",
    "TwoModeEvolution",
    "evolve",
    "evolve_two_modes",
    "grid",
    "relaxation_rates",
    "stationary",
]

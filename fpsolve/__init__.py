"""fpsolve: the random-matrix theory of learning as working numerics.

Weight matrices trained by stochastic gradient descent perform a Dyson Brownian
motion; the eigenvalues of ``X = W^T W`` drift, repel like a Coulomb gas and
fluctuate with a strength set by ``alpha / |B|``.  The subpackages compute the
predictions of that theory:

``fpsolve.models``
    drift/potential models shared by every solver.
``fpsolve.analytic``
    closed forms: Marchenko-Pastur, Wigner surmise, two-mode density,
    beta-ensemble samplers, stationary densities.
``fpsolve.dbm``
    Dyson Brownian motion of the eigenvalues (SDE schemes, the SGD map, the
    matrix-level dynamics) and Coulomb-gas samplers.
``fpsolve.fokker_planck``
    finite-volume Fokker-Planck solver for one mode and two coupled modes.
``fpsolve.hfp``
    the Schroedinger form ``H_FP``: spectrum, eigenfunctions, relaxation.
``fpsolve.sgd``
    SGD of the weight matrix itself with a gradient from exact model samples,
    and its aligned eigenvalue map.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fpsolve")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

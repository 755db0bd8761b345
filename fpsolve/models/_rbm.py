r"""One mode of the Gaussian scalar-field RBM, its drift scalars and its target spectrum.

The drift scalars are numba functions of a scalar ``x`` and the mode's
parameters, the one place where the RBM formulas are written.  Jitted kernels
call them directly; :class:`RBMModel` evaluates them on arrays through
``.py_func``.  ``c`` is the prefactor of the convention (:attr:`RBMModel.prefactor`),
``s`` is :math:`\sigma_h^2` and :math:`\lambda = \mu^2 - s x` the learned mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.checks import check_int, check_positive
from fpsolve.jit import jit
from fpsolve.models._base import FixedPoint, Model

__all__ = [
    "RBMModel",
    "lattice_scalar_matrix",
    "lattice_scalar_spectrum",
    "rbm_chain_factor",
    "rbm_curvature",
    "rbm_drift",
    "rbm_pcd_coupling",
    "rbm_potential",
]

RBM_CONVENTIONS = ("talk", "training")


# --------------------------------------------------------------------------- drift scalars
@jit
def rbm_drift(x, c, kappa, mu2, s):
    r"""Drift of one RBM mode, :math:`K(x) = c\,x\,(1/\kappa - 1/(\mu^2 - s x))`.

    Parameters
    ----------
    x : float
        Eigenvalue of :math:`X = W^T W`, in :math:`[0, \mu^2/s)`.
    c : float
        Prefactor of the convention: 1 (``"talk"``) or :math:`2\sigma_h^2` (``"training"``).
    kappa, mu2, s : float
        Target :math:`\kappa`, visible mass :math:`\mu^2` and :math:`s = \sigma_h^2`.

    Returns
    -------
    float

    Examples
    --------
    >>> from fpsolve.models import rbm_drift
    >>> rbm_drift(5.0, 1.0, 4.0, 9.0, 1.0)  # zero at the stable point (mu2 - kappa)/s
    0.0
    """
    return _drift_of(x, c, kappa, 1.0 / (mu2 - s * x))


@jit
def _drift_of(x, c, kappa, inv_lam):
    """:func:`rbm_drift` from ``inv_lam = 1/(mu2 - s x)`` (for kernels that have it)."""
    return c * x * (1.0 / kappa - inv_lam)


@jit
def rbm_potential(x, c, kappa, mu2, s):
    r"""Potential of one RBM mode.

    .. math::

        V(x) = c\left[-\frac{x^2}{2\kappa} - \frac{x}{s}
               - \frac{\mu^2}{s^2}\log(\mu^2 - s x)\right],

    :math:`V' = -K` with :math:`K` = :func:`rbm_drift`; arguments as there.
    :math:`+\infty` at the wall :math:`x = \mu^2/s` and NaN beyond it (not an error).

    Examples
    --------
    >>> from fpsolve.models import rbm_potential
    >>> round(rbm_potential(5.0, 1.0, 4.0, 9.0, 1.0), 6)
    -20.601649
    """
    return c * (-(x**2) / (2.0 * kappa) - x / s - (mu2 / s**2) * np.log(mu2 - s * x))


@jit
def rbm_curvature(x, c, kappa, mu2, s):
    r"""Curvature of one RBM mode, :math:`V''(x) = c\,(\mu^2/(\mu^2 - s x)^2 - 1/\kappa)`.

    Arguments as in :func:`rbm_drift`; at the stable point
    :math:`x_s = (\mu^2 - \kappa)/s` it is :math:`\Omega = c\,(\mu^2 - \kappa)/\kappa^2`.

    Examples
    --------
    >>> from fpsolve.models import rbm_curvature
    >>> rbm_curvature(5.0, 1.0, 4.0, 9.0, 1.0)
    0.3125
    """
    return c * (mu2 / (mu2 - s * x) ** 2 - 1.0 / kappa)


@jit
def _chain_power(x, mu2, s, k):
    """``rho^k`` with ``rho = s x / mu2`` (0 for ``k = 0``): ``c_ab = rho_a^k rho_b^k``."""
    return (s * x / mu2) ** k if k > 0 else 0.0


@jit(inline="always")
def _chain_powers(x, mu2, s, k, rho, out):
    """:func:`_chain_power` of every entry of ``x`` (1-d) into ``out``, bit for bit, with
    the entries in the innermost loops so that they vectorise; ``rho`` is scratch like
    ``x``.  An integer power up to ``2**16`` is numba's exponentiation by squaring, here
    applied to all entries at once in the same order of multiplications."""
    c = x.shape[0]
    if k <= 0 or k > 0x10000:  # no power, or numba's pow beyond 2**16
        for r in range(c):
            out[r] = _chain_power(x[r], mu2, s, k)
        return
    for r in range(c):
        out[r] = 1.0
        rho[r] = s * x[r] / mu2
    e = k
    while e != 0:
        if e & 1:
            for r in range(c):
                out[r] *= rho[r]
        e >>= 1
        if e:
            for r in range(c):
                rho[r] *= rho[r]


@jit
def _chain_factor_parts(ca, cb):
    """Numerator and denominator of ``f_ab = (1 + c)/(1 - c)``, ``c = ca cb`` from
    :func:`_chain_power` of each mode (kernels fold the denominator into a division of
    their own)."""
    c = ca * cb
    return 1.0 + c, 1.0 - c


@jit
def _chain_factor_of(ca, cb):
    """``f_ab`` of :func:`_chain_factor_parts`."""
    p, q = _chain_factor_parts(ca, cb)
    return p / q


@jit
def rbm_chain_factor(xa, xb, mu2, s, k):
    r"""Chain-correlation factor of the PCD noise, :math:`f_{ab} = (1 + c_{ab})/(1 - c_{ab})`.

    :math:`c_{ab} = (\rho_a\rho_b)^k` with :math:`\rho = s x/\mu^2` the factor by
    which one block-Gibbs sweep multiplies the chains' component along a mode
    (:func:`rbm_pcd_noise`); ``k`` sweeps per update, ``k = 0`` for no correlation
    (:math:`f = 1`).

    Examples
    --------
    >>> from fpsolve.models import rbm_chain_factor
    >>> rbm_chain_factor(4.5, 4.5, 9.0, 1.0, 1)  # rho = 1/2 each: c = 1/4
    1.6666666666666667
    """
    return _chain_factor_of(_chain_power(xa, mu2, s, k), _chain_power(xb, mu2, s, k))


@jit
def _pcd_amplitude(x, mu2, s):
    """``a = 2 s x / (mu2 - s x)``: the PCD coupling is ``a_a a_b`` times the chain factor."""
    return 2.0 * s * x / (mu2 - s * x)


@jit
def rbm_pcd_coupling(xa, xb, mu2, s, k):
    r"""PCD noise coupling :math:`\tilde G_{ab} = f_{ab}\,4 s^2 x_a x_b/(\lambda_a\lambda_b)`.

    The variance of the update of :math:`X` in its eigenbasis per
    :math:`\alpha^2/|B|` (:func:`rbm_pcd_noise`), in the ``"training"``
    convention; :math:`f_{ab}` is :func:`rbm_chain_factor` (``k = 0``: 1) and
    :math:`\lambda = \mu^2 - s x`.

    Examples
    --------
    >>> from fpsolve.models import rbm_pcd_coupling
    >>> rbm_pcd_coupling(5.0, 5.0, 9.0, 1.0, 0)  # 4 x_s^2/kappa^2 at kappa = 4
    6.25
    """
    amp = _pcd_amplitude(xa, mu2, s) * _pcd_amplitude(xb, mu2, s)
    return amp * rbm_chain_factor(xa, xb, mu2, s, k)


# --------------------------------------------------------------------------- the model
class RBMModel(Model):
    r"""One mode of the Gaussian scalar-field RBM (:eq:`eq-rbm-mode-drift`).

    With :math:`s = \sigma_h^2` and prefactor :math:`c` set by ``convention``,

    .. math::

        K(x) = c\,x\left(\frac{1}{\kappa} - \frac{1}{\mu^2 - s x}\right), \qquad
        V(x) = c\left[-\frac{x^2}{2\kappa} - \frac{x}{s}
               - \frac{\mu^2}{s^2}\log(\mu^2 - s x)\right],

    on :math:`0 \le x < \mu^2/s`: reflecting at :math:`x = 0` (an unstable
    fixed point, a maximum of ``V``) and a logarithmic wall at
    :math:`x = \mu^2/s`.  The stable fixed point is
    :math:`x_s = (\mu^2 - \kappa)/s`, where the learned mode
    :math:`\lambda = \mu^2 - s x` equals the target :math:`\kappa`, with
    curvature :math:`\Omega = c\,(\mu^2 - \kappa)/\kappa^2`.  For
    :math:`s = 1` and the talk's convention ``V`` is exactly the talk's
    :math:`-x^2/(2\kappa) - x - \mu^2\log(\mu^2 - x)`.  The formulas are the
    drift scalars :func:`rbm_drift`, :func:`rbm_potential` and
    :func:`rbm_curvature`.

    Parameters
    ----------
    kappa : float
        Target eigenvalue :math:`\kappa` of the mode, ``0 < kappa < mu2``.
    mu2 : float
        Visible mass :math:`\mu^2 > 0`.
    sigma_h2 : float, optional
        Hidden-unit variance :math:`\sigma_h^2 > 0`.
    convention : {"talk", "training"}, optional
        ``"talk"``: :math:`c = 1`.  ``"training"``: :math:`c = 2\sigma_h^2`,
        the drift of the PCD update per unit of ``dt = alpha``.

    Examples
    --------
    >>> from fpsolve.models import RBMModel
    >>> m = RBMModel(kappa=4.0, mu2=9.0)
    >>> m.x_stable, m.omega
    (5.0, 0.3125)
    >>> RBMModel(4.0, 9.0, convention="training").prefactor
    2.0
    """

    name = "rbm"

    def __init__(
        self,
        kappa: float,
        mu2: float,
        sigma_h2: float = 1.0,
        *,
        convention: Literal["talk", "training"] = "talk",
    ):
        self.mu2 = check_positive("mu2", mu2)
        self.kappa = check_positive("kappa", kappa)
        if self.kappa >= self.mu2:
            raise ValueError(
                f"kappa must be < mu2 (the learned mode mu2 - sigma_h2*x must reach kappa "
                f"with x > 0); got kappa={self.kappa!r}, mu2={self.mu2!r}"
            )
        self.sigma_h2 = check_positive("sigma_h2", sigma_h2)
        if convention not in RBM_CONVENTIONS:
            raise ValueError(f"convention must be one of {RBM_CONVENTIONS}, got {convention!r}")
        self.convention = convention

    @property
    def prefactor(self) -> float:
        r"""The constant :math:`c`: 1 (``"talk"``) or :math:`2\sigma_h^2` (``"training"``)."""
        return 1.0 if self.convention == "talk" else 2.0 * self.sigma_h2

    @property
    def scalar_params(self) -> tuple[float, float, float, float]:
        """``(c, kappa, mu2, s)``: the parameters of the drift scalars, after ``x``."""
        return (self.prefactor, self.kappa, self.mu2, self.sigma_h2)

    @property
    def domain(self) -> tuple[float, float]:
        return (0.0, self.mu2 / self.sigma_h2)

    @property
    def boundaries(self) -> tuple[str, str]:
        return ("reflecting", "wall")

    @property
    def params(self) -> dict[str, float | str]:
        return {
            "kappa": self.kappa,
            "mu2": self.mu2,
            "sigma_h2": self.sigma_h2,
            "convention": self.convention,
        }

    @property
    def x_stable(self) -> float:
        r"""Stable fixed point :math:`x_s = (\mu^2 - \kappa)/\sigma_h^2`."""
        return (self.mu2 - self.kappa) / self.sigma_h2

    @property
    def omega(self) -> float:
        r""":math:`\Omega = V''(x_s) = c\,(\mu^2 - \kappa)/\kappa^2`."""
        return self.prefactor * (self.mu2 - self.kappa) / self.kappa**2

    def learned_mode(self, x: ArrayLike) -> np.ndarray:
        r"""The eigenvalue of the RBM's ``K`` that ``x`` encodes: :math:`\mu^2 - \sigma_h^2 x`."""
        return self.mu2 - self.sigma_h2 * self._checked(x)

    def potential(self, x: ArrayLike) -> np.ndarray:
        return rbm_potential.py_func(self._checked(x), *self.scalar_params)

    def dpotential(self, x: ArrayLike) -> np.ndarray:
        return -rbm_drift.py_func(self._checked(x), *self.scalar_params)

    def d2potential(self, x: ArrayLike) -> np.ndarray:
        return rbm_curvature.py_func(self._checked(x), *self.scalar_params)

    def fixed_points(self) -> tuple[FixedPoint, ...]:
        return (
            FixedPoint(0.0, float(self.d2potential(0.0)), False),
            FixedPoint(self.x_stable, self.omega, True),
        )

    def _numba_dpotential(self) -> Callable[[float], float]:
        import numba

        c, kappa, mu2, s = self.scalar_params

        @numba.njit(cache=False)
        def dv(x):
            return -rbm_drift(x, c, kappa, mu2, s)

        return dv

    def _numba_potential(self) -> Callable[[float], float]:
        import numba

        c, kappa, mu2, s = self.scalar_params

        @numba.njit(cache=False)
        def v(x):
            return rbm_potential(x, c, kappa, mu2, s)

        return v


def lattice_scalar_spectrum(n_v: int, m2: float) -> np.ndarray:
    r"""Spectrum of the 1D periodic free scalar field on ``n_v`` sites.

    .. math::

        \kappa_k = m^2 + 2 - 2\cos(2\pi k / N_v), \qquad k = 0, \dots, N_v - 1,

    the eigenvalues of :math:`K_{target} = (m^2 + 2)\,1 - (T + T^T)` with
    :math:`T` the cyclic shift.  Modes ``k`` and ``N_v - k`` are degenerate.

    Parameters
    ----------
    n_v : int
        Number of lattice sites, ``>= 1``.
    m2 : float
        Mass squared :math:`m^2 > 0`.

    Returns
    -------
    ndarray, shape (n_v,)
        :math:`\kappa_k` in the order of ``k`` (not sorted).

    Examples
    --------
    >>> from fpsolve.models import lattice_scalar_spectrum
    >>> lattice_scalar_spectrum(4, 1.0).round(12).tolist()
    [1.0, 3.0, 5.0, 3.0]
    """
    n_v = check_int("n_v", n_v, minimum=1)
    m2 = check_positive("m2", m2)
    k = np.arange(n_v)
    return m2 + 2.0 - 2.0 * np.cos(2.0 * np.pi * k / n_v)


def lattice_scalar_matrix(n_v: int, m2: float) -> np.ndarray:
    r"""The target action matrix of the 1D periodic free scalar field on ``n_v`` sites.

    .. math::

        K_{target} = (m^2 + 2)\,1 - (T + T^T),

    with :math:`T` the cyclic shift; its eigenvalues are :func:`lattice_scalar_spectrum`
    and :math:`K_{target}^{-1}` is the target second moment of the Gaussian RBM
    (:eq:`eq-rbm-target`).

    Parameters
    ----------
    n_v : int
        Number of lattice sites, ``>= 1``.
    m2 : float
        Mass squared :math:`m^2 > 0`.

    Returns
    -------
    ndarray, shape (n_v, n_v)

    Examples
    --------
    >>> from fpsolve.models import lattice_scalar_matrix
    >>> lattice_scalar_matrix(4, 1.0).tolist()[0]
    [3.0, -1.0, 0.0, -1.0]
    """
    n_v = check_int("n_v", n_v, minimum=1)
    m2 = check_positive("m2", m2)
    eye = np.eye(n_v)
    shift = np.roll(eye, 1, axis=1)
    return (m2 + 2.0) * eye - (shift + shift.T)

r"""Noise models: the PCD noise of the Gaussian RBM and the SGD/SDE correspondence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.checks import check_finite_array, check_int, check_positive
from fpsolve.jit import jit
from fpsolve.models._modes import Modes
from fpsolve.models._rbm import RBMModel, _chain_factor_of, _chain_power, _pcd_amplitude

__all__ = ["PCDNoise", "RBMNoise", "rbm_pcd_noise", "sgd_g2"]


def sgd_g2(alpha: float, batch_size: int, gt2: ArrayLike) -> np.ndarray | float:
    r"""Noise strength :math:`g^2 = \alpha\,\tilde g^2/|B|` of the SDE that one SGD step matches.

    One step of the SGD map (:eq:`eq-sgd-map`) is one Euler-Maruyama step
    of the eigenvalue SDE with :math:`dt = \alpha` and this :math:`g^2`.  With the
    curvature :math:`\Omega` per unit :math:`\alpha` the stationary width is
    :math:`g^2/\Omega` (:func:`fpsolve.analytic.sgd_stationary_variance`).

    Parameters
    ----------
    alpha : float
        Learning rate, > 0.
    batch_size : int
        Batch size :math:`|B| \ge 1`.
    gt2 : float or array_like
        :math:`\tilde g^2 > 0` (per mode).

    Returns
    -------
    float or ndarray
        :math:`g^2`, the shape of ``gt2``.

    Examples
    --------
    >>> from fpsolve.models import sgd_g2
    >>> sgd_g2(0.1, 16, 8.0)
    0.05
    """
    alpha = check_positive("alpha", alpha)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    arr = check_finite_array("gt2", gt2)
    if np.any(arr <= 0):
        raise ValueError(f"gt2 must be > 0, got {arr.min()!r}")
    g2 = alpha * arr / batch_size
    return g2 if g2.ndim else float(g2)


class RBMNoise(NamedTuple):
    """Noise of the PCD update in the eigenbasis of ``X`` (see :func:`rbm_pcd_noise`)."""

    gt2: np.ndarray
    coupling: np.ndarray
    chain_factor: np.ndarray


@jit
def _fill_pcd_coupling(x, mu2, s, k, g, factor):
    """:func:`rbm_pcd_coupling` at every pair of ``x`` into ``g``; the chain factors into
    ``factor`` (both ``(n, n)``, symmetric).

    Per mode first (held on the diagonals): the amplitude ``a = 2 s x/lambda`` and
    ``rho^k``; then per pair ``g = a_a a_b f_ab``, in the order of
    :func:`rbm_pcd_coupling`.
    """
    n = x.shape[0]
    for i in range(n):
        g[i, i] = _pcd_amplitude(x[i], mu2, s)
        factor[i, i] = _chain_power(x[i], mu2, s, k)
    for i in range(n):
        for j in range(i + 1, n):
            f = _chain_factor_of(factor[i, i], factor[j, j])
            g[i, j] = g[i, i] * g[j, j] * f
            g[j, i] = g[i, j]
            factor[i, j] = f
            factor[j, i] = f
    for i in range(n):
        f = _chain_factor_of(factor[i, i], factor[i, i])
        g[i, i] = g[i, i] * g[i, i] * f
        factor[i, i] = f


@jit
def _inverse_lambda(x, mu2, s):
    """``1/lambda`` with ``lambda = mu2 - s x``."""
    return 1.0 / (mu2 - s * x)


@jit
def _second_order_drift_of(x, s, inv_lam, inv_sum):
    """``D_a = s^2 x_a/lambda_a (inv_sum + 1/lambda_a)`` of one mode, ``inv_lam`` its
    :func:`_inverse_lambda` and ``inv_sum = n_extra/mu2 + sum_b 1/lambda_b``."""
    return s * s * x * inv_lam * (inv_sum + inv_lam)


@jit
def _fill_second_order_drift(x, mu2, s, n_extra, out):
    """``out_a`` = :func:`_second_order_drift_of` at every mode
    (:meth:`PCDNoise.second_order_drift`)."""
    inv_sum = n_extra / mu2
    for i in range(x.shape[0]):
        out[i] = _inverse_lambda(x[i], mu2, s)  # held in out
        inv_sum += out[i]
    for i in range(x.shape[0]):
        out[i] = _second_order_drift_of(x[i], s, out[i], inv_sum)


def _rbm_parameters(modes: Modes) -> tuple[float, float]:
    """``(mu2, sigma_h2)`` shared by the RBM modes of one RBM."""
    if not isinstance(modes, Modes) or not all(isinstance(m, RBMModel) for m in modes):
        raise TypeError(f"modes must be a Modes of RBMModel, got {modes!r}")
    rbm = [m for m in modes if isinstance(m, RBMModel)]
    mu2, s = rbm[0].mu2, rbm[0].sigma_h2
    if any(m.mu2 != mu2 or m.sigma_h2 != s for m in rbm):
        raise ValueError("modes must share mu2 and sigma_h2 (one RBM)")
    return mu2, s


def _rbm_state(modes: Modes, x: ArrayLike | None) -> np.ndarray:
    """``x`` checked against the RBM domain, default the stable points (contiguous)."""
    mu2, s = _rbm_parameters(modes)
    if x is None:
        return np.array([m.x_stable for m in modes])
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (len(modes),):
        raise ValueError(f"x must have shape ({len(modes)},), got {x.shape}")
    if not np.all((x >= 0) & (x < mu2 / s)):
        raise ValueError(f"x must lie in [0, mu2/sigma_h2) = [0, {mu2 / s}), got {x}")
    return np.ascontiguousarray(x, dtype=np.float64)


def rbm_pcd_noise(modes: Modes, x: ArrayLike | None = None, *, k: int | None = None) -> RBMNoise:
    r"""Noise that the PCD estimate of :math:`C_{model}` puts on the eigenvalues of ``X``.

    The update :math:`W \leftarrow W + \alpha\sigma_h^2 (C_{target} - \hat C) W`
    (:eq:`eq-pcd-update`) with :math:`\hat C = C + \delta C` the covariance of
    :math:`|B|` chains moves :math:`X = W^T W` by
    :math:`\delta X = -2\alpha\sigma_h^2 W^T\delta C\, W` beyond the drift.  In
    the eigenbasis of ``X`` (:math:`W v_a = \sqrt{x_a}\, u_a`, and
    :math:`u_a` are eigenvectors of :math:`C = K^{-1}` with eigenvalues
    :math:`1/\lambda_a`, :math:`\lambda_a = \mu^2 - \sigma_h^2 x_a`), Gaussian
    chains give :math:`\mathrm{Var}(u_a^T\delta C u_b) = (1 + \delta_{ab}) /
    (\lambda_a\lambda_b |B|)`, hence

    .. math::

        \mathrm{Var}(\delta X_{ab}) = \frac{\alpha^2}{|B|}(1 + \delta_{ab})
        \tilde G_{ab}, \qquad
        \tilde G_{ab} = \frac{4\sigma_h^4 x_a x_b}{\lambda_a\lambda_b}.

    Matched to the SGD map :eq:`eq-sgd-map` (noise variance
    :math:`2\alpha^2\tilde g_a^2/|B|`, pair term
    :math:`(\alpha^2/|B|)\sum_b \tilde G_{ab}/(x_a - x_b)` from second-order
    perturbation theory) this is :math:`\tilde g_a^2 = \tilde G_{aa}`, the
    :math:`\beta = 1` structure (diagonal variance twice the off-diagonal one),
    in the ``"training"`` convention of :class:`RBMModel` (drift per unit
    :math:`\alpha`).  At the fixed point :math:`\lambda_a = \kappa_a`:
    :math:`\tilde g_a^2 = 4(\mu^2-\kappa_a)^2/\kappa_a^2` and the small-noise width
    is :math:`\sigma_a^2 = (\alpha/|B|)\,\tilde g_a^2/\Omega_a
    = 2(\alpha/|B|)(\mu^2-\kappa_a)/\sigma_h^2`.

    Persistent chains advanced ``k`` block-Gibbs sweeps per update are
    correlated from one update to the next: one sweep multiplies the component
    of :math:`\phi` along :math:`u_a` by :math:`\rho_a = \sigma_h^2 x_a/\mu^2` (plus
    fresh noise), so :math:`\delta C_{ab}` has lag-one correlation
    :math:`c_{ab} = (\rho_a\rho_b)^k`.  With ``k`` given, both :math:`\tilde g^2` and
    :math:`\tilde G` are multiplied by the integrated factor
    :math:`(1 + c_{ab})/(1 - c_{ab})` (noise summed over the many updates of one
    relaxation time; the lag of the chains behind ``W`` is of order
    :math:`\alpha` and neglected).

    Parameters
    ----------
    modes : Modes
        :class:`RBMModel` modes sharing ``mu2`` and ``sigma_h2`` (any convention;
        the result is in the ``"training"`` convention).
    x : array_like, shape (n_modes,), optional
        Eigenvalues at which to evaluate; default the stable points
        :math:`x_a = (\mu^2 - \kappa_a)/\sigma_h^2`.
    k : int, optional
        Block-Gibbs sweeps per update; None ignores the chain correlation.

    Returns
    -------
    RBMNoise
        ``gt2`` (shape ``(n,)``), ``coupling`` :math:`\tilde G` (``(n, n)``,
        symmetric, diagonal ``gt2``) and ``chain_factor`` (``(n, n)``, ones when
        ``k`` is None).

    Examples
    --------
    >>> from fpsolve.models import Modes, rbm_pcd_noise
    >>> noise = rbm_pcd_noise(Modes.rbm([4.0, 8.0], mu2=9.0))
    >>> noise.gt2.round(4).tolist()
    [6.25, 0.0625]
    """
    mu2, s = _rbm_parameters(modes)
    x = _rbm_state(modes, x)
    k = 0 if k is None else check_int("k", k, minimum=1)
    n = len(modes)
    coupling, factor = np.empty((n, n)), np.empty((n, n))
    _fill_pcd_coupling(x, mu2, s, k, coupling, factor)
    return RBMNoise(np.diag(coupling).copy(), coupling, factor)


@dataclass(frozen=True)
class PCDNoise:
    r"""The PCD noise as a function of the state, for the SGD map of an RBM's eigenvalues.

    The noise model of :func:`rbm_pcd_noise` evaluated at the current eigenvalues
    :math:`x` instead of the fixed points, for
    :func:`fpsolve.dbm.simulate_sgd` (``noise=PCDNoise(...)``).  At the state
    :math:`x` of RBM modes sharing :math:`\mu^2` and :math:`s = \sigma_h^2`
    (:math:`\lambda_a = \mu^2 - s x_a`) it gives

    - the coupling :math:`\tilde G_{ab}(x)` (:func:`rbm_pcd_coupling`, with the
      chain factor of ``k`` sweeps): :math:`\mathrm{Var}(\delta X_{ab}) =
      (\alpha^2/|B|)(1 + \delta_{ab})\tilde G_{ab}(x)`;
    - the second-order drift (``second_order``), the mean of the second-order
      term :math:`\delta W^T\delta W` of the update per :math:`\alpha^2/|B|`,

      .. math::

          D_a(x) = \frac{s^2 x_a}{\lambda_a}\Big(\sum_{b=1}^{N_v}\frac{1}{\lambda_b}
          + \frac{1}{\lambda_a}\Big),

      where the :math:`N_v - N_h` visible directions outside the range of
      :math:`W` have :math:`\lambda_b = \mu^2` (:math:`N_h` is the number of modes).

    Parameters
    ----------
    k : int, optional
        Block-Gibbs sweeps per update; None ignores the chain correlation.
    n_v : int, optional
        Visible units :math:`N_v`, at least the number of modes; default the
        number of modes.
    second_order : bool, optional
        Include :math:`D_a` in the drift.

    Examples
    --------
    >>> from fpsolve.models import Modes, PCDNoise
    >>> modes = Modes.rbm([4.0, 8.0], mu2=9.0, convention="training")
    >>> PCDNoise(n_v=2).second_order_drift(modes).round(6).tolist()
    [0.78125, 0.0625]
    """

    k: int | None = None
    n_v: int | None = None
    second_order: bool = True

    def __post_init__(self) -> None:
        if self.k is not None:
            check_int("k", self.k, minimum=1)
        if self.n_v is not None:
            check_int("n_v", self.n_v, minimum=1)
        if not isinstance(self.second_order, bool):
            raise TypeError(f"second_order must be a bool, got {self.second_order!r}")

    def n_outside(self, modes: Modes) -> int:
        """:math:`N_v - N_h`: visible directions outside the range of :math:`W`."""
        n_v = len(modes) if self.n_v is None else self.n_v
        if n_v < len(modes):
            raise ValueError(
                f"n_v must be >= the number of modes {len(modes)} (N_v >= N_h), got {n_v}"
            )
        return n_v - len(modes)

    def at(self, modes: Modes, x: ArrayLike | None = None) -> RBMNoise:
        """:func:`rbm_pcd_noise` of ``modes`` at ``x`` (default the stable points)."""
        return rbm_pcd_noise(modes, x, k=self.k)

    def second_order_drift(self, modes: Modes, x: ArrayLike | None = None) -> np.ndarray:
        """:math:`D_a(x)` of ``modes`` at ``x`` (default the stable points), shape ``(n,)``.

        Zeros when ``second_order`` is False.
        """
        mu2, s = _rbm_parameters(modes)
        x = _rbm_state(modes, x)
        out = np.zeros(len(modes))
        if self.second_order:
            _fill_second_order_drift(x, mu2, s, float(self.n_outside(modes)), out)
        return out

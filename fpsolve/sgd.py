r"""SGD of a weight matrix with a gradient from exact model samples (docs/theory.md, 4.1).

The setting is that of arXiv:2407.16427: a weight matrix :math:`W` (``n_rows x n_cols``)
updated by stochastic gradient descent with learning rate :math:`\alpha`, the gradient
estimated from a batch of :math:`|B|` samples.  Here the samples are exact, independent
draws from the model under the current :math:`W`, so the only noise is that of the
sampled gradient; the spectrum of :math:`X = W^T W` is recorded.

For the Gaussian RBM of docs/theory.md section 4 (:class:`GaussianRBM`) one step is

.. math::

    W_{t+1} = W_t + \alpha\,\sigma_h^2\,(C_{\rm target} - \hat C_t)\,W_t, \qquad
    \hat C_t = \frac{1}{|B|}\sum_{b=1}^{|B|}\phi_b\phi_b^T, \qquad
    \phi_b \sim N\big(0, K_t^{-1}\big), \quad K_t = \mu^2 1 - \sigma_h^2 W_t W_t^T,

the PCD update of the trainer with the persistent Gibbs chains replaced by exact
samples.  It keeps every rotation of :math:`W` and every order in :math:`\alpha`.
Its conditional mean is one Euler step of the gradient flow
:math:`dW/dt = \sigma_h^2 (C_{\rm target} - K(W)^{-1}) W` (:math:`t = \alpha\times`
steps), and :math:`\hat C` is a Wishart matrix:
:math:`\mathrm{Cov}(\hat C_{ij}, \hat C_{kl}) = (C_{ik}C_{jl} + C_{il}C_{jk})/|B|`
with :math:`C = K^{-1}`.

Public names
------------
:class:`SampledGradientModel`
    what the integrator needs from a model (jitted pieces, parameters, failure reasons).
:class:`GaussianRBM`
    the Gaussian (scalar-field) RBM trained towards a target second moment.
:func:`simulate_sgd_matrix`
    the matrix-level SGD above, parallel over replicas.
:func:`simulate_sgd_aligned`
    its reduction to the eigenvalues in the target's eigenbasis (rotations dropped),
    with the same exact sample noise.
:class:`SGDResult`, :class:`SGDFailure`
    the recorded spectra with per-replica failures, and the error raised when
    statistics are asked of a run in which replicas failed.

Randomness: with seed ``s``, replica ``r`` draws every normal from the stream
``fpsolve.streams.stream(SeedSequence(s, spawn_key=(r,)))`` (the stream of run ``r``
of the trainer with seed ``s``, so the default initial weights are the trainer's),
in a fixed order; results are identical for any number of threads.
"""

from __future__ import annotations

import contextlib
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from fpsolve import _sgd_kernels as _k
from fpsolve.checks import as_seed, check_finite_array, check_int, check_positive, snapshot_steps
from fpsolve.models import lattice_scalar_matrix, lattice_scalar_spectrum
from fpsolve.streams import normals, stream

__all__ = [
    "GaussianRBM",
    "SGDFailure",
    "SGDResult",
    "SampledGradientModel",
    "simulate_sgd_aligned",
    "simulate_sgd_matrix",
]

_CHUNK_STEPS = 5000  # steps per kernel call (progress updates between calls)
_NON_FINITE_W = "W became non-finite"
_NON_FINITE_X = "X became non-finite"
_NEGATIVE_X = "an eigenvalue of X fell below 0"
_NOT_PD = (
    "K = mu2 - sigma_h2 W W^T is not positive definite (an eigenvalue of X reached mu2/sigma_h2)"
)


# --------------------------------------------------------------------------- models
class SampledGradientModel(ABC):
    r"""A weight matrix trained by SGD on a gradient estimated from exact model samples.

    One step is :math:`W \leftarrow W + \alpha\, g`, where the direction :math:`g`
    is computed from :math:`|B|` samples drawn under the current :math:`W`, and
    :math:`E[g \mid W]` is :meth:`mean_direction`.  A subclass provides the jitted
    pieces the integrator calls (:attr:`numba_pieces`; see ``fpsolve._sgd_kernels``):

    * ``work(data, n_rows, n_cols, batch_size)`` returns a tuple of work arrays;
    * ``prepare(w, data, work)`` factors what the sampler needs under ``w`` and
      returns 0, or ``c >= 1`` when ``w`` lies outside the model's domain
      (:attr:`failure_reasons` ``[c - 1]`` says why);
    * ``direction(w, s, data, work, g)`` draws the step's samples from the stream
      ``s`` (:mod:`fpsolve.streams`) and writes :math:`g` into ``g``;

    ``data`` is :attr:`kernel_data`.  A model whose pieces are not the Gaussian RBM's
    has the integrator compiled for it on first use (not cached on disk).
    """

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_cols)`` of :math:`W`; the recorded spectrum has ``n_cols`` values."""

    @property
    @abstractmethod
    def numba_pieces(self) -> tuple[Callable, Callable, Callable]:
        """The jitted ``(work, prepare, direction)``."""

    @property
    @abstractmethod
    def kernel_data(self) -> tuple:
        """The parameters passed to the jitted pieces."""

    @property
    @abstractmethod
    def failure_reasons(self) -> tuple[str, ...]:
        """Reason for each failure code ``1, 2, ...`` of ``prepare``."""

    @property
    @abstractmethod
    def params(self) -> dict:
        """The parameters that define the model."""

    @abstractmethod
    def mean_direction(self, w) -> np.ndarray:
        r""":math:`E[g \mid W]`: the right-hand side of the gradient flow :math:`dW/dt`."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class GaussianRBM(SampledGradientModel):
    r"""The Gaussian (scalar-field) RBM of docs/theory.md section 4, sampled exactly.

    :math:`W` is :math:`N_v \times N_h`, the visible marginal is
    :math:`N(0, K^{-1})` with :math:`K = \mu^2 1 - \sigma_h^2 W W^T`, and the
    direction of one step is

    .. math::

        g = \sigma_h^2\,(C_{\rm target} - \hat C)\,W, \qquad
        \hat C = \frac{1}{|B|}\sum_b \phi_b\phi_b^T, \qquad \phi_b = L^{-T} z_b,

    with :math:`L L^T = K` (Cholesky) and :math:`z_b \sim N(0, 1_{N_v})`, so
    :math:`E[g \mid W] = \sigma_h^2 (C_{\rm target} - K^{-1}) W`.  The domain is
    :math:`K > 0`, i.e. every eigenvalue of :math:`X = W^T W` below
    :math:`\mu^2/\sigma_h^2`.

    Parameters
    ----------
    mu2 : float
        Visible mass :math:`\mu^2 > 0`.
    sigma_h2 : float, optional
        Hidden variance :math:`\sigma_h^2 > 0`.
    kappa : array_like, shape (N_v,), optional
        Target spectrum :math:`\kappa_k > 0`; then
        :math:`C_{\rm target} = \mathrm{diag}(1/\kappa)` (the target's eigenbasis; the
        spectrum of :math:`X` has the same law for any rotation of the target).
    c_target : array_like, shape (N_v, N_v), optional
        The target second moment, symmetric positive definite (instead of ``kappa``).
    n_h : int, optional
        Hidden units :math:`N_h \le N_v`; default :math:`N_v`.

    Attributes
    ----------
    c_target : ndarray, shape (N_v, N_v)
    kappa : ndarray, shape (N_v,)
        The target spectrum :math:`1/\mathrm{eig}(C_{\rm target})`, ascending.

    Examples
    --------
    >>> from fpsolve.sgd import GaussianRBM
    >>> rbm = GaussianRBM.lattice(10, m2=4.0, mu2=9.0)
    >>> rbm.shape, rbm.x_stable.round(3).tolist()[-3:]
    ((10, 10), [4.618, 4.618, 5.0])
    """

    def __init__(
        self,
        *,
        mu2: float,
        sigma_h2: float = 1.0,
        kappa=None,
        c_target=None,
        n_h: int | None = None,
    ):
        self.mu2 = check_positive("mu2", mu2)
        self.sigma_h2 = check_positive("sigma_h2", sigma_h2)
        if (kappa is None) == (c_target is None):
            raise ValueError("pass exactly one of kappa and c_target")
        if kappa is not None:
            k = check_finite_array("kappa", kappa, ndim=1)
            if k.size == 0 or np.any(k <= 0):
                raise ValueError(f"kappa must be a non-empty array of values > 0, got {kappa!r}")
            c = np.diag(1.0 / k)
        else:
            c = check_finite_array("c_target", c_target, ndim=2)
            if c.shape[0] != c.shape[1] or c.size == 0:
                raise ValueError(f"c_target must be a square matrix, got shape {c.shape}")
            if np.max(np.abs(c - c.T)) > 1e-12 * np.max(np.abs(c)):
                raise ValueError("c_target must be symmetric (to 1e-12 of its largest entry)")
            c = 0.5 * (c + c.T)
            ev = np.linalg.eigvalsh(c)
            if ev[0] <= 0:
                raise ValueError(
                    f"c_target must be positive definite, got smallest eigenvalue {ev[0]:.4g}"
                )
            k = 1.0 / ev
        n_v = c.shape[0]
        self.n_h = n_v if n_h is None else check_int("n_h", n_h, minimum=1)
        if self.n_h > n_v:
            raise ValueError(f"n_h must be <= N_v = {n_v}, got {self.n_h}")
        self.n_v = n_v
        self.c_target = np.ascontiguousarray(c)
        self.kappa = np.sort(k)

    @classmethod
    def lattice(
        cls, n_v: int, m2: float, mu2: float, sigma_h2: float = 1.0, n_h: int | None = None
    ) -> GaussianRBM:
        r"""The paper's target: the free periodic lattice field on ``n_v`` sites.

        :math:`C_{\rm target} = K_{\rm target}^{-1}`,
        :math:`K_{\rm target} = (m^2 + 2) 1 - (T + T^T)` (``T`` the cyclic shift), the
        matrix the trainer of :mod:`validation.training` uses, with spectrum
        :func:`fpsolve.models.lattice_scalar_spectrum`.
        """
        c = np.linalg.inv(lattice_scalar_matrix(n_v, m2))
        model = cls(mu2=mu2, sigma_h2=sigma_h2, c_target=0.5 * (c + c.T), n_h=n_h)
        model.kappa = np.sort(lattice_scalar_spectrum(n_v, m2))  # exact, not from eigvalsh
        return model

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_v, self.n_h)

    @property
    def numba_pieces(self):
        return (_k._rbm_work, _k._rbm_prepare, _k._rbm_direction)

    @property
    def kernel_data(self) -> tuple:
        return (self.mu2, self.sigma_h2, self.c_target)

    @property
    def failure_reasons(self) -> tuple[str, ...]:
        return (_NOT_PD,)

    @property
    def params(self) -> dict:
        return {
            "mu2": self.mu2,
            "sigma_h2": self.sigma_h2,
            "kappa": self.kappa.tolist(),
            "n_h": self.n_h,
        }

    @property
    def learned_kappa(self) -> np.ndarray:
        r"""The :math:`N_h` smallest :math:`\kappa`, descending (the order of ascending ``x``)."""
        return self.kappa[: self.n_h][::-1].copy()

    @property
    def x_stable(self) -> np.ndarray:
        r"""Stable points :math:`(\mu^2 - \kappa_a)/\sigma_h^2` of the learned modes, ascending.

        Raises
        ------
        ValueError
            If a learned :math:`\kappa_a \ge \mu^2` (that mode is not learned).
        """
        k = self.learned_kappa
        if np.any(k >= self.mu2):
            raise ValueError(
                f"kappa: the learned targets {k.tolist()} must all be < mu2={self.mu2!r} "
                "for the stable points (mu2 - kappa)/sigma_h2 to be > 0"
            )
        return (self.mu2 - k) / self.sigma_h2

    @property
    def w_stable(self) -> np.ndarray:
        r"""A stable fixed point of the gradient flow: :math:`W_s = U\,\mathrm{diag}(\sqrt{x_s})`.

        :math:`U` holds the eigenvectors of :math:`C_{\rm target}` of the learned targets
        (column ``a`` for :attr:`learned_kappa` ``[a]``), so that
        :math:`W_s^T W_s = \mathrm{diag}(x_s)` (:attr:`x_stable`) and
        :math:`K(W_s)^{-1} = C_{\rm target}` on the learned directions: the mean direction
        vanishes.  Inside a degenerate group any orthonormal basis is a fixed point too.

        Returns
        -------
        ndarray, shape (N_v, N_h)
        """
        ev, u = np.linalg.eigh(self.c_target)
        order = np.argsort(-ev, kind="stable")[: self.n_h][::-1]  # learned: largest 1/kappa
        return np.ascontiguousarray(u[:, order] * np.sqrt(self.x_stable))

    def k_matrix(self, w) -> np.ndarray:
        r""":math:`K = \mu^2 1 - \sigma_h^2 W W^T` for ``w`` of shape ``(..., N_v, N_h)``."""
        w = np.asarray(w, dtype=np.float64)
        return self.mu2 * np.eye(self.n_v) - self.sigma_h2 * (w @ np.swapaxes(w, -1, -2))

    def mean_direction(self, w) -> np.ndarray:
        r""":math:`\sigma_h^2 (C_{\rm target} - K(W)^{-1}) W`: the gradient flow :math:`dW/dt`."""
        w = np.asarray(w, dtype=np.float64)
        return self.sigma_h2 * (self.c_target - np.linalg.inv(self.k_matrix(w))) @ w


# --------------------------------------------------------------------------- results
class SGDFailure(RuntimeError):
    """Replicas of a run left the model's domain, so the run has no stationary state.

    Attributes
    ----------
    fraction : float
        Fraction of the replicas that failed.
    """

    def __init__(self, message: str, fraction: float):
        super().__init__(message)
        self.fraction = fraction


@dataclass(frozen=True, eq=False)
class SGDResult:
    """Spectra recorded by :func:`simulate_sgd_matrix` or :func:`simulate_sgd_aligned`.

    Attributes
    ----------
    model : SampledGradientModel
        The model.
    method : str
        ``"matrix"`` or ``"aligned"``.
    params : dict
        ``alpha``, ``batch_size``, ``n_steps``, ``n_replicas``, ``seed`` (and
        ``w_sigma`` for ``"matrix"`` with drawn initial weights).
    steps : ndarray of int, shape (n_snapshots,)
        Steps of the snapshots (0 is the initial state).
    eigenvalues : ndarray, shape (n_replicas, n_snapshots, n)
        Ascending eigenvalues of :math:`X = W^T W` at each snapshot; NaN at the
        snapshots from a replica's failure step on (see ``failed_step``), nowhere else.
    failed_step : ndarray of int, shape (n_replicas,)
        The step whose update took the replica out of the model's domain (the
        replica stopped there), or -1.
    reason : tuple of str
        Why each replica failed (``""`` for replicas that ran to the end).
    weights : ndarray, shape (n_replicas, n_snapshots, n_rows, n_cols), or None
        :math:`W` at each snapshot (``record_weights=True``; NaN as ``eigenvalues``).
    """

    model: SampledGradientModel
    method: str
    params: dict
    steps: np.ndarray
    eigenvalues: np.ndarray
    failed_step: np.ndarray
    reason: tuple
    weights: np.ndarray | None = None

    @property
    def failed(self) -> np.ndarray:
        """Boolean mask of the replicas that failed."""
        return self.failed_step >= 0

    @property
    def failed_fraction(self) -> float:
        """Fraction of the replicas that failed."""
        return float(np.mean(self.failed))

    def failure_summary(self) -> str:
        """One line per failure reason: how many replicas, the fraction, and when."""
        n = self.failed_step.size
        bad = np.nonzero(self.failed)[0]
        if bad.size == 0:
            return f"no failures among {n} replicas"
        lines = [f"{bad.size} of {n} replicas ({100 * bad.size / n:.3g}%) failed"]
        for why in sorted({self.reason[r] for r in bad}):
            at = self.failed_step[[r for r in bad if self.reason[r] == why]]
            lines.append(
                f"  {at.size} x {why}: at steps {int(at.min())}..{int(at.max())} "
                f"(median {int(np.median(at))})"
            )
        return "\n".join(lines)

    def check(self) -> None:
        """Raise :class:`SGDFailure` if any replica failed."""
        if self.failed.any():
            p = self.params
            raise SGDFailure(
                f"{self.method} SGD at alpha={p['alpha']!r}, batch_size={p['batch_size']!r} "
                f"cannot reach a stationary state: {self.failure_summary()}",
                self.failed_fraction,
            )

    def late(self, burn_in: float = 0.5) -> np.ndarray:
        """Snapshots after the first ``burn_in`` fraction, ``(n_replicas, n_late, n)``.

        Raises
        ------
        SGDFailure
            If any replica failed (its statistics would be missing, not merely noisy).
        """
        if not 0.0 <= burn_in < 1.0:
            raise ValueError(f"burn_in must lie in [0, 1), got {burn_in!r}")
        self.check()
        return self.eigenvalues[:, int(burn_in * self.steps.size) :, :]

    def mean(self, burn_in: float = 0.5) -> np.ndarray:
        """Mean of each eigenvalue over replicas and late snapshots (see :meth:`late`)."""
        late = self.late(burn_in)
        return late.reshape(-1, late.shape[-1]).mean(axis=0)

    def std(self, burn_in: float = 0.5) -> np.ndarray:
        """Standard deviation of each eigenvalue over replicas and late snapshots."""
        late = self.late(burn_in)
        return late.reshape(-1, late.shape[-1]).std(axis=0)

    def plot(self, ax=None):
        """Mean over the running replicas of each eigenvalue against the step.

        Returns
        -------
        list of matplotlib artists
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        ok = ~self.failed
        if ok.any():
            mean = self.eigenvalues[ok].mean(axis=0)
        else:  # every replica failed: the mean up to the failures
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN late snapshots
                mean = np.nanmean(self.eigenvalues, axis=0)
        artists = list(ax.plot(self.steps, mean, lw=1))
        ax.set_xlabel("step")
        ax.set_ylabel(r"$\langle x_a \rangle$")
        p = self.params
        title = f"{self.method} SGD, alpha={p['alpha']:g}, |B|={p['batch_size']}"
        if self.failed.any():
            title += f" ({self.failed.sum()} of {self.failed.size} replicas failed)"
        ax.set_title(title)
        return artists


# --------------------------------------------------------------------------- helpers
def _check_threads(n_threads) -> int | None:
    if n_threads is None:
        return None
    top = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # set at import
    n = check_int("n_threads", n_threads, minimum=1)
    if n > top:
        raise ValueError(f"n_threads must be <= {top} (numba's thread pool), got {n}")
    return n


@contextlib.contextmanager
def _threads(n_threads: int | None):
    if n_threads is None:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _common(alpha, batch_size, n_steps, n_replicas, record_every, record_steps, rng, n_threads):
    """The checked options shared by both simulations, the snapshot steps and the streams."""
    alpha = check_positive("alpha", alpha)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n_steps = check_int("n_steps", n_steps, minimum=0)
    n_replicas = check_int("n_replicas", n_replicas, minimum=1)
    snaps = snapshot_steps(n_steps, record_every, record_steps)
    seed = as_seed(rng)
    streams = np.stack(
        [stream(np.random.SeedSequence(seed, spawn_key=(r,))) for r in range(n_replicas)]
    )
    params = {
        "alpha": alpha,
        "batch_size": batch_size,
        "n_steps": n_steps,
        "n_replicas": n_replicas,
        "seed": seed,
    }
    return params, snaps, streams, _check_threads(n_threads)


def _per_replica(name, value, shape, n_replicas) -> np.ndarray:
    arr = check_finite_array(name, value)
    if arr.shape == shape:
        arr = np.broadcast_to(arr, (n_replicas, *shape))
    elif arr.shape != (n_replicas, *shape):
        raise ValueError(
            f"{name} must have shape {shape} or {(n_replicas, *shape)}, got {arr.shape}"
        )
    return np.array(arr, dtype=np.float64, order="C")


def _drive(run, n_steps, progress, n_threads):
    """Call ``run(t0, t1)`` over chunks of at most ``_CHUNK_STEPS`` steps covering ``n_steps``."""
    from tqdm.auto import tqdm

    with _threads(n_threads), tqdm(total=n_steps, disable=not progress, unit="step") as bar:
        t0 = 0
        while t0 < n_steps:
            t1 = min(n_steps, t0 + _CHUNK_STEPS)
            run(t0, t1)
            bar.update(t1 - t0)
            t0 = t1


def _failures(n_replicas: int):
    """Per-replica failure ``code`` (0: running) and ``step`` (-1: none), filled by the kernels."""
    return np.zeros(n_replicas, dtype=np.int64), np.full(n_replicas, -1, dtype=np.int64)


def _reasons(code, reasons) -> tuple[str, ...]:
    return tuple("" if c == 0 else reasons[c - 1] for c in code)


# --------------------------------------------------------------------------- matrix level
def simulate_sgd_matrix(
    model: SampledGradientModel,
    *,
    alpha: float,
    batch_size: int,
    n_steps: int,
    n_replicas: int = 1,
    w0=None,
    w_sigma: float = 0.1,
    record_every: int | None = None,
    record_steps=None,
    record_weights: bool = False,
    rng=None,
    n_threads: int | None = None,
    progress: bool = False,
) -> SGDResult:
    r"""SGD of the weight matrix with a gradient from exact samples (docs/theory.md, 4.1).

    Each replica iterates

    .. math::

        W_{t+1} = W_t + \alpha\, g(W_t; \phi_1, \dots, \phi_{|B|}),

    with :math:`|B|` fresh exact samples per step; for :class:`GaussianRBM`,
    :math:`g = \sigma_h^2 (C_{\rm target} - \hat C) W`, :math:`\hat C` the second
    moment of :math:`|B|` draws of :math:`N(0, K^{-1})`,
    :math:`K = \mu^2 1 - \sigma_h^2 W W^T` (:eq:`sgd-step`, :eq:`sgd-samples`).  The
    spectrum of :math:`X = W^T W` is recorded at the snapshot steps.
    A replica whose update leaves the model's domain (for the RBM: :math:`K` not
    positive definite) or makes :math:`W` non-finite stops there and is reported in
    :attr:`SGDResult.failed_step` and :attr:`SGDResult.reason`.

    Parameters
    ----------
    model : SampledGradientModel
        The model, e.g. :meth:`GaussianRBM.lattice`.
    alpha : float
        Learning rate :math:`\alpha > 0`.
    batch_size : int
        Samples per step :math:`|B| \ge 1`.
    n_steps : int
        Steps per replica (``>= 0``).
    n_replicas : int, optional
        Independent replicas.
    w0 : array_like, shape (n_rows, n_cols) or (n_replicas, n_rows, n_cols), optional
        Initial weights (inside the model's domain).  Default: :math:`W_{ij} \sim
        N(0, w_\sigma^2)` drawn from each replica's stream before any step, as the
        trainer of :mod:`validation.training` draws them.
    w_sigma : float, optional
        Standard deviation of the default initial weights (``>= 0``).
    record_every : int, optional
        Record at steps ``0, record_every, 2 record_every, ...`` and at ``n_steps``;
        default about 1000 snapshots.
    record_steps : array_like of int, optional
        Explicit, strictly increasing snapshot steps in ``[0, n_steps]``.
    record_weights : bool, optional
        Also keep :math:`W` at each snapshot.
    rng : int, numpy SeedSequence, numpy Generator or None, optional
        The seed (SPEC 7); replica ``r`` uses the stream
        ``stream(SeedSequence(seed, spawn_key=(r,)))``.
    n_threads : int, optional
        Numba threads over replicas (default numba's setting); results do not depend on it.
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    SGDResult
        ``method == "matrix"``.

    Notes
    -----
    Normals per replica and step: :math:`N_v |B|` for the RBM, filled as an
    ``(N_v, |B|)`` array in C order; the samples are :math:`\phi = L^{-T} z`
    column by column (:math:`L L^T = K`).  Cost per step :math:`O(N_v^2 (N_h + |B|))`.

    Examples
    --------
    >>> from fpsolve.sgd import GaussianRBM, simulate_sgd_matrix
    >>> rbm = GaussianRBM.lattice(4, m2=4.0, mu2=9.0, n_h=3)
    >>> res = simulate_sgd_matrix(rbm, alpha=0.1, batch_size=16, n_steps=2000,
    ...                           n_replicas=4, record_every=1000, rng=1)
    >>> res.eigenvalues.shape, res.failure_summary()
    ((4, 3, 3), 'no failures among 4 replicas')
    >>> rbm.x_stable.tolist(), res.eigenvalues[:, -1].mean(axis=0).round(1).tolist()
    ([3.0, 3.0, 5.0], [2.7, 3.3, 5.0])
    """
    if not isinstance(model, SampledGradientModel):
        raise TypeError(f"model must be a fpsolve.sgd.SampledGradientModel, got {model!r}")
    params, snaps, streams, n_threads = _common(
        alpha, batch_size, n_steps, n_replicas, record_every, record_steps, rng, n_threads
    )
    shape = tuple(model.shape)
    n_cols = shape[1]
    if w0 is None:
        w_sigma = check_positive("w_sigma", w_sigma, strict=False)
        w = np.stack([w_sigma * normals(s, shape) for s in streams])
        params["w_sigma"] = w_sigma
    else:
        w = _per_replica("w0", w0, shape, n_replicas)
    integ = _k.build_integrator(*model.numba_pieces)
    data = model.kernel_data
    start = np.zeros(n_replicas, dtype=np.int64)
    integ.check_start(w, data, params["batch_size"], start)
    if start.any():
        r = int(np.nonzero(start)[0][0])
        raise ValueError(
            f"w0 of replica {r} lies outside the model's domain: "
            f"{model.failure_reasons[start[r] - 1]}"
            + ("" if w0 is not None else f" (w_sigma={w_sigma!r} is too large)")
        )
    n_snap = snaps.size
    eig = np.full((n_replicas, n_snap, n_cols), np.nan)
    keep = bool(record_weights)
    w_out = np.full((n_replicas, n_snap if keep else 0, *shape), np.nan)
    if snaps[0] == 0:
        eig[:, 0] = np.linalg.eigvalsh(np.swapaxes(w, -1, -2) @ w)
        if keep:
            w_out[:, 0] = w
    code, fail_step = _failures(n_replicas)

    def run(t0, t1):
        p = int(np.searchsorted(snaps, t0, side="right"))
        integ.integrate(
            w, streams, code, fail_step, params["alpha"], params["batch_size"], data, t0, t1,
            snaps, p, eig, w_out, keep,
        )  # fmt: skip

    _drive(run, params["n_steps"], progress, n_threads)
    return SGDResult(
        model=model,
        method="matrix",
        params=params,
        steps=snaps,
        eigenvalues=eig,
        failed_step=fail_step,
        reason=_reasons(code, (_NON_FINITE_W, *model.failure_reasons)),
        weights=w_out if keep else None,
    )


# --------------------------------------------------------------------------- aligned map
def simulate_sgd_aligned(
    model: GaussianRBM,
    *,
    alpha: float,
    batch_size: int,
    n_steps: int,
    n_replicas: int = 1,
    x0=None,
    record_every: int | None = None,
    record_steps=None,
    rng=None,
    n_threads: int | None = None,
    progress: bool = False,
) -> SGDResult:
    r"""The eigenvalue map of :func:`simulate_sgd_matrix` with :math:`W` aligned to the target.

    Write :math:`W = U\,\mathrm{diag}(\sqrt{x})` with :math:`U` the first :math:`N_h`
    eigenvectors of :math:`C_{\rm target}`, so that :math:`K` is diagonal in the
    target's eigenbasis with :math:`\lambda_a = \mu^2 - \sigma_h^2 x_a`
    (:math:`\mu^2` beyond the learned directions).  One step draws the exact
    sample second moment in that basis and keeps only the new eigenvalues
    (:eq:`sgd-aligned`):

    .. math::

        \hat C_{ab} = \frac{1}{|B|}\sum_{b'} \frac{z_{ab'} z_{bb'}}{\sqrt{\lambda_a\lambda_b}},
        \qquad M = 1 + \alpha\sigma_h^2\big(\mathrm{diag}(1/\kappa) - \hat C\big),
        \qquad x' = \mathrm{eig}\Big(\mathrm{diag}(\sqrt x)\,\big[M^2\big]_{N_h}\,
        \mathrm{diag}(\sqrt x)\Big),

    :math:`[\,\cdot\,]_{N_h}` the learned block.  The rotation of :math:`W` that the
    step makes is dropped, and the eigenvalues stay assigned to the targets by rank
    (ascending :math:`x` to descending learned :math:`\kappa`).  Unlike a Gaussian
    model of the noise, :math:`\hat C` is a true second moment (never negative).
    A replica fails when an eigenvalue reaches :math:`\mu^2/\sigma_h^2` or falls
    below 0.

    Parameters
    ----------
    model : GaussianRBM
        The RBM (only its spectrum ``kappa``, ``mu2``, ``sigma_h2`` and ``n_h`` enter).
    alpha, batch_size, n_steps, n_replicas, record_every, record_steps, rng, n_threads, progress
        As in :func:`simulate_sgd_matrix`.
    x0 : array_like, shape (N_h,) or (n_replicas, N_h), optional
        Ascending start in :math:`[0, \mu^2/\sigma_h^2)`; default the stable points
        :attr:`GaussianRBM.x_stable`.

    Returns
    -------
    SGDResult
        ``method == "aligned"``.

    Examples
    --------
    >>> from fpsolve.sgd import GaussianRBM, simulate_sgd_aligned
    >>> rbm = GaussianRBM(kappa=[4.0, 8.0], mu2=9.0)
    >>> res = simulate_sgd_aligned(rbm, alpha=0.1, batch_size=16, n_steps=1000,
    ...                            n_replicas=8, rng=2)
    >>> res.eigenvalues.shape, float(res.eigenvalues[0, 0, 1])
    ((8, 1001, 2), 5.0)
    """
    if not isinstance(model, GaussianRBM):
        raise TypeError(f"model must be a fpsolve.sgd.GaussianRBM, got {model!r}")
    params, snaps, streams, n_threads = _common(
        alpha, batch_size, n_steps, n_replicas, record_every, record_steps, rng, n_threads
    )
    n_h = model.n_h
    top = model.mu2 / model.sigma_h2
    x = _per_replica("x0", model.x_stable if x0 is None else x0, (n_h,), n_replicas)
    if np.any(np.diff(x, axis=1) < 0):
        raise ValueError("x0 must be ascending (it is paired with the targets by rank)")
    if np.any(x < 0) or np.any(x >= top):
        raise ValueError(f"x0 must lie in [0, mu2/sigma_h2) = [0, {top!r}), got {x0!r}")
    inv_kappa = 1.0 / np.concatenate([model.learned_kappa, model.kappa[n_h:]])
    eig = np.full((n_replicas, snaps.size, n_h), np.nan)
    if snaps[0] == 0:
        eig[:, 0] = x
    code, fail_step = _failures(n_replicas)

    def run(t0, t1):
        p = int(np.searchsorted(snaps, t0, side="right"))
        size = _k.aligned_batch_size(x.shape[0], numba.get_num_threads())
        _k._aligned_integrate(
            x, streams, code, fail_step, params["alpha"], model.sigma_h2, model.mu2, inv_kappa,
            params["batch_size"], t0, t1, snaps, p, eig, size,
        )  # fmt: skip

    _drive(run, params["n_steps"], progress, n_threads)
    return SGDResult(
        model=model,
        method="aligned",
        params=params,
        steps=snaps,
        eigenvalues=eig,
        failed_step=fail_step,
        reason=_reasons(code, (_NON_FINITE_X, _NOT_PD, _NEGATIVE_X)),
    )

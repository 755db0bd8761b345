r"""The spectrum at initialisation against Marchenko-Pastur and the finite-size Laguerre
ensemble (Kolmogorov-Smirnov); the statistics are those of :mod:`validation.analyses.compare`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from fpsolve.analytic import (
    MarchenkoPastur,
    sample_laguerre,
)
from validation._typing import RNGLike
from validation.analyses._common import (
    KS_SIGNIFICANCE,
    _check_recording,
    _ks_entry,
    _ks_one_sample,
    _new_figure,
    _setting_labels,
)
from validation.analyses.stats import Entry, run_jackknife
from validation.data.recording import Recording

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

__all__ = ["InitialSpectrum", "initial_spectrum"]


@dataclass(frozen=True)
class InitialSpectrum:
    r"""The spectrum at one snapshot against Marchenko-Pastur and the Laguerre ensemble.

    Attributes
    ----------
    values : ndarray
        Pooled eigenvalues :math:`x` of :math:`X = W^T W` of all runs
        (squared singular values for ``quantity = "singular"`` recordings).
    reference : ndarray
        Pooled eigenvalues of ``n_reference`` exact Laguerre (``beta = 1``) spectra.
    m, n : int
        Shape ``M x N`` of ``W`` (``N <= M``); ``r = n/m``.
    s2 : float
        Entry variance of the initial ``W``.
    snapshot, step : int
        Snapshot index used and its step.
    n_runs : int
        Independent spectra.
    ks_mp, ks_laguerre : tuple of float
        ``(D, p_value, D_critical)`` of the one-sample KS test against MP and
        of the two-sample KS test against ``reference``.
    mean, mean_error, second, second_error : float
        :math:`\langle x\rangle` and :math:`\langle x^2\rangle` per eigenvalue
        with jackknife errors over runs.
    setting : dict
        Labels of the recording.
    """

    values: np.ndarray
    reference: np.ndarray
    m: int
    n: int
    s2: float
    snapshot: int
    step: int
    n_runs: int
    ks_mp: tuple[float, float, float]
    ks_laguerre: tuple[float, float, float]
    mean: float
    mean_error: float
    second: float
    second_error: float
    setting: dict = field(default_factory=dict)

    @property
    def marchenko_pastur(self) -> MarchenkoPastur:
        """The Marchenko-Pastur law of the recorded initialisation."""
        return MarchenkoPastur.from_shape(self.m, self.n, self.s2)

    @property
    def predicted_mean(self) -> float:
        r""":math:`E\,x = M s^2` (exact at any ``N``)."""
        return self.m * self.s2

    @property
    def predicted_second(self) -> float:
        r""":math:`E\,x^2 = s^4 M (M + N + 1)` (real Wishart, exact at any ``N``)."""
        return self.s2**2 * self.m * (self.m + self.n + 1)

    def entries(self) -> list[Entry]:
        """KS entries (MP, Laguerre) and the two exact moments."""
        ctx = {
            **self.setting,
            "snapshot": self.snapshot,
            "step": self.step,
            "matrix_shape": [self.m, self.n],
            "s2": self.s2,
        }
        name = "initial_spectrum"
        return [
            _ks_entry(
                name,
                "KS D vs Marchenko-Pastur",
                *self.ks_mp,
                self.values.size,
                self.n_runs,
                model="Marchenko-Pastur",
                reference="one-sample KS, Marchenko-Pastur",
                **ctx,
            ),
            _ks_entry(
                name,
                "KS D vs Laguerre (finite N)",
                *self.ks_laguerre,
                self.values.size,
                self.n_runs,
                model=f"Laguerre ensemble (N={self.n}, M={self.m})",
                reference=f"two-sample KS, {self.reference.size} values",
                **ctx,
            ),
            Entry.compare(
                name,
                "<x>",
                self.mean,
                self.mean_error,
                self.predicted_mean,
                n_eff=self.n_runs,
                model="Wishart moments (exact)",
                **ctx,
            ),
            Entry.compare(
                name,
                "<x^2>",
                self.second,
                self.second_error,
                self.predicted_second,
                n_eff=self.n_runs,
                model="Wishart moments (exact)",
                **ctx,
            ),
        ]

    def plot(self, ax: Axes | None = None) -> FigureBase:
        """Histogram of the pooled eigenvalues with the MP density and the Laguerre reference."""
        if ax is None:
            _, (ax,) = _new_figure(1)
        fig = ax.figure
        hi = max(float(np.max(self.values)), float(np.quantile(self.reference, 0.999)))
        bins = np.linspace(0.0, hi, 60).tolist()
        heights, _, _ = ax.hist(
            self.values, bins=bins, density=True, alpha=0.45, label=f"recorded ({self.n_runs} runs)"
        )
        ax.hist(
            self.reference,
            bins=bins,
            density=True,
            histtype="step",
            color="k",
            label=f"Laguerre N={self.n}, M={self.m}",
        )
        mp = self.marchenko_pastur
        lo, up = mp.edges
        grid = np.linspace(lo + 1e-4 * (up - lo), up, 400)
        ax.plot(grid, mp.pdf(grid), "r-", label="Marchenko-Pastur")
        ax.set_ylim(0.0, 1.3 * float(np.max(heights)))
        ax.set_xlabel("eigenvalue $x$ of $W^T W$")
        ax.set_ylabel("density")
        ax.set_title(
            f"step {self.step}: KS p = {self.ks_mp[1]:.2g} (MP), "
            f"{self.ks_laguerre[1]:.2g} (Laguerre)",
            fontsize=9,
        )
        ax.legend(fontsize=8)
        return fig


def initial_spectrum(
    rec: Recording,
    *,
    snapshot: int = 0,
    s2: float | None = None,
    ratio: float | None = None,
    n_reference: int = 20_000,
    rng: RNGLike = None,
) -> InitialSpectrum:
    r"""Spectrum at initialisation against Marchenko-Pastur and the finite-N Laguerre ensemble.

    For ``W`` of shape ``M x N`` (``N <= M``) with i.i.d. :math:`N(0, s^2)`
    entries the eigenvalues of :math:`X = W^T W` follow, for large ``M, N``
    with :math:`r = N/M`, the Marchenko-Pastur law

    .. math::

        P_{MP}(x) = \frac{\sqrt{(x_+ - x)(x - x_-)}}{2\pi s^2 M r x},\qquad
        x_\pm = M s^2 (1 \pm \sqrt r)^2 ,

    and at any finite ``N`` the real Laguerre (Wishart, ``beta = 1``)
    ensemble, sampled exactly by :func:`fpsolve.analytic.sample_laguerre`.
    ``N = 10`` (the RBM) is far from the MP limit, so both are tested:

    - one-sample KS of the pooled eigenvalues against :math:`P_{MP}`;
    - two-sample KS against ``n_reference`` exact Laguerre spectra;
    - the exact moments :math:`E\,x = M s^2` and
      :math:`E\,x^2 = s^4 M (M + N + 1)` per eigenvalue, with jackknife errors.

    The KS p-values treat the ``R N`` pooled eigenvalues as independent;
    eigenvalues of one spectrum repel, which makes the pooled empirical CDF
    less noisy than i.i.d. draws, so these p-values are conservative.

    Parameters
    ----------
    rec : Recording
        At least :data:`MIN_RUNS` runs.
    snapshot : int, optional
        Snapshot index (default 0, the initialisation).
    s2 : float, optional
        Entry variance :math:`s^2` of the initial ``W``.  Default for
        Gaussian-RBM recordings: ``w_sigma**2``; required otherwise.
    ratio : float, optional
        :math:`r = N/M` in ``(0, 1]``, ``M = N/r`` must be an integer.  Default
        for RBM recordings ``n_h/n_v``; for recordings with weights, their
        shape; required otherwise.
    n_reference : int, optional
        Number of Laguerre spectra in the reference sample.
    rng : int, numpy.random.Generator or None
        Seed of the reference sample.

    Returns
    -------
    InitialSpectrum
    """
    eig = _check_recording(rec)
    n_snap = eig.shape[1]
    if isinstance(snapshot, bool) or not isinstance(snapshot, (int, np.integer)):
        raise TypeError(f"snapshot must be an integer, got {snapshot!r}")
    if not -n_snap <= snapshot < n_snap:
        raise ValueError(f"snapshot must lie in [-{n_snap}, {n_snap}), got {snapshot}")
    snapshot = int(snapshot) % n_snap
    x = eig[:, snapshot, :]
    if rec.attrs.get("quantity") == "singular":
        x = x**2
    n = eig.shape[2]
    setting = None
    if rec.attrs.get("model") == "gaussian_rbm" and (s2 is None or ratio is None):
        setting = rec.rbm_setting()
    if s2 is None:
        if setting is None:
            raise ValueError(
                f"s2 (the entry variance of the initial W) must be given for "
                f"model={rec.attrs.get('model')!r}"
            )
        if setting.w_sigma is None:
            raise ValueError(
                "recording attribute 'w_sigma' is missing; give s2 (the entry variance of the "
                "initial W)"
            )
        s2 = setting.w_sigma**2
    s2 = float(s2)
    if not math.isfinite(s2) or s2 <= 0:
        raise ValueError(f"s2 must be a finite number > 0, got {s2!r}")
    if ratio is None:
        if setting is not None:
            m = setting.n_v
        elif rec.weights is not None:
            m = max(rec.weights.shape[2:])
        else:
            raise ValueError(
                "ratio (r = N/M of the weight matrix) must be given for a recording without "
                "weights or RBM attributes"
            )
    else:
        ratio = float(ratio)
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio must lie in (0, 1], got {ratio!r}")
        m_float = n / ratio
        m = round(m_float)
        if abs(m - m_float) > 1e-9 * m_float:
            raise ValueError(
                f"ratio={ratio!r} with N={n} modes gives M = N/ratio = {m_float}, not an integer"
            )
    if m < n:
        raise ValueError(f"the weight matrix must have M >= N, got M={m}, N={n}")
    if isinstance(n_reference, bool) or not isinstance(n_reference, (int, np.integer)):
        raise TypeError(f"n_reference must be an integer, got {n_reference!r}")
    if n_reference < 100:
        raise ValueError(f"n_reference must be >= 100 spectra, got {n_reference}")
    values = x.ravel()
    mp = MarchenkoPastur.from_shape(m, n, s2)
    d_mp, p_mp, c_mp = _ks_one_sample(values, mp.cdf, values.size)
    reference = sample_laguerre(m, n, 1, s2, int(n_reference), rng=rng).ravel()
    ks2 = stats.ks_2samp(values, reference, method="asymp")
    n1, n2 = values.size, reference.size
    c_lag = math.sqrt(-math.log(KS_SIGNIFICANCE / 2) / 2) * math.sqrt((n1 + n2) / (n1 * n2))
    mean = run_jackknife(np.mean, x)
    second = run_jackknife(lambda d: np.mean(d**2), x)
    return InitialSpectrum(
        values=values,
        reference=reference,
        m=m,
        n=n,
        s2=s2,
        snapshot=snapshot,
        step=int(rec.steps[snapshot]),
        n_runs=eig.shape[0],
        ks_mp=(d_mp, p_mp, c_mp),
        ks_laguerre=(float(ks2.statistic), float(ks2.pvalue), c_lag),
        mean=mean.value,
        mean_error=mean.error,
        second=second.value,
        second_error=second.error,
        setting=_setting_labels(rec),
    )

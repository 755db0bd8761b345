r"""Measured statistics of recorded eigenvalue dynamics, with errors, against the theory.

Four analyses, each a function returning a frozen result with ``.entries()``
(every number as a :class:`validation.analyses.stats.Entry`: measured value, error,
prediction where the theory makes one, verdict, effective sample size) and
``.plot(ax=None)`` (returns the matplotlib Figure):

:func:`initial_spectrum`
    the spectrum at initialisation against Marchenko-Pastur and the exact
    finite-size Laguerre ensemble (Kolmogorov-Smirnov);
:func:`one_point`
    pooled one-point densities: two-mode density fits of degenerate pairs,
    Gaussian fits of single modes, Binder cumulants;
:func:`spacings`
    spacings :math:`S = |x_1 - x_2|` of degenerate pairs, :math:`\langle S\rangle`
    and :math:`P(s)` against the Wigner surmise and Poisson;
:func:`scaling`
    a sweep over :math:`\alpha, |B|` (and the noise :math:`\epsilon` of the
    teacher-student model): power laws in :math:`\alpha/|B|`, collapse of the
    series and the one-parameter fit
    :math:`\langle S_i\rangle = a_{fit}\sqrt{(\alpha/|B|)\,\kappa_i^2\Omega_i}`.

Statistics (the same in every analysis)
---------------------------------------
Independent training runs are the unit: every error is a jackknife over runs
(:func:`validation.analyses.stats.run_jackknife`, at most 100 delete-a-block replicas)
of the full statistic computed from all selected snapshots of the remaining
runs, so correlations between snapshots of one run are accounted for.  When
``T`` snapshots per run are used, an autocorrelation time :math:`\tau` in
snapshot units gives the number of effectively independent samples
:math:`n_{eff} = R\,T/\tau`, reported with every entry (with one snapshot,
:math:`n_{eff} = R`).  :math:`\tau` is the larger of the integrated
autocorrelation time of the per-run series
(:func:`validation.analyses.stats.autocorrelation_time`, Sokal's window) and the
blocking estimate :math:`T\,\mathrm{Var}(\bar x_{run})/\mathrm{Var}(x)` with whole
runs as blocks (which sees correlations longer than a run, e.g. a run that has
not moved between snapshots), and lies in ``[1, T]``.  Analyses need at least
:data:`MIN_RUNS` runs.

Which values are analysed
-------------------------
``Recording.eigenvalues`` holds the eigenvalues :math:`x` of :math:`W^T W`
(RBM recordings and ``quantity = "eigenvalues"`` imports) or the singular
values :math:`\xi` of ``W`` (``attrs["quantity"] == "singular"``, e.g. the
teacher-student recordings); pairs, spacings and fits use the stored values as
they are, :func:`initial_spectrum` squares singular values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import optimize, special, stats

from fpsolve.analytic import (
    BINDER_GAUSSIAN,
    BINDER_TWO_MODE,
    MarchenkoPastur,
    poisson_spacing,
    sample_laguerre,
    two_mode_density,
    wigner_surmise,
)
from validation.analyses.stats import Entry, autocorrelation_time, run_jackknife
from validation.data.recording import Recording, _check_finite_snapshots

__all__ = [
    "KS_SIGNIFICANCE",
    "MIN_RUNS",
    "WIGNER_RATIO",
    "InitialSpectrum",
    "OnePoint",
    "Scaling",
    "Spacings",
    "default_scaling_variable",
    "initial_spectrum",
    "one_point",
    "rbm_scaling_variable",
    "scaling",
    "spacings",
    "teacher_student_scaling_variable",
]

MIN_RUNS = 10
"""Fewest independent runs an analysis accepts (errors are jackknife over runs)."""

KS_SIGNIFICANCE = 1e-3
"""Significance of the Kolmogorov-Smirnov verdicts: ``"agree"`` iff p >= this."""

_SQRT2 = math.sqrt(2.0)
_LOG_2SQRTPI = math.log(2.0 * math.sqrt(math.pi))
_LOG_B = math.log(_SQRT2 / 4.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


# --------------------------------------------------------------------------- input checks
def _check_recording(rec, name: str = "rec") -> np.ndarray:
    """The eigenvalue array of a usable recording (type, shape, runs, finiteness)."""
    if not isinstance(rec, Recording):
        raise TypeError(
            f"{name} must be a validation.data.recording.Recording, got {type(rec).__name__}"
        )
    eig = np.asarray(rec.eigenvalues, dtype=np.float64)
    if eig.ndim != 3 or 0 in eig.shape:
        raise ValueError(
            f"{name}.eigenvalues must have shape (runs, snapshots, modes), got {eig.shape}"
        )
    if eig.shape[0] < MIN_RUNS:
        raise ValueError(
            f"{name} has {eig.shape[0]} runs; the analyses need at least {MIN_RUNS} independent "
            "runs (errors are jackknife over runs)"
        )
    steps = np.asarray(rec.steps)
    if steps.shape != (eig.shape[1],):
        raise ValueError(
            f"{name}.steps must have shape ({eig.shape[1]},) (one per snapshot), got {steps.shape}"
        )
    _check_finite_snapshots(f"{name}.eigenvalues", eig)
    return eig


def _resolve_groups(rec, groups, name: str = "groups") -> tuple[tuple[int, ...], ...]:
    """Validated groups: tuples of one or two distinct mode indices, no index twice."""
    if groups is None:
        groups = rec.mode_groups()
    n = rec.n_modes
    try:
        out = tuple(tuple(_index(i) for i in g) for g in groups)
    except TypeError as exc:
        raise TypeError(
            f"{name} must be a sequence of sequences of integer mode indices, got {groups!r}"
        ) from exc
    if not out:
        raise ValueError(f"{name} must hold at least one group, got {groups!r}")
    seen: set[int] = set()
    for g in out:
        if len(g) not in (1, 2):
            raise ValueError(
                f"{name} may hold single modes and pairs only (one or two indices each), "
                f"got group {g} in {groups!r}"
            )
        for i in g:
            if not 0 <= i < n:
                raise ValueError(
                    f"{name}: mode index {i} in group {g} is out of range [0, {n}) "
                    f"for a recording with {n} modes"
                )
            if i in seen:
                raise ValueError(
                    f"{name}: mode index {i} appears in more than one place {groups!r}"
                )
            seen.add(i)
    return out


def _index(i) -> int:
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"mode index must be an integer, got {i!r}")
    return int(i)


def _select(rec, burn_in, snapshots) -> np.ndarray:
    """Indices of the snapshots to use (default: step >= half the last step)."""
    steps = np.asarray(rec.steps)
    n_snap = steps.size
    if burn_in is not None and snapshots is not None:
        raise ValueError("give burn_in or snapshots, not both")
    if snapshots is not None:
        idx = np.atleast_1d(np.asarray(snapshots))
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(
                f"snapshots must be a non-empty 1D array of integers, got {snapshots!r}"
            )
        if np.any(idx < -n_snap) or np.any(idx >= n_snap):
            raise ValueError(
                f"snapshots must lie in [-{n_snap}, {n_snap}) for a recording with {n_snap} "
                f"snapshots, got {idx.tolist()}"
            )
        idx = idx % n_snap
        if np.any(np.diff(idx) <= 0):
            raise ValueError(f"snapshots must be strictly increasing, got {snapshots!r}")
        return idx.astype(np.int64)
    if burn_in is None:
        threshold = steps[-1] / 2.0
    else:
        if isinstance(burn_in, bool) or not isinstance(burn_in, (int, float, np.number)):
            raise TypeError(f"burn_in must be a number (a step), got {burn_in!r}")
        if not math.isfinite(burn_in) or burn_in < 0:
            raise ValueError(f"burn_in must be a finite step >= 0, got {burn_in!r}")
        threshold = burn_in
    idx = np.flatnonzero(steps >= threshold)
    if idx.size == 0:
        raise ValueError(f"burn_in={burn_in!r} leaves no snapshot (last step {int(steps[-1])})")
    return idx.astype(np.int64)


def _tau(series: np.ndarray) -> float:
    r"""Autocorrelation time of ``series[R, T]`` in snapshots, between 1 and ``T``.

    The larger of the integrated autocorrelation time
    (:func:`validation.analyses.stats.autocorrelation_time`, which measures
    fluctuations about each run's own mean) and the blocking estimate with
    whole runs as blocks, :math:`T\,\mathrm{Var}(\bar x_{run})/\mathrm{Var}(x)`,
    which also sees correlations longer than the run (a series constant in
    each run gives ``T``); 1 for a single snapshot.
    """
    t = series.shape[1]
    if t < 2:
        return 1.0
    total = float(np.var(series))
    if total == 0.0:
        return float(t)
    blocking = t * float(np.var(series.mean(axis=1))) / total
    return float(min(max(autocorrelation_time(series), blocking, 1.0), t))


def _setting(rec) -> dict:
    """JSON-ready labels of a recording's setting for entry contexts."""
    out = {}
    for key in ("model", "alpha", "batch_size", "noise", "source"):
        if key in rec.attrs:
            value = rec.attrs[key]
            out[key] = value.item() if isinstance(value, np.generic) else value
    if "quantity" in rec.attrs:
        out["spectrum"] = rec.attrs["quantity"]
    if rec.path is not None:
        out["path"] = str(rec.path)
    return out


def _new_figure(n_panels: int):
    import matplotlib.pyplot as plt

    cols = min(n_panels, 3)
    rows = -(-n_panels // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.ravel()[n_panels:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n_panels]


# --------------------------------------------------------------------------- KS entries
def _ks_entry(analysis, quantity, d, p, crit, n, n_eff, **context) -> Entry:
    """A KS entry: measured D, no error, predicted = critical D, verdict from the p-value."""
    entry = Entry.compare(
        analysis,
        quantity,
        d,
        0.0,
        crit,
        n_eff=n_eff,
        p_value=float(p),
        n=int(n),
        significance=KS_SIGNIFICANCE,
        **context,
    )
    return replace(entry, error=math.nan, verdict="agree" if p >= KS_SIGNIFICANCE else "disagree")


def _ks_one_sample(values, cdf, n_eff: float):
    """KS distance of ``values`` to ``cdf``; p-value and critical D for ``n_eff`` samples."""
    d = float(stats.kstest(values, cdf).statistic)
    n = max(math.floor(n_eff), 1)
    return d, float(stats.kstwo.sf(d, n)), float(stats.kstwo.isf(KS_SIGNIFICANCE, n))


# =========================================================================== 1. initial spectrum
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
    ks_mp: tuple
    ks_laguerre: tuple
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
                reference="one-sample KS, Marchenko-Pastur",
                **ctx,
            ),
            _ks_entry(
                name,
                "KS D vs Laguerre (finite N)",
                *self.ks_laguerre,
                self.values.size,
                self.n_runs,
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
                **ctx,
            ),
            Entry.compare(
                name,
                "<x^2>",
                self.second,
                self.second_error,
                self.predicted_second,
                n_eff=self.n_runs,
                **ctx,
            ),
        ]

    def plot(self, ax=None):
        """Histogram of the pooled eigenvalues with the MP density and the Laguerre reference."""
        if ax is None:
            fig, (ax,) = _new_figure(1)
        fig = ax.figure
        hi = max(float(np.max(self.values)), float(np.quantile(self.reference, 0.999)))
        bins = np.linspace(0.0, hi, 60)
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
    rng=None,
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
    is_rbm = rec.attrs.get("model") == "gaussian_rbm"
    if s2 is None:
        if not is_rbm:
            raise ValueError(
                f"s2 (the entry variance of the initial W) must be given for "
                f"model={rec.attrs.get('model')!r}"
            )
        s2 = float(rec.attrs["w_sigma"]) ** 2
    s2 = float(s2)
    if not math.isfinite(s2) or s2 <= 0:
        raise ValueError(f"s2 must be a finite number > 0, got {s2!r}")
    if ratio is None:
        if is_rbm:
            m = int(rec.attrs["n_v"])
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
        setting=_setting(rec),
    )


# =========================================================================== 2. one-point
def _two_mode_derivatives(z, *, second: bool = False):
    r"""``log rho``, ``g = rho'/rho`` (and ``g'``) of the standard two-mode density at ``z``.

    :math:`\rho = A + B`, :math:`A = e^{-z^2}/(2\sqrt\pi)`,
    :math:`B = (\sqrt2/4)\,f\,e^{-z^2/2}` with :math:`f = z\,\mathrm{erf}(z/\sqrt2)`.
    """
    e = special.erf(z / _SQRT2)
    f = z * e
    half = np.exp(-0.5 * z * z)
    de = _SQRT_2_OVER_PI * half  # d erf(z/sqrt2)/dz
    df = e + z * de
    la = -z * z - _LOG_2SQRTPI
    with np.errstate(divide="ignore"):
        lb = _LOG_B + np.log(f) - 0.5 * z * z
    lr = np.logaddexp(la, lb)
    wa = np.exp(la - lr)  # A / rho
    wb = (_SQRT2 / 4.0) * np.exp(-0.5 * z * z - lr)  # B / (f rho)
    g = -2.0 * z * wa + wb * (df - z * f)
    if not second:
        return lr, g
    d2f = (2.0 - z * z) * de
    d2 = (4.0 * z * z - 2.0) * wa + wb * (d2f - 2.0 * z * df - f + z * z * f)
    return lr, g, d2 - g * g


def _two_mode_newton(x: np.ndarray, start) -> np.ndarray | None:
    """Newton iterations of the two-mode likelihood in ``(x0, log sigma)`` from ``start``.

    Returns None when the Hessian is not positive definite or no convergence
    in 20 steps.
    """
    loc, log_sigma = float(start[0]), math.log(float(start[1]))
    for _ in range(20):
        sigma = math.exp(log_sigma)
        z = (x - loc) / sigma
        _, g, dg = _two_mode_derivatives(z, second=True)
        # negative log-likelihood per point; theta = (loc, log sigma)
        grad = np.array([np.mean(g) / sigma, 1.0 + np.mean(g * z)])
        h11 = -np.mean(dg) / sigma**2
        h12 = -np.mean(dg * z + g) / sigma
        h22 = -np.mean(dg * z * z + g * z)
        det = h11 * h22 - h12 * h12
        if not (h11 > 0 and det > 0):
            return None
        step_loc = (h22 * grad[0] - h12 * grad[1]) / det
        step_ls = (h11 * grad[1] - h12 * grad[0]) / det
        loc -= step_loc
        log_sigma -= step_ls
        if abs(step_loc) < 1e-10 * sigma and abs(step_ls) < 1e-10:
            return np.array([loc, math.exp(log_sigma)])
    return None


def _fit_two_mode(x: np.ndarray, start=None) -> np.ndarray:
    r"""Maximum-likelihood ``(x0, sigma)`` of :func:`~fpsolve.analytic.two_mode_density`.

    Newton's method with the exact Hessian from ``start`` (default: the
    moment estimates :math:`x_0 = \bar x`, :math:`\sigma^2 = \mathrm{Var}(x)/(3/2)`),
    BFGS as the fallback.
    """
    x = np.ravel(x)
    loc0, var0 = float(np.mean(x)), float(np.var(x))
    if var0 <= 0:
        raise ValueError("cannot fit a two-mode density to values without spread")
    scale = math.sqrt(var0 / 1.5)
    if start is None:
        start = (loc0, scale)
    fit = _two_mode_newton(x, start)
    if fit is not None:
        return fit

    def nll(theta):
        loc, log_sigma = theta
        sigma = math.exp(log_sigma)
        z = (x - (loc0 + scale * loc)) / sigma
        lr, g = _two_mode_derivatives(z)
        f = -np.mean(lr) + log_sigma
        grad = np.array([np.mean(g) * scale / sigma, 1.0 + np.mean(g * z)])
        return f, grad

    res = optimize.minimize(
        nll, np.array([0.0, math.log(scale)]), jac=True, method="BFGS", options={"gtol": 1e-9}
    )
    if not (np.all(np.isfinite(res.x)) and np.max(np.abs(res.jac)) < 1e-6):
        raise RuntimeError(f"two-mode maximum-likelihood fit did not converge: {res.message}")
    return np.array([loc0 + scale * res.x[0], math.exp(res.x[1])])


def _fit_gaussian(x: np.ndarray) -> np.ndarray:
    x = np.ravel(x)
    return np.array([np.mean(x), np.std(x)])


def _binder(x: np.ndarray) -> float:
    r""":math:`U_4 = \langle u^4\rangle / (3\langle u^2\rangle^2) - 1`, ``u = x - <x>``."""
    u = np.ravel(x) - np.mean(x)
    m2 = np.mean(u * u)
    return float(np.mean(u**4) / (3.0 * m2 * m2) - 1.0)


@dataclass(frozen=True)
class OnePoint:
    r"""Pooled one-point densities of mode groups (pairs and single modes).

    Attributes
    ----------
    groups : tuple of tuple of int
        Mode indices of each group (pairs: degenerate, pooled).
    snapshots, steps : ndarray
        Snapshot indices used and their steps.
    n_runs : int
        Independent runs.
    loc, loc_error, sigma, sigma_error : ndarray, shape (G,)
        Pairs: maximum-likelihood position :math:`x_0` and width :math:`\sigma`
        of the two-mode density; singles: mean and standard deviation.
        Jackknife errors over runs.
    binder, binder_error : ndarray, shape (G,)
        Binder cumulant of the pooled values with its jackknife error.
    tau, n_eff : ndarray, shape (G,)
        Integrated autocorrelation time over snapshots (largest over the
        group's modes) and :math:`n_{eff} = R\,T/\tau`.
    values : tuple of ndarray
        Pooled values of each group.
    setting : dict
        Labels of the recording.
    """

    groups: tuple
    snapshots: np.ndarray
    steps: np.ndarray
    n_runs: int
    loc: np.ndarray
    loc_error: np.ndarray
    sigma: np.ndarray
    sigma_error: np.ndarray
    binder: np.ndarray
    binder_error: np.ndarray
    tau: np.ndarray
    n_eff: np.ndarray
    values: tuple
    setting: dict = field(default_factory=dict)

    def entries(self) -> list[Entry]:
        """Position, width (measured) and Binder cumulant (vs -4/27 or 0) per group."""
        out = []
        for i, g in enumerate(self.groups):
            pair = len(g) == 2
            kind = "pair" if pair else "mode"
            ctx = {
                **self.setting,
                "modes": list(g),
                "kind": kind,
                "fit": "two-mode density (ML)" if pair else "Gaussian",
                "tau_int": float(self.tau[i]),
                "steps": [int(s) for s in self.steps],
            }
            ne = float(self.n_eff[i])
            label = f"{kind} {tuple(g)}"
            out += [
                Entry.compare(
                    "one_point", f"x0 {label}", self.loc[i], self.loc_error[i], n_eff=ne, **ctx
                ),
                Entry.compare(
                    "one_point",
                    f"sigma {label}",
                    self.sigma[i],
                    self.sigma_error[i],
                    n_eff=ne,
                    **ctx,
                ),
                Entry.compare(
                    "one_point",
                    f"Binder U4 {label}",
                    self.binder[i],
                    self.binder_error[i],
                    BINDER_TWO_MODE if pair else BINDER_GAUSSIAN,
                    n_eff=ne,
                    **ctx,
                ),
            ]
        return out

    def plot(self, ax=None):
        r"""Histograms of the pooled groups with the fitted density.

        With ``ax=None`` one panel per group: pairs with the fitted two-mode
        density and, for contrast, a Gaussian of the same variance
        (:math:`3\sigma^2/2`); singles with their Gaussian.  With ``ax`` given,
        the standardised values :math:`(x - x_0)/\sigma` of all pairs pooled
        on that axis against the standard two-mode density.
        """
        if ax is not None:
            pairs = [i for i, g in enumerate(self.groups) if len(g) == 2]
            if not pairs:
                raise ValueError("plot(ax=...) shows pooled pairs; this result has none")
            z = np.concatenate([(self.values[i] - self.loc[i]) / self.sigma[i] for i in pairs])
            _one_point_panel(ax, z, 0.0, 1.0, True, "all pairs, standardised")
            return ax.figure
        fig, axes = _new_figure(len(self.groups))
        for i, (a, g) in enumerate(zip(axes, self.groups, strict=True)):
            _one_point_panel(
                a, self.values[i], self.loc[i], self.sigma[i], len(g) == 2, f"modes {tuple(g)}"
            )
        return fig


def _one_point_panel(ax, values, loc, sigma, pair, title):
    ax.hist(values, bins=60, density=True, alpha=0.45, label="recorded")
    grid = np.linspace(values.min(), values.max(), 400)
    if pair:
        ax.plot(grid, two_mode_density(loc, sigma).pdf(grid), "r-", label="two-mode fit")
        ax.plot(
            grid,
            stats.norm.pdf(grid, loc, math.sqrt(1.5) * sigma),
            "k--",
            lw=0.8,
            label="Gaussian, same variance",
        )
    else:
        ax.plot(grid, stats.norm.pdf(grid, loc, sigma), "r-", label="Gaussian fit")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("pooled value")
    ax.legend(fontsize=7)


def one_point(rec: Recording, *, groups=None, burn_in=None, snapshots=None) -> OnePoint:
    r"""Fit the pooled one-point density of every degenerate pair and single mode.

    A degenerate pair (both modes pooled, never sorted into modes by hand) is
    fit by maximum likelihood with the two-mode density (docs/theory.md section 3,
    :math:`u = x - x_0`)

    .. math::

        \rho(u) = \frac{e^{-u^2/(2\sigma^2)}}{4\sqrt\pi\,\sigma}
        \left[2 e^{-u^2/(2\sigma^2)}
        + \sqrt{2\pi}\,\frac{u}{\sigma}\,\mathrm{erf}\!\left(\frac{u}{\sqrt2\sigma}\right)\right],

    (each mode Gaussian of width :math:`\sigma` around :math:`x_0`, with the
    :math:`\beta = 1` repulsion); a single mode by a Gaussian (mean, standard
    deviation).  The Binder cumulant
    :math:`U_4 = \langle u^4\rangle/(3\langle u^2\rangle^2) - 1` (``u`` about
    the sample mean) is compared with :math:`-4/27` for pairs and 0 for
    single modes.  The fits assume the stored values (eigenvalues or
    singular values, see the module notes) fluctuate in a harmonic well.

    Parameters
    ----------
    rec : Recording
        At least :data:`MIN_RUNS` runs.
    groups : sequence of sequences of int, optional
        Mode indices, pairs and singles; default ``rec.mode_groups()`` (equal
        RBM targets, or the attribute ``groups``).
    burn_in : float, optional
        Use the snapshots with step ``>= burn_in``; default: step ``>=`` half
        the last step.
    snapshots : sequence of int, optional
        Explicit snapshot indices (strictly increasing; negative ones count
        from the end) instead of ``burn_in``.

    Returns
    -------
    OnePoint
        Errors: jackknife over runs of the fit to all selected snapshots;
        :math:`n_{eff} = R\,T/\tau` (see the module notes).
    """
    eig = _check_recording(rec)
    groups = _resolve_groups(rec, groups)
    idx = _select(rec, burn_in, snapshots)
    data = eig[:, idx, :]
    r, t = data.shape[:2]
    cols: dict[str, list] = {k: [] for k in ("loc", "le", "sig", "se", "b", "be", "tau", "ne")}
    values = []
    for g in groups:
        d = data[:, :, list(g)]
        if float(np.var(d)) == 0.0:
            raise ValueError(f"modes {g} take one value at every selected snapshot; nothing to fit")
        if len(g) == 2:
            # replicas start from the full-data optimum: Newton converges in 2-3 steps
            full = _fit_two_mode(d)
            est = run_jackknife(lambda s, full=full: _fit_two_mode(s, start=full), d)
        else:
            est = run_jackknife(_fit_gaussian, d)
        bind = run_jackknife(_binder, d)
        tau = max(_tau(d[:, :, j]) for j in range(len(g)))
        for key, v in zip(
            cols,
            (
                est.value[0],
                est.error[0],
                est.value[1],
                est.error[1],
                bind.value,
                bind.error,
                tau,
                r * t / tau,
            ),
            strict=True,
        ):
            cols[key].append(float(v))
        values.append(d.ravel())
    arr = {k: np.asarray(v) for k, v in cols.items()}
    return OnePoint(
        groups=groups,
        snapshots=idx,
        steps=np.asarray(rec.steps)[idx],
        n_runs=r,
        loc=arr["loc"],
        loc_error=arr["le"],
        sigma=arr["sig"],
        sigma_error=arr["se"],
        binder=arr["b"],
        binder_error=arr["be"],
        tau=arr["tau"],
        n_eff=arr["ne"],
        values=tuple(values),
        setting=_setting(rec),
    )


# =========================================================================== 3. spacings
WIGNER_RATIO = 4.0 / math.pi
"""<S^2>/<S>^2 of the beta = 1 Wigner surmise (Poisson: 2)."""


@dataclass(frozen=True)
class Spacings:
    r"""Spacings :math:`S = |x_1 - x_2|` of degenerate pairs.

    Attributes
    ----------
    pairs : tuple of tuple of int
        The pairs (groups of two modes).
    snapshots, steps : ndarray
        Snapshot indices used and their steps.
    n_runs : int
        Independent runs.
    spacing : ndarray, shape (R, T, P)
        :math:`S` per run, selected snapshot and pair.
    mean, mean_error : ndarray, shape (P,)
        :math:`\langle S\rangle` with jackknife errors over runs.
    sigma, sigma_error : ndarray, shape (P,)
        :math:`\sigma = \langle S\rangle/\sqrt\pi` (Wigner surmise, ``beta = 1``).
    ratio, ratio_error : ndarray, shape (P,)
        :math:`\langle S^2\rangle/\langle S\rangle^2` (Wigner ``4/pi``, Poisson 2).
    tau, n_eff : ndarray, shape (P,)
        Autocorrelation time of the spacing series and :math:`R\,T/\tau`.
    s : ndarray
        :math:`s = S/\langle S\rangle` (each pair by its own mean), pooled.
    ks_wigner, ks_poisson : tuple of float
        ``(D, p_value, D_critical)`` of the KS tests of ``s`` with
        :math:`n = \sum_p n_{eff,p}`.
    setting : dict
        Labels of the recording.
    """

    pairs: tuple
    snapshots: np.ndarray
    steps: np.ndarray
    n_runs: int
    spacing: np.ndarray
    mean: np.ndarray
    mean_error: np.ndarray
    sigma: np.ndarray
    sigma_error: np.ndarray
    ratio: np.ndarray
    ratio_error: np.ndarray
    tau: np.ndarray
    n_eff: np.ndarray
    s: np.ndarray
    ks_wigner: tuple
    ks_poisson: tuple
    setting: dict = field(default_factory=dict)

    def entries(self) -> list[Entry]:
        """<S>, sigma, <S^2>/<S>^2 per pair; KS of pooled s vs Wigner and Poisson."""
        out = []
        steps = [int(s) for s in self.steps]
        for i, p in enumerate(self.pairs):
            ctx = {**self.setting, "modes": list(p), "tau_int": float(self.tau[i]), "steps": steps}
            ne = float(self.n_eff[i])
            out += [
                Entry.compare(
                    "spacing",
                    f"<S> pair {tuple(p)}",
                    self.mean[i],
                    self.mean_error[i],
                    n_eff=ne,
                    **ctx,
                ),
                Entry.compare(
                    "spacing",
                    f"sigma = <S>/sqrt(pi) pair {tuple(p)}",
                    self.sigma[i],
                    self.sigma_error[i],
                    n_eff=ne,
                    **ctx,
                ),
                Entry.compare(
                    "spacing",
                    f"<S^2>/<S>^2 pair {tuple(p)}",
                    self.ratio[i],
                    self.ratio_error[i],
                    WIGNER_RATIO,
                    n_eff=ne,
                    **ctx,
                ),
            ]
        ctx = {
            **self.setting,
            "pairs": [list(p) for p in self.pairs],
            "steps": steps,
            "note": "s = S/<S> with <S> estimated from the same data (KS p conservative)",
        }
        ne = float(np.sum(self.n_eff))
        out += [
            _ks_entry(
                "spacing",
                "KS D of s vs Wigner surmise (beta=1)",
                *self.ks_wigner,
                self.s.size,
                ne,
                **ctx,
            ),
            _ks_entry("spacing", "KS D of s vs Poisson", *self.ks_poisson, self.s.size, ne, **ctx),
        ]
        return out

    def plot(self, ax=None):
        """Histogram of :math:`P(s)` with the Wigner surmises (beta 1, 2, 4) and Poisson."""
        if ax is None:
            _, (ax,) = _new_figure(1)
        hi = max(3.5, float(np.quantile(self.s, 0.999)))
        ax.hist(
            self.s,
            bins=np.linspace(0, hi, 50),
            density=True,
            alpha=0.45,
            label=f"recorded, {len(self.pairs)} pair(s)",
        )
        grid = np.linspace(0, hi, 400)
        for beta, style in ((1, "r-"), (2, "g--"), (4, "b:")):
            ax.plot(grid, wigner_surmise(beta).pdf(grid), style, label=f"Wigner beta={beta}")
        ax.plot(grid, poisson_spacing().pdf(grid), "k-.", lw=0.8, label="Poisson")
        ax.set_xlabel(r"$s = S/\langle S\rangle$")
        ax.set_ylabel("$P(s)$")
        ax.legend(fontsize=7)
        return ax.figure


def spacings(rec: Recording, *, groups=None, burn_in=None, snapshots=None) -> Spacings:
    r"""Level spacings of degenerate pairs against the Wigner surmise and Poisson.

    For each pair :math:`S = |x_1 - x_2|` at every selected snapshot of every
    run.  For two modes of width :math:`\sigma` with :math:`\beta = 1`
    repulsion (docs/theory.md section 3)

    .. math::

        P(S) = \frac{S}{2\sigma^2} e^{-S^2/(4\sigma^2)},\qquad
        \langle S\rangle = \sqrt\pi\,\sigma,\qquad
        P(s) = \frac{\pi}{2} s\, e^{-\pi s^2/4}\ (s = S/\langle S\rangle),

    so :math:`\sigma = \langle S\rangle/\sqrt\pi` and
    :math:`\langle S^2\rangle/\langle S\rangle^2 = 4/\pi` (Poisson: 2).  The
    pooled :math:`s` (each pair scaled by its own estimated
    :math:`\langle S\rangle`) is compared with the Wigner surmise and with
    Poisson :math:`e^{-s}` by KS; because the reference uses the estimated
    mean, the KS p-values are conservative, and they are computed for
    :math:`n = \sum_p n_{eff,p}` effectively independent samples (pairs are
    treated as independent).

    Parameters
    ----------
    rec : Recording
        At least :data:`MIN_RUNS` runs.
    groups : sequence of sequences of int, optional
        Mode groups; the pairs among them are used (default
        ``rec.mode_groups()``).
    burn_in, snapshots
        Snapshot selection as in :func:`one_point`.

    Returns
    -------
    Spacings

    Raises
    ------
    ValueError
        If no group is a pair.
    """
    eig = _check_recording(rec)
    pairs = tuple(g for g in _resolve_groups(rec, groups) if len(g) == 2)
    if not pairs:
        raise ValueError(f"spacings need at least one pair of modes in groups, got {groups!r}")
    idx = _select(rec, burn_in, snapshots)
    data = eig[:, idx, :]
    r, t = data.shape[:2]
    spacing = np.stack([np.abs(data[:, :, j] - data[:, :, i]) for i, j in pairs], axis=-1)
    if np.any(np.all(spacing == 0, axis=(0, 1))):
        raise ValueError("a pair has spacing 0 at every selected snapshot; cannot normalise")
    mean = run_jackknife(lambda s: np.mean(s, axis=(0, 1)), spacing)
    ratio = run_jackknife(
        lambda s: np.mean(s**2, axis=(0, 1)) / np.mean(s, axis=(0, 1)) ** 2, spacing
    )
    tau = np.array([_tau(spacing[:, :, p]) for p in range(len(pairs))])
    n_eff = r * t / tau
    s = (spacing / mean.value).reshape(-1)
    return Spacings(
        pairs=pairs,
        snapshots=idx,
        steps=np.asarray(rec.steps)[idx],
        n_runs=r,
        spacing=spacing,
        mean=np.atleast_1d(mean.value),
        mean_error=np.atleast_1d(mean.error),
        sigma=np.atleast_1d(mean.value) / math.sqrt(math.pi),
        sigma_error=np.atleast_1d(mean.error) / math.sqrt(math.pi),
        ratio=np.atleast_1d(ratio.value),
        ratio_error=np.atleast_1d(ratio.error),
        tau=tau,
        n_eff=n_eff,
        s=s,
        ks_wigner=_ks_one_sample(s, wigner_surmise(1).cdf, float(np.sum(n_eff))),
        ks_poisson=_ks_one_sample(s, poisson_spacing().cdf, float(np.sum(n_eff))),
        setting=_setting(rec),
    )


# =========================================================================== 4. scaling
def rbm_scaling_variable(rec: Recording, pair) -> float:
    r"""Scaling variable of a Gaussian-RBM pair: :math:`(\alpha/|B|)\,\kappa^2\Omega`.

    In the talk's convention (:class:`fpsolve.models.RBMModel`,
    ``convention="talk"``) :math:`\Omega = (\mu^2 - \kappa)/\kappa^2`, so
    :math:`\kappa^2\Omega = \mu^2 - \kappa`, the paper's
    :math:`\langle S_i\rangle = a_{fit}\sqrt{(\alpha/|B|)\,\kappa_i^2\Omega_i}`.
    """
    mode = rec.rbm_modes(convention="talk")[pair[0]]
    return float(rec.attrs["alpha"]) / float(rec.attrs["batch_size"]) * mode.kappa**2 * mode.omega


def teacher_student_scaling_variable(rec: Recording, pair) -> float:
    r"""Scaling variable of the teacher-student model: :math:`\alpha\,\epsilon^2/|B|`.

    :math:`\epsilon` is the injected-noise strength (attribute ``noise``).
    """
    del pair
    return (
        float(rec.attrs["alpha"]) * float(rec.attrs["noise"]) ** 2 / float(rec.attrs["batch_size"])
    )


def default_scaling_variable(rec: Recording, pair) -> float:
    r"""The scaling variable :math:`v` of :math:`\langle S\rangle = a\sqrt v` for a recording.

    Gaussian-RBM recordings: :func:`rbm_scaling_variable`; recordings with the
    attributes ``alpha``, ``batch_size`` and ``noise`` (teacher-student):
    :func:`teacher_student_scaling_variable`.

    Raises
    ------
    ValueError
        For any other recording (pass ``variable=`` to :func:`scaling`).
    """
    if rec.attrs.get("model") == "gaussian_rbm":
        return rbm_scaling_variable(rec, pair)
    if all(k in rec.attrs for k in ("alpha", "batch_size", "noise")):
        return teacher_student_scaling_variable(rec, pair)
    raise ValueError(
        f"no default scaling variable for model={rec.attrs.get('model')!r} without attributes "
        "alpha, batch_size and noise; pass variable=callable(rec, pair) -> float"
    )


_SERIES_KEYS = ("alpha", "batch_size", "noise")


def _series(settings: list[dict]) -> dict[str, tuple[int, ...]]:
    """For each parameter the largest set of recordings varying only that parameter."""
    out = {}
    keys = [k for k in _SERIES_KEYS if all(k in s for s in settings)]
    for key in keys:
        others = [k for k in keys if k != key]
        buckets: dict[tuple, list[int]] = {}
        for i, s in enumerate(settings):
            buckets.setdefault(tuple(s[k] for k in others), []).append(i)
        best = max(buckets.values(), key=len)
        if len({settings[i][key] for i in best}) >= 2:
            out[key] = tuple(best)
    return out


def _wls(design, y, err):
    """Weighted least squares: ``(coef, cov, chi2, dof)``; cov scaled if chi2/dof > 1."""
    w = 1.0 / err**2
    a = design.T @ (design * w[:, None])
    coef = np.linalg.solve(a, design.T @ (w * y))
    cov = np.linalg.inv(a)
    chi2 = float(np.sum(w * (y - design @ coef) ** 2))
    dof = y.size - design.shape[1]
    if dof > 0 and chi2 / dof > 1.0:
        cov = cov * (chi2 / dof)
    return coef, cov, chi2, dof


def _a_fit(s, ds, v):
    r"""One-parameter fit :math:`S = a\sqrt v`: ``(a, error, chi2, dof)`` (error PDG-scaled)."""
    coef, cov, chi2, dof = _wls(np.sqrt(v)[:, None], s, ds)
    return float(coef[0]), float(math.sqrt(cov[0, 0])), chi2, dof


def _slope(y, dy, v, labels):
    """Common slope of ``log y`` vs ``log v`` with one intercept per label."""
    uniq = sorted(set(labels))
    design = np.column_stack(
        [np.log(v)] + [np.array([lab == u for lab in labels], dtype=float) for u in uniq]
    )
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise ValueError(
            "the recordings must span at least two values of the scaling variable for some pair"
        )
    coef, cov, chi2, dof = _wls(design, np.log(y), dy / y)
    return float(coef[0]), float(math.sqrt(cov[0, 0])), chi2, dof


@dataclass(frozen=True)
class Scaling:
    r"""Spacings and widths of degenerate pairs across a sweep, against :math:`\sqrt v`.

    One row per (recording, pair) point.

    Attributes
    ----------
    recording, pair : ndarray of int, tuple
        Recording index of each point and its pair (mode indices).
    alpha, batch_size, noise : ndarray
        Setting of each point (``noise`` NaN where absent).
    v : ndarray
        Scaling variable of each point (see :func:`default_scaling_variable`).
    mean_s, mean_s_error, sigma, sigma_error, n_eff : ndarray
        :math:`\langle S\rangle` (:func:`spacings`) and the two-mode width
        :math:`\sigma` (:func:`one_point`) with jackknife errors, and the
        effective samples of :math:`\langle S\rangle`.
    slope_s, slope_sigma : tuple of float
        ``(slope, error, chi2, dof)`` of :math:`\log\langle S\rangle` and
        :math:`\log\sigma` against :math:`\log v`, one intercept per pair.
    a_fit : tuple of float
        ``(a, error, chi2, dof)`` of :math:`\langle S\rangle = a\sqrt v` over all
        points.
    series : dict
        Parameter name -> indices of the recordings that vary only it.
    series_a : dict
        Parameter name -> ``(a, error, chi2, dof)`` of the fit to that series.
    predicted_a : tuple of float or None
        ``(value, error)`` to compare ``a`` with.
    settings : list of dict
        Labels of each recording.
    """

    recording: np.ndarray
    pair: tuple
    alpha: np.ndarray
    batch_size: np.ndarray
    noise: np.ndarray
    v: np.ndarray
    mean_s: np.ndarray
    mean_s_error: np.ndarray
    sigma: np.ndarray
    sigma_error: np.ndarray
    n_eff: np.ndarray
    slope_s: tuple
    slope_sigma: tuple
    a_fit: tuple
    series: dict
    series_a: dict
    predicted_a: tuple | None
    settings: list

    def entries(self) -> list[Entry]:
        """Slopes (vs 1/2), a_fit (vs ``predicted_a``), chi2/dof (vs 1) and the collapse."""
        ne = float(np.sum(self.n_eff))
        name = "scaling"
        out = []
        for label, (slope, err, chi2, dof) in (("<S>", self.slope_s), ("sigma", self.slope_sigma)):
            out.append(
                Entry.compare(
                    name,
                    f"slope of log {label} vs log v",
                    slope,
                    err,
                    0.5,
                    n_eff=ne,
                    chi2=chi2,
                    dof=dof,
                    note="one intercept per pair; error scaled by sqrt(chi2/dof) when > 1",
                )
            )
        a, da, chi2, dof = self.a_fit
        pa = None if self.predicted_a is None else self.predicted_a
        out.append(
            Entry.compare(
                name,
                "a_fit in <S> = a sqrt(v)",
                a,
                da,
                None if pa is None else pa[0],
                0.0 if pa is None else pa[1],
                n_eff=ne,
                chi2=chi2,
                dof=dof,
                n_points=int(self.v.size),
            )
        )
        if dof > 0:
            out.append(
                Entry.compare(
                    name, "chi2/dof of the a_fit", chi2 / dof, math.sqrt(2.0 / dof), 1.0, dof=dof
                )
            )
        keys = list(self.series_a)
        for i, k1 in enumerate(keys):
            for k2 in keys[i + 1 :]:
                a1, e1 = self.series_a[k1][:2]
                a2, e2 = self.series_a[k2][:2]
                shared = sorted(set(self.series[k1]) & set(self.series[k2]))
                out.append(
                    Entry.compare(
                        name,
                        f"collapse: a_fit of the {k1} series vs the {k2} series",
                        a1,
                        e1,
                        a2,
                        e2,
                        recordings_1=list(self.series[k1]),
                        recordings_2=list(self.series[k2]),
                        shared_recordings=shared,
                    )
                )
        # same alpha/|B| (and noise) from different (alpha, |B|): same <S> per pair
        ratio = self.alpha / self.batch_size
        for i in range(self.v.size):
            for j in range(i + 1, self.v.size):
                same = (
                    self.pair[i] == self.pair[j]
                    and abs(ratio[i] - ratio[j]) <= 1e-9 * ratio[i]
                    and (
                        self.noise[i] == self.noise[j]
                        or (np.isnan(self.noise[i]) and np.isnan(self.noise[j]))
                    )
                    and self.alpha[i] != self.alpha[j]
                )
                if same:
                    out.append(
                        Entry.compare(
                            name,
                            f"collapse: <S> pair {self.pair[i]} at equal alpha/|B|",
                            self.mean_s[i],
                            self.mean_s_error[i],
                            self.mean_s[j],
                            self.mean_s_error[j],
                            recordings=[int(self.recording[i]), int(self.recording[j])],
                            alpha_over_b=float(ratio[i]),
                        )
                    )
        return out

    def plot(self, ax=None):
        r"""Log-log :math:`\langle S\rangle` (and, with ``ax=None``, :math:`\sigma`) vs ``v``.

        Series are marked differently (alpha: circles, batch size: squares,
        noise: triangles, others: crosses); the lines are the one-parameter
        fit :math:`a\sqrt v` and :math:`(a/\sqrt\pi)\sqrt v`.
        """
        from matplotlib.ticker import NullFormatter

        if ax is None:
            fig, axes = _new_figure(2)
        else:
            fig, axes = ax.figure, [ax]
        grid = np.geomspace(self.v.min(), self.v.max(), 50)
        a = self.a_fit[0]
        panels = (
            (self.mean_s, self.mean_s_error, r"$\langle S\rangle$", a),
            (self.sigma, self.sigma_error, r"$\sigma$ (two-mode fit)", a / math.sqrt(math.pi)),
        )
        markers = {"alpha": "o", "batch_size": "s", "noise": "^"}
        for axis, (y, dy, label, coef) in zip(axes, panels, strict=False):
            done = np.zeros(self.v.size, dtype=bool)
            for key, members in self.series.items():
                sel = np.isin(self.recording, members) & ~done
                axis.errorbar(
                    self.v[sel], y[sel], dy[sel], fmt=markers[key], ms=4, label=f"{key} series"
                )
                done |= sel
            if (~done).any():
                axis.errorbar(self.v[~done], y[~done], dy[~done], fmt="x", ms=4, label="other")
            axis.plot(
                grid, coef * np.sqrt(grid), "k-", lw=0.8, label=rf"$a\sqrt{{v}}$, a = {a:.3g}"
            )
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.xaxis.set_minor_formatter(NullFormatter())
            axis.yaxis.set_minor_formatter(NullFormatter())
            axis.set_xlabel("scaling variable $v$")
            axis.set_ylabel(label)
            axis.legend(fontsize=7)
        return fig


def scaling(
    recordings,
    *,
    groups=None,
    burn_in=None,
    snapshots=None,
    variable=None,
    predicted_a=None,
) -> Scaling:
    r"""Linear scaling of spacings and widths across a sweep, and the one-parameter fit.

    For every recording and degenerate pair, :math:`\langle S\rangle`
    (:func:`spacings`) and the two-mode width :math:`\sigma` (:func:`one_point`)
    are measured.  With the scaling variable :math:`v` of each point
    (``variable``; defaults: Gaussian RBM
    :math:`v = (\alpha/|B|)\,\kappa_i^2\Omega_i = (\alpha/|B|)(\mu^2 - \kappa_i)`
    in the talk's convention, teacher-student :math:`v = \alpha\epsilon^2/|B|`):

    - the slopes of :math:`\log\langle S\rangle` and :math:`\log\sigma`
      against :math:`\log v` (weighted least squares with one intercept per
      pair; for a fixed RBM pair this is the slope against
      :math:`\log(\alpha/|B|)`), expected 1/2 from the linear scaling rule
      :math:`\sigma^2 \propto \alpha/|B|`;
    - the paper's one-parameter fit
      :math:`\langle S_i\rangle = a_{fit}\sqrt{v_i}` over all pairs and
      settings, :math:`a = \sum (S\sqrt v/\delta S^2) / \sum (v/\delta S^2)`,
      with :math:`\chi^2/\mathrm{dof}`;
    - the collapse: ``a_fit`` of each series (recordings that differ only in
      ``alpha``, only in ``batch_size`` or only in ``noise``) against the other
      series, and :math:`\langle S\rangle` of settings with equal
      :math:`\alpha/|B|` but different :math:`\alpha`.

    Fit errors are from the weighted least squares, multiplied by
    :math:`\sqrt{\chi^2/\mathrm{dof}}` when that exceeds 1.

    Parameters
    ----------
    recordings : sequence of Recording
        At least two settings.
    groups : sequence of sequences of int, optional
        Mode groups for every recording (default: each recording's
        ``mode_groups()``); the pairs are used.
    burn_in, snapshots
        Snapshot selection as in :func:`one_point`, for every recording.
    variable : callable, optional
        ``variable(rec, pair) -> float > 0``, the scaling variable; default
        :func:`default_scaling_variable`.
    predicted_a : tuple of float, optional
        ``(value, error)`` of a prediction of ``a_fit`` for a verdict.

    Returns
    -------
    Scaling
    """
    recs = list(recordings) if not isinstance(recordings, Recording) else [recordings]
    if len(recs) < 2:
        raise ValueError(f"scaling needs at least 2 recordings (settings), got {len(recs)}")
    if variable is None:
        variable = default_scaling_variable
    elif not callable(variable):
        raise TypeError(f"variable must be callable(rec, pair) -> float, got {variable!r}")
    if predicted_a is not None:
        try:
            pa = (float(predicted_a[0]), float(predicted_a[1]))
        except (TypeError, IndexError, ValueError) as exc:
            raise TypeError(
                f"predicted_a must be a (value, error) pair, got {predicted_a!r}"
            ) from exc
        if not all(map(math.isfinite, pa)) or pa[1] < 0:
            raise ValueError(f"predicted_a must be finite with error >= 0, got {predicted_a!r}")
        predicted_a = pa
    rows: dict[str, list] = {
        k: [] for k in ("rec", "pair", "alpha", "b", "eps", "v", "s", "ds", "sig", "dsig", "ne")
    }
    settings = []
    for k, rec in enumerate(recs):
        name = f"recordings[{k}]"
        _check_recording(rec, name)
        for key in ("alpha", "batch_size"):
            if key not in rec.attrs:
                raise ValueError(f"{name} has no attribute {key!r} needed for the scaling")
        sp = spacings(
            rec,
            groups=_resolve_groups(rec, groups, name=f"groups of {name}"),
            burn_in=burn_in,
            snapshots=snapshots,
        )
        op = one_point(rec, groups=sp.pairs, burn_in=burn_in, snapshots=snapshots)
        settings.append(
            {key: rec.attrs[key] for key in _SERIES_KEYS if key in rec.attrs} | _setting(rec)
        )
        for p, pair in enumerate(sp.pairs):
            v = float(variable(rec, pair))
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"variable({name}, {pair}) must be finite and > 0, got {v}")
            for key, val in zip(
                rows,
                (
                    k,
                    pair,
                    rec.attrs["alpha"],
                    rec.attrs["batch_size"],
                    rec.attrs.get("noise", math.nan),
                    v,
                    sp.mean[p],
                    sp.mean_error[p],
                    op.sigma[p],
                    op.sigma_error[p],
                    sp.n_eff[p],
                ),
                strict=True,
            ):
                rows[key].append(val)
    arr = {k: np.asarray(v, dtype=np.float64) for k, v in rows.items() if k != "pair"}
    labels = rows["pair"]
    if np.any(arr["ds"] <= 0) or np.any(arr["dsig"] <= 0):
        raise ValueError("a measured <S> or sigma has zero error; cannot weight the fits")
    slope_s = _slope(arr["s"], arr["ds"], arr["v"], labels)
    slope_sigma = _slope(arr["sig"], arr["dsig"], arr["v"], labels)
    a_fit = _a_fit(arr["s"], arr["ds"], arr["v"])
    series = _series(settings)
    series_a = {}
    for key, members in series.items():
        sel = np.isin(arr["rec"], members)
        series_a[key] = _a_fit(arr["s"][sel], arr["ds"][sel], arr["v"][sel])
    return Scaling(
        recording=arr["rec"].astype(np.int64),
        pair=tuple(labels),
        alpha=arr["alpha"],
        batch_size=arr["b"],
        noise=arr["eps"],
        v=arr["v"],
        mean_s=arr["s"],
        mean_s_error=arr["ds"],
        sigma=arr["sig"],
        sigma_error=arr["dsig"],
        n_eff=arr["ne"],
        slope_s=slope_s,
        slope_sigma=slope_sigma,
        a_fit=a_fit,
        series=series,
        series_a=series_a,
        predicted_a=predicted_a,
        settings=settings,
    )

r"""Pure fitting pieces for weight-matrix spectra: Marchenko-Pastur bulk + tail,
continuous power laws (Clauset-Shalizi-Newman), and consecutive-spacing ratios.

Everything here takes plain arrays of eigenvalues and returns plain numbers or
small named tuples; the user-facing analysis (results with errors, plots,
checkpoints) lives in ``validation.analyses.spectra``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from fpsolve.analytic._ensembles import sample_laguerre
from fpsolve.analytic._marchenko_pastur import mp_cdf, mp_pdf
from fpsolve.checks import as_rng, check_finite_array, check_in_range, check_int, check_positive
from fpsolve.jit import jit

__all__ = [
    "RATIO_MEAN_GOE",
    "RATIO_MEAN_GSE",
    "RATIO_MEAN_GUE",
    "RATIO_MEAN_POISSON",
    "RATIO_SURMISE_GOE",
    "LikelihoodRatio",
    "MPBulkFit",
    "MPBulkTail",
    "PowerLawScan",
    "mp_bulk_tail_split",
    "mp_cdf_fit",
    "mp_edge_fluctuation",
    "mp_fit_bootstrap",
    "power_law_likelihood_ratio",
    "power_law_scan",
    "spacing_ratios",
]

#: Mean consecutive-spacing ratio of uncorrelated (Poisson) levels, :math:`2\ln 2 - 1`.
RATIO_MEAN_POISSON = 2.0 * math.log(2.0) - 1.0
#: Mean ratio of the 3x3 GOE surmise, :math:`4 - 2\sqrt3` (Atas et al., PRL 110, 084101, 2013).
RATIO_SURMISE_GOE = 4.0 - 2.0 * math.sqrt(3.0)
#: Large-N GOE mean ratio, 0.5307(1) (Atas et al. 2013, numerical).
RATIO_MEAN_GOE = 0.5307
#: Large-N GUE mean ratio, 0.5996(1) (Atas et al. 2013, numerical).
RATIO_MEAN_GUE = 0.5996
#: Large-N GSE mean ratio, 0.6744(1) (Atas et al. 2013, numerical).
RATIO_MEAN_GSE = 0.6744


# ----------------------------------------------------------------------------
# Marchenko-Pastur bulk
# ----------------------------------------------------------------------------


class MPBulkFit(NamedTuple):
    """Result of :func:`mp_cdf_fit`: estimates and their least-squares covariance."""

    area: float
    scale: float
    r: float
    cov: np.ndarray  # covariance of (area, scale, r); r row/column zero when r was fixed
    rms: float  # root-mean-square CDF residual


def mp_cdf_fit(bulk: npt.ArrayLike, n_total: int, *, r: float | None = None) -> MPBulkFit:
    r"""Fit :math:`A\,F_{MP}(x; \mathrm{scale}, r)` to the empirical CDF of a bulk.

    ``bulk`` are the lowest ``n_b`` of ``n_total`` eigenvalues (ascending); the
    residuals are :math:`(i - 1/2)/N - A\,F_{MP}(x_{(i)})`, ``i = 1..n_b``,
    minimised over ``A``, ``scale`` (:math:`= M s^2`) and ``r`` (or ``r``
    fixed) by trust-region least squares with an analytic Jacobian.

    Parameters
    ----------
    bulk : array_like
        Ascending positive eigenvalues of the bulk, at least 4 of them.
    n_total : int
        Total number of eigenvalues ``N`` (bulk plus tail).
    r : float, optional
        Fixed ratio in ``(0, 1]``; fitted if None.

    Returns
    -------
    MPBulkFit
        ``area``, ``scale``, ``r``, covariance ``cov`` of ``(area, scale, r)``
        from the Jacobian and the residual variance, and the rms residual.
    """
    x = np.asarray(bulk, dtype=np.float64)
    n_b = len(x)
    p = (np.arange(1, n_b + 1) - 0.5) / n_total
    mean, var = float(np.mean(x)), float(np.var(x))
    fit_r = r is None
    r0 = float(np.clip(var / mean**2, 1e-3, 1.0)) if r is None else float(r)
    a0 = n_b / n_total

    def unpack(theta):
        a, log_scale = theta[0], theta[1]
        rr = theta[2] if fit_r else r0
        return a, math.exp(log_scale), rr

    def resid(theta):
        a, scale, rr = unpack(theta)
        return p - a * mp_cdf(x, rr, scale)

    def jac(theta):
        a, scale, rr = unpack(theta)
        f = mp_cdf(x, rr, scale)
        cols = [-f, a * mp_pdf(x, rr, scale) * x]
        if fit_r:
            h = 1e-6 * max(rr, 1e-3)
            lo_r, hi_r = max(rr - h, 1e-6), min(rr + h, 1.0)
            df = (mp_cdf(x, hi_r, scale) - mp_cdf(x, lo_r, scale)) / (hi_r - lo_r)
            cols.append(-a * df)
        return np.stack(cols, axis=1)

    start = [a0, math.log(mean), r0] if fit_r else [a0, math.log(mean)]
    lower = [1e-3, -np.inf, 1e-4] if fit_r else [1e-3, -np.inf]
    upper = [1.0, np.inf, 1.0] if fit_r else [1.0, np.inf]
    theta0 = np.clip(start, np.array(lower) + 1e-12, np.array(upper) - 1e-12)
    sol = optimize.least_squares(resid, theta0, jac=jac, bounds=(lower, upper), method="trf")
    a, scale, rr = unpack(sol.x)
    n_par = len(sol.x)
    dof = max(n_b - n_par, 1)
    s2_res = float(sol.fun @ sol.fun) / dof
    jmat = jac(sol.x)
    try:
        cov_t = np.linalg.inv(jmat.T @ jmat) * s2_res
    except np.linalg.LinAlgError:
        cov_t = np.full((n_par, n_par), np.inf)
    # transform d(log scale) -> d(scale)
    tr = np.diag([1.0, scale] + ([1.0] if fit_r else []))
    cov_t = tr @ cov_t @ tr
    cov = np.zeros((3, 3))
    cov[:n_par, :n_par] = cov_t
    return MPBulkFit(float(a), float(scale), float(rr), cov, math.sqrt(float(np.mean(sol.fun**2))))


def mp_edge_fluctuation(scale: float, r: float, n: float) -> float:
    r"""Tracy-Widom width of the largest MP eigenvalue.

    For ``n`` eigenvalues of ``W^T W`` with ``W`` of shape ``M x n`` (``M = n/r``),
    entry variance :math:`s^2` and ``scale`` :math:`= M s^2`, the largest
    eigenvalue is :math:`x_+ + \sigma_{TW}\,\chi` with :math:`\chi` Tracy-Widom
    (beta = 1) distributed and (Johnstone 2001)

    .. math::

        \sigma_{TW} = \mathrm{scale}\,(1+\sqrt r)\,(1 + r^{-1/2})^{1/3}\,M^{-2/3}.
    """
    scale = check_positive("scale", scale)
    r = check_in_range("r", r, 0.0, 1.0, low_open=True)
    n = check_positive("n", n)
    m = n / r
    return scale * (1.0 + math.sqrt(r)) * (1.0 + 1.0 / math.sqrt(r)) ** (1.0 / 3.0) * m ** (-2 / 3)


def mp_fit_bootstrap(
    fit: MPBulkFit,
    n_bulk: int,
    n_total: int,
    *,
    r: float | None = None,
    n_matrices: int = 1,
    n_bootstrap: int = 20,
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    r"""Parametric-bootstrap replicates of :func:`mp_cdf_fit`.

    Each replicate draws an exact real-Wishart bulk of ``n_bulk`` eigenvalues
    (Dumitriu-Edelman bidiagonal model) with ``M = round(n_bulk / r)`` rows and
    entry variance ``scale / M`` from the fitted ``fit``, and refits it with
    ``n_total`` as the total count (the tail is held fixed).  The standard
    deviations of the replicates are the errors of the fit; they include the
    strong correlations between ordered eigenvalues that least-squares errors
    ignore.

    Parameters
    ----------
    fit : MPBulkFit
    n_bulk, n_total : int
    r : float, optional
        Fixed ratio used in the refits (as in the original fit).
    n_matrices : int, optional
        The bulk pools this many independent matrices: each replicate then
        concatenates as many independent spectra of about ``n_bulk / n_matrices``
        eigenvalues (with ``M_j = round(n_j / r)``), which fluctuate more than one
        spectrum of ``n_bulk`` eigenvalues.
    n_bootstrap : int, optional
    rng : int, numpy.random.Generator or None

    Returns
    -------
    numpy.ndarray, shape (n_bootstrap, 3)
        Replicates of ``(area, scale, r)``.
    """
    n_bulk = check_int("n_bulk", n_bulk, minimum=4)
    n_total = check_int("n_total", n_total, minimum=n_bulk)
    n_bootstrap = check_int("n_bootstrap", n_bootstrap, minimum=0)
    gen = as_rng(rng)
    n_matrices = check_int("n_matrices", n_matrices, minimum=1)
    out = np.empty((n_bootstrap, 3))
    if n_bootstrap == 0:
        return out
    sizes = [n_bulk // n_matrices + (j < n_bulk % n_matrices) for j in range(n_matrices)]
    parts = []
    for nj in sizes:
        if nj == 0:
            continue
        m_j = max(nj, round(nj / fit.r))
        parts.append(sample_laguerre(m_j, nj, 1.0, fit.scale / m_j, n_bootstrap, gen))
    boots = np.sort(np.concatenate(parts, axis=1), axis=1)
    for b in range(n_bootstrap):
        fb = mp_cdf_fit(boots[b], n_total, r=r)
        out[b] = fb.area, fb.scale, fb.r
    return out


class MPBulkTail(NamedTuple):
    """Result of :func:`mp_bulk_tail_split`."""

    fit: MPBulkFit
    n_tail: int
    threshold: float  # x_+ + edge_sigmas * sigma_TW of the final fit
    consistent: bool  # True when the bulk's largest eigenvalue lies below the threshold


def _fit_for_k(x, k, r, edge_sigmas, n_matrices=1):
    n = len(x)
    fit = mp_cdf_fit(x[: n - k], n, r=r)
    edge = fit.scale * (1.0 + math.sqrt(fit.r)) ** 2
    thr = edge + edge_sigmas * mp_edge_fluctuation(fit.scale, fit.r, (n - k) / n_matrices)
    return fit, thr, bool(x[n - k - 1] <= thr)


def mp_bulk_tail_split(
    eigenvalues: npt.ArrayLike,
    *,
    r: float | None = None,
    edge_sigmas: float = 4.0,
    max_tail_fraction: float = 0.5,
    n_matrices: int = 1,
) -> MPBulkTail:
    r"""Split a spectrum into a Marchenko-Pastur bulk and a tail, self-consistently.

    For a tail count ``k`` the lowest ``N - k`` eigenvalues are fitted by
    :func:`mp_cdf_fit`; ``k`` is *consistent* when the largest bulk eigenvalue
    lies below the fitted edge plus ``edge_sigmas`` Tracy-Widom widths,
    :math:`t(k) = x_+ + c\,\sigma_{TW}`.  The smallest consistent ``k`` in
    ``[0, max_tail_fraction * N]`` is found by bisection (``k = 0`` costs one fit).

    Parameters
    ----------
    eigenvalues : array_like
        Positive eigenvalues (any order), at least 8.
    r : float, optional
        Fixed ratio; fitted if None.
    edge_sigmas : float, optional
        Margin :math:`c` above the fitted upper edge, in Tracy-Widom widths.
    max_tail_fraction : float, optional
        Largest tail fraction searched, in ``(0, 1)``.
    n_matrices : int, optional
        Number of independent matrices pooled in ``eigenvalues``; the
        Tracy-Widom width is that of one matrix, with ``(N - k) / n_matrices``
        bulk eigenvalues.

    Returns
    -------
    MPBulkTail
    """
    x = np.sort(check_finite_array("eigenvalues", eigenvalues, ndim=1))
    n = len(x)
    if n < 8:
        raise ValueError(f"eigenvalues must hold at least 8 values, got {n}")
    if x[0] <= 0:
        raise ValueError(f"eigenvalues must be > 0, got minimum {x[0]!r}")
    edge_sigmas = check_positive("edge_sigmas", edge_sigmas, strict=False)
    max_tail_fraction = check_in_range(
        "max_tail_fraction", max_tail_fraction, 0.0, 1.0, low_open=True, high_open=True
    )
    n_matrices = check_int("n_matrices", n_matrices, minimum=1)
    fit, thr, ok = _fit_for_k(x, 0, r, edge_sigmas, n_matrices)
    if ok:
        return MPBulkTail(fit, 0, thr, True)
    lo, hi = 0, min(int(max_tail_fraction * n), n - 6)
    fit_hi, thr_hi, ok_hi = _fit_for_k(x, hi, r, edge_sigmas, n_matrices)
    if not ok_hi:
        return MPBulkTail(fit_hi, hi, thr_hi, False)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        f, t, ok = _fit_for_k(x, mid, r, edge_sigmas, n_matrices)
        if ok:
            hi, fit_hi, thr_hi = mid, f, t
        else:
            lo = mid
    return MPBulkTail(fit_hi, hi, thr_hi, True)


# ----------------------------------------------------------------------------
# Power law (Clauset, Shalizi & Newman, SIAM Rev. 51, 661, 2009)
# ----------------------------------------------------------------------------


@jit
def _xmin_scan(x, n_min, alpha_out, ks_out):
    """For ascending ``x``: MLE exponent and KS distance for every candidate x_min."""
    n = x.shape[0]
    suffix = np.empty(n + 1)
    suffix[n] = 0.0
    for i in range(n - 1, -1, -1):
        suffix[i] = suffix[i + 1] + math.log(x[i])
    for j in range(n):
        alpha_out[j] = np.nan
        ks_out[j] = np.inf
        nt = n - j
        if nt < n_min or (j > 0 and x[j] == x[j - 1]):
            continue
        lxm = math.log(x[j])
        s = suffix[j] - nt * lxm
        if s <= 0.0:
            continue
        alpha = 1.0 + nt / s
        d = 0.0
        for i in range(j, n):
            f = 1.0 - math.exp((1.0 - alpha) * (math.log(x[i]) - lxm))
            hi = (i - j + 1) / nt
            lo = (i - j) / nt
            d = max(d, abs(hi - f), abs(f - lo))
        alpha_out[j] = alpha
        ks_out[j] = d


class PowerLawScan(NamedTuple):
    """Result of :func:`power_law_scan`."""

    alpha: float
    alpha_err: float
    xmin: float
    n_tail: int
    ks: float
    xmins: np.ndarray  # candidate x_min values scanned
    ks_all: np.ndarray  # KS distance for each candidate (inf where skipped)


def power_law_scan(
    x: npt.ArrayLike, *, n_tail_min: int = 10, xmin: float | None = None
) -> PowerLawScan:
    r"""Maximum-likelihood continuous power law with the x_min that minimises KS.

    Density above :math:`x_{min}`: :math:`p(x) = \frac{\alpha-1}{x_{min}}
    (x/x_{min})^{-\alpha}`; MLE :math:`\hat\alpha = 1 + n\,[\sum_i
    \ln(x_i/x_{min})]^{-1}` with standard error :math:`(\hat\alpha - 1)/\sqrt n`.
    Every distinct value with at least ``n_tail_min`` points at or above it is
    a candidate; the chosen one minimises the Kolmogorov-Smirnov distance
    between the tail's empirical CDF and the fit.  No bound is put on
    :math:`\alpha`.

    Parameters
    ----------
    x : array_like
        Positive samples (any order).
    n_tail_min : int, optional
        Fewest points in a tail, ``>= 2``.
    xmin : float, optional
        Fixed x_min (no scan).
    """
    x = np.sort(check_finite_array("x", x, ndim=1))
    n_tail_min = check_int("n_tail_min", n_tail_min, minimum=2)
    if len(x) < n_tail_min:
        raise ValueError(f"x must hold at least n_tail_min={n_tail_min} values, got {len(x)}")
    if x[0] <= 0:
        raise ValueError(f"x must be > 0, got minimum {x[0]!r}")
    alpha = np.empty(len(x))
    ks = np.empty(len(x))
    if xmin is not None:
        xmin = check_positive("xmin", xmin)
        real = x[x >= xmin]
        if len(real) < n_tail_min:
            raise ValueError(
                f"xmin={xmin!r} leaves {len(real)} points, fewer than n_tail_min={n_tail_min}"
            )
        s = float(np.sum(np.log(real / xmin)))
        a = 1.0 + len(real) / s
        f = 1.0 - (real / xmin) ** (1.0 - a)
        i = np.arange(len(real))
        d = float(max(np.max((i + 1) / len(real) - f), np.max(f - i / len(real))))
        ks[:] = np.inf
        return PowerLawScan(a, (a - 1.0) / math.sqrt(len(real)), xmin, len(real), d, x, ks)
    _xmin_scan(x, n_tail_min, alpha, ks)
    j = int(np.argmin(ks))
    nt = len(x) - j
    a = float(alpha[j])
    return PowerLawScan(a, (a - 1.0) / math.sqrt(nt), float(x[j]), nt, float(ks[j]), x, ks)


class LikelihoodRatio(NamedTuple):
    """Vuong likelihood-ratio test of the power law against an alternative.

    ``statistic`` > 0 favours the power law; ``p_value`` is the two-sided
    significance of its sign; ``params`` are the alternative's MLE parameters.
    """

    alternative: str
    statistic: float
    normalized: float
    p_value: float
    params: tuple


def _ll_power_law(t, xmin, alpha):
    return math.log(alpha - 1.0) - math.log(xmin) - alpha * np.log(t / xmin)


def _ll_exponential(t, xmin):
    lam = 1.0 / max(float(np.mean(t - xmin)), np.finfo(float).tiny)
    return math.log(lam) - lam * (t - xmin), (lam,)


def _ll_lognormal(t, xmin):
    lt = np.log(t)
    lxm = math.log(xmin)

    def nll(par):
        mu, log_sig = par
        sig = math.exp(log_sig)
        z = (lt - mu) / sig
        tail = special.log_ndtr(-(lxm - mu) / sig)
        return -float(
            np.sum(-0.5 * z * z - math.log(sig) - lt - 0.5 * math.log(2 * math.pi) - tail)
        )

    sd = float(np.std(lt))
    start = [float(np.mean(lt)), math.log(max(sd, 1e-3 * max(abs(lxm), 1.0)))]
    res = optimize.minimize(
        nll, start, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000}
    )
    mu, sig = float(res.x[0]), math.exp(float(res.x[1]))
    z = (lt - mu) / sig
    ll = -0.5 * z * z - math.log(sig) - lt - 0.5 * math.log(2 * math.pi)
    ll = ll - special.log_ndtr(-(lxm - mu) / sig)
    return ll, (mu, sig)


def power_law_likelihood_ratio(
    x: npt.ArrayLike, xmin: float, alpha: float, alternative: str
) -> LikelihoodRatio:
    r"""Vuong test of a power law against ``"exponential"`` or ``"lognormal"``.

    Both models are fitted by maximum likelihood to the points ``x >= xmin``
    (the alternatives truncated at ``xmin``).  With pointwise log-likelihood
    differences :math:`\ell_i`, :math:`\mathcal R = \sum_i \ell_i`,
    :math:`\sigma^2 = \mathrm{var}(\ell_i)` and
    :math:`p = \mathrm{erfc}(|\mathcal R| / \sqrt{2 n \sigma^2})`.
    """
    x = check_finite_array("x", x, ndim=1)
    t = x[x >= xmin]
    if alternative == "exponential":
        ll_alt, params = _ll_exponential(t, xmin)
    elif alternative == "lognormal":
        ll_alt, params = _ll_lognormal(t, xmin)
    else:
        raise ValueError(f"alternative must be 'exponential' or 'lognormal', got {alternative!r}")
    diff = _ll_power_law(t, xmin, alpha) - ll_alt
    stat = float(np.sum(diff))
    sd = float(np.std(diff))
    n = len(t)
    if sd == 0.0:
        return LikelihoodRatio(alternative, stat, 0.0, 1.0, params)
    norm = stat / (sd * math.sqrt(n))
    return LikelihoodRatio(
        alternative, stat, norm, float(special.erfc(abs(norm) / math.sqrt(2))), params
    )


# ----------------------------------------------------------------------------
# Consecutive-spacing ratio (Oganesyan & Huse 2007; Atas et al. 2013)
# ----------------------------------------------------------------------------


def spacing_ratios(levels: npt.ArrayLike) -> np.ndarray:
    r"""Consecutive-spacing ratios :math:`\tilde r_i = \min(s_i, s_{i+1})/\max(s_i, s_{i+1})`.

    With :math:`s_i = \lambda_{i+1} - \lambda_i` of the ascending levels; no
    unfolding is needed since the local density cancels.  The mean is
    :data:`RATIO_MEAN_POISSON` :math:`= 2\ln 2 - 1 \approx 0.3863` for
    uncorrelated levels and :data:`RATIO_MEAN_GOE` :math:`\approx 0.5307` for the
    large GOE (surmise value :math:`4 - 2\sqrt 3 \approx 0.5359`).

    Parameters
    ----------
    levels : array_like
        Levels along the last axis, at least 3 per row; sorted here.

    Returns
    -------
    numpy.ndarray
        Ratios, shape ``(..., n - 2)``.
    """
    lv = np.sort(check_finite_array("levels", levels), axis=-1)
    if lv.ndim == 0 or lv.shape[-1] < 3:
        raise ValueError(f"levels must hold at least 3 values along the last axis, got {lv.shape}")
    s = np.diff(lv, axis=-1)
    a, b = s[..., :-1], s[..., 1:]
    hi = np.maximum(a, b)
    lo = np.minimum(a, b)
    if np.any(hi == 0):
        raise ValueError("levels hold three or more equal values; spacing ratios are undefined")
    return lo / hi

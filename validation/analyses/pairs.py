r"""Degenerate pairs at stationarity: one-point densities (two-mode density fits of
pairs, Gaussian fits of single modes, Binder cumulants) and spacings
:math:`S = |x_1 - x_2|` against the Wigner surmise and Poisson; the statistics are
those of :mod:`validation.analyses.compare`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

from fpsolve.analytic import (
    BINDER_GAUSSIAN,
    BINDER_TWO_MODE,
    Estimate,
    poisson_spacing,
    two_mode_density,
    wigner_surmise,
)
from validation._typing import Groups
from validation.analyses._common import (
    _check_recording,
    _ks_entry,
    _ks_one_sample,
    _new_figure,
    _resolve_groups,
    _select,
    _setting_labels,
    _tau,
)
from validation.analyses.stats import (
    Entry,
    _binder_cumulant,
    _blocks,
    _central_moments,
    _jackknife_estimate,
    jackknife_sums,
    run_jackknife,
)
from validation.data.recording import Recording

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

__all__ = ["WIGNER_RATIO", "OnePoint", "Spacings", "one_point", "spacings"]

_SQRT2 = math.sqrt(2.0)
_LOG_2SQRTPI = math.log(2.0 * math.sqrt(math.pi))
_LOG_B = math.log(_SQRT2 / 4.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


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


def _nll_derivatives(x: np.ndarray, loc, sigma) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of the two-mode negative log-likelihood in
    ``theta = (x0, log sigma)``, summed over the last axis of ``x``.

    ``loc`` and ``sigma`` broadcast against ``x[..., :1]`` (one parameter per row);
    returns ``grad`` of shape ``x.shape[:-1] + (2,)`` and ``hess`` ``+ (2, 2)``.
    """
    z = (x - loc) / sigma
    _, g, dg = _two_mode_derivatives(z, second=True)
    s = np.asarray(sigma)[..., 0] if np.ndim(sigma) else sigma
    grad = np.stack([g.sum(axis=-1) / s, x.shape[-1] + (g * z).sum(axis=-1)], axis=-1)
    h11 = -dg.sum(axis=-1) / s**2
    h12 = -(dg * z + g).sum(axis=-1) / s
    h22 = -(dg * z * z + g * z).sum(axis=-1)
    hess = np.stack([np.stack([h11, h12], axis=-1), np.stack([h12, h22], axis=-1)], axis=-2)
    return grad, hess


def _two_mode_newton(x: np.ndarray, start) -> np.ndarray | None:
    """Newton iterations of the two-mode likelihood in ``(x0, log sigma)`` from ``start``.

    Returns None when the Hessian is not positive definite or no convergence
    in 20 steps.
    """
    loc, log_sigma = float(start[0]), math.log(float(start[1]))
    for _ in range(20):
        sigma = math.exp(log_sigma)
        grad, ((h11, h12), (_, h22)) = _nll_derivatives(x, loc, sigma)
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


def _moment_estimates(d: np.ndarray) -> tuple[Estimate, Estimate]:
    """Jackknife estimates of ``(mean, std)`` and of the Binder cumulant of the pooled
    values of each run (``d`` of shape ``(R, ...)``), from per-run power sums about the
    overall mean."""
    shift = float(np.mean(d))
    u = d.reshape(d.shape[0], -1) - shift
    sums = np.stack([np.full(u.shape[0], float(u.shape[1]))]
                    + [(u**k).sum(axis=1) for k in (1, 2, 3, 4)], axis=1)  # fmt: skip

    def gaussian(tot):
        m1, p2 = tot[:, 1] / tot[:, 0], tot[:, 2] / tot[:, 0]
        return np.stack([shift + m1, np.sqrt(p2 - m1 * m1)], axis=1)

    def binder(tot):
        return _binder_cumulant(*_central_moments(*(tot[:, k] / tot[:, 0] for k in (1, 2, 3, 4))))

    return jackknife_sums(sums, gaussian), jackknife_sums(sums, binder)


def _two_mode_estimate(d: np.ndarray, n_blocks: int | None = None) -> Estimate:
    r"""Two-mode fit of the pooled values of all runs (``d`` of shape ``(R, ...)``) with
    its jackknife error over runs (:func:`~validation.analyses.stats.run_jackknife`).

    The leave-one-block-out fits are computed together: the likelihood of the remaining
    runs is that of all runs (its gradient and Hessian expanded to second order about
    the full fit :math:`\hat\theta`, the third derivatives by central differences of
    the Hessian) minus that of the block (exact).  Newton's method on it converges to
    the refit up to third order in :math:`\theta_{(b)} - \hat\theta`; the cost is a
    few passes over the data instead of one fit per block.  If a Hessian is not positive
    definite, every block is refit directly.
    """
    full = _fit_two_mode(d)
    x = d.reshape(d.shape[0], -1)
    edges = _blocks(x.shape[0], n_blocks)
    used = x[: edges[-1]]
    theta = np.array([full[0], math.log(full[1])])

    def at(th):  # gradient and Hessian of the used runs at theta
        grad, hess = _nll_derivatives(used.reshape(1, -1), th[0], math.exp(th[1]))
        return grad[0], hess[0]

    g0, h0 = at(theta)
    step = np.array([1e-4 * full[1], 1e-4])
    third = np.stack(
        [(at(theta + e)[1] - at(theta - e)[1]) / (2 * e[k]) for k, e in enumerate(np.diag(step))]
    )  # third[k] = dH/dtheta_k
    block_of_run = np.repeat(np.arange(len(edges) - 1), np.diff(edges))
    th = np.tile(theta, (len(edges) - 1, 1))
    for _ in range(4):
        delta = th - theta
        loc = th[block_of_run, :1]
        sigma = np.exp(th[block_of_run, 1:])
        gr, hr = _nll_derivatives(used, loc, sigma)
        g_blk = np.add.reduceat(gr, edges[:-1], axis=0)
        h_blk = np.add.reduceat(hr, edges[:-1], axis=0)
        dh = np.einsum("bk,kij->bij", delta, third)
        grad = g0 + delta @ h0 + 0.5 * np.einsum("bij,bj->bi", dh, delta) - g_blk
        hess = h0 + dh - h_blk
        det = hess[:, 0, 0] * hess[:, 1, 1] - hess[:, 0, 1] ** 2
        if not np.all((hess[:, 0, 0] > 0) & (det > 0)):
            est = run_jackknife(lambda s: _fit_two_mode(s, start=full), d, n_blocks=n_blocks)
            return Estimate(full, est.error)  # type: ignore[arg-type]  # per-component errors
        th = th - np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
    return _jackknife_estimate(full, np.stack([th[:, 0], np.exp(th[:, 1])], axis=1))


def _span(steps) -> dict:
    """Short context of the snapshots used: how many, first and last step."""
    return {"snapshots": len(steps), "first_step": int(steps[0]), "last_step": int(steps[-1])}


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
    titles : tuple of str
        A title per group in words (``pair (1, 2): kappa = 4.38``).
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
    titles: tuple = ()

    def entries(self) -> list[Entry]:
        """Position, width (measured), Binder cumulant (vs -4/27 or 0) per group, and for pairs
        the Gaussian null model (Binder 0, no repulsion), expected to be rejected."""
        out = []
        span = _span(self.steps)
        for i, g in enumerate(self.groups):
            pair = len(g) == 2
            ctx = {
                **self.setting,
                "modes": list(g),
                "fit": "two-mode density (ML)" if pair else "Gaussian",
                "tau_int": float(self.tau[i]),
                **span,
            }
            ne = float(self.n_eff[i])
            label = f"pair {tuple(g)}" if pair else f"mode {g[0]}"
            binder = (self.binder[i], self.binder_error[i])
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
                    *binder,
                    BINDER_TWO_MODE if pair else BINDER_GAUSSIAN,
                    n_eff=ne,
                    model="two-mode density (U4 = -4/27)" if pair else "Gaussian mode (U4 = 0)",
                    **ctx,
                ),
            ]
            if pair:
                out.append(
                    Entry.compare(
                        "one_point",
                        f"Gaussian null: Binder U4 {label}",
                        *binder,
                        BINDER_GAUSSIAN,
                        n_eff=ne,
                        kind="null",
                        model="Gaussian without repulsion (U4 = 0)",
                        **ctx,
                    )
                )
        return out

    def plot(self, ax: Axes | None = None) -> FigureBase:
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
            ax.set_xlabel(r"$(x - x_0)/\sigma$, pooled over pairs")
            return ax.figure
        fig, axes = _new_figure(len(self.groups))
        titles = self.titles or _group_titles(None, self.groups)
        for i, (a, g) in enumerate(zip(axes, self.groups, strict=True)):
            _one_point_panel(a, self.values[i], self.loc[i], self.sigma[i], len(g) == 2, titles[i])
        return fig


def _group_titles(rec, groups) -> tuple[str, ...]:
    """``pair (1, 2): kappa = 4.38`` / ``mode 0: kappa = 8`` (kappa for RBM recordings)."""
    kappa = None
    if rec is not None and rec.attrs.get("model") == "gaussian_rbm":
        try:
            kappa = [m.kappa for m in rec.rbm_modes(convention="talk")]
        except ValueError:
            kappa = None
    out = []
    for g in groups:
        name = f"pair ({g[0]}, {g[1]})" if len(g) == 2 else (
            f"mode {g[0]}" if len(g) == 1 else f"modes {', '.join(map(str, g))}"
        )  # fmt: skip
        if kappa is not None:
            name += f": $\\kappa$ = {kappa[g[0]]:.3g}"
        out.append(name)
    return tuple(out)


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
    ax.set_title(title)
    ax.set_xlabel("eigenvalue $x$ (both modes pooled)" if pair else "eigenvalue $x$")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)


def one_point(
    rec: Recording,
    *,
    groups: Groups | None = None,
    burn_in: float | None = None,
    snapshots: ArrayLike | None = None,
) -> OnePoint:
    r"""Fit the pooled one-point density of every degenerate pair and single mode.

    A degenerate pair (both modes pooled, never sorted into modes by hand) is
    fit by maximum likelihood with the two-mode density :eq:`eq-two-mode-density`
    (:math:`u = x - x_0`)

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
        gauss, bind = _moment_estimates(d)
        est = _two_mode_estimate(d) if len(g) == 2 else gauss
        tau = max(_tau(d[:, :, j]) for j in range(len(g)))
        value, error = np.asarray(est.value), np.asarray(est.error)
        for key, v in zip(
            cols,
            (
                value[0],
                error[0],
                value[1],
                error[1],
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
        setting=_setting_labels(rec),
        titles=_group_titles(rec, groups),
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
    ks_wigner: tuple[float, float, float]
    ks_poisson: tuple[float, float, float]
    setting: dict = field(default_factory=dict)

    def entries(self) -> list[Entry]:
        """<S>, sigma, <S^2>/<S>^2 per pair; KS of pooled s vs Wigner and (null) Poisson."""
        out = []
        span = _span(self.steps)
        for i, p in enumerate(self.pairs):
            ctx = {**self.setting, "modes": list(p), "tau_int": float(self.tau[i]), **span}
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
                    model="Wigner surmise (beta=1): 4/pi",
                    **ctx,
                ),
            ]
        ctx = {
            **self.setting,
            "pairs": [list(p) for p in self.pairs],
            **span,
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
                model="Wigner surmise (beta=1)",
                **ctx,
            ),
            _ks_entry(
                "spacing",
                "KS D of s vs Poisson",
                *self.ks_poisson,
                self.s.size,
                ne,
                kind="null",
                model="Poisson (no repulsion)",
                **ctx,
            ),
        ]
        return out

    def plot(self, ax: Axes | None = None) -> FigureBase:
        """Histogram of :math:`P(s)` with the Wigner surmises (beta 1, 2, 4) and Poisson."""
        if ax is None:
            _, (ax,) = _new_figure(1)
        hi = max(3.5, float(np.quantile(self.s, 0.999)))
        ax.hist(
            self.s,
            bins=np.linspace(0, hi, 50).tolist(),
            density=True,
            alpha=0.45,
            label=f"recorded, {len(self.pairs)} pair(s)",
        )
        grid = np.linspace(0, hi, 400)
        for beta, style in ((1, "r-"), (2, "g--"), (4, "b:")):
            ax.plot(grid, wigner_surmise(beta).pdf(grid), style, label=f"Wigner beta={beta}")
        ax.plot(grid, poisson_spacing().pdf(grid), "k-.", lw=0.8, label="Poisson")
        ax.set_xlabel(r"normalised spacing $s = S/\langle S\rangle$")
        ax.set_ylabel("$P(s)$")
        ax.set_title(
            f"KS p = {self.ks_wigner[1]:.2g} (Wigner $\\beta$=1), "
            f"{self.ks_poisson[1]:.2g} (Poisson)"
        )
        ax.legend(fontsize=7)
        return ax.figure


def spacings(
    rec: Recording,
    *,
    groups: Groups | None = None,
    burn_in: float | None = None,
    snapshots: ArrayLike | None = None,
) -> Spacings:
    r"""Level spacings of degenerate pairs against the Wigner surmise and Poisson.

    For each pair :math:`S = |x_1 - x_2|` at every selected snapshot of every
    run.  For two modes of width :math:`\sigma` with :math:`\beta = 1`
    repulsion (the Wigner surmise :eq:`eq-wigner-surmise`)

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
    # <S> and <S^2>/<S>^2 of each pair, jackknife over runs in one pass over per-run sums
    count = np.full((r, spacing.shape[2]), float(t))
    per_run = np.stack([count, spacing.sum(axis=1), (spacing**2).sum(axis=1)], axis=1)

    def finish(tot):  # (m, 3, pairs) -> (m, 2, pairs)
        m1, m2 = tot[:, 1] / tot[:, 0], tot[:, 2] / tot[:, 0]
        return np.stack([m1, m2 / (m1 * m1)], axis=1)

    est = jackknife_sums(per_run, finish)
    value, error = np.asarray(est.value), np.asarray(est.error)
    mean, ratio, mean_error, ratio_error = value[0], value[1], error[0], error[1]
    tau = np.array([_tau(spacing[:, :, p]) for p in range(len(pairs))])
    n_eff = r * t / tau
    s = (spacing / mean).reshape(-1)
    return Spacings(
        pairs=pairs,
        snapshots=idx,
        steps=np.asarray(rec.steps)[idx],
        n_runs=r,
        spacing=spacing,
        mean=mean,
        mean_error=mean_error,
        sigma=mean / math.sqrt(math.pi),
        sigma_error=mean_error / math.sqrt(math.pi),
        ratio=ratio,
        ratio_error=ratio_error,
        tau=tau,
        n_eff=n_eff,
        s=s,
        ks_wigner=_ks_one_sample(s, wigner_surmise(1).cdf, float(np.sum(n_eff))),
        ks_poisson=_ks_one_sample(s, poisson_spacing().cdf, float(np.sum(n_eff))),
        setting=_setting_labels(rec),
    )

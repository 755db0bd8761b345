r"""Recorded eigenvalue dynamics against the DBM ensemble, the one-mode FPE and H_FP.

For every eigenvalue index ``a`` (ascending :math:`x_a` of :math:`X = W^T W`)
the recording gives, at each snapshot step, the mean :math:`\langle x_a\rangle`
and the width (standard deviation over runs) with jackknife errors over runs.
They are compared with

(a) the DBM ensemble, started from the recorded initial eigenvalues of each
    run and recorded at the recording's steps: the SGD map of
    :func:`fpsolve.dbm.simulate_sgd`.  For Gaussian-RBM recordings (no
    ``modes`` or ``gt2`` given) it is the map of
    :func:`validation.analyses.predict.predict`, with the state-dependent noise
    :class:`fpsolve.models.PCDNoise`: the RBM drift in the ``"training"``
    convention (drift per unit :math:`\alpha`,
    :math:`K = 2\sigma_h^2 x(1/\kappa - 1/(\mu^2 - \sigma_h^2 x))`), the PCD noise
    and pair coupling :math:`\tilde G_{ab}(x)` of
    :func:`fpsolve.models.rbm_pcd_noise` evaluated at the current eigenvalues
    (with the chain factor of the recording's ``k``), Coulomb repulsion between
    all modes, and near-collisions stepped exactly (as 2 x 2 blocks or as a
    matrix, see :func:`fpsolve.dbm.simulate_sgd`), so eigenvalues never cross.
    Replicas that leave the domain are counted and left out.
    With user-given ``modes`` or ``gt2`` it is the map with constant noise,

    .. math::

        x_i' = x_i + \alpha K_i(x_i) + \frac{\alpha^2}{|B|}\sum_{j\ne i}
        \frac{\tilde g_i^2}{x_i - x_j} + \frac{\alpha}{\sqrt{|B|}}\sqrt2\,\tilde g_i\,\eta_i,

    with constant :math:`\tilde g_i^2`; that map is not corrected when it breaks
    the ordering: each replica's snapshot is compared as the ascending set of
    its eigenvalues, like the recorded spectrum;

(b) the one-mode Fokker-Planck equation of :mod:`fpsolve.fokker_planck` for
    each index, time :math:`t = \alpha\,(\text{step} - \text{step}_0)` and
    :math:`g_a^2 = \alpha\tilde g_a^2/|B|`, started from the recorded initial
    distribution of that index.  It has no repulsion: it describes an index
    whose neighbours are far compared with its width (and the pooled mean of a
    degenerate group), not the splitting of a degenerate group nor the crowded
    start near :math:`x = 0`.

Escape from the initial region.  Near the unstable fixed point :math:`x = 0`
the drift is linear, :math:`K \approx r x` with
:math:`r = c\,(1/\kappa - 1/\mu^2)` (:math:`c = 2\sigma_h^2` in the training
convention), so the typical eigenvalue grows as :math:`e^{r t}`.  The
measured escape rate of index ``a`` is the least-squares slope of
:math:`\log\operatorname{median}_{runs} x_a` against :math:`t` over the
snapshots whose median lies in the window
:math:`[f_{lo}, f_{hi}]\, x_{s,a}` (``escape_window``), with a jackknife error
over runs; the escape time is its inverse.  At small :math:`g^2` the lowest
excitation of :math:`H_{FP}` lives near :math:`x = 0` with
:math:`E_1 \to |V''(0)|/2 = r/2`, so the prediction is
:math:`\tau = 1/(2E_1)` from :func:`fpsolve.hfp.hfp_spectrum` of the mode at
its :math:`g_a^2`.  The relation is asymptotic (:math:`g^2 \to 0`,
:math:`x \to 0`): inside the window the local growth rate of the drift is
smaller than :math:`r` by at most the fraction :math:`f_{hi}`, which is
carried as the prediction's error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.checks import as_rng, check_finite_array, check_int
from fpsolve.dbm import Record, simulate_sgd
from fpsolve.models import Model, Modes, PCDNoise, RBMModel, rbm_pcd_noise, sgd_g2
from validation._typing import Groups, RNGLike
from validation.analyses.levels import LEVELS
from validation.analyses.stats import Entry, jackknife_sums, run_jackknife
from validation.data.recording import Recording
from validation.data.setting import sgd_rate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

__all__ = ["ANALYSIS", "Dynamics", "dynamics"]

ANALYSIS = "dynamics"
"""The ``analysis`` field of every entry of :class:`Dynamics`."""

_MIN_SNAPSHOTS = 3
_MIN_WINDOW_POINTS = 3


@dataclass(frozen=True, eq=False)
class Dynamics:
    r"""Per-index mean and width against training step, measured and predicted.

    Arrays of shape ``(S, N)`` are indexed ``[snapshot, eigenvalue index]``;
    ``None`` where the corresponding prediction was switched off.

    Attributes
    ----------
    steps : ndarray of int, shape (S,)
        Snapshot steps of the recording.
    t : ndarray, shape (S,)
        FPE/DBM time :math:`t = \alpha\,(\text{step} - \text{step}_0)`.
    mean, mean_error, width, width_error : ndarray, shape (S, N)
        Measured :math:`\langle x_a\rangle` and standard deviation over runs,
        with jackknife errors over runs.
    dbm_mean, dbm_mean_error, dbm_width, dbm_width_error : ndarray or None
        The same for the DBM ensemble (jackknife over replicas).
    fpe_mean, fpe_width : ndarray or None
        Mean and width of the one-mode FPE density of each index.
    chi2_mean, chi2_width : ndarray, shape (N,) or None
        :math:`\chi^2 = \sum_{s \ge 1} (m_s - p_s)^2/(\delta m_s^2 + \delta p_s^2)`
        of measured against DBM over the snapshots after the first.
    chi2_spread_mean, chi2_spread_width : ndarray, shape (N,) or None
        Standard deviation of :math:`\chi^2/\text{dof}` expected under agreement,
        :math:`\sqrt{2\sum_{ss'}\rho_{ss'}^2}/\text{dof}`, with :math:`\rho` the
        correlation of the differences between snapshots (estimated from the runs
        and replicas); :math:`\sqrt{2/\text{dof}}` for uncorrelated snapshots.
    dof : int
        Number of snapshots in each :math:`\chi^2` (``S - 1``).
    escape_rate, escape_rate_error : ndarray, shape (N,)
        Measured growth rate of :math:`\log\operatorname{median} x_a` per unit
        :math:`t`; NaN where fewer than 3 snapshots fall in the window (or the
        mode is not an RBM mode).
    escape_points : ndarray of int, shape (N,)
        Snapshots used in each fit.
    escape_window : ndarray, shape (N, 2)
        The window :math:`[f_{lo}, f_{hi}]\,x_{s,a}` of each index.
    escape_predicted : ndarray, shape (N,)
        :math:`1/(2E_1)` of :math:`H_{FP}` at :math:`g_a^2` (time units of ``t``).
    escape_asymptotic : ndarray, shape (N,)
        :math:`1/|V_a''(0)|`, the :math:`g^2 \to 0` limit of ``escape_predicted``.
    escape_level_position : ndarray, shape (N,)
        :math:`\int x\,\psi_1^2\,dx`: where the level :math:`E_1` lives.
    dbm_escape_rate, dbm_escape_rate_error : ndarray, shape (N,) or None
        The same growth rate measured on the DBM ensemble (same windows).
    modes : Modes
        The model of each index (training convention for RBM recordings).
    groups : tuple of tuple of int
        Indices with a common target.
    gt2, g2 : ndarray, shape (N,)
        :math:`\tilde g_a^2` of the SGD map and :math:`g_a^2 = \alpha\tilde g_a^2/|B|`.
    alpha : float
        Learning rate of the recording.
    batch_size : int
        Batch size of the recording.
    n_runs, n_replicas : int
        Recorded runs and DBM replicas.
    compare_at : tuple of int
        Snapshot indices with per-snapshot entries.
    dbm_crossings : int or None
        Neighbour transpositions in the DBM ensemble (steps of the map that
        broke the ordering).  The run is not corrected; each replica's snapshot
        is compared as the ascending set of its eigenvalues, like the recording.
    dbm_diverged : ndarray of int or None
        Replicas of the DBM ensemble that became non-finite or left a model's
        domain at some snapshot (near-collisions of the map give huge kicks); they
        are left out of every DBM number, and their count is in every entry.  With
        fewer than 2 replicas left every DBM array is None.
    """

    steps: np.ndarray
    t: np.ndarray
    mean: np.ndarray = field(repr=False)
    mean_error: np.ndarray = field(repr=False)
    width: np.ndarray = field(repr=False)
    width_error: np.ndarray = field(repr=False)
    dbm_mean: np.ndarray | None = field(repr=False)
    dbm_mean_error: np.ndarray | None = field(repr=False)
    dbm_width: np.ndarray | None = field(repr=False)
    dbm_width_error: np.ndarray | None = field(repr=False)
    fpe_mean: np.ndarray | None = field(repr=False)
    fpe_width: np.ndarray | None = field(repr=False)
    chi2_mean: np.ndarray | None
    chi2_width: np.ndarray | None
    chi2_spread_mean: np.ndarray | None = field(repr=False)
    chi2_spread_width: np.ndarray | None = field(repr=False)
    dof: int
    escape_rate: np.ndarray
    escape_rate_error: np.ndarray
    escape_points: np.ndarray = field(repr=False)
    escape_window: np.ndarray = field(repr=False)
    escape_predicted: np.ndarray
    escape_asymptotic: np.ndarray = field(repr=False)
    escape_level_position: np.ndarray = field(repr=False)
    dbm_escape_rate: np.ndarray | None = field(repr=False)
    dbm_escape_rate_error: np.ndarray | None = field(repr=False)
    modes: Modes = field(repr=False)
    groups: tuple
    gt2: np.ndarray
    g2: np.ndarray
    alpha: float
    batch_size: int
    n_runs: int
    n_replicas: int
    compare_at: tuple
    dbm_crossings: int | None = None
    dbm_diverged: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_modes(self) -> int:
        """Number of eigenvalue indices ``N``."""
        return self.mean.shape[1]

    @property
    def escape_time(self) -> np.ndarray:
        r"""Measured escape time :math:`1/r` (units of ``t``), NaN where not measured."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / self.escape_rate

    @property
    def escape_time_error(self) -> np.ndarray:
        r""":math:`\delta r / r^2`."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.escape_rate_error / self.escape_rate**2

    def entries(self) -> list[Entry]:
        """Every number with its error, prediction and verdict (see the module docstring)."""
        out: list[Entry] = []
        ctx: dict[str, Any] = {"alpha": self.alpha, "batch_size": self.batch_size}
        if self.dbm_diverged is not None:
            ctx["dbm_replicas"] = self.n_replicas
            ctx["dbm_diverged"] = int(self.dbm_diverged.size)
        dbm_model: dict[str, Any] = {
            "model": f"{LEVELS['dbm'][1]} from the recorded start",
            "level": LEVELS["dbm"][0],
        }
        for a in range(self.n_modes):
            for s in self.compare_at:
                step = int(self.steps[s])
                for name, m, dm, p, dp, fp in (
                    (
                        "mean",
                        self.mean,
                        self.mean_error,
                        self.dbm_mean,
                        self.dbm_mean_error,
                        self.fpe_mean,
                    ),
                    (
                        "width",
                        self.width,
                        self.width_error,
                        self.dbm_width,
                        self.dbm_width_error,
                        self.fpe_width,
                    ),
                ):
                    extra: dict[str, Any] = {} if fp is None else {"fpe": float(fp[s, a])}
                    out.append(
                        Entry.compare(
                            ANALYSIS,
                            f"{name} x[{a}] at step {step} vs DBM",
                            m[s, a],
                            dm[s, a],
                            None if p is None else p[s, a],
                            0.0 if dp is None else dp[s, a],
                            n_eff=self.n_runs,
                            mode=a,
                            step=step,
                            snapshot=int(s),
                            **dbm_model,
                            **extra,
                            **ctx,
                        )
                    )
            for name, chi2, spread in (
                ("mean", self.chi2_mean, self.chi2_spread_mean),
                ("width", self.chi2_width, self.chi2_spread_width),
            ):
                if chi2 is None or spread is None:
                    continue
                if not (math.isfinite(chi2[a]) and math.isfinite(spread[a])):
                    out.append(
                        Entry.compare(
                            ANALYSIS,
                            f"chi2/dof {name} x[{a}] curve vs DBM",
                            math.nan,
                            math.nan,
                            mode=a,
                            error_note="a snapshot with zero error on both sides and a "
                            "difference makes chi2 infinite",
                            **ctx,
                        )
                    )
                    continue
                out.append(
                    Entry.compare(
                        ANALYSIS,
                        f"chi2/dof {name} x[{a}] curve vs DBM",
                        chi2[a] / self.dof,
                        spread[a],
                        1.0,
                        0.0,
                        n_eff=self.dof,
                        **dbm_model,
                        test_statistic=True,
                        mode=a,
                        dof=self.dof,
                        error_meaning="spread of chi2/dof expected under agreement",
                        **ctx,
                    )
                )
            rate = self.escape_rate[a]
            if not math.isfinite(rate) or rate <= 0:
                out.append(
                    Entry.compare(
                        ANALYSIS,
                        f"escape time x[{a}]",
                        math.nan,
                        math.nan,
                        n_eff=self.n_runs,
                        mode=a,
                        error_note=(
                            f"{int(self.escape_points[a])} snapshots with median x[{a}] in "
                            f"the window {self.escape_window[a].tolist()} (need "
                            f"{_MIN_WINDOW_POINTS}) or no growth"
                        ),
                        predicted_time=float(self.escape_predicted[a]),
                        **ctx,
                    )
                )
                continue
            pred = float(self.escape_predicted[a])
            f_hi = float(self.escape_window[a, 1] / self.modes[a].x_stable)
            extra = {}
            if self.dbm_escape_rate is not None and math.isfinite(self.dbm_escape_rate[a]):
                extra["dbm_time"] = float(1.0 / self.dbm_escape_rate[a])
            out.append(
                Entry.compare(
                    ANALYSIS,
                    f"escape time x[{a}] vs 1/(2 E_1)",
                    self.escape_time[a],
                    self.escape_time_error[a],
                    pred,
                    f_hi * pred,
                    n_eff=self.n_runs,
                    model="1/(2 E_1) of H_FP",
                    mode=a,
                    units="t = alpha * step",
                    window=self.escape_window[a],
                    n_points=int(self.escape_points[a]),
                    asymptotic=float(self.escape_asymptotic[a]),
                    predicted_error_meaning="nonlinear correction bound f_hi * prediction",
                    **extra,
                    **ctx,
                )
            )
        return out

    def plot(self, ax: Axes | None = None) -> FigureBase:
        """Mean +- width bands vs step with DBM and FPE curves; escape times.

        With ``ax=None`` a figure with one panel per group of indices plus a
        panel of escape times (measured against :math:`1/(2E_1)`) is made;
        with ``ax`` given every curve goes on that axes.  Returns the Figure.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            n_panels = len(self.groups) + 1
            ncols = min(3, n_panels)
            nrows = -(-n_panels // ncols)
            fig, axes = plt.subplots(
                nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False
            )
            axes = axes.ravel()
            for k, grp in enumerate(self.groups):
                self._plot_curves(axes[k], grp)
                axes[k].set_title(self._group_title(grp))
            self._plot_escape(axes[len(self.groups)])
            for extra in axes[n_panels:]:
                extra.set_visible(False)
            if self.dbm_diverged is not None and self.dbm_diverged.size:
                fig.suptitle(
                    f"DBM: {self.dbm_diverged.size} of {self.n_replicas} replicas diverged "
                    f"and are left out",
                    fontsize="small",
                )
            fig.tight_layout()
            return fig
        self._plot_curves(ax, tuple(range(self.n_modes)))
        return ax.figure

    def _group_title(self, grp) -> str:
        kappa = getattr(self.modes[grp[0]], "kappa", None)
        name = f"mode {grp[0]}" if len(grp) == 1 else f"modes {', '.join(map(str, grp))}"
        return name if kappa is None else f"{name}: $\\kappa$ = {kappa:.3g}"

    def _plot_curves(self, ax, grp):
        colors = [f"C{k % 10}" for k in range(len(grp))]
        for c, a in zip(colors, grp, strict=True):
            ax.plot(self.steps, self.mean[:, a], color=c, lw=1.2, label=f"measured x[{a}]")
            ax.fill_between(
                self.steps,
                self.mean[:, a] - self.width[:, a],
                self.mean[:, a] + self.width[:, a],
                color=c,
                alpha=0.2,
                lw=0,
            )
            if self.dbm_mean is not None:
                ax.plot(self.steps, self.dbm_mean[:, a], color=c, ls="--", lw=1.0)
                ax.plot(
                    self.steps, self.dbm_mean[:, a] - self.dbm_width[:, a], color=c, ls="--", lw=0.5
                )
                ax.plot(
                    self.steps, self.dbm_mean[:, a] + self.dbm_width[:, a], color=c, ls="--", lw=0.5
                )
            if self.fpe_mean is not None:
                ax.plot(self.steps, self.fpe_mean[:, a], color=c, ls=":", lw=1.2)
        ax.plot([], [], color="k", ls="--", label="DBM (mean, mean ± width)")
        ax.plot([], [], color="k", ls=":", label="one-mode FPE (mean)")
        ax.set_xlabel("step")
        ax.set_ylabel("$x$ (band: mean ± width)")
        ax.legend(fontsize="x-small")

    def _plot_escape(self, ax):
        ok = np.isfinite(self.escape_rate) & (self.escape_rate > 0)
        idx = np.flatnonzero(ok)
        ax.errorbar(
            self.escape_predicted[idx],
            self.escape_time[idx],
            yerr=self.escape_time_error[idx],
            fmt="o",
            ms=4,
            label="measured",
        )
        if self.dbm_escape_rate is not None:
            d_ok = ok & np.isfinite(self.dbm_escape_rate) & (self.dbm_escape_rate > 0)
            ax.plot(self.escape_predicted[d_ok], 1.0 / self.dbm_escape_rate[d_ok], "x", label="DBM")
        for a in idx:
            ax.annotate(
                str(a),
                (self.escape_predicted[a], self.escape_time[a]),
                fontsize="x-small",
                xytext=(3, 3),
                textcoords="offset points",
            )
        if idx.size:
            lim = [0.0, 1.2 * float(np.nanmax(self.escape_predicted[idx]))]
            ax.plot(lim, lim, color="0.5", lw=0.8, label="measured = $1/(2E_1)$")
        ax.set_xlabel("$1/(2E_1)$ (units of $t = \\alpha\\,$step)")
        ax.set_ylabel("escape time $1/r$")
        ax.set_title("escape from the initial region", fontsize="small")
        ax.legend(fontsize="x-small")


# ------------------------------------------------------------------------------ checks
def _check_recording(recording) -> Recording:
    if not isinstance(recording, Recording):
        raise TypeError(
            f"recording must be a validation.data.recording.Recording, "
            f"got {type(recording).__name__}"
        )
    r, s, _ = recording.eigenvalues.shape
    if s < _MIN_SNAPSHOTS:
        raise ValueError(
            f"recording must hold at least {_MIN_SNAPSHOTS} snapshots (an initial one and "
            f"a curve after it), got {s}"
        )
    if r < 2:
        raise ValueError(f"recording must hold at least 2 runs (errors are over runs), got {r}")
    eig = recording.eigenvalues
    if not np.all(np.isfinite(eig)):
        run, snap, mode = (int(i) for i in np.argwhere(~np.isfinite(eig))[0])
        raise ValueError(
            f"recording eigenvalues hold a non-finite value at run {run}, snapshot {snap}, "
            f"mode {mode}"
        )
    return recording


def _check_modes(recording: Recording, modes) -> Modes:
    n = recording.n_modes
    if modes is None:
        if recording.attrs.get("model") != "gaussian_rbm":
            raise ValueError(
                f"modes is required for a recording with model="
                f"{recording.attrs.get('model')!r} (only Gaussian-RBM recordings define their "
                f"modes); pass modes=fpsolve.models.Modes([...]) with {n} models"
            )
        return recording.rbm_modes(convention="training")
    if isinstance(modes, Model):
        modes = Modes([modes])
    if not isinstance(modes, Modes):
        raise TypeError(f"modes must be a fpsolve.models.Modes, got {type(modes).__name__}")
    if len(modes) != n:
        raise ValueError(f"modes must hold one model per eigenvalue index ({n}), got {len(modes)}")
    return modes


def _check_groups(recording: Recording, modes: Modes, groups) -> tuple:
    n = recording.n_modes
    if groups is None:
        try:
            return recording.mode_groups()
        except ValueError:
            return tuple(tuple(g) for g in modes.degenerate_groups())
    try:
        out = tuple(tuple(int(i) for i in g) for g in groups)
    except TypeError as exc:
        raise TypeError(f"groups must be a sequence of sequences of int, got {groups!r}") from exc
    flat = sorted(i for g in out for i in g)
    if flat != list(range(n)) or any(len(g) == 0 for g in out):
        raise ValueError(
            f"groups must partition the indices 0..{n - 1} (each exactly once), got {groups!r}"
        )
    return out


def _setting(recording: Recording) -> tuple[float, int, int | None]:
    """``(alpha, batch_size, k)`` of a recording; ``k`` (Gibbs sweeps) None when not recorded."""
    attrs = recording.attrs
    if attrs.get("model") == "gaussian_rbm":
        setting = recording.rbm_setting()
        alpha, batch_size, k = setting.alpha, setting.batch_size, setting.k
    else:
        alpha, batch_size = sgd_rate(attrs)
        k = attrs.get("k")
        k = None if k is None else check_int("recording attribute 'k'", k, minimum=1)
    if alpha == 0:
        raise ValueError(
            "recording attribute 'alpha' must be > 0 (the time t = alpha * step needs it), got 0.0"
        )
    return alpha, batch_size, k


def _check_gt2(modes: Modes, gt2, k: int | None) -> np.ndarray:
    n = len(modes)
    if gt2 is None:
        if not all(isinstance(m, RBMModel) for m in modes):
            raise ValueError(
                "gt2 is required when the modes are not all RBMModel (the PCD noise model "
                "fpsolve.models.rbm_pcd_noise only applies to the Gaussian RBM)"
            )
        return rbm_pcd_noise(modes, k=k).gt2
    arr = check_finite_array("gt2", gt2)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"gt2 must be a scalar or have shape ({n},), got {arr.shape}")
    if np.any(arr <= 0):
        k = int(np.argmax(arr <= 0))
        raise ValueError(f"gt2 must be > 0, got {arr[k]!r} for index {k}")
    return arr


def _check_x0(x0: np.ndarray, modes: Modes) -> None:
    for a, m in enumerate(modes):
        lo, hi = m.domain
        kinds = m.boundaries
        ok = (x0[:, a] > lo) if kinds[0] == "wall" else (x0[:, a] >= lo)
        ok &= (x0[:, a] < hi) if kinds[1] == "wall" else (x0[:, a] <= hi)
        if not np.all(ok):
            run = int(np.argmin(ok))
            raise ValueError(
                f"recorded initial eigenvalue of run {run}, index {a} is {x0[run, a]!r}, "
                f"outside the domain {m.domain} of {m!r}; the DBM and the FPE cannot start there"
            )
    if x0.shape[1] > 1 and np.any(np.diff(x0, axis=1) <= 0):
        run = int(np.argmax(np.any(np.diff(x0, axis=1) <= 0, axis=1)))
        raise ValueError(
            f"recorded initial eigenvalues of run {run} are not strictly ascending "
            f"({x0[run].tolist()}); the DBM pair term is singular at coinciding values"
        )


def _check_window(escape_window) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in escape_window)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"escape_window must be a pair (f_lo, f_hi) of fractions of x_s, got {escape_window!r}"
        ) from exc
    if not (0 < lo < hi < 1):
        raise ValueError(f"escape_window must satisfy 0 < f_lo < f_hi < 1, got {escape_window!r}")
    return lo, hi


# ------------------------------------------------------------------------------ pieces
def _moments(x) -> tuple[np.ndarray, ...]:
    """Mean and standard deviation (``ddof=1``) over the runs of ``x`` (runs, S, N) at
    every snapshot and index, each with its jackknife error over runs (in one pass, from
    per-run powers about the overall mean: :func:`jackknife_sums`)."""
    shift = x.mean(axis=0)
    d = x - shift
    per_run = np.stack([np.ones_like(d), d, d * d], axis=1)  # (runs, 3, S, N)

    def finish(tot):
        n, s1, s2 = tot[:, 0], tot[:, 1], tot[:, 2]
        return np.stack([shift + s1 / n, np.sqrt((s2 - s1 * s1 / n) / (n - 1))], axis=1)

    est = jackknife_sums(per_run, finish)
    value, error = np.asarray(est.value), np.asarray(est.error)
    return value[0], error[0], value[1], error[1]


def _corr_of_estimates(x, kind: str) -> np.ndarray:
    """Covariance over snapshots (S, S, N) of the mean (or width) estimates of x (R, S, N)."""
    r = x.shape[0]
    d = x - x.mean(axis=0)
    if kind == "width":
        d = d**2
        d = d - d.mean(axis=0)
    per_mode = np.ascontiguousarray(d.transpose(2, 1, 0))  # (N, S, R): one product per mode
    return (per_mode @ per_mode.transpose(0, 2, 1)).transpose(1, 2, 0) / ((r - 1) * r)


def _chi2(m, dm, p, dp, cov_m, cov_p) -> tuple[np.ndarray, np.ndarray]:
    """chi^2 over snapshots 1.. and the spread of chi^2/dof expected under agreement."""
    d = (m - p)[1:]
    var = (dm**2 + dp**2)[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = np.sum(d**2 / var, axis=0)
    cov = (cov_m + cov_p)[1:, 1:]
    diag = np.sqrt(np.einsum("ssa->sa", cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = cov / (diag[:, None, :] * diag[None, :, :])
    rho = np.nan_to_num(rho)
    dof = d.shape[0]
    spread = np.sqrt(2.0 * np.sum(rho**2, axis=(0, 1))) / dof
    return chi2, spread


def _inside(x, modes: Modes) -> np.ndarray:
    """Replicas of x (R, S, N) finite and inside every model's domain at every snapshot."""
    ok = np.all(np.isfinite(x), axis=(1, 2))
    for a, m in enumerate(modes):
        lo, hi = m.domain
        with np.errstate(invalid="ignore"):
            ok &= np.all((x[:, :, a] >= lo) & (x[:, :, a] <= hi), axis=1)
    return ok


def _log_median_slopes(x, t):
    """Least-squares slope of log(median over the runs) against t of each sample of x
    (m, runs, k); NaN where a median is not positive."""
    med = np.median(x, axis=1)
    bad = np.any(med <= 0, axis=1)
    slope = np.polyfit(t, np.log(np.where(bad[:, None], 1.0, med)).T, 1)[0]
    return np.where(bad, math.nan, slope)


def _window_points(med: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """First contiguous run of snapshots with lo <= med <= hi."""
    inside = (med >= lo) & (med <= hi)
    if not inside.any():
        return np.zeros(0, dtype=int)
    start = int(np.argmax(inside))
    stop = start
    while stop < inside.size and inside[stop]:
        stop += 1
    return np.arange(start, stop)


def _escape(x, t, windows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Growth rate of log median x_a per unit t in each window, with jackknife errors."""
    n = x.shape[2]
    rate = np.full(n, math.nan)
    err = np.full(n, math.nan)
    npts = np.zeros(n, dtype=np.int64)
    for a in range(n):
        lo, hi = windows[a]
        if not math.isfinite(lo):
            continue
        pts = _window_points(np.median(x[:, :, a], axis=0), lo, hi)
        npts[a] = pts.size
        if pts.size < _MIN_WINDOW_POINTS:
            continue
        sub = x[:, pts, a]
        tt = t[pts]
        est = run_jackknife(lambda y, tt=tt: _log_median_slopes(y, tt), sub, batched=True)
        rate[a], err[a] = est.value, est.error
    return rate, err, npts


def _hfp_escape(modes: Modes, g2: np.ndarray):
    from fpsolve.hfp import hfp_spectrum

    n = len(modes)
    pred = np.full(n, math.nan)
    asym = np.full(n, math.nan)
    pos = np.full(n, math.nan)
    cache: dict = {}
    for a, m in enumerate(modes):
        if not isinstance(m, RBMModel):
            continue
        key = (m.kappa, m.mu2, m.sigma_h2, m.convention, float(g2[a]))
        if key not in cache:
            spec = hfp_spectrum(m, float(g2[a]), 3)
            cache[key] = (spec.relaxation_time, spec.position(1))
        pred[a], pos[a] = cache[key]
        asym[a] = 1.0 / abs(float(m.d2potential(0.0)))
    return pred, asym, pos


def _fpe_curves(
    modes: Modes, g2: np.ndarray, x0: np.ndarray, t: np.ndarray, n_grid: int, tau: np.ndarray
):
    """Mean and width of the one-mode FPE of each index from its recorded start.

    Times beyond 30 slowest relaxation times :math:`1/(2E_1)` (``tau``, NaN where not yet
    known) are evaluated as the stationary state (the remainder is below
    :math:`e^{-30}`); Crank-Nicolson steps are ``0.05 / max|V''|`` over the model's
    fixed points.
    """
    from fpsolve.fokker_planck import evolve, grid
    from fpsolve.hfp import hfp_spectrum

    s, n = t.size, len(modes)
    mean = np.empty((s, n))
    width = np.empty((s, n))
    for a, m in enumerate(modes):
        x = grid(m, float(g2[a]), n=n_grid)
        p0 = _cloud_in_cell(x0[:, a], x, index=a)
        slowest = (
            tau[a] if math.isfinite(tau[a]) else hfp_spectrum(m, float(g2[a]), 2).relaxation_time
        )
        late = t > 30.0 * slowest
        t_eval = np.append(t[~late], np.inf) if late.any() else t
        scale = max((abs(fp.curvature) for fp in m.fixed_points()), default=0.0)
        dt = 0.05 / scale if scale > 0 else None
        ev = evolve(m, float(g2[a]), p0, t_eval, n=n_grid, dt=dt)
        k = np.minimum(np.arange(s), t_eval.size - 1)  # every late time: the stationary state
        mean[:, a] = ev.mean[k]
        width[:, a] = np.sqrt(np.maximum(ev.var[k], 0.0))
    return mean, width


def _cloud_in_cell(values: np.ndarray, x: np.ndarray, *, index: int) -> np.ndarray:
    r"""Density on the cell centres ``x`` of the samples ``values`` by linear assignment.

    A sample between two centres is shared between them in proportion to its
    distance (the mean is kept); a sample in the first (last) half cell goes
    entirely to the first (last) cell.
    """
    h = x[1] - x[0]
    lo_edge, hi_edge = x[0] - h / 2, x[-1] + h / 2
    if np.any(values < lo_edge) or np.any(values > hi_edge):
        bad = float(values[(values < lo_edge) | (values > hi_edge)][0])
        raise ValueError(
            f"recorded initial eigenvalue {bad!r} of index {index} lies outside the FPE grid "
            f"[{lo_edge!r}, {hi_edge!r}] (the grid covers the stationary density); pass "
            f"fpe=False to skip the one-mode FPE"
        )
    u = np.clip((values - x[0]) / h, 0.0, x.size - 1.0)  # only the half cells at the ends
    i = np.minimum(np.floor(u).astype(np.int64), x.size - 2)
    frac = u - i
    w = np.zeros(x.size)
    np.add.at(w, i, 1.0 - frac)
    np.add.at(w, i + 1, frac)
    return w / (values.size * h)


# ------------------------------------------------------------------------------ public
def dynamics(
    recording: Recording,
    *,
    modes: Modes | None = None,
    groups: Groups | None = None,
    gt2: ArrayLike | None = None,
    n_replicas: int | None = None,
    fpe: bool = True,
    dbm: bool = True,
    escape_window: tuple[float, float] = (0.005, 0.05),
    compare_at: Sequence[int] | None = None,
    fpe_n: int = 2000,
    rng: RNGLike = None,
    progress: bool | None = None,
) -> Dynamics:
    r"""Per-index mean and width vs training step against the DBM and the one-mode FPE.

    Time and noise conventions: :math:`t = \alpha\,(\text{step} - \text{step}_0)`
    and :math:`g_a^2 = \alpha\tilde g_a^2/|B|`, with the drift of ``modes`` per
    unit :math:`\alpha` (the ``"training"`` convention of
    :class:`fpsolve.models.RBMModel`: :math:`K = 2\sigma_h^2 x(1/\kappa -
    1/(\mu^2 - \sigma_h^2 x))`).  The DBM ensemble (module docstring) starts
    from the recorded initial eigenvalues (each run's start used by
    ``n_replicas / R`` replicas), the SGD map of :func:`fpsolve.dbm.simulate_sgd`:
    for RBM recordings with the state-dependent PCD noise
    (:class:`fpsolve.models.PCDNoise`, as in :func:`validation.analyses.predict.predict`),
    otherwise with constant ``gt2``.
    The one-mode FPE :math:`\partial_t P = \partial_x[(g_a^2\partial_x - K_a)P]`
    of each index starts from the recorded initial values of that index,
    assigned to the FPE cell centres by linear (cloud-in-cell) weights, which
    keep their mean except for values in the first half cell (resolution: the
    cell width).  The measured escape rate and its prediction
    :math:`1/(2E_1)` are defined in the module docstring.

    Parameters
    ----------
    recording : Recording
        ``R >= 2`` runs, ``S >= 3`` snapshots; attributes ``alpha`` and
        ``batch_size`` (and ``k`` for the chain factor of the RBM noise).
    modes : Modes, optional
        The model of each eigenvalue index; default
        ``recording.rbm_modes(convention="training")`` (RBM recordings only).
    groups : sequence of sequence of int, optional
        Indices with a common target (panels of the plot); default
        ``recording.mode_groups()`` or the degenerate groups of ``modes``.
    gt2 : float or array_like, shape (N,), optional
        :math:`\tilde g_a^2`; default the PCD noise at the fixed points
        (required for non-RBM modes).
    n_replicas : int, optional
        DBM replicas, a multiple of ``R`` (default ``2 R``).
    fpe, dbm : bool, optional
        Compute the one-mode FPE curves / the DBM ensemble.
    escape_window : (float, float), optional
        ``(f_lo, f_hi)``, ``0 < f_lo < f_hi < 1``: the escape fit uses the first
        contiguous snapshots whose median :math:`x_a` lies in
        :math:`[f_{lo}, f_{hi}]\,x_{s,a}`; at least 3 are needed.
    compare_at : sequence of int, optional
        Snapshot indices with per-snapshot entries; default the middle and the
        last snapshot.
    fpe_n : int, optional
        Cells of each FPE grid (:func:`fpsolve.fokker_planck.grid`).
    rng : int, numpy.random.Generator or None
        Seed of the DBM ensemble (SPEC 7).
    progress : bool, optional
        Progress bar of the DBM run.

    Returns
    -------
    Dynamics

    Raises
    ------
    TypeError
        If ``recording`` is not a Recording or ``modes`` not a Modes.
    ValueError
        If the recording has fewer than 3 snapshots or 2 runs, lacks ``alpha`` or
        ``batch_size``, is not an RBM recording and ``modes`` is missing, or its
        initial eigenvalues lie outside the models' domains; for bad options.
    """
    rec = _check_recording(recording)
    rbm_map = modes is None and gt2 is None and rec.attrs.get("model") == "gaussian_rbm"
    modes = _check_modes(rec, modes)
    groups = _check_groups(rec, modes, groups)
    alpha, batch_size, k = _setting(rec)
    gt2 = _check_gt2(modes, gt2, k)
    g2 = np.asarray(sgd_g2(alpha, batch_size, gt2))
    f_lo, f_hi = _check_window(escape_window)
    fpe_n = check_int("fpe_n", fpe_n, minimum=3)
    eig = rec.eigenvalues
    n_runs, n_snap, _ = eig.shape
    if n_replicas is None:
        n_replicas = 2 * n_runs
    n_replicas = check_int("n_replicas", n_replicas, minimum=1)
    if n_replicas % n_runs:
        raise ValueError(
            f"n_replicas must be a multiple of the number of runs {n_runs} (each run's "
            f"start is used equally often), got {n_replicas}"
        )
    if compare_at is None:
        compare_at = (n_snap // 2, n_snap - 1)
    compare_at = tuple(int(s) for s in compare_at)
    if any(not 0 <= s < n_snap for s in compare_at):
        raise ValueError(
            f"compare_at must hold snapshot indices in [0, {n_snap}), got {compare_at}"
        )
    x0 = eig[:, 0, :]
    _check_x0(x0, modes)
    steps = np.asarray(rec.steps, dtype=np.int64)
    rel = steps - steps[0]
    t = alpha * rel

    mean, mean_err, width, width_err = _moments(eig)

    xs = np.array([m.x_stable if isinstance(m, RBMModel) else math.nan for m in modes])
    windows = np.stack([f_lo * xs, f_hi * xs], axis=1)
    rate, rate_err, npts = _escape(eig, t, windows)
    pred, asym, pos = _hfp_escape(modes, g2)

    dbm_out = dict.fromkeys(
        (
            "dbm_mean",
            "dbm_mean_error",
            "dbm_width",
            "dbm_width_error",
            "chi2_mean",
            "chi2_width",
            "chi2_spread_mean",
            "chi2_spread_width",
            "dbm_escape_rate",
            "dbm_escape_rate_error",
            "dbm_crossings",
            "dbm_diverged",
        )
    )
    if dbm:
        noise = None
        if rbm_map:  # the state-dependent PCD noise of the recording's setting
            from validation.analyses.predict import _setting as _rbm_setting

            st = _rbm_setting(rec, "auto")
            noise = PCDNoise(k=st.k, n_v=st.n_v)
        res = simulate_sgd(
            modes,
            alpha=alpha,
            batch_size=batch_size,
            gt2=None if rbm_map else gt2,
            noise=noise,
            x0=np.tile(x0, (n_replicas // n_runs, 1)),
            n_steps=int(rel[-1]),
            n_replicas=n_replicas,
            record=Record(snapshots=tuple(int(s) for s in rel), statistics=False),
            rng=as_rng(rng),
            progress=progress,
        )
        # (replicas, S, N); each snapshot as the ascending set of eigenvalues, like the
        # recording (the map with constant noise can break the ordering: counted in
        # dbm_crossings); replicas that left the domain are NaN from then on
        sim = np.sort(res.snapshots.transpose(1, 0, 2), axis=2)
        ok = _inside(sim, modes)
        diverged = np.flatnonzero(~ok)
        dbm_out.update(dbm_crossings=int(res.pair_crossings), dbm_diverged=diverged)
    if dbm and ok.sum() >= 2:  # otherwise every DBM number stays None (see dbm_diverged)
        sim = sim[ok]
        d_mean, d_mean_err, d_width, d_width_err = _moments(sim)
        chi2_m, spread_m = _chi2(
            mean,
            mean_err,
            d_mean,
            d_mean_err,
            _corr_of_estimates(eig, "mean"),
            _corr_of_estimates(sim, "mean"),
        )
        chi2_w, spread_w = _chi2(
            width,
            width_err,
            d_width,
            d_width_err,
            _corr_of_estimates(eig, "width"),
            _corr_of_estimates(sim, "width"),
        )
        d_rate, d_rate_err, _ = _escape(sim, t, windows)
        dbm_out.update(
            dbm_mean=d_mean,
            dbm_mean_error=d_mean_err,
            dbm_width=d_width,
            dbm_width_error=d_width_err,
            chi2_mean=chi2_m,
            chi2_width=chi2_w,
            chi2_spread_mean=spread_m,
            chi2_spread_width=spread_w,
            dbm_escape_rate=d_rate,
            dbm_escape_rate_error=d_rate_err,
        )
    fpe_mean = fpe_width = None
    if fpe:
        fpe_mean, fpe_width = _fpe_curves(modes, g2, x0, t, fpe_n, pred)

    return Dynamics(
        steps=steps,
        t=t,
        mean=mean,
        mean_error=mean_err,
        width=width,
        width_error=width_err,
        fpe_mean=fpe_mean,
        fpe_width=fpe_width,
        dof=n_snap - 1,
        escape_rate=rate,
        escape_rate_error=rate_err,
        escape_points=npts,
        escape_window=windows,
        escape_predicted=pred,
        escape_asymptotic=asym,
        escape_level_position=pos,
        modes=modes,
        groups=groups,
        gt2=gt2,
        g2=g2,
        alpha=alpha,
        batch_size=batch_size,
        n_runs=n_runs,
        n_replicas=n_replicas if dbm else 0,
        compare_at=compare_at,
        **dbm_out,
    )

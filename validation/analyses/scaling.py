r"""Linear scaling of spacings and widths across a sweep over :math:`\alpha, |B|`
(and the noise :math:`\epsilon` of the teacher-student model): power laws in
:math:`\alpha/|B|`, the collapse of the series and the one-parameter fit
:math:`\langle S_i\rangle = a_{fit}\sqrt{v_i}`; the statistics are those of
:mod:`validation.analyses.compare`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.models import RBMModel
from validation._typing import Groups
from validation.analyses._common import (
    _check_recording,
    _new_figure,
    _resolve_groups,
    _select,
    _setting_labels,
)
from validation.analyses.pairs import OnePoint, Spacings, one_point, spacings
from validation.analyses.stats import Entry
from validation.data.recording import Recording

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

__all__ = [
    "Scaling",
    "default_scaling_variable",
    "rbm_scaling_variable",
    "scaling",
    "teacher_student_scaling_variable",
]


def rbm_scaling_variable(rec: Recording, pair: Sequence[int]) -> float:
    r"""Scaling variable of a Gaussian-RBM pair: :math:`(\alpha/|B|)\,\kappa^2\Omega`.

    In the talk's convention (:class:`fpsolve.models.RBMModel`,
    ``convention="talk"``) :math:`\Omega = (\mu^2 - \kappa)/\kappa^2`, so
    :math:`\kappa^2\Omega = \mu^2 - \kappa`, the paper's
    :math:`\langle S_i\rangle = a_{fit}\sqrt{(\alpha/|B|)\,\kappa_i^2\Omega_i}`.
    """
    setting = rec.rbm_setting()
    mode = cast(RBMModel, setting.modes(convention="talk")[pair[0]])
    return setting.alpha / setting.batch_size * mode.kappa**2 * mode.omega


def teacher_student_scaling_variable(rec: Recording, pair: Sequence[int]) -> float:
    r"""Scaling variable of the teacher-student model: :math:`\alpha\,\epsilon^2/|B|`.

    :math:`\epsilon` is the injected-noise strength (attribute ``noise``).
    """
    del pair
    return (
        float(rec.attrs["alpha"]) * float(rec.attrs["noise"]) ** 2 / float(rec.attrs["batch_size"])
    )


def default_scaling_variable(rec: Recording, pair: Sequence[int]) -> float:
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
                    model="linear scaling rule (slope 1/2)",
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
                model=None if pa is None else "small-noise formula (a)",
                level=None if pa is None else "a",
                chi2=chi2,
                dof=dof,
                n_points=int(self.v.size),
            )
        )
        if dof > 0:
            out.append(
                Entry.compare(
                    name,
                    "chi2/dof of the a_fit",
                    chi2 / dof,
                    math.sqrt(2.0 / dof),
                    1.0,
                    model="one-parameter form <S> = a sqrt(v)",
                    test_statistic=True,
                    dof=dof,
                    error_meaning="spread of chi2/dof expected under agreement",
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
                        model="collapse of the series",
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
                            model="collapse at equal alpha/|B|",
                            recordings=[int(self.recording[i]), int(self.recording[j])],
                            alpha_over_b=float(ratio[i]),
                        )
                    )
        return out

    def plot(self, ax: Axes | None = None) -> FigureBase:
        r"""Log-log :math:`\langle S\rangle` (and, with ``ax=None``, :math:`\sigma`) vs ``v``.

        One colour per recording (setting), one marker per series (alpha: circles,
        batch size: squares, noise: triangles, others: diamonds); the solid line is
        the one-parameter fit :math:`a\sqrt v` (:math:`(a/\sqrt\pi)\sqrt v` for
        :math:`\sigma`), the dashed line the predicted :math:`a` where there is one.
        """
        fig: FigureBase
        axes: Sequence[Axes] | np.ndarray
        if ax is None:
            fig, axes = _new_figure(2)
        else:
            fig, axes = ax.figure, [ax]
        grid = np.geomspace(self.v.min() / 1.15, self.v.max() * 1.15, 50)
        a, da = self.a_fit[:2]
        root_pi = math.sqrt(math.pi)
        panels = (
            (self.mean_s, self.mean_s_error, r"mean spacing $\langle S\rangle$", 1.0,
             self.slope_s),
            (self.sigma, self.sigma_error, r"width $\sigma$ (two-mode fit)", root_pi,
             self.slope_sigma),
        )  # fmt: skip
        markers = {"alpha": "o", "batch_size": "s", "noise": "^"}
        marker_of: dict[Any, str] = {}
        for key, members in self.series.items():
            for m in members:
                marker_of.setdefault(int(m), markers[key])
        for axis, (y, dy, label, scale, slope) in zip(axes, panels, strict=False):
            for k in np.unique(self.recording):
                sel = self.recording == k
                axis.errorbar(
                    self.v[sel],
                    y[sel],
                    dy[sel],
                    fmt=marker_of.get(int(k), "D"),
                    ms=5,
                    capsize=3,
                    elinewidth=1.2,
                    color=f"C{int(k) % 10}",
                    label=_setting_words(self.settings[int(k)]),
                    zorder=3,
                )
            axis.plot(
                grid,
                a / scale * np.sqrt(grid),
                "k-",
                lw=1.0,
                label=f"fit: a = {a:.3g} $\\pm$ {da:.2g}",
                zorder=2,
            )
            if self.predicted_a is not None:
                pa = self.predicted_a[0]
                axis.plot(
                    grid,
                    pa / scale * np.sqrt(grid),
                    "k--",
                    lw=1.0,
                    label=f"predicted: a = {pa:.3g}",
                    zorder=2,
                )
            _log_ticks(axis)
            axis.set_xlabel(r"scaling variable $v = (\alpha/|B|)\,\kappa^2\Omega$")
            axis.set_ylabel(label)
            axis.set_title(f"log-log slope {slope[0]:.3f} $\\pm$ {slope[1]:.2g} (theory 1/2)")
            axis.legend(fontsize=7)
        return fig


def _setting_words(setting: dict) -> str:
    """``alpha = 0.1, |B| = 8`` from a recording's labels."""
    parts = []
    for key, name in (("alpha", r"$\alpha$"), ("batch_size", "$|B|$"), ("noise", "noise")):
        if key in setting:
            parts.append(f"{name} = {float(setting[key]):g}")
    return ", ".join(parts) or "recording"


def _log_ticks(axis) -> None:
    """Log axes with labelled ticks at 1, 2, 3 and 5 times powers of ten (short ranges too)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_xscale("log")
    axis.set_yscale("log")
    for a in (axis.xaxis, axis.yaxis):
        a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
        a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        a.set_minor_formatter(NullFormatter())


def _measured(item, rec, groups, idx, k: int) -> tuple[Spacings, OnePoint]:
    """``measured[k]`` of :func:`scaling`, checked against the recording's pairs and
    snapshots."""
    name = f"measured[{k}]"
    if not (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], Spacings)
        and isinstance(item[1], OnePoint)
    ):
        raise TypeError(f"{name} must be a (Spacings, OnePoint) pair, got {item!r}")
    sp, op = item
    pairs = tuple(g for g in groups if len(g) == 2)
    if sp.pairs != pairs or not set(pairs) <= set(op.groups):
        raise ValueError(
            f"{name} must measure the pairs {pairs} of recordings[{k}], got spacings of "
            f"{sp.pairs} and one-point fits of {op.groups}"
        )
    if not (np.array_equal(sp.snapshots, idx) and np.array_equal(op.snapshots, idx)):
        raise ValueError(
            f"{name} must use the snapshots that burn_in and snapshots select in "
            f"recordings[{k}] ({idx.size} from index {idx[0]})"
        )
    return sp, op


def scaling(
    recordings: Recording | Iterable[Recording],
    *,
    groups: Groups | None = None,
    burn_in: float | None = None,
    snapshots: ArrayLike | None = None,
    variable: Callable[[Recording, Sequence[int]], float] | None = None,
    predicted_a: tuple[float, float] | None = None,
    measured: Sequence[tuple[Spacings, OnePoint]] | None = None,
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
    measured : sequence of (Spacings, OnePoint), optional
        For each recording, its :func:`spacings` and :func:`one_point` with these
        ``groups``, ``burn_in`` and ``snapshots`` (the one-point fit may hold other
        groups too), used instead of measuring them again.

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
    if measured is not None and len(measured) != len(recs):
        raise ValueError(
            f"measured must hold one (Spacings, OnePoint) per recording ({len(recs)}), "
            f"got {len(measured)}"
        )
    settings = []
    for k, rec in enumerate(recs):
        name = f"recordings[{k}]"
        _check_recording(rec, name)
        for key in ("alpha", "batch_size"):
            if key not in rec.attrs:
                raise ValueError(f"{name} has no attribute {key!r} needed for the scaling")
        rec_groups = _resolve_groups(rec, groups, name=f"groups of {name}")
        if measured is None:
            sp = spacings(rec, groups=rec_groups, burn_in=burn_in, snapshots=snapshots)
            op = one_point(rec, groups=sp.pairs, burn_in=burn_in, snapshots=snapshots)
        else:
            sp, op = _measured(measured[k], rec, rec_groups, _select(rec, burn_in, snapshots), k)
        settings.append(
            {key: rec.attrs[key] for key in _SERIES_KEYS if key in rec.attrs} | _setting_labels(rec)
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
                    op.sigma[op.groups.index(pair)],
                    op.sigma_error[op.groups.index(pair)],
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

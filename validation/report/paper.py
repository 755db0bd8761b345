r"""The RBM scaling analysis of arXiv:2407.16427 and the decomposition by prediction level.

The paper trains the Gaussian RBM of docs/theory.md section 4 at ten settings
(:math:`|B| \in \{4, 8, 16, 32, 64\}` at :math:`\alpha = 0.1`, and
:math:`\alpha \in \{0.01, 0.02, 0.04, 0.06, 0.08, 0.1\}` at :math:`|B| = 16`) and
fits the mean spacing of every degenerate pair with one parameter,

.. math::

    \langle S_i\rangle = a_{fit}\sqrt{(\alpha/|B|)\,\kappa_i^2\Omega_i},
    \qquad \kappa_i^2\Omega_i = \mu^2 - \kappa_i \ \text{(talk convention)}.

:func:`reproduce` measures every setting (:func:`validation.analyses.predict.measure_stationary`:
the std of every eigenvalue index and :math:`\langle S\rangle` of every pair), computes
every level of the ladder (:mod:`validation.analyses.levels`) from the hyperparameters
alone, and reports

- the **decomposition table**: measured, each level, and measured/level with errors;
- the **targets** of the best level: within 5% at :math:`\alpha/|B| \le 0.00625`, within
  10% everywhere;
- the **asymptotic test**: per quantity, measured/(a) :math:`= c_0 + c_1\,\alpha/|B|
  (+ c_2 (\alpha/|B|)^2)` (:func:`validation.analyses.stats.ratio_trend`); the theory
  holds at leading order iff :math:`c_0 = 1` within errors;
- :math:`a_{fit}` measured and implied by each level (the same weighted fit).

From the command line::

    fpsolve sweep runs/ --preset paper --runs 256
    python -m validation.paper runs/ -o paper-report/

writes ``paper.txt`` (the table and the summary), ``paper.json``, ``paper.png``
(:math:`\langle S\rangle` against the scaling variable) and ``ladder.png``
(measured/predicted against :math:`\alpha/|B|` per level).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from validation._typing import PathLike, RNGLike
from validation.analyses.levels import LADDER, LEVELS
from validation.data.recording import Recording, read
from validation.report._jobs import check_workers, run_jobs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from validation.analyses.scaling import Scaling

__all__ = ["TARGETS", "PaperReproduction", "main", "reproduce"]

TARGETS = ((0.00625, 0.05), (math.inf, 0.10))
r"""``(largest alpha/|B|, allowed |measured/predicted - 1|)`` of the best level."""

_KEYS = {LEVELS[m][0]: m for m in LADDER}


def _ratio(m, dm, p, dp) -> tuple[float, float]:
    r = m / p
    return float(r), float(abs(r) * math.hypot(dm / m, dp / p))


def _a_fit(rows, column: str) -> float:
    r"""Weighted least squares :math:`\langle S\rangle = a\sqrt v` with the measured errors."""
    use = [r for r in rows if r["quantity"] == "<S>" and r.get(column) is not None]
    w = np.array([1.0 / r["error"] ** 2 for r in use])
    v = np.array([r["v"] for r in use])
    s = np.array([r[column] for r in use])
    return float(np.sum(w * s * np.sqrt(v)) / np.sum(w * v))


@dataclass(frozen=True, eq=False)
class PaperReproduction:
    r"""Measured statistics of every setting against every level of the ladder.

    Attributes
    ----------
    rows : list of dict
        One per (setting, quantity): ``alpha``, ``batch_size``, ``alpha_over_b``,
        ``quantity`` (``"<S>"`` or ``"std"``), ``index`` (the pair or the
        eigenvalue index), ``kappa``, ``v`` (:math:`(\alpha/|B|)(\mu^2 - \kappa)`),
        ``value`` and ``error`` (measured), and per level key ``k`` of
        :data:`~validation.analyses.levels.LEVELS`: ``pred_k``, ``pred_k_error``,
        ``ratio_k``, ``ratio_k_error`` (None where the level failed).
    levels : tuple of str
        Methods that were computed, in ladder order.
    failures : list of dict
        ``alpha``, ``batch_size``, ``level``, ``fraction``, ``reason`` of every level
        without a stationary state.
    scaling : validation.analyses.scaling.Scaling
        The measured fit of :math:`a_{fit}` (with :math:`\chi^2/\mathrm{dof}`).
    trends : dict
        Per quantity label, the fit of measured/(a) against :math:`\alpha/|B|`
        (:class:`~validation.analyses.stats.Trend`).
    """

    rows: list[dict[str, Any]]
    levels: tuple
    failures: list
    scaling: Scaling
    trends: dict

    @property
    def best(self) -> str:
        """The highest level computed (its key, e.g. ``"c"``)."""
        return LEVELS[self.levels[-1]][0]

    def targets(self) -> list[dict]:
        """Per target of :data:`TARGETS`: quantities within the tolerance for the best level."""
        key = self.best
        out = []
        for vmax, tol in TARGETS:
            rows = [r for r in self.rows if r["alpha_over_b"] <= vmax + 1e-15]
            ok = [r for r in rows if r[f"ratio_{key}"] is not None]
            worst = max(ok, key=lambda r: abs(r[f"ratio_{key}"] - 1), default=None)
            out.append({
                "max_alpha_over_b": vmax, "tolerance": tol, "n": len(rows),
                "within": sum(abs(r[f"ratio_{key}"] - 1) <= tol for r in ok),
                "failed": len(rows) - len(ok),
                "max_deviation": None if worst is None else abs(worst[f"ratio_{key}"] - 1),
                "max_deviation_error": None if worst is None else worst[f"ratio_{key}_error"],
                "worst": None if worst is None else (
                    f"{worst['quantity']} {worst['index']} at alpha={worst['alpha']:g}, "
                    f"|B|={worst['batch_size']}"
                ),
            })  # fmt: skip
        return out

    def intercepts(self) -> dict:
        r"""The intercepts :math:`c_0` of the asymptotic test and their :math:`\chi^2` against 1."""
        c0 = np.array([t.intercept for t in self.trends.values()])
        if not len(c0):
            return {"n": 0}
        chi2 = float(np.sum(((c0[:, 0] - 1.0) / c0[:, 1]) ** 2))
        return {"n": len(c0), "chi2": chi2, "dof": len(c0), "min": float(c0[:, 0].min()),
                "max": float(c0[:, 0].max())}  # fmt: skip

    def a_fits(self) -> dict:
        """:math:`a_{fit}` of the measured spacings and of each level's (same weights)."""
        out = {"measured": _a_fit(self.rows, "value")}
        for m in self.levels:
            key = LEVELS[m][0]
            if all(r[f"pred_{key}"] is not None for r in self.rows if r["quantity"] == "<S>"):
                out[key] = _a_fit(self.rows, f"pred_{key}")
        return out

    def summary(self) -> list[str]:
        """The conclusions in words, with the numbers."""
        lines = []
        name = LEVELS[self.levels[-1]][1]
        for t in self.targets():
            where = (
                "at every setting" if math.isinf(t["max_alpha_over_b"])
                else f"at alpha/|B| <= {t['max_alpha_over_b']:g}"
            )  # fmt: skip
            worst = "-" if t["max_deviation"] is None else (
                f"{100 * t['max_deviation']:.1f}% +- {100 * t['max_deviation_error']:.1f}%, "
                f"{t['worst']}"
            )  # fmt: skip
            met = t["within"] == t["n"]
            lines.append(
                f"{'MET' if met else 'MISSED'}: {name} within {100 * t['tolerance']:g}% {where}: "
                f"{t['within']} of {t['n']} quantities (largest deviation {worst}"
                + (f", {t['failed']} without a stationary state" if t["failed"] else "")
                + ")"
            )
        ic = self.intercepts()
        if ic["n"]:
            lines.append(
                f"asymptotic test: measured/(a) extrapolated to alpha/|B| -> 0 gives intercepts "
                f"{ic['min']:.3f}..{ic['max']:.3f} over {ic['n']} quantities; "
                f"chi2/dof of the intercepts against 1 = {ic['chi2']:.1f}/{ic['dof']} = "
                f"{ic['chi2'] / ic['dof']:.2f}"
            )
        a = self.a_fits()
        m, da, chi2, dof = self.scaling.a_fit
        parts = ", ".join(f"level {k} {v:.3f}" for k, v in a.items() if k != "measured")
        lines.append(f"a_fit: measured {m:.3f} +- {da:.3f} (chi2/dof {chi2 / dof:.2f}); {parts}")
        lines += [
            f"level {f['level']} fails at alpha={f['alpha']:g}, |B|={f['batch_size']}: "
            f"{f['reason']}"
            for f in self.failures
        ]
        return lines

    def table(self) -> str:
        """The decomposition as a plain-text table, then the summary."""
        keys = [LEVELS[m][0] for m in self.levels]
        head = f"{'alpha':>5} {'|B|':>3} {'a/|B|':>8} {'quantity':>13} {'measured':>17}"
        head += "".join(f" {'/(' + k + ')':>13}" for k in keys)
        lines = [head, "-" * len(head)]
        for r in self.rows:
            label = f"{r['quantity']} {r['index']}"
            line = (
                f"{r['alpha']:>5g} {r['batch_size']:>3d} {r['alpha_over_b']:>8.5f} "
                f"{label:>13} {r['value']:>8.4f} +- {r['error']:.4f}"
            )
            for k in keys:
                rk = r[f"ratio_{k}"]
                line += (
                    f" {'failed':>13}" if rk is None
                    else f" {rk:>6.3f}+-{r[f'ratio_{k}_error']:.3f}"
                )  # fmt: skip
            lines.append(line)
        lines += ["", "levels: " + "; ".join(LEVELS[m][1] for m in self.levels), ""]
        lines += self.summary()
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready content: rows, failures, targets, asymptotic fits and a_fit."""
        from validation.analyses.stats import _plain

        a, da, chi2, dof = self.scaling.a_fit
        return _plain({
            "levels": {LEVELS[m][0]: LEVELS[m][1] for m in self.levels},
            "rows": self.rows,
            "failures": self.failures,
            "targets": self.targets(),
            "asymptotic": {
                label: {"coef": t.coef, "coef_error": t.coef_error, "chi2": t.chi2, "dof": t.dof}
                for label, t in self.trends.items()
            },
            "intercepts": self.intercepts(),
            "a_fit": {"value": a, "error": da, "chi2": chi2, "dof": dof, **self.a_fits()},
            "summary": self.summary(),
        })  # fmt: skip

    def plot(self) -> Figure:
        r""":math:`\langle S\rangle` against :math:`\sqrt{(\alpha/|B|)(\mu^2 - \kappa)}`:
        measured with errors, the fit and every level."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
        rows = [r for r in self.rows if r["quantity"] == "<S>"]
        x = np.sqrt([r["v"] for r in rows])
        ax.errorbar(x, [r["value"] for r in rows], [r["error"] for r in rows], fmt="o", ms=4,
                    color="k", label="measured")  # fmt: skip
        grid = np.linspace(0, x.max() * 1.05, 50)
        a = self.scaling.a_fit[0]
        ax.plot(grid, a * grid, "k-", lw=0.8, label=rf"fit $a_{{fit}} = {a:.3f}$")
        for i, m in enumerate(self.levels):
            key = LEVELS[m][0]
            pts = [(xi, r[f"pred_{key}"]) for xi, r in zip(x, rows, strict=True)
                   if r[f"pred_{key}"] is not None]  # fmt: skip
            if pts:
                ax.plot(*np.array(pts).T, "x+.1"[i % 4], color=f"C{i}", ms=7,
                        label=LEVELS[m][1])  # fmt: skip
        ax.set_xlabel(r"$\sqrt{(\alpha/|B|)\,\kappa^2\Omega}$")
        ax.set_ylabel(r"$\langle S\rangle$")
        ax.legend(fontsize=7)
        return fig

    def plot_ladder(self) -> Figure:
        r"""measured/predicted against :math:`\alpha/|B|`, per level, for :math:`\langle S\rangle`
        (left) and the std of each index (right); the band is the 5% target."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True, layout="constrained")
        for ax, quantity, title in zip(axes, ("<S>", "std"), (r"$\langle S\rangle$ of each pair",
                                       "std of each eigenvalue index"), strict=True):  # fmt: skip
            rows = [r for r in self.rows if r["quantity"] == quantity]
            for i, m in enumerate(self.levels):
                key = LEVELS[m][0]
                ok = [r for r in rows if r[f"ratio_{key}"] is not None]
                if not ok:
                    continue
                jitter = 1.0 + 0.04 * (i - (len(self.levels) - 1) / 2)
                ax.errorbar(
                    [r["alpha_over_b"] * jitter for r in ok],
                    [r[f"ratio_{key}"] for r in ok],
                    [r[f"ratio_{key}_error"] for r in ok],
                    fmt="o", ms=3, capsize=0, lw=0.8, color=f"C{i}", label=LEVELS[m][1],
                )  # fmt: skip
            ax.axhspan(0.95, 1.05, color="0.9", zorder=0)
            ax.axhline(1.0, color="0.3", lw=0.8)
            ax.set_xscale("log")
            ax.set_xlabel(r"$\alpha/|B|$")
            ax.set_title(title, fontsize="medium")
        axes[0].set_ylabel("measured / predicted")
        axes[0].legend(fontsize=7)
        return fig


def reproduce(
    recordings: Sequence[Recording | PathLike],
    *,
    burn_in: float | None = None,
    levels: Sequence[str] = LADDER,
    n_replicas: int = 64,
    rng: RNGLike = None,
    progress: bool | None = None,
    workers: int | None = None,
) -> PaperReproduction:
    r"""The decomposition table, the targets, the asymptotic test and :math:`a_{fit}`.

    Parameters
    ----------
    recordings : sequence of Recording or path
        Gaussian-RBM recordings, one per setting (e.g. from ``fpsolve sweep
        --preset paper``), at least 2.
    burn_in : float, optional
        First step used for the stationary statistics (default: half of each run);
        the simulated levels (b) and (c) use the same window of the same number of
        steps.
    levels : sequence of str, optional
        Methods (:data:`validation.analyses.levels.LADDER`) or level keys
        (``"a"``, ``"b'"``, ``"b"``, ``"c"``); the small-noise level is always
        included (the asymptotic test is measured/(a)).
    n_replicas : int, optional
        Replicas of every simulated level.
    rng : int, numpy.random.Generator or None
        Seed of the simulations (one stream per setting and level).
    progress : bool or None, optional
        Progress over the settings (:func:`fpsolve.progress.progress_bar`); None means
        on.
    workers : int, optional
        Settings analysed at the same time, as the recordings of
        :func:`validation.validate` (the same threads and default).  Each setting has
        its own generator, spawned from ``rng``: the numbers are the same for any
        ``workers``.

    Returns
    -------
    PaperReproduction

    Raises
    ------
    ValueError
        Fewer than 2 recordings, a recording that is not a Gaussian-RBM recording,
        an unknown level, or ``workers`` below 1 (or above 1 with numba's workqueue
        threading layer).
    """
    from fpsolve.checks import as_rng
    from fpsolve.progress import progress_bar
    from validation.analyses import compare
    from validation.analyses.repulsion import predicted_a_fit
    from validation.analyses.stats import ratio_trend

    methods = []
    for lv in levels:
        m = _KEYS.get(lv, lv)
        if m not in LADDER:
            raise ValueError(f"levels must be among {LADDER} or {tuple(_KEYS)}, got {lv!r}")
        methods.append(m)
    methods = [m for m in LADDER if m in methods or m == "small_noise"]
    recs = [r if isinstance(r, Recording) else read(r) for r in recordings]
    if len(recs) < 2:
        raise ValueError(f"recordings must hold at least 2 settings, got {len(recs)}")
    bad = [i for i, r in enumerate(recs) if r.attrs.get("model") != "gaussian_rbm"]
    if bad:
        raise ValueError(f"recordings must be Gaussian-RBM recordings; not so: indices {bad}")
    workers = check_workers(workers)
    gens = as_rng(rng).spawn(len(recs))
    quiet = False if progress is False else None
    lock = threading.Lock()
    with progress_bar(len(recs), desc="paper: settings", unit="setting",
                      enabled=progress) as bar:  # fmt: skip

        def job(rec, gen):
            out = _setting_rows(rec, gen, methods, burn_in, n_replicas, quiet)
            with lock:
                bar.update(1)
            return out

        done = run_jobs([functools.partial(job, r, g) for r, g in zip(recs, gens, strict=True)],
                        workers)  # fmt: skip
    rows = [r for here, _, _ in done for r in here]
    failures = [f for _, fails, _ in done for f in fails]
    trends = {}
    labels = dict.fromkeys(f"{r['quantity']} {r['index']}" for r in rows)
    if len({r["alpha_over_b"] for r in rows}) >= 2:
        for label in labels:
            sel = [r for r in rows if f"{r['quantity']} {r['index']}" == label]
            v = [r["alpha_over_b"] for r in sel]
            if len(set(v)) >= 2:
                trends[label] = ratio_trend(
                    v, [r["ratio_a"] for r in sel], [r["ratio_a_error"] for r in sel]
                )
    fit = compare.scaling(recs, burn_in=burn_in, predicted_a=predicted_a_fit(recs),
                          measured=[m for _, _, m in done])  # fmt: skip
    return PaperReproduction(rows, tuple(methods), failures, fit, trends)


def _setting_rows(rec, gen, methods, burn_in, n_replicas, quiet) -> tuple[list, list, tuple]:
    """The rows (measured and every level), the failed levels, and the spacings and
    one-point fits of the scaling analysis (:func:`validation.analyses.compare.scaling`)
    of one setting."""
    from validation.analyses import compare, predict

    failures: list[dict] = []
    spacings = compare.spacings(rec, groups=rec.mode_groups(), burn_in=burn_in)
    one_point = compare.one_point(rec, groups=spacings.pairs, burn_in=burn_in)
    st = rec.rbm_setting()
    measured = predict.measure_stationary(rec, burn_in=burn_in)
    kappa = st.learned_kappa
    base = {"alpha": st.alpha, "batch_size": st.batch_size, "alpha_over_b": st.alpha_over_b}
    here = [
        {**base, "quantity": "<S>", "index": list(pair), "kappa": float(kappa[pair[0]]),
         "v": st.alpha_over_b * (st.mu2 - kappa[pair[0]]),
         "value": float(measured.spacing[q]), "error": float(measured.spacing_error[q])}
        for q, pair in enumerate(measured.pairs)
    ] + [
        {**base, "quantity": "std", "index": a, "kappa": float(kappa[a]),
         "v": st.alpha_over_b * (st.mu2 - kappa[a]),
         "value": float(measured.std[a]), "error": float(measured.std_error[a])}
        for a in range(len(kappa))
    ]  # fmt: skip
    burn = None if burn_in is None else math.ceil(burn_in)
    for m, g in zip(methods, gen.spawn(len(methods)), strict=True):
        key = LEVELS[m][0]
        try:
            p = predict.predict(
                rec, method=m, n_replicas=n_replicas, burn_in=burn, rng=g, progress=quiet
            )
        except predict.PredictionFailure as exc:
            failures.append({**base, "level": key, "fraction": exc.fraction,
                             "reason": exc.reason})  # fmt: skip
            p = None
        for r in here:
            if p is None:
                r.update({f"pred_{key}": None, f"pred_{key}_error": None,
                          f"ratio_{key}": None, f"ratio_{key}_error": None})  # fmt: skip
                continue
            if r["quantity"] == "<S>":
                q = p.pairs.index(tuple(r["index"]))
                pv, pe = float(p.spacing[q]), float(p.spacing_error[q])
            else:
                pv, pe = float(p.std[r["index"]]), float(p.std_error[r["index"]])
            ratio, ratio_e = _ratio(r["value"], r["error"], pv, pe)
            r.update({f"pred_{key}": pv, f"pred_{key}_error": pe,
                      f"ratio_{key}": ratio, f"ratio_{key}_error": ratio_e})  # fmt: skip
    return here, failures, (spacings, one_point)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m validation.paper DIR [-o OUT] [--levels ...] [--overwrite]``."""
    from fpsolve.cli import check_output_dir

    parser = argparse.ArgumentParser(
        prog="python -m validation.paper",
        description="Decompose the RBM scaling analysis of arXiv:2407.16427 by prediction level "
        "from the recordings in DIRECTORY (one .h5 per setting, e.g. from fpsolve sweep "
        "--preset paper).",
    )
    parser.add_argument("directory", help="directory of .h5 recordings")
    parser.add_argument("-o", "--output", default="paper-report", help="output directory")
    parser.add_argument("--burn-in", type=float, default=None, help="first step used")
    parser.add_argument(
        "--levels", nargs="+", default=list(LADDER), metavar="LEVEL",
        help="levels to compute: a b' b c (or small_noise dbm aligned matrix); default all",
    )  # fmt: skip
    parser.add_argument("--replicas", type=int, default=64, help="replicas per simulated level")
    parser.add_argument("--seed", type=int, default=2407, help="seed of the simulations")
    parser.add_argument(
        "--workers", type=int, default=None,
        help="settings analysed at the same time (default 2 on two threads or more)",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty OUTPUT")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress")
    args = parser.parse_args(argv)
    paths = sorted(Path(args.directory).glob("*.h5"))
    try:
        if not paths:
            raise FileNotFoundError(f"no .h5 recordings in {args.directory!r}")
        check_output_dir(args.output, overwrite=args.overwrite)
        result = reproduce(
            paths, burn_in=args.burn_in, levels=args.levels, n_replicas=args.replicas,
            rng=args.seed, progress=False if args.quiet else None, workers=args.workers,
        )  # fmt: skip
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    text = result.table()
    (out / "paper.txt").write_text(text + "\n")
    (out / "paper.json").write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    for name, fig in (("paper.png", result.plot()), ("ladder.png", result.plot_ladder())):
        cast("Figure", fig).savefig(out / name, dpi=110)
    print(text)
    print(f"written to {out.resolve()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

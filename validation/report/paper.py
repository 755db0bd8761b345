r"""Reproduce the RBM scaling analysis of arXiv:2407.16427 from sweep recordings.

The paper trains the Gaussian RBM of docs/theory.md section 4 at ten settings
(:math:`|B| \in \{4, 8, 16, 32, 64\}` at :math:`\alpha = 0.1`, and
:math:`\alpha \in \{0.01, 0.02, 0.04, 0.06, 0.08, 0.1\}` at :math:`|B| = 16`) and
fits the mean spacing of every degenerate pair with one parameter,

.. math::

    \langle S_i\rangle = a_{fit}\sqrt{(\alpha/|B|)\,\kappa_i^2\Omega_i},
    \qquad \kappa_i^2\Omega_i = \mu^2 - \kappa_i \ \text{(talk convention)}.

:func:`reproduce` measures :math:`\langle S\rangle` per pair and setting
(:func:`validation.analyses.compare.spacings`), fits :math:`a_{fit}`
(:func:`validation.analyses.compare.scaling`), and puts the parameter-free predictions of
:func:`validation.analyses.predict.predict` (small-noise formula and eigenvalue-map
simulation) side by side.  From the command line::

    fpsolve sweep runs/ --preset paper
    python -m validation.paper runs/ -o paper-report/

writes ``paper.txt`` (the table), ``paper.json`` and ``paper.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from validation._typing import PathLike, RNGLike
from validation.data.recording import Recording, read

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, FigureBase

    from validation.analyses.scaling import Scaling

__all__ = ["PaperReproduction", "main", "reproduce"]


@dataclass(frozen=True, eq=False)
class PaperReproduction:
    r"""Spacings of every pair and setting, the one-parameter fit and the predictions.

    Attributes
    ----------
    rows : list of dict
        One per (setting, pair): ``alpha``, ``batch_size``, ``alpha_over_b``,
        ``pair``, ``kappa``, measured ``S`` and ``S_error``, ``S_small_noise``,
        ``S_dbm`` and ``S_dbm_error`` (None where the simulation failed), and the
        ratios measured/predicted.
    scaling : validation.analyses.compare.Scaling
        The fit of :math:`a_{fit}` (with :math:`\chi^2/\mathrm{dof}`).
    predicted_a : tuple of float
        ``(value, spread)`` of :math:`a` implied by the small-noise predictions.
    failures : list of str
        Settings whose simulated prediction failed, with the reason.
    """

    rows: list[dict[str, Any]]
    scaling: Scaling
    predicted_a: tuple[float, float]
    failures: list

    def table(self) -> str:
        """The rows as a plain-text table, then the fit."""
        head = (
            f"{'alpha':>6} {'|B|':>4} {'a/|B|':>9} {'pair':>7} {'kappa':>6} "
            f"{'<S> measured':>17} {'small-noise':>11} {'ratio':>7} "
            f"{'DBM map':>17} {'ratio':>15}"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            dbm = "failed" if r["S_dbm"] is None else f"{r['S_dbm']:.4f} +- {r['S_dbm_error']:.4f}"
            ratio_dbm = (
                "-" if r["S_dbm"] is None
                else f"{r['ratio_dbm']:.3f} +- {r['ratio_dbm_error']:.3f}"
            )  # fmt: skip
            lines.append(
                f"{r['alpha']:>6g} {r['batch_size']:>4d} {r['alpha_over_b']:>9.5f} "
                f"{tuple(r['pair'])!s:>7} {r['kappa']:>6.3f} "
                f"{r['S']:>8.4f} +- {r['S_error']:.4f} {r['S_small_noise']:>11.4f} "
                f"{r['ratio_small_noise']:>7.3f} {dbm:>17} {ratio_dbm:>15}"
            )
        a, da, chi2, dof = self.scaling.a_fit
        pa, spread = self.predicted_a
        lines += [
            "",
            f"a_fit = {a:.4f} +- {da:.4f}  (chi2/dof = {chi2:.1f}/{dof} = {chi2 / dof:.2f})",
            f"predicted a (small-noise, PCD noise model) = {pa:.4f} (spread over pairs "
            f"and settings {spread:.4f}); sqrt(2 pi)/sigma_h without chain correlation",
        ]
        lines += [f"DBM prediction failed: {f}" for f in self.failures]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready content: rows, fit and predicted a."""
        from validation.analyses.stats import _plain

        a, da, chi2, dof = self.scaling.a_fit
        return _plain({
            "rows": self.rows,
            "a_fit": {"value": a, "error": da, "chi2": chi2, "dof": dof},
            "predicted_a": {"value": self.predicted_a[0], "spread": self.predicted_a[1]},
            "failures": self.failures,
        })  # fmt: skip

    def plot(self, ax: Axes | None = None) -> FigureBase:
        r""":math:`\langle S\rangle` against :math:`\sqrt{(\alpha/|B|)(\mu^2 - \kappa)}`.

        Measured points with errors, the fit and the predictions; returns the Figure.
        """
        import matplotlib.pyplot as plt

        fig: FigureBase
        if ax is None:
            fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
        else:
            fig = ax.figure
        v = np.array([r["v"] for r in self.rows])
        s = np.array([r["S"] for r in self.rows])
        ds = np.array([r["S_error"] for r in self.rows])
        alpha_series = np.array([r["batch_size"] == 16 for r in self.rows])
        ax.errorbar(np.sqrt(v[alpha_series]), s[alpha_series], ds[alpha_series], fmt="o",
                    ms=4, label=r"measured, $|B| = 16$ ($\alpha$-series)")  # fmt: skip
        ax.errorbar(np.sqrt(v[~alpha_series]), s[~alpha_series], ds[~alpha_series], fmt="s",
                    ms=4, label=r"measured, $\alpha = 0.1$ ($|B|$-series)")  # fmt: skip
        grid = np.linspace(0, np.sqrt(v.max()) * 1.05, 50)
        a = self.scaling.a_fit[0]
        ax.plot(grid, a * grid, "k-", lw=1, label=rf"fit $a_{{fit}} = {a:.3f}$")
        ax.plot(np.sqrt(v), [r["S_small_noise"] for r in self.rows], "x", color="C2",
                label="small-noise prediction")  # fmt: skip
        dbm = [(np.sqrt(r["v"]), r["S_dbm"]) for r in self.rows if r["S_dbm"] is not None]
        if dbm:
            ax.plot(*np.array(dbm).T, "+", color="C3", ms=8, label="DBM-map prediction")
        ax.set_xlabel(r"$\sqrt{(\alpha/|B|)\,\kappa^2\Omega}$")
        ax.set_ylabel(r"$\langle S\rangle$")
        ax.legend(fontsize=8)
        return fig


def reproduce(
    recordings: Sequence[Recording | PathLike],
    *,
    burn_in: float | None = None,
    dbm: bool = True,
    rng: RNGLike = None,
    progress: bool | None = None,
) -> PaperReproduction:
    r"""Spacings, :math:`a_{fit}` and parameter-free predictions for an RBM sweep.

    Parameters
    ----------
    recordings : sequence of Recording or path
        Gaussian-RBM recordings, one per setting (e.g. from ``fpsolve sweep
        --preset paper``).
    burn_in : float, optional
        First step used for the stationary statistics (default: half of each run).
    dbm : bool, optional
        Also run the simulated prediction (seconds per setting at
        :math:`\alpha = 0.1`, ten times longer at :math:`\alpha = 0.01`).
    rng : int, numpy.random.Generator or None
        Seed of the simulations.
    progress : bool or None, optional
        Report progress over the settings (:func:`fpsolve.progress.progress_bar`);
        None means on, False silent.

    Returns
    -------
    PaperReproduction
    """
    from fpsolve.checks import as_rng
    from validation.analyses import compare, predict

    recs = [r if isinstance(r, Recording) else read(r) for r in recordings]
    if len(recs) < 2:
        raise ValueError(f"recordings must hold at least 2 settings, got {len(recs)}")
    bad = [i for i, r in enumerate(recs) if r.attrs.get("model") != "gaussian_rbm"]
    if bad:
        raise ValueError(f"recordings must be Gaussian-RBM recordings; not so: indices {bad}")
    gens = as_rng(rng).spawn(len(recs))
    rows, failures = [], []
    from fpsolve.progress import track

    pairs = list(zip(recs, gens, strict=True))
    for rec, gen in track(pairs, desc="paper: settings", unit="setting", enabled=progress):
        st = rec.rbm_setting()
        alpha, batch, mu2, kappa = st.alpha, st.batch_size, st.mu2, st.learned_kappa
        sp = compare.spacings(rec, burn_in=burn_in)
        small = predict.predict(rec, method="small_noise")
        sim = None
        if dbm:
            try:
                sim = predict.predict(
                    rec, method="dbm", rng=gen, progress=False if progress is False else None
                )
            except ValueError as exc:
                failures.append(f"alpha={alpha:g}, |B|={batch}: {exc}")
        for p, pair in enumerate(sp.pairs):
            q = small.pairs.index(tuple(pair))
            s, ds, s0 = float(sp.mean[p]), float(sp.mean_error[p]), float(small.spacing[q])
            row = {
                "alpha": alpha, "batch_size": batch, "alpha_over_b": alpha / batch,
                "pair": list(pair), "kappa": float(kappa[pair[0]]),
                "v": alpha / batch * (mu2 - kappa[pair[0]]),
                "S": s, "S_error": ds, "n_eff": float(sp.n_eff[p]),
                "S_small_noise": s0, "ratio_small_noise": s / s0,
                "ratio_small_noise_error": ds / s0,
                "S_dbm": None, "S_dbm_error": None, "ratio_dbm": None, "ratio_dbm_error": None,
            }  # fmt: skip
            if sim is not None:
                s1, ds1 = float(sim.spacing[q]), float(sim.spacing_error[q])
                row.update(S_dbm=s1, S_dbm_error=ds1, ratio_dbm=s / s1,
                           ratio_dbm_error=s / s1 * np.hypot(ds / s, ds1 / s1))  # fmt: skip
            rows.append(row)
    pred_a = predict.predicted_a_fit(recs)
    fit = compare.scaling(recs, burn_in=burn_in, predicted_a=pred_a)
    # the scaling fit above needs degenerate pairs, so a prediction of a exists
    return PaperReproduction(rows, fit, cast(tuple[float, float], pred_a), failures)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m validation.paper DIR [-o OUT]``."""
    parser = argparse.ArgumentParser(
        prog="python -m validation.paper",
        description="Reproduce the RBM scaling analysis of arXiv:2407.16427 from the "
        "recordings in DIRECTORY (one .h5 per setting, e.g. from fpsolve sweep --preset paper).",
    )
    parser.add_argument("directory", help="directory of .h5 recordings")
    parser.add_argument("-o", "--output", default="paper-report", help="output directory")
    parser.add_argument("--burn-in", type=float, default=None, help="first step used")
    parser.add_argument("--no-dbm", action="store_true", help="small-noise predictions only")
    parser.add_argument("--seed", type=int, default=2407, help="seed of the simulations")
    args = parser.parse_args(argv)
    paths = sorted(Path(args.directory).glob("*.h5"))
    if not paths:
        print(f"error: no .h5 recordings in {args.directory!r}", file=sys.stderr)
        return 2
    result = reproduce(paths, burn_in=args.burn_in, dbm=not args.no_dbm, rng=args.seed)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    text = result.table()
    (out / "paper.txt").write_text(text + "\n")
    (out / "paper.json").write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    fig = cast("Figure", result.plot())  # a new Figure when no axes are given
    fig.savefig(out / "paper.png", dpi=110)
    print(text)
    print(f"written to {out.resolve()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

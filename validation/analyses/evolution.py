r"""Spectral statistics over training checkpoints, and their report files.

Conventions are those of :mod:`validation.analyses.spectra`.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.checks import as_rng
from validation._typing import PathLike, RNGLike
from validation.analyses.level_spacings import SpacingStatistics, Unfolded, spacing_statistics
from validation.analyses.spectrum_fits import MPFit, fit_mp_bulk, fit_power_law, spectrum
from validation.data.checkpoints import Checkpoint

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["SpectraEvolution", "spectra_evolution", "write_report"]


def _default_group(name: str) -> str:
    """Group label: the name with its head index replaced by ``*``."""
    out = re.sub(r"\.heads?\.(\d+)\.", ".heads.*.", name)
    return re.sub(r"\[(\w+)\.\d+\]$", r"[\1.*]", out)


@dataclass(frozen=True)
class SpectraEvolution:
    r"""Spectral statistics over training checkpoints (see :func:`spectra_evolution`).

    Arrays have shape ``(n_checkpoints, n_groups)``; ``alpha`` is NaN where
    the verdict was "no power law", ``ratio_mean`` NaN where a group has fewer
    than 3 levels per matrix.

    Attributes
    ----------
    iterations : numpy.ndarray
    groups : tuple of str
    area, area_err, s2, s2_err, r, n_tail, tail_trace_fraction : numpy.ndarray
    alpha, alpha_err : numpy.ndarray
    ratio_mean, ratio_err, ks_goe : numpy.ndarray
        Mean spacing ratio, its error, and the KS p-value against the beta=1 surmise.
    fits : tuple of tuple of MPFit
        ``fits[t][g]``.
    spacings : tuple of tuple of SpacingStatistics
    """

    iterations: np.ndarray
    groups: tuple[str, ...]
    area: np.ndarray
    area_err: np.ndarray
    s2: np.ndarray
    s2_err: np.ndarray
    r: np.ndarray
    n_tail: np.ndarray
    tail_trace_fraction: np.ndarray
    alpha: np.ndarray
    alpha_err: np.ndarray
    ratio_mean: np.ndarray
    ratio_err: np.ndarray
    ks_goe: np.ndarray
    fits: tuple
    spacings: tuple

    def as_dict(self) -> dict:
        """JSON-ready summary (NaN written as None)."""

        def clean(a):
            return [[None if not np.isfinite(v) else float(v) for v in row] for row in a]

        return {
            "iterations": [int(i) for i in self.iterations],
            "groups": list(self.groups),
            "area": clean(self.area),
            "area_err": clean(self.area_err),
            "s2": clean(self.s2),
            "s2_err": clean(self.s2_err),
            "r": clean(self.r),
            "n_tail": self.n_tail.tolist(),
            "tail_trace_fraction": clean(self.tail_trace_fraction),
            "alpha": clean(self.alpha),
            "alpha_err": clean(self.alpha_err),
            "ratio_mean": clean(self.ratio_mean),
            "ratio_err": clean(self.ratio_err),
            "ks_goe_p": clean(self.ks_goe),
        }

    def plot(self, ax: Sequence[Axes] | None = None) -> list[Any]:
        """``A`` and ``s2`` against iteration for each group; returns the artists.

        ``ax`` is a pair of axes (created when None).
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(10, 4))
        ax_a, ax_s = ax
        artists = []
        colors = plt.get_cmap("tab20")
        for g, name in enumerate(self.groups):
            style: dict[str, Any] = {
                "color": colors(g % 20),
                "marker": "osd^v<>"[g % 7],
                "ms": 3,
                "label": name,
            }
            artists.append(
                ax_a.errorbar(self.iterations, self.area[:, g], self.area_err[:, g], **style)
            )
            artists.append(
                ax_s.errorbar(self.iterations, self.s2[:, g], self.s2_err[:, g], **style)
            )
        ax_a.set_xlabel("iteration")
        ax_a.set_ylabel("MP area A")
        ax_s.set_xlabel("iteration")
        ax_s.set_ylabel("s2")
        ax_a.legend(fontsize="x-small")
        return artists

    def plot_spectra(
        self,
        group: int | str = 0,
        iterations: ArrayLike | None = None,
        axes: Sequence[Axes] | None = None,
    ) -> list[Any]:
        """Spectra with their MP fits at the chosen iterations (default: first, middle, last)."""
        import matplotlib.pyplot as plt

        g = self.groups.index(group) if isinstance(group, str) else int(group)
        if iterations is None:
            idx = sorted({0, len(self.iterations) // 2, len(self.iterations) - 1})
        else:
            idx = [int(np.argmin(np.abs(self.iterations - it))) for it in np.atleast_1d(iterations)]
        if axes is None:
            axes = plt.subplots(1, len(idx), figsize=(4 * len(idx), 3.5), squeeze=False)[1][0]
        artists = []
        for a, t in zip(axes, idx, strict=False):
            artists.extend(self.fits[t][g].plot(a))
            a.set_title(f"{self.groups[g]} @ {int(self.iterations[t])}", fontsize="small")
        return artists


def spectra_evolution(
    checkpoints: Iterable[Checkpoint | tuple[int, Mapping[str, ArrayLike]]],
    *,
    group: str | Callable[[str], str] = "kind",
    power_law: bool = True,
    n_bootstrap: int = 20,
    rng: RNGLike = None,
    progress: bool | None = False,
) -> SpectraEvolution:
    r"""MP bulk, tail and spacing statistics of every checkpoint of a training run.

    For each checkpoint and each group of matrices the spectra of
    :math:`W^T W` are pooled (matrices of one group must have the same shape)
    and analysed: :func:`fit_mp_bulk` (``m`` = rows), :func:`fit_power_law`
    on the pooled spectrum with that bulk (``alpha`` NaN where the verdict is
    "no power law"), and :func:`spacing_statistics` of each matrix's bulk
    unfolded with the group's MP fit (``method="mp"``), pooled.

    Parameters
    ----------
    checkpoints : sequence
        Items with ``iteration`` and ``matrices`` (a mapping name -> 2-D array),
        e.g. from :func:`validation.data.checkpoints.read_checkpoint`, or
        ``(iteration, mapping)`` pairs.
    group : "kind", "matrix" or callable, optional
        ``"kind"`` pools the heads of one layer and kind (the head index is
        removed from the name), ``"matrix"`` analyses every matrix alone, a
        callable maps a name to its group label.
    power_law : bool, optional
        Run the power-law fits.
    n_bootstrap : int, optional
        Replicates for the MP-fit errors.
    rng : int, numpy.random.Generator or None
    progress : bool or None, optional
        Report progress over the checkpoints (:func:`fpsolve.progress.progress_bar`);
        None means on, False (the default) silent.

    Returns
    -------
    SpectraEvolution
    """
    gen = as_rng(rng)
    items = []
    for c in checkpoints:
        if isinstance(c, tuple) and len(c) == 2:
            it, mats = c
        else:
            it, mats = c.iteration, c.matrices
        if not isinstance(mats, Mapping) or not mats:
            raise TypeError("each checkpoint needs a non-empty mapping of named matrices")
        items.append((int(it), mats))
    if not items:
        raise ValueError("checkpoints is empty")
    items.sort(key=lambda p: p[0])
    key: Callable[[str], str]
    if group == "kind":
        key = _default_group
    elif group == "matrix":
        key = str
    elif callable(group):
        key = group
    else:
        raise ValueError(f"group must be 'kind', 'matrix' or a callable, got {group!r}")
    groups: list[str] = []
    for _, mats in items:
        for name in mats:
            gname = key(name)
            if gname not in groups:
                groups.append(gname)
    shape = (len(items), len(groups))
    arrays = {
        k: np.full(shape, np.nan)
        for k in (
            "area",
            "area_err",
            "s2",
            "s2_err",
            "r",
            "tail_trace_fraction",
            "alpha",
            "alpha_err",
            "ratio_mean",
            "ratio_err",
            "ks_goe",
        )
    }
    n_tail = np.zeros(shape, dtype=int)
    fits, spac = [], []
    from fpsolve.progress import track

    steps = track(items, desc="checkpoints", unit="checkpoint", enabled=progress)
    for t, (_, mats) in enumerate(steps):
        row_fits: list[MPFit | None] = []
        row_sp: list[SpacingStatistics | None] = []
        for g, gname in enumerate(groups):
            specs = [spectrum(w, name=nm) for nm, w in mats.items() if key(nm) == gname]
            if not specs:
                row_fits.append(None)
                row_sp.append(None)
                continue
            shapes = {s.shape for s in specs}
            if len(shapes) > 1:
                raise ValueError(f"group {gname!r} mixes matrix shapes {sorted(shapes)}")
            pooled = np.concatenate([s.eigenvalues for s in specs])
            fit = fit_mp_bulk(
                pooled,
                m=specs[0].shape[0],
                n_matrices=len(specs),
                n_bootstrap=n_bootstrap,
                rng=gen,
            )
            row_fits.append(fit)
            for k_, v in (
                ("area", fit.area),
                ("area_err", fit.area_err),
                ("s2", fit.s2),
                ("s2_err", fit.s2_err),
                ("r", fit.r),
                ("tail_trace_fraction", fit.tail_trace_fraction),
            ):
                arrays[k_][t, g] = v
            n_tail[t, g] = fit.n_tail
            if power_law and fit.n >= 12:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    pl = fit_power_law(pooled, bulk=fit, n_bootstrap=50, rng=gen)
                if pl.power_law:
                    arrays["alpha"][t, g] = pl.alpha
                    arrays["alpha_err"][t, g] = pl.alpha_err
            unf = []
            for s in specs:
                lv = s.eigenvalues[(s.eigenvalues > 0) & (s.eigenvalues <= fit.threshold)]
                if len(lv) >= 3:
                    xi = s.shape[1] * fit.area * fit.distribution.cdf(lv)
                    unf.append(Unfolded(lv, xi, np.diff(xi), "mp", None, fit))
            st = None
            if unf:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    st = spacing_statistics(unf)
                arrays["ratio_mean"][t, g] = st.ratio_mean
                arrays["ratio_err"][t, g] = st.ratio_err
                arrays["ks_goe"][t, g] = st.ks["goe"][1]
            row_sp.append(st)
        fits.append(tuple(row_fits))
        spac.append(tuple(row_sp))
    return SpectraEvolution(
        iterations=np.array([it for it, _ in items]),
        groups=tuple(groups),
        n_tail=n_tail,
        fits=tuple(fits),
        spacings=tuple(spac),
        **arrays,
    )


def write_report(
    evolution: SpectraEvolution, out_dir: PathLike, *, iterations: Sequence[int] | None = None
) -> str:
    """Write ``results.json`` and figures of a :class:`SpectraEvolution` into ``out_dir``.

    Files: ``results.json`` (:meth:`SpectraEvolution.as_dict` plus the pooled
    spacing statistics of the last checkpoint), ``evolution.png`` (``A`` and
    ``s2`` against iteration), ``spectra.png`` (spectra with MP fits at the
    checkpoints nearest to ``iterations``, default first, middle and last, one
    row per group, at most 12 rows) and
    ``spacings.png`` (spacings of the last checkpoint pooled over groups, with
    the Wigner surmises and Poisson).

    Parameters
    ----------
    evolution : SpectraEvolution
    out_dir : str or os.PathLike
    iterations : sequence of int, optional
        Iterations shown in ``spectra.png`` (e.g. ``[0, 1000, 5000]``).

    Returns
    -------
    str
        Path of ``results.json``.
    """
    import json
    import os

    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    result = evolution.as_dict()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    evolution.plot(ax)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "evolution.png"), dpi=110)
    plt.close(fig)
    n_rows = min(len(evolution.groups), 12)
    if iterations is None:
        idx = sorted({0, len(evolution.iterations) // 2, len(evolution.iterations) - 1})
    else:
        its = np.asarray(evolution.iterations)
        idx = sorted({int(np.argmin(np.abs(its - it))) for it in iterations})
    fig, axes = plt.subplots(n_rows, len(idx), figsize=(4 * len(idx), 2.8 * n_rows), squeeze=False)
    for g in range(n_rows):
        evolution.plot_spectra(g, iterations=evolution.iterations[idx], axes=axes[g])
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "spectra.png"), dpi=90)
    plt.close(fig)
    last = [s for s in evolution.spacings[-1] if s is not None]
    if last:
        pooled = [
            Unfolded(
                np.arange(len(s.spacings) + 1.0),
                np.concatenate([[0.0], np.cumsum(s.spacings)]),
                s.spacings,
                "mp",
            )
            for s in last
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            st = spacing_statistics(pooled)
        ratios = np.concatenate([s.ratios for s in last])
        summary = st.as_dict()
        summary["ratio_mean"] = float(ratios.mean()) if len(ratios) else None
        summary["ratio_err"] = (
            float(ratios.std(ddof=1) / math.sqrt(len(ratios))) if len(ratios) > 1 else None
        )
        result["spacings_last_pooled"] = summary
        fig, ax = plt.subplots(figsize=(5, 4))
        st.plot(ax)
        ax.set_title(f"iteration {int(evolution.iterations[-1])}, all groups")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "spacings.png"), dpi=110)
        plt.close(fig)
    path = os.path.join(out_dir, "results.json")
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1)
    return path

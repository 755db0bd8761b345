r"""Every comparison of recorded dynamics with theory, in one call.

:func:`validate` runs the analyses of :mod:`validation.analyses.compare`,
:mod:`validation.analyses.predict` and :mod:`validation.analyses.dynamics` on one or more
recordings and returns a :class:`Validation`: for every prediction of the
theory the measured value with its error, the predicted value and a verdict
(:func:`validation.analyses.stats.verdict`: agreement within ``n_sigma`` combined standard
errors), plus the figures.  :meth:`Validation.write` produces ``report.html``
(self-contained), one PNG per figure and ``results.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fpsolve.checks import as_rng, check_positive
from validation._typing import Groups, PathLike, RNGLike
from validation.analyses.stats import N_SIGMA, Entry
from validation.data.recording import Recording, read

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ANALYSES", "Section", "Validation", "validate"]

ANALYSES = {
    "initial_spectrum": "Initial spectrum vs Marchenko-Pastur",
    "one_point": "Degenerate pairs: one-point density and Binder cumulant",
    "spacings": "Level spacings of degenerate pairs",
    "predictions": "Parameter-free predictions from the hyperparameters",
    "dynamics": "Dynamics: mean and width vs step, escape from the initial region",
    "scaling": "Linear scaling with alpha/|B| across the sweep",
    "repulsion": "Eigenvalue repulsion: learned mode / target",
}
"""Analysis keys in report order, with their section titles."""

_DESCRIPTIONS = {
    "initial_spectrum": (
        "Eigenvalues of X = W^T W at the first snapshot, pooled over runs, against the "
        "Marchenko-Pastur law of the recorded initialisation and against exact finite-size "
        "Laguerre-ensemble spectra (Kolmogorov-Smirnov; agreement when p >= 1e-3)."
    ),
    "one_point": (
        "After equilibration, the pooled eigenvalues of each degenerate pair are fitted with the "
        "two-mode density rho(x; x0, sigma) and single modes with a Gaussian; the Binder "
        "cumulant is compared with -4/27 (pairs) and 0 (singles). Errors: jackknife over runs."
    ),
    "spacings": (
        "Spacings S = |x1 - x2| of each degenerate pair: <S> with its jackknife error, and "
        "s = S/<S> against the Wigner surmise (beta = 1) and the Poisson law "
        "(Kolmogorov-Smirnov)."
    ),
    "predictions": (
        "From the RBM hyperparameters alone: each mode's stationary position, width sigma and "
        "each pair's <S>, predicted by the eigenvalue dynamics (SGD map with the RBM drift, the "
        "noise of the PCD estimate of C_model and Coulomb repulsion between all modes), "
        "compared with the recording."
    ),
    "dynamics": (
        "Per-mode mean and width against training step, compared with the DBM ensemble started "
        "from the recorded initial eigenvalues and with the one-mode Fokker-Planck equation; the "
        "measured escape time from the initial region against 1/(2 E_1) of H_FP."
    ),
    "scaling": (
        "sigma and <S> against alpha/|B| across the recordings: slope 1/2 on a log-log plot, "
        "collapse of the alpha- and |B|-series, and the one-parameter fit "
        "<S_i> = a_fit sqrt((alpha/|B|) kappa_i^2 Omega_i) (talk convention; "
        "<S> = a sqrt(alpha eps^2/|B|) for teacher-student recordings)."
    ),
    "repulsion": (
        "Mean learned mode lambda = mu^2 - sigma_h^2 x over its target kappa, against alpha/|B|: "
        "the Coulomb repulsion pushes the modes apart as the noise grows."
    ),
}


@dataclass(frozen=True, eq=False)
class Section:
    """One analysis of one recording (or of all of them, for sweep analyses).

    Attributes
    ----------
    key : str
        Analysis key (see :data:`ANALYSES`).
    label : str
        Which recording(s) it belongs to.
    result : object
        The analysis result (has ``entries()`` and ``plot()``).
    entries : tuple of Entry
        Its numbers.
    """

    key: str
    label: str
    result: object
    entries: tuple

    @property
    def title(self) -> str:
        return ANALYSES[self.key]

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.key]

    @property
    def verdict(self) -> str:
        """``"disagree"`` if any entry disagrees, ``"agree"`` if any agrees, else ``"measured"``."""
        verdicts = {e.verdict for e in self.entries}
        for v in ("disagree", "agree"):
            if v in verdicts:
                return v
        return "measured"


@dataclass(frozen=True, eq=False)
class Validation:
    """Outcome of :func:`validate`.

    Attributes
    ----------
    labels : tuple of str
        One label per recording.
    recordings : tuple of Recording
        The recordings.
    sections : tuple of Section
        The analyses in report order.
    n_sigma : float
        Verdict threshold in combined standard errors.
    skipped : tuple of (str, str, str)
        ``(analysis, label, reason)`` for analyses that do not apply.
    """

    labels: tuple
    recordings: tuple
    sections: tuple
    n_sigma: float
    skipped: tuple = ()

    def entries(self) -> list[Entry]:
        """Every entry of every section, in report order."""
        return [e for s in self.sections for e in s.entries]

    def counts(self) -> dict[str, int]:
        """Number of entries per verdict."""
        out = {"agree": 0, "disagree": 0, "measured": 0}
        for e in self.entries():
            out[e.verdict] += 1
        return out

    def to_dict(self) -> dict:
        """The content of ``results.json``.

        One item per analysis (and recording) under ``"analyses"``, each with its
        rows; every row has ``measured``, ``error``, ``predicted``,
        ``predicted_error``, ``verdict`` and ``n_eff``.
        """
        from fpsolve import __version__

        return {
            "fpsolve_version": __version__,
            "verdict_rule": (
                f"agree when |measured - predicted| <= {self.n_sigma:g} * "
                "sqrt(error^2 + predicted_error^2); Kolmogorov-Smirnov rows agree when "
                "p >= 1e-3; rows without a prediction are 'measured'"
            ),
            "recordings": [
                _recording_summary(lab, r)
                for lab, r in zip(self.labels, self.recordings, strict=True)
            ],
            "summary": self.counts(),
            "analyses": [
                {
                    "analysis": s.key,
                    "title": s.title,
                    "recording": s.label,
                    "verdict": s.verdict,
                    "entries": [e.to_dict() for e in s.entries],
                }
                for s in self.sections
            ],
            "skipped": [
                {"analysis": a, "recording": lab, "reason": why} for a, lab, why in self.skipped
            ],
        }

    def summary(self) -> str:
        """A few lines: verdict counts and the disagreeing entries."""
        c = self.counts()
        lines = [
            f"{len(self.sections)} analyses of {len(self.recordings)} recording(s): "
            f"{c['agree']} agree, {c['disagree']} disagree, {c['measured']} measured only "
            f"(threshold {self.n_sigma:g} combined standard errors)"
        ]
        lines += [
            f"  disagree: {s.label} {e.analysis} {e.quantity}: "
            f"{e.measured:.4g} +- {e.error:.2g} vs {e.predicted:.4g}"
            for s in self.sections
            for e in s.entries
            if e.verdict == "disagree"
        ]
        return "\n".join(lines)

    def overview_figure(self) -> Figure | None:
        """Three panels: pooled pairs against the two-mode density, ``P(s)`` against the
        Wigner surmise (the first recording with degenerate pairs), and ``<S>``
        against the scaling variable across the sweep; None without pairs."""
        import matplotlib.pyplot as plt

        first: dict[str, Any] = {}
        for s in self.sections:
            first.setdefault(s.key, s)
        if "one_point" not in first or "spacings" not in first:
            return None
        panels = [first["one_point"], first["spacings"]]
        if "scaling" in first:
            panels.append(first["scaling"])
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4),
                                 layout="constrained")  # fmt: skip
        for ax, section in zip(axes, panels, strict=True):
            section.result.plot(ax=ax)
            ax.set_title(f"{section.title.split(':')[0]} ({section.label})", fontsize=8)
        return fig

    def write(self, directory: PathLike, *, progress: bool | None = None) -> Path:
        """Write ``report.html``, one PNG per section and ``results.json`` into ``directory``.

        Returns the path of ``report.html``.
        """
        from validation.report.html import write_report

        return write_report(self, directory, progress=progress)

    def write_json(self, path: PathLike) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return path


def _recording_summary(label: str, rec: Recording) -> dict:
    from validation.analyses.stats import _plain

    keys = ("model", "alpha", "batch_size", "noise", "n_v", "n_h", "mu2", "sigma_h", "k")
    out: dict[str, Any] = {"label": label, "path": None if rec.path is None else str(rec.path)}
    out.update({k: rec.attrs[k] for k in keys if k in rec.attrs})
    out.update(
        n_runs=rec.n_runs,
        n_snapshots=len(rec.steps),
        n_modes=rec.n_modes,
        first_step=int(rec.steps[0]),
        last_step=int(rec.steps[-1]),
    )
    return _plain(out)


def _label(rec: Recording, used: set) -> str:
    a = rec.attrs
    if rec.path is not None:
        base = Path(rec.path).stem
    elif "alpha" in a and "batch_size" in a:
        base = f"alpha{a['alpha']:g}_B{int(a['batch_size'])}"
    else:
        base = "recording"
    label, i = base, 1
    while label in used:
        i += 1
        label = f"{base}-{i}"
    used.add(label)
    return label


def _as_recording(obj, i: int) -> Recording:
    if isinstance(obj, Recording):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return read(obj)
    raise TypeError(
        f"recordings[{i}] must be a Recording or the path of a recording file, got {obj!r}"
    )


def _has_groups(rec: Recording) -> bool:
    try:
        groups = rec.mode_groups()
    except ValueError:
        return False
    return any(len(g) >= 2 for g in groups)


def validate(
    recordings: Recording | PathLike | Sequence[Recording | PathLike],
    *,
    analyses: Sequence[str] | None = None,
    groups: Groups | None = None,
    burn_in: int | None = None,
    n_sigma: float = N_SIGMA,
    rng: RNGLike = None,
    progress: bool | None = None,
) -> Validation:
    r"""Compare recorded eigenvalue dynamics with every prediction of the theory.

    Per recording: the initial spectrum against Marchenko-Pastur (RBM
    recordings, which carry their initialisation), one-point densities and Binder
    cumulants of degenerate pairs, level spacings, and for Gaussian-RBM recordings
    the parameter-free predictions of position, width and :math:`\langle S\rangle`
    and the dynamics (mean and width against step, escape time against
    :math:`1/(2E_1)`).  Across recordings (two or more settings): the linear
    scaling with :math:`\alpha/|B|` with the one-parameter fit
    :math:`\langle S_i\rangle = a_{fit}\sqrt{(\alpha/|B|)\,\kappa_i^2\Omega_i}`, and
    the repulsion of the learned modes.

    Parameters
    ----------
    recordings : Recording, path, or sequence of them
        Recordings (:mod:`validation.data.recording`; other formats via
        :mod:`validation.data.importers`).
    analyses : sequence of str, optional
        Subset of :data:`ANALYSES` keys to run (default all that apply).
    groups : sequence of sequence of int, optional
        Degenerate groups of eigenvalue indices, overriding
        :meth:`Recording.mode_groups <validation.data.recording.Recording.mode_groups>`.
    burn_in : int, optional
        Snapshots with ``step < burn_in`` are excluded from stationary
        statistics (default: the first half of the recorded steps).
    n_sigma : float, optional
        Verdict threshold in combined standard errors.
    rng : int, numpy.random.Generator or None
        Seed of the simulations behind the predictions.
    progress : bool, optional
        Progress bars (default: when the output is a terminal).

    Returns
    -------
    Validation
        Sections with results, entries and verdicts; ``write(directory)`` makes
        the report.

    Examples
    --------
    >>> from validation import validate                     # doctest: +SKIP
    >>> result = validate(["alpha0.1_B16.h5", "alpha0.1_B32.h5"], rng=1)  # doctest: +SKIP
    >>> result.write("report")                              # doctest: +SKIP
    """
    from validation.analyses import compare, dynamics, predict

    if isinstance(recordings, (Recording, str, os.PathLike)):
        recordings = [recordings]
    recs = tuple(_as_recording(r, i) for i, r in enumerate(recordings))
    if not recs:
        raise ValueError("recordings must hold at least one recording, got none")
    keys = tuple(ANALYSES) if analyses is None else tuple(analyses)
    unknown = [k for k in keys if k not in ANALYSES]
    if unknown:
        raise ValueError(f"analyses must be among {tuple(ANALYSES)}, got {unknown}")
    n_sigma = check_positive("n_sigma", n_sigma)
    used: set = set()
    labels = tuple(_label(r, used) for r in recs)
    gens = as_rng(rng).spawn(len(recs))

    sections: list[Section] = []
    skipped: list[tuple] = []
    predictions: dict[str, object] = {}

    def add(key, label, result):
        entries = tuple(result.entries())
        if n_sigma != N_SIGMA:
            entries = tuple(_rejudge(e, n_sigma) for e in entries)
        sections.append(Section(key, label, result, entries))

    stationary_kw: dict[str, Any] = {"groups": groups, "burn_in": burn_in}
    for label, rec, gen in zip(labels, recs, gens, strict=True):
        is_rbm = rec.attrs.get("model") == "gaussian_rbm"
        pairs = groups is not None or _has_groups(rec)
        for key in keys:
            if key in ("scaling", "repulsion"):
                continue
            if key == "initial_spectrum":
                if not is_rbm:
                    skipped.append((key, label, "needs the initialisation of a Gaussian-RBM"))
                elif rec.steps[0] != 0:
                    skipped.append((key, label, "the first snapshot is not step 0"))
                else:
                    add(key, label, compare.initial_spectrum(rec, rng=gen))
            elif key in ("one_point", "spacings"):
                if not pairs:
                    skipped.append((key, label, "no degenerate groups known"))
                else:
                    add(key, label, getattr(compare, key)(rec, **stationary_kw))
            elif key == "predictions":
                if not is_rbm:
                    skipped.append((key, label, "parameter-free predictions need RBM attributes"))
                    continue
                try:
                    pred = predict.predict(rec, method="dbm", rng=gen, progress=progress)
                except ValueError as exc:
                    skipped.append((key, label, f"DBM prediction failed ({exc}); small-noise used"))
                    pred = predict.predict(rec, method="small_noise")
                predictions[label] = pred
                add(key, label, predict.compare_predictions(rec, pred, **stationary_kw))
            elif key == "dynamics":
                if not is_rbm or len(rec.steps) < 3:
                    skipped.append((key, label, "needs an RBM recording with >= 3 snapshots"))
                else:
                    add(key, label, dynamics.dynamics(rec, rng=gen, progress=progress))

    sweep_label = "all recordings"
    if "scaling" in keys:
        with_pairs = [r for r in recs if groups is not None or _has_groups(r)]
        if len({_setting_key(r) for r in with_pairs}) >= 2:
            add(
                "scaling",
                sweep_label,
                compare.scaling(
                    with_pairs, **stationary_kw, predicted_a=predict.predicted_a_fit(with_pairs)
                ),
            )
        else:
            skipped.append(("scaling", sweep_label, "needs >= 2 settings with degenerate pairs"))
    if "repulsion" in keys:
        rbm = [
            (lab, r)
            for lab, r in zip(labels, recs, strict=True)
            if r.attrs.get("model") == "gaussian_rbm"
        ]
        if len({_setting_key(r) for _, r in rbm}) >= 2:
            preds: list[Any] = [predictions.get(lab) for lab, _ in rbm]
            if len({getattr(p, "method", None) for p in preds}) != 1:
                preds = [None]  # one method for the whole sweep: the small-noise formula
            add(
                "repulsion",
                sweep_label,
                predict.repulsion(
                    [r for _, r in rbm],
                    predictions=None if any(p is None for p in preds) else preds,
                    method="small_noise" if preds == [None] else "dbm",
                    burn_in=burn_in,
                ),
            )
        else:
            skipped.append(("repulsion", sweep_label, "needs >= 2 RBM settings"))

    order = {k: i for i, k in enumerate(ANALYSES)}
    sections.sort(key=lambda s: order[s.key])
    return Validation(labels, recs, tuple(sections), n_sigma, tuple(skipped))


def _setting_key(rec: Recording) -> tuple:
    a = rec.attrs
    return tuple(float(a.get(k, np.nan)) for k in ("alpha", "batch_size", "noise"))


def _rejudge(e: Entry, n_sigma: float) -> Entry:
    """The same entry judged with another threshold (KS rows keep theirs)."""
    if e.predicted is None or not np.isfinite(e.error):
        return e
    return Entry.compare(
        e.analysis,
        e.quantity,
        e.measured,
        e.error,
        e.predicted,
        e.predicted_error or 0.0,
        n_eff=e.n_eff,
        n_sigma=n_sigma,
        **e.context,
    )

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

import functools
import json
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from fpsolve.checks import as_rng, check_positive
from fpsolve.progress import progress_bar
from validation._typing import Groups, PathLike, RNGLike
from validation.analyses.stats import N_SIGMA, VERDICTS, Entry, run_jackknife
from validation.data.recording import Recording, read
from validation.report._jobs import check_workers, run_jobs
from validation.report.conclusions import Conclusions, conclusions, entry_setting, format_value

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ANALYSES", "MIN_N_EFF", "Section", "Validation", "validate"]

MIN_N_EFF = 20
"""Rows resting on fewer effectively independent samples are flagged."""

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

SHORT_NAMES = {
    "initial_spectrum": "initial spectrum",
    "one_point": "pair densities",
    "spacings": "level spacings",
    "predictions": "stationary predictions",
    "dynamics": "dynamics",
    "scaling": "scaling",
    "repulsion": "repulsion",
}
"""Analysis keys in a few words (terminal tables)."""

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
        "From the RBM hyperparameters alone: each eigenvalue's stationary mean and width and "
        "each pair's <S>, <S^2>/<S>^2 and Binder cumulant, predicted by the best level of the "
        "ladder that reaches a stationary state (level c: SGD of W with exact model samples, "
        "no Gibbs chains; else b, the eigenvalue map with the same exact noise; else a, the "
        "small-noise formula), compared with the recording."
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
    warnings : tuple of str
        What limits the numbers (diverged replicas, few effective samples).
    """

    key: str
    label: str
    result: object
    entries: tuple
    warnings: tuple = ()

    @property
    def title(self) -> str:
        return ANALYSES[self.key]

    @property
    def short_name(self) -> str:
        return SHORT_NAMES[self.key]

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.key]

    @property
    def setting(self) -> str:
        """The setting in words (``alpha=0.1, |B|=8``), or the label for sweep sections."""
        if self.label == SWEEP_LABEL:
            return self.label
        return next((t for e in self.entries if (t := entry_setting(e))), self.label)

    @property
    def verdict(self) -> str:
        """``"disagree"`` if a prediction disagrees, ``"not rejected"`` if a null model
        survives, ``"agree"`` if a prediction agrees, else ``"measured"``."""
        verdicts = {e.verdict for e in self.entries}
        for v in ("disagree", "not rejected", "agree", "rejected"):
            if v in verdicts:
                return "agree" if v == "rejected" else v
        return "measured"

    def counts(self) -> dict[str, int]:
        """Number of entries per verdict."""
        out = dict.fromkeys(VERDICTS, 0)
        for e in self.entries:
            out[e.verdict] += 1
        return out

    def worst(self) -> Entry | None:
        """The prediction row with the largest relative deviation (None without one)."""
        rows = [e for e in self.entries if e.kind == "prediction" and e.deviation is not None]
        return max(rows, key=lambda e: abs(e.deviation[0]), default=None)


SWEEP_LABEL = "all recordings"

_OVERVIEW_TITLES = {
    "one_point": "degenerate pairs vs the two-mode density",
    "spacings": "spacings vs the Wigner surmise",
    "scaling": "mean spacing vs the scaling variable",
}


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
    unequilibrated : dict
        Recording label -> ``{mode: (first-half mean, second-half mean, z)}`` for modes
        whose mean moves between the two halves of the stationary window by more than
        5 standard errors.
    """

    labels: tuple
    recordings: tuple
    sections: tuple
    n_sigma: float
    skipped: tuple = ()
    unequilibrated: dict = field(default_factory=dict)

    def entries(self) -> list[Entry]:
        """Every entry of every section, in report order."""
        return [e for s in self.sections for e in s.entries]

    def counts(self) -> dict[str, int]:
        """Number of entries per verdict (:data:`~validation.analyses.stats.VERDICTS`)."""
        out = dict.fromkeys(VERDICTS, 0)
        for e in self.entries():
            out[e.verdict] += 1
        return out

    def warnings(self) -> list[str]:
        """Every warning: unequilibrated modes, then each section's, naming the setting."""
        out = []
        for label, modes in self.unequilibrated.items():
            parts = ", ".join(
                f"mode {a} ({format_value(m1)} -> {format_value(m2)}, {z:+.1f} sigma)"
                for a, (m1, m2, z) in modes.items()
            )
            out.append(
                f"{label}: not equilibrated: the mean moves between the two halves of the "
                f"stationary window for {parts}; stationary comparisons of these modes are biased"
            )
        out += [f"{s.setting} {s.short_name}: {w}" for s in self.sections for w in s.warnings]
        return out

    def entry_notes(self, section: Section, entry: Entry) -> list[str]:
        """Short warnings of one row (few effective samples, unequilibrated mode)."""
        notes = []
        if entry.n_eff is not None and entry.n_eff < MIN_N_EFF and entry.kind != "measured":
            notes.append(f"n_eff < {MIN_N_EFF}")
        drifting = self.unequilibrated.get(section.label, {})
        if drifting and section.key != "dynamics":
            c = entry.context
            modes = set(c.get("modes") or c.get("pair") or ())
            if "mode" in c:
                modes.add(c["mode"])
            if modes & set(drifting):
                notes.append("not equilibrated")
        return notes

    def conclusions(self) -> Conclusions:
        r"""What holds, what does not, null models, trends with :math:`\alpha/|B|`, warnings
        (:func:`validation.report.conclusions.conclusions`)."""
        return conclusions(
            ((s.label, e) for s in self.sections for e in s.entries),
            warnings=self.warnings(),
            n_sigma=self.n_sigma,
        )

    def to_dict(self) -> dict:
        """The content of ``results.json``.

        ``"conclusions"`` holds the sentences of :meth:`conclusions`, ``"warnings"``
        every warning; one item per analysis (and recording) under ``"analyses"``,
        each with its rows; every row has ``measured``, ``error``, ``predicted``,
        ``predicted_error``, ``verdict``, ``kind``, ``model``, ``level``,
        ``deviation``, ``deviation_error`` and ``n_eff``.
        """
        from fpsolve import __version__

        return {
            "fpsolve_version": __version__,
            "verdict_rule": (
                f"agree when |measured - predicted| <= {self.n_sigma:g} * "
                "sqrt(error^2 + predicted_error^2); Kolmogorov-Smirnov rows agree when "
                "p >= 1e-3; a null model (kind 'null') is 'rejected' (the expected outcome) "
                "where a prediction would disagree; rows without a prediction are 'measured'"
            ),
            "conclusions": self.conclusions().to_dict(),
            "warnings": self.warnings(),
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
                    "setting": s.setting,
                    "verdict": s.verdict,
                    "warnings": list(s.warnings),
                    "entries": [e.to_dict() for e in s.entries],
                }
                for s in self.sections
            ],
            "skipped": [
                {"analysis": a, "recording": lab, "reason": why} for a, lab, why in self.skipped
            ],
        }

    def summary(self, *, verbose: bool = False) -> str:
        """The terminal summary: conclusions, one table row per analysis and setting, and
        with ``verbose`` every row."""
        c = self.counts()
        lines = ["Conclusions", "-----------", *self.conclusions().lines(), ""]
        lines.append(
            f"{len(self.sections)} analyses of {len(self.recordings)} recording(s): "
            f"predictions {c['agree']} agree, {c['disagree']} disagree; null models "
            f"{c['rejected']} rejected (expected), {c['not rejected']} not rejected; "
            f"{c['measured']} measured only (threshold {self.n_sigma:g} combined standard errors)"
        )
        lines += _table(self)
        if verbose:
            for s in self.sections:
                lines += ["", f"{s.title} -- {s.setting}"]
                lines += [f"  {_row_text(self, s, e)}" for e in s.entries]
        else:
            lines.append("(every row: --verbose, or report.html and results.json)")
        for a, lab, why in self.skipped:
            lines.append(f"not applicable: {SHORT_NAMES[a]} ({lab}): {why}")
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
            ax.set_title(f"{_OVERVIEW_TITLES[section.key]}\n{section.setting}")
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


def _section_cells(v: Validation, s: Section) -> list[str]:
    """Cells of a section's summary row: analysis, setting, agree, deviation, nulls, notes."""
    c = s.counts()
    n_pred = c["agree"] + c["disagree"]
    n_null = c["rejected"] + c["not rejected"]
    worst = s.worst()
    if worst is None:
        dev = "-"
    else:
        d, e = cast(tuple[float, float], worst.deviation)  # worst() has a deviation
        dev = f"{100 * d:+.1f}% +- {100 * e:.1f}% ({worst.quantity})"
    null = "-" if not n_null else (
        f"rejected {c['rejected']}/{n_null}" if not c["not rejected"]
        else f"NOT rejected {c['not rejected']}/{n_null}"
    )  # fmt: skip
    notes = len(s.warnings) + sum(bool(v.entry_notes(s, e)) for e in s.entries)
    return [
        s.short_name,
        s.setting,
        f"{c['agree']}/{n_pred}" if n_pred else "-",
        dev,
        null,
        str(c["measured"]),
        f"{notes} warning(s)" if notes else "",
    ]


_TABLE_HEAD = ["analysis", "setting", "agree", "largest deviation", "null models", "measured", ""]


def _table(v: Validation) -> list[str]:
    rows = [_TABLE_HEAD] + [_section_cells(v, s) for s in v.sections]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_TABLE_HEAD))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]  # fmt: skip


def _row_text(v: Validation, s: Section, e: Entry) -> str:
    """One row in words: quantity, measured, prediction, verdict, deviation, notes."""
    if math.isfinite(e.error):
        measured = format_value(e.measured, e.error)
    elif math.isfinite(e.measured):
        why = e.context.get("error_note", "no error estimate")
        measured = f"{format_value(e.measured)} ({why})"
    else:
        measured = f"not measured ({e.context.get('error_note', 'no data')})"
    text = f"{entry_setting(e, s.label)}: {e.quantity} = {measured}"
    if e.predicted is not None:
        text += f" vs {format_value(e.predicted, e.predicted_error)}"
        if e.model:
            text += f" [{e.model}]"
    text += f": {e.verdict}"
    if e.deviation is not None:
        d, err = e.deviation
        text += f", deviation {100 * d:+.1f}% +- {100 * err:.1f}%"
    notes = v.entry_notes(s, e)
    if notes:
        text += f" ({'; '.join(notes)})"
    return text


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
    workers: int | None = None,
) -> Validation:
    r"""Compare recorded eigenvalue dynamics with every prediction of the theory.

    Per recording: the initial spectrum against Marchenko-Pastur (RBM
    recordings, which carry their initialisation), one-point densities and Binder
    cumulants of degenerate pairs, level spacings, and for Gaussian-RBM recordings
    the parameter-free predictions of position, width and pair statistics (the best
    level of the ladder, :mod:`validation.analyses.levels`: level c with at most 64
    replicas, falling back to b and a with a note) and the dynamics (mean and width
    against step, escape time against :math:`1/(2E_1)`).  Across recordings (two or
    more settings): the linear scaling with :math:`\alpha/|B|` with the one-parameter fit
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
    progress : bool or None, optional
        Report progress over the analyses (:func:`fpsolve.progress.progress_bar`:
        a bar in a terminal, plain lines otherwise); None means on, False silent.
    workers : int, optional
        Recordings analysed at the same time, each in a thread whose simulations use
        numba's threads (:func:`numba.get_num_threads`).  Default 2 where numba has two
        threads or more and its threading layer runs parallel kernels from two threads
        at once (:func:`fpsolve.jit.threading_layer` is not ``"workqueue"``), else 1.
        Each recording has its own generator, spawned from ``rng``: the numbers are the
        same for any ``workers``.

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
    from validation.analyses import compare, repulsion

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
    workers = check_workers(workers)
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
        sections.append(Section(key, label, result, entries, _section_warnings(result, entries)))

    per_recording = [k for k in keys if k not in ("scaling", "repulsion")]
    n_stages = len(recs) * len(per_recording) + len(keys) - len(per_recording)
    bar = progress_bar(n_stages, desc="validate", unit="analysis", enabled=progress)
    inner = False if progress is False else None  # simulations report their own progress

    with bar:
        stationary_kw: dict[str, Any] = {"groups": groups, "burn_in": burn_in}
        lock = threading.Lock()

        def stage(desc: str | None) -> None:  # an analysis starts (desc) or ends (None)
            with lock:
                if desc is None:
                    bar.update(1)
                else:
                    bar.set_description(f"validate: {desc}")

        jobs = [
            functools.partial(
                _per_recording, rec, label, gen, per_recording, stationary_kw, inner, stage
            )
            for label, rec, gen in zip(labels, recs, gens, strict=True)
        ]
        done = run_jobs(jobs, workers)
        unequilibrated = {}
        for label, d in zip(labels, done, strict=True):  # in the order of the recordings
            if d.drifting:
                unequilibrated[label] = d.drifting
            for key, res in d.results:
                add(key, label, res)
            skipped.extend(d.skipped)
            if d.prediction is not None:
                predictions[label] = d.prediction

        sweep_label = SWEEP_LABEL
        if "scaling" in keys:
            stage("scaling")
            paired = [k for k, r in enumerate(recs) if groups is not None or _has_groups(r)]
            with_pairs = [recs[k] for k in paired]
            if len({_setting_key(r) for r in with_pairs}) >= 2:
                found = [dict(done[k].results) for k in paired]  # reused where both ran
                both = all("spacings" in f and "one_point" in f for f in found)
                scaled = compare.scaling(
                    with_pairs,
                    **stationary_kw,
                    predicted_a=repulsion.predicted_a_fit(with_pairs),
                    measured=[(f["spacings"], f["one_point"]) for f in found] if both else None,
                )
                add("scaling", sweep_label, scaled)
            else:
                skipped.append(
                    ("scaling", sweep_label, "needs >= 2 settings with degenerate pairs")
                )
            stage(None)
        if "repulsion" in keys:
            stage("repulsion")
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
                    repulsion.repulsion(
                        [r for _, r in rbm],
                        predictions=None if any(p is None for p in preds) else preds,
                        method="small_noise" if preds == [None] else preds[0].method,
                        burn_in=burn_in,
                    ),
                )
            else:
                skipped.append(("repulsion", sweep_label, "needs >= 2 RBM settings"))
            stage(None)
        bar.set_description("validate")

    order = {k: i for i, k in enumerate(ANALYSES)}
    sections.sort(key=lambda s: order[s.key])
    return Validation(labels, recs, tuple(sections), n_sigma, tuple(skipped), unequilibrated)


@dataclass
class _PerRecording:
    """What :func:`validate` found for one recording, in the order of the analyses."""

    results: list[tuple[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    prediction: Any = None
    drifting: Any = None


def _per_recording(rec, label, gen, keys, stationary_kw, inner, stage) -> _PerRecording:
    """The analyses ``keys`` of one recording, in order, with its generator ``gen``."""
    from validation.analyses import compare, dynamics, predict

    out = _PerRecording(drifting=_drifting_modes(rec, stationary_kw["burn_in"]))
    is_rbm = rec.attrs.get("model") == "gaussian_rbm"
    pairs = stationary_kw["groups"] is not None or _has_groups(rec)
    for key in keys:
        stage(f"{SHORT_NAMES[key]} {label}")
        if key == "initial_spectrum":
            if not is_rbm:
                out.skipped.append((key, label, "needs the initialisation of a Gaussian-RBM"))
            elif rec.steps[0] != 0:
                out.skipped.append((key, label, "the first snapshot is not step 0"))
            else:
                out.results.append((key, compare.initial_spectrum(rec, rng=gen)))
        elif key in ("one_point", "spacings"):
            if not pairs:
                out.skipped.append((key, label, "no degenerate groups known"))
            else:
                out.results.append((key, getattr(compare, key)(rec, **stationary_kw)))
        elif key == "predictions":
            if not is_rbm:
                out.skipped.append((key, label, "parameter-free predictions need RBM attributes"))
            else:
                out.prediction = _best_prediction(rec, label, gen, inner, out.skipped)
                out.results.append(
                    (key, predict.compare_predictions(rec, out.prediction, **stationary_kw))
                )
        elif key == "dynamics":
            if not is_rbm or len(rec.steps) < 3:
                out.skipped.append((key, label, "needs an RBM recording with >= 3 snapshots"))
            else:
                out.results.append((key, dynamics.dynamics(rec, rng=gen, progress=inner)))
        stage(None)
    return out


BEST_REPLICAS = 64
"""Replicas of the default prediction (at most the recording's runs)."""


def _best_prediction(rec, label, gen, progress, skipped):
    """The best level that reaches a stationary state at this setting (c, then b, then a).

    A level that fails is noted with its reason, and the next one down is used.
    """
    from validation.analyses import predict

    n = max(2, min(BEST_REPLICAS, rec.n_runs))
    for method in ("matrix", "aligned"):
        try:
            return predict.predict(rec, method=method, n_replicas=n, rng=gen, progress=progress)
        except predict.PredictionFailure as exc:
            skipped.append(("predictions", label, f"{exc}; the next level down is used"))
    return predict.predict(rec, method="small_noise")


def _section_warnings(result: object, entries: Sequence[Entry]) -> tuple[str, ...]:
    """Warnings of one analysis: diverged replicas behind a prediction, few samples."""
    out = []
    diverged = getattr(result, "dbm_diverged", None)
    if diverged is not None and len(diverged):
        n = getattr(result, "n_replicas", "?")
        out.append(f"DBM: {len(diverged)} of {n} replicas diverged and are left out")
    params = getattr(getattr(result, "prediction", None), "params", {}) or {}
    if params.get("diverged_replicas"):
        out.append(
            f"prediction: {params['diverged_replicas']} of {params.get('n_replicas', '?')} "
            "replicas left the domain and are left out"
        )
    few = [e.n_eff for e in entries if e.n_eff is not None and e.n_eff < MIN_N_EFF
           and e.kind != "measured"]  # fmt: skip
    if few:
        out.append(
            f"{len(few)} row(s) rest on fewer than {MIN_N_EFF} effectively independent "
            f"samples (fewest {min(few):.0f}): their errors are uncertain"
        )
    return tuple(out)


DRIFT_SIGMA = 5.0
"""A mode whose mean moves by more than this many standard errors between the two halves
of the stationary window is reported as not equilibrated."""


def _drifting_modes(rec: Recording, burn_in: float | None) -> dict[int, tuple]:
    """Modes whose mean differs between the halves of the window ``step >= burn_in``.

    The difference of the two half-window means of each run is averaged over runs, with
    a jackknife error over runs; ``{mode: (first mean, second mean, z)}`` where
    ``|z| > DRIFT_SIGMA``.
    """
    steps = np.asarray(rec.steps)
    start = steps[-1] / 2 if burn_in is None else burn_in
    idx = np.flatnonzero(steps >= start)
    if idx.size < 4 or rec.n_runs < 2:
        return {}
    data = np.asarray(rec.eigenvalues)[:, idx, :]
    if not np.all(np.isfinite(data)):
        return {}
    half = idx.size // 2
    first = data[:, :half].mean(axis=1)
    second = data[:, half:].mean(axis=1)
    diff = run_jackknife(lambda d: d.mean(axis=0), second - first)
    out = {}
    for a in range(data.shape[-1]):
        value, err = float(np.atleast_1d(diff.value)[a]), float(np.atleast_1d(diff.error)[a])
        if err > 0 and abs(value) > DRIFT_SIGMA * err:
            out[a] = (float(first[:, a].mean()), float(second[:, a].mean()), value / err)
    return out


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
        kind=e.kind,
        model=e.model,
        level=e.level,
        **e.context,
    )

r"""Conclusions drawn from the entries of a validation: what holds, what does not, the trend.

Everything here works from :class:`~validation.analyses.stats.Entry` rows alone, so any
analysis (and any prediction level) that produces entries is summarised the same way:

- prediction rows are grouped by what they were compared with (``model``, ``level``) and
  by quantity family (:attr:`Entry.family <validation.analyses.stats.Entry.family>`);
  each group states the fraction that agrees and its largest relative deviation
  measured/predicted - 1 with its error and where it occurs;
- null-model rows (Poisson spacings, a Gaussian without repulsion) state whether they
  were rejected, which is the expected outcome;
- across recordings with different :math:`\alpha/|B|`, measured/predicted of each group is
  fitted with :func:`~validation.analyses.stats.ratio_trend`
  (:math:`r = c_0 + c_1\,\alpha/|B|`), the systematic pattern of the deviations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from validation.analyses.stats import N_SIGMA, Entry, Trend, _value_error, ratio_trend

__all__ = ["Conclusions", "GroupSummary", "conclusions", "entry_setting", "format_value"]

HOLDS_FRACTION = 0.95
"""A group of at least :data:`HOLDS_MIN_ROWS` predictions holds when at least this fraction
agrees (smaller groups must agree entirely): at ``n_sigma = 3`` about 0.3 % of correct
predictions disagree by chance."""

HOLDS_MIN_ROWS = 20


def format_value(value: float, error: float | None = None) -> str:
    """``value +- error`` with the error to two significant digits (plain text)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if error is None or not math.isfinite(error) or error <= 0:
        return f"{value:.4g}"
    return _value_error(value, error)


def _percent(dev: float, err: float) -> str:
    return f"{100 * dev:+.1f}% +- {100 * err:.1f}%"


def entry_setting(entry: Entry, label: str = "") -> str:
    """The setting an entry belongs to, in words: ``alpha=0.1, |B|=8`` (or ``label``)."""
    c = entry.context
    if "alpha" in c and "batch_size" in c:
        out = f"alpha={c['alpha']:g}, |B|={c['batch_size']:g}"
        if c.get("noise") is not None:
            out += f", noise={c['noise']:g}"
        return out
    return label


def _where(entry: Entry, label: str) -> str:
    setting = entry_setting(entry, label)
    return f"{entry.quantity} at {setting}" if setting else entry.quantity


@dataclass(frozen=True)
class GroupSummary:
    r"""Prediction rows of one quantity family compared with one model.

    Attributes
    ----------
    family, model, level : str
        Quantity family, what it was compared with, and the level key ("" if none).
    n, n_agree : int
        Rows and rows that agree.
    worst : tuple or None
        ``(deviation, error, where)`` of the largest relative deviation in units of its
        own size, or None when no row has a deviation (test statistics).
    trend : Trend or None
        measured/predicted against :math:`\alpha/|B|` when the rows span two or more values.
    """

    family: str
    model: str
    level: str
    n: int
    n_agree: int
    worst: tuple | None
    trend: Trend | None

    @property
    def holds(self) -> bool:
        """All agree, or at least :data:`HOLDS_FRACTION` of :data:`HOLDS_MIN_ROWS` or more."""
        if self.n_agree == self.n:
            return True
        return self.n >= HOLDS_MIN_ROWS and self.n_agree >= HOLDS_FRACTION * self.n

    @property
    def name(self) -> str:
        """The family against the model, e.g. ``KS D vs Marchenko-Pastur``."""
        if not self.model:
            return self.family
        head, sep, _ = self.family.rpartition(" vs ")
        if sep and head:
            return f"{head} vs {self.model}"
        return f"{self.family} [{self.model}]"

    def sentence(self) -> str:
        """One line with the numbers."""
        text = f"{self.name}: {self.n_agree} of {self.n} agree"
        if self.worst is not None:
            dev, err, where = self.worst
            text += f"; largest deviation {_percent(dev, err)} ({where})"
        return text

    def trend_sentence(self, n_sigma: float = N_SIGMA) -> str | None:
        r"""The trend of measured/predicted with :math:`\alpha/|B|`, in words, or None."""
        t = self.trend
        if t is None:
            return None
        c1, e1 = t.slope
        c0, e0 = t.intercept
        if abs(c1) > n_sigma * e1:
            direction = "grows" if c1 > 0 else "falls"
            words = f"measured/predicted {direction} with alpha/|B|"
        else:
            words = "no significant trend with alpha/|B|"
        limit = (
            "extrapolates to 1 at alpha/|B| -> 0"
            if abs(c0 - 1.0) <= n_sigma * e0
            else f"extrapolates to {format_value(c0, e0)} (not 1) at alpha/|B| -> 0"
        )
        return f"{self.name}: {words}, {limit}; fit {t.describe()}"


@dataclass(frozen=True)
class Conclusions:
    r"""What a validation shows, in sentences with the numbers.

    Attributes
    ----------
    holds, fails : tuple of GroupSummary
        Prediction groups that hold and that do not (worst first).
    nulls : tuple of str
        One line per null model: rejected as expected, or flagged.
    nulls_ok : bool
        Every null model was rejected.
    trends : tuple of str
        Fits of measured/predicted against :math:`\alpha/|B|`.
    levels : tuple of str
        The prediction levels used, with their rows.
    warnings : tuple of str
        Diverged replicas, few effective samples, unequilibrated runs.
    n_measured : int
        Rows without a prediction.
    """

    holds: tuple
    fails: tuple
    nulls: tuple
    nulls_ok: bool
    trends: tuple
    levels: tuple
    warnings: tuple
    n_measured: int

    def headline(self) -> str:
        """One sentence: how many prediction groups hold."""
        n = len(self.holds) + len(self.fails)
        if n == 0:
            return "No prediction of the theory applies to these recordings."
        null = "" if not self.nulls else (
            " Every null model is rejected, as expected." if self.nulls_ok
            else " Some null model is NOT rejected (see below)."
        )  # fmt: skip
        return (
            f"Of {n} predicted quantities (each over its modes, pairs and settings), "
            f"{len(self.holds)} hold and {len(self.fails)} do not.{null}"
        )

    def lines(self) -> list[str]:
        """The conclusions as plain-text lines (terminal)."""
        out = [self.headline()]
        for title, items in (
            ("Warnings", list(self.warnings)),
            ("Holds", [g.sentence() for g in self.holds]),
            ("Does not hold", [g.sentence() for g in self.fails]),
            ("Null models (rejection expected)", list(self.nulls)),
            ("Systematic pattern", list(self.trends)),
            ("Prediction levels used", list(self.levels)),
        ):
            if items:
                out.append(f"{title}:")
                out += [f"  - {item}" for item in items]
        return out

    def text(self) -> str:
        """:meth:`lines` joined."""
        return "\n".join(self.lines())

    def to_dict(self) -> dict:
        """JSON-ready form (the ``conclusions`` item of ``results.json``)."""
        return {
            "headline": self.headline(),
            "holds": [g.sentence() for g in self.holds],
            "does_not_hold": [g.sentence() for g in self.fails],
            "null_models": list(self.nulls),
            "trends": list(self.trends),
            "levels": list(self.levels),
            "warnings": list(self.warnings),
        }


def _alpha_over_b(e: Entry) -> float | None:
    c = e.context
    try:
        return float(c["alpha"]) / float(c["batch_size"])
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def _group_summary(key: tuple, rows: Sequence[tuple[str, Entry]], n_sigma: float):
    family, model, level = key
    n_agree = sum(e.verdict == "agree" for _, e in rows)
    worst = None
    points = []
    for label, e in rows:
        dev = e.deviation
        if dev is None:
            continue
        if worst is None or abs(dev[0]) > abs(worst[0]):
            worst = (dev[0], dev[1], _where(e, label))
        v = _alpha_over_b(e)
        if v is not None and dev[1] > 0:
            points.append((v, 1.0 + dev[0], dev[1]))
    trend = None
    if len({p[0] for p in points}) >= 2:
        vs, rs, drs = (np.array(col) for col in zip(*points, strict=True))
        trend = ratio_trend(vs, rs, drs, n_sigma=n_sigma)
    return GroupSummary(family, model, level, len(rows), n_agree, worst, trend)


def conclusions(
    rows: Iterable[tuple[str, Entry]],
    *,
    warnings: Sequence[str] = (),
    n_sigma: float = N_SIGMA,
) -> Conclusions:
    """Draw the conclusions of a set of entries.

    Parameters
    ----------
    rows : iterable of (str, Entry)
        Each entry with the label of the recording (or sweep) it belongs to.
    warnings : sequence of str
        Warnings to report with the conclusions.
    n_sigma : float, optional
        Significance threshold of the trend statements.

    Returns
    -------
    Conclusions
    """
    groups: dict[tuple, list] = {}
    nulls: dict[str, list] = {}
    n_measured = 0
    for label, e in rows:
        if e.kind == "prediction":
            groups.setdefault((e.family, e.model or "", e.level or ""), []).append((label, e))
        elif e.kind == "null":
            nulls.setdefault(e.model or e.family, []).append((label, e))
        else:
            n_measured += 1
    summaries = [_group_summary(k, v, n_sigma) for k, v in groups.items()]
    holds = tuple(g for g in summaries if g.holds)
    fails = tuple(sorted((g for g in summaries if not g.holds), key=lambda g: g.n_agree / g.n))
    null_lines = []
    nulls_ok = True
    for model, items in nulls.items():
        kept = [_where(e, lab) for lab, e in items if e.verdict == "not rejected"]
        rejected = len(items) - len(kept)
        line = f"{model}: rejected in {rejected} of {len(items)}"
        if kept:
            nulls_ok = False
            line += f"; NOT rejected: {', '.join(kept)} (the data cannot tell it from the theory)"
        else:
            line += " (expected)"
        null_lines.append(line)
    # the ladder's predictions depend on alpha/|B|; exact laws and constants do not
    trends = tuple(s for g in summaries if g.level and (s := g.trend_sentence(n_sigma)) is not None)
    levels: dict[str, dict] = {}
    for g in summaries:
        if g.level:
            item = levels.setdefault(g.level, {"models": set(), "n": 0, "agree": 0})
            item["models"].add(g.model)
            item["n"] += g.n
            item["agree"] += g.n_agree
    level_lines = tuple(
        f"level {key}: {', '.join(sorted(item['models']))}: {item['agree']} of {item['n']} "
        "rows agree"
        for key, item in sorted(levels.items(), reverse=True)
    )
    if len(levels) > 1:
        level_lines = (f"best level used: {max(levels)}", *level_lines)
    return Conclusions(
        holds=holds,
        fails=fails,
        nulls=tuple(null_lines),
        nulls_ok=nulls_ok,
        trends=trends,
        levels=level_lines,
        warnings=tuple(warnings),
        n_measured=n_measured,
    )

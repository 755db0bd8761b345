"""The validation report: one self-contained HTML file, PNG figures and ``results.json``."""

from __future__ import annotations

import base64
import html
import io
import math
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from validation._typing import PathLike
from validation.report.conclusions import entry_setting, format_value

if TYPE_CHECKING:
    from validation.report.pipeline import Validation

__all__ = ["REPORT_FILES", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1150px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
h3{font-size:1.05em;margin:1em 0 .3em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.agree,.rejected{color:#116611;font-weight:600}.disagree{color:#b00020;font-weight:600}
.not-rejected{color:#a35c00;font-weight:600}.measured{color:#555}
.note{color:#555;font-size:.92em}
.box{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.8em 0;background:#fafafa}
.box ul{margin:.2em 0 .5em;padding-left:1.3em}.box li{margin:.15em 0}
.holds li::marker{color:#116611}.fails li::marker{color:#b00020}
.warn{background:#fff7e6;border-color:#f0c36d}
.headline{font-size:1.1em;font-weight:600}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
"""

REPORT_FILES = ("report.html", "results.json", "overview.png", "[0-9][0-9]_*.png")
"""The files a report writes (glob patterns); :func:`write_report` replaces them and
nothing else in its directory."""


def _esc(text) -> str:
    return html.escape(str(text))


def _fmt(v, err=None) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "&ndash;"
    if err is None or not math.isfinite(err) or err <= 0:
        return f"{v:.5g}"
    return html.escape(format_value(v, err)).replace("+-", "&plusmn;")


def _figure_png(result, method: str = "plot") -> bytes | None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from validation.report.style import report_style

    with report_style(), warnings.catch_warnings():
        # matplotlib times its search for the best legend place and warns when a loaded
        # machine makes it slow; the figure is the same
        warnings.filterwarnings("ignore", message="Creating legend with loc=.best.")
        fig = getattr(result, method)()
        if fig is None:
            return None
        if not hasattr(fig, "savefig"):
            fig = getattr(fig, "figure", None) or plt.gcf()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "x"


def _verdict_cell(e) -> str:
    cls = e.verdict.replace(" ", "-")
    text = {"rejected": "rejected (expected)", "not rejected": "not rejected (!)"}.get(
        e.verdict, e.verdict
    )
    return f"<td class='{cls}'>{text}</td>"


def _measured_cell(e) -> str:
    if math.isfinite(e.error):
        return f"<td>{_fmt(e.measured, e.error)}</td>"
    why = e.context.get("error_note")
    if not math.isfinite(e.measured):
        return f"<td class=l>not measured{': ' + _esc(why) if why else ''}</td>"
    note = f"<br><span class=note>{_esc(why)}</span>" if why else ""
    return f"<td>{_fmt(e.measured)}{note}</td>"


def _entry_rows(validation, section) -> str:
    rows = []
    for e in section.entries:
        c = e.context
        dev = e.deviation
        deviation = "&ndash;" if dev is None else (
            f"{100 * dev[0]:+.1f}% &plusmn; {100 * dev[1]:.1f}%"
        )  # fmt: skip
        predicted = _fmt(e.predicted, e.predicted_error)
        if e.model:
            predicted += f"<br><span class=note>{_esc(e.model)}</span>"
        tau = c.get("tau_int")
        notes = validation.entry_notes(section, e)
        rows.append(
            "<tr>"
            f"<td class=l>{_esc(e.quantity)}</td>"
            f"<td class=l>{_esc(entry_setting(e, section.label))}</td>"
            f"{_measured_cell(e)}"
            f"<td>{predicted}</td>"
            f"<td>{deviation}</td>"
            f"{_verdict_cell(e)}"
            f"<td>{'&ndash;' if e.n_eff is None else f'{e.n_eff:.0f}'}</td>"
            f"<td>{c.get('snapshots', '&ndash;')}</td>"
            f"<td>{'&ndash;' if tau is None else f'{tau:.2g}'}</td>"
            f"<td class=l>{_esc('; '.join(notes))}</td>"
            "</tr>"
        )
    head = (
        "<tr><th class=l>quantity</th><th class=l>setting</th><th>measured</th>"
        "<th>predicted</th><th>measured/predicted &minus; 1</th><th>verdict</th>"
        "<th>n_eff</th><th>snapshots</th><th>tau_int</th><th class=l>notes</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _conclusions_html(validation) -> str:
    c = validation.conclusions()
    parts = [f"<p class=headline>{_esc(c.headline())}</p>"]
    if c.warnings:
        parts.append("<div class='box warn'><h3>Warnings</h3><ul>")
        parts += [f"<li>{_pm(w)}</li>" for w in c.warnings]
        parts.append("</ul></div>")
    parts.append("<div class=box>")
    for title, items, cls in (
        ("What holds", [g.sentence() for g in c.holds], "holds"),
        ("What does not hold", [g.sentence() for g in c.fails], "fails"),
        ("Null models (rejection is the expected outcome)", c.nulls, ""),
        ("Systematic pattern: measured/predicted against &alpha;/|B|", c.trends, ""),
        ("Prediction levels used", c.levels, ""),
    ):
        if items:
            parts.append(f"<h3>{title}</h3><ul class='{cls}'>")
            parts += [f"<li>{_pm(item)}</li>" for item in items]
            parts.append("</ul>")
    parts.append("</div>")
    return "".join(parts)


def _pm(text: str) -> str:
    """Escaped text with ``+-`` shown as a plus-minus sign."""
    return _esc(text).replace(" +- ", " &plusmn; ")


def _summary_table(validation) -> str:
    from validation.report.pipeline import _TABLE_HEAD, _section_cells

    head = "".join(f"<th class=l>{_esc(h)}</th>" for h in _TABLE_HEAD[:-1]) + "<th>notes</th>"
    rows = []
    for i, s in enumerate(validation.sections):
        cells = _section_cells(validation, s)
        cls = s.verdict.replace(" ", "-")
        rows.append(
            f"<tr><td class=l><a href='#s{i}'>{_esc(cells[0])}</a></td>"
            + "".join(f"<td class=l>{_esc(x)}</td>" for x in cells[1:2])
            + f"<td class='{cls}'>{_esc(cells[2])}</td>"
            + "".join(f"<td class=l>{_pm(x)}</td>" for x in cells[3:])
            + "</tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _clean(out: Path) -> None:
    """Remove the files an earlier report wrote (only :data:`REPORT_FILES`)."""
    for pattern in REPORT_FILES:
        for path in out.glob(pattern):
            if path.is_file():
                path.unlink()


def write_report(
    validation: Validation, directory: PathLike, *, progress: bool | None = None
) -> Path:
    """Write the report of a :class:`~validation.Validation`.

    The files of an earlier report in ``directory`` (:data:`REPORT_FILES`: figures
    of sections that no longer exist included) are removed first; nothing else in
    the directory is touched.

    Parameters
    ----------
    validation : Validation
        Result of :func:`validation.validate`.
    directory : str or os.PathLike
        Output directory (created if needed): ``report.html`` (figures embedded),
        ``NN_<analysis>_<recording>.png`` per section, ``overview.png`` and
        ``results.json``.
    progress : bool or None, optional
        Report progress while the figures are drawn
        (:func:`fpsolve.progress.progress_bar`); None means on, False silent.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.
    """
    from fpsolve import __version__
    from fpsolve.progress import progress_bar

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    validation.write_json(out / "results.json")

    counts = validation.counts()
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>fpsolve validation report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>fpsolve validation report</h1>",
        f"<p class=note>fpsolve {_esc(__version__)}, written "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}; "
        f"{len(validation.recordings)} recording(s): {_esc(', '.join(validation.labels))}.</p>",
        "<h2>Conclusions</h2>",
        _conclusions_html(validation),
    ]
    with progress_bar(len(validation.sections) + 1, desc="report figures", unit="figure",
                      enabled=progress) as bar:  # fmt: skip
        overview = _figure_png(validation, method="overview_figure")
        bar.update(1)
        if overview is not None:
            (out / "overview.png").write_bytes(overview)
            data = base64.b64encode(overview).decode("ascii")
            parts.append(f"<img alt='overview.png' src='data:image/png;base64,{data}'>")
        parts += [
            "<h2>Summary per analysis and setting</h2>",
            f"<p>Predictions: <span class=agree>{counts['agree']} agree</span>, "
            f"<span class=disagree>{counts['disagree']} disagree</span>; null models: "
            f"<span class=rejected>{counts['rejected']} rejected (expected)</span>, "
            f"<span class=not-rejected>{counts['not rejected']} not rejected</span>; "
            f"<span class=measured>{counts['measured']} measured only</span>.</p>",
            _summary_table(validation),
            "<p class=note><b>How to read the verdicts.</b> Rows are of three kinds. A "
            "<i>prediction</i> of the theory <span class=agree>agrees</span> when "
            f"|measured &minus; predicted| &le; {validation.n_sigma:g} "
            "&radic;(error&sup2; + predicted error&sup2;) and otherwise "
            "<span class=disagree>disagrees</span>; a <i>null model</i> (Poisson spacings, a "
            "Gaussian without repulsion) is what the theory is not, and its expected fate is to "
            "be <span class=rejected>rejected</span> by the same rule; <i>measured</i> rows "
            "have no prediction. Kolmogorov-Smirnov rows agree (or are not rejected) when "
            "p &ge; 10<sup>&minus;3</sup>. Errors are jackknife errors over independent runs; "
            "<i>n_eff</i> is the number of effectively independent samples (runs times "
            "snapshots over the integrated autocorrelation time <i>tau_int</i>, in snapshots)."
            "</p>",
            "<h2>Recordings</h2>",
        ]
        summaries = validation.to_dict()["recordings"]
        cols = [k for k in summaries[0] if k != "path"]
        parts.append(
            "<table><tr>"
            + "".join(f"<th class=l>{_esc(c)}</th>" for c in cols)
            + "</tr>"
            + "".join(
                "<tr>" + "".join(f"<td class=l>{_esc(s.get(c, ''))}</td>" for c in cols) + "</tr>"
                for s in summaries
            )
            + "</table>"
        )
        for i, s in enumerate(validation.sections):
            bar.set_description(f"report figures: {s.short_name} {s.label}")
            parts.append(
                f"<h2 id='s{i}'>{_esc(s.title)} &mdash; {_esc(s.setting)}</h2>"
                f"<p class=note>{_esc(s.description)}</p>"
            )
            if s.warnings:
                parts.append("<div class='box warn'><ul>")
                parts += [f"<li>{_esc(w)}</li>" for w in s.warnings]
                parts.append("</ul></div>")
            png = _figure_png(s.result)
            if png is not None:
                name = f"{i:02d}_{s.key}_{_slug(s.label)}.png"
                (out / name).write_bytes(png)
                data = base64.b64encode(png).decode("ascii")
                parts.append(f"<img alt='{_esc(name)}' src='data:image/png;base64,{data}'>")
            parts.append(_entry_rows(validation, s))
            bar.update(1)
        bar.set_description("report figures")
    if validation.skipped:
        parts.append("<h2>Not applicable</h2><ul>")
        parts += [
            f"<li>{_esc(a)} ({_esc(lab)}): {_esc(why)}</li>" for a, lab, why in validation.skipped
        ]
        parts.append("</ul>")
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path

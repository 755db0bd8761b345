"""The validation report: one self-contained HTML file, PNG figures and ``results.json``."""

from __future__ import annotations

import base64
import html
import io
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from validation._typing import PathLike

if TYPE_CHECKING:
    from validation.report.pipeline import Validation

__all__ = ["write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.agree{color:#116611;font-weight:600}.disagree{color:#b00020;font-weight:600}
.measured{color:#555}.note{color:#555;font-size:.92em}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
"""


def _fmt(v, err=None) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "&ndash;"
    if err is None or not math.isfinite(err) or err <= 0:
        return f"{v:.5g}"
    digits = max(0, 1 - math.floor(math.log10(err))) if err < 1 else 0
    digits = min(digits, 8)
    return f"{v:.{digits}f} &plusmn; {err:.{digits}f}" if digits else f"{v:.3g} &plusmn; {err:.2g}"


def _figure_png(result, method: str = "plot") -> bytes | None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = getattr(result, method)()
    if fig is None:
        return None
    if not hasattr(fig, "savefig"):
        fig = getattr(fig, "figure", None) or plt.gcf()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "x"


def _entry_rows(section) -> str:
    rows = []
    for e in section.entries:
        ctx = ", ".join(f"{k}={v}" for k, v in e.context.items() if not isinstance(v, (list, dict)))
        ratio = "&ndash;"
        if e.predicted not in (None, 0.0) and math.isfinite(e.measured) and math.isfinite(e.error):
            ratio = _fmt(e.measured / e.predicted, abs(e.error / e.predicted))
        rows.append(
            "<tr>"
            f"<td class=l>{html.escape(e.quantity)}</td>"
            f"<td>{_fmt(e.measured, e.error)}</td>"
            f"<td>{_fmt(e.predicted, e.predicted_error)}</td>"
            f"<td>{ratio}</td>"
            f"<td class='{e.verdict}'>{e.verdict}</td>"
            f"<td>{'&ndash;' if e.n_eff is None else f'{e.n_eff:.0f}'}</td>"
            f"<td class=l>{html.escape(ctx)}</td>"
            "</tr>"
        )
    head = (
        "<tr><th class=l>quantity</th><th>measured</th><th>predicted</th>"
        "<th>measured/predicted</th><th>verdict</th><th>n_eff</th><th class=l>context</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def write_report(
    validation: Validation, directory: PathLike, *, progress: bool | None = None
) -> Path:
    """Write the report of a :class:`~validation.Validation`.

    Parameters
    ----------
    validation : Validation
        Result of :func:`validation.validate`.
    directory : str or os.PathLike
        Output directory (created if needed): ``report.html`` (figures embedded),
        ``NN_<analysis>_<recording>.png`` per section and ``results.json``.
    progress : bool, optional
        Progress bar while the figures are drawn.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.
    """
    import sys

    from tqdm.auto import tqdm

    from fpsolve import __version__

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    validation.write_json(out / "results.json")

    counts = validation.counts()
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>fpsolve validation report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>fpsolve validation report</h1>",
        f"<p class=note>fpsolve {html.escape(__version__)}, written "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}.</p>",
        "<p><b>Verdict rule.</b> A measurement <i>agrees</i> with its prediction when "
        f"|measured &minus; predicted| &le; {validation.n_sigma:g} "
        "&radic;(error&sup2; + predicted error&sup2;); Kolmogorov-Smirnov rows agree when "
        "p &ge; 10<sup>&minus;3</sup>. Errors are jackknife errors over independent runs; "
        "<i>n_eff</i> is the number of effectively independent samples (runs times snapshots "
        "over the integrated autocorrelation time).</p>",
        f"<p><b>Summary:</b> <span class=agree>{counts['agree']} agree</span>, "
        f"<span class=disagree>{counts['disagree']} disagree</span>, "
        f"<span class=measured>{counts['measured']} measured only</span>.</p>",
    ]
    overview = _figure_png(validation, method="overview_figure")
    if overview is not None:
        (out / "overview.png").write_bytes(overview)
        data = base64.b64encode(overview).decode("ascii")
        parts.append(f"<img alt='overview.png' src='data:image/png;base64,{data}'>")
    parts.append("<h2>Recordings</h2>")
    summaries = validation.to_dict()["recordings"]
    cols = [k for k in summaries[0] if k != "path"]
    parts.append(
        "<table><tr>"
        + "".join(f"<th class=l>{html.escape(c)}</th>" for c in cols)
        + "</tr>"
        + "".join(
            "<tr>"
            + "".join(f"<td class=l>{html.escape(str(s.get(c, '')))}</td>" for c in cols)
            + "</tr>"
            for s in summaries
        )
        + "</table>"
    )
    parts.append(
        "<h2>Overview</h2><table><tr><th class=l>analysis</th><th class=l>recording"
        "</th><th>entries</th><th>verdict</th></tr>"
    )
    for i, s in enumerate(validation.sections):
        parts.append(
            f"<tr><td class=l><a href='#s{i}'>{html.escape(s.title)}</a></td>"
            f"<td class=l>{html.escape(s.label)}</td><td>{len(s.entries)}</td>"
            f"<td class='{s.verdict}'>{s.verdict}</td></tr>"
        )
    parts.append("</table>")

    show = sys.stderr.isatty() if progress is None else bool(progress)
    with tqdm(total=len(validation.sections), desc="report figures", disable=not show) as bar:
        for i, s in enumerate(validation.sections):
            parts.append(
                f"<h2 id='s{i}'>{html.escape(s.title)} &mdash; {html.escape(s.label)}</h2>"
                f"<p class=note>{html.escape(s.description)}</p>"
            )
            png = _figure_png(s.result)
            if png is not None:
                name = f"{i:02d}_{s.key}_{_slug(s.label)}.png"
                (out / name).write_bytes(png)
                data = base64.b64encode(png).decode("ascii")
                parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>")
            parts.append(_entry_rows(s))
            bar.update(1)
    if validation.skipped:
        parts.append("<h2>Not applicable</h2><ul>")
        parts += [
            f"<li>{html.escape(a)} ({html.escape(lab)}): {html.escape(why)}</li>"
            for a, lab, why in validation.skipped
        ]
        parts.append("</ul>")
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path

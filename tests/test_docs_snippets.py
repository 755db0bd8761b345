"""The Python snippets of the quick start run as written and save what they promise."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _snippets(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_quickstart_has_the_snippets_tested_here():
    assert len(_snippets("quickstart.md")) == 2


def _run(code: str, tmp_path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(code, "quickstart.md", "exec"), {"__name__": "__main__"})
    finally:
        plt.close("all")


def test_first_steps_snippet_saves_its_figure(tmp_path, monkeypatch, capsys):
    _run(_snippets("quickstart.md")[0], tmp_path, monkeypatch)
    assert (tmp_path / "sgd.png").stat().st_size > 10_000
    mean, std = map(float, capsys.readouterr().out.splitlines()[0].split())
    assert abs(mean - 5.0) < 3 * std


@pytest.mark.slow
def test_validation_snippet_writes_the_report(tmp_path, monkeypatch, capsys):
    _run(_snippets("quickstart.md")[1], tmp_path, monkeypatch)
    report = (tmp_path / "report" / "report.html").read_text()
    assert "Conclusions" in report
    assert (tmp_path / "report" / "results.json").exists()
    assert "predicted quantities" in capsys.readouterr().out

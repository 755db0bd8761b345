"""The fpsolve command line: discovery, --help, --version, stationary, demo, validate."""

import subprocess
import sys

import pytest

import fpsolve
from fpsolve.cli import build_parser, main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert fpsolve.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("stationary", "demo", "validate"):
        assert command in out


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "fpsolve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: fpsolve" in out


def test_stationary_prints_and_plots(tmp_path, capsys):
    target = tmp_path / "p.png"
    assert (
        main(["stationary", "rbm", "--g2", "0.05", "--kappa", "4", "--mu2", "9", "-o", str(target)])
        == 0
    )
    out = capsys.readouterr().out
    assert "mode       5" in out
    assert target.stat().st_size > 1000


def test_stationary_bad_input_is_clear(capsys):
    assert main(["stationary", "rbm", "--g2", "0.1", "--kappa", "10", "--mu2", "9"]) == 2
    assert "kappa must be < mu2" in capsys.readouterr().err
    assert main(["stationary", "harmonic", "--g2", "-1"]) == 2
    assert "g2 must be > 0" in capsys.readouterr().err


def test_fpsolve_never_imports_validation():
    code = (
        "import sys, fpsolve, fpsolve.models, fpsolve.analytic, fpsolve.cli; "
        "import pkgutil, importlib; "
        "[importlib.import_module('fpsolve.' + m.name)"
        " for m in pkgutil.iter_modules(fpsolve.__path__)"
        " if m.name not in ('cli', '__main__')]; "
        "assert not any(k == 'validation' or k.startswith('validation.') for k in sys.modules), "
        "sorted(k for k in sys.modules if k.startswith('validation'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_parser_has_every_subcommand_once():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = list(sub.choices)
    assert len(names) == len(set(names))


@pytest.mark.slow  # trains and reports a whole (reduced) sweep: 10 s to a minute
def test_demo_quick_writes_report(tmp_path, capsys):
    import json

    assert main(["demo", "--quick", "-o", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "report written to" in out
    assert out.startswith("Conclusions")
    assert "analyses of 2 recording(s)" in out
    assert "nan" not in out.lower()
    # progress as plain lines (stderr is not a terminal here): training, analyses, figures
    for stage in ("train 2 settings: started", "validate: done", "report figures: done"):
        assert stage in captured.err
    assert len(list((tmp_path / "recordings").glob("*.h5"))) == 2
    assert (tmp_path / "report.html").stat().st_size > 100_000
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"]["agree"] > 0
    assert {a["analysis"] for a in results["analyses"]} >= {"spacings", "predictions", "scaling"}

"""The report: conclusions from known truths, progress lines, the output directory, the CLI."""

import io
import json

import numpy as np
import pytest

from fpsolve.progress import PlainProgress, progress_bar, track
from validation import validate
from validation.analyses.stats import Entry
from validation.data.recording import Recording
from validation.report.conclusions import conclusions

N_RUNS, N_SNAP = 60, 40


def _pairs_recording(repulsion: bool, *, alpha: float, batch_size: int, seed: int) -> Recording:
    """Two independent pairs per run, each around its own centre, with known physics.

    With ``repulsion`` each pair is the spectrum of ``x0 + H``, ``H`` a 2x2 GOE matrix of
    scale sigma: exactly the two-mode (beta = 1) density, Wigner spacings and Binder -4/27.
    Without, two independent Gaussians: no repulsion, Binder 0.
    """
    gen = np.random.default_rng(seed)
    sigma = 0.1
    shape = (N_RUNS, N_SNAP)
    out = []
    for x0 in (1.0, 3.0):
        if repulsion:
            a, c = gen.normal(0, sigma, (2, *shape))
            b = gen.normal(0, sigma / np.sqrt(2), shape)
            mid, half = (a + c) / 2, np.sqrt(((a - c) / 2) ** 2 + b**2)
            out += [x0 + mid - half, x0 + mid + half]
        else:
            pair = np.sort(gen.normal(0, sigma * np.sqrt(1.5), (2, *shape)), axis=0)
            out += [x0 + pair[0], x0 + pair[1]]
    attrs = {"model": "synthetic", "groups": [0, 0, 1, 1], "alpha": alpha,
             "batch_size": batch_size}  # fmt: skip
    return Recording(np.stack(out, axis=-1), np.arange(N_SNAP) * 10, attrs=attrs)


@pytest.fixture(scope="module")
def wigner():
    recs = [_pairs_recording(True, alpha=0.1, batch_size=b, seed=b) for b in (8, 32)]
    return validate(recs, analyses=["one_point", "spacings"], burn_in=0, progress=False)


@pytest.fixture(scope="module")
def gaussian():
    recs = [_pairs_recording(False, alpha=0.1, batch_size=b, seed=b) for b in (8, 32)]
    return validate(recs, analyses=["one_point", "spacings"], burn_in=0, progress=False)


def test_conclusions_when_the_theory_holds(wigner):
    c = wigner.conclusions()
    names = [g.name for g in c.holds]
    assert c.fails == ()
    assert any(n.startswith("KS D of s vs Wigner surmise") for n in names)
    assert any(n.startswith("Binder U4 pair") for n in names)
    assert c.nulls_ok
    assert any(line.startswith("Poisson (no repulsion): rejected in 2 of 2 (expected)")
               for line in c.nulls)  # fmt: skip
    assert c.headline().endswith("Every null model is rejected, as expected.")
    assert "do not" in c.headline()
    assert " 0 do not" in c.headline()
    # no unequilibrated modes: the samples are stationary by construction
    assert wigner.unequilibrated == {}


def test_conclusions_when_the_repulsion_is_absent(gaussian):
    c = gaussian.conclusions()
    failed = {g.name: g for g in c.fails}
    assert any(n.startswith("KS D of s vs Wigner surmise") for n in failed)
    binder = next(g for n, g in failed.items() if n.startswith("Binder U4 pair"))
    assert binder.n_agree == 0
    assert binder.n == 4
    # the Gaussian null model is what the data are: it survives, and that is flagged
    assert not c.nulls_ok
    gauss = next(line for line in c.nulls if line.startswith("Gaussian without repulsion"))
    assert "NOT rejected" in gauss
    assert "|B|=8" in gauss
    assert "|B|=32" in gauss
    text = c.text()
    assert "Does not hold:" in text
    assert "largest deviation" in text


def test_trend_of_measured_over_predicted_across_settings():
    """measured/predicted = 1 + 4 (alpha/|B|) exactly: the trend names c1 = 4, intercept 1."""
    rows = []
    for b in (4, 8, 16, 32, 64):
        v = 0.1 / b
        for mode, err in ((0, 0.002), (1, 0.004)):
            e = Entry.compare("prediction", f"std x mode {mode}", (1 + 4 * v) * 2.0, 2 * err,
                              2.0, model="small-noise formula (a)", level="a", alpha=0.1,
                              batch_size=b, mode=mode)  # fmt: skip
            rows.append((f"B{b}", e))
    c = conclusions(rows)
    (group,) = c.holds + c.fails
    assert group.trend.coef == pytest.approx((1.0, 4.0), abs=1e-9)
    (line,) = c.trends
    assert "grows with alpha/|B|" in line
    assert "extrapolates to 1 at alpha/|B| -> 0" in line
    # |m - p| / dm = 4 v / err <= 3 only for mode 1 at |B| = 64
    assert c.levels == ("level a: small-noise formula (a): 1 of 10 rows agree",)


def test_terminal_summary_names_the_setting_and_has_no_nan(wigner):
    short = wigner.summary()
    assert short.startswith("Conclusions")
    table = short.split("analysis ", 1)[1].splitlines()
    assert len(table) == 1 + len(wigner.sections) + 1
    assert all("|B|=" in row for row in table[1:-1])
    long = wigner.summary(verbose=True)
    assert "nan" not in long.lower()
    ks = [line for line in long.splitlines() if "KS D of s vs Poisson" in line]
    assert len(ks) == 2
    assert all("KS test, p =" in line and "rejected" in line for line in ks)
    assert len(long.splitlines()) > len(short.splitlines()) + 20


@pytest.mark.slow  # renders every figure of a report
def test_write_replaces_only_its_own_files(wigner, tmp_path):
    stale = tmp_path / "07_dynamics_old.png"
    stale.write_bytes(b"old figure")
    mine = tmp_path / "notes.txt"
    mine.write_text("kept")
    report = wigner.write(tmp_path, progress=False)
    assert not stale.exists()
    assert mine.read_text() == "kept"
    text = report.read_text()
    assert (
        text.index("Conclusions")
        < text.index("Summary per analysis")
        < text.index("How to read the verdicts")
    )
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["conclusions"]["headline"] == wigner.conclusions().headline()
    row = data["analyses"][0]["entries"][0]
    assert {"kind", "model", "level", "deviation", "deviation_error"} <= set(row)


# --------------------------------------------------------------------------- progress
def test_plain_progress_lines_when_not_a_terminal():
    out = io.StringIO()
    bar = progress_bar(10, desc="work", unit="step", stream=out, interval=1e9)
    assert isinstance(bar, PlainProgress)
    with bar:
        for _ in range(10):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert lines[0] == "work: started (10 steps)"
    # one line per tenth even though the interval never elapses
    assert [line.split(": ")[1].split("%")[0] for line in lines[1:-1]] == [
        str(10 * k) for k in range(1, 11)
    ]
    assert lines[-1].startswith("work: done, 10 steps in ")


def test_progress_silent_when_disabled_and_a_bar_on_a_terminal():
    out = io.StringIO()
    with progress_bar(3, desc="work", enabled=False, stream=out) as bar:
        bar.update(3)
    assert out.getvalue() == ""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    with progress_bar(3, desc="work", stream=term) as bar:
        bar.update(3)
    assert "work" in term.getvalue()
    assert "3/3" in term.getvalue()
    assert list(track(range(3), desc="t", enabled=False)) == [0, 1, 2]


def test_validate_reports_progress_by_default(capsys):
    rec = _pairs_recording(True, alpha=0.1, batch_size=8, seed=1)
    validate(rec, analyses=["spacings"], burn_in=0)
    err = capsys.readouterr().err
    assert "validate: started (1 analysis)" in err
    assert "validate: done" in err
    validate(rec, analyses=["spacings"], burn_in=0, progress=False)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- command line
def _subparsers():
    from fpsolve.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices


def test_every_option_of_every_command_has_help():
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, p in _subparsers().items()
        for action in p._actions
        if not action.help
    ]
    assert missing == []


def test_simulate_sgd_takes_alpha_in_the_training_convention(tmp_path, capsys):
    from fpsolve.cli import main

    out = tmp_path / "sgd"
    argv = ["simulate", "--model", "rbm", "--sgd", "--alpha", "0.05", "--n-steps", "200",
            "--n-replicas", "20", "--seed", "1", "--no-plot", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    params = json.loads(str(np.load(f"{out}.npz")["params"]))
    assert params["alpha"] == 0.05
    assert main([*argv, "--convention", "talk"]) == 2
    assert "--sgd needs --convention training" in capsys.readouterr().err
    assert main([*argv, "--dt", "0.1"]) == 2
    assert "--dt is the SDE time step" in capsys.readouterr().err
    help_text = _subparsers()["simulate"].format_help()
    assert "--alpha ALPHA" in help_text
    assert "(default: 16)" in help_text


def test_plain_progress_repeats_its_state_during_a_long_step():
    import time

    out = io.StringIO()
    with progress_bar(2, desc="slow", stream=out, interval=0.05) as bar:
        bar.set_description("slow: step 1")
        time.sleep(0.3)  # no update: the heartbeat still prints
        bar.update(2)
    lines = out.getvalue().splitlines()
    beats = [line for line in lines if line.startswith("slow: step 1: 0% (0/2 its)")]
    assert len(beats) >= 2
    assert lines[-1].startswith("slow: step 1: done")

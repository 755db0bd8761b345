"""Bad inputs of every ``fpsolve`` subcommand, as a table (used by test_cli_bad_input.py).

Each case is ``(id, argv)``; the command runs in a directory prepared by :func:`prepare`,
which holds the files named below.  The cases named in :data:`FAST` run in the fast subset,
the whole table in the full suite.  Every case must end with exit status 2, one line on
stderr (no traceback) and no file written or changed.
"""

from __future__ import annotations

import os

import numpy as np

FILES = {
    "rec.h5": "an imported recording (1 run, 3 snapshots, 2 modes)",
    "rbm.h5": "a complete Gaussian-RBM recording (1 run, 20 steps, seed 1)",
    "text.txt": "a text file",
    "text.npz": "a text file named .npz",
    "text.h5": "a text file named .h5",
    "ck.npz": "a checkpoint holding one 12 x 6 matrix 'w'",
    "nan.npz": "a checkpoint whose matrix holds NaN",
    "empty.npz": "a checkpoint holding a (0, 4) array",
    "ck.pt": "a text file named .pt",
    "out.png": "an existing plot",
    "dbm.npz": "an existing simulate output",
    "full/": "a directory holding one file",
}

BAD_FLOAT = ("abc", "nan", "inf", "-inf")
BAD_POSITIVE = ("0", "-1", "nan", "inf", "abc")
BAD_COUNT = ("0", "-1", "1.5", "abc", "1e9")

_MODEL = ["--g2", "0.05"]


def _cases() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []

    def add(name, *argv):
        out.append((name, list(argv)))

    # ---- top level
    add("top-unknown-command", "frobnicate")
    add("top-unknown-option", "--frobnicate")
    # ---- stationary, spectrum, solve: the model options they share
    for cmd in ("stationary", "spectrum", "solve"):
        add(f"{cmd}-no-model", cmd)
        add(f"{cmd}-bad-model", cmd, "quadratic", *_MODEL)
        add(f"{cmd}-no-g2", cmd, "harmonic")
        for v in BAD_POSITIVE:
            add(f"{cmd}-g2={v}", cmd, "harmonic", "--g2", v)
        for v in ("0", "-1", "nan", "abc"):
            add(f"{cmd}-omega={v}", cmd, "harmonic", *_MODEL, "--omega", v)
        for v in BAD_FLOAT:
            add(f"{cmd}-center={v}", cmd, "harmonic", *_MODEL, "--center", v)
        add(f"{cmd}-kappa>mu2", cmd, "rbm", *_MODEL, "--kappa", "10", "--mu2", "9")
        for v in ("0", "-1", "nan"):
            add(f"{cmd}-kappa={v}", cmd, "rbm", *_MODEL, "--kappa", v)
            add(f"{cmd}-mu2={v}", cmd, "rbm", *_MODEL, "--mu2", v)
            add(f"{cmd}-sigma-h2={v}", cmd, "rbm", *_MODEL, "--sigma-h2", v)
        add(f"{cmd}-convention", cmd, "rbm", *_MODEL, "--convention", "paper")
        add(f"{cmd}-output-exists", cmd, "harmonic", *_MODEL, "-o", "out.png")
        add(f"{cmd}-output-dir", cmd, "harmonic", *_MODEL, "-o", "full")
        add(f"{cmd}-output-no-parent", cmd, "harmonic", *_MODEL, "-o", "missing/p.png")
        add(f"{cmd}-output-parent-file", cmd, "harmonic", *_MODEL, "-o", "text.txt/p.png")
    # ---- spectrum
    for v in ("0", "-1", "abc", "1.5"):
        add(f"spectrum-levels={v}", "spectrum", "harmonic", *_MODEL, "--levels", v)
    for v in ("-5", "abc", "1e9"):
        add(f"spectrum-n-grid={v}", "spectrum", "harmonic", *_MODEL, "--n-grid", v)
    # ---- solve
    for v in ("0", "-1", "nan"):
        add(f"solve-mp-r={v}", "solve", "harmonic", *_MODEL, "--mp-r", v)
        add(f"solve-mp-scale={v}", "solve", "harmonic", *_MODEL, "--mp-scale", v)
        add(f"solve-width={v}", "solve", "harmonic", *_MODEL, "--start", "gauss", "--width", v)
    add("solve-start", "solve", "harmonic", *_MODEL, "--start", "delta")
    add("solve-method", "solve", "harmonic", *_MODEL, "--method", "rk4")
    add("solve-times-nan", "solve", "harmonic", *_MODEL, "--times", "0", "nan")
    add("solve-times-negative", "solve", "harmonic", *_MODEL, "--times", "-1", "1")
    add("solve-times-abc", "solve", "harmonic", *_MODEL, "--times", "abc")
    for v in ("0", "-1", "nan", "abc"):
        add(f"solve-dt={v}", "solve", "harmonic", *_MODEL, "--method", "cn", "--dt", v)
    for v in ("0", "-3", "abc", "1e9"):
        add(f"solve-n={v}", "solve", "harmonic", *_MODEL, "--n", v)
    add("solve-huge-n", "solve", "harmonic", *_MODEL, "--n", "1000000000")
    add("solve-euler-tiny-dt", "solve", "harmonic", *_MODEL, "--method", "euler", "--dt", "1e-9",
        "--times", "0", "100")  # fmt: skip
    add("spectrum-huge-grid", "spectrum", "harmonic", *_MODEL, "--n-grid", "1000000000")
    # ---- simulate
    sim = ("simulate", "--quiet", "--no-plot")
    for opt in ("--n-modes", "--n-replicas", "--bins"):
        for v in ("0", "-1", "abc", "1e11"):
            add(f"simulate{opt}={v}", *sim, opt, v)
    for v in ("-1", "abc", "1.5"):
        add(f"simulate-n-steps={v}", *sim, "--n-steps", v)
    for v in ("0", "-1", "nan", "inf", "abc"):
        add(f"simulate-dt={v}", *sim, "--dt", v)
    for v in ("0", "-1", "nan", "abc"):
        add(f"simulate-g2={v}", *sim, "--g2", v)
        add(f"simulate-omega={v}", *sim, "--omega", v)
    add("simulate-huge-replicas", *sim, "--n-replicas", "100000000000")
    add("simulate-huge-modes", *sim, "--n-modes", "100000000")
    add("simulate-huge-work", *sim, "--n-modes", "50", "--n-steps", "100000000")
    add("simulate-huge-bins", *sim, "--bins", "100000000000")
    add("simulate-model", *sim, "--model", "wishart")
    add("simulate-scheme", *sim, "--scheme", "rk4")
    add("simulate-rbm-kappa>mu2", *sim, "--model", "rbm", "--kappa", "10", "--mu2", "9")
    add("simulate-rbm-kappa-nan", *sim, "--model", "rbm", "--kappa", "nan")
    add("simulate-rbm-n-v=0", *sim, "--model", "rbm", "--n-v", "0")
    add("simulate-rbm-m2=-1", *sim, "--model", "rbm", "--m2", "-1")
    add("simulate-burn-in=-1", *sim, "--burn-in", "-1")
    add("simulate-burn-in=n-steps", *sim, "--n-steps", "50", "--burn-in", "50")
    add("simulate-diverges", *sim, "--dt", "1e6", "--scheme", "em", "--n-replicas", "10")
    add("simulate-seed=-1", *sim, "--seed", "-1")
    add("simulate-sgd-batch=0", *sim, "--sgd", "--batch-size", "0")
    add("simulate-sgd-gt2=-1", *sim, "--sgd", "--gt2", "-1")
    add("simulate-output-exists", "simulate", "--quiet", "--no-plot", "-o", "dbm")
    add("simulate-output-dir", "simulate", "--quiet", "--no-plot", "-o", "full/")
    add("simulate-output-no-parent", "simulate", "--quiet", "--no-plot", "-o", "missing/x")
    # ---- train
    tr = ("train", "new.h5", "--no-progress", "--steps", "20")
    for opt in ("--runs", "--k", "--n-v", "--n-h", "--batch-size", "--record-every"):
        for v in ("0", "-1", "abc", "1e10"):
            add(f"train{opt}={v}", *tr, opt, v)
    for opt in ("--m2", "--mu2", "--sigma-h"):
        for v in ("0", "-1", "nan", "inf"):
            add(f"train{opt}={v}", *tr, opt, v)
    for v in ("-1", "nan", "inf", "abc"):
        add(f"train-alpha={v}", *tr, "--alpha", v)
        add(f"train-w-sigma={v}", *tr, "--w-sigma", v)
    add("train-steps=-1", "train", "new.h5", "--steps", "-1")
    add("train-threads=0", *tr, "--threads", "0")
    add("train-seed=-1", *tr, "--seed", "-1")
    add("train-target", *tr, "--target", "model")
    add("train-n-h>n-v", *tr, "--n-v", "4", "--n-h", "5")
    add("train-w-sigma-too-large", *tr, "--w-sigma", "10")
    add("train-huge-runs", "train", "new.h5", "--runs", "10000000")
    add("train-huge-batch", *tr, "--batch-size", "10000000000")
    add("train-huge-work", "train", "new.h5", "--runs", "100", "--steps", "1000000000")
    add("train-huge-snapshots", *tr, "--steps", "100000000000", "--record-every", "1")
    add("train-device", *tr, "--device", "tpu")
    add("sweep-device", "sweep", "out", "--steps", "20", "--device", "tpu")
    add("train-diverges", *tr, "--alpha", "100", "--runs", "2", "--steps", "200")
    add("train-output-exists", "train", "rec.h5", "--steps", "20")
    add("train-output-dir", "train", "full", "--steps", "20")
    add("train-output-no-parent", "train", "missing/r.h5", "--steps", "20")
    add("train-output-parent-file", "train", "text.txt/r.h5", "--steps", "20")
    add("train-resume-missing", "train", "gone.h5", "--resume")
    add("train-resume-text", "train", "text.h5", "--resume")
    add("train-resume-imported", "train", "rec.h5", "--resume")
    for opt, v in (
        ("--alpha", "0.2"),
        ("--batch-size", "8"),
        ("--steps", "40"),
        ("--seed", "2"),
        ("--runs", "3"),
        ("--k", "1"),
        ("--mu2", "10"),
        ("--record-every", "3"),
        ("--target", "samples"),
        ("--provenance", "other"),
    ):
        add(f"train-resume-conflict{opt}", "train", "rbm.h5", "--resume", opt, v)
    add("train-resume-record-weights", "train", "rbm.h5", "--resume", "--record-weights")
    add("train-resume-overwrite", "train", "rbm.h5", "--resume", "--overwrite")
    # ---- sweep
    sw = ("sweep", "out", "--no-progress", "--steps", "20")
    add("sweep-no-directory", "sweep")
    add("sweep-directory-is-file", "sweep", "text.txt", "--steps", "20")
    add("sweep-preset-and-alpha", *sw, "--preset", "paper", "--alpha", "0.1")
    add("sweep-preset-unknown", *sw, "--preset", "talk")
    add("sweep-alpha-negative", *sw, "--alpha", "0.1", "-1")
    add("sweep-alpha-nan", *sw, "--alpha", "0.1", "nan")
    add("sweep-batch-zero", *sw, "--batch-size", "16", "0")
    add("sweep-batch-abc", *sw, "--batch-size", "abc")
    add("sweep-runs-zero", *sw, "--runs", "0")
    add("sweep-workers-zero", *sw, "--workers", "0")
    add("sweep-huge-runs", "sweep", "out", "--runs", "10000000")
    add("sweep-seed=-1", *sw, "--seed", "-1")
    add("sweep-n-h>n-v", *sw, "--n-v", "4", "--n-h", "6")
    # ---- validate
    add("validate-no-output", "validate", "rec.h5")
    add("validate-missing", "validate", "gone.h5", "-o", "rep")
    add("validate-text", "validate", "text.txt", "-o", "rep")
    add("validate-text-h5", "validate", "text.h5", "-o", "rep")
    add("validate-directory-input", "validate", "full", "-o", "rep")
    add("validate-output-is-file", "validate", "rec.h5", "-o", "text.txt")
    add("validate-output-not-empty", "validate", "rec.h5", "-o", "full")
    add("validate-output-parent-file", "validate", "rec.h5", "-o", "text.txt/rep")
    add("validate-analyses", "validate", "rec.h5", "-o", "rep", "--analyses", "everything")
    add("validate-workers=0", "validate", "rec.h5", "-o", "rep", "--workers", "0")
    for v in ("-1", "abc"):
        add(f"validate-burn-in={v}", "validate", "rec.h5", "-o", "rep", "--burn-in", v)
    for v in ("0", "-1", "nan", "abc"):
        add(f"validate-n-sigma={v}", "validate", "rec.h5", "-o", "rep", "--n-sigma", v)
    add("validate-seed=-1", "validate", "rec.h5", "-o", "rep", "--seed", "-1")
    # ---- spectra
    sp = ("spectra", "--no-progress")
    add("spectra-no-checkpoint", "spectra")
    add("spectra-missing", *sp, "gone.npz", "-o", "sp")
    add("spectra-text-npz", *sp, "text.npz", "-o", "sp")
    add("spectra-unknown-suffix", *sp, "text.txt", "-o", "sp")
    add("spectra-text-pt", *sp, "ck.pt", "-o", "sp")
    add("spectra-nan", *sp, "nan.npz", "-o", "sp")
    add("spectra-empty", *sp, "empty.npz", "-o", "sp")
    add("spectra-directory-input", *sp, "full", "-o", "sp")
    add("spectra-pattern", *sp, "ck.npz", "-o", "sp", "-p", "nothing*")
    add("spectra-group", *sp, "ck.npz", "-o", "sp", "--group", "layer")
    for v in ("w", "w:abc", "w:0", "w:5", "w:2:sideways", ":2"):
        add(f"spectra-fused={v}", *sp, "ck.npz", "-o", "sp", "--fused", v)
    add("spectra-output-is-file", *sp, "ck.npz", "-o", "text.txt")
    add("spectra-output-not-empty", *sp, "ck.npz", "-o", "full")
    add("spectra-seed=-1", *sp, "ck.npz", "-o", "sp", "--seed", "-1")
    add("spectra-iterations-abc", *sp, "ck.npz", "-o", "sp", "--iterations", "abc")
    # ---- demo
    add("demo-output-is-file", "demo", "-o", "text.txt")
    add("demo-output-not-empty", "demo", "-o", "full")
    add("demo-runs=0", "demo", "-o", "d", "--runs", "0")
    add("demo-runs=abc", "demo", "-o", "d", "--runs", "abc")
    add("demo-workers=0", "demo", "-o", "d", "--workers", "0", "--quick")
    add("demo-seed=-1", "demo", "-o", "d", "--seed", "-1")
    add("demo-huge-runs", "demo", "-o", "d", "--runs", "100000000")
    return out


CASES = _cases()

FAST = frozenset(
    {
        "top-unknown-command",
        "stationary-g2=nan",
        "stationary-output-exists",
        "spectrum-kappa>mu2",
        "spectrum-levels=0",
        "solve-dt=0",
        "solve-output-no-parent",
        "simulate-dt=nan",
        "simulate-output-exists",
        "train-alpha=nan",
        "train-resume-conflict--alpha",
        "sweep-alpha-negative",
        "sweep-directory-is-file",
        "validate-missing",
        "validate-output-not-empty",
        "spectra-nan",
        "spectra-fused=w:abc",
        "demo-runs=0",
        "demo-output-not-empty",
    }
)
"""The cases of the fast subset (``-m "not slow"``): two of each subcommand; the others are
marked slow, so the full suite runs every case once."""


def prepare(directory: str) -> None:
    """Write the files of :data:`FILES` into ``directory`` (a fresh one)."""
    from validation.data.recording import write
    from validation.training.rbm import train

    os.makedirs(os.path.join(directory, "full"))
    with open(os.path.join(directory, "full", "keep.txt"), "w") as f:
        f.write("keep\n")
    for name in ("text.txt", "text.npz", "text.h5", "ck.pt", "out.png", "dbm.npz"):
        with open(os.path.join(directory, name), "w") as f:
            f.write("not what it seems\n")
    eig = np.sort(np.random.default_rng(0).uniform(0.5, 2.0, (1, 3, 2)), axis=-1)
    write(os.path.join(directory, "rec.h5"), eig, [0, 1, 2], attrs={"alpha": 0.1, "batch_size": 4})
    train(1, n_steps=20, record_every=10, rng=1, progress=False,
          path=os.path.join(directory, "rbm.h5"))  # fmt: skip
    w = np.random.default_rng(1).normal(size=(12, 6))
    np.savez(os.path.join(directory, "ck.npz"), w=w)
    np.savez(os.path.join(directory, "nan.npz"), w=np.full((12, 6), np.nan))
    np.savez(os.path.join(directory, "empty.npz"), w=np.zeros((0, 4)))


def snapshot(directory: str) -> dict[str, tuple[int, int]]:
    """Every path under ``directory`` with its size and modification time."""
    out = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            out[os.path.relpath(path, directory)] = (st.st_size, st.st_mtime_ns)
    return out

"""Benchmark of Numba's on-disk cache: first-call time of the main entry points, cold vs warm.

Each entry point runs in a fresh Python process with ``NUMBA_CACHE_DIR`` pointing to a
temporary directory of its own: the first process starts from an empty cache (cold: every
``cache=True`` kernel it reaches is compiled and saved), the next processes reuse that
directory (warm: the kernels are loaded).  Each process times its imports, the first call
and a second, identical call (the run time without any compilation), and counts the
kernels it compiled and saved (Numba's ``NUMBA_DEBUG_CACHE`` log).  A warm process that
still compiles something points to kernels that miss the cache (or bypass it: kernels built
at run time, such as those for user models, are compiled in every process by design).

Printed per entry point: import, first call and second call in seconds for the cold and
the best warm process, the kernels saved and loaded, and the ratio cold/warm of the first calls.

Usage::

    python benchmarks/bench_compile.py [--warm 2] [--only train sgd dbm validate]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap

import numba
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = "@@bench_compile "

# Each entry: (imports, setup run once before the timed calls and not timed, the call).
ENTRIES: dict[str, tuple[str, str, str]] = {
    "train": (
        "from validation.training.rbm import train",
        "",
        "train(2, n_steps=20, batch_size=4, record_every=10, rng=1, progress=False)",
    ),
    "sgd": (
        "from fpsolve.sgd import GaussianRBM, simulate_sgd_matrix",
        "rbm = GaussianRBM.lattice(4, m2=4.0, mu2=9.0, sigma_h2=1.0)",
        "simulate_sgd_matrix(rbm, alpha=0.1, batch_size=4, n_steps=20, n_replicas=2, rng=1)",
    ),
    "dbm": (
        "from fpsolve.dbm import simulate\nfrom fpsolve.models import Modes",
        "modes = Modes.rbm([4.0, 5.0, 6.0], 9.0, 1.0)",
        "simulate(modes, 0.01, dt=1e-3, n_steps=50, n_replicas=4, rng=1, progress=False)",
    ),
    "validate": (
        "from validation import validate\nfrom validation.training.rbm import train",
        "recs = [train(10, n_steps=400, alpha=0.1, batch_size=b, record_every=20, rng=b,"
        " progress=False) for b in (8, 32)]",
        "validate(recs, rng=1, progress=False)",
    ),
}
"""The entry points: ``train`` (the PCD trainer), ``sgd`` (matrix SGD with exact samples),
``dbm`` (the DBM integrator on RBM modes), ``validate`` (the whole validation of two tiny
recordings; its setup trains them, so the trainer's kernels are loaded before the timing)."""

CHILD = """
import time
_t0 = time.perf_counter()
{imports}
_t1 = time.perf_counter()
{setup}
_t2 = time.perf_counter()
{call}
_t3 = time.perf_counter()
{call}
_t4 = time.perf_counter()
import json
print({mark!r} + json.dumps({{"import": _t1 - _t0, "first": _t3 - _t2, "again": _t4 - _t3}}))
"""


def run_child(name: str, cache_dir: str) -> dict[str, float]:
    """One fresh process for entry ``name`` with the Numba cache in ``cache_dir``."""
    imports, setup, call = ENTRIES[name]
    code = CHILD.format(imports=imports, setup=setup, call=textwrap.dedent(call), mark=MARK)
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": cache_dir,
        "NUMBA_DEBUG_CACHE": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-2000:]}")
    lines = out.stdout.splitlines()
    times = json.loads(next(x for x in lines if x.startswith(MARK))[len(MARK) :])
    times["saved"] = sum("data saved to" in x for x in lines)
    times["loaded"] = sum("data loaded from" in x for x in lines)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=2, help="warm processes (best one shown)")
    parser.add_argument("--only", nargs="+", choices=list(ENTRIES), default=list(ENTRIES))
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f", numpy {np.__version__}, numba {numba.__version__}, "
        f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}"
    )
    print(
        "seconds per fresh process; saved: kernels compiled and written to the cache, "
        "loaded: kernels read from it"
    )
    head = (
        f"{'entry':9s} {'':5s} {'import':>7s} {'first':>7s} {'again':>7s} {'saved':>6s}"
        f" {'loaded':>6s}"
    )
    print(head)
    summary = []
    for name in args.only:
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache_dir:
            cold = run_child(name, cache_dir)
            warm = min(
                (run_child(name, cache_dir) for _ in range(args.warm)), key=lambda t: t["first"]
            )
        for label, t in (("cold", cold), ("warm", warm)):
            print(
                f"{name:9s} {label:5s} {t['import']:7.2f} {t['first']:7.2f} {t['again']:7.2f}"
                f" {t['saved']:6d} {t['loaded']:6d}"
            )
        summary.append((name, cold["first"], warm["first"]))
    print("first call, cold / warm:")
    for name, c, w in summary:
        print(f"  {name:9s} {c:7.2f} s / {w:5.2f} s = {c / w:5.1f}x")


if __name__ == "__main__":
    main()

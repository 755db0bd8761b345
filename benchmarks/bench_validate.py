"""Benchmark of the main job: ``fpsolve demo`` stage by stage, against its 10-minute budget.

Trains the demo sweep (validation.report.demo.DEMO_SETTINGS, 200 runs each, t = 1200), then times
every analysis of ``validation.validate`` separately on the largest recording and on the
sweep, and the report.  The baseline is the budget the main job must fit in on a 2-core
machine (600 s); the ratios printed are budget / measured.

Usage::

    python benchmarks/bench_validate.py [--runs 200] [--span 1200] [--out /tmp/bench-validate]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numba
import numpy as np

BUDGET_S = 600.0


def main() -> None:
    from validation.analyses import compare, dynamics, predict
    from validation.data.recording import read
    from validation.report.demo import demo_grid
    from validation.report.pipeline import validate
    from validation.training import rbm

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--span", type=float, default=1200.0)
    p.add_argument("--out", default="/tmp/bench-validate")
    args = p.parse_args()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}"
    )
    grid = demo_grid(n_runs=args.runs, time_span=args.span)
    times = {}
    t = time.perf_counter()
    res = rbm.sweep(grid, directory=os.path.join(args.out, "recordings"), rng=1,
                    progress=False, overwrite=True)  # fmt: skip
    times["train sweep"] = time.perf_counter() - t
    recs = [read(path) for path in res.paths]
    rec = max(recs, key=lambda r: r.steps[-1])

    stages = {
        "initial_spectrum": lambda: compare.initial_spectrum(rec, rng=1),
        "one_point": lambda: compare.one_point(rec),
        "spacings": lambda: compare.spacings(rec),
        "predictions (dbm map)": lambda: predict.predict(rec, method="dbm", rng=1),
        "dynamics": lambda: dynamics.dynamics(rec, rng=1),
        "scaling (sweep)": lambda: compare.scaling(recs),
    }
    for name, fn in stages.items():
        t = time.perf_counter()
        fn()
        times[f"{name}, one recording"] = time.perf_counter() - t
    t = time.perf_counter()
    result = validate(recs, rng=1, progress=False)
    times["validate (whole sweep)"] = time.perf_counter() - t
    t = time.perf_counter()
    result.write(args.out, progress=False)
    times["report (figures, html, json)"] = time.perf_counter() - t
    total = times["train sweep"] + times["validate (whole sweep)"] + times[
        "report (figures, html, json)"]  # fmt: skip
    width = max(map(len, times))
    for name, s in times.items():
        print(f"{name:<{width}}  {s:8.1f} s")
    print(
        f"{'main job total':<{width}}  {total:8.1f} s   budget {BUDGET_S:.0f} s, "
        f"ratio budget/total = {BUDGET_S / total:.2f}"
    )


if __name__ == "__main__":
    main()

"""Benchmark of the paper runner: ``python -m validation.paper`` against the training it checks.

Trains the paper's sweep (``fpsolve sweep --preset paper``: 10 settings, by default 256 runs
of 100,000 updates each, the sweep's default processes), then times
:func:`validation.report.paper.reproduce` on it with every level of the ladder (64 replicas,
the command's defaults; every kernel compiled or loaded first).  The target: the paper runner
takes at most 10% of the time that trained the sweep; the ratio is printed.

Side by side in the same process: ``reproduce`` with its settings analysed two at a time
(its default on two threads or more) against one at a time, with the process's CPU time and
a check that the table is the same; with ``--parts`` also the time of every part (the
measured statistics, the scaling fit's spacings and one-point fits, each level, the fit
itself) summed over the settings.

Training the default sweep takes about 15 minutes on two cores.  Its time is written next to
the recordings (``training.json``); ``--reuse`` times the paper runner on recordings an
earlier run of this script made on the same machine, against the training time it measured.

Usage::

    python benchmarks/bench_paper.py [--runs 256] [--steps 100000] [--out /tmp/bench-paper]
        [--reuse] [--replicas 64] [--rounds 1] [--parts]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import time
from pathlib import Path

import numba
import numpy as np

TARGET = 0.1  # paper runner / training


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, numba {numba.__version__}, {numba.get_num_threads()} threads"
    )


def train(out: Path, runs: int, steps: int, reuse: bool) -> tuple[float, list[Path]]:
    """The sweep's recordings and the seconds that trained them (measured now, or read)."""
    from validation.training.sweep import sweep

    record = out / "training.json"
    if reuse:
        if not record.exists():
            raise SystemExit(f"--reuse: no {record}; run once without --reuse first")
        info = json.loads(record.read_text())
        if (info["runs"], info["steps"], info["machine"]) != (runs, steps, machine()):
            raise SystemExit(f"--reuse: {record} holds another sweep or machine: {info}")
        return info["seconds"], [out / p for p in info["files"]]
    t0 = time.perf_counter()
    res = sweep("paper", directory=out / "recordings", n_runs=runs, n_steps=steps, rng=1,
                progress=False, overwrite=True)  # fmt: skip
    seconds = time.perf_counter() - t0
    files = [os.path.relpath(p, out) for p in res.paths]
    info = {"runs": runs, "steps": steps, "machine": machine(), "seconds": seconds,
            "files": files}  # fmt: skip
    record.write_text(json.dumps(info, indent=1))
    return seconds, [out / p for p in files]


def parts(recs, replicas: int) -> dict[str, float]:
    """Seconds of every part of ``reproduce``, summed over the settings."""
    from validation.analyses import compare, predict
    from validation.analyses.levels import LADDER
    from validation.analyses.repulsion import predicted_a_fit

    names = ["measured statistics", "spacings, one-point fits", *LADDER, "scaling fit"]
    sums = dict.fromkeys(names, 0.0)
    measured = []
    for rec in recs:
        t = time.perf_counter()
        predict.measure_stationary(rec)
        sums["measured statistics"] += time.perf_counter() - t
        t = time.perf_counter()
        sp = compare.spacings(rec, groups=rec.mode_groups())
        measured.append((sp, compare.one_point(rec, groups=sp.pairs)))
        sums["spacings, one-point fits"] += time.perf_counter() - t
        for m in LADDER:
            t = time.perf_counter()
            with contextlib.suppress(predict.PredictionFailure):
                predict.predict(rec, method=m, n_replicas=replicas, rng=1, progress=False)
            sums[m] += time.perf_counter() - t
    t = time.perf_counter()
    compare.scaling(recs, predicted_a=predicted_a_fit(recs), measured=measured)
    sums["scaling fit"] = time.perf_counter() - t
    return sums


def main() -> None:
    from validation.data.recording import read
    from validation.report.paper import reproduce

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=256)
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--replicas", type=int, default=64)
    p.add_argument("--out", default="/tmp/bench-paper")
    p.add_argument("--reuse", action="store_true", help="recordings of an earlier run")
    p.add_argument("--rounds", type=int, default=1, help="timings of each variant (best kept)")
    p.add_argument("--parts", action="store_true", help="also time every part separately")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    print(f"machine: {machine()}")
    t_train, paths = train(out, args.runs, args.steps, args.reuse)
    recs = [read(path) for path in paths]
    print(f"train the paper sweep ({len(recs)} settings x {args.runs} runs x {args.steps} "
          f"updates){' (earlier run)' if args.reuse else ''}  {t_train:8.1f} s")  # fmt: skip

    def run(workers):
        return reproduce(recs, n_replicas=args.replicas, rng=1, progress=False, workers=workers)

    short = [read(path) for path in paths[:2]]  # every kernel compiled or loaded
    reproduce(short, n_replicas=4, rng=1, progress=False)
    best, cpu, tables = {1: math.inf, None: math.inf}, {}, {}
    for _ in range(args.rounds):
        for w in (1, None):
            c0, t0 = os.times(), time.perf_counter()
            res = run(w)
            t, c1 = time.perf_counter() - t0, os.times()
            if t < best[w]:
                best[w], cpu[w] = t, (c1.user + c1.system) - (c0.user + c0.system)
            tables[w] = json.dumps(res.to_dict(), sort_keys=True)
    t_now = best[None]
    print(f"paper runner, default workers (best of {args.rounds})  {t_now:8.1f} s, "
          f"CPU {cpu[None]:6.1f} s")  # fmt: skip
    print(f"paper runner, one setting at a time       {best[1]:8.1f} s, CPU {cpu[1]:6.1f} s, "
          f"ratio {best[1] / t_now:4.2f} (same table: {tables[1] == tables[None]})")  # fmt: skip
    print(f"ratio paper runner / training = {t_now / t_train:.3f} (target <= {TARGET})")
    if args.parts:
        print("\nparts, one setting at a time, summed over the settings:")
        for name, sec in parts(recs, args.replicas).items():
            print(f"  {name:<22s} {sec:8.2f} s")


if __name__ == "__main__":
    main()

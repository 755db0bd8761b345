"""GPU check and benchmark: the whole device run in one script (under 4 minutes on an H200).

Sections, in order of importance (each guarded: a failing section prints its error and the
script goes on; a global deadline skips what does not fit):

1. environment: versions, the numpy-2.5 compatibility step, the device, free memory;
2. compile: the RBM kernels of the paper shape (variants below), timed;
3. reference: the GPU update against the plain-numpy reference with the same random
   numbers (paper shape, 64 runs x 20 updates, both kernel variants; a tiny shape; data
   mode), max |dW|;
4. statistics: 1000 runs of the paper setting for a few thousand updates on the GPU and on
   the CPU trainer (all cores): z-scores of mean and std of every eigenvalue and of <S> of
   every degenerate pair at two snapshots (``validation.rbm_cuda.compare_statistics``);
5. RBM throughput at the paper setting (N_v = N_h = 10, |B| = 16, k = 3, float64) in
   run-updates/s, for several run counts, threads per block and kernel variants (``unrolled``:
   chains in registers, ``loops``: chains in local arrays; ``mb4``: at least 4 blocks per
   multiprocessor asked of the compiler);
6. DBM ensembles (``fpsolve.dbm.simulate(scheme="em")``): GPU against the CPU path with 2
   threads and with all threads, replica-steps/s, side by side;
7. the paper sweep end to end (``validation.rbm.sweep("paper", n_runs=7500,
   device="cuda")``, HDF5 files written to a temporary directory), full length if the
   measured rates predict it fits, else shortened and extrapolated.

A compact table is printed last; the full log and a JSON file go to ``$OUT`` when set.

Usage::

    python benchmarks/bench_gpu.py [--deadline 220] [--smoke]

``--smoke`` runs every section at tiny sizes (e.g. under ``NUMBA_ENABLE_CUDASIM=1``) to check
the script itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback

import numpy as np

RESULTS: dict = {"sections": {}, "table": []}
LOG = io.StringIO()
T0 = time.perf_counter()


def say(*args):
    text = " ".join(str(a) for a in args)
    print(text, flush=True)
    LOG.write(text + "\n")


def row(section, what, value, unit=""):
    RESULTS["table"].append((section, what, value, unit))


def elapsed():
    return time.perf_counter() - T0


def section(name, deadline):
    def wrap(func):
        def run(*args, **kwargs):
            if elapsed() > deadline:
                say(f"\n== {name}: skipped (deadline {deadline:.0f} s reached)")
                row(name, "skipped", "deadline")
                return None
            say(f"\n== {name} (t = {elapsed():.1f} s)")
            t = time.perf_counter()
            try:
                out = func(*args, **kwargs)
                RESULTS["sections"][name] = {"ok": True, "seconds": time.perf_counter() - t}
                return out
            except Exception as exc:
                say(f"!! {name} failed: {exc.__class__.__name__}: {exc}")
                say(traceback.format_exc())
                RESULTS["sections"][name] = {"ok": False, "error": repr(exc)}
                row(name, "FAILED", f"{exc.__class__.__name__}: {str(exc)[:80]}")
                return None

        return run

    return wrap


def versions():
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("numpy", "numba", "llvmlite", "numba-cuda", "cuda-bindings", "cuda-core", "h5py"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def make_jobs(n_runs, *, steps, batch_size=16, seed=1, alpha=0.1, n_v=10, n_h=10, k=3, w=None):
    """A GPU job of the paper setting with ``n_runs`` runs (initial weights drawn fast)."""
    from validation import rbm, rbm_cuda

    cfg = rbm._Config.build(
        n_runs=n_runs, n_steps=steps, alpha=alpha, batch_size=batch_size, k=k, n_v=n_v,
        n_h=n_h, m2=4.0, mu2=9.0, sigma_h=1.0, w_sigma=0.1, target="exact", rng=seed,
        first_run=0,
    )  # fmt: skip
    if w is None:
        w = 0.1 * np.random.default_rng(seed).standard_normal((n_runs, n_v, n_h))
    phi = np.ones((n_runs, batch_size, n_v))
    snaps = np.array([0, steps], dtype=np.int64)
    return rbm_cuda.Job(cfg=cfg, snap_steps=snaps, attrs={}, record_weights=False,
                        record_modes=False, w=w.copy(), phi=phi, step=0, start=1,
                        eig_all=np.full((n_runs, 2, n_h), np.nan))  # fmt: skip


def timed_group(job, **kw):
    from fpsolve.cuda import _backend
    from validation import rbm_cuda

    cuda = _backend.load()
    cuda.synchronize()
    t = time.perf_counter()
    rbm_cuda.run_group([job], progress=False, **kw)
    cuda.synchronize()
    return time.perf_counter() - t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=200.0, help="seconds for sections")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (script check)")
    args = parser.parse_args(argv)
    smoke = args.smoke
    deadline = args.deadline
    state: dict = {}

    @section("environment", deadline)
    def environment():
        from fpsolve.cuda import _backend

        had_row_stack = hasattr(np, "row_stack")
        cuda = _backend.load()
        info = versions()
        info["numpy_compat_step"] = bool(_backend._STATE.get("numpy_compat"))
        info["had_row_stack"] = had_row_stack
        info["device"] = _backend.device_name()
        info["simulator"] = _backend.simulator()
        free = _backend.free_memory()
        info["free_GiB"] = None if free is None else round(free / 2**30, 1)
        if not _backend.simulator():
            dev = cuda.get_current_device()
            info["SMs"] = dev.MULTIPROCESSOR_COUNT
        for key, value in info.items():
            say(f"  {key}: {value}")
        RESULTS["environment"] = info
        row("env", "device", info["device"])
        row("env", "numpy / numba-cuda", f"{info.get('numpy')} / {info.get('numba-cuda')}")
        row("env", "row_stack compat step applied", info["numpy_compat_step"])

    @section("compile", deadline)
    def compile_kernels():
        from validation import rbm_cuda

        variants = [("unrolled", 128, None), ("loops", 128, None)]
        if not smoke:
            variants += [("unrolled", 64, None), ("unrolled", 256, None), ("unrolled", 128, 4)]
        for variant, tpb, mb in variants:
            t = time.perf_counter()
            job = make_jobs(4 if smoke else 64, steps=2, batch_size=4 if smoke else 16,
                            n_v=3 if smoke else 10, n_h=2 if smoke else 10,
                            k=1 if smoke else 3)  # fmt: skip
            rbm_cuda.run_group([job], progress=False, variant=variant, threads_per_block=tpb,
                               min_blocks=mb)  # fmt: skip
            sec = time.perf_counter() - t
            say(f"  {variant:9s} tpb={tpb:4d} min_blocks={mb}: {sec:6.1f} s (compile + load)")
            row("compile", f"RBM {variant} tpb={tpb} mb={mb}", round(sec, 1), "s")

    @section("reference", deadline)
    def reference():
        from fpsolve.cuda import _philox
        from validation import rbm_cuda

        cases = [("paper 10x10 |B|=16 k=3", 10, 10, 16, 3, "exact", 64, 20)]
        cases += [("tiny 3x2 |B|=4 k=1", 3, 2, 4, 1, "exact", 8, 6)]
        cases += [("data mode 6x4 |B|=8 k=2", 6, 4, 8, 2, "samples", 16, 6)]
        if smoke:
            cases = [(*c[:6], 3, 3) for c in cases[1:]]
        worst_all = 0.0
        for name, nv, nh, nb, k, target, n_runs, n_upd in cases:
            for variant in ("unrolled", "loops"):
                cfg = rbm_cuda_cfg(nv, nh, nb, k, target, n_runs, n_upd)
                job = rbm_cuda._make_job(
                    cfg, np.array([0, n_upd]), {}, record_weights=True, record_modes=False,
                    path=None, overwrite=False,
                )  # fmt: skip
                w0, phi0 = job.w.copy(), job.phi.copy()
                rbm_cuda.run_group([job], progress=False, variant=variant)
                c_target, chol = rbm_cuda._target(cfg)
                w_ref, phi_ref = rbm_cuda.reference_updates(
                    w0, phi0, t0=0, n_updates=n_upd, alpha=cfg.alpha, batch_size=nb, k=k,
                    mu2=cfg.mu2, sigma_h=cfg.sigma_h, c_target=c_target, chol=chol,
                    data_mode=target == "samples", key=_philox.key_from_seed(cfg.seed),
                    run_ids=np.arange(n_runs),
                )  # fmt: skip
                dw = float(np.abs(job.w_all[:, 1] - w_ref).max())
                dphi = float(np.abs(job.phi - phi_ref).max())
                eig = np.linalg.eigvalsh(np.swapaxes(w_ref, -1, -2) @ w_ref)
                deig = float(np.abs(job.eig_all[:, 1] - eig).max())
                worst = max(dw, dphi, deig)
                worst_all = max(worst_all, worst)
                say(f"  {name:26s} {variant:8s} max|dW|={dw:.2e} max|dphi|={dphi:.2e} "
                    f"max|d eig|={deig:.2e}")  # fmt: skip
                row("reference", f"{name} {variant}", f"{worst:.1e}", "max abs diff")
        say(f"  worst difference {worst_all:.2e} ({'OK' if worst_all < 1e-10 else 'CHECK'})")

    @section("statistics (1000 runs, GPU vs CPU trainer)", deadline)
    def statistics():
        from validation import rbm
        from validation.rbm_cuda import compare_statistics

        n_runs, steps = (20, 40) if smoke else (1000, 6000)
        # different seeds: independent initial weights, so runs are independent samples
        kw = {"n_steps": steps, "record_steps": [0, steps // 10, steps], "progress": False}
        if smoke:
            kw.update(n_v=3, n_h=2, batch_size=4, k=1)
        t = time.perf_counter()
        gpu = rbm.train(n_runs, device="cuda", rng=12, **kw)
        t_gpu = time.perf_counter() - t
        t = time.perf_counter()
        cpu = rbm.train(n_runs, rng=13, **kw)
        t_cpu = time.perf_counter() - t
        rows = compare_statistics(gpu, cpu, snapshots=[1, 2])
        zs = np.array([r["z"] for r in rows])
        say(f"  GPU {t_gpu:.1f} s, CPU {t_cpu:.1f} s ({os.cpu_count()} cores); {len(rows)} "
            f"comparisons, max |z| = {np.abs(zs).max():.2f}, "
            f"mean z^2 = {np.mean(zs**2):.2f}")  # fmt: skip
        for r in rows:
            flag = " <--" if abs(r["z"]) > 3 else ""
            say(f"    step {r['step']:6d} {r['quantity']:5s} {r['index']!s:8s} gpu {r['a']:.5f} "
                f"cpu {r['b']:.5f} z {r['z']:+.2f}{flag}")  # fmt: skip
        row("statistics", f"max |z| over {len(rows)} (mean, std, <S>)",
            round(float(np.abs(zs).max()), 2), "< 4.5 expected")  # fmt: skip
        row("statistics", "mean z^2", round(float(np.mean(zs**2)), 2), "~1 expected")

    @section("RBM throughput (paper setting, float64)", deadline)
    def throughput():
        grid = [("unrolled", 128, None, n) for n in ((7500, 30000, 120000) if not smoke else (8,))]
        if not smoke:
            grid += [("unrolled", 64, None, 30000), ("unrolled", 256, None, 30000),
                     ("unrolled", 128, 4, 30000), ("loops", 128, None, 30000)]  # fmt: skip
        shape = {"n_v": 3, "n_h": 2, "batch_size": 4, "k": 1} if smoke else {}
        best = (0.0, None)
        for variant, tpb, mb, n_runs in grid:
            if elapsed() > deadline - 40:
                say("  (remaining variants skipped: deadline)")
                break
            probe = 4 if smoke else 200
            job = make_jobs(n_runs, steps=probe, **shape)
            sec = timed_group(job, variant=variant, threads_per_block=tpb, min_blocks=mb)
            rate = n_runs * probe / sec
            steps = 6 if smoke else int(min(100_000, max(500, 1.5 * rate / n_runs)))
            job = make_jobs(n_runs, steps=steps, **shape)
            sec = timed_group(job, variant=variant, threads_per_block=tpb, min_blocks=mb)
            rate = n_runs * steps / sec
            label = f"{variant} tpb={tpb} mb={mb} runs={n_runs}"
            say(f"  {label:40s} {steps:6d} steps {sec:6.2f} s  {rate:.3e} run-updates/s")
            row("RBM", label, f"{rate:.3e}", "run-updates/s")
            if rate > best[0]:
                best = (rate, (variant, tpb, mb))
        state["rbm_best"] = best
        say(f"  best {best[0]:.3e} run-updates/s with {best[1]}; target 2e8")
        row("RBM", "best", f"{best[0]:.3e}", f"run-updates/s {best[1]}")

    @section("DBM ensembles (em): GPU vs CPU", deadline)
    def dbm():
        import numba

        from fpsolve.dbm import Record, simulate
        from fpsolve.models import Modes

        cases = [(10, 20_000, 200, 1_000_000, 200), (100, 1_000, 20, 200_000, 20)]
        if smoke:
            cases = [(3, 20, 4, 16, 4)]
        threads_all = numba.get_num_threads()
        for n, cpu_rep, cpu_steps, gpu_rep, gpu_steps in cases:
            modes = Modes.harmonic(1.0, center=np.arange(n, dtype=np.float64))  # spacing 1
            rec = Record(burn_in=0)
            kw = {"dt": 1e-3, "scheme": "em", "rng": 1, "record": rec, "progress": False}
            rates = {}
            for label, threads in (("cpu 2 threads", 2), ("cpu all threads", threads_all)):
                numba.set_num_threads(min(threads, threads_all))
                simulate(modes, 0.01, n_steps=2, n_replicas=cpu_rep, **kw)  # compile, warm
                t = time.perf_counter()
                simulate(modes, 0.01, n_steps=cpu_steps, n_replicas=cpu_rep, **kw)
                rates[label] = cpu_rep * cpu_steps / (time.perf_counter() - t)
            numba.set_num_threads(threads_all)
            simulate(modes, 0.01, n_steps=2, n_replicas=gpu_rep, device="cuda", **kw)
            t = time.perf_counter()
            simulate(modes, 0.01, n_steps=gpu_steps, n_replicas=gpu_rep, device="cuda", **kw)
            rates["gpu"] = gpu_rep * gpu_steps / (time.perf_counter() - t)
            for label, rate in rates.items():
                say(f"  N={n:4d} {label:16s} {rate:.3e} replica-steps/s")
                row("DBM", f"N={n} {label}", f"{rate:.3e}", "replica-steps/s")
            speed = rates["gpu"] / rates["cpu 2 threads"]
            say(f"  N={n}: GPU / 2-core CPU = {speed:.0f}x (target >= 50x)")
            row("DBM", f"N={n} GPU / 2-core CPU", round(speed, 1), "x (>= 50)")

    @section("paper sweep end to end (7500 runs x 10 settings)", deadline)
    def sweep():
        from validation import rbm

        best = state.get("rbm_best", (0.0, None))[0]
        n_runs = 16 if smoke else 7500
        full = 100_000
        # |B| = 4..64: cost per run-update ~ |B|/16 of the paper setting's; 12.75 equivalents
        predicted = 12.75 * n_runs * full / best if best else math.inf
        budget = max(20.0, deadline - elapsed() - 15)
        steps = full if predicted < budget else max(1000, int(full * budget / max(predicted, 1)))
        if smoke:
            steps = 20
        directory = tempfile.mkdtemp(prefix="fpsolve-sweep-")
        try:
            t = time.perf_counter()
            kw = {"n_v": 3, "n_h": 2, "k": 1} if smoke else {}
            rbm.sweep("paper", directory=directory, n_runs=n_runs, n_steps=steps, rng=1,
                      device="cuda", progress=False, **kw)  # fmt: skip
            sec = time.perf_counter() - t
            size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        per = 10 * n_runs * steps / sec
        say(f"  {steps} steps: {sec:.1f} s ({per:.3e} run-updates/s over all settings), "
            f"{size / 2**30:.2f} GiB of HDF5")  # fmt: skip
        row("sweep", f"paper, {n_runs} runs x {steps} steps", round(sec, 1), "s")
        if steps != full:
            row("sweep", "extrapolated to 1e5 steps", round(sec * full / steps, 1), "s")

    environment()
    compile_kernels()
    reference()
    statistics()
    throughput()
    dbm()
    sweep()
    say(f"\n== summary (total {elapsed():.1f} s)")
    width = max(len(f"{s} | {w}") for s, w, _, _ in RESULTS["table"]) if RESULTS["table"] else 20
    for sec_name, what, value, unit in RESULTS["table"]:
        say(f"  {f'{sec_name} | {what}':{width}s}  {value} {unit}")
    out = os.environ.get("OUT")
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "bench_gpu.txt"), "w") as f:
            f.write(LOG.getvalue())
        with open(os.path.join(out, "bench_gpu.json"), "w") as f:
            json.dump(RESULTS, f, indent=1, default=str)
    failed = [k for k, v in RESULTS["sections"].items() if not v.get("ok")]
    return 1 if failed else 0


def rbm_cuda_cfg(nv, nh, nb, k, target, n_runs, n_upd):
    from validation import rbm

    return rbm._Config.build(
        n_runs=n_runs, n_steps=n_upd, alpha=0.1, batch_size=nb, k=k, n_v=nv, n_h=nh, m2=4.0,
        mu2=9.0, sigma_h=1.0, w_sigma=0.1 if nv >= 10 else 0.3, target=target, rng=3,
        first_run=0,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

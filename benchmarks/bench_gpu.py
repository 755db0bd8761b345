"""GPU benchmark and check: the RBM trainer and DBM ensembles on a CUDA GPU, in one short run.

Sections, most important first; each is guarded (a failing section prints its error and
the script goes on) and sized to the time left of ``--budget`` seconds:

1. environment: versions, the numpy-2.5 compatibility step, the device;
2. compile: the paper-shape training kernel (N_v = N_h = 10, exact target: one kernel for
   every |B| <= 128), timed, and the same kernel loaded from the on-disk kernel cache by a
   second process (compile skipped?);
3. reference: the GPU update against the plain-numpy reference with the same random
   numbers at the paper shape for |B| = 16, 4 and 64 (max |dW|, |dphi|, |d eig|);
4. RBM throughput at the paper setting (|B| = 16, k = 3, float64) in run-updates/s for
   7,500, 30,000 and 120,000 runs: kernel time from CUDA events, median of repeats of
   launches of about half a second; then the launch alternatives (threads per block, a
   run-time choice, and one recompiled register cap);
5. DBM ensembles (``fpsolve.dbm.simulate(scheme="em")``): GPU against the CPU path with 2
   threads and with all threads, replica-steps/s, side by side;
6. the paper sweep end to end (``fpsolve sweep --preset paper --runs 7500 --device cuda``,
   as a subprocess, HDF5 files in a temporary directory): full length when the measured
   rate predicts it fits the time left, else shortened and extrapolated (the table says
   which);
7. the 1000-run GPU-vs-CPU statistics (``compare_statistics``), only if time remains.

A compact table is printed last; the full log and a JSON file go to ``$OUT`` when set.

Usage::

    python benchmarks/bench_gpu.py [--budget 130] [--smoke] [--no-statistics]

``--smoke`` runs every section at tiny sizes (e.g. under ``NUMBA_ENABLE_CUDASIM=1``) to check
the script itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

RESULTS: dict = {"sections": {}, "table": []}
LOG = io.StringIO()
T0 = time.perf_counter()
PAPER = {"n_v": 10, "n_h": 10, "k": 3, "m2": 4.0, "mu2": 9.0, "sigma_h": 1.0}
# the paper sweep's work in |B| = 16 run-updates: sum of |B|/16 over its 10 settings
SWEEP_EQUIVALENTS = (4 + 8 + 16 + 32 + 64 + 5 * 16) / 16


def say(*args):
    text = " ".join(str(a) for a in args)
    print(text, flush=True)
    LOG.write(text + "\n")


def row(section, what, value, unit=""):
    RESULTS["table"].append((section, what, value, unit))


def elapsed():
    return time.perf_counter() - T0


def section(name, budget, need=0.0):
    """Run the decorated function now unless fewer than ``need`` seconds are left."""

    def wrap(func):
        def run(*args, **kwargs):
            if budget - elapsed() < need:
                say(f"\n== {name}: skipped ({budget - elapsed():.0f} s left, needs ~{need:.0f})")
                row(name, "skipped", "time budget")
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


def config(n_runs, *, batch_size=16, seed=3, n_steps=1, shape=None):
    from validation.training import trainer

    kw = {**PAPER, **(shape or {})}
    return trainer._Config.build(
        n_runs=n_runs, n_steps=n_steps, alpha=0.1, batch_size=batch_size, w_sigma=0.1,
        target="exact", rng=seed, first_run=0, **kw,
    )  # fmt: skip


class Launcher:
    """The training kernel launched directly on device arrays (no snapshots, no copies)."""

    def __init__(self, n_runs, *, batch_size=16, threads_per_block=None, min_blocks=None,
                 shape=None):  # fmt: skip
        from fpsolve.cuda import backend
        from fpsolve.cuda import philox as ph
        from validation.training import cuda as tc

        self.cuda = cuda = backend.load()
        kw = {**PAPER, **(shape or {})}
        nv, nh, self.k = kw["n_v"], kw["n_h"], kw["k"]
        self.nb, self.n_runs = batch_size, n_runs
        kshape = tc._shape(nv, nh, batch_size, False, min_blocks=min_blocks)
        self.rpb, self.tpb, self.shared = tc._launch(kshape, batch_size, threads_per_block)
        self.grid = -(-n_runs // self.rpb)
        self.kern = tc._kernels(kshape)
        rng = np.random.default_rng(1)
        c_target, chol = tc._target(config(1, batch_size=batch_size, shape=shape))
        self.stream = cuda.stream()
        s = self.stream
        self.args = [
            cuda.to_device(0.1 * rng.standard_normal((n_runs, nv, nh)), stream=s),
            cuda.to_device(np.ones((n_runs, batch_size, nv)), stream=s),
            cuda.to_device(np.full(n_runs, 0.1), stream=s),
            cuda.to_device(np.tile(np.array([123, 456], np.uint64), (n_runs, 1)), stream=s),
            cuda.to_device(np.arange(n_runs, dtype=np.int64), stream=s),
        ]
        self.tail = [
            cuda.to_device(np.full(1, -1, np.int64), stream=s),
            cuda.device_array((1, 1, nv, nh), stream=s),
            cuda.to_device(np.full(n_runs, -1, np.int64), stream=s),
            cuda.to_device(c_target, stream=s),
            cuda.to_device(chol, stream=s),
            1.0, 1.0, 1.0 / 3.0, 1.0 / 9.0,
            cuda.to_device(ph.ZIG_K, stream=s),
            cuda.to_device(ph.ZIG_W, stream=s),
            cuda.to_device(ph.ZIG_F, stream=s),
        ]  # fmt: skip
        self.t = 0

    def seconds(self, n_upd):
        """Kernel time of ``n_upd`` updates of every run (CUDA events)."""
        from fpsolve.cuda import backend

        cuda, s = self.cuda, self.stream
        start, end = cuda.event(), cuda.event()
        t = time.perf_counter()
        start.record(s)
        self.kern.train[self.grid, self.tpb, s, self.shared](
            *self.args, self.n_runs, self.nb, self.k, self.t, n_upd, *self.tail
        )
        end.record(s)
        end.synchronize()
        wall = time.perf_counter() - t
        self.t += n_upd
        stop = self.tail[2].copy_to_host()
        if np.any(stop >= 0):
            raise FloatingPointError("a run diverged in the throughput loop")
        return wall if backend.simulator() else start.elapsed_time(end) / 1e3

    def rate(self, *, launch_seconds=0.5, repeats=3, smoke=False):
        """Median run-updates/s over ``repeats`` launches of about ``launch_seconds``."""
        self.seconds(1)  # compile or load, first launch
        probe = 2 if smoke else 50
        est = self.n_runs * probe / max(self.seconds(probe), 1e-6)
        n_upd = 2 if smoke else int(min(200_000, max(100, launch_seconds * est / self.n_runs)))
        times = [self.seconds(n_upd) for _ in range(repeats)]
        return self.n_runs * n_upd / statistics.median(times), n_upd, times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=130.0, help="seconds for everything")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (script check)")
    parser.add_argument("--no-statistics", action="store_true", help="skip section 7")
    args = parser.parse_args(argv)
    smoke = args.smoke
    budget = args.budget
    tiny = {"n_v": 3, "n_h": 2, "k": 1} if smoke else None
    state: dict = {}

    @section("environment", budget)
    def environment():
        from fpsolve.cuda import backend

        had_row_stack = hasattr(np, "row_stack")
        cuda = backend.load()
        info = versions()
        info["numpy_compat_step"] = bool(backend._STATE.get("numpy_compat"))
        info["had_row_stack"] = had_row_stack
        info["device"] = backend.device_name()
        info["simulator"] = backend.simulator()
        info["kernel_cache"] = str(backend.cache_dir())
        if not backend.simulator():
            dev = cuda.get_current_device()
            info["SMs"] = dev.MULTIPROCESSOR_COUNT
            free = backend.free_memory()
            info["free_GiB"] = round(free / 2**30, 1)
        for key, value in info.items():
            say(f"  {key}: {value}")
        RESULTS["environment"] = info
        row("env", "device", info["device"])
        row("env", "numpy / numba-cuda", f"{info.get('numpy')} / {info.get('numba-cuda')}")

    @section("compile", budget)
    def compile_kernel():
        t = time.perf_counter()
        launcher = Launcher(64, shape=tiny)
        launcher.seconds(1)
        sec = time.perf_counter() - t
        say(f"  paper kernel: {sec:.1f} s, module {launcher.kern.__file__}")
        if not hasattr(launcher.kern.train, "stats"):  # the simulator compiles nothing
            return
        stats = launcher.kern.train.stats
        hits, misses = sum(stats.cache_hits.values()), sum(stats.cache_misses.values())
        say(f"  cache hits {hits}, misses {misses} (cache {stats.cache_path})")
        row("compile", f"RBM kernel, first process ({'cached' if hits else 'compiled'})",
            round(sec, 1), "s")  # fmt: skip
        # a second process: the kernel must come from the on-disk cache
        code = (
            "import time; t = time.perf_counter()\n"
            "import sys; sys.argv = ['x']\n"
            "from benchmarks.bench_gpu import Launcher\n"
            f"la = Launcher(64, shape={tiny!r}); la.seconds(1)\n"
            "s = la.kern.train.stats\n"
            "print(time.perf_counter() - t, sum(s.cache_hits.values()),"
            " sum(s.cache_misses.values()))\n"
        )
        t = time.perf_counter()
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        run = subprocess.run(
            [sys.executable, "-c", code], check=False, capture_output=True, text=True,
            timeout=60, cwd=root,
        )  # fmt: skip
        wall = time.perf_counter() - t
        if run.returncode != 0:
            raise RuntimeError(f"second process failed: {run.stderr[-2000:]}")
        inner, hits2, misses2 = run.stdout.split()[-3:]
        say(f"  second process: {wall:.1f} s in all, {float(inner):.1f} s to a launched kernel "
            f"(cache hits {hits2}, misses {misses2})")  # fmt: skip
        row("compile", f"RBM kernel, second process (hits {hits2}, misses {misses2})",
            round(float(inner), 1), "s")  # fmt: skip

    @section("reference", budget)
    def reference():
        from fpsolve.cuda import philox
        from validation.training import cuda as tc

        cases = [(16, 64, 4), (4, 64, 4), (64, 16, 4)]
        worst_all = 0.0
        for nb, n_runs, n_upd in cases:
            cfg = config(n_runs, batch_size=nb, n_steps=n_upd, shape=tiny)
            job = tc._make_job(cfg, np.array([0, n_upd]), {}, record_weights=True,
                               record_modes=False, path=None, overwrite=False)  # fmt: skip
            w0, phi0 = job.w.copy(), job.phi.copy()
            tc.run_group([job], progress=False)
            c_target, chol = tc._target(cfg)
            st = cfg.setting
            w_ref, phi_ref = tc.reference_updates(
                w0, phi0, t0=0, n_updates=n_upd, alpha=st.alpha, batch_size=nb, k=st.k,
                mu2=st.mu2, sigma_h=st.sigma_h, c_target=c_target, chol=chol, data_mode=False,
                key=philox.key_from_seed(cfg.seed), run_ids=np.arange(n_runs),
            )  # fmt: skip
            dw = float(np.abs(job.w_all[:, 1] - w_ref).max())
            dphi = float(np.abs(job.phi - phi_ref).max())
            eig = np.linalg.eigvalsh(np.swapaxes(w_ref, -1, -2) @ w_ref)
            deig = float(np.abs(job.eig_all[:, 1] - eig).max())
            worst = max(dw, dphi, deig)
            worst_all = max(worst_all, worst)
            say(f"  |B|={nb:3d} {n_runs} runs x {n_upd} updates: max|dW|={dw:.2e} "
                f"max|dphi|={dphi:.2e} max|d eig|={deig:.2e}")  # fmt: skip
            row("reference", f"paper shape |B|={nb}", f"{worst:.1e}", "max abs diff")
        say(f"  worst difference {worst_all:.2e} ({'OK' if worst_all < 1e-10 else 'CHECK'})")

    @section("RBM throughput (paper setting, float64)", budget, need=20)
    def throughput():
        sizes = (8,) if smoke else (7500, 30000, 120000)
        best = (0.0, "")
        for n_runs in sizes:
            la = Launcher(n_runs, shape=tiny)
            rate, n_upd, times = la.rate(smoke=smoke)
            spread = (max(times) - min(times)) / statistics.median(times)
            label = f"{n_runs} runs, tpb {la.tpb}"
            say(f"  {label:28s} {n_upd:6d} updates/launch, median {statistics.median(times):.3f}"
                f" s (spread {spread:.0%}): {rate:.3e} run-updates/s")  # fmt: skip
            row("RBM", label, f"{rate:.3e}", "run-updates/s")
            state.setdefault("rate", {})[n_runs] = rate
            if rate > best[0]:
                best = (rate, label)
        alternatives = [{"threads_per_block": 64}, {"threads_per_block": 32}]
        alternatives += [{"min_blocks": 5}]  # 96 registers (a recompiled kernel)
        n_alt = 8 if smoke else 30000
        for alt in alternatives:
            if budget - elapsed() < 70:
                say("  (remaining alternatives skipped: time budget)")
                break
            la = Launcher(n_alt, shape=tiny, **alt)
            rate, n_upd, _times = la.rate(smoke=smoke)
            label = f"{n_alt} runs, tpb {la.tpb}" + (
                f", min_blocks {alt['min_blocks']}" if "min_blocks" in alt else ""
            )
            say(f"  {label:28s} {n_upd:6d} updates/launch: {rate:.3e} run-updates/s")
            row("RBM", label, f"{rate:.3e}", "run-updates/s")
            if rate > best[0]:
                best = (rate, label)
        state["best"] = best
        say(f"  best {best[0]:.3e} run-updates/s ({best[1]}); target 2e8")
        row("RBM", "best (target 2e8)", f"{best[0]:.3e}", best[1])

    @section("DBM ensembles (em): GPU vs CPU", budget, need=35)
    def dbm():
        import numba

        from fpsolve.dbm import Record, simulate
        from fpsolve.models import Modes

        cases = [(10, 20_000, 200, 1_000_000, 200), (100, 1_000, 20, 200_000, 20)]
        if smoke:
            cases = [(3, 20, 4, 16, 4)]
        threads_all = numba.get_num_threads()
        for i, (n, cpu_rep, cpu_steps, gpu_rep, gpu_steps) in enumerate(cases):
            if i and budget - elapsed() < 70:
                say(f"  (N={n} skipped: time budget)")
                break
            modes = Modes.harmonic(1.0, center=np.arange(n, dtype=np.float64))  # spacing 1
            kw = {"dt": 1e-3, "scheme": "em", "rng": 1, "record": Record(burn_in=0),
                  "progress": False}  # fmt: skip
            rates = {}
            for label, threads in (("cpu 2 threads", 2), ("cpu all threads", threads_all)):
                numba.set_num_threads(min(threads, threads_all))
                simulate(modes, 0.01, n_steps=2, n_replicas=cpu_rep, **kw)  # compile, warm
                t = time.perf_counter()
                simulate(modes, 0.01, n_steps=cpu_steps, n_replicas=cpu_rep, **kw)
                rates[label] = cpu_rep * cpu_steps / (time.perf_counter() - t)
            numba.set_num_threads(threads_all)
            t = time.perf_counter()
            simulate(modes, 0.01, n_steps=2, n_replicas=gpu_rep, device="cuda", **kw)
            say(f"  N={n}: GPU compile + first call {time.perf_counter() - t:.1f} s")
            t = time.perf_counter()
            simulate(modes, 0.01, n_steps=gpu_steps, n_replicas=gpu_rep, device="cuda", **kw)
            rates["gpu"] = gpu_rep * gpu_steps / (time.perf_counter() - t)
            for label, rate in rates.items():
                say(f"  N={n:4d} {label:16s} {rate:.3e} replica-steps/s")
                row("DBM", f"N={n} {label}", f"{rate:.3e}", "replica-steps/s")
            speed = rates["gpu"] / rates["cpu 2 threads"]
            speed_all = rates["gpu"] / rates["cpu all threads"]
            say(f"  N={n}: GPU / 2-thread CPU = {speed:.0f}x (target >= 50x), "
                f"GPU / {threads_all}-thread CPU = {speed_all:.0f}x")  # fmt: skip
            row("DBM", f"N={n} GPU / 2-thread CPU", round(speed, 1), "x (target >= 50)")

    @section("paper sweep end to end (CLI, 7500 runs x 10 settings)", budget, need=15)
    def sweep():
        n_runs = 16 if smoke else 7500
        full = 100_000
        rate = state.get("rate", {}).get(7500) or state.get("best", (0.0,))[0]
        predicted = SWEEP_EQUIVALENTS * n_runs * full / rate if rate else float("inf")
        left = budget - elapsed() - 20  # process start, kernel load, files, the summary
        # the prediction ignores the small-|B| settings' lower efficiency: keep a margin
        steps = full if predicted <= 0.6 * left else int(0.6 * full * left / predicted)
        steps = max(1000, steps // 1000 * 1000)
        if smoke:
            steps = 20
        directory = tempfile.mkdtemp(prefix="fpsolve-sweep-")
        cmd = [sys.executable, "-m", "fpsolve", "sweep", directory, "--preset", "paper",
               "--runs", str(n_runs), "--steps", str(steps), "--device", "cuda", "--seed", "1",
               "--no-progress"]  # fmt: skip
        if smoke:
            cmd += ["--n-v", "3", "--n-h", "2", "--k", "1"]
        say(f"  predicted full length {predicted:.0f} s from the 7500-run rate; running "
            f"{steps} steps: {' '.join(cmd[1:])}")  # fmt: skip
        try:
            t = time.perf_counter()
            limit = max(20.0, budget - elapsed() - 5)
            try:
                run = subprocess.run(
                    cmd, check=False, capture_output=True, text=True, timeout=limit
                )
            except subprocess.TimeoutExpired:
                row(
                    "sweep", f"paper, {n_runs} runs x {steps} steps", "timed out", f"> {limit:.0f}s"
                )
                raise
            sec = time.perf_counter() - t
            if run.returncode != 0:
                raise RuntimeError(f"fpsolve sweep failed: {run.stderr[-2000:]}")
            size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        per = 10 * n_runs * steps / sec
        say(f"  {steps} steps: {sec:.1f} s wall ({per:.3e} run-updates/s over all settings, "
            f"process start and kernel load included), {size / 2**30:.2f} GiB of HDF5")  # fmt: skip
        row("sweep", f"paper, {n_runs} runs x {steps} steps (measured)", round(sec, 1), "s")
        if steps != full:
            row("sweep", "extrapolated to 1e5 steps", round(sec * full / steps, 1), "s")

    @section("statistics (1000 runs, GPU vs CPU trainer)", budget, need=45)
    def stats():
        from validation.training import cuda as tc
        from validation.training import rbm

        n_runs, steps = (20, 40) if smoke else (1000, 3000)
        kw = {"n_steps": steps, "record_steps": [0, steps // 10, steps], "progress": False}
        if smoke:
            kw.update(n_v=3, n_h=2, batch_size=4, k=1)
        t = time.perf_counter()
        gpu = rbm.train(n_runs, device="cuda", rng=12, **kw)  # seeds differ: independent runs
        t_gpu = time.perf_counter() - t
        t = time.perf_counter()
        cpu = rbm.train(n_runs, rng=13, **kw)
        t_cpu = time.perf_counter() - t
        rows = tc.compare_statistics(gpu, cpu, snapshots=[1, 2])
        zs = np.array([r["z"] for r in rows])
        zmax, z2 = np.abs(zs).max(), np.mean(zs**2)
        say(f"  GPU {t_gpu:.1f} s, CPU {t_cpu:.1f} s ({os.cpu_count()} cores); {len(rows)} "
            f"comparisons, max |z| = {zmax:.2f}, mean z^2 = {z2:.2f}")  # fmt: skip
        row("statistics", f"max |z| over {len(rows)} (mean, std, <S>)",
            round(float(np.abs(zs).max()), 2), "< 4.5 expected")  # fmt: skip
        row("statistics", "mean z^2", round(float(np.mean(zs**2)), 2), "~1 expected")

    environment()
    compile_kernel()
    reference()
    throughput()
    dbm()
    sweep()
    if not args.no_statistics:
        stats()
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


if __name__ == "__main__":
    sys.exit(main())

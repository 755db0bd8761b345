"""Independent jobs (recordings, settings) run side by side, each in a thread whose
simulations use numba's threads; shared by :func:`validation.validate` and
:func:`validation.report.paper.reproduce`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba

from fpsolve.checks import check_int
from fpsolve.jit import threading_layer


def check_workers(workers: int | None) -> int:
    """The jobs run at the same time: ``workers``, or by default 2 where numba has two
    threads or more and its threading layer runs parallel kernels from two threads at once."""
    if workers is not None:
        workers = check_int("workers", workers, minimum=1)
        if workers == 1:
            return 1
    concurrent = threading_layer() != "workqueue"
    if workers is None:
        return 2 if concurrent and numba.get_num_threads() >= 2 else 1
    if not concurrent:
        raise ValueError(
            f"workers must be 1 with numba's workqueue threading layer, which cannot run "
            f"parallel kernels from two threads at once (install tbb), got {workers}"
        )
    return workers


def run_jobs(jobs: Sequence[Callable[[], Any]], workers: int) -> list:
    """``[job() for job in jobs]`` with up to ``workers`` jobs at a time, each in a thread
    with the caller's numba threads; pending jobs are cancelled when one fails."""
    if workers == 1 or len(jobs) == 1:
        return [job() for job in jobs]
    threads = numba.get_num_threads()

    def run(job):
        numba.set_num_threads(threads)  # numba's setting belongs to each thread
        return job()

    pool = ThreadPoolExecutor(min(workers, len(jobs)))
    try:
        futures = [pool.submit(run, job) for job in jobs]
        return [f.result() for f in futures]
    finally:
        pool.shutdown(cancel_futures=True)

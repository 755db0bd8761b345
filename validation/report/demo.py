"""The main job behind ``fpsolve demo``: train, record, validate, report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validation._typing import PathLike

if TYPE_CHECKING:
    from validation.report.pipeline import Validation

__all__ = ["DEMO_SETTINGS", "demo_grid", "run_demo"]

DEMO_SETTINGS = (
    {"alpha": 0.1, "batch_size": 8},
    {"alpha": 0.1, "batch_size": 16},
    {"alpha": 0.1, "batch_size": 32},
    {"alpha": 0.05, "batch_size": 16},
)
"""The demo sweep: a batch-size series at ``alpha = 0.1`` and one ``alpha = 0.05`` point
whose ``alpha/|B|`` equals that of ``(0.1, 32)``, so the collapse of the two series is tested."""

_QUICK_SETTINGS = ({"alpha": 0.1, "batch_size": 8}, {"alpha": 0.1, "batch_size": 32})


def demo_grid(
    *, quick: bool = False, n_runs: int | None = None, time_span: float | None = None
) -> list[dict[str, Any]]:
    r"""The settings of the demo sweep, as :func:`validation.training.rbm.sweep` takes them.

    Each setting of :data:`DEMO_SETTINGS` (quick: two of them) trains ``n_runs``
    runs (default 200, quick 40) for the same training time
    :math:`t = \alpha\,n_{steps}` (``time_span``, default 1200, quick 300), with
    60 snapshots, into the file ``alpha{alpha}_B{batch_size}.h5``.
    """
    from fpsolve.checks import check_int, check_positive

    n_runs = check_int("n_runs", (40 if quick else 200) if n_runs is None else n_runs, minimum=10)
    span = check_positive("time_span", (300.0 if quick else 1200.0) if time_span is None
                          else time_span)  # fmt: skip
    grid = []
    for s in _QUICK_SETTINGS if quick else DEMO_SETTINGS:
        n_steps = round(span / s["alpha"])
        grid.append({**s, "n_runs": n_runs, "n_steps": n_steps,
                     "record_every": max(n_steps // 60, 1),
                     "name": f"alpha{s['alpha']:g}_B{s['batch_size']}"})  # fmt: skip
    return grid


def run_demo(
    directory: PathLike = "fpsolve-demo",
    *,
    quick: bool = False,
    n_runs: int | None = None,
    time_span: float | None = None,
    seed: int = 2407,
    max_workers: int | None = None,
    progress: bool | None = None,
    overwrite: bool = True,
) -> tuple[Path, Validation]:
    r"""Train a small Gaussian-RBM sweep, record it, validate it against theory, write a report.

    The RBM is the paper's (:eq:`eq-rbm-action`, :eq:`eq-rbm-target`: ``N_v = N_h = 10``,
    ``m^2 = 4``, ``mu^2 = 9``, ``sigma_h = 1``, ``k = 3``, ``W_ij ~ N(0, 0.1^2)``); each setting of
    :data:`DEMO_SETTINGS` runs for ``time_span / alpha`` updates (the same training
    time :math:`t = \alpha\,n` for every setting) with 60 snapshots.

    Parameters
    ----------
    directory : str or os.PathLike
        Output directory: ``recordings/*.h5``, ``report.html``, ``results.json``
        and the figures.
    quick : bool, optional
        Reduced size for a smoke run (two settings, 40 runs, ``t = 300``).
    n_runs : int, optional
        Independent runs per setting (default 200, quick 40).
    time_span : float, optional
        Training time :math:`t = \alpha\,n_{steps}` (default 1200, quick 300).
    seed : int, optional
        Seed of the training and of the simulations behind the predictions.
    max_workers : int, optional
        Processes training settings in parallel (default: one per core, at most
        the number of settings).
    progress : bool or None, optional
        Report progress of training, analyses and figures
        (:func:`fpsolve.progress.progress_bar`: a bar in a terminal, plain lines
        otherwise); None means on, False silent.
    overwrite : bool, optional
        Replace recordings already in ``directory/recordings``.

    Returns
    -------
    report : pathlib.Path
        Path of ``report.html``.
    validation : Validation
        The result of :func:`validation.validate`.
    """
    from validation.report.pipeline import validate
    from validation.training import rbm

    grid = demo_grid(quick=quick, n_runs=n_runs, time_span=time_span)
    out = Path(directory)
    start = time.perf_counter()
    result = rbm.sweep(
        grid,
        directory=out / "recordings",
        rng=seed,
        progress=progress,
        overwrite=overwrite,
        max_workers=max_workers,
    )
    trained = time.perf_counter() - start
    validation = validate(list(result.paths), rng=seed, progress=progress)
    report = validation.write(out, progress=progress)
    validated = time.perf_counter() - start - trained
    if progress is not False:
        import sys

        print(
            f"trained {len(grid)} settings x {grid[0]['n_runs']} runs in {trained:.0f} s; "
            f"validated and reported in {validated:.0f} s",
            file=sys.stderr,
        )
    return report, validation

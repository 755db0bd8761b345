"""Sweeps: many Gaussian-RBM settings trained into one recording each, on any executor.

:func:`sweep` trains each setting with :func:`validation.training.trainer.train` in
an executor worker (a local process pool, or e.g. a Dask ``Client.get_executor()``);
:func:`grid` builds settings as a Cartesian product; :data:`PRESETS` holds named
sweeps (the paper's scan).  Seeds of the settings are derived from the sweep seed,
so files do not depend on the executor or the number of workers.
"""

from __future__ import annotations

import inspect
import itertools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fpsolve.checks import as_seed, check_int
from fpsolve.cuda import check_device
from validation._typing import PathLike, RNGLike
from validation.data import recording as _rec
from validation.data.recording import Recording
from validation.training.trainer import PAPER_ALPHA, PAPER_BATCH_SIZE, _plan, train

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "PAPER_ALPHA",
    "PAPER_BATCH_SIZE",
    "PAPER_STEPS",
    "PAPER_SWEEP",
    "PRESETS",
    "SweepResult",
    "grid",
    "sweep",
]


def _paper_sweep() -> tuple[dict, ...]:
    batch = [{"alpha": PAPER_ALPHA, "batch_size": b} for b in (4, 8, 16, 32, 64)]
    rate = [{"alpha": a, "batch_size": PAPER_BATCH_SIZE} for a in (0.01, 0.02, 0.04, 0.06, 0.08)]
    return tuple(batch + rate)


PAPER_SWEEP: tuple[dict, ...] = _paper_sweep()
"""The scan of arXiv:2407.16427: ``|B|`` in {4, 8, 16, 32, 64} at ``alpha = 0.1`` and
``alpha`` in {0.01, 0.02, 0.04, 0.06, 0.08, 0.1} at ``|B| = 16`` (10 distinct settings);
every other hyperparameter at the paper's value (the defaults of :func:`train`)."""

PRESETS: dict[str, tuple[dict, ...]] = {"paper": PAPER_SWEEP}
"""Named sweeps for :func:`sweep` and ``fpsolve sweep --preset``."""

PAPER_STEPS = 100_000
"""Updates per run in the paper's runs."""


def _derive_seed(seed: int, index: int) -> int:
    ss = np.random.SeedSequence(seed, spawn_key=(2**31 + index,))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


_SAFE = re.compile(r"[^A-Za-z0-9._+=-]")


def _setting_name(index: int, setting: Mapping) -> str:
    """The file stem of a setting: its ``name``, or one built from its values.

    A given name must be a plain file name (no directory, no ``..``, not
    hidden); characters of a built name other than letters,
    digits and ``._+=-`` become ``-``.
    """
    if "name" in setting:
        name = setting["name"]
        if not isinstance(name, str) or not name or name[0] == "." or _SAFE.search(name):
            raise ValueError(
                f"settings[{index}]['name'] must be a plain file name (letters, digits and "
                f"._+=-, not starting with '.'; no directory), got {name!r}"
            )
        return name
    parts = [f"{index:03d}"]
    for key, value in setting.items():
        if key in ("rng", "name"):
            continue
        parts.append(f"{key}{value:g}" if isinstance(value, float) else f"{key}{value}")
    return _SAFE.sub("-", "_".join(parts))


_PROGRESS_QUEUE: Any = None  # set in the workers of the sweep's own process pool


def _init_worker(queue: Any) -> None:
    global _PROGRESS_QUEUE  # noqa: PLW0603 (one queue per worker process, set at start)
    _PROGRESS_QUEUE = queue


def _sweep_task(kwargs: dict, index: int = -1) -> str:
    """Train one setting into its own file (runs in an executor worker).

    In the sweep's own process pool, the step reached after each chunk goes to the
    parent through the progress queue.
    """
    queue = _PROGRESS_QUEUE
    if queue is not None and index >= 0:
        kwargs = {**kwargs, "callback": lambda step: queue.put((index, step))}
    train(**kwargs)
    return os.fspath(kwargs["path"])


def _wait_with_progress(futures, queue, jobs, progress) -> None:
    """Wait for the futures of the own pool, reporting training steps from the queue."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from queue import Empty

    from fpsolve.progress import progress_bar

    total = sum(int(kw["n_steps"]) for kw in jobs)
    done = [0] * len(jobs)
    desc = f"train {len(jobs)} settings"
    with progress_bar(total, desc=desc, unit="step", enabled=progress) as bar:
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                fut.result()  # raise a worker's error at once
            while True:
                try:
                    index, step = queue.get_nowait()
                except Empty:
                    break
                if step > done[index]:
                    bar.update(step - done[index])
                    done[index] = step
        for index, kw in enumerate(jobs):  # settings resumed from a complete file
            if done[index] < int(kw["n_steps"]):
                bar.update(int(kw["n_steps"]) - done[index])


@dataclass(frozen=True)
class SweepResult:
    """The files of a sweep, one per setting.

    Attributes
    ----------
    settings : tuple of dict
        The full keyword arguments of :func:`train` for each setting (without
        ``path``), including its seed ``rng``.
    paths : tuple of pathlib.Path
        The recording of each setting, in the order of ``settings``.
    """

    settings: tuple
    paths: tuple

    def read(self, index: int) -> Recording:
        """Read the recording of setting ``index``."""
        return _rec.read(self.paths[index])

    def fluctuations(self, *, burn_in: float = 0.5) -> np.ndarray:
        r"""Variance over runs and late snapshots of each eigenvalue, per setting.

        Parameters
        ----------
        burn_in : float, optional
            Fraction of the snapshots discarded at the start of each recording.

        Returns
        -------
        ndarray, shape (n_settings, n_modes)
            :math:`\mathrm{Var}(x_a)` pooled over runs and snapshots after the burn-in;
            the linear scaling rule predicts it proportional to ``alpha/batch_size``.
        """
        out = []
        for p in self.paths:
            rec = _rec.read(p)
            s0 = int(burn_in * len(rec.steps))
            late = rec.eigenvalues[:, s0:, :]
            out.append(late.reshape(-1, late.shape[-1]).var(axis=0))
        return np.array(out)

    def plot(self, ax: Axes | None = None, *, burn_in: float = 0.5) -> list[Any]:
        """Log-log plot of :meth:`fluctuations` (mean over modes) against ``alpha/batch_size``.

        Returns
        -------
        list of matplotlib artists
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        ratio = np.array([s["alpha"] / s["batch_size"] for s in self.settings])
        var = self.fluctuations(burn_in=burn_in).mean(axis=1)
        artists = list(ax.loglog(ratio, var, "o"))
        ax.set_xlabel(r"$\alpha/|B|$")
        ax.set_ylabel(r"mean Var$(x_a)$")
        return artists


def sweep(
    settings: str | Iterable[Mapping[str, Any]],
    *,
    directory: PathLike,
    executor: Any = None,
    max_workers: int | None = None,
    rng: RNGLike = None,
    progress: bool | None = True,
    overwrite: bool = False,
    n_threads: int = 1,
    device: str = "cpu",
    **common: Any,
) -> SweepResult:
    """Train a grid of settings, each into its own recording, on any executor.

    Parameters
    ----------
    settings : str or iterable of mapping
        A preset name from :data:`PRESETS` (``"paper"``), or mappings of
        :func:`train` keyword arguments (e.g. ``{"alpha": 0.1, "batch_size": 4}``);
        a mapping may hold ``name`` (the file stem) and its own ``rng``.
    directory : str or os.PathLike
        Output directory (created if needed); setting ``i`` is written to
        ``directory / f"{name}.h5"``.
    executor : concurrent.futures.Executor-like, optional
        Anything with ``submit(fn, *args)`` returning futures with ``result()``,
        e.g. a Dask ``Client.get_executor()``.  Default: a local
        :class:`~concurrent.futures.ProcessPoolExecutor` with ``max_workers``
        processes, shut down at the end.
    max_workers : int, optional
        Processes of the default executor.
    rng : int, numpy SeedSequence, numpy Generator or None, optional
        Sweep seed.  Setting ``i`` without its own ``rng`` gets the seed
        ``SeedSequence(seed, spawn_key=(2**31 + i,))``: files do not depend on
        the executor or the number of workers.
    progress : bool or None, optional
        Report progress (:func:`fpsolve.progress.progress_bar`): with the default
        executor, training steps of all settings together; with another executor,
        finished settings.  None means on, False silent.
    overwrite : bool, optional
        Replace existing files.
    n_threads : int, optional
        Threads per setting inside each worker.
    device : {"cpu", "cuda"}, optional
        ``"cuda"``: every setting on the GPU in this process (no executor), settings
        with the same shapes side by side in one launch (:mod:`validation.training.cuda`).
    **common
        Keyword arguments of :func:`train` shared by every setting
        (``n_runs``, ``n_steps``, ``record_every``, ...); a setting overrides them.

    Returns
    -------
    SweepResult
    """
    if isinstance(settings, str):
        if settings not in PRESETS:
            raise ValueError(f"settings: unknown preset {settings!r}; known: {sorted(PRESETS)}")
        settings = PRESETS[settings]
    settings = [dict(s) for s in settings]
    if not settings:
        raise ValueError("settings must hold at least one setting, got none")
    for i, s in enumerate(settings):
        if "path" in s:
            raise ValueError(f"settings[{i}] must not set 'path'; files go to directory")
    for key in ("path", "progress", "callback", "_max_chunks"):
        if key in common:
            raise ValueError(f"sweep sets {key!r} itself; it cannot be passed")
    if max_workers is not None:
        check_int("max_workers", max_workers, minimum=1)
    seed = as_seed(rng)
    if check_device(device) == "cuda" and executor is not None:
        raise ValueError("device='cuda' runs the sweep in this process; do not pass executor")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"directory {os.fspath(directory)!r} is a file")
    signature = inspect.signature(train)
    extra = {"overwrite": overwrite, "progress": False, "n_threads": n_threads}
    jobs, paths, names = [], [], set()
    for i, s in enumerate(settings):  # every setting checked before anything is written
        name = _setting_name(i, s)
        if name in names:
            raise ValueError(f"settings: two settings have the file name {name!r}")
        names.add(name)
        kw = {**common, **{k: v for k, v in s.items() if k != "name"}}
        kw["rng"] = as_seed(kw.get("rng", _derive_seed(seed, i)))
        kw.setdefault("alpha", PAPER_ALPHA)
        kw.setdefault("batch_size", PAPER_BATCH_SIZE)
        if "n_steps" not in kw:
            raise ValueError("n_steps must be given (in common or in every setting)")
        path = directory / f"{name}.h5"
        try:
            bound = signature.bind(**kw, path=path, **extra)
        except TypeError as exc:
            raise TypeError(f"settings[{i}] ({name!r}): {exc}") from None
        bound.apply_defaults()
        try:
            _plan(bound.arguments)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"settings[{i}] ({name!r}): {exc}") from None
        if path.exists() and not overwrite:
            raise FileExistsError(
                f"{os.fspath(path)!r} exists; pass overwrite=True (--overwrite on the command "
                "line) to replace it"
            )
        jobs.append(kw)
        paths.append(path)
    directory.mkdir(parents=True, exist_ok=True)
    if device == "cuda":
        from validation.training import cuda

        cuda.sweep(jobs, paths, overwrite=overwrite, progress=bool(progress))
        return SweepResult(settings=tuple(jobs), paths=tuple(paths))
    own = executor is None
    queue = None
    if own:
        import multiprocessing

        queue = multiprocessing.get_context().Queue() if progress is not False else None
        executor = ProcessPoolExecutor(
            max_workers=max_workers, initializer=_init_worker, initargs=(queue,)
        )
    from fpsolve.progress import progress_bar

    try:
        futures = [
            executor.submit(_sweep_task, {**kw, "path": p, **extra}, i if own else -1)
            for i, (kw, p) in enumerate(zip(jobs, paths, strict=True))
        ]
        if queue is not None:
            _wait_with_progress(futures, queue, jobs, progress)
        else:
            with progress_bar(len(futures), desc="sweep", unit="setting", enabled=progress) as bar:
                for fut in futures:  # in submission order: works for any future-like object
                    fut.result()
                    bar.update(1)
    finally:
        if own:
            executor.shutdown()
            if queue is not None:
                queue.close()
    return SweepResult(settings=tuple(jobs), paths=tuple(paths))


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Settings for :func:`sweep`: the Cartesian product of keyword lists.

    Parameters
    ----------
    **axes : list
        Values of each :func:`train` keyword.

    Returns
    -------
    list of dict
        One dict per combination, the last keyword varying fastest.

    Examples
    --------
    >>> from validation.training.rbm import grid
    >>> grid(alpha=[0.1, 0.05], batch_size=[16])
    [{'alpha': 0.1, 'batch_size': 16}, {'alpha': 0.05, 'batch_size': 16}]
    """
    keys = list(axes)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*axes.values())]

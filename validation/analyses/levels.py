r"""The ladder of parameter-free models of a Gaussian-RBM training run.

Every level predicts the stationary spectrum of :math:`X = W^T W` of the PCD-trained
Gaussian RBM (docs/theory.md section 4) from the recording's hyperparameters alone;
consecutive levels differ in one approximation
(docs/guides/ladder.md):

====  ============  ==============================================================
key   method        model
====  ============  ==============================================================
a     small_noise   small-noise expansion around the fixed points (a formula)
b'    dbm           eigenvalue SGD map, Gaussian noise of the PCD model
                    (:func:`fpsolve.dbm.simulate_sgd`, :class:`fpsolve.models.PCDNoise`)
b     aligned       eigenvalue SGD map with the exact (Wishart) sample second moment
                    (:func:`fpsolve.sgd.simulate_sgd_aligned`)
c     matrix        SGD of :math:`W` itself with exact model samples
                    (:func:`fpsolve.sgd.simulate_sgd_matrix`)
====  ============  ==============================================================

(b) vs (c) measures the reduction to eigenvalues (rotations of :math:`W`), (c) vs the
recording what the persistent Gibbs chains add.  :func:`stationary_statistics` computes
the same numbers from a recording and from every simulated level, so they are compared
like with like.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fpsolve.checks import as_seed, check_int
from fpsolve.sgd import GaussianRBM, SGDFailure, simulate_sgd_aligned, simulate_sgd_matrix
from validation.analyses.stats import _binder_cumulant, _central_moments, jackknife_sums
from validation.data.setting import RBMSetting

__all__ = [
    "BEST",
    "LADDER",
    "LEVELS",
    "PredictionFailure",
    "StationaryStatistics",
    "level_name",
    "sample_level",
    "sgd_model",
    "stationary_statistics",
]

LEVELS = {
    "small_noise": ("a", "small-noise formula (a)"),
    "dbm": ("b'", "eigenvalue SGD map, Gaussian PCD noise (b')"),
    "aligned": ("b", "eigenvalue SGD map, exact sample noise (b)"),
    "matrix": ("c", "matrix SGD with exact samples (c)"),
}
"""Prediction method -> ``(level key, name shown in reports)``, from the crudest level up."""

LADDER = tuple(LEVELS)
"""The methods in ladder order."""

BEST = "matrix"
"""The level :func:`validation.validate` uses by default."""


def level_name(method: str) -> dict:
    """``level`` and ``model`` keywords of :meth:`~validation.analyses.stats.Entry.compare`."""
    level, model = LEVELS.get(method, (method, method))
    return {"level": level, "model": model}


class PredictionFailure(ValueError):
    """A prediction level has no stationary state at this setting.

    Attributes
    ----------
    method : str
        The level's method (:data:`LEVELS`).
    reason : str
        What happened to the replicas.
    fraction : float
        Fraction of the replicas affected.
    """

    def __init__(self, method: str, setting: str, reason: str, fraction: float):
        self.method, self.reason, self.fraction = method, reason, float(fraction)
        super().__init__(
            f"level {LEVELS[method][0]} ({LEVELS[method][1]}) has no stationary state at "
            f"{setting}: {reason} ({100 * self.fraction:.3g}% of the replicas)"
        )


# --------------------------------------------------------------------------- statistics
@dataclass(frozen=True, eq=False)
class StationaryStatistics:
    r"""Stationary statistics of labelled eigenvalues, each with its jackknife error.

    Attributes
    ----------
    mean, mean_error, std, std_error : ndarray, shape (n,)
        Mean and standard deviation of each labelled (ascending) eigenvalue.
    pairs : tuple of (int, int)
        The pairs of the pair statistics.
    spacing, spacing_error : ndarray, shape (n_pairs,)
        :math:`\langle S\rangle`, :math:`S = x_j - x_i`.
    spacing_ratio, spacing_ratio_error : ndarray, shape (n_pairs,)
        :math:`\langle S^2\rangle/\langle S\rangle^2` (:math:`4/\pi` for the Wigner
        surmise).
    binder, binder_error : ndarray, shape (n_pairs,)
        Binder cumulant :math:`U_4 = \langle u^4\rangle/(3\langle u^2\rangle^2) - 1` of
        the pooled pair, :math:`u = x - \langle x\rangle` over both members
        (:eq:`eq-two-mode-density`; :math:`-4/27` for the two-mode Coulomb gas).
    n_runs, n_snapshots : int
        Independent runs (replicas) and snapshots per run used.
    """

    mean: np.ndarray
    mean_error: np.ndarray
    std: np.ndarray
    std_error: np.ndarray
    pairs: tuple
    spacing: np.ndarray
    spacing_error: np.ndarray
    spacing_ratio: np.ndarray
    spacing_ratio_error: np.ndarray
    binder: np.ndarray
    binder_error: np.ndarray
    n_runs: int = 0
    n_snapshots: int = 0


def _run_sums(ev: np.ndarray, pairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-run sums behind :func:`stationary_statistics`: the count, powers 1-2 of each
    index and of each pair's spacing, powers 1-4 of each pooled pair; values are taken
    from the overall means (returned) so that the moments are well conditioned."""
    r, t = ev.shape[:2]
    shift = ev.mean(axis=(0, 1))
    d = ev - shift
    cols = [np.full((r, 1), float(t)), d.sum(axis=1), (d * d).sum(axis=1)]
    pooled_shift = np.zeros(0)
    if pairs:
        i, j = (np.array(v) for v in zip(*pairs, strict=True))
        gap = ev[:, :, j] - ev[:, :, i]
        pooled_shift = 0.5 * (shift[i] + shift[j])
        u = np.concatenate([ev[:, :, i], ev[:, :, j]], axis=1) - pooled_shift
        cols += [gap.sum(axis=1), (gap * gap).sum(axis=1)]
        cols += [(u**k).sum(axis=1) for k in (1, 2, 3, 4)]
    return np.concatenate(cols, axis=1), shift, pooled_shift


def _finish(tot: np.ndarray, shift: np.ndarray, pooled_shift: np.ndarray) -> np.ndarray:
    """The statistics of :func:`stationary_statistics` from totals of :func:`_run_sums`
    (one row per total)."""
    n, p = shift.size, pooled_shift.size
    count = tot[:, :1]
    s1, s2 = tot[:, 1 : 1 + n] / count, tot[:, 1 + n : 1 + 2 * n] / count
    out = [shift + s1, np.sqrt(s2 - s1 * s1)]
    if p:
        g1, g2, u1, u2, u3, u4 = (
            tot[:, 1 + 2 * n + k * p : 1 + 2 * n + (k + 1) * p] / count for k in range(6)
        )
        m2, m4 = _central_moments(u1 / 2, u2 / 2, u3 / 2, u4 / 2)  # two members per snapshot
        out += [g1, g2 / (g1 * g1), _binder_cumulant(m2, m4)]
    return np.concatenate(out, axis=1)


def stationary_statistics(eigenvalues, pairs=()) -> StationaryStatistics:
    r"""Mean and std per index and pair statistics, with jackknife errors over runs.

    Parameters
    ----------
    eigenvalues : array_like, shape (n_runs, n_snapshots, n)
        Ascending eigenvalues of independent runs (or replicas) in their stationary
        window; the snapshots of a run stay together, so their correlation is in
        the errors.
    pairs : sequence of (int, int), optional
        Pairs ``(i, j)``, ``i < j``, of the pair statistics.

    Returns
    -------
    StationaryStatistics

    Examples
    --------
    >>> import numpy as np
    >>> from validation.analyses.levels import stationary_statistics
    >>> ev = np.sort(np.random.default_rng(0).normal(size=(50, 20, 2)), axis=2)
    >>> st = stationary_statistics(ev, [(0, 1)])
    >>> st.mean.round(1).tolist(), st.spacing.round(1).tolist()  # exact: -+1/sqrt(pi), 2/sqrt(pi)
    ([-0.6, 0.5], [1.1])
    """
    ev = np.asarray(eigenvalues, dtype=np.float64)
    if ev.ndim != 3 or ev.shape[0] < 2 or ev.shape[1] < 1:
        raise ValueError(
            f"eigenvalues must have shape (n_runs >= 2, n_snapshots >= 1, n), got {ev.shape}"
        )
    if not np.all(np.isfinite(ev)):
        r, t, a = np.argwhere(~np.isfinite(ev))[0]
        raise ValueError(f"eigenvalues hold a non-finite entry at run {r}, snapshot {t}, mode {a}")
    pairs = tuple((int(i), int(j)) for i, j in pairs)
    n, p = ev.shape[2], len(pairs)
    for i, j in pairs:
        if not 0 <= i < j < n:
            raise ValueError(f"pairs must hold (i, j) with 0 <= i < j < {n}, got {(i, j)}")
    sums, shift, pooled_shift = _run_sums(ev, pairs)
    est = jackknife_sums(sums, lambda tot: _finish(tot, shift, pooled_shift))
    v, e = np.asarray(est.value), np.asarray(est.error)
    cut = np.cumsum([n, n, p, p, p])
    vs, es = np.split(v, cut[:-1]), np.split(e, cut[:-1])
    if not p:
        vs += [np.zeros(0)] * 3
        es += [np.zeros(0)] * 3
    return StationaryStatistics(
        vs[0], es[0], vs[1], es[1], pairs, vs[2], es[2], vs[3], es[3], vs[4], es[4],
        n_runs=ev.shape[0], n_snapshots=ev.shape[1],
    )  # fmt: skip


# --------------------------------------------------------------------------- simulated levels
@dataclass(frozen=True, eq=False)
class LevelSamples:
    """Stationary samples of one simulated level: eigenvalues and how they were made."""

    eigenvalues: np.ndarray
    params: dict = field(default_factory=dict)


def _describe(setting: RBMSetting) -> str:
    return f"alpha={setting.alpha:g}, |B|={setting.batch_size}"


def sgd_model(setting: RBMSetting) -> GaussianRBM:
    r"""The :class:`fpsolve.sgd.GaussianRBM` of a setting.

    The trainer's lattice matrix :math:`C_{target} = K_{target}^{-1}` when ``m2`` is
    known, else :math:`\mathrm{diag}(1/\kappa)` (the same law of the spectrum of
    :math:`X`).
    """
    if setting.m2 is not None:
        return GaussianRBM.lattice(
            setting.n_v, m2=setting.m2, mu2=setting.mu2, sigma_h2=setting.sigma_h2,
            n_h=setting.n_h,
        )  # fmt: skip
    return GaussianRBM(
        mu2=setting.mu2, sigma_h2=setting.sigma_h2, kappa=setting.kappa, n_h=setting.n_h
    )


def sample_level(
    method: str,
    setting: RBMSetting,
    *,
    n_replicas: int,
    n_steps: int,
    burn_in: int,
    rng: Any = None,
    progress: bool = False,
) -> LevelSamples:
    r"""Run level ``"aligned"`` (b) or ``"matrix"`` (c) and keep its stationary window.

    Both run ``n_steps`` SGD steps per replica with :math:`|B|` exact model samples per
    step, starting at the fixed point (:attr:`fpsolve.sgd.GaussianRBM.w_stable` for (c),
    :attr:`~fpsolve.sgd.GaussianRBM.x_stable` for (b)), so that no replica is still
    escaping from the small initial weights of training in the window.  Snapshots at
    steps ``>= burn_in`` are kept (about 1000 per run).

    Raises
    ------
    PredictionFailure
        If any replica leaves the model's domain (the reason and fraction are named).
    """
    if method not in ("aligned", "matrix"):
        raise ValueError(f"method must be 'aligned' or 'matrix', got {method!r}")
    n_replicas = check_int("n_replicas", n_replicas, minimum=2)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    burn_in = check_int("burn_in", burn_in, minimum=0)
    if burn_in >= n_steps:
        raise ValueError(f"burn_in must be < n_steps={n_steps}, got {burn_in}")
    model = sgd_model(setting)
    every = max(1, math.ceil((n_steps - burn_in) / 1000))
    steps = np.arange(burn_in, n_steps + 1, every)
    seed = as_seed(rng)
    kw: dict[str, Any] = {
        "alpha": setting.alpha, "batch_size": setting.batch_size, "n_steps": n_steps,
        "n_replicas": n_replicas, "record_steps": steps, "rng": seed, "progress": progress,
    }  # fmt: skip
    if method == "matrix":
        res = simulate_sgd_matrix(model, w0=model.w_stable, **kw)
    else:
        res = simulate_sgd_aligned(model, **kw)
    try:
        res.check()
    except SGDFailure as exc:
        reason = res.failure_summary().replace("\n", ";")
        raise PredictionFailure(method, _describe(setting), reason, exc.fraction) from None
    params = {"n_replicas": n_replicas, "n_steps": n_steps, "burn_in": burn_in, "seed": seed}
    return LevelSamples(res.eigenvalues, params)

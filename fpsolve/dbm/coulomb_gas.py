"""Samples of the beta = 1 Coulomb gas: exact (beta-Hermite) or Metropolis-adjusted Langevin."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.checks import as_seed, check_finite_array, check_in_range, check_int
from fpsolve.dbm import _kernels as _k
from fpsolve.dbm import _setup as setup
from fpsolve.models import HarmonicModel, Modes

__all__ = ["CoulombGasSamples", "sample_coulomb_gas"]


@dataclass(frozen=True, eq=False)
class CoulombGasSamples:
    """Samples of the Coulomb gas from :func:`sample_coulomb_gas`.

    Attributes
    ----------
    samples : ndarray, shape (n_samples, n_modes)
        Column ``i`` is mode ``i``; MALA samples are ordered chain by chain.
    method : str
        ``"exact"`` or ``"mala"``.
    modes : Modes
        The models.
    g2 : ndarray, shape (n_modes,)
        Noise strength per mode.
    acceptance : ndarray, shape (n_chains,)
        Acceptance rate of each chain after burn-in (1 for ``"exact"``); a chain far
        below the others has stuck.
    step : ndarray, shape (n_chains,)
        Adapted Langevin step ``h`` of each chain (NaN for ``"exact"``).
    ess : ndarray, shape (n_modes,)
        Effective sample size per mode (integrated autocorrelation time, Sokal window
        ``c = 5``, per chain, summed over chains).
    seed : int or None
        The int seed of the samples (``rng=seed`` repeats them).
    """

    samples: np.ndarray
    method: str
    modes: Modes
    g2: np.ndarray
    acceptance: np.ndarray
    step: np.ndarray
    ess: np.ndarray
    seed: int | None = None

    @property
    def acceptance_rate(self) -> float:
        """Mean acceptance over chains."""
        return float(np.mean(self.acceptance))

    def plot(self, ax=None, bins: int = 60) -> list:
        """Histogram of each degenerate group pooled; returns the artists."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        artists = []
        for grp in self.modes.degenerate_groups():
            vals = self.samples[:, list(grp)].ravel()
            _, _, patches = ax.hist(
                vals, bins=bins, density=True, histtype="step", label=f"modes {grp}"
            )
            artists.extend(patches)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.legend(fontsize="small")
        return artists


def _exact_ok(modes: Modes, g2: np.ndarray) -> bool:
    first = modes[0]
    return (
        all(isinstance(m, HarmonicModel) for m in modes)
        and all(m == first for m in modes)
        and bool(np.all(g2 == g2[0]))
    )


def _ess(chains: np.ndarray) -> np.ndarray:
    """ESS per mode of chains (n_chains, n_keep, n_modes): Sokal's window, c = 5."""
    n_chains, n_keep, n = chains.shape
    if n_keep < 4:
        return np.full(n, float(n_chains * n_keep))
    y = chains - chains.mean(axis=1, keepdims=True)
    size = 1 << (2 * n_keep - 1).bit_length()
    f = np.fft.rfft(y, n=size, axis=1)
    acf = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n_keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = acf / acf[:, :1]
    rho = np.nan_to_num(rho, nan=0.0)
    tau = 2.0 * np.cumsum(rho, axis=1) - 1.0
    ess = np.zeros(n)
    lags = np.arange(n_keep)[None, :, None]
    window = lags >= 5.0 * tau
    idx = np.where(window.any(axis=1), window.argmax(axis=1), n_keep - 1)
    tau_w = np.take_along_axis(tau, idx[:, None, :], axis=1)[:, 0, :]
    tau_w = np.maximum(tau_w, 1.0 / n_keep)
    ess = np.sum(n_keep / tau_w, axis=0)
    return ess


def sample_coulomb_gas(
    modes: Modes | Sequence,
    g2: ArrayLike,
    *,
    n_samples: int,
    rng: int | np.random.Generator | None = None,
    method: str = "auto",
    x0: ArrayLike | None = None,
    n_chains: int | None = None,
    burn_in: int = 2000,
    thin: int = 10,
    target_accept: float = 0.574,
) -> CoulombGasSamples:
    r"""Samples of the :math:`\beta = 1` Coulomb gas of the modes.

    .. math::

        P_s(\{x\}) \propto \prod_{i<j}|x_i - x_j|\,\exp\Big(-\sum_i V_i(x_i)/g_i^2\Big),

    restricted to the ordering chamber of ``x0`` (the states the DBM started at
    ``x0`` explores; for degenerate modes all chambers are equivalent).

    ``method="exact"`` (identical harmonic modes :math:`V = \Omega(x-c)^2/2`, equal
    :math:`g^2`): the beta-Hermite tridiagonal model,
    :func:`fpsolve.analytic.sample_hermite` with ``loc = c``,
    ``scale = sqrt(g2/Omega)``; mode ``i`` gets the eigenvalue whose rank is that of
    ``x0[i]``.

    ``method="mala"``: Metropolis-adjusted Langevin with the diagonal preconditioner
    :math:`D = \mathrm{diag}(g_i^2)`; the proposal is one Euler-Maruyama step of the DBM,
    :math:`x' = x + h[K_i + g_i^2\sum_{j\ne i}1/(x_i - x_j)] + \sqrt{2h}\,g_i\,\xi_i`,
    accepted with the Metropolis-Hastings probability, so it is unbiased at any ``h``.
    Proposals outside the chamber or a domain are rejected.  ``h`` is adapted per
    chain toward ``target_accept`` during ``burn_in`` only.

    Parameters
    ----------
    modes : Modes
        One model per eigenvalue.
    g2 : float or array_like, shape (n_modes,)
        :math:`g_i^2 > 0`.
    n_samples : int
        Number of samples returned.
    rng : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Seed (SPEC 7), turned into the int seed ``s`` recorded in
        :attr:`CoulombGasSamples.seed`.  MALA chain ``c`` draws from the xoshiro256++
        stream ``fpsolve.streams.stream(SeedSequence(s, spawn_key=(c,)))``, so the
        samples do not depend on the number of threads; ``"exact"`` passes ``s`` to
        :func:`fpsolve.analytic.sample_hermite`.
    method : {"auto", "exact", "mala"}, optional
        ``"auto"``: exact when possible, else MALA.
    x0 : array_like, shape (n_modes,), optional
        Start of the chains and choice of chamber; default as in :func:`simulate`.
    n_chains : int, optional
        MALA chains; default ``min(64, n_samples)``.
    burn_in : int, optional
        MALA steps per chain discarded (and used to adapt ``h``).
    thin : int, optional
        Keep every ``thin``-th MALA state.
    target_accept : float, optional
        Acceptance rate aimed at during adaptation, in (0, 1).

    Returns
    -------
    CoulombGasSamples
    """
    modes = setup.check_modes(modes)
    n = len(modes)
    g2 = setup.per_mode("g2", g2, n)
    n_samples = check_int("n_samples", n_samples, minimum=1)
    if method not in ("auto", "exact", "mala"):
        raise ValueError(f"method must be 'auto', 'exact' or 'mala', got {method!r}")
    start = check_finite_array("x0", setup.default_x0(modes, g2) if x0 is None else x0)
    if start.shape != (n,):
        raise ValueError(f"x0 must have shape ({n},), got {start.shape}")
    start = setup.check_x0(start, modes, 1)[0]
    order = np.argsort(start, kind="stable")
    seed = as_seed(rng)
    exact = _exact_ok(modes, g2)
    if method == "exact" and not exact:
        raise ValueError(
            "method='exact' needs identical HarmonicModel modes with equal g2; use method='mala'"
        )
    if method == "exact" or (method == "auto" and exact):
        from fpsolve.analytic import sample_hermite

        m = modes[0]
        assert isinstance(m, HarmonicModel)
        scale = math.sqrt(g2[0] / m.omega)
        vals = sample_hermite(n, 1.0, n_samples, seed, loc=m.center, scale=scale)
        samples = np.empty_like(vals)
        samples[:, order] = vals
        return CoulombGasSamples(
            samples=samples,
            method="exact",
            modes=modes,
            g2=g2,
            acceptance=np.ones(1),
            step=np.full(1, np.nan),
            ess=np.full(n, float(n_samples)),
            seed=seed,
        )
    burn_in = check_int("burn_in", burn_in, minimum=0)
    thin = check_int("thin", thin, minimum=1)
    target_accept = check_in_range(
        "target_accept", target_accept, 0.0, 1.0, low_open=True, high_open=True
    )
    n_chains = (
        min(64, n_samples) if n_chains is None else check_int("n_chains", n_chains, minimum=1)
    )
    n_keep = -(-n_samples // n_chains)
    table, kernels = setup.model_table(modes)
    spans = setup.chunks(n_chains)
    streams = setup.streams(seed, spans, by_row=True)
    sig = setup.sigma(modes, g2)
    sig2 = np.nanmin(sig**2) if np.any(np.isfinite(sig)) else 1.0
    h0 = 0.5 * sig2 / np.max(g2) / max(n, 1) ** (1.0 / 3.0)
    chains = [
        _k.MalaChains(
            x=np.repeat(start[None, :], b - a, axis=0),
            order=np.repeat(order[None, :], b - a, axis=0),
            h=np.full(b - a, h0),
            streams=st,
            out=np.empty((b - a, n_keep, n)),
            accepted=np.zeros(b - a, dtype=np.int64),
            proposed=np.zeros(b - a, dtype=np.int64),
        )
        for (a, b), st in zip(spans, streams, strict=True)
    ]
    coef = _k.MalaCoef(n_burn=burn_in, n_keep=n_keep, thin=thin, target=target_accept, g2=g2)
    setup.parallel_map(lambda k: kernels.mala_chunk(chains[k], coef, table), len(chains))
    kept = np.concatenate([c.out for c in chains], axis=0)
    acceptance = np.concatenate([c.accepted for c in chains]) / np.maximum(
        np.concatenate([c.proposed for c in chains]), 1
    )
    return CoulombGasSamples(
        samples=kept.reshape(-1, n)[:n_samples].copy(),
        method="mala",
        modes=modes,
        g2=g2,
        acceptance=acceptance,
        step=np.concatenate([c.h for c in chains]),
        ess=_ess(kept),
        seed=seed,
    )

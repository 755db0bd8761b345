"""The analytic showcase: closed forms of the theory next to exact random-matrix samples."""

from __future__ import annotations

import os

import numpy as np

from fpsolve.analytic import (
    binder_cumulant,
    marchenko_pastur,
    sample_hermite,
    sample_laguerre,
    stationary_density,
    two_mode_density,
    wigner_surmise,
)
from fpsolve.models import RBMModel

__all__ = ["analytic_showcase"]


def analytic_showcase(directory: str, *, n_samples: int = 100_000, rng=None):
    """Draw the four closed forms of the theory against exact samples.

    Panels: Marchenko-Pastur vs Laguerre-ensemble spectra (``m = 400, n = 100``);
    Wigner surmise vs spacings of 2x2 GOE; the two-mode density vs pooled 2x2
    GOE eigenvalues (with the Binder cumulant); stationary densities of the RBM
    mode (``kappa = 4, mu2 = 9``) at several ``g2``.

    Parameters
    ----------
    directory : str
        Where ``showcase.png`` and ``showcase.txt`` are written.
    n_samples : int, optional
        Number of 2x2 spectra (the Laguerre panel uses ``n_samples // 100`` spectra).
    rng : int, numpy.random.Generator or None
        Seed or generator.

    Returns
    -------
    path : str
        The figure's path.
    summary : str
        The numbers shown, as text.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gen = np.random.default_rng(rng)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), layout="constrained")
    lines = []

    m, n, s2 = 400, 100, 1.0 / 400
    spectra = sample_laguerre(m, n, 1.0, s2, max(n_samples // 100, 10), rng=gen).ravel()
    mp = marchenko_pastur(n / m, scale=m * s2)
    x = np.linspace(*mp.edges, 400)
    axes[0].hist(spectra, bins=60, density=True, alpha=0.5, label="Laguerre samples")
    axes[0].plot(x, mp.pdf(x), "k", label="Marchenko-Pastur")
    axes[0].set(title="spectrum of $W^TW$, $r=1/4$", xlabel="$x$")
    lines.append(f"MP: sample mean {spectra.mean():.4f} vs {mp.mean():.4f}")

    pairs = sample_hermite(2, 1.0, n_samples, rng=gen)
    s = np.diff(pairs, axis=1)[:, 0]
    s = s / s.mean()
    grid = np.linspace(0, 3.5, 300)
    axes[1].hist(s, bins=60, range=(0, 3.5), density=True, alpha=0.5, label="2x2 GOE")
    for beta in (1, 2, 4):
        axes[1].plot(grid, wigner_surmise(beta).pdf(grid), label=rf"surmise $\beta={beta}$")
    axes[1].plot(grid, np.exp(-grid), "k:", label="Poisson")
    axes[1].set(title="level spacing", xlabel="$s = S/\\langle S\\rangle$")

    sigma = 1.0
    pooled = pairs.ravel()
    rho = two_mode_density(0.0, sigma)
    u = np.linspace(-4, 4, 400)
    axes[2].hist(pooled, bins=80, range=(-4, 4), density=True, alpha=0.5, label="pooled pair")
    axes[2].plot(u, rho.pdf(u), "k", label="two-mode density")
    value, error = binder_cumulant(pooled)
    axes[2].set(title=f"degenerate pair: $U_4$ = {value:.3f} ± {error:.3f}", xlabel="$u$")
    lines.append(
        f"Binder cumulant of pooled pair: {value:.4f} +- {error:.4f} (exact -4/27 = -0.1481)"
    )

    model = RBMModel(kappa=4.0, mu2=9.0)
    for g2 in (0.01, 0.1, 1.0):
        p = stationary_density(model, g2)
        p.plot(ax=axes[3])
        lines.append(f"RBM mode P_s, g2={g2}: mean {p.mean:.4f}, std {p.std:.4f}")
    axes[3].set(title=r"RBM mode, $\kappa=4$, $\mu^2=9$")
    for ax in axes:
        ax.legend(fontsize=7)
    path = os.path.join(directory, "showcase.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    summary = "\n".join(lines)
    with open(os.path.join(directory, "showcase.txt"), "w") as fh:
        fh.write(summary + "\n")
    return path, summary

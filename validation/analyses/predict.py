r"""Parameter-free predictions for Gaussian-RBM recordings (analysis 5).

From the hyperparameters of a recording alone (:math:`\mu^2`, :math:`\sigma_h`,
the target spectrum :math:`\kappa`, :math:`N_v`, :math:`N_h`, the learning rate
:math:`\alpha`, the batch size :math:`|B|` and the Gibbs sweeps ``k``) predict,
for every eigenvalue index ``a`` of :math:`X = W^T W` (ascending), the stationary
mean position, the width and, for every neighbouring pair inside a degenerate
group, the mean spacing :math:`\langle S\rangle`, and compare them with the
recording.

Conventions.  Eigenvalue index ``a`` is matched to its target by
:meth:`validation.data.recording.Recording.rbm_modes` (``x`` ascends while the
learned modes :math:`\lambda_a = \mu^2 - \sigma_h^2 x_a` descend); drifts are
in the ``"training"`` convention of :class:`fpsolve.models.RBMModel`, per unit
of :math:`\alpha`,

.. math::

    K_a(x) = 2\sigma_h^2 x\left(\frac{1}{\kappa_a} - \frac{1}{\mu^2 - \sigma_h^2 x}\right),
    \qquad \Omega_a = -K_a'(x_{s,a}) = \frac{2\sigma_h^2(\mu^2 - \kappa_a)}{\kappa_a^2},

and the noise is that of the PCD estimate of :math:`C_{model}`,
:func:`fpsolve.models.rbm_pcd_noise`: :math:`\mathrm{Var}(\delta X_{ab}) =
(\alpha^2/|B|)(1 + \delta_{ab})\tilde G_{ab}(x)` with
:math:`\tilde G_{ab} = f_{ab}\, 4\sigma_h^4 x_a x_b/(\lambda_a\lambda_b)` and the
chain-correlation factor :math:`f_{ab} = (1 + c_{ab})/(1 - c_{ab})`,
:math:`c_{ab} = (\sigma_h^4 x_a x_b/\mu^4)^k` (:math:`f = 1` without it).  The
derivation is in the guide ``docs/guides/noise_model.md``.

The width reported per mode, ``std``, is the standard deviation of the
*labelled* (ordered) eigenvalue, which is what a recording measures; for a
degenerate pair it is smaller than the width parameter :math:`\sigma` of the
two-mode Coulomb gas, ``std`` :math:`= \sigma\sqrt{3/2 - \pi/4}`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from fpsolve.analytic import sgd_stationary_variance
from fpsolve.checks import check_int
from fpsolve.dbm import Record, simulate_sgd
from fpsolve.models import Modes, PCDNoise, rbm_pcd_noise
from validation._typing import RNGLike
from validation.analyses.levels import (
    LADDER,
    PredictionFailure,
    StationaryStatistics,
    level_name,
    sample_level,
    stationary_statistics,
)
from validation.analyses.stats import Entry, effective_samples
from validation.data.recording import Recording
from validation.data.setting import SETTING_ATTRS, RBMSetting

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

__all__ = [
    "REQUIRED_ATTRS",
    "Prediction",
    "PredictionComparison",
    "PredictionFailure",
    "compare_predictions",
    "measure_stationary",
    "predict",
]

REQUIRED_ATTRS = SETTING_ATTRS
"""Recording attributes every prediction needs (``k`` too with ``k="auto"``)."""

METHODS = LADDER
"""Prediction methods, one per level of the ladder (:data:`validation.analyses.levels.LEVELS`)."""

DEFAULT_STEPS = 100_000
"""Steps of levels (b) and (c) when the attributes do not state ``n_steps`` (the paper's)."""


_ORDER_SAMPLES = 200_000


# --------------------------------------------------------------------------- the setting
@dataclass(frozen=True)
class _Setting:
    modes: Modes
    kappa: np.ndarray
    mu2: float
    s: float
    n_v: int
    n_h: int
    alpha: float
    batch_size: int
    k: int | None
    groups: tuple
    setting: RBMSetting
    n_steps: int | None

    @property
    def ab(self) -> float:
        return self.alpha / self.batch_size


def _setting(source: Recording | Mapping[str, Any], k: int | str | None) -> _Setting:
    attrs: Mapping[str, Any]
    if isinstance(source, Recording):
        attrs = source.attrs
        if attrs.get("model") != "gaussian_rbm":
            raise ValueError(
                "predictions need a Gaussian-RBM recording (attribute model='gaussian_rbm'), "
                f"got model={attrs.get('model')!r}"
            )
    elif isinstance(source, Mapping):
        attrs = source
        model = attrs.get("model", "gaussian_rbm")
        if model != "gaussian_rbm":
            raise ValueError(f"attrs must describe a Gaussian RBM, got model={model!r}")
    else:
        raise TypeError(
            f"attrs_or_recording must be a Recording or a mapping of its attributes, "
            f"got {type(source).__name__}"
        )
    setting = RBMSetting.from_attrs(attrs)
    if setting.alpha == 0:
        raise ValueError(
            "recording attribute 'alpha' must be > 0 (a stationary state needs training), got 0.0"
        )
    if k == "auto":
        if setting.k is None:
            raise ValueError("k='auto' needs the attribute 'k' (Gibbs sweeps per update)")
        k = setting.k
    elif k is not None:
        k = check_int("k", k, minimum=1)
    modes = setting.modes(convention="training")
    return _Setting(
        modes=modes,
        kappa=setting.learned_kappa,
        mu2=setting.mu2,
        s=setting.sigma_h2,
        n_v=setting.n_v,
        n_h=setting.n_h,
        alpha=setting.alpha,
        batch_size=setting.batch_size,
        k=k,
        groups=setting.mode_groups(),
        setting=setting,
        n_steps=attrs.get("n_steps"),
    )


def _pairs(groups) -> tuple[tuple[int, int], ...]:
    """Neighbouring index pairs inside every group of two or more modes."""
    return tuple((g[i], g[i + 1]) for g in groups for i in range(len(g) - 1))


# --------------------------------------------------------------------------- small noise
def _goe_order(m: int) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    r"""Ordered eigenvalues of the ``m``-mode Coulomb gas in units of :math:`\sigma`.

    Returns the mean of each ordered eigenvalue about the centre, its second moment
    about the centre, the mean neighbour spacing, and of a neighbour pair
    :math:`\langle S^2\rangle/\langle S\rangle^2` and the Binder cumulant of the pooled
    pair, exactly for ``m <= 2`` (:math:`4/\pi` and :math:`-4/27`) and from 200000
    fixed-seed GOE draws otherwise (the middle pair).
    """
    if m == 1:
        return np.zeros(1), np.ones(1), math.nan, math.nan, math.nan
    if m == 2:
        half = math.sqrt(math.pi) / 2.0
        return np.array([-half, half]), np.full(2, 1.5), math.sqrt(math.pi), 4 / math.pi, -4 / 27
    a = np.random.default_rng(0).standard_normal((_ORDER_SAMPLES, m, m))
    h = (a + np.swapaxes(a, 1, 2)) / 2.0  # H_ii ~ N(0, 1), H_ij ~ N(0, 1/2)
    ev = np.linalg.eigvalsh(h)
    i = (m - 1) // 2
    shape = stationary_statistics(ev[:, None, :], [(i, i + 1)])
    return (
        ev.mean(axis=0),
        (ev**2).mean(axis=0),
        float(np.diff(ev, axis=1).mean()),
        float(shape.spacing_ratio[0]),
        float(shape.binder[0]),
    )


def _curvature2(st: _Setting, x: np.ndarray) -> np.ndarray:
    r""":math:`K_a''(x)` of the training-convention drift."""
    lam = st.mu2 - st.s * x
    return -4.0 * st.s**2 / lam**2 - 4.0 * st.s**3 * x / lam**3


def _second_order_drift(st: _Setting, x: np.ndarray) -> np.ndarray:
    r"""Mean of :math:`(\delta W^T\delta W)_{aa}/(\alpha^2/|B|)` at ``x``.

    :math:`\sigma_h^4 x_a/\lambda_a\,(\sum_{b=1}^{N_v} 1/\lambda_b + 1/\lambda_a)`, the
    ``N_v - N_h`` directions outside the range of ``W`` having :math:`\lambda = \mu^2`.
    """
    return PCDNoise(n_v=st.n_v).second_order_drift(st.modes, x)


def _small_noise(st: _Setting, discrete_map: bool = True):
    modes, n = st.modes, st.modes.n_modes
    x_s = modes.x_stable
    omega = modes.omega
    noise = rbm_pcd_noise(modes, k=st.k)
    width = np.sqrt(sgd_stationary_variance(st.alpha, st.batch_size, noise.gt2, omega))
    if discrete_map:
        width = width / np.sqrt(1.0 - 0.5 * st.alpha * omega)
    offset = np.zeros(n)
    second = np.ones(n)
    group_of = np.empty(n, dtype=int)
    spacing_unit, shape = {}, {}
    for gi, g in enumerate(st.groups):
        mean_u, m2_u, s_u, *shape[gi] = _goe_order(len(g))
        idx = list(g)
        group_of[idx] = gi
        sig = width[idx].mean()
        offset[idx] = mean_u * sig
        second[idx] = m2_u
        spacing_unit[gi] = s_u * sig
    pair_force = np.zeros(n)
    for a in range(n):
        for b in range(n):
            if group_of[a] != group_of[b]:
                pair_force[a] += noise.coupling[a, b] / (x_s[a] - x_s[b])
    force = pair_force + _second_order_drift(st, x_s)
    shift = (st.ab * force + 0.5 * _curvature2(st, x_s) * second * width**2) / omega
    mean_x = x_s + offset + shift
    std = width * np.sqrt(second - (offset / width) ** 2)
    pairs = _pairs(st.groups)
    spacing = np.array([spacing_unit[group_of[i]] for i, _ in pairs])
    ratio, binder = (np.array([shape[group_of[i]][c] for i, _ in pairs]) for c in (0, 1))
    return mean_x, std, width, spacing, shift, ratio, binder


# --------------------------------------------------------------------------- DBM
def _tau(st: _Setting) -> float:
    r"""The slowest relaxation time in steps, :math:`1/(\alpha\min_a\Omega_a)`."""
    return 1.0 / (st.alpha * st.modes.omega.min())


def _window(st: _Setting, n_steps, burn_in) -> tuple[int, int]:
    """Burn-in and steps of levels b and c.  Without ``burn_in``: ``min(10 tau, n // 2)``
    steps from the fixed point (``n`` = ``n_steps``, else the recording's), then by
    default as many steps as the measurement's window (the second half of the
    recording); with ``burn_in``: ``n`` steps, as the measurement from that step."""
    n = (st.n_steps or DEFAULT_STEPS) if n_steps is None else n_steps
    n = check_int("n_steps", n, minimum=1)
    if burn_in is not None:
        return check_int("burn_in", burn_in, minimum=0), n
    burn = min(math.ceil(10.0 * _tau(st)), n // 2)
    return burn, (burn + n - n // 2 if n_steps is None else n)


def _dbm(st: _Setting, *, n_replicas, n_steps, burn_in, second_order, discrete_map, rng, progress):
    """Level b': stationary snapshots of the eigenvalue map with Gaussian PCD noise."""
    modes = st.modes
    n = modes.n_modes
    mean_x = _small_noise(st, discrete_map)[0]

    def valid(x):
        return bool(np.all(np.diff(x) > 0) and x[0] > 0 and x[-1] < st.mu2 / st.s)

    # the small-noise means, else the ordered fixed points (large widths can reorder the means)
    fixed = st.modes.x_stable + 1e-6 * np.arange(n)
    start = next((x for x in (mean_x, fixed) if valid(x)), None)
    if start is None:
        raise PredictionFailure(
            "dbm",
            f"alpha={st.alpha:g}, |B|={st.batch_size}",
            f"no ordered start inside the domain: the small-noise means are {mean_x}",
            1.0,
        )
    every = max(1, math.ceil((n_steps - burn_in) / 1000))
    show = bool(progress) if progress is not None else n_replicas * n_steps * n * n > 5e9
    res = simulate_sgd(
        modes,
        alpha=st.alpha,
        batch_size=st.batch_size,
        noise=PCDNoise(k=st.k, n_v=st.n_v, second_order=bool(second_order)),
        x0=start,
        n_steps=n_steps,
        n_replicas=n_replicas,
        record=Record(snapshots=tuple(range(burn_in, n_steps + 1, every)), burn_in=burn_in),
        rng=rng,
        progress=show,
    )
    stopped = np.asarray(res.left_domain)
    left = stopped > 0
    if left.any():
        steps = stopped[left]
        raise PredictionFailure(
            "dbm",
            f"alpha={st.alpha:g}, |B|={st.batch_size}",
            f"{left.sum()} of {n_replicas} replicas left the domain [0, mu2/sigma_h^2) = "
            f"[0, {st.mu2 / st.s:g}) at steps {steps.min()}..{steps.max()}",
            left.mean(),
        )
    run = {
        "exact_steps": res.matrix_steps,
        "pair_steps": res.pair_steps,
        "second_order": bool(second_order),
    }
    return np.swapaxes(res.snapshots, 0, 1), run


# --------------------------------------------------------------------------- Prediction
@dataclass(frozen=True, eq=False)
class Prediction:
    r"""Stationary statistics of every eigenvalue predicted from the RBM hyperparameters.

    Attributes
    ----------
    method : str
        ``"small_noise"`` or ``"dbm"``.
    kappa : ndarray, shape (n,)
        Target of each eigenvalue index (ascending ``x``, descending ``kappa``).
    x_stable : ndarray, shape (n,)
        Fixed points :math:`x_{s,a} = (\mu^2 - \kappa_a)/\sigma_h^2`.
    mean_x, mean_x_error : ndarray, shape (n,)
        Mean of each labelled eigenvalue and its error (0 for the formula).
    learned, learned_error : ndarray, shape (n,)
        Mean learned mode :math:`\mu^2 - \sigma_h^2\langle x_a\rangle` and its error.
    std, std_error : ndarray, shape (n,)
        Standard deviation of each labelled eigenvalue and its error.
    width : ndarray, shape (n,)
        Small-noise width :math:`\sigma_a = \sqrt{(\alpha/|B|)\tilde g_a^2/\Omega_a}`
        (divided by :math:`\sqrt{1 - \alpha\Omega_a/2}` with ``discrete_map``).
    shift : ndarray, shape (n,)
        First-order shift of the mean beyond the ordering of degenerate modes
        (see :func:`predict`); for ``"dbm"`` the formula's value, for comparison.
    pairs : tuple of (int, int)
        Neighbouring indices inside degenerate groups.
    spacing, spacing_error : ndarray, shape (n_pairs,)
        Mean spacing :math:`\langle S\rangle = \langle x_j - x_i\rangle` of each pair.
    spacing_ratio, spacing_ratio_error : ndarray, shape (n_pairs,)
        :math:`\langle S^2\rangle/\langle S\rangle^2` of each pair.
    binder, binder_error : ndarray, shape (n_pairs,)
        Binder cumulant of each pooled pair
        (:class:`validation.analyses.levels.StationaryStatistics`).
    groups : tuple of tuple of int
        Degenerate groups.
    params : dict
        ``mu2``, ``sigma_h2``, ``n_v``, ``n_h``, ``alpha``, ``batch_size``, ``k``
        and, for a simulated level, the run (``n_replicas``, ``n_steps``,
        ``burn_in``; ``exact_steps`` (whole matrix), ``pair_steps`` and
        ``second_order`` for ``"dbm"``, ``seed``
        for ``"aligned"`` and ``"matrix"``).
    """

    method: str
    kappa: np.ndarray
    x_stable: np.ndarray
    mean_x: np.ndarray
    mean_x_error: np.ndarray
    learned: np.ndarray
    learned_error: np.ndarray
    std: np.ndarray
    std_error: np.ndarray
    width: np.ndarray
    shift: np.ndarray
    pairs: tuple
    spacing: np.ndarray
    spacing_error: np.ndarray
    spacing_ratio: np.ndarray
    spacing_ratio_error: np.ndarray
    binder: np.ndarray
    binder_error: np.ndarray
    groups: tuple
    params: dict = field(default_factory=dict)

    @property
    def level(self) -> str:
        """The ladder level of the method (``"a"``, ``"b'"``, ``"b"`` or ``"c"``)."""
        return level_name(self.method)["level"]

    @property
    def alpha_over_b(self) -> float:
        r"""The scaling variable :math:`\alpha/|B|`."""
        return self.params["alpha"] / self.params["batch_size"]

    def entries(self) -> list[Entry]:
        """Every predicted number as an entry without a verdict (analysis ``"prediction"``)."""
        ctx = {
            "level": self.level,
            "alpha": self.params["alpha"],
            "batch_size": self.params["batch_size"],
        }
        out = []
        for a in range(len(self.kappa)):
            for name, val, err in (
                ("mean x", self.mean_x, self.mean_x_error),
                ("lambda", self.learned, self.learned_error),
                ("std x", self.std, self.std_error),
            ):
                out.append(
                    Entry.compare(
                        "prediction",
                        f"{name} mode {a}",
                        val[a],
                        err[a],
                        mode=a,
                        kappa=self.kappa[a],
                        **ctx,
                    )
                )
        for p, pair in enumerate(self.pairs):
            for name, val, err in (
                ("<S>", self.spacing, self.spacing_error),
                ("<S^2>/<S>^2", self.spacing_ratio, self.spacing_ratio_error),
                ("Binder U4", self.binder, self.binder_error),
            ):
                out.append(
                    Entry.compare(
                        "prediction", f"{name} pair {pair}", val[p], err[p], pair=pair, **ctx
                    )
                )
        return out

    def plot(self, ax: Axes | None = None) -> FigureBase:
        """Predicted mean position with the width as error bar, per mode; returns the Figure."""
        import matplotlib.pyplot as plt

        fig: FigureBase
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        idx = np.arange(len(self.kappa))
        ax.errorbar(
            idx,
            self.mean_x,
            yerr=self.std,
            fmt="o",
            capsize=3,
            label=f"{self.method}: mean $\\pm$ std",
        )
        ax.plot(idx, self.x_stable, "k_", ms=14, label="fixed point $x_s$")
        ax.set_xlabel("eigenvalue index $a$")
        ax.set_ylabel("$x_a$")
        ax.legend(fontsize="small")
        return fig


def predict(
    attrs_or_recording: Recording | Mapping[str, Any],
    *,
    method: str = "small_noise",
    k: int | Literal["auto"] | None = "auto",
    n_replicas: int = 128,
    n_steps: int | None = None,
    burn_in: int | None = None,
    second_order: bool = True,
    discrete_map: bool = True,
    rng: RNGLike = None,
    progress: bool | None = None,
) -> Prediction:
    r"""Predict each eigenvalue's stationary mean, width and pair spacing.

    ``"small_noise"`` expands around the fixed points
    :math:`x_{s,a} = (\mu^2 - \kappa_a)/\sigma_h^2` (learned mode
    :math:`\lambda_a = \kappa_a`): width

    .. math::

        \sigma_a^2 = \frac{\alpha}{|B|}\frac{\tilde g_a^2}{\Omega_a}
        \;\Big(= 2\frac{\alpha}{|B|}\frac{\mu^2 - \kappa_a}{\sigma_h^2}
        \text{ without chain correlation}\Big),

    times :math:`1/(1 - \alpha\Omega_a/2)` with ``discrete_map`` (the exact
    stationary variance of the linearised map :math:`x' - x_s = (1 -
    \alpha\Omega_a)(x - x_s) + \text{noise}`, an AR(1) process, instead of its
    continuum limit); a degenerate group is the Coulomb gas of its members (a pair:
    :math:`\langle S\rangle = \sqrt\pi\,\sigma`, labelled means
    :math:`\mp\sqrt\pi\sigma/2` from the centre, labelled std
    :math:`\sigma\sqrt{3/2 - \pi/4}`), and the centre moves by the first-order
    shift

    .. math::

        \delta_a = \frac{1}{\Omega_a}\Big[\frac{\alpha}{|B|}\Big(
        \sum_{b \notin g(a)}\frac{\tilde G_{ab}}{x_{s,a} - x_{s,b}} + D_a\Big)
        + \tfrac12 K_a''(x_{s,a})\,\langle (x_a - x_{s,a})^2\rangle\Big],

    from :math:`\langle K_a + (\alpha/|B|)F_a\rangle = 0` (``K`` expanded to
    second order, :math:`\langle(x_a - x_{s,a})^2\rangle = \sigma_a^2`, or
    :math:`\tfrac32\sigma_a^2` in a pair): repulsion by the modes of other
    groups, the mean :math:`D_a = \sigma_h^4 (x_a/\lambda_a)(\sum_{b=1}^{N_v}
    1/\lambda_b + 1/\lambda_a)` of the second-order term
    :math:`\delta W^T\delta W/(\alpha^2/|B|)` of the update (``second_order``),
    and the anharmonicity of the drift.

    ``"dbm"`` iterates the SGD map of all eigenvalues (:eq:`eq-sgd-map`;
    :func:`fpsolve.dbm.simulate_sgd` with the noise :class:`fpsolve.models.PCDNoise`)
    with the state-dependent noise and coupling :math:`\tilde G_{ab}(x)`,

    .. math::

        x_a' = x_a + \alpha K_a(x) + \frac{\alpha^2}{|B|}\Big(\sum_{b\ne a}
        \frac{\tilde G_{ab}(x)}{x_a - x_b} + D_a(x)\Big)
        + \frac{\alpha}{\sqrt{|B|}}\sqrt{2\tilde G_{aa}(x)}\,\eta_a,

    Coulomb repulsion between all modes.  The pair sum is the second-order
    perturbative eigenvalue shift of the matrix step
    :math:`X' = \mathrm{diag}(x + \alpha K + \alpha^2 D/|B|) + \delta X`,
    :math:`\mathrm{Var}\,\delta X_{ab} = (\alpha^2/|B|)(1 + \delta_{ab})\tilde
    G_{ab}`; two neighbours closer than two off-diagonal kicks are taken
    exactly as the eigenvalues of their 2 x 2 block, and where such pairs
    share a mode or the step would break the order the whole step is taken
    exactly (eigenvalues of :math:`X'`, same diagonal noise; see
    :func:`fpsolve.dbm.simulate_sgd`), as the recorded eigenvalues of
    ``W^T W`` never cross.  Replicas start at the
    small-noise means and are burnt in for ``burn_in`` steps.

    ``"aligned"`` (level b) is the eigenvalue map with the exact sample second
    moment in the target's eigenbasis (:func:`fpsolve.sgd.simulate_sgd_aligned`):
    the noise of :math:`\hat C` is Wishart, never negative, where a Gaussian model of
    the same variance is negative with probability 7.9% per step at :math:`|B| = 4`.
    ``"matrix"`` (level c) is SGD of :math:`W` itself with :math:`|B|` exact samples
    of the model per step (:func:`fpsolve.sgd.simulate_sgd_matrix`,
    :eq:`sgd-step`), started at the fixed point :math:`W_s`; it keeps the
    rotations of :math:`W` and every order in :math:`\alpha` and differs from the
    trainer only in using exact samples instead of persistent Gibbs chains.
    Both start at the fixed point, are burnt in for ``10 tau`` steps (at most half the
    recording) and then keep a window as long as the measurement's (the second half of
    the recording's ``n_steps``).

    Every simulated level keeps about 1000 snapshots per replica from its
    stationary window; the statistics are those of a recording
    (:func:`validation.analyses.levels.stationary_statistics`), with jackknife
    errors over the independent replicas.

    Parameters
    ----------
    attrs_or_recording : Recording or mapping
        A Gaussian-RBM recording or its attributes (:data:`REQUIRED_ATTRS`).
    method : {"small_noise", "dbm", "aligned", "matrix"}, optional
        The level of the ladder: (a), (b'), (b) or (c)
        (:data:`validation.analyses.levels.LEVELS`).
    k : "auto", int or None, optional
        Gibbs sweeps for the chain-correlation factor: ``"auto"`` the recorded
        ``k``, None no chain correlation.
    n_replicas : int, optional
        Independent replicas of a simulated level, >= 2.
    n_steps, burn_in : int, optional
        Steps per replica and steps discarded.  ``"dbm"``: default ``10 tau``
        burn-in and ``40 tau`` recorded, :math:`\tau = 1/(\alpha\min_a\Omega_a)` the
        slowest relaxation time; ``"aligned"``, ``"matrix"``: ``n`` = ``n_steps``,
        else the attribute ``n_steps`` (else :data:`DEFAULT_STEPS`); default burn-in
        ``min(10 tau, n // 2)`` and then, if ``n_steps`` is not given, as many steps
        as the measurement's window, ``n - n // 2``; a given ``burn_in`` runs ``n``
        steps (the measurement's window from that step).
    second_order : bool, optional
        Include the mean :math:`D_a` of :math:`\delta W^T\delta W`.
    discrete_map : bool, optional
        Small-noise widths of the discrete SGD map (factor
        :math:`1/(1 - \alpha\Omega_a/2)` in :math:`\sigma_a^2`) rather than of its
        continuum limit (used for ``"small_noise"`` and the start of ``"dbm"``).
    rng : int, numpy.random.Generator or None
        Seed (SPEC 7); one stream per replica is spawned from it.
    progress : bool, optional
        Progress bar over replicas (default only for long runs).

    Returns
    -------
    Prediction

    Raises
    ------
    PredictionFailure
        A simulated level that has no stationary state at this setting (a replica
        left the domain): the reason and the fraction of replicas are named.
    ValueError
        Missing or invalid hyperparameters or an unknown ``method``.
    TypeError
        If ``attrs_or_recording`` is neither a Recording nor a mapping.

    Examples
    --------
    >>> from validation.analyses.predict import predict
    >>> attrs = dict(mu2=9.0, sigma_h=1.0, kappa=[4.0, 8.0], n_v=2, n_h=2,
    ...              alpha=0.1, batch_size=16, k=3)
    >>> p = predict(attrs, k=None, discrete_map=False)
    >>> p.kappa.tolist(), (p.width**2 / (2 * 0.1 / 16)).round(6).tolist()
    ([8.0, 4.0], [1.0, 5.0])
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    st = _setting(attrs_or_recording, k)
    mean_x, std, width, spacing, shift, ratio, binder = _small_noise(st, discrete_map)
    params = {
        "mu2": st.mu2,
        "sigma_h2": st.s,
        "n_v": st.n_v,
        "n_h": st.n_h,
        "alpha": st.alpha,
        "batch_size": st.batch_size,
        "k": st.k,
        "second_order": bool(second_order),
        "discrete_map": bool(discrete_map),
    }
    if not second_order:
        d = st.ab * _second_order_drift(st, st.modes.x_stable) / st.modes.omega
        shift, mean_x = shift - d, mean_x - d
    pairs = _pairs(st.groups)
    if method == "small_noise":
        z, zp = np.zeros_like(mean_x), np.zeros_like(spacing)
        stats = StationaryStatistics(
            mean_x, z, std, z, pairs, spacing, zp, ratio, zp, binder, zp
        )  # fmt: skip
    else:
        n_replicas = check_int("n_replicas", n_replicas, minimum=2)
        if method == "dbm":
            burn = math.ceil(10.0 * _tau(st)) if burn_in is None else burn_in
            burn = check_int("burn_in", burn, minimum=0)
            steps = burn + math.ceil(40.0 * _tau(st)) if n_steps is None else n_steps
        else:
            burn, steps = _window(st, n_steps, burn_in)
        steps = check_int("n_steps", steps, minimum=1)
        if steps <= burn:
            raise ValueError(f"n_steps must exceed burn_in={burn}, got {steps}")
        run = {"n_replicas": n_replicas, "n_steps": steps, "burn_in": burn}
        if method == "dbm":
            ev, extra = _dbm(
                st, n_replicas=n_replicas, n_steps=steps, burn_in=burn,
                second_order=second_order, discrete_map=discrete_map, rng=rng,
                progress=progress,
            )  # fmt: skip
        else:
            sample = sample_level(
                method, st.setting, n_replicas=n_replicas, n_steps=steps, burn_in=burn,
                rng=rng, progress=bool(progress),
            )  # fmt: skip
            ev, extra = sample.eigenvalues, sample.params
        stats = stationary_statistics(ev, pairs)
        params.update(run, **extra)
    return Prediction(
        method=method,
        kappa=st.kappa,
        x_stable=st.modes.x_stable,
        mean_x=stats.mean,
        mean_x_error=stats.mean_error,
        learned=st.mu2 - st.s * stats.mean,
        learned_error=st.s * stats.mean_error,
        std=stats.std,
        std_error=stats.std_error,
        width=width,
        shift=shift,
        pairs=pairs,
        spacing=stats.spacing,
        spacing_error=stats.spacing_error,
        spacing_ratio=stats.spacing_ratio,
        spacing_ratio_error=stats.spacing_ratio_error,
        binder=stats.binder,
        binder_error=stats.binder_error,
        groups=st.groups,
        params=params,
    )


# --------------------------------------------------------------------------- analysis 5
def _ratio(m, dm, p, dp):
    m, dm, p, dp = (np.asarray(v, dtype=np.float64) for v in (m, dm, p, dp))
    r = m / p
    return r, np.abs(r) * np.hypot(dm / m, dp / p)


def _stationary(recording: Recording, burn_in) -> tuple[np.ndarray, float]:
    steps = np.asarray(recording.steps)
    if burn_in is None:
        burn_in = steps[-1] / 2.0
    elif not (isinstance(burn_in, (int, float, np.integer, np.floating)) and burn_in >= 0):
        raise ValueError(f"burn_in must be a step >= 0, got {burn_in!r}")
    sel = steps >= burn_in
    if not sel.any():
        raise ValueError(f"burn_in={burn_in} leaves no snapshot (last step {steps[-1]})")
    ev = np.asarray(recording.eigenvalues[:, sel], dtype=np.float64)
    if not np.all(np.isfinite(ev)):
        r, t, a = np.argwhere(~np.isfinite(ev))[0]
        raise ValueError(
            f"recording holds non-finite eigenvalues, first in run {r}, snapshot "
            f"{int(np.flatnonzero(sel)[t])} (step {int(steps[sel][t])}), mode {a}"
        )
    if ev.shape[0] < 2:
        raise ValueError(f"errors need at least 2 runs, the recording has {ev.shape[0]}")
    return ev, float(burn_in)


def measure_stationary(
    recording: Recording, *, burn_in: float | None = None
) -> StationaryStatistics:
    r"""A recording's stationary statistics, computed as every prediction level computes them.

    Snapshots at steps ``>= burn_in`` (default half the last step) of every run;
    the pairs are the neighbours inside the degenerate groups of the setting.

    Parameters
    ----------
    recording : Recording
        A Gaussian-RBM recording with at least 2 runs.
    burn_in : float, optional
        First step used.

    Returns
    -------
    validation.analyses.levels.StationaryStatistics
    """
    st = _setting(recording, None)
    ev, _ = _stationary(recording, burn_in)
    return stationary_statistics(ev, _pairs(st.groups))


def _measure(ev: np.ndarray, pairs) -> tuple[StationaryStatistics, np.ndarray, np.ndarray]:
    """Statistics of the stationary window and the effective samples per mode and pair."""
    stats = stationary_statistics(ev, pairs)
    n_eff = np.array([effective_samples(ev[:, :, a]) for a in range(ev.shape[2])])
    sp_n = np.array([effective_samples(ev[:, :, j] - ev[:, :, i]) for i, j in pairs])
    return stats, n_eff, sp_n


def _check_match(recording: Recording, prediction: Prediction):
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a Recording, got {type(recording).__name__}")
    if not isinstance(prediction, Prediction):
        raise TypeError(f"prediction must be a Prediction, got {type(prediction).__name__}")
    st = _setting(recording, None)
    if recording.n_modes != len(prediction.kappa):
        raise ValueError(
            f"the prediction has {len(prediction.kappa)} modes, the recording {recording.n_modes}"
        )
    mine = {"mu2": st.mu2, "sigma_h2": st.s, "alpha": st.alpha, "batch_size": st.batch_size}
    for key, val in mine.items():
        if not np.isclose(prediction.params[key], val, rtol=1e-12, atol=0.0):
            raise ValueError(
                f"prediction was made for {key}={prediction.params[key]!r}, the recording "
                f"has {key}={val!r}"
            )
    if not np.allclose(st.kappa, prediction.kappa, rtol=1e-12, atol=0.0):
        raise ValueError(
            f"prediction targets {prediction.kappa} differ from the recording's {st.kappa}"
        )
    return st


@dataclass(frozen=True, eq=False)
class PredictionComparison:
    r"""Recorded stationary statistics against a :class:`Prediction` (analysis 5).

    Attributes
    ----------
    prediction : Prediction
        What was compared with.
    burn_in : float
        Snapshots at steps ``>= burn_in`` were used.
    mean_x, mean_x_error, std, std_error : ndarray, shape (n,)
        Measured mean and standard deviation of each labelled eigenvalue
        (jackknife over runs).
    learned, learned_error : ndarray, shape (n,)
        Measured mean learned mode :math:`\mu^2 - \sigma_h^2\langle x_a\rangle`.
    pairs : tuple of (int, int)
        Pairs whose spacing was measured.
    spacing, spacing_error : ndarray, shape (n_pairs,)
        Measured :math:`\langle S\rangle`.
    spacing_shape, spacing_shape_error, binder, binder_error : ndarray, shape (n_pairs,)
        Measured :math:`\langle S^2\rangle/\langle S\rangle^2` and Binder cumulant of
        the pooled pair.
    n_eff, spacing_n_eff : ndarray
        Effectively independent samples per mode and per pair
        (runs x snapshots / integrated autocorrelation time).
    std_ratio, std_ratio_error, spacing_ratio, spacing_ratio_error,
    learned_ratio, learned_ratio_error : ndarray
        measured / predicted with the propagated error
        :math:`r\sqrt{(\delta m/m)^2 + (\delta p/p)^2}`.
    params : dict
        Setting of the recording (``alpha``, ``batch_size``, ``k``, ``method``).
    """

    prediction: Prediction
    burn_in: float
    mean_x: np.ndarray
    mean_x_error: np.ndarray
    std: np.ndarray
    std_error: np.ndarray
    learned: np.ndarray
    learned_error: np.ndarray
    pairs: tuple
    spacing: np.ndarray
    spacing_error: np.ndarray
    spacing_shape: np.ndarray
    spacing_shape_error: np.ndarray
    binder: np.ndarray
    binder_error: np.ndarray
    n_eff: np.ndarray
    spacing_n_eff: np.ndarray
    std_ratio: np.ndarray
    std_ratio_error: np.ndarray
    spacing_ratio: np.ndarray
    spacing_ratio_error: np.ndarray
    learned_ratio: np.ndarray
    learned_ratio_error: np.ndarray
    params: dict = field(default_factory=dict)

    def entries(self) -> list[Entry]:
        """Measured vs predicted mean and std per mode and ``<S>`` per pair.

        Each entry names the prediction level (:data:`LEVELS`); its
        :attr:`~validation.analyses.stats.Entry.deviation` is measured/predicted - 1.
        """
        p = self.prediction
        ctx = dict(self.params)
        lv = level_name(p.method)
        out = []
        for a in range(len(self.mean_x)):
            c = {**ctx, "mode": a, "kappa": p.kappa[a]}
            for name, m, dm, pv, dp in (  # the learned mode lambda: see the repulsion
                ("mean x", self.mean_x, self.mean_x_error, p.mean_x, p.mean_x_error),
                ("std x", self.std, self.std_error, p.std, p.std_error),
            ):
                out.append(
                    Entry.compare(
                        "prediction",
                        f"{name} mode {a}",
                        m[a],
                        dm[a],
                        pv[a],
                        dp[a],
                        n_eff=self.n_eff[a],
                        **lv,
                        **c,
                    )
                )
        index = {pair: q for q, pair in enumerate(p.pairs)}
        for q, pair in enumerate(self.pairs):
            c = {**ctx, "pair": pair, "kappa": p.kappa[pair[0]]}
            i = index[pair]
            for name, m, dm, pv, dp in (
                ("<S>", self.spacing, self.spacing_error, p.spacing, p.spacing_error),
                ("<S^2>/<S>^2", self.spacing_shape, self.spacing_shape_error,
                 p.spacing_ratio, p.spacing_ratio_error),
                ("Binder U4", self.binder, self.binder_error, p.binder, p.binder_error),
            ):  # fmt: skip
                out.append(
                    Entry.compare(
                        "prediction",
                        f"{name} pair {pair}",
                        m[q],
                        dm[q],
                        pv[i],
                        dp[i],
                        n_eff=self.spacing_n_eff[q],
                        **lv,
                        **c,
                    )
                )
        return out

    def plot(self, ax: Axes | None = None) -> FigureBase:
        """Ratio measured/predicted of std (per mode) and ``<S>`` (per pair) with the line at 1.

        Returns the Figure.
        """
        import matplotlib.pyplot as plt

        fig: FigureBase
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        idx = np.arange(len(self.std_ratio))
        ax.errorbar(
            idx, self.std_ratio, yerr=self.std_ratio_error, fmt="o", capsize=3, label="std $x_a$"
        )
        if len(self.pairs):
            centre = np.array([(i + j) / 2.0 for i, j in self.pairs])
            ax.errorbar(
                centre,
                self.spacing_ratio,
                yerr=self.spacing_ratio_error,
                fmt="s",
                capsize=3,
                label=r"$\langle S\rangle$ pair",
            )
        ax.axhline(1.0, color="0.4", lw=0.8)
        ax.set_xlabel("eigenvalue index $a$")
        ax.set_ylabel("measured / predicted")
        ax.set_title(
            f"measured / {level_name(self.prediction.method)['model']}, "
            f"$\\alpha/|B|$ = {self.prediction.alpha_over_b:.3g}"
        )
        ax.legend(fontsize="small")
        return fig


def compare_predictions(
    recording: Recording,
    prediction: Prediction,
    *,
    groups: Sequence[Sequence[int]] | None = None,
    burn_in: float | None = None,
) -> PredictionComparison:
    r"""Compare a recording's stationary statistics with a :class:`Prediction` (analysis 5).

    Uses every snapshot at steps ``>= burn_in`` of every run.  Per eigenvalue
    index ``a`` the pooled mean and standard deviation of :math:`x_a` over runs
    and snapshots, and per neighbouring pair :math:`(i, j)` of a degenerate
    group the mean spacing :math:`\langle x_j - x_i\rangle`; errors are
    jackknife over runs (so correlations between snapshots of a run are
    included), ``n_eff`` from the integrated autocorrelation time.  Ratios
    measured/predicted carry :math:`r\sqrt{(\delta m/m)^2 + (\delta p/p)^2}`.

    Parameters
    ----------
    recording : Recording
        A Gaussian-RBM recording with at least 2 runs.
    prediction : Prediction
        From :func:`predict` for the same hyperparameters.
    groups : sequence of sequence of int, optional
        Degenerate groups whose neighbouring pairs are compared; default the
        prediction's (from the target spectrum).  Every pair must be one the
        prediction has.
    burn_in : float, optional
        First step used; default half the last recorded step.

    Returns
    -------
    PredictionComparison

    Raises
    ------
    ValueError
        Non-RBM recording, hyperparameters that differ from the prediction's,
        non-finite eigenvalues (the run and snapshot are named), a ``burn_in``
        that leaves nothing, or pairs the prediction lacks.
    """
    st = _check_match(recording, prediction)
    if groups is None:
        pairs = prediction.pairs
    else:
        pairs = _pairs(tuple(tuple(int(i) for i in g) for g in groups))
        unknown = [pr for pr in pairs if pr not in prediction.pairs]
        if unknown:
            raise ValueError(
                f"groups give pairs {unknown} that the prediction does not have "
                f"(it has {list(prediction.pairs)})"
            )
    ev, burn = _stationary(recording, burn_in)
    m, n_eff, sp_n = _measure(ev, pairs)
    index = {pair: q for q, pair in enumerate(prediction.pairs)}
    q = [index[pr] for pr in pairs]
    std_r, std_re = _ratio(m.std, m.std_error, prediction.std, prediction.std_error)
    sp_r, sp_re = _ratio(m.spacing, m.spacing_error, prediction.spacing[q],
                         prediction.spacing_error[q])  # fmt: skip
    learned, learned_e = st.mu2 - st.s * m.mean, st.s * m.mean_error
    l_r, l_re = _ratio(learned, learned_e, prediction.learned, prediction.learned_error)
    return PredictionComparison(
        prediction=prediction,
        burn_in=burn,
        mean_x=m.mean,
        mean_x_error=m.mean_error,
        std=m.std,
        std_error=m.std_error,
        learned=learned,
        learned_error=learned_e,
        pairs=tuple(pairs),
        spacing=m.spacing,
        spacing_error=m.spacing_error,
        spacing_shape=m.spacing_ratio,
        spacing_shape_error=m.spacing_ratio_error,
        binder=m.binder,
        binder_error=m.binder_error,
        n_eff=n_eff,
        spacing_n_eff=sp_n,
        std_ratio=std_r,
        std_ratio_error=std_re,
        spacing_ratio=sp_r,
        spacing_ratio_error=sp_re,
        learned_ratio=l_r,
        learned_ratio_error=l_re,
        params={
            "method": prediction.method,
            "alpha": st.alpha,
            "batch_size": st.batch_size,
            "k": prediction.params["k"],
            "burn_in": burn,
        },
    )

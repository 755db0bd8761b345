r"""The hyperparameters of one Gaussian-RBM setting, parsed from recording attributes once.

A Gaussian-RBM recording (``model = "gaussian_rbm"``, docs/guides/recording_format.md)
stores its setting as root attributes.  :meth:`RBMSetting.from_attrs` is the one
place that reads them; the trainer (:mod:`validation.training.rbm`), the
recording (:meth:`validation.data.recording.Recording.rbm_setting`) and the
analyses (:mod:`validation.analyses.predict`, :mod:`validation.analyses.dynamics`,
:mod:`validation.analyses.compare`, :mod:`validation.report.paper`) all use it.

Names.  ``sigma_h`` is the standard deviation :math:`\sigma_h` of the hidden
units, as in the recording format and the trainer's arguments; its square,
the variance :math:`\sigma_h^2`, is ``sigma_h2`` (:attr:`RBMSetting.sigma_h2`),
the name every :mod:`fpsolve` model uses.

Drift convention.  The update moves :math:`x_a` by :math:`\alpha` times the
``"training"`` drift :math:`K_a = 2\sigma_h^2 x_a(1/\kappa_a - 1/(\mu^2 - \sigma_h^2 x_a))`
(:class:`fpsolve.models.RBMModel`), so every path that advances time in units of
:math:`\alpha` uses ``convention="training"``; ``"talk"`` (prefactor 1) is kept
for the talk's formulas such as :math:`\kappa^2\Omega = \mu^2 - \kappa`.
:meth:`RBMSetting.modes` takes the convention as a required keyword, so each
caller names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from fpsolve.checks import check_int, check_positive
from fpsolve.models import Modes, lattice_scalar_spectrum

__all__ = ["RBM_TARGETS", "SETTING_ATTRS", "RBMSetting", "label_groups", "sgd_rate"]

RBM_TARGETS = ("exact", "samples")
"""Allowed values of ``target``: :math:`C_{target}` exact, or from fresh target samples."""

SETTING_ATTRS = ("n_v", "n_h", "mu2", "sigma_h", "kappa", "alpha", "batch_size")
"""Recording attributes every :class:`RBMSetting` needs (``k``, ``m2``, ``w_sigma``,
``target`` are read when present)."""

_OPTIONAL = ("k", "m2", "w_sigma", "target")


def _attr_name(name: str) -> str:
    return f"recording attribute {name!r}"


def _plain_name(name: str) -> str:
    return name


def _check_rate(
    alpha: object, batch_size: object, label: Callable[[str], str]
) -> tuple[float, int]:
    alpha = check_positive(label("alpha"), alpha, strict=False)
    batch_size = check_int(label("batch_size"), batch_size, minimum=1)
    return alpha, batch_size


def _missing(attrs: Mapping[str, Any], names: Iterable[str], why: str) -> None:
    missing = [n for n in names if n not in attrs]
    if missing:
        which = ", ".join(repr(n) for n in missing)
        noun = "attribute" if len(missing) == 1 else "attributes"
        verb = "is" if len(missing) == 1 else "are"
        raise ValueError(f"recording {noun} {which} {verb} missing; {why}")


def sgd_rate(attrs: Mapping[str, Any]) -> tuple[float, int]:
    r"""The learning rate :math:`\alpha \ge 0` and batch size :math:`|B| \ge 1` of a recording.

    Any recording of SGD training (a Gaussian RBM, the teacher-student model, an
    import) states them as the attributes ``alpha`` and ``batch_size``; they set
    the time :math:`t = \alpha\,\text{step}` and the noise :math:`\alpha/|B|`.

    Parameters
    ----------
    attrs : mapping
        Recording attributes.

    Returns
    -------
    (float, int)
        ``(alpha, batch_size)``.

    Raises
    ------
    ValueError, TypeError
        If an attribute is missing or invalid; the message names it.

    Examples
    --------
    >>> from validation.data.setting import sgd_rate
    >>> sgd_rate({"alpha": 0.1, "batch_size": 16})
    (0.1, 16)
    """
    _missing(
        attrs,
        ("alpha", "batch_size"),
        "the time t = alpha * step and the noise alpha/|B| need both",
    )
    return _check_rate(attrs["alpha"], attrs["batch_size"], _attr_name)


def label_groups(labels: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Indices grouped by equal label, groups in order of first appearance.

    Examples
    --------
    >>> from validation.data.setting import label_groups
    >>> label_groups(np.array([0, 1, 1, 2]))
    ((0,), (1, 2), (3,))
    """
    return tuple(
        tuple(int(i) for i in np.flatnonzero(labels == lab))
        for lab in dict.fromkeys(labels.tolist())
    )


@dataclass(frozen=True, eq=False)
class RBMSetting:
    r"""Hyperparameters of one Gaussian-RBM setting (the RBM of :eq:`eq-rbm-action`).

    Construct it from recording attributes with :meth:`from_attrs`, for the
    periodic lattice target with :meth:`lattice`, or directly; every field is
    checked and normalised (ints, floats, a float64 ``kappa``), and a bad value
    raises with its name.

    Attributes
    ----------
    n_v, n_h : int
        Visible sites and hidden units, ``1 <= n_h <= n_v``.
    mu2 : float
        Visible mass :math:`\mu^2 > 0`.
    sigma_h : float
        Standard deviation :math:`\sigma_h > 0` of the hidden units (the
        variance is :attr:`sigma_h2`).
    kappa : ndarray, shape (n_v,)
        Target spectrum :math:`\kappa_k > 0` as recorded (lattice order ``k``,
        not sorted); the learned targets are :attr:`learned_kappa`.
    alpha : float
        Learning rate :math:`\alpha \ge 0`.
    batch_size : int
        Number of persistent chains :math:`|B| \ge 1`.
    k : int or None
        Block-Gibbs sweeps per update (``>= 1``), None when not known.
    m2 : float or None
        Target mass :math:`m^2 > 0` of the lattice target, None when not known.
    w_sigma : float or None
        Standard deviation of the initial weights (``>= 0``), None when not known.
    target : {"exact", "samples"} or None
        How :math:`C_{target}` was computed, None when not known.

    Examples
    --------
    >>> from validation.data.setting import RBMSetting
    >>> s = RBMSetting.lattice(n_v=4, n_h=4, m2=4.0, mu2=12.0, sigma_h=1.0, alpha=0.1,
    ...                        batch_size=16, k=3)
    >>> s.learned_kappa.round(12).tolist(), s.mode_groups()
    ([8.0, 6.0, 6.0, 4.0], ((0,), (1, 2), (3,)))
    >>> s.modes(convention="training")[0].omega, s.alpha_over_b
    (0.125, 0.00625)
    """

    n_v: int
    n_h: int
    mu2: float
    sigma_h: float
    kappa: np.ndarray = field(repr=False)
    alpha: float
    batch_size: int
    k: int | None = None
    m2: float | None = None
    w_sigma: float | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        for name, value in self._checked(vars(self), _plain_name).items():
            object.__setattr__(self, name, value)

    @staticmethod
    def _checked(values: Mapping[str, Any], label: Callable[[str], str]) -> dict[str, Any]:
        """Every field of ``values`` checked and normalised; ``label(name)`` names it in errors."""
        out: dict[str, Any] = {
            "n_v": check_int(label("n_v"), values["n_v"], minimum=1),
            "n_h": check_int(label("n_h"), values["n_h"], minimum=1),
            "mu2": check_positive(label("mu2"), values["mu2"]),
            "sigma_h": check_positive(label("sigma_h"), values["sigma_h"]),
        }
        out["alpha"], out["batch_size"] = _check_rate(values["alpha"], values["batch_size"], label)
        if out["n_h"] > out["n_v"]:
            raise ValueError(
                f"{label('n_h')} must be <= n_v (W is n_v x n_h with N <= M), "
                f"got n_h={out['n_h']}, n_v={out['n_v']}"
            )
        kappa = np.asarray(values["kappa"], dtype=np.float64).ravel()
        if kappa.shape != (out["n_v"],):
            raise ValueError(
                f"{label('kappa')} must hold n_v={out['n_v']} target eigenvalues, "
                f"got shape {kappa.shape}"
            )
        if not np.all(np.isfinite(kappa) & (kappa > 0)):
            bad = int(np.argmin(np.isfinite(kappa) & (kappa > 0)))
            raise ValueError(
                f"{label('kappa')} must hold finite target eigenvalues > 0, "
                f"got {kappa[bad]!r} at index {bad}"
            )
        kappa.flags.writeable = False
        out["kappa"] = kappa
        k, m2, w_sigma, target = (values.get(n) for n in _OPTIONAL)
        out["k"] = None if k is None else check_int(label("k"), k, minimum=1)
        out["m2"] = None if m2 is None else check_positive(label("m2"), m2)
        out["w_sigma"] = (
            None if w_sigma is None else check_positive(label("w_sigma"), w_sigma, strict=False)
        )
        if target is not None and target not in RBM_TARGETS:
            raise ValueError(f"{label('target')} must be one of {RBM_TARGETS}, got {target!r}")
        out["target"] = target
        return out

    # -- constructors ---------------------------------------------------------------
    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], *, require: Iterable[str] = ()) -> RBMSetting:
        """The setting stated by the attributes of a Gaussian-RBM recording.

        Parameters
        ----------
        attrs : mapping
            Recording attributes (:attr:`validation.data.recording.Recording.attrs`
            or any mapping of them); other keys are ignored.
        require : iterable of str, optional
            Optional fields that must be present too (e.g. ``("k",)``).

        Returns
        -------
        RBMSetting

        Raises
        ------
        ValueError, TypeError
            If an attribute is missing or invalid; the message names the
            attribute ("recording attribute 'batch_size' is missing; ...").
        """
        required = [*SETTING_ATTRS, *(n for n in require if n not in SETTING_ATTRS)]
        _missing(attrs, required, f"a Gaussian-RBM setting needs {', '.join(required)}")
        values = {n: attrs[n] for n in (*SETTING_ATTRS, *_OPTIONAL) if n in attrs}
        return cls(**cls._checked(values, _attr_name))

    @classmethod
    def lattice(
        cls,
        *,
        n_v: int,
        n_h: int,
        m2: float,
        mu2: float,
        sigma_h: float,
        alpha: float,
        batch_size: int,
        k: int,
        w_sigma: float | None = None,
        target: str | None = None,
    ) -> RBMSetting:
        r"""The setting with the periodic lattice target of :func:`validation.training.rbm.train`.

        ``kappa`` is :func:`fpsolve.models.lattice_scalar_spectrum` ``(n_v, m2)``,
        :math:`\kappa_k = m^2 + 2 - 2\cos(2\pi k/N_v)`; ``k`` is required.
        """
        k = check_int("k", k, minimum=1)
        return cls(
            n_v=n_v, n_h=n_h, mu2=mu2, sigma_h=sigma_h,
            kappa=lattice_scalar_spectrum(n_v, m2), alpha=alpha, batch_size=batch_size,
            k=k, m2=m2, w_sigma=w_sigma, target=target,
        )  # fmt: skip

    # -- derived quantities ---------------------------------------------------------
    @property
    def sigma_h2(self) -> float:
        r"""The hidden-unit variance :math:`\sigma_h^2` (fpsolve's ``sigma_h2``)."""
        return self.sigma_h**2

    @property
    def alpha_over_b(self) -> float:
        r"""The SGD noise scale :math:`\alpha/|B|`."""
        return self.alpha / self.batch_size

    @property
    def learned_kappa(self) -> np.ndarray:
        r"""Targets of the ``n_h`` learned modes, in the order the recordings use.

        Eigenvalue index ``a`` (ascending :math:`x_a`) learns the ``a``-th largest
        of the ``n_h`` smallest :math:`\kappa`: the learned modes
        :math:`\lambda_a = \mu^2 - \sigma_h^2 x_a` descend while ``x`` ascends.
        """
        return np.sort(self.kappa)[: self.n_h][::-1].copy()

    def modes(self, *, convention: Literal["talk", "training"]) -> Modes:
        r"""The :class:`fpsolve.models.RBMModel` of each eigenvalue index (:attr:`learned_kappa`).

        Parameters
        ----------
        convention : {"training", "talk"}
            ``"training"``: the drift of the update per unit :math:`\alpha`, for
            every path that advances time in units of :math:`\alpha`; ``"talk"``:
            prefactor 1, for the talk's formulas.
        """
        return Modes.rbm(self.learned_kappa, self.mu2, self.sigma_h2, convention=convention)

    def mode_groups(self) -> tuple[tuple[int, ...], ...]:
        r"""Eigenvalue indices with the same learned target (to 1e-9 relative), ascending.

        Singles included; degenerate lattice modes ``k`` and ``N_v - k`` form pairs.
        """
        kappa = self.learned_kappa
        new_group = np.abs(np.diff(kappa)) > 1e-9 * kappa[1:]
        return label_groups(np.concatenate([[0], np.cumsum(new_group)]))

    def to_attrs(self) -> dict[str, Any]:
        """The recording attributes of the setting (fields that are None left out)."""
        out: dict[str, Any] = {
            "n_v": self.n_v,
            "n_h": self.n_h,
            "mu2": self.mu2,
            "sigma_h": self.sigma_h,
            "m2": self.m2,
            "k": self.k,
            "alpha": self.alpha,
            "batch_size": self.batch_size,
            "w_sigma": self.w_sigma,
            "kappa": self.kappa,
            "target": self.target,
        }
        return {key: value for key, value in out.items() if value is not None}

"""An ordered collection of modes, each with its own model."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.models._base import Model
from fpsolve.models._harmonic import HarmonicModel
from fpsolve.models._rbm import RBMModel, lattice_scalar_spectrum

__all__ = ["Modes"]


class Modes(Sequence[Model]):
    """An ordered collection of modes, each with its own model.

    Parameters
    ----------
    models : sequence of Model
        One model per mode; the order is kept as given.

    Examples
    --------
    >>> from fpsolve.models import Modes
    >>> modes = Modes.rbm_lattice(n_v=10, m2=4.0, mu2=9.0)
    >>> len(modes), [len(g) for g in modes.degenerate_groups()]
    (10, [1, 2, 2, 2, 2, 1])
    """

    def __init__(self, models: Sequence[Model]):
        models = tuple(models)
        if not models:
            raise ValueError("models must hold at least one Model, got an empty sequence")
        for i, m in enumerate(models):
            if not isinstance(m, Model):
                raise TypeError(f"models[{i}] must be a fpsolve.models.Model, got {m!r}")
        self._models = models

    # -- constructors -------------------------------------------------------
    @classmethod
    def harmonic(cls, omega: ArrayLike, center: ArrayLike = 0.0) -> Modes:
        """Harmonic modes from broadcastable arrays of ``omega`` and ``center``."""
        omega, center = np.broadcast_arrays(np.atleast_1d(omega), np.atleast_1d(center))
        return cls([HarmonicModel(float(o), float(c)) for o, c in zip(omega, center, strict=True)])

    @classmethod
    def rbm(
        cls,
        kappa: ArrayLike,
        mu2: float,
        sigma_h2: float = 1.0,
        *,
        convention: Literal["talk", "training"] = "talk",
    ) -> Modes:
        """RBM modes for a target spectrum ``kappa`` (one :class:`RBMModel` per entry)."""
        kappa = np.atleast_1d(np.asarray(kappa, dtype=np.float64))
        if kappa.ndim != 1:
            raise ValueError(f"kappa must be 1-dimensional, got shape {kappa.shape}")
        return cls([RBMModel(float(k), mu2, sigma_h2, convention=convention) for k in kappa])

    @classmethod
    def rbm_lattice(
        cls,
        n_v: int,
        m2: float,
        mu2: float,
        sigma_h2: float = 1.0,
        *,
        convention: Literal["talk", "training"] = "talk",
    ) -> Modes:
        """RBM modes with targets :func:`lattice_scalar_spectrum` ``(n_v, m2)``, in ``k`` order."""
        return cls.rbm(lattice_scalar_spectrum(n_v, m2), mu2, sigma_h2, convention=convention)

    # -- sequence protocol --------------------------------------------------
    @overload
    def __getitem__(self, i: int) -> Model: ...
    @overload
    def __getitem__(self, i: slice) -> Modes: ...
    def __getitem__(self, i: int | slice) -> Model | Modes:
        if isinstance(i, slice):
            return Modes(self._models[i])
        return self._models[i]

    def __len__(self) -> int:
        return len(self._models)

    def __iter__(self) -> Iterator[Model]:
        return iter(self._models)

    def __repr__(self) -> str:
        return f"Modes({list(self._models)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Modes) and self._models == other._models

    def __hash__(self) -> int:
        return hash(self._models)

    # -- vectorised access --------------------------------------------------
    @property
    def n_modes(self) -> int:
        """Number of modes."""
        return len(self._models)

    @property
    def x_stable(self) -> np.ndarray:
        """Stable fixed point of each mode."""
        return np.array([m.x_stable for m in self._models])

    @property
    def omega(self) -> np.ndarray:
        r"""Curvature :math:`\Omega_i` at each mode's stable point."""
        return np.array([m.omega for m in self._models])

    def _columns(self, x: ArrayLike, method: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 0 or x.shape[-1] != self.n_modes:
            raise ValueError(
                f"x must have last axis of length n_modes={self.n_modes}, got shape {x.shape}"
            )
        out = np.empty_like(x)
        for i, m in enumerate(self._models):
            out[..., i] = getattr(m, method)(x[..., i])
        return out

    def drift(self, x: ArrayLike) -> np.ndarray:
        """Per-mode drift ``K_i(x_i)`` for ``x`` of shape ``(..., n_modes)``."""
        return self._columns(x, "drift")

    def potential(self, x: ArrayLike) -> np.ndarray:
        """Per-mode potential ``V_i(x_i)`` for ``x`` of shape ``(..., n_modes)``."""
        return self._columns(x, "potential")

    def degenerate_groups(self, rtol: float = 1e-9) -> list[tuple[int, ...]]:
        """Groups of mode indices with the same model (equal parameters within ``rtol``).

        Groups are listed in order of their first member.
        """
        groups: list[list[int]] = []
        for i, m in enumerate(self._models):
            for g in groups:
                if _same_model(self._models[g[0]], m, rtol):
                    g.append(i)
                    break
            else:
                groups.append([i])
        return [tuple(g) for g in groups]


def _same_model(a: Model, b: Model, rtol: float) -> bool:
    if type(a) is not type(b):
        return False
    pa, pb = a.params, b.params
    if pa.keys() != pb.keys():
        return False
    for k in pa:
        va, vb = pa[k], pb[k]
        if isinstance(va, float) and isinstance(vb, float):
            if not math.isclose(va, vb, rel_tol=rtol, abs_tol=rtol):
                return False
        elif va != vb:
            return False
    return True

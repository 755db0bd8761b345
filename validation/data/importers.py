r"""Importers: weight-matrix recordings of any model as
:class:`~validation.data.recording.Recording`.

A recording of another model (for example a teacher-student linear network)
is a stack of weight matrices ``W[run, snapshot, M, N]``.  It is analysed
through one of two spectra, chosen by the user and stored in the attribute
``quantity``:

``"singular"``
    the singular values :math:`\xi_1 \le \dots \le \xi_n` of ``W``
    (:math:`n = \min(M, N)`), the quantity of the teacher-student analysis of
    arXiv:2407.16427;
``"eigenvalues"``
    the eigenvalues :math:`x_i = \xi_i^2` of :math:`X = W^T W` (a matrix with
    ``M < N`` is transposed first, which leaves the nonzero spectrum unchanged),
    the quantity of the RBM recordings.

Either way the values are stored ascending in ``Recording.eigenvalues`` (the
field keeps its name) and the matrices in ``Recording.weights``.

:func:`load_teacher_student` reads the teacher-student recordings released
with G. Aarts, C. Park, B. Lucini, Phys. Rev. E 111 (2025) 015303
[arXiv:2407.16427] (Zenodo DOI 10.5281/zenodo.13294081).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from validation._typing import PathLike
from validation.data.recording import (
    Recording,
    SchemaError,
    _base_attrs,
    _check_finite_snapshots,
    _open_npz,
    eigenvalues_of,
)

__all__ = [
    "QUANTITIES",
    "TEACHER_SINGULAR_VALUES",
    "TEACHER_STUDENT_KEYS",
    "from_weights",
    "load_teacher_student",
]

QUANTITIES = ("singular", "eigenvalues")
"""Spectra a weight-matrix recording can be analysed through."""

TEACHER_SINGULAR_VALUES = (2.0, 2.0)
"""Singular values of the teacher matrix of the released teacher-student runs."""

TEACHER_STUDENT_KEYS = ("W", "lr", "batch_size", "epochs", "noise", "save_int")
"""Arrays every released teacher-student file must hold."""

_PROVENANCE_TS = (
    "teacher-student recordings released with G. Aarts, C. Park, B. Lucini, "
    "'Stochastic weight matrix dynamics during learning and Dyson Brownian motion', "
    "Phys. Rev. E 111 (2025) 015303 [arXiv:2407.16427], Zenodo DOI 10.5281/zenodo.13294081"
)


def _spectrum(w: np.ndarray, quantity: str) -> np.ndarray:
    """Ascending singular values of ``w`` or eigenvalues of ``w^T w`` (last two axes)."""
    if quantity == "singular":
        return np.linalg.svd(w, compute_uv=False)[..., ::-1].copy()
    if w.shape[-2] < w.shape[-1]:
        w = np.swapaxes(w, -1, -2)
    return eigenvalues_of(w)


def _check_quantity(quantity) -> str:
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {QUANTITIES}, got {quantity!r}")
    return quantity


def from_weights(
    weights: ArrayLike,
    *,
    steps: ArrayLike | None = None,
    quantity: str = "singular",
    attrs: Mapping | None = None,
    model: str = "imported",
    groups: ArrayLike | None = None,
    provenance: str = "",
) -> Recording:
    r"""A recording of weight matrices, analysed through singular values or eigenvalues.

    Parameters
    ----------
    weights : array_like, shape (R, S, M, N) or (S, M, N)
        Weight matrices of ``R`` runs (one run for 3-dimensional input) at
        ``S`` snapshots; finite.
    steps : array_like of int, shape (S,), optional
        Strictly increasing, non-negative step (or epoch) of each snapshot;
        default ``0, 1, ..., S-1``.
    quantity : {"singular", "eigenvalues"}, optional
        ``"singular"``: the singular values :math:`\xi_i` of ``W``;
        ``"eigenvalues"``: the eigenvalues :math:`x_i = \xi_i^2` of
        :math:`X = W^T W` (``W`` with ``M < N`` transposed first).  Stored in
        ``attrs["quantity"]``.
    attrs : mapping, optional
        Further attributes (hyperparameters such as ``alpha``, ``batch_size``).
    model : str, optional
        Model kind (``attrs["model"]``).
    groups : array_like of int, shape (n,), optional
        One group label per mode (equal labels: degenerate modes), stored in
        ``attrs["groups"]`` for :meth:`~validation.data.recording.Recording.mode_groups`.
    provenance : str, optional
        Where the data come from.

    Returns
    -------
    Recording
        ``eigenvalues[run, snapshot, i]`` ascending in ``i`` (the chosen
        quantity), ``steps``, ``attrs`` and ``weights`` (float64, as given).

    Raises
    ------
    ValueError
        On a wrong shape (naming the parameter and the shape), NaN or inf in
        ``weights`` (naming the first bad run and snapshot and how many
        (run, snapshot) pairs are affected), bad ``steps``, ``quantity`` or
        ``groups``.
    TypeError
        If ``steps`` are not integers or ``attrs`` is not a mapping.
    """
    quantity = _check_quantity(quantity)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 3:
        w = w[None]
    if w.ndim != 4 or 0 in w.shape:
        raise ValueError(
            "weights must have shape (runs, snapshots, M, N) or (snapshots, M, N) with no "
            f"empty axis, got shape {np.shape(weights)}"
        )
    _check_finite_snapshots("weights", w)
    n_snap = w.shape[1]
    if steps is None:
        steps_arr = np.arange(n_snap, dtype=np.int64)
    else:
        steps_arr = np.asarray(steps)
        if steps_arr.shape != (n_snap,):
            raise ValueError(
                f"steps must have shape ({n_snap},) (one per snapshot), got {steps_arr.shape}"
            )
        if not np.issubdtype(steps_arr.dtype, np.integer):
            raise TypeError(f"steps must hold integers, got dtype {steps_arr.dtype}")
        if steps_arr[0] < 0 or np.any(np.diff(steps_arr) <= 0):
            raise ValueError(
                f"steps must be non-negative and strictly increasing, got {steps_arr.tolist()}"
            )
        steps_arr = steps_arr.astype(np.int64)
    n_modes = min(w.shape[2], w.shape[3])
    if attrs is not None and not isinstance(attrs, Mapping):
        raise TypeError(f"attrs must be a mapping, got {type(attrs).__name__}")
    extra = dict(attrs or {})
    base = _base_attrs(model, provenance)
    clash = sorted(set(extra) & (set(base) | {"quantity", "groups"}))
    if clash:
        raise ValueError(
            f"attrs must not set {clash}: they are set from the arguments model, provenance, "
            "quantity and groups"
        )
    out = {**base, **extra, "quantity": quantity}
    if groups is not None:
        labels = np.asarray(groups)
        if labels.shape != (n_modes,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"groups must hold one integer label per mode ({n_modes} modes), got {groups!r}"
            )
        out["groups"] = labels.astype(np.int64)
    return Recording(
        eigenvalues=_spectrum(w, quantity),
        steps=steps_arr,
        attrs=out,
        weights=w,
    )


def load_teacher_student(path: PathLike, *, quantity: str = "singular") -> Recording:
    r"""Load one released teacher-student recording (arXiv:2407.16427).

    The files ``TSmodel_lr{alpha}n{eps}bs{B}.npz`` hold the 2x2 student matrix
    ``W`` (runs, snapshots, 2, 2) of independent SGD runs learning the teacher
    :math:`W_t = O\,\mathrm{diag}(2, 2)\,O^T`, with a GOE-like noise of strength
    :math:`\epsilon` injected into each sample's gradient; snapshot ``s`` is
    taken after ``s * save_int`` epochs.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.
    quantity : {"singular", "eigenvalues"}, optional
        Analyse the singular values of ``W`` (the paper's choice) or the
        eigenvalues of :math:`W^T W`; see :func:`from_weights`.

    Returns
    -------
    Recording
        ``steps`` = epoch of each snapshot; ``attrs``: ``model =
        "teacher_student"``, ``alpha`` (the learning rate ``lr``),
        ``batch_size``, ``noise`` (:math:`\epsilon`), ``epochs``,
        ``save_int``, ``target`` = the teacher's singular values ``[2, 2]``
        (whatever ``quantity``), ``groups = [0, 0]`` (one degenerate pair),
        ``source`` (the file name) and ``provenance`` naming the paper and
        the Zenodo DOI.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    validation.data.recording.SchemaError
        If a key of :data:`TEACHER_STUDENT_KEYS` is missing or malformed (the
        message names the key and the file).
    ValueError
        If ``W`` holds NaN or inf (naming the run and snapshot).
    """
    quantity = _check_quantity(quantity)
    path = Path(path)
    try:
        npz = _open_npz(path, "teacher-student file")
    except ValueError as exc:
        raise SchemaError(str(exc)) from exc
    with npz:
        for key in TEACHER_STUDENT_KEYS:
            if key not in npz.files:
                raise SchemaError(
                    f"teacher-student file {os.fspath(path)!r} has no key {key!r} "
                    f"(found {sorted(npz.files)})"
                )
        w = np.asarray(npz["W"], dtype=np.float64)
        scalars = {}
        for key in TEACHER_STUDENT_KEYS[1:]:
            value = np.asarray(npz[key])
            if value.shape != () or value.dtype.kind not in "iuf":
                raise SchemaError(
                    f"teacher-student file {os.fspath(path)!r}: key {key!r} must be a number, "
                    f"got {value!r}"
                )
            scalars[key] = value.item()
    if w.ndim != 4 or w.shape[2:] != (2, 2) or 0 in w.shape:
        raise SchemaError(
            f"teacher-student file {os.fspath(path)!r}: key 'W' must have shape "
            f"(runs, snapshots, 2, 2) with at least one run and snapshot, got {w.shape}"
        )
    save_int, epochs = int(scalars["save_int"]), int(scalars["epochs"])
    steps = save_int * np.arange(w.shape[1], dtype=np.int64)
    if save_int <= 0 or steps[-1] != epochs:
        raise SchemaError(
            f"teacher-student file {os.fspath(path)!r}: {w.shape[1]} snapshots every "
            f"save_int={save_int} epochs do not end at epochs={epochs}"
        )
    attrs = {
        "alpha": float(scalars["lr"]),
        "batch_size": int(scalars["batch_size"]),
        "noise": float(scalars["noise"]),
        "epochs": epochs,
        "save_int": save_int,
        "target": np.asarray(TEACHER_SINGULAR_VALUES),
        "source": path.name,
    }
    try:
        return from_weights(
            w,
            steps=steps,
            quantity=quantity,
            attrs=attrs,
            model="teacher_student",
            groups=[0, 0],
            provenance=_PROVENANCE_TS,
        )
    except ValueError as exc:
        raise ValueError(f"teacher-student file {os.fspath(path)!r}: {exc}") from exc

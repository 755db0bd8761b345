r"""Readers of weight-matrix checkpoints for :mod:`validation.analyses.spectra`.

Two formats:

* ``.npz`` files of named 2-D arrays (one file per checkpoint; an optional
  scalar entry ``iteration``);
* PyTorch ``state_dict`` checkpoints (``.pt``/``.pth``/``.bin``; a bare
  state_dict or a dict holding one under ``"model"``/``"state_dict"``, with an
  optional ``"iteration"``/``"iter_num"``/``"step"``).  torch is imported only
  when such a file is read.

Matrices are selected by shell-style name patterns (:func:`fnmatch.fnmatch`);
a pattern that matches nothing is an error naming the available names.  Fused
attention weights (e.g. a ``Linear(n_embd, 3 n_embd)`` holding query, key and
value of every head) are split into per-head blocks by :class:`FusedAttention`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fpsolve.checks import check_int
from validation._typing import PathLike

__all__ = [
    "Checkpoint",
    "FusedAttention",
    "read_checkpoint",
    "read_npz",
    "read_state_dict",
    "select",
    "split_heads",
]

_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
_ITER_KEYS = ("iteration", "iter_num", "iter", "step")


@dataclass(frozen=True)
class Checkpoint:
    """Named weight matrices of one checkpoint.

    Attributes
    ----------
    path : str
    iteration : int
        Training iteration (from the file, else the trailing number of its
        name, else 0).
    matrices : dict
        ``name -> 2-D float64 array``.
    """

    path: str
    iteration: int
    matrices: dict


@dataclass(frozen=True)
class FusedAttention:
    """How to split fused attention weights into per-head matrices.

    A weight matching ``pattern`` of ``torch.nn.Linear`` layout
    ``(out_features, in_features)`` with ``out_features = len(kinds) * n_heads *
    head_size`` is cut along its rows into ``kinds`` (in order), then into
    ``n_heads`` blocks of ``head_size`` rows; each block is transposed to
    ``in_features x head_size`` (``M x N`` with ``N <= M``; 64 x 16 for the
    talk's GPT).  With ``layout="in_out"`` (``Conv1D`` of GPT-2: ``(in, out)``)
    the columns are cut instead.  The pieces are named
    ``f"{name}[{kind}.{head}]"``.

    Parameters
    ----------
    pattern : str
        fnmatch pattern of the fused weights.
    n_heads : int
    kinds : sequence of str, optional
        Default ``("query", "key", "value")``; one kind for an unfused-kind,
        head-fused weight.
    layout : {"out_in", "in_out"}, optional
    """

    pattern: str
    n_heads: int
    kinds: tuple[str, ...] = ("query", "key", "value")
    layout: str = "out_in"

    def __post_init__(self):
        check_int("n_heads", self.n_heads, minimum=1)
        if self.layout not in ("out_in", "in_out"):
            raise ValueError(f"layout must be 'out_in' or 'in_out', got {self.layout!r}")
        if not self.kinds:
            raise ValueError("kinds must name at least one kind")


def split_heads(
    weight: ArrayLike, fused: FusedAttention, name: str = "weight"
) -> dict[str, np.ndarray]:
    """Split one fused weight into per-kind, per-head matrices (see :class:`FusedAttention`).

    Returns
    -------
    dict
        ``f"{name}[{kind}.{head}]" -> (in_features, head_size)`` arrays.
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"fused weight {name!r} must be 2-dimensional, got shape {w.shape}")
    if fused.layout == "in_out":
        w = w.T
    n_out = w.shape[0]
    n_blocks = len(fused.kinds) * fused.n_heads
    if n_out % n_blocks:
        raise ValueError(
            f"fused weight {name!r} has {n_out} output rows, not divisible into "
            f"{len(fused.kinds)} kinds x {fused.n_heads} heads"
        )
    hs = n_out // n_blocks
    out = {}
    for k, kind in enumerate(fused.kinds):
        for h in range(fused.n_heads):
            start = (k * fused.n_heads + h) * hs
            out[f"{name}[{kind}.{h}]"] = w[start : start + hs].T.copy()
    return out


def select(names: Sequence[str], patterns: Sequence[str] | str | None) -> list[str]:
    """Names matching any of the fnmatch ``patterns`` (all names if None), in order.

    Raises
    ------
    ValueError
        If a pattern matches no name (the message lists the available names).
    """
    names = list(names)
    if patterns is None:
        return names
    if isinstance(patterns, str):
        patterns = [patterns]
    chosen = set()
    for p in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, p)]
        if not hits:
            shown = ", ".join(names[:40]) + (" ..." if len(names) > 40 else "")
            raise ValueError(f"pattern {p!r} matches no matrix; available names: {shown}")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def _iteration_from_name(path: str) -> int:
    m = re.search(r"(\d+)(?!.*\d)", os.path.splitext(os.path.basename(path))[0])
    return int(m.group(1)) if m else 0


def _finish(path, iteration, raw: Mapping, patterns, fused) -> Checkpoint:
    expanded = {}
    for name, w in raw.items():
        if fused is not None and fnmatch.fnmatchcase(name, fused.pattern):
            expanded.update(split_heads(w, fused, name))
        else:
            expanded[name] = w
    two_d = {n: w for n, w in expanded.items() if np.ndim(w) == 2}
    if patterns is None:
        names = list(two_d)
    else:
        names = select(list(expanded), patterns)
        bad = [n for n in names if n not in two_d]
        if bad:
            raise ValueError(
                "selected entries are not 2-dimensional matrices: "
                + ", ".join(f"{n} {np.shape(expanded[n])}" for n in bad)
            )
    mats = {}
    for n in names:
        w = np.asarray(two_d[n], dtype=np.float64)
        if not np.all(np.isfinite(w)):
            raise ValueError(f"matrix {n!r} in {path} holds non-finite entries")
        mats[n] = w
    if not mats:
        raise ValueError(f"{path} holds no 2-dimensional matrices")
    return Checkpoint(str(path), int(iteration), mats)


def read_npz(
    path: PathLike,
    *,
    patterns: str | Sequence[str] | None = None,
    fused: FusedAttention | None = None,
) -> Checkpoint:
    """Read a ``.npz`` checkpoint of named matrices.

    Parameters
    ----------
    path : str or os.PathLike
    patterns : str or sequence of str, optional
        fnmatch patterns selecting matrices (default: every 2-D array).
    fused : FusedAttention, optional
        Split fused attention weights first.
    """
    from validation.data.recording import _open_npz

    with _open_npz(path, "checkpoint") as data:
        raw = {k: data[k] for k in data.files}
    it = raw.pop("iteration", None)
    iteration = int(it) if it is not None else _iteration_from_name(str(path))
    return _finish(path, iteration, raw, patterns, fused)


def read_state_dict(
    path: PathLike,
    *,
    patterns: str | Sequence[str] | None = None,
    fused: FusedAttention | None = None,
) -> Checkpoint:
    """Read a PyTorch ``state_dict`` checkpoint (imports torch; loads with ``weights_only``).

    Parameters
    ----------
    path : str or os.PathLike
    patterns : str or sequence of str, optional
        fnmatch patterns on the state_dict keys (after splitting fused weights).
    fused : FusedAttention, optional
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"reading {path} needs PyTorch: pip install 'fpsolve[torch]'") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds (UnpicklingError, RuntimeError, ...)
        first = str(exc).split(". ")[0].strip()
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} is not a readable PyTorch checkpoint "
            f"({type(exc).__name__}: {first})"
        ) from exc
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} does not hold a state_dict (got {type(obj).__name__})")
    iteration = None
    for k in _ITER_KEYS:
        if k in obj and np.ndim(obj[k]) == 0 and not isinstance(obj[k], Mapping):
            iteration = int(obj[k])
            break
    for k in ("model", "state_dict", "model_state_dict"):
        if isinstance(obj.get(k), Mapping):
            obj = obj[k]
            break
    raw = {
        str(k): v.detach().to(torch.float64).cpu().numpy()
        for k, v in obj.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point()
    }
    if iteration is None:
        iteration = _iteration_from_name(str(path))
    return _finish(path, iteration, raw, patterns, fused)


def read_checkpoint(
    path: PathLike,
    *,
    patterns: str | Sequence[str] | None = None,
    fused: FusedAttention | None = None,
) -> Checkpoint:
    """Read a ``.npz`` or PyTorch checkpoint, by file suffix."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"checkpoint {p!r} does not exist")
    if p.endswith(".npz"):
        return read_npz(p, patterns=patterns, fused=fused)
    if p.endswith(_TORCH_SUFFIXES):
        return read_state_dict(p, patterns=patterns, fused=fused)
    raise ValueError(
        f"checkpoint {p!r}: unknown format; expected .npz or one of {', '.join(_TORCH_SUFFIXES)}"
    )

"""Type aliases of the public API of validation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeAlias

import numpy as np

__all__ = ["Groups", "PathLike", "RNGLike"]

RNGLike: TypeAlias = int | np.random.Generator | np.random.SeedSequence | None
"""A seed or generator (SPEC 7): None, an int seed, a SeedSequence or a Generator."""

PathLike: TypeAlias = str | os.PathLike[str]
"""A file or directory path."""

Groups: TypeAlias = Sequence[Sequence[int]]
"""Groups of eigenvalue indices (e.g. degenerate pairs), each a sequence of mode indices."""

"""Shared test configuration: Agg backend, deterministic hypothesis profile, rng fixture."""

import os

import matplotlib
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=40,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=40)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
TS_DIR = os.path.join(SHARED_DATA, "aarts2024-teacher-student")
"""The released teacher-student recordings (read when present, never copied)."""
TS_FILES = (
    sorted(f for f in os.listdir(TS_DIR) if f.endswith(".npz")) if os.path.isdir(TS_DIR) else []
)
needs_ts = pytest.mark.skipif(not TS_FILES, reason="released teacher-student data absent")


@pytest.fixture
def rng():
    """A fixed-seed generator; each test gets a fresh one."""
    return np.random.default_rng(20240716)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")

"""The Gaussian-RBM setting parsed from recording attributes (validation.data.setting)."""

import numpy as np
import pytest

from fpsolve.models import Modes, lattice_scalar_spectrum
from validation.data.recording import Recording, read
from validation.data.setting import RBMSetting, label_groups, sgd_rate
from validation.training.rbm import train

SMALL = {"n_v": 4, "n_h": 3, "batch_size": 8, "k": 1, "progress": False}


def _attrs(**over):
    attrs = {
        "model": "gaussian_rbm",
        "n_v": 4,
        "n_h": 4,
        "mu2": 12.0,
        "sigma_h": 1.5,
        "kappa": lattice_scalar_spectrum(4, 4.0),
        "alpha": 0.1,
        "batch_size": 16,
        "k": 3,
    }
    return {**attrs, **over}


def test_fields_and_derived_quantities():
    s = RBMSetting.from_attrs(_attrs())
    assert (s.n_v, s.n_h, s.mu2, s.sigma_h, s.alpha, s.batch_size, s.k) == (
        4, 4, 12.0, 1.5, 0.1, 16, 3
    )  # fmt: skip
    assert (s.m2, s.w_sigma, s.target) == (None, None, None)
    assert s.sigma_h2 == 1.5**2
    assert s.alpha_over_b == 0.1 / 16
    # lattice spectrum 4 + 2 - 2 cos(2 pi k / 4) = 4, 6, 8, 6: descending for ascending x
    np.testing.assert_allclose(s.learned_kappa, [8.0, 6.0, 6.0, 4.0], rtol=1e-15)
    assert s.mode_groups() == ((0,), (1, 2), (3,))
    with pytest.raises(ValueError, match="read-only"):
        s.kappa[0] = 1.0


def test_only_the_smallest_n_h_targets_are_learned():
    s = RBMSetting.from_attrs(_attrs(n_h=2))
    np.testing.assert_allclose(s.learned_kappa, [6.0, 4.0], rtol=1e-15)


@pytest.mark.parametrize("convention", ["training", "talk"])
def test_modes_name_their_convention(convention):
    s = RBMSetting.from_attrs(_attrs())
    modes = s.modes(convention=convention)
    assert modes == Modes.rbm(s.learned_kappa, 12.0, 1.5**2, convention=convention)
    assert {m.convention for m in modes} == {convention}
    c = 2 * 1.5**2 if convention == "training" else 1.0
    np.testing.assert_allclose(modes.omega, c * (12.0 - s.learned_kappa) / s.learned_kappa**2)
    with pytest.raises(TypeError):
        s.modes()  # the convention is always named


def test_recording_uses_the_setting():
    attrs = _attrs()
    rec = Recording(np.zeros((1, 1, 4)), np.zeros(1, dtype=np.int64), attrs)
    setting = RBMSetting.from_attrs(attrs)
    assert rec.rbm_modes() == setting.modes(convention="training")
    assert rec.rbm_modes(convention="talk") == setting.modes(convention="talk")
    assert rec.mode_groups() == setting.mode_groups()
    other = Recording(np.zeros((1, 1, 4)), np.zeros(1, dtype=np.int64), {"model": "npz"})
    with pytest.raises(ValueError, match="model='gaussian_rbm'"):
        other.rbm_setting()


def test_trained_recording_round_trips(tmp_path):
    rec = train(2, n_steps=4, rng=3, path=tmp_path / "t.h5", **SMALL)
    s = read(rec.path).rbm_setting()
    expect = RBMSetting.lattice(
        n_v=4, n_h=3, m2=4.0, mu2=9.0, sigma_h=1.0, alpha=0.1, batch_size=8, k=1,
        w_sigma=0.1, target="exact",
    )  # fmt: skip
    assert s.to_attrs().keys() == expect.to_attrs().keys()
    for key, value in expect.to_attrs().items():
        np.testing.assert_array_equal(s.to_attrs()[key], value, err_msg=key)
    assert s.target == "exact"
    assert RBMSetting.from_attrs(s.to_attrs()).to_attrs().keys() == s.to_attrs().keys()


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"batch_size": None}, ValueError, "recording attribute 'batch_size' is missing; "),
        ({"mu2": None, "kappa": None}, ValueError, "attributes 'mu2', 'kappa' are missing"),
        ({"batch_size": 0}, ValueError, "recording attribute 'batch_size' must be >= 1, got 0"),
        ({"batch_size": 16.0}, TypeError, "recording attribute 'batch_size' must be an integer"),
        ({"alpha": -0.1}, ValueError, "recording attribute 'alpha' must be >= 0"),
        ({"alpha": float("nan")}, ValueError, "recording attribute 'alpha' must be finite"),
        ({"sigma_h": 0.0}, ValueError, "recording attribute 'sigma_h' must be > 0"),
        ({"n_h": 5}, ValueError, "recording attribute 'n_h' must be <= n_v"),
        ({"kappa": [4.0, 6.0]}, ValueError, "'kappa' must hold n_v=4 target eigenvalues"),
        ({"kappa": [4.0, 6.0, np.nan, 6.0]}, ValueError, r"'kappa' must hold finite .* index 2"),
        ({"k": 0}, ValueError, "recording attribute 'k' must be >= 1"),
        ({"target": "data"}, ValueError, "recording attribute 'target' must be one of"),
    ],
)
def test_bad_attributes_are_named(change, error, match):
    attrs = {k: v for k, v in _attrs(**change).items() if v is not None}
    with pytest.raises(error, match=match):
        RBMSetting.from_attrs(attrs)


def test_require_and_direct_construction():
    with pytest.raises(ValueError, match="recording attribute 'm2' is missing"):
        RBMSetting.from_attrs(_attrs(), require=("m2",))
    with pytest.raises(ValueError, match=r"^n_h must be <= n_v"):
        RBMSetting(n_v=2, n_h=3, mu2=9.0, sigma_h=1.0, kappa=[1, 2], alpha=0.1, batch_size=1)
    with pytest.raises(TypeError, match="k must be an integer"):
        RBMSetting.lattice(
            n_v=4, n_h=4, m2=4.0, mu2=9.0, sigma_h=1.0, alpha=0.1, batch_size=4, k=None
        )


def test_sgd_rate():
    assert sgd_rate({"alpha": 0.05, "batch_size": np.int64(8)}) == (0.05, 8)
    with pytest.raises(ValueError, match="recording attribute 'alpha' is missing"):
        sgd_rate({"batch_size": 8})


def test_label_groups():
    assert label_groups(np.array([3, 3, 1, 2, 1])) == ((0, 1), (2, 4), (3,))

"""Tests of fpsolve.sgd: matrix-level SGD with exact samples and its aligned eigenvalue map."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from scipy import stats
from scipy.integrate import solve_ivp
from scipy.linalg import solve_triangular

from fpsolve import _sgd_kernels, sgd
from fpsolve._sgd_kernels import _chi, bartlett
from fpsolve.sgd import (
    GaussianRBM,
    SampledGradientModel,
    SGDFailure,
    SGDResult,
    simulate_sgd_aligned,
    simulate_sgd_matrix,
)
from fpsolve.streams import fill_normals, normals, stream

W0 = np.array([[1.0, 0.3, -0.2], [0.4, 1.2, 0.5], [-0.3, 0.2, 0.9]])  # x = 0.16, 1.45, 2.31


def _stream(seed, r):
    return stream(np.random.SeedSequence(seed, spawn_key=(r,)))


# --------------------------------------------------------------------------- references
def _wishart_factor(st, n, batch_size):
    """The kernels' draw from stream ``st``: ``T`` with ``T T^T`` distributed as ``z z^T``
    for ``z`` an ``(n, |B|)`` matrix of standard normals (tested in
    ``test_bartlett_factor_has_the_law_of_z_zt``)."""
    t = np.empty((n, min(n, batch_size)))
    bartlett(st, t, batch_size)
    return t


def _reference_matrix(model, w, st, *, alpha, batch_size, n_steps):
    """Plain-numpy level (c) taking the kernel's random numbers from stream ``st``."""
    xs, ws = [np.linalg.eigvalsh(w.T @ w)], [w]
    for _ in range(n_steps):
        chol = np.linalg.cholesky(model.k_matrix(w))
        z = _wishart_factor(st, model.n_v, batch_size)
        phi = solve_triangular(chol.T, z, lower=False)  # L^-T z: z z^T -> C_hat |B|
        c_hat = phi @ phi.T / batch_size
        w = w + alpha * model.sigma_h2 * (model.c_target - c_hat) @ w
        xs.append(np.linalg.eigvalsh(w.T @ w))
        ws.append(w)
    return np.array(xs), np.array(ws)


def _reference_aligned(model, x, st, *, alpha, batch_size, n_steps):
    """Plain-numpy aligned map (docs/theory.md eq. sgd-aligned)."""
    n_h, s, mu2 = model.n_h, model.sigma_h2, model.mu2
    inv_kappa = 1.0 / np.concatenate([model.learned_kappa, model.kappa[n_h:]])
    out = [x]
    for _ in range(n_steps):
        lam = np.concatenate([mu2 - s * x, np.full(model.n_v - n_h, mu2)])
        z = _wishart_factor(st, model.n_v, batch_size) / np.sqrt(lam)[:, None]
        m = np.eye(model.n_v) + alpha * s * (np.diag(inv_kappa) - z @ z.T / batch_size)
        y = m[:, :n_h] * np.sqrt(x)
        x = np.linalg.eigvalsh(y.T @ y)
        out.append(x)
    return np.array(out)


# --------------------------------------------------------------------------- Wishart draws
@numba.njit
def _chis(st, k, out):
    for i in range(out.size):
        out[i] = _chi(st, k)


def test_chi_variates_follow_the_chi_law():
    """KS against scipy's chi law, 20000 draws per degree of freedom (fixed stream), at
    1% family-wise error; k = 1 is |N|, k >= 2 the Marsaglia-Tsang gamma."""
    dfs = (1, 2, 3, 5, 16, 64)
    for k in dfs:
        out = np.empty(20_000)
        _chis(_stream(5, k), k, out)
        assert stats.kstest(out, stats.chi(k).cdf).pvalue > 0.01 / len(dfs), k


@pytest.mark.parametrize(("n", "batch_size"), [(4, 3), (4, 5), (3, 9), (2, 40)])
def test_bartlett_factor_has_the_law_of_z_zt(n, batch_size):
    """T T^T against z z^T of (n, |B|) standard normals (numpy's generator), 8000 each:
    two-sample KS of every entry, the trace and the largest eigenvalue, at 1%
    family-wise error; for |B| > n, T is lower triangular with a positive diagonal."""
    n_draws = 8000
    st = _stream(9, n * 100 + batch_size)
    ts = np.array([_wishart_factor(st, n, batch_size) for _ in range(n_draws)])
    m = min(n, batch_size)
    assert ts.shape == (n_draws, n, m)
    if batch_size > n:  # the Bartlett factor; else T is z itself
        assert np.all(np.triu(ts, 1) == 0.0)
        assert np.all(np.diagonal(ts, axis1=1, axis2=2) > 0)
    z = np.random.default_rng(4).standard_normal((n_draws, n, batch_size))
    draws = [ts @ ts.transpose(0, 2, 1), z @ z.transpose(0, 2, 1)]

    def features(w):
        iu = np.triu_indices(n)
        ev = np.linalg.eigvalsh(w)
        return [w[:, i, j] for i, j in zip(*iu, strict=True)] + [ev.sum(1), ev[:, -1]]

    got, ref = features(draws[0]), features(draws[1])
    for a, b in zip(got, ref, strict=True):
        assert stats.ks_2samp(a, b).pvalue > 0.01 / len(got)


# --------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("batch_size", [3, 7])
def test_matrix_kernel_matches_numpy_reference(batch_size):
    rbm = GaussianRBM.lattice(5, m2=2.0, mu2=9.0, sigma_h2=0.8, n_h=4)
    opts = {"alpha": 0.05, "batch_size": batch_size, "n_steps": 150}
    res = simulate_sgd_matrix(
        rbm, n_replicas=3, w_sigma=0.3, record_every=1, record_weights=True, rng=11, **opts
    )
    assert not res.failed.any()
    for r in range(3):
        st = _stream(11, r)
        w0 = 0.3 * normals(st, (5, 4))  # the default start: drawn first from the stream
        xs, ws = _reference_matrix(rbm, w0, st, **opts)
        np.testing.assert_allclose(res.eigenvalues[r], xs, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(res.weights[r], ws, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("batch_size", [2, 5, 9])
def test_aligned_kernel_matches_numpy_reference(batch_size):
    rbm = GaussianRBM(kappa=[3.0, 5.0, 4.0, 7.5, 6.0], mu2=8.0, sigma_h2=1.3, n_h=3)
    x0 = np.array([[0.5, 2.0, 3.5], [1.0, 1.0, 2.0]])
    opts = {"alpha": 0.07, "batch_size": batch_size, "n_steps": 200}
    res = simulate_sgd_aligned(rbm, n_replicas=2, x0=x0, record_every=1, rng=3, **opts)
    assert not res.failed.any()
    for r in range(2):
        ref = _reference_aligned(rbm, x0[r], _stream(3, r), **opts)
        np.testing.assert_allclose(res.eigenvalues[r], ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(
    ("batch_size", "alpha", "n_replicas"), [(2, 0.2, 6), (2, 0.2, 19), (9, 0.4, 19)]
)
def test_aligned_failures_leave_the_other_replicas_of_a_batch_unchanged(
    monkeypatch, batch_size, alpha, n_replicas
):
    """Replicas step in batches: those that fail stop, and every path up to its failure is
    the numpy reference's of that replica alone.  On one thread, 19 replicas go in a batch
    of 16 (its matrices built in lanes) and one of 3; in batches of 5 (built one by one)
    every number is the same."""
    rbm = GaussianRBM(kappa=[3.0, 5.0, 4.0, 7.5, 6.0], mu2=8.0, sigma_h2=1.3, n_h=3)
    opts = {"alpha": alpha, "batch_size": batch_size, "n_steps": 300}
    run = {"n_replicas": n_replicas, "record_every": 1, "rng": 3, "n_threads": 1}
    res = simulate_sgd_aligned(rbm, **run, **opts)
    assert 0 < res.failed.sum() < n_replicas
    monkeypatch.setattr(_sgd_kernels, "ALIGNED_LANES", 5)
    fives = simulate_sgd_aligned(rbm, **run, **opts)
    np.testing.assert_array_equal(fives.eigenvalues, res.eigenvalues)
    np.testing.assert_array_equal(fives.failed_step, res.failed_step)
    for r in range(n_replicas):
        stop = res.failed_step[r] if res.failed[r] else opts["n_steps"] + 1
        ref = _reference_aligned(
            rbm, rbm.x_stable, _stream(3, r), **{**opts, "n_steps": stop - 1}
        )  # steps 0 .. stop - 1
        np.testing.assert_allclose(res.eigenvalues[r, :stop], ref, rtol=1e-12, atol=1e-13)
        assert np.isnan(res.eigenvalues[r, stop:]).all()


def test_one_mode_matrix_and_aligned_map_coincide():
    """For N_v = N_h = 1 there is no rotation: the two levels are the same map."""
    rbm = GaussianRBM(kappa=[3.0], mu2=9.0)
    opts = {"alpha": 0.1, "batch_size": 4, "n_steps": 500, "n_replicas": 4, "rng": 8}
    mat = simulate_sgd_matrix(rbm, w0=[[2.0]], record_every=1, **opts)
    ali = simulate_sgd_aligned(rbm, x0=[4.0], record_every=1, **opts)
    np.testing.assert_allclose(mat.eigenvalues, ali.eigenvalues, rtol=1e-12)


def test_default_start_is_the_trainers_initial_weights():
    from validation.training.rbm import train

    rbm = GaussianRBM.lattice(6, m2=4.0, mu2=9.0, n_h=4)
    rec = train(3, n_steps=0, n_v=6, n_h=4, record_weights=True, rng=5, progress=False)
    res = simulate_sgd_matrix(
        rbm, alpha=0.1, batch_size=4, n_steps=0, n_replicas=3, record_weights=True, rng=5
    )
    np.testing.assert_array_equal(res.weights[:, 0], rec.weights[:, 0])


@pytest.mark.parametrize(
    ("batch_size", "alpha", "n_steps"),
    [(3, 0.05, 200), (7, 0.05, 200), (2, 0.1, 400), (9, 0.3, 400)],
    ids=["few samples", "Bartlett draw", "failures, few samples", "failures, Bartlett"],
)
def test_rbm_lanes_are_the_generic_integrator_bit_for_bit(monkeypatch, batch_size, alpha, n_steps):
    """The Gaussian RBM's replicas step in lanes (``_rbm_lanes_integrate``); every number
    equals that of the generic one-replica integrator: 19 replicas (a partial batch of
    lanes), runs split into calls of 37 steps, replicas that fail inside a batch."""
    rbm = GaussianRBM.lattice(6, m2=2.0, mu2=9.0, sigma_h2=0.8, n_h=5)
    opts = {"alpha": alpha, "batch_size": batch_size, "n_steps": n_steps, "n_replicas": 19}
    monkeypatch.setattr(sgd, "_CHUNK_STEPS", 37)
    runs = []
    for integrate in (_sgd_kernels._integrate, _sgd_kernels._rbm_lanes_integrate):
        monkeypatch.setattr(
            _sgd_kernels, "_DEFAULT", _sgd_kernels.Integrator(
                integrate=integrate, check_start=_sgd_kernels._check_start)
        )  # fmt: skip
        runs.append(simulate_sgd_matrix(
            rbm, w_sigma=0.3, record_every=1, record_weights=True, rng=12, **opts
        ))  # fmt: skip
    generic, lanes = runs
    if alpha > 0.05:
        assert 0 < generic.failed.sum() < 19
    else:
        assert not generic.failed.any()
    np.testing.assert_array_equal(lanes.eigenvalues, generic.eigenvalues)
    np.testing.assert_array_equal(lanes.weights, generic.weights)
    np.testing.assert_array_equal(lanes.failed_step, generic.failed_step)
    assert lanes.reason == generic.reason


def test_results_do_not_depend_on_threads_or_chunks(monkeypatch):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    rbm = GaussianRBM.lattice(4, m2=3.0, mu2=9.0)
    opts = {"alpha": 0.1, "batch_size": 5, "n_steps": 60, "n_replicas": 7, "rng": 4}
    runs = {}
    for label, threads, chunk in (("1", 1, 5000), ("2", 2, 5000), ("chunks", 2, 7)):
        monkeypatch.setattr(sgd, "_CHUNK_STEPS", chunk)
        runs[label] = (
            simulate_sgd_matrix(rbm, n_threads=threads, record_every=3, **opts),
            simulate_sgd_aligned(rbm, n_threads=threads, record_every=3, **opts),
        )
    for label in ("2", "chunks"):
        for a, b in zip(runs["1"], runs[label], strict=True):
            np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)


def test_seed_reproducible_and_streams_distinct():
    rbm = GaussianRBM(kappa=[4.0, 6.0], mu2=9.0)
    opts = {"alpha": 0.1, "batch_size": 3, "n_steps": 20, "n_replicas": 2}
    a = simulate_sgd_matrix(rbm, rng=9, **opts)
    b = simulate_sgd_matrix(rbm, rng=9, **opts)
    c = simulate_sgd_matrix(rbm, rng=np.random.default_rng(9), **opts)
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)
    assert not np.array_equal(a.eigenvalues[0], a.eigenvalues[1])
    assert c.params["seed"] != 9
    assert a.params["seed"] == 9


# --------------------------------------------------------------------------- statistics
@pytest.mark.slow
def test_small_alpha_limit_is_the_gradient_flow():
    """E[W(T)] of the map is the Euler scheme of dW/dt = s (C_target - K^-1) W plus O(alpha).

    At fixed T = alpha n the replica mean converges to the flow with order 1 in alpha.
    The statistical error of each measured error is below 1/10 of it (asserted), so the
    sampling contributes < 0.03 to the slope; the tolerance 0.1 is for the O(alpha^2) terms.
    """
    rbm = GaussianRBM(kappa=[1.5, 2.5, 4.0], mu2=9.0)
    t_end = 1.0
    flow = (
        solve_ivp(
            lambda _, y: rbm.mean_direction(y.reshape(3, 3)).ravel(),
            (0.0, t_end),
            W0.ravel(),
            rtol=1e-11,
            atol=1e-12,
        )
        .y[:, -1]
        .reshape(3, 3)
    )
    assert np.linalg.norm(flow - W0) > 0.5  # the flow moves W a lot in that time
    alphas = np.array([0.1, 0.05, 0.025])
    errors, noise = [], []
    for alpha in alphas:
        n = round(t_end / alpha)
        res = simulate_sgd_matrix(
            rbm, alpha=alpha, batch_size=256, n_steps=n, n_replicas=4000, w0=W0,
            record_steps=[n], record_weights=True, rng=5,
        )  # fmt: skip
        w = res.weights[:, 0]
        errors.append(np.linalg.norm(w.mean(axis=0) - flow))
        noise.append(np.sqrt(np.sum(w.var(axis=0, ddof=1) / w.shape[0])))
    errors, noise = np.array(errors), np.array(noise)
    assert np.all(errors > 10 * noise)
    slope = np.polyfit(np.log(alphas), np.log(errors), 1)[0]
    assert abs(slope - 1.0) < 0.1


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 8, 512])
def test_one_step_is_euler_step_with_wishart_noise(batch_size):
    """One step from a fixed W: E[C_hat] = K^-1 and Cov(C_hat_ij, C_hat_kl) =
    (C_ik C_jl + C_il C_jk)/|B| (the Wishart formula), so the fluctuation of the step
    vanishes as 1/|B|.  C_hat is read back from the recorded update; each of the 6 mean
    and 21 covariance entries is checked to 4.5 standard errors of its sample estimate."""
    rbm = GaussianRBM(kappa=[4.0, 5.0, 7.0], mu2=9.0, sigma_h2=1.2)
    alpha, n_rep = 0.1, 20000
    res = simulate_sgd_matrix(
        rbm, alpha=alpha, batch_size=batch_size, n_steps=1, n_replicas=n_rep, w0=W0,
        record_steps=[0, 1], record_weights=True, rng=12,
    )  # fmt: skip
    dw = res.weights[:, 1] - W0
    c_hat = rbm.c_target - dw @ np.linalg.inv(W0) / (alpha * rbm.sigma_h2)
    c = np.linalg.inv(rbm.k_matrix(W0))
    dev = c_hat - c
    iu = np.triu_indices(3)
    mean = dev.mean(axis=0)[iu]
    se = dev.std(axis=0, ddof=1)[iu] / math.sqrt(n_rep)
    assert np.all(np.abs(mean) < 4.5 * se)
    pairs = [(i, j) for i, j in zip(*iu, strict=True)]
    for a, (i, j) in enumerate(pairs):
        for k, l in pairs[a:]:  # noqa: E741
            prod = dev[:, i, j] * dev[:, k, l]
            expected = (c[i, k] * c[j, l] + c[i, l] * c[j, k]) / batch_size
            assert abs(prod.mean() - expected) < 4.5 * prod.std(ddof=1) / math.sqrt(n_rep), (
                i,
                j,
                k,
                l,
            )


# --------------------------------------------------------------------------- failures
def test_failures_are_reported_per_replica():
    rbm = GaussianRBM(kappa=[1.5, 2.0], mu2=9.0)
    res = simulate_sgd_matrix(
        rbm, alpha=0.5, batch_size=1, n_steps=400, n_replicas=16, w0=np.diag([2.0, 2.5]),
        record_every=10, rng=1,
    )  # fmt: skip
    assert res.failed.any()
    for r in range(16):
        if res.failed[r]:
            t = res.failed_step[r]
            assert 1 <= t <= 400
            assert "not positive definite" in res.reason[r]
            after = res.steps >= t
            assert np.all(np.isnan(res.eigenvalues[r, after]))
            assert np.all(np.isfinite(res.eigenvalues[r, ~after]))
        else:
            assert res.reason[r] == ""
            assert res.failed_step[r] == -1
            assert np.all(np.isfinite(res.eigenvalues[r]))
    assert res.failed_fraction == res.failed.mean()
    assert f"{res.failed.sum()} of 16 replicas" in res.failure_summary()
    with pytest.raises(SGDFailure, match="cannot reach a stationary state") as info:
        res.mean()
    assert info.value.fraction == res.failed_fraction


def test_aligned_failures_are_reported():
    rbm = GaussianRBM(kappa=[1.5, 2.0], mu2=9.0)
    res = simulate_sgd_aligned(rbm, alpha=0.5, batch_size=1, n_steps=400, n_replicas=8, rng=2)
    assert res.failed.all()
    assert all("not positive definite" in why or "below 0" in why for why in res.reason)
    with pytest.raises(SGDFailure, match="8 of 8 replicas"):
        res.check()
    assert len(res.plot()) == 2


def test_no_failure_and_statistics():
    rbm = GaussianRBM(kappa=[4.0, 6.0], mu2=9.0)
    res = simulate_sgd_aligned(rbm, alpha=0.05, batch_size=16, n_steps=400, n_replicas=4, rng=0)
    assert res.failure_summary() == "no failures among 4 replicas"
    res.check()
    assert res.late(0.5).shape == (4, res.steps.size - int(0.5 * res.steps.size), 2)
    assert np.all(np.abs(res.mean() - rbm.x_stable) < 0.5)
    assert np.all(res.std() > 0)
    assert isinstance(res, SGDResult)
    assert len(res.plot()) == 2


# --------------------------------------------------------------------------- bad input
RBM = GaussianRBM(kappa=[4.0, 6.0, 8.0], mu2=9.0, n_h=2)
GOOD = {"alpha": 0.1, "batch_size": 4, "n_steps": 5, "n_replicas": 2}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": "0.1"}, TypeError, "alpha"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.0}, TypeError, "batch_size"),
        ({"n_steps": -1}, ValueError, "n_steps"),
        ({"n_replicas": 0}, ValueError, "n_replicas"),
        ({"w0": np.zeros((2, 2))}, ValueError, "w0 must have shape"),
        ({"w0": np.full((3, 2), np.nan)}, ValueError, "w0 must be finite"),
        ({"w0": np.full((3, 2), 3.0)}, ValueError, "w0 of replica 0 lies outside"),
        ({"w_sigma": 5.0}, ValueError, "w_sigma=5.0 is too large"),
        ({"w_sigma": -1.0}, ValueError, "w_sigma"),
        ({"record_steps": [3, 2]}, ValueError, "record_steps"),
        ({"record_steps": [0, 6]}, ValueError, "record_steps"),
        ({"record_steps": [1], "record_every": 2}, ValueError, "record_every or record_steps"),
        ({"record_every": 0}, ValueError, "record_every"),
        ({"rng": "seed"}, TypeError, "rng"),
        ({"rng": -1}, ValueError, "rng"),
        ({"n_threads": 0}, ValueError, "n_threads"),
        ({"n_threads": 10**6}, ValueError, "n_threads"),
    ],
)
def test_matrix_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        simulate_sgd_matrix(RBM, **{**GOOD, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x0": [2.0, 1.0]}, "x0 must be ascending"),
        ({"x0": [-0.1, 1.0]}, r"x0 must lie in \[0, mu2/sigma_h2\)"),
        ({"x0": [1.0, 9.0]}, r"x0 must lie in \[0, mu2/sigma_h2\)"),
        ({"x0": [1.0, 2.0, 3.0]}, "x0 must have shape"),
        ({"batch_size": -2}, "batch_size"),
    ],
)
def test_aligned_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_sgd_aligned(RBM, **{**GOOD, **kwargs})


def test_wrong_model_type():
    with pytest.raises(TypeError, match="model must be"):
        simulate_sgd_matrix("rbm", **GOOD)
    with pytest.raises(TypeError, match="model must be"):
        simulate_sgd_aligned(object(), **GOOD)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mu2": 9.0}, ValueError, "exactly one of kappa and c_target"),
        ({"mu2": 9.0, "kappa": [1.0], "c_target": [[1.0]]}, ValueError, "exactly one"),
        ({"mu2": -1.0, "kappa": [1.0]}, ValueError, "mu2"),
        ({"mu2": 9.0, "sigma_h2": 0.0, "kappa": [1.0]}, ValueError, "sigma_h2"),
        ({"mu2": 9.0, "kappa": [1.0, -2.0]}, ValueError, "kappa"),
        ({"mu2": 9.0, "kappa": [[1.0]]}, ValueError, "kappa must be 1-dimensional"),
        ({"mu2": 9.0, "c_target": [[1.0, 0.5], [0.0, 1.0]]}, ValueError, "symmetric"),
        ({"mu2": 9.0, "c_target": [[1.0, 2.0], [2.0, 1.0]]}, ValueError, "positive definite"),
        ({"mu2": 9.0, "c_target": np.ones((2, 3))}, ValueError, "square"),
        ({"mu2": 9.0, "kappa": [1.0, 2.0], "n_h": 3}, ValueError, "n_h must be <= N_v = 2"),
    ],
)
def test_model_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        GaussianRBM(**kwargs)


def test_model_targets():
    rbm = GaussianRBM.lattice(6, m2=4.0, mu2=9.0, n_h=4)
    np.testing.assert_allclose(np.sort(1.0 / np.linalg.eigvalsh(rbm.c_target)), rbm.kappa)
    np.testing.assert_allclose(rbm.x_stable, 9.0 - rbm.kappa[:4][::-1])
    with pytest.raises(ValueError, match="kappa: the learned targets"):
        _ = GaussianRBM(kappa=[10.0], mu2=9.0).x_stable
    assert "mu2=9.0" in repr(rbm)
    # the flow vanishes at a W whose left singular vectors are target eigenvectors and
    # whose squared singular values are the stable points
    ev, u = np.linalg.eigh(rbm.c_target)  # ascending 1/kappa
    w = u[:, ::-1][:, :4] * np.sqrt(9.0 - 1.0 / ev[::-1][:4])
    np.testing.assert_allclose(rbm.mean_direction(w), 0.0, atol=1e-13)


# --------------------------------------------------------------------------- generic models
@numba.njit
def _ou_work(data, n_rows, n_cols, batch_size):
    return (np.empty(n_rows * n_cols * batch_size),)


@numba.njit
def _ou_prepare(w, data, work):
    return 1 if np.max(np.abs(w)) > data[1] else 0


@numba.njit
def _ou_direction(w, s, data, work, g):
    z = work[0]
    fill_normals(s, z)
    batch = z.size // w.size
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            acc = 0.0
            for b in range(batch):
                acc += z[(i * w.shape[1] + j) * batch + b]
            g[i, j] = -w[i, j] + data[0] * acc / batch


class _OU(SampledGradientModel):
    """A toy model: W relaxes to 0 with the mean of |B| normals of scale sigma as noise."""

    def __init__(self, sigma, box):
        self.sigma, self.box = sigma, box

    shape = (2, 2)
    numba_pieces = (_ou_work, _ou_prepare, _ou_direction)
    failure_reasons = ("|W_ij| left the box",)

    @property
    def kernel_data(self):
        return (self.sigma, self.box)

    @property
    def params(self):
        return {"sigma": self.sigma, "box": self.box}

    def mean_direction(self, w):
        return -np.asarray(w)


@pytest.mark.slow
def test_integrator_is_generic_over_models():
    model = _OU(sigma=0.5, box=3.0)
    w0 = np.array([[1.0, 0.2], [-0.3, 0.7]])
    res = simulate_sgd_matrix(
        model, alpha=0.2, batch_size=3, n_steps=50, n_replicas=2, w0=w0, record_every=1, rng=6
    )
    for r in range(2):
        st, w, xs = _stream(6, r), w0, [np.linalg.eigvalsh(w0.T @ w0)]
        for _ in range(50):
            z = normals(st, (2, 2, 3))
            w = w + 0.2 * (-w + 0.5 * z.mean(axis=2))
            xs.append(np.linalg.eigvalsh(w.T @ w))
        np.testing.assert_allclose(res.eigenvalues[r], np.array(xs), rtol=1e-12, atol=1e-14)
    wild = simulate_sgd_matrix(
        _OU(sigma=40.0, box=3.0), alpha=0.5, batch_size=1, n_steps=50, n_replicas=4, w0=w0, rng=6
    )
    assert wild.failed.all()
    assert set(wild.reason) == {"|W_ij| left the box"}


@pytest.mark.parametrize(
    "rbm",
    [
        GaussianRBM.lattice(10, m2=4.0, mu2=9.0),
        GaussianRBM.lattice(6, m2=4.0, mu2=9.0, n_h=4),
        GaussianRBM(kappa=[5.0, 3.0, 4.0], mu2=9.0, n_h=2),
    ],
)
def test_w_stable_is_a_fixed_point_with_the_stable_spectrum(rbm):
    w = rbm.w_stable
    assert w.shape == rbm.shape
    np.testing.assert_allclose(w.T @ w, np.diag(rbm.x_stable), atol=1e-12)
    np.testing.assert_allclose(rbm.mean_direction(w), 0.0, atol=1e-12)

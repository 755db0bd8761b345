"""Tests of validation.training.rbm: the Gaussian-RBM PCD trainer (docs/theory.md section 4)."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from scipy import stats

from fpsolve.analytic import marchenko_pastur, sample_laguerre
from fpsolve.models import RBMModel, lattice_scalar_spectrum
from fpsolve.products import LANES, lane_subtract, lane_sum, product, product_noise
from fpsolve.streams import normals, stream
from validation.training import rbm
from validation.training._kernels import _gibbs_sweeps, _train_run
from validation.training.rbm import run_stream, target_matrix, train

SMALL = {"n_v": 4, "n_h": 3, "batch_size": 5, "k": 2, "progress": False}


# --------------------------------------------------------------------------- reference
def _reference(w, phi, s, n_updates, *, alpha, sigma_h2, mu2, k, c_target, chol, data_mode):
    """Plain-numpy PCD taking the kernel's normals from stream ``s`` in its order."""
    w = w.copy()
    phi = phi.copy()
    n_chains, n_v = phi.shape
    n_h = w.shape[1]
    for _ in range(n_updates):
        if data_mode:
            z = normals(s, (n_v, n_chains)).T  # drawn unit by unit, one per chain
            data = z @ chol.T
            c_t = data.T @ data / n_chains
        else:
            c_t = c_target
        for _ in range(k):
            z_h = normals(s, (n_h, n_chains)).T
            h = sigma_h2 * phi @ w + math.sqrt(sigma_h2) * z_h
            z_v = normals(s, (n_v, n_chains)).T
            phi = h @ w.T / mu2 + z_v / math.sqrt(mu2)
        c_m = phi.T @ phi / n_chains
        w = w + alpha * sigma_h2 * (c_t - c_m) @ w
    return w, phi


@pytest.mark.parametrize("data_mode", [False, True])
def test_kernel_matches_numpy_reference(data_mode):
    n_v, n_h, n_chains = 5, 3, 7
    k_t = target_matrix(n_v, 1.5)
    c_t = np.linalg.inv(k_t)
    chol = np.linalg.cholesky(c_t)
    w0 = 0.3 * np.random.default_rng(1).standard_normal((n_v, n_h))
    phi0 = np.ones((n_chains, n_v))
    opts = {"alpha": 0.05, "sigma_h2": 0.8, "mu2": 6.0, "k": 2}
    w, phi = w0.copy(), phi0.copy()
    out = np.empty((2, n_v, n_h))
    stop = _train_run(
        w, phi, stream(np.random.SeedSequence(7)), 6, opts["alpha"], opts["sigma_h2"], opts["mu2"],
        opts["k"], c_t, chol, data_mode, np.array([3, 6], dtype=np.int64), out,
    )  # fmt: skip
    assert stop == -1
    w_ref3, _ = _reference(
        w0, phi0, stream(np.random.SeedSequence(7)), 3, c_target=c_t, chol=chol,
        data_mode=data_mode, **opts,
    )  # fmt: skip
    w_ref, phi_ref = _reference(
        w0, phi0, stream(np.random.SeedSequence(7)), 6, c_target=c_t, chol=chol,
        data_mode=data_mode, **opts,
    )  # fmt: skip
    np.testing.assert_allclose(w, w_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(phi, phi_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out[0], w_ref3, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(out[1], w)


def _in_order(coef, rows):
    n_k, n_out = coef.shape
    out = np.zeros((n_out, rows.shape[1]))
    for m in range(n_out):
        for c in range(rows.shape[1]):
            acc = 0.0
            for k in range(n_k):
                acc += coef[k, m] * rows[k, c]
            out[m, c] = acc
    return out


# shapes that reach every block of fpsolve.products: 16-, 8- and 4-column blocks, shifted
# last blocks of rows and columns, fewer rows than a block (one-row blocks of 16, 8 and 4
# columns), fewer than 4 columns
@pytest.mark.parametrize(
    ("n_out", "n_c"),
    [(4, 9), (10, 16), (10, 10), (16, 10), (3, 37), (5, 4), (1, 20), (2, 8), (1, 3)],
)
@pytest.mark.parametrize("n_k", [0, 1, 3, 10, 16])
def test_products_sum_in_order(n_out, n_c, n_k):
    """The kernels' products equal the plain in-order loop exactly."""
    rng = np.random.default_rng([n_out, n_c, n_k])
    coef = rng.standard_normal((n_k, n_out))
    rows = rng.standard_normal((n_k, n_c))
    z = rng.standard_normal((n_out, n_c))
    expected = _in_order(coef, rows)
    out = np.full((n_out, n_c), np.nan)
    product(out, coef, rows)
    np.testing.assert_array_equal(out, expected)
    out = np.full((n_out, n_c), np.nan)
    product_noise(out, coef, rows, 0.7, 1.3, z)
    np.testing.assert_array_equal(out, 0.7 * expected + 1.3 * z)


@numba.njit
def _lane_calls(out, coef, rows, n, subtract):
    """lane_sum / lane_subtract at element (1, 2) of ``out`` ``(3, 4, LANES)``, the terms
    ``coef[k, 2]`` and ``rows[1 + k, 0]`` of ``(n, 3, LANES)`` and ``(n + 1, 2, LANES)``."""
    n_l = out.shape[2]
    if subtract:
        lane_subtract(out, (1 * 4 + 2) * n_l, coef, 2 * n_l, 3 * n_l, rows, 2 * n_l, 2 * n_l, n)
    else:
        lane_sum(out, (1 * 4 + 2) * n_l, coef, 2 * n_l, 3 * n_l, rows, 2 * n_l, 2 * n_l, n)


@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_lane_sums_in_order(n):
    """Each lane of lane_sum / lane_subtract is the in-order loop of that lane, exactly, and
    nothing else of ``out`` is written."""
    rng = np.random.default_rng(n)
    coef = rng.standard_normal((n, 3, LANES))
    rows = rng.standard_normal((n + 1, 2, LANES))
    start = rng.standard_normal((3, 4, LANES))
    for subtract in (False, True) if n > 0 else (True,):
        out = start.copy()
        _lane_calls(out, coef, rows, n, subtract)
        expected = start.copy()
        acc = start[1, 2].copy() if subtract else coef[0, 2] * rows[1, 0]
        for k in range(0 if subtract else 1, n):
            term = coef[k, 2] * rows[1 + k, 0]
            acc = acc - term if subtract else acc + term
        expected[1, 2] = acc
        np.testing.assert_array_equal(out, expected)


def test_target_matrix_spectrum():
    for n_v in (1, 2, 3, 10):
        ev = np.linalg.eigvalsh(target_matrix(n_v, 4.0))
        np.testing.assert_allclose(ev, np.sort(lattice_scalar_spectrum(n_v, 4.0)), atol=1e-12)


def test_train_first_snapshot_is_initial_weights():
    rec = train(3, n_steps=10, record_every=5, record_weights=True, rng=4, **SMALL)
    for r in range(3):
        w0 = 0.1 * normals(run_stream(4, r), (4, 3))
        np.testing.assert_array_equal(rec.weights[r, 0], w0)
    np.testing.assert_allclose(
        rec.eigenvalues, np.linalg.eigvalsh(np.swapaxes(rec.weights, -1, -2) @ rec.weights)
    )
    assert np.all(np.diff(rec.eigenvalues, axis=-1) >= 0)
    assert rec.steps.tolist() == [0, 5, 10]


def test_learned_modes_and_attrs():
    rec = train(2, n_steps=4, record_every=2, record_modes=True, rng=2, sigma_h=0.7, **SMALL)
    np.testing.assert_allclose(rec.learned_modes, 9.0 - 0.49 * rec.eigenvalues)
    assert rec.attrs["model"] == "gaussian_rbm"
    assert rec.attrs["seed"] == 2
    np.testing.assert_array_equal(rec.attrs["kappa"], lattice_scalar_spectrum(4, 4.0))
    for name in ("n_v", "n_h", "mu2", "sigma_h", "m2", "k", "alpha", "batch_size", "w_sigma"):
        assert name in rec.attrs


def test_independent_of_threads_and_run_split():
    kw = {"n_steps": 30, "record_every": 10, "rng": 9, **SMALL}
    one = train(4, n_threads=1, **kw)
    two = train(4, n_threads=2, **kw)
    np.testing.assert_array_equal(one.eigenvalues, two.eigenvalues)
    first = train(1, **kw)
    rest = train(3, first_run=1, **kw)
    np.testing.assert_array_equal(
        one.eigenvalues, np.concatenate([first.eigenvalues, rest.eigenvalues])
    )


def test_seed_from_generator_is_recorded_and_reproducible():
    rec = train(1, n_steps=5, rng=np.random.default_rng(3), **SMALL)
    again = train(1, n_steps=5, rng=rec.attrs["seed"], **SMALL)
    np.testing.assert_array_equal(rec.eigenvalues, again.eigenvalues)


def test_alpha_zero_keeps_weights():
    rec = train(2, n_steps=20, alpha=0.0, record_every=10, rng=1, **SMALL)
    np.testing.assert_array_equal(rec.eigenvalues[:, 0], rec.eigenvalues[:, -1])


def test_divergence_raises():
    with pytest.raises(FloatingPointError, match="diverged"):
        train(1, n_steps=200, alpha=100.0, batch_size=1, rng=1, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_h": 5}, ValueError, "n_h must be <= n_v"),
        ({"alpha": -0.1}, ValueError, "alpha"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"k": 1.5}, TypeError, "k must be an integer"),
        ({"target": "data"}, ValueError, "target must be one of"),
        ({"w_sigma": 3.0}, ValueError, "w_sigma=3.0 is too large"),
        ({"rng": -1}, ValueError, "rng"),
        ({"rng": "seed"}, TypeError, "rng must be"),
        ({"record_steps": [0, 5, 5]}, ValueError, "record_steps"),
        ({"record_steps": [0, 50]}, ValueError, "record_steps"),
        ({"record_every": 0}, ValueError, "record_every"),
        ({"n_threads": 0}, ValueError, "n_threads"),
    ],
)
def test_invalid_input(kwargs, error, match):
    base = {"n_v": 4, "n_h": 3, "n_steps": 10, "progress": False, "rng": 0}
    with pytest.raises(error, match=match):
        train(1, **{**base, **kwargs})


# --------------------------------------------------------------------------- physics
@pytest.mark.slow  # a 400 x 200 initial matrix
def test_initial_spectrum_marchenko_pastur():
    """X = W^T W at step 0 follows MP with s2 = w_sigma^2, r = n_h/n_v, scale = n_v s2."""
    n_v, n_h, w_sigma = 400, 200, 0.05
    rec = train(1, n_steps=0, n_v=n_v, n_h=n_h, w_sigma=w_sigma, mu2=1e3, rng=5, progress=False)
    x = rec.eigenvalues[0, 0]
    mp = marchenko_pastur(n_h / n_v, scale=n_v * w_sigma**2)
    d = stats.kstest(x, mp.cdf).statistic
    # eigenvalues are more rigid than i.i.d. draws, so the i.i.d. 1% critical value is
    # conservative; a wrong s2 (factor 2) gives d > 0.3
    assert d < stats.kstwo.ppf(0.99, n_h)


def test_initial_spectrum_exact_finite_n():
    """Largest initial eigenvalue (independent per run) against the exact Laguerre ensemble."""
    n_runs, w_sigma = 400, 0.1
    rec = train(n_runs, n_steps=0, w_sigma=w_sigma, rng=6, progress=False)
    x = rec.eigenvalues[:, 0]
    trace = x.sum(axis=1)
    se = trace.std(ddof=1) / math.sqrt(n_runs)
    assert abs(trace.mean() - 10 * 10 * w_sigma**2) < 3 * se
    ref = sample_laguerre(10, 10, 1, w_sigma**2, 4000, rng=7)
    assert stats.ks_2samp(x[:, -1], ref[:, -1]).pvalue > 0.001


def test_gibbs_chains_stationary_covariance():
    """Block-Gibbs chains at fixed W sample p(phi) with covariance K^{-1}, K = mu2 - s W W^T."""
    n_v, n_h, n_chains, mu2, s = 4, 3, 40_000, 5.0, 0.8
    w = 0.6 * np.random.default_rng(2).standard_normal((n_v, n_h))
    k_mat = mu2 * np.eye(n_v) - s * w @ w.T
    rho = s * np.linalg.eigvalsh(w.T @ w).max() / mu2  # contraction of one sweep
    assert rho < 0.9  # K positive definite, geometric mixing
    n_sweeps = math.ceil(math.log(1e-12) / math.log(rho))
    phi = np.ones((n_chains, n_v))
    _gibbs_sweeps(w, phi, stream(np.random.SeedSequence(3)), n_sweeps, s, mu2)
    cov = np.linalg.inv(k_mat)
    emp = phi.T @ phi / n_chains
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n_chains)
    iu = np.triu_indices(n_v)
    z = ((emp - cov) / se)[iu]
    assert np.all(np.abs(z) < 4), z  # 10 entries, Bonferroni-safe at 4 sigma
    mean_z = phi.mean(axis=0) / np.sqrt(np.diag(cov) / n_chains)
    assert np.all(np.abs(mean_z) < 4)


@pytest.mark.slow
def test_exact_drift_large_batch():
    """With |B| large the eigenvalues converge to x_s = (mu2 - kappa)/sigma_h^2 per target mode."""
    n_v, m2, mu2, alpha, batch = 4, 1.0, 9.0, 0.5, 16384
    rec = train(
        4, n_steps=1000, n_v=n_v, n_h=n_v, m2=m2, mu2=mu2, alpha=alpha, batch_size=batch, k=1,
        w_sigma=0.5, record_every=10, rng=11, progress=False,
    )  # fmt: skip
    kappa = np.sort(lattice_scalar_spectrum(n_v, m2))[::-1]  # largest kappa <-> smallest x
    x_s = mu2 - kappa
    late = rec.eigenvalues[:, rec.steps >= 500]
    # pool the degenerate pair (modes 1, 2): sorted members are split by the repulsion
    groups = [(0,), (1, 2), (3,)]
    for g in groups:
        per_run = late[..., list(g)].mean(axis=(1, 2))
        se = per_run.std(ddof=1) / math.sqrt(len(per_run))
        var = late[..., list(g)].var()
        model = RBMModel(kappa[g[0]], mu2, convention="training")
        v3 = model.prefactor * 2 * mu2 / (mu2 - x_s[g[0]]) ** 3
        bias = abs(v3 / (2 * model.omega)) * var  # second-order shift of the mean
        assert abs(per_run.mean() - x_s[g[0]]) < 4 * se + bias, (g, per_run, x_s[g[0]])
        assert math.sqrt(var) < 0.02 * x_s[g[0]]


def test_target_samples_mode_runs():
    rec = train(2, n_steps=50, target="samples", record_every=25, rng=3, **SMALL)
    assert rec.attrs["target"] == "samples"
    assert np.all(np.isfinite(rec.eigenvalues))


def test_recording_plot():
    rec = train(2, n_steps=20, record_every=10, rng=3, **SMALL)
    artists = rec.plot()
    assert len(artists) >= rec.n_modes


# --------------------------------------------------------------------------- sweeps
SWEEP = {"n_runs": 2, "n_steps": 20, "record_every": 10, "n_v": 4, "n_h": 3, "k": 1}


def _sweep_eigs(result):
    return [result.read(i).eigenvalues for i in range(len(result.paths))]


def test_sweep_same_seed_any_executor(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    settings = rbm.grid(alpha=[0.1, 0.05], batch_size=[4])
    with ThreadPoolExecutor(1) as ex:
        a = rbm.sweep(settings, directory=tmp_path / "a", executor=ex, rng=1, progress=False,
                      **SWEEP)  # fmt: skip
    b = rbm.sweep(settings, directory=tmp_path / "b", max_workers=2, rng=1, progress=False, **SWEEP)
    for ea, eb in zip(_sweep_eigs(a), _sweep_eigs(b), strict=True):
        np.testing.assert_array_equal(ea, eb)
    assert a.settings[0]["rng"] != a.settings[1]["rng"]
    single = train(alpha=0.05, batch_size=4, rng=a.settings[1]["rng"], progress=False, **SWEEP)
    np.testing.assert_array_equal(single.eigenvalues, a.read(1).eigenvalues)
    assert a.fluctuations().shape == (2, 3)
    assert len(a.plot()) == 1


@pytest.mark.slow
def test_sweep_on_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    settings = rbm.grid(alpha=[0.1, 0.05], batch_size=[4])
    ref = rbm.sweep(settings, directory=tmp_path / "ref", max_workers=1, rng=1, progress=False,
                    **SWEEP)  # fmt: skip
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = rbm.sweep(
            settings, directory=tmp_path / "dask", executor=client.get_executor(), rng=1,
            progress=False, **SWEEP,
        )  # fmt: skip
    for ea, eb in zip(_sweep_eigs(ref), _sweep_eigs(out), strict=True):
        np.testing.assert_array_equal(ea, eb)


def test_sweep_presets_and_errors(tmp_path):
    assert len(rbm.PAPER_SWEEP) == 10
    pairs = {(s["alpha"], s["batch_size"]) for s in rbm.PAPER_SWEEP}
    assert {(0.1, b) for b in (4, 8, 16, 32, 64)} <= pairs
    assert {(a, 16) for a in (0.01, 0.02, 0.04, 0.06, 0.08, 0.1)} <= pairs
    with pytest.raises(ValueError, match="unknown preset"):
        rbm.sweep("nope", directory=tmp_path, n_steps=1)
    with pytest.raises(ValueError, match="n_steps must be given"):
        rbm.sweep([{"alpha": 0.1}], directory=tmp_path)
    with pytest.raises(ValueError, match="must not set 'path'"):
        rbm.sweep([{"path": "x.h5"}], directory=tmp_path, n_steps=1)


# --------------------------------------------------------------------------- CLI
def test_cli_train_and_resume(tmp_path, capsys):
    from fpsolve.cli import main
    from validation.data.recording import read

    out = tmp_path / "t.h5"
    args = [
        "train",
        str(out),
        "--runs",
        "2",
        "--steps",
        "40",
        "--record-every",
        "10",
        "--n-v",
        "4",
        "--n-h",
        "3",
        "--seed",
        "3",
        "--no-progress",
        "--record-modes",
    ]
    assert main(args) == 0
    rec = read(out)
    assert rec.eigenvalues.shape == (2, 5, 3)
    assert rec.attrs["seed"] == 3
    assert rec.learned_modes is not None
    assert main(args) == 2  # exists, no --overwrite
    assert "exists" in capsys.readouterr().err
    assert main(["train", str(out), "--resume", "--no-progress"]) == 0
    np.testing.assert_array_equal(read(out).eigenvalues, rec.eigenvalues)


def test_cli_sweep_preset(tmp_path):
    from fpsolve.cli import main
    from validation.data.recording import read

    args = [
        "sweep",
        str(tmp_path),
        "--preset",
        "paper",
        "--runs",
        "1",
        "--steps",
        "3",
        "--n-v",
        "4",
        "--n-h",
        "4",
        "--seed",
        "1",
        "--workers",
        "2",
        "--no-progress",
    ]
    assert main(args) == 0
    files = sorted(tmp_path.glob("*.h5"))
    assert len(files) == 10
    alphas = sorted({read(f).attrs["alpha"] for f in files})
    assert alphas == [0.01, 0.02, 0.04, 0.06, 0.08, 0.1]
    grid_dir = tmp_path / "grid"
    args = [
        "sweep",
        str(grid_dir),
        "--alpha",
        "0.1",
        "0.05",
        "--batch-size",
        "4",
        "--runs",
        "1",
        "--steps",
        "3",
        "--n-v",
        "4",
        "--n-h",
        "4",
        "--workers",
        "1",
        "--no-progress",
    ]
    assert main(args) == 0
    assert len(list(grid_dir.glob("*.h5"))) == 2

"""Tests of the spectral analysis: MP bulk + tail, power laws, unfolding, spacings, readers."""

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from fpsolve.analytic import (
    RATIO_MEAN_GOE,
    RATIO_MEAN_POISSON,
    marchenko_pastur,
    mp_bulk_tail_split,
    mp_cdf_fit,
    mp_edge_fluctuation,
    power_law_likelihood_ratio,
    power_law_scan,
    sample_hermite,
    sample_laguerre,
    spacing_ratios,
)
from validation.analyses import spectra as sp
from validation.data.checkpoints import (
    Checkpoint,
    FusedAttention,
    read_checkpoint,
    read_npz,
    select,
    split_heads,
)

# ---------------------------------------------------------------------------
# pure pieces: exact cases
# ---------------------------------------------------------------------------


def test_mp_cdf_fit_exact_quantiles():
    """Eigenvalues placed at the exact MP quantiles are fitted exactly (A = 1)."""
    r, scale, n = 0.3, 2.5, 400
    x = marchenko_pastur(r, scale).ppf((np.arange(1, n + 1) - 0.5) / n)
    fit = mp_cdf_fit(x, n)
    assert fit.area == pytest.approx(1.0, abs=1e-7)
    assert fit.scale == pytest.approx(scale, rel=1e-7)
    assert fit.r == pytest.approx(r, rel=1e-6)
    fixed = mp_cdf_fit(x, n, r=r)
    assert fixed.scale == pytest.approx(scale, rel=1e-7)
    assert fixed.r == r


def test_mp_cdf_fit_exact_quantiles_with_tail():
    """A bulk at exact quantiles of A * F_MP with the rest beyond the edge: A exact."""
    r, scale, n, k = 0.25, 1.0, 500, 25
    nb = n - k
    x = marchenko_pastur(r, scale).ppf((np.arange(1, nb + 1) - 0.5) / nb)
    fit = mp_cdf_fit(x, n)
    # residuals (i - 1/2)/N - A F(x_i) vanish for A = nb/N up to the 1/2 offset: A F(x_i) =
    # (i - 1/2)/N + O(1/N); the least-squares A is nb/N within 1/(2N)
    assert fit.area == pytest.approx(nb / n, abs=0.5 / n)
    tail = np.concatenate([x, np.linspace(5.0, 9.0, k)])
    split = mp_bulk_tail_split(tail)
    assert split.n_tail == k
    assert split.consistent


def test_edge_fluctuation_formula():
    """sigma_TW = s2 (sqrt M + sqrt N)(1/sqrt M + 1/sqrt N)^(1/3) (Johnstone 2001)."""
    m, n, s2 = 400, 100, 0.7
    expected = s2 * (math.sqrt(m) + math.sqrt(n)) * (1 / math.sqrt(m) + 1 / math.sqrt(n)) ** (1 / 3)
    assert mp_edge_fluctuation(m * s2, n / m, n) == pytest.approx(expected, rel=1e-12)


def test_power_law_scan_matches_closed_form(rng):
    """Fixed x_min: MLE and KS distance equal their closed forms; the jitted scan agrees."""
    x = (1 - rng.random(300)) ** (-1 / 1.7) * 2.0
    xmin = 3.0
    res = power_law_scan(x, xmin=xmin)
    t = np.sort(x[x >= xmin])
    alpha = 1 + len(t) / np.sum(np.log(t / xmin))
    assert res.alpha == pytest.approx(alpha, rel=1e-12)
    assert res.alpha_err == pytest.approx((alpha - 1) / math.sqrt(len(t)), rel=1e-12)
    ks = stats.kstest(t, lambda v: 1 - (v / xmin) ** (1 - alpha)).statistic
    assert res.ks == pytest.approx(ks, rel=1e-10)
    scan = power_law_scan(x, n_tail_min=10)
    j = int(np.argmin(scan.ks_all))
    ref = power_law_scan(x, xmin=float(scan.xmins[j]))
    assert scan.alpha == pytest.approx(ref.alpha, rel=1e-10)
    assert scan.ks == pytest.approx(ref.ks, rel=1e-10)


def test_spacing_ratios_exact():
    levels = np.array([0.0, 1.0, 3.0, 3.5, 10.0])
    assert np.allclose(spacing_ratios(levels), [0.5, 0.25, 0.5 / 6.5])
    assert pytest.approx(2 * math.log(2) - 1) == RATIO_MEAN_POISSON


def test_likelihood_ratio_prefers_true_model(rng):
    """Exponential samples: the Vuong test favours the exponential over a power law."""
    x = 1.0 + rng.exponential(1.0, 2000)
    scan = power_law_scan(x, xmin=1.0)
    lr = power_law_likelihood_ratio(x, 1.0, scan.alpha, "exponential")
    assert lr.statistic < 0
    assert lr.p_value < 1e-3
    with pytest.raises(ValueError, match="alternative"):
        power_law_likelihood_ratio(x, 1.0, scan.alpha, "gamma")


# ---------------------------------------------------------------------------
# synthetic truth (issue 7)
# ---------------------------------------------------------------------------


def test_mp_draws_recovered():
    """Exact Wishart spectra: A = 1, no tail, s2 within 1% (and within 3 errors)."""
    m, n, s2 = 2000, 500, 0.37
    x = sample_laguerre(m, n, 1, s2, 1, rng=11)[0]
    fit = sp.fit_mp_bulk(x, m=m, rng=12)
    assert fit.n_tail == 0
    assert abs(fit.area - 1) < 3 * fit.area_err
    assert abs(fit.s2 / s2 - 1) < 0.01
    assert abs(fit.s2 - s2) < 3 * fit.s2_err
    assert abs(fit.r - n / m) < 3 * fit.r_err
    assert fit.tail_trace_fraction == 0.0


def _rank_k_matrix(rng, m, n, k, strength):
    w = rng.normal(0.0, 1.0 / math.sqrt(m), (m, n))
    u, _ = np.linalg.qr(rng.normal(size=(m, k)))
    v, _ = np.linalg.qr(rng.normal(size=(n, k)))
    sig = strength * (1.0 + rng.pareto(2.0, k))  # heavy-tailed signal strengths
    return w + (u * sig) @ v.T


@pytest.mark.slow  # a 2000 x 500 spectrum
def test_mp_plus_rank20_tail():
    """MP + rank-20 heavy tail: tail count exact, A within 0.01 of the bulk fraction."""
    rng = np.random.default_rng(7)
    m, n, k = 2000, 500, 20
    w = _rank_k_matrix(rng, m, n, k, strength=3.0)
    spec = sp.spectrum(w)
    fit = sp.fit_mp_bulk(spec, rng=8)
    assert fit.n_tail == k
    assert abs(fit.area - (n - k) / n) < 0.01
    assert len(fit.tail) == k
    assert fit.tail_trace_fraction == pytest.approx(fit.tail.sum() / spec.eigenvalues.sum())
    assert fit.consistent


@pytest.mark.parametrize("alpha", [2.5, 4.5])
def test_pareto_exponent_recovered(alpha):
    """Pareto samples (also alpha > 3): exponent within 3 errors, verdict 'power law'."""
    rng = np.random.default_rng(int(alpha * 10))
    x = (1 - rng.random(1500)) ** (-1 / (alpha - 1))
    res = sp.fit_power_law(x, bulk=None, n_bootstrap=50, rng=3)
    assert res.power_law, res.reasons
    assert abs(res.alpha - alpha) < 3 * res.alpha_err


def test_pure_mp_noise_is_no_power_law():
    """On pure MP noise the answer is 'no power law', not a number."""
    x = sample_laguerre(1000, 250, 1, 1e-3, 1, rng=5)[0]
    with pytest.warns(UserWarning, match="inside the fitted MP bulk"):
        res = sp.fit_power_law(x, n_bootstrap=20, rng=6)
    assert not res.power_law
    assert res.alpha is None
    assert res.alpha_err is None
    assert res.n_beyond_bulk == 0
    assert any("beyond the MP bulk" in r for r in res.reasons)


def test_goe_spacings_pass_poisson_fail():
    """Unfolded GOE spacings pass KS against the beta=1 surmise; Poisson levels fail it."""
    goe = sample_hermite(200, 1, 10, rng=9)
    st = sp.spacing_statistics([sp.unfold(row, "polynomial", degree=9, trim=0.1) for row in goe])
    assert st.ks["goe"][1] > 0.01
    assert st.ks["poisson"][1] < 1e-10
    rng = np.random.default_rng(10)
    poi = np.sort(rng.random((10, 200)), axis=1)
    st_p = sp.spacing_statistics([sp.unfold(row, "polynomial", degree=3, trim=0.1) for row in poi])
    assert st_p.ks["goe"][1] < 1e-10
    assert st_p.ks["poisson"][1] > 0.01


def test_mp_unfolding_of_wishart_spacings():
    """Wishart spectra unfolded with their fitted MP CDF follow the beta=1 surmise."""
    x = sample_laguerre(800, 200, 1, 1.0, 8, rng=13)
    unf = [sp.unfold(row, "mp", fit=sp.fit_mp_bulk(row, n_bootstrap=0)) for row in x]
    st = sp.spacing_statistics(unf)
    assert st.ks["goe"][1] > 0.01
    assert st.ks["poisson"][1] < 1e-10
    assert unf[0].method == "mp"
    assert np.mean(np.concatenate([u.spacings for u in unf])) == pytest.approx(1.0, abs=0.05)


def test_ratio_means():
    """<r~> of GOE and Poisson levels within 3 standard errors (matrices independent)."""
    goe = sample_hermite(100, 1, 60, rng=14)
    per = spacing_ratios(goe).mean(axis=1)
    assert abs(per.mean() - RATIO_MEAN_GOE) < 3 * per.std(ddof=1) / math.sqrt(len(per))
    rng = np.random.default_rng(15)
    poi = spacing_ratios(rng.random((60, 100))).mean(axis=1)
    assert abs(poi.mean() - RATIO_MEAN_POISSON) < 3 * poi.std(ddof=1) / math.sqrt(len(poi))
    st = sp.spacing_statistics(sp.unfold(goe[0], "polynomial", degree=5))
    assert st.ratio_mean == pytest.approx(spacing_ratios(goe[0]).mean())


def test_too_few_levels_warns():
    x = sample_hermite(20, 1, 1, rng=1)[0]
    with pytest.warns(UserWarning, match="spacings pooled"):
        sp.spacing_statistics(sp.unfold(x, "polynomial", degree=3))


# ---------------------------------------------------------------------------
# input errors
# ---------------------------------------------------------------------------


def test_spectrum_input_errors(rng):
    w = rng.normal(size=(10, 30))
    s = sp.spectrum(w, name="wide")
    assert s.shape == (30, 10)
    assert "transposed" in s.notes[0]
    assert np.allclose(s.eigenvalues, np.linalg.eigvalsh(w @ w.T))
    bad = w.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        sp.spectrum(bad, name="w")
    with pytest.raises(ValueError, match="2-dimensional"):
        sp.spectrum(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="at least 8"):
        sp.fit_mp_bulk([1.0, 2.0])
    with pytest.raises(ValueError, match="non-finite"):
        sp.fit_mp_bulk([1.0] * 8 + [np.inf])
    with pytest.raises(ValueError, match=">= 0"):
        sp.fit_mp_bulk(-np.arange(1.0, 10.0))


def test_zero_modes_dropped_with_note(rng):
    """Eigenvalues of W^T W for a wide W: the N - M round-off zeros are dropped, with a note."""
    w = rng.normal(0, 0.1, (200, 50))
    x = np.linalg.eigvalsh(w.T @ w)
    xw = np.linalg.eigvalsh(w @ w.T)  # 200 values, 150 of them zero up to round-off
    fit = sp.fit_mp_bulk(xw, n_bootstrap=0)
    assert fit.n == 50
    assert "dropped 150 zero eigenvalues" in fit.notes[0]
    assert fit.s2 == pytest.approx(sp.fit_mp_bulk(x, n_bootstrap=0).s2, rel=1e-8)


def test_unfold_choice_is_explicit(rng):
    x = np.sort(rng.random(50))
    with pytest.raises(TypeError):
        sp.unfold(x)  # no default method
    with pytest.raises(ValueError, match="method must be"):
        sp.unfold(x, "spline")
    with pytest.raises(ValueError, match="needs degree"):
        sp.unfold(x, "polynomial")
    with pytest.raises(ValueError, match="trim"):
        sp.unfold(x, "polynomial", degree=2, trim=0.6)
    with pytest.raises(ValueError, match="'fit'"):
        sp.fit_power_law(x + 1, bulk="none")


def test_select_unknown_pattern():
    names = ["a.key.weight", "a.query.weight"]
    assert select(names, "*.key.*") == ["a.key.weight"]
    with pytest.raises(ValueError, match=r"matches no matrix.*a\.key\.weight"):
        select(names, "*.value.*")


# ---------------------------------------------------------------------------
# readers
# ---------------------------------------------------------------------------


def test_split_heads_blocks(rng):
    n_embd, n_heads = 8, 2
    w = rng.normal(size=(3 * n_embd, n_embd))  # Linear(n_embd, 3 n_embd).weight
    parts = split_heads(w, FusedAttention("*", n_heads), "attn")
    assert len(parts) == 6
    hs = n_embd // n_heads
    key1 = parts["attn[key.1]"]
    assert key1.shape == (n_embd, hs)
    assert np.array_equal(key1, w[n_embd + hs : n_embd + 2 * hs].T)
    conv = split_heads(w.T, FusedAttention("*", n_heads, layout="in_out"), "attn")
    assert np.array_equal(conv["attn[value.0]"], parts["attn[value.0]"])
    with pytest.raises(ValueError, match="not divisible"):
        split_heads(rng.normal(size=(10, 8)), FusedAttention("*", 4), "x")


def test_read_npz(tmp_path, rng):
    path = tmp_path / "run_000120.npz"
    np.savez(path, **{"l0.key": rng.normal(size=(16, 64)), "l0.bias": rng.normal(size=16)})
    ck = read_npz(path)
    assert ck.iteration == 120
    assert list(ck.matrices) == ["l0.key"]
    np.savez(path, iteration=7, **{"l0.key": rng.normal(size=(16, 64))})
    assert read_checkpoint(path, patterns=["l0.*"]).iteration == 7
    with pytest.raises(ValueError, match="matches no matrix"):
        read_checkpoint(path, patterns=["l9.*"])
    bad = rng.normal(size=(4, 4))
    bad[0, 0] = np.inf
    np.savez(tmp_path / "bad.npz", w=bad)
    with pytest.raises(ValueError, match="non-finite"):
        read_checkpoint(tmp_path / "bad.npz")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="unknown format"):
        read_checkpoint(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "missing.npz")


def test_read_state_dict(tmp_path, rng):
    torch = pytest.importorskip("torch", reason="needs torch: pip install -e '.[torch]'")
    fused = torch.tensor(rng.normal(size=(3 * 8, 8)), dtype=torch.float32)
    sd = {
        "blocks.0.attn.weight": fused,
        "blocks.0.ln.weight": torch.ones(8),
        "head.weight": torch.tensor(rng.normal(size=(5, 8))),
    }
    torch.save({"iter_num": 300, "model": sd}, tmp_path / "ckpt.pt")
    ck = read_checkpoint(
        tmp_path / "ckpt.pt",
        patterns=["*[[]key.*"],
        fused=FusedAttention("*.attn.weight", 2),
    )
    assert ck.iteration == 300
    assert sorted(ck.matrices) == ["blocks.0.attn.weight[key.0]", "blocks.0.attn.weight[key.1]"]
    assert np.allclose(ck.matrices["blocks.0.attn.weight[key.0]"], fused.numpy()[8:12].T)
    with pytest.raises(ValueError, match="not 2-dimensional"):
        read_checkpoint(tmp_path / "ckpt.pt", patterns=["*.ln.weight"])


# ---------------------------------------------------------------------------
# evolution, report, CLI, plots
# ---------------------------------------------------------------------------


def _synthetic_run(rng, steps=(0, 100, 200)):
    cks = []
    for t in steps:
        mats = {}
        for h in range(4):
            w = rng.normal(0, 0.1, (64, 16))
            if t:
                w = w + (t / 100) * np.outer(rng.normal(size=64), rng.normal(size=16)) / 8
            mats[f"blocks.0.sa.heads.{h}.key.weight"] = w.T  # torch layout 16 x 64
        cks.append(Checkpoint(f"ck{t}", t, mats))
    return cks


def test_spectra_evolution_and_report(tmp_path, rng):
    evo = sp.spectra_evolution(_synthetic_run(rng), n_bootstrap=5, rng=1)
    assert evo.groups == ("blocks.0.sa.heads.*.key.weight",)
    assert evo.area.shape == (3, 1)
    assert evo.n_tail[0, 0] == 0
    assert evo.n_tail[-1, 0] == 4  # one rank-1 spike per head, pooled
    assert evo.area[-1, 0] < evo.area[0, 0]
    assert evo.s2[0, 0] == pytest.approx(0.01, rel=0.15)
    path = sp.write_report(evo, tmp_path / "out")
    with open(path) as fh:
        data = json.load(fh)
    assert data["iterations"] == [0, 100, 200]
    for f in ("evolution.png", "spectra.png", "spacings.png"):
        assert (tmp_path / "out" / f).exists()
    per = sp.spectra_evolution(
        _synthetic_run(rng, (0,)), group="matrix", power_law=False, n_bootstrap=2
    )
    assert len(per.groups) == 4


@pytest.mark.slow  # the whole command with its report figures (about 2 s)
def test_cli_spectra(tmp_path, rng, capsys):
    from fpsolve.cli import main

    files = []
    for ck in _synthetic_run(rng, (0, 50)):
        p = tmp_path / f"ck_{ck.iteration}.npz"
        np.savez(p, iteration=ck.iteration, **ck.matrices)
        files.append(str(p))
    out = tmp_path / "rep"
    rc = main(
        [
            "spectra",
            *files,
            "-o",
            str(out),
            "-p",
            "*.key.weight",
            "--no-progress",
            "--no-power-law",
            "--iterations",
            "50",
        ]
    )
    assert rc == 0
    assert (out / "results.json").exists()
    assert "A =" in capsys.readouterr().out
    fused = tmp_path / "gpt2_100.npz"
    np.savez(fused, **{"h.0.attn.c_attn.weight": rng.normal(0, 0.1, (64, 192))})
    rc = main(
        [
            "spectra",
            str(fused),
            "-o",
            str(out),
            "--fused",
            "h.*.c_attn.weight:4:in_out",
            "-p",
            "*[[]key.*",
            "--no-progress",
            "--no-power-law",
            "--overwrite",
        ]
    )
    assert rc == 0
    with open(out / "results.json") as fh:
        assert json.load(fh)["groups"] == ["h.0.attn.c_attn.weight[key.*]"]
    rc = main(["spectra", files[0], "-o", str(out), "-p", "*.nothing", "--no-progress",
               "--overwrite"])  # fmt: skip
    assert rc == 2
    assert "matches no matrix" in capsys.readouterr().err


@settings(max_examples=30)
@given(
    levels=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=30, unique=True),
    shift=st.floats(-10, 10),
    scale=st.floats(0.1, 10),
)
def test_spacing_ratios_invariants(levels, shift, scale):
    """Ratios lie in [0, 1], ignore the order of the input and any affine map a + b x, b > 0."""
    x = np.array(levels)
    assume(np.min(np.diff(np.sort(x))) > 1e-6 * max(1.0, np.ptp(x)))
    r = spacing_ratios(x)
    assert r.shape == (len(x) - 2,)
    assert np.all((r >= 0) & (r <= 1))
    assert np.allclose(spacing_ratios(x[::-1]), r)
    assert np.allclose(spacing_ratios(shift + scale * x), r, atol=1e-6)


def test_pooled_margin_is_wider():
    """Pooling n independent matrices: the Tracy-Widom margin is that of one matrix."""
    x = sample_laguerre(256, 64, 1, 1.0, 4, rng=3).ravel()
    one = mp_bulk_tail_split(x)
    four = mp_bulk_tail_split(x, n_matrices=4)
    assert four.threshold > one.threshold
    assert four.n_tail == 0


def test_plots_return_artists():
    x = sample_laguerre(400, 100, 1, 1.0, 1, rng=2)[0]
    fit = sp.fit_mp_bulk(x, n_bootstrap=3, rng=1)
    assert len(fit.plot()) == 3
    y = (1 - np.random.default_rng(1).random(300)) ** (-1 / 1.5)
    assert len(sp.fit_power_law(y, bulk=None, n_bootstrap=0).plot()) == 2
    u = sp.unfold(x, "mp", fit=fit)
    assert len(u.plot()) == 2
    assert len(sp.spacing_statistics(u).plot()) == 5
    assert len(sp.spectrum(np.ones((3, 2))).plot()) > 0

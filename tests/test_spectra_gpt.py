"""The nano-GPT example: model size of the talk and a few-iteration end-to-end run."""

import json

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install -e '.[torch]'")

from validation.training import gpt_example  # noqa: E402

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n"
) * 4


def test_model_size_of_the_talk():
    """4 blocks x 4 heads, n_embd 64, context 32, 65-character vocabulary: 209,729 parameters."""
    model = gpt_example.build_model(65)
    assert sum(p.numel() for p in model.parameters()) == 209_729
    sd = model.state_dict()
    assert tuple(sd["blocks.3.sa.heads.3.key.weight"].shape) == (16, 64)


@pytest.mark.slow
def test_train_and_analyse(tmp_path, capsys):
    """CI run: a few AdamW iterations on a tiny text, then the spectra report."""
    rc = gpt_example.main(
        [
            _write(tmp_path),
            "-o",
            str(tmp_path / "run"),
            "--iters",
            "4",
            "--every",
            "2",
            "--no-progress",
        ]
    )
    assert rc == 0
    ckpts = sorted((tmp_path / "run" / "checkpoints").glob("*.pt"))
    assert [p.name for p in ckpts] == ["ckpt_000000.pt", "ckpt_000002.pt", "ckpt_000004.pt"]
    with open(tmp_path / "run" / "spectra" / "results.json") as fh:
        res = json.load(fh)
    assert res["iterations"] == [0, 2, 4]
    assert len(res["groups"]) == 12
    assert "report written" in capsys.readouterr().out


@pytest.mark.slow  # trains the model twice
def test_reproducible(tmp_path):
    """The same seed gives identical checkpoints."""
    a = gpt_example.train_gpt(TEXT, tmp_path / "a", n_steps=2, checkpoint_every=2, progress=False)
    b = gpt_example.train_gpt(TEXT, tmp_path / "b", n_steps=2, checkpoint_every=2, progress=False)
    sa = torch.load(a[-1], weights_only=True)["model"]
    sb = torch.load(b[-1], weights_only=True)["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    with pytest.raises(ValueError, match="block_size"):
        gpt_example.train_gpt("ab", tmp_path / "c", n_steps=1, progress=False)


def _write(tmp_path):
    p = tmp_path / "tiny.txt"
    p.write_text(TEXT)
    return str(p)

r"""Reproducible example: train the talk's character-level GPT and analyse its spectra.

The model is the small decoder-only Transformer of arXiv:2411.13512 (after
A. Karpathy's "nanoGPT" lecture code): 4 blocks x 4 heads, embedding 64, head
size 16, context 32, no dropout, trained with AdamW (learning rate 1e-3) on
batches of 16 random windows of a plain-text corpus, character level; with the
65-character vocabulary of Shakespeare's works it has 209,729 parameters.  Each
head has its own key, query and value ``Linear(64, 16, bias=False)``, so the
state_dict keys ``blocks.{l}.sa.heads.{h}.{key,query,value}.weight`` are the
16 x 64 matrices whose 64 x 16 transposes are analysed.

Checkpoints are PyTorch state_dicts (``{"iteration": t, "model": state_dict}``)
in ``OUT/checkpoints/ckpt_{t:06d}.pt``.  torch is imported only inside the
functions (``pip install 'fpsolve[torch]'``).

Run::

    python -m validation.training.gpt_example input.txt -o gpt-run            # 5000 iterations
    python -m validation.training.gpt_example tiny.txt -o ci-run --iters 20 --every 10  # CI

then ``fpsolve spectra gpt-run/checkpoints/*.pt -o gpt-run/spectra``.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from fpsolve.checks import check_int, check_positive
from validation._typing import PathLike

__all__ = ["ATTENTION_PATTERNS", "build_model", "main", "train_gpt"]

#: fnmatch patterns of the per-head key, query and value weights.
ATTENTION_PATTERNS = (
    "blocks.*.sa.heads.*.key.weight",
    "blocks.*.sa.heads.*.query.weight",
    "blocks.*.sa.heads.*.value.weight",
)


def build_model(
    vocab_size: int, *, n_embd: int = 64, n_head: int = 4, n_layer: int = 4, block_size: int = 32
) -> Any:
    """The GPT as a ``torch.nn.Module`` (imports torch)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    head_size = n_embd // n_head

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.key = nn.Linear(n_embd, head_size, bias=False)
            self.query = nn.Linear(n_embd, head_size, bias=False)
            self.value = nn.Linear(n_embd, head_size, bias=False)
            self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))

        def forward(self, x):
            _, t, _ = x.shape
            k, q = self.key(x), self.query(x)
            wei = q @ k.transpose(-2, -1) * head_size**-0.5
            wei = wei.masked_fill(self.tril[:t, :t] == 0, float("-inf"))
            return F.softmax(wei, dim=-1) @ self.value(x)

    class MultiHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = nn.ModuleList([Head() for _ in range(n_head)])
            self.proj = nn.Linear(n_embd, n_embd)

        def forward(self, x):
            return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.sa = MultiHead()
            self.ffwd = nn.Sequential(
                nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), nn.Linear(4 * n_embd, n_embd)
            )
            self.ln1 = nn.LayerNorm(n_embd)
            self.ln2 = nn.LayerNorm(n_embd)

        def forward(self, x):
            x = x + self.sa(self.ln1(x))
            return x + self.ffwd(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
            self.position_embedding_table = nn.Embedding(block_size, n_embd)
            self.blocks = nn.Sequential(*[Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, vocab_size)

        def forward(self, idx, targets=None):
            _, t = idx.shape
            x = self.token_embedding_table(idx) + self.position_embedding_table(
                torch.arange(t, device=idx.device)
            )
            logits = self.lm_head(self.ln_f(self.blocks(x)))
            if targets is None:
                return logits, None
            b, t, c = logits.shape
            return logits, F.cross_entropy(logits.view(b * t, c), targets.view(b * t))

    return GPT()


def train_gpt(
    text: str,
    out_dir: PathLike,
    *,
    n_steps: int = 5000,
    checkpoint_every: int = 500,
    batch_size: int = 16,
    block_size: int = 32,
    n_embd: int = 64,
    n_head: int = 4,
    n_layer: int = 4,
    alpha: float = 1e-3,
    rng: int = 1337,
    n_threads: int | None = 1,
    progress: bool = True,
) -> list[str]:
    r"""Train the GPT on ``text`` with AdamW and save state_dict checkpoints.

    Parameters
    ----------
    text : str
        Training corpus (characters; at least ``block_size + 2`` of them).
    out_dir : str or os.PathLike
        Checkpoints go to ``out_dir/checkpoints``.
    n_steps : int, optional
        AdamW iterations (the talk: 5000).
    checkpoint_every : int, optional
        A checkpoint at iteration 0, every ``checkpoint_every`` and at the end.
    batch_size, block_size, n_embd, n_head, n_layer : int, optional
        Talk values 16, 32, 64, 4, 4.
    alpha : float, optional
        AdamW learning rate (1e-3).
    rng : int, optional
        Seed of ``torch.manual_seed`` and of the batch sampler; a seed gives the
        same checkpoints on the same machine and torch version.
    n_threads : int or None, optional
        ``torch.set_num_threads`` for the run (None leaves torch's setting); one
        thread is fastest for this small model on a busy machine and keeps
        results independent of the thread count.
    progress : bool, optional
        tqdm progress bar.

    Returns
    -------
    list of str
        Checkpoint paths, in training order.
    """
    import torch

    n_steps = check_int("n_steps", n_steps, minimum=0)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    block_size = check_int("block_size", block_size, minimum=1)
    alpha = check_positive("alpha", alpha)
    seed = check_int("rng", rng, minimum=0)
    if not isinstance(text, str) or len(text) < block_size + 2:
        raise ValueError(
            f"text must be a string of at least block_size + 2 = {block_size + 2} "
            f"characters, got {len(text) if isinstance(text, str) else type(text)}"
        )
    prev_threads = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(check_int("n_threads", n_threads, minimum=1))
    try:
        return _train(
            torch,
            text,
            out_dir,
            n_steps,
            checkpoint_every,
            batch_size,
            block_size,
            n_embd,
            n_head,
            n_layer,
            alpha,
            seed,
            progress,
        )
    finally:
        torch.set_num_threads(prev_threads)


def _train(
    torch,
    text,
    out_dir,
    n_steps,
    checkpoint_every,
    batch_size,
    block_size,
    n_embd,
    n_head,
    n_layer,
    alpha,
    seed,
    progress,
):
    from tqdm.auto import tqdm

    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    torch.manual_seed(seed)
    model = build_model(
        len(chars), n_embd=n_embd, n_head=n_head, n_layer=n_layer, block_size=block_size
    )
    opt = torch.optim.AdamW(model.parameters(), lr=alpha)
    gen = torch.Generator().manual_seed(seed)
    ckdir = os.path.join(os.fspath(out_dir), "checkpoints")
    os.makedirs(ckdir, exist_ok=True)
    paths = []

    def save(it):
        p = os.path.join(ckdir, f"ckpt_{it:06d}.pt")
        torch.save({"iteration": it, "model": model.state_dict(), "vocab": "".join(chars)}, p)
        paths.append(p)

    save(0)
    model.train()
    loss_val = math.nan
    bar = tqdm(range(1, n_steps + 1), disable=not progress, desc="AdamW")
    for it in bar:
        ix = torch.randint(len(data) - block_size, (batch_size,), generator=gen)
        xb = torch.stack([data[i : i + block_size] for i in ix])
        yb = torch.stack([data[i + 1 : i + block_size + 1] for i in ix])
        _, loss = model(xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_val = loss.item()
        if it % 100 == 0:
            bar.set_postfix(loss=f"{loss_val:.3f}")
        if it % checkpoint_every == 0 or it == n_steps:
            save(it)
    n_par = sum(p.numel() for p in model.parameters())
    with open(os.path.join(os.fspath(out_dir), "training.txt"), "w") as fh:
        fh.write(
            f"parameters {n_par}\nvocabulary {len(chars)}\niterations {n_steps}\n"
            f"final batch loss {loss_val:.4f}\nseed {seed}\n"
        )
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train, then run the spectra analysis on the checkpoints."""
    p = argparse.ArgumentParser(
        prog="python -m validation.training.gpt_example",
        description="Train the talk's character-level GPT on TEXT and analyse its spectra.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("text", help="plain-text corpus (UTF-8)")
    p.add_argument("-o", "--output", default="gpt-run", help="output directory")
    p.add_argument("--iters", type=int, default=5000, help="AdamW iterations")
    p.add_argument("--every", type=int, default=500, help="checkpoint interval")
    p.add_argument("--seed", type=int, default=1337, help="random seed")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_args(argv)
    with open(args.text, encoding="utf-8") as fh:
        text = fh.read()
    paths = train_gpt(
        text,
        args.output,
        n_steps=args.iters,
        checkpoint_every=args.every,
        rng=args.seed,
        progress=not args.no_progress,
    )
    from validation.analyses.spectra import spectra_evolution, write_report
    from validation.data.checkpoints import read_checkpoint

    cks = [read_checkpoint(q, patterns=list(ATTENTION_PATTERNS)) for q in paths]
    evo = spectra_evolution(
        cks, rng=np.random.default_rng(args.seed), progress=not args.no_progress
    )
    out = write_report(evo, os.path.join(args.output, "spectra"))
    print(f"report written to {os.path.abspath(out)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""Training speed on the grokking model, measured in one run on this machine.

Prints: this CPU's measured fp32 matmul peak (one thread); our training throughput (tokens/s)
and model-FLOPs utilisation against that peak; TransformerLens training the same model on the
same data as a ratio; and the probe overhead of the default schedule as a share of wall time.

    .venv/bin/python bench/train_speed.py [--steps 200] [--skip-overhead]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import torch
import torch.nn.functional as F

from phasewatch import pipeline
from phasewatch.config import resolve
from phasewatch.models import build_model
from phasewatch.tasks import build_task


def matmul_peak(n: int = 1024, repeats: int = 20) -> float:
    """Best fp32 GFLOP/s of an n×n×n matmul over `repeats` tries."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(function) -> float:
    began = time.perf_counter()
    function()
    return time.perf_counter() - began


def model_flops_per_step(config, n_train: int, last_only: bool) -> float:
    """Forward + backward matmul FLOPs (≈ 3 × forward) of one full-batch step."""
    m, seq, classes = config.model, 3, config.task.p
    inner = m.n_heads * m.d_head
    queries = 1 if last_only else seq
    per_sequence = (
        2 * seq * m.d_model * inner * 2  # keys, values at every position
        + 2 * queries * m.d_model * inner  # queries
        + 2 * 2 * queries * seq * inner  # scores and pattern @ values
        + 2 * queries * inner * m.d_model  # W_O
        + 2 * 2 * queries * m.d_model * m.d_mlp  # MLP in and out
        + 2 * queries * m.d_model * classes  # unembed
    )
    return 3 * per_sequence * n_train


def time_training(model, forward, task, steps: int) -> float:
    """Seconds per full-batch AdamW step (after 5 warm-up steps)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)

    def step():
        loss = F.cross_entropy(forward(task.train.inputs), task.train.targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    return _timed(lambda: [step() for _ in range(steps)]) / steps


def transformerlens_model(config, task):
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    m = config.model
    tl_config = HookedTransformerConfig(
        n_layers=m.n_layers,
        d_model=m.d_model,
        d_head=m.d_head,
        n_heads=m.n_heads,
        d_mlp=m.d_mlp,
        d_vocab=task.vocab_size,
        d_vocab_out=task.num_classes,
        n_ctx=task.seq_len,
        act_fn="relu",
        normalization_type=None,
        device="cpu",
        seed=0,
    )
    return HookedTransformer(tl_config)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    _, config = resolve("grokking")
    task = build_task(config.task, config.seed)
    n_train = len(task.train)

    peak = matmul_peak()
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread")
    print(f"matmul peak (fp32, 1024³, best of 20): {peak:.1f} GFLOP/s")

    torch.manual_seed(0)
    ours = build_model(config.model, task)
    ours_s = time_training(ours, ours, task, args.steps)
    flops = model_flops_per_step(config, n_train, last_only=True)
    print(
        f"phasewatch: {ours_s * 1e3:.1f} ms/step, {n_train * 3 / ours_s:,.0f} tokens/s, "
        f"{flops / ours_s / 1e9:.1f} GFLOP/s = MFU {flops / ours_s / 1e9 / peak:.0%} of the measured peak"
    )

    try:
        reference = transformerlens_model(config, task)
    except ImportError:
        print("TransformerLens not installed (pip install -e '.[bench]'): comparison skipped")
    else:
        reference_s = time_training(reference, lambda x: reference(x)[:, -1], task, args.steps)
        full = model_flops_per_step(config, n_train, last_only=False)
        print(
            f"TransformerLens: {reference_s * 1e3:.1f} ms/step, {n_train * 3 / reference_s:,.0f} tokens/s, "
            f"MFU {full / reference_s / 1e9 / peak:.0%} (it computes every position)"
        )
        print(f"speed ratio phasewatch / TransformerLens on the same training: {reference_s / ours_s:.2f}x")

    if not args.skip_overhead:
        with tempfile.TemporaryDirectory() as store:
            run = pipeline.run("grokking", store=store, name="overhead")
        info = run.info
        print(
            f"probe overhead, default grokking schedule ({config.train.steps} steps): "
            f"{info['probe_seconds']:.1f} s of {info['train_seconds']:.1f} s = {info['probe_seconds'] / info['train_seconds']:.1%}"
        )


if __name__ == "__main__":
    main()

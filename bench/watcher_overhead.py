"""What watching costs: a plain PyTorch loop on a small Hugging Face GPT-2, with and without a
`phasewatch.Watcher` at its default schedule, measured in one run on this machine.

Prints the share of the watched run's wall time spent inside `watcher.step` (recording every
step + the probes on the schedule), the same figure from the wall-clock difference with an
unwatched run of the same training, the cost of `close()` (detection + report, once per run),
and checks that both runs end with bit-identical parameters.

    .venv/bin/python bench/watcher_overhead.py [--steps 2000] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import torch

import phasewatch as pw


def build(args):
    from transformers import AutoModelForCausalLM, GPT2Config

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=args.vocab,
        n_positions=args.length,
        n_embd=args.width,
        n_layer=args.layers,
        n_head=4,
        bos_token_id=0,
        eos_token_id=0,
    )
    return AutoModelForCausalLM.from_config(config)


def data(args) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(training sequences, probe sequences, probe labels): random walks with a class-set stride."""
    g = torch.Generator().manual_seed(0)
    n = 4096 + args.probe_items
    classes = torch.randint(0, 8, (n,), generator=g)
    walk = torch.randint(0, args.vocab, (n, 1), generator=g) + (classes[:, None] + 1) * torch.arange(args.length)
    tokens = walk % args.vocab
    return tokens[:4096], tokens[4096:], classes[4096:]


def train(args, watch: bool, store: str) -> tuple[torch.nn.Module, float, float, float, pw.Watcher | None]:
    """(model, loop seconds, seconds inside watcher.step, close() seconds, watcher)."""
    train_tokens, probe_tokens, probe_labels = data(args)
    model = build(args)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    watcher = (
        pw.Watcher(model, probe_tokens, labels=probe_labels, store=store, name="watched", total_steps=args.steps)
        if watch
        else None
    )
    batches = torch.Generator().manual_seed(1)
    watching = 0.0
    began = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = train_tokens[torch.randint(0, len(train_tokens), (args.batch,), generator=batches)]
        loss = model(batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if watcher:
            t = time.perf_counter()
            watcher.step(step, loss=loss)
            watching += time.perf_counter() - t
    loop = time.perf_counter() - began
    t = time.perf_counter()
    if watcher:
        watcher.close()
    return model, loop, watching, time.perf_counter() - t, watcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--probe-items", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s); "
        f"GPT-2 {args.layers} layers x {args.width}, vocab {args.vocab}, batch {args.batch} x {args.length} tokens, "
        f"{args.steps} steps; probe set {args.probe_items} items with labels"
    )
    with tempfile.TemporaryDirectory() as store:
        plain, plain_loop, _, _, _ = train(args, watch=False, store=store)
        watched, loop, watching, closing, watcher = train(args, watch=True, store=store)
        probes = len(watcher.run.metric("probe/loss")[0])
    identical = all(torch.equal(a, b) for a, b in zip(plain.parameters(), watched.parameters()))
    print(f"unwatched loop: {plain_loop:.1f} s ({plain_loop / args.steps * 1e3:.1f} ms/step)")
    print(
        f"watched loop:   {loop:.1f} s, of which inside watcher.step {watching:.2f} s "
        f"({probes} probe points, {watcher.probe_seconds:.2f} s probing)"
    )
    print(
        f"overhead in the watched run: {watching:.2f} / {loop - watching:.1f} s of training = {watching / (loop - watching):.1%}"
    )
    print(f"overhead by wall clock vs the unwatched run: {loop / plain_loop - 1:+.1%} (noisy on a shared machine)")
    print(f"close() once at the end (detection + report): {closing:.1f} s")
    print(f"final parameters bit-identical with and without the watcher: {identical}")


if __name__ == "__main__":
    main()

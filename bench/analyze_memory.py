"""Memory of `phasewatch analyze` over a long checkpoint series: it must stay flat.

Writes a series of Hugging Face GPT-2 checkpoints (`checkpoint-N/` with model.safetensors and
config.json, as a Trainer saves them), analyses it with every probe, and after every 10th
checkpoint reads the process's resident memory: current RSS from /proc/self/statm and peak RSS
from getrusage (ru_maxrss, the high-water mark since the process started). Flat means the peak
after the last checkpoint is the peak after the first few, give or take allocator noise, and far
less than one checkpoint per checkpoint.

    .venv/bin/python bench/analyze_memory.py [--checkpoints 200] [--width 128] [--layers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

import phasewatch as pw


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return current / 2**20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def write_series(directory: Path, args) -> float:
    """`args.checkpoints` checkpoint directories of one GPT-2, drifting a little each step;
    returns the size of one checkpoint in MiB."""
    from safetensors.torch import save_model
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
    model = AutoModelForCausalLM.from_config(config)
    for index in range(1, args.checkpoints + 1):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter), alpha=1e-3)
        out = directory / f"checkpoint-{index * 50}"
        out.mkdir(parents=True)
        config.save_pretrained(out)
        save_model(model, str(out / "model.safetensors"))
    return (out / "model.safetensors").stat().st_size / 2**20


def write_probe_data(path: Path, args) -> None:
    g = torch.Generator().manual_seed(1)
    classes = torch.randint(0, 8, (args.probe_items,), generator=g)
    start = torch.randint(0, args.vocab, (args.probe_items, 1), generator=g)
    tokens = (start + (classes[:, None] + 1) * torch.arange(args.length)) % args.vocab
    with open(path, "w") as f:
        for t, c in zip(tokens.tolist(), classes.tolist()):
            attributes = [float(c // 4 == 0), float(c // 4 == 1), float(c % 2)]
            f.write(json.dumps({"tokens": t, "label": c, "attributes": attributes}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=int, default=200)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=128)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--probe-items", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        series, probes = Path(tmp) / "series", Path(tmp) / "probes.jsonl"
        size = write_series(series, args)
        write_probe_data(probes, args)
        print(
            f"torch {torch.__version__}, {args.threads} thread(s); {args.checkpoints} checkpoints of GPT-2 "
            f"{args.layers} x {args.width} ({size:.2f} MiB each, {size * args.checkpoints:.0f} MiB in all); "
            f"probe set {args.probe_items} x {args.length} tokens with labels and attributes"
        )
        print(f"before analyze: RSS {rss_mb()[0]:.0f} MiB, peak {rss_mb()[1]:.0f} MiB")
        print("checkpoints done | RSS now (MiB) | peak RSS so far (MiB)")
        samples: list[tuple[int, float, float]] = []
        done = 0

        def sample(step: int) -> None:
            nonlocal done
            done += 1
            if done % 10 == 0 or done in (1, 5):
                samples.append((done, *rss_mb()))
                print(f"{done:16d} | {samples[-1][1]:13.0f} | {samples[-1][2]:21.0f}")

        began = time.perf_counter()
        run = pw.analyze(series, probes, store=Path(tmp) / "store", on_checkpoint=sample)
        seconds = time.perf_counter() - began
        after = rss_mb()
        first = next(s for s in samples if s[0] >= 10)
        growth = samples[-1][2] - first[2]
        print(
            f"analyze: {seconds:.0f} s ({seconds / args.checkpoints:.2f} s per checkpoint incl. detection + report), "
            f"{len(run.metric_names())} metrics, status {run.status}"
        )
        print(
            f"peak RSS after {first[0]} checkpoints: {first[2]:.0f} MiB; after {samples[-1][0]}: {samples[-1][2]:.0f} MiB "
            f"(+{growth:.1f} MiB = {growth / (samples[-1][0] - first[0]) * 1024:.0f} KiB per checkpoint, "
            f"vs {size * 1024:.0f} KiB per checkpoint file)"
        )
        print(f"after detection + report: RSS {after[0]:.0f} MiB, peak {after[1]:.0f} MiB")


if __name__ == "__main__":
    main()

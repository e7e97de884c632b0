"""A Hugging Face GPT-2, built from a config and trained with the Trainer on the induction task's
data, watched by `phasewatch.integrations.hf.PhasewatchCallback`: the same attention probe as a
built-in run scores its heads through the model's own attention weights and dates its
`induction_onset`.

    python bench/hf_induction.py [--steps 3000] [--seed 0] [--store bench_runs]

The model: 2 layers, 2 heads, d_model 64, no dropout, learned positions (GPT-2's own blocks, MLP
and LayerNorm included); the data: fresh repeated-segment sequences every step (vocabulary 64,
64 tokens, repeats of 8–32, as the `induction` preset), batch 64, AdamW at 1e-3 after 10 warm-up
steps. The probe set is the task's held-out sequences. Prints the onset, the head scores before
and after, the repeated-token loss proxy (the probe loss) and the wall time.
"""

from __future__ import annotations

import argparse
import time

import torch


class Stream(torch.utils.data.IterableDataset):
    """Fresh repeated-segment sequences, drawn from one seeded generator."""

    def __init__(self, seed: int, vocab: int, seq_len: int):
        self.seed, self.vocab, self.seq_len = seed, vocab, seq_len

    def __iter__(self):
        from phasewatch.tasks.induction import repeated_sequences

        generator = torch.Generator().manual_seed(self.seed)
        while True:
            split, _, _ = repeated_sequences(generator, 256, self.vocab, self.seq_len, 8, 32)
            for tokens in split.inputs:
                yield {"input_ids": tokens, "labels": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", default="bench_runs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--init", type=float, default=0.02, help="GPT2Config.initializer_range (GPT-2's own: 0.02)")
    parser.add_argument("--heads", type=int, default=2, help="heads per layer (d_model 64 split among them)")
    parser.add_argument("--inner", type=int, default=256, help="MLP width (GPT2Config.n_inner)")
    parser.add_argument(
        "--model",
        choices=["gpt2", "phasewatch"],
        default="gpt2",
        help="phasewatch: the `induction` preset's own transformer, in a plain loop under a Watcher",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    from phasewatch.integrations.hf import PhasewatchCallback
    from phasewatch.tasks.induction import induction_task

    vocab, seq_len = 64, 64
    task = induction_task(vocab, seq_len, 8, 32, test_sequences=64, seed=args.seed)
    if args.model == "phasewatch":
        report(*watched_phasewatch_model(args, task))
        return
    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=vocab,
            n_positions=seq_len,
            n_embd=64,
            n_layer=2,
            n_head=args.heads,
            n_inner=args.inner,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            initializer_range=args.init,
        )
    )
    name = f"hf-induction-s{args.seed}"
    callback = PhasewatchCallback(task.probe.inputs, store=args.store, name=name, overwrite=True)
    training = TrainingArguments(
        f"{args.store}/{name}-trainer",
        max_steps=args.steps,
        per_device_train_batch_size=64,
        learning_rate=args.lr,
        warmup_steps=10,
        weight_decay=0.0,
        lr_scheduler_type="constant_with_warmup",
        logging_steps=50,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=args.seed,
        dataloader_num_workers=0,
    )
    began = time.perf_counter()
    Trainer(model=model, args=training, train_dataset=Stream(args.seed, vocab, seq_len), callbacks=[callback]).train()
    seconds = time.perf_counter() - began

    report(callback.watcher.run, args.steps, seconds)


def watched_phasewatch_model(args, task):
    """The `induction` preset's transformer (2 attention-only layers, torch init) in a plain AdamW
    loop on the same stream, watched by a `Watcher` like anyone's model: (run, steps, seconds)."""
    from phasewatch import Watcher
    from phasewatch.config import load_preset, validate
    from phasewatch.models import build_model

    config = validate(load_preset("induction"))
    torch.manual_seed(args.seed)
    model = build_model(config.model, task)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999), weight_decay=0.0)
    watcher = Watcher(
        model, task.probe.inputs, store=args.store, name=f"watched-induction-s{args.seed}", total_steps=args.steps, overwrite=True
    )
    generator = torch.Generator().manual_seed(args.seed)
    began = time.perf_counter()
    for step in range(args.steps + 1):
        batch = task.stream(generator, 64, 1)
        loss = torch.nn.functional.cross_entropy(model(batch.inputs).transpose(1, 2), batch.targets)
        watcher.step(step, loss=loss)
        if step == args.steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / 10)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return watcher.close(), args.steps, time.perf_counter() - began


def report(run, steps: int, seconds: float) -> None:
    print(
        f"run {run.id}: {steps} steps in {seconds:.0f} s; probes {run.info['probe_seconds']:.1f} s "
        f"({run.info['probe_seconds'] / seconds:.1%})"
    )
    for metric in ("induction_score/max", "prev_token_score/max", "duplicate_token_score/max", "probe/loss"):
        steps, values = run.metric(metric)
        print(f"  {metric}: {values[0]:.3f} (step 0) -> {values[-1]:.3f} (step {steps[-1]})")
    onsets = [e for e in run.events if e["kind"] == "induction_onset"]
    for e in onsets:
        print(f"  induction_onset on {e['metric']} at step {e['step']} [{e['step_low']}, {e['step_high']}]")
    cliffs = [e for e in run.events if e["kind"] == "loss_cliff"]
    for e in cliffs:
        print(f"  loss_cliff on {e['metric']} at step {e['step']} [{e['step_low']}, {e['step_high']}]")
    if not onsets:
        print("  no induction_onset dated")


if __name__ == "__main__":
    main()

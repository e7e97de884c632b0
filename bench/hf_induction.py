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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    from phasewatch.integrations.hf import PhasewatchCallback
    from phasewatch.tasks.induction import induction_task

    vocab, seq_len = 64, 64
    task = induction_task(vocab, seq_len, 8, 32, test_sequences=64, seed=args.seed)
    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=vocab,
            n_positions=seq_len,
            n_embd=64,
            n_layer=2,
            n_head=args.heads,
            n_inner=256,
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

    run = callback.watcher.run
    print(
        f"run {run.id}: {args.steps} steps in {seconds:.0f} s; probes {run.info['probe_seconds']:.1f} s "
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

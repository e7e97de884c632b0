"""`phasewatch.llc.calibrate` on a trained built-in model: which sampler settings are healthy.

Trains the experiment (behaviour probes only), then runs `calibrate` on its final weights and its
training split, over ε for each γ given, with the `llc` probe's chains, draws, burn-in and batch
size, and prints each grid point's λ̂, sd, mean MALA acceptance and warnings, and what calibrate chose.

    .venv/bin/python bench/llc_calibrate.py grokking-mlp --seed 1 --gamma 100 1000 10000
"""

from __future__ import annotations

import argparse
import math

import torch

import phasewatch as pw
from phasewatch.config import validate
from phasewatch.llc import calibrate
from phasewatch.models.interface import logits_of
from phasewatch.probes.llc import LLCConfig
from phasewatch.train.loop import checkpoint_contexts
from phasewatch.train.prepare import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gamma", type=float, nargs="+", default=[100.0])
    parser.add_argument("--epsilon", type=float, nargs="+", default=[1e-6, 1e-5, 1e-4, 1e-3])
    parser.add_argument("--store", default="runs-llc-calibrate")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = pw.run(args.experiment, seed=args.seed, store=args.store, name=f"{args.experiment}-s{args.seed}", overwrite=True)
    prepared = prepare(validate(run.config))
    step, context = list(checkpoint_contexts(run, prepared))[-1]
    split, loss = prepared.task.train, prepared.loss
    sampler = LLCConfig()
    n = len(split)
    print(
        f"{args.experiment} seed {args.seed}, the weights at step {step}, {n} training items, nβ = n/log n = {n / math.log(n):.1f}"
    )
    print(f"chains {sampler.chains}, burn-in {sampler.burn_in}, draws {sampler.draws}, batches of {sampler.batch_size}")
    for gamma in args.gamma:
        result = calibrate(
            context.model,
            (split.inputs, split.targets),
            lambda model, batch: loss(logits_of(model(batch[0])), batch[1]),
            epsilons=args.epsilon,
            gamma=gamma,
            chains=sampler.chains,
            draws=sampler.draws,
            burn_in=sampler.burn_in,
            seed=args.seed,
            batch_size=sampler.batch_size,
        )
        print(f"\nγ = {gamma:g}: {result.reason}")
        for row in result.table:
            warnings = "; ".join(w.split(" (")[0] for w in row["warnings"]) or "none"
            print(
                f"  ε {row['epsilon']:.0e}  λ̂ {row['llc']:9.3f} ± {row['std']:.3f}  acceptance {row['acceptance']:.2f}  warnings: {warnings}"
            )


if __name__ == "__main__":
    main()

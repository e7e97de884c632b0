"""`phasewatch.llc.estimate` against devinterp 1.3.2's `estimate_learning_coeff_with_summary` on the
same work: both estimates, both wall times and the speed ratio.

The work: a small MLP student (--inputs → --hidden → --hidden/2 → 1, tanh; a few thousand weights)
trained with Adam towards a minimum on --samples samples from a random teacher MLP plus N(0, 0.1²)
noise, then LLC by SGLD at the trained weights with the same ε, nβ, γ, chains, burn-in and draws,
full batch on both sides (devinterp: a DataLoader whose one item is the whole prepared batch, so that
it too takes one forward and backward of all samples per chain and step, and no time goes to
collating rows; --standard-loader gives it the usual TensorDataset DataLoader instead, which stacks
the batch from single rows every step; nβ passed explicitly, n / log n, since devinterp's default is
batch-size based). devinterp steps its chains one after another (`cores=1`, the same single
process); ours are one vmapped call.

--batch-size B: minibatches of B samples instead (devinterp: the data's B-row chunks in a shuffled
order; ours: each chain its own shuffled batches). Not quite the same work then: with minibatches
ours evaluates each step's gradient twice (the MALA acceptance needs both ends on the step's batch). Both get the same torch threads (--threads).
Each side runs once untimed first with 5 draws (warm-up). devinterp's sampler imports tqdm, einops and
cloudpickle beyond phasewatch's own dependencies (the `test` extra brings the first two).

    .venv/bin/pip install --no-deps devinterp==1.3.2 cloudpickle   # the llc-ref extra without its plotting deps
    .venv/bin/python bench/llc_devinterp.py --seed 0
"""

from __future__ import annotations

import argparse
import math
import platform
import time
import warnings

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from phasewatch.llc import estimate


def mlp(inputs: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, hidden // 2), nn.Tanh(), nn.Linear(hidden // 2, 1)
    )


def loss_fn(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean() / 2


def trained(args) -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """The student at (near) a minimum of the training loss, and the data."""
    torch.manual_seed(args.seed)
    teacher = mlp(args.inputs, args.hidden)
    x = torch.randn(args.samples, args.inputs)
    with torch.no_grad():
        y = teacher(x) + 0.1 * torch.randn(args.samples, 1)
    student = mlp(args.inputs, args.hidden)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    for step in range(args.train_steps):
        for group in optimizer.param_groups:  # cosine decay: settle into the minimum
            group["lr"] = 1e-2 * 0.5 * (1 + math.cos(math.pi * step / args.train_steps))
        optimizer.zero_grad()
        loss_fn(student, (x, y)).backward()
        optimizer.step()
    return student, (x, y)


def ours(model, data, args, draws: int):
    return estimate(
        model,
        data,
        loss_fn,
        epsilon=args.epsilon,
        n_beta=args.n_beta,
        gamma=args.gamma,
        chains=args.chains,
        draws=draws,
        burn_in=args.burn_in,
        seed=args.seed,
        batch_size=args.batch_size,
    )


def theirs(model, data, args, draws: int) -> dict:
    from devinterp.optim.sgld import SGLD
    from devinterp.slt.sampler import estimate_learning_coeff_with_summary

    size = args.batch_size or len(data[0])
    if args.standard_loader:  # what a devinterp user writes: each step collates the batch from single rows
        loader = DataLoader(TensorDataset(*data), batch_size=size, shuffle=size < len(data[0]))
    else:  # each batch one ready item, so that only the sampling is timed
        chunks = [(data[0][i : i + size], data[1][i : i + size]) for i in range(0, len(data[0]) - size + 1, size)]
        loader = DataLoader(chunks, batch_size=1, collate_fn=lambda items: items[0], shuffle=len(chunks) > 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation and "nbeta set" notices
        return estimate_learning_coeff_with_summary(
            model,
            loader,
            evaluate=loss_fn,
            sampling_method=SGLD,
            optimizer_kwargs=dict(lr=args.epsilon, localization=args.gamma, nbeta=args.n_beta),
            num_chains=args.chains,
            num_draws=draws,
            num_burnin_steps=args.burn_in,
            cores=1,
            seed=args.seed,
            device="cpu",
            verbose=False,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--inputs", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--train-steps", type=int, default=2000)
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--burn-in", type=int, default=200)
    parser.add_argument("--epsilon", type=float, default=3e-4)
    parser.add_argument("--gamma", type=float, default=100.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None, help="minibatches instead of the full batch")
    parser.add_argument(
        "--standard-loader",
        action="store_true",
        help="give devinterp a TensorDataset DataLoader (collates 1 batch from rows every step)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.n_beta = args.samples / math.log(args.samples)

    model, data = trained(args)
    weights = sum(p.numel() for p in model.parameters())
    print(
        f"MLP {args.inputs}-{args.hidden}-{args.hidden // 2}-1 ({weights} weights), {args.samples} samples "
        f"{'in batches of ' + str(args.batch_size) if args.batch_size else 'full batch'}, "
        f"{args.chains} chains × ({args.burn_in} burn-in + {args.draws} draws), ε = {args.epsilon:g}, nβ = {args.n_beta:.1f}, "
        f"γ = {args.gamma:g}, seed {args.seed}, devinterp's loader {'standard' if args.standard_loader else 'prepared'}; torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}"
    )
    print(f"L(w*) = {loss_fn(model, data).item():.5f}")
    ours(model, data, args, draws=5)
    theirs(model, data, args, draws=5)

    began = time.perf_counter()
    mine = ours(model, data, args, draws=args.draws)
    mine_seconds = time.perf_counter() - began
    began = time.perf_counter()
    reference = theirs(model, data, args, draws=args.draws)
    reference_seconds = time.perf_counter() - began

    print(
        f"phasewatch: λ̂ = {mine.mean:.3f} ± {mine.std:.3f}  {mine_seconds:7.2f} s   acceptance {mine.acceptance[:, args.burn_in :].mean():.3f}"
    )
    for warning in mine.warnings:
        print(f"  warning: {warning}")
    print(f"devinterp:  λ̂ = {reference['llc/mean']:.3f} ± {reference['llc/std']:.3f}  {reference_seconds:7.2f} s")
    gap = abs(mine.mean - reference["llc/mean"]) / math.hypot(mine.std, reference["llc/std"])
    print(f"difference {mine.mean - reference['llc/mean']:+.3f} = {gap:.2f} × √(std² + std²)")
    print(f"speed ratio (devinterp's wall time / ours, same work): {reference_seconds / mine_seconds:.2f}")


if __name__ == "__main__":
    main()

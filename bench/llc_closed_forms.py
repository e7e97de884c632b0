"""`phasewatch.llc.estimate` against closed-form learning coefficients: one table row per case that
tests/llc/test_llc_estimate.py checks, with the same models, data and sampler hyperparameters.

    .venv/bin/python bench/llc_closed_forms.py --seed 1

Cases: the regular one-parameter model y = x·w (λ = 1/2); normal crossings y = x·w^k, k = 1, 2, 3
(λ = 1/(2k)) and y = x·w1·w2² (λ = 1/(2·max k) = 1/4); reduced-rank regression at every size the tests
use against Aoyagi & Watanabe 2005's formula. Each row: the truth; the finite-nβ target, E[nβ·K] under
the localised posterior exp(−nβ·K − γ/2·‖w − w*‖²) by quadrature, where it is cheap (the regular model
and the crossings; K is known exactly there because the noise is orthogonal to the inputs); the
estimate's mean ± std over chains; its relative error against the truth; whether the truth lies inside
mean ± 3.5·std (the tests' criterion); and the seconds it took. Then one summary line.

--seed sets both the data and the sampler seed (the tests use 0, where their hyperparameters were
chosen, except the regular model's test, which also runs 1; seed 1 here reproduces the seed-1 values
quoted in the tests' comments). One torch thread, as in the tests.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch import nn

from phasewatch.llc import estimate

N_SAMPLES = 3000  # the crossings and reduced-rank regression (the regular model: 1000)
RRR_SIZES = [  # (M, H, N, r), ε, the tests' id
    ((4, 2, 4, 0), 5e-4, "case1-even"),
    ((2, 2, 6, 1), 2.5e-4, "case2"),
    ((2, 5, 2, 0), 5e-4, "case4"),
    ((4, 3, 4, 1), 2.5e-4, "case1-even-rank1"),
    ((6, 2, 2, 1), 2.5e-4, "case3"),
    ((3, 3, 3, 0), 5e-4, "case1-odd"),
]


def nll(model, batch):
    """Gaussian negative log-likelihood per sample up to a constant: ½‖y − f(x)‖², summed over outputs."""
    x, y = batch
    return ((model(x) - y) ** 2).reshape(len(x), -1).sum(dim=1).mean() / 2


def orthogonal_noise(x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The noise less its least-squares fit on the inputs: X^T E = 0, so L_n(w) − L_n(w0) = K_n(w) exactly."""
    return noise - x @ torch.linalg.lstsq(x, noise).solution


def regular(n: int, seed: int):
    """y = x·w + N(0, 1), w* the least-squares fit (the empirical optimum): λ = 1/2."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, generator=g)
    y = x @ torch.full((1, 1), 0.7) + torch.randn(n, 1, generator=g)
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(x, y).solution.T)
    return model, (x, y)


class Crossing(nn.Module):
    """y = x · Π_i w_i^{k_i}: at w = 0, K(w) = Π w_i^{2k_i} / 2 and λ = 1 / (2 max k_i)."""

    def __init__(self, powers: tuple[int, ...]):
        super().__init__()
        self.powers = powers
        self.w = nn.Parameter(torch.zeros(len(powers)))

    def forward(self, x):
        product = torch.ones((), dtype=x.dtype)
        for w, k in zip(self.w, self.powers):
            product = product * w**k
        return x * product


def pure_noise(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, generator=g)
    return x, orthogonal_noise(x, torch.randn(n, 1, generator=g))


def reduced_rank(M: int, H: int, N: int, r: int, n: int, seed: int):
    """x → B·A·x (A: H×M, B: N×H) at a rank-r truth B0·A0 with singular values 1, x ~ N(0, I),
    y = B0·A0·x + noise orthogonal to the inputs."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(M, H, bias=False), nn.Linear(H, N, bias=False))
    with torch.no_grad():
        model[0].weight.zero_()
        model[1].weight.zero_()
        model[0].weight[:r] = torch.linalg.qr(torch.randn(M, r, generator=g)).Q.T
        model[1].weight[:, :r] = torch.linalg.qr(torch.randn(N, r, generator=g)).Q
        x = torch.randn(n, M, generator=g)
        y = model(x) + orthogonal_noise(x, torch.randn(n, N, generator=g))
    return model, (x, y)


def aoyagi_watanabe(M: int, H: int, N: int, r: int) -> float:
    """The RLCT of reduced-rank regression: Aoyagi & Watanabe 2005, Neural Networks 18, Main Theorem."""
    if M + H < N + r:  # case 2
        return (H * M - H * r + N * r) / 2
    if N + H < M + r:  # case 3
        return (H * N - H * r + M * r) / 2
    if M + N < H + r:  # case 4
        return M * N / 2
    # case 1: +1 when M + H + N + r is odd (multiplicity 2)
    return (2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2 + (M + H + N + r) % 2) / 8


def crossing_target(powers: tuple[int, ...], c: float, n_beta: float, gamma: float) -> float:
    """E[nβ·K] under exp(−nβ·K − γ/2·‖w‖²), K = c·Π w_i^{2k_i}/2, for powers (k,) or (1, k): quadrature
    over the last weight u; in (1, k) w1 given u is Gaussian with precision nβ·c·u^{2k} + γ, integrated out."""
    u = np.linspace(-10, 10, 400_001) / math.sqrt(gamma)
    a = n_beta * c * u ** (2 * powers[-1])
    if len(powers) == 1:
        weight, value = np.exp(-a / 2 - gamma * u**2 / 2), a / 2
    elif len(powers) == 2 and powers[0] == 1:
        weight, value = np.exp(-gamma * u**2 / 2) / np.sqrt(a + gamma), a / (2 * (a + gamma))
    else:
        raise ValueError(f"powers {powers}: no quadrature here")
    return float((weight * value).sum() / weight.sum())


def cases(seed: int):
    """(label, truth, finite-nβ target or None, model, data, estimate's keyword arguments) per case."""
    n_beta = N_SAMPLES / math.log(N_SAMPLES)
    model, data = regular(1000, seed)
    a = 1000 / math.log(1000) * float((data[0] ** 2).mean())  # nβ·curvature; γ = 1 shrinks ½ to ½·a/(a + γ)
    yield "regular y = x·w", 0.5, a / (2 * (a + 1.0)), model, data, dict(epsilon=7e-4, gamma=1.0, burn_in=100, draws=1000)
    data = pure_noise(N_SAMPLES, seed)
    c = float((data[0] ** 2).mean())
    for k, epsilon in [(1, 3e-4), (2, 2e-3), (3, 3e-3)]:
        target = crossing_target((k,), c, n_beta, 0.1)
        yield (
            f"crossing y = x·w^{k}",
            1 / (2 * k),
            target,
            Crossing((k,)),
            data,
            dict(epsilon=epsilon, gamma=0.1, burn_in=200, draws=1000),
        )
    target = crossing_target((1, 2), c, n_beta, 1.0)
    yield "crossing y = x·w1·w2²", 0.25, target, Crossing((1, 2)), data, dict(epsilon=1e-3, gamma=1.0, burn_in=500, draws=1500)
    for size, epsilon, name in RRR_SIZES:
        model, data = reduced_rank(*size, n=N_SAMPLES, seed=seed)
        label = f"RRR (M,H,N,r)=({','.join(map(str, size))}) {name}"
        yield label, aoyagi_watanabe(*size), None, model, data, dict(epsilon=epsilon, gamma=1.0, burn_in=300, draws=1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1, help="data and sampler seed (default 1; the tests chose on 0)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"seed {args.seed}, 8 chains, torch {torch.__version__}, 1 thread\n")
    print("| case | truth | finite-nβ target | estimate ± std | relative error | inside ±3.5σ? | seconds |")
    print("|---|---|---|---|---|---|---|")
    inside, total, rrr_errors = 0, 0, []
    for label, truth, target, model, data, settings in cases(args.seed):
        began = time.perf_counter()
        result = estimate(model, data, nll, chains=8, seed=args.seed, **settings)
        seconds = time.perf_counter() - began
        error = (result.mean - truth) / truth
        hit = abs(result.mean - truth) < 3.5 * result.std
        inside, total = inside + hit, total + 1
        if label.startswith("RRR"):
            rrr_errors.append((abs(error), error, label))
        shown = "—" if target is None else f"{target:.3f}"
        print(
            f"| {label} | {truth:.3f} | {shown} | {result.mean:.3f} ± {result.std:.3f} | {error:+.3f} | "
            f"{'yes' if hit else 'NO'} | {seconds:.1f} |"
        )
    _, worst, where = max(rrr_errors)
    print(f"\nWorst RRR relative error: {worst:+.3f} ({where}); truth inside ±3.5σ in {inside}/{total} cases.")


if __name__ == "__main__":
    main()

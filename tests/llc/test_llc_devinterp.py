"""Opt-in: `phasewatch.llc.estimate` against devinterp 1.3.2 (the `llc-ref` extra), same model, data,
ε, nβ, γ, chains, burn-in and draws. Skipped when devinterp is not installed."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from phasewatch.llc import estimate

devinterp_sampler = pytest.importorskip("devinterp.slt.sampler")
devinterp_sgld = pytest.importorskip("devinterp.optim.sgld")


def nll(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).sum(dim=1).mean() / 2


@pytest.mark.filterwarnings("ignore")  # devinterp's deprecation and "nbeta set" notices
def test_the_estimate_agrees_with_devinterp_within_chain_noise():
    # reduced-rank regression 4 → 2 → 4 at its true parameter 0 (λ = 3.5), the noise orthogonal
    # to the inputs; one full batch on both sides, nβ = n / log n given to both
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 2, bias=False), nn.Linear(2, 4, bias=False))
    with torch.no_grad():
        for layer in model:
            layer.weight.zero_()
    x = torch.randn(1000, 4, generator=g)
    noise = torch.randn(1000, 4, generator=g)
    y = noise - x @ torch.linalg.lstsq(x, noise).solution
    n_beta = 1000 / math.log(1000)
    settings = dict(epsilon=1e-3, gamma=1.0, chains=4, draws=300, burn_in=100)

    ours = estimate(model, (x, y), nll, n_beta=n_beta, seed=0, **settings)
    theirs = devinterp_sampler.estimate_learning_coeff_with_summary(
        model,
        DataLoader([(x, y)], batch_size=1, collate_fn=lambda items: items[0]),  # the full batch, ready (no row collation)
        evaluate=nll,
        sampling_method=devinterp_sgld.SGLD,
        optimizer_kwargs=dict(lr=settings["epsilon"], localization=settings["gamma"], nbeta=n_beta),
        num_chains=settings["chains"],
        num_draws=settings["draws"],
        num_burnin_steps=settings["burn_in"],
        cores=1,
        seed=0,
        device="cpu",
        verbose=False,
    )
    gap = abs(ours.mean - theirs["llc/mean"])
    assert gap < 3 * math.hypot(ours.std, theirs["llc/std"]), (ours.mean, ours.std, theirs["llc/mean"], theirs["llc/std"])

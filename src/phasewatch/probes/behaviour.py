"""Behaviour and weights: held-out loss and accuracy, parameter norms."""
from __future__ import annotations

import torch

from phasewatch.probes.registry import ProbeContext, ProbeResult, probe
from phasewatch.tasks.objective import accuracy


@probe("behaviour")
def behaviour(ctx: ProbeContext) -> ProbeResult:
    """`test/loss`, `test/accuracy`: the training loss and argmax accuracy on the held-out split."""
    logits, _ = ctx.forward("test")
    targets = ctx.task.test.targets
    return ProbeResult({"test/loss": float(ctx.loss(logits, targets)), "test/accuracy": float(accuracy(logits, targets))})


def weight_norms(model: torch.nn.Module) -> dict[str, float]:
    """`weight_norm/total` = ‖θ‖₂ over all parameters, and `weight_norm/<param>` per tensor.

    Weight decay drives the norm down through grokking's clean-up (Liu et al. 2023, "Omnigrok").
    """
    norms = {name: torch.linalg.vector_norm(p.detach()).double() for name, p in model.named_parameters()}
    total = torch.stack(list(norms.values())).square().sum().sqrt()
    return {"weight_norm/total": float(total), **{f"weight_norm/{name}": float(n) for name, n in norms.items()}}


@probe("weight_norm")
def weight_norm(ctx: ProbeContext) -> ProbeResult:
    """The parameter norms of `weight_norms`, as a registered probe."""
    return ProbeResult(weight_norms(ctx.model))

"""Behaviour and weights: held-out loss, accuracy and (for text) bits per byte; parameter norms."""
from __future__ import annotations

import math

import torch

from phasewatch.probes.registry import ProbeContext, ProbeResult, probe
from phasewatch.tasks.objective import accuracy, loss_function


@probe("behaviour")
def behaviour(ctx: ProbeContext) -> ProbeResult:
    """`test/loss`, `test/accuracy`: the training loss and argmax accuracy on the held-out split.

    For text (`task.bytes_per_token` b > 0), also `test/bits_per_byte` = CE / (ln 2 · b), where
    CE is the mean cross-entropy in nats per scored target — `test/loss` when training uses
    cross-entropy; computed as cross-entropy whatever the training loss, so it stays in bits.
    """
    logits, _ = ctx.forward("test")
    targets = ctx.task.test.targets
    scalars = {"test/loss": float(ctx.loss(logits, targets)), "test/accuracy": float(accuracy(logits, targets))}
    if ctx.task.bytes_per_token > 0:
        nats = loss_function("cross_entropy", ctx.task.num_classes)(logits, targets)
        scalars["test/bits_per_byte"] = float(nats) / (math.log(2) * ctx.task.bytes_per_token)
    return ProbeResult(scalars)


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

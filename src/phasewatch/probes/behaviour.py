"""Behaviour and weights: held-out loss, accuracy and (for text) bits per byte; parameter norms."""

from __future__ import annotations

import math

import torch

from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe
from phasewatch.tasks.objective import accuracy, loss_function

TEST_LOSS = Metric("test/loss", "the training loss on the held-out split", higher="worse")
TEST_ACCURACY = Metric(
    "test/accuracy", "argmax accuracy on the held-out split", higher="better", judged_against=(TEST_LOSS.name,)
)
BITS_PER_BYTE = Metric("test/bits_per_byte", "held-out cross-entropy in bits per byte of text", higher="worse")
WEIGHT_NORM_TOTAL = Metric("weight_norm/total", "‖θ‖₂ over all parameters", watch=True)
WEIGHT_NORM = Metric("weight_norm/*", "‖θ‖₂ of one parameter tensor")


@probe("behaviour", metrics=(TEST_LOSS, TEST_ACCURACY, BITS_PER_BYTE), needs=Needs(task=True))
def behaviour(ctx: ProbeContext) -> ProbeResult:
    """`test/loss`, `test/accuracy`: the training loss and argmax accuracy on the held-out split.

    For text (`task.bytes_per_token` b > 0), also `test/bits_per_byte` = CE / (ln 2 · b), where
    CE is the mean cross-entropy in nats per scored target — `test/loss` when training uses
    cross-entropy; computed as cross-entropy whatever the training loss, so it stays in bits.
    """
    assert ctx.task is not None and ctx.loss is not None  # Needs(task=True): a built-in run, which has its loss
    logits, _ = ctx.forward("test")
    targets = ctx.task.test.targets
    scalars = {TEST_LOSS.name: float(ctx.loss(logits, targets)), TEST_ACCURACY.name: float(accuracy(logits, targets))}
    if ctx.task.bytes_per_token > 0:
        nats = loss_function("cross_entropy", ctx.task.num_classes)(logits, targets)
        scalars[BITS_PER_BYTE.name] = float(nats) / (math.log(2) * ctx.task.bytes_per_token)
    return ProbeResult(scalars)


def weight_norms(model: torch.nn.Module) -> dict[str, float]:
    """`weight_norm/total` = ‖θ‖₂ over all parameters, and `weight_norm/<param>` per tensor.

    Weight decay drives the norm down through grokking's clean-up (Liu et al. 2023, "Omnigrok").
    """
    norms = {name: torch.linalg.vector_norm(p.detach()).double() for name, p in model.named_parameters()}
    total = torch.stack(list(norms.values())).square().sum().sqrt()
    return {WEIGHT_NORM_TOTAL.name: float(total), **{WEIGHT_NORM.at(name): float(n) for name, n in norms.items()}}


@probe("weight_norm", metrics=(WEIGHT_NORM_TOTAL, WEIGHT_NORM))
def weight_norm(ctx: ProbeContext) -> ProbeResult:
    """The parameter norms of `weight_norms`, as a registered probe."""
    return ProbeResult(weight_norms(ctx.model))

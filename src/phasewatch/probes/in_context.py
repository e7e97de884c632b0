"""Per-position loss and the in-context-learning score (Olsson et al. 2022;
docs/science/metrics.md).

A model that learns in context predicts later tokens better than early ones, because it reads
the context. Olsson et al. take the loss at token 500 minus the loss at token 50 on text; on
repeated segments (tasks/induction.py) the sharp version is the loss on the second occurrence of
a segment minus the loss on its first.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe
from phasewatch.tasks.objective import IGNORE

EDGE = 0.25  # early = the first quarter of scored positions, late = the last quarter
IN_CONTEXT = Metric(
    "in_context/*",
    "held-out loss by where the token sits: icl_score (late − early, or second copy − "
    "first copy), repeat_loss, first_copy_loss, random_loss",
    higher="worse",
)
PER_POSITION_LOSS = "per_position_loss"  # array: the mean held-out loss at each position


def token_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(N, T) cross-entropy of each target, NaN where it is not scored."""
    losses = F.cross_entropy(logits.transpose(1, 2).double(), targets.clamp_min(0), reduction="none")
    return losses.masked_fill(targets == IGNORE, math.nan)


@probe("in_context", metrics=(IN_CONTEXT,), needs=Needs(task=True, sequences=True))
def in_context(ctx: ProbeContext) -> ProbeResult:
    """On the held-out split:
    - `in_context/icl_score` = mean loss at late positions (last quarter of the context) − mean
      loss at early ones (first quarter): negative when context helps;
    - on repeated segments, `in_context/repeat_loss` (second-copy tokens, predictable only by
      copying), `in_context/first_copy_loss`, `in_context/random_loss` (every token that cannot
      be predicted, ≈ log V), and `in_context/icl_score` = repeat_loss − first_copy_loss instead;
    - array `per_position_loss` {"loss": (T,)}, the mean loss at each position."""
    assert ctx.task is not None  # Needs(task=True)
    logits, _ = ctx.forward("test")
    losses = token_losses(logits, ctx.task.test.targets)
    per_position = losses.nanmean(0)
    repeat = getattr(ctx.task, "repeat_mask", None)
    if repeat is not None:
        first = getattr(ctx.task, "first_copy_mask", None)  # with repeat_mask (tasks/induction.py)
        scalars = {
            IN_CONTEXT.at("repeat_loss"): float(losses[repeat].mean()),
            IN_CONTEXT.at("first_copy_loss"): float(losses[first].mean()),
            IN_CONTEXT.at("random_loss"): float(losses[~repeat].nanmean()),
        }
        scalars[IN_CONTEXT.at("icl_score")] = scalars[IN_CONTEXT.at("repeat_loss")] - scalars[IN_CONTEXT.at("first_copy_loss")]
    else:
        scored = per_position[~per_position.isnan()]
        edge = max(1, int(len(scored) * EDGE))
        scalars = {IN_CONTEXT.at("icl_score"): float(scored[-edge:].mean() - scored[:edge].mean())}
    return ProbeResult(scalars, {PER_POSITION_LOSS: {"loss": per_position.float().cpu()}})

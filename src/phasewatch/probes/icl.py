"""In-context vs in-weights learning on in-context classification (tasks/icl.py).

Two held-out sets, each solvable one way only, date the two strategies: in-context accuracy rises
abruptly when an induction-like copying mechanism forms (Reddy 2023), both can coexist under
bursty, skewed training data (Chan et al. 2022), and in-context accuracy can fade again in favour
of in-weights learning with long training (Singh et al. 2023, "transient" ICL).
"""

from __future__ import annotations

from typing import cast

import torch

from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe
from phasewatch.tasks.base import Split
from phasewatch.tasks.icl import ICLTask

IN_CONTEXT_ACCURACY = Metric(
    "icl/in_context_accuracy", "query accuracy where only copying the label from context beats chance", higher="better"
)
IN_WEIGHTS_ACCURACY = Metric(
    "icl/in_weights_accuracy", "query accuracy where only the mapping stored in the weights does", higher="better"
)


def query_accuracy(logits: torch.Tensor, split: Split) -> float:
    """Share of sequences whose argmax (over the whole vocabulary) at the query, the last position,
    is the query's label."""
    return float((logits[:, -1].argmax(-1) == split.targets[:, -1]).float().mean())


@probe("icl", metrics=(IN_CONTEXT_ACCURACY, IN_WEIGHTS_ACCURACY), needs=Needs(task=ICLTask))
def icl(ctx: ProbeContext) -> ProbeResult:
    """Query-label accuracy on the in-context and the in-weights held-out sets.

    With f(x)_{T−1} the logits at the query (the last position) and y the query's label token,
    accuracy = (1/N) Σₙ 1[argmax_v f(xₙ)_{T−1, v} = yₙ] on
    - `icl/in_context_accuracy`: the test set — labels permuted per sequence, the query's class in
      the context — where only copying the label from context beats chance (1/labels);
    - `icl/in_weights_accuracy`: the `in_weights` set — the query's class absent from the context,
      fixed labels — where only the class → label mapping stored in the weights does.
    Papers: Chan et al. 2022 (bursty data, the two strategies), Reddy 2023 (abrupt ICL onset via an
    induction-like head), Singh et al. 2023 (ICL transient, giving way to in-weights learning).
    """
    task = cast(ICLTask, ctx.task)  # Needs(task=ICLTask)
    assert task.in_weights is not None  # the builder sets it
    in_context, _ = ctx.forward("test")
    in_weights, _ = ctx.view.run_with_cache(task.in_weights.inputs, [])  # no activations wanted: no cache
    assert in_weights is not None  # our models return logits
    return ProbeResult(
        {
            IN_CONTEXT_ACCURACY.name: query_accuracy(in_context, task.test),
            IN_WEIGHTS_ACCURACY.name: query_accuracy(in_weights, task.in_weights),
        }
    )

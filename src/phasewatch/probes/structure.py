"""Representation geometry at the model's feature site: the class-mean Gram matrix."""

from __future__ import annotations

from typing import cast

from phasewatch.models.interface import HookedView
from phasewatch.probes import geometry
from phasewatch.probes.registry import Needs, ProbeContext, ProbeResult, probe
from phasewatch.probes.semantic import EFFECTIVE_RANK, ETF_DISTANCE, GRAM


@probe(
    "class_gram",
    metrics=(EFFECTIVE_RANK, ETF_DISTANCE),
    needs=Needs(task=True, capabilities=("feature_site",)),
    sites=lambda ctx: [cast(HookedView, ctx.view).feature_site],
)  # the capability: a HookedView
def class_gram(ctx: ProbeContext) -> ProbeResult:
    """The cosine Gram matrix of the centred class means at the last layer, its effective rank
    (Roy & Vetterli 2007) and its distance from a simplex ETF (Papyan et al. 2020).

    Features are the feature site's activations at the predicting position on the probe set;
    classes are the answers. Array `gram/class_means` (key `gram`); scalars
    `effective_rank/class_means`, `etf_distance/class_means`.
    """
    assert ctx.task is not None  # Needs(task=True)
    _, cache = ctx.forward("probe")
    features = cache[cast(HookedView, ctx.view).feature_site]
    features = features[:, -1] if features.dim() == 3 else features
    means = geometry.class_means(features, ctx.task.probe.targets, ctx.task.num_classes)
    gram = geometry.gram(means, center=True, cosine=True)
    return ProbeResult(
        {
            EFFECTIVE_RANK.at("class_means"): geometry.effective_rank(geometry.centre(means)),
            ETF_DISTANCE.at("class_means"): geometry.etf_distance(means),
        },
        {f"{GRAM}/class_means": {"gram": gram.float().cpu()}},
    )

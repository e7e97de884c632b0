"""Semantic structure and collapse: representations against the task's latent attribute kernel
(Structure Before Collapse, Zhao, Papadimitriou & Thrampoulidis 2026; formulas in
probes/geometry.py and science/metrics.md).

Sites: `features` — the class means of the model's feature site over the probe set, one per
attributed item (for a transformer: the residual stream at each probe row's position, and every
layer's `resid_post` besides); `classifier` — the unembedding rows of the attributed items.
"""
from __future__ import annotations

import torch

from phasewatch.probes import geometry
from phasewatch.probes.registry import ProbeContext, ProbeResult, probe


def _sites(model) -> list[str]:
    blocks = getattr(model, "blocks", [])
    layers = [f"blocks.{i}.resid_post" for i in range(len(blocks) - 1)]  # the last is the feature site
    return [*layers, model.feature_site]


def item_features(ctx: ProbeContext, site: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, item labels) of the probe rows that belong to an attributed item."""
    _, cache = ctx.forward("probe")
    features = cache[site]
    if features.dim() == 3:
        positions = ctx.task.probe_positions
        positions = torch.full((len(features),), features.shape[1] - 1, device=features.device) if positions is None else positions
        features = features[torch.arange(len(features), device=features.device), positions]
    labels = ctx.task.item_labels
    keep = labels >= 0
    return features[keep], labels[keep]


def structure_scalars(vectors: torch.Tensor, kernel: torch.Tensor, site: str) -> dict[str, float]:
    """Alignment, correlation, CKA, ETF distance and effective rank of one set of item vectors."""
    centred = vectors - vectors.mean(0)
    return {
        f"semantic_alignment/{site}": geometry.semantic_alignment(vectors, kernel),
        f"semantic_correlation/{site}": geometry.semantic_correlation(vectors, kernel),
        f"cka/{site}": geometry.cka(centred @ centred.T, kernel),
        f"etf_distance/{site}": geometry.etf_distance(vectors),
        f"effective_rank/{site}": geometry.effective_rank(centred),
    }


@probe("semantic", sites=_sites)
def semantic(ctx: ProbeContext) -> ProbeResult:
    """`semantic_alignment` (the OLS slope of cosine on shared attributes), `semantic_correlation`,
    `cka`, `etf_distance` and `effective_rank` at `features` and `classifier`, plus `nc1/features`
    when items have several probe rows and `nc3/features` (self-duality); arrays `gram/features`
    and `gram/classifier` (cosine Gram of the centred item vectors, items in attribute order)."""
    task, model = ctx.task, ctx.model
    kernel = task.attribute_kernel()
    n_items = len(kernel)
    features, labels = item_features(ctx, model.feature_site)
    means = geometry.class_means(features, labels, n_items)
    classifier = model.unembed.W.T[task.item_ids]
    scalars = {**structure_scalars(means, kernel, "features"), **structure_scalars(classifier, kernel, "classifier")}
    if len(labels) > n_items:
        scalars["nc1/features"] = geometry.nc1(features, labels, n_items)
    scalars["nc3/features"] = geometry.nc3_self_duality(classifier, means)
    for site in _sites(model)[:-1]:
        layer_features, layer_labels = item_features(ctx, site)
        layer_means = geometry.class_means(layer_features, layer_labels, n_items)
        scalars[f"semantic_alignment/{site}"] = geometry.semantic_alignment(layer_means, kernel)
    arrays = {
        "gram/features": {"gram": geometry.gram(means, center=True, cosine=True).float().cpu()},
        "gram/classifier": {"gram": geometry.gram(classifier, center=True, cosine=True).float().cpu()},
    }
    return ProbeResult(scalars, arrays)

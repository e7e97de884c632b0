"""Semantic structure and collapse: representations against the task's latent attribute kernel
(Structure Before Collapse, Zhao, Papadimitriou & Thrampoulidis 2026; formulas in
probes/geometry.py and docs/science/metrics.md).

Sites: `features` — the class means of the model's feature site over the probe set, one per
attributed item (for a transformer: the residual stream at each probe row's position, and every
layer's `resid_post` besides); `classifier` — the unembedding rows of the attributed items.
"""

from __future__ import annotations

from typing import cast

import torch

from phasewatch.models.interface import HookedView
from phasewatch.probes import geometry
from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe

# The representation-geometry families, here and in the probes that share them (structure.py, probe_set.py).
ALIGNMENT = Metric(
    "semantic_alignment/*",
    "OLS slope of the items' cosine similarity on how many attribute values they share (K = A Aᵀ)",
    higher="better",
    rise="crystallisation",
    fall="collapse",
    watch=True,
)
CORRELATION = Metric("semantic_correlation/*", "Pearson r of the items' cosine similarity and K", higher="better")
CKA = Metric("cka/*", "linear CKA of the items' Gram matrix and K", higher="better")
ETF_DISTANCE = Metric("etf_distance/*", "distance of the centred, normalised class means from a simplex ETF", watch=True)
EFFECTIVE_RANK = Metric(
    "effective_rank/*", "effective rank (entropy of the normalised singular values) of the centred representations", watch=True
)
NC1 = Metric("nc1/*", "within-class variability relative to between-class, (1/C) tr(Σ_W Σ_B⁺)", higher="worse", watch=True)
NC3 = Metric("nc3/*", "self-duality: distance between normalised classifier rows and class means", higher="worse")
GRAM = "gram"  # array family: gram/<site>, key "gram", the cosine Gram of the centred class means or items


def judged_by(alignment_metric: str) -> str:
    """The ETF distance recorded beside an alignment metric (same site): what tells a structure
    window's fall toward the ETF from a fall anywhere else (analysis/structure.py)."""
    return ETF_DISTANCE.at(alignment_metric.partition("/")[2])


def _sites(ctx: ProbeContext) -> list[str]:
    if ctx.task is None:
        return []
    layers = ctx.view.block_sites()[:-1]  # the last block is the feature site
    return [*layers, cast(HookedView, ctx.view).feature_site]  # a task's context: a HookedView


def item_features(ctx: ProbeContext, site: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, item labels) of the probe rows that belong to an attributed item."""
    assert ctx.task is not None  # a task's items
    _, cache = ctx.forward("probe")
    features = cache[site]
    if features.dim() == 3:
        positions = ctx.task.probe_positions
        positions = (
            torch.full((len(features),), features.shape[1] - 1, device=features.device) if positions is None else positions
        )
        features = features[torch.arange(len(features), device=features.device), positions]
    labels = ctx.task.item_labels
    keep = labels >= 0
    return features[keep], labels[keep]


def structure_scalars(vectors: torch.Tensor, kernel: torch.Tensor, site: str) -> dict[str, float]:
    """Alignment, correlation, CKA, ETF distance and effective rank of one set of item vectors."""
    centred = geometry.centre(vectors)  # an item absent from the probe set stays NaN and is left out below
    keep = geometry.present(centred)
    return {
        ALIGNMENT.at(site): geometry.semantic_alignment(vectors, kernel),
        CORRELATION.at(site): geometry.semantic_correlation(vectors, kernel),
        CKA.at(site): geometry.cka(centred[keep] @ centred[keep].T, kernel[keep][:, keep]),
        ETF_DISTANCE.at(site): geometry.etf_distance(vectors),
        EFFECTIVE_RANK.at(site): geometry.effective_rank(centred),
    }


@probe(
    "semantic",
    metrics=(ALIGNMENT, CORRELATION, CKA, ETF_DISTANCE, EFFECTIVE_RANK, NC1, NC3),
    needs=Needs(attributes=True),
    sites=_sites,
)
def semantic(ctx: ProbeContext) -> ProbeResult:
    """Representations against the latent attribute kernel K = A Aᵀ.

    On a built-in task (needs the model's feature site and unembedding): `semantic_alignment`
    (the OLS slope of cosine on shared attributes), `semantic_correlation`, `cka`, `etf_distance`
    and `effective_rank` at `features` and `classifier`, plus `nc1/features` when items have
    several probe rows and `nc3/features` (self-duality), and `semantic_alignment/<layer>` for the
    earlier layers; arrays `gram/features` and `gram/classifier` (cosine Gram of the centred item
    vectors, items in attribute order).

    On a watched model's probe data with attributes: `semantic_alignment/<site>` and
    `semantic_correlation/<site>` of each item's representation at each site, against the items'
    own K = A Aᵀ.
    """
    if ctx.task is None:
        kernel = ctx.data.attribute_kernel()
        scalars = {}
        for site, h in ctx.probe_pass().features.items():
            scalars[ALIGNMENT.at(site)] = geometry.semantic_alignment(h, kernel)
            scalars[CORRELATION.at(site)] = geometry.semantic_correlation(h, kernel)
        return ProbeResult(scalars)
    task, view = ctx.task, cast(HookedView, ctx.view)  # a task's context: a HookedView
    kernel = task.attribute_kernel()
    assert kernel is not None  # Needs(attributes=True)
    n_items = len(kernel)
    features, labels = item_features(ctx, view.feature_site)
    means = geometry.class_means(features, labels, n_items)
    classifier = view.unembedding().T[task.item_ids]
    scalars = {**structure_scalars(means, kernel, "features"), **structure_scalars(classifier, kernel, "classifier")}
    if len(labels) > n_items:
        scalars[NC1.at("features")] = geometry.nc1(features, labels, n_items)
    scalars[NC3.at("features")] = geometry.nc3_self_duality(classifier, means)
    for site in _sites(ctx)[:-1]:
        layer_features, layer_labels = item_features(ctx, site)
        layer_means = geometry.class_means(layer_features, layer_labels, n_items)
        scalars[ALIGNMENT.at(site)] = geometry.semantic_alignment(layer_means, kernel)
    arrays = {
        f"{GRAM}/features": {"gram": geometry.gram(means, center=True, cosine=True).float().cpu()},
        f"{GRAM}/classifier": {"gram": geometry.gram(classifier, center=True, cosine=True).float().cpu()},
    }
    return ProbeResult(scalars, arrays)

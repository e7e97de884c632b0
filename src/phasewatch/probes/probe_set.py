"""Probes of a watched model on the user's probe set (`integrations.probe_data.ProbeData`).

They read one shared pass over the probe items (`ProbeContext.probe_pass`): h_i, the
representation of item i at each site (`models.hooks.representation`: a block's output at the
last position), and each item's loss. Formulas are those of `probes/geometry.py`.

  probe/loss              mean cross-entropy on the probe set: next-token loss over every position
                          for a causal LM (logits (N, T, V) on token ids (N, T)), else the class
                          loss against the labels (logits (N, C)); absent otherwise
  position_loss/K         causal LMs: mean loss of the prediction made at position K (of token K+1)
  effective_rank/SITE     effective rank (Roy & Vetterli 2007) of the centred h_i, (N × d)
  etf_distance/SITE       labels: ETF distance of the class means (Papyan, Han & Donoho 2020)
  nc1/SITE                labels: NC1 = (1/C) tr(Σ_W Σ_B⁺) (Papyan et al. 2020)
  gram/SITE (array)       labels: cosine Gram of the centred class means, key `gram`
"""

from __future__ import annotations

from phasewatch.probes import geometry
from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe
from phasewatch.probes.semantic import EFFECTIVE_RANK, ETF_DISTANCE, GRAM, NC1

PROBE_LOSS = Metric("probe/loss", "mean cross-entropy on the probe set", higher="worse", watch=True)
POSITION_LOSS = Metric("position_loss/*", "mean loss of the prediction made at position K", higher="worse")


@probe("loss", metrics=(PROBE_LOSS, POSITION_LOSS), needs=Needs(probe_data=True))
def loss(ctx: ProbeContext) -> ProbeResult:
    """`probe/loss` and, for a causal LM, `position_loss/K` (module docstring)."""
    losses = ctx.probe_pass().losses  # (N, T − 1) or (N, 1)
    if losses is None:
        return ProbeResult()
    scalars = {PROBE_LOSS.name: losses.mean().item()}
    if losses.shape[1] > 1:  # a causal LM: one column per predicting position
        width = len(str(losses.shape[1] - 1))
        scalars.update({POSITION_LOSS.at(f"{k:0{width}d}"): v for k, v in enumerate(losses.mean(0).tolist())})
    return ProbeResult(scalars)


@probe("effective_rank", metrics=(EFFECTIVE_RANK,), needs=Needs(probe_data=True))
def effective_rank(ctx: ProbeContext) -> ProbeResult:
    """`effective_rank/<site>` of the centred representations of the probe items."""
    scalars = {}
    for site, h in ctx.probe_pass().features.items():
        h64 = h.double()
        scalars[EFFECTIVE_RANK.at(site)] = geometry.effective_rank(h64 - h64.mean(0))
    return ProbeResult(scalars)


@probe("collapse", metrics=(ETF_DISTANCE, NC1), needs=Needs(probe_data=True, labels=True))
def collapse(ctx: ProbeContext) -> ProbeResult:
    """`etf_distance/<site>`, `nc1/<site>` and array `gram/<site>` of the labelled probe items."""
    result = ProbeResult()
    data = ctx.data
    for site, h in ctx.probe_pass().features.items():
        labels = data.labels.to(h.device)
        means = geometry.class_means(h, labels, data.num_classes)
        result.scalars[ETF_DISTANCE.at(site)] = geometry.etf_distance(means)
        result.scalars[NC1.at(site)] = geometry.nc1(h, labels, data.num_classes)
        result.arrays[f"{GRAM}/{site}"] = {"gram": geometry.gram(means, center=True, cosine=True).float().cpu()}
    return result

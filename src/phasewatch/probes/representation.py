"""What each layer's residual stream knows about the latent attributes: closed-form ridge probes
(Alain & Bengio 2016, linear classifier probes; docs/science/language.md).

For each layer l and each attribute factor f of the task (`task.factors`, e.g. animacy, size,
rigidity, number), a ridge regression from the residual stream at the probe rows' positions (for
a generated language: the position that predicts the object noun) to the one-hot value of f for
that row's item, fitted on the even probe rows and scored on the odd ones:
    W = (XᵀX + λI)⁻¹ XᵀY,  X centred by the fitting rows' mean, λ = 10⁻² · tr(XᵀX) / d,
accuracy = share of scored rows with argmax(X W) = the true value. No inner training loop, so it
costs one d × d solve per layer.
"""

from __future__ import annotations

import torch

from phasewatch.probes import geometry
from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe
from phasewatch.probes.semantic import item_features

RIDGE = 1e-2
ATTRIBUTE_PROBE = Metric(
    "attribute_probe/*",
    "held-out ridge-probe accuracy of an attribute factor from a "
    "layer's residual stream (<factor>/L<l>; mean/L<l> over factors; mean: the last layer)",
    higher="better",
    panel="language",
    label="attribute probe",
)


def ridge_accuracy(features: torch.Tensor, values: torch.Tensor, classes: int) -> float:
    """Held-out accuracy of a ridge probe from `features` (N, d) to `values` (N,) in [0, classes):
    fitted on the even rows, scored on the odd rows."""
    x = features.double()
    fit, held_out = x[0::2], x[1::2]
    mean = fit.mean(0)
    fit, held_out = fit - mean, held_out - mean
    weights = geometry.ridge(fit, torch.nn.functional.one_hot(values[0::2], classes).double(), RIDGE)
    return float(((held_out @ weights).argmax(-1) == values[1::2]).double().mean())


@probe(
    "representation",
    metrics=(ATTRIBUTE_PROBE,),
    needs=Needs(task=True, attributes=True),
    sites=lambda ctx: ctx.view.block_sites(),
)
def representation(ctx: ProbeContext) -> ProbeResult:
    """`attribute_probe/<factor>/L<l>`: ridge-probe accuracy of each attribute factor from layer l's
    residual stream; `attribute_probe/mean/L<l>` their mean, and `attribute_probe/mean` that of the
    last layer."""
    task = ctx.task
    assert task is not None and task.attributes is not None  # Needs(task=True, attributes=True)
    if not task.factors:
        raise TypeError("the representation probe needs a task with attribute factors (task.factors)")
    scalars: dict[str, float] = {}
    for layer, site in enumerate(ctx.view.block_sites()):
        features, labels = item_features(ctx, site)
        attributes = task.attributes[labels]
        accuracies, start = [], 0
        for name, size in task.factors:
            values = attributes[:, start : start + size].argmax(-1)
            accuracies.append(ridge_accuracy(features, values, size))
            scalars[ATTRIBUTE_PROBE.at(name, f"L{layer}")] = accuracies[-1]
            start += size
        scalars[ATTRIBUTE_PROBE.at("mean", f"L{layer}")] = sum(accuracies) / len(accuracies)
    scalars[ATTRIBUTE_PROBE.at("mean")] = scalars[ATTRIBUTE_PROBE.at("mean", f"L{layer}")]
    return ProbeResult(scalars)

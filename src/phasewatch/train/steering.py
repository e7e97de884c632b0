"""Steering along probe directions at peak structure (docs/science/structure_before_collapse.md,
"Keeping the structure").

At the kept peak (`interventions.keep_peak`), fit one direction per attribute value with a
linear probe — closed-form ridge regression of the centred value indicator on the centred
features, w = (XᵀX + λI)⁻¹ Xᵀ y (Hoerl & Kennard 1970) — then add α·ŵ·rms(X) to the feature of
every probe row whose item lacks that value, and measure the probability mass the model puts on
items that have it: shift(α) = mean over rows and values of mass(α) − mass(0). Steering in the
sense of activation addition (Turner et al. 2023), with the probe's direction.
"""

from __future__ import annotations

import numpy as np
import torch

from phasewatch.config import validate
from phasewatch.errors import UserError
from phasewatch.models import build_model
from phasewatch.probes import ProbeContext, geometry
from phasewatch.probes.semantic import item_features
from phasewatch.probes.training import KEEP_PEAK, KEEP_PEAK_STATE
from phasewatch.tasks import build_task
from phasewatch.tasks.objective import loss_function


def ridge_directions(features: torch.Tensor, attributes: torch.Tensor, ridge: float = 1e-3) -> torch.Tensor:
    """Unit directions (values × d): the ridge probe of each attribute value's indicator."""
    x = features.double() - features.double().mean(0)
    y = attributes.double() - attributes.double().mean(0)
    w = geometry.ridge(x, y, ridge).T
    return w / w.norm(dim=1, keepdim=True).clamp(min=1e-12)


def peak_model(run) -> tuple[torch.nn.Module, object, int]:
    """The model at the kept peak of `run` (its checkpoints tagged `keep_peak`), its task and the step."""
    steps = run.checkpoint_steps(KEEP_PEAK_STATE)
    if not steps:
        raise UserError(f"steering: run {run.id!r} kept no peak (set interventions.keep_peak)")
    decided = run.metric(KEEP_PEAK.at("step"))[1] if KEEP_PEAK.at("step") in run.metric_names() else []
    step = int(decided[-1]) if len(decided) else steps[-1]
    config = validate(run.config)
    task = build_task(config.task, config.seed)
    model = build_model(config.model, task)
    model.load_state_dict(run.load_checkpoint(step, KEEP_PEAK_STATE)[0])
    return model.eval(), task, step


@torch.no_grad()
def steering_curve(model: torch.nn.Module, task, alphas: list[float]) -> list[dict]:
    """Mass shift toward the steered attribute value, per α (averaged over values and rows)."""
    context = ProbeContext.of_task(model, task, loss_function("cross_entropy", task.num_classes))
    feature_site: str = model.feature_site  # type: ignore[assignment]  # torch types a module attribute Tensor | Module
    context.reset([feature_site])
    features, labels = item_features(context, feature_site)
    attributes = task.attributes.to(features.device)
    directions = ridge_directions(features, attributes[labels]).to(features.dtype)
    rms = features.pow(2).sum(1).mean().sqrt()
    keep = task.item_labels >= 0
    inputs = task.probe.inputs[keep]
    positions = None if task.probe_positions is None else task.probe_positions[keep]
    site = dict(model.named_modules())[feature_site]
    items = task.item_ids.to(features.device)

    def mass(value: int, rows: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """Mean probability on items with `value` over `rows`, with `delta` added at the feature site."""
        handle = site.register_forward_hook(lambda module, args, out: out + delta)
        try:
            probabilities = model(inputs[rows]).softmax(-1)
        finally:
            handle.remove()
        if probabilities.dim() == 3:  # a language model: read the row's probe position
            at = positions[rows] if positions is not None else torch.full((len(probabilities),), -1)
            probabilities = probabilities[torch.arange(len(probabilities)), at]
        return probabilities[:, items[attributes[:, value] > 0]].sum(-1).mean()

    # Each value's unsteered mass is measured once and shared by every α.
    values = [(v, rows) for v in range(attributes.shape[1]) if (rows := attributes[labels, v] == 0).any()]
    base = [mass(v, rows, torch.zeros_like(directions[v])) for v, rows in values]
    return [
        {
            "alpha": alpha,
            "mass_shift": float(
                np.mean(
                    [float(mass(v, rows, alpha * rms * directions[v]) - unsteered) for (v, rows), unsteered in zip(values, base)]
                )
            ),
        }
        for alpha in alphas
    ]

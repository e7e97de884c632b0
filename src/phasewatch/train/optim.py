"""The optimiser: AdamW or SGD, with the weight decay split between a model's pathways."""

from __future__ import annotations

import torch

from phasewatch.models import shared_parameter_names


def build_optimizer(model: torch.nn.Module, settings) -> torch.optim.Optimizer:
    """AdamW or SGD; the model's shared pathway gets weight decay × `decay_ratio`."""
    shared = set(shared_parameter_names(model))
    groups = [
        {"params": [p for n, p in model.named_parameters() if n not in shared], "weight_decay": settings.weight_decay},
        {
            "params": [p for n, p in model.named_parameters() if n in shared],
            "weight_decay": settings.weight_decay * settings.decay_ratio,
        },
    ]
    groups = [g for g in groups if g["params"]]
    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum)
    return torch.optim.AdamW(groups, lr=settings.lr, betas=settings.betas)

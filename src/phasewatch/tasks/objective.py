"""What training minimises and how a prediction is scored, for class targets (N,) and next-token targets
(N, T) alike (−100 marks positions that are not scored)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

IGNORE = -100

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def loss_function(kind: str, num_classes: int) -> Loss:
    """Cross-entropy, or the MSE to one-hot targets used by the quadratic MLP (Gromov 2023). Both
    batch under vmap (an ensemble's members, the LLC's chains): the one-hot targets are a
    comparison, as F.one_hot's range check is a data-dependent branch vmap refuses."""
    if kind == "mse":
        return lambda logits, targets: F.mse_loss(
            logits, (targets[..., None] == torch.arange(num_classes, device=targets.device)).to(logits.dtype)
        )
    return lambda logits, targets: F.cross_entropy(logits.flatten(0, -2), targets.flatten(), ignore_index=IGNORE)


def accuracy(logits: torch.Tensor, targets: torch.Tensor, keep: int = 0) -> torch.Tensor:
    """Share of scored positions whose argmax is the target, on the device: a 0-d tensor, or one
    value per index of the `keep` leading dims (an ensemble's member axis: `keep=1`)."""
    scored = targets != IGNORE
    # max().indices is argmax (the first maximum) at half its cost on the CPU
    hits = (logits.max(-1).indices == targets) & scored
    dims = tuple(range(keep, targets.dim()))
    if not dims:  # sum(()) would reduce every dim
        return hits / scored.clamp(min=1)
    return hits.sum(dims) / scored.sum(dims).clamp(min=1)

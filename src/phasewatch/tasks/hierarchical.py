"""Setting 1 of Structure Before Collapse: hierarchical classification with latent attributes.

Class centroid μ_c = Σ_f P_f[a_cf] + τ·u_c (attribute prototypes P_f plus a class-specific
direction u_c); samples x = μ_c + σ ε / √D. Labels are one-hot classes; the attributes are latent.
With `separate=True` (the split-decay form) the u_c are orthonormal in the first C coordinates
and the prototypes live in the remaining D − C, so a model can read the two through separate
weights (`item_dims` = C); the prototypes are then N(0, 1/(D − C)) per coordinate (norm ≈ 1,
the spec's; `prototype_scale = "full"`: N(0, 1/D), norm ≈ √((D − C)/D)). Otherwise both are
N(0, I/D) directions in all D coordinates.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
from pydantic import Field, PositiveInt

from phasewatch.tasks.attributes import combinations, one_hot_attributes
from phasewatch.tasks.base import Split, Task, TaskConfig


def hierarchical_task(
    factor_sizes: tuple[int, ...],
    classes_per_combination: int,
    samples_per_class: int,
    dim: int,
    class_scale: float,
    noise: float,
    separate: bool,
    seed: int,
    prototype_scale: str = "subspace",
) -> Task:
    generator = torch.Generator().manual_seed(seed)
    values = combinations(factor_sizes).repeat_interleave(classes_per_combination, dim=0)
    attributes = one_hot_attributes(values, factor_sizes)
    n_classes, n_values = attributes.shape
    if separate:
        if dim < n_classes + n_values:
            raise ValueError(f"dim {dim} < classes + attribute values ({n_classes + n_values})")
        class_directions = torch.eye(n_classes, dim)
        prototypes = torch.zeros(n_values, dim)
        spread = dim - n_classes if prototype_scale == "subspace" else dim
        prototypes[:, n_classes:] = torch.randn(n_values, dim - n_classes, generator=generator) / math.sqrt(spread)
    else:
        class_directions = torch.randn(n_classes, dim, generator=generator) / math.sqrt(dim)
        prototypes = torch.randn(n_values, dim, generator=generator) / math.sqrt(dim)
    centroids = attributes @ prototypes + class_scale * class_directions

    def sample() -> Split:
        labels = torch.arange(n_classes).repeat_interleave(samples_per_class)
        inputs = centroids[labels] + noise * torch.randn(len(labels), dim, generator=generator) / math.sqrt(dim)
        return Split(inputs, labels)

    train, test = sample(), sample()
    return Task(
        name=f"hierarchical(factors={list(factor_sizes)}, classes={n_classes}, D={dim})",
        vocab_size=0,
        seq_len=0,
        num_classes=n_classes,
        train=train,
        test=test,
        probe=train,
        attributes=attributes,
        item_dims=n_classes if separate else 0,
    )


class HierarchicalTaskConfig(TaskConfig):
    """Setting 1: Gaussian classes whose centroids sum attribute prototypes and a class direction."""

    name: Literal["hierarchical"] = "hierarchical"
    factor_sizes: list[PositiveInt] = Field([2, 3, 2], min_length=1)
    classes_per_combination: int = Field(4, ge=1)
    samples_per_class: int = Field(20, ge=1)
    dim: int = Field(64, ge=2)
    class_scale: float = Field(2.0, ge=0, description="τ, the weight of the class-specific direction")
    noise: float = Field(0.5, ge=0, description="σ")
    separate: bool = Field(True, description="class directions and attribute prototypes in separate coordinates")
    prototype_scale: Literal["subspace", "full"] = Field(
        "subspace", description="separate: prototypes N(0, 1/(D − C)) per coordinate (the spec's) or N(0, 1/D)"
    )

    builder: ClassVar = staticmethod(hierarchical_task)

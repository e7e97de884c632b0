"""Latent attribute structure shared by the Structure-Before-Collapse settings.

Items carry k latent factors with a few values each, e.g. sizes (2, 3, 2): 12 combinations,
`items_per_combination` items on each. The attribute matrix A (items × Σ sizes) is one-hot per
factor; K = A Aᵀ counts the attribute values two items share
(docs/science/structure_before_collapse.md).
Items are numbered combination-major, so sorting by item id groups them by attribute.
"""
from __future__ import annotations

import itertools

import torch


def combinations(factor_sizes: tuple[int, ...]) -> torch.Tensor:
    """Every combination of factor values, (Π sizes, k), in lexicographic order."""
    return torch.tensor(list(itertools.product(*(range(size) for size in factor_sizes))))


def one_hot_attributes(values: torch.Tensor, factor_sizes: tuple[int, ...]) -> torch.Tensor:
    """Rows of factor values (n, k) → the one-hot attribute matrix (n, Σ sizes), float32."""
    blocks = [torch.nn.functional.one_hot(values[:, f], size) for f, size in enumerate(factor_sizes)]
    return torch.cat(blocks, dim=1).float()


def item_attributes(factor_sizes: tuple[int, ...], items_per_combination: int) -> torch.Tensor:
    """A for N = Π sizes × m items: item i has combination i // m."""
    return one_hot_attributes(combinations(factor_sizes), factor_sizes).repeat_interleave(items_per_combination, dim=0)

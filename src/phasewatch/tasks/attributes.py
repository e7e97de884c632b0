"""Latent attribute structure shared by the Structure-Before-Collapse settings.

Items carry k latent factors with a few values each, e.g. sizes (2, 3, 2): 12 combinations,
`items_per_combination` items on each. The attribute matrix A (items × Σ sizes) is one-hot per
factor; K = A Aᵀ counts the attribute values two items share
(docs/science/structure_before_collapse.md).
Items are numbered combination-major, so sorting by item id groups them by attribute.
"""

from __future__ import annotations

import itertools

import numpy as np
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


def attribute_groups(attributes: torch.Tensor, factor_sizes: list[int] | None = None) -> list[tuple[int, int, str, int]] | None:
    """Runs of items sharing an attribute combination, from the attribute matrix A (items × Σ
    sizes): (first row, end row, label, level) with the label the factor values ("0·2·1") and the
    level the first factor that changed from the previous group. None when the items are not in
    attribute order. Saved with a run, so a report can order a Gram matrix's items without the task."""
    hot = [tuple(np.flatnonzero(row)) for row in attributes.cpu().numpy()]  # one column per factor, in factor order
    starts = [0, *(k for k in range(1, len(hot)) if hot[k] != hot[k - 1])]
    if len(starts) != len(set(hot)):
        return None  # a combination recurs after others: the items are not grouped by attribute
    offsets = list(np.cumsum([0, *factor_sizes[:-1]])) if factor_sizes and sum(factor_sizes) == attributes.shape[1] else None
    groups = []
    for i, first in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(hot)
        values = hot[first] if offsets is None or len(offsets) != len(hot[first]) else np.subtract(hot[first], offsets)
        previous = hot[starts[i - 1]] if i else hot[first]
        level = next((f for f, (a, b) in enumerate(zip(hot[first], previous)) if a != b), 0)
        groups.append((first, end, "·".join(str(int(v)) for v in values), level))
    return groups

"""One class per item: the task of the unconstrained-features model (Mixon et al. 2020; the
attribute-coupled UFM of docs/science/structure_before_collapse.md).

The input is the item's id and its target is the same id: every item has its own one-hot label,
while its latent attributes are known. Train, test and probe sets are all the N items.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field, PositiveInt

from phasewatch.tasks.attributes import item_attributes
from phasewatch.tasks.base import Split, Task, TaskConfig


def items_task(factor_sizes: tuple[int, ...], items_per_combination: int) -> Task:
    attributes = item_attributes(factor_sizes, items_per_combination)
    n = len(attributes)
    everything = Split(torch.arange(n)[:, None], torch.arange(n))
    return Task(
        name=f"items(factors={list(factor_sizes)}, m={items_per_combination})",
        vocab_size=n,
        seq_len=1,
        num_classes=n,
        train=everything,
        test=everything,
        probe=everything,
        attributes=attributes,
    )


class ItemsTaskConfig(TaskConfig):
    """One class per item with latent attributes: the task of the unconstrained-features model."""

    name: Literal["items"] = "items"
    factor_sizes: list[PositiveInt] = Field([2, 3, 2], min_length=1)
    items_per_combination: int = Field(4, ge=1)

    builder: ClassVar = staticmethod(items_task)
    seeded: ClassVar[bool] = False

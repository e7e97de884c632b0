"""The unconstrained-features model (Mixon et al. 2020; Zhu et al. 2021) and its
attribute-coupled form (docs/science/structure_before_collapse.md).

Plain UFM: each item i has a free feature vector h_i (the rows of `item_embed.W`); logits are
h_i W_U. Its regularised minimisers are simplex ETFs. Coupled UFM: h_i = B a_i + F_i, where
B (`attribute_embed.W`, one row per attribute value) is shared by every item carrying that value.
With weight decay λ_B on B and λ_F on F, eliminating B gives the regulariser
λ_F tr(H (I + K/r)⁻¹ Hᵀ), r = λ_B/λ_F: attribute-aligned directions are cheaper, and B's gradient
sums over all items sharing a value, so shared directions grow ≈ (1 + eig K) times faster.
`shared_parameters` names B, so `train.decay_ratio` is r.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from phasewatch.errors import UserError
from phasewatch.models.base import ModelConfig
from phasewatch.models.hooks import Hookable, HookPoint, Weight
from phasewatch.tasks.base import Task


class UFM(Hookable):
    attributes: torch.Tensor  # a buffer: (items × attribute values)

    def __init__(self, attributes: torch.Tensor, d_model: int = 64, init: float = 1e-3, plain: bool = False):
        super().__init__()
        n_items, n_values = attributes.shape
        self.register_buffer("attributes", attributes.float(), persistent=False)
        self.item_embed = Weight(torch.randn(n_items, d_model) * init)
        self.attribute_embed = None
        if not plain:  # B starts at zero: structure must be learned, not inherited from the init
            self.attribute_embed = Weight(torch.zeros(n_values, d_model))
        self.unembed = Weight(torch.randn(d_model, n_items) * init)
        self.features = HookPoint()
        self.feature_site = "features"
        self.shared_parameters = [] if plain else ["attribute_embed."]

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        items = items[:, 0]
        h = self.item_embed.W[items]
        if self.attribute_embed is not None:
            h = h + self.attributes[items] @ self.attribute_embed.W
        return self.features(h) @ self.unembed.W


class UFMConfig(ModelConfig):
    name: Literal["ufm"] = "ufm"
    d_model: int = Field(64, ge=1)
    init: float = Field(1e-3, gt=0, description="std of the free features and classifier at step 0")
    plain: bool = Field(False, description="no shared attribute embeddings (the standard UFM)")

    def build(self, task: Task) -> UFM:
        if task.attributes is None:
            raise UserError(f"model.name: 'ufm' is not allowed for task {task.name!r} (the UFM needs items with attributes)")
        return UFM(task.attributes, **self.settings())

"""A ReLU MLP classifier with an optional per-item pathway (docs/science/structure_before_collapse.md,
settings 1 and 2): the network analogue of the attribute-coupled UFM.

Input: token ids (each position embedded by `embed.W`, concatenated) or real vectors. Hidden:
`depth` ReLU layers of `width`. The per-item pathway, whose weight decay `train.decay_ratio`
times weaker than the shared one makes structure transient:
- `item_pathway = "input"`: the first layer is split; `item_in` reads the task's leading
  `item_dims` input coordinates (the class directions), `layers.0` the rest (the attributes).
  With `split_init = "joint"` (the spec's) the two start as one D-input layer would: each at its
  default init × √(its fan-in / D), i.e. U(±1/√D); "own" leaves each at its own fan-in default.
- `item_pathway = "context"`: a learned embedding per context (`item_embed.W`, initialised
  × 0.01), added to the last hidden layer: a parameter private to each input.
Features (`features`) are the last hidden layer; `unembed.W` maps them to classes, bias-free.
`init_scale` multiplies every parameter at init (setting 2's 0.3: it sets the initial alignment,
docs/science/structure_before_collapse.md).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from phasewatch.models.base import ModelConfig
from phasewatch.models.hooks import Hookable, HookPoint, Weight
from phasewatch.tasks.base import Task


class FeatureMLP(Hookable):
    def __init__(
        self,
        vocab_size: int,
        seq_len: int,
        input_dim: int,
        num_classes: int,
        item_dims: int = 0,
        d_embed: int = 32,
        width: int = 128,
        depth: int = 2,
        item_pathway: str = "none",
        init_scale: float = 1.0,
        split_init: str = "joint",
    ):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = None
        if vocab_size:  # token inputs
            self.embed = Weight(torch.randn(vocab_size, d_embed))
            input_dim = seq_len * d_embed
        self.item_dims = item_dims if item_pathway == "input" else 0
        if item_pathway == "input" and not item_dims:
            raise ValueError("item_pathway 'input' needs a task whose inputs name the item (item_dims > 0)")
        sizes = [input_dim - self.item_dims] + [width] * depth
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.item_in = nn.Linear(self.item_dims, width, bias=False) if self.item_dims else None
        self.item_embed = None
        if item_pathway == "context":
            self.item_embed = Weight(torch.randn(vocab_size**seq_len, width) * 0.01)
        self.unembed = Weight(nn.Linear(width, num_classes, bias=False).weight.detach().T.contiguous())
        self.features = HookPoint()
        self.feature_site = "features"
        item = {"item_in.", "item_embed.", "unembed."}
        self.shared_parameters = [name for name, _ in self.named_parameters() if not any(name.startswith(p) for p in item)]
        with torch.no_grad():
            if self.item_in is not None and split_init == "joint":
                total = input_dim
                for parameter in self.layers[0].parameters():
                    parameter.mul_(math.sqrt((total - self.item_dims) / total))
                self.item_in.weight.mul_(math.sqrt(self.item_dims / total))
            for parameter in self.parameters():
                parameter.mul_(init_scale)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = F.embedding(inputs, self.embed.W).flatten(1) if self.embed is not None else inputs
        shared_input = x[:, self.item_dims :]
        h = self.layers[0](shared_input)
        if self.item_in is not None:
            h = h + self.item_in(x[:, : self.item_dims])
        for layer in self.layers[1:]:
            h = layer(F.relu(h))
        h = F.relu(h)
        if self.item_embed is not None:
            h = h + F.embedding(self._context_ids(inputs), self.item_embed.W)
        return self.features(h) @ self.unembed.W

    def _context_ids(self, tokens: torch.Tensor) -> torch.Tensor:
        """A unique id per token sequence (mixed radix over the vocabulary)."""
        radix = self.vocab_size ** torch.arange(tokens.shape[1], device=tokens.device)
        return (tokens * radix).sum(1)


class FeatureMLPConfig(ModelConfig):
    name: Literal["feature_mlp"] = "feature_mlp"
    d_embed: int = Field(32, ge=1, description="per-token embedding width (token inputs)")
    width: int = Field(128, ge=1)
    depth: int = Field(2, ge=1)
    item_pathway: Literal["none", "input", "context"] = "none"
    init_scale: float = Field(1.0, gt=0, description="multiplies every parameter's default init")
    split_init: Literal["joint", "own"] = Field(
        "joint", description="item_pathway 'input': init the split layer as one D-input layer"
    )

    def build(self, task: Task) -> FeatureMLP:
        input_dim = 0 if task.vocab_size else task.train.inputs.shape[1]
        return FeatureMLP(task.vocab_size, task.seq_len, input_dim, task.num_classes, task.item_dims, **self.settings())

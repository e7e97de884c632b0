"""The fast grokking MLP (Gromov 2023; Doshi et al. 2024): one-hot a ⊕ one-hot b → x² → logits."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from phasewatch.models.base import ModelConfig
from phasewatch.models.hooks import Hookable, HookPoint, Weight
from phasewatch.tasks.base import Task


class QuadraticMLP(Hookable):
    """h = (E_a[a] + E_b[b])², logits = h W_U. `embed.W` holds both operands' input weights
    (rows 0..p−1 for a, p..2p−1 for b), so the Fourier probes read it like a token embedding."""

    def __init__(self, num_operands: int, num_classes: int, width: int = 512):
        super().__init__()
        self.num_operands = num_operands
        self.embed = Weight(torch.randn(2 * num_operands, width) / math.sqrt(2 * num_operands))
        self.hidden = HookPoint()
        self.unembed = Weight(torch.randn(width, num_classes) / math.sqrt(width))
        self.feature_site = "hidden"
        self.neuron_site = "hidden"  # read out linearly by the unembedding

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        a, b = tokens[:, 0], tokens[:, 1] + self.num_operands
        pre = F.embedding(a, self.embed.W) + F.embedding(b, self.embed.W)
        return self.hidden(pre.square()) @ self.unembed.W

    def token_embedding(self, num_tokens: int) -> torch.Tensor:
        return self.embed.W[:num_tokens]


class MLPConfig(ModelConfig):
    name: Literal["mlp"] = "mlp"
    width: int = Field(512, ge=1)

    def build(self, task: Task) -> QuadraticMLP:
        return QuadraticMLP(task.vocab_size - 1, task.num_classes, **self.settings())

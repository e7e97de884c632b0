"""A minimal GPT-style decoder whose activations have stable names.

Names follow TransformerLens: `embed.W`, `pos_embed.W`, `blocks.0.attn.W_Q`,
`blocks.0.attn.pattern`, `blocks.0.mlp.post`, `blocks.0.resid_post`, `unembed.W`.
The model predicts one class from the last position (`last_only=True`, the default): the last
block then computes queries and the MLP for that position alone, which is exact for a causal
model and ≈ 3× cheaper on the 3-token grokking task.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from phasewatch.models.base import ModelConfig
from phasewatch.models.hooks import Hookable, HookPoint
from phasewatch.tasks.base import Task


def _normal(*shape: int, std: float) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape) * std)


class Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_head: int):
        super().__init__()
        std = 1 / math.sqrt(d_model)  # Nanda et al. 2023: N(0, 1/d_model) for every weight
        self.n_heads, self.d_head = n_heads, d_head
        self.W_Q = _normal(d_model, n_heads * d_head, std=std)
        self.W_K = _normal(d_model, n_heads * d_head, std=std)
        self.W_V = _normal(d_model, n_heads * d_head, std=std)
        self.W_O = _normal(n_heads * d_head, d_model, std=std)
        self.pattern = HookPoint()

    def forward(self, queries_from: torch.Tensor, keys_from: torch.Tensor) -> torch.Tensor:
        batch, n_q, _ = queries_from.shape
        n_k = keys_from.shape[1]

        def heads(x: torch.Tensor, n: int) -> torch.Tensor:
            return x.view(batch, n, self.n_heads, self.d_head).transpose(1, 2)

        q = heads(queries_from @ self.W_Q, n_q)
        k = heads(keys_from @ self.W_K, n_k)
        v = heads(keys_from @ self.W_V, n_k)
        if n_q == 1:
            # One query per sequence: a broadcast multiply beats thousands of tiny batched matmuls
            # (bmm was 16 % of a grokking step on CPU), and the last position sees every key.
            pattern = self.pattern((q * k).sum(-1, keepdim=True).transpose(-1, -2).div(math.sqrt(self.d_head)).softmax(-1))
            z = (pattern.transpose(-1, -2) * v).sum(-2, keepdim=True)
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
            # Queries are the last n_q positions: query i may see keys up to n_k − n_q + i.
            causal = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril(n_k - n_q)
            pattern = self.pattern(scores.masked_fill(~causal, float("-inf")).softmax(-1))
            z = pattern @ v
        return z.transpose(1, 2).reshape(batch, n_q, -1) @ self.W_O


class MLP(nn.Module):
    def __init__(self, d_model: int, d_mlp: int):
        super().__init__()
        std = 1 / math.sqrt(d_model)
        self.W_in = _normal(d_model, d_mlp, std=std)
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = _normal(d_mlp, d_model, std=std)
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(F.relu(x @ self.W_in + self.b_in)) @ self.W_out + self.b_out


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_head: int, d_mlp: int, layernorm: bool):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model) if layernorm else nn.Identity()
        self.attn = Attention(d_model, n_heads, d_head)
        self.ln2 = nn.LayerNorm(d_model) if layernorm and d_mlp else nn.Identity()
        self.mlp = MLP(d_model, d_mlp) if d_mlp else None
        self.resid_pre, self.resid_mid, self.resid_post = HookPoint(), HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        x = self.resid_pre(x)
        normed = self.ln1(x)
        queries = normed[:, -1:] if last_only else normed
        x = (x[:, -1:] if last_only else x) + self.attn(queries, normed)
        x = self.resid_mid(x)
        if self.mlp is not None:
            x = x + self.mlp(self.ln2(x))
        return self.resid_post(x)


class Embed(nn.Module):
    def __init__(self, rows: int, d_model: int):
        super().__init__()
        self.W = _normal(rows, d_model, std=1 / math.sqrt(d_model))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # F.embedding, not W[tokens]: advanced indexing's backward is slow on GPU (docs/science/grokking.md).
        return F.embedding(tokens, self.W)


class Unembed(nn.Module):
    def __init__(self, d_model: int, num_classes: int, std: float = 0.0):
        super().__init__()
        self.W = _normal(d_model, num_classes, std=std or 1 / math.sqrt(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W


class Transformer(Hookable):
    """Decoder-only transformer: embed + positions → blocks → (optional final LN) → unembed."""

    def __init__(
        self,
        vocab_size: int,
        seq_len: int,
        num_classes: int,
        d_model: int = 128,
        n_layers: int = 1,
        n_heads: int = 4,
        d_head: int = 32,
        d_mlp: int = 512,
        layernorm: bool = False,
        unembed_init: float = 0.0,
        init: str = "normal",
        last_only: bool = True,
        contexts: list[torch.Tensor] | None = None,
    ):
        super().__init__()
        self.last_only = last_only
        self.embed = Embed(vocab_size, d_model)
        self.pos_embed = Embed(seq_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_head, d_mlp, layernorm) for _ in range(n_layers))
        self.ln_final = nn.LayerNorm(d_model) if layernorm else nn.Identity()
        # A small unembedding init (GPT-2's 0.02) lets learned structure dominate the rows early on.
        self.unembed = Unembed(d_model, num_classes, std=unembed_init)
        self.feature_site = f"blocks.{n_layers - 1}.resid_post"
        self.context_embed: Embed | None = None
        # the last MLP's neurons, which the logits read linearly unless a final LayerNorm intervenes
        self.neuron_site = f"blocks.{n_layers - 1}.mlp.post" if d_mlp and not layernorm else None
        if init == "torch":
            self._torch_init(unembed_init)
        if contexts is not None:
            self._context_pathway(contexts, d_model)

    def _context_pathway(self, contexts: list[torch.Tensor], d_model: int) -> None:
        """A learned vector per training context (setting 3's analogue of setting 2's per-context
        embedding), added to the residual stream at the context's last position — the position
        that predicts what the context selects — and nowhere else; a context never seen in
        training gets none. A context is a token prefix (`contexts`, 1-D tensors). It and the
        unembedding are the item pathway: every other parameter is `shared_parameters`, whose
        weight decay `train.decay_ratio` scales."""
        unique = sorted({tuple(c.tolist()) for c in contexts}, key=lambda c: (len(c), c))
        self.context_lengths: list[tuple[int, int, int]] = []  # (prefix length, first row, end row)
        for length in sorted({len(c) for c in unique}):
            rows = [i for i, c in enumerate(unique) if len(c) == length]
            self.context_lengths.append((length, rows[0], rows[-1] + 1))
        padded = torch.full((len(unique), max(len(c) for c in unique)), -1, dtype=torch.long)
        for i, c in enumerate(unique):
            padded[i, : len(c)] = torch.tensor(c)
        self.context_keys: torch.Tensor
        self.register_buffer("context_keys", padded, persistent=False)
        self.context_embed = Embed(len(unique), d_model)
        with torch.no_grad():
            self.context_embed.W.mul_(0.01)  # as setting 2's: structure comes from the shared pathway first
        private = ("context_embed.", "unembed.")
        self.shared_parameters = [name for name, _ in self.named_parameters() if not name.startswith(private)]

    def _context_vectors(self, tokens: torch.Tensor) -> torch.Tensor:
        """(batch, seq, d_model): each known context's vector at its last position, else 0."""
        assert self.context_embed is not None
        vectors = self.context_embed.W.new_zeros(*tokens.shape, self.context_embed.W.shape[1])
        for length, first, end in self.context_lengths:
            if length > tokens.shape[1]:
                continue
            keys = self.context_keys[first:end, :length]
            matches = (tokens[:, None, :length] == keys[None]).all(-1)  # (batch, contexts of this length)
            vectors[:, length - 1] += matches.to(vectors.dtype) @ self.context_embed.W[first:end]
        return vectors

    @torch.no_grad()
    def _torch_init(self, unembed_init: float) -> None:
        """torch's layer defaults: nn.Embedding's N(0, 1) embeddings, nn.Linear's U(±1/√fan_in)
        matrices. The repeated-segment task's measured setting (docs/science/induction.md) used them:
        with the N(0, 1/d_model) init its induction head had not formed after 3 000 steps."""
        for name, parameter in self.named_parameters():
            if name in ("embed.W", "pos_embed.W"):
                parameter.normal_(0.0, 1.0)
            elif parameter.dim() == 2 and not (name == "unembed.W" and unembed_init):
                bound = 1 / math.sqrt(parameter.shape[0])  # our matrices are (fan_in, fan_out)
                parameter.uniform_(-bound, bound)

    def forward(self, tokens: torch.Tensor, last_only: bool | None = None) -> torch.Tensor:
        """Logits (batch, num_classes) at the last position, or (batch, seq, num_classes) for a
        language model (`last_only=False`, given here or at construction)."""
        last_only = self.last_only if last_only is None else last_only
        x = self.embed(tokens) + self.pos_embed.W[: tokens.shape[1]]
        if self.context_embed is not None:
            x = x + self._context_vectors(tokens)
        for i, block in enumerate(self.blocks):
            x = block(x, last_only=last_only and i == len(self.blocks) - 1)
        logits = self.unembed(self.ln_final(x))
        return logits[:, -1] if last_only else logits

    def token_embedding(self, num_tokens: int) -> torch.Tensor:
        """The embedding rows of the first `num_tokens` tokens (the operands 0..p−1)."""
        return self.embed.W[:num_tokens]


def item_contexts(task: Task) -> list[torch.Tensor]:
    """The token prefixes after which the training data predicts an item (a noun of the language
    task, `task.items`): the contexts a per-context pathway memorises. A classifier's contexts
    are its whole inputs."""
    inputs, targets = task.train.inputs, task.train.targets
    if not task.sequence_targets:
        return list(inputs)
    rows, positions = torch.nonzero(torch.isin(targets, task.item_ids), as_tuple=True)
    return [inputs[row, : position + 1] for row, position in zip(rows.tolist(), positions.tolist())]


class TransformerConfig(ModelConfig):
    name: Literal["transformer"] = "transformer"
    d_model: int = Field(128, ge=1)
    n_layers: int = Field(1, ge=1)
    n_heads: int = Field(4, ge=1)
    d_head: int = Field(32, ge=1)
    d_mlp: int = Field(512, ge=0, description="0 for attention-only")
    layernorm: bool = False
    unembed_init: float = Field(0.0, ge=0, description="std of the unembedding at step 0 (0: 1/√classes)")
    init: Literal["normal", "torch"] = Field(
        "normal", description="normal: N(0, 1/d_model) weights (Nanda et al. 2023); torch: nn.Embedding / nn.Linear defaults"
    )
    context_pathway: bool = Field(
        False, description="a learned vector per training context, where it predicts an item (setting 3)"
    )

    def build(self, task: Task) -> Transformer:
        settings = self.settings()
        contexts = item_contexts(task) if settings.pop("context_pathway") else None
        return Transformer(
            task.vocab_size, task.seq_len, task.num_classes, **settings, last_only=not task.sequence_targets, contexts=contexts
        )

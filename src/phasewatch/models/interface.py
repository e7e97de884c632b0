"""What a probe may ask of a model: the explicit interface, instead of `getattr` with defaults.

`view_of(model)` wraps any `nn.Module` in a `ModelView`:

- `HookedView` for phasewatch's own models (and any module with `run_with_cache`): activations by
  hook-point name, the feature site, the unembedding, per-layer attention patterns and OV
  circuits where the model has them;
- `ModuleView` for anyone else's model (a Hugging Face GPT-2, NeoX, Llama, or a plain module):
  activations at *sites* (module names, `models.hooks.find_sites`), attention patterns through a
  Hugging Face model's own `output_attentions`, the token embedding's vocabulary.

Capabilities a probe can declare in `Needs.capabilities`: "attention_patterns", "ov_circuit",
"unembedding", "feature_site", "neurons" (the last hidden layer whose activations the output reads
linearly), "token_embedding", "token_inputs".
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from phasewatch.errors import UserError
from phasewatch.models.hooks import capture, find_sites, untouched


class ModelView(Protocol):
    model: nn.Module

    def can(self, capability: str) -> bool: ...

    def block_sites(self) -> list[str]:
        """The residual stream after each block, in order."""
        ...

    def run_with_cache(self, inputs: torch.Tensor, names: list[str]) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """The model's logits on `inputs` (None when its output has none) and the named activations."""
        ...

    def attention_patterns(self, tokens: torch.Tensor) -> torch.Tensor:
        """(layers, batch, heads, T, T) attention weights (query rows, key columns) on `tokens` (batch, T)."""
        ...

    def vocab_size(self) -> int | None: ...


class HookedView:
    """A phasewatch model: hook points (`models.hooks.HookPoint`), `blocks[i].attn`, `unembed.W`,
    `feature_site`, `shared_parameters`."""

    def __init__(self, model: nn.Module):
        self.model: Any = model  # read by the attributes our models define (duck-typed: test doubles too)

    @property
    def blocks(self) -> list[Any]:
        return list(getattr(self.model, "blocks", []))

    def can(self, capability: str) -> bool:
        if capability in ("attention_patterns", "ov_circuit"):
            return bool(self.blocks) and all(hasattr(block, "attn") for block in self.blocks)
        if capability == "unembedding":
            return hasattr(getattr(self.model, "unembed", None), "W")
        if capability == "feature_site":
            return hasattr(self.model, "feature_site")
        if capability == "neurons":
            return getattr(self.model, "neuron_site", None) is not None
        if capability == "token_embedding":
            return hasattr(self.model, "token_embedding")
        return capability == "token_inputs" and hasattr(self.model, "embed")

    @property
    def feature_site(self) -> str:
        return self.model.feature_site

    @property
    def neuron_site(self) -> str:
        """The hook point of the last hidden layer's neurons (an MLP's post-activations), which
        the logits read through linear maps only."""
        return self.model.neuron_site

    def block_sites(self) -> list[str]:
        return [f"blocks.{i}.resid_post" for i in range(len(self.blocks))]

    def pattern_sites(self) -> list[str]:
        return [f"blocks.{i}.attn.pattern" for i in range(len(self.blocks))]

    def run_with_cache(self, inputs: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.model.run_with_cache(inputs, names=names)

    def attention_patterns(self, tokens: torch.Tensor) -> torch.Tensor:
        sites = self.pattern_sites()
        # a classifier that reads only the last position computes every position here, so that each
        # layer's pattern is (T, T)
        whole = {"last_only": False} if getattr(self.model, "last_only", False) else {}
        _, cache = self.model.run_with_cache(tokens, names=sites, **whole)
        return torch.stack([cache[site] for site in sites])

    def unembedding(self) -> torch.Tensor:
        """(d_model, classes)."""
        return self.model.unembed.W

    def token_embedding(self, rows: int | None = None) -> torch.Tensor:
        """(rows, d_model): the embedding of tokens 0..rows−1 (default: the whole vocabulary)."""
        return self.model.token_embedding(self.vocab_size() if rows is None else rows)

    def ov_circuits(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer, (W_V (d_model, heads, d_head), W_O (heads, d_head, d_model))."""
        circuits = []
        for block in self.blocks:
            attn = block.attn
            circuits.append((attn.W_V.view(-1, attn.n_heads, attn.d_head), attn.W_O.view(attn.n_heads, attn.d_head, -1)))
        return circuits

    def vocab_size(self) -> int | None:
        embed = getattr(self.model, "embed", None)
        return None if embed is None else embed.W.shape[0]


class ModuleView:
    """Anyone's `nn.Module`, watched at `sites` (module names; default: every block of a known
    architecture). Attention patterns come from a Hugging Face model's `output_attentions=True`,
    through its eager attention for the probe's forward when it trains with a fused kernel."""

    def __init__(self, model: nn.Module, sites: list[str] | None = None):
        self.model: Any = model  # a Hugging Face model's own methods are called when it has them
        self.sites = find_sites(model, sites)
        # a phasewatch model watched like anyone's still shows its attention through its hook points
        self.hooked = HookedView(model) if hasattr(model, "run_with_cache") else None
        self._attentions: bool | None = None

    def can(self, capability: str) -> bool:
        if capability in ("attention_patterns", "token_inputs") and self.hooked is not None:
            return self.hooked.can(capability)
        if capability == "attention_patterns":
            return self._returns_attentions()
        if capability == "token_inputs":
            return any(isinstance(m, nn.Embedding) for m in self.model.modules())
        return False

    def block_sites(self) -> list[str]:
        return self.sites

    def _returns_attentions(self) -> bool:
        """Whether the model hands back its attention weights (a Hugging Face model): tried once,
        on two tokens, with the model `untouched`."""
        if self._attentions is None:
            self._attentions = False
            if hasattr(getattr(self.model, "config", None), "output_attentions"):
                device = next(self.model.parameters()).device
                with untouched(self.model):
                    try:
                        self._attentions = self._hf_attentions(torch.zeros(1, 2, dtype=torch.long, device=device)) is not None
                    except (TypeError, ValueError, RuntimeError):
                        pass
        return self._attentions

    def _hf_attentions(self, tokens: torch.Tensor) -> torch.Tensor | None:
        """(layers, batch, heads, T, T) from `output_attentions=True`, None when the model returns
        none. Fused attention kernels (SDPA, flash) compute no weights: the model is switched to
        its eager implementation for this call (the same function, up to float rounding) and back."""
        implementation = getattr(self.model.config, "_attn_implementation", None)
        switch = implementation not in (None, "eager") and hasattr(self.model, "set_attn_implementation")
        if switch:
            self.model.set_attn_implementation("eager")
        try:
            attentions = getattr(self.model(tokens, output_attentions=True), "attentions", None)
        finally:
            if switch:
                self.model.set_attn_implementation(implementation)
        if not attentions or any(a is None for a in attentions):
            return None
        return torch.stack(list(attentions))

    def run_with_cache(self, inputs: torch.Tensor, names: list[str]) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        with capture(self.model, names) as cache:
            output = self.model(inputs)
        return logits_of(output), cache

    def attention_patterns(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.hooked is not None:
            return self.hooked.attention_patterns(tokens)
        patterns = self._hf_attentions(tokens)
        if patterns is None:
            raise UserError(
                f"probes: {type(self.model).__name__} returns no attention weights (load it with "
                "attn_implementation='eager', or leave the attention probe out)"
            )
        return patterns

    def vocab_size(self) -> int | None:
        if self.hooked is not None:
            return self.hooked.vocab_size()
        embedding = next((m for m in self.model.modules() if isinstance(m, nn.Embedding)), None)
        return None if embedding is None else embedding.num_embeddings


def view_of(model: nn.Module, sites: list[str] | None = None) -> HookedView | ModuleView:
    """The interface probes read `model` through."""
    if hasattr(model, "run_with_cache") and sites is None:
        return HookedView(model)
    return ModuleView(model, sites)


def logits_of(output) -> torch.Tensor | None:
    """Logits from what a model returns: a tensor, a Hugging Face output (`.logits`), or a tuple."""
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    output = getattr(output, "logits", output)
    return output if isinstance(output, torch.Tensor) else None

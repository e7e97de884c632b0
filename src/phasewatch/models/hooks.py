"""Named activations, captured only when a probe asks for them (TransformerLens-style names)."""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class HookPoint(nn.Identity):
    """A named place in the forward pass. Its module name is the activation's name,
    e.g. `blocks.0.attn.pattern`; it costs nothing unless a hook is attached."""


class Hookable(nn.Module):
    """Mixin: `run_with_cache` returns the model's output and the activations asked for."""

    def hook_names(self) -> list[str]:
        return [name for name, module in self.named_modules() if isinstance(module, HookPoint)]

    def run_with_cache(
        self, *args, names: Iterable[str], keep_grad: bool = False, **kwargs
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The output and the named activations (detached unless `keep_grad`, for a loss term)."""
        modules = dict(self.named_modules())
        cache: dict[str, torch.Tensor] = {}
        handles = []
        for name in names:
            if not isinstance(modules.get(name), HookPoint):
                raise KeyError(f"no activation named {name!r}; known: {', '.join(self.hook_names())}")
            handles.append(modules[name].register_forward_hook(_saver(cache, name, keep_grad)))
        try:
            output = self(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
        return output, cache


def _saver(cache: dict[str, torch.Tensor], name: str, keep_grad: bool):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        cache[name] = output if keep_grad else output.detach()

    return hook

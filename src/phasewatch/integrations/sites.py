"""Where to look inside any `nn.Module`: watched sites by module name, captured by forward hooks.

A *site* is a module whose output is a representation, by default each block of a known
architecture (the residual stream after the block). Hooks are attached only inside `capture`
and removed on the way out, so a watched model runs hook-free between probes.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from phasewatch.errors import UserError

# The block lists of common decoders: Hugging Face GPT-2 (`transformer.h.N`), GPT-NeoX / Pythia
# (`gpt_neox.layers.N`), Llama, Mistral, Qwen (`model.layers.N`), and phasewatch's own (`blocks.N`).
# Matched at the end of a name, so a wrapper (`model.transformer.h.0`) is found too.
BLOCK = re.compile(r"(?:^|\.)(?:transformer\.h|gpt_neox\.layers|model\.layers|blocks)\.\d+$")


def find_sites(model: nn.Module, names: list[str] | None = None) -> list[str]:
    """The module names to watch: `names` as given (each must be a module of `model`), else every
    block of a known architecture, in model order. UserError when there is none."""
    modules = dict(model.named_modules())
    if names is not None:
        names = list(names)
        for name in names:
            if not isinstance(name, str) or not name or name not in modules:
                example = next((n for n in modules if n), "a submodule name")
                raise UserError(f"sites: {name!r} is not allowed (a module name of the model, e.g. {example!r})")
        return names
    found = [name for name in modules if BLOCK.search(name)]
    if not found:
        raise UserError(f"sites: no transformer blocks found in {type(model).__name__} (name the modules to "
                        "watch, e.g. sites=['encoder.layer.3'] or --site encoder.layer.3)")
    return found


def representation(output) -> torch.Tensor:
    """A module output as one vector per item: the first tensor of a tuple (Hugging Face blocks
    return (hidden, ...)), at the last position for (batch, seq, d) — the position that predicts —
    and flattened otherwise."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise UserError(f"sites: a module returned {type(output).__name__}, not a tensor (watch another module)")
    return output[:, -1] if output.dim() == 3 else output.flatten(1)


@contextmanager
def capture(model: nn.Module, sites: list[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, every forward fills `cache[site]` with that site's representation
    (see `representation`); the hooks are removed on exit, also after an error."""
    modules = dict(model.named_modules())
    cache: dict[str, torch.Tensor] = {}

    def saver(site: str):
        def hook(module: nn.Module, inputs: tuple, output) -> None:
            cache[site] = representation(output).detach()
        return hook

    handles = [modules[site].register_forward_hook(saver(site)) for site in sites]
    try:
        yield cache
    finally:
        for handle in handles:
            handle.remove()

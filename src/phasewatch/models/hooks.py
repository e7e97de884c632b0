"""Named activations, captured only when a probe asks for them: the one hook mechanism.

Our own models name every interesting activation with a `HookPoint` (`blocks.0.attn.pattern`,
`blocks.1.resid_post`: TransformerLens-style names, the module path of the hook point). Any other
`nn.Module` is watched at *sites*, module names (`transformer.h.3`), by default every block of a
known architecture. Both are read by `capture`: forward hooks attached inside the block and
removed on the way out, so a model runs hook-free between probes. `patched` uses the same
forward hooks to replace an activation (an intervention: what the model computes without it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn

from phasewatch.errors import UserError

# The block lists of common decoders: Hugging Face GPT-2 (`transformer.h.N`), GPT-NeoX / Pythia
# (`gpt_neox.layers.N`), Llama, Mistral, Qwen (`model.layers.N`), and phasewatch's own (`blocks.N`).
# Matched at the end of a name, so a wrapper (`model.transformer.h.0`) is found too.
BLOCK = re.compile(r"(?:^|\.)(?:transformer\.h|gpt_neox\.layers|model\.layers|blocks)\.\d+$")


class HookPoint(nn.Identity):
    """A named place in the forward pass. Its module name is the activation's name,
    e.g. `blocks.0.attn.pattern`; it costs nothing unless a hook is attached."""


def _first_tensor(output) -> torch.Tensor:
    """A module output as a tensor: the first element of a tuple (Hugging Face blocks return
    (hidden, ...))."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise UserError(f"sites: a module returned {type(output).__name__}, not a tensor (watch another module)")
    return output


def representation(output) -> torch.Tensor:
    """A module output as one vector per item (N, d): at the last position for (N, T, d) — the
    position that predicts — and flattened otherwise."""
    output = _first_tensor(output)
    return output[:, -1] if output.dim() == 3 else output.flatten(1)


@contextmanager
def capture(
    model: nn.Module,
    names: Iterable[str],
    *,
    keep_grad: bool = False,
    transform: Callable[[object], torch.Tensor] = _first_tensor,
) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, every forward fills `cache[name]` with `transform(output)` of the module
    `name` (detached unless `keep_grad`, for a loss term); the hooks are removed on exit, also
    after an error. KeyError for a name that is not a module."""
    modules = dict(model.named_modules())
    cache: dict[str, torch.Tensor] = {}

    def saver(name: str):
        def hook(module: nn.Module, inputs: tuple, output) -> None:
            value = transform(output)
            cache[name] = value if keep_grad else value.detach()

        return hook

    handles = []
    try:
        for name in names:
            if name not in modules:
                raise KeyError(f"no activation named {name!r}")
            handles.append(modules[name].register_forward_hook(saver(name)))
        yield cache
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def patched(model: nn.Module, replacements: dict[str, Callable[[torch.Tensor], torch.Tensor]]) -> Iterator[None]:
    """Within the block, the output of each module `name` is `replacements[name](output)` in every
    forward; the hooks are removed on exit, also after an error. KeyError for an unknown name."""
    modules = dict(model.named_modules())
    handles = []
    try:
        for name, replace in replacements.items():
            if name not in modules:
                raise KeyError(f"no activation named {name!r}")
            handles.append(modules[name].register_forward_hook(lambda module, inputs, output, replace=replace: replace(output)))
        yield
    finally:
        for handle in handles:
            handle.remove()


class Weight(nn.Module):
    """One named parameter, `<module>.W` (TransformerLens's `embed.W`, `unembed.W`): a holder, so
    the parameter's name says what it is and its type is known."""

    W: nn.Parameter

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.W = nn.Parameter(weight)


@contextmanager
def untouched(model: nn.Module) -> Iterator[None]:
    """Eval mode, no autograd, no autocast; on exit every module's train/eval flag and the CPU and
    CUDA random states are as they were, so probing never changes what training does next."""
    modes = [(module, module.training) for module in model.modules()]
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    device = next(model.parameters(), torch.empty(0)).device
    model.eval()
    try:
        with ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            if device.type in ("cpu", "cuda"):  # a loop under autocast must not change what we measure
                stack.enter_context(torch.autocast(device.type, enabled=False))
            yield
    finally:
        for module, mode in modes:
            module.training = mode
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


class Hookable(nn.Module):
    """Mixin: `run_with_cache` returns the model's output and the activations asked for."""

    def hook_names(self) -> list[str]:
        return [name for name, module in self.named_modules() if isinstance(module, HookPoint)]

    def run_with_cache(
        self, *args, names: Iterable[str], keep_grad: bool = False, **kwargs
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The output and the named activations (detached unless `keep_grad`, for a loss term)."""
        names = list(names)
        modules = dict(self.named_modules())
        for name in names:
            if not isinstance(modules.get(name), HookPoint):
                raise KeyError(f"no activation named {name!r}; known: {', '.join(self.hook_names())}")
        with capture(self, names, keep_grad=keep_grad) as cache:
            output = self(*args, **kwargs)
        return output, cache


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
        raise UserError(
            f"sites: no transformer blocks found in {type(model).__name__} (name the modules to "
            "watch, e.g. sites=['encoder.layer.3'] or --site encoder.layer.3)"
        )
    return found

"""Sites are found by module name on common architectures; hooks exist only inside `capture`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from phasewatch.errors import UserError
from phasewatch.models import Transformer
from phasewatch.models.hooks import capture, find_sites, representation


def tiny_gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=12, n_embd=32, n_layer=2, n_head=2))


def hf_model(config_class: str, **settings) -> nn.Module:
    import transformers

    config = getattr(transformers, config_class)(
        vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, **settings
    )
    return transformers.AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda: tiny_gpt2(), ["transformer.h.0", "transformer.h.1"]),
        (lambda: hf_model("GPTNeoXConfig"), ["gpt_neox.layers.0", "gpt_neox.layers.1"]),
        (lambda: hf_model("LlamaConfig"), ["model.layers.0", "model.layers.1"]),
        (lambda: Transformer(8, 3, 7, d_model=16, n_layers=2, n_heads=2, d_head=8, d_mlp=32), ["blocks.0", "blocks.1"]),
    ],
)
def test_blocks_of_common_architectures(build, expected):
    assert find_sites(build()) == expected


def test_a_wrapper_is_seen_through_and_named_sites_are_checked():
    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = tiny_gpt2()

    wrapper = Wrapper()
    assert find_sites(wrapper) == ["model.transformer.h.0", "model.transformer.h.1"]
    assert find_sites(wrapper, ["model.transformer.ln_f"]) == ["model.transformer.ln_f"]
    with pytest.raises(UserError, match="sites: 'model.nope' is not allowed"):
        find_sites(wrapper, ["model.nope"])
    with pytest.raises(UserError, match="no transformer blocks found in Sequential"):
        find_sites(nn.Sequential(nn.Linear(2, 2)))


def test_representation_takes_the_predicting_position():
    hidden = torch.arange(24.0).view(2, 3, 4)
    assert torch.equal(representation((hidden, None)), hidden[:, -1])
    assert representation(torch.zeros(5, 2, 3, 3)).shape == (5, 18)


def test_hooks_live_only_inside_capture_even_after_an_error():
    model = tiny_gpt2()
    blocks = [model.transformer.h[0], model.transformer.h[1]]
    with pytest.raises(RuntimeError, match="boom"), capture(model, ["transformer.h.0", "transformer.h.1"]) as cache:
        assert all(len(block._forward_hooks) == 1 for block in blocks)
        model(torch.zeros(3, 5, dtype=torch.long))
        assert cache["transformer.h.1"].shape == (3, 5, 32)  # the whole output: probes reduce it
        raise RuntimeError("boom")
    assert all(len(block._forward_hooks) == 0 for block in blocks)

"""phasewatch's transformer is TransformerLens's `HookedTransformer` numerically: the same weights
give the same logits and the same cached activations, under TransformerLens's hook names."""

from __future__ import annotations

import pytest
import torch

from phasewatch.models import Transformer

transformer_lens = pytest.importorskip("transformer_lens")

VOCAB, CTX, D, HEADS, D_HEAD, D_MLP, LAYERS = 13, 7, 16, 2, 8, 32, 2


def models(d_mlp: int) -> tuple[Transformer, object]:
    """Ours with random weights and biases, and a HookedTransformer holding the same numbers."""
    torch.manual_seed(0)
    ours = Transformer(VOCAB, CTX, VOCAB, d_model=D, n_layers=LAYERS, n_heads=HEADS, d_head=D_HEAD, d_mlp=d_mlp, last_only=False)
    with torch.no_grad():
        for block in ours.blocks:
            if block.mlp is not None:  # non-zero biases, so that their placement is tested too
                block.mlp.b_in.normal_()
                block.mlp.b_out.normal_()
    config = transformer_lens.HookedTransformerConfig(
        n_layers=LAYERS, d_model=D, d_head=D_HEAD, n_heads=HEADS, d_mlp=d_mlp if d_mlp else None, d_vocab=VOCAB,
        n_ctx=CTX, act_fn="relu", normalization_type=None, attn_only=not d_mlp, device="cpu", seed=0,
    )  # fmt: skip
    theirs = transformer_lens.HookedTransformer(config)
    state = {name: torch.zeros_like(value) for name, value in theirs.named_parameters()}  # every bias 0 unless set
    state["embed.W_E"], state["pos_embed.W_pos"], state["unembed.W_U"] = ours.embed.W, ours.pos_embed.W, ours.unembed.W
    for i, block in enumerate(ours.blocks):
        attn = block.attn
        for name in ("W_Q", "W_K", "W_V"):  # ours (d_model, heads·d_head), theirs (heads, d_model, d_head)
            state[f"blocks.{i}.attn.{name}"] = getattr(attn, name).view(D, HEADS, D_HEAD).permute(1, 0, 2)
        state[f"blocks.{i}.attn.W_O"] = attn.W_O.view(HEADS, D_HEAD, D)
        if block.mlp is not None:
            for name in ("W_in", "b_in", "W_out", "b_out"):
                state[f"blocks.{i}.mlp.{name}"] = getattr(block.mlp, name)
    keep = {name: value for name, value in theirs.state_dict().items() if name not in state}  # buffers: the causal masks
    theirs.load_state_dict({**state, **keep})
    return ours, theirs


@pytest.mark.parametrize("d_mlp", [D_MLP, 0])
def test_same_weights_give_the_same_logits_and_activations(d_mlp):
    ours, theirs = models(d_mlp)
    tokens = torch.randint(VOCAB, (5, CTX), generator=torch.Generator().manual_seed(1))
    names = {  # ours → TransformerLens's name for the same activation
        "blocks.0.attn.pattern": "blocks.0.attn.hook_pattern",
        "blocks.1.attn.pattern": "blocks.1.attn.hook_pattern",
        "blocks.0.resid_post": "blocks.0.hook_resid_post",
        "blocks.1.resid_post": "blocks.1.hook_resid_post",
    }
    if d_mlp:  # an attention-only model has no resid_mid and no MLP
        names["blocks.1.resid_mid"] = "blocks.1.hook_resid_mid"
        names["blocks.0.mlp.post"] = "blocks.0.mlp.hook_post"
    with torch.no_grad():
        logits, cache = ours.run_with_cache(tokens, names=list(names))
        their_logits, their_cache = theirs.run_with_cache(tokens)
    assert torch.allclose(logits, their_logits, atol=1e-5)
    for ours_name, their_name in names.items():
        assert torch.allclose(cache[ours_name], their_cache[their_name], atol=1e-5), ours_name

import pytest
import torch

from phasewatch.models import QuadraticMLP, Transformer


@pytest.mark.parametrize("n_layers, d_mlp", [(1, 64), (2, 64), (2, 0)])
def test_last_only_equals_full_forward(n_layers, d_mlp):
    torch.manual_seed(0)
    model = Transformer(
        vocab_size=20, seq_len=6, num_classes=17, d_model=32, n_layers=n_layers, n_heads=2, d_head=16, d_mlp=d_mlp
    )
    tokens = torch.randint(0, 20, (8, 6))
    assert torch.allclose(model(tokens, last_only=True), model(tokens, last_only=False)[:, -1], atol=1e-5)


def test_attention_is_causal():
    torch.manual_seed(0)
    model = Transformer(vocab_size=10, seq_len=5, num_classes=10, d_model=16, n_layers=2, n_heads=2, d_head=8, d_mlp=16)
    tokens = torch.randint(0, 10, (4, 5))
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 10
    # changing the last token cannot change predictions at earlier positions
    assert torch.allclose(model(tokens, last_only=False)[:, :-1], model(changed, last_only=False)[:, :-1])


def test_run_with_cache_names_and_shapes():
    model = Transformer(vocab_size=10, seq_len=3, num_classes=7, d_model=16, n_layers=2, n_heads=4, d_head=4, d_mlp=32)
    tokens = torch.randint(0, 10, (5, 3))
    logits, cache = model.run_with_cache(
        tokens, names=["blocks.0.attn.pattern", "blocks.1.resid_post", "blocks.0.mlp.post"], last_only=False
    )
    assert logits.shape == (5, 3, 7)
    assert cache["blocks.0.attn.pattern"].shape == (5, 4, 3, 3)
    assert torch.allclose(cache["blocks.0.attn.pattern"].sum(-1), torch.ones(5, 4, 3))
    assert cache["blocks.1.resid_post"].shape == (5, 3, 16)
    assert cache["blocks.0.mlp.post"].shape == (5, 3, 32)
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed after the call
    with pytest.raises(KeyError, match="no activation named"):
        model.run_with_cache(tokens, names=["blocks.9.nothing"])


def test_parameter_names_follow_transformerlens():
    names = {name for name, _ in Transformer(5, 3, 5, d_model=8, n_heads=2, d_head=4, d_mlp=8).named_parameters()}
    assert {"embed.W", "pos_embed.W", "blocks.0.attn.W_Q", "blocks.0.attn.W_O", "blocks.0.mlp.W_in", "unembed.W"} <= names


def test_quadratic_mlp_shapes_and_embedding():
    model = QuadraticMLP(num_operands=7, num_classes=7, width=16)
    tokens = torch.tensor([[1, 2, 7], [3, 4, 7]])
    logits, cache = model.run_with_cache(tokens, names=["hidden"])
    assert logits.shape == (2, 7) and (cache["hidden"] >= 0).all()
    assert model.token_embedding(7).shape == (7, 16)

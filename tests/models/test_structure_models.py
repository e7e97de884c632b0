"""The unconstrained-features model and the feature MLP's pathways."""

import torch

from phasewatch.models import UFM, FeatureMLP, shared_parameter_names
from phasewatch.tasks.attributes import item_attributes


def test_coupled_ufm_features_are_shared_plus_private():
    attributes = item_attributes((2, 3, 2), 2)
    model = UFM(attributes, d_model=8, init=0.1)
    with torch.no_grad():
        model.attribute_embed.W.normal_()
    items = torch.arange(24)[:, None]
    _, cache = model.run_with_cache(items, names=["features"])
    expected = attributes @ model.attribute_embed.W + model.item_embed.W
    assert torch.allclose(cache["features"], expected)
    assert shared_parameter_names(model) == ["attribute_embed.W"]


def test_plain_ufm_has_no_shared_pathway_and_starts_without_structure():
    model = UFM(item_attributes((2, 3, 2), 2), d_model=8, plain=True)
    assert shared_parameter_names(model) == [] and model.attribute_embed is None


def test_feature_mlp_input_split_reads_item_coordinates_privately():
    model = FeatureMLP(0, 0, input_dim=10, num_classes=4, item_dims=4, width=6, depth=1, item_pathway="input")
    x = torch.randn(5, 10)
    changed = x.clone()
    changed[:, :4] += 1.0
    with torch.no_grad():
        model.item_in.weight.zero_()
    assert torch.allclose(model(x), model(changed))  # with item_in zeroed, item coordinates are unread
    assert "item_in.weight" not in shared_parameter_names(model) and "layers.0.weight" in shared_parameter_names(model)


def test_feature_mlp_context_embedding_is_private_to_each_context():
    model = FeatureMLP(20, 2, 0, num_classes=96, width=8, depth=2, item_pathway="context")
    tokens = torch.tensor([[0, 8], [1, 8], [0, 9]])
    ids = model._context_ids(tokens)
    assert len(ids.unique()) == 3
    assert "item_embed.W" not in shared_parameter_names(model) and "unembed.W" not in shared_parameter_names(model)

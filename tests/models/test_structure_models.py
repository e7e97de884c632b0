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


def test_init_scale_multiplies_every_parameter():
    """Setting 2's init scale sets the initial alignment: it scales the per-context embedding and
    the unembedding too, not only the shared pathway."""
    torch.manual_seed(0)
    plain = FeatureMLP(4, 2, 0, 3, item_pathway="context", width=16, d_embed=8)
    torch.manual_seed(0)
    scaled = FeatureMLP(4, 2, 0, 3, item_pathway="context", width=16, d_embed=8, init_scale=0.3)
    for (name, a), (_, b) in zip(plain.named_parameters(), scaled.named_parameters()):
        assert torch.allclose(b, 0.3 * a), name


def test_a_split_first_layer_starts_as_one_input_layer():
    """split_init 'joint': both halves U(±1/√D), as nn.Linear(D, width) would be; 'own': each at its
    own fan-in's bound, 1/√(D − C) and 1/√C."""
    d, c, width = 64, 12, 4096
    torch.manual_seed(0)
    joint = FeatureMLP(0, 0, d, c, item_dims=c, width=width, depth=1, item_pathway="input")
    torch.manual_seed(0)
    own = FeatureMLP(0, 0, d, c, item_dims=c, width=width, depth=1, item_pathway="input", split_init="own")
    for model, (attribute_bound, class_bound) in ((joint, (d**-0.5, d**-0.5)), (own, ((d - c) ** -0.5, c**-0.5))):
        for weight, bound in ((model.layers[0].weight, attribute_bound), (model.item_in.weight, class_bound)):
            assert weight.abs().max() <= bound + 1e-7 and weight.abs().max() > 0.99 * bound
            assert abs(weight.std().item() - bound / 3**0.5) < 0.01 * bound  # uniform on ±bound


def test_a_transformer_context_pathway_adds_a_private_vector_where_a_known_context_ends():
    from phasewatch.models import Transformer

    contexts = [torch.tensor([0, 1]), torch.tensor([0, 2, 1]), torch.tensor([0, 1])]
    model = Transformer(4, 3, 4, d_model=8, n_heads=2, d_head=4, d_mlp=8, last_only=False, contexts=contexts)
    assert model.context_embed.W.shape == (2, 8)  # one vector per distinct context
    assert "context_embed.W" not in shared_parameter_names(model) and "unembed.W" not in shared_parameter_names(model)
    assert "blocks.0.mlp.W_in" in shared_parameter_names(model)
    with torch.no_grad():
        model.context_embed.W.copy_(torch.arange(1.0, 17.0).view(2, 8))
    vectors = model._context_vectors(torch.tensor([[0, 1, 3], [0, 2, 1], [3, 3, 3]]))
    expected = torch.zeros(3, 3, 8)
    expected[0, 1] = model.context_embed.W[0]  # [0, 1] ends at position 1: nothing before or after
    expected[1, 2] = model.context_embed.W[1]
    assert torch.equal(vectors, expected)
    plain = Transformer(4, 3, 4, d_model=8, n_heads=2, d_head=4, d_mlp=8, last_only=False)
    assert plain.context_embed is None and shared_parameter_names(plain) == []


def test_the_language_tasks_contexts_end_where_a_noun_is_predicted():
    from phasewatch.config import resolve
    from phasewatch.models.transformer import item_contexts
    from phasewatch.tasks import build_task

    config = resolve("structure-before-collapse", None, ["setting=language-context"])[1]
    task = build_task(config.task, config.seed)
    contexts = item_contexts(task)
    assert len(contexts) == len(task.train.inputs)  # one noun per sentence
    for context, row in zip(contexts, task.train.targets):
        assert int(row[len(context) - 1]) in set(task.item_ids.tolist())

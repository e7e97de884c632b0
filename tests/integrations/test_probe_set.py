"""The probes of a watched model's probe set (probes/probe_set.py, semantic, weight_norm): the
metrics equal their definitions written out in numpy on the captured features and closed forms on
planted ones, the loss equals the model's own, batching does not matter, and the model is left
exactly as it was."""

from __future__ import annotations

import math

import pytest
import torch
from integration_data import (
    PLANTED_GRAM,
    PLANTED_LABELS,
    PlantedClassifier,
    attributes_of,
    planted_attributes,
    planted_expectations,
    planted_inputs,
    sequences,
    tiny_gpt2,
)
from torch import nn

from phasewatch.errors import UserError
from phasewatch.integrations.probe_data import ProbeData, load_probe_data
from phasewatch.models.hooks import capture, representation
from phasewatch.probes import ProbeContext, choose, run_probes, untouched

PROBES = ["loss", "effective_rank", "collapse", "semantic", "weight_norm"]


def probe_model(model, data, sites, probes, batch_size=64):
    return run_probes(probes, ProbeContext.of_data(model, data, sites, batch_size))


def check_fits(model, data, sites, batch_size):
    ProbeContext.of_data(model, data, sites, batch_size).check_fits()


SITES = ["transformer.h.0", "transformer.h.1"]


def numpy_formulas(h, labels, kernel, classes):
    """The probe-set metrics of features h (N, d), written out in numpy from their definitions
    (probes/probe_set.py, probes/geometry.py docstrings), independent of phasewatch.probes.geometry."""
    import numpy as np

    h, labels, kernel = h.double().numpy(), labels.numpy(), kernel.double().numpy()
    centred = h - h.mean(0)
    s = np.linalg.svd(centred, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    means = np.stack([h[labels == c].mean(0) for c in range(classes)])
    m = means - means.mean(0)  # centred on the mean of the class means
    g, e = m @ m.T, np.eye(classes) - 1 / classes
    residuals = h - means[labels]
    within, between = residuals.T @ residuals / len(h), m.T @ m / classes
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    i, j = np.triu_indices(len(h), 1)
    k, cos = kernel[i, j], (unit @ unit.T)[i, j]
    unit_means = m / np.linalg.norm(m, axis=1, keepdims=True)
    return {
        "effective_rank": float(np.exp(-(p * np.log(p)).sum())),
        "etf_distance": float(np.linalg.norm(g / np.linalg.norm(g) - e / np.linalg.norm(e))),
        "nc1": float(np.trace(within @ np.linalg.pinv(between, rcond=1e-10)) / classes),
        "semantic_alignment": float(np.polyfit(k, cos, 1)[0]),
        "semantic_correlation": float(np.corrcoef(k, cos)[0, 1]),
    }, unit_means @ unit_means.T


def test_every_metric_matches_its_formula(probe_file):
    import numpy as np

    model, data = tiny_gpt2(), load_probe_data(probe_file)
    assert sorted(set(data.labels.tolist())) == [0, 1, 2, 3]
    result = probe_model(model, data, SITES, list(PROBES), batch_size=64)
    model.eval()  # as the probes see it: no dropout
    with torch.no_grad(), capture(model, SITES, transform=representation) as cache:
        output = model(data.inputs, labels=data.inputs)  # Hugging Face's own mean next-token loss
    assert result.scalars["probe/loss"] == pytest.approx(output.loss.item(), abs=1e-5)
    # position_loss/K: −log softmax(logits at K)[token K + 1], averaged over the items, in numpy
    logits, tokens = output.logits.double().numpy(), data.inputs.numpy()
    peak = logits.max(-1, keepdims=True)
    log_probs = logits - peak - np.log(np.exp(logits - peak).sum(-1, keepdims=True))
    for k in range(11):
        expected = -log_probs[np.arange(len(tokens)), k, tokens[:, k + 1]].mean()
        assert result.scalars[f"position_loss/{k:02d}"] == pytest.approx(expected, rel=1e-5), k
    kernel = attributes_of(data.labels) @ attributes_of(data.labels).T
    for site in SITES:
        expected, gram = numpy_formulas(cache[site], data.labels, kernel, 4)
        for name, value in expected.items():
            assert result.scalars[f"{name}/{site}"] == pytest.approx(value, rel=1e-6), name
        assert np.allclose(result.arrays[f"gram/{site}"]["gram"].numpy(), gram, atol=1e-6)
    norms = {name: p.norm().item() for name, p in model.named_parameters()}
    assert result.scalars["weight_norm/transformer.wte.weight"] == pytest.approx(norms["transformer.wte.weight"], rel=1e-6)
    assert result.scalars["weight_norm/total"] == pytest.approx(math.sqrt(sum(n * n for n in norms.values())), rel=1e-6)


def test_the_probes_of_a_planted_classifier_equal_their_closed_forms():
    """Features planted per item (integration_data.PlantedClassifier): every probe value against
    its closed form (effective rank, ETF distance, NC1) or its numpy formula (loss, alignment)."""
    data = ProbeData(planted_inputs(), PLANTED_LABELS, planted_attributes())
    result = probe_model(
        PlantedClassifier().plant(), data, ["features"], ["loss", "effective_rank", "collapse", "semantic", "weight_norm"]
    )
    expected = planted_expectations()
    assert expected["nc1/features"] == 0.0390625  # δ²(1/A² + 1/B²)/8 with A, B, δ = 2, 1, 1/2
    assert set(result.scalars) == set(expected)
    for name, value in expected.items():
        assert result.scalars[name] == pytest.approx(value, rel=1e-6), name
    assert torch.equal(result.arrays["gram/features"]["gram"], PLANTED_GRAM)


def test_batching_does_not_change_the_values(probe_file):
    model, data = tiny_gpt2(), load_probe_data(probe_file)
    whole = probe_model(model, data, SITES, list(PROBES), batch_size=64).scalars
    pieces = probe_model(model, data, SITES, list(PROBES), batch_size=5).scalars
    assert whole.keys() == pieces.keys()
    assert max(abs(whole[k] - pieces[k]) for k in whole) < 1e-5


def test_a_classifier_gets_the_class_loss_and_collapse_at_exact_class_means():
    class Lookup(nn.Module):
        """Features = a fixed vector per class, read from the first input coordinate."""

        def __init__(self):
            super().__init__()
            self.features = nn.Embedding(3, 5)
            self.head = nn.Linear(5, 3)

        def forward(self, x):
            return self.head(self.features(x[:, 0]))

    model = Lookup()
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    data = ProbeData(labels[:, None].repeat(1, 2), labels)
    result = probe_model(model, data, ["features"], ["loss", "collapse"])
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(data.inputs), labels).item()
    assert result.scalars["probe/loss"] == pytest.approx(expected, rel=1e-6)
    assert result.scalars["nc1/features"] == pytest.approx(0.0, abs=1e-12)  # features equal their class means
    assert not any(name.startswith("position_loss/") for name in result.scalars)


def test_the_default_probes_follow_the_data_and_the_model():
    tokens, classes = sequences(6, seed=0)
    model = tiny_gpt2()
    chosen, skipped = choose(None, ProbeContext.of_data(model, ProbeData(tokens)))
    assert chosen == ["attention", "weight_norm", "loss", "effective_rank"]
    assert "probe 'collapse' skipped: it needs labelled probe items" in skipped
    assert (
        "probe 'fourier' skipped: it needs a built-in task of kind ModularTask (a watched model has probe data instead)"
        in skipped
    )
    chosen, _ = choose(None, ProbeContext.of_data(model, ProbeData(tokens, classes, attributes_of(classes))))
    assert chosen == ["attention", "weight_norm", "semantic", "loss", "effective_rank", "collapse"]
    with pytest.raises(UserError, match="probes: 'collapse' is not allowed here \\(it needs labelled probe items\\)"):
        choose(["collapse"], ProbeContext.of_data(model, ProbeData(tokens)))
    with pytest.raises(UserError, match="probes: 'gram' is not a probe"):
        choose(["gram"], ProbeContext.of_data(model, ProbeData(tokens)))


def test_check_fits_vocabulary_and_context():
    model = tiny_gpt2()
    with pytest.raises(UserError, match="token id 64 is not allowed .* vocabulary size, 64"):
        check_fits(model, ProbeData(torch.tensor([[1, 64], [2, 3]])), SITES, 8)
    with pytest.raises(UserError, match="13 tokens per item is not allowed .* context, 12"):
        check_fits(model, ProbeData(torch.ones(2, 13, dtype=torch.long)), SITES, 8)
    with pytest.raises(UserError, match=r"inputs of shape \(2, 3\) are not allowed .* it said: "):
        check_fits(model, ProbeData(torch.ones(2, 3)), SITES, 8)  # real vectors for a token model
    model.unused = nn.Linear(2, 2)
    with pytest.raises(UserError, match=r"sites: 'unused' is not allowed \(it did not run in the model's forward"):
        check_fits(model, ProbeData(torch.ones(2, 3, dtype=torch.long)), ["unused"], 8)


def test_untouched_restores_modes_and_random_state():
    model = tiny_gpt2()
    model.train()
    model.transformer.h[0].eval()  # a user's frozen block stays in eval
    before = torch.get_rng_state()
    with untouched(model):
        assert not model.training and not torch.is_grad_enabled()
        torch.rand(10)  # anything drawn inside is given back
    assert model.training and model.transformer.h[1].training and not model.transformer.h[0].training
    assert torch.equal(torch.get_rng_state(), before) and torch.is_grad_enabled()


def test_a_watched_phasewatch_transformer_gets_the_built_in_head_scores():
    from phasewatch.models import Transformer
    from phasewatch.tasks import induction_task

    task = induction_task(vocab=16, seq_len=12, min_repeat=2, max_repeat=6, test_sequences=8, seed=0)
    torch.manual_seed(0)
    model = Transformer(16, 12, 16, d_model=16, n_layers=2, n_heads=2, d_head=8, d_mlp=0, last_only=False)
    watched = ProbeContext.of_data(model, ProbeData(task.probe.inputs))  # as a Watcher sees it: sites blocks.0, blocks.1
    assert "attention" in choose(None, watched)[0]
    as_watched = run_probes(["attention"], watched).scalars
    built_in = run_probes(["attention"], ProbeContext.of_task(model, task)).scalars
    heads = {name for name in built_in if name.startswith(("induction_score/", "prev_token_score/"))}
    assert len(heads) == 2 * 5 and all(as_watched[name] == built_in[name] for name in heads)

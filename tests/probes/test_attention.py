"""Attention-head scores against hand-built patterns and circuits with known answers."""

import pytest
import torch

from phasewatch.models import Transformer
from phasewatch.models.interface import HookedView
from phasewatch.probes import ProbeContext, run_probes
from phasewatch.probes.attention import copying_scores, dependency_scores, head_scores, repeated_random_tokens
from phasewatch.tasks.induction import induction_task
from phasewatch.tasks.objective import loss_function

HALF = 8


def patterns_where(attend) -> torch.Tensor:
    """(1 batch, 1 head, 2L, 2L) patterns with all of row i's attention on column attend(i)."""
    t = 2 * HALF
    pattern = torch.zeros(1, 1, t, t)
    for i in range(t):
        pattern[0, 0, i, attend(i)] = 1.0
    return pattern


def test_a_previous_token_head_scores_one_on_previous_and_not_on_induction():
    previous, induction, duplicate = head_scores(patterns_where(lambda i: max(i - 1, 0)), HALF)
    assert previous.item() == 1.0 and induction.item() < 0.1 and duplicate.item() < 0.1


def test_an_induction_head_scores_one_on_induction():
    # position L+i attends to i+1, the token after the earlier copy of its own token
    previous, induction, duplicate = head_scores(patterns_where(lambda i: i - HALF + 1 if i >= HALF else 0), HALF)
    assert induction.item() == 1.0 and previous.item() < 0.2 and duplicate.item() < 0.2


def test_a_duplicate_token_head_scores_one_on_duplicate():
    previous, induction, duplicate = head_scores(patterns_where(lambda i: i - HALF if i >= HALF else 0), HALF)
    assert duplicate.item() == 1.0 and induction.item() < 0.2


def test_a_uniform_head_scores_low_on_both():
    t = 2 * HALF
    uniform = torch.ones(t, t).tril()
    uniform = (uniform / uniform.sum(-1, keepdim=True)).view(1, 1, t, t)
    previous, induction, duplicate = head_scores(uniform, HALF)
    assert previous.item() < 0.3 and induction.item() < 0.15 and duplicate.item() < 0.15


def circuit_model(sign: float) -> Transformer:
    vocab = 6
    model = Transformer(vocab, 4, vocab, d_model=vocab, n_layers=1, n_heads=1, d_head=vocab, d_mlp=0, last_only=False)
    with torch.no_grad():
        for weight in (model.embed.W, model.blocks[0].attn.W_V, model.blocks[0].attn.W_O):
            weight.copy_(torch.eye(vocab))
        model.unembed.W.copy_(sign * torch.eye(vocab))
    return model


def test_copying_score_is_one_for_a_copying_circuit_and_zero_for_an_anti_copying_one():
    assert copying_scores(HookedView(circuit_model(1.0))).item() == 1.0
    assert copying_scores(HookedView(circuit_model(-1.0))).item() == 0.0


def test_dependency_scores_read_attention_to_the_annotated_source():
    patterns = torch.zeros(2, 2, 5, 5)
    patterns[:, 0, 4, 1] = 1.0  # head 0 attends from 4 to 1
    patterns[:, 1, 4, 3] = 1.0
    sources = torch.full((2, 5), -1)
    sources[:, 4] = 1
    assert dependency_scores(patterns, sources).tolist() == [1.0, 0.0]


def test_the_probe_runs_on_a_real_model_and_names_every_head():
    task = induction_task(16, 16, 2, 8, 32, seed=0)
    model = Transformer(16, 16, 16, d_model=16, n_layers=2, n_heads=2, d_head=8, d_mlp=0, last_only=False)
    result = run_probes(["attention", "in_context"], ProbeContext.of_task(model, task, loss_function("cross_entropy", 16)))
    for family in ("prev_token_score", "induction_score", "duplicate_token_score", "copying_score"):
        values = [result.scalars[f"{family}/L{l}H{h}"] for l in range(2) for h in range(2)]
        assert all(0.0 <= v <= 1.0 for v in values)
        assert result.scalars[f"{family}/max"] == max(values)
    assert result.arrays["attention"]["pattern"].shape == (2, 2, 16, 16)
    tokens = repeated_random_tokens(16, 16)
    assert torch.equal(tokens[:, :8], tokens[:, 8:])
    # an untrained model cannot copy: the repeat costs as much as the first copy
    assert abs(result.scalars["in_context/icl_score"]) < 0.3


def test_copying_score_is_the_positive_share_and_maps_to_elhages_summary_for_real_eigenvalues():
    model = circuit_model(1.0)
    signs = torch.tensor([1.0, 1.0, 1.0, 1.0, -1.0, -1.0])  # eigenvalues of the OV circuit: four +1, two −1
    with torch.no_grad():
        model.unembed.W.copy_(torch.diag(signs))
    ours = copying_scores(HookedView(model)).item()
    elhage = (signs.sum() / signs.abs().sum()).item()  # Elhage et al. 2021: Σλ / Σ|λ|
    assert ours == pytest.approx(4 / 6) and elhage == pytest.approx(2 * ours - 1)

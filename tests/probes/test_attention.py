"""Attention-head scores against hand-built patterns and circuits with known answers."""

import pytest
import torch

from phasewatch.models import Transformer
from phasewatch.models.interface import HookedView
from phasewatch.probes import ProbeContext, run_probes
from phasewatch.probes.attention import copying_scores, dependency_scores, head_scores, repeated_random_tokens
from phasewatch.tasks.base import Split, Task
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


def test_a_previous_token_head_scores_one_on_previous_and_exactly_zero_elsewhere():
    previous, induction, duplicate = head_scores(patterns_where(lambda i: max(i - 1, 0)), HALF)
    # row L+i puts all on L+i−1, never on i+1 (induction) or i (duplicate) while L > 2
    assert (previous.item(), induction.item(), duplicate.item()) == (1.0, 0.0, 0.0)


def test_an_induction_head_scores_one_on_induction():
    # position L+i attends to i+1, the token after the earlier copy of its own token; the first half to
    # position 0, which is the previous token of row 1 only: previous = 1 row of the 2L − 1 scored
    previous, induction, duplicate = head_scores(patterns_where(lambda i: i - HALF + 1 if i >= HALF else 0), HALF)
    assert induction.item() == 1.0 and duplicate.item() == 0.0
    assert previous.item() == pytest.approx(1 / (2 * HALF - 1))


def test_a_duplicate_token_head_scores_one_on_duplicate():
    previous, induction, duplicate = head_scores(patterns_where(lambda i: i - HALF if i >= HALF else 0), HALF)
    assert duplicate.item() == 1.0 and induction.item() == 0.0
    assert previous.item() == pytest.approx(1 / (2 * HALF - 1))  # row 1 → 0 again


def test_a_mixture_of_heads_scores_the_mixture_weights():
    """A row-stochastic mix w·previous + (1 − w)·induction (first half attending to itself, which no
    score reads) scores w on previous-token and 1 − w on induction."""
    previous_head = patterns_where(lambda i: max(i - 1, 0))
    induction_head = patterns_where(lambda i: i if i < HALF else i - HALF + 1)
    for w in (0.5, 0.25):
        previous, induction, duplicate = head_scores(w * previous_head + (1 - w) * induction_head, HALF)
        assert previous.item() == pytest.approx(w)
        assert induction.item() == pytest.approx(1 - w) and duplicate.item() == 0.0


def test_a_uniform_causal_head_scores_its_harmonic_closed_form():
    """A[i, j] = 1/(i + 1) for j ≤ i. L = 8, T = 16:
    previous = (1/2 + … + 1/16)/15 (rows 1..15), induction = (1/9 + … + 1/15)/7 (rows L..2L−2),
    duplicate = (1/9 + … + 1/16)/8 (rows L..2L−1)."""
    t = 2 * HALF
    uniform = torch.ones(t, t, dtype=torch.float64).tril()
    uniform = (uniform / uniform.sum(-1, keepdim=True)).view(1, 1, t, t)
    previous, induction, duplicate = head_scores(uniform, HALF)
    assert previous.item() == pytest.approx(sum(1 / k for k in range(2, 17)) / 15, rel=1e-12)
    assert induction.item() == pytest.approx(sum(1 / k for k in range(9, 16)) / 7, rel=1e-12)
    assert duplicate.item() == pytest.approx(sum(1 / k for k in range(9, 17)) / 8, rel=1e-12)


def test_scores_average_over_the_batch_and_stay_per_head():
    """Batch (2) × heads (2): head 0 is a previous-token head in sequence 0 and an induction head in
    sequence 1 (0.5 each, the mean over sequences); head 1 is a duplicate-token head in both."""
    prev = patterns_where(lambda i: max(i - 1, 0))[0, 0]
    ind = patterns_where(lambda i: i if i < HALF else i - HALF + 1)[0, 0]
    dup = patterns_where(lambda i: i if i < HALF else i - HALF)[0, 0]
    patterns = torch.stack([torch.stack([prev, dup]), torch.stack([ind, dup])])
    previous, induction, duplicate = head_scores(patterns, HALF)
    assert previous.tolist() == [0.5, 0.0]
    assert induction.tolist() == [0.5, 0.0]
    assert duplicate.tolist() == [0.0, 1.0]


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


def test_the_probe_on_a_real_model_equals_the_definitions_computed_by_hand():
    """A random 2-layer model: each head's scores, recomputed with explicit loops over the model's
    own hooked patterns on the probe's repeated sequences, and the copying score from numpy's
    eigenvalues of the whole vocab × vocab OV circuit W_E W_V^h W_O^h W_U (the probe uses the
    d_head × d_head product instead)."""
    import numpy as np

    torch.manual_seed(0)
    task = induction_task(16, 16, 2, 8, 32, seed=0)
    model = Transformer(16, 16, 16, d_model=16, n_layers=2, n_heads=2, d_head=8, d_mlp=0, last_only=False)
    result = run_probes(["attention", "in_context"], ProbeContext.of_task(model, task, loss_function("cross_entropy", 16)))
    tokens = repeated_random_tokens(16, 16)
    assert torch.equal(tokens[:, :8], tokens[:, 8:])
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names=["blocks.0.attn.pattern", "blocks.1.attn.pattern"])
    half, n = 8, len(tokens)
    for layer in range(2):
        a = cache[f"blocks.{layer}.attn.pattern"].double().numpy()  # (batch, heads, T, T)
        attn = model.blocks[layer].attn
        for head in range(2):
            name = f"L{layer}H{head}"
            previous = sum(a[b, head, i, i - 1] for b in range(n) for i in range(1, 2 * half)) / (n * (2 * half - 1))
            induction = sum(a[b, head, half + i, i + 1] for b in range(n) for i in range(half - 1)) / (n * (half - 1))
            duplicate = sum(a[b, head, half + i, i] for b in range(n) for i in range(half)) / (n * half)
            cols = slice(8 * head, 8 * head + 8)
            w_e, w_v, w_o, w_u = (w.detach().double().numpy() for w in (model.embed.W, attn.W_V, attn.W_O, model.unembed.W))
            eigenvalues = np.linalg.eigvals(w_e @ w_v[:, cols] @ w_o[cols] @ w_u)
            copying = np.abs(eigenvalues[eigenvalues.real > 0]).sum() / np.abs(eigenvalues).sum()
            assert result.scalars[f"prev_token_score/{name}"] == pytest.approx(previous, rel=1e-5)
            assert result.scalars[f"induction_score/{name}"] == pytest.approx(induction, rel=1e-5)
            assert result.scalars[f"duplicate_token_score/{name}"] == pytest.approx(duplicate, rel=1e-5)
            assert result.scalars[f"copying_score/{name}"] == pytest.approx(copying, abs=1e-9)
    for family in ("prev_token_score", "induction_score", "duplicate_token_score", "copying_score"):
        values = [result.scalars[f"{family}/L{layer}H{head}"] for layer in range(2) for head in range(2)]
        assert result.scalars[f"{family}/max"] == max(values)
    assert result.arrays["attention"]["pattern"].shape == (2, 2, 16, 16)
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


# A transformer whose attention is planted through its positions alone: token t embeds as e_t
# (coordinates 0..V−1), position i as e_{V+i}; queries and keys read only the position
# coordinates, and each head's query at i points at the positions it should attend to, so the
# patterns on every sequence are known exactly. Each head's OV circuit copies token k with sign s_k.
V, HALF_PLANTED = 6, 4
T_PLANTED = 2 * HALF_PLANTED
SHARP = 200.0  # query scale: a score gap of 200/√d_head ≈ 71, so the softmax is one-hot to ~1e-31


def attends(layer: int, head: int, i: int) -> list[int]:
    """The positions query i of each planted head attends to (equally; [] = uniform over j ≤ i)."""
    second_half = i >= HALF_PLANTED
    return [
        [[max(i - 1, 0)], [i - HALF_PLANTED + 1, i - HALF_PLANTED] if second_half else [i]],  # previous; ½ induction ½ duplicate
        [[], [i - HALF_PLANTED] if second_half else [i]],  # uniform; duplicate
    ][layer][head]


OV_SIGNS = [[[1] * 6, [1, 1, 1, -1, -1, -1]], [[-1] * 6, [1, -1, -1, -1, -1, -1]]]  # copying: 1, 1/2; 0, 1/6


def planted_attention_model() -> Transformer:
    d_model = V + T_PLANTED
    model = Transformer(V, T_PLANTED, V, d_model=d_model, n_layers=2, n_heads=2, d_head=T_PLANTED, d_mlp=0, last_only=False)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W[:, :V] = torch.eye(V)
        model.pos_embed.W[:, V:] = torch.eye(T_PLANTED)
        model.unembed.W[:V] = torch.eye(V)
        for layer, block in enumerate(model.blocks):
            for head in range(2):
                columns = slice(head * T_PLANTED, (head + 1) * T_PLANTED)
                for i in range(T_PLANTED):
                    for j in attends(layer, head, i):
                        block.attn.W_Q[V + i, columns][j] = SHARP
                block.attn.W_K[V:, columns] = torch.eye(T_PLANTED)
                for k, sign in enumerate(OV_SIGNS[layer][head]):
                    block.attn.W_V[k, columns][k] = sign
                    block.attn.W_O[columns][k, k] = 1.0
    return model


def test_the_probe_records_each_planted_heads_known_scores_under_its_name():
    split = Split(torch.zeros(2, T_PLANTED, dtype=torch.long), torch.zeros(2, T_PLANTED, dtype=torch.long))
    task = Task("planted", vocab_size=V, seq_len=T_PLANTED, num_classes=V, train=split, test=split, probe=split)
    result = run_probes(["attention"], ProbeContext.of_task(planted_attention_model(), task))
    uniform_previous = (1 / 2 + 1 / 3 + 1 / 4 + 1 / 5 + 1 / 6 + 1 / 7 + 1 / 8) / 7  # A[i, i−1] = 1/(i+1), i = 1..7
    uniform_induction = (1 / 5 + 1 / 6 + 1 / 7) / 3  # A[4+i, i+1] = 1/(5+i), i = 0..2
    uniform_duplicate = (1 / 5 + 1 / 6 + 1 / 7 + 1 / 8) / 4  # A[4+i, i] = 1/(5+i), i = 0..3
    expected = {
        "prev_token_score": {"L0H0": 1.0, "L0H1": 0.0, "L1H0": uniform_previous, "L1H1": 0.0, "max": 1.0},
        "induction_score": {"L0H0": 0.0, "L0H1": 0.5, "L1H0": uniform_induction, "L1H1": 0.0, "max": 0.5},
        "duplicate_token_score": {"L0H0": 0.0, "L0H1": 0.5, "L1H0": uniform_duplicate, "L1H1": 1.0, "max": 1.0},
        "copying_score": {"L0H0": 1.0, "L0H1": 0.5, "L1H0": 0.0, "L1H1": 1 / 6, "max": 1.0},
    }
    for family, heads in expected.items():
        for head, value in heads.items():
            assert result.scalars[f"{family}/{head}"] == pytest.approx(value, abs=1e-6), f"{family}/{head}"
    shown = result.arrays["attention"]["pattern"]  # (layers, heads, T, T) on the first sequence
    previous = torch.zeros(T_PLANTED, T_PLANTED)
    previous[0, 0] = 1.0
    previous[range(1, T_PLANTED), range(T_PLANTED - 1)] = 1.0
    causal = torch.ones(T_PLANTED, T_PLANTED).tril()
    assert torch.allclose(shown[0, 0], previous, atol=1e-6)
    assert torch.allclose(shown[1, 0], causal / causal.sum(-1, keepdim=True), atol=1e-6)

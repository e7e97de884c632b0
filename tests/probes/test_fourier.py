"""Closed-form checks of the Fourier progress measures (docs/science/grokking.md; Nanda et al. 2023)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from phasewatch.probes import fourier


def addition_table(n: int) -> torch.Tensor:
    """Answers (a + b) mod n for every pair: each residue n times."""
    a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    return ((a + b) % n).flatten()


def readout(answers: torch.Tensor, n: int, coefficients: dict[int, float]) -> torch.Tensor:
    """Logits Σ_k a_k cos(w_k(answer − c)), shape (M, n)."""
    diff = (answers[:, None] - torch.arange(n)[None, :]).double()
    return sum(a * torch.cos(2 * math.pi * k * diff / n) for k, a in coefficients.items())


@pytest.mark.parametrize("n", [2, 7, 8, 113])
def test_fourier_basis_is_orthonormal(n):
    basis = fourier.fourier_basis(n)
    assert torch.allclose(basis @ basis.T, torch.eye(n, dtype=torch.float64), atol=1e-12)
    freq = fourier.frequency_of_row(n)
    assert freq.shape == (n,) and freq[0] == 0 and freq.max() == n // 2
    # every frequency has a cos and a sin row, except the constant and the Nyquist row (even n)
    counts = torch.bincount(freq)
    assert counts[0] == 1 and (counts[1 : (n - 1) // 2 + 1] == 2).all()
    assert counts[-1] == (1 if n % 2 == 0 else 2)


def test_two_frequency_embedding_is_sparse():
    n = 31
    x = 2 * math.pi * torch.arange(n).double() / n
    embedding = torch.stack([(3 * x).cos(), (3 * x).sin(), (7 * x).cos(), 2 * (7 * x).sin()], 1)
    embedding = embedding + 0.7  # a constant offset is not structure
    norms = fourier.frequency_norms(embedding)
    assert norms.shape == (n // 2 + 1,)
    assert norms.sum() == pytest.approx(embedding.pow(2).sum().item())  # Parseval
    assert norms[3] == pytest.approx(n) and norms[7] == pytest.approx(2.5 * n)
    assert fourier.key_frequencies(embedding, k=2) == [7, 3]
    assert fourier.fourier_sparsity(embedding, k=2) == pytest.approx(1)
    assert fourier.fourier_sparsity(embedding, k=1) == pytest.approx(2.5 / 3.5)


def test_nyquist_frequency_for_even_order():
    n = 12
    embedding = torch.tensor([(-1.0) ** x for x in range(n)])[:, None]
    norms = fourier.frequency_norms(embedding)
    assert norms[n // 2] == pytest.approx(n) and norms[:-1].sum() == pytest.approx(0, abs=1e-12)
    assert fourier.key_frequencies(embedding, k=1) == [6]


def test_random_embedding_is_not_sparse():
    n, k = 59, 5
    embedding = torch.randn(n, 512, generator=torch.Generator().manual_seed(0))
    assert fourier.fourier_sparsity(embedding, k=k) == pytest.approx(k / (n // 2), abs=0.03)


def test_pure_readout_restricted_and_excluded_losses():
    n = 13
    answers = addition_table(n)
    logits = readout(answers, n, {2: 3.0, 5: 1.5}) + 4.0  # a constant never matters
    assert torch.allclose(fourier.restricted_logits(logits, answers, [2, 5], n), logits)
    assert fourier.restricted_loss(logits, answers, [5, 2], n) == pytest.approx(F.cross_entropy(logits, answers).item())
    assert fourier.excluded_loss(logits, answers, [2, 5], n) == pytest.approx(math.log(n))
    # keeping one of the two frequencies leaves the other in the excluded part
    kept = fourier.restricted_logits(logits, answers, [2], n)
    assert torch.allclose(kept, readout(answers, n, {2: 3.0}) + 4.0)


def brute_force_restricted(logits, answers, keys, n):
    """Least squares over the flattened table: key directions plus one indicator per row."""
    m = logits.shape[0]
    diff = (answers[:, None] - torch.arange(n)[None, :]).double()
    columns = [torch.cos(2 * math.pi * k * diff / n).flatten() for k in keys]
    rows = torch.eye(m, dtype=torch.float64).repeat_interleave(n, dim=0)  # (M·n, M)
    design = torch.cat([torch.stack(columns, 1), rows], dim=1)
    coef = torch.linalg.lstsq(design, logits.flatten()[:, None]).solution
    return (design @ coef).view(m, n)


@pytest.mark.parametrize("n, keys", [(11, [1, 4]), (12, [3, 6])])
def test_projection_with_uneven_answers_matches_least_squares(n, keys):
    gen = torch.Generator().manual_seed(0)
    answers = torch.randint(0, n, (40,), generator=gen)  # residues covered unevenly
    noise = torch.randn(40, n, generator=gen).double()
    logits = readout(answers, n, {k: 2.0 for k in keys}) + noise
    restricted = fourier.restricted_logits(logits, answers, keys, n)
    assert torch.allclose(restricted, brute_force_restricted(logits, answers, keys, n), atol=1e-10)
    excluded = logits - restricted
    assert torch.allclose(excluded.sum(1), torch.zeros(40, dtype=torch.float64), atol=1e-10)
    for k in keys:  # the excluded part has no component left along any key direction
        assert (excluded * readout(answers, n, {k: 1.0})).sum() == pytest.approx(0, abs=1e-9)


def test_noise_on_top_of_readout():
    n = 23
    answers = addition_table(n)
    clean = readout(answers, n, {3: 4.0, 8: 4.0})
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)).double()
    noisy = clean + 2.0 * noise
    # the projection strips the noise: restricted loss is close to the clean logits' loss,
    # far below the noisy logits' own loss, and the excluded part is mostly noise (near log n)
    clean_loss = F.cross_entropy(clean, answers).item()
    assert fourier.restricted_loss(noisy, answers, [3, 8], n) == pytest.approx(clean_loss, rel=0.05)
    assert F.cross_entropy(noisy, answers).item() > clean_loss + 0.5
    assert fourier.excluded_loss(noisy, answers, [3, 8], n) > math.log(n)


def test_excluded_loss_mask_selects_rows():
    n = 7
    answers = addition_table(n)
    logits = torch.randn(n * n, n, generator=torch.Generator().manual_seed(0)).double()
    mask = torch.arange(n * n) % 3 == 0
    excluded = logits - fourier.restricted_logits(logits, answers, [1, 3], n)
    expected = F.cross_entropy(excluded[mask], answers[mask]).item()
    assert fourier.excluded_loss(logits, answers, [1, 3], n, mask) == pytest.approx(expected)


def test_full_size_table_is_fast_enough():
    n = 113
    answers = addition_table(n)
    logits = torch.randn(n * n, n, generator=torch.Generator().manual_seed(0))
    loss = fourier.restricted_loss(logits, answers, [4, 14, 35, 41, 52], n)
    assert math.log(n) - 0.01 < loss < math.log(n) + 0.01  # random logits: ≈ uniform read-out


def test_invalid_input():
    answers = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError):
        fourier.restricted_loss(torch.zeros(3, 8), answers, [1], 7)
    with pytest.raises(ValueError):
        fourier.restricted_loss(torch.zeros(3, 7), answers, [4], 7)


def test_neuron_ipr_is_one_for_single_frequency_neurons_and_low_for_noise():
    from phasewatch.probes.fourier import neuron_ipr

    n = 31
    x = torch.arange(n, dtype=torch.float64)
    # each neuron reads one frequency, the layer as a whole reads many
    single = torch.stack([torch.cos(2 * torch.pi * (1 + j % 15) * x / n + j) for j in range(60)], dim=1)
    assert abs(neuron_ipr(single) - 1.0) < 1e-9
    noise = torch.randn(n, 200, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert neuron_ipr(noise) < 0.15  # ≈ 2/K for K = 15 frequencies of chi-square power

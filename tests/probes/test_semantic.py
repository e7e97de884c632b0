"""The semantic probe on the generated language, against representations planted with a known
geometry: every item vector is w·(its one-hot attribute row) ⊕ γ·(a private unit direction).

On the balanced grid of n = 48 nouns over factors of sizes m_f = (2, 3, 2), centring such vectors
gives, for items i ≠ j sharing K_ij attribute values,
    ⟨v_i − v̄, v_j − v̄⟩ = w² (K_ij − Σ_f 1/m_f) − γ²/n,   ‖v_i − v̄‖² = w² Σ_f (1 − 1/m_f) + γ² (1 − 1/n),
so the cosine is affine in K with slope (the alignment) w² / (w² Σ_f (1 − 1/m_f) + γ² (1 − 1/n))
and Pearson r = 1. The centred Gram has eigenvalues w² n/m_f + γ² (m_f − 1 times per factor: the
centred one-hot blocks of a balanced grid are orthogonal) and γ² on the other n − 1 − Σ (m_f − 1)
directions of 1⊥; ETF distance, effective rank and CKA follow from those spectra.
"""

import math

import pytest
import torch

from phasewatch.probes import ProbeContext, run_probes
from phasewatch.probes.semantic import judged_by
from phasewatch.tasks.language import language_task

SIZES = (2, 3, 2)
N_ITEMS = 48  # 12 attribute combinations × 4 nouns
STRUCTURE = sum(1 - 1 / m for m in SIZES)  # 5/3
GAMMA = {"features": 0.0, "classifier": 1.0, "layer0": 2.0}
DELTA = 0.5  # within-item spread of the feature rows


def task():
    return language_task(
        SIZES, subjects=8, determiners=3, adjectives=8, nouns_per_combination=4, contexts_per_pair=1, held_out_per_pair=0, seed=0
    )


def planted(attributes: torch.Tensor, gamma: float) -> torch.Tensor:
    """(items, 7 + items): the attribute row ⊕ γ times the item's own unit direction."""
    return torch.cat([attributes, gamma * torch.eye(len(attributes), dtype=attributes.dtype)], dim=1)


class PlantedLanguageModel(torch.nn.Module):
    """A stand-in for a two-block transformer: at each probe row's position, `blocks.1.resid_post`
    (the feature site) holds its item's planted vector ± DELTA × the item's centred vector (+ on the
    item's first probe row, − on its second), `blocks.0.resid_post` the item's γ = 2 vector; every
    other position holds a large constant, which a probe reading the wrong position would see. The
    unembedding columns of the items are their γ = 1 vectors."""

    def __init__(self, task):
        super().__init__()
        self.blocks = torch.nn.ModuleList([torch.nn.Identity(), torch.nn.Identity()])
        self.feature_site = "blocks.1.resid_post"
        a = task.attributes.float()
        means, layer0 = planted(a, GAMMA["features"]), planted(a, GAMMA["layer0"])
        labels, positions = task.probe_labels, task.probe_positions
        seen = torch.zeros(N_ITEMS, dtype=torch.bool)
        sign = torch.zeros(len(labels))
        for row, item in enumerate(labels.tolist()):
            sign[row] = -1.0 if seen[item] else 1.0
            seen[item] = True
        rows = torch.arange(len(labels))
        self.cache = {}
        for site, vectors, spread in (("blocks.0.resid_post", layer0, 0.0), ("blocks.1.resid_post", means, DELTA)):
            h = torch.full((len(labels), task.seq_len, vectors.shape[1]), 9.0)
            h[rows, positions] = vectors[labels] + spread * sign[:, None] * (vectors - vectors.mean(0))[labels]
            self.cache[site] = h
        unembed = torch.zeros(a.shape[1] + N_ITEMS, task.vocab_size)
        unembed[:, task.items] = planted(a, GAMMA["classifier"]).T
        self.unembed = torch.nn.Module()
        self.unembed.W = unembed
        self.vocab = task.vocab_size

    def run_with_cache(self, inputs, names):
        return torch.zeros(*inputs.shape, self.vocab), {name: self.cache[name] for name in names}


def spectrum(gamma: float) -> list[float]:
    """Nonzero eigenvalues of the centred Gram H V Vᵀ H of the planted vectors (w = 1)."""
    structure = [N_ITEMS / m + gamma**2 for m in SIZES for _ in range(m - 1)]
    return structure + [gamma**2] * (N_ITEMS - 1 - len(structure)) if gamma else structure


def test_the_semantic_probe_reads_the_planted_geometry_of_the_language_task():
    language = task()
    a = language.attributes
    assert a.shape == (N_ITEMS, sum(SIZES)) and a.sum(0).tolist() == [24, 24, 16, 16, 16, 24, 24]  # a balanced grid
    result = run_probes(["semantic"], ProbeContext.of_task(PlantedLanguageModel(language), language))
    scalars = result.scalars

    def alignment(gamma):
        return 1 / (STRUCTURE + gamma**2 * (1 - 1 / N_ITEMS))

    assert scalars["semantic_alignment/features"] == pytest.approx(alignment(0.0), rel=1e-6)  # 3/5
    assert scalars["semantic_alignment/classifier"] == pytest.approx(alignment(1.0), rel=1e-6)  # 48/127
    assert scalars["semantic_alignment/blocks.0.resid_post"] == pytest.approx(alignment(2.0), rel=1e-6)  # 12/67
    assert alignment(1.0) == pytest.approx(48 / 127) and alignment(2.0) == pytest.approx(12 / 67)
    for site in ("features", "classifier"):
        assert scalars[f"semantic_correlation/{site}"] == pytest.approx(1.0, rel=1e-6)

    kernel_spectrum = spectrum(0.0)  # H A Aᵀ H: 24, 16, 16, 24
    for site in ("features", "classifier"):
        lam = spectrum(GAMMA[site])
        norm = math.sqrt(sum(x * x for x in lam))
        # ETF distance: ‖G/‖G‖ − E/‖E‖‖, E = I − 11ᵀ/n the projector onto 1⊥ (n − 1 unit eigenvalues)
        etf = math.sqrt(2 - 2 * sum(lam) / (norm * math.sqrt(N_ITEMS - 1)))
        assert scalars[judged_by(f"semantic_alignment/{site}")] == pytest.approx(etf, rel=1e-6)
        # effective rank of the centred vectors: singular values √λ
        p = [math.sqrt(x) / sum(math.sqrt(y) for y in lam) for x in lam]
        assert scalars[f"effective_rank/{site}"] == pytest.approx(math.exp(-sum(q * math.log(q) for q in p)), rel=1e-6)
        # CKA against K = A Aᵀ: both centred Grams share the eigenbasis
        overlap = sum(x * k for x, k in zip(lam, kernel_spectrum))
        cka = overlap / (norm * math.sqrt(sum(k * k for k in kernel_spectrum)))
        assert scalars[f"cka/{site}"] == pytest.approx(cka, rel=1e-6)
    assert scalars["cka/features"] == pytest.approx(1.0)

    # NC1: residuals ±δ (μ_i − μ̄) make Σ_W = δ² Σ_B, so (1/C) tr(Σ_W Σ_B⁺) = δ² rank(Σ_B)/C = δ² · 4/48
    assert scalars["nc1/features"] == pytest.approx(DELTA**2 * 4 / N_ITEMS, rel=1e-6)
    # NC3: classifier rows [HA | H] against centred means [HA | 0]: 2 − 2 ⟨W, M⟩/(‖W‖ ‖M‖) = 2 − 2√(80/127)
    assert scalars["nc3/features"] == pytest.approx(2 - 2 * math.sqrt(80 / 127), rel=1e-6)

    # the cosine Gram of the centred means, items in attribute order: (K − Σ 1/m_f) / Σ (1 − 1/m_f)
    kernel = a @ a.T
    expected_gram = (kernel - sum(1 / m for m in SIZES)) / STRUCTURE
    assert torch.allclose(result.arrays["gram/features"]["gram"], expected_gram.float(), atol=1e-6)


def test_judged_by_names_the_etf_distance_at_the_same_site():
    assert judged_by("semantic_alignment/features") == "etf_distance/features"
    assert judged_by("semantic_alignment/blocks.0.resid_post") == "etf_distance/blocks.0.resid_post"

"""A probe set that lacks a class: the class-mean measures are taken over the classes present,
not turned into NaN or a false "total collapse" (effective rank 0)."""

from __future__ import annotations

import math

import pytest
import torch

from phasewatch.probes import ProbeContext, run_probes
from phasewatch.probes.semantic import structure_scalars
from phasewatch.tasks.base import Split, Task

FEATURES = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])  # classes 0, 0, 1, 3
LABELS = torch.tensor([0, 0, 1, 3])  # class 2 of 4 never occurs


class FixedFeatures(torch.nn.Module):
    """A stand-in model whose feature site holds FEATURES for the probe rows."""

    feature_site = "features"

    def run_with_cache(self, inputs, names=()):
        return torch.zeros(len(inputs), 4), {"features": FEATURES[: len(inputs)]}


def task() -> Task:
    split = Split(torch.zeros(4, 1, dtype=torch.long), LABELS)
    return Task("missing-class", vocab_size=1, seq_len=1, num_classes=4, train=split, test=split, probe=split)


def test_class_gram_ranks_the_present_classes():
    scalars = run_probes(["class_gram"], ProbeContext.of_task(FixedFeatures(), task())).scalars
    # the three present means (1,0,0), (0,2,0), (0,0,3), centred on their own mean: rank between 1 and 2
    present = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    s = torch.linalg.svdvals(present - present.mean(0))
    p = s / s.sum()
    expected = math.exp(-(p[p > 0] * p[p > 0].log()).sum().item())
    assert scalars["effective_rank/class_means"] == pytest.approx(expected, rel=1e-12)
    assert 1.5 < expected < 2.0
    # ETF distance over the 3 present classes: ‖G/‖G‖ − E/‖E‖‖, E = I₃ − 11ᵀ/3 (‖E‖ = √2), G = M Mᵀ
    m = present - present.mean(0)
    g = m @ m.T
    etf = (g / g.norm() - (torch.eye(3, dtype=torch.float64) - 1 / 3) / math.sqrt(2)).norm().item()
    assert scalars["etf_distance/class_means"] == pytest.approx(etf, rel=1e-12)


def test_structure_scalars_leave_an_absent_item_out_of_cka_and_rank():
    vectors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [math.nan, math.nan], [0.0, 1.0]], dtype=torch.float64)
    kernel = torch.tensor([[2.0, 1, 0, 0], [1, 2, 0, 0], [0, 0, 2, 1], [0, 0, 1, 2]], dtype=torch.float64)
    scalars = structure_scalars(vectors, kernel, "features")
    kept = [0, 1, 3]
    v = vectors[kept] - vectors[kept].mean(0)
    h = torch.eye(3, dtype=torch.float64) - 1 / 3
    a, b = h @ (v @ v.T) @ h, h @ kernel[kept][:, kept] @ h
    assert scalars["cka/features"] == pytest.approx(((a * b).sum() / (a.norm() * b.norm())).item(), rel=1e-12)
    # two independent directions among the present items: exp(entropy of the normalised singular values)
    sv = torch.linalg.svdvals(v)
    p = sv / sv.sum()
    assert scalars["effective_rank/features"] == pytest.approx(math.exp(-(p * p.log()).sum().item()), rel=1e-12)
    assert 1.0 < scalars["effective_rank/features"] < 2.0

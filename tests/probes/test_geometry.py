"""Closed-form checks of the geometry probes (docs/science/metrics.md)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from phasewatch.probes import geometry as G


def rotation(d: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))[0]


def simplex_etf(c: int, d: int, *, scale: float = 2.5, seed: int = 0) -> torch.Tensor:
    """C unit vectors (times scale) with pairwise cosine −1/(C−1), rotated into R^d and shifted."""
    etf = (torch.eye(c) - 1.0 / c).double() * math.sqrt(c / (c - 1))  # rows: unit norm
    padded = torch.cat([etf, torch.zeros(c, d - c, dtype=torch.float64)], dim=1)
    offset = torch.randn(d, generator=torch.Generator().manual_seed(seed + 1)).double()
    return scale * padded @ rotation(d, seed) + offset  # the metrics centre the offset away


def attributes(sizes=(2, 3, 2), per_combination: int = 2) -> torch.Tensor:
    """One-hot-per-factor attribute matrix A (N × Σ sizes) over every combination."""
    rows = []
    for combo in itertools.product(*(range(s) for s in sizes)):
        row = torch.cat([F.one_hot(torch.tensor(v), s) for v, s in zip(combo, sizes)])
        rows += [row] * per_combination
    return torch.stack(rows).double()


def test_class_means_and_absent_class():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    means = G.class_means(x, torch.tensor([0, 0, 2]), 3)
    assert means.dtype == torch.float64
    assert torch.equal(means[0], torch.tensor([2.0, 3.0], dtype=torch.float64))
    assert torch.isnan(means[1]).all()
    assert torch.equal(means[2], torch.tensor([5.0, 6.0], dtype=torch.float64))


def test_absent_classes_are_dropped():
    means = torch.randn(6, 10, generator=torch.Generator().manual_seed(3)).double()
    with_gap = torch.cat([means[:2], torch.full((1, 10), math.nan), means[2:]])
    assert G.etf_distance(with_gap) == pytest.approx(G.etf_distance(means))
    assert G.nc2_equinorm(with_gap) == pytest.approx(G.nc2_equinorm(means))
    assert G.nc2_max_angle(with_gap) == pytest.approx(G.nc2_max_angle(means))
    assert G.effective_rank(with_gap) == pytest.approx(G.effective_rank(means))
    kernel = torch.rand(7, 7, generator=torch.Generator().manual_seed(4))
    keep = torch.tensor([True, True, False, True, True, True, True])
    assert G.semantic_alignment(with_gap, kernel) == pytest.approx(G.semantic_alignment(means, kernel[keep][:, keep]))


def test_gram_closed_form():
    v = torch.tensor([[1.0, 0.0], [3.0, 0.0], [2.0, 2.0]])
    assert torch.allclose(G.gram(v, center=False), (v @ v.T).double())
    centred = G.gram(v)  # mean (2, 2/3)
    assert centred[0, 1] == pytest.approx(-1 * 1 + (2 / 3) ** 2)
    cos = G.gram(v, center=False, cosine=True)
    assert torch.allclose(cos.diagonal(), torch.ones(3, dtype=torch.float64))
    assert cos[0, 2] == pytest.approx(1 / math.sqrt(2))


@pytest.mark.parametrize("c, d", [(4, 4), (10, 32)])
def test_simplex_etf_is_collapsed(c, d):
    etf = simplex_etf(c, d)
    assert G.etf_distance(etf) == pytest.approx(0, abs=1e-10)
    assert G.nc2_equinorm(etf) == pytest.approx(0, abs=1e-10)
    assert G.nc2_equiangularity(etf) == pytest.approx(0, abs=1e-10)
    assert G.nc2_max_angle(etf) == pytest.approx(0, abs=1e-10)
    kernel = torch.rand(c, c, generator=torch.Generator().manual_seed(5))
    kernel = kernel + kernel.T
    assert G.semantic_alignment(etf, kernel) == pytest.approx(0, abs=1e-10)
    # its Gram is C/(C−1)·(I − 11ᵀ/C) for unit vectors
    gram = G.gram(etf / 2.5 - etf.mean(0) / 2.5)
    assert torch.allclose(gram, (torch.eye(c) - 1 / c).double() * c / (c - 1), atol=1e-12)


def test_random_vectors_are_between_etf_and_clustered():
    x = torch.randn(12, 64, generator=torch.Generator().manual_seed(0))
    assert 0.3 < G.etf_distance(x) < 0.7
    clustered = torch.randn(12, 1, generator=torch.Generator().manual_seed(1)) * torch.ones(12, 64)
    assert G.etf_distance(clustered) > 1


def test_nc1_zero_when_features_equal_means():
    means = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(5).repeat(4)
    assert G.nc1(means[labels], labels, 5) == pytest.approx(0, abs=1e-20)


def test_nc1_closed_form_uses_pseudo_inverse():
    # Means ±e1; within-class spread ±s along e1 and ±t along e2 (outside the span of the means,
    # ignored by Σ_B⁺). Σ_W = diag(s², t²), Σ_B = e1e1ᵀ → NC1 = (1/2)·s².
    s, t = 0.3, 5.0
    x = torch.tensor([[1 + s, t], [1 - s, -t], [-1 + s, t], [-1 - s, -t]])
    labels = torch.tensor([0, 0, 1, 1])
    assert G.nc1(x, labels, 2) == pytest.approx(s**2 / 2)


def test_nc3_self_duality():
    means = torch.randn(6, 16, generator=torch.Generator().manual_seed(0)).double()
    centred = means - means.mean(0)
    assert G.nc3_self_duality(3 * means + 7.0, means) == pytest.approx(0, abs=1e-20)
    assert G.nc3_self_duality(-centred, means) == pytest.approx(4)


def test_nc4_ncc_mismatch():
    means = 10 * torch.eye(4)
    labels = torch.arange(4).repeat(3)
    features = means[labels] + 0.1 * torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    ncc_logits = -torch.cdist(features, means)  # argmax = nearest centre
    assert G.nc4_ncc_mismatch(features, labels, ncc_logits) == 0
    wrong = ncc_logits.clone()
    wrong[:6] = wrong[:6].roll(1, dims=1)  # the first half now predicts another class
    assert G.nc4_ncc_mismatch(features, labels, wrong) == pytest.approx(0.5)


def test_semantic_alignment_of_attribute_built_vectors():
    a = attributes()
    kernel = a @ a.T
    b = torch.randn(128, a.shape[1], generator=torch.Generator().manual_seed(0)).double()
    vectors = a @ b.T  # v_i = B a_i: shares a direction per shared attribute value
    assert G.semantic_alignment(vectors, kernel) > 0.1
    assert G.semantic_correlation(vectors, kernel) > 0.95
    # orthonormal attribute directions: centred cosine is exactly affine in K
    q = rotation(128)[:, : a.shape[1]]
    assert G.semantic_correlation(a @ q.T, kernel) == pytest.approx(1)
    # on the balanced grid, centred ⟨v_i, v_j⟩ = K_ij − Σ_f 1/m_f and ‖v_i‖² = Σ_f (1 − 1/m_f) = 5/3 for
    # sizes (2, 3, 2), so the slope is 3/5; private orthonormal directions γ e_i (n = 24 rows) add
    # γ² (1 − 1/n) to the squared norm: slope 1/(5/3 + γ² · 23/24)
    assert G.semantic_alignment(a @ q.T, kernel) == pytest.approx(3 / 5, rel=1e-12)
    private = torch.cat([a, 2.0 * torch.eye(len(a), dtype=torch.float64)], dim=1)
    assert G.semantic_alignment(private, kernel) == pytest.approx(1 / (5 / 3 + 4 * 23 / 24), rel=1e-12)
    # strength, not shape: shrinking the attribute part lowers the slope, not the correlation
    noise = torch.randn(a.shape[0], 128, generator=torch.Generator().manual_seed(1)).double()
    strong = G.semantic_alignment(a @ q.T + 0.05 * noise, kernel)
    weak = G.semantic_alignment(0.2 * a @ q.T + 0.05 * noise, kernel)
    assert strong > 2 * weak > 0


def test_semantic_alignment_of_random_vectors_is_near_zero():
    a = attributes(per_combination=4)
    vectors = torch.randn(a.shape[0], 256, generator=torch.Generator().manual_seed(0))
    assert abs(G.semantic_alignment(vectors, a @ a.T)) < 0.01
    assert abs(G.semantic_correlation(vectors, a @ a.T)) < 0.2


def test_effective_rank():
    assert G.effective_rank(torch.eye(7)) == pytest.approx(7)
    u, v = torch.randn(9, 1).double(), torch.randn(1, 5).double()
    assert G.effective_rank(u @ v) == pytest.approx(1, abs=1e-6)
    assert G.effective_rank(torch.diag(torch.tensor([1.0, 1.0, 0.0]))) == pytest.approx(2)
    assert G.effective_rank(torch.zeros(3, 3)) == 0


def test_cka():
    x = torch.randn(20, 6, generator=torch.Generator().manual_seed(0))
    y = torch.randn(20, 6, generator=torch.Generator().manual_seed(1))
    gx, gy = x @ x.T, y @ y.T
    assert G.cka(gx, gx) == pytest.approx(1)
    assert G.cka(5 * gx, gy) == pytest.approx(G.cka(gx, 0.1 * gy))
    assert 0 < G.cka(gx, gy) < 1
    # centring: adding a constant to every entry (a shared offset direction) changes nothing
    assert G.cka(gx + 3.0, gy) == pytest.approx(G.cka(gx, gy))


def test_cka_equals_the_feature_space_formula():
    """Kornblith et al. 2019, eq. for linear CKA on centred features: ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)."""
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y = x @ torch.randn(5, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    y = y + 0.5 * torch.randn(30, 7, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    xc, yc = x - x.mean(0), y - y.mean(0)
    feature_space = (yc.T @ xc).norm() ** 2 / ((xc.T @ xc).norm() * (yc.T @ yc).norm())
    assert G.cka(x @ x.T, y @ y.T) == pytest.approx(feature_space.item(), rel=1e-12)


def _unbalanced():
    """Three classes of 1, 1 and 6 points in the plane (class c's points spread around a centre)."""
    centres = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-1.0, -1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 2, 2, 2, 2, 2])
    spread = torch.tensor(
        [[0, 0], [0, 0], [0.3, 0], [-0.3, 0], [0, 0.3], [0, -0.3], [0.2, 0.2], [-0.2, -0.2]], dtype=torch.float64
    )
    return centres[labels] + spread, labels


def _nc1_by_hand(x: torch.Tensor, labels: torch.Tensor, centre: torch.Tensor) -> float:
    """(1/C) tr(Σ_W Σ_B⁺) with d × d matrices and numpy's pinv: an implementation independent of G."""
    import numpy as np

    c = int(labels.max()) + 1
    means = torch.stack([x[labels == k].mean(0) for k in range(c)])
    within = (x - means[labels]).T @ (x - means[labels]) / len(x)
    between = (means - centre).T @ (means - centre) / c
    return float(np.trace(within.numpy() @ np.linalg.pinv(between.numpy())) / c)


def test_nc1_centres_on_the_mean_of_class_means_which_differs_from_the_global_mean_when_unbalanced():
    x, labels = _unbalanced()
    means = torch.stack([x[labels == k].mean(0) for k in range(3)])
    ours = G.nc1(x, labels, 3)
    assert ours == pytest.approx(_nc1_by_hand(x, labels, means.mean(0)), rel=1e-9)
    papyan = _nc1_by_hand(x, labels, x.mean(0))  # the source's global feature mean
    assert abs(ours - papyan) / papyan > 0.05  # the variant the docstring names is a real difference here


def test_etf_distance_is_zhu_et_al_with_class_mean_centring_when_unbalanced():
    x, labels = _unbalanced()
    means = torch.stack([x[labels == k].mean(0) for k in range(3)])
    m = means - means.mean(0)
    g = m @ m.T
    target = (torch.eye(3, dtype=torch.float64) - 1 / 3) / math.sqrt(2)  # ‖I − 11ᵀ/C‖_F = √(C − 1)
    assert G.etf_distance(means) == pytest.approx((g / g.norm() - target).norm().item(), rel=1e-12)
    m_global = means - x.mean(0)
    g_global = m_global @ m_global.T
    assert abs(G.etf_distance(means) - (g_global / g_global.norm() - target).norm().item()) > 0.05

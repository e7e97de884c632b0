"""Representation geometry: Gram matrices, semantic structure and neural collapse.

Pure math: tensors in, numbers or tensors out, on whatever device the inputs live. Everything is
computed in float64 (sums of squares over thousands of vectors lose digits in float32).

Conventions (formulas: docs/science/metrics.md):
- Class means come as a (C, d) tensor, one row per class. A class absent from the probe batch has
  a NaN row (see `class_means`); every scalar metric below drops such rows and works on the C'
  present classes, so C in a formula means C' (`gram` keeps them as NaN rows and columns).
- "Centred" class means subtract the mean of the class means (the global mean μ_G of a balanced
  set); for unbalanced probe sets this keeps the ETF measures about the classes, not their sizes.
- Scalars come back as Python floats; NaN where a metric is undefined (fewer than two classes,
  a zero-variance fit, all-zero input).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _f64(x: Tensor) -> Tensor:
    return x.detach().to(torch.float64)


def present(rows: Tensor) -> Tensor:
    """Boolean mask of the rows without NaN: the classes (or items) present in the probe set."""
    return ~torch.isnan(rows).any(dim=1)


def _centred_means(means: Tensor) -> Tensor:
    """Present class means minus their mean: the rows of Mᵀ in docs/science/metrics.md, shape (C', d)."""
    m = _f64(means)
    m = m[present(m)]
    return m - m.mean(dim=0, keepdim=True)


def centre(vectors: Tensor) -> Tensor:
    """The rows minus the mean of the present rows (those without NaN), in the rows' own dtype:
    an absent class keeps its NaN row and leaves the others' centring alone."""
    return vectors - vectors[present(vectors)].mean(dim=0, keepdim=True)


def _off_diagonal(matrix: Tensor) -> Tensor:
    """Entries above the diagonal (each unordered pair once)."""
    i, j = torch.triu_indices(matrix.shape[0], matrix.shape[1], offset=1, device=matrix.device)
    return matrix[i, j]


def class_means(features: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """μ_c = mean of the features with label c, shape (C, d), float64.

    Classes with no sample in the batch get a row of NaN (not zeros, which would look like a real
    mean at the origin); the metrics in this module drop those rows.
    """
    x, labels = _f64(features), labels.to(features.device)
    sums = x.new_zeros(num_classes, x.shape[1]).index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=num_classes).to(x.dtype)[:, None]
    return torch.where(counts > 0, sums / counts.clamp(min=1), torch.nan)


def gram(vectors: Tensor, *, center: bool = True, cosine: bool = False) -> Tensor:
    """G_ij = ⟨v_i − v̄, v_j − v̄⟩ (center) or ⟨v_i, v_j⟩, shape (n, n), float64.

    cosine=True divides by the norms: G_ij = cos(v_i − v̄, v_j − v̄). The mean v̄ is taken over
    the rows without NaN, so an absent class only blanks its own row and column. A zero vector
    has cosine 0 with everything (its norm is clamped, not divided by zero).
    """
    v = _f64(vectors)
    if center:
        v = v - v[present(v)].mean(dim=0, keepdim=True)
    if cosine:
        v = v / v.norm(dim=1, keepdim=True).clamp(min=torch.finfo(v.dtype).tiny)
    return v @ v.T


def effective_rank(matrix: Tensor) -> float:
    """exp(−Σ_k p_k log p_k), p_k = σ_k / Σ_j σ_j over the singular values σ (Roy & Vetterli 2007,
    "The effective rank: a measure of effective dimensionality"). 1 for rank one, k for I_k; 0 for
    an all-zero matrix (no direction at all). Rows with NaN (absent classes) are dropped."""
    m = _f64(matrix)
    s = torch.linalg.svdvals(m[present(m)])
    if s.sum() == 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]  # 0 log 0 = 0
    return math.exp(-(p * p.log()).sum().item())


def etf_distance(class_means: Tensor) -> float:
    """‖ MᵀM/‖MᵀM‖_F − E/‖E‖_F ‖_F, E = I_C − 11ᵀ/C, M the centred class means (d × C).

    The NC2 measure of Zhu et al. 2021 ("A geometric analysis of neural collapse with unconstrained
    features": ‖E‖_F = √(C − 1)), for the simplex ETF of Papyan, Han & Donoho 2020, with the means
    centred on the mean of the class means (not the global feature mean). The normalised Gram of
    the means against the ETF's: 0 for an ETF of any scale, ≈ 0.3–0.7 for random vectors,
    > 1 for low-rank clustered states; at most 2 (both terms are unit vectors).
    """
    m = _centred_means(class_means)
    c = m.shape[0]
    if c < 2:
        return math.nan
    g = m @ m.T
    e = torch.eye(c, dtype=g.dtype, device=g.device) - 1.0 / c
    return (g / g.norm() - e / e.norm()).norm().item()


def nc1(features: Tensor, labels: Tensor, num_classes: int) -> float:
    """NC1 = (1/C) tr(Σ_W Σ_B⁺) (Papyan, Han & Donoho 2020, "Prevalence of neural collapse").

    Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ, Σ_B = (1/C) Σ_c (μ_c − μ_G)(μ_c − μ_G)ᵀ.
    Departs from the source: μ_G is the mean of the class means, not Papyan's global mean of the
    features; the two agree for balanced classes and differ with unbalanced ones (a test shows
    both).
    Σ_B⁺ its Moore–Penrose pseudo-inverse. With the SVD of the centred means (rows) M = U S Vᵀ,
    Σ_B⁺ = C V S⁻² Vᵀ, so NC1 = Σ_k ‖R v_k‖² / (N s_k²), R the within-class residuals: no d × d
    matrix is formed. Pseudo-inverse cut-off: at most C − 1 directions (the rank of centred means;
    Papyan et al. keep the top C − 1), and only s_k > max(C, d)·ε·s_max with ε the precision of
    the input features (the numpy/torch matrix_rank rule), so rounding noise is not inverted.
    """
    x = _f64(features)
    means = class_means(features, labels, num_classes)
    residuals = x - means[labels]
    m = _centred_means(means)
    c = m.shape[0]
    if c < 2:
        return math.nan
    _, s, vh = torch.linalg.svd(m, full_matrices=False)
    if s[0] == 0:  # all means equal: no between-class scatter to compare with
        return math.nan
    eps = torch.finfo(features.dtype if features.is_floating_point() else torch.float64).eps
    keep = s > max(c, m.shape[1]) * eps * s[0]
    keep[c - 1 :] = False
    s, v = s[keep], vh[keep].T
    return ((residuals @ v).pow(2).sum(dim=0) / s.pow(2)).sum().item() / x.shape[0]


def nc2_equinorm(class_means: Tensor) -> float:
    """std_c ‖μ_c − μ_G‖ / mean_c ‖μ_c − μ_G‖ → 0 (Papyan et al. 2020, NC2 equinorm).
    Sample std (N − 1), as torch.std in the reference implementations. μ_G: the mean of the class
    means (Papyan: the global feature mean; equal for balanced classes)."""
    norms = _centred_means(class_means).norm(dim=1)
    return (norms.std() / norms.mean()).item() if norms.numel() >= 2 else math.nan


def _mean_cosines(class_means: Tensor) -> Tensor:
    """cos(μ_c − μ_G, μ_c' − μ_G) for each unordered pair c ≠ c'."""
    return _off_diagonal(gram(_centred_means(class_means), center=False, cosine=True))


def nc2_equiangularity(class_means: Tensor) -> float:
    """std over pairs c ≠ c' of cos(μ_c − μ_G, μ_c' − μ_G) → 0 (Papyan et al. 2020, NC2).
    Sample std over the C(C − 1)/2 unordered pairs; needs C ≥ 3 (one pair has no spread)."""
    cos = _mean_cosines(class_means)
    return cos.std().item() if cos.numel() >= 2 else math.nan


def nc2_max_angle(class_means: Tensor) -> float:
    """mean over pairs c ≠ c' of |cos(μ_c − μ_G, μ_c' − μ_G) + 1/(C − 1)| → 0 (Papyan et al. 2020,
    NC2: the pairs reach the largest possible equal angle, cosine −1/(C − 1))."""
    cos = _mean_cosines(class_means)
    if cos.numel() == 0:
        return math.nan
    c = int(present(class_means).sum())
    return (cos + 1.0 / (c - 1)).abs().mean().item()


def nc3_self_duality(classifier: Tensor, class_means: Tensor) -> float:
    """NC3 = ‖ Wᵀ/‖W‖_F − M/‖M‖_F ‖_F² → 0 (Papyan et al. 2020, self-duality).

    W (C × d) the classifier rows, centred across classes (a bias-like shift common to all rows
    does not change the argmax); M the centred class means. Rows of absent classes are dropped
    from both. 0 when W is a positive multiple of the means, up to 4 when W = −M.
    """
    w = _f64(classifier)[present(class_means)]
    w = w - w.mean(dim=0, keepdim=True)
    m = _centred_means(class_means)
    return (w / w.norm() - m / m.norm()).pow(2).sum().item()


def nc4_ncc_mismatch(features: Tensor, labels: Tensor, logits: Tensor) -> float:
    """Share of inputs where argmax_c logits differs from argmin_c ‖h − μ_c‖ → 0 (Papyan et al.
    2020, NC4: the classifier becomes the nearest-class-centre rule).

    logits (N, C) are the network's own outputs W h + b; the means come from `features`, `labels`
    (C = logits.shape[1]). A class absent from the batch is never the nearest centre.
    """
    means = class_means(features, labels, logits.shape[1])
    dist = torch.cdist(_f64(features), torch.nan_to_num(means))
    dist[:, ~present(means)] = torch.inf
    return (dist.argmin(dim=1) != logits.argmax(dim=1)).double().mean().item()


def _semantic_pairs(vectors: Tensor, kernel: Tensor) -> tuple[Tensor, Tensor]:
    """(kernel entries, cosine-Gram entries) over the off-diagonal pairs of the present rows."""
    keep = present(_f64(vectors))
    g = gram(vectors[keep], center=True, cosine=True)
    k = _f64(kernel).to(keep.device)[keep][:, keep]
    return _off_diagonal(k), _off_diagonal(g)


def semantic_alignment(vectors: Tensor, kernel: Tensor) -> float:
    """OLS slope b of cos_ij on K_ij over pairs i ≠ j: b = cov(K, cos) / var(K).

    cos is the cosine Gram of the vectors centred by their global mean, K the attribute kernel
    (e.g. A Aᵀ, shared attribute values). b is the cosine gained per shared attribute: 0 for a
    simplex ETF (constant off-diagonal cosine) and for unstructured vectors, growing with the
    strength of attribute clustering (docs/science/structure_before_collapse.md; Zhao, Papadimitriou &
    Thrampoulidis 2026). NaN when the kernel's off-diagonal is constant.
    """
    v, k = _f64(vectors), _f64(kernel).to(vectors.device)
    keep = present(v)
    if _off_diagonal(k[keep][:, keep]).var(correction=0) == 0:
        return math.nan
    return alignment_slope(v[keep], k[keep][:, keep]).item()


def alignment_slope(vectors: Tensor, kernel: Tensor) -> Tensor:
    """`semantic_alignment` as a differentiable tensor in the vectors' dtype (no NaN rows, a
    non-constant kernel): what the structure penalty in train/ differentiates."""
    v = vectors - vectors.mean(dim=0, keepdim=True)
    v = v / v.norm(dim=1, keepdim=True).clamp(min=torch.finfo(v.dtype).tiny)
    k, g = _off_diagonal(kernel.to(v)), _off_diagonal(v @ v.T)
    k = k - k.mean()
    return k @ (g - g.mean()) / k.pow(2).sum()


def semantic_correlation(vectors: Tensor, kernel: Tensor) -> float:
    """Pearson r between the same off-diagonal entries as `semantic_alignment`: the shape of the
    structure, blind to its strength (≈ 1 again near an ETF: never read it alone). NaN when either
    side is constant, e.g. an exact ETF."""
    k, g = _semantic_pairs(vectors, kernel)
    k, g = k - k.mean(), g - g.mean()
    denom = k.norm() * g.norm()
    return (k @ g / denom).item() if denom > 0 else math.nan


def cka(gram_a: Tensor, gram_b: Tensor) -> float:
    """Linear CKA = ⟨HAH, HBH⟩_F / (‖HAH‖_F ‖HBH‖_F), H = I − 11ᵀ/n (Kornblith, Norouzi, Lee &
    Hinton 2019, "Similarity of neural network representations revisited"). Takes two (n, n)
    Gram matrices (e.g. a representation Gram and the attribute kernel); 1 for equal Grams,
    invariant to scaling either. NaN when one centres to zero."""

    def centre(g: Tensor) -> Tensor:
        g = _f64(g)
        return g - g.mean(dim=0, keepdim=True) - g.mean(dim=1, keepdim=True) + g.mean()

    a, b = centre(gram_a), centre(gram_b)
    denom = a.norm() * b.norm()
    return ((a * b).sum() / denom).item() if denom > 0 else math.nan


def ridge(x: Tensor, y: Tensor, strength: float) -> Tensor:
    """Ridge regression of y (N, k) on centred x (N, d): W = (XᵀX + λI)⁻¹ XᵀY, (d, k), with
    λ = strength · tr(XᵀX) / d, so the penalty is relative to the features' scale (Hoerl & Kennard
    1970; the closed form linear probes use, Alain & Bengio 2016). float64 in, float64 out."""
    gram = x.T @ x
    penalty = strength * gram.trace().clamp_min(1e-12) / len(gram)
    return torch.linalg.solve(gram + penalty * torch.eye(len(gram), dtype=gram.dtype, device=gram.device), x.T @ y)

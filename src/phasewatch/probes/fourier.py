"""Fourier progress measures for grokking on a cyclic group Z_n.

Nanda, Chan, Lieberum, Smith & Steinhardt 2023, "Progress measures for grokking via mechanistic
interpretability": a transformer that groks a + b mod p embeds tokens as cos/sin of a few key
frequencies w_k = 2πk/p and reads the answer out as cos(w_k(a + b − c)). Power et al. 2022
("Grokking") is the phenomenon. Docs: docs/science/grokking.md.

Everything up to the probe works on a generic cyclic group of order n with elements indexed
0..n−1 (for × and ÷ mod p the caller maps residues to discrete logarithms first, so n = p − 1 can
be even): tensors in, numbers or tensors out, float64 inside, on the inputs' device. The `fourier`
probe at the end reads them off a modular-arithmetic task's model.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from phasewatch.models.interface import HookedView
from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe
from phasewatch.tasks.modular import ModularTask


def fourier_basis(n: int, device: torch.device | str | None = None) -> Tensor:
    """Orthonormal Fourier basis of R^n as rows, shape (n, n), float64.

    Rows: the constant 1/√n; then cos(w_k x), sin(w_k x) · √(2/n) for k = 1..⌊(n−1)/2⌋,
    w_k = 2πk/n; and for even n the Nyquist row cos(πx)/√n = (−1)^x/√n (its sine is zero).
    `frequency_of_row(n)` gives the frequency k of each row.
    """
    x = torch.arange(n, dtype=torch.float64, device=device)
    k = torch.arange(1, (n - 1) // 2 + 1, dtype=torch.float64, device=device)
    angles = 2 * math.pi * k[:, None] * x[None, :] / n
    # interleave cos_k, sin_k so rows of one frequency sit together
    pairs = torch.stack([angles.cos(), angles.sin()], dim=1).reshape(-1, n) * math.sqrt(2 / n)
    rows = [torch.full((1, n), 1 / math.sqrt(n), dtype=torch.float64, device=device), pairs]
    if n % 2 == 0:
        rows.append((math.pi * x).cos()[None, :] / math.sqrt(n))
    return torch.cat(rows)


def frequency_of_row(n: int, device: torch.device | str | None = None) -> Tensor:
    """Frequency k of each row of `fourier_basis(n)`: [0, 1, 1, 2, 2, …] (+ n/2 for even n)."""
    pairs = torch.arange(1, (n - 1) // 2 + 1, device=device).repeat_interleave(2)
    rows = [torch.zeros(1, dtype=torch.long, device=device), pairs]
    if n % 2 == 0:
        rows.append(torch.tensor([n // 2], device=device))
    return torch.cat(rows)


def frequency_power(embedding: Tensor) -> Tensor:
    """‖P_k e_j‖² per frequency k = 0..⌊n/2⌋ and column j, shape (⌊n/2⌋ + 1, d), float64.

    E (n, d) has one row per group element in group order; P_k projects a column onto the span
    of frequency k (the cos and sin rows of `fourier_basis`).
    """
    e = embedding.detach().to(torch.float64)
    n = e.shape[0]
    coeffs = fourier_basis(n, device=e.device) @ e  # (n, d): one row per basis vector
    freq = frequency_of_row(n, device=e.device)
    return e.new_zeros(n // 2 + 1, e.shape[1]).index_add_(0, freq, coeffs.pow(2))


def frequency_norms(embedding: Tensor) -> Tensor:
    """‖P_k E‖_F² per frequency k = 0..⌊n/2⌋, shape (⌊n/2⌋ + 1,), float64 (index 0: constant).

    The norms sum to ‖E‖_F² (Parseval), so they can be read as shares. Nanda et al. 2023, Fig. 3
    (embedding norms).
    """
    return frequency_power(embedding).sum(dim=1)


def neuron_ipr(embedding: Tensor) -> float:
    """Mean inverse participation ratio of the columns' (neurons') Fourier spectra, in [1/K, 1].

    IPR_j = Σ_k P_kj² / (Σ_k P_kj)², P_kj = ‖P_k e_j‖² over the K non-constant frequencies;
    1 when neuron j reads a single frequency. Gromov 2023 and Doshi et al. 2024 track it for the
    grokking MLP, whose neurons each pick one frequency while the layer uses them all (so the
    whole-embedding `fourier_sparsity` stays low there). Columns with no non-constant part are
    skipped.
    """
    power = frequency_power(embedding)[1:]
    total = power.sum(dim=0)
    live = total > 0
    return (power[:, live].pow(2).sum(dim=0) / total[live].pow(2)).mean().item()


def key_frequencies(embedding: Tensor, k: int = 5) -> list[int]:
    """The k non-constant frequencies with the largest `frequency_norms`, largest first."""
    norms = frequency_norms(embedding)[1:]
    return [int(i) + 1 for i in norms.topk(min(k, norms.numel())).indices]


def fourier_sparsity(embedding: Tensor, k: int = 5) -> float:
    """Share of the embedding's non-constant Fourier norm² in its top-k frequencies, in [k/K, 1].

    Σ_{top k} ‖P_f E‖² / Σ_{f ≥ 1} ‖P_f E‖², K = ⌊n/2⌋ frequencies. The constant (f = 0) is left
    out of both sums: a shared offset of every token's embedding carries no group structure.
    1 when E lives on ≤ k frequencies (the grokked Fourier circuit, Nanda et al. 2023); ≈ k/K for
    unstructured embeddings (the Nyquist frequency of even n has one row, so a little above).
    NaN for an embedding with no non-constant part.
    """
    norms = frequency_norms(embedding)[1:]
    total = norms.sum()
    if total == 0:
        return math.nan
    return (norms.topk(min(k, norms.numel())).values.sum() / total).item()


def restricted_logits(logits: Tensor, answers: Tensor, keys: list[int], n: int) -> Tensor:
    """Projection of the logit table onto the key-frequency directions plus per-row constants.

    logits (M, n): row m holds the logits over the group elements c for input pair m (classes in
    group order); answers (M,) the correct element a_m. For each key k the direction is the whole
    table D_k[m, c] = cos(w_k(a_m − c)) (Nanda et al. 2023: the model reads out
    cos(w_k(a + b − c)), and a + b = a_m). Returns
        L_restricted = rowmean(L) 1ᵀ + Σ_k α_k D_k,
        α = argmin_α ‖L − rowmean(L) 1ᵀ − Σ_k α_k D_k‖_F,
    the least-squares projection over the whole table. logits − restricted_logits is the
    excluded part. Keys are frequencies in 1..⌊n/2⌋ (duplicates ignored).
    """
    if logits.shape[-1] != n:
        raise ValueError(f"logits have {logits.shape[-1]} classes, expected the group order {n}")
    if any(not 1 <= k <= n // 2 for k in keys):
        raise ValueError(f"key frequencies {keys} must lie in 1..{n // 2}")
    table = logits.detach().to(torch.float64)
    # The per-row constant spans its own subspace: each D_k row sums to zero over c (k ≠ 0 mod n),
    # so D_k ⊥ every row constant and the two projections can be done separately.
    row_mean = table.mean(dim=1, keepdim=True)
    if not keys:
        return row_mean.expand_as(table).clone()
    w = 2 * math.pi * torch.tensor(sorted(set(keys)), dtype=torch.float64, device=table.device) / n
    c = torch.arange(n, dtype=torch.float64, device=table.device)
    # cos(w(a − c)) = cos(wa)cos(wc) + sin(wa)sin(wc): D_k = A_k B_kᵀ + A'_k B'_kᵀ, never built.
    a_angles = w[None, :] * answers.to(table.device, torch.float64)[:, None]  # (M, K)
    c_angles = w[None, :] * c[:, None]  # (n, K)
    a_cs = torch.cat([a_angles.cos(), a_angles.sin()], dim=1)  # (M, 2K)
    c_cs = torch.cat([c_angles.cos(), c_angles.sin()], dim=1)  # (n, 2K)
    n_keys = len(w)
    # Normal equations Q α = r with r_k = ⟨D_k, L⟩_F and Q_kl = ⟨D_k, D_l⟩_F.
    r = (a_cs * (table @ c_cs)).sum(dim=0).view(2, n_keys).sum(dim=0)
    # Each row of D_k is cos(w_k(a_m − c)) over all c: a cyclic shift of the a = 0 row, so every
    # row has the same inner products and Q = M · (row Gram at a = 0), whatever the answers.
    d0 = c_angles.cos()  # (n, K): the a = 0 row of each D_k, cos(−w_k c) = cos(w_k c)
    q = table.shape[0] * (d0.T @ d0)
    # For distinct keys in 1..⌊n/2⌋ Q is diagonal (n/2, or n for the Nyquist key, times M);
    # solving the system keeps that an outcome of the algebra rather than an assumption.
    alpha = torch.linalg.solve(q, r)
    return row_mean + (a_cs * alpha.repeat(2)) @ c_cs.T


def restricted_loss(logits: Tensor, answers: Tensor, keys: list[int], n: int) -> float:
    """Cross-entropy of `restricted_logits` against the answers, mean over all rows given.

    Nanda et al. 2023: keep only the key-frequency read-out cos(w_k(a + b − c)) of the logits on
    the full table; it falls before the test loss does, as the generalising circuit forms.
    """
    restricted = restricted_logits(logits, answers, keys, n)
    return F.cross_entropy(restricted, answers.to(restricted.device)).item()


def excluded_loss(logits: Tensor, answers: Tensor, keys: list[int], n: int, mask: Tensor | None = None) -> float:
    """Cross-entropy of logits − `restricted_logits` (key directions removed), mean over the rows
    where `mask` is True (all rows if None).

    Nanda et al. 2023 score the training rows; the loss rises as the model comes to rely on the
    key frequencies instead of memorisation. The projection is fitted on every row given: pass
    the full table with the training rows as `mask` to fit it as Nanda et al. do (on the whole
    table), or only the training rows to fit it there. log n when the logits are nothing but
    key-frequency read-out.
    """
    table = logits.detach().to(torch.float64)
    excluded = table - restricted_logits(table, answers, keys, n)
    answers = answers.to(table.device)
    if mask is not None:
        mask = mask.to(table.device)
        excluded, answers = excluded[mask], answers[mask]
    return F.cross_entropy(excluded, answers).item()


# ---- the probe ------------------------------------------------------------------------------------

KEY_FREQUENCIES = 5
FOURIER_SPARSITY = Metric("fourier_sparsity/*", "share of the embedding's Fourier norm² in its key frequencies", higher="better")
FOURIER_IPR = Metric(
    "fourier_ipr/*", "mean inverse participation ratio of the embedding columns' Fourier spectra", higher="better"
)
RESTRICTED_LOSS = Metric("restricted_loss/*", "loss with only the key-frequency components of the logits", higher="worse")
EXCLUDED_LOSS = Metric("excluded_loss/*", "training loss with the key-frequency components removed", higher="better")


def _group_members(task: ModularTask) -> torch.Tensor:
    """The residues of group elements 0, 1, …, n − 1 (0 is not in Z_p^*: its index is −1)."""
    assert task.group is not None
    return torch.argsort(task.group)[task.p - task.group_order :]


@probe(
    "fourier",
    metrics=(FOURIER_SPARSITY, FOURIER_IPR, RESTRICTED_LOSS, EXCLUDED_LOSS),
    needs=Needs(task=ModularTask, capabilities=("token_embedding",)),
)
def fourier_progress(ctx: ProbeContext) -> ProbeResult:
    """Fourier sparsity of the operand embedding, restricted loss and excluded loss.

    - `fourier_sparsity/embed`: share of the embedding's non-constant Fourier norm² in its top-5
      frequencies (the key frequencies); rises as the generalising circuit forms.
    - `fourier_ipr/embed`: mean inverse participation ratio of each embedding column's Fourier
      spectrum (Gromov 2023); rises as each neuron settles on one frequency.
    - `restricted_loss/logits`: cross-entropy on every pair of the logits' projection onto
      cos(w_k(c* − c)) for the key frequencies k; falls *before* the test loss does.
    - `excluded_loss/logits`: training cross-entropy once those components are removed (the
      projection fitted on the whole table); rises as the model relies on the generalising circuit.
    For × and ÷ the group is Z_p^* indexed by discrete logarithm (pairs whose answer is 0, and the
    answer 0's logit, are left out).
    """
    task = cast(ModularTask, ctx.task)  # Needs(task=ModularTask)
    assert task.group is not None
    members = _group_members(task)
    embedding = cast(HookedView, ctx.view).token_embedding(task.p)[members]  # the capability: a HookedView
    keys = key_frequencies(embedding, k=KEY_FREQUENCIES)
    logits, _ = ctx.forward("probe")
    answers = task.group[task.probe.targets]
    rows = answers >= 0
    logits, answers, in_train = logits[rows][:, members], answers[rows], task.in_train[rows]
    n = task.group_order
    return ProbeResult(
        {
            FOURIER_SPARSITY.at("embed"): fourier_sparsity(embedding, k=KEY_FREQUENCIES),
            FOURIER_IPR.at("embed"): neuron_ipr(embedding),
            RESTRICTED_LOSS.at("logits"): restricted_loss(logits, answers, keys, n),
            EXCLUDED_LOSS.at("logits"): excluded_loss(logits, answers, keys, n, mask=in_train),
        }
    )

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
from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from phasewatch.models.hooks import patched, representation
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


def key_directions(answers: Tensor, keys: list[int], n: int) -> Tensor:
    """Orthonormal columns spanning cos(w_k c_m) and sin(w_k c_m) over the rows m, centred (so
    orthogonal to the constant), shape (M, ≤ 2K), float64. c_m is row m's answer as a group
    element (a + b mod p for +, so these are Nanda et al. 2023's cos/sin(w_k(a + b))); on a full
    table they are already orthogonal and centred, and the QR only normalises them. Keys are
    frequencies in 1..⌊n/2⌋; the Nyquist sine, identically 0, is dropped."""
    if any(not 1 <= k <= n // 2 for k in keys):
        raise ValueError(f"key frequencies {keys} must lie in 1..{n // 2}")
    w = 2 * math.pi * torch.tensor(sorted(set(keys)), dtype=torch.float64, device=answers.device) / n
    angles = answers.to(torch.float64)[:, None] * w[None, :]  # (M, K)
    directions = torch.cat([angles.cos(), angles.sin()], dim=1)
    directions = directions - directions.mean(dim=0, keepdim=True)
    q, r = torch.linalg.qr(directions)
    return q[:, r.diagonal().abs() > 1e-9 * math.sqrt(len(answers))]


def restricted_logits(
    logits: Tensor, neurons: Tensor, readout: Callable[[Tensor], Tensor], answers: Tensor, keys: list[int], n: int
) -> Tensor:
    """Nanda et al. 2023's restricted logits, (M, C) float64.

    neurons (M, d): the last hidden layer's activations for each row (the MLP's post-ReLU
    activations at the final position); readout(h) the logits (M, C) the model computes with
    those activations replaced by h. Each neuron keeps its mean and its components along the
    key directions (`key_directions`: a coefficient per neuron and direction); everything else
    the model computes is replaced by its mean over the rows:
        h̃ = mean(h) + Q Qᵀ (h − mean(h)),
        L_restricted = mean(L) + readout(h̃) − readout(mean(h)).
    For a readout that is linear in h (h W_out W_U, the reference notebook's map) the difference
    is (h̃ − mean(h)) W_out W_U and mean(L) its bias term, exactly as there.
    """
    q = key_directions(answers, keys, n)
    h = neurons.detach().to(torch.float64)
    mean = h.mean(dim=0, keepdim=True)
    kept = mean + q @ (q.T @ (h - mean))
    table = logits.detach().to(torch.float64)
    return table.mean(dim=0, keepdim=True) + readout(kept).to(torch.float64) - readout(mean.expand_as(h)).to(torch.float64)


def excluded_logits(logits: Tensor, answers: Tensor, keys: list[int], n: int) -> Tensor:
    """Nanda et al. 2023's excluded logits, (M, C) float64: each output logit, as a function of
    the row, with its components along the key directions removed, L − Q Qᵀ L."""
    q = key_directions(answers, keys, n)
    table = logits.detach().to(torch.float64)
    return table - q @ (q.T @ table)


def _loss(logits: Tensor, answers: Tensor, rows: Tensor) -> float:
    return F.cross_entropy(logits[rows], answers.to(logits.device)[rows]).item()


# ---- the probes -----------------------------------------------------------------------------------

KEY_FREQUENCIES = 5
FOURIER_SPARSITY = Metric("fourier_sparsity/*", "share of the embedding's Fourier norm² in its key frequencies", higher="better")
FOURIER_IPR = Metric(
    "fourier_ipr/*", "mean inverse participation ratio of the embedding columns' Fourier spectra", higher="better"
)
RESTRICTED_LOSS = Metric(
    "restricted_loss/*",
    "training loss from the neurons' final-model key-frequency components alone (Nanda et al. 2023)",
    higher="worse",
)
EXCLUDED_LOSS = Metric(
    "excluded_loss/*", "training loss with the final-model key-frequency components removed (Nanda et al. 2023)", higher="better"
)
RESTRICTED_LOSS_LIVE = Metric(
    "restricted_loss_live/*", "restricted loss with the key frequencies of the model at that step", higher="worse"
)
EXCLUDED_LOSS_LIVE = Metric(
    "excluded_loss_live/*", "excluded loss with the key frequencies of the model at that step", higher="better"
)


def _group_members(task: ModularTask) -> torch.Tensor:
    """The residues of group elements 0, 1, …, n − 1 (0 is not in Z_p^*: its index is −1)."""
    assert task.group is not None
    return torch.argsort(task.group)[task.p - task.group_order :]


def _embedding(ctx: ProbeContext, task: ModularTask) -> Tensor:
    """The operands' embedding rows in group order (n, d)."""
    return cast(HookedView, ctx.view).token_embedding(task.p)[_group_members(task)]


def _key_frequency_losses(ctx: ProbeContext, keys: list[int]) -> tuple[float, float]:
    """(restricted, excluded) loss on the training pairs with `keys`. For × and ÷ the group is
    Z_p^* indexed by discrete logarithm (pairs whose answer is 0, and the answer 0's logit, are
    left out)."""
    task = cast(ModularTask, ctx.task)
    assert task.group is not None
    site = cast(HookedView, ctx.view).neuron_site
    members = _group_members(task)
    logits, cache = ctx.forward("probe")
    neurons = representation(cache[site])  # (N, d): at the final position
    answers = task.group[task.probe.targets]
    kept = answers >= 0

    def readout(h: Tensor) -> Tensor:
        full = neurons.clone()
        full[kept] = h.to(full.dtype)

        def replace(output: Tensor) -> Tensor:
            output = output.clone()
            if output.dim() == 3:
                output[:, -1] = full
            else:
                output[:] = full
            return output

        with patched(ctx.model, {site: replace}):
            return ctx.model(task.probe.inputs)[kept][:, members]

    logits, answers, in_train = logits[kept][:, members], answers[kept], task.in_train[kept]
    restricted = restricted_logits(logits, neurons[kept], readout, answers, keys, task.group_order)
    excluded = excluded_logits(logits, answers, keys, task.group_order)
    return _loss(restricted, answers, in_train), _loss(excluded, answers, in_train)


def _neuron_sites(ctx: ProbeContext) -> list[str]:
    return [cast(HookedView, ctx.view).neuron_site] if ctx.view.can("neurons") else []


@probe(
    "fourier",
    metrics=(FOURIER_SPARSITY, FOURIER_IPR, RESTRICTED_LOSS_LIVE, EXCLUDED_LOSS_LIVE),
    needs=Needs(task=ModularTask, capabilities=("token_embedding",)),
    sites=_neuron_sites,
)
def fourier_progress(ctx: ProbeContext) -> ProbeResult:
    """Fourier sparsity and IPR of the operand embedding; restricted and excluded loss with the
    key frequencies of the model at this step.

    - `fourier_sparsity/embed`: share of the embedding's non-constant Fourier norm² in its top-5
      frequencies (the key frequencies); rises as the generalising circuit forms.
    - `fourier_ipr/embed`: mean inverse participation ratio of each embedding column's Fourier
      spectrum (Gromov 2023); rises as each neuron settles on one frequency.
    - `restricted_loss_live/logits`, `excluded_loss_live/logits` (models with `neurons`):
      `restricted_logits` / `excluded_logits` on the training pairs, with the top-5 frequencies
      of the embedding *at this step*. Departs from Nanda et al. 2023, who use the final model's
      key frequencies at every checkpoint (the `progress_measures` probe): early on the current
      frequencies are noise, so this curve is a live view, not the paper's measure.
    """
    task = cast(ModularTask, ctx.task)  # Needs(task=ModularTask)
    embedding = _embedding(ctx, task)
    scalars = {
        FOURIER_SPARSITY.at("embed"): fourier_sparsity(embedding, k=KEY_FREQUENCIES),
        FOURIER_IPR.at("embed"): neuron_ipr(embedding),
    }
    if ctx.view.can("neurons"):
        restricted, excluded = _key_frequency_losses(ctx, key_frequencies(embedding, k=KEY_FREQUENCIES))
        scalars[RESTRICTED_LOSS_LIVE.at("logits")] = restricted
        scalars[EXCLUDED_LOSS_LIVE.at("logits")] = excluded
    return ProbeResult(scalars)


@probe(
    "progress_measures",
    metrics=(RESTRICTED_LOSS, EXCLUDED_LOSS),
    needs=Needs(task=ModularTask, capabilities=("token_embedding", "neurons")),
    sites=_neuron_sites,
    at_end=True,
)
def progress_measures(ctx: ProbeContext) -> ProbeResult:
    """Restricted and excluded loss as Nanda et al. 2023 define them, over the stored checkpoints.

    Runs once training is over (`at_end`): the key frequencies are the final model's (the top 5
    of its embedding's `frequency_norms`), the same at every checkpoint, and both losses score
    the training pairs. `restricted_loss/logits` keeps only the neurons' components along
    cos/sin(w_k(a + b)) and maps them through the rest of the model (`restricted_logits`); it
    falls as the generalising circuit forms, before test accuracy rises. `excluded_loss/logits`
    removes those components from each logit (`excluded_logits`); it rises as the model comes to
    rely on them. Departs from the paper only in choosing the key frequencies from the embedding
    (the paper reads them off the embedding and the neurons; they agree on the grokked model).
    """
    assert ctx.final is not None  # at_end
    task = cast(ModularTask, ctx.task)
    keys = key_frequencies(_embedding(ctx.final, task), k=KEY_FREQUENCIES)
    restricted, excluded = _key_frequency_losses(ctx, keys)
    return ProbeResult({RESTRICTED_LOSS.at("logits"): restricted, EXCLUDED_LOSS.at("logits"): excluded})

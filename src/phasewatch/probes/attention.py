"""Attention-head scores: what each head attends to, and what its OV circuit writes
(Olsson et al. 2022, "In-context Learning and Induction Heads"; Elhage et al. 2021; formulas in
science/metrics.md).

Per head, as `<score>/L{layer}H{head}` (0-based, as in `blocks.0.attn.pattern`), and the largest
over heads as `<score>/max`:
- `prev_token_score`, `induction_score`, `duplicate_token_score`, `copying_score` on a fixed batch of repeated random
  sequences [x₁..x_L, x₁..x_L] (L = seq_len // 2), for any token-input language model;
- `dependency_syntax`, `dependency_semantic` on a generated language's probe set, when its
  annotations name the token each prediction depends on (tasks/grammar.py).
Array `attention`: every head's pattern on the first repeated sequence (or the first probe
sentence), "pattern" (layers, heads, T, T) and "tokens" (T,), for the report's step slider.
"""
from __future__ import annotations

import torch

from phasewatch.probes.registry import ProbeContext, ProbeResult, probe

REPEATED_SEQUENCES = 32
SEED = 0  # the repeated sequences are the same at every step and in every run


def _pattern_sites(model) -> list[str]:
    return [f"blocks.{i}.attn.pattern" for i in range(len(getattr(model, "blocks", [])))]


def repeated_random_tokens(vocab: int, seq_len: int, count: int = REPEATED_SEQUENCES) -> torch.Tensor:
    """(count, 2L) sequences [x₁..x_L, x₁..x_L] of uniform random tokens, L = seq_len // 2."""
    half = torch.randint(vocab, (count, seq_len // 2), generator=torch.Generator().manual_seed(SEED))
    return torch.cat([half, half], dim=1)


def head_scores(patterns: torch.Tensor, half: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(previous-token, induction, duplicate-token) scores per head from patterns (batch, heads,
    2L, 2L) on repeated sequences of half-length L = `half`:
    previous-token = mean_i A[i, i−1] over i ≥ 1; induction (prefix matching) = mean_i A[L+i, i+1]
    over 0 ≤ i ≤ L−2, the token after the current token's earlier occurrence; duplicate-token =
    mean_i A[L+i, i] over 0 ≤ i < L, the earlier occurrence itself — the other layer-0 pattern an
    induction circuit can build on (with learned positions the spec saw either, induction.md)."""
    positions = torch.arange(1, patterns.shape[-1], device=patterns.device)
    previous = patterns[..., positions, positions - 1].mean((0, -1))
    i = torch.arange(half, device=patterns.device)
    induction = patterns[..., half + i[:-1], i[:-1] + 1].mean((0, -1))
    duplicate = patterns[..., half + i, i].mean((0, -1))
    return previous, induction, duplicate


def copying_scores(model) -> torch.Tensor:
    """(layers, heads): the share of the OV circuit's eigenvalue mass on eigenvalues with positive
    real part, Σ_{Re λ>0} |λ| / Σ |λ| for W_E W_V^h W_O^h W_U (Elhage et al. 2021). The nonzero
    eigenvalues of that vocab × vocab product are those of the d_head × d_head W_O^h W_U W_E W_V^h."""
    embed = model.embed.W.double()
    unembed_embed = model.unembed.W.double()[:, : embed.shape[0]] @ embed  # d_model × d_model, shared by every head
    scores = []
    for block in model.blocks:
        attn = block.attn
        values = attn.W_V.double().view(-1, attn.n_heads, attn.d_head)
        outputs = attn.W_O.double().view(attn.n_heads, attn.d_head, -1)
        row = []
        for h in range(attn.n_heads):
            eigenvalues = torch.linalg.eigvals(outputs[h] @ unembed_embed @ values[:, h])
            magnitude = eigenvalues.abs()
            row.append(magnitude[eigenvalues.real > 0].sum() / magnitude.sum().clamp_min(1e-30))
        scores.append(torch.stack(row))
    return torch.stack(scores)


def _per_head(name: str, scores: torch.Tensor) -> dict[str, float]:
    values = {f"{name}/L{layer}H{head}": float(scores[layer, head]) for layer in range(scores.shape[0]) for head in range(scores.shape[1])}
    values[f"{name}/max"] = float(scores.max())
    return values


def dependency_scores(patterns: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """Per head, the mean attention from each annotated position t to its source position
    sources[n, t] (≥ 0; −1 = none), over the annotated positions; patterns (N, heads, T, T)."""
    rows, positions = (sources >= 0).nonzero(as_tuple=True)
    return patterns[rows, :, positions, sources[rows, positions]].mean(0)


@probe("attention", sites=_pattern_sites)
def attention(ctx: ProbeContext) -> ProbeResult:
    """`prev_token_score`, `induction_score`, `duplicate_token_score`, `copying_score` per head and
    their maxima; on a
    generated language, `dependency_syntax` (attention from the position predicting the verb to
    its subject's head noun, whose number it agrees with) and `dependency_semantic` (from the
    position predicting the object noun to the verb that selects it); array `attention`."""
    model, task = ctx.model, ctx.task
    sites = _pattern_sites(model)
    tokens = repeated_random_tokens(task.vocab_size, task.seq_len).to(task.probe.inputs.device)
    _, cache = model.run_with_cache(tokens, names=sites)
    patterns = torch.stack([cache[site] for site in sites])  # (layers, batch, heads, T, T)
    previous, induction, duplicate = head_scores(patterns.transpose(0, 1), tokens.shape[1] // 2)
    scalars = {**_per_head("prev_token_score", previous), **_per_head("induction_score", induction),
               **_per_head("duplicate_token_score", duplicate), **_per_head("copying_score", copying_scores(model))}
    shown, shown_tokens = patterns[:, 0], tokens[0]
    notes = getattr(task, "annotations", None)
    probe_notes = notes.get("probe") if notes else None
    if probe_notes is not None and getattr(probe_notes, "syntax_source", None) is not None:
        _, probe_cache = ctx.forward("probe")
        layers = [probe_cache[site] for site in sites]
        for name, sources in (("dependency_syntax", probe_notes.syntax_source), ("dependency_semantic", probe_notes.semantic_source)):
            scalars.update(_per_head(name, torch.stack([dependency_scores(p, sources) for p in layers])))
        shown, shown_tokens = torch.stack([p[0] for p in layers]), task.probe.inputs[0]
    return ProbeResult(scalars, {"attention": {"pattern": shown.float().cpu(), "tokens": shown_tokens.cpu()}})

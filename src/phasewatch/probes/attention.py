"""Attention-head scores: what each head attends to, and what its OV circuit writes
(Olsson et al. 2022, "In-context Learning and Induction Heads"; Elhage et al. 2021; formulas in
docs/science/metrics.md).

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

from dataclasses import replace

import torch

from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe

REPEATED_SEQUENCES = 32
SEED = 0  # the repeated sequences are the same at every step and in every run
INDUCTION_HEAD = 0.3  # an induction head attends at least this much to the token after the earlier copy

# In the order the report's attention panel lists them; `label` names a head there.
INDUCTION = Metric(
    "induction_score/*",
    "per head (L{layer}H{head}) and max: attention to the token after the current token's earlier occurrence",
    higher="better",
    rise="induction_onset",
    level=INDUCTION_HEAD,
    panel="attention",
    label="induction",
)
PREV_TOKEN = Metric(
    "prev_token_score/*",
    "per head and max: attention to the previous token",
    higher="better",
    panel="attention",
    label="previous-token",
)
DUPLICATE_TOKEN = Metric(
    "duplicate_token_score/*",
    "per head and max: attention to the current token's earlier occurrence",
    higher="better",
    panel="attention",
    label="duplicate-token",
)
DEPENDENCY_SYNTAX = Metric(
    "dependency_syntax/*",
    "per head and max: attention from the verb's position to its subject's head noun",
    higher="better",
    panel="attention",
    label="syntax",
)
DEPENDENCY_SEMANTIC = Metric(
    "dependency_semantic/*",
    "per head and max: attention from the object's position to the verb that selects it",
    higher="better",
    panel="attention",
    label="semantic",
)
COPYING = Metric(
    "copying_score/*", "per head and max: share of the OV circuit's eigenvalue mass with positive real part", higher="better"
)
PATTERNS = "attention"  # the array of every head's pattern, for the report's step slider


def _largest(metric: Metric) -> Metric:
    """The `<family>/max` curve: what a watched run's detection reads, as a built-in run's preset does."""
    return replace(
        metric, name=metric.at("max"), meaning=f"the largest over heads of {metric.family}", panel="", label="", watch=True
    )


INDUCTION_MAX, PREV_TOKEN_MAX, DUPLICATE_TOKEN_MAX = map(_largest, (INDUCTION, PREV_TOKEN, DUPLICATE_TOKEN))


def _pattern_sites(ctx: ProbeContext) -> list[str]:
    """The probe split's forward also captures the patterns, for the dependency scores."""
    return ctx.view.pattern_sites() if ctx.task is not None and hasattr(ctx.view, "pattern_sites") else []


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
    induction circuit can build on (with learned positions either appears, docs/science/induction.md)."""
    positions = torch.arange(1, patterns.shape[-1], device=patterns.device)
    previous = patterns[..., positions, positions - 1].mean((0, -1))
    i = torch.arange(half, device=patterns.device)
    induction = patterns[..., half + i[:-1], i[:-1] + 1].mean((0, -1))
    duplicate = patterns[..., half + i, i].mean((0, -1))
    return previous, induction, duplicate


def copying_scores(view) -> torch.Tensor:
    """(layers, heads): the share of the OV circuit's eigenvalue mass on eigenvalues with positive
    real part, Σ_{Re λ>0} |λ| / Σ |λ| ∈ [0, 1] for W_E W_V^h W_O^h W_U. Departs from Elhage et al.
    2021, whose summary is Re Σ λ / Σ |λ| ∈ [−1, 1]: for real eigenvalues theirs = 2·ours − 1; a
    share is read as "how much of the circuit copies" and never goes negative. The nonzero
    eigenvalues of that vocab × vocab product are those of the d_head × d_head W_O^h W_U W_E W_V^h.
    `view`: a `models.interface.HookedView` (token embedding, unembedding, OV circuits)."""
    embed = view.token_embedding().double()
    unembed_embed = view.unembedding().double()[:, : embed.shape[0]] @ embed  # d_model × d_model, shared by every head
    scores = []
    for values, outputs in view.ov_circuits():  # (d_model, heads, d_head), (heads, d_head, d_model)
        values, outputs = values.double(), outputs.double()
        row = []
        for h in range(values.shape[1]):
            eigenvalues = torch.linalg.eigvals(outputs[h] @ unembed_embed @ values[:, h])
            magnitude = eigenvalues.abs()
            row.append(magnitude[eigenvalues.real > 0].sum() / magnitude.sum().clamp_min(1e-30))
        scores.append(torch.stack(row))
    return torch.stack(scores)


def _per_head(metric: Metric, scores: torch.Tensor) -> dict[str, float]:
    values = {
        metric.at(f"L{layer}H{head}"): float(scores[layer, head])
        for layer in range(scores.shape[0])
        for head in range(scores.shape[1])
    }
    values[metric.at("max")] = float(scores.max())
    return values


def dependency_scores(patterns: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """Per head, the mean attention from each annotated position t to its source position
    sources[n, t] (≥ 0; −1 = none), over the annotated positions; patterns (N, heads, T, T)."""
    rows, positions = (sources >= 0).nonzero(as_tuple=True)
    return patterns[rows, :, positions, sources[rows, positions]].mean(0)


@probe(
    "attention",
    metrics=(
        INDUCTION,
        PREV_TOKEN,
        DUPLICATE_TOKEN,
        DEPENDENCY_SYNTAX,
        DEPENDENCY_SEMANTIC,
        COPYING,
        INDUCTION_MAX,
        PREV_TOKEN_MAX,
        DUPLICATE_TOKEN_MAX,
    ),
    needs=Needs(capabilities=("attention_patterns", "token_inputs")),
    sites=_pattern_sites,
)
def attention(ctx: ProbeContext) -> ProbeResult:
    """`prev_token_score`, `induction_score`, `duplicate_token_score` per head and their maxima, on
    repeated random sequences over the model's vocabulary (any language model whose attention
    weights can be read: ours, or a Hugging Face one); `copying_score` where the model exposes its
    OV circuits (ours); on a generated language, `dependency_syntax` (attention from the position
    predicting the verb to its subject's head noun, whose number it agrees with) and
    `dependency_semantic` (from the position predicting the object noun to the verb that selects
    it); array `attention`."""
    vocab, seq_len = ctx.token_shape()
    tokens = repeated_random_tokens(vocab, seq_len).to(ctx.device)
    patterns = ctx.view.attention_patterns(tokens)  # (layers, batch, heads, T, T)
    previous, induction, duplicate = head_scores(patterns.transpose(0, 1), tokens.shape[1] // 2)
    scalars = {**_per_head(PREV_TOKEN, previous), **_per_head(INDUCTION, induction), **_per_head(DUPLICATE_TOKEN, duplicate)}
    if ctx.view.can("ov_circuit"):
        scalars.update(_per_head(COPYING, copying_scores(ctx.view)))
    shown, shown_tokens = patterns[:, 0], tokens[0]
    notes = getattr(ctx.task, "annotations", None)
    probe_notes = notes.get("probe") if notes else None
    if probe_notes is not None and getattr(probe_notes, "syntax_source", None) is not None:
        assert ctx.task is not None  # the notes are a task's
        _, probe_cache = ctx.forward("probe")
        layers = [probe_cache[site] for site in _pattern_sites(ctx)]
        for metric, sources in (
            (DEPENDENCY_SYNTAX, probe_notes.syntax_source),
            (DEPENDENCY_SEMANTIC, probe_notes.semantic_source),
        ):
            scalars.update(_per_head(metric, torch.stack([dependency_scores(p, sources) for p in layers])))
        shown, shown_tokens = torch.stack([p[0] for p in layers]), ctx.task.probe.inputs[0]
    return ProbeResult(scalars, {PATTERNS: {"pattern": shown.float().cpu(), "tokens": shown_tokens.cpu()}})

"""Syntax and semantics of a generated language's predictions (tasks/language.py; setting 3 of
docs/science/structure_before_collapse.md, the syntax/semantics scores of docs/science/language.md)."""

from __future__ import annotations

from typing import cast

import torch

from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe
from phasewatch.tasks.language import LanguageTask

# In the order the report's language panel draws them.
SYNTACTIC_ACCURACY = Metric(
    "selection/syntactic_accuracy",
    "share of positions whose argmax is a grammatical token",
    higher="better",
    panel="language",
    label="syntactic accuracy",
)
SEMANTIC_CHOICE = Metric(
    "selection/semantic_choice",
    "share of argument slots whose best noun satisfies the selection",
    higher="better",
    panel="language",
    label="semantic choice",
)
SEMANTIC_ACCURACY = Metric(
    "selection/semantic_accuracy",
    "share of argument slots whose argmax satisfies the selection",
    higher="better",
    panel="language",
    label="semantic accuracy",
)
SYNTACTIC_MASS = Metric(
    "selection/syntactic_mass",
    "mean probability on the grammatical tokens",
    higher="better",
    panel="language",
    label="syntactic mass",
)
SEMANTIC_CHOICE_MASS = Metric(
    "selection/semantic_choice_mass",
    "probability on the selected nouns, among nouns",
    higher="better",
    panel="language",
    label="semantic choice mass",
)
SEMANTIC_MASS = Metric(
    "selection/semantic_mass", "mean probability on the selected tokens", higher="better", panel="language", label="semantic mass"
)
NOUN_ACCURACY = Metric("selection/noun_accuracy", "share of argument slots whose argmax is the context's noun", higher="better")


def set_scores(
    logits: torch.Tensor, sets: torch.Tensor, token_sets: torch.Tensor, within: torch.Tensor | None = None
) -> tuple[float, float]:
    """(accuracy, mass) over the positions with sets[n, t] ≥ 0: the share whose argmax token lies in
    token set sets[n, t], and the mean softmax probability on that set. With `within` (a (V,) bool
    mask), both are among those tokens only: the argmax over them, the probability renormalised
    to them. NaN with no such position."""
    scored = sets >= 0
    if not scored.any():
        return float("nan"), float("nan")
    logits, members = logits[scored], token_sets[sets[scored]]  # (P, V) each
    if within is not None:
        logits = logits.masked_fill(~within, float("-inf"))
    hit = members.gather(1, logits.argmax(-1, keepdim=True)).squeeze(1)
    mass = (logits.softmax(-1) * members).sum(-1)
    return float(hit.float().mean()), float(mass.double().mean())


@probe(
    "selection",
    metrics=(
        SYNTACTIC_ACCURACY,
        SEMANTIC_CHOICE,
        SEMANTIC_ACCURACY,
        SYNTACTIC_MASS,
        SEMANTIC_CHOICE_MASS,
        SEMANTIC_MASS,
        NOUN_ACCURACY,
    ),
    needs=Needs(task=LanguageTask),
)
def selection(ctx: ProbeContext) -> ProbeResult:
    """Scores of the probe set's next-token predictions against the generator's annotations.

    - `selection/syntactic_accuracy`, `selection/syntactic_mass`: over every scored position, the
      share whose argmax is a grammatical token there, and the mean probability on those tokens.
    - `selection/semantic_accuracy`, `selection/semantic_mass`: over the semantic argument slots
      (the position before a selected noun), the share whose argmax satisfies the selection — in
      setting 3, a noun of the verb's attribute combination — and the mean probability on them.
    - `selection/semantic_choice`, `selection/semantic_choice_mass`: the same, among nouns only (the
      best-scoring noun; the probability renormalised over nouns): semantics without the syntactic
      question of whether a noun comes next at all (in the phases language an adjective may).
    - `selection/noun_accuracy`: over the same slots, the share whose argmax is the context's noun.
    In setting 3 the unembedding's alignment peaks after semantic accuracy reaches 1 while
    noun accuracy is still ≤ 0.48 (docs/science/structure_before_collapse.md).
    """
    task = cast(LanguageTask, ctx.task)  # Needs(task=LanguageTask)
    assert task.annotations is not None and task.token_sets is not None  # the builders set both
    logits, _ = ctx.forward("probe")
    notes = task.annotations["probe"]
    syntactic = set_scores(logits, notes.grammatical, task.token_sets)
    semantic = set_scores(logits, notes.selected, task.token_sets)
    choice = set_scores(logits, notes.selected, task.token_sets, within=task.token_sets[task.word_classes.index("noun")])
    slots = notes.argument_slots
    nouns = (logits[slots].argmax(-1) == task.probe.targets[slots]).float().mean()
    return ProbeResult(
        {
            SYNTACTIC_ACCURACY.name: syntactic[0],
            SYNTACTIC_MASS.name: syntactic[1],
            SEMANTIC_ACCURACY.name: semantic[0],
            SEMANTIC_MASS.name: semantic[1],
            SEMANTIC_CHOICE.name: choice[0],
            SEMANTIC_CHOICE_MASS.name: choice[1],
            NOUN_ACCURACY.name: float(nouns),
        }
    )

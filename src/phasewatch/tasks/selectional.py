"""Setting 2 of Structure Before Collapse: selectional next-token prediction ("Mary broke the ___").

Verb v selects attribute combination v; there are `subjects` subjects and, per verb, as many
object nouns as subjects. Context (s, v) → noun v·S + π_v(s) with π_v a random permutation per
verb: every target is unique (one-hot, nothing to generalise) and every target satisfies its verb.
Inputs are the token pair [subject, verb] (subjects 0..S−1, verbs S..S+V−1); the classes are the
nouns, whose attributes are their verb's combination. Train, test and probe sets are all contexts.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field, PositiveInt

from phasewatch.tasks.attributes import item_attributes
from phasewatch.tasks.base import Split, Task, TaskConfig


def selectional_task(factor_sizes: tuple[int, ...], subjects: int, seed: int) -> Task:
    attributes = item_attributes(factor_sizes, subjects)  # noun v·S + j has combination v
    verbs = len(attributes) // subjects
    generator = torch.Generator().manual_seed(seed)
    subject, verb = torch.meshgrid(torch.arange(subjects), torch.arange(verbs), indexing="ij")
    subject, verb = subject.flatten(), verb.flatten()
    permutations = torch.stack([torch.randperm(subjects, generator=generator) for _ in range(verbs)])
    nouns = verb * subjects + permutations[verb, subject]
    contexts = Split(torch.stack([subject, subjects + verb], dim=1), nouns)
    return Task(
        name=f"selectional(factors={list(factor_sizes)}, subjects={subjects})",
        vocab_size=subjects + verbs,
        seq_len=2,
        num_classes=len(attributes),
        train=contexts,
        test=contexts,
        probe=contexts,
        attributes=attributes,
    )


class SelectionalTaskConfig(TaskConfig):
    """Setting 2: (subject, verb) → a unique object noun that satisfies the verb's selection."""

    name: Literal["selectional"] = "selectional"
    factor_sizes: list[PositiveInt] = Field([2, 3, 2], min_length=1)
    subjects: int = Field(8, ge=1)

    builder: ClassVar = staticmethod(selectional_task)

"""Recalling memorised facts with a multi-token answer: the task on which a model's per-token
skill grows smoothly, so the metric mirage can show (Schaeffer, Miranda & Koyejo 2023;
docs/science/scale.md).

There are `facts` random keys, each a `key_digits`-digit number, and each key has a random
`answer_digits`-digit value, fixed by the seed. A sequence is the key's digits, "=", then L − 1
blanks; the value's L digits are the targets at "=" and the blanks, read in one pass (the answer
is not fed back: a wrong digit cannot derail the next, so each digit is its own fact). Nothing is
to be generalised: every answer token is an independent fact to store, so the share of answer
tokens a model gets right grows with its capacity and its training, a little with each fact,
while an all-or-nothing score of the L-token answer (exact match) needs all L at once: about p^L,
Schaeffer et al.'s model of an emergent ability. (On `addition` the carry is learned as one
algorithm, so p itself jumps.)

Training batches draw facts with replacement every step (`stream`); `train`, `test` and `probe`
are the same facts (memorisation: the held-out split would be noise). Each test row carries
`CHOICES − 1` one-digit distractors for the multiple-choice grade, as on `addition`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Literal

import torch
from pydantic import Field, model_validator

from phasewatch.tasks.addition import EQUALS, AnswerTask, distractors
from phasewatch.tasks.base import Split, TaskConfig
from phasewatch.tasks.objective import IGNORE

BLANK = EQUALS + 1  # the slots the value's later digits are read at


def lookup_task(facts: int, key_digits: int, answer_digits: int, scored: int, seed: int) -> AnswerTask:
    """`facts` distinct random keys with random values drawn from `seed`; the probes score the
    first `scored` of them."""
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randperm(10**key_digits, generator=generator)[:facts]
    key_tokens = (keys[:, None] // 10 ** torch.arange(key_digits - 1, -1, -1)) % 10  # (facts, key_digits)
    values = torch.randint(10, (facts, answer_digits), generator=generator)  # (facts, L)
    inputs = torch.cat([key_tokens, torch.full((facts, 1), EQUALS), torch.full((facts, answer_digits - 1), BLANK)], dim=1)
    targets = torch.cat([torch.full((facts, key_digits), IGNORE), values], dim=1)  # the value at "=" and the blanks
    everything = Split(inputs, targets)  # (facts, key_digits + L) each

    def stream(step_generator: torch.Generator, batch_size: int, stage: int) -> Split:
        rows = torch.randint(facts, (batch_size,), generator=step_generator)
        return Split(everything.inputs[rows], everything.targets[rows])

    sample = Split(everything.inputs[:scored], everything.targets[:scored])
    task = AnswerTask(
        name=f"lookup(facts={facts}, L={answer_digits})",
        vocab_size=BLANK + 1,
        seq_len=key_digits + answer_digits,
        num_classes=BLANK + 1,
        train=sample,
        test=sample,
        probe=sample,
        stream=stream,
        answer_start=key_digits,
        answer_length=answer_digits,
        fed_back=False,
    )
    return replace(task, choices=distractors(generator, task.answers(sample)))


class LookupTaskConfig(TaskConfig):
    """`facts` random keys with random `answer_digits`-digit values to memorise (tasks/lookup.py)."""

    name: Literal["lookup"] = "lookup"
    facts: int = Field(250, ge=1, description="how many key → value facts there are to store")
    key_digits: int = Field(4, ge=1, le=9, description="digits of a key (at most 10^key_digits facts)")
    answer_digits: int = Field(10, ge=3, le=32, description="L: digits of each value, the answer")
    scored: int = Field(1000, ge=1, description="how many of the facts the probes score (all, when fewer)")

    builder: ClassVar = staticmethod(lookup_task)

    @model_validator(mode="after")
    def _keys_suffice(self) -> LookupTaskConfig:
        if self.facts > 10**self.key_digits:
            raise ValueError(
                f"task.facts: {self.facts} is not allowed (at most 10^key_digits = {10**self.key_digits} distinct keys)"
            )
        return self

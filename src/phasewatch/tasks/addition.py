"""Multi-digit addition with a multi-token answer: the task of the metric-mirage question
(Schaeffer, Miranda & Koyejo 2023; docs/science/scale.md).

A sequence is `a + b = c`: the n digits of a (most significant first, zero-padded), "+", the n
digits of b, "=", then the n + 1 digits of c = a + b **least significant first** (the order in
which a carry is computed, so a small transformer can learn it). Inputs are the first 3n + 2
tokens, targets the next token at every position with only the answer's n + 1 digits scored. A
model's answer is therefore L = n + 1 tokens, and the same outputs can be scored with an
all-or-nothing metric (exact match) or per token (`probes/answers.py`).

Training batches are fresh pairs every step (`stream`, unlimited data: no memorisation regime);
`test` = `probe` is a fixed held-out sample, each row with `CHOICES − 1` distractor answers (the
true answer with one digit changed) for the multiple-choice grade.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import torch
from pydantic import Field

from phasewatch.tasks.base import Split, Task, TaskConfig
from phasewatch.tasks.objective import IGNORE

PLUS, EQUALS = 10, 11  # digits are tokens 0-9
CHOICES = 4  # the true answer and three distractors
TRAIN_SAMPLE = 512  # the fixed training sample the probes score (training itself streams)


@dataclass(frozen=True)
class AnswerTask(Task):
    """A task whose targets end in a multi-token answer: target positions
    `answer_start … answer_start + answer_length − 1` of every row; `choices` (test rows,
    CHOICES, answer_length) the candidate answers of the multiple-choice grade, the true one first.
    `fed_back`: each answer token is the input of the next position (written autoregressively,
    as `addition`), or False: the answer is read in one pass from fixed inputs (`lookup`)."""

    answer_start: int = 0
    answer_length: int = 0
    choices: torch.Tensor | None = None
    fed_back: bool = True

    def to(self, device: torch.device | str) -> AnswerTask:
        assert self.choices is not None  # the builder sets it
        return replace(super().to(device), choices=self.choices.to(device))

    def answers(self, split: Split) -> torch.Tensor:
        """(rows, answer_length): the answer tokens of `split`'s rows."""
        return split.targets[:, self.answer_start : self.answer_start + self.answer_length]


def addition_sequences(generator: torch.Generator, count: int, digits: int) -> Split:
    """`count` random sums of two `digits`-digit numbers as (inputs, targets); only the answer is scored."""
    a = torch.randint(10**digits, (count,), generator=generator)
    b = torch.randint(10**digits, (count,), generator=generator)
    powers = 10 ** torch.arange(digits - 1, -1, -1)
    answer_powers = 10 ** torch.arange(digits + 1)  # least significant first
    tokens = torch.cat(
        [
            (a[:, None] // powers) % 10,
            torch.full((count, 1), PLUS),
            (b[:, None] // powers) % 10,
            torch.full((count, 1), EQUALS),
            ((a + b)[:, None] // answer_powers) % 10,
        ],
        dim=1,
    )
    targets = tokens[:, 1:].clone()
    targets[:, : 2 * digits + 1] = IGNORE  # the operands and "=" are given, not predicted
    return Split(tokens[:, :-1], targets)


def distractors(generator: torch.Generator, answers: torch.Tensor) -> torch.Tensor:
    """(rows, CHOICES, L): each row's answer, then CHOICES − 1 copies with one random digit changed
    to another digit (a different position each, so no two candidates are equal)."""
    rows, length = answers.shape
    choices = answers[:, None, :].repeat(1, CHOICES, 1)
    positions = torch.rand(rows, length, generator=generator).argsort(dim=1)[:, : CHOICES - 1]  # distinct, per row
    shifts = torch.randint(1, 10, (rows, CHOICES - 1), generator=generator)
    for k in range(CHOICES - 1):
        at = positions[:, k : k + 1]
        choices[:, k + 1].scatter_(1, at, (answers.gather(1, at) + shifts[:, k : k + 1]) % 10)
    return choices


def addition_task(digits: int, test_sequences: int, seed: int) -> AnswerTask:
    """`digits`-digit addition; the held-out set is drawn from `seed`, the training stream from
    the loop's per-step generators."""
    if digits < 2:  # the multiple choice changes CHOICES − 1 different digits of a digits + 1 answer
        raise ValueError(f"task.digits: {digits} is not allowed (at least 2)")

    def stream(generator: torch.Generator, batch_size: int, stage: int) -> Split:
        return addition_sequences(generator, batch_size, digits)

    generator = torch.Generator().manual_seed(seed)
    test = addition_sequences(generator, test_sequences, digits)
    train = addition_sequences(torch.Generator().manual_seed(seed + 1_000_000), TRAIN_SAMPLE, digits)
    answer_start = 2 * digits + 1
    task = AnswerTask(
        name=f"addition(digits={digits})",
        vocab_size=12,
        seq_len=3 * digits + 2,
        num_classes=12,
        train=train,
        test=test,
        probe=test,
        stream=stream,
        answer_start=answer_start,
        answer_length=digits + 1,
    )
    return replace(task, choices=distractors(generator, task.answers(test)))


class AdditionTaskConfig(TaskConfig):
    """`a + b = c` on `digits`-digit numbers, the answer's digits least significant first, fresh
    pairs every step (tasks/addition.py)."""

    name: Literal["addition"] = "addition"
    digits: int = Field(3, ge=2, le=18, description="digits of each operand; the answer has digits + 1 tokens")
    test_sequences: int = Field(1000, ge=1, description="held-out sums scored by the probes")

    builder: ClassVar = staticmethod(addition_task)

"""Repeated random segments: the task on which induction heads form (Olsson et al. 2022;
docs/science/induction.md).

Each sequence is seq_len + 1 uniform random tokens whose last 2·L are a segment r written twice,
L = |r| uniform in [min_repeat, max_repeat]; inputs are the first seq_len tokens, targets the next
token at every position. A token of the second copy (after its first) is predictable only by
copying from context — find the earlier occurrence of the current token, predict its successor —
and every other token not at all (loss log V). The repeat's length, and so the offset between
the copies, varies: with a fixed offset a 2-layer model learns a positional shortcut instead of an
induction head (a measured pitfall).

Training batches are fresh sequences every step (`stream`); `test` = `probe` is a fixed held-out
set whose `repeat_mask` marks the predictable targets and `first_copy_mask` the first copy's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import torch
from pydantic import Field, model_validator

from phasewatch.tasks.base import Split, Task, TaskConfig

TRAIN_SAMPLE = 512  # the fixed training sample the probes score (training itself streams)


@dataclass(frozen=True)
class InductionTask(Task):
    """`repeat_mask`, `first_copy_mask`: (test sequences, seq_len) bool, the test targets that lie
    in the second copy (after its first token) and in the first copy."""

    repeat_mask: torch.Tensor | None = None
    first_copy_mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> InductionTask:
        assert self.repeat_mask is not None and self.first_copy_mask is not None  # the builder sets both
        return replace(
            super().to(device), repeat_mask=self.repeat_mask.to(device), first_copy_mask=self.first_copy_mask.to(device)
        )


def repeated_sequences(
    generator: torch.Generator, count: int, vocab: int, seq_len: int, min_repeat: int, max_repeat: int
) -> tuple[Split, torch.Tensor, torch.Tensor]:
    """`count` sequences (inputs, next-token targets) and the masks of their second and first copies."""
    total = seq_len + 1
    tokens = torch.randint(vocab, (count, total), generator=generator)
    lengths = torch.randint(min_repeat, max_repeat + 1, (count, 1), generator=generator)
    position = torch.arange(total)
    second = position >= total - lengths  # where the second copy lies
    first = (position >= total - 2 * lengths) & ~second
    tokens = tokens.gather(1, torch.where(second, position - lengths, position))  # write the copy
    repeat = second & (position > total - lengths)  # the copy's first token cannot be foreseen
    return Split(tokens[:, :-1], tokens[:, 1:]), repeat[:, 1:], first[:, 1:]


def induction_task(vocab: int, seq_len: int, min_repeat: int, max_repeat: int, test_sequences: int, seed: int) -> InductionTask:
    """The repeated-segment task; its held-out set is drawn from `seed`, the training stream from
    the loop's per-step generators."""

    def stream(generator: torch.Generator, batch_size: int, stage: int) -> Split:
        return repeated_sequences(generator, batch_size, vocab, seq_len, min_repeat, max_repeat)[0]

    test, repeat, first = repeated_sequences(
        torch.Generator().manual_seed(seed), test_sequences, vocab, seq_len, min_repeat, max_repeat
    )
    train = repeated_sequences(
        torch.Generator().manual_seed(seed + 1_000_000), TRAIN_SAMPLE, vocab, seq_len, min_repeat, max_repeat
    )[0]
    return InductionTask(
        name=f"induction(vocab={vocab}, seq_len={seq_len}, repeat={min_repeat}–{max_repeat})",
        vocab_size=vocab,
        seq_len=seq_len,
        num_classes=vocab,
        train=train,
        test=test,
        probe=test,
        stream=stream,
        repeat_mask=repeat,
        first_copy_mask=first,
    )


class InductionTaskConfig(TaskConfig):
    """Repeated random segments (docs/science/induction.md): a random prefix, then a segment r twice,
    |r| uniform in [min_repeat, max_repeat]; fresh sequences every step (tasks/induction.py)."""

    name: Literal["induction"] = "induction"
    vocab: int = Field(64, ge=2)
    seq_len: int = Field(64, ge=4, description="tokens per input sequence")
    min_repeat: int = Field(8, ge=1)
    max_repeat: int = Field(32, ge=1, description="at most (seq_len + 1) // 2")
    test_sequences: int = Field(512, ge=1, description="held-out sequences scored by the probes")

    @model_validator(mode="after")
    def _repeat_fits(self) -> InductionTaskConfig:
        if self.min_repeat > self.max_repeat:
            raise ValueError(f"task.min_repeat: {self.min_repeat} is not allowed (at most max_repeat = {self.max_repeat})")
        if 2 * self.max_repeat > self.seq_len + 1:
            raise ValueError(
                f"task.max_repeat: {self.max_repeat} is not allowed (two copies must fit: at most {(self.seq_len + 1) // 2})"
            )
        return self

    builder: ClassVar = staticmethod(induction_task)

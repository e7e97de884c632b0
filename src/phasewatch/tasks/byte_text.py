"""A byte-level language model on a packaged English corpus (docs/science/language.md,
"Real text").

Tokens are the UTF-8 bytes of the text (vocabulary 256), so no tokenizer has to be downloaded or
fitted, and the held-out loss converts directly to bits per byte — a number comparable across
models and papers. The corpus (tasks/corpus.py) is split by chapter; training batches are random
windows of the training chapters, drawn fresh every step (`stream`), and the test set (also the
probe set) is `test_windows` windows spread evenly over the held-out chapters. Every position is
scored: targets are the inputs shifted by one byte.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

import torch
from pydantic import Field

from phasewatch.errors import UserError
from phasewatch.tasks.base import Split, Task, TaskConfig
from phasewatch.tasks.corpus import Corpus, load_corpus

CORPORA: dict[str, Callable[[], Corpus]] = {"kjv": load_corpus}
TRAIN_SAMPLE = 256  # windows in the fixed training split (for probes that read `train`)


def utf8_bytes(text: str) -> torch.Tensor:
    """The text's UTF-8 bytes as a uint8 tensor (an eighth of the memory of int64 token ids)."""
    data = bytearray(text.encode("utf-8"))
    return torch.frombuffer(data, dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)  # frombuffer rejects b""


def byte_windows(data: torch.Tensor, starts: torch.Tensor, seq_len: int) -> Split:
    """Windows of `seq_len` bytes from each start, and the byte after each position."""
    rows = data[starts[:, None] + torch.arange(seq_len + 1)].long()
    return Split(rows[:, :-1], rows[:, 1:])


def random_windows(data: torch.Tensor, seq_len: int, generator: torch.Generator, count: int) -> Split:
    """`count` windows at starts uniform over the text (every start with a full window after it)."""
    starts = torch.randint(len(data) - seq_len, (count,), generator=generator)
    return byte_windows(data, starts, seq_len)


def even_windows(data: torch.Tensor, seq_len: int, count: int) -> Split:
    """`count` windows spread evenly from the start to the end of the text (overlapping when the
    text is shorter than count × seq_len)."""
    starts = torch.linspace(0, len(data) - seq_len - 1, count).round().long()
    return byte_windows(data, starts, seq_len)


def corpus_byte_task(corpus: Corpus, seq_len: int, held_out_every: int, test_windows: int, seed: int) -> Task:
    """The byte-level task on `corpus`: every `held_out_every`-th chapter held out."""
    train_text, test_text = corpus.split(held_out_every)
    train, test = utf8_bytes(train_text), utf8_bytes(test_text)
    longest = min(len(train), len(test)) - 1  # a window needs seq_len + 1 bytes
    if seq_len > longest:
        raise UserError(
            f"task.seq_len: {seq_len} is not allowed (at most {longest}: corpus {corpus.name!r} has "
            f"{len(train)} training and {len(test)} held-out bytes with held_out_every = {held_out_every})"
        )

    def stream(generator: torch.Generator, batch_size: int, stage: int) -> Split:
        return random_windows(train, seq_len, generator, batch_size)  # no curriculum: `stage` is ignored

    # The fixed training sample gets its own generator, apart from the loop's (seed · 1 000 003 + step).
    sample = random_windows(train, seq_len, torch.Generator().manual_seed(2**32 + seed), TRAIN_SAMPLE)
    held_out = even_windows(test, seq_len, test_windows)
    return Task(
        name=f"corpus({corpus.name}, bytes, seq_len={seq_len}, train={len(train)} B, held out={len(test)} B)",
        vocab_size=256,
        seq_len=seq_len,
        num_classes=256,
        train=sample,
        test=held_out,
        probe=held_out,
        stream=stream,
        bytes_per_token=1.0,  # one target per byte
    )


def byte_text_task(corpus: str, seq_len: int, held_out_every: int, test_windows: int, seed: int) -> Task:
    """The byte-level task on the packaged corpus named `corpus` (the CorpusTaskConfig fields)."""
    if corpus not in CORPORA:
        raise UserError(f"task.corpus: {corpus!r} is not allowed (one of {', '.join(CORPORA)})")
    return corpus_byte_task(CORPORA[corpus](), seq_len, held_out_every, test_windows, seed)


class CorpusTaskConfig(TaskConfig):
    """A byte-level language model on a packaged English corpus, with bits per byte on held-out
    chapters (tasks/corpus.py)."""

    name: Literal["corpus"] = "corpus"
    corpus: Literal["kjv"] = "kjv"
    seq_len: int = Field(128, ge=2)
    held_out_every: int = Field(10, ge=2, description="every k-th chapter is held out")
    test_windows: int = Field(256, ge=1, description="held-out windows scored by the behaviour probe")

    builder: ClassVar = staticmethod(byte_text_task)

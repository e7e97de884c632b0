"""In-context classification (Chan et al. 2022; Reddy 2023; Singh et al. 2023;
docs/science/induction.md).

A sequence is `pairs` (exemplar, label) pairs and then a query exemplar; the model must give the
query's label. Each of `classes` classes owns `exemplars` exemplar tokens (class c: tokens
c·exemplars … c·exemplars + exemplars − 1), followed by `labels` label tokens. Class c's fixed
label is c mod labels. The label can come from two places, and the task pits them against each
other:
- from the weights (in-weights learning), when the mapping class → label is the fixed one;
- from the context (in-context learning), by finding a pair of the query's class and copying its
  label — the only way when the sequence's labels are permuted.
Contexts are bursty (Chan et al. 2022): `burstiness` pairs are of the query's class (with other
exemplars than the query's where the class has them), the rest of random other classes. A share
`in_context_share` of training sequences permutes the labels (one random permutation of the label
tokens for the whole sequence); the rest use the fixed labels.

Inputs are x₁ y₁ … x_P y_P x_q (length 2·pairs + 1); the target at each exemplar position is the
label that follows it (the query's label last), −100 at label positions. Held-out sets: `test`
(also the probe set) asks for in-context learning — labels permuted per sequence, the query's
class max(burstiness, 1) times in the context; `in_weights` asks for in-weights learning — the
query's class absent from the context, fixed labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from pydantic import Field

from phasewatch.errors import UserError
from phasewatch.tasks.base import Split, Task, TaskConfig
from phasewatch.tasks.objective import IGNORE

TRAIN_SAMPLE = 1024  # sequences in the fixed training split (for probes that read `train`)


@dataclass(frozen=True)
class ICLTask(Task):
    """An in-context classification task; `in_weights` is the held-out set that only in-weights
    learning solves (the query's class absent from the context, fixed labels). The test split is
    the probe set."""

    in_weights: Split | None = None


@dataclass(frozen=True)
class Layout:
    """The token layout: exemplar tokens class-major, then the label tokens."""

    classes: int
    labels: int
    exemplars: int
    pairs: int

    @property
    def first_label(self) -> int:
        return self.classes * self.exemplars

    @property
    def vocab_size(self) -> int:
        return self.first_label + self.labels

    @property
    def seq_len(self) -> int:
        return 2 * self.pairs + 1


def sequences(layout: Layout, generator: torch.Generator, count: int, query_pairs: int, permuted_share: float) -> Split:
    """`count` sequences whose context holds `query_pairs` pairs of the query's class (the rest of
    other classes, uniform), with a random label permutation in a `permuted_share` of them."""
    n, pairs, exemplars = count, layout.pairs, layout.exemplars
    query = torch.randint(layout.classes, (n,), generator=generator)
    others = (query[:, None] + 1 + torch.randint(layout.classes - 1, (n, pairs), generator=generator)) % layout.classes
    is_query = torch.arange(pairs) < query_pairs
    classes = torch.where(is_query, query[:, None], others)
    # The query's exemplar is drawn first; its class's pairs cycle through the class's other exemplars.
    drawn = torch.rand(n, exemplars, generator=generator).argsort(-1)
    cycle = 1 + torch.arange(pairs) % (exemplars - 1) if exemplars > 1 else torch.zeros(pairs, dtype=torch.long)
    chosen = torch.where(is_query, drawn[:, cycle], torch.randint(exemplars, (n, pairs), generator=generator))
    order = torch.rand(n, pairs, generator=generator).argsort(-1)  # the query's pairs at random places
    classes, chosen = classes.gather(1, order), chosen.gather(1, order)

    permutation = torch.rand(n, layout.labels, generator=generator).argsort(-1)
    permuted = torch.rand(n, generator=generator) < permuted_share
    permutation[~permuted] = torch.arange(layout.labels)

    def label_tokens(of_classes: torch.Tensor) -> torch.Tensor:
        return layout.first_label + permutation.gather(1, of_classes % layout.labels)

    inputs = torch.empty(n, layout.seq_len, dtype=torch.long)
    inputs[:, 0:-1:2] = classes * exemplars + chosen
    inputs[:, 1::2] = label_tokens(classes)
    inputs[:, -1] = query * exemplars + drawn[:, 0]
    targets = torch.full_like(inputs, IGNORE)
    targets[:, 0:-1:2] = inputs[:, 1::2]
    targets[:, -1] = label_tokens(query[:, None])[:, 0]
    return Split(inputs, targets)


def icl_task(
    classes: int,
    labels: int,
    exemplars: int,
    pairs: int,
    burstiness: int,
    in_context_share: float,
    test_sequences: int,
    seed: int,
) -> ICLTask:
    """The task of the ICLTaskConfig fields; fresh training sequences every step."""
    if burstiness > pairs:
        raise UserError(f"task.burstiness: {burstiness} is not allowed (at most pairs = {pairs})")
    layout = Layout(classes, labels, exemplars, pairs)

    def stream(generator: torch.Generator, batch_size: int, stage: int) -> Split:
        return sequences(layout, generator, batch_size, burstiness, in_context_share)  # no curriculum: `stage` is ignored

    def fixed(split: int) -> torch.Generator:
        # One generator per fixed split, apart from the loop's stream generators (seed · 1 000 003 + step).
        return torch.Generator().manual_seed(2**32 * split + seed)

    in_context = sequences(layout, fixed(2), test_sequences, max(burstiness, 1), permuted_share=1.0)
    return ICLTask(
        name=f"icl(classes={classes}, labels={labels}, exemplars={exemplars}, pairs={pairs}, burstiness={burstiness}, "
        f"in_context_share={in_context_share})",
        vocab_size=layout.vocab_size,
        seq_len=layout.seq_len,
        num_classes=layout.vocab_size,
        train=sequences(layout, fixed(1), TRAIN_SAMPLE, burstiness, in_context_share),
        test=in_context,
        probe=in_context,
        stream=stream,
        in_weights=sequences(layout, fixed(3), test_sequences, 0, permuted_share=0.0),
    )


class ICLTaskConfig(TaskConfig):
    """In-context classification (Reddy 2023; Chan et al. 2022): (exemplar, label) pairs from
    bursty class mixtures, then a query whose label is read from context or from the weights
    (tasks/icl.py)."""

    name: Literal["icl"] = "icl"
    classes: int = Field(128, ge=2)
    labels: int = Field(8, ge=2, description="label tokens; class c's fixed label is c mod labels")
    exemplars: int = Field(4, ge=1, description="tokens (exemplars) per class")
    pairs: int = Field(8, ge=1, description="(exemplar, label) pairs before the query")
    burstiness: int = Field(3, ge=0, description="pairs of the query's class in the context")
    in_context_share: float = Field(0.5, ge=0, le=1, description="share of training sequences whose labels are permuted")
    test_sequences: int = Field(512, ge=1)

    builder: ClassVar = staticmethod(icl_task)

"""Setting 4 of Structure Before Collapse: a word-level language model on real text, with nouns
labelled by their WordNet class (the latent attributes of real English).

Tokens are lower-cased words (with an apostrophe inside: "lord's") and single punctuation marks;
the vocabulary is the `vocab` most frequent training tokens plus `<unk>` (the last id). Train and
test sets are non-overlapping windows of `seq_len` tokens from the corpus's train and held-out
chapters, targets the next token at every position.

The structure: nouns of the training text that WordNet gives a class (tasks/wordnet.py), frequent
(count ≥ `min_count`), mostly written in lower case in the corpus (so not names: "John", "Job"),
of the candidate `lexnames`; the `classes` largest of those classes that have `nouns_per_class`
such nouns keep their `nouns_per_class` most frequent. Each noun is one item (its token id), the
attribute is its class (one-hot, items in class order). The probe set holds, per noun,
`contexts_per_noun` training windows whose next token is that noun (occurrences spread evenly
over the text), so the feature of a probe row is the representation that predicts the noun.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import ClassVar, Literal

import torch
from pydantic import Field, field_validator

from phasewatch.errors import UserError
from phasewatch.tasks.base import Split, Task, TaskConfig
from phasewatch.tasks.corpus import Corpus, load_corpus
from phasewatch.tasks.wordnet import LEXNAMES as WORDNET_LEXNAMES
from phasewatch.tasks.wordnet import noun_classes

TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
UNKNOWN = "<unk>"
LEXNAMES = ("noun.animal", "noun.person", "noun.artifact", "noun.food", "noun.plant", "noun.body")
EXCLUDE = ("art", "mine")  # "thou art", the pronoun "mine": nouns to WordNet, not in this corpus


def raw_tokens(text: str) -> list[str]:
    """Words and punctuation marks, as written."""
    return TOKEN.findall(text)


def vocabulary(counts: Counter, size: int) -> list[str]:
    """The `size` most frequent tokens (ties alphabetically), then `<unk>`."""
    ranked = sorted(counts, key=lambda token: (-counts[token], token))
    return ranked[:size] + [UNKNOWN]


def encode(tokens: list[str], index: dict[str, int]) -> torch.Tensor:
    unknown = index[UNKNOWN]
    return torch.tensor([index.get(token, unknown) for token in tokens], dtype=torch.long)


def windows(ids: torch.Tensor, seq_len: int, limit: int | None = None) -> Split:
    """Non-overlapping windows of `seq_len` tokens and their next tokens (at most `limit`,
    spread evenly over the text)."""
    count = (len(ids) - 1) // seq_len
    if count < 1:
        raise UserError(f"task.seq_len: {seq_len} is not allowed (the text has only {len(ids)} tokens)")
    starts = torch.arange(count) * seq_len
    if limit is not None and limit < count:
        starts = starts[torch.linspace(0, count - 1, limit).round().long()]
    offsets = starts[:, None] + torch.arange(seq_len)
    return Split(ids[offsets], ids[offsets + 1])


def choose_nouns(
    counts: Counter,
    lower_case: Counter,
    classify: Callable[[Iterable[str]], dict[str, str]],
    *,
    lexnames: Iterable[str],
    classes: int,
    nouns_per_class: int,
    min_count: int,
    exclude: Iterable[str],
) -> list[tuple[str, str]]:
    """(noun, class) pairs, classes largest first (ties by name), nouns by frequency within each."""
    excluded = set(exclude)
    frequent = [w for w in counts if counts[w] >= min_count and 2 * lower_case[w] > counts[w] and w not in excluded]
    by_class: dict[str, list[str]] = {name: [] for name in lexnames}
    for word, lexname in classify(frequent).items():
        if lexname in by_class:
            by_class[lexname].append(word)
    full = [name for name in by_class if len(by_class[name]) >= nouns_per_class]
    if len(full) < 2:
        sizes = ", ".join(f"{name} {len(words)}" for name, words in by_class.items())
        raise UserError(
            f"task.nouns_per_class: {nouns_per_class} is not allowed (fewer than 2 classes have that many nouns "
            f"with count >= {min_count}; have {sizes})"
        )
    kept = sorted(full, key=lambda name: (-len(by_class[name]), name))[:classes]
    return [(w, name) for name in kept for w in sorted(by_class[name], key=lambda w: (-counts[w], w))[:nouns_per_class]]


def vocabulary_and_nouns(
    written: list[str], vocab: int, classify: Callable[[Iterable[str]], dict[str, str]] = noun_classes, **selection
) -> tuple[list[str], list[tuple[str, str]]]:
    """The vocabulary of the training tokens `written` (as in the text) and its labelled nouns;
    `selection`: the keyword arguments of `choose_nouns`."""
    counts = Counter(token.lower() for token in written)
    lower_case = Counter(token for token in written if token.islower())
    words = vocabulary(counts, vocab)
    in_vocab = Counter({w: counts[w] for w in words[:-1]})
    return words, choose_nouns(in_vocab, lower_case, classify, **selection)


def noun_contexts(ids: torch.Tensor, noun_ids: torch.Tensor, seq_len: int, per_noun: int) -> tuple[Split, torch.Tensor]:
    """Windows whose next token (after the last position) is a noun: `per_noun` occurrences of
    each, spread evenly over the text; and each window's noun index."""
    ends, labels = [], []
    for item, noun in enumerate(noun_ids.tolist()):
        at = (ids[seq_len:] == noun).nonzero().flatten() + seq_len  # positions with a full window before
        if len(at) < per_noun:
            raise UserError(f"task.contexts_per_noun: {per_noun} is not allowed (a noun occurs only {len(at)} times)")
        ends.append(at[torch.linspace(0, len(at) - 1, per_noun).round().long()])
        labels.append(torch.full((per_noun,), item))
    offsets = torch.cat(ends)[:, None] - seq_len + torch.arange(seq_len)
    return Split(ids[offsets], ids[offsets + 1]), torch.cat(labels)


def text_task(
    vocab: int,
    seq_len: int,
    classes: int,
    nouns_per_class: int,
    min_count: int,
    contexts_per_noun: int,
    test_windows: int,
    held_out_every: int,
    lexnames: Iterable[str] = LEXNAMES,
    exclude: Iterable[str] = EXCLUDE,
    corpus: Corpus | None = None,
    classify: Callable[[Iterable[str]], dict[str, str]] = noun_classes,
) -> Task:
    """The task on `corpus` (default: the packaged King James Bible), nouns labelled by `classify`."""
    train_text, test_text = (corpus or load_corpus()).split(held_out_every)
    written = raw_tokens(train_text)
    words, nouns = vocabulary_and_nouns(
        written,
        vocab,
        classify,
        lexnames=lexnames,
        classes=classes,
        nouns_per_class=nouns_per_class,
        min_count=min_count,
        exclude=exclude,
    )
    index = {token: i for i, token in enumerate(words)}
    kept = list(dict.fromkeys(name for _, name in nouns))
    attributes = torch.zeros(len(nouns), len(kept))
    attributes[torch.arange(len(nouns)), torch.tensor([kept.index(name) for _, name in nouns])] = 1.0
    items = torch.tensor([index[noun] for noun, _ in nouns])
    train_ids = encode([token.lower() for token in written], index)
    probe, labels = noun_contexts(train_ids, items, seq_len, contexts_per_noun)
    return Task(
        name=f"text(kjv, vocab={len(words)}, seq_len={seq_len}, classes={kept}, nouns_per_class={nouns_per_class})",
        vocab_size=len(words),
        seq_len=seq_len,
        num_classes=len(words),
        train=windows(train_ids, seq_len),
        test=windows(encode([t.lower() for t in raw_tokens(test_text)], index), seq_len, test_windows),
        probe=probe,
        attributes=attributes,
        items=items,
        probe_labels=labels,
        probe_positions=torch.full((len(labels),), seq_len - 1),
    )


class TextTaskConfig(TaskConfig):
    """Setting 4: a word-level language model on the packaged King James Bible, nouns labelled by
    their WordNet class (tasks/text.py)."""

    name: Literal["text"] = "text"
    vocab: int = Field(2000, ge=10, description="most frequent training tokens kept (plus <unk>)")
    seq_len: int = Field(32, ge=2)
    classes: int = Field(6, ge=2, description="the largest WordNet classes kept")
    nouns_per_class: int = Field(6, ge=1)
    min_count: int = Field(40, ge=1, description="least count of a labelled noun in the training text")
    contexts_per_noun: int = Field(8, ge=1, description="probe windows whose next token is the noun")
    test_windows: int = Field(256, ge=1, description="held-out windows scored by the behaviour probe")
    held_out_every: int = Field(10, ge=2, description="every k-th chapter is held out")
    lexnames: list[str] = Field(list(LEXNAMES), min_length=2, description="candidate WordNet noun classes")
    exclude: list[str] = Field(list(EXCLUDE), description="words never labelled")

    @field_validator("lexnames")
    @classmethod
    def _noun_classes(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in WORDNET_LEXNAMES or not n.startswith("noun.")]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a WordNet noun class (lexnames(5WN): noun.animal, noun.person, ...)")
        return names

    builder: ClassVar = staticmethod(text_task)
    seeded: ClassVar[bool] = False

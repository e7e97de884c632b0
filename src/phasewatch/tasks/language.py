"""A generated language with latent noun semantics (setting 3 of Structure Before Collapse; the
generator that the language-phases work extends, docs/science/language.md).

Sentences are `BOS name verb det_k adj×(k+1) noun .`: the determiner announces how many adjectives
follow, so the token before the noun has exactly one grammatical continuation class; verb v
selects attribute combination v, and each context (name, verb, determiner, adjectives) has one
fixed noun among the `nouns_per_combination` nouns of that combination, so the noun is memorised
per context — the one-hot labels of the paper — while its latent attributes are shared.

Token ids come in blocks by word class: BOS 0, END 1, then names, verbs, determiners, adjectives
and nouns last; nouns are numbered combination-major, so noun id order = attribute order and the
task's `items` (the nouns' token ids) line up with `attributes`. The model is a language model:
inputs are a sentence minus its last token, targets the next tokens (−100 past the end, where
the input is padded with END).

Every scored position is annotated (`Annotations`) so predictions can be scored for syntax (is
the argmax a grammatical token here?) and semantics (at an argument slot, does the argmax noun
satisfy the selecting verb?). Token sets live in one table, `token_sets`; positions point into
it. Richer grammars (agreement, optional modifiers, prepositional phrases, adjectives compatible
with attributes) add word classes, rows to that table and options to `language_task`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, PositiveInt

from phasewatch.errors import UserError
from phasewatch.tasks.attributes import item_attributes
from phasewatch.tasks.base import Split, Task, TaskConfig
from phasewatch.tasks.objective import IGNORE

WORD_CLASSES = ("bos", "end", "name", "verb", "determiner", "adjective", "noun")
BOS, END = 0, 1


@dataclass(frozen=True)
class Lexicon:
    """The vocabulary: how many words each class has; ids are contiguous blocks in WORD_CLASSES order."""

    sizes: tuple[int, ...]  # one per word class (BOS and END: 1 each)

    def tokens(self, word_class: str) -> range:
        index = WORD_CLASSES.index(word_class)
        start = sum(self.sizes[:index])
        return range(start, start + self.sizes[index])

    def count(self, word_class: str) -> int:
        return self.sizes[WORD_CLASSES.index(word_class)]

    def token(self, word_class: str, k: int) -> int:
        return self.tokens(word_class)[k]

    @property
    def size(self) -> int:
        return sum(self.sizes)


@dataclass(frozen=True)
class Sentence:
    """A generated sentence: its token ids, each token's word class, and its semantic argument: the
    noun's position and the `token_sets` row it must belong to (its verb's selection)."""

    tokens: tuple[int, ...]
    classes: tuple[int, ...]
    argument: int
    selection: int


@dataclass(frozen=True)
class Annotations:
    """Per scored position of a split, (N, T) like its targets, −1 where nothing is scored.

    `word_class`: the target token's class (index into WORD_CLASSES); `grammatical`: the row of
    `token_sets` holding every token that is grammatical there; `selected`: at semantic argument
    slots (the noun after a selecting verb), the row of `token_sets` holding the nouns that satisfy
    the selection, −1 at every other position. Optional (None where the language has none): at
    positions whose target is a verb, `syntax_source` is the input position of the word the verb
    agrees with (its subject's head noun); at positions whose target is a verb's object noun,
    `semantic_source` is the input position of that verb.
    """

    word_class: torch.Tensor
    grammatical: torch.Tensor
    selected: torch.Tensor
    syntax_source: torch.Tensor | None = None
    semantic_source: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Annotations:
        def moved(field: torch.Tensor | None) -> Any:
            return None if field is None else field.to(device)

        return Annotations(
            *(
                moved(field)
                for field in (self.word_class, self.grammatical, self.selected, self.syntax_source, self.semantic_source)
            )
        )

    @property
    def argument_slots(self) -> torch.Tensor:
        return self.selected >= 0


@dataclass(frozen=True)
class LanguageTask(Task):
    """A generated-language task: `token_sets` (S, vocab) marks the tokens of each set that
    `annotations[split]` points into; the first len(WORD_CLASSES) rows are the word classes, then
    one row per verb (the nouns it selects). `held_out`: the test split is new contexts (else it is
    the training set)."""

    token_sets: torch.Tensor | None = None
    annotations: dict[str, Annotations] | None = None
    held_out: bool = False
    word_classes: tuple[str, ...] = WORD_CLASSES  # what the first rows of `token_sets` and `word_class` name

    def to(self, device: torch.device | str) -> LanguageTask:
        moved = super().to(device)
        assert self.annotations is not None  # the builder sets them
        return replace(moved, annotations={split: a.to(device) for split, a in self.annotations.items()})


def _modifier_sequences(rng: random.Random, determiners: int, adjectives: int, count: int) -> list[tuple[int, tuple[int, ...]]]:
    """`count` distinct (k, adjectives) pairs: k uniform (so sentence lengths are balanced), then
    k + 1 adjectives uniform, repeats redrawn."""
    chosen: dict[tuple[int, tuple[int, ...]], None] = {}
    while len(chosen) < count:
        k = rng.randrange(determiners)
        chosen.setdefault((k, tuple(rng.randrange(adjectives) for _ in range(k + 1))))
    return list(chosen)


def _sentence(lexicon: Lexicon, name: int, verb: int, k: int, adjectives: tuple[int, ...], noun: int) -> Sentence:
    words = [
        ("bos", 0),
        ("name", name),
        ("verb", verb),
        ("determiner", k),
        *(("adjective", a) for a in adjectives),
        ("noun", noun),
        ("end", 0),
    ]
    tokens = tuple(lexicon.token(c, i) for c, i in words)
    classes = tuple(WORD_CLASSES.index(c) for c, _ in words)
    return Sentence(tokens, classes, argument=len(words) - 2, selection=len(WORD_CLASSES) + verb)


def satisfying(attributes: torch.Tensor, wanted: torch.Tensor) -> list[int]:
    """The items (rows of `attributes`) that have every attribute value marked in `wanted` — a
    verb's selection: a whole combination in setting 3, a few values ("rigid", "inanimate") in richer grammars."""
    return (attributes @ wanted == wanted.sum()).nonzero().view(-1).tolist()


def generate_sentences(
    lexicon: Lexicon, valid_nouns: list[list[int]], contexts_per_pair: int, held_out_per_pair: int, seed: int
) -> tuple[list[Sentence], list[Sentence]]:
    """Training and held-out sentences. Per (name, verb) pair, distinct modifier sequences; per
    verb, its contexts are shuffled and dealt round-robin to the nouns it selects (`valid_nouns`,
    noun indices), so each of them has the same number of contexts (± 1) and every context one noun."""
    rng = random.Random(seed)
    determiners, adjectives = lexicon.count("determiner"), lexicon.count("adjective")
    splits: tuple[list[Sentence], list[Sentence]] = ([], [])
    for verb in range(lexicon.count("verb")):
        contexts: tuple[list, list] = ([], [])
        for name in range(lexicon.count("name")):
            modifiers = _modifier_sequences(rng, determiners, adjectives, contexts_per_pair + held_out_per_pair)
            contexts[0].extend((name, *m) for m in modifiers[:contexts_per_pair])
            contexts[1].extend((name, *m) for m in modifiers[contexts_per_pair:])
        for split, chosen in zip(splits, contexts):
            rng.shuffle(chosen)
            nouns = valid_nouns[verb]
            split.extend(_sentence(lexicon, name, verb, k, adj, nouns[i % len(nouns)]) for i, (name, k, adj) in enumerate(chosen))
    return splits


def encode(sentences: list[Sentence], seq_len: int) -> tuple[Split, Annotations, torch.Tensor, torch.Tensor]:
    """Inputs (END-padded), next-token targets (−100 past the end), annotations, and per sentence
    the position whose target is its argument noun and that noun's token id."""
    n = len(sentences)
    inputs, targets = torch.full((n, seq_len), END), torch.full((n, seq_len), IGNORE)
    word_class, grammatical, selected = (torch.full((n, seq_len), -1) for _ in range(3))
    positions, nouns = torch.empty(n, dtype=torch.long), torch.empty(n, dtype=torch.long)
    for row, s in enumerate(sentences):
        length = len(s.tokens) - 1
        inputs[row, :length] = torch.tensor(s.tokens[:-1])
        targets[row, :length] = torch.tensor(s.tokens[1:])
        word_class[row, :length] = grammatical[row, :length] = torch.tensor(s.classes[1:])  # one class fits each position
        positions[row], nouns[row] = s.argument - 1, s.tokens[s.argument]
        selected[row, s.argument - 1] = s.selection
    return Split(inputs, targets), Annotations(word_class, grammatical, selected), positions, nouns


def language_task(
    factor_sizes: tuple[int, ...],
    subjects: int,
    determiners: int,
    adjectives: int,
    nouns_per_combination: int,
    contexts_per_pair: int,
    held_out_per_pair: int,
    seed: int,
) -> LanguageTask:
    """Setting 3: one verb per attribute combination, `contexts_per_pair` training sentences per
    (name, verb) pair (and `held_out_per_pair` more for a held-out test split; 0: test = train)."""
    possible = sum(adjectives ** (k + 1) for k in range(determiners))
    if contexts_per_pair + held_out_per_pair > possible:
        raise UserError(
            f"task.contexts_per_pair: {contexts_per_pair} (+ {held_out_per_pair} held out) is not allowed "
            f"(at most {possible} distinct modifier sequences per name and verb)"
        )
    attributes = item_attributes(factor_sizes, nouns_per_combination)  # noun j has combination j // m
    selections = item_attributes(factor_sizes, 1)  # verb v wants combination v, all of it
    valid_nouns = [satisfying(attributes, wanted) for wanted in selections]
    lexicon = Lexicon((1, 1, subjects, len(selections), determiners, adjectives, len(attributes)))
    train_sentences, test_sentences = generate_sentences(lexicon, valid_nouns, contexts_per_pair, held_out_per_pair, seed)
    seq_len = 5 + determiners  # the longest sentence minus its last token
    train, train_notes, positions, nouns = encode(train_sentences, seq_len)
    test, test_notes = encode(test_sentences, seq_len)[:2] if held_out_per_pair else (train, train_notes)
    nouns_block = lexicon.tokens("noun")
    token_sets = torch.zeros(len(WORD_CLASSES) + len(selections), lexicon.size, dtype=torch.bool)
    for index, word_class in enumerate(WORD_CLASSES):
        token_sets[index, list(lexicon.tokens(word_class))] = True
    for verb, selected in enumerate(valid_nouns):
        token_sets[len(WORD_CLASSES) + verb, [nouns_block[j] for j in selected]] = True
    return LanguageTask(
        name=f"language(factors={list(factor_sizes)}, subjects={subjects}, sentences={len(train)})",
        vocab_size=lexicon.size,
        seq_len=seq_len,
        num_classes=lexicon.size,
        train=train,
        test=test,
        probe=train,
        attributes=attributes,
        items=torch.tensor(list(nouns_block)),
        probe_labels=nouns - nouns_block.start,
        probe_positions=positions,
        token_sets=token_sets,
        annotations={"train": train_notes, "test": test_notes, "probe": train_notes},
        held_out=bool(held_out_per_pair),
    )


class LanguageTaskConfig(TaskConfig):
    """Setting 3: a generated language, `BOS subject verb det_k adj×(k+1) noun .`, one fixed noun
    per context among the nouns of the verb's attribute combination (tasks/language.py)."""

    name: Literal["language"] = "language"
    factor_sizes: list[PositiveInt] = Field([2, 3, 2], min_length=1)
    subjects: int = Field(8, ge=1, description="names that can be the subject")
    determiners: int = Field(3, ge=1, description="determiner k announces k + 1 adjectives")
    adjectives: int = Field(8, ge=1)
    nouns_per_combination: int = Field(4, ge=1)
    contexts_per_pair: int = Field(4, ge=1, description="training sentences per (subject, verb) pair")
    held_out_per_pair: int = Field(0, ge=0, description="held-out test sentences per pair (0: test = train)")

    builder: ClassVar = staticmethod(language_task)

"""The phases language (docs/science/language.md): a generated language whose syntax and semantics are
known exactly, so that a language model's predictions can be scored for each separately.

    S  → BOS NP_subject [PP] VERB NP_object [PP] END
    NP → DETERMINER ADJECTIVE{0..max_adjectives} NOUN
    PP → PREPOSITION NP

Nouns carry latent attributes — animacy × size × rigidity × number, `nouns_per_combination` nouns
per combination, numbered combination-major (`item_attributes`), so the task's `items` line up with
its `attributes`. Syntax is word class and number: "a" goes with singular nouns, "some" with plural
ones, "the" and "my" with either; each verb lemma has a singular and a plural form, and the form
agrees with the subject's head noun — a PP after the subject puts an attractor noun of either
number between the two. Semantics is selection, never number: subjects are animate, verb lemma v
wants the values VERB_SELECTIONS[v mod 8] in its object, each adjective one value in its noun,
each preposition one value (or none) in its noun. A sentence is drawn noun first, then a
determiner and adjectives that fit the noun, so every sentence is grammatical and meaningful.

Token ids come in blocks in GRAMMAR_CLASSES order: BOS 0, END 1, determiners, adjectives, nouns,
verbs (lemma v: its singular form 2v, its plural form 2v + 1 within the block), prepositions.

Annotations come from a left-to-right parse of each sentence, so they hold what its prefix
determines: `grammatical`, the tokens that may come next by class and agreement; `selected`, at
noun targets, the nouns that meet every semantic constraint seen so far; and where a model must
look — the subject's head noun for the verb's form (`syntax_source`), the verb for its object
(`semantic_source`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from pydantic import Field

from phasewatch.tasks.attributes import item_attributes
from phasewatch.tasks.base import Split, TaskConfig
from phasewatch.tasks.language import BOS, END, Annotations, LanguageTask, satisfying
from phasewatch.tasks.objective import IGNORE

GRAMMAR_CLASSES = ("bos", "end", "determiner", "adjective", "noun", "verb", "preposition")
FACTORS = (("animacy", 2), ("size", 3), ("rigidity", 2), ("number", 2))
FACTOR_SIZES = tuple(size for _, size in FACTORS)
VALUES = ("animate", "inanimate", "small", "medium", "large", "rigid", "soft", "singular", "plural")  # attribute columns
ANIMATE, INANIMATE, SMALL, MEDIUM, LARGE, RIGID, SOFT, SINGULAR, PLURAL = range(len(VALUES))
VERB_SELECTIONS = ((ANIMATE,), (INANIMATE, RIGID), (SMALL,), (LARGE,), (SOFT,), (INANIMATE, MEDIUM), (ANIMATE, SMALL), (RIGID,))
ADJECTIVE_VALUES = (ANIMATE, SMALL, LARGE, RIGID, SOFT, INANIMATE, MEDIUM)
PREPOSITION_SELECTIONS = ((INANIMATE,), (), (LARGE,), (ANIMATE,))
DETERMINERS = (("a", 0), ("some", 1), ("the", None), ("my", None))  # word, the number it needs (0 singular, None: any)
TRAIN_SENTENCES = 2048


class TokenSets:
    """The `token_sets` table, grown on demand: the word classes first, then one row per distinct set."""

    def __init__(self, vocab_size: int, classes: Iterable[range]):
        self.vocab_size = vocab_size
        self.sets = [frozenset(tokens) for tokens in classes]
        self.rows: dict[frozenset[int], int] = {}
        for row, tokens in enumerate(self.sets):
            self.rows.setdefault(tokens, row)
        self.memo: dict[Hashable, int] = {}  # a description of a set → its row, so each set is built once

    def row(self, key: Hashable, members: Callable[[], Iterable[int]]) -> int:
        if key not in self.memo:
            tokens = frozenset(members())
            if tokens not in self.rows:
                self.rows[tokens] = len(self.sets)
                self.sets.append(tokens)
            self.memo[key] = self.rows[tokens]
        return self.memo[key]

    def table(self) -> torch.Tensor:
        table = torch.zeros(len(self.sets), self.vocab_size, dtype=torch.bool)
        for row, tokens in enumerate(self.sets):
            table[row, list(tokens)] = True
        return table


class Grammar:
    """The vocabulary and per-token look-up tables, pre-computed so that drawing a sentence is a few
    list look-ups and random draws."""

    def __init__(
        self,
        nouns_per_combination: int,
        verbs: int,
        adjectives: int,
        prepositions: int,
        max_adjectives: int,
        adjective_probability: float,
        pp_probability: float,
    ):
        self.attributes = item_attributes(FACTOR_SIZES, nouns_per_combination)
        sizes = (1, 1, len(DETERMINERS), adjectives, len(self.attributes), 2 * verbs, prepositions)
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        self.blocks = {c: range(start, start + size) for c, start, size in zip(GRAMMAR_CLASSES, starts, sizes)}
        self.vocab_size = sum(sizes)
        self.class_of = [k for k, size in enumerate(sizes) for _ in range(size)]
        self.verbs, self.max_adjectives = verbs, max_adjectives if adjectives else 0
        self.adjective_probability, self.pp_probability = adjective_probability, pp_probability
        nouns, verb_forms = self.blocks["noun"], self.blocks["verb"]

        # number: a noun's, a verb form's, a determiner's requirement (None: either)
        self.number_of: list[int | None] = [None] * self.vocab_size
        for j, noun in enumerate(nouns):
            self.number_of[noun] = int(self.attributes[j, PLURAL])
        for k, verb in enumerate(verb_forms):
            self.number_of[verb] = k % 2
        for (_, number), determiner in zip(DETERMINERS, self.blocks["determiner"]):
            self.number_of[determiner] = number
        # the attribute values each token demands of its noun: BOS (the subject's slot), verbs, prepositions, adjectives
        self.wants: dict[int, tuple[int, ...]] = {BOS: (ANIMATE,)}
        self.wants |= {verb: VERB_SELECTIONS[(k // 2) % len(VERB_SELECTIONS)] for k, verb in enumerate(verb_forms)}
        self.wants |= {
            p: PREPOSITION_SELECTIONS[k % len(PREPOSITION_SELECTIONS)] for k, p in enumerate(self.blocks["preposition"])
        }
        self.wants |= {a: (ADJECTIVE_VALUES[k % len(ADJECTIVE_VALUES)],) for k, a in enumerate(self.blocks["adjective"])}
        self.candidates = {token: self.nouns_with(wanted) for token, wanted in self.wants.items()}  # the nouns a slot may draw
        self.determiners_for = {
            noun: [d for d in self.blocks["determiner"] if self.number_of[d] in (None, self.number_of[noun])] for noun in nouns
        }
        self.adjectives_for = {noun: [a for a in self.blocks["adjective"] if noun in self.candidates[a]] for noun in nouns}
        self.nouns_of: dict[int | None, list[int]] = {
            n: [noun for noun in nouns if n is None or self.number_of[noun] == n] for n in (None, 0, 1)
        }  # None: a determiner of either number
        self.verbs_of = {n: [verb for verb in verb_forms if self.number_of[verb] == n] for n in (0, 1)}
        noun_phrase = 2 + self.max_adjectives
        self.seq_len = 2 + 2 * noun_phrase + (2 * (1 + noun_phrase) if prepositions else 0)  # the longest sentence minus 1

    def number(self, token: int) -> int:
        """The grammatical number (0 singular, 1 plural) of a noun, verb or determiner token."""
        number = self.number_of[token]
        assert number is not None, f"token {token} has no number"
        return number

    def nouns_with(self, wanted: Iterable[int]) -> list[int]:
        """The noun tokens whose attributes include every value in `wanted`."""
        columns = torch.zeros(self.attributes.shape[1])
        columns[list(wanted)] = 1
        return [self.blocks["noun"][j] for j in satisfying(self.attributes, columns)]

    def words(self) -> tuple[str, ...]:
        """One readable word per token id."""
        return (
            "<bos>",
            ".",
            *(word for word, _ in DETERMINERS),
            *(f"adj{k}-{VALUES[self.wants[a][0]]}" for k, a in enumerate(self.blocks["adjective"])),
            *(f"noun{j}" for j in range(len(self.blocks["noun"]))),
            *(f"verb{k // 2}" + ("s" if k % 2 == 0 else "") for k in range(2 * self.verbs)),  # "verb3s": singular
            *(f"prep{k}" for k in range(len(self.blocks["preposition"]))),
        )

    # generation

    def sentence(self, rng: random.Random, stage: int) -> list[int]:
        """One sentence; stage 0: no adjectives and no PPs."""
        full = stage > 0
        tokens = [BOS]
        subject = self._noun_phrase(rng, BOS, tokens, full)
        self._prepositional_phrase(rng, tokens, full)
        verb = self.blocks["verb"][2 * rng.randrange(self.verbs) + self.number(subject)]
        tokens.append(verb)
        self._noun_phrase(rng, verb, tokens, full)
        self._prepositional_phrase(rng, tokens, full)
        tokens.append(END)
        return tokens

    def _noun_phrase(self, rng: random.Random, head: int, tokens: list[int], modifiers: bool) -> int:
        """Append a noun phrase for the slot `head` (BOS, a verb or a preposition) opens; return its noun."""
        noun = rng.choice(self.candidates[head])
        tokens.append(rng.choice(self.determiners_for[noun]))
        if modifiers:
            count = 0
            while count < self.max_adjectives and rng.random() < self.adjective_probability:
                count += 1
            fitting = self.adjectives_for[noun]
            tokens += rng.sample(fitting, min(count, len(fitting)))  # distinct adjectives ("big big dog" is no better)
        tokens.append(noun)
        return noun

    def _prepositional_phrase(self, rng: random.Random, tokens: list[int], modifiers: bool) -> None:
        if modifiers and self.blocks["preposition"] and rng.random() < self.pp_probability:
            preposition = rng.choice(self.blocks["preposition"])
            tokens.append(preposition)
            self._noun_phrase(rng, preposition, tokens, True)

    def split(self, sentences: list[list[int]]) -> Split:
        """Inputs (END-padded) and next-token targets (−100 past the end), as in language.encode."""
        inputs = [s[:-1] + [END] * (self.seq_len + 1 - len(s)) for s in sentences]
        targets = [s[1:] + [IGNORE] * (self.seq_len + 1 - len(s)) for s in sentences]
        return Split(torch.tensor(inputs), torch.tensor(targets))

    def stream(self, generator: torch.Generator, batch_size: int, stage: int) -> Split:
        """`batch_size` fresh sentences, drawn from `generator` alone (one draw seeds the sentences)."""
        rng = random.Random(int(torch.randint(2**62, (1,), generator=generator)))
        return self.split([self.sentence(rng, stage) for _ in range(batch_size)])

    # annotation

    def annotate(self, sentence: list[int], sets: TokenSets) -> tuple[list[int], ...]:
        """Per input position of `sentence`: the target's class, its grammatical and selected rows of
        `sets`, and its syntax and semantic sources (−1: none), each from the prefix alone."""
        columns: tuple[list[int], ...] = ([], [], [], [], [])
        noun_class, verb_class = GRAMMAR_CLASSES.index("noun"), GRAMMAR_CLASSES.index("verb")
        wanted: frozenset[int] = frozenset()
        slot, number, adjectives, head, verb = "", None, 0, -1, -1
        for t, token in enumerate(sentence[:-1]):
            kind = GRAMMAR_CLASSES[self.class_of[token]]
            if kind in ("bos", "verb", "preposition"):  # a new noun slot: its selection, then determiners
                wanted = frozenset(self.wants[token])
                slot = {"bos": "subject", "verb": "object"}.get(kind, slot + " pp")
                verb = t if kind == "verb" else verb
                grammatical = GRAMMAR_CLASSES.index("determiner")
            elif kind in ("determiner", "adjective"):
                number = self.number_of[token] if kind == "determiner" else number
                adjectives = adjectives + 1 if kind == "adjective" else 0
                wanted = wanted.union(self.wants.get(token, ()))
                more = adjectives < self.max_adjectives
                # row() calls each members function at once (or not at all): loop variables are safe in it
                grammatical = sets.row(
                    ("noun phrase", number, more),
                    lambda: (list(self.blocks["adjective"]) if more else []) + self.nouns_of[number],  # noqa: B023
                )
            else:  # the noun of `slot`: the verb (agreeing with the head subject noun) or END next, or a PP
                head = t if slot == "subject" else head
                verb_next, pp_next = slot.startswith("subject"), not slot.endswith("pp")
                agrees = self.number(sentence[head]) if verb_next else None
                key = ("after noun", agrees, pp_next)
                grammatical = sets.row(
                    key,
                    lambda: (
                        (self.verbs_of[agrees] if agrees is not None else [END])  # noqa: B023
                        + (list(self.blocks["preposition"]) if pp_next else [])  # noqa: B023
                    ),
                )
            target_class = self.class_of[sentence[t + 1]]
            columns[0].append(target_class)
            columns[1].append(grammatical)
            columns[2].append(
                sets.row(("selected", wanted), lambda: self.nouns_with(wanted)) if target_class == noun_class else -1  # noqa: B023
            )
            columns[3].append(head if target_class == verb_class else -1)
            columns[4].append(verb if target_class == noun_class and slot == "object" else -1)
        return columns

    def annotations(self, sentences: list[list[int]], sets: TokenSets) -> Annotations:
        seq_len = self.seq_len
        columns = [self.annotate(s, sets) for s in sentences]
        return Annotations(*(torch.tensor([c[k] + [-1] * (seq_len - len(c[k])) for c in columns]) for k in range(5)))


@dataclass(frozen=True)
class GrammarTask(LanguageTask):
    """The phases language: `stream` draws fresh sentences, `train` is a fixed sample of them, and
    `test` = `probe` are held-out sentences whose probe rows sit at the object noun. `words`: a
    readable word per token id."""

    words: tuple[str, ...] = ()
    word_classes: tuple[str, ...] = GRAMMAR_CLASSES


def grammar_task(
    nouns_per_combination: int,
    verbs: int,
    adjectives: int,
    prepositions: int,
    max_adjectives: int,
    adjective_probability: float,
    pp_probability: float,
    test_sentences: int,
    seed: int,
) -> GrammarTask:
    """The phases language with `test_sentences` held-out sentences; `seed` fixes the training sample
    and the test set (the training stream is seeded by the loop)."""
    grammar = Grammar(
        nouns_per_combination, verbs, adjectives, prepositions, max_adjectives, adjective_probability, pp_probability
    )
    samples = []
    for offset, count in ((0, TRAIN_SENTENCES), (1, test_sentences)):  # separate seed streams for train and test
        rng = random.Random(2 * seed + offset)
        samples.append([grammar.sentence(rng, stage=1) for _ in range(count)])
    sets = TokenSets(grammar.vocab_size, grammar.blocks.values())
    train_notes, test_notes = (grammar.annotations(sample, sets) for sample in samples)
    train, test = (grammar.split(sample) for sample in samples)
    assert test_notes.semantic_source is not None  # annotations() fills every column
    objects = test_notes.semantic_source >= 0  # one position per sentence: the one whose target is the object noun
    positions = objects.long().argmax(1)
    nouns = grammar.blocks["noun"]
    return GrammarTask(
        name=f"grammar(nouns={len(nouns)}, verbs={verbs}, adjectives={adjectives}, prepositions={prepositions})",
        vocab_size=grammar.vocab_size,
        seq_len=grammar.seq_len,
        num_classes=grammar.vocab_size,
        train=train,
        test=test,
        probe=test,
        attributes=grammar.attributes,
        items=torch.tensor(list(nouns)),
        factors=FACTORS,
        probe_labels=test.targets[torch.arange(len(test)), positions] - nouns.start,
        probe_positions=positions,
        stream=grammar.stream,
        token_sets=sets.table(),
        annotations={"train": train_notes, "test": test_notes, "probe": test_notes},
        held_out=True,
        words=grammar.words(),
    )


class GrammarTaskConfig(TaskConfig):
    """The phases language (docs/science/language.md): determiners, adjectives, nouns with latent
    attributes and number, verbs that agree with their subject and select their object,
    prepositional phrases; fresh sentences every step (tasks/grammar.py)."""

    name: Literal["grammar"] = "grammar"
    nouns_per_combination: int = Field(2, ge=1)
    verbs: int = Field(8, ge=1)
    adjectives: int = Field(6, ge=0)
    prepositions: int = Field(2, ge=0)
    max_adjectives: int = Field(2, ge=0)
    adjective_probability: float = Field(0.5, ge=0, le=1, description="chance of each further adjective")
    pp_probability: float = Field(0.3, ge=0, le=1, description="chance of a prepositional phrase after a noun phrase")
    test_sentences: int = Field(2048, ge=1, description="held-out sentences (also the probe set)")

    builder: ClassVar = staticmethod(grammar_task)

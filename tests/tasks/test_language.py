"""The generated language (setting 3): determinism, grammar, selection, and the latent structure."""

import math

import pytest
import torch
from language_sentences import sentences

import phasewatch as pw
from phasewatch.errors import UserError
from phasewatch.tasks.attributes import item_attributes
from phasewatch.tasks.language import BOS, END, WORD_CLASSES, language_task, satisfying
from phasewatch.tasks.objective import IGNORE

FACTORS = (2, 3, 2)


def setting3(seed: int = 0, contexts_per_pair: int = 4, held_out_per_pair: int = 0):
    return language_task(
        FACTORS,
        subjects=8,
        determiners=3,
        adjectives=8,
        nouns_per_combination=4,
        contexts_per_pair=contexts_per_pair,
        held_out_per_pair=held_out_per_pair,
        seed=seed,
    )


@pytest.fixture(scope="module")
def task():
    return setting3()


def test_same_seed_same_language_other_seed_other_assignment():
    a, b, c = setting3(seed=3), setting3(seed=3), setting3(seed=4)
    assert torch.equal(a.train.inputs, b.train.inputs) and torch.equal(a.train.targets, b.train.targets)
    assert not torch.equal(a.train.targets, c.train.targets)


def test_sizes_match_the_spec(task):
    assert task.vocab_size == task.num_classes == 2 + 8 + 12 + 3 + 8 + 48
    assert len(task.train) == 8 * 12 * 4 and task.seq_len == 8
    assert task.sequence_targets


def test_every_sentence_follows_the_grammar_and_the_determiner_announces_the_adjectives(task):
    lexicon_start = {c: task.token_sets[i].nonzero().min().item() for i, c in enumerate(WORD_CLASSES)}
    for tokens in sentences(task.train):
        bos, name, verb, det, *rest = tokens
        k = det - lexicon_start["determiner"]
        assert bos == BOS and task.token_sets[WORD_CLASSES.index("name"), name]
        assert task.token_sets[WORD_CLASSES.index("verb"), verb]
        assert 0 <= k < 3 and len(rest) == (k + 1) + 2  # k + 1 adjectives, the noun, the end
        assert all(task.token_sets[WORD_CLASSES.index("adjective"), a] for a in rest[: k + 1])
        assert task.token_sets[WORD_CLASSES.index("noun"), rest[-2]] and rest[-1] == END


def test_the_noun_satisfies_its_verbs_attribute_combination(task):
    verbs, nouns = task.token_sets[WORD_CLASSES.index("verb")], task.token_sets[WORD_CLASSES.index("noun")]
    verb_start, noun_start = verbs.nonzero().min().item(), nouns.nonzero().min().item()
    combination = item_attributes(FACTORS, 1)  # row v: the one-hot attributes of combination v
    for tokens in sentences(task.train):
        verb, noun = tokens[2] - verb_start, tokens[-2] - noun_start
        assert torch.equal(task.attributes[noun], combination[verb])


def test_a_selection_admits_exactly_the_items_with_every_wanted_value():
    attributes = item_attributes(FACTORS, 4)  # values: factor 0 → columns 0–1, factor 1 → 2–4, factor 2 → 5–6
    assert satisfying(attributes, item_attributes(FACTORS, 1)[7]) == [28, 29, 30, 31]  # one combination
    wanted = torch.zeros(7)
    wanted[[1, 6]] = 1  # factor 0 = 1 and factor 2 = 1, any factor 1: combinations 7, 9, 11
    assert satisfying(attributes, wanted) == [j for c in (7, 9, 11) for j in range(4 * c, 4 * c + 4)]


def test_contexts_are_unique_and_each_noun_has_the_same_number(task):
    contexts = {tuple(tokens[:-2]) for tokens in sentences(task.train)}
    assert len(contexts) == len(task.train)
    assert torch.bincount(task.probe_labels, minlength=48).tolist() == [8] * 48


def test_nouns_are_numbered_in_attribute_order(task):
    assert torch.equal(task.attributes, item_attributes(FACTORS, 4))
    assert task.items.tolist() == list(range(task.vocab_size - 48, task.vocab_size))
    assert task.token_sets[WORD_CLASSES.index("noun")].nonzero().view(-1).tolist() == task.items.tolist()


def test_probe_positions_point_at_the_token_before_the_noun(task):
    rows = torch.arange(len(task.probe))
    before = task.probe.inputs[rows, task.probe_positions]
    assert task.token_sets[WORD_CLASSES.index("adjective"), before].all()
    assert torch.equal(task.probe.targets[rows, task.probe_positions], task.items[task.probe_labels])
    assert (task.probe.targets[rows, task.probe_positions + 1] == END).all()


def test_annotations_name_each_targets_class_and_the_argument_slots(task):
    notes, targets = task.annotations["probe"], task.probe.targets
    scored = targets != IGNORE
    assert torch.equal(notes.word_class >= 0, scored) and torch.equal(notes.grammatical >= 0, scored)
    # the target is always in its grammatical set and of its annotated class
    assert task.token_sets[notes.grammatical[scored], targets[scored]].all()
    assert task.token_sets[notes.word_class[scored], targets[scored]].all()
    slots = notes.argument_slots
    assert slots.sum(1).tolist() == [1] * len(targets)
    assert torch.equal(slots.nonzero()[:, 1], task.probe_positions)
    selected = task.token_sets[notes.selected[slots]]
    assert selected.sum(1).tolist() == [4] * len(targets) and selected[torch.arange(len(targets)), targets[slots]].all()


def test_held_out_contexts_are_new_sentences_of_the_same_grammar():
    task = setting3(held_out_per_pair=2)
    train = {tuple(t[:-2]) for t in sentences(task.train)}
    test = {tuple(t[:-2]) for t in sentences(task.test)}
    assert len(test) == 8 * 12 * 2 and not train & test
    assert task.probe_rows("test") is None and task.probe_rows("train").tolist() == list(range(len(task.train)))
    notes = task.annotations["test"]
    assert task.token_sets[notes.selected[notes.argument_slots], task.test.targets[notes.argument_slots]].all()


def test_asking_for_more_contexts_than_the_grammar_has_is_a_user_error():
    with pytest.raises(UserError, match="contexts_per_pair"):
        language_task(
            FACTORS, 8, determiners=1, adjectives=2, nouns_per_combination=4, contexts_per_pair=3, held_out_per_pair=0, seed=0
        )


def test_a_few_steps_of_the_preset_run_through_the_pipeline(tmp_path):
    run = pw.run(
        "structure-before-collapse",
        assignments=["setting=language", "steps=4", "probes.every=2", "log_points=0"],
        store=tmp_path,
        name="lang",
    )
    assert run.status == "finished" and run.config["task"]["name"] == "language"
    for metric in (
        "semantic_alignment/classifier",
        "semantic_alignment/features",
        "selection/semantic_accuracy",
        "test/accuracy",
    ):
        steps, values = run.metric(metric)
        assert steps.tolist() == [0, 2, 4] and torch.isfinite(torch.tensor(values)).all(), metric


def test_the_preset_builds_a_language_model_with_a_small_unembedding():
    from phasewatch.config import resolve
    from phasewatch.models import build_model
    from phasewatch.tasks import build_task

    _, config = resolve("structure-before-collapse", assignments=["setting=language"])
    task = build_task(config.task, config.seed)
    model = build_model(config.model, task)
    assert not model.last_only and model.unembed.W.shape == (64, task.vocab_size)
    assert float(model.unembed.W.detach().std()) == pytest.approx(0.02, rel=0.05)  # 64 × 81 draws: ±2.5 % at 2σ
    assert model(task.train.inputs[:2]).shape == (2, task.seq_len, task.vocab_size)


def test_the_probes_read_a_language_model_on_a_held_out_split():
    from phasewatch.models import Transformer
    from phasewatch.probes import ProbeContext, run_probes
    from phasewatch.tasks.objective import loss_function

    task = setting3(contexts_per_pair=1, held_out_per_pair=1)
    torch.manual_seed(0)
    model = Transformer(
        task.vocab_size, task.seq_len, task.num_classes, d_model=16, n_heads=2, d_head=8, d_mlp=32, last_only=False
    )
    scalars = run_probes(
        ["behaviour", "semantic", "selection"],
        ProbeContext.of_task(model, task, loss_function("cross_entropy", task.num_classes)),
    ).scalars
    with torch.no_grad():  # the held-out split, not the training set, is what `test/loss` reads
        held_out_loss = loss_function("cross_entropy", task.num_classes)(model(task.test.inputs), task.test.targets)
    assert scalars["test/loss"] == pytest.approx(float(held_out_loss), rel=1e-5)
    assert all(
        math.isfinite(scalars[m])
        for m in ("semantic_alignment/features", "semantic_alignment/classifier", "selection/noun_accuracy")
    )

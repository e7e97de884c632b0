"""The selection probe: syntax and semantics of a generated language's predictions, on known cases."""

import math

import pytest
import torch

from phasewatch.errors import UserError
from phasewatch.probes import ProbeContext, choose, run_probes
from phasewatch.probes.selection import set_scores
from phasewatch.tasks.language import WORD_CLASSES, language_task
from phasewatch.tasks.objective import IGNORE, loss_function


class FixedLogits(torch.nn.Module):
    """A stand-in model whose logits on the probe set are given."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def run_with_cache(self, inputs, names=()):
        return self.logits, {}


@pytest.fixture(scope="module")
def task():
    return language_task((2, 3, 2), 8, 3, 8, 4, contexts_per_pair=4, held_out_per_pair=0, seed=0)


def selection_of(task, logits) -> dict[str, float]:
    return run_probes(
        ["selection"], ProbeContext.of_task(FixedLogits(logits), task, loss_function("cross_entropy", task.num_classes))
    ).scalars


def one_hot_logits(task, tokens: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(tokens.clamp(min=0), task.vocab_size).float() * 50  # softmax ≈ one-hot


def test_set_scores_count_argmax_hits_and_probability_mass():
    token_sets = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.bool)
    logits = torch.log(torch.tensor([[[0.5, 0.2, 0.2, 0.1], [0.1, 0.1, 0.6, 0.2], [0.25, 0.25, 0.25, 0.25]]]))
    sets = torch.tensor([[0, 0, -1]])  # the third position is not scored
    accuracy, mass = set_scores(logits, sets, token_sets)
    assert accuracy == pytest.approx(0.5) and mass == pytest.approx((0.7 + 0.2) / 2)
    assert set_scores(logits, torch.tensor([[1, -1, -1]]), token_sets) == pytest.approx((0.0, 0.1))
    assert all(math.isnan(x) for x in set_scores(logits, torch.full((1, 3), -1), token_sets))


def test_predicting_every_target_scores_one_everywhere(task):
    scores = selection_of(task, one_hot_logits(task, task.probe.targets))
    assert all(value == pytest.approx(1.0) for value in scores.values()), scores


def test_the_first_noun_of_the_right_combination_is_semantically_right_and_a_quarter_exact(task):
    targets = task.probe.targets.clone()
    slots = task.annotations["probe"].argument_slots
    first_of_combination = task.items[(task.probe_labels // 4) * 4]  # nouns are dealt round-robin: 1 in 4 contexts
    targets[slots] = first_of_combination
    scores = selection_of(task, one_hot_logits(task, targets))
    assert scores["selection/semantic_accuracy"] == 1.0 and scores["selection/syntactic_accuracy"] == 1.0
    assert scores["selection/noun_accuracy"] == 0.25


def test_a_noun_of_another_combination_is_grammatical_but_semantically_wrong(task):
    targets = task.probe.targets.clone()
    slots = task.annotations["probe"].argument_slots
    targets[slots] = task.items[(task.probe_labels + 4) % 48]
    scores = selection_of(task, one_hot_logits(task, targets))
    assert scores["selection/semantic_accuracy"] == 0.0 and scores["selection/noun_accuracy"] == 0.0
    assert scores["selection/syntactic_accuracy"] == 1.0


def test_uniform_predictions_put_each_sets_share_of_the_vocabulary_on_it(task):
    scores = selection_of(task, torch.zeros(*task.probe.targets.shape, task.vocab_size))
    vocab = task.vocab_size
    assert scores["selection/semantic_mass"] == pytest.approx(4 / vocab)
    notes = task.annotations["probe"]
    class_sizes = task.token_sets[: len(WORD_CLASSES)].sum(1).double()
    expected = (class_sizes[notes.grammatical[task.probe.targets != IGNORE]] / vocab).mean()
    assert scores["selection/syntactic_mass"] == pytest.approx(float(expected))


def test_the_probe_refuses_a_task_without_a_grammar():
    from phasewatch.tasks.items import items_task

    task = items_task((2, 3, 2), 4)
    with pytest.raises(UserError, match="probes.names: 'selection' is not allowed here .* a task of kind LanguageTask"):
        choose(["selection"], ProbeContext.of_task(FixedLogits(torch.zeros(48, 48)), task), "probes.names")

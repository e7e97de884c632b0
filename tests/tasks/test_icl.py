"""In-context classification: the sequences' layout, burstiness and labels, and the icl probe on
stand-in models that solve it one way or the other."""

import pytest
import torch

from phasewatch.errors import UserError
from phasewatch.probes import ProbeContext, run_probes
from phasewatch.tasks.icl import ICLTask, icl_task
from phasewatch.tasks.objective import IGNORE, loss_function

CLASSES, LABELS, EXEMPLARS, PAIRS = 12, 4, 3, 6
FIRST_LABEL = CLASSES * EXEMPLARS


def make(**changes) -> ICLTask:
    settings = (
        dict(
            classes=CLASSES,
            labels=LABELS,
            exemplars=EXEMPLARS,
            pairs=PAIRS,
            burstiness=2,
            in_context_share=0.5,
            test_sequences=256,
            seed=0,
        )
        | changes
    )
    return icl_task(**settings)


@pytest.fixture(scope="module")
def task() -> ICLTask:
    return make()


def context_and_query(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The context's exemplar tokens (N, P), its label tokens (N, P), and the query tokens (N,)."""
    return inputs[:, 0:-1:2], inputs[:, 1::2], inputs[:, -1]


def query_class_count(split) -> torch.Tensor:
    exemplars, _, query = context_and_query(split.inputs)
    return (exemplars // EXEMPLARS == (query // EXEMPLARS)[:, None]).sum(1)


def fixed_labels(exemplar_tokens: torch.Tensor) -> torch.Tensor:
    return FIRST_LABEL + (exemplar_tokens // EXEMPLARS) % LABELS


def test_shapes_and_token_ranges(task):
    assert task.vocab_size == task.num_classes == FIRST_LABEL + LABELS and task.seq_len == 2 * PAIRS + 1
    for split, rows in (
        (task.train, 1024),
        (task.test, 256),
        (task.in_weights, 256),
        (task.stream(torch.Generator(), 32, 1), 32),
    ):
        assert split.inputs.shape == split.targets.shape == (rows, 2 * PAIRS + 1)
        exemplars, labels, query = context_and_query(split.inputs)
        assert exemplars.min() >= 0 and exemplars.max() < FIRST_LABEL and query.max() < FIRST_LABEL
        assert labels.min() >= FIRST_LABEL and labels.max() < task.vocab_size


def test_targets_are_the_following_label_at_exemplar_positions_only(task):
    for split in (task.train, task.test, task.in_weights):
        assert (split.targets[:, 1::2] == IGNORE).all()
        assert torch.equal(split.targets[:, 0:-1:2], split.inputs[:, 1::2])
        assert (split.targets[:, -1] >= FIRST_LABEL).all()


def test_burstiness_is_the_query_class_count_in_context(task):
    assert (query_class_count(task.train) == 2).all()
    assert (query_class_count(task.test) == 2).all()
    assert (query_class_count(task.in_weights) == 0).all()
    assert (query_class_count(make(burstiness=0).test) == 1).all()  # the in-context test needs the class once
    assert (query_class_count(make(burstiness=PAIRS).train) == PAIRS).all()


def test_the_query_class_pairs_use_other_exemplars_where_the_class_has_them(task):
    exemplars, _, query = context_and_query(task.train.inputs)
    same_class = exemplars // EXEMPLARS == (query // EXEMPLARS)[:, None]
    assert not (same_class & (exemplars == query[:, None])).any()  # 3 exemplars: query + 2 others
    exemplars, _, query = context_and_query(make(exemplars=1).train.inputs)
    assert ((exemplars == query[:, None]).sum(1) == 2).all()  # one exemplar per class: the query's own token


def test_fixed_labels_without_and_permuted_labels_with_in_context_share():
    fixed = make(in_context_share=0.0).train
    exemplars, labels, query = context_and_query(fixed.inputs)
    assert torch.equal(labels, fixed_labels(exemplars)) and torch.equal(fixed.targets[:, -1], fixed_labels(query))
    permuted = make(in_context_share=1.0).train
    exemplars, labels, query = context_and_query(permuted.inputs)
    assert (labels != fixed_labels(exemplars)).any(1).float().mean() > 0.9
    # One permutation per sequence: the query's label is the one its class has in the context.
    same_class = exemplars // EXEMPLARS == (query // EXEMPLARS)[:, None]
    assert (labels[same_class].view(-1, 2) == permuted.targets[:, -1, None]).all()
    half = make(in_context_share=0.5).train
    exemplars, labels, _ = context_and_query(half.inputs)
    changed = (labels != fixed_labels(exemplars)).any(1).float().mean()
    assert abs(changed - 0.5) < 0.1  # a little under half: a permutation may keep the context's few labels in place


def test_the_in_context_test_set_cannot_be_solved_from_the_weights(task):
    _, _, query = context_and_query(task.test.inputs)
    assert (task.test.targets[:, -1] != fixed_labels(query)).float().mean() > 0.6  # 1 − 1/labels in expectation
    _, _, query = context_and_query(task.in_weights.inputs)
    assert torch.equal(task.in_weights.targets[:, -1], fixed_labels(query))


def test_sequences_are_a_function_of_the_seed(task):
    again, other = make(), make(seed=1)
    for name in ("train", "test", "in_weights"):
        assert torch.equal(getattr(task, name).inputs, getattr(again, name).inputs)
        assert not torch.equal(getattr(task, name).inputs, getattr(other, name).inputs)
    first, again, other = (task.stream(torch.Generator().manual_seed(seed), 8, 1).inputs for seed in (5, 5, 6))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_burstiness_above_pairs_is_a_user_error():
    with pytest.raises(UserError, match=r"task.burstiness: 7 is not allowed \(at most pairs = 6\)"):
        make(burstiness=7)


def test_to_moves_the_in_weights_set(task):
    moved = task.to("meta")
    assert isinstance(moved, ICLTask) and moved.in_weights.inputs.device.type == "meta"


class Copier(torch.nn.Module):
    """Predicts, at the query, the label that followed an exemplar of the query's class (in-context
    learning); with no such exemplar, the class's fixed label when `weights` (in-weights learning)."""

    def __init__(self, copies: bool, weights: bool):
        super().__init__()
        self.copies, self.weights = copies, weights

    def run_with_cache(self, inputs, names=()):
        exemplars, labels, query = context_and_query(inputs)
        same_class = exemplars // EXEMPLARS == (query // EXEMPLARS)[:, None]
        copied = labels.gather(1, same_class.long().argmax(1, keepdim=True))[:, 0]
        guess = torch.where(same_class.any(1) & self.copies, copied, fixed_labels(query) if self.weights else 0)
        logits = torch.zeros(*inputs.shape, FIRST_LABEL + LABELS)
        logits[:, -1] = torch.nn.functional.one_hot(guess, FIRST_LABEL + LABELS).float()
        return logits, {}


def icl_scores(task, model) -> dict[str, float]:
    return run_probes(["icl"], ProbeContext.of_task(model, task, loss_function("cross_entropy", task.num_classes))).scalars


def test_a_copying_model_has_in_context_accuracy_one(task):
    scores = icl_scores(task, Copier(copies=True, weights=False))
    assert scores == {"icl/in_context_accuracy": 1.0, "icl/in_weights_accuracy": 0.0}


def test_a_model_of_the_fixed_labels_solves_in_weights_only(task):
    scores = icl_scores(task, Copier(copies=False, weights=True))
    assert scores["icl/in_weights_accuracy"] == 1.0 and scores["icl/in_context_accuracy"] < 0.4  # chance: 1/labels
    assert icl_scores(task, Copier(copies=True, weights=True)) == {"icl/in_context_accuracy": 1.0, "icl/in_weights_accuracy": 1.0}

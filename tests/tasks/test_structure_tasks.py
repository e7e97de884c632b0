"""The Structure-Before-Collapse tasks: their latent structure is what docs/science/structure_before_collapse.md says."""

import torch

from phasewatch.tasks import hierarchical_task, items_task, selectional_task
from phasewatch.tasks.attributes import item_attributes


def test_attribute_kernel_counts_shared_values():
    attributes = item_attributes((2, 3, 2), 1)  # 12 combinations, one item each
    kernel = attributes @ attributes.T
    assert attributes.shape == (12, 7)
    assert torch.equal(kernel.diagonal(), torch.full((12,), 3.0))  # every item has 3 values
    assert kernel[0, 1] == 2 and kernel[0, 11] == 0  # (0,0,0)~(0,0,1) share two; (1,2,1) none


def test_items_task_is_one_class_per_item():
    task = items_task((2, 3, 2), 4)
    assert task.num_classes == 48 and torch.equal(task.train.targets, task.train.inputs[:, 0])
    assert torch.equal(task.attributes[0], task.attributes[3]) and not torch.equal(task.attributes[3], task.attributes[4])


def test_selectional_targets_are_unique_and_satisfy_the_verb():
    task = selectional_task((2, 3, 2), 8, seed=1)
    subjects, verbs, nouns = task.train.inputs[:, 0], task.train.inputs[:, 1] - 8, task.train.targets
    assert len(nouns.unique()) == 96 == len(nouns)
    assert torch.equal(nouns // 8, verbs)  # noun v·8 + π_v(s) has verb v's combination
    assert int(subjects.max()) == 7 and task.vocab_size == 20
    assert not torch.equal(selectional_task((2, 3, 2), 8, seed=2).train.targets, nouns)


def test_hierarchical_split_form_separates_class_and_attribute_coordinates():
    task = hierarchical_task((2, 3, 2), 4, 20, 64, class_scale=2.0, noise=0.0, separate=True, seed=0)
    x, y = task.train.inputs, task.train.targets
    assert task.item_dims == 48 and x.shape == (960, 64)
    assert torch.allclose(x[:, :48], 2.0 * torch.nn.functional.one_hot(y, 48).float())  # τ·u_c, u_c = e_c
    same_combination = x[y == 0][0, 48:], x[y == 3][0, 48:]  # classes 0..3 share a combination
    assert torch.allclose(*same_combination)
    assert not torch.allclose(x[y == 0][0, 48:], x[y == 4][0, 48:])


def test_hierarchical_prototypes_have_unit_scale_in_their_subspace():
    """The spec's N(0, 1/(D − C)) per coordinate of the 16-dimensional attribute subspace: the
    same draws as N(0, 1/D) scaled by √(D/(D − C)) = 2, so each prototype has norm ≈ 1."""
    args = ((2, 3, 2), 4, 20, 64)
    spec = hierarchical_task(*args, class_scale=2.0, noise=0.0, separate=True, seed=0)
    full = hierarchical_task(*args, class_scale=2.0, noise=0.0, separate=True, seed=0, prototype_scale="full")
    assert torch.allclose(spec.train.inputs[:, 48:], 2.0 * full.train.inputs[:, 48:])
    squared = spec.train.inputs[:, 48:].pow(2).sum(1).mean().item()  # three prototypes summed
    assert 1.5 < squared < 4.5

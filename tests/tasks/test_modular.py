import pytest
import torch

from phasewatch.tasks.modular import answer_table, group_index, modular_task, primitive_root


@pytest.mark.parametrize("operation, answer", [("+", 3), ("-", 5), ("*", 3), ("/", 3)])
def test_answers(operation, answer):
    a, b, c = answer_table(7, operation)
    row = ((a == 4) & (b == 6)).nonzero().item()
    assert c[row].item() == answer  # 4+6=10≡3, 4−6≡5, 4·6=24≡3, 4/6 = 4·6⁻¹ = 4·6 ≡ 3 (mod 7)


def test_division_skips_zero_divisor_and_inverts_multiplication():
    a, b, c = answer_table(11, "/")
    assert (b != 0).all() and len(c) == 11 * 10
    assert ((c * b) % 11 == a).all()


@pytest.mark.parametrize("p", [3, 5, 7, 59, 97, 113])
def test_primitive_root_generates_the_group(p):
    g = primitive_root(p)
    assert sorted(pow(g, k, p) for k in range(p - 1)) == list(range(1, p))


def test_group_index_is_discrete_log_for_multiplication():
    index = group_index(7, "*")
    g = primitive_root(7)
    assert index[0] == -1
    assert all(pow(g, int(index[x]), 7) == x for x in range(1, 7))
    assert torch.equal(group_index(7, "+"), torch.arange(7))


def test_split_is_seeded_disjoint_and_covers_the_table():
    task = modular_task(13, "+", 0.3, seed=1)
    again = modular_task(13, "+", 0.3, seed=1)
    other = modular_task(13, "+", 0.3, seed=2)
    assert torch.equal(task.train.inputs, again.train.inputs)
    assert not torch.equal(task.train.inputs, other.train.inputs)
    assert len(task.train) == round(0.3 * 169) and len(task.train) + len(task.test) == len(task.probe) == 169
    pairs = {tuple(x) for x in task.train.inputs.tolist()} | {tuple(x) for x in task.test.inputs.tolist()}
    assert len(pairs) == 169
    assert task.in_train.sum() == len(task.train)
    assert {tuple(x) for x in task.probe.inputs[task.in_train].tolist()} == {tuple(x) for x in task.train.inputs.tolist()}


def test_probe_rows_point_at_the_splits_inside_the_probe_set():
    task = modular_task(11, "*", 0.4, seed=3)
    for split in ("train", "test"):
        rows = task.probe_rows(split)
        assert torch.equal(task.probe.inputs[rows], getattr(task, split).inputs)
        assert torch.equal(task.probe.targets[rows], getattr(task, split).targets)

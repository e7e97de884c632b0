"""Repeated random segments: the copy is exact, its length varies, the masks mark what is predictable."""

import torch

from phasewatch.tasks.induction import induction_task, repeated_sequences


def full_sequences(split):
    return torch.cat([split.inputs, split.targets[:, -1:]], dim=1)


def test_the_second_copy_repeats_the_first_and_the_masks_mark_it():
    split, repeat, first = repeated_sequences(torch.Generator().manual_seed(0), 200, 64, 64, 8, 32)
    tokens = full_sequences(split)
    lengths = set()
    for row in range(len(tokens)):
        targets = split.targets[row]
        length = int(first[row].sum())  # the first copy's targets: all L of its tokens
        lengths.add(length)
        assert int(repeat[row].sum()) == length - 1  # the copy's first token is not predictable
        copy = tokens[row, -length:]
        assert torch.equal(copy, tokens[row, -2 * length : -length])
        assert torch.equal(targets[repeat[row]], copy[1:])
        assert not (repeat[row] & first[row]).any()
    assert min(lengths) >= 8 and max(lengths) <= 32 and len(lengths) > 10  # the offset varies
    assert torch.equal(split.inputs[:, 1:], split.targets[:, :-1])


def test_task_is_deterministic_and_streams_fresh_batches():
    a, b = induction_task(64, 64, 8, 32, 64, seed=0), induction_task(64, 64, 8, 32, 64, seed=0)
    assert torch.equal(a.test.inputs, b.test.inputs) and torch.equal(a.repeat_mask, b.repeat_mask)
    assert not torch.equal(a.test.inputs, induction_task(64, 64, 8, 32, 64, seed=1).test.inputs)
    first = a.stream(torch.Generator().manual_seed(5), 16, 1)
    again = a.stream(torch.Generator().manual_seed(5), 16, 1)
    other = a.stream(torch.Generator().manual_seed(6), 16, 1)
    assert first.inputs.shape == (16, 64) and torch.equal(first.inputs, again.inputs)
    assert not torch.equal(first.inputs, other.inputs)
    assert a.probe_rows("test").tolist() == list(range(64)) and a.probe_rows("probe") is None

"""The addition task: its sums, what is scored, and its multiple-choice distractors."""

import pytest
import torch

from phasewatch.config import resolve
from phasewatch.errors import UserError
from phasewatch.tasks.addition import CHOICES, EQUALS, PLUS, addition_sequences, addition_task
from phasewatch.tasks.objective import IGNORE


def number(digits: torch.Tensor) -> torch.Tensor:
    """Rows of digits, most significant first, as integers."""
    return (digits * 10 ** torch.arange(digits.shape[1] - 1, -1, -1)).sum(1)


@pytest.mark.parametrize("digits", [2, 3, 7])
def test_every_row_is_a_true_sum_with_only_its_answer_scored(digits):
    split = addition_sequences(torch.Generator().manual_seed(1), 200, digits)
    tokens = torch.cat([split.inputs, split.targets[:, -1:]], dim=1)  # the full sequence
    assert tokens.shape[1] == 3 * digits + 3
    assert (tokens[:, digits] == PLUS).all() and (tokens[:, 2 * digits + 1] == EQUALS).all()
    a, b = number(tokens[:, :digits]), number(tokens[:, digits + 1 : 2 * digits + 1])
    answer = tokens[:, 2 * digits + 2 :].flip(1)  # written least significant digit first
    assert torch.equal(number(answer), a + b)
    scored = split.targets != IGNORE
    assert scored.sum(1).eq(digits + 1).all() and scored[:, -(digits + 1) :].all()


def test_distractors_differ_from_the_answer_in_exactly_one_digit_and_from_each_other():
    task = addition_task(3, 300, seed=0)
    truth = task.answers(task.test)
    assert task.choices.shape == (300, CHOICES, 4)
    assert torch.equal(task.choices[:, 0], truth)
    wrong = (task.choices[:, 1:] != truth[:, None]).sum(-1)
    assert wrong.eq(1).all()
    for row in task.choices[:20]:
        assert len({tuple(c.tolist()) for c in row}) == CHOICES


def test_the_held_out_set_depends_on_the_seed_and_the_stream_on_the_generator():
    assert torch.equal(addition_task(3, 50, 4).test.inputs, addition_task(3, 50, 4).test.inputs)
    assert not torch.equal(addition_task(3, 50, 4).test.inputs, addition_task(3, 50, 5).test.inputs)
    stream = addition_task(3, 10, 0).stream
    assert torch.equal(
        stream(torch.Generator().manual_seed(9), 8, 1).inputs, stream(torch.Generator().manual_seed(9), 8, 1).inputs
    )


def test_bad_digits_are_one_line():
    with pytest.raises(UserError, match="task.digits"):
        resolve("addition", None, ["task.digits=1"])

"""The lookup task: distinct keys, fixed values, only the value scored, a stream of the same facts."""

import pytest
import torch

from phasewatch.config import resolve
from phasewatch.errors import UserError
from phasewatch.tasks.addition import CHOICES, EQUALS
from phasewatch.tasks.lookup import BLANK, lookup_task
from phasewatch.tasks.objective import IGNORE


def test_every_key_is_distinct_and_only_its_value_is_scored():
    task = lookup_task(facts=300, key_digits=3, answer_digits=6, scored=300, seed=0)
    inputs, targets = task.test.inputs, task.test.targets
    assert inputs.shape == targets.shape == (300, 3 + 6)
    assert (inputs[:, 3] == EQUALS).all() and (inputs[:, 4:] == BLANK).all() and inputs[:, :3].max() <= 9
    assert len({tuple(key) for key in inputs[:, :3].tolist()}) == 300
    assert (targets[:, :3] == IGNORE).all() and targets[:, 3:].max() <= 9  # the value, at "=" and the blanks
    assert torch.equal(task.answers(task.test), targets[:, 3:]) and not task.fed_back
    # the digits of the values are uniform: nothing to generalise, every token is a fact
    counts = torch.bincount(targets[:, 3:].flatten(), minlength=10).float()
    assert counts.min() > 0.7 * counts.mean()


def test_the_stream_draws_only_the_stored_facts_and_the_seed_fixes_them():
    task = lookup_task(facts=50, key_digits=4, answer_digits=5, scored=50, seed=3)
    facts = {tuple(row) for row in task.test.inputs.tolist()}
    batch = task.stream(torch.Generator().manual_seed(0), 400, 0)
    assert {tuple(row) for row in batch.inputs.tolist()} <= facts
    assert len({tuple(row) for row in batch.inputs.tolist()}) == 50  # 400 draws of 50 reach them all
    assert torch.equal(task.test.inputs, lookup_task(50, 4, 5, 50, seed=3).test.inputs)
    assert not torch.equal(task.test.inputs, lookup_task(50, 4, 5, 50, seed=4).test.inputs)


def test_distractors_differ_from_the_value_in_exactly_one_digit():
    task = lookup_task(facts=200, key_digits=3, answer_digits=5, scored=120, seed=0)
    truth = task.answers(task.test)
    assert task.choices.shape == (120, CHOICES, 5) and torch.equal(task.choices[:, 0], truth)
    assert (task.choices[:, 1:] != truth[:, None]).sum(-1).eq(1).all()


@pytest.mark.parametrize(("setting", "field"), [("task.facts=1001", "task.facts"), ("task.answer_digits=2", "answer_digits")])
def test_bad_settings_are_one_line(setting, field):
    with pytest.raises(UserError, match=field):
        resolve("lookup", None, ["task.key_digits=3", setting])

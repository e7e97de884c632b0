"""The answers probe on planted models whose every score is known in closed form."""

import functools
import math

import pytest
import torch

from phasewatch.probes import ProbeContext, run_probes
from phasewatch.probes.answers import edit_distance
from phasewatch.tasks.addition import addition_task
from phasewatch.tasks.lookup import BLANK, lookup_task
from phasewatch.tasks.objective import loss_function

DIGITS = 3


class Oracle(torch.nn.Module):
    """Reads the operands and puts logit `confidence` on each true answer digit; with `slip`, the
    first answer digit is off by one on rows whose first operand is even."""

    def __init__(self, confidence: float = 30.0, slip: bool = False):
        super().__init__()
        self.confidence, self.slip = confidence, slip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        powers = 10 ** torch.arange(DIGITS - 1, -1, -1)
        a = (tokens[:, :DIGITS] * powers).sum(1)
        b = (tokens[:, DIGITS + 1 : 2 * DIGITS + 1] * powers).sum(1)
        answer = ((a + b)[:, None] // 10 ** torch.arange(DIGITS + 1)) % 10  # least significant first
        if self.slip:
            answer[:, 0] = torch.where(a % 2 == 0, (answer[:, 0] + 1) % 10, answer[:, 0])
        logits = torch.zeros(*tokens.shape, 12)
        start = 2 * DIGITS + 1
        logits[:, start : start + DIGITS + 1] = self.confidence * torch.nn.functional.one_hot(answer, 12).float()
        return logits

    def run_with_cache(self, inputs, names=()):
        return self(inputs), {}


@pytest.fixture(scope="module")
def task():
    return addition_task(DIGITS, 400, seed=3)


def scores(task, model) -> dict[str, float]:
    return run_probes(["answers"], ProbeContext.of_task(model, task, loss_function("cross_entropy", 12))).scalars


def test_a_perfect_model_scores_perfectly_every_way(task):
    s = scores(task, Oracle())
    assert s["answer/exact_match"] == 1 and s["answer/multiple_choice"] == 1 and s["answer/token_accuracy"] == 1
    assert s["answer/edit_distance"] == 0
    assert s["answer/log_likelihood"] == pytest.approx(0, abs=1e-9) and s["answer/brier"] == pytest.approx(0, abs=1e-9)


def test_one_wrong_digit_on_half_the_rows(task):
    even = float(((task.test.inputs[:, :DIGITS] * torch.tensor([100, 10, 1])).sum(1) % 2 == 0).float().mean())
    s = scores(task, Oracle(slip=True))
    assert s["answer/exact_match"] == pytest.approx(1 - even)
    assert s["answer/token_accuracy"] == pytest.approx(1 - even / (DIGITS + 1))
    assert s["answer/edit_distance"] == pytest.approx(even)  # one substitution
    # a confident wrong token: its log-probability is −30 − log(1 + 11 e^−30) ≈ −30, and Brier 2
    assert s["answer/log_likelihood"] == pytest.approx(-30 * even / (DIGITS + 1), rel=1e-6)
    assert s["answer/brier"] == pytest.approx(2 * even / (DIGITS + 1), rel=1e-6)


def test_a_uniform_model(task):
    s = scores(task, Oracle(confidence=0.0))  # every token equally likely: argmax is token 0
    truth = task.answers(task.test)
    assert s["answer/token_accuracy"] == pytest.approx(float((truth == 0).float().mean()))
    assert s["answer/log_likelihood"] == pytest.approx(-math.log(12))
    assert s["answer/brier"] == pytest.approx(11 / 12)
    assert s["answer/multiple_choice"] == 0  # every candidate ties: none is strictly likelier


def levenshtein(a: tuple, b: tuple) -> int:
    @functools.cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_edit_distance_matches_the_textbook_recursion():
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(3, (300, 5), generator=generator)
    b = torch.randint(3, (300, 5), generator=generator)
    found = edit_distance(a, b)
    assert found.tolist() == [levenshtein(tuple(x.tolist()), tuple(y.tolist())) for x, y in zip(a, b)]
    assert edit_distance(torch.tensor([[1, 2, 3]]), torch.tensor([[2, 3, 4]])).item() == 2  # shift: not 3 substitutions


class Memoriser(torch.nn.Module):
    """Knows each (fact, digit) of a lookup task where `known` (facts, L) is True and puts its
    logit on a wrong digit elsewhere; reads the key only, and only from its prompt as the task
    writes it (an answer digit fed back into a blank slot would break it)."""

    def __init__(self, task, known: torch.Tensor):
        super().__init__()
        self.keys = {tuple(k): i for i, k in enumerate(task.test.inputs[:, : task.answer_start].tolist())}
        self.values, self.known, self.task = task.answers(task.test), known, task

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        start, length = self.task.answer_start, self.task.answer_length
        assert (tokens[:, start + 1 :] == BLANK).all()  # the prompt as written: nothing fed back
        rows = torch.tensor([self.keys[tuple(k)] for k in tokens[:, :start].tolist()])
        answer = torch.where(self.known[rows], self.values[rows], (self.values[rows] + 1) % 10)
        logits = torch.zeros(*tokens.shape, BLANK + 1)
        logits[:, start : start + length] = 30.0 * torch.nn.functional.one_hot(answer, BLANK + 1).float()
        return logits

    def run_with_cache(self, inputs, names=()):
        return self(inputs), {}


def test_lookup_answers_are_read_in_one_pass_and_exact_match_is_the_share_with_every_digit_known():
    """Schaeffer et al.'s mechanism planted: each digit known independently with p = 0.8, so
    token accuracy ≈ p while exact match ≈ p^L = 0.33, exactly the rows with all L known."""
    task = lookup_task(facts=500, key_digits=3, answer_digits=5, scored=500, seed=0)
    known = torch.rand(500, 5, generator=torch.Generator().manual_seed(1)) < 0.8
    s = scores(task, Memoriser(task, known))
    assert s["answer/token_accuracy"] == pytest.approx(float(known.float().mean()))
    assert s["answer/exact_match"] == pytest.approx(float(known.all(1).float().mean()))
    assert s["answer/exact_match"] == pytest.approx(0.8**5, abs=0.05)
    assert s["answer/edit_distance"] == pytest.approx(float((~known).sum(1).float().mean()))  # one substitution per unknown digit

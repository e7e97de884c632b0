"""The behaviour probe's bits per byte, on models whose held-out cross-entropy is known."""

import math
from dataclasses import replace

import pytest
import torch

from phasewatch.probes import ProbeContext, run_probes
from phasewatch.tasks.byte_text import corpus_byte_task
from phasewatch.tasks.corpus import Corpus
from phasewatch.tasks.objective import loss_function


class ConstantLogits(torch.nn.Module):
    """A stand-in model: the same logits over 256 bytes at every position."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def run_with_cache(self, inputs, names=()):
        return self.logits.expand(*inputs.shape, -1), {}


@pytest.fixture(scope="module")
def task():
    return corpus_byte_task(
        Corpus("toy", ("in the beginning\n", "and the earth\n")), seq_len=4, held_out_every=2, test_windows=3, seed=0
    )


def behaviour_of(task, logits: torch.Tensor, loss: str = "cross_entropy") -> dict[str, float]:
    return run_probes(
        ["behaviour"], ProbeContext.of_task(ConstantLogits(logits), task, loss_function(loss, task.num_classes))
    ).scalars


def test_uniform_logits_over_256_bytes_are_8_bits_per_byte(task):
    scores = behaviour_of(task, torch.zeros(256))
    assert scores["test/loss"] == pytest.approx(math.log(256), rel=1e-6)
    assert scores["test/bits_per_byte"] == pytest.approx(8.0, rel=1e-6)


def test_bits_per_byte_is_cross_entropy_even_when_training_uses_mse(task):
    assert behaviour_of(task, torch.zeros(256), loss="mse")["test/bits_per_byte"] == pytest.approx(8.0, rel=1e-6)


def test_bits_per_byte_scales_with_bytes_per_token(task):
    two_bytes = replace(task, bytes_per_token=2.0)  # e.g. a tokenizer whose tokens average two bytes
    assert behaviour_of(two_bytes, torch.zeros(256))["test/bits_per_byte"] == pytest.approx(4.0, rel=1e-6)
    assert "test/bits_per_byte" not in behaviour_of(replace(task, bytes_per_token=0.0), torch.zeros(256))

"""The ICL score against models whose per-token losses are known exactly."""

import math

import pytest
import torch

from phasewatch.probes import ProbeContext, run_probes
from phasewatch.tasks.induction import induction_task
from phasewatch.tasks.objective import loss_function

VOCAB = 16


class Fixed(torch.nn.Module):
    """Uniform logits everywhere, or (`oracle`) a confident correct guess on the second copy."""

    def __init__(self, task, oracle: bool):
        super().__init__()
        self.task, self.oracle = task, oracle

    def run_with_cache(self, inputs, names):
        logits = torch.zeros(*inputs.shape, VOCAB)
        if self.oracle:
            test = self.task.test
            rows, positions = self.task.repeat_mask.nonzero(as_tuple=True)
            logits[rows, positions, test.targets[rows, positions]] = 50.0
        return logits, {}


def scalars(oracle: bool) -> dict[str, float]:
    task = induction_task(VOCAB, 32, 4, 8, 64, seed=0)
    return run_probes(
        ["in_context"], ProbeContext.of_task(Fixed(task, oracle), task, loss_function("cross_entropy", VOCAB))
    ).scalars


def test_uniform_predictions_cost_log_v_everywhere_and_learn_nothing_in_context():
    values = scalars(oracle=False)
    for name in ("repeat_loss", "first_copy_loss", "random_loss"):
        assert math.isclose(values[f"in_context/{name}"], math.log(VOCAB), rel_tol=1e-9)
    assert abs(values["in_context/icl_score"]) < 1e-9


def test_copying_the_second_occurrence_makes_the_icl_score_minus_log_v():
    values = scalars(oracle=True)
    assert values["in_context/repeat_loss"] < 1e-9
    assert math.isclose(values["in_context/icl_score"], -math.log(VOCAB), rel_tol=1e-9)
    assert math.isclose(values["in_context/random_loss"], math.log(VOCAB), rel_tol=1e-9)


# ---- the text branch: no repeated segments, icl_score = late − early ----------------------------


class Planted(torch.nn.Module):
    """Puts probability p[n, t] on the target of row n at position t (the rest spread evenly over the
    other tokens), so that the loss there is exactly −log p[n, t]."""

    def __init__(self, targets, p, vocab):
        super().__init__()
        self.targets, self.p, self.vocab = targets, p, vocab

    def run_with_cache(self, inputs, names):
        n, t = self.targets.shape
        q = ((1 - self.p) / (self.vocab - 1))[..., None].expand(n, t, self.vocab).clone()
        q.scatter_(2, self.targets.clamp_min(0)[..., None], self.p[..., None])
        return q.log(), {}


def test_the_text_branch_on_byte_windows_is_the_last_quarter_minus_the_first_quarter():
    """Byte windows of 16 scored positions; the planted loss at position t is log(t + 2), so
    icl_score = mean(log 14..17) − mean(log 2..5) (quarters of 4 positions)."""
    from phasewatch.tasks.byte_text import corpus_byte_task
    from phasewatch.tasks.corpus import Corpus

    chapters = tuple(f"Chapter {c}: the quick brown fox jumps over the lazy dog, again and again.\n" for c in range(8))
    task = corpus_byte_task(Corpus("toy", chapters), seq_len=16, held_out_every=2, test_windows=3, seed=0)
    targets = task.test.targets
    assert targets.shape == (3, 16) and (targets >= 0).all()  # every position scored
    p = (1 / (torch.arange(16, dtype=torch.float64) + 2)).expand(3, 16)
    result = run_probes(["in_context"], ProbeContext.of_task(Planted(targets, p, 256), task))
    expected = sum(math.log(k) for k in (14, 15, 16, 17)) / 4 - sum(math.log(k) for k in (2, 3, 4, 5)) / 4
    assert math.isclose(result.scalars["in_context/icl_score"], expected, rel_tol=1e-9)
    assert set(result.scalars) == {"in_context/icl_score"}  # no repeat/first-copy losses without repeated segments
    per_position = result.arrays["per_position_loss"]["loss"]
    assert torch.allclose(per_position.double(), torch.log(torch.arange(16, dtype=torch.float64) + 2), rtol=1e-6)


def test_the_text_branch_counts_quarters_of_the_scored_positions_and_averages_the_scored_rows():
    """12 positions, the first 4 never scored (a prompt): the 8 scored ones give quarters of 2.
    Row 0's loss at t is t, row 1's is 2t, except that row 1 is unscored at position 11, whose
    mean is row 0's alone: per-position losses 1.5t for t = 4..10 and 11 at t = 11, so
    icl_score = (15 + 11)/2 − (6 + 7.5)/2 = 6.25."""
    from phasewatch.tasks.base import Split, Task
    from phasewatch.tasks.objective import IGNORE

    vocab, t = 8, torch.arange(12, dtype=torch.float64)
    targets = torch.arange(24).view(2, 12) % vocab
    targets[:, :4] = IGNORE
    targets[1, 11] = IGNORE
    split = Split(torch.zeros(2, 12, dtype=torch.long), targets)
    task = Task("prompted", vocab_size=vocab, seq_len=12, num_classes=vocab, train=split, test=split, probe=split)
    p = torch.exp(-torch.stack([t, 2 * t]))  # loss t on row 0, 2t on row 1
    result = run_probes(["in_context"], ProbeContext.of_task(Planted(targets, p, vocab), task))
    assert math.isclose(result.scalars["in_context/icl_score"], 6.25, rel_tol=1e-9)
    per_position = result.arrays["per_position_loss"]["loss"]
    assert per_position[:4].isnan().all()
    assert torch.allclose(
        per_position[4:].double(), torch.tensor([6.0, 7.5, 9.0, 10.5, 12.0, 13.5, 15.0, 11.0], dtype=torch.float64)
    )


def test_a_classification_task_is_refused_before_anything_runs():
    from phasewatch.errors import UserError
    from phasewatch.models.transformer import Transformer
    from phasewatch.probes import ProbeContext, choose
    from phasewatch.tasks.modular import modular_task

    task = modular_task(7, "+", 0.5, 0)
    ctx = ProbeContext.of_task(
        Transformer(task.vocab_size, task.seq_len, task.num_classes, d_model=8, d_head=4, n_heads=2, d_mlp=8), task
    )
    with pytest.raises(UserError, match="in_context.*a task with a target at every position"):
        choose(["in_context"], ctx)

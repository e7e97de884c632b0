"""The ICL score against models whose per-token losses are known exactly."""

import math

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

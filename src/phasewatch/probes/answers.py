"""Multi-token answers scored by discontinuous and continuous metrics: the same outputs, six ways
(Schaeffer, Miranda & Koyejo 2023, "Are emergent abilities of large language models a mirage?").

On the held-out split of an `AnswerTask` (tasks/addition.py, tasks/lookup.py), with the answer's L tokens:
- discontinuous: exact match of the greedy answer, and the multiple-choice grade;
- continuous: per-token accuracy, token edit distance of the greedy answer, per-token
  log-likelihood, and the Brier score.
An event dated on a discontinuous metric is judged against the continuous ones
(`Metric.judged_against`, analysis/mirage.py): it persists, or it is a metric artefact.
"""

from __future__ import annotations

import torch

from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe
from phasewatch.tasks.addition import AnswerTask

TOKEN_ACCURACY = Metric("answer/token_accuracy", "share of answer tokens whose argmax is right (teacher forced)", higher="better")
EDIT_DISTANCE = Metric("answer/edit_distance", "token edit distance of the greedy answer to the true one", higher="worse")
LOG_LIKELIHOOD = Metric("answer/log_likelihood", "mean log-probability of a true answer token (nats)", higher="better")
BRIER = Metric("answer/brier", "Brier score of the answer tokens' predicted distributions", higher="worse")
CONTINUOUS = tuple(m.name for m in (TOKEN_ACCURACY, EDIT_DISTANCE, LOG_LIKELIHOOD, BRIER))
EXACT_MATCH = Metric(
    "answer/exact_match",
    "share of greedy answers right in every token",
    higher="better",
    rise="emergence",
    level=0.5,
    judged_against=CONTINUOUS,
)
MULTIPLE_CHOICE = Metric(
    "answer/multiple_choice",
    "share of rows where the true answer is likelier than each one-digit distractor",
    higher="better",
    rise="emergence",
    level=0.5,
    judged_against=CONTINUOUS,
)


def greedy_answers(model: torch.nn.Module, task: AnswerTask, inputs: torch.Tensor) -> torch.Tensor:
    """(rows, L): the model's answer decoded greedily, each token fed back as the next input (a
    task that feeds its answers back). inputs (rows, T): the prompts (their answer part is overwritten)."""
    sequence = inputs.clone()
    answer: list[torch.Tensor] = []
    for k in range(task.answer_length):
        position = task.answer_start + k  # predicts answer token k
        token = model(sequence)[:, position].argmax(-1)
        answer.append(token)
        if position + 1 < sequence.shape[1]:
            sequence[:, position + 1] = token
    return torch.stack(answer, dim=1)


def edit_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(rows,) Levenshtein distance between the token rows of a (rows, L) and b (rows, M), by the
    dynamic programme over all rows at once."""
    rows, length = a.shape
    previous = torch.arange(b.shape[1] + 1, device=a.device).expand(rows, -1)
    for i in range(1, length + 1):
        current = [torch.full((rows,), i, device=a.device)]
        for j in range(1, b.shape[1] + 1):
            substitute = previous[:, j - 1] + (a[:, i - 1] != b[:, j - 1]).long()
            current.append(torch.minimum(torch.minimum(previous[:, j] + 1, current[j - 1] + 1), substitute))
        previous = torch.stack(current, dim=1)
    return previous[:, -1]


def answer_log_likelihood(model: torch.nn.Module, task: AnswerTask, inputs: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    """(rows,) Σ log p(answer tokens) under teacher forcing, for candidate answers (rows, L) of a
    task that feeds its answers back."""
    sequence = inputs.clone()
    start, length = task.answer_start, task.answer_length
    sequence[:, start + 1 : start + length] = answers[:, : length - 1]  # the answer's tokens as inputs
    log_probs = model(sequence)[:, start : start + length].log_softmax(-1)  # (rows, L, V)
    return log_probs.gather(-1, answers[..., None])[..., 0].sum(-1)


@probe(
    "answers",
    metrics=(EXACT_MATCH, MULTIPLE_CHOICE, TOKEN_ACCURACY, EDIT_DISTANCE, LOG_LIKELIHOOD, BRIER),
    needs=Needs(task=AnswerTask),
)
def answers(ctx: ProbeContext) -> ProbeResult:
    """The held-out answers scored six ways. With p the softmax at an answer position, y its true
    token, ŷ the greedy answer (rows, L) and a the true one:

    - `answer/exact_match` = mean_rows 1[ŷ = a]; greedy decoding, as Schaeffer et al. score a
      model's output (equal to all L teacher-forced argmaxes being right);
    - `answer/multiple_choice` = mean_rows 1[log p(a) > max_d log p(d)] over the task's one-digit
      distractors d (BIG-bench's multiple-choice grade scores candidates by likelihood; ties count
      as wrong);
    - `answer/token_accuracy` = mean 1[argmax p = y] (teacher forced);
    - `answer/edit_distance` = mean_rows Levenshtein(ŷ, a) in tokens (Schaeffer et al.'s token
      edit distance);
    - `answer/log_likelihood` = mean log p_y (per token, nats);
    - `answer/brier` = mean Σ_v (p_v − 1[v = y])² (per token, summed over the vocabulary:
      Brier 1950; BIG-bench averages it per choice instead).
    """
    task = ctx.task
    assert isinstance(task, AnswerTask) and task.choices is not None  # Needs(task=AnswerTask)
    logits, _ = ctx.forward("test")
    start, length = task.answer_start, task.answer_length
    truth = task.answers(task.test)  # (rows, L)
    log_probs = logits[:, start : start + length].float().log_softmax(-1)  # (rows, L, V)
    probs = log_probs.exp()
    distractors = task.choices[:, 1:]  # (rows, C − 1, L); the true answer, first, is the test split's own
    if task.fed_back:
        with torch.no_grad():
            greedy = greedy_answers(ctx.model, task, task.test.inputs)
            rivals = torch.stack(
                [
                    answer_log_likelihood(ctx.model, task, task.test.inputs, distractors[:, c])
                    for c in range(distractors.shape[1])
                ],
                dim=1,
            )
    else:  # read in one pass: the greedy answer and every candidate's likelihood are in these logits
        greedy = log_probs.argmax(-1)
        candidates = log_probs[:, None].expand(-1, distractors.shape[1], -1, -1)  # (rows, C − 1, L, V)
        rivals = candidates.gather(-1, distractors[..., None])[..., 0].sum(-1)  # (rows, C − 1)
    truth_log_likelihood = log_probs.gather(-1, truth[..., None])[..., 0]  # (rows, L)
    one_hot = torch.zeros_like(probs).scatter_(-1, truth[..., None], 1.0)
    return ProbeResult(
        {
            EXACT_MATCH.name: float((greedy == truth).all(-1).float().mean()),
            MULTIPLE_CHOICE.name: float((truth_log_likelihood.sum(-1) > rivals.max(-1).values).float().mean()),
            TOKEN_ACCURACY.name: float((probs.argmax(-1) == truth).float().mean()),
            EDIT_DISTANCE.name: float(edit_distance(greedy, truth).float().mean()),
            LOG_LIKELIHOOD.name: float(truth_log_likelihood.mean()),
            BRIER.name: float((probs - one_hot).square().sum(-1).mean()),
        }
    )

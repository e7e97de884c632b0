"""Grokking progress measures (Nanda et al. 2023, "Progress measures for grokking via
mechanistic interpretability"), read in the Fourier basis of the task's cyclic group."""
from __future__ import annotations

import torch

from phasewatch.probes import fourier
from phasewatch.probes.registry import Metric, Needs, ProbeContext, ProbeResult, probe
from phasewatch.tasks.modular import ModularTask

KEY_FREQUENCIES = 5
FOURIER_SPARSITY = Metric("fourier_sparsity/*", "share of the embedding's Fourier norm² in its key frequencies",
                          higher="better")
FOURIER_IPR = Metric("fourier_ipr/*", "mean inverse participation ratio of the embedding columns' Fourier spectra",
                     higher="better")
RESTRICTED_LOSS = Metric("restricted_loss/*", "loss with only the key-frequency components of the logits",
                         higher="worse")
EXCLUDED_LOSS = Metric("excluded_loss/*", "training loss with the key-frequency components removed", higher="better")


def _group_members(task: ModularTask) -> torch.Tensor:
    """The residues of group elements 0, 1, …, n − 1 (0 is not in Z_p^*: its index is −1)."""
    return torch.argsort(task.group)[task.p - task.group_order :]


@probe("fourier", metrics=(FOURIER_SPARSITY, FOURIER_IPR, RESTRICTED_LOSS, EXCLUDED_LOSS),
       needs=Needs(task=ModularTask, capabilities=("token_embedding",)))
def fourier_progress(ctx: ProbeContext) -> ProbeResult:
    """Fourier sparsity of the operand embedding, restricted loss and excluded loss.

    - `fourier_sparsity/embed`: share of the embedding's non-constant Fourier norm² in its top-5
      frequencies (the key frequencies); rises as the generalising circuit forms.
    - `fourier_ipr/embed`: mean inverse participation ratio of each embedding column's Fourier
      spectrum (Gromov 2023); rises as each neuron settles on one frequency.
    - `restricted_loss/logits`: cross-entropy on every pair of the logits' projection onto
      cos(w_k(c* − c)) for the key frequencies k; falls *before* the test loss does.
    - `excluded_loss/logits`: training cross-entropy once those components are removed (the
      projection fitted on the whole table); rises as the model relies on the generalising circuit.
    For × and ÷ the group is Z_p^* indexed by discrete logarithm (pairs whose answer is 0, and the
    answer 0's logit, are left out).
    """
    task = ctx.task
    members = _group_members(task)
    embedding = ctx.view.token_embedding(task.p)[members]
    keys = fourier.key_frequencies(embedding, k=KEY_FREQUENCIES)
    logits, _ = ctx.forward("probe")
    answers = task.group[task.probe.targets]
    rows = answers >= 0
    logits, answers, in_train = logits[rows][:, members], answers[rows], task.in_train[rows]
    n = task.group_order
    return ProbeResult(
        {
            FOURIER_SPARSITY.at("embed"): fourier.fourier_sparsity(embedding, k=KEY_FREQUENCIES),
            FOURIER_IPR.at("embed"): fourier.neuron_ipr(embedding),
            RESTRICTED_LOSS.at("logits"): fourier.restricted_loss(logits, answers, keys, n),
            EXCLUDED_LOSS.at("logits"): fourier.excluded_loss(logits, answers, keys, n, mask=in_train),
        }
    )

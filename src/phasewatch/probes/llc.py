"""The local learning coefficient over training: the `llc` probe (phasewatch.llc.estimate).

At a probe step the sampler is localised at the current weights w* and run on the training data:

  llc/mean          λ̂ = nβ·(E_SGLD[L(w)] − L(w*)), the mean over chains (Lau et al. 2023, eq. 3;
                    llc/sgld.py gives the update and the nβ convention, n/log n)
  llc/std           its standard deviation over chains (the chain noise, not a posterior width)
  llc/acceptance    the mean MALA acceptance probability of the SGLD proposals (a healthy sampler
                    stays near 1; well below 0.5 says ε is too large)
  llc/distance      the mean ‖w − w*‖ over the draws (a chain that wanders off its basin grows it)
  llc/warnings      how many of the diagnostics' warnings fired (llc/diagnostics.py; 0 is healthy)
  llc_trace (array) per chain: the loss, ‖w − w*‖ and acceptance at every sampler step, keys
                    `loss`, `distance`, `acceptance` (chains × steps), for the report's slider,
                    and `seconds`, the estimate's wall time

Data: a built-in run's training split and its loss; a watched model's probe set and its loss
(next-token cross-entropy for a causal LM, the class loss for a labelled classifier). A stream
task's training split is a fixed sample of its distribution, so n counts its items.

Cost: an estimate is chains × (burn_in + draws) gradient steps, so the probe runs only at every
`every`-th scheduled probe step (`ctx.rank`, the step's position in the schedule: a resumed run
estimates at the same steps). Departure from devinterp: nβ defaults to n/log n of the data used
(devinterp's to a batch-size value), and one fixed sampler setting serves the whole run, so
estimates at different steps are comparable (calibrate once: `phasewatch.llc.calibrate`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from phasewatch.llc import estimate
from phasewatch.models.interface import logits_of
from phasewatch.probes.registry import Metric, ProbeContext, ProbeResult, probe
from phasewatch.schema import Section

LLC_MEAN = Metric("llc/mean", "local learning coefficient λ̂ = nβ·(E[L(w)] − L(w*)) at the current weights")
LLC_STD = Metric("llc/std", "standard deviation of λ̂ over the sampler's chains")
LLC_ACCEPTANCE = Metric("llc/acceptance", "mean MALA acceptance probability of the SGLD proposals", higher="better")
LLC_DISTANCE = Metric("llc/distance", "mean distance ‖w − w*‖ of the sampled weights from the current ones")
LLC_WARNINGS = Metric("llc/warnings", "how many of the sampler's health checks warned", higher="worse")
LLC_TRACE = "llc_trace"  # array family: keys loss, distance, acceptance (chains, steps), and seconds


class LLCConfig(Section):
    """The `llc` probe's sampler (an experiment's `[probes.llc]` table)."""

    every: int = Field(5, ge=1, description="estimate at every k-th scheduled probe step, the first included")
    epsilon: float = Field(1e-3, gt=0, description="SGLD step size ε")
    gamma: float = Field(100.0, ge=0, description="localisation strength γ")
    n_beta: float = Field(0.0, ge=0, description="nβ; 0: n / log n, n the items of the data")
    chains: int = Field(2, ge=1)
    draws: int = Field(100, ge=1, description="sampler steps per chain after burn-in")
    burn_in: int = Field(50, ge=0)
    batch_size: int = Field(64, ge=0, description="items per SGLD gradient (0: all of them)")
    seed: int = Field(0, ge=0)


@probe("llc", metrics=(LLC_MEAN, LLC_STD, LLC_ACCEPTANCE, LLC_DISTANCE, LLC_WARNINGS), on_request=True)
def llc(ctx: ProbeContext) -> ProbeResult:
    """The module docstring's metrics, at every `every`-th scheduled probe step."""
    settings = ctx.options.get("llc") or LLCConfig()
    if ctx.rank is None or ctx.rank % settings.every:
        return ProbeResult()
    data, loss_fn = _training_data(ctx)
    if data is None:
        return ProbeResult()
    n = len(data[0])
    result = estimate(
        ctx.model,
        data,
        loss_fn,
        epsilon=settings.epsilon,
        gamma=settings.gamma,
        n_beta=settings.n_beta or None,  # None: the estimator's n / log n
        chains=settings.chains,
        draws=settings.draws,
        burn_in=settings.burn_in,
        seed=settings.seed,
        batch_size=settings.batch_size if 0 < settings.batch_size < n else None,
    )
    scalars = {
        LLC_MEAN.name: result.mean,
        LLC_STD.name: result.std,
        LLC_ACCEPTANCE.name: float(result.acceptance.mean()),
        LLC_DISTANCE.name: float(result.distance_trace[:, settings.burn_in :].mean()),
        LLC_WARNINGS.name: float(len(result.warnings)),
    }
    traces = {"loss": result.loss_trace, "distance": result.distance_trace, "acceptance": result.acceptance}
    arrays = {key: torch.as_tensor(value, dtype=torch.float32) for key, value in traces.items()}
    arrays["seconds"] = torch.tensor(result.seconds)  # what the estimate cost, for the probe's share of a run's time
    return ProbeResult(scalars, {LLC_TRACE: arrays})


def _training_data(ctx: ProbeContext):
    """(a tuple of tensors on the model's device, loss_fn(model, batch)), or (None, None) when the
    context has no data with a loss."""
    device = ctx.device
    if ctx.task is not None and ctx.loss is not None:
        loss = ctx.loss
        split = ctx.task.train
        return (split.inputs.to(device), split.targets.to(device)), lambda model, batch: loss(_logits(model, batch[0]), batch[1])
    if ctx.data is None:
        return None, None
    inputs = ctx.data.inputs.to(device)
    if not inputs.is_floating_point() and inputs.dim() == 2 and _logits(ctx.model, inputs[:1]).dim() == 3:
        return (inputs,), _next_token_loss
    if ctx.data.labels is not None:
        return (inputs, ctx.data.labels.to(device)), _class_loss
    return None, None  # neither a causal LM nor a labelled classifier: no loss to sample


def _next_token_loss(model, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Mean next-token cross-entropy of a causal LM on (N, T) token ids."""
    logits = _logits(model, batch[0])  # (N, T, V)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), batch[0][:, 1:].flatten())


def _class_loss(model, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Mean cross-entropy of a classifier's (N, C) logits against the (N,) labels."""
    return F.cross_entropy(_logits(model, batch[0]), batch[1])


def _logits(model, inputs: torch.Tensor) -> torch.Tensor:
    logits = logits_of(model(inputs))
    assert logits is not None, "the llc probe samples a model that returns logits"
    return logits

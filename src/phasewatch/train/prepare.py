"""Everything a built-in run needs, built once and checked before a run directory exists."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from phasewatch.config import ExperimentConfig
from phasewatch.errors import UserError
from phasewatch.models import build_model
from phasewatch.probes import ProbeContext, choose, recordable
from phasewatch.tasks import Task, build_task
from phasewatch.tasks.objective import Loss, loss_function
from phasewatch.train import budget
from phasewatch.train.curriculum import Curriculum
from phasewatch.train.interventions import KeepPeak, check_levers


@dataclass
class Prepared:
    """The task and model of a config, on their device, with the loss and the probes' context."""

    config: ExperimentConfig
    task: Task
    model: torch.nn.Module
    device: torch.device
    loss: Loss
    context: ProbeContext

    def scale(self) -> dict[str, int]:
        """What a scaling law reads from a run (run.json): `parameters`, the model's trainable
        parameter count (embeddings included, as Hoffmann et al. count them), and `tokens_per_step`,
        the input tokens of one training batch (rows × sequence length; rows for real-valued inputs)."""
        rows = budget.batch_rows(self.task, self.config.train.batch_size)
        inputs = self.task.train.inputs
        positions = inputs.shape[1] if inputs.dim() > 1 and not inputs.is_floating_point() else 1  # tokens per row
        return {
            "parameters": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            "tokens_per_step": rows * positions,
        }


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device: 'cuda' is not available on this machine (use auto or cpu)")
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else "cpu" if name == "auto" else name)


def prepare(config: ExperimentConfig) -> Prepared:
    """Build the task and the model (seeded: the same config gives the same weights) and check
    every probe, lever and listener against them: UserError, with nothing written, when one
    does not fit."""
    torch.set_num_threads(config.train.threads)
    torch.manual_seed(config.seed)
    device = resolve_device(config.train.device)
    try:
        task = build_task(config.task, config.seed)
    except (RuntimeError, MemoryError, OverflowError) as error:  # sizes past int64 or the memory
        first = (str(error).splitlines() or [type(error).__name__])[0][:200]
        raise UserError(f"task: a task of these sizes cannot be built ({first}); make it smaller") from None
    budget.check(config, task, device)  # before the model takes its memory
    task = task.to(device)
    model = build_model(config.model, task).to(device)
    loss = loss_function(config.train.loss, task.num_classes)
    context = ProbeContext.of_task(model, task, loss)
    probes, _ = choose(config.probes.names, context, "probes.names")
    if unknown := [pattern for pattern in config.events.watch if not recordable(pattern)]:
        raise UserError(f"events.watch: {unknown[0]!r} matches no metric any probe records (see `phasewatch probes`)")
    check_levers(config, task)
    KeepPeak.check(config.interventions, probes)
    Curriculum.check(config.curriculum, config.task.name, task, probes)
    return Prepared(config, task, model, device, loss, context)

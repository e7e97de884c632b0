"""The deterministic training loop.

Full-batch or seeded mini-batch AdamW or SGD with linear warm-up. Step s means "the parameters after s
updates": at each step the loop records the training loss, runs the probes when the schedule
says so, then updates. Every `checkpoint_every` steps it flushes the metrics and writes a
checkpoint (model, optimiser, RNG); `resume=True` restarts from the newest one, drops metrics
recorded after it, and continues bit-identically (the data order is a pure function of seed and
step, so no sampler state is needed).
"""
from __future__ import annotations

import time

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from phasewatch.config import ExperimentConfig
from phasewatch.errors import UserError
from phasewatch.models import build_model
from phasewatch.probes import run_probes
from phasewatch.store import Run
from phasewatch.tasks import Split, Task, build_task
from phasewatch.tasks.objective import accuracy, loss_function
from phasewatch.train.curriculum import Curriculum
from phasewatch.train.interventions import KeepPeak, Objective
from phasewatch.train.optim import build_optimizer
from phasewatch.train.schedule import probe_steps
from phasewatch.train.state import load_training_state, training_state


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device: 'cuda' is not available on this machine (use auto or cpu)")
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else "cpu" if name == "auto" else name)


def batch_at(task: Task, step: int, batch_size: int, seed: int, stage: int = 1) -> Split:
    """The training batch of `step`: a fresh stream batch, the whole training split, or a sample of
    it; drawn from (seed, step) alone."""
    split = task.train
    if task.stream is None and (batch_size == 0 or batch_size >= len(split)):
        return split
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    if task.stream is not None:
        return task.stream(generator, batch_size or len(split), stage).to(split.targets.device)
    index = torch.randperm(len(split), generator=generator)[:batch_size].to(split.targets.device)
    return Split(split.inputs[index], split.targets[index])


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), disable=not enabled,
    )


def train(run: Run, config: ExperimentConfig, *, resume: bool = False, show_progress: bool = True) -> None:
    """Train `config` into `run` (its metrics, arrays and checkpoints), from scratch or resumed."""
    torch.set_num_threads(config.train.threads)
    torch.manual_seed(config.seed)
    device = resolve_device(config.train.device)
    task = build_task(config.task, config.seed).to(device)
    model = build_model(config.model, task).to(device)
    settings = config.train
    optimizer = build_optimizer(model, settings)
    loss_of = loss_function(settings.loss, task.num_classes)
    objective = Objective(config, task, model, loss_of)
    schedule = set(probe_steps(settings.steps, config.probes.every, config.probes.log_points))
    writer = run.writer()

    start = 0
    if resume and run.checkpoint_steps():
        start = run.checkpoint_steps()[-1]
        tensors, _ = run.load_checkpoint(start)
        load_training_state(tensors, model, optimizer)
    writer.truncate_after(start - 1)
    keep_peak = KeepPeak(config, run, start) if config.interventions.keep_peak else None
    curriculum = Curriculum(config, run, start) if config.curriculum.metric else None

    began, probe_seconds, pending, stop = time.perf_counter(), 0.0, [], False
    with _progress(show_progress) as progress:
        bar = progress.add_task(run.id, total=settings.steps, completed=start, status="")
        for step in range(start, settings.steps + 1):
            if step % settings.checkpoint_every == 0 and step > start:
                _record_train(writer, pending)
                writer.flush()
                run.save_checkpoint(step, training_state(model, optimizer), {"step": step})
            batch = batch_at(task, step, settings.batch_size, config.seed, stage=curriculum.stage if curriculum else 1)
            loss, logits = objective(batch.inputs, batch.targets)
            # Kept on the device until the next probe: no host sync in the hot loop.
            pending.append((step, torch.stack([loss.detach(), accuracy(logits, batch.targets).float()])))
            if step in schedule:
                probe_began = time.perf_counter()
                _record_train(writer, pending)
                result = run_probes(config.probes.names, model, task, loss_of)
                writer.log(step, result.scalars)
                for name, tensors in result.arrays.items():
                    run.save_array(name, step, tensors)
                stop = keep_peak is not None and keep_peak.observe(step, result.scalars, model, writer)
                if curriculum is not None:
                    curriculum.observe(step, result.scalars, writer)
                probe_seconds += time.perf_counter() - probe_began
                progress.update(bar, status=_status(result.scalars))
            if step == settings.steps or stop:
                break
            for group in optimizer.param_groups:
                group["lr"] = settings.lr * min(1.0, (step + 1) / settings.warmup_steps) if settings.warmup_steps else settings.lr
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            progress.update(bar, completed=step + 1)
    _record_train(writer, pending)
    if step not in run.checkpoint_steps():
        run.save_checkpoint(step, training_state(model, optimizer), {"step": step})
    writer.close()
    elapsed = time.perf_counter() - began
    run.set_status("running", train_seconds=elapsed, probe_seconds=probe_seconds, device=str(device), resumed_from=start,
                   stopped_at=step)


def _record_train(writer, pending: list[tuple[int, torch.Tensor]]) -> None:
    if pending:
        values = torch.stack([v for _, v in pending]).cpu().tolist()
        for (step, _), (loss, share_right) in zip(pending, values):
            writer.log(step, {"train/loss": loss, "train/accuracy": share_right})
        pending.clear()


def _status(scalars: dict[str, float]) -> str:
    shown = [f"{name} {scalars[name]:.3f}" for name in ("test/accuracy", "test/loss") if name in scalars]
    return "  ".join(shown)

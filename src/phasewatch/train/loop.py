"""The deterministic training loop.

Full-batch or seeded mini-batch AdamW or SGD with linear warm-up. Step s means "the parameters after s
updates": at each step the loop records the training loss, runs the probes when the schedule
says so, then updates. At step 0 and every `checkpoint_every` steps it flushes the metrics and writes a
checkpoint (model, optimiser, RNG); `resume=True` restarts from the newest one, drops metrics
recorded after it, and continues bit-identically (the data order is a pure function of seed and
step, so no sampler state is needed). Recording is the `Recorder`'s: this loop drives one exactly
as a user's loop drives a `Watcher`. Once trained, the probes that read the finished model
(`at_end`) are run over the stored checkpoints (`Recorder.replay`).
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterator
from fnmatch import fnmatch

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from phasewatch.errors import UserError
from phasewatch.probes import ProbeContext, emits
from phasewatch.probes.behaviour import TEST_ACCURACY, TEST_LOSS
from phasewatch.probes.training import TRAIN_ACCURACY, TRAIN_LOSS
from phasewatch.record import Listener, ProbeSteps, Recorder
from phasewatch.record.adaptive import AdaptiveProbing
from phasewatch.record.forecast import FORECASTER, LiveForecast, load_forecaster
from phasewatch.store import ATTRIBUTE_GROUPS, Run
from phasewatch.tasks import Split, Task
from phasewatch.tasks.attributes import attribute_groups
from phasewatch.tasks.objective import accuracy
from phasewatch.train.curriculum import Curriculum
from phasewatch.train.interventions import KeepPeak, Objective
from phasewatch.train.optim import build_optimizer
from phasewatch.train.prepare import Prepared
from phasewatch.train.state import load_training_state, training_state


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
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
    )


def train(
    run: Run, prepared: Prepared, *, resume: bool = False, show_progress: bool = True, before: int | None = None
) -> list[dict]:
    """Train a prepared config (`train.prepare`) into `run` (its metrics, arrays and checkpoints),
    from scratch or resumed (`before`: from a checkpoint before that step only), and finish the run
    (events, report). Returns the events."""
    config, task, model = prepared.config, prepared.task, prepared.model
    settings = config.train
    optimizer = build_optimizer(model, settings)
    objective = Objective(config, task, model, prepared.loss)
    start = resumed_state(run, model, optimizer, before) if resume and run.checkpoint_steps() else 0
    listeners: list[Listener] = []
    if config.interventions.keep_peak:
        listeners.append(KeepPeak(config.interventions, run, start))
    curriculum = Curriculum(config.curriculum, run, start) if config.curriculum.metric else None
    if curriculum is not None:
        listeners.append(curriculum)
    if (forecaster := run.analysis(FORECASTER)) is not None:  # a live forecast: a resumed run forecasts on
        listeners.append(LiveForecast(load_forecaster(forecaster), run, start, settings.steps))
    schedule = ProbeSteps(settings.steps, config.probes.every, config.probes.log_points)
    recorder = Recorder(
        run,
        prepared.context,
        config.probes.names,
        schedule,
        detection=config.events,
        listeners=listeners,
        adaptive=_adaptive(config, run, start, schedule),
        options=config.probes.options(),
    )
    try:
        recorder.writer.truncate_after(start - 1)
        scale = prepared.scale()  # a live dashboard's tokens axis needs it before the end
        run.set_status("running", parameters=scale["parameters"], tokens_per_step=scale["tokens_per_step"])
        if task.attributes is not None and (
            groups := attribute_groups(task.attributes, getattr(config.task, "factor_sizes", None))
        ):
            run.save_analysis(ATTRIBUTE_GROUPS, {"groups": groups})

        began = time.perf_counter()
        with _progress(show_progress) as progress:
            bar = progress.add_task(run.id, total=settings.steps, completed=start, status="")
            for step in range(start, settings.steps + 1):
                if step % settings.checkpoint_every == 0 and (step > start or step == 0):
                    recorder.checkpoint(step, training_state(model, optimizer), {"step": step})
                batch = batch_at(task, step, settings.batch_size, config.seed, stage=curriculum.stage if curriculum else 1)
                loss, logits = objective(batch.inputs, batch.targets)
                recorder.record(step, {TRAIN_LOSS.name: loss, TRAIN_ACCURACY.name: accuracy(logits, batch.targets).float()})
                if recorder.due(step):
                    progress.update(bar, status=_status(recorder.probe(step).scalars))
                if step == settings.steps or recorder.stop:
                    break
                for group in optimizer.param_groups:
                    group["lr"] = (
                        settings.lr * min(1.0, (step + 1) / settings.warmup_steps) if settings.warmup_steps else settings.lr
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                progress.update(bar, completed=step + 1)
        if step not in run.checkpoint_steps():
            recorder.checkpoint(step, training_state(model, optimizer), {"step": step})
        recorder.replay(checkpoint_contexts(run, prepared))
        return recorder.finish(
            train_seconds=time.perf_counter() - began,
            probe_seconds=recorder.probe_seconds,
            device=str(prepared.device),
            resumed_from=start,
            stopped_at=step,
            **scale,
        )
    except BaseException as error:  # a crash or Ctrl-C: keep what was recorded, free the run
        recorder.fail(error)
        raise


def resumed_state(run: Run, model: torch.nn.Module, optimizer: torch.optim.Optimizer, before: int | None = None) -> int:
    """Load the newest checkpoint whose checksum holds (and whose step is below `before`, when
    given) into `model` and `optimizer`; its step. Each corrupt newer one is skipped with one line
    on stderr and in log.txt (the steps after the one loaded are trained and recorded again).
    0, loading nothing, when no checkpoint is early enough: the prepared model is the seeded
    initial one. UserError when every early enough one is corrupt."""
    steps = [s for s in run.checkpoint_steps() if before is None or s < before]
    for step in reversed(steps):
        try:
            tensors, _ = run.load_checkpoint(step)
        except UserError as error:
            if step == steps[0]:
                raise
            notice = f"resume: {error}; resuming from the checkpoint before it"
            print(notice, file=sys.stderr)
            run.log(notice)
            continue
        load_training_state(tensors, model, optimizer)
        return step
    return 0


def _adaptive(config, run: Run, start: int, schedule: ProbeSteps) -> AdaptiveProbing | None:
    """Adaptive probing over the watched probe metrics, rebuilt from the stored values before
    `start` on a resumed run; None unless `probes.adaptive`."""
    probes = config.probes
    if not probes.adaptive:
        return None
    dense_every = probes.adaptive_every or max(1, probes.every // 5)
    names = [m for m in run.metric_names() if emits(probes.names, m) and any(fnmatch(m, p) for p in config.events.watch)]
    rows: dict[int, dict[str, float]] = {}
    for name in names:
        for step, value in zip(*run.metric(name)):
            if step < start:
                rows.setdefault(int(step), {})[name] = float(value)
    history = [(step, rows[step], step in schedule) for step in sorted(rows)]
    return AdaptiveProbing.resumed(config.events.watch, dense_every, probes.adaptive_budget, history)


def checkpoint_contexts(run: Run, prepared: Prepared) -> Iterator[tuple[int, ProbeContext]]:
    """(step, a probe context of the model at that step) for each stored checkpoint, in order. The
    states are loaded into one copy of the model: the trained model stays as it is."""
    replica = copy.deepcopy(prepared.model)
    for step in run.checkpoint_steps():
        tensors, _ = run.load_checkpoint(step)
        replica.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
        yield step, ProbeContext.of_task(replica, prepared.task, prepared.loss)


def _status(scalars: dict[str, float]) -> str:
    shown = [f"{name} {scalars[name]:.3f}" for name in (TEST_ACCURACY.name, TEST_LOSS.name) if name in scalars]
    return "  ".join(shown)

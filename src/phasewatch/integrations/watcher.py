"""`Watcher`: phasewatch inside any PyTorch training loop, in two lines.

    watcher = pw.Watcher(model, probe_inputs, store="runs", name="my-gpt", total_steps=10_000)
    for step, batch in enumerate(loader, start=1):
        loss = train_step(model, batch)          # forward, backward, optimizer.step()
        watcher.step(step, loss=loss)            # scalars every step; probes on the schedule
    watcher.close()                              # detection, events.json, report.html

`step` is a label: probes see the model as it is when `step()` is called. Counting optimizer
updates (as above: the parameters after `step` updates) makes a probe at step S comparable with a
checkpoint saved after S updates, which is what `phasewatch analyze` reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from phasewatch.analysis.forecast import Forecaster
from phasewatch.errors import UserError
from phasewatch.integrations.probe_data import as_probe_data
from phasewatch.integrations.probing import metric_name, probe_setup
from phasewatch.record import Recorder, check_step, probe_schedule
from phasewatch.record.forecast import FORECASTER, LiveForecast, load_forecaster
from phasewatch.store import Run, store_root


class Watcher:
    """Records a training run of any `nn.Module` into the store, probes it on a schedule, and on
    `close()` detects its transitions and writes its report: a `Recorder` plus hooks on a model
    it does not own.

    model: the module to watch (probes call `model(inputs)` on the probe set).
    probe_inputs: a tensor of inputs (token ids (N, T), or any (N, ...) the model takes), a
        `ProbeData`, or a JSONL path (format in `phasewatch.integrations.probe_data`);
        `labels` (N,) and `attributes` (N, k) go with a tensor.
    total_steps / schedule: when to probe (`record.probe_schedule`).
    probes: names from the one probe registry (`phasewatch.probes.PROBES`); default: every probe
        whose needs this model and probe data meet (the others are listed in the run's log).
    sites: module names to watch (default: the blocks of a known architecture, `models.hooks.find_sites`).
    watch: more curves for detection to read, beyond the probes' watched metrics: names or fnmatch
        patterns of what you record (a bare `repeat_loss` means `train/repeat_loss`).
    batch_size: probe items per forward pass.
    probe_options: probe name → its settings, e.g. {"llc": phasewatch.probes.llc.LLCConfig(every=1)}.
    forecast: a fitted forecaster (`phasewatch forecast fit`'s JSON file, or the object) that
        forecasts its target at every probe (record/forecast.py); its horizon is `total_steps`.
    Probing never changes training: no autograd, eval mode, train/eval flags and RNG states
    restored, hooks attached only while probing.
    """

    def __init__(
        self,
        model: nn.Module,
        probe_inputs,
        *,
        store: str | None = None,
        name: str | None = None,
        total_steps: int | None = None,
        schedule: Iterable[int] | None = None,
        probes: list[str] | None = None,
        sites: list[str] | None = None,
        watch: list[str] | None = None,
        labels: torch.Tensor | None = None,
        attributes: torch.Tensor | None = None,
        batch_size: int = 64,
        seed: int = 0,
        overwrite: bool = False,
        flush_seconds: float = 5.0,
        probe_options: dict[str, Any] | None = None,
        forecast: str | Path | dict | Forecaster | None = None,
    ):
        if not isinstance(model, nn.Module):
            raise UserError(f"model: a {type(model).__name__} is not allowed (a torch.nn.Module)")
        self.model = model
        setup = probe_setup(
            model, as_probe_data(probe_inputs, labels, attributes), sites=sites, probes=probes, batch_size=batch_size, watch=watch
        )
        steps, schedule_info = probe_schedule(total_steps, schedule)
        forecaster = load_forecaster(forecast) if forecast is not None else None
        config = {
            "description": f"{type(model).__name__} trained in the user's loop, watched by phasewatch.Watcher",
            "model": {"class": type(model).__qualname__, "parameters": sum(p.numel() for p in model.parameters())},
            **setup.describe(),
        }
        config["probes"]["schedule"] = schedule_info
        run_id = name or f"watch-{time.strftime('%Y%m%d-%H%M%S')}"
        run = Run.create(store_root(store), run_id, experiment="watch", config=config, seed=seed, overwrite=overwrite)
        listeners = []
        if forecaster is not None:
            run.save_analysis(FORECASTER, forecaster.to_dict())
            listeners.append(LiveForecast(forecaster, run, end=total_steps))
        for line in setup.skipped:
            run.log(line)
        self.probes = setup.probes
        self.recorder = Recorder(
            run,
            setup.context,
            setup.probes,
            steps,
            detection=setup.detection,
            flush_seconds=flush_seconds,
            options=probe_options,
            listeners=listeners,
        )
        self._last_step: int | None = None

    @property
    def run(self) -> Run:
        return self.recorder.run

    @property
    def closed(self) -> bool:
        return self.recorder.closed

    @property
    def last_step(self) -> int | None:
        """The latest step given to `step()` (None before the first)."""
        return self._last_step

    @property
    def probe_seconds(self) -> float:
        return self.recorder.probe_seconds

    def step(self, step: int, loss: float | torch.Tensor | None = None, **scalars: float | torch.Tensor) -> None:
        """Record `loss` and `scalars` at `step` (see `record`), then probe if `step` is on the
        schedule and not probed yet. Steps must not decrease; a repeated step only records."""
        step = check_step(step)
        if self._last_step is not None and step < self._last_step:
            raise UserError(f"step: {step} is not allowed (steps must not decrease; the last was {self._last_step})")
        self.record(step, loss=loss, **scalars)
        self._last_step = step
        if self.recorder.due(step):
            self.probe(step)

    def record(self, step: int, **scalars: float | torch.Tensor | None) -> None:
        """Record scalars at `step` without probing: `name` is stored as `train/name`, a name with
        a '/' as given; None is skipped. One-element tensors stay on their device until the next
        probe or flush interval, so recording never forces a host sync of its own."""
        step = check_step(step)
        self.recorder.record(step, {metric_name(key): value for key, value in scalars.items() if value is not None})

    def probe(self, step: int) -> None:
        """Run the probes now and record them at `step` (the schedule calls this for you)."""
        self.recorder.probe(check_step(step))

    def close(self) -> Run:
        """Probe the last step if the schedule skipped it (so every curve ends where training
        ended), write everything, detect events and write the report, and print its path.
        Returns the finished run."""
        if self.closed:
            return self.run
        if self._last_step is not None and self.recorder.last_probed != self._last_step:
            self.probe(self._last_step)
        self.recorder.finish(probe_seconds=round(self.recorder.probe_seconds, 3))
        print(f"phasewatch: report {self.run.path / 'report.html'}")
        return self.run

    def fail(self, error: BaseException) -> None:
        """Keep what was recorded and mark the run failed (training raised `error`)."""
        if not self.closed:
            self.recorder.fail(error)

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self.close()
        else:
            self.fail(error)

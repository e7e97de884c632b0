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

import itertools
import math
import numbers
import operator
import time
from collections.abc import Container, Iterable

import torch
from torch import nn

from phasewatch.errors import UserError
from phasewatch.integrations.probe_data import as_probe_data
from phasewatch.integrations.probes import check_batch_size, check_fits, choose_probes, probe_model
from phasewatch.integrations.recording import EVENTS, finish_run, record_result
from phasewatch.integrations.sites import find_sites
from phasewatch.store import Run, store_root
from phasewatch.train.schedule import probe_steps

LOG_POINTS = 30  # log-spaced probe steps over a run of known length ...
LINEAR_POINTS = 30  # ... plus this many evenly spaced ones (train/schedule.py `probe_steps`)
OPEN_ENDED_EVERY = 1000  # a run of unknown length: ten log-spaced steps a decade, and every 1,000th
DRAIN_EVERY = 512  # pending scalars go to the host (one sync) after this many rows ...
# ... or after the writer's flush interval, whichever comes first


class _OpenEnded:
    """Probe steps when the run's length is unknown: 0, ten log-spaced steps per decade, and every
    `OPEN_ENDED_EVERY`-th step."""

    log_grid = frozenset({0} | {round(10 ** (k / 10)) for k in range(121)})

    def __contains__(self, step: int) -> bool:
        return step in self.log_grid or step % OPEN_ENDED_EVERY == 0


def probe_schedule(total_steps: int | None = None, schedule: Iterable[int] | None = None) -> tuple[Container[int], dict]:
    """(the steps to probe at, a description for run.json). `schedule`: the steps themselves;
    else log-spaced + linear over `total_steps` (train/schedule.py); else open-ended."""
    if schedule is not None:
        steps = frozenset(_check_step(s, "schedule") for s in schedule)
        return steps, {"steps": sorted(steps)}
    if total_steps is not None:
        total = _check_step(total_steps, "total_steps")
        every = max(1, total // LINEAR_POINTS)
        return frozenset(probe_steps(total, every, LOG_POINTS)), {"total_steps": total, "every": every, "log_points": LOG_POINTS}
    return _OpenEnded(), {"open_ended": True, "every": OPEN_ENDED_EVERY, "log_points_per_decade": 10}


def _check_step(step, field: str = "step") -> int:
    try:
        n = operator.index(step)  # ints, numpy ints, 0-d integer tensors; not floats
    except TypeError:
        n = -1
    if n < 0:
        raise UserError(f"{field}: {step!r} is not allowed (an integer >= 0)")
    return n


class Watcher:
    """Records a training run of any `nn.Module` into the store, probes it on a schedule, and on
    `close()` detects its transitions and writes its report.

    model: the module to watch (probes call `model(inputs)` on the probe set).
    probe_inputs: a tensor of inputs (token ids (N, T), or any (N, ...) the model takes), a
        `ProbeData`, or a JSONL path (format in `phasewatch.integrations.probe_data`);
        `labels` (N,) and `attributes` (N, k) go with a tensor.
    total_steps / schedule: when to probe (see `probe_schedule`).
    probes: any of `phasewatch.integrations.probes.PROBES` (default: every one the data allows).
    sites: module names to watch (default: the blocks of a known architecture, `sites.find_sites`).
    batch_size: probe items per forward pass. Probing never changes training: no autograd, eval
    mode, train/eval flags and RNG states restored, hooks attached only while probing.
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
        labels: torch.Tensor | None = None,
        attributes: torch.Tensor | None = None,
        batch_size: int = 64,
        seed: int = 0,
        overwrite: bool = False,
        flush_seconds: float = 5.0,
    ):
        if not isinstance(model, nn.Module):
            raise UserError(f"model: a {type(model).__name__} is not allowed (a torch.nn.Module)")
        self.model = model
        self.data = as_probe_data(probe_inputs, labels, attributes)
        self.sites = find_sites(model, sites)
        self.probes = choose_probes(probes, self.data)
        self.batch_size = check_batch_size(batch_size)
        check_fits(model, self.data, self.sites, self.batch_size)
        self._schedule, schedule_info = probe_schedule(total_steps, schedule)
        config = {
            "description": f"{type(model).__name__} trained in the user's loop, watched by phasewatch.Watcher",
            "model": {"class": type(model).__qualname__, "parameters": sum(p.numel() for p in model.parameters())},
            "probes": {"names": self.probes, "sites": self.sites, "batch_size": self.batch_size, "schedule": schedule_info},
            "probe_data": self.data.describe(),
            "events": EVENTS,
        }
        run_id = name or f"watch-{time.strftime('%Y%m%d-%H%M%S')}"
        self.run = Run.create(store_root(store), run_id, experiment="watch", config=config, seed=seed, overwrite=overwrite)
        self._writer = self.run.writer(flush_seconds)
        self._pending: list[tuple[int, str, float | torch.Tensor]] = []
        self._last_drain = time.monotonic()
        self._last_step: int | None = None
        self._last_probed: int | None = None
        self._closed = False
        self.probe_seconds = 0.0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_step(self) -> int | None:
        """The latest step given to `step()` (None before the first)."""
        return self._last_step

    def step(self, step: int, loss: float | torch.Tensor | None = None, **scalars: float | torch.Tensor) -> None:
        """Record `loss` and `scalars` at `step` (see `record`), then probe if `step` is on the
        schedule and not probed yet. Steps must not decrease; a repeated step only records."""
        step = _check_step(step)
        if self._last_step is not None and step < self._last_step:
            raise UserError(f"step: {step} is not allowed (steps must not decrease; the last was {self._last_step})")
        self.record(step, loss=loss, **scalars)
        self._last_step = step
        if step in self._schedule and step != self._last_probed:
            self.probe(step)

    def record(self, step: int, **scalars: float | torch.Tensor | None) -> None:
        """Record scalars at `step` without probing: `name` is stored as `train/name`, a name with
        a '/' as given; None is skipped. One-element tensors stay on their device until the next
        probe or flush interval, so recording never forces a host sync of its own."""
        step = _check_step(step)
        if self._closed:
            raise UserError(f"watcher of run '{self.run.id}' is closed (nothing more can be recorded)")
        for key, value in scalars.items():
            if value is None:
                continue
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    raise UserError(f"{key}: a tensor of shape {tuple(value.shape)} is not allowed (one number)")
                value = value.detach()  # never keep the autograd graph alive
            elif not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise UserError(f"{key}: {value!r} is not allowed (a number or a one-element tensor)")
            self._pending.append((step, key if "/" in key else f"train/{key}", value))
        if len(self._pending) >= DRAIN_EVERY or time.monotonic() - self._last_drain >= self._writer.flush_seconds:
            self._drain()

    def probe(self, step: int) -> None:
        """Run the probes now and record them at `step` (the schedule calls this for you)."""
        if self._closed:
            raise UserError(f"watcher of run '{self.run.id}' is closed")
        began = time.perf_counter()
        result = probe_model(self.model, self.data, self.sites, self.probes, self.batch_size)
        self._drain()
        record_result(self.run, self._writer, _check_step(step), result)
        self._last_probed = step
        self.probe_seconds += time.perf_counter() - began

    def close(self) -> Run:
        """Probe the last step if the schedule skipped it (so every curve ends where training
        ended), write everything, detect events and write the report. Returns the finished run."""
        if self._closed:
            return self.run
        if self._last_step is not None and self._last_probed != self._last_step:
            self.probe(self._last_step)
        self._drain()
        self._writer.close()
        self._closed = True
        finish_run(self.run, probe_seconds=round(self.probe_seconds, 3))
        return self.run

    def fail(self, error: BaseException) -> None:
        """Keep what was recorded and mark the run failed (training raised `error`)."""
        if self._closed:
            return
        self._drain()
        self._writer.close()
        self._closed = True
        self.run.set_status("failed", error=f"{type(error).__name__}: {error}")

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self.close()
        else:
            self.fail(error)

    def _drain(self) -> None:
        """Pending scalars into the metrics writer: every tensor value in one host transfer per device."""
        self._last_drain = time.monotonic()
        if not self._pending:
            return
        host = iter(_to_host([v for _, _, v in self._pending if isinstance(v, torch.Tensor)]))
        for step, rows in itertools.groupby(self._pending, key=operator.itemgetter(0)):
            values = {name: next(host) if isinstance(v, torch.Tensor) else float(v) for _, name, v in rows}
            self._writer.log(step, values)
        self._pending.clear()


def _to_host(tensors: list[torch.Tensor]) -> list[float]:
    """The values of one-element tensors as floats, with one stack and transfer per device."""
    values = [math.nan] * len(tensors)
    by_device: dict[torch.device, list[int]] = {}
    for index, tensor in enumerate(tensors):
        by_device.setdefault(tensor.device, []).append(index)
    for indices in by_device.values():
        stacked = torch.stack([tensors[i].reshape(()).to(torch.float64) for i in indices]).tolist()
        for i, value in zip(indices, stacked):
            values[i] = value
    return values

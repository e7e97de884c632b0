"""The `Recorder`: one run's recording, whoever drives it.

A built-in experiment (`train/loop.py`), a user's loop (`integrations.Watcher`), a checkpoint
series (`integrations.analyze`) and, later, each member of a vectorised ensemble all record
through a Recorder:

    recorder = Recorder(run, context, probes, schedule, listeners=[...])
    for step ...:
        recorder.record(step, {"train/loss": loss})   # device tensors stay on the device
        if recorder.due(step):
            recorder.probe(step)                       # probes, arrays, listeners
    recorder.finish(train_seconds=...)                 # detection, analysis files, status, report

It owns the run, its metrics writer, the on-device scalar buffer (no host sync in the hot loop:
one-element tensors are transferred together at the next probe, checkpoint, or after
`DRAIN_EVERY` rows / the writer's flush interval), the probe schedule (with adaptive probing,
`record/adaptive.py`, when given), the listeners, the replay of the probes that read the
finished model over earlier states (`replay`), and the run's end. Nothing in it knows how the model is trained, so one loop can drive N Recorders
(each `record` takes a tensor, e.g. `losses[i]` of an ensemble's stacked losses, without a sync).
"""

from __future__ import annotations

import itertools
import math
import numbers
import operator
import time
from collections.abc import Container, Iterable, Sequence
from typing import Any, Protocol

import torch

from phasewatch.config import EventConfig
from phasewatch.errors import UserError
from phasewatch.probes import PROBES, ProbeContext, ProbeResult, run_probes
from phasewatch.record.adaptive import AdaptiveProbing
from phasewatch.record.detection import find_events
from phasewatch.record.schedule import check_step, schedule_rank
from phasewatch.report import write_report
from phasewatch.store import Run

DRAIN_EVERY = 512  # pending scalars go to the host (one sync) after this many rows ...
# ... or after the writer's flush interval, whichever comes first


class Listener(Protocol):
    """Acts on probe values as they arrive (keep-peak, a curriculum, a live forecast). Built with
    only its own config section; a resumed run's listener replays the stored values before the
    resume step when it is built, so it decides exactly as the uninterrupted run did."""

    def observe(self, step: int, scalars: dict[str, float], recorder: Recorder) -> bool:
        """Feed one probe step's scalars; True asks the driver to stop training here."""
        ...


class Recorder:
    def __init__(
        self,
        run: Run,
        context: ProbeContext,
        probes: Sequence[str],
        schedule: Container[int],
        *,
        detection: EventConfig,
        listeners: Sequence[Listener] = (),
        flush_seconds: float = 5.0,
        adaptive: AdaptiveProbing | None = None,
        options: dict[str, Any] | None = None,
    ):
        self.run, self.context, self.probes, self.schedule = run, context, list(probes), schedule
        self.detection, self.listeners, self.adaptive = detection, list(listeners), adaptive
        self.options = dict(options or {})  # probe name → its settings, handed to every context probed
        run.lock()  # one writer per run; released by `finish` or `fail`
        self.writer = run.writer(flush_seconds)
        self.probe_seconds = 0.0
        self.last_probed: int | None = None
        self.stop = False  # a listener asked to stop
        self.closed = False
        self._pending: list[tuple[int, str, float | torch.Tensor]] = []
        self.latest: dict[str, float] = {}  # each metric's last recorded value: listeners see it beside the probes'.
        self._last_drain = time.monotonic()

    # ---- scalars ---------------------------------------------------------------------------------

    def record(self, step: int, scalars: dict[str, float | torch.Tensor]) -> None:
        """Record `scalars` (name → a number or a one-element tensor) at `step`. Tensors stay on
        their device until the next drain, so recording forces no host sync of its own."""
        if self.closed:
            raise UserError(f"run '{self.run.id}' is closed (nothing more can be recorded)")
        for name, value in scalars.items():
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    raise UserError(f"{name}: a tensor of shape {tuple(value.shape)} is not allowed (one number)")
                value = value.detach()  # never keep the autograd graph alive
            elif not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise UserError(f"{name}: {value!r} is not allowed (a number or a one-element tensor)")
            self._pending.append((step, name, value))
        if len(self._pending) >= DRAIN_EVERY or time.monotonic() - self._last_drain >= self.writer.flush_seconds:
            self.drain()

    def drain(self) -> None:
        """Pending scalars into the metrics writer: every tensor value in one host transfer per device."""
        self._last_drain = time.monotonic()
        if not self._pending:
            return
        host = iter(_to_host([v for _, _, v in self._pending if isinstance(v, torch.Tensor)]))
        for step, rows in itertools.groupby(self._pending, key=operator.itemgetter(0)):
            values = {name: next(host) if isinstance(v, torch.Tensor) else float(v) for _, name, v in rows}
            self.writer.log(step, values)
            self.latest.update(values)
        self._pending.clear()

    def log(self, step: int, values: dict[str, float]) -> None:
        """Host values straight into the writer (listeners' decisions)."""
        self.writer.log(step, values)

    # ---- probes ----------------------------------------------------------------------------------

    def due(self, step: int) -> bool:
        """Whether the schedule (or adaptive probing) probes `step` and it has not been probed yet."""
        wanted = step in self.schedule or (self.adaptive is not None and self.adaptive.wants(step))
        return wanted and step != self.last_probed

    def probe(self, step: int, context: ProbeContext | None = None) -> ProbeResult:
        """Run the probes now (on `context` if given, e.g. a freshly loaded checkpoint), record
        them at `step`, and feed the listeners."""
        if self.closed:
            raise UserError(f"run '{self.run.id}' is closed")
        began = time.perf_counter()
        self.context = context or self.context
        self.context.rank, self.context.options = schedule_rank(self.schedule, step), self.options
        self.drain()
        result = run_probes(self.probes, self.context)
        self.record_probe(step, result)
        elapsed = time.perf_counter() - began
        self.probe_seconds += elapsed
        if self.adaptive is not None:
            scheduled = step in self.schedule
            self.adaptive.observe(step, result.scalars, scheduled)
            self.adaptive.seconds += 0.0 if scheduled else elapsed
        return result

    def record_probe(self, step: int, result: ProbeResult) -> None:
        """Record a probe result computed elsewhere (e.g. by a Ray worker that loaded one
        checkpoint, `integrations/analyze_ray.py`) at `step`, as `probe` records its own: the
        scalars, the arrays (CPU tensors), the listeners (who see the probes' scalars over the
        last recorded value of every other metric, e.g. this step's training loss). Steps may
        come in any order."""
        if self.closed:
            raise UserError(f"run '{self.run.id}' is closed")
        self.drain()
        self.writer.log(check_step(step), result.scalars)
        for name, tensors in result.arrays.items():
            self.run.save_array(name, step, tensors)
        seen = {**self.latest, **result.scalars}
        for listener in self.listeners:
            self.stop = listener.observe(step, seen, self) or self.stop
        self.last_probed = step

    def replay(self, states: Iterable[tuple[int, ProbeContext]]) -> int:
        """Run the `at_end` probes (those that read the finished model, e.g. Nanda et al.'s
        restricted loss with the final key frequencies) over earlier model states, `states`
        yielding (step, context) in step order, with the current context as the final model.
        Rows of these metrics from an earlier, interrupted finish are dropped first: every state
        is probed again. Returns the number of states probed."""
        names = [name for name in self.probes if PROBES[name].at_end]
        if not names:
            return 0
        self.drain()
        stale = [r for r in self.run.metric_names() if any(m.matches(r) for n in names for m in PROBES[n].metrics)]
        if stale:
            self.writer.drop_metrics(stale)
        began, count = time.perf_counter(), 0
        for step, context in states:
            context.final = self.context
            self.writer.log(check_step(step), run_probes(names, context).scalars)
            count += 1
        self.probe_seconds += time.perf_counter() - began
        return count

    # ---- durability ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Everything recorded so far onto disk."""
        self.drain()
        self.writer.flush()

    def checkpoint(self, step: int, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        """Flush, then save a checkpoint: a resumed run never misses rows before its checkpoint."""
        self.flush()
        self.run.save_checkpoint(step, tensors, meta)

    # ---- the end ---------------------------------------------------------------------------------

    def close(self) -> None:
        if not self.closed:
            self.drain()
            self.writer.close()
            self.closed = True

    def finish(self, **fields) -> list[dict]:
        """Close, detect and name the transitions (events.json and analysis files), mark the run
        finished with `fields` in run.json, and write its report. Returns the events."""
        self.close()
        events = find_events(self.run, self.detection)
        if self.adaptive is not None:
            fields["adaptive"] = {**self.adaptive.report(), "seconds": round(self.adaptive.seconds, 3)}
        # The report first: a kill before the status leaves a "running" run that resumes and
        # finishes, never a "finished" run without its report.
        fields["detection"] = self.detection.model_dump(mode="json")  # `phasewatch report` can detect again
        self.run.set_status("finished", save=False, **fields)
        write_report(self.run)
        self.run.save_info()
        self.run.unlock()
        return events

    def fail(self, error: BaseException) -> None:
        """Keep what was recorded and mark the run failed (resumable where its driver supports it)."""
        self.close()
        self.run.set_status("failed", error=f"{type(error).__name__}: {error}")
        self.run.unlock()


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

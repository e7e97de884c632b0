"""A live forecast: a forecaster fitted on a sweep (analysis/forecast.py), attached to a new run
as a listener (record.Listener). At each probe step it forecasts the target from the values seen
so far and records `FORECAST.at(target, field)` for step, low, high (while finite) and probability.

The fitted forecaster is kept with the run (analysis/forecaster.json), so `--resume` rebuilds the
listener, which replays the stored values before the resume step and forecasts exactly as the
uninterrupted run did. Attach one with `phasewatch run EXP --forecast FITTED.json`,
`pw.run(..., forecast=...)` or `Watcher(..., forecast=...)`.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from phasewatch.analysis.forecast import Forecaster, History, probe_grid
from phasewatch.analysis.precursors import from_dict
from phasewatch.errors import UserError
from phasewatch.probes.training import FORECAST, FORECAST_FIELDS
from phasewatch.report.common import curves
from phasewatch.store import Run

FORECASTER = "forecaster"  # analysis file: the fitted forecaster a live run forecasts with


def load_forecaster(source: str | Path | dict | Forecaster) -> Forecaster:
    """A fitted forecaster from itself, its `to_dict()`, or a JSON file written by
    `phasewatch forecast fit`; UserError naming the file otherwise."""
    if isinstance(source, Forecaster):
        return source
    if isinstance(source, dict):
        return from_dict(source)
    try:
        return from_dict(json.loads(Path(source).read_text()))
    except FileNotFoundError:
        raise UserError(f"--forecast: file {str(source)!r} does not exist") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise UserError(f"--forecast: {str(source)!r} is not a fitted forecaster ({type(error).__name__}: {error})") from None


class LiveForecast:
    """The listener. `end`: the run's planned last step (the horizon of its probability)."""

    def __init__(self, forecaster: Forecaster, run: Run, start: int = 0, end: int | None = None):
        self.forecaster, self.run, self.end = forecaster, run, end or forecaster.end
        self.seen: dict[str, tuple[list[int], list[float]]] = {}
        self.checked = False  # whether the run was checked for the metrics the forecaster needs
        stored = {
            name: (steps[steps < start], values[steps < start])  # one read of the store, not one per metric
            for name, (steps, values) in curves(run).items()
            if not FORECAST.matches(name) and steps[0] < start
        }
        self.grid: list[int] = probe_grid(stored).tolist() if stored else []
        for name, (steps, values) in stored.items():  # a resumed run replays what it had seen, on the probe grid
            at_probes = np.isin(steps, self.grid)
            self.seen[name] = (steps[at_probes].tolist(), values[at_probes].tolist())

    def _feed(self, step: int, scalars: dict[str, float]) -> None:
        for name, value in scalars.items():
            if FORECAST.matches(name) or not math.isfinite(value):
                continue
            steps, values = self.seen.setdefault(name, ([], []))
            if not steps or step > steps[-1]:
                steps.append(step)
                values.append(value)

    def history(self) -> History:
        curves = {name: (np.asarray(s, np.int64), np.asarray(v, float)) for name, (s, v) in self.seen.items()}
        return History(self.run.id, curves, np.asarray(self.grid, np.int64), self.end, self.run.config)

    def observe(self, step: int, scalars: dict[str, float], recorder: Any) -> bool:
        self._feed(step, scalars)
        if not self.grid or step > self.grid[-1]:
            self.grid.append(step)
        if step > 0 and not self.checked:
            self.checked = True
            if missing := [m for m in self.forecaster.needs() if m not in self.seen]:
                warnings.warn(
                    f"forecast: this run records no {', '.join(missing)}, which the {self.forecaster.name} forecaster "
                    f"reads: it will forecast nothing (add the probes the sweep it was fitted on had)",
                    stacklevel=2,
                )
        made = self.forecaster.forecast(self.history(), step) if step > 0 else None
        if made is not None:
            target = self.forecaster.target.name
            values = {FORECAST.at(target, field): getattr(made, field) for field in FORECAST_FIELDS}
            recorder.log(step, {name: value for name, value in values.items() if math.isfinite(value)})
        return False

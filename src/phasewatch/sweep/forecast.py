"""A sweep's finished runs as forecasting histories (analysis/forecast.py `History`): the curves
on each run's probe grid, its planned end, config and the step its target happened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phasewatch.analysis.forecast import History, Target, probe_grid
from phasewatch.errors import UserError
from phasewatch.probes.training import FORECAST
from phasewatch.report.common import curves
from phasewatch.store import Run, store_root
from phasewatch.store.sweeps import read_record


def history_of(run: Run, target: Target) -> History:
    """A finished run as a History: its target's step from its events (or its curve, for a crossing)."""
    data = {name: c for name, c in curves(run).items() if not FORECAST.matches(name)}
    truth, metric = target.reached(data, run.events) or (None, None)
    end = int(run.config.get("train", {}).get("steps") or max(int(s[-1]) for s, _ in data.values()))
    return History(run.id, data, probe_grid(data), end, run.config, truth, metric)


def sweep_histories(store: str | Path | None, name: str, target: Target) -> tuple[list[History], dict[str, dict[str, Any]]]:
    """Every finished member of sweep `name` as a History, and each one's axis values."""
    root = store_root(store)
    histories, axes = [], {}
    for member in read_record(root, name)["members"]:
        if not (root / member["run"] / "run.json").is_file():
            continue
        run = Run.open(root, member["run"])
        if run.status == "finished":
            histories.append(history_of(run, target))
            axes[run.id] = {k: v for k, v in member.items() if k != "run"}
    if len(histories) < 6:
        raise UserError(f"sweep {name!r}: {len(histories)} finished runs is not enough to backtest (at least 6)")
    return histories, axes

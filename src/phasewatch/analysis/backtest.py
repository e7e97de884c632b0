"""Backtesting forecasters on runs they never saw (analysis/forecast.py).

The runs are split in two ways (`split`): by seed (a third of the seeds held out, every run of
theirs) and by configuration (a third of the configurations — the axis values other than the
seed — held out, all their seeds with them), the thirds drawn with the backtest's `seed`. Each forecaster is fitted on the training part and asked, for
every held-out run, at `FRACTIONS` of the way to its target (the last probe step at or before
f·T), or at the same fractions of the run for runs that never reach it. Scored per forecaster:

- lead: per run with the target, the earliest forecast from which every later one is within
  ±20 % of the true step, as steps and as a share of T before it (0 when none is); the median
  over runs;
- the error of the predicted step, |log T̂ − log T|, per fraction;
- interval coverage (nominal 90 %) over the forecasts of runs with the target;
- hits (probability ≥ 0.5 on runs with the target) and false alarms (on runs without it), the
  Brier score and a calibration table of the probability against what happened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from phasewatch.analysis.forecast import Forecast, Forecaster, History, Target
from phasewatch.analysis.precursors import FORECASTERS, Precursors, family, without

FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9)
WITHIN = 0.2  # a predicted step within ±20 % of the truth is "right"
ALARM = 0.5  # probability at which a forecast says the target will happen
SPLITS = ("seed", "config")


def group_of(axes: dict[str, Any], by: str) -> Any:
    """What a split holds out whole: the run's seed, or its configuration (every axis but the seed)."""
    if by == "seed":
        return _sortable(axes.get("seed", 0))
    return tuple(sorted((k, _sortable(v)) for k, v in axes.items() if k != "seed"))


def split(
    histories: Sequence[History], axes: dict[str, dict[str, Any]], by: str, seed: int = 0
) -> tuple[list[History], list[History]]:
    """(train, held out): a third of the seeds (`by="seed"`) or of the configurations — the axis
    values other than the seed — (`by="config"`), drawn with `seed`, held out whole. `axes`: run →
    its sweep axis values."""
    if by not in SPLITS:
        raise ValueError(by)
    key = {h.run: group_of(axes[h.run], by) for h in histories}
    groups = sorted(set(key.values()))
    chosen = np.random.default_rng(seed).permutation(len(groups))[: max(1, len(groups) // 3)]
    held = {groups[i] for i in chosen}
    test = [key[h.run] in held for h in histories]
    return [h for h, t in zip(histories, test) if not t], [h for h, t in zip(histories, test) if t]


def _sortable(value: Any) -> tuple[int, Any]:
    """Numbers in numeric order, then anything else by its text."""
    return (0, value) if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, str(value))


def forecast_time(history: History, fraction: float) -> float | None:
    """The last positive probe step at or before `fraction` of the way to the target (or the end)."""
    horizon = history.truth if history.truth is not None else history.end
    grid = history.grid[(history.grid > 0) & (history.grid <= fraction * horizon)]
    return float(grid[-1]) if len(grid) else None


def forecasts(forecaster: Forecaster, held_out: Sequence[History]) -> list[dict[str, Any]]:
    """One row per held-out run and fraction: the time, the truth and the forecast (None: none)."""
    rows = []
    for h in held_out:
        times = {fraction: forecast_time(h, fraction) for fraction in FRACTIONS}
        asked = [f for f, t in times.items() if t is not None and (h.truth is None or t < h.truth)]
        made = dict(zip(asked, forecaster.forecasts(h, [float(times[f] or 0) for f in asked])))
        for fraction in FRACTIONS:
            rows.append(
                {"run": h.run, "fraction": fraction, "t": times[fraction], "truth": h.truth, **_fields(made.get(fraction))}
            )
    return rows


def _fields(made: Forecast | None) -> dict[str, float | None]:
    if made is None:
        return {"step": None, "low": None, "high": None, "probability": None}
    return {k: (v if math.isfinite(v) else None) for k, v in made.to_dict().items()}


def _right(row: dict) -> bool:
    return row["step"] is not None and abs(row["step"] / row["truth"] - 1) <= WITHIN


def score(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary of one forecaster's rows (see the module docstring)."""
    happened = [r for r in rows if r["truth"] is not None]
    never = [r for r in rows if r["truth"] is None]
    leads, lead_shares = [], []
    for run in sorted({r["run"] for r in happened}):
        mine = sorted((r for r in happened if r["run"] == run and r["t"] is not None), key=lambda r: r["fraction"])
        lead = lead_share = 0.0
        for i, row in enumerate(mine):
            if all(_right(later) for later in mine[i:]):
                lead, lead_share = row["truth"] - row["t"], 1 - row["t"] / row["truth"]
                break
        leads.append(lead)
        lead_shares.append(lead_share)
    made = [r for r in happened if r["step"] is not None]
    covered = [r["low"] is not None and r["low"] <= r["truth"] <= (r["high"] or math.inf) for r in made]
    probabilities = [(r["probability"] or 0.0, r["truth"] is not None) for r in rows if r["t"] is not None]
    error = {str(f): _median([abs(math.log(r["step"] / r["truth"])) for r in made if r["fraction"] == f]) for f in FRACTIONS}
    return {
        "runs_with_target": len({r["run"] for r in happened}),
        "runs_without": len({r["run"] for r in never}),
        "median_lead_steps": _median(leads),
        "median_lead_share": _median(lead_shares),
        "runs_ever_within": int(sum(share > 0 for share in lead_shares)),
        "median_log_error": _median([abs(math.log(r["step"] / r["truth"])) for r in made]),
        "median_log_error_by_fraction": error,
        "forecasts_made": f"{len(made)}/{len(happened)}",
        "coverage": float(np.mean(covered)) if covered else None,
        "hit_rate": _rate([p >= ALARM for p, yes in probabilities if yes]),
        "false_alarm_rate": _rate([p >= ALARM for p, yes in probabilities if not yes]),
        "brier": _rate([(p - yes) ** 2 for p, yes in probabilities]),
        "calibration": calibration(probabilities),
    }


def calibration(probabilities: Sequence[tuple[float, bool]], bins: int = 5) -> list[dict[str, float]]:
    """Per probability bin: the mean forecast probability, the share that happened, the count."""
    out = []
    for low in np.linspace(0, 1, bins, endpoint=False):
        inside = [(p, yes) for p, yes in probabilities if low <= p < low + 1 / bins or (p == 1 and low + 1 / bins >= 1)]
        if inside:
            out.append(
                {
                    "predicted": float(np.mean([p for p, _ in inside])),
                    "observed": float(np.mean([y for _, y in inside])),
                    "n": len(inside),
                }
            )
    return out


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if len(values) else None


def _rate(flags: Sequence[float]) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def backtest(histories: Sequence[History], axes: dict[str, dict[str, Any]], target: Target, seed: int = 0) -> dict[str, Any]:
    """Every forecaster on both splits (held-out parts drawn with `seed`), and the precursor
    ablation (each feature family left out in turn). JSON-ready: per split, per forecaster,
    `score` and its rows."""
    out: dict[str, Any] = {"target": target.text, "seed": seed, "fractions": list(FRACTIONS), "splits": {}}
    for by in SPLITS:
        train, test = split(histories, axes, by, seed)
        if not any(h.truth is not None for h in train) or not test:
            out["splits"][by] = {"skipped": "no training run reaches the target, or nothing held out"}
            continue
        result: dict[str, Any] = {"train_runs": len(train), "held_out_runs": len(test), "forecasters": {}, "ablation": {}}
        groups = [group_of(axes[h.run], by) for h in train]  # calibrated as it is tested: on unseen groups
        fitted = {name: kind().fit(train, target, groups) for name, kind in FORECASTERS.items()}
        for name, forecaster in fitted.items():
            rows = forecasts(forecaster, test)
            result["forecasters"][name] = {**score(rows), "rows": rows}
        precursors = fitted[Precursors.name]
        assert isinstance(precursors, Precursors)
        for dropped in sorted({family(m) for m in precursors.metrics}):
            result["ablation"][dropped] = {
                k: v
                for k, v in score(forecasts(without([dropped])().fit(train, target, groups), test)).items()
                if k != "calibration"
            }
        out["splits"][by] = result
    return out

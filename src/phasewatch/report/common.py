"""What the HTML report and the terminal summary both read from a run, as plain data and strings."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from phasewatch.analysis import relate_events

# `split/name` metrics are behaviour; every other family is a probe (ARCHITECTURE.md, metric names).
BEHAVIOUR_SPLITS = ("train", "test")

Curves = dict[str, tuple[np.ndarray, np.ndarray]]


def curves(run) -> Curves:
    """Every scalar metric as (steps, values) sorted by step, read in one pass over the store."""
    frame = run.metrics()
    out: Curves = {}
    for name, rows in frame.groupby("metric", sort=True):
        rows = rows.sort_values("step", kind="stable")
        out[str(name)] = (rows["step"].to_numpy(np.int64), rows["value"].to_numpy(np.float64))
    return out


def last_step(data: Curves) -> int | None:
    return max((int(steps[-1]) for steps, _ in data.values() if len(steps)), default=None)


def is_behaviour(metric: str) -> bool:
    return metric.split("/", 1)[0] in BEHAVIOUR_SPLITS


def family(metric: str) -> str:
    """`restricted_loss` of `restricted_loss/logits`; the split of a behaviour metric."""
    return metric.split("/", 1)[0]


def quantity(metric: str) -> str:
    """`loss` of `train/loss`: what a behaviour metric measures, whatever the split."""
    return metric.split("/", 1)[-1]


def fmt_number(x: Any) -> str:
    """Compact and exact enough to read: ints with separators, floats to 4 significant digits."""
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x)).lower()
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, (float, np.floating)):
        if math.isnan(x):
            return "nan"
        if x == int(x) and abs(x) < 1e6:
            return f"{int(x):,}"
        return f"{x:.4g}"
    return str(x)


def fmt_config_value(x: Any) -> str:
    """As typed, without rounding: a config value is a setting to reproduce, not a measurement."""
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(fmt_config_value(v) for v in x) + "]"
    return str(x)


def fmt_seconds(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h {m:02d}m {s:02d}s" if hours else f"{m}m {s:02d}s"


def interval(event: dict) -> tuple[int, int]:
    """The event's confidence interval; a detector that gave none is shown as a point."""
    low, high = event.get("step_low"), event.get("step_high")
    return (event["step"] if low is None else low), (event["step"] if high is None else high)


EVENT_COLUMNS = ("kind", "metric", "step", "interval", "before → after", "width")


def event_rows(events: list[dict]) -> list[tuple[str, ...]]:
    """One row of strings per event, in step order, matching `EVENT_COLUMNS`."""
    rows = []
    for e in sorted(events, key=lambda e: e["step"]):
        low, high = interval(e)
        rows.append(
            (
                str(e["kind"]),
                str(e["metric"]),
                fmt_number(e["step"]),
                f"[{fmt_number(low)}, {fmt_number(high)}]",
                f"{fmt_number(e.get('before'))} → {fmt_number(e.get('after'))}",
                fmt_number(e.get("width")),
            )
        )
    return rows


def lead_lag_lines(events: list[dict]) -> list[str]:
    """The analysis' sentences on which event led which, e.g. "restricted loss fell … before …":
    first a hidden measure leading a behaviour change (what it foretold), then any event leading a
    behaviour change, then the rest."""
    def rank(relation: dict) -> tuple[bool, bool]:
        behaviour_follows = is_behaviour(relation["second_metric"])
        hidden_leads = not is_behaviour(relation["first_metric"])
        return not (behaviour_follows and hidden_leads), not behaviour_follows  # False sorts first

    relations = sorted(relate_events(events), key=rank)
    return [str(r["text"]) for r in relations]


def run_facts(run, steps: int | None) -> list[tuple[str, str]]:
    """(label, value) pairs for the header: what run this is and how it went."""
    info = run.info
    facts = [
        ("run", run.id),
        ("experiment", info.get("experiment")),
        ("status", run.status),
        ("seed", info.get("seed")),
        ("steps", None if steps is None else fmt_number(steps)),
        ("created", info.get("created")),
        ("device", info.get("device")),
        ("train time", wall_time(info)),
    ]
    return [(label, str(value)) for label, value in facts if value is not None]


def wall_time(info: dict) -> str | None:
    seconds = info.get("train_seconds")  # set by the training loop when it finishes
    return None if seconds is None else fmt_seconds(seconds)

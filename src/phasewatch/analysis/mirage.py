"""The metric mirage, judged per event: is a change dated on a discontinuous metric also a change
of the continuous metrics of the same outputs? (Schaeffer, Miranda & Koyejo 2023; docs/science/scale.md)

Rule. An event on a metric declared discontinuous (`Metric.judged_against`: exact match, an argmax
accuracy) **persists** when at least one of its continuous metrics changes sharply with it:
- the detector (`find_transitions`, its default settings: sharp, significant changes only) dates a
  change on it whose 10-90 % span [onset, end] overlaps the event's (its span widened to its
  interval [step_low, step_high]: a change between two samples is dated no finer), or
- at least `SHARE` of the continuous metric's whole movement (its 5-95 % percentile range over the
  run) happens inside the event's widened span — the same sharp change, where the detector cannot date it
  (it needs levels on both sides, so a change that ends with the run goes undated).
Otherwise the continuous metrics move smoothly (or not at all) through it: a **metric artefact**.
An event whose continuous metrics were not recorded gets no verdict.

Sharpness. `breakthroughness` is BIG-bench's (Srivastava et al. 2022), with y ordered by scale
or step: I(y) = sign(argmax y − argmin y)·(max y − min y), B = I(y) / √(median_i (y_{i+1} − y_i)²).
A curve that moves in one jump has a median step near 0 and a large |B|; a steady curve a small one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from phasewatch.analysis.changepoints import clean_curve, find_transitions

PERSISTS, ARTEFACT = "persists", "metric artefact"
# Half a continuous metric's movement inside the event's 10-90 % span counts as moving with it; a
# metric rising steadily in log-step over 3 decades moves 10 % in a 0.3-decade span.
SHARE = 0.5


def breakthroughness(values: Sequence[float] | np.ndarray) -> float:
    """BIG-bench's breakthroughness of y in its given order (module docstring); NaN for fewer than
    three finite values, ±inf when the median squared step is 0 but y moves."""
    y = np.asarray(values, dtype=np.float64)
    y = y[np.isfinite(y)]
    if len(y) < 3:
        return math.nan
    spread = float(y.max() - y.min())
    sign = float(np.sign(int(np.argmax(y)) - int(np.argmin(y))))
    typical = math.sqrt(float(np.median(np.diff(y) ** 2)))
    if typical == 0:
        return 0.0 if spread == 0 else sign * math.inf
    return sign * spread / typical


def judge_events(
    events: list[dict], curves: Mapping[str, tuple[np.ndarray, np.ndarray]], against: Mapping[str, Sequence[str]]
) -> None:
    """Add `verdict` (PERSISTS or ARTEFACT), `judged_against` (the continuous metrics present) and
    `persists_on` (those with an overlapping change) to every event whose metric is a key of
    `against` (metric → its continuous metrics); `curves` holds the continuous metrics' curves."""
    spans: dict[str, list[tuple[float, float]]] = {}
    cleaned: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for metric in {m for ms in against.values() for m in ms if m in curves}:
        cleaned[metric] = clean_curve(*curves[metric])
        spans[metric] = [(t.onset, t.end) for t in find_transitions(*cleaned[metric])]
    for event in events:
        continuous = [m for m in against.get(event["metric"], ()) if m in spans]
        if not continuous or event.get("onset") is None:
            continue
        # where the change lies: its 10-90 % span, widened to its interval (a change between two
        # samples is dated no finer than them)
        first = min(event["onset"], event.get("step_low", event["onset"]))
        last = max(event["end"], event.get("step_high", event["end"]))
        persists_on = [
            metric
            for metric in continuous
            if any(onset <= last and first <= end for onset, end in spans[metric])
            or _share_inside(*cleaned[metric], first, last) >= SHARE
        ]
        event["verdict"] = PERSISTS if persists_on else ARTEFACT
        event["judged_against"] = continuous
        event["persists_on"] = persists_on


def _share_inside(steps: np.ndarray, values: np.ndarray, onset: float, end: float) -> float:
    """|y(end) − y(onset)| (linear interpolation) over the curve's 5-95 % percentile range."""
    if len(values) < 2:
        return 0.0
    low, high = np.percentile(values, [5, 95])
    moved = abs(float(np.interp(end, steps, values)) - float(np.interp(onset, steps, values)))
    return moved / float(high - low) if high > low else 0.0


def sharpness(curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float | str]:
    """Each curve's breakthroughness over its steps (values in step order), for JSON: a
    non-finite value as its string ("inf", "-inf", "nan")."""
    found: dict[str, float | str] = {}
    for metric, (steps, values) in sorted(curves.items()):
        order = np.argsort(np.asarray(steps), kind="stable")
        value = breakthroughness(np.asarray(values, dtype=np.float64)[order])
        found[metric] = value if math.isfinite(value) else str(value)
    return found

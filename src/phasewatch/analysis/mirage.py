"""The metric mirage, judged per event: is a change dated on a discontinuous metric also a change
of the continuous metrics of the same outputs? (Schaeffer, Miranda & Koyejo 2023; docs/science/scale.md)

Rule. An event on a metric declared discontinuous (`Metric.judged_against`: exact match, an argmax
accuracy) **persists** when the detector (`find_transitions`, its default settings: sharp,
significant changes only) dates a change on at least one of its continuous metrics whose 10-90 %
span [onset, end] overlaps the event's; otherwise the continuous metrics move smoothly (or not at
all) through it and it is a **metric artefact**. The same detector on both sides, so "sharp" means
one thing. An event whose continuous metrics were not recorded gets no verdict.

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
    for metric in {m for ms in against.values() for m in ms if m in curves}:
        spans[metric] = [(t.onset, t.end) for t in find_transitions(*clean_curve(*curves[metric]))]
    for event in events:
        continuous = [m for m in against.get(event["metric"], ()) if m in spans]
        if not continuous or event.get("onset") is None:
            continue
        persists_on = [
            metric
            for metric in continuous
            if any(onset <= event["end"] and event["onset"] <= end for onset, end in spans[metric])
        ]
        event["verdict"] = PERSISTS if persists_on else ARTEFACT
        event["judged_against"] = continuous
        event["persists_on"] = persists_on


def sharpness(curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float | str]:
    """Each curve's breakthroughness over its steps (values in step order), for JSON: a
    non-finite value as its string ("inf", "-inf", "nan")."""
    found: dict[str, float | str] = {}
    for metric, (steps, values) in sorted(curves.items()):
        order = np.argsort(np.asarray(steps), kind="stable")
        value = breakthroughness(np.asarray(values, dtype=np.float64)[order])
        found[metric] = value if math.isfinite(value) else str(value)
    return found

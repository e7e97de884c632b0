"""Name the transitions of a run's curves (events), and say which led which (lead/lag).

An event is a plain, JSON-ready dict:
    {kind, metric, step, step_low, step_high, onset, end, before, after, width, score, grid_limited}
steps are ints (step: midpoint; step_low/high: its 5-95 % interval; onset/end: 10 %/90 % of the
change done; width = end - onset), before/after are the levels either side, score the detector's
BIC margin, grid_limited whether the samples' spacing (not the noise) set the interval.
Everything is read on the log-step axis, as the probe grid is laid out.
"""

from __future__ import annotations

import math
from fnmatch import fnmatch

import numpy as np

from phasewatch.analysis.changepoints import Transition, clean_curve, divergence, find_transitions, finite_sorted, no_verdict
from phasewatch.probes import declarations

SATURATED = 0.99  # train accuracy is saturated from the first step at 99 % of its maximum ...
SATURATED_LEVEL = 0.9  # ... provided that maximum is at least 0.9
GROKKING_JUMP = 0.5  # test accuracy must rise by at least this much
GROKKING_DELAY = 2.0  # its midpoint at least this many times the saturation step
PLATEAU_SHARE = 0.15  # a plateau spans at least this share of the run's log-step range
PLATEAU_BAND = 0.1  # a plateau stays within this share of its cliff's size of the cliff's level
NEAR = 2.0  # events are related when their midpoints are within this factor


def detect_events(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, structure_metrics=()) -> list[dict]:
    """Every transition of every curve, named; sorted by step. The naming rules, first match wins:

    - `crystallisation` / `collapse`: a rise / fall of a metric matching a `structure_metrics`
      pattern (fnmatch, e.g. "fourier_sparsity/*"), an experiment's own choice.
    - Otherwise the metric's declarations (`probes.declarations`: its own, its family's, then
      the generic rules of probes/training.py) in turn: a rise carries the declaration's `rise`
      kind, a fall its `fall` kind, when the declaration's conditions hold:
      - `level`: the rise ends at or above it (an induction head, probes/attention.py, attends
        at least that much to the token after the current token's earlier occurrence);
      - `reference` (for `grokking`: an accuracy, `train/{name}` its training twin, not itself):
        a rise by at least 0.5 that starts after the reference saturated and is half done at
        least twice as late. Saturated: the first step at which the reference reaches 99 % of
        its maximum, where that maximum is at least 0.9 (a run that never memorises cannot
        grok). On the log-step axis "twice as late" is 0.3 decades: the memorise-then-generalise
        delay, not the lag of a test curve that simply follows its train curve.
    - `transition`: any other detected change.
    - A `loss_cliff` (the generic rule: a fall of a metric whose name contains "loss") also
      yields a `plateau` when the curve, having moved, settled within max(10 % of the cliff's size,
      3 noise sd) of the cliff's `before` level and stayed there up to the cliff's onset, for at
      least 15 % of the log-step range (an initial flat stretch, before anything moved, is not
      one). Its step is where that span began (step_low: the last sample outside the band), its
      end the cliff's onset, before = after = the span's median, and its score the cliff's.
    - `divergence`: the curve turned non-finite for good, or exploded (`changepoints.divergence`);
      its step is the first bad sample, step_low the last good one, before the last good value,
      after the bad value (None if not finite), score None. Transitions are sought before it.
    """
    structure = tuple(structure_metrics)
    events = [e for metric, curve in sorted(curves.items()) for e in _divergence(metric, *curve)]
    curves = {metric: clean_curve(*curve) for metric, curve in curves.items()}
    for metric, (steps, values) in sorted(curves.items()):
        for t in find_transitions(steps, values):
            kind = _kind(metric, t, structure, curves)
            events.append(_event(kind, metric, t))
            if kind == "loss_cliff":
                events.extend(_plateau(metric, steps, values, t))
    return sorted(events, key=lambda e: (e["step"], e["metric"]))


def unjudged(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, str]:
    """Metric → why its curve got no verdict at all (too few points, constant, too coarse),
    for the curves that could not be judged; a curve with no events but a verdict is absent."""
    reasons = {metric: no_verdict(*curve) for metric, curve in curves.items()}
    return {metric: reason for metric, reason in sorted(reasons.items()) if reason is not None}


def relate_events(events: list[dict]) -> list[dict]:
    """Lead/lag between events on different metrics that overlap or are near.

    Two events are related when their [onset, end] spans overlap or their midpoints are within a
    factor of 2 (0.3 decades on the log-step axis), and every earlier event on another metric is
    related to a `grokking` event however far before it: grokking is late by definition, and the
    question is which hidden measures moved first. Plateaus are spans, and divergences ends, not
    changes: left out. `first` is the event with the earlier midpoint. `lead` is True only when
    the two 5-95 % intervals do not overlap (first.step_high < second.step_low): only then is the
    order resolved, and the text says "before"; otherwise it says the two moved together.
    lead_steps = second.step - first.step >= 0, onset_lead_steps = second.onset - first.onset
    (negative if the later one started first).
    """
    changes = sorted((e for e in events if e["kind"] not in ("plateau", "divergence")), key=lambda e: (e["step"], e["metric"]))
    relations = []
    for i, first in enumerate(changes):
        for second in changes[i + 1 :]:
            precursor = second["kind"] == "grokking" and first["step"] < second["step"]
            if first["metric"] == second["metric"] or not (_near(first, second) or precursor):
                continue
            lead = int(second["step"] - first["step"])
            resolved = first["step_high"] < second["step_low"]
            when = f"{lead:,} step{'s' * (lead != 1)} before" if resolved else "together with"
            relations.append(
                {
                    "lead": resolved,
                    "first_metric": first["metric"],
                    "first_kind": first["kind"],
                    "second_metric": second["metric"],
                    "second_kind": second["kind"],
                    "lead_steps": lead,
                    "onset_lead_steps": int(second["onset"] - first["onset"]),
                    "text": f"{first['metric']} {_verb(first)} {when} {second['metric']} {_verb(second)}",
                }
            )
    return relations


def _kind(metric: str, t: Transition, structure: tuple[str, ...], curves: dict) -> str:
    if any(fnmatch(metric, pattern) for pattern in structure):
        return "crystallisation" if t.direction > 0 else "collapse"
    for declared in declarations(metric):
        kind = declared.rise if t.direction > 0 else declared.fall
        if kind is None or (declared.level is not None and t.after < declared.level):
            continue
        if declared.reference is None or _is_late(metric, declared.reference, t, curves):
            return kind
    return "transition"


def _divergence(metric: str, steps, values) -> list[dict]:
    """The `divergence` event of one raw curve, if it diverged (detect_events: the fields)."""
    at = divergence(steps, values)
    if at is None:
        return []
    good_steps, good_values = finite_sorted(steps, values)
    earlier = good_steps < at
    last_step, last_value = int(good_steps[earlier][-1]), float(good_values[earlier][-1])
    bad = np.asarray(values, dtype=float)[np.asarray(steps, dtype=float) == at]
    after = float(bad[0]) if len(bad) and np.isfinite(bad[0]) else None
    step = round(at)
    return [
        {
            "kind": "divergence",
            "metric": metric,
            "step": step,
            "step_low": last_step,
            "step_high": step,
            "onset": step,
            "end": step,
            "before": last_value,
            "after": after,
            "width": 0,
            "score": None,
            "grid_limited": True,
        }
    ]


def _is_late(metric: str, reference: str, t: Transition, curves: dict) -> bool:
    """A rise by at least GROKKING_JUMP, after the reference curve saturated (detect_events)."""
    reference = reference.format(name=metric.partition("/")[2])
    train = curves.get(reference)
    if reference == metric or train is None or t.after - t.before < GROKKING_JUMP:
        return False
    saturated = _saturation_step(*train)
    return saturated is not None and t.onset >= saturated and t.step >= GROKKING_DELAY * max(saturated, 1)


def _saturation_step(steps, values) -> float | None:
    """First step at which `values` reach 99 % of their maximum; None if that maximum is < 0.9.
    `steps`, `values`: a curve cleaned by `finite_sorted`."""
    if not len(values) or values.max() < SATURATED_LEVEL:
        return None
    return float(steps[np.argmax(values >= SATURATED * values.max())])


def _plateau(metric: str, steps: np.ndarray, values: np.ndarray, cliff: Transition) -> list[dict]:
    """The flat span before a loss cliff, if it is long enough (detect_events: the rule).
    `steps`, `values`: a curve cleaned by `finite_sorted`."""
    noise = 1.4826 * float(np.median(np.abs(np.diff(values) - np.median(np.diff(values))))) / math.sqrt(2)
    band = max(PLATEAU_BAND * abs(cliff.after - cliff.before), 3 * noise)
    before = steps < cliff.onset
    if not before.any():
        return []
    outside = np.flatnonzero(before & (np.abs(values - cliff.before) > band))
    if not len(outside):
        return []  # flat from the first step: the curve never settled, it had not moved yet
    first = outside[-1] + 1  # the span runs from here up to the onset
    x = np.log10(steps + 1.0)
    if first >= np.count_nonzero(before) or np.log10(cliff.onset + 1.0) - x[first] < PLATEAU_SHARE * np.ptp(x):
        return []
    level = float(np.median(values[first : np.count_nonzero(before)]))
    start = int(steps[first])
    return [
        {
            "kind": "plateau",
            "metric": metric,
            "step": start,
            "step_low": int(steps[first - 1]),
            "step_high": start,
            "onset": start,
            "end": round(cliff.onset),
            "before": level,
            "after": level,
            "width": round(cliff.onset) - start,
            "score": float(cliff.score),
            "grid_limited": True,
        }
    ]


def _event(kind: str, metric: str, t: Transition) -> dict:
    onset, end = round(t.onset), round(t.end)
    return {
        "kind": kind,
        "metric": metric,
        "step": round(t.step),
        "step_low": math.floor(t.step_low),
        "step_high": math.ceil(t.step_high),
        "onset": onset,
        "end": end,
        "before": float(t.before),
        "after": float(t.after),
        "width": end - onset,
        "score": float(t.score),
        "grid_limited": t.grid_limited,
    }


def _near(a: dict, b: dict) -> bool:
    overlap = a["onset"] <= b["end"] and b["onset"] <= a["end"]
    low, high = sorted((a["step"], b["step"]))
    return overlap or (high + 1) <= NEAR * (low + 1)


def _verb(event: dict) -> str:
    return "rose" if event["after"] > event["before"] else "fell"

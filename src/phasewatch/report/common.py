"""What the HTML report and the terminal summary both read from a run, as plain data and strings."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from phasewatch.analysis import phase_timeline, relate_events
from phasewatch.probes import semantic
from phasewatch.store import UNJUDGED

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
        if x == int(x) and abs(float(x)) < 1e6:
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


def mean_interval(values: list[float] | np.ndarray, confidence: float = 0.9) -> tuple[float, float, float]:
    """(mean, low, high): the t confidence interval of the mean, mean ± t_{(1+c)/2, n−1} · s/√n
    with s the sample standard deviation (ddof 1); low = high = nan for fewer than two values."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(finite.mean())
    if finite.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf((1 + confidence) / 2, finite.size - 1) * finite.std(ddof=1) / np.sqrt(finite.size))
    return mean, mean - half, mean + half


def interval(event: dict) -> tuple[int, int]:
    """The event's confidence interval; a detector that gave none is shown as a point."""
    low, high = event.get("step_low"), event.get("step_high")
    return (event["step"] if low is None else low), (event["step"] if high is None else high)


EVENT_COLUMNS = ("kind", "metric", "step", "interval", "before → after", "width")


def event_rows(events: list[dict]) -> list[tuple[str, ...]]:
    """One row of strings per event, in step order, matching `EVENT_COLUMNS`."""
    rows: list[tuple[str, ...]] = []
    for e in sorted(events, key=lambda e: e["step"]):
        low, high = interval(e)
        rows.append(
            (
                str(e["kind"]) + (f" ({e['verdict']})" if e.get("verdict") else ""),  # the mirage's verdict
                str(e["metric"]),
                fmt_number(e["step"]),
                f"[{fmt_number(low)}, {fmt_number(high)}]" + (" grid" if e.get("grid_limited") else ""),
                f"{fmt_number(e.get('before'))} → {fmt_number(e.get('after'))}",
                fmt_number(e.get("width")),
            )
        )
    return rows


# Which event heads the verdict: the first listed kind the run has (others rank before loss_cliff).
HEADLINE = ("divergence", "grokking", "emergence", "induction_onset", "collapse", "crystallisation", "stage_boundary")
LAST_HEADLINE = ("loss_cliff", "transition")
VERDICT_SIDE = 2  # at most this many first events named on either side of the headline


def verdict(events: list[dict], *, analysed: bool = True, run_id: str = "RUN") -> str:
    """What happened, in one line, built from the run's events alone: the first event of each kind
    (plateaus are spans, not changes), the most telling of them first, with its interval — e.g.
    "grokking at step 78 (interval 70–80) on test/accuracy (0.006 → 1), after train/accuracy rose
    0.105 → 0.993 at step 9 (transition); then test/loss fell 0.0128 → 0.000628 at step 104
    (loss_cliff)" — and how many more events the table lists."""
    if not analysed:
        return f"not analysed yet: no events detected so far (`phasewatch report {run_id}` detects them)."
    changes = sorted((e for e in events if e["kind"] != "plateau"), key=lambda e: (e["step"], str(e["metric"])))
    if not changes:
        return "no transitions detected: every judged curve moved smoothly or not at all."
    firsts: dict[str, dict] = {}
    for event in changes:
        firsts.setdefault(str(event["kind"]), event)
    order = (*HEADLINE, "", *LAST_HEADLINE)

    def rank(event: dict) -> tuple[int, int]:
        kind = str(event["kind"])
        return (order.index(kind) if kind in order else order.index("")), int(event["step"])

    head = min(firsts.values(), key=rank)
    low, high = interval(head)
    line = (
        f"{head['kind']} at step {fmt_number(head['step'])} (interval {fmt_number(low)}–{fmt_number(high)}) on {head['metric']}"
    )
    if _level(head.get("before")) is not None and _level(head.get("after")) is not None:
        line += f" ({fmt_level(head['before'])} → {fmt_level(head['after'])})"
    others = sorted((e for e in firsts.values() if e is not head), key=lambda e: e["step"])
    before = [e for e in others if e["step"] <= head["step"]][-VERDICT_SIDE:]
    after = [e for e in others if e["step"] > head["step"]][:VERDICT_SIDE]
    if before:
        line += ", after " + "; ".join(_moved(e) for e in before)
    if after:
        line += "; then " + "; ".join(_moved(e) for e in after)
    more = len(changes) - 1 - len(before) - len(after)
    return line + (f" ({more} more event{'s' * (more != 1)} in the table)" if more > 0 else "")


def _level(x: Any) -> float | None:
    """A finite number as a float; None for anything else (a missing or non-finite level)."""
    if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and math.isfinite(float(x)):
        return float(x)
    return None


def _moved(event: dict) -> str:
    """One event as the verdict names it, e.g. "test/loss fell 0.0128 → 0.000628 at step 104 (loss_cliff)"."""
    at = f"at step {fmt_number(event['step'])} ({event['kind']})"
    before, after = _level(event.get("before")), _level(event.get("after"))
    if event["kind"] == "divergence":
        return f"{event['metric']} diverged at step {fmt_number(event['step'])}"
    if before is not None and after is not None:
        return f"{event['metric']} {'rose' if after > before else 'fell'} {fmt_level(before)} → {fmt_level(after)} {at}"
    return f"{event['metric']} changed {at}"


def lead_lag_lines(events: list[dict]) -> list[str]:
    """The analysis' sentences on the pairs that matter: a hidden measure and a behaviour change
    (train/test/eval), e.g. "restricted_loss/logits fell 300 steps before test/accuracy rose".
    Resolved leads (intervals apart) first, then the pairs that moved together."""
    relations = [r for r in relate_events(events) if is_behaviour(r["second_metric"]) and not is_behaviour(r["first_metric"])]
    return [str(r["text"]) for r in sorted(relations, key=lambda r: not r["lead"])]


def unjudged_lines(run) -> list[str]:
    """'metric: why' for each watched curve the detector could not judge (too few points, ...)."""
    reasons = (run.analysis(UNJUDGED) or {}).get("curves", {})
    return [f"{metric}: {reason}" for metric, reason in reasons.items()]


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


# ---- Structure Before Collapse: the structure window and the UFM fit -----------------------------

ALIGNMENT = semantic.ALIGNMENT.family
ETF_DISTANCE = semantic.ETF_DISTANCE.family
SITE_ORDER = ("features", "classifier")  # representations before the classifier that reads them


def structure_windows(events: list[dict], data: Curves) -> list[dict]:
    """Each rise-then-fall of one metric: a `crystallisation` event and the first `collapse` after
    it on the same metric (docs/science/structure_before_collapse.md: the span between their midpoints).

    A window is {metric, start, end, peak_step, peak_value, before, after}: start/end the two
    events' steps, before the level the rise left, after the level the fall reached. The peak is
    the events' own (`peak_step`, `peak_value`) when the detector gave one, else the curve's
    maximum between start and end. Sorted primary first: the window whose peak the matrices
    open at (alignment of the features, then other alignment sites, then the rest).
    """
    windows = []
    for metric in sorted({e["metric"] for e in events}):
        rise = None
        for event in sorted((e for e in events if e["metric"] == metric), key=lambda e: e["step"]):
            if event["kind"] == "crystallisation" and rise is None:
                rise = event  # a second rise before the fall belongs to the same window
            elif event["kind"] == "collapse" and rise is not None:
                windows.append(_window(metric, rise, event, data))
                rise = None
    return sorted(windows, key=_window_rank)


def _window(metric: str, rise: dict, fall: dict, data: Curves) -> dict:
    peak_step = fall.get("peak_step", rise.get("peak_step"))
    peak_value = fall.get("peak_value", rise.get("peak_value"))
    if peak_step is None and metric in data:
        steps, values = data[metric]
        inside = (steps >= rise["step"]) & (steps <= fall["step"]) & np.isfinite(values)
        if inside.any():
            k = np.flatnonzero(inside)[values[inside].argmax()]
            peak_step, peak_value = int(steps[k]), float(values[k])
    return {
        "metric": metric,
        "start": int(rise["step"]),
        "end": int(fall["step"]),
        "peak_step": peak_step,
        "peak_value": peak_value,
        "before": rise.get("before"),
        "after": fall.get("after"),
    }


def _window_rank(window: dict) -> tuple[bool, bool, int, str]:
    # the primary scalar (the features' alignment, docs/science/structure_before_collapse.md) first, then the other alignment sites
    metric = window["metric"]
    return family(metric) != ALIGNMENT, metric != f"{ALIGNMENT}/features", window["start"], metric


def value_at(data: Curves, metric: str, step: int) -> float | None:
    """The metric's value at the recorded step nearest `step`; None if it was never recorded."""
    if metric not in data or not len(data[metric][0]):
        return None
    steps, values = data[metric]
    return float(values[np.abs(steps - step).argmin()])


def fmt_level(x: float | None) -> str:
    """A level in a sentence: three significant digits are what the eye compares."""
    return "–" if x is None else f"{x:.3g}"


def window_lines(windows: list[dict], data: Curves) -> list[str]:
    """One sentence per window, e.g. "structure window on semantic_alignment/features: rose from
    0.00318 to 0.681 (peak at step 249), collapsed to 0.0555 by step 760 (ETF distance 1.25 → 0.363)".
    The ETF distance of the same site, at the peak and at the end, says whether the fall is a collapse."""
    lines = []
    for w in windows:
        peak = "" if w["peak_step"] is None else f" (peak at step {fmt_number(w['peak_step'])})"
        line = (
            f"structure window on {w['metric']}: rose from {fmt_level(w['before'])} to {fmt_level(w['peak_value'])}"
            f"{peak}, collapsed to {fmt_level(w['after'])} by step {fmt_number(w['end'])}"
        )
        etf = semantic.judged_by(w["metric"])
        if etf != w["metric"] and etf in data and w["peak_step"] is not None:
            line += f" (ETF distance {fmt_level(value_at(data, etf, w['peak_step']))} → {fmt_level(float(data[etf][1][-1]))})"
        lines.append(line)
    return lines


# The analysis result of the coupled-UFM fit: {metric, r, time_scale, amplitude, offset, r2, steps, predicted}.
UFM_FIT = "ufm_fit"


def fit_label(fit: dict) -> str:
    """The fit's legend entry, e.g. "coupled UFM fit (r = 100, R² = 0.93)"."""
    return f"coupled UFM fit (r = {fmt_number(float(fit['r']))}, R² = {float(fit['r2']):.2f})"


def fit_line(fit: dict) -> str:
    """The fit as a sentence: its legend entry and the metric it was fitted to."""
    return f"{fit_label(fit)} on {fit['metric']}"


# ---- The phase timeline (analysis/timeline.py) ----------------------------------------------------

# The analysis result the pipeline saves: {"phases": [span, ...]}.
PHASES = "phases"


def read_timeline(run, events: list[dict], data: Curves) -> list[dict]:
    """The run's phase timeline: the saved analysis result; for a run without one (made before it
    was saved) computed from its events and its config's `events.phases`; [] when it has none."""
    return timeline_of(run.analysis(PHASES), run.config, events, last_step(data))


def timeline_of(saved: dict | None, config: dict, events: list[dict], steps: int | None) -> list[dict]:
    """`read_timeline` from its parts (what the dashboard reads without opening the run): the saved
    result `saved` (analysis/phases.json), else the timeline of `events` under `config`'s
    `events.phases` over a run of `steps` steps."""
    if saved is not None:
        return list(saved.get(PHASES) or [])
    phases = (config.get("events") or {}).get(PHASES) or {}
    return phase_timeline(events, phases, steps) if phases and steps is not None else []

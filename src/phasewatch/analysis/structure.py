"""The structure window: when an alignment curve crystallises (rises to a peak) and collapses
(falls again while the geometry moves toward the simplex ETF).

The generic detector (changepoints.py) looks for sharp logistic steps against a smooth null;
structure curves rise and fall smoothly over decades of log-step, so they get this rule instead
(docs/science/structure_before_collapse.md: a collapse is the alignment falling *and* the ETF
distance falling).

Rule, for a curve (step, value):
  - smoothed = a running median of 3 probes (removes any single outlier, barely flattens a peak);
    it is used only to locate levels and crossings.
  - noise σ = 1.4826 × MAD of the residuals from a running median of 9, divided by 0.87 so that
    σ ≈ the sd of iid Gaussian noise (measured: 300 series of 150 points give 0.87 ± 0.10; a
    monotone noise-free stretch has residual 0, so a smooth curve has σ ≈ 0; the wide window
    also sees some slow, correlated wander, which a window of 5 misses).
  - before = the median of the first 3 values; the peak = the maximum of the smoothed curve (ties
    to the larger raw value); peak_value is the raw value there.
  - `crystallisation` when rise = smoothed peak − before ≥ MIN_SNR·σ and is large for the curve:
    ≥ `min_rise` (MIN_RISE = 0.05 of alignment), or ≥ SMALL_RISE (0.03) with the peak at least
    RELATIVE_RISE (2×) its starting level — a structure many times its initial value but small
    in absolute terms (setting 2 on seed 23 before the spec's fix: 0.010 → 0.054). The plain
    UFM's control stays within |b| ≤ 0.02 by the spec (measured ≈ 0.003), below SMALL_RISE.
    MIN_SNR = 8: a pure-noise curve's smoothed maximum sits ≈ 2–4 σ above its start. Measured on
    probe grids of 3·10³–10⁵ steps (curves with any event, of 300 each): white Gaussian noise,
    σ 0.001–0.3: 0 of 1800; Student-t(2) noise: 14; AR(1) noise with innovations 0.02, ρ 0.5 /
    0.8 / 0.95: 0 / 81 / 237 — slow correlated wander whose excursions exceed MIN_RISE reads
    as structure (σ, from residuals over 9 probes, sees only part of it).
  - `collapse` when, after the peak, the smoothed curve falls to a minimum `after` with
    fall = peak − after large in the same sense (≥ MIN_SNR·σ, and ≥ `min_rise`, or ≥ SMALL_RISE
    with the curve falling to half its peak or less)
    and ≥ FALL_SHARE (50 %) × max(rise, peak):
    half of the rise, and half-way from the peak to 0 (alignment's symmetric state: ETF or no
    structure), so a small relaxation of structure inherited from the inputs is not one — AND,
    if an ETF-distance curve is given, it too falls: its (smoothed, log-step interpolated) value
    where the alignment reaches `after` is below its value at the peak by ≥ max(ETF_FALL_SHARE
    (10 %) of that value, MIN_SNR·σ_etf). An alignment fall without an ETF fall (a drift to
    unstructured, or a dip) is not a collapse. A collapse needs no crystallisation before it:
    structure inherited from the inputs can collapse (setting 1), and a curve that only
    falls collapses from its first probe (setting 2 at ratio 100).

Dating (on the smoothed curve, x = log10(step + 1)): step = where the change is half done
(the first probe past the half level, interpolated linearly in x with the one before), onset/end
= the same for 10 % / 90 % of the change, width = end − onset. Interval: from the probe before
the curve first passes (half level − 2σ) to the probe where it first passes (half level + 2σ)
(mirrored for a fall): the half-level crossing, allowing for noise in the levels, widened to the
probe grid points either side, since nothing finer than the grid was seen.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from phasewatch.analysis.changepoints import finite_sorted

MIN_POINTS = 6  # fewer probes cannot show a level, a rise and a peak
PEAK_WINDOW = 3  # running median that locates the peak and the crossings
NOISE_WINDOW = 9  # running median whose residuals give the noise (wide: sees slow wander too)
NOISE_CONSISTENCY = 0.87  # 1.4826·MAD of those residuals ÷ σ for iid Gaussian noise (measured)
MIN_RISE = 0.05
SMALL_RISE = 0.03  # a smaller change counts only when it doubles the level (RELATIVE_RISE)
RELATIVE_RISE = 2.0
MIN_SNR = 8.0
FALL_SHARE = 0.5
ETF_FALL_SHARE = 0.1
BAND = 2.0  # the interval spans the crossings of the half level ± BAND·σ


def structure_events(
    steps, values, *, metric: str, etf: tuple[np.ndarray, np.ndarray] | None = None, min_rise: float = MIN_RISE
) -> list[dict]:
    """The `crystallisation` and `collapse` of one alignment curve (module docstring: the rule).

    `etf`: optional (steps, values) of the ETF distance at the same site. Each event is a
    JSON-ready dict {kind, metric, step, step_low, step_high, onset, end, before, after, width,
    peak_step, peak_value} (steps are ints); a collapse judged with `etf` also carries the ETF
    distance at the peak and where the fall ends, `etf_at_peak` and `etf_after`. Sorted by step.
    """
    steps, values = finite_sorted(steps, values)
    if len(steps) < MIN_POINTS:
        return []
    smooth = running_median(values, PEAK_WINDOW)
    sigma = noise_level(values)
    before = float(np.median(values[:3]))
    peak = int(np.lexsort((values, smooth))[-1])  # max smoothed, ties to the larger raw value
    rise, top = float(smooth[peak]) - before, float(smooth[peak])

    def large(change: float, doubled: bool) -> bool:
        return change >= MIN_SNR * sigma and (change >= min_rise or (change >= SMALL_RISE and doubled))

    peak_fields = {"peak_step": int(steps[peak]), "peak_value": float(values[peak])}
    events = []
    if peak > 0 and large(rise, top >= RELATIVE_RISE * abs(before)):
        grown = _date(steps, smooth, sigma, before, top, 0, peak)
        events.append({"kind": "crystallisation", "metric": metric, **grown, **peak_fields})

    bottom = peak + int(np.argmin(smooth[peak:]))
    fall = top - float(smooth[bottom])
    if not large(fall, float(smooth[bottom]) <= top / RELATIVE_RISE) or fall < FALL_SHARE * max(rise, top):
        return events
    etf_fields = {} if etf is None else _etf_fall(*etf, steps[peak], steps[bottom])
    if etf_fields is None:
        return events
    # A fall is a rise of the negated curve: date it with the same code.
    fallen = _date(steps, -smooth, sigma, -top, -float(smooth[bottom]), peak, bottom)
    fallen["before"], fallen["after"] = -fallen["before"], -fallen["after"]
    events.append({"kind": "collapse", "metric": metric, **fallen, **peak_fields, **etf_fields})
    return events


def _etf_fall(steps, values, peak_step: float, bottom_step: float) -> dict | None:
    """{etf_at_peak, etf_after} if the ETF distance fell between the two steps (module
    docstring), else None; {} when the curve is too short to judge (the alignment decides)."""
    steps, values = finite_sorted(steps, values)
    if len(steps) < MIN_POINTS:
        return {}
    x = np.log10(steps + 1.0)
    at_peak, after = np.interp(np.log10([peak_step + 1.0, bottom_step + 1.0]), x, running_median(values, PEAK_WINDOW))
    if at_peak - after < max(ETF_FALL_SHARE * at_peak, MIN_SNR * noise_level(values)):
        return None
    return {"etf_at_peak": float(at_peak), "etf_after": float(after)}


def structure_window(events: list[dict], metric: str | None = None) -> dict | None:
    """{metric, start, end, peak_step, peak_value}: the span between the crystallisation and
    collapse midpoints of `metric` (default: the first metric with either event); start or end
    is None where that event is missing (end None: not collapsed yet); None without events."""
    mine = [e for e in events if e["kind"] in ("crystallisation", "collapse") and metric in (None, e["metric"])]
    if not mine:
        return None
    metric = min(mine, key=lambda e: e["step"])["metric"]
    mine = sorted((e for e in mine if e["metric"] == metric), key=lambda e: e["step"])
    rise = next((e["step"] for e in mine if e["kind"] == "crystallisation"), None)
    fall = next((e["step"] for e in mine if e["kind"] == "collapse"), None)
    return {"metric": metric, "start": rise, "end": fall, "peak_step": mine[0]["peak_step"], "peak_value": mine[0]["peak_value"]}


def running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running median over `window` (odd) points; the window shrinks at the ends."""
    half = window // 2
    padded = np.pad(np.asarray(values, dtype=float), half, constant_values=np.nan)
    return np.nanmedian(sliding_window_view(padded, window), axis=1)


def noise_level(values: np.ndarray) -> float:
    """σ̂ = 1.4826·MAD(values − running median of 9) / NOISE_CONSISTENCY (module docstring)."""
    residuals = values - running_median(values, NOISE_WINDOW)
    return 1.4826 * float(np.median(np.abs(residuals - np.median(residuals)))) / NOISE_CONSISTENCY


def _date(steps: np.ndarray, y: np.ndarray, sigma: float, low: float, high: float, start: int, stop: int) -> dict:
    """Date the rise of `y` from `low` to `high` over indices [start, stop] (module docstring)."""
    x = np.log10(steps + 1.0)

    def crossing(level: float) -> float:
        i = _first_reach(y, level, start, stop)
        if i == start:
            return float(x[i])
        share = (level - y[i - 1]) / (y[i] - y[i - 1])
        return float(x[i - 1] + share * (x[i] - x[i - 1]))

    half = (low + high) / 2
    onset, mid, end = (round(10.0 ** crossing(low + share * (high - low)) - 1.0) for share in (0.1, 0.5, 0.9))
    first = max(_first_reach(y, half - BAND * sigma, start, stop) - 1, start)
    last = _first_reach(y, half + BAND * sigma, start, stop)
    return {
        "step": mid,
        "step_low": int(steps[first]),
        "step_high": int(steps[last]),
        "onset": onset,
        "end": end,
        "before": low,
        "after": high,
        "width": end - onset,
    }


def _first_reach(y: np.ndarray, level: float, start: int, stop: int) -> int:
    """The first index in [start, stop] with y ≥ level (stop when none does)."""
    reached = np.flatnonzero(y[start : stop + 1] >= level)
    return start + int(reached[0]) if len(reached) else stop

"""Developmental stages from the local learning coefficient: the critical points of the λ̂ curve.

Hoogland et al. 2024 ("The developmental landscape of in-context learning") cut training into
stages at the critical points of the LLC curve, where its slope vanishes: its peaks, its dips and
the plateaus where it pauses. On a noisy, coarsely sampled curve a vanishing slope is a statement
about noise, so the rule is one of hysteresis, read on the log-step axis as the probes are laid out:

  - smoothed = a running median of 3 estimates (one bad chain's estimate never makes a stage);
  - σ = max(the curve's own scatter, `structure.noise_level`; the chains' standard error,
    the median of the per-estimate sd over the chains, ÷ √chains); a move counts when it is at least h = max(STAGE_SNR·σ,
    STAGE_SHARE·(the smoothed curve's range));
  - a **peak** (a **dip**) is a turning point of the zigzag with hysteresis h: the smoothed curve
    rose (fell) by ≥ h to it and falls (rises) by ≥ h after it;
  - a **plateau** is a stretch of at least PLATEAU_SHARE of the log-step range over which the
    smoothed curve spans at most h/2, entered by a move of ≥ h within that distance before it (or
    the run's start) and left by one within that distance after it (or the run's end); a steady
    climb never pauses, a flat curve has no stage, and a stretch holding a peak or dip is that
    extremum's flat top, not a plateau.

Each is a `stage_boundary` event with its `shape` (peak, dip, plateau). Its interval: for a peak
or dip, the steps around it over which the smoothed curve stays within h/2 of the extreme (the
critical point cannot be told apart inside it). A plateau is dated where the curve moves: the
run's first stage at its end (the interval: its last flat estimate and the next), the last stage
at its start (likewise), a pause between moves at its log-midpoint (the interval: the pause). `before`/`after`: the smoothed level where the interval begins and ends.
Measured (500 seeds of noise sd 1, chains' std 2 over 4 chains; 14 / 40 log-spaced estimates
over four decades): white noise around a level gives a stage 0 / 0 times (8 / 11 without the
chains' std); a steady log-linear climb of 5 per decade, the adversarial slope (0.6 decades of it
move the curve between h/2 and h), 9 / 56 times (53 / 106 without).

Departure from Hoogland et al.: they smooth with a Gaussian kernel and read the slope's sign by
eye; the hysteresis makes the rule repeatable and gives the interval.
"""

from __future__ import annotations

import math

import numpy as np

from phasewatch.analysis.structure import noise_level, running_median

STAGE_SNR = 4.0  # a move at least this many noise σ ...
STAGE_SHARE = 0.1  # ... and this share of the curve's range
PLATEAU_SHARE = 0.15  # a plateau spans at least this share of the run's log-step range
MIN_POINTS = 5  # fewer estimates cannot show a move and a turn


def stage_boundaries(steps, values, *, metric: str, chain_std=None, chains: int = 1) -> list[dict]:
    """The `stage_boundary` events of one λ̂ curve (module docstring), sorted by step. `chain_std`:
    the per-estimate standard deviation over `chains` chains, or None."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    keep = np.isfinite(values)
    steps, values = steps[keep], values[keep]
    if len(values) < MIN_POINTS:
        return []
    smooth = running_median(values, 3)
    sigma = noise_level(values)
    if chain_std is not None:
        sigma = max(sigma, float(np.nanmedian(np.asarray(chain_std, float)[keep])) / math.sqrt(chains))
    h = max(STAGE_SNR * sigma, STAGE_SHARE * float(np.ptp(smooth)))
    if h <= 0:
        return []
    x = np.log10(steps + 1.0)
    turns = _zigzag(smooth, h)
    events = [_extremum(metric, steps, smooth, i, shape, h) for i, shape in turns]
    for start, stop in _plateaus(x, smooth, h, turns):
        events.append(_plateau(metric, steps, x, smooth, start, stop))
    return sorted(events, key=lambda e: e["step"])


def _zigzag(y: np.ndarray, h: float) -> list[tuple[int, str]]:
    """Confirmed turning points: (index, "peak" | "dip") where y moved ≥ h to the extreme and ≥ h
    back after it."""
    turns: list[tuple[int, str]] = []
    low = high = extreme = 0
    direction = 0  # +1 rising, −1 falling, 0 not yet moved by h
    for i in range(1, len(y)):
        if direction == 0:
            low, high = (i if y[i] < y[low] else low), (i if y[i] > y[high] else high)
            if y[high] - y[low] >= h:  # the first move: from the earlier of the two to the later
                direction, extreme = (1, high) if high > low else (-1, low)
        elif direction * (y[i] - y[extreme]) > 0:
            extreme = i
        elif direction * (y[extreme] - y[i]) >= h:
            turns.append((extreme, "peak" if direction > 0 else "dip"))
            direction, extreme = -direction, i
    return turns


def _plateaus(x: np.ndarray, y: np.ndarray, h: float, turns: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """Flat stretches (index ranges): y spans at most h/2 over ≥ PLATEAU_SHARE of the log-step
    range, moved by ≥ h within that distance before it, and moves by ≥ h within it after (or the
    run ends on it); not holding a peak or dip (its flat top)."""
    window = PLATEAU_SHARE * (x[-1] - x[0])
    tops = {i for i, _ in turns}

    def moves(i: int, side: int) -> bool:
        near = (side * (x - x[i]) > 0) & (side * (x - x[i]) <= window)
        return bool(np.any(np.abs(y[near] - y[i]) >= h))

    found, start = [], 0
    while start < len(y) - 1:
        stop = start
        while stop + 1 < len(y) and np.ptp(y[start : stop + 2]) <= h / 2:
            stop += 1
        flat = x[stop] - x[start] >= window and not tops & set(range(start, stop + 1))
        entered = start == 0 or moves(start, -1)  # the run's first stage is entered from nowhere
        left = stop == len(y) - 1 or moves(stop, 1)  # its last is never left
        if flat and entered and left and not (start == 0 and stop == len(y) - 1):
            found.append((start, stop))
            start = stop
        start += 1
    return found


def _extremum(metric: str, steps: np.ndarray, y: np.ndarray, i: int, shape: str, h: float) -> dict:
    low = high = i
    while low > 0 and abs(y[low - 1] - y[i]) <= h / 2:
        low -= 1
    while high < len(y) - 1 and abs(y[high + 1] - y[i]) <= h / 2:
        high += 1
    return _event(metric, shape, steps[i], steps[low], steps[high], y[low], y[high], h)


def _plateau(metric: str, steps: np.ndarray, x: np.ndarray, y: np.ndarray, start: int, stop: int) -> dict:
    """Dated where the curve moves: the first stage at its end, the last at its start, one between
    at its log-midpoint (its interval the stretch)."""
    if start == 0:
        return _event(metric, "plateau", steps[stop], steps[stop], steps[stop + 1], y[stop], y[stop + 1], None)
    if stop == len(y) - 1:
        return _event(metric, "plateau", steps[start], steps[start - 1], steps[start], y[start - 1], y[start], None)
    step = 10 ** ((x[start] + x[stop]) / 2) - 1
    return _event(metric, "plateau", step, steps[start], steps[stop], y[start], y[stop], None)


def _event(metric: str, shape: str, step, low, high, before, after, h) -> dict:
    return {
        "kind": "stage_boundary",
        "shape": shape,
        "metric": metric,
        "step": round(float(step)),
        "step_low": math.floor(low),
        "step_high": math.ceil(high),
        "onset": math.floor(low),
        "end": math.ceil(high),
        "before": float(before),
        "after": float(after),
        "width": math.ceil(high) - math.floor(low),
        "score": None if h is None else float(h),
        "grid_limited": False,
    }

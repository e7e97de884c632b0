"""Keep-peak: decide live, from the values seen so far, when a structure curve has peaked
(docs/science/structure_before_collapse.md, "Keeping the structure": a patience rule on the smoothed curve).

At each probe the tracker smooths the curve causally (the median of the last `smoothing`
values: a single outlier never makes a peak) and answers:
  - "new_peak": the smoothed value beats every earlier one: keep the model state now;
  - "past_peak": the curve has risen significantly — rise = best smoothed value − the lowest
    smoothed value before it ≥ max(`min_rise`, MIN_SNR·σ) — and the smoothed value has stayed
    below best − max(`drop`·rise, 2σ) for `patience` consecutive probes: the peak is behind,
    stop if asked. σ is structure.py's noise level of the values seen so far (MIN_SNR = 8 there
    too), so noise on a flat start is not taken for a rise;
  - "waiting": neither.
A later new best answers "new_peak" again and restarts the count (a caller that stops at the
first "past_peak" keeps that peak). Nothing looks ahead: each answer is a function of the values
fed so far, so a resumed run that replays its stored values gets the same answers.

Measured (tests/analysis/test_peak.py's transient: 0.02 → 0.52 → 0.07 on a 3·10⁴-step probe
grid, patience 5): on the coupled UFM's own curve the kept step is the true peak (the test allows
one probe later); with Gaussian noise σ = 0.02 the kept state holds ≥ 94 % of the rise in
300/300 seeds (median 99.7 %); with σ = 0.05 (rise = 10 σ) 296/300 hold ≥ 90 %, the rest
decided on early noise or late.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from phasewatch.analysis.structure import MIN_RISE, MIN_SNR, noise_level
from phasewatch.errors import UserError

NEW_PEAK, WAITING, PAST_PEAK = "new_peak", "waiting", "past_peak"


class PeakTracker:
    """Feed (step, value) pairs in step order with `update`; `peak_step`/`peak_value` are the step
    and raw value of the last "new_peak" (None before the first)."""

    def __init__(self, patience: int = 5, min_rise: float = MIN_RISE, smoothing: int = 3, drop: float = 0.1):
        for field, value, ok, allowed in (
            ("patience", patience, isinstance(patience, int) and patience >= 1, "an integer >= 1"),
            ("min_rise", min_rise, min_rise >= 0, "a number >= 0"),
            ("smoothing", smoothing, isinstance(smoothing, int) and smoothing >= 1, "an integer >= 1"),
            ("drop", drop, 0 <= drop < 1, "a number in [0, 1)"),
        ):
            if not ok:
                raise UserError(f"peak tracker: {field} = {value!r} is not allowed ({allowed})")
        self.patience, self.min_rise, self.drop = patience, min_rise, drop
        self._seen: list[float] = []
        self._recent: deque[float] = deque(maxlen=smoothing)
        self._best, self._lowest, self._base = -math.inf, math.inf, math.inf
        self._below = 0
        self.peak_step: int | None = None
        self.peak_value: float | None = None
        self.status = WAITING

    def update(self, step: int, value: float) -> str:
        """The answer at this probe (module docstring). A non-finite value is skipped: the previous
        answer is returned and nothing changes."""
        if not math.isfinite(value):
            return self.status
        self._seen.append(float(value))
        self._recent.append(float(value))
        smoothed = float(np.median(self._recent))
        self._lowest = min(self._lowest, smoothed)
        if smoothed > self._best:
            self._best, self._base, self._below = smoothed, self._lowest, 0
            self.peak_step, self.peak_value = int(step), float(value)
            self.status = NEW_PEAK
            return self.status
        rise, sigma = self._best - self._base, noise_level(np.array(self._seen))
        self._below = self._below + 1 if smoothed < self._best - max(self.drop * rise, 2 * sigma) else 0
        risen = rise >= max(self.min_rise, MIN_SNR * sigma)
        self.status = PAST_PEAK if risen and self._below >= self.patience else WAITING
        return self.status

"""How long grokking waits, and how that wait scales with lr × weight decay.

The delay of a run is the step of its `grokking` event on the test accuracy minus the step at
which the training accuracy saturated (first reached 99 % of its maximum, the detector's own
definition of a saturated reference, analysis/events.py). Theory puts it near the weight-norm
decay time: with decoupled weight decay the weights shrink by 1 − lr·wd per step, so the time to
leave the memorising solution scales as 1/(lr·wd) (Liu et al. 2022, "Omnigrok"; Tian 2025 gives a
provable version) — a slope of −1 on log–log axes. `delay_fit` measures the slope, it does not
assume it.
"""

from __future__ import annotations

import numpy as np

from phasewatch.probes.behaviour import TEST_ACCURACY
from phasewatch.probes.training import TRAIN_ACCURACY

SATURATED = 0.99  # share of the maximum training accuracy


def grokking_delay(curves: dict[str, tuple[np.ndarray, np.ndarray]], events: list[dict]) -> float | None:
    """Steps from training-accuracy saturation to the `grokking` event; None without the event."""
    steps = [e["step"] for e in events if e["kind"] == "grokking" and e["metric"] == TEST_ACCURACY.name]
    if not steps or TRAIN_ACCURACY.name not in curves:
        return None
    train_steps, train = curves[TRAIN_ACCURACY.name]
    saturated = train_steps[np.argmax(train >= SATURATED * np.max(train))]
    return float(min(steps) - saturated)


def delay_fit(scale: np.ndarray, delay: np.ndarray, *, resamples: int = 2000, seed: int = 0) -> dict[str, float] | None:
    """Least-squares fit of log10 delay = a + b·log10 scale (scale: lr × weight decay, or any
    positive control parameter, e.g. the group size for a critical train fraction) over runs,
    with a 90 % bootstrap interval for the slope b (runs resampled with replacement). None with
    fewer than 3 runs or fewer than 2 distinct scales."""
    scale, delay = np.asarray(scale, float), np.asarray(delay, float)
    keep = (scale > 0) & (delay > 0)
    x, y = np.log10(scale[keep]), np.log10(delay[keep])
    if len(x) < 3 or len(np.unique(x)) < 2:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    rng = np.random.default_rng(seed)
    slopes = []
    for _ in range(resamples):
        pick = rng.integers(0, len(x), len(x))
        if len(np.unique(x[pick])) > 1:
            slopes.append(np.polyfit(x[pick], y[pick], 1)[0])
    low, high = np.percentile(slopes, [5, 95])
    return {
        "slope": float(slope),
        "slope_low": float(low),
        "slope_high": float(high),
        "intercept": float(intercept),
        "runs": int(len(x)),
    }

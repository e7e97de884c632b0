"""The learning phase a run ended in, named from its curves and events, as Liu et al. 2022
("Towards understanding grokking: an effective theory", Fig. 1) name the regions of their phase
diagrams:

- `grokking`: the run has a `grokking` event (the test accuracy rose well after the training
  accuracy saturated: the detector's rule, analysis/events.py);
- `comprehension`: the training accuracy saturated and the test accuracy generalised without a
  grokking event, so the two rose together;
- `memorisation`: the training accuracy saturated, the test accuracy never generalised;
- `confusion`: the training accuracy never saturated.

Saturated and generalised both mean: at least `LEVEL` (0.9, the level the grokking rule asks of a
saturated reference) at the end of the run (the mean of its last `TAIL` probed values, so one noisy
last probe cannot flip a region). Departure from Liu et al.: they read the regions off accuracy
thresholds at fixed step budgets (e.g. 10³ steps for "fast" generalisation); here the budget is the
run's own length and the comprehension/grokking split is the detector's delay rule, not a step
count.
"""

from __future__ import annotations

import numpy as np

from phasewatch.probes.behaviour import TEST_ACCURACY
from phasewatch.probes.training import TRAIN_ACCURACY

REGIONS = ("comprehension", "grokking", "memorisation", "confusion")
LEVEL = 0.9
TAIL = 3


def final_level(values: np.ndarray) -> float:
    """The mean of the last `TAIL` values (NaN for an empty curve)."""
    return float(np.mean(values[-TAIL:])) if len(values) else float("nan")


def region(curves: dict[str, tuple[np.ndarray, np.ndarray]], events: list[dict]) -> str | None:
    """The run's region (see the module docstring); None without both accuracy curves."""
    if TRAIN_ACCURACY.name not in curves or TEST_ACCURACY.name not in curves:
        return None
    if any(e["kind"] == "grokking" and e["metric"] == TEST_ACCURACY.name for e in events):
        return "grokking"
    if not final_level(curves[TRAIN_ACCURACY.name][1]) >= LEVEL:
        return "confusion"
    return "comprehension" if final_level(curves[TEST_ACCURACY.name][1]) >= LEVEL else "memorisation"

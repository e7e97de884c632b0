"""When to probe: log-spaced early (transitions start fast), linear later (and the last step)."""
from __future__ import annotations

import numpy as np


def probe_steps(total_steps: int, every: int, log_points: int) -> list[int]:
    """Steps 0..total_steps at which probes run: `log_points` log-spaced steps, every `every`-th
    step, and the final one. Sorted, unique."""
    log_spaced = np.unique(np.round(np.geomspace(1, total_steps, log_points)).astype(int)) if log_points else []
    steps = {0, total_steps, *range(0, total_steps + 1, every), *map(int, log_spaced)}
    return sorted(steps)

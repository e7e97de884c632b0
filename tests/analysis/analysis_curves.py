"""Synthetic curves on the training loop's probe grid: log-spaced early, every `every` steps later."""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def probe_grid(total: int = 3000, every: int = 25, log_points: int = 30) -> np.ndarray:
    """The same grid as `phasewatch.train.probe_steps` (kept here so these tests need no torch)."""
    log_spaced = np.round(np.geomspace(1, total, log_points)).astype(int)
    return np.array(sorted({0, total, *range(0, total + 1, every), *log_spaced.tolist()}))


def step_curve(steps, mid: float, width_decades: float, before: float, after: float, *, log_axis: bool = True):
    """A logistic change from `before` to `after`, half done at `mid`, 10-90 % over `width_decades`
    of log10(step + 1) (or over `width_decades` steps when `log_axis` is False)."""
    x = np.log10(np.asarray(steps) + 1.0) if log_axis else np.asarray(steps, dtype=float)
    centre = np.log10(mid + 1.0) if log_axis else mid
    return before + (after - before) * expit((x - centre) * 2 * np.log(9) / width_decades)

"""Grokking delay and its power-law fit, against planted data."""

import numpy as np
import pytest

from phasewatch.analysis.delay import delay_fit, grokking_delay


def test_the_delay_starts_when_training_saturates():
    steps = np.array([0, 10, 20, 40, 80, 160, 320])
    train = np.array([0.1, 0.5, 0.95, 1.0, 1.0, 1.0, 1.0])  # 99 % of the maximum first at step 40
    events = [
        {"kind": "grokking", "metric": "test/accuracy", "step": 300},
        {"kind": "grokking", "metric": "train/accuracy", "step": 5},
    ]
    assert grokking_delay({"train/accuracy": (steps, train)}, events) == 260
    assert grokking_delay({"train/accuracy": (steps, train)}, []) is None


@pytest.mark.parametrize("slope", [-1.0, -0.5])
def test_the_fit_recovers_a_planted_power_law_inside_its_interval(slope):
    rng = np.random.default_rng(3)
    scale = np.repeat([1e-4, 3e-4, 1e-3, 3e-3, 1e-2], 4)
    delay = 5.0 * scale**slope * 10 ** rng.normal(0, 0.05, len(scale))
    fit = delay_fit(scale, delay)
    assert fit is not None and fit["runs"] == 20
    assert fit["slope_low"] < slope < fit["slope_high"] and abs(fit["slope"] - slope) < 0.05
    assert fit["slope_high"] - fit["slope_low"] < 0.2


def test_too_little_to_fit():
    assert delay_fit(np.array([1e-3, 1e-3, 1e-3]), np.array([10.0, 20.0, 30.0])) is None
    assert delay_fit(np.array([1e-3, 1e-2]), np.array([10.0, 20.0])) is None

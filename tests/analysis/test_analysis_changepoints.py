"""find_transitions on synthetic curves with known change points, and on curves with none."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from analysis_curves import probe_grid, step_curve

from phasewatch.analysis import Transition, find_transitions

SEEDS = range(10)


def decades(a: float, b: float) -> float:
    return abs(np.log10((a + 1) / (b + 1)))


@pytest.mark.parametrize(
    ("mid", "width", "before", "after", "noise"),
    [
        (1000, 0.3, 0.02, 0.98, 0.03),  # a grokking-like rise
        (40, 0.15, 4.6, 0.5, 0.2),  # an early, sharp loss cliff
        (300, 0.05, 1.0, 0.0, 0.1),  # nearly a step between probe points
        (200, 0.4, 0.0, 1.0, 0.1),  # wide (0.4 of 3.5 decades), amplitude/noise 10
    ],
)
def test_planted_log_step_change_is_found_and_dated(mid, width, before, after, noise):
    steps = probe_grid()
    covered = 0
    for seed in SEEDS:
        values = step_curve(steps, mid, width, before, after) + np.random.default_rng(seed).normal(0, noise, len(steps))
        found = find_transitions(steps, values)
        assert len(found) == 1, (seed, found)
        t = found[0]
        assert decades(t.step, mid) < max(0.1, width / 3), (seed, t)
        assert t.onset < t.step < t.end and t.width == pytest.approx(t.end - t.onset)
        assert t.direction == np.sign(after - before)
        assert abs(t.before - before) < 3 * noise and abs(t.after - after) < 3 * noise
        assert decades(t.width, 0) > 0 and t.score >= 6
        covered += t.step_low <= mid <= t.step_high
    assert covered >= 7  # a 90 % interval holds the truth in most draws


@pytest.mark.parametrize(("mid", "width", "up"), [(1500, 200.0, False), (600, 60.0, True)])
def test_planted_linear_step_change_is_found(mid, width, up):
    steps = np.arange(0, 3001, 20)
    covered = 0
    for seed in SEEDS:
        before, after = (0.0, 1.0) if up else (1.0, 0.0)
        values = step_curve(steps, mid, width, before, after, log_axis=False)
        values = values + 0.5 * steps / 3000 + np.random.default_rng(seed).normal(0, 0.08, len(steps))
        found = find_transitions(steps, values, log_axis=False)
        assert len(found) == 1, (seed, found)
        assert abs(found[0].step - mid) < 0.2 * width + 20
        assert abs(found[0].width - width) < 0.5 * width + 2 * 20  # 20: the grid's spacing
        covered += found[0].step_low <= mid <= found[0].step_high
    assert covered >= 7


def test_pure_noise_has_no_transition():
    steps = probe_grid()
    for seed in range(20):
        assert find_transitions(steps, np.random.default_rng(seed).normal(3.0, 0.5, len(steps))) == []


@pytest.mark.parametrize("alpha", [0.3, 0.7, 1.2])
@pytest.mark.parametrize("t0", [1.0, 10.0, 100.0])
def test_power_law_decay_is_not_a_transition(alpha, t0):
    steps = probe_grid()
    clean = 4.0 * ((steps + t0) / t0) ** -alpha + 0.3
    for seed, relative in enumerate((0.0, 0.003, 0.03, 0.1)):  # noise-free, as full-batch training is
        noise = relative * np.ptp(clean) * np.random.default_rng(seed).normal(size=len(steps))
        assert find_transitions(steps, clean + noise) == [], (relative, seed)


@pytest.mark.parametrize("shape", ["linear", "log"])
def test_slow_drift_is_not_a_transition(shape):
    steps = probe_grid(10000, 50, 40)
    drift = steps / 10000 if shape == "linear" else np.log1p(steps) / np.log1p(10000)
    for seed, relative in enumerate((0.0, 0.01, 0.1)):
        values = 2.0 - drift + relative * np.random.default_rng(seed).normal(size=len(steps))
        assert find_transitions(steps, values) == []
        assert find_transitions(steps, values, log_axis=False) == []


def test_two_changes_are_both_found():
    steps = probe_grid(10000, 50, 40)
    values = step_curve(steps, 30, 0.2, 5.0, 2.0) + step_curve(steps, 3000, 0.2, 0.0, -1.5)
    values = values + np.random.default_rng(0).normal(0, 0.1, len(steps))
    found = find_transitions(steps, values)
    assert [round(t.step, -1) for t in found] == pytest.approx([30, 3000], rel=0.15)
    assert [t.direction for t in found] == [-1, -1]


def test_noise_free_change_is_found():
    steps = probe_grid()
    found = find_transitions(steps, step_curve(steps, 800, 0.2, 0.1, 0.9))
    assert len(found) == 1 and decades(found[0].step, 800) < 0.01


def test_metric_logged_every_step_is_binned_and_found():
    steps = np.arange(3001)
    values = 0.2 * (steps + 1.0) ** -0.3 + step_curve(steps, 1200, 0.2, 1.0, 0.0)
    found = find_transitions(steps, values + np.random.default_rng(0).normal(0, 0.05, len(steps)))
    assert len(found) == 1 and decades(found[0].step, 1200) < 0.03


def test_input_order_nans_and_repeat_calls_do_not_change_the_answer():
    steps = probe_grid()
    values = step_curve(steps, 500, 0.2, 0.0, 1.0) + np.random.default_rng(3).normal(0, 0.05, len(steps))
    expected = find_transitions(steps, values)
    shuffle = np.random.default_rng(0).permutation(len(steps))
    noisy_steps, noisy_values = np.r_[steps[shuffle], 7], np.r_[values[shuffle], np.nan]
    assert find_transitions(noisy_steps, noisy_values) == expected == find_transitions(steps, values)
    assert all(isinstance(t, Transition) for t in expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        expected[0].step = 0.0


def test_too_short_or_flat_curves_have_none():
    assert find_transitions([0, 1, 2, 3], [0.0, 0.0, 1.0, 1.0]) == []
    assert find_transitions(np.arange(100), np.ones(100)) == []
    with pytest.raises(ValueError, match="steps"):
        find_transitions(np.arange(-5, 95), np.r_[np.zeros(50), np.ones(50)])

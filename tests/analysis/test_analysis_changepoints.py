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
    covered = missed = 0
    for seed in SEEDS:
        values = step_curve(steps, mid, width, before, after) + np.random.default_rng(seed).normal(0, noise, len(steps))
        found = find_transitions(steps, values)
        assert len(found) <= 1, (seed, found)
        if not found:
            missed += 1  # bench/detector.py: ~88 % of such changes are found at amplitude/noise >= 5
            continue
        t = found[0]
        assert decades(t.step, mid) < max(0.1, width / 3), (seed, t)
        assert t.onset < t.step < t.end and t.width == pytest.approx(t.end - t.onset)
        assert t.direction == np.sign(after - before)
        assert abs(t.before - before) < 3 * noise and abs(t.after - after) < 3 * noise
        assert decades(t.width, 0) > 0 and t.score >= 6
        covered += t.step_low <= mid <= t.step_high
    assert missed <= 1 and covered >= 7  # a 90 % interval holds the truth in most draws


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


@pytest.mark.parametrize("total", [10**3, 10**4, 10**5, 10**6, 10**7])
def test_an_exponential_decay_is_no_transition_however_long_the_run(total):
    steps = probe_grid(total, total // 200, 40)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        values = 2.0 + 3.0 * np.exp(-steps / (total / 10)) + 0.03 * rng.normal(size=len(steps))
        assert find_transitions(steps, values) == [], (total, seed)


def test_a_sharp_change_is_found_the_same_way_however_long_the_run():
    """A 0.3-decade change half-way through the log range: same verdict at 1e3 and 1e7 steps."""
    for total in (10**3, 10**7):
        steps = probe_grid(total, total // 200, 40)
        mid = 10 ** (np.log10(total) / 2 + 0.5)
        found = find_transitions(
            steps, step_curve(steps, mid, 0.3, 1.0, 0.0) + np.random.default_rng(0).normal(0, 0.05, len(steps))
        )
        assert len(found) == 1 and decades(found[0].step, mid) < 0.05, total


def test_a_quantised_accuracy_needs_more_than_its_resolution_to_move():
    """Accuracy on 100 items moves in steps of 0.01: one item flipping at the end is not a change."""
    steps = probe_grid()
    rise = np.round(100 * step_curve(steps, 100, 0.4, 0.0, 1.0)) / 100
    dip = rise.copy()
    dip[-5:] = 0.99
    (found,) = find_transitions(steps, dip)
    assert decades(found.step, 100) < 0.05 and found.after == 1.0  # the rise, observed level, not 1.006
    many = rise.copy()
    many[-8:] = 0.7
    assert len(find_transitions(steps, many)) == 2  # thirty items flipping is a change


def test_observed_levels_are_clipped_to_the_values_seen():
    steps = probe_grid()
    values = np.clip(step_curve(steps, 300, 0.2, -0.1, 1.1), 0.0, 1.0)  # a rise that saturates
    (found,) = find_transitions(steps, values + np.random.default_rng(0).normal(0, 0.001, len(steps)))
    lowest, highest = values.min() - 0.01, values.max() + 0.01
    assert lowest <= found.before <= 0.01 and 0.99 <= found.after <= highest


def test_repeated_steps_are_merged_not_a_transition():
    """A resumed run that re-logged the steps since its checkpoint has each of them twice."""
    steps = probe_grid()
    values = 3.0 * (steps + 10.0) ** -0.3 + np.random.default_rng(1).normal(0, 0.01, len(steps))
    again = steps[(steps > 1000) & (steps <= 1500)]
    repeated = np.r_[steps, again]
    relogged = np.r_[values, values[(steps > 1000) & (steps <= 1500)] + 0.002]
    assert find_transitions(repeated, relogged) == find_transitions(steps, values) == []


@pytest.mark.parametrize("points", [8, 10, 12, 16])
def test_a_clean_drop_over_a_few_checkpoints_is_found(points):
    steps = np.linspace(1000, 16000, points)
    values = np.where(steps < 8000, 4.2, 2.0)
    found = find_transitions(steps, values)
    assert len(found) == 1
    last_high, first_low = steps[values == 4.2][-1], steps[values == 2.0][0]
    assert found[0].step_low <= last_high + 1e-6 and first_low <= found[0].step_high + 1e-6 and found[0].grid_limited
    assert (found[0].before, found[0].after) == (4.2, 2.0)
    assert find_transitions(steps[:7], np.where(steps[:7] < 5000, 4.2, 2.0)) == []  # 7 < MIN_POINTS


def test_a_noisy_interval_is_not_grid_limited():
    steps = probe_grid()
    values = step_curve(steps, 1000, 0.3, 0.0, 1.0) + np.random.default_rng(0).normal(0, 0.15, len(steps))
    (found,) = find_transitions(steps, values)
    assert not found.grid_limited and found.step_high - found.step_low > 50  # probes every 25 steps there

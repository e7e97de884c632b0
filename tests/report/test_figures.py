import numpy as np

from phasewatch.report.figures import display_points, select_steps


def test_display_points_keeps_extremes_and_ends():
    steps = np.arange(100_000)
    values = np.random.default_rng(0).normal(size=steps.size)
    values[54_321] = 50.0  # a one-step spike that naive striding would drop
    values[77_777] = -50.0
    s, v = display_points(steps, values)
    assert len(s) <= 5_002 and s[0] == 0 and s[-1] == steps[-1]
    assert 54_321 in s and 77_777 in s and np.all(np.diff(s) > 0)
    short = np.arange(10)
    assert display_points(short, short * 1.0)[0] is short


def test_select_steps_is_log_spaced_and_bounded():
    steps = list(range(0, 100_001, 10))
    chosen = select_steps(steps, 60)
    assert len(chosen) <= 60 and chosen[0] == 0 and chosen[-1] == 100_000
    assert sum(s < 1000 for s in chosen) > 20  # log spacing: early training is not skipped
    assert select_steps([5, 1, 3]) == [1, 3, 5]

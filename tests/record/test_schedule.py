from phasewatch.record import probe_steps


def test_schedule_is_log_plus_linear_and_ends_at_the_last_step():
    steps = probe_steps(1000, every=100, log_points=10)
    assert steps[0] == 0 and steps[-1] == 1000 and steps == sorted(set(steps))
    assert {100, 500, 900} <= set(steps)
    assert {1, 2, 5} & set(steps)  # dense early: transitions start fast
    assert probe_steps(7, every=100, log_points=0) == [0, 7]

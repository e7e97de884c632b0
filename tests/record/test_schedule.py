from phasewatch.record import probe_steps


def test_schedule_is_log_plus_linear_and_ends_at_the_last_step():
    steps = probe_steps(1000, every=100, log_points=10)
    assert steps[0] == 0 and steps[-1] == 1000 and steps == sorted(set(steps))
    assert {100, 500, 900} <= set(steps)
    assert {1, 2, 5} & set(steps)  # dense early: transitions start fast
    assert probe_steps(7, every=100, log_points=0) == [0, 7]


def test_probe_steps_match_a_listed_set_and_never_list_a_long_run():
    """Against the schedule written out as a set (the definition), on random lengths; then a run of
    10**12 steps answers membership and length at once."""
    import random

    import numpy as np

    from phasewatch.record import ProbeSteps

    rng = random.Random(0)
    for _ in range(500):
        total, every, log_points = rng.randint(1, 3000), rng.randint(1, 400), rng.choice([0, 1, 5, 30, 80])
        log_spaced = np.round(np.geomspace(1, total, log_points)).astype(int) if log_points else []
        listed = sorted({0, total, *range(0, total + 1, every), *map(int, log_spaced)})
        steps = ProbeSteps(total, every, log_points)
        assert list(steps) == listed and len(steps) == len(listed)
        assert [s for s in range(-1, total + 2) if s in steps] == listed
    huge = ProbeSteps(10**12, 100, 30)
    off_grid = {int(s) for s in np.round(np.geomspace(1, 10**12, 30)) if int(s) % 100}
    assert len(huge) == 10**10 + 1 + len(off_grid) and 10**12 in huge and 10**12 - 1 not in huge and 1 in huge

"""Adaptive probing on planted curves: dense while a change happens, quiet otherwise, bounded."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from phasewatch.record.adaptive import AdaptiveProbing

SCHEDULE = set(range(0, 3001, 50))


def drive(curve, adaptive: AdaptiveProbing) -> list[int]:
    """Probe at the schedule and wherever adaptive probing asks; the probed steps."""
    probed = []
    for step in range(3001):
        scheduled = step in SCHEDULE
        if scheduled or adaptive.wants(step):
            adaptive.observe(step, {"test/accuracy": curve(step)}, scheduled)
            probed.append(step)
    return probed


def test_a_sharp_rise_is_probed_densely_and_only_around_it():
    adaptive = AdaptiveProbing(["test/*"], dense_every=5, budget=100)
    probed = drive(lambda s: 0.02 + 0.9 * expit((s - 1500) / 30.0), adaptive)
    extra = sorted(set(probed) - SCHEDULE)
    assert extra and 1300 <= extra[0] <= 1500 and extra[-1] <= 1800
    assert len(extra) == adaptive.extra <= 100
    (episode,) = adaptive.episodes  # from the scheduled probe that saw it begin to the last extra one
    assert extra[0] - 50 < episode[0] < extra[0] and episode[1] == extra[-1]


def test_a_steady_decay_and_a_flat_noisy_curve_trigger_nothing():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 3001)
    for curve in (lambda s: 3.0 * np.exp(-s / 400.0), lambda s: 0.5 + noise[s]):
        adaptive = AdaptiveProbing(["test/*"], dense_every=5, budget=100)
        assert set(drive(curve, adaptive)) == SCHEDULE
    unwatched = AdaptiveProbing(["probe/*"], dense_every=5, budget=100)
    assert set(drive(lambda s: float(s > 1500), unwatched)) == SCHEDULE


def test_the_budget_bounds_the_extra_probes():
    adaptive = AdaptiveProbing(["test/*"], dense_every=1, budget=7)
    drive(lambda s: 0.02 + 0.9 * expit((s - 1500) / 30.0), adaptive)
    assert adaptive.extra == 7


def test_a_resumed_state_decides_as_the_uninterrupted_one():
    curve = lambda s: 0.02 + 0.9 * expit((s - 1500) / 30.0)  # noqa: E731
    whole = AdaptiveProbing(["test/*"], dense_every=5, budget=100)
    probed = drive(curve, whole)
    history = [(s, {"test/accuracy": curve(s)}, s in SCHEDULE) for s in probed if s < 1520]
    resumed = AdaptiveProbing.resumed(["test/*"], 5, 100, history)
    later = []
    for step in range(1520, 3001):
        scheduled = step in SCHEDULE
        if scheduled or resumed.wants(step):
            resumed.observe(step, {"test/accuracy": curve(step)}, scheduled)
            later.append(step)
    assert later == [s for s in probed if s >= 1520] and resumed.report() == whole.report()

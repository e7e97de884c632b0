"""The mirage verdict on planted curves, and BIG-bench's breakthroughness in closed form."""

import math

import numpy as np
import pytest

from phasewatch.analysis import detect_events
from phasewatch.analysis.mirage import ARTEFACT, PERSISTS, breakthroughness, judge_events, sharpness

STEPS = np.unique(np.geomspace(1, 10_000, 80).round()).astype(np.int64)
RNG = np.random.default_rng(4)


def sigmoid_in_log_step(midpoint: float, width_decades: float, low: float, high: float) -> np.ndarray:
    x = (np.log10(STEPS + 1) - np.log10(midpoint)) / (width_decades / (2 * math.log(9)))
    return low + (high - low) / (1 + np.exp(-x)) + RNG.normal(0, 0.01, len(STEPS))


def judged(discontinuous: np.ndarray, continuous: dict[str, np.ndarray]) -> list[dict]:
    events = [e for e in detect_events({"answer/exact_match": (STEPS, discontinuous)}) if e["metric"] == "answer/exact_match"]
    assert len(events) == 1  # the planted jump is dated
    curves = {name: (STEPS, values) for name, values in continuous.items()}
    judge_events(events, curves, {"answer/exact_match": tuple(continuous)})
    return events


def test_a_jump_the_continuous_metrics_share_persists():
    jump = sigmoid_in_log_step(500, 0.3, 0.0, 1.0)
    events = judged(
        jump, {"answer/token_accuracy": sigmoid_in_log_step(480, 0.4, 0.3, 1.0), "answer/brier": np.full(len(STEPS), 0.5)}
    )
    assert events[0]["verdict"] == PERSISTS and events[0]["persists_on"] == ["answer/token_accuracy"]


def test_a_jump_through_smooth_continuous_metrics_is_a_metric_artefact():
    """Schaeffer et al.'s mechanism: per-token accuracy p rises steadily in log-step, exact match
    is planted as a sharp jump at its middle: nothing sharp happens to p there."""
    smooth = np.clip(0.2 + 0.2 * np.log10(STEPS + 1), 0, 1) + RNG.normal(0, 0.01, len(STEPS))
    events = judged(sigmoid_in_log_step(500, 0.3, 0.0, 1.0), {"answer/token_accuracy": smooth})
    assert events[0]["verdict"] == ARTEFACT and events[0]["persists_on"] == []


def test_a_change_elsewhere_does_not_make_it_persist():
    elsewhere = sigmoid_in_log_step(20, 0.3, 0.0, 1.0)  # two decades earlier
    events = judged(sigmoid_in_log_step(2_000, 0.3, 0.0, 1.0), {"answer/log_likelihood": elsewhere})
    assert events[0]["verdict"] == ARTEFACT


def test_no_continuous_curve_no_verdict():
    events = [{"metric": "answer/exact_match", "onset": 10, "end": 20}, {"metric": "test/loss", "onset": 1, "end": 2}]
    judge_events(events, {}, {"answer/exact_match": ("answer/brier",)})
    assert all("verdict" not in e for e in events)


def test_breakthroughness_closed_forms():
    assert breakthroughness(np.linspace(0, 1, 11)) == pytest.approx(10)  # (max − min) / step = n − 1
    assert breakthroughness(np.linspace(1, 0, 11)) == pytest.approx(-10)  # falls: negative
    assert breakthroughness([0, 0, 0, 0, 1, 1, 1]) == math.inf  # one jump, no typical step
    y = np.array([0.0, 0.1, 0.2, 0.9, 1.0])  # diffs .1 .1 .7 .1: median² .01
    assert breakthroughness(y) == pytest.approx(1.0 / 0.1)
    assert math.isnan(breakthroughness([1.0, 2.0]))
    assert sharpness({"a": (np.array([2, 1, 0]), np.array([1.0, 0.5, 0.0])), "b": (STEPS[:4], np.zeros(4))}) == {
        "a": 2.0,
        "b": 0.0,
    }


def test_a_continuous_change_that_ends_with_the_run_still_counts():
    """The detector cannot date a change without a level after it; the share of the movement
    inside the event's span still shows that the continuous metric jumped with it."""
    jump = sigmoid_in_log_step(500, 0.3, 0.0, 1.0)
    cut = STEPS <= 700  # the continuous curve stops half-way up its own jump
    curves = {"answer/log_likelihood": (STEPS[cut], sigmoid_in_log_step(520, 0.3, -2.0, 0.0)[cut])}
    events = [e for e in detect_events({"answer/exact_match": (STEPS, jump)}) if e["metric"] == "answer/exact_match"]
    judge_events(events, curves, {"answer/exact_match": ("answer/log_likelihood",)})
    assert events[0]["verdict"] == PERSISTS

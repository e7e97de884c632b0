"""detect_events names transitions by the documented rules; relate_events orders them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from analysis_curves import probe_grid, step_curve

from phasewatch.analysis import detect_events, relate_events, unjudged

KEYS = {"kind", "metric", "step", "step_low", "step_high", "onset", "end", "before", "after", "width", "score", "grid_limited"}
STEPS = probe_grid(3000, 20, 50)  # ~190 points, log-spaced to ~100, then every 20


def noisy(values, sd, seed):
    return values + np.random.default_rng(seed).normal(0, sd, len(STEPS))


def train_accuracy(mid=50.0, top=1.0, seed=0):
    """Memorisation: 99 % of `top` from step ~130 on (mid 50, 10-90 % over 0.4 decades)."""
    return np.minimum(noisy(step_curve(STEPS, mid, 0.4, 0.02, top), 0.003, seed), 1.0)


def kinds(events, kind):
    return [e for e in events if e["kind"] == kind]


@pytest.mark.parametrize("seed", range(3))
def test_grokking_is_one_event_dated_inside_the_jump(seed):
    test = noisy(step_curve(STEPS, 1000, 0.3, 0.03, 0.98) + step_curve(STEPS, 60, 0.5, 0.0, 0.03), 0.02, seed)
    events = detect_events({"train/accuracy": (STEPS, train_accuracy(seed=seed)), "test/accuracy": (STEPS, test)})
    grokking = kinds(events, "grokking")
    assert len(grokking) == 1
    event = grokking[0]
    onset, end = 1000 * 10**-0.15, 1000 * 10**0.15  # the planted jump's 10 % and 90 % points
    assert event["metric"] == "test/accuracy" and onset < event["step"] < end
    assert event["step_low"] <= 1000 <= event["step_high"] and event["after"] - event["before"] > 0.9
    assert not kinds(events, "loss_cliff") and [e["metric"] for e in kinds(events, "transition")] == ["train/accuracy"]


def test_creeping_test_accuracy_without_weight_decay_is_not_grokking():
    creep = noisy(0.05 + 0.35 * np.log1p(STEPS) / np.log1p(3000), 0.02, 0)  # 0.05 -> 0.4, the wd = 0 control
    events = detect_events({"train/accuracy": (STEPS, train_accuracy()), "test/accuracy": (STEPS, creep)})
    assert not kinds(events, "grokking")
    small_jump = noisy(step_curve(STEPS, 1000, 0.2, 0.05, 0.4), 0.01, 0)  # sharp, but only +0.35
    events = detect_events({"train/accuracy": (STEPS, train_accuracy()), "test/accuracy": (STEPS, small_jump)})
    assert [e["kind"] for e in events if e["metric"] == "test/accuracy"] == ["transition"]


@pytest.mark.parametrize(
    ("test_mid", "train_top", "why"),
    [(200, 1.0, "test rises with train: midpoint < 2x the saturation step"), (1000, 0.7, "train never saturates")],
)
def test_a_test_accuracy_jump_without_the_delay_is_a_plain_transition(test_mid, train_top, why):
    test = noisy(step_curve(STEPS, test_mid, 0.2, 0.02, 0.95), 0.02, 1)
    events = detect_events({"train/accuracy": (STEPS, train_accuracy(top=train_top)), "test/accuracy": (STEPS, test)})
    assert [e["kind"] for e in events if e["metric"] == "test/accuracy"] == ["transition"], why


def test_a_test_accuracy_jump_without_a_train_curve_is_a_plain_transition():
    test = noisy(step_curve(STEPS, 1000, 0.2, 0.02, 0.95), 0.02, 1)
    assert [e["kind"] for e in detect_events({"test/accuracy": (STEPS, test)})] == ["transition"]


def test_loss_cliff_after_a_plateau():
    settle = 3.4 * np.exp(-STEPS / 5.0)  # fast early fall, flat at 4.6 from step ~20
    loss = noisy(4.6 + settle + step_curve(STEPS, 800, 0.2, 0.0, -4.4), 0.02, 0)
    events = detect_events({"train/loss": (STEPS, loss)})
    assert [e["kind"] for e in events] == ["plateau", "loss_cliff"]
    plateau, cliff = events
    assert 10 <= plateau["step"] <= 60 and plateau["end"] == cliff["onset"]
    assert plateau["width"] == plateau["end"] - plateau["step"] and plateau["before"] == pytest.approx(4.6, abs=0.05)
    assert cliff["step_low"] <= 800 <= cliff["step_high"] and cliff["after"] == pytest.approx(0.2, abs=0.05)


def test_no_plateau_when_the_loss_is_still_falling_or_has_not_moved_before_its_cliff():
    falling = noisy(5.0 - np.log10(STEPS + 1.0) + step_curve(STEPS, 1000, 0.2, 0.0, -1.5), 0.02, 0)
    unmoved = noisy(4.6 + step_curve(STEPS, 800, 0.2, 0.0, -4.4), 0.02, 0)  # at its initial level until the cliff
    assert [e["kind"] for e in detect_events({"test/loss": (STEPS, falling)})] == ["loss_cliff"]
    assert [e["kind"] for e in detect_events({"train/loss": (STEPS, unmoved)})] == ["loss_cliff"]


def test_structure_metrics_crystallise_and_collapse_other_changes_are_transitions():
    curves = {
        "fourier_sparsity/embed": (STEPS, noisy(step_curve(STEPS, 700, 0.3, 0.1, 0.8), 0.01, 0)),
        "semantic_alignment/class_means": (STEPS, noisy(step_curve(STEPS, 300, 0.3, 0.9, 0.2), 0.01, 1)),
        "excluded_loss/logits": (STEPS, noisy(step_curve(STEPS, 500, 0.3, 0.5, 3.0), 0.05, 2)),  # a loss that rises
    }
    events = detect_events(curves, structure_metrics=["fourier_sparsity/*", "semantic_alignment/class_means"])
    assert [(e["kind"], e["metric"]) for e in events] == [
        ("collapse", "semantic_alignment/class_means"),
        ("transition", "excluded_loss/logits"),
        ("crystallisation", "fourier_sparsity/embed"),
    ]
    # Without the experiment's patterns, only the probes' declarations name them: semantic alignment
    # is declared to crystallise and collapse (probes/semantic.py), the Fourier measures are not.
    assert [e["kind"] for e in detect_events(curves)] == ["collapse", "transition", "transition"]


def test_events_are_plain_sorted_and_json_ready():
    loss = noisy(4.6 + 3.4 * np.exp(-STEPS / 5.0) + step_curve(STEPS, 800, 0.2, 0.0, -4.4), 0.02, 0)
    test = noisy(step_curve(STEPS, 1000, 0.3, 0.03, 0.98), 0.02, 0)
    events = detect_events(
        {"train/loss": (STEPS, loss), "train/accuracy": (STEPS, train_accuracy()), "test/accuracy": (STEPS, test)}
    )
    assert sorted(e["kind"] for e in events) == ["grokking", "loss_cliff", "plateau", "transition"]
    assert [e["step"] for e in events] == sorted(e["step"] for e in events)
    for e in events:
        assert set(e) == KEYS
        assert all(type(e[k]) is int for k in ("step", "step_low", "step_high", "onset", "end", "width"))
        assert all(type(e[k]) is float for k in ("before", "after", "score"))
        assert type(e["grid_limited"]) is bool
        assert e["step_low"] <= e["step"] <= e["step_high"]
    assert json.loads(json.dumps(events)) == events


def test_progress_measure_leads_the_grokking_jump():
    curves = {
        "train/accuracy": (STEPS, train_accuracy()),
        "test/accuracy": (STEPS, noisy(step_curve(STEPS, 1000, 0.3, 0.03, 0.98), 0.02, 0)),
        "restricted_loss/logits": (STEPS, noisy(step_curve(STEPS, 700, 0.3, 4.0, 0.5), 0.03, 1)),
    }
    relations = relate_events(detect_events(curves))
    (relation,) = [r for r in relations if r["first_metric"] == "restricted_loss/logits"]
    assert (relation["first_metric"], relation["second_metric"]) == ("restricted_loss/logits", "test/accuracy")
    assert (relation["first_kind"], relation["second_kind"]) == ("loss_cliff", "grokking")
    assert 250 <= relation["lead_steps"] <= 350 and relation["onset_lead_steps"] > 0
    assert relation["text"] == f"restricted_loss/logits fell {relation['lead_steps']:,} steps before test/accuracy rose"


def event(metric, kind, step, onset, end, before, after):
    return {
        "kind": kind,
        "metric": metric,
        "step": step,
        "step_low": step,
        "step_high": step,
        "onset": onset,
        "end": end,
        "before": before,
        "after": after,
        "width": end - onset,
        "score": 50.0,
    }


def test_relate_events_lead_sign_text_and_what_is_left_out():
    grok = event("test/accuracy", "grokking", 10000, 9000, 11000, 0.01, 0.99)
    restricted = event("restricted_loss/logits", "loss_cliff", 7900, 6000, 9500, 4.0, 0.5)
    norm = event("weight_norm/total", "transition", 10000, 9500, 10500, 60.0, 40.0)
    early = event("train/accuracy", "transition", 60, 30, 110, 0.0, 1.0)  # far from all but the grokking
    again = event("test/accuracy", "transition", 12000, 11500, 12500, 0.99, 0.9)  # same metric as grok
    plateau = event("train/loss", "plateau", 20, 20, 6000, 4.6, 4.6)
    relations = relate_events([grok, norm, plateau, again, early, restricted])
    assert [(r["first_metric"], r["second_metric"]) for r in relations] == [
        ("train/accuracy", "test/accuracy"),  # every earlier event is a precursor of grokking
        ("restricted_loss/logits", "test/accuracy"),
        ("restricted_loss/logits", "weight_norm/total"),
        ("restricted_loss/logits", "test/accuracy"),
        ("test/accuracy", "weight_norm/total"),
        ("weight_norm/total", "test/accuracy"),
    ]
    assert relations[0]["lead_steps"] == 9940
    first = relations[1]
    assert first["lead_steps"] == 2100 and first["onset_lead_steps"] == 3000
    assert first["text"] == "restricted_loss/logits fell 2,100 steps before test/accuracy rose"
    assert relations[4]["text"] == "test/accuracy rose together with weight_norm/total fell"
    assert [r["lead"] for r in relations] == [True, True, True, True, False, True]
    assert relations[5]["lead_steps"] == 2000 and relations[5]["onset_lead_steps"] == 2000
    assert relate_events([grok]) == [] and relate_events([early, again]) == []
    one_step = relate_events(
        [event("a/loss", "loss_cliff", 10, 8, 12, 1.0, 0.0), event("b/accuracy", "transition", 11, 9, 13, 0.0, 1.0)]
    )
    assert one_step[0]["text"] == "a/loss fell 1 step before b/accuracy rose"


def test_every_earlier_event_is_related_to_grokking_however_far_before():
    def event(kind, metric, step, before, after):
        return {
            "kind": kind,
            "metric": metric,
            "step": step,
            "step_low": step - 5,
            "step_high": step + 5,
            "onset": step - 10,
            "end": step + 10,
            "before": before,
            "after": after,
            "width": 20,
            "score": 10.0,
        }

    events = [
        event("loss_cliff", "restricted_loss/logits", 400, 2.0, 0.01),
        event("grokking", "test/accuracy", 3100, 0.3, 1.0),
        event("loss_cliff", "train/loss", 70, 4.0, 0.0),
    ]
    texts = [r["text"] for r in relate_events(events)]
    assert "restricted_loss/logits fell 2,700 steps before test/accuracy rose" in texts
    assert "train/loss fell 3,030 steps before test/accuracy rose" in texts
    assert not any("train/loss" in t and "restricted_loss" in t for t in texts)  # far apart, neither is grokking


def test_an_induction_score_rising_to_a_high_level_is_an_induction_onset():
    steps = probe_grid(3000, 50)
    rng = np.random.default_rng(0)
    high = step_curve(steps, 1700, 0.1, 0.02, 0.75) + rng.normal(0, 0.005, len(steps))
    low = step_curve(steps, 1700, 0.1, 0.02, 0.06) + rng.normal(0, 0.002, len(steps))
    events = detect_events({"induction_score/max": (steps, high), "induction_score/L0H1": (steps, low)})
    onsets = [e for e in events if e["kind"] == "induction_onset"]
    assert [e["metric"] for e in onsets] == ["induction_score/max"]
    assert onsets[0]["step_low"] <= 1700 <= onsets[0]["step_high"]
    assert all(e["kind"] != "induction_onset" for e in events if e["metric"] == "induction_score/L0H1")
    assert not detect_events({"induction_score/max": (steps, 0.03 + rng.normal(0, 0.005, len(steps)))})


def test_a_lead_is_claimed_only_when_the_intervals_are_apart():
    def change(metric, step, low, high, before, after):
        return {**event(metric, "transition", step, step - 50, step + 50, before, after), "step_low": low, "step_high": high}

    apart = relate_events(
        [change("induction_score/max", 1000, 950, 1040, 0.0, 0.8), change("train/loss", 1100, 1060, 1150, 3.0, 1.0)]
    )
    assert apart[0]["lead"] and apart[0]["text"] == "induction_score/max rose 100 steps before train/loss fell"
    overlapping = relate_events(
        [change("induction_score/max", 1000, 950, 1080, 0.0, 0.8), change("train/loss", 1100, 1060, 1150, 3.0, 1.0)]
    )
    assert not overlapping[0]["lead"] and overlapping[0]["lead_steps"] == 100
    assert overlapping[0]["text"] == "induction_score/max rose together with train/loss fell"


def test_a_diverging_curve_gets_a_divergence_event_and_is_judged_before_it():
    steps = probe_grid(3000, 20)
    loss = step_curve(steps, 300, 0.2, 4.0, 1.0) + np.random.default_rng(0).normal(0, 0.02, len(steps))
    exploded = np.where(steps >= 2000, 1e30, loss)
    nan = np.where(steps >= 2000, np.nan, loss)
    for values in (exploded, nan):
        events = detect_events({"train/loss": (steps, values)})
        assert [e["kind"] for e in events] == ["loss_cliff", "divergence"]
        cliff, diverged = events
        assert cliff["after"] == pytest.approx(1.0, abs=0.1)  # not dragged towards 1e30
        assert diverged["step"] == 2000 and diverged["step_low"] == steps[steps < 2000][-1]
        assert diverged["after"] == (1e30 if values is exploded else None)
        assert json.loads(json.dumps(events)) == events
    isolated = loss.copy()
    isolated[40] = np.nan  # one missing probe is not a divergence
    assert [e["kind"] for e in detect_events({"train/loss": (steps, isolated)})] == ["loss_cliff"]


def test_curves_that_cannot_be_judged_say_why():
    steps = probe_grid(3000, 20)
    reasons = unjudged(
        {
            "short": (np.arange(7), np.arange(7.0)),
            "flat": (steps, np.ones(len(steps))),
            "coarse": (np.array([0, 10, 100, 1000, 10**4, 10**5, 10**6, 10**7, 10**8]), np.arange(9.0)),
            "fine": (steps, np.sin(steps / 100.0)),
        }
    )
    assert reasons["short"] == "7 points, 8 needed" and reasons["flat"] == "constant"
    assert reasons["coarse"].startswith("too coarse: points 1.00 decades apart")
    assert "fine" not in reasons

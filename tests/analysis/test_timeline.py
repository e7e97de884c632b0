"""phase_timeline names the spans between events by the documented rule (analysis/timeline.py)."""

from __future__ import annotations

import json

import pytest

from phasewatch.analysis import phase_timeline, timeline_lines

PHASES = {
    "syntax": ["selection/syntactic_*", "dependency_syntax/max"],
    "semantics": ["selection/semantic_*", "attribute_probe/*", "semantic_alignment/*"],
}
KEYS = {"name", "start", "end", "start_share", "end_share", "metrics", "events"}


def event(metric, onset, end, kind="transition", step=None, before=0.0, after=1.0):
    step = (onset + end) // 2 if step is None else step
    return {
        "kind": kind,
        "metric": metric,
        "step": step,
        "step_low": step - 5,
        "step_high": step + 5,
        "onset": onset,
        "end": end,
        "before": before,
        "after": after,
        "width": end - onset,
        "score": 10.0,
    }


LANGUAGE = [
    event("train/loss", 20, 90, kind="loss_cliff", before=5.0, after=3.0),
    event("selection/syntactic_accuracy", 120, 600),
    event("selection/syntactic_mass", 150, 900),
    event("dependency_syntax/max", 200, 500),
    event("selection/semantic_accuracy", 1500, 2400, kind="crystallisation"),
    event("attribute_probe/animacy", 1300, 2000),
    event("train/loss", 1400, 2100, kind="loss_cliff", before=3.0, after=2.0),
    event("test/loss", 3500, 3700, kind="loss_cliff", before=2.0, after=1.9),
]


def names(timeline):
    return [(s["name"], s["start"], s["end"]) for s in timeline]


def test_spans_run_from_memorisation_through_each_phase_to_refinement():
    timeline = phase_timeline(LANGUAGE, PHASES, last_step=4000)
    # semantics opens where its first measure is half done (attribute_probe, midpoint 1650)
    assert names(timeline) == [
        ("memorisation", 0, 120),
        ("syntax", 120, 1650),
        ("semantics", 1650, 2400),
        ("refinement", 2400, 4000),
    ]
    assert all(set(span) == KEYS for span in timeline)
    memorisation, syntax, semantics, refinement = timeline
    assert memorisation["metrics"] == ["train/loss"] and memorisation["events"] == 1  # only the loss moved
    assert syntax["metrics"] == ["dependency_syntax/max", "selection/syntactic_accuracy", "selection/syntactic_mass"]
    assert syntax["events"] == 3
    assert semantics["metrics"] == ["attribute_probe/animacy", "selection/semantic_accuracy"]  # a fall counts too
    assert refinement["metrics"] == ["test/loss"] and refinement["events"] == 1
    assert (syntax["start_share"], syntax["end_share"]) == (120 / 4000, 1650 / 4000)
    assert refinement["end_share"] == 1.0
    json.dumps(timeline)  # saved as an analysis result


def test_phases_are_ordered_by_their_midpoints_not_by_the_config():
    events = [event("selection/semantic_accuracy", 50, 300), event("selection/syntactic_accuracy", 400, 800)]
    assert names(phase_timeline(events, PHASES, 1000)) == [
        ("memorisation", 0, 50),
        ("semantics", 50, 600),
        ("syntax", 600, 800),
        ("refinement", 800, 1000),
    ]


def test_overlapping_phases_split_where_the_later_one_is_half_done():
    # semantic accuracy starts moving first (onset 25) but is half done later than syntax (76 vs 46)
    events = [event("selection/syntactic_accuracy", 28, 72, step=46), event("selection/semantic_choice", 25, 249, step=76)]
    assert names(phase_timeline(events, PHASES, 3000)) == [
        ("memorisation", 0, 25),
        ("syntax", 25, 76),
        ("semantics", 76, 249),
        ("refinement", 249, 3000),
    ]


def test_no_memorisation_when_a_phase_opens_at_step_0_and_no_refinement_when_it_ends_the_run():
    events = [event("selection/syntactic_accuracy", 0, 300), event("selection/semantic_accuracy", 500, 1200)]
    # semantics opens at its midpoint 850; its end (1200) is clipped to the run
    assert names(phase_timeline(events, PHASES, 1000)) == [("syntax", 0, 850), ("semantics", 850, 1000)]


def test_a_phase_with_no_event_is_absent():
    events = [event("train/loss", 10, 40, kind="loss_cliff"), event("selection/syntactic_accuracy", 100, 300)]
    timeline = phase_timeline(events, PHASES, 1000)
    assert names(timeline) == [("memorisation", 0, 100), ("syntax", 100, 300), ("refinement", 300, 1000)]
    assert "semantics" not in {s["name"] for s in timeline}


def test_unknown_metrics_and_plateaus_open_nothing():
    events = [
        event("selection/syntactic_accuracy", 100, 300),
        event("selection/semantic_accuracy", 10, 900, kind="plateau"),  # a span, not a change
        event("weight_norm/total", 5, 50),  # matches no phase
    ]
    timeline = phase_timeline(events, PHASES, 1000)
    assert names(timeline) == [("memorisation", 0, 100), ("syntax", 100, 300), ("refinement", 300, 1000)]
    assert timeline[0]["metrics"] == ["weight_norm/total"]  # it moved during memorisation


@pytest.mark.parametrize("phases", [PHASES, {}])
def test_no_phase_event_gives_an_empty_timeline(phases):
    events = [event("train/loss", 10, 40, kind="loss_cliff"), event("selection/syntactic_accuracy", 5, 900, kind="plateau")]
    assert phase_timeline(events, phases, 1000) == []
    assert phase_timeline([], phases, 1000) == []
    assert timeline_lines([]) == []


def test_an_event_belongs_to_the_first_phase_that_matches_it():
    phases = {"induction": ["induction_score/*"], "copying": ["*_score/*"]}
    events = [event("induction_score/L1H0", 300, 600, kind="induction_onset"), event("prev_token_score/L0H1", 100, 200)]
    timeline = phase_timeline(events, phases, 1000)
    assert names(timeline) == [
        ("memorisation", 0, 100),
        ("copying", 100, 450),
        ("induction", 450, 600),
        ("refinement", 600, 1000),
    ]
    assert timeline[2]["metrics"] == ["induction_score/L1H0"]


def test_lines_give_steps_shares_and_metrics():
    lines = timeline_lines(phase_timeline(LANGUAGE, PHASES, last_step=4000))
    assert lines[0] == "memorisation: steps 0–120 (0–3 % of training), from train/loss"
    assert lines[1] == (
        "syntax: steps 120–1,650 (3–41 % of training), from dependency_syntax/max, "
        "selection/syntactic_accuracy, selection/syntactic_mass"
    )
    assert lines[3] == "refinement: steps 2,400–4,000 (60–100 % of training), from test/loss"
    early = phase_timeline([event("selection/syntactic_accuracy", 4, 20)], PHASES, 1000)
    assert timeline_lines(early)[0] == "memorisation: steps 0–4 (0–0.4 % of training)"  # no event: no "from"


def test_a_pattern_may_name_an_event_kind_so_a_wobble_opens_nothing():
    wobble = {
        "kind": "transition",
        "metric": "induction_score/max",
        "step": 900,
        "step_low": 850,
        "step_high": 950,
        "onset": 800,
        "end": 1000,
        "before": 0.02,
        "after": 0.06,
        "width": 200,
        "score": 5.0,
    }
    onset = {**wobble, "kind": "induction_onset", "step": 2500, "onset": 2400, "end": 2600, "after": 0.6}
    assert phase_timeline([wobble], {"induction": ["induction_onset"]}, 4000) == []
    names = [p["name"] for p in phase_timeline([wobble, onset], {"induction": ["induction_onset"]}, 4000)]
    assert names == ["memorisation", "induction", "refinement"]

"""Attention patterns of the top heads around the onset: which heads, which frames, where the
slider opens, and that only the frames shown are loaded."""

from __future__ import annotations

import numpy as np
from language_fakes import EVENTS, ONSET_HIGH, ONSET_LOW, ONSET_STEP, TOKENS, T, attention_steps, make_language_run
from plotly.offline import get_plotlyjs

from phasewatch.report import write_report
from phasewatch.report.attention import attention_figure, attention_frames, onset_event, top_heads
from phasewatch.report.common import curves
from phasewatch.report.matrices import saved_matrices_figure


def final(value):
    return np.array([0, 10]), np.array([0.0, value])


def test_top_heads_are_one_per_family_deduplicated_and_at_most_four():
    data = {
        "induction_score/L1H0": final(0.74),
        "induction_score/L1H1": final(0.2),
        "prev_token_score/L0H1": final(0.9),
        "prev_token_score/L1H0": final(0.1),
        "dependency_semantic/L1H0": final(0.5),  # the induction head again: one panel, both scores in its title
        "dependency_syntax/L2H3": final(0.6),
        "dependency_syntax/max": final(0.9),  # not a head
        "other/L0H0": final(5.0),
    }
    assert top_heads(data) == [
        (1, 0, "L1H0 · induction 0.74 · semantic 0.50"),
        (0, 1, "L0H1 · previous-token 0.90"),
        (2, 3, "L2H3 · syntax 0.60"),
    ]
    many = {
        f"{family}/L{k}H0": final(1.0)
        for k, family in enumerate(("induction_score", "prev_token_score", "dependency_syntax", "dependency_semantic"))
    }
    many["dependency_semantic/L0H0"] = final(2.0)
    assert [t[:2] for t in top_heads(many)] == [(0, 0), (1, 0), (2, 0)]  # semantic's top is L0H0, already shown
    assert top_heads({"train/loss": final(1.0)}) == []


def test_the_onset_is_the_induction_event_else_one_on_a_head_score():
    assert onset_event(EVENTS)["kind"] == "induction_onset"
    on_head = {"kind": "transition", "metric": "prev_token_score/L0H1", "step": 500, "step_low": 400, "step_high": 600}
    others = [e for e in EVENTS if e["kind"] != "induction_onset"]
    assert onset_event(others + [on_head]) is on_head
    assert onset_event(others) is None


def test_frames_are_log_spaced_and_dense_around_the_onset():
    saved = attention_steps()
    frames, labels, active = attention_frames(saved, onset_event(EVENTS))
    assert {s for s in saved if ONSET_LOW <= s <= ONSET_HIGH} <= set(frames)
    assert frames[0] == 0 and frames[-1] == saved[-1] and set(frames) <= set(saved)
    assert active == ONSET_STEP and labels[ONSET_STEP] == "onset" and labels[0] == "init"
    plain, _, opened = attention_frames(saved, None)
    assert opened == saved[-1] and len(plain) <= len(frames)


def test_figure_opens_at_the_onset_and_loads_only_the_frames_shown(tmp_path):
    run = make_language_run(tmp_path)
    loaded = []
    load = run.load_array
    run.load_array = lambda probe, step: loaded.append((probe, step)) or load(probe, step)
    fig = attention_figure(run, curves(run), run.events)
    frames = [int(f.name) for f in fig.frames]
    assert loaded == [("attention", s) for s in frames]
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["L1H0 · induction 0.74 · semantic 0.55", "L0H1 · previous-token 0.91", "L1H1 · syntax 0.60"]
    [slider] = fig.layout.sliders
    assert frames[slider.active] == ONSET_STEP and slider.steps[slider.active].label == f"{ONSET_STEP} (onset)"
    opened = fig.data[0].z  # L1H0 at the onset: already half an induction head
    assert np.asarray(opened).shape == (T, T) and 0.3 < np.asarray(opened)[8, 5] < 0.7
    assert list(fig.layout.xaxis.ticktext) == [str(int(t)) for t in TOKENS]
    assert saved_matrices_figure(run) is None  # the 4-D stack is not in the generic matrices section


def test_report_has_the_attention_section(tmp_path):
    run = make_language_run(tmp_path)
    page = write_report(run).read_text(encoding="utf-8").replace(get_plotlyjs(), "")
    assert "<h2>Attention around the onset</h2>" in page and "Matrices over time" not in page
    assert f'"label":"{ONSET_STEP} (onset)"' in page and r"L1H0 \u00b7 induction 0.74" in page  # JSON escapes "·"
    frames = attention_frames(attention_steps(), onset_event(EVENTS))[0]
    assert f'"active":{frames.index(ONSET_STEP)}' in page  # the slider opens at the onset


def test_no_attention_section_without_patterns_or_scores(tmp_path, grokking_run):
    run = make_language_run(tmp_path, attention=False)
    assert attention_figure(run, curves(run), run.events) is None
    assert attention_figure(grokking_run, curves(grokking_run), grokking_run.events) is None

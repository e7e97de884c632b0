"""The phases-of-learning experiments end to end: the induction phase change and its 1-layer control (slow), and
a short real run of the generated language through the whole pipeline (fast)."""

import numpy as np
import pytest

import phasewatch as pw


@pytest.mark.slow
def test_a_two_layer_model_forms_an_induction_head_and_phasewatch_dates_it(tmp_path):
    run = pw.run("induction", store=tmp_path, name="two")
    onsets = [e for e in run.events if e["kind"] == "induction_onset"]
    assert len(onsets) == 1
    onset = onsets[0]
    steps, induction = run.metric("induction_score/max")
    _, repeat = run.metric("in_context/repeat_loss")
    before, after = steps < onset["step_low"], steps > onset["step_high"]
    assert induction[before].max() < 0.15 and induction[after][-1] > 0.5  # the head appears inside the window
    assert repeat[before][-1] > 3.5 and repeat[-1] < 1.0  # ≈ log 64 before, near 0 after: copying from context
    cliffs = [e for e in run.events if e["kind"] == "loss_cliff" and e["metric"] == "test/loss"]
    assert any(c["step_low"] <= onset["step_high"] and onset["step_low"] <= c["step_high"] for c in cliffs)
    assert [p["name"] for p in run.analysis("phases")["phases"]][:2] == ["memorisation", "induction"]


@pytest.mark.slow
def test_a_one_layer_model_trained_as_long_shows_no_induction_head_and_no_event(tmp_path):
    run = pw.run("induction-1layer", store=tmp_path, name="one")
    assert not [e for e in run.events if e["kind"] == "induction_onset"]
    assert run.metric("induction_score/max")[1].max() < 0.15
    assert run.metric("in_context/repeat_loss")[1][-1] > 3.0
    assert run.analysis("phases")["phases"] == []


def test_a_short_language_run_records_syntax_semantics_heads_and_a_timeline(tmp_path):
    run = pw.run(
        "grammar",
        store=tmp_path,
        name="lang",
        assignments=[
            "steps=400",
            "d_model=32",
            "d_mlp=64",
            "n_heads=2",
            "d_head=16",
            "test_sentences=256",
            "every=50",
            "log_points=15",
        ],
    )
    names = set(run.metric_names())
    for metric in (
        "selection/syntactic_accuracy",
        "selection/semantic_choice",
        "attribute_probe/mean",
        "dependency_syntax/max",
        "dependency_semantic/max",
        "semantic_alignment/features",
        "induction_score/L1H0",
    ):
        assert metric in names
    _, syntax = run.metric("selection/syntactic_accuracy")
    assert syntax[-1] > 0.8 > syntax[0]  # syntax is learned within 400 steps
    timeline = run.analysis("phases")["phases"]
    assert timeline and timeline[0]["start"] == 0 and timeline[-1]["end"] == 400
    assert "syntax" in {p["name"] for p in timeline}
    page = (run.path / "report.html").read_text()
    for section in ("Phases", "Syntax and semantics", "Attention around the onset"):
        assert f"<h2>{section}</h2>" in page
    assert np.isfinite(run.metric("test/loss")[1]).all()

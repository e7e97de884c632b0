"""A run's end: curves the detector cannot judge are saved with their reason and shown."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from phasewatch.config import EventConfig
from phasewatch.record.detection import find_events
from phasewatch.report import print_summary
from phasewatch.store import UNJUDGED, Run


def test_curves_too_short_to_judge_are_saved_and_shown_with_their_reason(tmp_path):
    run = Run.create(tmp_path, "short", experiment="test", config={}, seed=0)
    writer = run.writer(5.0)
    for step, loss in zip(range(0, 6000, 1000), [4.2, 4.2, 4.2, 2.0, 2.0, 2.0]):
        writer.log(step, {"train/loss": loss, "train/accuracy": 0.5})
    writer.close()
    assert find_events(run, EventConfig(watch=["train/*"])) == []
    assert run.analysis(UNJUDGED) == {"curves": {"train/accuracy": "6 points, 8 needed", "train/loss": "6 points, 8 needed"}}
    console = Console(record=True, width=120)
    print_summary(run, console=console)
    text = console.export_text()
    assert "no events detected" in text and "not judged: train/loss: 6 points, 8 needed" in text


def test_adaptive_probing_narrows_a_grid_limited_interval_at_a_bounded_cost(tmp_path):
    """A planted sharp rise between scheduled probes 50 steps apart, recorded with and without
    adaptive probing: with it the extra probes sit around the rise and the event is dated finer."""
    from phasewatch.models.mlp import QuadraticMLP
    from phasewatch.probes import PROBES, Metric, ProbeContext, ProbeResult, probe
    from phasewatch.record import Recorder
    from phasewatch.record.adaptive import AdaptiveProbing
    from phasewatch.tasks.modular import modular_task

    now = {"step": 0}
    planted = Metric("planted/*", "a planted sigmoid of the step")

    @probe("planted_rise", metrics=[planted])
    def planted_rise(ctx):
        return ProbeResult({planted.at("value"): float(1 / (1 + np.exp(-(now["step"] - 1510) / 4.0)))})

    task = modular_task(5, "+", 0.5, 0)
    context = ProbeContext.of_task(QuadraticMLP(5, 5, width=4), task)
    schedule = set(range(0, 3001, 50))
    widths = {}
    try:
        for adaptive in (None, AdaptiveProbing(["planted/*"], dense_every=5, budget=40)):
            run = Run.create(tmp_path, f"adaptive-{adaptive is not None}", experiment="test", config={}, seed=0)
            recorder = Recorder(
                run, context, ["planted_rise"], schedule, detection=EventConfig(watch=["planted/*"]), adaptive=adaptive
            )
            for step in range(3001):
                if recorder.due(step):
                    now["step"] = step
                    recorder.probe(step)
            (event,) = recorder.finish()
            widths[adaptive is not None] = event["step_high"] - event["step_low"]
            assert event["step_low"] <= 1510 <= event["step_high"]
        report = Run.open(tmp_path, "adaptive-True").info["adaptive"]
        steps = Run.open(tmp_path, "adaptive-True").metric("planted/value")[0].astype(int)
        extra = sorted(set(steps.tolist()) - schedule)
        assert 0 < report["extra_probes"] == len(extra) <= 40
        assert all(1400 <= step <= 1700 for step in extra), extra
        assert widths[False] >= 50 and widths[True] <= 10  # the probe spacing, then the dense spacing
    finally:
        PROBES.pop("planted_rise", None)

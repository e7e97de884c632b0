"""A synthetic run of the phases language with an attention probe: syntax rises at ~300 steps,
an induction head forms at ~800 (its `induction_onset` event, interval [700, 950]), semantics
crystallises at ~2,000; attention patterns saved log-spaced and densely around the onset, and the
phase timeline saved as the pipeline saves it. A module of its own, not conftest, so tests import
it under a name no other conftest shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from report_fakes import HOSTILE, probe_schedule, sigmoid_in_log_step

from phasewatch.analysis import phase_timeline
from phasewatch.store import Run

STEPS = 4000
LAYERS, HEADS, T = 2, 2, 12
ONSET_STEP, ONSET_LOW, ONSET_HIGH = 800, 700, 950
PHASES = {
    "syntax": ["selection/syntactic_*", "dependency_syntax/max"],
    "semantics": ["selection/semantic_*", "attribute_probe/*", "semantic_alignment/*"],
    "induction": ["induction_score/*"],
}
TOKENS = torch.tensor([5, 9, 2, 7, 5, 9, 2, 7, 5, 9, 2, 7])


def event(kind, metric, step, low, high, before=0.0, after=1.0):
    return {
        "kind": kind,
        "metric": metric,
        "step": step,
        "step_low": low,
        "step_high": high,
        "onset": low,
        "end": high,
        "before": before,
        "after": after,
        "width": high - low,
        "score": 20.0,
    }


EVENTS = [
    event("loss_cliff", "train/loss", 60, 40, 90, before=5.0, after=3.0),
    event("transition", "selection/syntactic_accuracy", 300, 200, 420, before=0.1, after=0.95),
    event("induction_onset", "induction_score/L1H0", ONSET_STEP, ONSET_LOW, ONSET_HIGH, before=0.02, after=0.74),
    event("crystallisation", "selection/semantic_accuracy", 2000, 1600, 2500, before=0.1, after=0.9),
]
SCORES = {  # metric → final value: L1H0 tops induction and semantic dependency, L0H1 previous-token
    "induction_score/L0H0": 0.05,
    "induction_score/L0H1": 0.03,
    "induction_score/L1H0": 0.74,
    "induction_score/L1H1": 0.1,
    "prev_token_score/L0H0": 0.2,
    "prev_token_score/L0H1": 0.91,
    "dependency_syntax/L1H1": 0.6,
    "dependency_syntax/L0H0": 0.4,
    "dependency_semantic/L1H0": 0.55,
    "dependency_semantic/L1H1": 0.3,
}


def attention_steps() -> list[int]:
    """Saved pattern steps: log-spaced, plus every 25 steps from 600 to 1,100 (around the onset)."""
    return sorted({0, *np.geomspace(1, STEPS, 12).astype(int).tolist(), *range(600, 1101, 25)})


def pattern(step: int) -> torch.Tensor:
    """Uniform causal attention early; after the onset L1H0 attends to the token after the previous
    occurrence of the current one (period 4 here) and L0H1 to the previous token."""
    causal = torch.tril(torch.ones(T, T))
    out = (causal / causal.sum(1, keepdim=True)).expand(LAYERS, HEADS, T, T).clone()
    a = float(sigmoid_in_log_step(np.array(step), ONSET_STEP, 0.03))
    q = torch.arange(4, T)
    out[1, 0, q] *= 1 - a
    out[1, 0, q, q - 3] += a
    out[0, 1, 1:] *= 1 - a
    out[0, 1, torch.arange(1, T), torch.arange(T - 1)] += a
    return out


def make_language_run(
    root: Path, run_id: str = "lang-1", *, save_timeline: bool = True, phases: dict | None = None, attention: bool = True
):
    config = {
        "description": HOSTILE,
        "seed": 0,
        "task": {"name": "grammar"},
        "model": {"name": "transformer", "d_model": 64, "n_layers": LAYERS},
        "train": {"steps": STEPS},
        "events": {"phases": PHASES if phases is None else phases},
    }
    run = Run.create(root, run_id, experiment="language", config=config, seed=0)
    writer = run.writer()
    for s in probe_schedule(STEPS):
        syntax, semantics = float(sigmoid_in_log_step(s, 300)), float(sigmoid_in_log_step(s, 2000, 0.04))
        induction = float(sigmoid_in_log_step(s, ONSET_STEP, 0.03))
        values = {
            "train/loss": 5.0 - 1.5 * float(sigmoid_in_log_step(s, 60)) - 1.0 * semantics,
            "test/loss": 5.1 - 2.4 * semantics,
            "selection/syntactic_accuracy": 0.1 + 0.85 * syntax,
            "selection/syntactic_mass": 0.2 + 0.7 * syntax,
            "selection/semantic_accuracy": 0.1 + 0.8 * semantics,
            "selection/semantic_mass": 0.15 + 0.6 * semantics,
            "attribute_probe/mean": 0.5 + 0.45 * semantics,
            "semantic_alignment/features": 0.02 + 0.3 * semantics,
        }
        values |= {metric: final * (0.2 + 0.8 * induction) for metric, final in SCORES.items()}
        writer.log(int(s), values)
    writer.close()
    if attention:
        for s in attention_steps():
            run.save_array("attention", s, {"pattern": pattern(s), "tokens": TOKENS})
    run.save_events(EVENTS)
    if save_timeline:
        run.save_analysis("phases", {"phases": phase_timeline(EVENTS, config["events"]["phases"], STEPS)})
    run.set_status("finished", train_seconds=20.0, device="cpu")
    return run

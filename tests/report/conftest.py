"""A synthetic grokking run: train accuracy saturates at ~150 steps, test accuracy jumps at ~1,600,
progress measures move before it, a class-mean Gram matrix turns circulant; three events, the
last two near enough for the analysis to relate them (lead/lag). The Structure-Before-Collapse
run is in report_fakes.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from report_fakes import HOSTILE, make_structure_run, probe_schedule, sigmoid_in_log_step

from phasewatch.store import Run

STEPS = 3000
P = 11


def circulant_gram(step: int, rng: np.random.Generator) -> torch.Tensor:
    """Random class-mean cosines early; the circulant cos(2πk(i−j)/p) pattern after the jump."""
    noise = rng.normal(size=(P, P))
    noise = (noise + noise.T) / 2
    i = np.arange(P)
    circulant = np.cos(2 * np.pi * 2 * (i[:, None] - i[None, :]) / P)
    a = float(sigmoid_in_log_step(np.array(step), 1400))
    gram = (1 - a) * 0.3 * noise + a * circulant
    np.fill_diagonal(gram, 1.0)
    return torch.tensor(gram, dtype=torch.float32)


EVENTS = [  # the analysis' event dicts (phasewatch.analysis.events): width = end - onset
    {
        "kind": "loss_cliff",
        "metric": "train/loss",
        "step": 150,
        "step_low": 120,
        "step_high": 190,
        "onset": 100,
        "end": 190,
        "before": 4.2,
        "after": 0.02,
        "width": 90,
        "score": 40.0,
    },
    {
        "kind": "crystallisation",
        "metric": "fourier_sparsity/embed",
        "step": 1200,
        "step_low": 1100,
        "step_high": 1310,
        "onset": 800,
        "end": 1500,
        "before": 0.2,
        "after": 0.85,
        "width": 700,
        "score": 25.0,
    },
    {
        "kind": "grokking",
        "metric": "test/accuracy",
        "step": 1600,
        "step_low": 1500,
        "step_high": 1720,
        "onset": 1400,
        "end": 1800,
        "before": 0.09,
        "after": 1.0,
        "width": 400,
        "score": 60.0,
    },
]


def make_run(root: Path, run_id: str = "grok-1", *, arrays: bool = True, events: bool = True, probes: bool = True):
    config = {
        "description": HOSTILE,
        "seed": 0,
        "task": {"name": "modular", "p": P, "operation": "+", "train_fraction": 0.5},
        "model": {"name": "transformer", "d_model": 128, "n_layers": 1},
        "train": {"steps": STEPS, "lr": 1e-3, "weight_decay": 1.0, "betas": [0.9, 0.98]},
    }
    run = Run.create(root, run_id, experiment="grokking", config=config, seed=0)
    rng = np.random.default_rng(0)
    writer = run.writer()
    every = np.arange(STEPS + 1)
    train_acc = 1 / P + (1 - 1 / P) * sigmoid_in_log_step(every, 150)
    train_loss = 4.2 * (0.02 / 4.2) ** sigmoid_in_log_step(every, 150) * (1 + 0.05 * rng.random(every.size))
    for s in every:
        writer.log(int(s), {"train/loss": train_loss[s], "train/accuracy": train_acc[s]})
    scheduled = probe_schedule(STEPS)
    grok = sigmoid_in_log_step(scheduled, 1600, 0.03)
    for k, s in enumerate(scheduled):
        values = {"test/accuracy": 1 / P + (1 - 1 / P) * grok[k], "test/loss": 6.0 * (1 - grok[k]) + 0.05}
        if probes:
            values |= {
                "restricted_loss/logits": 4.0 - 3.9 * float(sigmoid_in_log_step(s, 1000, 0.06)),
                "excluded_loss/logits": 0.02 + 3.0 * float(sigmoid_in_log_step(s, 1100, 0.06)),
                "fourier_sparsity/embed": 0.2 + 0.65 * float(sigmoid_in_log_step(s, 1200)),
                "weight_norm/total": 55.0 - 25.0 * float(sigmoid_in_log_step(s, 1500, 0.1)),
            }
        writer.log(int(s), values)
    writer.close()
    if arrays:
        for s in np.unique(np.geomspace(1, STEPS, 10).astype(int)):
            run.save_array("gram/class_means", int(s), {"gram": circulant_gram(int(s), rng)})
    run.save_events(EVENTS if events else [])  # analysed: with events, or with none found
    run.set_status("finished", train_seconds=75.3, device="cpu")
    return run


@pytest.fixture(name="make_run")
def make_run_fixture():
    return make_run


@pytest.fixture
def grokking_run(tmp_path):
    return make_run(tmp_path)


@pytest.fixture(name="make_structure_run")
def make_structure_run_fixture():
    return make_structure_run

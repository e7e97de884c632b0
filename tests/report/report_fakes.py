"""Shared pieces of the report tests' fake runs, and a synthetic Structure-Before-Collapse run
(alignment rises to a peak at step 200, then falls) with the events the structure detector would
write for it and a coupled-UFM fit result. A module of its own, not conftest, so tests import it
under a name no other conftest shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from phasewatch.store import ATTRIBUTE_GROUPS, Run
from phasewatch.tasks.attributes import attribute_groups, item_attributes

HOSTILE = "<script>alert(1)</script>"


def sigmoid_in_log_step(steps: np.ndarray, midpoint: float, width: float = 0.08) -> np.ndarray:
    return 1 / (1 + np.exp(-(np.log10(steps + 1) - np.log10(midpoint)) / width))


def probe_schedule(steps: int) -> np.ndarray:
    return np.unique(np.concatenate([np.arange(0, steps + 1, 25), np.geomspace(1, steps, 30).astype(int), [0]]))


FACTOR_SIZES = [2, 2]
ITEMS_PER_COMBINATION = 2  # 8 items in 4 attribute groups
STRUCTURE_STEPS = 5000
PEAK_STEP = 200


def bump(steps: np.ndarray, low: float, peak: float, end: float) -> np.ndarray:
    """low → peak (a rise centred at step 40) → end (a fall centred at step 1000), in log-step."""
    rise = sigmoid_in_log_step(steps, 40, 0.15)
    fall = sigmoid_in_log_step(steps, 1000, 0.15)
    return low + (peak - low) * rise - (peak - end) * fall


def structure_events(metric: str = "semantic_alignment/features", peak: bool = True) -> list[dict]:
    """A crystallisation and a collapse of `metric`, as the structure detector writes them."""
    extra = {"peak_step": PEAK_STEP, "peak_value": 0.6} if peak else {}
    return [
        {
            "kind": "crystallisation",
            "metric": metric,
            "step": 40,
            "step_low": 30,
            "step_high": 55,
            "onset": 20,
            "end": 80,
            "before": 0.01,
            "after": 0.6,
            "width": 60,
            **extra,
        },
        {
            "kind": "collapse",
            "metric": metric,
            "step": 1000,
            "step_low": 800,
            "step_high": 1250,
            "onset": 500,
            "end": 2000,
            "before": 0.6,
            "after": 0.05,
            "width": 1500,
            **extra,
        },
    ]


FIT_RESULT = {
    "metric": "semantic_alignment/features",
    "r": 100.0,
    "time_scale": 1.3,
    "amplitude": 0.9,
    "offset": 0.0,
    "r2": 0.9312,
    "steps": [0, 10, 100, 1000, 5000],
    "predicted": [0.0, 0.3, 0.58, 0.2, 0.06],
}


def make_structure_run(
    root: Path,
    run_id: str = "ufm-1",
    *,
    experiment: str = "ufm",
    seed: int = 0,
    decay_ratio: float = 100.0,
    final_alignment: float = 0.05,
    etf_scale: float = 1.0,
    events: list[dict] | None = None,
    fit: dict | None = None,
    setting: str = "",
    extra_metrics: dict[str, float] | None = None,
):
    """A finished run with alignment/ETF/accuracy curves, Gram arrays in attribute order, and the
    given events; `fit` saved as its `ufm_fit` analysis result."""
    config = {
        "description": HOSTILE,
        "seed": seed,
        "setting": setting,
        "task": {"name": "items", "factor_sizes": FACTOR_SIZES, "items_per_combination": ITEMS_PER_COMBINATION},
        "model": {"name": "ufm", "d_model": 16, "init": 1e-3, "plain": False},
        "train": {"steps": STRUCTURE_STEPS, "optimizer": "sgd", "lr": 0.5, "weight_decay": 2e-3, "decay_ratio": decay_ratio},
    }
    run = Run.create(root, run_id, experiment=experiment, config=config, seed=seed)
    groups = attribute_groups(item_attributes(tuple(FACTOR_SIZES), ITEMS_PER_COMBINATION), FACTOR_SIZES)
    run.save_analysis(ATTRIBUTE_GROUPS, {"groups": groups})  # as the training loop saves them
    steps = probe_schedule(STRUCTURE_STEPS)
    writer = run.writer()
    accuracy = sigmoid_in_log_step(steps, 30, 0.1)
    for k, s in enumerate(steps):
        values = {
            "semantic_alignment/features": float(bump(s, 0.01, 0.6, final_alignment)),
            "semantic_alignment/classifier": float(bump(s, 0.0, 0.55, final_alignment / 2)),
            "etf_distance/features": etf_scale * float(bump(s, 0.7, 1.2, 0.3)),
            "train/accuracy": float(accuracy[k]),
            "test/accuracy": float(accuracy[k]),
            "train/loss": float(3.0 * (1 - accuracy[k]) + 0.1),
        }
        if k == len(steps) - 1:
            values |= extra_metrics or {}
        writer.log(int(s), values)
    writer.close()
    groups = np.repeat(np.arange(4), ITEMS_PER_COMBINATION)
    same = torch.tensor((groups[:, None] == groups[None, :]).astype(np.float32))
    for s in (0, 10, 120, 230, 1000, STRUCTURE_STEPS):
        strength = float(bump(np.array(s), 0.0, 1.0, 0.0))
        gram = torch.eye(8) + strength * (same - torch.eye(8))
        run.save_array("gram/features", s, {"gram": gram})
        run.save_array("gram/classifier", s, {"gram": gram * 0.9})
    if events:
        run.save_events(events)
    if fit is not None:
        run.save_analysis("ufm_fit", fit)
    run.set_status("finished", train_seconds=3.0, device="cpu")
    return run

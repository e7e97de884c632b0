"""Small real stores for the dashboard tests: runs made with `Run.create`, metric rows written by a
`MetricsWriter`, matrices by `Run.save_array`; no training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from phasewatch.store import MetricsWriter, Run

XSS = "<img src=x onerror=alert(1)>"  # run ids cannot hold '<': it goes in as an experiment, a config value, a metric
PROBE = "gram/class_means"
MATRIX_STEPS = (0, 100, 200)


def write_metrics(run_dir: Path, steps, values: dict[str, np.ndarray]) -> None:
    """One row per (step, metric), flushed as one Parquet part: what a training run writes."""
    writer = MetricsWriter(Path(run_dir) / "metrics", flush_seconds=3600)
    for i, step in enumerate(steps):
        writer.log(int(step), {name: float(v[i]) for name, v in values.items()})
    writer.flush()


def loss_curve(steps: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 2.0 / np.sqrt(steps + 1.0) + 0.01 * rng.standard_normal(len(steps))


def make_store(root: Path) -> Path:
    """Three runs: `alpha` finished (events, matrices, a report page), `beta` running, `hostile`
    with a script-bearing experiment name, description and metric name."""
    steps = np.arange(300)
    alpha = Run.create(root, "alpha", experiment="grokking", config={"description": "first", "lr": 0.01}, seed=0)
    write_metrics(alpha.path, steps, {"train/loss": loss_curve(steps, 0), "test/accuracy": np.tanh(steps / 100)})
    alpha.save_events(
        [
            {
                "kind": "grokking",
                "metric": "test/accuracy",
                "step": 150,
                "step_low": 140,
                "step_high": 165,
                "before": 0.1,
                "after": 0.9,
            }
        ]
    )
    for k, step in enumerate(MATRIX_STEPS):
        alpha.save_array(PROBE, step, {"matrix": torch.full((4, 4), float(k)) + torch.eye(4)})
    (alpha.path / "report.html").write_text("<!DOCTYPE html><title>alpha report</title><p>report of alpha</p>")
    alpha.set_status("finished")

    beta = Run.create(root, "beta", experiment="grokking", config={"description": "second", "lr": 0.03}, seed=1)
    write_metrics(beta.path, steps[:100], {"train/loss": loss_curve(steps[:100], 1)})

    hostile = Run.create(root, "hostile", experiment=XSS, config={"description": XSS, "lr": 0.1}, seed=2)
    write_metrics(hostile.path, steps[:50], {"train/loss": loss_curve(steps[:50], 2), XSS: np.ones(50)})
    hostile.set_status("finished")
    return root

"""Small real stores for the dashboard tests: runs made with `Run.create`, metric rows written by a
`MetricsWriter`, matrices by `Run.save_array`, sweep records as `sweep report` reads them; no training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from phasewatch.store import MetricsWriter, Run
from phasewatch.store.sweeps import write_record

XSS = "<img src=x onerror=alert(1)>"  # run ids cannot hold '<': it goes in as an experiment, a config value, a metric
PROBE = "gram/class_means"
MATRIX_STEPS = (0, 100, 200)
TOKENS = {"alpha": 16, "hostile": 4}  # tokens_per_step in run.json (beta, running, has none yet)
PHASES = [  # alpha's saved phase timeline (analysis/phases.json)
    {"name": "memorisation", "start": 0, "end": 120, "start_share": 0.0, "end_share": 0.4, "metrics": [], "events": 0},
    {
        "name": "grokking",
        "start": 120,
        "end": 200,
        "start_share": 0.4,
        "end_share": 0.67,
        "metrics": ["test/accuracy"],
        "events": 1,
    },
    {"name": "refinement", "start": 200, "end": 299, "start_share": 0.67, "end_share": 1.0, "metrics": [], "events": 0},
]


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
    """Three runs: `alpha` finished (events, a phase timeline, matrices, a report page), `beta`
    running, `hostile` with a script-bearing experiment name, description and metric name; two
    sweeps: `pair` (alpha, beta and a member never run; its phase diagram page written) and `solo`
    (hostile; no page), and a sweep file that is not readable JSON."""
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
    alpha.save_analysis("phases", {"phases": PHASES})
    alpha.set_status("finished", tokens_per_step=TOKENS["alpha"])

    beta = Run.create(root, "beta", experiment="grokking", config={"description": "second", "lr": 0.03}, seed=1)
    write_metrics(beta.path, steps[:100], {"train/loss": loss_curve(steps[:100], 1)})

    hostile = Run.create(root, "hostile", experiment=XSS, config={"description": XSS, "lr": 0.1}, seed=2)
    write_metrics(hostile.path, steps[:50], {"train/loss": loss_curve(steps[:50], 2), XSS: np.ones(50)})
    hostile.set_status("finished", tokens_per_step=TOKENS["hostile"])

    axes = {"lr": [0.01, 0.03, 0.3]}
    members = [{"run": run, "lr": lr} for run, lr in zip(("alpha", "beta", "never-run"), axes["lr"])]
    write_record(root, "pair", {"name": "pair", "axes": axes, "members": members})
    (root / "sweeps" / "pair.html").write_text("<!DOCTYPE html><title>pair</title><p>phase diagram of pair</p>")
    write_record(root, "solo", {"name": "solo", "axes": {"lr": [0.1]}, "members": [{"run": "hostile", "lr": 0.1}]})
    (root / "sweeps" / "broken.json").write_text("{not json")
    return root

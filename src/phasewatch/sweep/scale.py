"""A sweep's finished runs as scaling-law points: (N, D, C, loss) per run, for `fit_scaling_law`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from phasewatch.errors import UserError
from phasewatch.probes.behaviour import TEST_LOSS
from phasewatch.store import Run, store_root
from phasewatch.store.sweeps import read_record


def scaling_points(store: str | Path | None, name: str, metric: str = TEST_LOSS.name) -> pd.DataFrame:
    """One row per finished member of sweep `name`: its run id, N = its model's parameters, D = the
    tokens it trained on (`tokens_per_step` × steps), C = 6·N·D (Kaplan et al.'s FLOPs estimate)
    and `loss` = the last value of `metric`. UserError when no member can give a point."""
    root = store_root(store)
    rows = []
    for member in read_record(root, name)["members"]:
        if not (root / member["run"] / "run.json").is_file():
            continue
        run = Run.open(root, member["run"])
        info = run.info
        if run.status != "finished" or "parameters" not in info or metric not in run.metric_names():
            continue
        steps, values = run.metric(metric)
        n, d = int(info["parameters"]), int(info["tokens_per_step"]) * int(info["stopped_at"])
        rows.append({"run": run.id, "N": n, "D": d, "C": 6.0 * n * d, "loss": float(values[steps.argmax()])})
    if not rows:
        raise UserError(
            f"sweep {name!r}: no finished run with a parameter count and {metric!r} (runs recorded before phasewatch "
            "kept `parameters` in run.json need running again)"
        )
    return pd.DataFrame(rows)

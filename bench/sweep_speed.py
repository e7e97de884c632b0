"""Sweep throughput, measured in one run: the same sweep through `local` with one worker, `local`
with `--workers` workers, `ray` (a local cluster of that many CPUs, when Ray is installed) and
`ensemble` (the members as one vectorised model, in this process), each into a fresh store; then
whether every member's metrics are bit-identical across local and ray, and how far the ensemble's
are from them.

    .venv/bin/python bench/sweep_speed.py [--seed 0] [--points 8] [--workers 2] [--preset grokking-mlp] [--steps 100]

Wall time includes each backend's start-up (process spawn, Ray's cluster), which is what a user
waits for. The sweep varies the seed (from --seed on) over --points members.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import numpy as np

from phasewatch.store import Run
from phasewatch.sweep import load_sweep, run_sweep


def timed(sweep, store: Path, **options) -> float:
    began = time.perf_counter()
    counts = run_sweep(sweep, store, **options)
    assert counts["failed"] == 0, counts
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--preset", default="grokking-mlp")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        file = Path(scratch) / "speed.toml"
        seeds = list(range(args.seed, args.seed + args.points))
        file.write_text(
            f'name = "speed"\nexperiment = "{args.preset}"\n[set]\n"train.steps" = {args.steps}\n'
            f'"probes.names" = ["behaviour", "weight_norm"]\n"train.checkpoint_every" = {args.steps}\n'
            f'"events.structure_metrics" = []\n"events.watch" = ["train/*", "test/*"]\n[grid]\nseed = {seeds}\n'
        )
        sweep = load_sweep(file)
        backends = [("local, 1 worker", {"workers": 1}), (f"local, {args.workers} workers", {"workers": args.workers})]
        if importlib.util.find_spec("ray") is not None:
            backends.append((f"ray, {args.workers} CPUs", {"workers": args.workers, "backend": "ray"}))
        backends.append(("ensemble", {"backend": "ensemble"}))
        seconds = {}
        for label, options in backends:
            seconds[label] = timed(sweep, Path(scratch) / label.replace(" ", "_").replace(",", ""), **options)
            print(
                f"{label}: {seconds[label]:.1f} s for {args.points} points ({args.points / seconds[label]:.2f} points/s)",
                flush=True,
            )
        labels = list(seconds)
        print(f"local {args.workers} workers vs 1 process: {seconds[labels[0]] / seconds[labels[1]]:.2f}× faster")
        if "ray" in labels[2]:
            print(f"ray vs local ({args.workers} each): {seconds[labels[2]] / seconds[labels[1]]:.2f}× the wall time")
        print(f"ensemble vs local ({args.workers} workers): {seconds[labels[1]] / seconds['ensemble']:.2f}× faster")
        stores = {label: Path(scratch) / label.replace(" ", "_").replace(",", "") for label in labels}
        exact = [label for label in labels if label != "ensemble"]
        identical = all(
            Run.open(stores[exact[0]], p.run).metrics().equals(Run.open(stores[label], p.run).metrics())
            for p in sweep.points
            for label in exact[1:]
        )
        print(f"members' metrics bit-identical across {', '.join(exact)}: {identical}")
        gaps, rows_equal = [], True
        for point in sweep.points:
            solo, member = Run.open(stores[exact[0]], point.run).metrics(), Run.open(stores["ensemble"], point.run).metrics()
            rows_equal &= bool((solo[["step", "metric"]].to_numpy() == member[["step", "metric"]].to_numpy()).all())
            if rows_equal:  # |difference| / max(|value|, 1e-3): relative where a value is not near 0
                gaps.append(float(np.nanmax(np.abs(solo["value"] - member["value"]) / np.maximum(np.abs(solo["value"]), 1e-3))))
        print(
            f"ensemble members vs local runs: the same rows {rows_equal}, largest difference {max(gaps, default=np.inf):.2g} (relative)"
        )


if __name__ == "__main__":
    main()
